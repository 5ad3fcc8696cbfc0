"""What ``from secure_endpoint import X`` offers: each name listed, each type that a prop takes."""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import pkgutil
import typing
from pathlib import Path
from typing import Any

import pytest

import secure_endpoint
import secure_endpoint.constructs
from secure_endpoint.constructs.endpoint import SecureEndpoint


def _library_types() -> dict[str, Any]:
    """Every class of ``secure_endpoint.constructs``, by name, to resolve annotations that their
    modules import only for type checkers."""
    namespace: dict[str, Any] = {}
    for module in pkgutil.iter_modules(secure_endpoint.constructs.__path__):
        loaded = importlib.import_module(f"secure_endpoint.constructs.{module.name}")
        namespace.update({k: v for k, v in vars(loaded).items() if isinstance(v, type)})
    return namespace


def _accepted_types(roots: list[type]) -> dict[type, str]:
    """The library's own types that ``roots`` take, through their ``__init__`` parameters and,
    for dataclasses, their fields, recursively; each with where it was first met."""
    namespace = _library_types()
    found: dict[type, str] = {}

    def walk(hint: Any, where: str) -> None:
        for argument in typing.get_args(hint):
            walk(argument, where)
        if not isinstance(hint, type) or not hint.__module__.startswith("secure_endpoint"):
            return
        if hint in found:
            return
        found[hint] = where
        if issubclass(hint, enum.Enum):
            return
        target = hint if dataclasses.is_dataclass(hint) else hint.__init__
        for name, inner in typing.get_type_hints(target, localns=namespace).items():
            walk(inner, f"{hint.__name__}.{name}")

    for root in roots:
        walk(root, root.__name__)
    return found


def test_every_listed_name_resolves_to_its_home() -> None:
    assert sorted(secure_endpoint.__all__) == sorted(secure_endpoint._HOMES)
    for name in secure_endpoint.__all__:
        value = getattr(secure_endpoint, name)
        home = importlib.import_module(secure_endpoint._HOMES[name])
        assert value is getattr(home, name), name


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'NotAThing'"):
        secure_endpoint.NotAThing  # noqa: B018


def test_type_checkers_see_every_listed_name() -> None:
    """The ``if TYPE_CHECKING:`` imports are what mypy and editors see: the same names."""
    tree = ast.parse(Path(secure_endpoint.__file__).read_text())
    imported = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for statement in node.body
        if isinstance(statement, ast.ImportFrom)
        for alias in statement.names
    }
    assert imported == set(secure_endpoint.__all__)


def test_every_type_a_secure_endpoint_prop_takes_is_exported() -> None:
    accepted = _accepted_types([SecureEndpoint])
    # the option types a user builds to pass as props (a real list: fails if the walk breaks)
    assert {t.__name__ for t in accepted} >= {
        "SecureEndpoint", "ApiClient", "TlsPolicy", "CustomDomain", "DataCaptureOptions",
        "ThreatIntelFeed", "FeedFormat", "ShieldOptions", "EmergencyContact",
        "AutomaticMitigation", "MonitorOptions",
    }  # fmt: skip
    missing = {
        f"{t.__module__}.{t.__name__} (for {where})"
        for t, where in accepted.items()
        if getattr(secure_endpoint, t.__name__, None) is not t
        or t.__name__ not in secure_endpoint.__all__
    }
    assert not missing, f"not importable from secure_endpoint: {sorted(missing)}"


def test_every_type_an_exported_construct_or_option_takes_is_exported() -> None:
    exported = [getattr(secure_endpoint, name) for name in secure_endpoint.__all__]
    accepted = _accepted_types([value for value in exported if isinstance(value, type)])
    assert secure_endpoint.BlockListTable in accepted  # AnomalyMonitor(block_list=...)
    missing = {
        f"{t.__module__}.{t.__name__} (for {where})"
        for t, where in accepted.items()
        if getattr(secure_endpoint, t.__name__, None) is not t
    }
    assert not missing, f"not importable from secure_endpoint: {sorted(missing)}"

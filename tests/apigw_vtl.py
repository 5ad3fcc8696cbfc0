"""Render an API Gateway mapping template as API Gateway would, with airspeed-ext.

airspeed-ext (a dev extra) is LocalStack's AWS-dialect Velocity engine. What API Gateway adds
is emulated here: ``$input`` (``body``, ``path``, ``json``) over the integration's body, with
JSON objects as Java ``Map``s and arrays as ``List``s; ``$context`` with ``requestId`` and
``responseOverride``; and the methods of the Java objects templates call (``Number.longValue``,
``Map.containsKey``, ...), each with Java's meaning. While rendering, ``#set`` follows Velocity
1.7's default (``directive.set.null.allowed=false``): a null value leaves the variable as it was.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import airspeed
from airspeed import operators

LONG_MAX = 2**63 - 1


class JavaMap(dict):
    """A JSON object as API Gateway's templates see it: a ``java.util.Map``."""


class JavaList(list):
    """A JSON array as API Gateway's templates see it: a ``java.util.List``."""


def _long_value(number: float) -> int:
    """``Number.longValue()``: truncation toward zero; outside a long's range Java saturates,
    which no template here may rely on."""
    if not math.isfinite(number) or abs(number) > LONG_MAX:
        raise AssertionError(f"longValue() of {number!r} saturates in Java")
    return int(number)


_NUMBER = {
    "doubleValue": lambda self: float(self),
    "longValue": _long_value,
    "intValue": lambda self: _long_value(self),
}
_MAP = {
    **operators.__additional_methods__[dict],
    "size": lambda self: len(self),
    "containsKey": lambda self, key: key in self,
    "isEmpty": lambda self: not self,
}
operators.__additional_methods__.setdefault(int, {}).update(_NUMBER)
operators.__additional_methods__.setdefault(float, {}).update(_NUMBER)
operators.__additional_methods__.setdefault(bool, {}).update(
    {"booleanValue": lambda self: bool(self)}
)
operators.__additional_methods__[JavaMap] = _MAP
# a map literal ({}) is a java.util.Map too
for _name in ("size", "containsKey", "isEmpty"):
    operators.__additional_methods__[dict].setdefault(_name, _MAP[_name])
operators.__additional_methods__[JavaList] = operators.__additional_methods__[list]


def _java(value: Any) -> Any:
    if isinstance(value, dict):
        return JavaMap((k, _java(v)) for k, v in value.items())
    if isinstance(value, list):
        return JavaList(_java(v) for v in value)
    return value


def _refuse_constant(name: str) -> float:
    raise ValueError(f"API Gateway's JSON parser refuses {name}")


_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


class Input:
    """``$input`` of an integration response: the integration's body."""

    def __init__(self, body: str) -> None:
        self.body = body

    def _parsed(self) -> Any:
        return json.loads(self.body, parse_constant=_refuse_constant)

    def _at(self, path: str) -> Any:
        if not path.startswith("$"):
            raise AssertionError(f"not a JSONPath: {path!r}")
        value = self._parsed()
        rest = path[1:]
        while rest:
            step = _STEP.match(rest)
            if step is None:
                raise AssertionError(f"JSONPath step not emulated: {rest!r}")
            key, index = step.groups()
            try:
                value = value[key] if key is not None else value[int(index)]
            except (KeyError, IndexError, TypeError):
                return None  # nothing there: null

            rest = rest[step.end() :]
        return value

    def path(self, path: str) -> Any:
        """``$input.path(x)``: the value at ``x``, as Java objects."""
        return _java(self._at(path))

    def json(self, path: str) -> str:
        """``$input.json(x)``: the value at ``x``, written as JSON."""
        return json.dumps(self._at(path), separators=(",", ":"))


def _velocity_set(self: Any, stream: Any, namespace: Any, loader: Any) -> None:
    """airspeed's ``#set``, but a null value changes nothing (Velocity 1.7's default)."""
    value = self.value.calculate(namespace, loader)
    if value is None:
        return
    if not self.terms:
        namespace.set_inherited(self.root_term, value)
        return
    target = namespace[self.root_term]
    for term in self.terms[:-1]:
        target = target[term.calculate(namespace, loader)]
    target[self.terms[-1].calculate(namespace, loader)] = value


@contextlib.contextmanager
def _velocity_null_set() -> Iterator[None]:
    original = operators.Assignment.evaluate_raw
    operators.Assignment.evaluate_raw = _velocity_set  # type: ignore[method-assign]
    try:
        yield
    finally:
        operators.Assignment.evaluate_raw = original  # type: ignore[method-assign]


@dataclass
class Rendered:
    """A rendered integration response: its body and the status the template set, if any."""

    body: str
    status: int | None
    context: dict[str, Any] = field(repr=False)

    def json(self) -> Any:
        return json.loads(self.body)


def render_response(template: str, body: str, request_id: str = "req-1") -> Rendered:
    """Render ``template`` over the integration response ``body``."""
    context: dict[str, Any] = {
        "requestId": request_id,
        "responseOverride": {"status": None, "header": {}},
    }
    with _velocity_null_set():
        output = airspeed.Template(template).merge({"input": Input(body), "context": context})
    return Rendered(output, context["responseOverride"]["status"], context)

"""The package's modules share public names only: no module reaches into another's privates."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "secure_endpoint"
MODULES = sorted([*PACKAGE.rglob("*.py"), *(ROOT / "demo").glob("*.py")])
OURS = ("secure_endpoint.", "demo.")


def private_imports(path: Path) -> list[str]:
    """``from secure_endpoint.<module> import _name`` (or ``demo.``) in ``path``: names private
    to a module.

    Private modules (``_validation``, ``_building``) are the package's shared helpers, imported
    as modules; what they define is public within the package.
    """
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(OURS):
            module = node.module.rsplit(".", 1)[-1]
            for alias in node.names:
                if alias.name.startswith("_") and not (
                    (ROOT / node.module.replace(".", "/") / f"{alias.name}.py").exists()
                ):
                    found.append(f"{module}.{alias.name}")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_another_modules_private_names(path):
    assert private_imports(path) == []


def test_the_check_finds_a_private_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from secure_endpoint.constructs.edge import _geo_rule, GEO_RULE\n")
    assert private_imports(module) == ["edge._geo_rule"]
    module.write_text("from demo.baseline import _Index\nfrom demo import baseline\n")
    assert private_imports(module) == ["baseline._Index"]


def test_the_construct_and_demo_modules_stay_below_a_thousand_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in [*(PACKAGE / "constructs").glob("*.py"), *(ROOT / "demo").glob("*.py")]
        if (n := len(p.read_text().splitlines())) > 1000
    }
    assert long == {}

"""The wheel, installed like any library, is all a CDK app of someone else's needs.

Builds the wheel from a copy of this checkout, installs it with ``--no-deps`` in a fresh venv
outside the checkout (the dependencies come from this venv's site-packages through a ``.pth``
file, to spare a download of the CDK), then, with the fresh venv's Python, from a directory
outside the checkout and in an environment without ``PYTHONPATH``: synthesizes
``examples/consumer/app.py`` (bundling skipped, as CDK allows: the Lambda assets must still exist
where the installed package says) and type-checks it with ``mypy --strict``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CONSUMER = ROOT / "examples" / "consumer"
PACKAGE = ROOT / "secure_endpoint"
LAMBDAS = sorted(p.name for p in (PACKAGE / "lambdas").iterdir() if (p / "handler.py").exists())
_NOT_SOURCES = ("__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache", ".ruff_cache")
_TIMEOUT = 600


def _run(command: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, timeout=_TIMEOUT, check=False, **options
    )


def _checked(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args} exited {done.returncode}:\n{done.stderr[-4000:]}"
    return done.stdout


def _source_files() -> set[str]:
    """The files of ``secure_endpoint/`` in this checkout, as wheel paths."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of a copy of this checkout (a build leaves nothing in the checkout)."""
    source = tmp_path_factory.mktemp("source") / "secure-endpoint"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "node_modules", "cdk.out", ".cache", "build", "dist", "*.egg-info",
            ".hypothesis", "demo-report", *_NOT_SOURCES,
        ),
    )  # fmt: skip
    out = tmp_path_factory.mktemp("dist")
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    _checked(
        _run(
            [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--quiet", "-w", str(out)],
            cwd=source,
            env=environment,
        )
    )
    (built,) = out.glob("secure_endpoint-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A venv outside the checkout with the wheel installed and this venv's packages visible."""
    root = tmp_path_factory.mktemp("fresh")
    venv = root / "venv"
    _checked(_run([sys.executable, "-m", "venv", "--without-pip", str(venv)]))
    python = venv / "bin" / "python"
    _checked(
        _run(
            [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
             "--no-index", "--quiet", str(wheel)]
        )
    )  # fmt: skip
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_checked(_run([str(python), "-c", purelib])).strip())
    # After the fresh site-packages on sys.path: only what the wheel does not hold comes from here.
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    home = root / "home"
    home.mkdir()
    return {"root": root, "python": python, "site": site, "home": home}


def _clean_environment(fresh: dict[str, Path], **extra: str) -> dict[str, str]:
    """PATH (node for jsii) and a home of its own; no PYTHONPATH, no venv of this checkout."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(fresh["home"]),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "SECURE_ENDPOINT_CACHE_DIR": str(fresh["root"] / "lambda-cache"),
        "SECURE_ENDPOINT_IMAGE_CACHE": str(fresh["root"] / "image-cache"),
        **extra,
    }


REVEAL = """\
from secure_endpoint import ApiClient, CustomDomain, SecureEndpoint

reveal_type(SecureEndpoint)
reveal_type(ApiClient("partner-a").rate_limit)
reveal_type(CustomDomain)
"""


@pytest.fixture(scope="module")
def consumer(fresh_venv: dict[str, Path]) -> dict[str, Any]:
    """The consumer app synthesized and type-checked, both at once, outside the checkout."""
    app = fresh_venv["root"] / "app"
    app.mkdir()
    for name in ("app.py", "cdk.json"):
        shutil.copy(CONSUMER / name, app / name)
    (app / "reveal.py").write_text(REVEAL)
    (app / "mypy.ini").write_text("[mypy]\n")  # none of this checkout's settings
    context = json.loads((app / "cdk.json").read_text())["context"]
    out = fresh_venv["root"] / "cdk.out"
    synth_environment = _clean_environment(
        fresh_venv,
        CDK_OUTDIR=str(out),
        CDK_CONTEXT_JSON=json.dumps(context | {"aws:cdk:bundling-stacks": []}),
    )
    mypy = Path(sys.executable).with_name("mypy")
    popen: dict[str, Any] = {"cwd": app, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    popen["text"] = True
    synth = subprocess.Popen(  # noqa: S603
        [str(fresh_venv["python"]), "app.py"], env=synth_environment, **popen
    )
    check = subprocess.Popen(  # noqa: S603
        [str(mypy), "--strict", "--config-file", "mypy.ini",
         "--cache-dir", str(fresh_venv["root"] / "mypy-cache"),
         "--python-executable", str(fresh_venv["python"]), "app.py", "reveal.py"],
        env=_clean_environment(fresh_venv), **popen,
    )  # fmt: skip
    synth_out, synth_err = synth.communicate(timeout=_TIMEOUT)
    mypy_out, mypy_err = check.communicate(timeout=_TIMEOUT)
    return {
        "synth": (synth.returncode, synth_out + synth_err),
        "mypy": (check.returncode, mypy_out + mypy_err),
        "out": out,
    }


def test_the_wheel_holds_the_library_with_its_lambda_sources_and_nothing_else(
    wheel: Path,
) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    package = {name for name in names if not name.startswith("secure_endpoint-")}
    assert package == _source_files()  # every source, lock and marker; nothing else
    for function in LAMBDAS:
        assert f"secure_endpoint/lambdas/{function}/handler.py" in package
    assert "secure_endpoint/lambdas/anomaly_monitor/requirements.lock" in package
    assert "secure_endpoint/lambdas/client_secret_rotation/requirements.txt" in package
    assert "secure_endpoint/runtime/__init__.py" in package
    assert "secure_endpoint/py.typed" in package
    assert {name.split("/")[0] for name in package} == {"secure_endpoint"}
    assert not {n for n in names if n.split("/")[0] in ("demo", "tests", "benchmarks", "examples")}
    license_file = next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
    with zipfile.ZipFile(wheel) as archive:
        license_text = archive.read(license_file).decode()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
    assert license_text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in license_text
    assert b"License-Expression: Apache-2.0" in metadata
    assert b"Requires-Dist: platformdirs" in metadata


def test_the_fresh_venv_imports_the_installed_package_not_the_checkout(
    fresh_venv: dict[str, Path],
) -> None:
    probe = (
        "import json, secure_endpoint\n"
        "from secure_endpoint.constructs import bundling\n"
        "print(json.dumps([secure_endpoint.__file__, str(bundling.LAMBDAS_DIR),"
        " str(bundling.RUNTIME_PACKAGE_DIR), bundling.stale_locks()]))\n"
    )
    done = _run(
        [str(fresh_venv["python"]), "-c", probe],
        cwd=fresh_venv["root"],
        env=_clean_environment(fresh_venv),
    )
    module, lambdas, runtime, stale = json.loads(_checked(done))
    installed = fresh_venv["site"] / "secure_endpoint"
    assert Path(module) == installed / "__init__.py"
    assert Path(lambdas) == installed / "lambdas"
    assert Path(runtime) == installed / "runtime"
    assert stale == []
    assert sorted(p.name for p in Path(lambdas).iterdir() if p.is_dir()) == LAMBDAS


def test_a_consumer_app_synthesizes_from_the_installed_package(
    consumer: dict[str, Any], fresh_venv: dict[str, Path]
) -> None:
    returncode, output = consumer["synth"]
    assert returncode == 0, output[-4000:]
    out: Path = consumer["out"]
    template = json.loads((out / "MyInference.template.json").read_text())
    assets = json.loads((out / "MyInference.assets.json").read_text())["files"]
    resources = template["Resources"].values()
    assert [r for r in resources if r["Type"] == "AWS::SageMaker::Endpoint"]
    functions = {
        r["Properties"]["Handler"].split(".")[0]: r["Properties"]["Code"]["S3Key"]
        for r in resources
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"]["Handler"].endswith(".handler.handler")
    }
    assert set(functions) >= {"artifact_verifier", "client_secret_rotation", "anomaly_monitor"}
    installed = fresh_venv["site"] / "secure_endpoint" / "lambdas"
    for function, key in functions.items():
        source = assets[key.removesuffix(".zip")]["source"]["path"]
        assert Path(source) == installed / function, function


def test_the_consumer_app_type_checks_strictly_against_the_installed_package(
    consumer: dict[str, Any],
) -> None:
    returncode, output = consumer["mypy"]
    assert returncode == 0, output
    assert "Success: no issues found in 2 source files" in output
    revealed = [line for line in output.splitlines() if "Revealed type is" in line]
    assert len(revealed) == 3, output
    assert 'Revealed type is "Any"' not in output
    assert "-> secure_endpoint.constructs.endpoint.SecureEndpoint" in revealed[0]
    assert "custom_domain: secure_endpoint.constructs.options.CustomDomain | None" in revealed[0]
    assert 'Revealed type is "float"' in revealed[1]
    assert "-> secure_endpoint.constructs.options.CustomDomain" in revealed[2]

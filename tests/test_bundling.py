"""Local bundling: real pip for the Lambda platform once, then the cache."""

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from aws_cdk import App, Stack

from secure_endpoint.constructs import bundling
from secure_endpoint.constructs.bundling import (
    BYTECODE_TAG,
    LAMBDAS_DIR,
    PipLocalBundling,
    dependencies_key,
    lambda_code,
    lock_header,
    stale_locks,
    tree_hash,
)

pytestmark = pytest.mark.synth

PACKAGE = "client_secret_rotation"
BYTECODE_PYTHON = bundling.bytecode_python()
if BYTECODE_PYTHON is None:  # nothing to compile the anomaly monitor's bytecode, or to check it
    pytest.fail(
        f"these tests need Python {bundling.BYTECODE_PYTHON_VERSION} (the anomaly monitor's "
        f"runtime), e.g. `pyenv install {bundling.BYTECODE_PYTHON_VERSION}`",
        pytrace=False,
    )
REPOSITORY = Path(__file__).resolve().parent.parent
LOCK_SCRIPT = REPOSITORY / "scripts" / "lock_lambdas.py"


def test_the_cache_key_follows_the_lock_bytes():
    assert dependencies_key(b"a==1 --hash=sha256:1\n") != dependencies_key(
        b"a==1 --hash=sha256:2\n"
    )
    assert dependencies_key(b"a==1 --hash=sha256:1\n") == dependencies_key(
        b"a==1 --hash=sha256:1\n"
    )


def unpack(output_dir: Path) -> Path:
    """The tree of the one archive a bundling left in ``output_dir``."""
    (archive,) = output_dir.iterdir()
    assert archive.suffix == ".zip"
    tree = output_dir.parent / f"{output_dir.name}-unpacked"
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(tree)
    return tree


def bundle(package, cache, output_dir, **options):
    assert PipLocalBundling(package, cache, **options).try_bundle(str(output_dir))
    return unpack(output_dir)


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    out = bundle("client_secret_rotation", cache, tmp_path_factory.mktemp("bundle"))
    return cache, out


def test_bundles_the_package_with_its_linux_dependencies_and_no_bytecode(bundled):
    _, out = bundled
    assert (out / "client_secret_rotation" / "handler.py").is_file()
    assert (out / "aws_lambda_powertools" / "__init__.py").is_file()
    assert not (out / "client_secret_rotation" / "requirements.txt").exists()
    assert not (out / "client_secret_rotation" / "requirements.lock").exists()
    assert not list(out.rglob("*.pyc"))  # not one of BYTECODE_PACKAGES
    assert not (out / ".ok").exists()
    assert not (out / "secure_endpoint").exists()


def test_a_bundle_over_lambdas_limit_is_refused_at_synth(tmp_path, monkeypatch):
    (tmp_path / "big.bin").write_bytes(b"0" * 2048)
    monkeypatch.setattr(bundling, "MAX_UNZIPPED_BYTES", 1024)
    with pytest.raises(RuntimeError, match=r"lambdas/anomaly_monitor is 0 MiB unzipped, over"):
        bundling._check_size(tmp_path, "anomaly_monitor")
    monkeypatch.setattr(bundling, "MAX_UNZIPPED_BYTES", 4096)
    bundling._check_size(tmp_path, "anomaly_monitor")


def test_a_second_bundle_reuses_the_cache_without_pip(bundled, tmp_path, monkeypatch):
    cache, _ = bundled

    def no_pip(*args, **kwargs):
        raise AssertionError("pip ran although the dependencies were cached")

    monkeypatch.setattr(bundling.subprocess, "run", no_pip)
    out = tmp_path / "out"
    out.mkdir()
    assert (bundle("client_secret_rotation", cache, out) / "aws_lambda_powertools").is_dir()


def test_each_bundle_is_the_cached_archive_linked_or_copied(bundled, tmp_path, monkeypatch):
    cache, _ = bundled
    (cached,) = (cache / "bundles").glob("client_secret_rotation-*.zip")
    linked = tmp_path / "linked"
    linked.mkdir()
    assert PipLocalBundling(PACKAGE, cache).try_bundle(str(linked))
    assert (linked / cached.name).samefile(cached)

    def no_links(source, destination):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(bundling.os, "link", no_links)
    copied = tmp_path / "copied"
    copied.mkdir()
    assert PipLocalBundling(PACKAGE, cache).try_bundle(str(copied))
    assert not (copied / cached.name).samefile(cached)
    assert (copied / cached.name).read_bytes() == cached.read_bytes()


def test_archives_are_the_same_bytes_whenever_they_are_built(bundled, tmp_path):
    cache, _ = bundled
    (cached,) = (cache / "bundles").glob("client_secret_rotation-*.zip")
    first = cached.read_bytes()
    cached.unlink()
    out = tmp_path / "out"
    out.mkdir()
    assert PipLocalBundling(PACKAGE, cache).try_bundle(str(out))
    assert cached.read_bytes() == first
    with zipfile.ZipFile(cached) as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == sorted(info.filename for info in infos)
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert not list(cache.glob(".assemble-*"))


def test_a_failed_install_says_what_failed_and_leaves_no_cache(tmp_path, monkeypatch):
    def failing_pip(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "no index")

    monkeypatch.setattr(bundling.subprocess, "run", failing_pip)
    with pytest.raises(
        RuntimeError, match=r"(?s)lambdas/client_secret_rotation.*pip exit 1.*no index"
    ):
        PipLocalBundling("client_secret_rotation", tmp_path / "c").try_bundle(str(tmp_path / "o"))
    assert not list((tmp_path / "c").glob("*/.ok"))


@pytest.mark.parametrize("package", [PACKAGE, "origin_secret_rotation"])
def test_a_bundle_with_the_runtime_imports_its_handler_without_the_cdk(bundled, tmp_path, package):
    cache, _ = bundled  # both rotation functions pin the same dependencies: one pip install
    out = tmp_path / "out"
    out.mkdir()
    tmp_path = bundle(package, cache, out, include_runtime=True)
    assert (tmp_path / package / "handler.py").is_file()
    assert (tmp_path / "secure_endpoint" / "runtime" / "waf_ip_sets.py").is_file()
    assert (tmp_path / "secure_endpoint" / "runtime" / "secret_rotation.py").is_file()
    assert not list(tmp_path.rglob("*.pyc"))
    code = (
        "import sys\n"
        "from secure_endpoint.runtime.waf_ip_sets import IpSetWriter\n"
        f"import {package}.handler, secure_endpoint, aws_lambda_powertools\n"
        f"print({package}.handler.__file__)\n"
        "print(secure_endpoint.__file__)\n"
        "print(aws_lambda_powertools.__file__)\n"
        "assert not {'aws_cdk', 'jsii'} & {m.split('.')[0] for m in sys.modules}\n"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert [Path(line) for line in result.stdout.split()] == [
        tmp_path / package / "handler.py",
        tmp_path / "secure_endpoint" / "__init__.py",
        tmp_path / "aws_lambda_powertools" / "__init__.py",
    ]


def test_the_tree_hash_follows_paths_and_contents_not_creation_order_or_bytecode(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for root, names in ((first, ("a.py", "sub/b.py")), (second, ("sub/b.py", "a.py"))):
        for name in names:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(name)
    (second / "__pycache__").mkdir()
    (second / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"bytecode")
    (second / "sub" / "b.pyc").write_bytes(b"bytecode")

    assert tree_hash({"pkg": first}) == tree_hash({"pkg": second})
    assert tree_hash({"pkg": first}) != tree_hash({"other": first})
    assert tree_hash({"pkg": first}) != tree_hash({"pkg": first}, salt="3.14")
    (second / "sub" / "b.py").write_text("changed")
    assert tree_hash({"pkg": first}) != tree_hash({"pkg": second})
    (second / "sub" / "b.py").rename(second / "c.py")
    (second / "c.py").write_text("sub/b.py")
    assert tree_hash({"pkg": first}) != tree_hash({"pkg": second})


def asset_key(**options):
    """The S3 key of the function's asset, which CDK derives from its hash (bundling skipped)."""
    stack = Stack(App(context={"aws:cdk:bundling-stacks": []}), "Stack")
    code = lambda_code(PACKAGE, Path("unused-cache"), **options)
    return code.bind(stack).s3_location.object_key


def test_only_bundles_with_the_runtime_change_when_the_runtime_changes(tmp_path, monkeypatch):
    runtime = tmp_path / "runtime"
    shutil.copytree(bundling.RUNTIME_PACKAGE_DIR, runtime)
    monkeypatch.setattr(bundling, "RUNTIME_PACKAGE_DIR", runtime)
    default, with_runtime = asset_key(), asset_key(include_runtime=True)
    assert with_runtime != default
    assert asset_key(include_runtime=True) == with_runtime

    (runtime / "waf_ip_sets.py").write_text("# changed\n", encoding="utf-8")

    assert asset_key(include_runtime=True) != with_runtime
    assert asset_key() == default


# Locks: every function's dependencies pinned with their wheels' digests, installed hash-checked.


def test_every_function_with_requirements_has_a_current_lock():
    functions = sorted(path.parent.name for path in LAMBDAS_DIR.glob("*/requirements.txt"))
    assert len(functions) == 8  # the drift monitor the seventh, the quarantine responder the 8th
    assert stale_locks() == []


@pytest.mark.parametrize(
    "function", sorted(path.parent.name for path in LAMBDAS_DIR.glob("*/requirements.txt"))
)
def test_each_lock_pins_every_requirement_with_a_digest(function):
    source = LAMBDAS_DIR / function
    lines = (source / "requirements.lock").read_text().splitlines()
    pins = [line for line in lines if not line.startswith("#")]
    locked = dict(line.split(" ", 1)[0].split("==") for line in pins)
    assert all(re.fullmatch(r"\S+==\S+( --hash=sha256:[0-9a-f]{64})+", line) for line in pins)
    assert pins == sorted(pins)
    for requirement in (source / "requirements.txt").read_text().splitlines():
        if requirement and not requirement.startswith("#"):
            name, version = requirement.split("==")
            assert locked[re.sub(r"\[.*\]", "", name)] == version, requirement


def test_the_lock_check_names_missing_and_stale_locks(tmp_path):
    for name in ("current", "stale", "missing"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "requirements.txt").write_text("a==1\n")
    (tmp_path / "current" / "requirements.lock").write_text(lock_header(b"a==1\n"))
    (tmp_path / "stale" / "requirements.lock").write_text(lock_header(b"a==0\n"))
    (tmp_path / "no_dependencies").mkdir()

    assert stale_locks(tmp_path) == [
        tmp_path / "missing" / "requirements.lock",
        tmp_path / "stale" / "requirements.lock",
    ]


def test_the_lock_script_checks_the_committed_locks_without_the_network():
    result = subprocess.run(  # noqa: S603 - this interpreter, the repository's script
        [sys.executable, str(LOCK_SCRIPT), "--check"],
        capture_output=True,
        text=True,
        check=False,
        env={
            **os.environ,
            "PIP_NO_INDEX": "1",
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr


def tiny_wheel(directory: Path, body: str = "VALUE = 1\n") -> Path:
    """A minimal pure-Python wheel, ``tiny==1.0``, that pip can install offline."""
    wheel = directory / "tiny-1.0-py3-none-any.whl"
    files = {
        "tiny/__init__.py": body,
        "tiny-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tiny\nVersion: 1.0\n",
        "tiny-1.0.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    files["tiny-1.0.dist-info/RECORD"] = "".join(f"{name},,\n" for name in files) + (
        "tiny-1.0.dist-info/RECORD,,\n"
    )
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


@pytest.fixture
def offline_function(tmp_path, monkeypatch):
    """A function ``fn`` requiring ``tiny==1.0``, which pip finds only in a local directory."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    tiny_wheel(wheels)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    lambdas = tmp_path / "lambdas"
    (lambdas / "fn").mkdir(parents=True)
    (lambdas / "fn" / "handler.py").write_text("import tiny\n")
    (lambdas / "fn" / "requirements.txt").write_text("tiny==1.0\n")
    monkeypatch.setattr(bundling, "LAMBDAS_DIR", lambdas)
    return lambdas / "fn", wheels


def load_lock_script():
    spec = importlib.util.spec_from_file_location("lock_lambdas", LOCK_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def test_the_lock_script_pins_what_pip_resolves_with_the_wheel_digest(offline_function):
    source, wheels = offline_function
    digest = hashlib.sha256((wheels / "tiny-1.0-py3-none-any.whl").read_bytes()).hexdigest()

    text = load_lock_script().lock(source / "requirements.txt")

    assert text == lock_header(b"tiny==1.0\n") + f"tiny==1.0 --hash=sha256:{digest}\n"


def test_bundles_install_the_locked_wheel_hash_checked(offline_function, tmp_path):
    source, _ = offline_function
    (source / "requirements.lock").write_text(load_lock_script().lock(source / "requirements.txt"))
    out = tmp_path / "out"
    out.mkdir()

    tree = bundle("fn", tmp_path / "cache", out)

    assert (tree / "tiny" / "__init__.py").read_text() == "VALUE = 1\n"
    assert (tree / "fn" / "handler.py").is_file()


@pytest.mark.parametrize("tampered", ["wheel", "lock"])
def test_a_wheel_that_is_not_the_locked_one_fails_the_bundle(offline_function, tmp_path, tampered):
    source, wheels = offline_function
    lock = source / "requirements.lock"
    lock.write_text(load_lock_script().lock(source / "requirements.txt"))
    if tampered == "wheel":
        tiny_wheel(wheels, body="VALUE = 'tampered'\n")  # same name and version, other bytes
    else:
        lock.write_text(re.sub("sha256:[0-9a-f]{64}", "sha256:" + "0" * 64, lock.read_text()))

    with pytest.raises(
        RuntimeError,
        match=r"(?s)lambdas/fn .* from requirements.lock \(pip exit 1\).*"
        r"DO NOT MATCH THE HASHES.*tiny==1.0.*Expected sha256",
    ):
        PipLocalBundling("fn", tmp_path / "cache").try_bundle(str(tmp_path))
    assert not list((tmp_path / "cache").glob("*/.ok"))
    assert not list((tmp_path / "cache").glob("bundles/*"))


def read_pyc(path: Path) -> tuple[int, str]:
    """The flags of a ``.pyc`` file and the file name its code names, read by the bytecode's
    Python (marshal is version-specific)."""
    code = (
        "import marshal, sys\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "print(int.from_bytes(data[4:8], 'little'), marshal.loads(data[16:]).co_filename)\n"
    )
    done = subprocess.run(  # noqa: S603 - the bytecode's Python, fixed code
        [BYTECODE_PYTHON, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    flags, name = done.stdout.split()
    return int(flags), name


@pytest.fixture
def bytecode_function(offline_function, monkeypatch):
    """``fn`` as one of the functions shipped with bytecode, locked for their Python."""
    source, _ = offline_function
    monkeypatch.setattr(bundling, "BYTECODE_PACKAGES", frozenset({"fn"}))
    (source / "requirements.lock").write_text(load_lock_script().lock(source / "requirements.txt"))
    return source


def test_bytecode_packages_get_unchecked_hash_pyc_naming_the_lambda_paths(
    bytecode_function, tmp_path
):
    assert bundling.python_version("fn") == bundling.BYTECODE_PYTHON_VERSION
    assert bundling.runtime("fn").name == f"python{bundling.BYTECODE_PYTHON_VERSION}"
    assert (
        f"cp{bundling.BYTECODE_PYTHON_VERSION}"
        in (bytecode_function / "requirements.lock").read_text()
    )
    out = tmp_path / "out"
    out.mkdir()

    tree = bundle("fn", tmp_path / "cache", out)

    sources = {path.relative_to(tree) for path in tree.rglob("*.py")}
    assert sources == {Path("fn/handler.py"), Path("tiny/__init__.py")}
    assert {path.relative_to(tree) for path in tree.rglob("*.pyc")} == {
        Path(f"fn/__pycache__/handler.{BYTECODE_TAG}.pyc"),
        Path(f"tiny/__pycache__/__init__.{BYTECODE_TAG}.pyc"),
    }
    assert read_pyc(tree / "fn" / "__pycache__" / f"handler.{BYTECODE_TAG}.pyc") == (
        1,  # hash-based, unchecked: never compared with the source, never rewritten
        "/var/task/fn/handler.py",
    )
    again = tmp_path / "again"
    again.mkdir()
    shutil.rmtree(tmp_path / "cache")
    assert bundle("fn", tmp_path / "cache", again)  # rebuilt from scratch: the same bytes
    assert [p.read_bytes() for p in out.glob("*.zip")] == [
        p.read_bytes() for p in again.glob("*.zip")
    ]


def test_without_the_bytecode_python_bundles_hold_sources_under_another_hash(
    bytecode_function, tmp_path, monkeypatch, capsys
):
    with_bytecode = bundling.bundle_hash("fn")
    assert with_bytecode != bundling.bundle_hash("fn", pruned=True)
    monkeypatch.setattr(bundling, "bytecode_python", lambda version: None)
    bundling._warn_no_bytecode.cache_clear()
    out = tmp_path / "out"
    out.mkdir()

    tree = bundle("fn", tmp_path / "cache", out)

    assert (tree / "fn" / "handler.py").is_file()
    assert not list(tree.rglob("*.pyc"))
    assert (
        f"no Python {bundling.BYTECODE_PYTHON_VERSION} on this machine" in capsys.readouterr().err
    )
    assert bundling.bundle_hash("fn") != with_bytecode


def test_refuses_to_bundle_without_a_lock_written_from_the_requirements(offline_function, tmp_path):
    source, _ = offline_function
    command = re.escape("`.venv/bin/python scripts/lock_lambdas.py`")
    with pytest.raises(RuntimeError, match=rf"lambdas/fn/requirements.lock is missing.*{command}"):
        PipLocalBundling("fn", tmp_path / "cache").try_bundle(str(tmp_path))

    (source / "requirements.lock").write_text(lock_header(b"tiny==0.9\n") + "tiny==0.9\n")
    with pytest.raises(RuntimeError, match=rf"written from another requirements.txt.*{command}"):
        PipLocalBundling("fn", tmp_path / "cache").try_bundle(str(tmp_path))

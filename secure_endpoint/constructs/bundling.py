"""Lambda code bundled without Docker: pip with manylinux wheels for the Lambda platform, cached.

The dependencies of ``lambdas/<name>`` are installed from ``requirements.lock``, the full set
``scripts/lock_lambdas.py`` resolved from ``requirements.txt`` for the Lambda platform, with
``--require-hashes --no-deps``: pip installs exactly the wheels whose digests the repository keeps,
and refuses any other. A function with a ``requirements.txt`` but no lock written from it is not
bundled. They are installed once per lock into ``<cache_dir>/<hash>``; the function's bundle (its
package, those dependencies and, when asked, ``secure_endpoint.runtime``) is zipped once per
content hash into ``<cache_dir>/bundles/``, with fixed timestamps and order, and each synth hands
CDK that archive (a hard link where possible): a second synth neither installs nor copies a tree
of thousands of files. Tests skip bundling with the ``aws:cdk:bundling-stacks`` context, as CDK
allows.

The cache is one per user (``resolve_cache_dir``): every app that uses the library shares the
dependencies installed once (a few hundred MB with the anomaly monitor's), unless a construct's
``bundling_cache_dir`` or ``SECURE_ENDPOINT_CACHE_DIR`` names another directory.

A function may also ship ``secure_endpoint.runtime`` (boto3-only code shared with the command line
client) and other functions' packages (``also``: the model fitter reads and writes the anomaly
monitor's state with the monitor's own modules); its asset hash then covers those too, so changing
them updates the function.

The functions of ``BYTECODE_PACKAGES`` (the anomaly monitor, whose cold start imports numpy, and its
model fitter, which imports scikit-learn) run on an older runtime whose Python this machine has
(``bytecode_python``): their bundles carry ``unchecked-hash`` ``.pyc`` files compiled by it,
naming ``/var/task`` paths, the same bytes on every build, and a cold start that compiles
nothing (several times faster). Without that Python they hold sources only, a warning says so,
and the asset hash differs, so the two kinds of bundle are never mistaken for each other.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsii
import platformdirs
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

CACHE_DIR_ENV = "SECURE_ENDPOINT_CACHE_DIR"
"""The environment variable naming the bundling cache when a construct's prop does not."""
CACHE_APP_NAME = "secure-endpoint"
"""The directory of this library in the user's cache directory (the command line client keeps
its tokens there too)."""
CACHE_SUBDIR = "lambda-deps"
LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
RUNTIME_PACKAGE_DIR = Path(__file__).resolve().parent.parent / "runtime"
"""``secure_endpoint/runtime``, copied into bundles built with ``include_runtime``."""
PYTHON_VERSION = "3.14"
RUNTIME = lambda_.Runtime.PYTHON_3_14
"""The Lambda runtime of every function but those of ``BYTECODE_PACKAGES``: the newest Python."""
BYTECODE_PYTHON_VERSION = "3.13"
BYTECODE_RUNTIME = lambda_.Runtime.PYTHON_3_13
BYTECODE_PACKAGES = frozenset({"anomaly_monitor", "anomaly_model_fitter"})
"""Functions whose cold start imports enough (numpy; scikit-learn and scipy) to be worth bytecode
compiled ahead of time, which must come from the runtime's own Python version: they run on
``BYTECODE_RUNTIME``, the newest Python that build machines here have (``bytecode_python``)."""
TASK_ROOT = "/var/task"
"""Where Lambda unpacks a function's code: the path its bytecode names in tracebacks."""
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
"""Lambda's limit on a function's code (and layers), unzipped."""
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
"""The wheel platforms pip may pick for the Lambda (x86_64) runtime, best first."""
IMPLEMENTATION = "cp"
LOCK_COMMAND = ".venv/bin/python scripts/lock_lambdas.py"
"""What (re)writes every ``lambdas/*/requirements.lock``."""
_IGNORED = shutil.ignore_patterns(
    "__pycache__", "*.pyc", "requirements*.txt", "requirements*.lock", "tests"
)
_RUNTIME_INIT = '"""secure-endpoint code that runs in AWS, bundled without the CDK."""\n'
_PRUNED = "pruned-v1"
_ZIP_FORMAT = "zip-v1"
_BYTECODE = "pyc-unchecked-hash-v1"
# What a pruned bundle leaves out: test suites, C/C++/Cython sources and headers, type stubs.
# Never the shared libraries vendored under <package>.libs/ (numpy and scipy fail without them).
_PRUNED_DIRS = ("tests", "test")
_PRUNED_SUFFIXES = (".c", ".cpp", ".h", ".hpp", ".pyx", ".pxd", ".pxi", ".pyi")


def resolve_cache_dir(configured: str | os.PathLike[str] | None = None) -> Path:
    """The bundling cache: ``configured`` (a construct's ``bundling_cache_dir``) when given, else
    ``$SECURE_ENDPOINT_CACHE_DIR`` when set and not empty, else ``lambda-deps`` in this library's
    per-user cache directory (``platformdirs.user_cache_dir("secure-endpoint")``: on Linux
    ``$XDG_CACHE_HOME/secure-endpoint`` or ``~/.cache/secure-endpoint``). ``~`` is expanded."""
    if configured is not None and str(configured):
        return Path(configured).expanduser()
    if named := os.environ.get(CACHE_DIR_ENV, "").strip():
        return Path(named).expanduser()
    return Path(platformdirs.user_cache_dir(CACHE_APP_NAME, appauthor=False)) / CACHE_SUBDIR


def python_version(package: str) -> str:
    """The Python version of ``lambdas/<package>``'s runtime."""
    return BYTECODE_PYTHON_VERSION if package in BYTECODE_PACKAGES else PYTHON_VERSION


def runtime(package: str) -> lambda_.Runtime:
    """The Lambda runtime of ``lambdas/<package>``."""
    return BYTECODE_RUNTIME if package in BYTECODE_PACKAGES else RUNTIME


def pip_target_options(
    platforms: tuple[str, ...] = PLATFORMS, version: str = PYTHON_VERSION
) -> list[str]:
    """pip's options for installing wheels for the Lambda runtime rather than for this machine."""
    return [
        *(arg for platform in platforms for arg in ("--platform", platform)),
        "--only-binary=:all:", "--implementation", IMPLEMENTATION, "--python-version", version,
    ]  # fmt: skip


def lock_header(requirements: bytes, version: str = PYTHON_VERSION) -> str:
    """The comment a lock file starts with: how it was made, from which ``requirements.txt``
    (its SHA-256) and for which target. A lock without this exact header is stale."""
    return (
        f"# Written by `{LOCK_COMMAND}`; do not edit.\n"
        f"# From requirements.txt sha256={hashlib.sha256(requirements).hexdigest()}\n"
        f"# For {IMPLEMENTATION}{version} on {' '.join(PLATFORMS)}, wheels only.\n"
    )


def lock_is_current(requirements: bytes, lock: bytes, version: str = PYTHON_VERSION) -> bool:
    """Whether ``lock`` was written from these ``requirements`` for the current target."""
    return lock.startswith(lock_header(requirements, version).encode())


def stale_locks(lambdas_dir: Path = LAMBDAS_DIR) -> list[Path]:
    """The ``requirements.lock`` files under ``lambdas_dir`` missing or not written from their
    ``requirements.txt`` (no network: only the recorded hash and target are compared)."""
    stale = []
    for requirements in sorted(lambdas_dir.glob("*/requirements.txt")):
        lock = requirements.with_name("requirements.lock")
        version = python_version(requirements.parent.name)
        if not lock.exists() or not lock_is_current(
            requirements.read_bytes(), lock.read_bytes(), version
        ):
            stale.append(lock)
    return stale


def dependencies_key(
    lock: bytes, *, prune: bool = False, version: str = PYTHON_VERSION, bytecode: bool = False
) -> str:
    """The cache key of a dependency set: the lock file's bytes, target platforms and Python
    version (and whether it is pruned, and compiled)."""
    digest = hashlib.sha256(lock)
    digest.update(" ".join((*PLATFORMS, version)).encode())
    if prune:
        digest.update(_PRUNED.encode())
    if bytecode:
        digest.update(bytecode_salt(version).encode())
    return digest.hexdigest()[:32]


@functools.cache
def bytecode_python(version: str = BYTECODE_PYTHON_VERSION) -> str | None:
    """An interpreter of Python ``version`` on this machine, or None.

    Looked for as ``python3.13`` on the ``PATH`` (a pyenv shim that does not run is skipped), this
    interpreter, then pyenv's and uv's installed versions; each is asked for its cache tag.
    """
    name = f"python{version}"
    candidates = [shutil.which(name), sys.executable]
    home = Path.home()
    for pattern in (
        f".pyenv/versions/{version}.*/bin/{name}",
        f".local/share/uv/python/cpython-{version}.*/bin/{name}",
    ):
        candidates.extend(str(path) for path in sorted(home.glob(pattern), reverse=True))
    for candidate in candidates:
        # this interpreter's tag is known without starting another one
        tag = sys.implementation.cache_tag if candidate == sys.executable else None
        if candidate and (tag or _cache_tag(candidate)) == _tag(version):
            return candidate
    return None


def _tag(version: str) -> str:
    """``sys.implementation.cache_tag`` of CPython ``version``: the ``.pyc`` files it loads."""
    return "cpython-" + version.replace(".", "")


BYTECODE_TAG = _tag(BYTECODE_PYTHON_VERSION)


def _cache_tag(python: str) -> str | None:
    try:
        done = subprocess.run(  # noqa: S603
            [python, "-c", "import sys; print(sys.implementation.cache_tag)"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def bytecode_salt(version: str = BYTECODE_PYTHON_VERSION) -> str:
    """What the bytecode of a bundle for Python ``version`` is, for cache keys and asset
    hashes: compiled when that Python is here, none otherwise."""
    return f"{_BYTECODE} {_tag(version)}" if bytecode_python(version) else "no-bytecode"


def compile_bytecode(
    root: Path, directories: list[Path] | None = None, version: str = BYTECODE_PYTHON_VERSION
) -> None:
    """Compile the ``.py`` files under ``directories`` (default: all of ``root``) with Python
    ``version``, as ``unchecked-hash`` ``.pyc`` files whose paths are under ``/var/task``.
    Does nothing (and warns once) without that Python."""
    python = bytecode_python(version)
    if python is None:
        _warn_no_bytecode(version)
        return
    targets = [str(directory) for directory in directories or [root] if directory.exists()]
    if not targets:
        return
    command = [
        python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
        "-s", str(root), "-p", TASK_ROOT, *targets,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(
            f"Could not compile the bundle's bytecode with {python} (exit {done.returncode}):\n"
            f"{(done.stdout + done.stderr).strip()[-2000:]}"
        )


@functools.cache
def _warn_no_bytecode(version: str) -> None:
    print(
        f"secure-endpoint: no Python {version} on this machine (looked for python{version} on "
        f"the PATH, in pyenv and uv): {', '.join(sorted(BYTECODE_PACKAGES))} ship sources "
        "without bytecode, so their cold starts compile it (seconds more for the anomaly "
        "monitor; see benchmarks/bundles.py).",
        file=sys.stderr,
    )


def prune(root: Path) -> int:
    """Delete test suites, sources, headers and stubs of installed packages under ``root``;
    returns the bytes freed. ``*.libs`` directories and ``*.dist-info`` are left whole."""
    freed = 0
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        relative = path.relative_to(root).parts
        if any(part.endswith((".libs", ".dist-info")) for part in relative):
            continue
        if path.is_dir() and path.name in _PRUNED_DIRS and len(relative) > 1:
            freed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            shutil.rmtree(path)
        elif path.is_file() and path.suffix in _PRUNED_SUFFIXES:
            freed += path.stat().st_size
            path.unlink()
    return freed


def tree_hash(trees: Mapping[str, Path], *, salt: str = "") -> str:
    """SHA-256 over the files of ``trees`` (bundle path -> source directory) and ``salt``.

    The same on every machine: files are taken in the order of their bundle paths (POSIX), each
    as its path, its size and its bytes; ``__pycache__`` and ``*.pyc`` are left out.
    """
    files: dict[str, Path] = {}
    for prefix, root in trees.items():
        for path in root.rglob("*"):
            relative = path.relative_to(root)
            if path.is_file() and "__pycache__" not in relative.parts and path.suffix != ".pyc":
                files[f"{prefix}/{relative.as_posix()}"] = path
    digest = hashlib.sha256(salt.encode())
    for name in sorted(files):
        content = files[name].read_bytes()
        digest.update(f"\0{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def _trees(package: str, include_runtime: bool, also: tuple[str, ...]) -> dict[str, Path]:
    """Bundle path -> source directory of what a function's bundle holds besides its deps."""
    trees = {package: LAMBDAS_DIR / package}
    for other in also:
        trees[other] = LAMBDAS_DIR / other
    if include_runtime:
        trees["secure_endpoint/runtime"] = RUNTIME_PACKAGE_DIR
    return trees


def bundle_hash(
    package: str,
    *,
    include_runtime: bool = False,
    pruned: bool = False,
    also: tuple[str, ...] = (),
) -> str:
    """The asset hash of ``lambdas/<package>`` (with ``secure_endpoint/runtime`` when included,
    and the packages of ``also``).

    It covers the function's files (requirements and lock included), the runtime package and the
    other packages when bundled, the files written into the bundle, the Lambda platforms, the
    Python version and the bytecode the bundle carries.
    """
    trees = _trees(package, include_runtime, also)
    return tree_hash(trees, salt=_bundle_salt(package, include_runtime, pruned))


def _bundle_salt(package: str, include_runtime: bool, pruned: bool) -> str:
    version = python_version(package)
    return " ".join(
        (
            _RUNTIME_INIT if include_runtime else "-",
            *PLATFORMS,
            version,
            bytecode_salt(version) if package in BYTECODE_PACKAGES else "no-bytecode",
            *([_PRUNED] if pruned else []),
        )
    )


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """Bundles ``lambdas/<package>`` with its locked, hash-checked dependencies, using pip here.

    With ``include_runtime``, the bundle also holds ``secure_endpoint/runtime`` under a
    ``secure_endpoint`` package of its own (a docstring only, none of the CDK constructs); with
    ``also``, the packages of those other functions (their code, not their dependencies).
    """

    def __init__(
        self,
        package: str,
        cache_dir: Path,
        *,
        include_runtime: bool = False,
        prune: bool = False,
        also: tuple[str, ...] = (),
    ) -> None:
        for other in also:
            if other == package or not (LAMBDAS_DIR / other).is_dir():
                raise ValueError(f"also must name other functions under lambdas/, got {other!r}")
        self.source = LAMBDAS_DIR / package
        self.package = package
        self.also = tuple(also)
        self.cache_dir = cache_dir
        self.include_runtime = include_runtime
        self.prune = prune
        self.version = python_version(package)
        self.bytecode = package in BYTECODE_PACKAGES

    def try_bundle(self, output_dir: str, options: Any = None) -> bool:
        # jsii passes the BundlingOptions struct positionally, not as the keywords of the stub.
        # A single archive in the output directory is the asset as it is (CDK's AUTO_DISCOVER).
        archive = self._archive()
        _link_or_copy(str(archive), str(Path(output_dir) / archive.name))
        return True

    def _archive(self) -> Path:
        """The zipped bundle in the cache, built (deterministically) when missing."""
        deps = self._dependencies()
        trees = _trees(self.package, self.include_runtime, self.also)
        salt = _bundle_salt(self.package, self.include_runtime, self.prune)
        key = tree_hash(trees, salt=f"{deps.name if deps else '-'} {_ZIP_FORMAT} {salt}")
        archive = self.cache_dir / "bundles" / f"{self.package}-{key[:32]}.zip"
        if archive.exists():
            return archive
        archive.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.cache_dir, prefix=".assemble-") as scratch:
            tree = Path(scratch) / "bundle"
            self._assemble(tree, deps)
            _check_size(tree, self.package)
            # zipped in this build's own scratch directory, then moved in at once: another synth
            # sharing the cache that builds the same archive writes the same bytes
            partial = Path(scratch) / archive.name
            _zip_tree(tree, partial)
            os.replace(partial, archive)
        return archive

    def _assemble(self, out: Path, deps: Path | None) -> None:
        """Lay the bundle out as a tree under ``out``."""
        if deps is not None:
            # Hard links: the tree is only read (zipped), then thrown away.
            shutil.copytree(
                deps,
                out,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns(".ok"),
                copy_function=_link_or_copy,
            )
        shutil.copytree(self.source, out / self.package, dirs_exist_ok=True, ignore=_IGNORED)
        for other in self.also:
            shutil.copytree(LAMBDAS_DIR / other, out / other, dirs_exist_ok=True, ignore=_IGNORED)
        if self.include_runtime:
            shared = out / "secure_endpoint"
            shutil.copytree(
                RUNTIME_PACKAGE_DIR, shared / "runtime", dirs_exist_ok=True, ignore=_IGNORED
            )
            (shared / "__init__.py").write_text(_RUNTIME_INIT)
        if self.bytecode:
            # the dependencies were compiled once, in the cache; here the function's own code
            own = [out / self.package, *(out / other for other in self.also)]
            compile_bytecode(out, [*own, out / "secure_endpoint"], self.version)

    def _dependencies(self) -> Path | None:
        requirements = self.source / "requirements.txt"
        if not requirements.exists():
            return None
        lock = self.source / "requirements.lock"
        locked = lock.read_bytes() if lock.exists() else b""
        if not lock_is_current(requirements.read_bytes(), locked, self.version):
            state = "was written from another requirements.txt" if lock.exists() else "is missing"
            raise RuntimeError(
                f"lambdas/{self.package}/requirements.lock {state}: bundles install only hashed, "
                f"locked dependencies. Run `{LOCK_COMMAND}` (it needs the package index), "
                "then commit the lock."
            )
        target = self.cache_dir / dependencies_key(
            locked, prune=self.prune, version=self.version, bytecode=self.bytecode
        )
        if (target / ".ok").exists():
            return target
        # Installed into a directory of this build's own: synths of other apps share the cache.
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.cache_dir, prefix=f".{target.name}-"))
        try:
            self._install(lock, staging)
            (staging / ".ok").touch()
            _move_in(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def _install(self, lock: Path, staging: Path) -> None:
        """pip-install the locked dependencies for the Lambda platform into ``staging``."""
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            *pip_target_options(version=self.version), "--require-hashes", "--no-deps",
            "--no-compile", "--target", str(staging), "-r", str(lock),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise RuntimeError(
                f"Could not install the dependencies of lambdas/{self.package} for the Lambda "
                f"platform from requirements.lock (pip exit {result.returncode}). Is the package "
                "index reachable? If pip says a hash does not match, the wheel is not the one "
                f"locked: find out why before running `{LOCK_COMMAND}` again.\n"
                f"{result.stderr.strip()}"
            )
        if self.prune:
            prune(staging)
        if self.bytecode:
            compile_bytecode(staging, version=self.version)


def _move_in(staging: Path, target: Path) -> None:
    """Rename the finished ``staging`` to ``target``, unless another build finished it first."""
    if (target / ".ok").exists():
        return
    shutil.rmtree(target, ignore_errors=True)  # a tree left without its .ok is not trusted
    try:
        staging.rename(target)
    except OSError:
        if not (target / ".ok").exists():  # not the other build's: a real failure
            raise


def lambda_code(
    package: str,
    cache_dir: Path,
    *,
    include_runtime: bool = False,
    prune: bool = False,
    also: tuple[str, ...] = (),
) -> lambda_.Code:
    """The code of ``lambdas/<package>``, bundled locally; its handler is ``<package>.handler``.

    :param include_runtime: also ship ``secure_endpoint.runtime``, importable in the function as
        ``from secure_endpoint.runtime.waf_ip_sets import IpSetWriter``; the asset hash then
        covers it too. Default: - ``False``, the function's own package and dependencies only
    :param prune: leave the dependencies' test suites, sources, headers and stubs out of the
        bundle (scikit-learn, scipy and numpy need it to stay far under Lambda's 250 MB).
        Default: - ``False``
    :param also: other functions' packages (``lambdas/<name>``, their code only) to ship beside
        this one, importable by their names. Default: - none
    """
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR / package),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=bundle_hash(
            package, include_runtime=include_runtime, pruned=prune, also=tuple(also)
        ),
        exclude=["__pycache__", "*.pyc"],
        bundling=BundlingOptions(
            image=DockerImage.from_registry("unused-local-bundling-only"),
            local=PipLocalBundling(  # type: ignore[arg-type]
                package, cache_dir, include_runtime=include_runtime, prune=prune, also=tuple(also)
            ),
        ),
    )


def _check_size(tree: Path, package: str) -> None:
    """Refuse, at synth, a bundle Lambda would refuse at deploy."""
    size = sum(path.stat().st_size for path in tree.rglob("*") if path.is_file())
    if size > MAX_UNZIPPED_BYTES:
        raise RuntimeError(
            f"The bundle of lambdas/{package} is {size / 2**20:.0f} MiB unzipped, over Lambda's "
            f"limit of {MAX_UNZIPPED_BYTES / 2**20:.0f} MiB: prune it (lambda_code(prune=True)) "
            "or drop dependencies."
        )


def _zip_tree(root: Path, archive: Path) -> None:
    """Zip ``root``'s files in path order with fixed times and modes: same tree, same bytes."""
    files = sorted(
        (path.relative_to(root).as_posix(), path) for path in root.rglob("*") if path.is_file()
    )
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, path in files:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            executable = path.stat().st_mode & 0o111
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            bundle.writestr(info, path.read_bytes())


def _link_or_copy(source: str, destination: str) -> str:
    """Hard-link ``source`` at ``destination``, or copy it (another file system, no links)."""
    try:
        os.link(source, destination)
    except OSError:
        return str(shutil.copy2(source, destination))
    return destination

"""Lambda code bundled without Docker: pip with manylinux wheels for the Lambda platform, cached.

The dependencies of ``lambdas/<name>/requirements.txt`` are installed once per requirements hash
into ``<cache_dir>/<hash>`` and copied into each bundle, so a second synth costs a copy. Tests skip
bundling with the ``aws:cdk:bundling-stacks`` context, as CDK allows.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
PYTHON_VERSION = "3.14"
RUNTIME = lambda_.Runtime.PYTHON_3_14
_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "requirements*.txt", "tests")


def dependencies_key(requirements: bytes) -> str:
    """The cache key of a dependency set: requirements, target platforms and Python version."""
    digest = hashlib.sha256(requirements)
    digest.update(" ".join((*_PLATFORMS, PYTHON_VERSION)).encode())
    return digest.hexdigest()[:32]


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """Bundles ``lambdas/<package>`` with its pinned dependencies, using pip on this machine."""

    def __init__(self, package: str, cache_dir: Path) -> None:
        self.source = LAMBDAS_DIR / package
        self.package = package
        self.cache_dir = cache_dir

    def try_bundle(self, output_dir: str, options: Any = None) -> bool:
        # jsii passes the BundlingOptions struct positionally, not as the keywords of the stub.
        out = Path(output_dir)
        deps = self._dependencies()
        if deps is not None:
            shutil.copytree(deps, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".ok"))
        shutil.copytree(self.source, out / self.package, dirs_exist_ok=True, ignore=_IGNORED)
        return True

    def _dependencies(self) -> Path | None:
        requirements = self.source / "requirements.txt"
        if not requirements.exists():
            return None
        target = self.cache_dir / dependencies_key(requirements.read_bytes())
        if (target / ".ok").exists():
            return target
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            *(arg for platform in _PLATFORMS for arg in ("--platform", platform)),
            "--only-binary=:all:", "--implementation", "cp", "--python-version", PYTHON_VERSION,
            "--no-compile", "--target", str(staging), "-r", str(requirements),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise RuntimeError(
                f"Could not install the dependencies of lambdas/{self.package} for the Lambda "
                f"platform (pip exit {result.returncode}). Is the package index reachable?\n"
                f"{result.stderr.strip()}"
            )
        (staging / ".ok").touch()
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        return target


def lambda_code(package: str, cache_dir: Path) -> lambda_.Code:
    """The code of ``lambdas/<package>``, bundled locally; its handler is ``<package>.handler``."""
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR / package),
        asset_hash_type=AssetHashType.SOURCE,
        exclude=["__pycache__", "*.pyc"],
        bundling=BundlingOptions(
            image=DockerImage.from_registry("unused-local-bundling-only"),
            local=PipLocalBundling(package, cache_dir),  # type: ignore[arg-type]
        ),
    )

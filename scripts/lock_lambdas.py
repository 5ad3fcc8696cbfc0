"""Write ``lambdas/<function>/requirements.lock``: every distribution a function's bundle installs,
pinned, with the SHA-256 of the wheels pip may pick for the Lambda platform.

    .venv/bin/python scripts/lock_lambdas.py            # (re)write every lock; needs the index
    .venv/bin/python scripts/lock_lambdas.py --check    # exit 1 if a lock is stale; no network

pip resolves ``requirements.txt`` for the Lambda target exactly as bundling used to (same platforms,
implementation and Python version, imported from ``secure_endpoint.constructs.bundling``) with
``install --dry-run --report``, which gives each chosen wheel and its digest without installing
anything. Each platform-specific wheel is then resolved again for each platform on its own, so a
wheel pip would pick on either platform is allowed too. Bundling installs the lock with
``--require-hashes --no-deps`` and refuses a lock whose header does not match ``requirements.txt``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from secure_endpoint.constructs.bundling import (
    LAMBDAS_DIR,
    LOCK_COMMAND,
    PLATFORMS,
    lock_header,
    pip_target_options,
    python_version,
    stale_locks,
)


@dataclass
class Locked:
    """One distribution of the lock: its pinned version and the digests of its allowed wheels."""

    name: str
    version: str
    hashes: set[str] = field(default_factory=set)
    platform_specific: bool = False

    def line(self) -> str:
        digests = " ".join(f"--hash=sha256:{digest}" for digest in sorted(self.hashes))
        return f"{self.name}=={self.version} {digests}"


def canonical(name: str) -> str:
    """The PEP 503 name of a distribution: ``typing_extensions`` is ``typing-extensions``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def resolve(
    requirements: list[str], platforms: tuple[str, ...], version: str, *, deps: bool
) -> list[Locked]:
    """What pip would install for ``requirements`` on ``platforms``, read from its report."""
    with tempfile.TemporaryDirectory(prefix="lock-lambdas-") as scratch:
        report = Path(scratch) / "report.json"
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--dry-run", "--ignore-installed", "--report", str(report),
            *pip_target_options(platforms, version), *([] if deps else ["--no-deps"]),
            "--target", str(Path(scratch) / "target"), *requirements,
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise RuntimeError(f"pip could not resolve {requirements}:\n{result.stderr.strip()}")
        installs = json.loads(report.read_text())["install"]
    locked = []
    for item in installs:
        info = item["download_info"]
        digest = info.get("archive_info", {}).get("hashes", {}).get("sha256")
        if digest is None:
            raise RuntimeError(f"pip reported no sha256 for {info['url']}")
        wheel = info["url"].rsplit("/", 1)[-1]
        locked.append(
            Locked(
                name=canonical(item["metadata"]["name"]),
                version=item["metadata"]["version"],
                hashes={digest},
                platform_specific=not wheel.endswith("-none-any.whl"),
            )
        )
    return locked


def lock(requirements: Path) -> str:
    """The text of ``requirements``' lock file, for its function's Python version."""
    version = python_version(requirements.parent.name)
    chosen = {d.name: d for d in resolve(["-r", str(requirements)], PLATFORMS, version, deps=True)}
    for dist in [d for d in chosen.values() if d.platform_specific]:
        for platform in PLATFORMS:
            pin = f"{dist.name}=={dist.version}"
            try:
                (alternative,) = resolve([pin], (platform,), version, deps=False)
            except RuntimeError:
                continue  # no wheel for this platform alone: the chosen one is the only one
            dist.hashes |= alternative.hashes
    body = "".join(f"{chosen[name].line()}\n" for name in sorted(chosen))
    return lock_header(requirements.read_bytes(), version) + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a lock is missing or stale (no network)"
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_locks()
        for path in stale:
            print(f"{path.relative_to(LAMBDAS_DIR.parent)} is stale: run `{LOCK_COMMAND}`")
        return 1 if stale else 0
    for requirements in sorted(LAMBDAS_DIR.glob("*/requirements.txt")):
        target = requirements.with_name("requirements.lock")
        target.write_text(lock(requirements), encoding="utf-8")
        print(f"wrote {target.relative_to(LAMBDAS_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

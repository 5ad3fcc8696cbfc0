"""Lambda bundle sizes, and the anomaly monitor's and model fitter's cold imports with and
without their bytecode.

Builds each function's bundle as ``cdk synth`` does (from the same cache,
``bundling.resolve_cache_dir()``, so a second run only reads), prints its zipped and unzipped
sizes against Lambda's 250 MiB limit and the share of bytecode; then unpacks the monitor's and
the fitter's bundles and times, in fresh processes of the runtime's Python, the imports of a
cold start: the 5-minute scoring path (the monitor's handler: numpy, orjson, Powertools, boto3),
the fitter's handler and scikit-learn's ``sklearn.ensemble`` (in the fitter's bundle), with the
bundle's ``.pyc`` files and with them deleted (what a bundle without bytecode costs).

    .venv/bin/python benchmarks/bundles.py [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from secure_endpoint.constructs import bundling

CACHE = bundling.resolve_cache_dir()
BUNDLES = {  # the options the constructs bundle each function with
    "anomaly_monitor": {"include_runtime": True, "prune": True},
    "anomaly_model_fitter": {
        "include_runtime": True,
        "prune": True,
        "also": ("anomaly_monitor",),
    },
    "api_key_responder": {"include_runtime": True},
    "artifact_verifier": {"include_runtime": True},
    "client_secret_rotation": {"include_runtime": True},
    "origin_secret_rotation": {"include_runtime": True},
    "threat_intel_feed": {"include_runtime": True},
    "drift_monitor": {"include_runtime": True},
    "quarantine_responder": {"include_runtime": True},
}
IMPORTS = {  # label: (the bundle, the module a cold start imports)
    "monitor (anomaly_monitor.handler)": ("anomaly_monitor", "anomaly_monitor.handler"),
    "fitter (anomaly_model_fitter.handler)": (
        "anomaly_model_fitter",
        "anomaly_model_fitter.handler",
    ),
    "fitter's sklearn.ensemble": ("anomaly_model_fitter", "sklearn.ensemble"),
}
MIB = 2**20


def archive_of(package: str, options: dict[str, Any]) -> Path:
    with tempfile.TemporaryDirectory() as out:
        bundling.PipLocalBundling(package, CACHE, **options).try_bundle(out)
        (linked,) = Path(out).iterdir()
        return CACHE / "bundles" / linked.name


def sizes(archive: Path) -> tuple[float, float, float]:
    """Zipped, unzipped and bytecode MiB."""
    with zipfile.ZipFile(archive) as bundle:
        infos = bundle.infolist()
    unzipped = sum(info.file_size for info in infos)
    bytecode = sum(info.file_size for info in infos if info.filename.endswith(".pyc"))
    return archive.stat().st_size / MIB, unzipped / MIB, bytecode / MIB


def cold_import(python: str, tree: Path, module: str, runs: int) -> float:
    """Median seconds of ``import module`` in a fresh interpreter that writes no bytecode."""
    code = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(tree)!r})\n"
        "started = time.perf_counter()\n"
        f"import {module}\n"
        "print(time.perf_counter() - started)\n"
    )
    seconds = []
    for _ in range(runs):
        done = subprocess.run(  # noqa: S603 - the runtime's Python, fixed code
            [python, "-B", "-c", code], capture_output=True, text=True, check=True
        )
        seconds.append(float(done.stdout.split()[-1]))
    return statistics.median(seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    python = bundling.bytecode_python()
    compiled_by = python or "nothing (none found)"
    print(f"Lambda runtimes: {bundling.BYTECODE_RUNTIME.name} for "
          f"{', '.join(sorted(bundling.BYTECODE_PACKAGES))}, its bytecode compiled by "
          f"{compiled_by}; {bundling.RUNTIME.name} for the others")  # fmt: skip
    print()
    print(f"{'function':<24} {'zipped':>9} {'unzipped':>10} {'bytecode':>10}  of 250 MiB")
    archives = {}
    for package, options in BUNDLES.items():
        archives[package] = archive_of(package, options)
        zipped, unzipped, bytecode = sizes(archives[package])
        print(f"{package:<24} {zipped:>5.1f} MiB {unzipped:>6.1f} MiB {bytecode:>6.1f} MiB"
              f"  {100 * unzipped * MIB / bundling.MAX_UNZIPPED_BYTES:>5.0f}%")  # fmt: skip
    if python is None:
        print(f"\nNo Python {bundling.PYTHON_VERSION} here: cold imports not measured.")
        return
    print()
    print(f"Cold imports in the bundles, median of {args.runs} fresh processes:")
    print(f"{'':<40} {'with .pyc':>10} {'without':>10}")
    with tempfile.TemporaryDirectory() as scratch:
        trees = {}
        for package in {bundle for bundle, _ in IMPORTS.values()}:
            compiled = Path(scratch) / package / "compiled"
            sources = Path(scratch) / package / "sources"
            with zipfile.ZipFile(archives[package]) as bundle:
                bundle.extractall(compiled)
            shutil.copytree(compiled, sources, ignore=shutil.ignore_patterns("__pycache__"))
            trees[package] = (compiled, sources)
        for label, (package, module) in IMPORTS.items():
            compiled, sources = trees[package]
            with_pyc = cold_import(python, compiled, module, args.runs)
            without = cold_import(python, sources, module, args.runs)
            print(f"{label:<40} {with_pyc:>8.2f} s {without:>8.2f} s")


if __name__ == "__main__":
    main()

"""Speed and memory of the anomaly monitor.

1. Featurizing and scoring 10k, 100k and 1M principal-windows: seconds and peak memory, each size
   in a fresh interpreter. The rows are the aggregates of the simulated evaluated day
   (``secure_endpoint.simulate``), copied with renamed principals until there are enough, so that
   the mix of principals and their histories stays realistic. The model is fitted on the
   simulated history first (not timed). Peak memory is both what featurizing and scoring
   allocate (tracemalloc, numpy included, in a second pass) and the whole process's peak resident
   set (interpreter, libraries and inputs included), set against a 1 GB Lambda function; the
   Lambda time is estimated from the CPU time, as 1 GB of Lambda memory buys 1024/1769 of a vCPU.
2. ``secure-endpoint detect`` end to end (fresh interpreter, read, fit, score, write) in log lines
   per second, beside what orjson alone parses of the same lines.

    .venv/bin/python benchmarks/monitor_perf.py [--dir DIR] [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from secure_endpoint.simulate.traffic import Config, ensure  # noqa: E402

LAMBDA_MB = 1024
LAMBDA_TIMEOUT_S = 900
LAMBDA_MB_PER_VCPU = 1769
RUNS = 3


# --- the core, through its public functions ------------------------------------------------------


def _aggregates_file(directory: Path, name: str) -> Path:
    return directory / f"{name}.aggregates.npz"


def save_aggregates(directory: Path, *, again: bool = True) -> None:
    """Aggregate the logs once per run (both, sharing principals, to fit on; the evaluated day
    alone, to copy), so that each measurement starts from the same rows quickly."""
    from secure_endpoint.runtime.anomaly.features import aggregate
    from secure_endpoint.runtime.anomaly.records import RecordReader

    for name, files in (("both", ("baseline", "access")), ("access", ("access",))):
        path = _aggregates_file(directory, name)
        if path.exists() and not again:
            continue
        reader = RecordReader()
        for file in files:
            with (directory / f"{file}.jsonl").open("rb") as lines:
                reader.feed(lines)
        agg = aggregate(reader.records())
        np.savez(
            path,
            window_seconds=agg.window_seconds,
            names=np.array(agg.names, dtype=str),
            is_client=agg.is_client,
            first_authenticated_ms=agg.first_authenticated_ms,
            principal=agg.principal,
            window_start=agg.window_start,
            values=agg.values,
        )


def load_aggregates(directory: Path, name: str, rows: int | None = None) -> Any:
    """The saved aggregates, copied with renamed principals until there are ``rows`` rows (whole
    copies of the day, the last one cut at ``rows``)."""
    from secure_endpoint.runtime.anomaly.features import WindowAggregates

    data = np.load(_aggregates_file(directory, name))
    names = data["names"].tolist()
    copies = 1 if rows is None else math.ceil(rows / len(data["principal"]))
    n_principals = len(names)
    cut = copies * len(data["principal"]) if rows is None else rows
    principal = np.concatenate([data["principal"] + c * n_principals for c in range(copies)])
    return WindowAggregates(  # views of the copies, cut at ``rows``: no second copy
        window_seconds=int(data["window_seconds"]),
        names=tuple(n if c == 0 else f"{n}~{c}" for c in range(copies) for n in names),
        is_client=np.tile(data["is_client"], copies),
        first_authenticated_ms=np.tile(data["first_authenticated_ms"], copies),
        principal=principal[:cut],
        window_start=np.tile(data["window_start"], copies)[:cut],
        values=np.tile(data["values"], (copies, 1))[:cut],
    )


def save_model(directory: Path, scored_from: int) -> None:
    """Fit on the simulated history (what ``detect`` fits) and store the model as the monitor
    stores it (bytes and digest), so that the measured processes only load it, never fit."""
    from secure_endpoint.runtime.anomaly.detect import detect
    from secure_endpoint.runtime.anomaly.scoring import dumps, sha256

    model = detect(load_aggregates(directory, "both"), scored_from).model
    if model is None:
        raise RuntimeError("no model could be fitted on the simulated history")
    data = dumps(model)
    (directory / "model.bin").write_bytes(data)
    (directory / "model.bin.sha256").write_text(sha256(data))


def peak_rss_mb() -> float:
    """This process's peak resident set since it started its program: ``VmHWM``, which (unlike
    ``ru_maxrss``) does not carry over the parent's peak through fork and exec."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))
    return int(kilobytes) / 1024


def worker(directory: Path, rows: int) -> dict[str, float]:
    """One size, in this (fresh) interpreter: load the stored model, then time and trace
    ``detect`` with it: features, isolation-forest scores, rules and decisions."""
    from secure_endpoint.runtime.anomaly.detect import detect
    from secure_endpoint.runtime.anomaly.features import FEATURES, features
    from secure_endpoint.runtime.anomaly.scoring import loads

    digest = (directory / "model.bin.sha256").read_text()
    model = loads((directory / "model.bin").read_bytes(), digest, FEATURES)
    aggregates = load_aggregates(directory, "access", rows)
    first = int(aggregates.window_start.min())
    started = time.perf_counter()
    features(aggregates)
    featurize = time.perf_counter() - started
    gc.collect()
    _reset_peak_rss()
    cpu = time.process_time()
    started = time.perf_counter()
    scored = len(detect(aggregates, first, model=model))  # its result is dropped at once
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    process_peak = peak_rss_mb()
    tracemalloc.start()
    detect(aggregates, first, model=model)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "rows": scored,
        "principals": len(np.unique(aggregates.principal)),
        "featurize_seconds": featurize,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "traced_peak_mb": traced_peak / 2**20,
        "max_rss_mb": process_peak,
        "sklearn_imported": "sklearn" in sys.modules,
    }


def _reset_peak_rss() -> None:
    """Start ``VmHWM`` again from the current resident set (Linux 4.0+; else it keeps the peak
    of loading the inputs, which is then what is reported)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


# --- measurements ---------------------------------------------------------------------------------


def _run(command: list[str]) -> tuple[float, str]:
    """Wall seconds and standard output of one child process (which reports its own peak)."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"exited {done.returncode}: {done.stderr[-800:]}")
    return seconds, done.stdout


def orjson_lines_per_second(paths: list[Path]) -> float:
    import orjson

    rates = []
    for _ in range(RUNS):
        started, n = time.perf_counter(), 0
        for path in paths:
            with path.open("rb") as lines:
                for line in lines:
                    orjson.loads(line)
                    n += 1
        rates.append(n / (time.perf_counter() - started))
    return statistics.median(rates)


def detect_end_to_end(directory: Path) -> tuple[float, float]:
    """Median seconds and peak resident MB of ``secure-endpoint detect`` over both logs."""
    walls, peaks = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(RUNS):
            command = [sys.executable, "-c", _DETECT, str(directory), scratch]
            wall, out = _run(command)
            walls.append(wall)
            peaks.append(json.loads(out)["max_rss_mb"])
    return statistics.median(walls), max(peaks)


_DETECT = """
import json, sys
from secure_endpoint.cli import main
def peak_rss_mb():
    status = open("/proc/self/status").read().splitlines()
    return int(next(line.split()[1] for line in status if line.startswith("VmHWM"))) / 1024
d, out = sys.argv[1], sys.argv[2]
code = main(["detect", "--logs", d + "/access.jsonl", "--baseline", d + "/baseline.jsonl",
             "--output", out + "/detections.jsonl"])
if code:
    sys.exit(code)
print(json.dumps({"max_rss_mb": peak_rss_mb()}))
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=ROOT / ".cache" / "traffic")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.dir, args.worker)))
        return
    truth, _ = ensure(Config(args.dir))
    save_aggregates(args.dir)
    save_model(args.dir, truth.periods["evaluated"]["start"])
    print(f"{os.cpu_count()} cores; rows are principal-windows of {truth.window_seconds} s")
    print()
    print(f"{'rows':>10} {'principals':>10} {'features':>9} {'total':>8} {'rows/s':>10} "
          f"{'traced peak':>12} {'process peak':>13} {'1 GB Lambda (est.)':>19}")  # fmt: skip
    for size in (int(s) for s in args.sizes.split(",")):
        command = [sys.executable, __file__, "--dir", str(args.dir), "--worker", str(size)]
        _, out = _run(command)
        r = json.loads(out)
        lambda_s = r["cpu_seconds"] * LAMBDA_MB_PER_VCPU / LAMBDA_MB
        fits = r["max_rss_mb"] < LAMBDA_MB and lambda_s < LAMBDA_TIMEOUT_S
        print(f"{r['rows']:>10,} {r['principals']:>10,} {r['featurize_seconds']:>7.2f} s "
              f"{r['seconds']:>6.2f} s {r['rows'] / r['seconds']:>10,.0f} "
              f"{r['traced_peak_mb']:>9.0f} MB {r['max_rss_mb']:>10.0f} MB "
              f"{lambda_s:>8.1f} s {'fits' if fits else 'EXCEEDS'}")  # fmt: skip
    print()
    logs = [args.dir / "baseline.jsonl", args.dir / "access.jsonl"]
    lines = sum(truth.periods[p]["lines"] for p in ("baseline", "evaluated"))
    parse_rate = orjson_lines_per_second(logs)
    seconds, peak = detect_end_to_end(args.dir)
    print(f"orjson.loads alone:        {parse_rate:>10,.0f} lines/s")
    print(f"secure-endpoint detect:    {lines / seconds:>10,.0f} lines/s end to end "
          f"({lines:,} lines in {seconds:.1f} s, median of {RUNS}; peak {peak:.0f} MB; "
          "target: at least 250,000)")  # fmt: skip


if __name__ == "__main__":
    main()

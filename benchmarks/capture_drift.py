"""Throughput of the drift check (``inspect-capture``'s core): capture lines in, windows compared.

Builds a baseline of 40 features from 50,000 training rows, writes captured requests of 1-8 rows
as SageMaker's JSON lines, then times parsing + windowing + comparison on one core. Prints rows
per second, and the peak memory of the run. Target (issue 13): >= 150,000 rows/s.

    python benchmarks/capture_drift.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from secure_endpoint.cli import main
from secure_endpoint.runtime.baseline.store import load_baseline
from secure_endpoint.runtime.capture.drift import Reference, windows
from secure_endpoint.runtime.capture.records import Counts, read_lines

WIDTH = 40


def population(rng: np.random.Generator, n: int) -> np.ndarray:
    latent = rng.normal(size=(n, 4))
    mix = rng.normal(size=(4, WIDTH))
    return np.round(latent @ mix + rng.normal(0, 0.5, (n, WIDTH)), 4)


def capture_lines(rng: np.random.Generator, rows: int) -> list[bytes]:
    lines, sent, n = [], 0, 0
    start = 1_764_547_200  # 2025-12-01
    while sent < rows:
        size = int(rng.integers(1, 9))
        body = population(rng, size).tolist()
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + sent // 50))
        event = {
            "captureData": {
                "endpointInput": {"observedContentType": "application/json", "mode": "INPUT",
                                  "data": json.dumps({"instances": body}), "encoding": "JSON"},
                "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                                   "data": json.dumps({"predictions": [0.5] * size}),
                                   "encoding": "JSON"},
            },
            "eventMetadata": {"eventId": f"e{n}", "inferenceId": f"client{n % 20}:r{n}",
                              "inferenceTime": at},
            "eventVersion": "0",
        }  # fmt: skip
        lines.append(json.dumps(event).encode())
        sent += size
        n += 1
    return lines


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        train = Path(folder) / "train.csv"
        header = ",".join(f"f{i}" for i in range(WIDTH))
        np.savetxt(train, population(rng, 50_000), delimiter=",", header=header, comments="")
        assert main(["baseline", "--training", str(train), "--output", f"{folder}/b"]) == 0
        reference = Reference.from_baseline(load_baseline(Path(folder) / "b"))
    lines = capture_lines(rng, args.rows)
    counts = Counts()
    cpu, wall = time.process_time(), time.perf_counter()
    reports = windows(read_lines(lines, counts), reference)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows {counts.rows:,} in {counts.records:,} records, {len(reports)} windows")
    print(f"wall {wall:.2f} s, cpu {cpu:.2f} s: {counts.rows / cpu:,.0f} rows/s per core "
          f"(target >= 150,000)")  # fmt: skip
    print(f"peak memory of the process (lines held in memory included): {peak:,.0f} MiB")


if __name__ == "__main__":
    main_()

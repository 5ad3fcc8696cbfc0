"""Throughput and memory of the per-client payload inspection (``inspect-capture``'s payload
half, and the two halves together as the command runs them).

Builds a baseline of 40 features from 50,000 training rows (membership hashes included), writes
``--rows`` captured rows from ``--clients`` clients (requests of 1-8 rows, 100,000 rows a file)
to a temporary directory, then times, on one core, reading + the payload detector, and reading +
drift windows + the payload detector; then the command itself, end to end and by the wall
clock, in one process and in two (``--jobs 2``: one reads, measures drift and cuts the
detector's batches, the other scores them), three times each (the median is printed: this
machine's timings vary by up to 20 %). Prints rows per second, the peak memory, and the size
of the detector's saved state. Targets (issue 14): >= 100,000 rows/s end to end; 10,000
clients and 10 million rows in under 2 GB.

    python benchmarks/payload_throughput.py [--rows 1000000] [--clients 10000]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from secure_endpoint.cli import main
from secure_endpoint.runtime.baseline.store import load_baseline
from secure_endpoint.runtime.capture.drift import Reference, windows
from secure_endpoint.runtime.capture.records import Counts, read_lines
from secure_endpoint.runtime.payload.detector import PayloadDetector
from secure_endpoint.runtime.payload.reference import PayloadReference

WIDTH = 40
KEY = b"benchmark-membership-key-32-bytes!"
FILE_ROWS = 100_000


def population(rng: np.random.Generator, n: int) -> np.ndarray:
    latent = rng.normal(size=(n, 4))
    mix = np.random.default_rng(1).normal(size=(4, WIDTH))
    return np.round(latent @ mix + rng.normal(0, 0.5, (n, WIDTH)), 4)


def write_capture(folder: Path, rng: np.random.Generator, rows: int, clients: int) -> None:
    start, sent, n, part = 1_764_547_200, 0, 0, 0
    seconds = 48 * 3600 / rows  # two days of traffic
    while sent < rows:
        lines = []
        block = population(rng, FILE_ROWS + 8)
        used = 0
        while used < FILE_ROWS and sent < rows:
            size = int(rng.integers(1, 9))
            body = block[used : used + size].tolist()
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + int(sent * seconds)))
            client = int(rng.integers(clients))
            event = {
                "captureData": {
                    "endpointInput": {"observedContentType": "application/json",
                                      "mode": "INPUT", "encoding": "JSON",
                                      "data": json.dumps({"instances": body})},
                    "endpointOutput": {"observedContentType": "application/json",
                                       "mode": "OUTPUT", "encoding": "JSON",
                                       "data": json.dumps({"predictions": rng.random(size)
                                                           .round(4).tolist()})},
                },
                "eventMetadata": {"eventId": f"e{n}", "inferenceId": f"c{client:05d}:r{n}",
                                  "inferenceTime": at},
                "eventVersion": "0",
            }  # fmt: skip
            lines.append(json.dumps(event))
            used += size
            sent += size
            n += 1
        (folder / f"{part:05d}.jsonl").write_text("\n".join(lines) + "\n")
        part += 1


def lines_of(folder: Path) -> Iterator[bytes]:
    for path in sorted(folder.glob("*.jsonl")):
        with path.open("rb") as handle:
            yield from handle


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=10_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        train = folder / "train.csv"
        header = ",".join(f"f{i}" for i in range(WIDTH))
        np.savetxt(train, population(rng, 50_000), delimiter=",", header=header, comments="")
        (folder / "key").write_bytes(KEY)
        code = main(["baseline", "--training", str(train), "--output", f"{name}/b",
                     "--membership-key-file", f"{name}/key"])  # fmt: skip
        assert code == 0
        baseline = load_baseline(folder / "b")
        payload = PayloadReference.from_baseline(baseline, membership_key=KEY)
        drift = Reference.from_baseline(baseline)
        capture = folder / "capture"
        capture.mkdir()
        write_capture(capture, rng, args.rows, args.clients)
        print(f"{args.rows:,} rows from {args.clients:,} clients written; timing...")

        counts = Counts()
        cpu = time.process_time()
        detector = PayloadDetector(payload)
        findings = detector.run(read_lines(lines_of(capture), counts))
        cpu = time.process_time() - cpu
        print(f"payload only: {counts.rows:,} rows in {cpu:.1f} s CPU: "
              f"{counts.rows / cpu:,.0f} rows/s; {len(detector.ids):,} clients, "
              f"{len(findings)} findings")  # fmt: skip

        counts = Counts()
        cpu = time.process_time()
        detector = PayloadDetector(payload)

        def tapped() -> Iterator[object]:
            for capture_ in read_lines(lines_of(capture), counts):
                detector.add(capture_)
                yield capture_

        reports = windows(tapped(), drift)  # type: ignore[arg-type]
        detector.flush()
        cpu = time.process_time() - cpu
        print(f"drift + payload in one process: {counts.rows:,} rows in {cpu:.1f} s CPU: "
              f"{counts.rows / cpu:,.0f} rows/s; {len(reports)} windows")  # fmt: skip
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        state = detector.state_bytes()
        clients = len(detector.ids)
        for jobs in ("1", "2"):
            walls = []
            for _ in range(3):
                wall = time.perf_counter()
                code = main(["inspect-capture", "--capture", str(capture), "--baseline",
                             f"{name}/b", "--membership-key-file", f"{name}/key", "--output",
                             f"{name}/f.jsonl", "--jobs", jobs])  # fmt: skip
                walls.append(time.perf_counter() - wall)
                assert code == 0
            wall = statistics.median(walls)
            print(f"secure-endpoint inspect-capture --jobs {jobs}: {wall:.1f} s wall (median of "
                  f"{', '.join(f'{w:.1f}' for w in walls)}), {counts.rows / wall:,.0f} rows/s "
                  "end to end (target >= 100,000)")  # fmt: skip
        print(f"peak memory of the process: {peak:,.0f} MiB (target: < 2 GB at 10,000 clients "
              f"and 10 million rows); detector state {len(state) / 2**20:.1f} MiB compressed "
              f"for {clients:,} clients")  # fmt: skip


if __name__ == "__main__":
    main_()

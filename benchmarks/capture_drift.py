"""Throughput of the drift check (``inspect-capture``'s core): capture lines in, windows compared.

Builds a baseline of 40 features from 50,000 training rows, writes captured requests of 1-8 rows
as SageMaker's JSON lines, then times parsing + windowing + comparison on one core. Prints rows
per second, and the peak memory of the run. Then one scheduled run (``runtime.capture.runs``)
over an hour of ``--run-rows`` rows streamed from files as the function streams S3 objects: its
CPU time and peak memory; with ``--payload``, the run as the function makes it with payload
monitoring: the same captures, read once, also through the payload detector (``--clients``
clients), and the size of its saved state. Targets (issue 13): >= 150,000 rows/s; an hour of 1
million rows in one 1 GB Lambda run under 2 minutes (issue 14: with payload monitoring, a 2 GB
run, within the function's 10 minutes).

    python benchmarks/capture_drift.py [--rows 1000000] [--run-rows 1000000] [--payload]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from secure_endpoint.cli import main
from secure_endpoint.runtime.baseline.store import load_baseline
from secure_endpoint.runtime.capture import runs
from secure_endpoint.runtime.capture.drift import Reference, windows
from secure_endpoint.runtime.capture.records import Capture, Counts, read_lines
from secure_endpoint.runtime.capture.runs import CaptureObject
from secure_endpoint.runtime.payload.detector import PayloadDetector
from secure_endpoint.runtime.payload.reference import PayloadReference

WIDTH = 40


def population(rng: np.random.Generator, n: int) -> np.ndarray:
    latent = rng.normal(size=(n, 4))
    mix = rng.normal(size=(4, WIDTH))
    return np.round(latent @ mix + rng.normal(0, 0.5, (n, WIDTH)), 4)


def capture_lines(rng: np.random.Generator, rows: int, clients: int = 20) -> list[bytes]:
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
            "eventMetadata": {"eventId": f"e{n}", "inferenceId": f"client{n % clients}:r{n}",
                              "inferenceTime": at},
            "eventVersion": "0",
        }  # fmt: skip
        lines.append(json.dumps(event).encode())
        sent += size
        n += 1
    return lines


class FileStore:
    """The drift runs' ``CaptureStore`` over a local directory, as the function reads S3."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def variants(self, endpoint_prefix: str) -> list[str]:
        return sorted(
            f"{p.relative_to(self.root)}/" for p in (self.root / endpoint_prefix).iterdir()
        )

    def objects(self, prefix: str) -> list[CaptureObject]:
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return [
            CaptureObject(str(p.relative_to(self.root)), p.stat().st_mtime, p.stat().st_size)
            for p in sorted(folder.glob("*.jsonl"))
        ]

    def lines(self, key: str) -> Iterator[bytes]:
        with (self.root / key).open("rb") as handle:
            yield from handle


def one_run(
    reference: Reference,
    rows: int,
    rng: np.random.Generator,
    payload: PayloadReference | None = None,
    clients: int = 20,
) -> None:
    """An hour of ``rows`` captured rows read by one scheduled run, streamed from files as the
    function streams S3 objects: its CPU time and the peak memory it adds; with ``payload``,
    the payload detector reads the same captures (``runs.run(also=...)``)."""
    detector = PayloadDetector(payload) if payload is not None else None
    found: list[object] = []

    def detect(captures: Iterator[Capture]) -> None:
        assert detector is not None
        found.extend(detector.run(captures))

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        hour = root / "capture/ep/AllTraffic/2025/12/01/00"
        hour.mkdir(parents=True)
        written = 0
        for part in range(max(1, rows // 50_000)):
            lines = capture_lines(rng, min(50_000, rows - written), clients)
            (hour / f"{part:04d}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
            written += 50_000
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cpu = time.process_time()
        result = runs.run(FileStore(root), "capture/ep/", reference, runs.Cursor(0.0),
                          time.time() + 3600, lookback_hours=24 * 3650,
                          also=detect if detector is not None else None)  # fmt: skip
        state = detector.state_bytes() if detector is not None else b""
        cpu = time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    what = "drift + payload" if detector is not None else "drift"
    print(f"one scheduled run ({what}) over {result.report.rows:,} rows ({result.objects} "
          f"objects): {cpu:.1f} s CPU; peak memory {peak:,.0f} MiB (the process before the run: "
          f"{before:,.0f} MiB)")  # fmt: skip
    if detector is not None:
        print(f"  payload: {clients:,} clients, {len(found):,} findings, saved state "
              f"{len(state) / 2**20:.1f} MiB (npz)")  # fmt: skip


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument(
        "--run-rows", type=int, default=1_000_000, help="rows of the one scheduled run"
    )
    parser.add_argument(
        "--payload", action="store_true", help="the run with payload monitoring, as well"
    )
    parser.add_argument("--clients", type=int, default=1000, help="clients of the --payload run")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        train = Path(folder) / "train.csv"
        header = ",".join(f"f{i}" for i in range(WIDTH))
        np.savetxt(train, population(rng, 50_000), delimiter=",", header=header, comments="")
        assert main(["baseline", "--training", str(train), "--output", f"{folder}/b"]) == 0
        documents = load_baseline(Path(folder) / "b")
        reference = Reference.from_baseline(documents)
        payload = PayloadReference.from_baseline(documents) if args.payload else None
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
    del lines
    one_run(reference, args.run_rows, rng)
    if payload is not None:
        one_run(reference, args.run_rows, rng, payload, args.clients)


if __name__ == "__main__":
    main_()

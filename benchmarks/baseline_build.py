"""Speed and memory of ``secure-endpoint baseline`` on a large training CSV.

Writes a CSV of ``--rows`` rows (default 1,000,000) x 40 features and a label to a temporary
directory (not timed): 24 correlated fractional features (normal and log-normal, 6 decimals), 6
integer counts, a one-hot group of 5 and one of 4 (``color_*``, ``region_*``), a 0/1 flag.
``--missing`` leaves a share of the fractional cells empty; ``--text`` adds a String feature
(city names), which sends every block through the slower csv-module path. Then builds the
baseline with the command (in a fresh interpreter: import, read, profile, write) and prints rows
per second, wall and CPU time, the process's peak resident set (``VmHWM``: not ``ru_maxrss``,
which keeps the generating parent's peak across ``exec``), the size of the files and what was
recognized. The target is under 30 s for 1 million rows on this 2-core machine.

    .venv/bin/python benchmarks/baseline_build.py [--rows N] [--missing 0.01] [--text] [--dir D]

(``benchmarks/baseline.py`` is the static-threshold comparison of the anomaly benchmarks.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
_CHUNK = 100_000


def write_training_csv(
    path: Path, rows: int, *, missing: float = 0.0, text: bool = False, seed: int = 0
) -> None:
    rng = np.random.default_rng(seed)
    names = (
        [f"x{i}" for i in range(24)]
        + [f"n{i}" for i in range(6)]
        + [f"color_{c}" for c in ("red", "green", "blue", "black", "white")]
        + [f"region_{r}" for r in ("north", "south", "east", "west")]
        + ["flag", "label"]
        + (["city"] if text else [])
    )
    mixing = rng.normal(size=(24, 24)) / 5 + np.eye(24)
    with path.open("w") as stream:
        stream.write(",".join(names) + "\n")
        for start in range(0, rows, _CHUNK):
            n = min(_CHUNK, rows - start)
            x = rng.normal(size=(n, 24)) @ mixing
            x[:, 12:] = np.exp(x[:, 12:] / 2)
            counts = rng.poisson([1, 2, 3, 5, 8, 13], size=(n, 6))
            colors = np.eye(5, dtype=np.int64)[rng.choice(5, size=n, p=[0.4, 0.3, 0.15, 0.1, 0.05])]
            regions = np.eye(4, dtype=np.int64)[rng.integers(0, 4, size=n)]
            flag = rng.integers(0, 2, size=(n, 1))
            label = (x[:, :1] + rng.normal(size=(n, 1)) > 0).astype(np.int64)
            cells = np.char.mod("%.6f", x).astype(object)
            cells[rng.random(cells.shape) < missing] = ""
            ints = np.hstack([counts, colors, regions, flag, label]).astype(str).astype(object)
            columns = [cells, ints]
            if text:
                cities = np.array(["oslo", "lima", "pune", "kyiv", "baku"], dtype=object)
                columns.append(cities[rng.integers(0, 5, size=(n, 1))])
            table = np.hstack(columns)
            stream.write("\n".join(",".join(row) for row in table) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, help="keep the CSV and baseline here (default: temp)")
    parser.add_argument(
        "--missing",
        type=float,
        default=0.0,
        help="share of the fractional cells left empty (default: 0)",
    )
    parser.add_argument(
        "--text",
        action="store_true",
        help="add a String feature (city names): its blocks take the csv-module path",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        where = args.dir or Path(temporary)
        where.mkdir(parents=True, exist_ok=True)
        training, output = where / "train.csv", where / "baseline"
        started = time.perf_counter()
        write_training_csv(training, args.rows, missing=args.missing, text=args.text)
        print(
            f"wrote {args.rows:,} rows x {40 + args.text} features + label, "
            f"{args.missing:.1%} empty "
            f"({training.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s"
        )
        probe = (
            "import sys, time\n"
            "from secure_endpoint.cli import main\n"
            "wall, cpu = time.perf_counter(), time.process_time()\n"
            "code = main(sys.argv[1:])\n"
            "wall, cpu = time.perf_counter() - wall, time.process_time() - cpu\n"
            "status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
            "peak = int(status.split()[0]) / 1024\n"
            "print(f'TIMES {wall} {cpu} {peak}', file=sys.stderr)\n"
            "sys.exit(code)\n"
        )
        command = [sys.executable, "-c", probe, "baseline", "--training", str(training)]
        command += ["--label-column", "label", "--output", str(output)]
        environment = {**os.environ, "PYTHONPATH": str(ROOT)}
        result = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
            command, capture_output=True, text=True, env=environment, check=False
        )
        if result.returncode:
            sys.exit(f"baseline failed ({result.returncode}): {result.stderr}")
        times = next(line for line in result.stderr.splitlines() if line.startswith("TIMES"))
        wall, cpu, peak = (float(x) for x in times.split()[1:])
        print(result.stdout.strip())
        print(
            f"built in {wall:.1f} s wall, {cpu:.1f} s CPU: {args.rows / wall:,.0f} rows/s "
            f"({args.rows / cpu:,.0f} rows per CPU second); peak resident set {peak:.0f} MiB"
        )
        sizes = {p.name: p.stat().st_size for p in sorted(output.iterdir())}
        print("files: " + ", ".join(f"{name} {size / 1e3:.0f} kB" for name, size in sizes.items()))
        reference = json.loads((output / "reference.json").read_text())
        groups = [
            (g["name"], len(g["positions"]), g["detected_by"]) for g in reference["one_hot_groups"]
        ]
        print(f"one-hot groups: {groups}; integer positions: {len(reference['integer_positions'])}")
        print(f"target: under 30 s for 1,000,000 rows: {'met' if wall < 30 else 'NOT met'}")


if __name__ == "__main__":
    main()

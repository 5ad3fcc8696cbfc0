"""Speed and memory of the capture simulator (``secure_endpoint.simulate.capture``).

Generates a run into a temporary directory (or ``--out``) and prints the time to train the
model, the requests, rows and capture lines written per second, the bytes written and the
process's peak resident memory, for one or more volumes (the interactive clients' rate factor).

    .venv/bin/python benchmarks/capture_sim.py [--hours 48] [--volume 1 4] [--seed 7]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from secure_endpoint.simulate.capture.simulator import Config, generate  # noqa: E402


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=48.0)
    parser.add_argument("--volume", type=float, nargs="+", default=[1.0, 4.0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--training-rows", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=None, help="keep the output here")
    args = parser.parse_args()
    print(f"{'volume':>6} {'seconds':>8} {'requests':>9} {'rows':>10} {'rows/s':>9} "
          f"{'lines/s':>8} {'MB':>7} {'peak RSS MB':>11}")  # fmt: skip
    for volume in args.volume:
        with tempfile.TemporaryDirectory() as scratch:
            out = (args.out / f"volume-{volume:g}") if args.out else Path(scratch)
            config = Config(out, seed=args.seed, hours=args.hours, volume=volume,
                            training_rows=args.training_rows)  # fmt: skip
            started = time.perf_counter()
            summary = generate(config)
            elapsed = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{volume:>6g} {elapsed:>8.1f} {summary.requests:>9,} {summary.rows:>10,} "
                  f"{summary.rows / elapsed:>9,.0f} {summary.lines / elapsed:>8,.0f} "
                  f"{_size(out) / 1e6:>7.1f} {peak:>11.0f}")  # fmt: skip
    print("(seconds include training the model on the training rows; peak RSS is the "
          "process's so far)")  # fmt: skip


if __name__ == "__main__":
    main()

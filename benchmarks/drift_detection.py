"""Drift detection on the capture simulator's traffic: found or not per drifted feature, time to
detect, false drift on runs without drift, for both ways of judging.

Each run simulates 48 h of capture (interactive clients with their own sub-populations, batches
at fixed hours, periodic integrations re-sending near-identical rows, replays, malformed and
BASE64 lines), builds the baseline from the run's training CSV with ``secure-endpoint
baseline``, then judges each hour:

- *training only* (Model Monitor's rule): a feature drifts when its L-infinity distance from the
  training baseline passes the threshold and the KS critical value;
- *client by client* (what ``inspect-capture`` and the drift monitor alarm on): enough clients
  moved the same way against their own first 6 hours.

Counts are feature-hours after the reference hours; a drifted feature-hour is one whose drift
overlaps the hour. Prints one table per judge; nothing is asserted.

    python benchmarks/drift_detection.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from secure_endpoint.cli import main as cli
from secure_endpoint.runtime.baseline.store import load_baseline
from secure_endpoint.runtime.capture.drift import Reference, WindowReport, shifts, windows
from secure_endpoint.runtime.capture.records import Counts, read_lines
from secure_endpoint.simulate.capture.simulator import Config, generate, parse_drift

REFERENCE_HOURS = 6
SCENARIOS = {
    "default drift (gradual 1 sd + step 1 sd)": None,
    "no drift": (),
    "small step (0.5 sd, 2 features)": ("income,credit_score:step:20-30:0.5",),
}


@dataclass
class Tally:
    found: int = 0
    missed: int = 0
    false: int = 0
    first: dict[str, float] | None = None


def judge(root: Path, drifts: list[dict[str, object]]) -> dict[str, Tally]:
    scenario = json.loads((root / "scenario.json").read_text())
    start = scenario["parameters"]["start"].replace("Z", "+00:00")
    origin = datetime.fromisoformat(start).timestamp()
    reference = Reference.from_baseline(load_baseline(root / "baseline"))
    files = sorted((root / "capture").rglob("*.jsonl"))
    reports: list[WindowReport] = windows(
        read_lines((line for path in files for line in path.open("rb")), Counts()), reference
    )
    per_client = shifts(reports, reference, REFERENCE_HOURS * 3600)
    spans = {
        str(feature): (float(d["startHour"]), float(d["endHour"]))  # type: ignore[arg-type]
        for d in drifts
        for feature in d["features"]  # type: ignore[attr-defined]
    }
    tallies = {"training only": Tally(first={}), "client by client": Tally(first={})}
    for report, moved in zip(reports, per_client, strict=True):
        hour = (report.start - origin) / 3600
        if hour < REFERENCE_HOURS:
            continue
        actual = {f for f, (a, b) in spans.items() if a <= hour + 1 and hour <= b}
        flagged = {
            "training only": {f.name for f in report.drifted},
            "client by client": {s.name for s in moved if s.world},
        }
        for name, found in flagged.items():
            tally = tallies[name]
            tally.found += len(found & actual)
            tally.missed += len(actual - found)
            tally.false += len(found - actual)
            assert tally.first is not None
            for feature in found & actual:
                delay = hour + 1 - spans[feature][0]  # detected at the end of the hour
                tally.first.setdefault(feature, max(delay, 0.0))
    return tallies


def run(seed: int, drift: tuple[str, ...] | None, work: Path) -> dict[str, Tally]:
    out = work / f"run-{seed}-{len(drift) if drift is not None else 'd'}"
    specs = None if drift is None else tuple(parse_drift(d) for d in drift)
    generate(Config(out=out, seed=seed, hours=48.0, drift=specs))
    code = cli(["baseline", "--training", str(out / "training.csv"), "--label-column", "label",
                "--output", str(out / "baseline")])  # fmt: skip
    if code != 0:
        raise SystemExit(f"baseline failed for seed {seed}")
    scenario = json.loads((out / "scenario.json").read_text())
    return judge(out, scenario["drift"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for title, drift in SCENARIOS.items():
            totals = {"training only": Tally(first={}), "client by client": Tally(first={})}
            for seed in range(args.seeds):
                for name, tally in run(100 + seed, drift, Path(folder)).items():
                    total = totals[name]
                    total.found += tally.found
                    total.missed += tally.missed
                    total.false += tally.false
                    assert total.first is not None
                    assert tally.first is not None
                    for feature, delay in tally.first.items():
                        total.first[f"{seed}:{feature}"] = delay
            print(f"\n{title} ({args.seeds} runs of 48 h)")
            print(f"  {'judge':18} {'found':>6} {'missed':>7} {'false':>6}  time to detect (h)")
            for name, total in totals.items():
                delays = sorted((total.first or {}).values())
                shown = f"median {delays[len(delays) // 2]:.1f}" if delays else "-"
                print(f"  {name:18} {total.found:6d} {total.missed:7d} {total.false:6d}  {shown}")
    seconds = time.perf_counter() - started
    print(f"\n(feature-hours after the first {REFERENCE_HOURS} h; {seconds:.0f} s)")


if __name__ == "__main__":
    main()

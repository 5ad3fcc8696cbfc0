"""Detection quality of ``secure-endpoint detect`` on simulated traffic, beside a static threshold.

Generates the traffic of ``secure_endpoint.simulate`` if the directory has none, runs the detector
(fitted on ``baseline.jsonl``, scoring ``access.jsonl``) and the threshold baseline of
``benchmarks/baseline.py`` (AWS WAF Security Automations style), labels every (window, principal)
of the evaluated period from ``truth.json`` and prints, per attack kind, whether it was caught (at
least 80% of its principals flagged in at least one of their attack windows), the window recall,
the ROC AUC of its windows against the legitimate ones and the median delay to the first flag; and
per legitimate kind, the share of windows and of principals flagged.

    .venv/bin/python benchmarks/detection.py [--dir DIR] [--quick] [--regenerate]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from benchmarks.baseline import threshold_scores  # noqa: E402
from secure_endpoint.simulate.traffic import ATTACK_KINDS, LEGIT_KINDS, Config, Truth, ensure  # noqa: E402

CAUGHT_SHARE = 0.8
"""An attack is caught when at least this share of its principals is flagged at least once."""

LEGIT_FLAGGED_TARGET = 0.01
"""At most this share of legitimate (window, principal) rows may be flagged."""

Verdicts = dict[tuple[int, str], tuple[float, bool]]
Detector = Callable[[Path, Path, Path], None]
"""(access log, baseline log, output): writes one JSON object per scored window and principal."""


@dataclass(frozen=True)
class Log:
    """The columns of an access log that the evaluation needs."""

    time_ms: npt.NDArray[np.int64]
    address: list[str]
    principal: list[str]
    status: npt.NDArray[np.int64]


def read_log(path: Path) -> Log:
    loads = _loads()
    times, addresses, principals, statuses = [], [], [], []
    with Path(path).open("rb") as lines:
        for line in lines:
            record = loads(line)
            client = record["clientId"]
            times.append(int(record["requestTimeEpoch"]))
            addresses.append(record["sourceIp"])
            principals.append(record["sourceIp"] if client == "-" else client)
            statuses.append(int(record["status"]))
    return Log(np.array(times, dtype=np.int64), addresses, principals, np.array(statuses))


def _loads() -> Callable[[bytes], dict[str, str]]:
    try:
        import orjson
    except ImportError:
        return json.loads
    return orjson.loads


def core_detector(access: Path, baseline: Path, output: Path) -> None:
    """``secure_endpoint.runtime.anomaly.detect`` in this process, as ``secure-endpoint detect``
    runs it (default configuration), writing its JSON lines."""
    try:
        from secure_endpoint.runtime.anomaly.detect import detect_files, write_detections
    except ImportError as error:
        raise RuntimeError(f"the anomaly core is not importable: {error}") from None
    detections, _ = detect_files(access, baseline)
    with output.open("wb") as out:
        write_detections(detections, out)


def read_detections(path: Path) -> Verdicts:
    loads = _loads()
    verdicts: Verdicts = {}
    with Path(path).open("rb") as lines:
        for line in lines:
            if line.strip():
                row = loads(line)
                key = (int(row["windowStart"]), str(row["principal"]))
                verdicts[key] = (float(row["score"]), bool(row["anomalous"]))
    return verdicts


@dataclass
class KindResult:
    kind: str
    windows: int = 0
    flagged_windows: int = 0
    principals: int = 0
    flagged_principals: int = 0
    auc: float | None = None
    auc_by_legit_kind: dict[str, float | None] = field(default_factory=dict)
    delay_minutes: float | None = None

    @property
    def window_share(self) -> float:
        """Window recall for an attack, false-positive rate for a legitimate kind."""
        return self.flagged_windows / self.windows if self.windows else float("nan")

    @property
    def caught(self) -> bool:
        return self.principals > 0 and self.flagged_principals >= CAUGHT_SHARE * self.principals


@dataclass
class Evaluation:
    kinds: dict[str, KindResult]
    rows: int
    unscored: int  # rows of the log that the detector gave no verdict for (not flagged)
    unlabelled: int  # rows the truth does not know (should be none)

    def verdict(self) -> str:
        """Against the target: every attack kind caught, under 1% of legitimate windows flagged."""
        missed = [k for k in ATTACK_KINDS if not self.kinds[k].caught]
        legit = self.kinds["legit (all)"].window_share
        met = not missed and legit < LEGIT_FLAGGED_TARGET
        return (
            f"target {'met' if met else 'NOT met'}: "
            f"{len(ATTACK_KINDS) - len(missed)}/{len(ATTACK_KINDS)} attack kinds caught"
            + (f" (missed: {', '.join(missed)})" if missed else "")
            + f", {100 * legit:.2f}% of legitimate windows flagged (target: under "
            f"{100 * LEGIT_FLAGGED_TARGET:g}%)"
        )


def roc_auc(positive: npt.ArrayLike, negative: npt.ArrayLike) -> float | None:
    """The ROC AUC of positives against negatives: scikit-learn's, else Mann-Whitney's."""
    pos, neg = np.asarray(positive, dtype=float), np.asarray(negative, dtype=float)
    if not len(pos) or not len(neg):
        return None
    try:
        from sklearn.metrics import roc_auc_score
    except ImportError:
        return mann_whitney_auc(pos, neg)
    labels = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    return float(roc_auc_score(labels, np.r_[pos, neg]))


def mann_whitney_auc(positive: npt.ArrayLike, negative: npt.ArrayLike) -> float:
    """The probability that a positive scores above a negative, ties counting half."""
    pos, neg = np.asarray(positive, dtype=float), np.asarray(negative, dtype=float)
    scores = np.concatenate([pos, neg])
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    sums = np.zeros(len(counts))
    np.add.at(sums, inverse, ranks)
    ranks = (sums / counts)[inverse]  # ties share their mean rank
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def evaluate(truth: Truth, log: Log, verdicts: Verdicts) -> Evaluation:
    """Label every (window, principal) of the log and score the verdicts against the labels."""
    window = truth.window_seconds
    starts = (log.time_ms // 1000 // window) * window
    rows = sorted(set(zip(starts.tolist(), log.principal, strict=True)))
    floor = min((s for s, _ in verdicts.values()), default=0.0) - 1.0
    labels, scores, flags = [], [], []
    unscored = unlabelled = 0
    for row in rows:
        labels.append(truth.label(row[1], row[0]))
        unlabelled += labels[-1] is None
        verdict = verdicts.get(row)
        unscored += verdict is None
        score, flagged = verdict if verdict is not None else (floor, False)
        scores.append(score)
        flags.append(flagged)
    score_array = np.array(scores)
    legit_scores = np.array([s for s, k in zip(scores, labels, strict=True) if _legit(k)])
    results = {kind: KindResult(kind) for kind in (*ATTACK_KINDS, "legit (all)", *LEGIT_KINDS)}
    flagged_by_kind: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    seen_by_kind: dict[str, set[str]] = defaultdict(set)
    for (start, principal), kind, flagged in zip(rows, labels, flags, strict=True):
        if kind is None:
            continue
        for name in (kind, "legit (all)") if _legit(kind) else (kind,):
            result = results[name]
            result.windows += 1
            result.flagged_windows += flagged
            seen_by_kind[name].add(principal)
            if flagged:
                flagged_by_kind[name][principal].append(start)
    attacks = {attack["kind"]: attack for attack in truth.attacks}
    for name, result in results.items():
        if name in attacks:  # the attack's own principals, not every row that overlaps it
            principals = attacks[name]["principals"]
            result.principals = len(principals)
            result.flagged_principals = sum(p in flagged_by_kind[name] for p in principals)
            positive = score_array[[k == name for k in labels]]
            result.auc = roc_auc(positive, legit_scores)
            result.auc_by_legit_kind = {
                kind: roc_auc(positive, score_array[[k == kind for k in labels]])
                for kind in LEGIT_KINDS
            }
            delays = [
                (min(flagged_by_kind[name][p]) + window - _started(truth, p, name)) / 60
                for p in principals
                if p in flagged_by_kind[name]
            ]
            result.delay_minutes = float(np.median(delays)) if delays else None
        else:
            result.principals = len(seen_by_kind[name])
            result.flagged_principals = len(flagged_by_kind[name])
    return Evaluation(results, len(rows), unscored, unlabelled)


def _legit(kind: str | None) -> bool:
    return kind is not None and kind.startswith("legit:")


def _started(truth: Truth, principal: str, kind: str) -> int:
    return min(int(s) for k, s, _ in truth.segments[principal] if k == kind)


def baseline_verdicts(truth: Truth, log: Log) -> Verdicts:
    scores = threshold_scores(
        log.time_ms, log.address, log.principal, log.status, window_seconds=truth.window_seconds
    )
    return scores.as_dict()


# --- the report -----------------------------------------------------------------------------------


def _percent(value: float) -> str:
    return "    -" if value != value else f"{100 * value:5.1f}%"  # NaN: no such rows


def _auc(value: float | None) -> str:
    return "   -" if value is None else f"{value:4.2f}"


def _delay(value: float | None) -> str:
    return "     -" if value is None else f"{value:4.0f} m"


def report(evaluations: dict[str, Evaluation]) -> str:
    names = list(evaluations)
    first = evaluations[names[0]]
    lines = []
    head = f"{'attack':27} {'windows':>7} {'princ.':>6}"
    sub = f"{'':27} {'':>7} {'':>6}"
    for name in names:
        head += f" | {name[:36]:36}"
        sub += f" | {'caught':6} {'princ.':>9} {'recall':>6} {'AUC':>4} {'delay':>6}"
    lines += [head, sub]
    for kind in ATTACK_KINDS:
        base = first.kinds[kind]
        line = f"{kind:27} {base.windows:7,} {base.principals:6,}"
        for name in names:
            r = evaluations[name].kinds[kind]
            caught = "yes" if r.caught else "NO"
            line += (
                f" | {caught:6} {r.flagged_principals:>4}/{r.principals:<4} "
                f"{_percent(r.window_share)} {_auc(r.auc)} {_delay(r.delay_minutes)}"
            )
        lines.append(line)
    lines.append("")
    head = f"{'legitimate':27} {'windows':>7} {'princ.':>6}"
    sub = f"{'':27} {'':>7} {'':>6}"
    for name in names:
        head += f" | {name[:36]:36}"
        sub += f" | {'flagged windows':>15} {'flagged princ.':>20}"
    lines += [head, sub]
    for kind in ("legit (all)", *LEGIT_KINDS):
        base = first.kinds[kind]
        line = f"{kind:27} {base.windows:7,} {base.principals:6,}"
        for name in names:
            r = evaluations[name].kinds[kind]
            principal_share = r.flagged_principals / max(r.principals, 1)
            line += (
                f" | {r.flagged_windows:>7,} {_percent(r.window_share)} "
                f"{r.flagged_principals:>12,} {_percent(principal_share)}"
            )
        lines.append(line)
    lines.append("")
    lines.append("stealthy extraction, ROC AUC against each legitimate kind alone:")
    for name in names:
        aucs = evaluations[name].kinds["attack:stealthy-extraction"].auc_by_legit_kind
        shown = ", ".join(f"{k.removeprefix('legit:')} {_auc(v)}" for k, v in aucs.items())
        lines.append(f"  {name}: {shown}")
    lines.append("")
    for name in names:
        lines.append(f"{name}: {evaluations[name].verdict()}")
    return "\n".join(lines)


def run(
    config: Config, detector: Detector | None, *, regenerate: bool = False
) -> dict[str, Evaluation]:
    """Generate if needed, run the detector and the baseline, print and return the evaluations."""
    directory = config.out
    access, baseline = directory / "access.jsonl", directory / "baseline.jsonl"
    started = time.perf_counter()
    truth, generated = ensure(config, again=regenerate)
    if generated:
        print(f"generated {directory} in {time.perf_counter() - started:.1f} s")
    log = read_log(access)
    print(f"{len(log.time_ms):,} evaluated lines, window {truth.window_seconds} s")
    evaluations: dict[str, Evaluation] = {}
    if detector is not None:
        output = directory / "detections.jsonl"
        started = time.perf_counter()
        try:
            detector(access, baseline, output)
        except (RuntimeError, OSError) as error:
            print(f"detect: not run ({error})")
        else:
            elapsed = time.perf_counter() - started
            evaluations["secure-endpoint detect"] = evaluate(truth, log, read_detections(output))
            lines = len(log.time_ms) + truth.periods["baseline"]["lines"]
            rate = lines / elapsed
            print(f"detect: {elapsed:.1f} s for both files, fitting included ({rate:,.0f} lines/s)")
    evaluations["threshold (WAF Security Automations)"] = evaluate(
        truth, log, baseline_verdicts(truth, log)
    )
    first = next(iter(evaluations.values()))
    print(f"{first.rows:,} (window, principal) rows, {first.unlabelled} unknown to the truth")
    if "secure-endpoint detect" in evaluations:
        unscored = evaluations["secure-endpoint detect"].unscored
        print(f"rows without a verdict from detect (counted as not flagged): {unscored:,}")
    print()
    print(report(evaluations))
    return evaluations


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, help="traffic directory (default .cache/traffic)")
    parser.add_argument("--quick", action="store_true", help="4 h, 60 clients: for tests")
    parser.add_argument("--regenerate", action="store_true", help="generate even if present")
    parser.add_argument("--baseline-only", action="store_true", help="do not run detect")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    directory = args.dir or ROOT / ".cache" / ("traffic-quick" if args.quick else "traffic")
    if args.quick:
        config = Config(directory, hours=4, baseline_hours=4, clients=60, seed=args.seed)
    else:
        config = Config(directory, seed=args.seed)
    run(config, None if args.baseline_only else core_detector, regenerate=args.regenerate)


if __name__ == "__main__":
    main()

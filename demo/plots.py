"""The report's plots, as PNG files (matplotlib, Agg: no display needed).

Time runs along the x axis in hours from the start of the evaluated period (the baseline before
it is negative), the same in every plot.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from demo.console import require

if TYPE_CHECKING:
    from benchmarks.detection import Evaluation
    from demo.loop import LoopResult

NEEDS = (("matplotlib", "the report's plots"),)
WINDOW = 300
DPI = 110
ATTACK_COLORS = {
    "attack:flood": "#d62728",
    "attack:credential-stuffing": "#ff7f0e",
    "attack:path-scan": "#8c564b",
    "attack:extraction": "#9467bd",
    "attack:stealthy-extraction": "#e377c2",
    "attack:stolen-secret": "#1f77b4",
    "attack:distributed-probe": "#7f7f7f",
}
LEGIT_COLOR = "#2ca02c"
FILES = ("traffic.png", "scores.png", "blocks.png", "detection.png")


def figure(width: float, height: float, **grid: Any) -> tuple[Any, Any]:
    """A figure and its axes for another step's plot (the report's size and resolution)."""
    return _figure(width, height, **grid)


def _figure(width: float, height: float, **grid: Any) -> tuple[Any, Any]:
    require(NEEDS)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return figure, figure.subplots(**grid)


def _hours(seconds: Any, origin: int) -> Any:
    return (np.asarray(seconds, dtype=np.float64) - origin) / 3600


def write_all(result: LoopResult, evaluations: dict[str, Evaluation], out: Path) -> list[Path]:
    """Every plot of the report into ``out``; returns their paths."""
    paths = [out / name for name in FILES]
    traffic(result, paths[0])
    scores(result, paths[1])
    blocks(result, paths[2])
    detection(evaluations, paths[3])
    return paths


def _per_window(result: LoopResult) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Requests per window: the legitimate ones, and those of each attack kind (the truth's
    label of each principal's window)."""
    truth = result.truth
    start = int(truth.periods["baseline"]["start"])
    end = result.evaluated_end
    windows = np.arange(start, end, WINDOW)
    series = {"legitimate": np.zeros(len(windows))} | {
        kind: np.zeros(len(windows)) for kind in ATTACK_COLORS
    }
    for log in (result.baseline_log, result.log):
        starts = (log.time_ms // 1000 // WINDOW) * WINDOW
        counts: dict[tuple[int, str], int] = defaultdict(int)
        for key in zip(starts.tolist(), log.principal, strict=True):
            counts[key] += 1
        for (window, principal), n in counts.items():
            label = truth.label(principal, window) or "legitimate"
            name = label if label in ATTACK_COLORS else "legitimate"
            series[name][(window - start) // WINDOW] += n
    return windows, series


def traffic(result: LoopResult, path: Path) -> None:
    """Requests per 5 minutes, legitimate and per attack kind, attack periods shaded."""
    origin = result.evaluated_start
    windows, series = _per_window(result)
    figure, (top, strip) = _figure(11, 6.2, nrows=2, sharex=True, height_ratios=(3, 1.3))
    x = _hours(windows + WINDOW / 2, origin)
    top.plot(x, series["legitimate"], color=LEGIT_COLOR, lw=2, label="legitimate (all kinds)")
    span = result.evaluated_end - origin
    attacks = sorted(result.truth.attacks, key=lambda a: (a["start"], a["kind"]))
    for attack in attacks:
        kind = attack["kind"]
        values = np.where(series[kind] > 0, series[kind], np.nan)
        top.plot(x, values, color=ATTACK_COLORS[kind], lw=1.4, label=kind.removeprefix("attack:"))
        if attack["end"] - attack["start"] < span / 2:  # the long ones would shade everything
            top.axvspan(
                *_hours([attack["start"], attack["end"]], origin),
                color=ATTACK_COLORS[kind],
                alpha=0.12,
            )
    top.axvspan(float(x[0]) - WINDOW / 7200, 0, color="#000000", alpha=0.05)
    top.text(0.005, 0.97, "baseline (the model is fitted on it)", transform=top.transAxes,
             va="top", fontsize=9, color="#444444")  # fmt: skip
    top.set_yscale("log")
    top.set_ylabel("requests per 5 minutes")
    top.set_title("Simulated traffic: legitimate clients and seven attacks (ground truth)")
    top.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9, frameon=False)
    top.grid(alpha=0.3)
    for row, attack in enumerate(reversed(attacks)):
        kind = attack["kind"]
        left, right = _hours([attack["start"], attack["end"]], origin)
        strip.barh(row, right - left, left=left, color=ATTACK_COLORS[kind], height=0.6)
    strip.set_yticks(range(len(attacks)))
    strip.set_yticklabels(
        [a["kind"].removeprefix("attack:") for a in reversed(attacks)], fontsize=8
    )
    strip.set_xlabel("hours from the start of the evaluated period")
    strip.set_title("attack periods", fontsize=9, loc="left")
    strip.grid(axis="x", alpha=0.3)
    figure.savefig(path)


def scores(result: LoopResult, path: Path) -> None:
    """Each client's anomaly score per run (the monitor's AnomalyScore metric), the threshold."""
    origin = result.evaluated_start
    figure, axes = _figure(11, 5.2)
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for run in result.runs:
        at = float(_hours(run.window_end - WINDOW / 2, origin))
        for client, score in run.client_scores.items():
            series[client].append((at, score))
    flagged = [
        (float(_hours(f["windowStart"] + WINDOW / 2, origin)), f["score"])
        for run in result.runs
        for f in run.result["anomalous"]
        if f["kind"] == "client"
    ]
    for client, points in sorted(series.items(), key=lambda item: result.kind_of(item[0])):
        kind = result.kind_of(client)
        x, y = _broken(points, WINDOW / 3600)
        if kind in ATTACK_COLORS:
            label = f"{kind.removeprefix('attack:')} ({client[:8]}...)"
            axes.plot(x, y, color=ATTACK_COLORS[kind], lw=2, marker="o", ms=3, label=label)
        else:
            axes.plot(x, y, color="#9a9a9a", lw=0.8, alpha=0.7)
    axes.plot([], [], color="#9a9a9a", lw=0.8, label="legitimate clients")
    if flagged:
        fx, fy = zip(*flagged, strict=True)
        axes.scatter(fx, fy, s=90, facecolors="none", edgecolors="black", lw=1.2, zorder=5,
                     label="flagged by the monitor")  # fmt: skip
    if result.model is not None and np.isfinite(result.model.thresholds[0]):
        threshold = result.model.thresholds[0]
        label = f"alert threshold {threshold:.3f} (99.5th percentile of the baseline)"
        axes.axhline(threshold, color="#d62728", ls="--", lw=1.5, label=label)
    axes.set_ylim(0, 1.05)
    axes.set_xlabel("hours from the start of the evaluated period (one run per 5-minute window)")
    axes.set_ylabel("Isolation Forest score (1.0: a hard rule hit)")
    axes.set_title("Anomaly score of each client, as the monitor emitted it (EMF AnomalyScore)")
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9, frameon=False)
    axes.grid(alpha=0.3)
    figure.savefig(path)


def _broken(points: Sequence[tuple[float, float]], step: float) -> tuple[list[float], list[float]]:
    """The points as x and y, with a gap (NaN) where a window is missing, so that a line does
    not join a client's runs across the windows it sent nothing in."""
    x: list[float] = []
    y: list[float] = []
    for at, value in points:
        if x and at - x[-1] > 1.5 * step:
            x.append(np.nan)
            y.append(np.nan)
        x.append(at)
        y.append(value)
    return x, y


def _intervals(result: LoopResult) -> dict[str, list[tuple[int, int, int]]]:
    """When each address was in an auto-block IP set, as read after each run: (first seen in
    it, its record's expiry, the run that found it gone)."""
    runs = result.all_runs()
    spans: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    since: dict[str, int] = {}
    expires: dict[str, int] = {}
    for run in runs:
        present = set(run.blocked)
        for record in run.records:
            expires[record["address"]] = int(record["expiresAt"])
        for address in present - set(since):
            since[address] = run.now
        for address in set(since) - present:
            start = since.pop(address)
            spans[address].append((start, expires.get(address, run.now), run.now))
    for address, start in since.items():
        spans[address].append((start, expires.get(address, runs[-1].now), runs[-1].now))
    return spans


def blocks(result: LoopResult, path: Path) -> None:
    """Each address's stretch in the WAF auto-block IP sets, and the allowlisted one refused."""
    origin = result.evaluated_start
    spans = _intervals(result)
    order = sorted(spans, key=lambda a: (spans[a][0][0], a))
    refused = result.refused()
    rows = order + [a for a in refused if a not in spans]
    figure, (axes, count) = _figure(
        11, 2.2 + 0.32 * len(rows), nrows=2, sharex=True, height_ratios=(max(len(rows), 3), 3)
    )
    from matplotlib.patches import Patch

    for row, address in enumerate(rows):
        kind = result.kind_of(address)
        color = ATTACK_COLORS.get(kind, LEGIT_COLOR)
        for start, expiry, gone in spans.get(address, []):
            left, middle, right = _hours([start, min(expiry, gone), gone], origin)
            axes.barh(row, middle - left, left=left, height=0.6, color=color)
            if right > middle:  # expired, still in the set until the next run released it
                axes.barh(row, right - middle, left=middle, height=0.6, color=color, alpha=0.25)
    refusals = [
        (float(_hours(run.now, origin)), rows.index(address))
        for run in result.all_runs()
        for address in run.result.get("refused", [])
        if address in rows
    ]
    if refusals:
        rx, ry = zip(*refusals, strict=True)
        axes.scatter(rx, ry, marker="x", color="black", s=40, zorder=5,
                     label="block refused: inside the allowlist")  # fmt: skip
    handles, _ = axes.get_legend_handles_labels()
    handles += [
        Patch(color=ATTACK_COLORS.get(kind, LEGIT_COLOR), label=kind.removeprefix("attack:"))
        for kind in sorted({result.kind_of(a) for a in rows})
    ]
    handles.append(
        Patch(color="#888888", alpha=0.25, label="block ended (TTL), until a run released it")
    )
    axes.set_yticks(range(len(rows)))
    axes.set_yticklabels(
        [f"{a} ({result.kind_of(a).removeprefix('attack:')})" for a in rows], fontsize=8
    )
    axes.invert_yaxis()
    axes.set_title(
        "Addresses in the WAF auto-block IP sets (read back after each run); "
        f"TTL {result.options.block_ttl_seconds / 3600:g} h"
    )
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9,
                frameon=False)  # fmt: skip
    axes.grid(axis="x", alpha=0.3)
    runs = result.all_runs()
    x = _hours([run.now for run in runs], origin)
    count.step(x, [len(run.blocked) for run in runs], where="post", color="black")
    end = float(_hours(result.evaluated_end, origin))
    for panel in (axes, count):
        panel.axvline(end, color="#555555", ls="--", lw=1)
    count.annotate("end of the traffic (no run until the clock is moved)", (end, 0.8),
                   xycoords=("data", "axes fraction"), xytext=(4, 0), textcoords="offset points",
                   fontsize=8, color="#555555", va="center")  # fmt: skip
    if result.expiry is not None:
        count.axvline(float(x[-1]), color="#d62728", ls=":", lw=1)
        count.annotate("clock moved past the TTL: one more run", (float(x[-1]), 0.3),
                       xycoords=("data", "axes fraction"), xytext=(-6, 0),
                       textcoords="offset points", ha="right", va="center", fontsize=8,
                       color="#d62728")  # fmt: skip
    count.set_ylabel("blocked")
    count.set_xlabel("hours from the start of the evaluated period")
    count.grid(alpha=0.3)
    figure.savefig(path)


def detection(evaluations: dict[str, Evaluation], path: Path) -> None:
    """Share of each attack's principals caught, and of legitimate windows flagged, by the
    monitor and by the static threshold."""
    from secure_endpoint.simulate.traffic import ATTACK_KINDS, LEGIT_KINDS

    names = list(evaluations)
    figure, (left, right) = _figure(11, 4.6, ncols=2, width_ratios=(3, 2))
    colors = ("#1f77b4", "#ff7f0e", "#2ca02c")
    height = 0.8 / len(names)
    for i, name in enumerate(names):
        kinds = evaluations[name].kinds
        caught = [
            100 * kinds[k].flagged_principals / kinds[k].principals if kinds[k].principals else 0
            for k in ATTACK_KINDS
        ]
        rows = np.arange(len(ATTACK_KINDS)) + i * height
        bars = left.barh(rows, caught, height=height, color=colors[i % 3], label=name)
        left.bar_label(bars, fmt="%.0f%%", padding=2, fontsize=7)
        legit = ("legit (all)", *LEGIT_KINDS)
        shares = [100 * _share(kinds[k].window_share) for k in legit]
        bars = right.barh(
            np.arange(len(legit)) + i * height, shares, height=height, color=colors[i % 3]
        )
        right.bar_label(bars, fmt="%.1f%%", padding=2, fontsize=7)
    _ticks(left, [k.removeprefix("attack:") for k in ATTACK_KINDS], height, len(names))
    left.axvline(80, color="black", ls=":", lw=1)
    left.set_xlim(0, 112)
    left.set_xlabel("% of the attack's principals flagged (caught at 80%)")
    left.set_title("Attacks caught", loc="left")
    figure.legend(loc="outside upper center", ncols=len(names), fontsize=9, frameon=False)
    _ticks(right, ["all", *(k.removeprefix("legit:") for k in LEGIT_KINDS)], height, len(names))
    right.set_xlim(0, max(5.0, right.get_xlim()[1] * 1.12))
    right.set_xlabel("% of legitimate windows flagged (false positives)")
    right.set_title("Legitimate traffic flagged", loc="left")
    for axes in (left, right):
        axes.invert_yaxis()
        axes.grid(axis="x", alpha=0.3)
    figure.savefig(path)


def _share(value: float) -> float:
    return 0.0 if value != value else value  # NaN: no such windows


def _ticks(axes: Any, labels: Sequence[str], height: float, groups: int) -> None:
    axes.set_yticks(np.arange(len(labels)) + height * (groups - 1) / 2)
    axes.set_yticklabels(labels, fontsize=9)

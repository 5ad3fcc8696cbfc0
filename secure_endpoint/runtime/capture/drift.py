"""Drift of captured inputs from the training baseline, per time window, in bounded memory.

Each window (an hour by default) keeps, per feature, a KLL sketch of the values it saw, its
missing and out-of-type counts, and per client a row count and a sum: memory grows with the
number of features and clients, never with the number of rows. A finished window is compared with
the baseline:

- ``linf``: the largest gap between the baseline's and the window's cumulative distributions
  (the distance Model Monitor's ``baseline_drift_check`` uses), on the union of both sketches'
  percentiles;
- ``psi``: the population stability index over the baseline's deciles;
- a feature drifts when ``linf`` exceeds both the baseline's ``comparison_threshold`` (Model
  Monitor's "Simple" rule) and the two-sample Kolmogorov-Smirnov critical value at
  ``ALPHA`` for the window's row count (Model Monitor's "Robust" idea): a small window's noise
  is not called drift;
- completeness below the baseline's, values of the wrong type, rows of the wrong width.

Drift of one client and drift of the world look alike in the totals. Each drifting feature's
evidence names the clients whose own mean moved most (in baseline standard deviations) with their
share of the window's rows, and how many clients moved: one client moving alone is a broken or
unusual client; most clients moving together is the world.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from secure_endpoint.runtime.baseline.formats import DEFAULT_DRIFT_THRESHOLD, violation
from secure_endpoint.runtime.baseline.kll import KllSketch
from secure_endpoint.runtime.baseline.store import Baseline
from secure_endpoint.runtime.capture.records import Capture, Counts, RowBuffer

WINDOW_SECONDS = 3600
ALPHA = 0.001
"""The false-drift rate per feature and window the KS critical value allows."""
_KS_C = math.sqrt(-math.log(ALPHA / 2) / 2)
_PSI_FLOOR = 1e-4
_COMPLETENESS_SLACK = 0.02
_TYPE_SHARE = 0.01
_FLUSH_ROWS = 20_000
_SETTLE_ROWS = 1_000
_PERCENTILES = np.linspace(0, 1, 101)
_DECILES = np.linspace(0.1, 0.9, 9)
_MOVED_STD = 0.25
_MOVED_T = 4.0
MIN_ROWS = 30
"""A window with fewer rows is reported, not judged."""


@dataclass(frozen=True)
class FeatureReference:
    name: str
    position: int
    integral: bool
    sketch: KllSketch
    mean: float
    std_dev: float
    completeness: float


@dataclass(frozen=True)
class Reference:
    """What a window is compared with, from a verified baseline."""

    features: tuple[FeatureReference, ...]
    threshold: float

    @classmethod
    def from_baseline(cls, baseline: Baseline) -> Reference:
        by_name = {f["name"]: f for f in baseline.reference["features"]}
        features = []
        for name in baseline.feature_names:
            entry = by_name[name]
            if entry["inferred_type"] not in ("Integral", "Fractional"):
                continue  # string features: categorical checks are the payload inspector's
            features.append(
                FeatureReference(
                    name=name,
                    position=int(entry["position"]),
                    integral=entry["inferred_type"] == "Integral",
                    sketch=baseline.sketch(name),
                    mean=float(entry["mean"]),
                    std_dev=float(entry["std_dev"] or 0.0),
                    completeness=float(entry["completeness"]),
                )
            )
        config = baseline.constraints.get("monitoring_config", {})
        threshold = config.get("distribution_constraints", {}).get(
            "comparison_threshold", DEFAULT_DRIFT_THRESHOLD
        )
        return cls(tuple(features), float(threshold))

    @property
    def width(self) -> int:
        return 1 + max(f.position for f in self.features) if self.features else 0


@dataclass(frozen=True)
class Moments:
    """Per feature: how many values, their sum and their sum of squares."""

    count: npt.NDArray[np.int64]
    sums: npt.NDArray[np.float64]
    squares: npt.NDArray[np.float64]

    def __add__(self, other: Moments) -> Moments:
        return Moments(
            self.count + other.count, self.sums + other.sums, self.squares + other.squares
        )


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    linf: float
    psi: float
    critical: float
    drifted: bool
    completeness: float
    wrong_type: int
    out_of_range: int
    clients: list[dict[str, Any]]
    clients_moved: int


@dataclass(frozen=True)
class WindowReport:
    """One window, compared with the baseline."""

    start: float
    end: float
    rows: int
    records: int
    clients: int
    wrong_width: dict[str, int]
    features: tuple[FeatureDrift, ...]
    output_mean: float | None
    judged: bool
    moments: dict[str, Moments] = field(default_factory=dict, compare=False, repr=False)
    """Per client: the count, sum and sum of squares of each feature (for ``shifts``)."""

    @property
    def drifted(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.drifted]

    def violations(self, reference: Reference) -> list[dict[str, str]]:
        """This window's findings as ``constraint_violations.json`` entries."""
        found = [
            violation(
                f.name,
                "baseline_drift_check",
                f"Baseline drift distance: {f.linf:.4f} exceeds threshold: "
                f"{max(reference.threshold, f.critical):.4f}",
            )
            for f in self.drifted
        ]
        by_name = {r.name: r for r in reference.features}
        for f in self.features:
            if not self.judged:
                break
            expected = by_name[f.name].completeness
            if f.completeness < expected - _COMPLETENESS_SLACK:
                found.append(
                    violation(
                        f.name,
                        "completeness_check",
                        f"Data completeness {f.completeness:.4f} is below the baseline's "
                        f"{expected:.4f}",
                    )
                )
            if f.wrong_type > _TYPE_SHARE * self.rows:
                found.append(
                    violation(
                        f.name,
                        "data_type_check",
                        f"{f.wrong_type} of {self.rows} values are not of the baseline's type",
                    )
                )
        for kind, count in self.wrong_width.items():
            found.append(
                violation(
                    "*",
                    "missing_column_check" if kind == "short" else "extra_column_check",
                    f"{count} records had rows {'shorter' if kind == 'short' else 'longer'} "
                    f"than the baseline's {reference.width} features",
                )
            )
        return found


class Window:
    """The captures of one window (see the module); ``add`` them, then ``report``."""

    def __init__(self, reference: Reference, start: float, end: float) -> None:
        self.reference, self.start, self.end = reference, start, end
        self.rows = 0
        self.records = 0
        self.width = reference.width
        self.outputs = KllSketch()
        count = len(reference.features)
        self._sketches = [KllSketch(seed=i) for i in range(count)]
        self._missing = np.zeros(count, dtype=np.int64)
        self._wrong_type = np.zeros(count, dtype=np.int64)
        self._out_of_range = np.zeros(count, dtype=np.int64)
        self._wrong_width: dict[str, int] = defaultdict(int)
        self._reported = False
        self._client_index: dict[str, int] = {}
        # per client (in the order first seen): rows, and per feature sums, squares, values
        self._client_rows = np.zeros(0, dtype=np.int64)
        self._client_sums = np.zeros((0, count))
        self._client_squares = np.zeros((0, count))
        self._client_present = np.zeros((0, count), dtype=np.int64)
        self._buffer = RowBuffer()
        self._owners: list[int] = []
        """Each buffered capture's client, as its place in ``_client_index``, and its rows."""
        self._sizes: list[int] = []
        self._scores: list[float] = []
        self._positions = np.array([f.position for f in reference.features], dtype=np.intp)
        self._low = np.array([f.sketch.min for f in reference.features])
        self._high = np.array([f.sketch.max for f in reference.features])
        self._integral = np.array([f.integral for f in reference.features])

    def add(self, capture: Capture) -> None:
        if self._reported:
            raise RuntimeError("this window has been reported: it takes no more captures")
        self.records += 1
        width, matrix = self.width, capture.matrix
        if matrix is not None and matrix.shape[1] == width:
            self._buffer.add_matrix(matrix)
            n = len(matrix)
        else:
            good = [row for row in capture.rows if len(row) == width]
            if len(good) != len(capture.rows):
                short = any(len(row) < width for row in capture.rows)
                self._wrong_width["short" if short else "long"] += 1
            self._buffer.add_rows(good)
            n = len(good)
        if n:  # a client is known to the window by its rows
            known = self._client_index
            self._owners.append(known.setdefault(capture.client_id, len(known)))
            self._sizes.append(n)
        self._scores.extend(capture.outputs)
        if self._buffer.rows >= _FLUSH_ROWS:
            self._flush()

    def settle(self) -> None:
        """Sketch the buffered rows now if there are enough of them to be worth it, and drop
        the per-client arrays' room to grow (see ``windows``)."""
        if self._buffer.rows >= _SETTLE_ROWS:
            self._flush()
        self._trim()

    def _trim(self) -> None:
        count = len(self._client_index)
        if len(self._client_rows) > count:
            self._client_rows = self._client_rows[:count].copy()
            self._client_sums = self._client_sums[:count].copy()
            self._client_squares = self._client_squares[:count].copy()
            self._client_present = self._client_present[:count].copy()

    def _flush(self) -> None:
        if self._scores:
            self.outputs.update(np.asarray(self._scores, dtype=np.float64))
            self._scores = []
        if not self._buffer.rows:
            return
        values, wrong = self._buffer.arrays(self._positions)
        owners = np.repeat(np.asarray(self._owners, dtype=np.intp), self._sizes)
        self._buffer, self._owners, self._sizes = RowBuffer(), [], []
        missing = np.isnan(values) & ~wrong
        self.rows += values.shape[0]
        self._missing += missing.sum(axis=0)
        fractional = self._integral & np.isfinite(values) & (values != np.round(values))
        self._wrong_type += (wrong | fractional).sum(axis=0)
        with np.errstate(invalid="ignore"):
            self._out_of_range += ((values < self._low) | (values > self._high)).sum(axis=0)
        for column, sketch in enumerate(self._sketches):
            present = values[:, column]
            present = present[np.isfinite(present)]
            if present.size:
                sketch.update(present)
        self._per_client(values, owners)

    def _per_client(self, values: npt.NDArray[np.float64], index: npt.NDArray[np.intp]) -> None:
        known = self._client_index
        if len(known) > len(self._client_rows):
            size = max(len(known), 2 * len(self._client_rows))

            def grown(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
                out = np.zeros((size, *array.shape[1:]), dtype=array.dtype)
                out[: len(array)] = array
                return out

            self._client_rows = grown(self._client_rows)
            self._client_sums = grown(self._client_sums)
            self._client_squares = grown(self._client_squares)
            self._client_present = grown(self._client_present)
        # each client's rows summed, a feature at a time (bincount: no sort of the rows)
        count = len(known)
        finite = np.isfinite(values)
        filled = np.where(finite, values, 0.0).T.copy()
        present = finite.T.astype(np.float64)
        self._client_rows[:count] += np.bincount(index, minlength=count)
        for column in range(filled.shape[0]):
            sums = np.bincount(index, weights=filled[column], minlength=count)
            squares = np.bincount(index, weights=filled[column] ** 2, minlength=count)
            seen = np.bincount(index, weights=present[column], minlength=count)
            self._client_sums[:count, column] += sums
            self._client_squares[:count, column] += squares
            self._client_present[:count, column] += seen.astype(np.int64)

    def report(self) -> WindowReport:
        """The window's report; the window takes no captures after it (the report's per-client
        moments are rows of the window's own arrays)."""
        self._flush()
        self._trim()
        self._reported = True
        counts, sums, squares = self._client_present, self._client_sums, self._client_squares
        judged = self.rows >= MIN_ROWS
        features = []
        attribution = self._attribution()
        for column, ref in enumerate(self.reference.features):
            window = self._sketches[column]
            present = self.rows - int(self._missing[column]) - int(self._wrong_type[column])
            completeness = (
                (self.rows - int(self._missing[column])) / self.rows if self.rows else 1.0
            )
            linf, psi = distances(ref.sketch, window) if window.n else (0.0, 0.0)
            critical = ks_critical(ref.sketch.n, window.n)
            clients, moved = attribution[column]
            features.append(
                FeatureDrift(
                    name=ref.name,
                    linf=linf,
                    psi=psi,
                    critical=critical,
                    drifted=judged
                    and present > 0
                    and linf > max(self.reference.threshold, critical),
                    completeness=completeness,
                    wrong_type=int(self._wrong_type[column]),
                    out_of_range=int(self._out_of_range[column]),
                    clients=clients,
                    clients_moved=moved,
                )
            )
        return WindowReport(
            start=self.start,
            end=self.end,
            rows=self.rows,
            records=self.records,
            clients=len(self._client_index),
            wrong_width=dict(self._wrong_width),
            features=tuple(features),
            output_mean=_mean(self.outputs),
            judged=judged,
            moments={
                name: Moments(counts[i], sums[i], squares[i])
                for name, i in self._client_index.items()
            },
        )

    def _attribution(self) -> list[tuple[list[dict[str, Any]], int]]:
        """Per feature: the clients whose mean moved most (in baseline standard deviations,
        weighted by their share of rows), and how many clients moved."""
        count = len(self._client_index)
        names = list(self._client_index)
        rows = self._client_rows[:count]
        share = rows / self.rows if self.rows else np.zeros(count)
        found = []
        for column, ref in enumerate(self.reference.features):
            present = self._client_present[:count, column]
            has = np.flatnonzero(present > 0)
            mean = self._client_sums[has, column] / present[has]
            shift = (mean - ref.mean) / (ref.std_dev or 1.0)
            certainty = np.abs(shift) * np.sqrt(present[has])
            # moved: a shift that matters (a quarter of a std) and that its row count makes sure
            moved = int(np.count_nonzero((np.abs(shift) > _MOVED_STD) & (certainty > _MOVED_T)))
            # the largest weighted shifts, ties in the order the clients were first seen
            top = np.argsort(-(np.abs(shift) * share[has]), kind="stable")[:3]
            named = [
                {
                    "client_id": names[has[i]],
                    "shift_std": round(float(shift[i]), 3),
                    "row_share": round(float(share[has[i]]), 4),
                }
                for i in top.tolist()
            ]
            found.append((named, moved))
        return found


def distances(reference: KllSketch, window: KllSketch) -> tuple[float, float]:
    """(L-infinity distance of the two CDFs, PSI over the reference's deciles)."""
    points = np.union1d(reference.quantiles(_PERCENTILES), window.quantiles(_PERCENTILES))
    linf = float(np.max(np.abs(reference.cdf(points) - window.cdf(points))))
    edges = np.unique(reference.quantiles(_DECILES))
    expected = np.diff(np.concatenate(([0.0], reference.cdf(edges), [1.0])))
    actual = np.diff(np.concatenate(([0.0], window.cdf(edges), [1.0])))
    expected = np.maximum(expected, _PSI_FLOOR)
    actual = np.maximum(actual, _PSI_FLOOR)
    psi = float(np.sum((actual - expected) * np.log(actual / expected)))
    return linf, psi


def ks_critical(n: int, m: int) -> float:
    """The two-sample Kolmogorov-Smirnov distance that samples of ``n`` and ``m`` exceed with
    probability ``ALPHA`` when they come from one distribution."""
    if not n or not m:
        return math.inf
    return _KS_C * math.sqrt((n + m) / (n * m))


def _mean(sketch: KllSketch) -> float | None:
    if not sketch.n:
        return None
    return float(np.mean(sketch.quantiles(np.linspace(0.005, 0.995, 100))))


def windows(
    captures: Iterable[Capture], reference: Reference, seconds: int = WINDOW_SECONDS
) -> list[WindowReport]:
    """Every window the captures fall in (in any order), compared with the baseline.

    A window the reading leaves (the next capture is another window's) turns its buffered rows
    into sketches and sums, so that the rows held as lists stay bounded by the windows, not
    the capture (a window the reading comes back to just takes more)."""
    open_windows: dict[int, Window] = {}
    current: Window | None = None
    for capture in captures:
        slot = int(capture.time // seconds)
        window = open_windows.get(slot)
        if window is None:
            window = Window(reference, slot * seconds, (slot + 1) * seconds)
            open_windows[slot] = window
        if window is not current:
            if current is not None:
                current.settle()
            current = window
        window.add(capture)
    return [open_windows.pop(slot).report() for slot in sorted(open_windows)]


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def episodes(reports: Sequence[WindowReport]) -> Iterator[dict[str, Any]]:
    """Drift findings: consecutive drifting windows merged into one episode each, as lines of
    ``{"client_id": "*", "kind": "drift", "features", "first_seen", "score", ...}``."""
    current: list[WindowReport] = []
    for report in [*reports, None]:
        adjacent = (
            report is not None
            and report.drifted
            and (not current or math.isclose(report.start, current[-1].end))
        )
        if adjacent:
            assert report is not None
            current.append(report)
            continue
        if current:
            yield _episode(current)
            current = []
        if report is not None and report.drifted:
            current.append(report)


def _episode(reports: Sequence[WindowReport]) -> dict[str, Any]:
    worst: dict[str, FeatureDrift] = {}
    for report in reports:
        for feature in report.drifted:
            if feature.name not in worst or feature.linf > worst[feature.name].linf:
                worst[feature.name] = feature
    ranked = sorted(worst.values(), key=lambda f: f.linf, reverse=True)
    return {
        "client_id": "*",
        "kind": "drift",
        "features": [f.name for f in ranked],
        "first_seen": iso(reports[0].start),
        "last_seen": iso(reports[-1].end),
        "windows": len(reports),
        "score": round(ranked[0].linf, 4),
        "rows": sum(r.rows for r in reports),
        "evidence": {
            f.name: {
                "linf": round(f.linf, 4),
                "psi": round(f.psi, 4),
                "threshold": round(f.critical, 4),
                "clients_moved": f.clients_moved,
                "top_clients": f.clients,
            }
            for f in ranked
        },
    }


def summary(counts: Counts, reports: Sequence[WindowReport]) -> dict[str, Any]:
    """What a run read and found, for the command's stderr and the function's log."""
    return {
        "lines": counts.lines,
        "records": counts.records,
        "rows": counts.rows,
        "skipped": dict(counts.skipped),
        "windows": len(reports),
        "drifting_windows": sum(1 for r in reports if r.drifted),
    }


@dataclass(frozen=True)
class FeatureShift:
    """A feature in one window, judged against each client's own reference."""

    name: str
    row_share: float  # of the judged rows, from clients that moved the same way
    moved: int  # clients that moved the same way
    judged_clients: int  # clients with a reference and enough values in this window
    direction: int  # +1 up, -1 down
    linf: float = 0.0  # the window's distance from the training baseline, for the evidence

    @property
    def client_share(self) -> float:
        return self.moved / self.judged_clients if self.judged_clients else 0.0

    @property
    def world(self) -> bool:
        """Enough independent clients moved together: the world, not one client or the mix."""
        return self.moved >= WORLD_CLIENTS and self.client_share >= WORLD_CLIENT_SHARE


WORLD_CLIENT_SHARE = 0.3
"""The share of judged clients that must move the same way for the world to have moved. Each
client is one vote whatever its volume: an integration re-sending the same rows all day, or a
large batch, neither hides the move nor makes one."""
WORLD_CLIENTS = 3
REFERENCE_MIN_VALUES = 30
WINDOW_MIN_VALUES = 10
_SD_FLOOR = 0.1
"""A client whose values barely vary (a periodic integration re-sending one row) is judged
against a tenth of the baseline's standard deviation, not against its own near-zero spread."""
FORGET_SECONDS = 30 * 86_400
"""A client unseen this long is forgotten: its reference would describe a client of the past."""
MAX_CLIENTS = 50_000
"""The most client references kept: about 1.9 KB each in the saved state for 40 features, so
under 100 MB."""


class References:
    """Each client's own reference: its per-feature moments over its first ``seconds`` of
    traffic (from its first window). Windows are judged against the references complete before
    them, then learnt from; a client first seen later gets its reference then. JSON round trip
    (``to_json``/``from_json``) for the scheduled runs' state. Its size grows with the clients
    still calling, not with the rows nor with every client ever seen: a client unseen for
    ``forget_seconds`` (30 days by default) is forgotten, and past ``max_clients`` the least
    recently seen go first. A forgotten client that comes back learns a new reference, as a new
    client does."""

    VERSION = 1

    def __init__(
        self,
        seconds: float,
        features: Sequence[str],
        forget_seconds: float = FORGET_SECONDS,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.seconds = seconds
        self.features = list(features)
        self.forget_seconds = forget_seconds
        self.max_clients = max_clients
        self.clients: dict[str, tuple[float, Moments]] = {}
        self.seen: dict[str, float] = {}
        """Per client, the end of the last window it was seen in."""

    def judge(self, report: WindowReport, reference: Reference) -> list[FeatureShift]:
        """Each feature's clients that moved the same way, against the complete references."""
        count = len(reference.features)
        floor = np.array([max(f.std_dev, 1e-12) * _SD_FLOOR for f in reference.features])
        names = [
            name
            for name in report.moments
            if (known := self.clients.get(name)) is not None
            and report.start >= known[0] + self.seconds
        ]
        if names:  # the clients with a complete reference, all at once (client, feature)
            bases = [self.clients[name][1] for name in names]
            nows = [report.moments[name] for name in names]
            base_count = np.stack([b.count for b in bases])
            now_count = np.stack([m.count for m in nows])
            usable = (base_count >= REFERENCE_MIN_VALUES) & (now_count >= WINDOW_MIN_VALUES)
            n0, n1 = np.maximum(base_count, 1), np.maximum(now_count, 1)
            mean0 = np.stack([b.sums for b in bases]) / n0
            mean1 = np.stack([m.sums for m in nows]) / n1
            sd0 = np.sqrt(np.maximum(np.stack([b.squares for b in bases]) / n0 - mean0**2, 0.0))
            effect = (mean1 - mean0) / np.maximum(sd0, floor)
            certain = np.abs(effect) * np.sqrt(n1) > _MOVED_T
            rising = usable & certain & (effect > _MOVED_STD)
            falling = usable & certain & (effect < -_MOVED_STD)
            judged = np.where(usable, now_count, 0).sum(axis=0).astype(np.float64)
            clients = usable.sum(axis=0)
            up = np.where(rising, now_count, 0).sum(axis=0).astype(np.float64)
            down = np.where(falling, now_count, 0).sum(axis=0).astype(np.float64)
            moved_up, moved_down = rising.sum(axis=0), falling.sum(axis=0)
        else:
            up, down, judged = np.zeros(count), np.zeros(count), np.zeros(count)
            moved_up = moved_down = clients = np.zeros(count, dtype=np.int64)
        linf = {f.name: f.linf for f in report.features}
        window = []
        for column, feature in enumerate(reference.features):
            if not judged[column]:
                continue
            direction = 1 if moved_up[column] >= moved_down[column] else -1
            rows = up[column] if direction > 0 else down[column]
            window.append(
                FeatureShift(
                    feature.name,
                    float(rows / judged[column]),
                    int(moved_up[column] if direction > 0 else moved_down[column]),
                    int(clients[column]),
                    direction,
                    linf.get(feature.name, 0.0),
                )
            )
        return window

    def learn(self, report: WindowReport) -> None:
        """Add the window to the references still being learnt, start new clients', and
        forget the clients gone for too long (``forget``)."""
        for name, moments in report.moments.items():
            known = self.clients.get(name)
            if known is None:
                self.clients[name] = (report.start, moments)
            elif report.start < known[0] + self.seconds:
                self.clients[name] = (known[0], known[1] + moments)
            self.seen[name] = max(self.seen.get(name, report.end), report.end)
        self.forget(report.end)

    def forget(self, now: float) -> list[str]:
        """Drop the clients last seen more than ``forget_seconds`` before ``now``, then, past
        ``max_clients``, the least recently seen; the names dropped."""
        cutoff = now - self.forget_seconds
        stale = sum(seen < cutoff for seen in self.seen.values())
        drop = max(stale, len(self.seen) - self.max_clients)
        if drop <= 0:
            return []
        gone = sorted(self.seen, key=self.seen.__getitem__)[:drop]  # the stale come first
        for name in gone:
            del self.clients[name], self.seen[name]
        return gone

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": self.VERSION,
                "seconds": self.seconds,
                "features": self.features,
                "clients": {
                    name: {
                        "since": since,
                        "seen": self.seen[name],
                        "count": m.count.tolist(),
                        "sums": m.sums.tolist(),
                        "squares": m.squares.tolist(),
                    }
                    for name, (since, m) in self.clients.items()
                },
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes, features: Sequence[str]) -> References:
        """The stored references; refused (``ValueError``) if of another version or baseline."""
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("version") != cls.VERSION:
            raise ValueError(f"the drift references are not version {cls.VERSION}")
        if document.get("features") != list(features):
            raise ValueError("the drift references were learnt with another baseline's features")
        found = cls(float(document["seconds"]), features)
        for name, entry in document["clients"].items():
            # references saved before clients were forgotten have no "seen": their start
            found.seen[name] = float(entry.get("seen", entry["since"]))
            found.clients[name] = (
                float(entry["since"]),
                Moments(
                    np.asarray(entry["count"], dtype=np.int64),
                    np.asarray(entry["sums"], dtype=np.float64),
                    np.asarray(entry["squares"], dtype=np.float64),
                ),
            )
        return found


def shifts(
    reports: Sequence[WindowReport], reference: Reference, reference_seconds: float
) -> list[list[FeatureShift]]:
    """Per window (in time order): for each feature, the clients whose mean moved (a quarter of
    a standard deviation or more, and certain for their row count) the same way, against each
    client's own first ``reference_seconds`` of traffic. Live traffic is rarely shaped like the
    training data (each client has its own population, batches arrive at their hours); judged
    client by client, a mix that changes is not drift, and the world moving shows as many
    clients moving together."""
    references = References(reference_seconds, [f.name for f in reference.features])
    result = []
    for report in reports:
        result.append(references.judge(report, reference))
        references.learn(report)
    return result


def world_episodes(
    reports: Sequence[WindowReport], windows_shifts: Sequence[Sequence[FeatureShift]]
) -> Iterator[dict[str, Any]]:
    """Drift findings judged client by client (``shifts``): consecutive windows in which the
    world moved merged into one episode, as lines of ``{"client_id": "*", "kind": "drift",
    "features", "first_seen", "score", ...}``; the score is the largest share of clients that
    moved together."""
    current: list[tuple[WindowReport, list[FeatureShift]]] = []
    pairs = [(r, [f for f in w if f.world]) for r, w in zip(reports, windows_shifts, strict=True)]
    for report, moved in [*pairs, (None, [])]:
        if (
            report is not None
            and moved
            and (not current or math.isclose(report.start, current[-1][0].end))
        ):
            current.append((report, moved))
            continue
        if current:
            yield world_episode(current)
            current = []
        if report is not None and moved:
            current.append((report, moved))


def world_episode(windows: Sequence[tuple[WindowReport, list[FeatureShift]]]) -> dict[str, Any]:
    worst: dict[str, FeatureShift] = {}
    for _, moved in windows:
        for shift in moved:
            if shift.name not in worst or shift.client_share > worst[shift.name].client_share:
                worst[shift.name] = shift
    ranked = sorted(worst.values(), key=lambda f: f.client_share, reverse=True)
    return {
        "client_id": "*",
        "kind": "drift",
        "features": [f.name for f in ranked],
        "first_seen": iso(windows[0][0].start),
        "last_seen": iso(windows[-1][0].end),
        "windows": len(windows),
        "score": round(ranked[0].client_share, 4),
        "rows": sum(r.rows for r, _ in windows),
        "evidence": {
            f.name: {
                "clients_moved": f.moved,
                "clients_judged": f.judged_clients,
                "direction": "up" if f.direction > 0 else "down",
                "row_share": round(f.row_share, 4),
                "linf_from_training": round(f.linf, 4),
            }
            for f in ranked
        },
    }

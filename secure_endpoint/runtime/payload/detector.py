"""Per-client payload scoring: extraction, probing, out-of-distribution and membership probing.

Each captured row is turned into a few per-row facts, vectorized over a batch of rows:

- its **log likelihood ratio** under the training copula (``reference.Copula``): how plausible
  the row is *jointly*, beyond each feature on its own;
- whether it **violates** what every training row satisfies (range, integrality, one-hot);
- for a sample of each client's rows in the batch: its distance to the **nearest earlier row
  of the same client** (root mean square, in normal scores; among the client's last
  ``recent`` rows and a uniform reservoir of its history), whether it is a **repeat** (nearer
  than ``repeat``: a re-send, as periodic integrations and replays do), a **near duplicate**
  (nearer than ``near``) whose answer's label differs from its neighbour's (a **flip**), and
  whether its answer sits at the **decision boundary**; and whether it lands in a training
  row's **membership cell** (keyed hashes).

Per client these are counted twice: over its whole history (low and slow) and decayed with a
``half_life`` (a client that turns). A count is judged against the population: the null rate
of each signal is the median rate over the clients with enough rows (floored by what the
training data implies), so a world that drifts moves the null with it, and a client is flagged
only when its rate is both improbable under that null (a Chernoff bound on the binomial tail,
in decimal digits: the finding's ``score``) and large in itself (an effect-size floor, so that
millions of rows do not make a small difference "significant"). The joint likelihood is judged
the same way: the client's mean LLR against the population's median client, by a one-sided
test with the larger of the client's and the training's spread, and a margin of the clients'
spread. For each (client, kind) the first crossing is reported once, with the row's time and
the client's query count at that row (``first_seen``, ``queries``).

PRADA's test (Juuti et al. 2019: the nearest-earlier-query distances of natural queries look
normal, those of synthetic ones do not) is computed on each client's stored distances
(Shapiro-Francia W' with Royston's normalization) and reported in the extraction evidence.

Memory per client is bounded (two buffers of ``recent`` rows of scores at float16 precision,
a ring of ``distances`` distances, two rows of counters), whatever its volume; ``state_bytes``
saves it all as a compressed npz (no pickle) for the next run.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from secure_endpoint.runtime.capture.records import UNKNOWN_CLIENT, Capture, numeric_matrix
from secure_endpoint.runtime.payload.findings import KINDS, Finding, Kind
from secure_endpoint.runtime.payload.reference import PayloadReference

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

UNKNOWN = "unknown"
"""The client of lines without a ``client_id:`` inference id (SageMaker called directly)."""
_LN10 = math.log(10)

# counters, one column each
(ROWS, LLR_N, LLR_SUM, LLR_SQ, OOD, HASHED, HITS, ASSESSED, NOVEL, NEAR, ANSWERED, FLIPS, EDGE,
 LOW, DISTINCT) = range(15)  # fmt: skip
_COUNTERS = 15


@dataclass(frozen=True)
class DetectorConfig:
    threshold: float = 8.0
    """Decimal digits of evidence for a finding (1e-8: about one false alarm in a hundred
    million client-checks of a client like the others)."""
    min_rows: int = 20
    """Rows (or assessed rows) a client needs before it is judged, and to count in the
    population."""
    min_events: int = 3
    """Events (violations, hits, flips, boundary answers) a rate finding needs."""
    population_min_clients: int = 5
    """Below this many judged clients, the null rates are the floors alone."""
    recent: int = 64
    distances: int = 256
    sample_rows: int = 256
    """Rows per client per batch assessed against its earlier rows (the rest only counted)."""
    hash_rows: int = 64
    """Rows per client per batch checked against the membership hashes."""
    repeat: float = 0.02
    near: float = 0.25
    boundary: float = 0.05
    lag: int = 16
    """Rows back beyond which a client's earlier rows are "old" (see ``walk``)."""
    walk: float = 3.0
    """A near duplicate is a step of a search when the client's old rows are this many times
    farther than its nearest earlier row; otherwise a re-send of a record it keeps sending."""
    answer_step: float = 0.01
    """A near duplicate whose answer moved by less than this is a re-send, not a probe."""
    decision_threshold: float = 0.5
    half_life_hours: float = 6.0
    vector_rows: int = 8
    """Clients with at most this many rows in a batch are assessed together, vectorized (the
    same facts); 0: each on its own."""
    batch_rows: int = 1_000_000
    """Rows scored together (per client: its sample of them against its earlier rows)."""
    batch_seconds: float = 3600.0
    """A batch also ends when a capture is this much later than the batch's first: an hour, as
    the scheduled function runs (six hours read 1.6 times faster offline, and find membership
    probing and drift-pushed clients less well). Within a batch a client's first crossing is
    found row by row (for up to ``sample_rows`` rows); the population's nulls are the batch's."""

    def __post_init__(self) -> None:
        checks = {
            "threshold": self.threshold > 0,
            "min_rows": self.min_rows >= 1,
            "min_events": self.min_events >= 1,
            "recent": self.recent >= 1,
            "distances": self.distances >= 8,
            "sample_rows": self.sample_rows >= 1,
            "hash_rows": self.hash_rows >= 0,
            "repeat": 0 <= self.repeat < self.near,
            "boundary": 0 < self.boundary < 0.5,
            "answer_step": 0 < self.answer_step < 1,
            "lag": self.lag >= 1,
            "walk": self.walk > 1,
            "decision_threshold": 0 < self.decision_threshold < 1,
            "half_life_hours": self.half_life_hours > 0,
            "batch_rows": self.batch_rows >= 1,
            "vector_rows": self.vector_rows >= 0,
            "batch_seconds": self.batch_seconds > 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"DetectorConfig.{name}: {getattr(self, name)!r} is not allowed")


# --- evidence, in decimal digits -------------------------------------------------------------


def rate_digits(k: Floats, n: Floats, p0: float) -> Floats:
    """The Chernoff bound on P(Binomial(n, p0) >= k), as -log10: ``n KL(k/n || p0)``; 0 where
    the rate is at most ``p0``."""
    n = np.maximum(n, 1e-12)
    q = np.clip(k / n, 1e-12, 1 - 1e-12)
    p = min(max(p0, 1e-12), 1 - 1e-9)
    kl = q * np.log(q / p) + (1 - q) * np.log((1 - q) / (1 - p))
    result: Floats = np.where(q > p, n * kl / _LN10, 0.0)
    return result


def normal_digits(z: Floats) -> Floats:
    """-log10 of the upper normal tail at ``z`` (0 for z <= 0)."""
    z = np.asarray(z, dtype=np.float64)
    small = np.minimum(np.maximum(z, 0.0), 30.0)
    erfc = np.vectorize(math.erfc, otypes=[np.float64])
    exact = -np.log10(np.maximum(0.5 * erfc(small / math.sqrt(2)), 1e-300))
    large = z * z / (2 * _LN10) + np.log10(np.maximum(z, 1e-9) * math.sqrt(2 * math.pi))
    result: Floats = np.where(z <= 0, 0.0, np.where(z < 30, exact, large))
    return result


def shapiro_francia(sample: Floats) -> tuple[float, float]:
    """(W', Royston's z) of ``sample``: large z means the sample is not normal."""
    n = len(sample)
    if n < 5 or float(np.std(sample)) == 0.0:
        return 1.0, 0.0
    from statistics import NormalDist

    inverse = NormalDist().inv_cdf
    m = np.array([inverse((i - 0.375) / (n + 0.25)) for i in range(1, n + 1)])
    x = np.sort(sample)
    w = float(np.corrcoef(x, m)[0, 1] ** 2)
    u, v = math.log(n), math.log(math.log(n))
    mu, sigma = -1.2725 + 1.0521 * (v - u), 1.0308 - 0.26758 * (v + 2 / u)
    return w, (math.log(max(1 - w, 1e-12)) - mu) / sigma


# --- the detector -----------------------------------------------------------------------------


class PayloadDetector:
    """Feed captures with ``run``; state survives between runs through ``state_bytes``."""

    def __init__(self, reference: PayloadReference, config: DetectorConfig | None = None) -> None:
        self.reference = reference
        self.config = config or DetectorConfig()
        self.index: dict[str, int] = {}
        self.ids: list[str] = []
        m, c = reference.transform.dimensions, self.config
        self.total = np.zeros((0, _COUNTERS))
        self.decayed = np.zeros((0, _COUNTERS))
        self.first = np.zeros(0)
        self.last = np.zeros(0)
        self.flagged = np.zeros((0, len(KINDS)), dtype=bool)
        self.recent = np.zeros((0, 2, c.recent, m), dtype=np.float32)
        """[client, buffer (0: the last rows, 1: a uniform reservoir), slot, feature]."""
        self.recent_answers = np.full((0, 2, c.recent), np.nan, dtype=np.float32)
        # both hold float16 values (what the saved state keeps), in float32 for arithmetic
        self.filled = np.zeros((0, 2), dtype=np.int64)
        self.remembered = np.zeros(0, dtype=np.int64)
        """Rows each client has had assessed (its sample's rows), the order of its history."""
        self.reservoir_index = np.zeros((0, c.recent), dtype=np.int64)
        """Each reservoir row's place in that order."""
        self.distance_ring = np.zeros((0, c.distances), dtype=np.float16)
        self.distance_count = np.zeros(0, dtype=np.int64)
        self.clock = 0.0
        self._rng = np.random.default_rng(0)
        self._pending = _Pending()
        self._recent_nulls: dict[str, float] = {}
        self._recent_floors: dict[str, float] = {}
        self._chunks: list[_Chunk] = []
        self._batch_size = 0
        self._batch_start: float | None = None
        self._found: list[Finding] = []

    # --- clients ----------------------------------------------------------------------------

    def _client(self, name: str) -> int:
        found = self.index.get(name)
        if found is not None:
            return found
        slot = len(self.ids)
        self.index[name] = slot
        self.ids.append(name)
        if slot >= len(self.first):
            self._grow(max(16, 2 * len(self.first)))
        return slot

    def _grow(self, size: int) -> None:
        def grown(array: npt.NDArray[Any], fill: float = 0) -> npt.NDArray[Any]:
            out = np.full((size, *array.shape[1:]), fill, dtype=array.dtype)
            out[: len(array)] = array
            return out

        self.total, self.decayed = grown(self.total), grown(self.decayed)
        self.first, self.last = grown(self.first), grown(self.last)
        self.flagged = grown(self.flagged)
        self.recent, self.filled = grown(self.recent), grown(self.filled)
        self.remembered, self.reservoir_index = grown(self.remembered), grown(self.reservoir_index)
        self.recent_answers = grown(self.recent_answers, np.nan)
        self.distance_ring, self.distance_count = (
            grown(self.distance_ring),
            grown(self.distance_count),
        )

    # --- reading ----------------------------------------------------------------------------

    def run(self, captures: Iterable[Capture]) -> list[Finding]:
        """Score ``captures`` (in time order by object, as capture files are read); the findings
        raised by them (each (client, kind) once over the detector's life)."""
        for capture in captures:
            self.add(capture)
        return self.flush()

    def add(self, capture: Capture) -> None:
        """Take one capture (scored when a batch is full or its hour is over, or at ``flush``)."""
        if self._batch_start is None:
            self._batch_start = capture.time
        elif capture.time >= self._batch_start + self.config.batch_seconds:
            self._convert()
            if self._batch_size:
                self._found += self._batch()
            self._batch_start = capture.time
        slot = self._client(capture.client_id)
        outputs = capture.outputs if len(capture.outputs) == len(capture.rows) else None
        width = self.reference.transform.width
        pending = self._pending
        rows = capture.rows
        n = len(rows)
        if not all(len(row) == width for row in rows):
            fixed: list[list[Any]] = []
            for row in rows:
                if len(row) != width:
                    pending.bad.append(len(pending.rows) + len(fixed))
                    row = [None] * width  # a row of the wrong width: a violation
                fixed.append(row)
            rows = fixed
        pending.rows.extend(rows)
        pending.owners.extend([slot] * n)
        pending.times.extend([capture.time] * n)
        pending.answers.extend(outputs if outputs is not None else [math.nan] * n)
        if len(pending.rows) >= _CHUNK_ROWS:
            self._convert()
            if self._batch_size >= self.config.batch_rows:
                self._found += self._batch()

    def flush(self) -> list[Finding]:
        """Score what is pending; the findings raised since the last ``flush``."""
        self._convert()
        if self._batch_size:
            self._found += self._batch()
        self._batch_start = None
        found, self._found = self._found, []
        return found

    def _convert(self) -> None:
        """The pending rows as arrays: normal scores, LLR and violations, per row."""
        pending = self._pending
        if not pending.rows:
            return
        transform = self.reference.transform
        values, wrong = numeric_matrix(pending.rows, transform.positions)
        wrong[pending.bad] = True
        z = transform.normal_scores(values)
        copula = self.reference.copula
        self._chunks.append(
            _Chunk(
                z=z.astype(np.float32),
                llr=copula.llr(z).astype(np.float32) if copula else None,
                violating=transform.violations(values, wrong) > 0,
                owner=np.asarray(pending.owners, dtype=np.int64),
                time=np.asarray(pending.times, dtype=np.float64),
                answer=np.asarray(pending.answers, dtype=np.float64),
            )
        )
        self._batch_size += len(pending.rows)
        self._pending = _Pending()

    # --- one batch --------------------------------------------------------------------------

    def _batch(self) -> list[Finding]:
        config, chunks = self.config, self._chunks
        self._chunks, self._batch_size = [], 0
        z = np.concatenate([c.z for c in chunks])
        llrs = [c.llr for c in chunks if c.llr is not None]
        llr = np.concatenate(llrs).astype(np.float64) if llrs else None
        violating = np.concatenate([c.violating for c in chunks])
        owner = np.concatenate([c.owner for c in chunks])
        when = np.concatenate([c.time for c in chunks])
        answer = np.concatenate([c.answer for c in chunks])
        order = np.lexsort((when, owner))
        bounds = np.flatnonzero(np.diff(owner[order])) + 1
        segments = np.split(order, bounds)

        end = float(when.max())
        if self.clock:
            factor = 0.5 ** (max(end - self.clock, 0.0) / (config.half_life_hours * 3600))
            self.decayed *= factor
        self.clock = max(self.clock, end)

        before = self.total.copy()
        events: dict[int, _Events] = {}
        small_segments = [seg for seg in segments if len(seg) <= config.vector_rows]
        small = (  # the many clients with a few rows each: all at once, row by row
            self._assess_small(small_segments, owner, z, llr, violating, when, answer)
            if small_segments
            else None
        )
        for segment in segments:
            if len(segment) <= config.vector_rows:
                continue
            slot = int(owner[segment[0]])
            events[slot] = self._assess(slot, segment, z, llr, violating, when, answer)
        if small is not None:  # distinct clients: their counters at once
            self.total[small.slots] += small.counts
            self.decayed[small.slots] += small.counts
            first = self.first[small.slots]
            self.first[small.slots] = np.where(first == 0, small.first, first)
            self.last[small.slots] = np.maximum(self.last[small.slots], small.last)
        for slot, found in events.items():
            sums = found.sums()
            self.total[slot] += sums
            self.decayed[slot] += sums
            if not self.first[slot]:
                self.first[slot] = found.times[0]
            self.last[slot] = max(self.last[slot], found.times[-1])
        nulls = self._nulls(self.total)
        # the decayed counters are judged against the decayed population: in a world that
        # moves, every client's recent rows move before the whole history's median does
        self._recent_nulls = self._nulls(self.decayed)
        self._recent_floors = self._floors(self._recent_nulls)
        large = np.fromiter(events, dtype=np.int64, count=len(events))
        slots = large if small is None else np.concatenate([small.slots, large])
        suspects = self._suspects(slots, nulls)
        findings = []
        for slot in slots[suspects].tolist():
            judged = events.get(slot)
            if judged is None:
                assert small is not None
                judged = small.events(slot)
            findings += self._judge(slot, before[slot], judged, nulls)
        return findings

    def _suspects(self, slots: npt.NDArray[np.int64], nulls: dict[str, float]) -> Bools:
        """Which of ``slots`` any signal flags now, by its counters (the first crossing within
        the batch is then found by ``_judge``)."""
        config = self.config
        flagged = np.zeros(len(slots), dtype=bool)
        for counters, judged_nulls in (
            (self.total[slots], nulls),
            (self.decayed[slots], self._recent_nulls),
        ):
            floors = self._floors(judged_nulls)
            for name, k_column, n_column, effect in _RATE_SIGNALS:
                _, crossing = _rate_verdict(
                    config, name, counters[:, k_column], counters[:, n_column], floors[name], effect
                )
                flagged = flagged | crossing
            copula = self.reference.copula
            if copula is not None and "llr" in judged_nulls:
                _, crossing = _llr_verdict(
                    config, copula.llr_std, judged_nulls, counters[:, LLR_N],
                    counters[:, LLR_SUM], counters[:, LLR_SQ],
                )  # fmt: skip
                flagged = flagged | crossing
        unflagged = np.logical_not(self.flagged[slots].all(axis=1))
        return np.logical_and(flagged, unflagged)

    def _assess(
        self,
        slot: int,
        segment: npt.NDArray[np.int64],
        z: Floats,
        llr: Floats | None,
        violating: Bools,
        when: Floats,
        answer: Floats,
    ) -> _Events:
        config = self.config
        n = len(segment)
        found = _Events(times=when[segment])
        sample = (
            segment
            if n <= config.sample_rows
            else segment[np.linspace(0, n - 1, config.sample_rows).astype(np.int64)]
        )
        found.sample_positions = (
            np.searchsorted(segment, sample) if n > config.sample_rows else (np.arange(n))
        )
        zs = z[sample].astype(np.float32)
        outs = answer[sample]
        # earlier rows of this client: its buffers, then the sample's own earlier rows
        kept = [self.recent[slot, b, : self.filled[slot, b]] for b in (0, 1)]
        kept_answers = [self.recent_answers[slot, b, : self.filled[slot, b]] for b in (0, 1)]
        history = np.concatenate([*kept, _half(zs)])
        history_answers = np.concatenate([*kept_answers, _half(outs)]).astype(np.float64)
        stored = len(history) - len(zs)
        # each row's place in the client's history (rows remembered before it)
        seen = int(self.remembered[slot])
        index = np.concatenate([
            seen - int(self.filled[slot, 0]) + np.arange(int(self.filled[slot, 0])),
            self.reservoir_index[slot, : self.filled[slot, 1]],
            seen + np.arange(len(zs)),
        ])  # fmt: skip
        dims = max(z.shape[1], 1)
        squares = (
            (zs * zs).sum(axis=1)[:, None]
            + (history * history).sum(axis=1)[None, :]
            - 2.0 * zs @ history.T
        )
        distance = np.sqrt(np.maximum(squares, 0.0) / dims)
        own = np.arange(len(zs))
        later = own[:, None] <= own[None, :]  # a sample row and the ones after it: not earlier
        distance[:, stored:][later] = np.inf
        has_earlier = np.isfinite(distance).any(axis=1) if distance.size else np.zeros(0, bool)
        nearest = distance.argmin(axis=1) if distance.size else np.zeros(0, np.int64)
        d1 = np.where(has_earlier, distance[own, nearest] if distance.size else 0.0, np.inf)
        # the nearest of the rows sent more than ``lag`` rows before: a re-sent or updated
        # record is as near to its old copies as to its last one; a search walks away from
        # where it started
        old = index[None, :] < (seen + own)[:, None] - config.lag
        d_old = np.where(old, distance, np.inf).min(axis=1) if distance.size else d1
        neighbour = history_answers[nearest] if distance.size else np.zeros(0)
        facts = _row_facts(config, has_earlier, d1, d_old, outs, neighbour)
        assessed, novel, near = facts["assessed"], facts["novel"], facts["near"]
        answered, flips, edge, distinct = (
            facts["answered"], facts["flips"], facts["edge"], facts["distinct"]
        )  # fmt: skip
        found.distinct = distinct
        found.ood = violating[sample] & distinct
        if llr is not None:
            copula = self.reference.copula
            assert copula is not None
            found.llr = np.where(distinct, llr[sample], 0.0)
            found.low = distinct & (llr[sample] < copula.llr_low)
        found.assessed, found.novel, found.near = assessed, novel, near
        found.answered, found.flips, found.edge = answered, flips, edge
        # membership: a sample of the sample
        hasher, membership = self.reference.hasher, self.reference.membership
        if hasher is not None and membership is not None and config.hash_rows:
            # a keyed hash costs microseconds: a share of the rows, at least 32, at most hash_rows
            count = min(len(zs), max(32, len(zs) // 4), config.hash_rows)
            pick = np.unique(np.linspace(0, len(zs) - 1, count).round().astype(np.int64))
            hashed = np.zeros(len(zs), dtype=bool)
            hashed[pick] = True
            hits = np.zeros(len(zs), dtype=bool)
            hits[pick] = membership.hits(hasher.hashes(z[sample[pick]]))
            found.hashed, found.hits = hashed, hits
        else:
            found.hashed = found.hits = np.zeros(len(zs), dtype=bool)
        self._remember(slot, zs, outs, d1[novel])
        return found

    def _assess_small(
        self,
        segments: list[npt.NDArray[np.int64]],
        owner: npt.NDArray[np.int64],
        z: Floats,
        llr: Floats | None,
        violating: Bools,
        when: Floats,
        answer: Floats,
    ) -> _SmallBatch:
        """``_assess`` for clients of at most ``vector_rows`` rows in the batch, vectorized over
        the clients: round ``r`` takes every client's ``r``-th row, against its buffers as the
        earlier rounds left them. The same facts as ``_assess`` row by row (all rows are the
        sample; all are hashed)."""
        config, capacity = self.config, self.config.recent
        count = len(segments)
        lengths = np.array([len(seg) for seg in segments])
        width = int(lengths.max())
        rows = np.full((count, width), -1, dtype=np.int64)
        for i, seg in enumerate(segments):
            rows[i, : len(seg)] = seg
        slots = owner[rows[:, 0]]
        names = ("assessed", "novel", "near", "answered", "flips", "edge", "distinct", "ood",
                 "low", "hashed", "hits")  # fmt: skip
        facts = {name: np.zeros((count, width), dtype=bool) for name in names}
        llr_rows = np.zeros((count, width))
        copula, hasher, membership = (
            self.reference.copula,
            self.reference.hasher,
            self.reference.membership,
        )
        dims = max(z.shape[1], 1)
        for r in range(width):
            active = np.flatnonzero(lengths > r)
            cs, idx = slots[active], rows[active, r]
            x = z[idx].astype(np.float32)
            outs = answer[idx]
            stored = self.recent[cs].reshape(len(cs), 2 * capacity, -1)
            stored_answers = self.recent_answers[cs].reshape(len(cs), 2 * capacity)
            filled = self.filled[cs]
            position = np.arange(capacity)[None, :]
            valid = np.concatenate(
                [position < filled[:, :1], position < filled[:, 1:]], axis=1
            )  # fmt: skip
            seen = self.remembered[cs]
            index = np.concatenate(
                [seen[:, None] - filled[:, :1] + position, self.reservoir_index[cs]], axis=1
            )
            squares = (
                np.einsum("ijk,ijk->ij", stored, stored)
                + np.einsum("ij,ij->i", x, x)[:, None]
                - 2.0 * np.einsum("ijk,ik->ij", stored, x)
            )
            distance = np.sqrt(np.maximum(squares, 0.0) / dims)
            distance[~valid] = np.inf
            nearest = distance.argmin(axis=1)
            d1 = distance[np.arange(len(cs)), nearest]
            assessed = np.isfinite(d1)
            old = valid & (index < (seen - config.lag)[:, None])
            d_old = np.where(old, distance, np.inf).min(axis=1)
            neighbour = stored_answers[np.arange(len(cs)), nearest]
            facts_now = _row_facts(config, assessed, d1, d_old, outs, neighbour)
            novel, distinct = facts_now["novel"], facts_now["distinct"]
            found = facts_now | {"ood": violating[idx] & distinct}
            if llr is not None and copula is not None:
                llr_rows[active, r] = np.where(distinct, llr[idx], 0.0)
                found["low"] = distinct & (llr[idx] < copula.llr_low)
            if hasher is not None and membership is not None and config.hash_rows:
                found["hashed"] = np.ones(len(cs), dtype=bool)
                found["hits"] = membership.hits(hasher.hashes(z[idx]))
            for name, values in found.items():
                facts[name][active, r] = values
            self._remember_one(cs, x, outs, np.where(novel, d1, np.inf))
        counts = np.zeros((count, _COUNTERS))
        counts[:, ROWS] = lengths
        columns = {"ood": OOD, "distinct": DISTINCT, "assessed": ASSESSED, "novel": NOVEL,
                   "near": NEAR, "answered": ANSWERED, "flips": FLIPS, "edge": EDGE,
                   "hashed": HASHED, "hits": HITS, "low": LOW}  # fmt: skip
        for name, column in columns.items():
            counts[:, column] = facts[name].sum(axis=1)
        if llr is not None:
            counts[:, LLR_N] = facts["distinct"].sum(axis=1)
            counts[:, LLR_SUM] = llr_rows.sum(axis=1)
            counts[:, LLR_SQ] = (llr_rows**2).sum(axis=1)
        return _SmallBatch(
            slots=slots,
            counts=counts,
            first=when[rows[:, 0]],
            last=when[rows[np.arange(count), lengths - 1]],
            lengths=lengths,
            rows=rows,
            when=when,
            llr_rows=llr_rows if llr is not None else None,
            facts=facts,
        )

    def _remember_one(
        self,
        slots: npt.NDArray[np.int64],
        rows: npt.NDArray[np.float32],
        answers: Floats,
        d1: Floats,
    ) -> None:
        """``_remember`` of one row for each of ``slots`` (distinct clients), vectorized."""
        capacity = self.config.recent
        values, outs = _half(rows), _half(answers)
        filled = self.filled[slots]
        # the ring, newest last: a full one shifts by one
        full = filled[:, 0] >= capacity
        if full.any():
            shifting = slots[full]
            self.recent[shifting, 0, :-1] = self.recent[shifting, 0, 1:]
            self.recent_answers[shifting, 0, :-1] = self.recent_answers[shifting, 0, 1:]
        at = np.minimum(filled[:, 0], capacity - 1)
        self.recent[slots, 0, at] = values
        self.recent_answers[slots, 0, at] = outs
        self.filled[slots, 0] = np.minimum(filled[:, 0] + 1, capacity)
        # the reservoir (Algorithm R)
        seen = self.remembered[slots]
        growing = filled[:, 1] < capacity
        draw = (self._rng.random(len(slots)) * (seen + 1)).astype(np.int64)
        place = np.where(growing, filled[:, 1], draw)
        keep = place < capacity
        self.recent[slots[keep], 1, place[keep]] = values[keep]
        self.recent_answers[slots[keep], 1, place[keep]] = outs[keep]
        self.reservoir_index[slots[keep], place[keep]] = seen[keep]
        self.filled[slots, 1] = np.where(growing, filled[:, 1] + 1, filled[:, 1])
        self.remembered[slots] += 1
        # the distance ring
        finite = np.isfinite(d1)
        if finite.any():
            ring = self.config.distances
            with_distance = slots[finite]
            where = self.distance_count[with_distance] % ring
            self.distance_ring[with_distance, where] = d1[finite].astype(np.float16)
            self.distance_count[with_distance] += 1

    def _remember(self, slot: int, zs: npt.NDArray[np.float32], outs: Floats, d1: Floats) -> None:
        capacity = self.config.recent
        rows = _half(zs)
        answers = _half(outs)
        # the last rows: a ring, newest last
        last = np.concatenate([self.recent[slot, 0, : self.filled[slot, 0]], rows])[-capacity:]
        last_answers = np.concatenate(
            [self.recent_answers[slot, 0, : self.filled[slot, 0]], answers]
        )[-capacity:]
        self.recent[slot, 0, : len(last)] = last
        self.recent_answers[slot, 0, : len(last)] = last_answers
        self.filled[slot, 0] = len(last)
        # a uniform reservoir of the history (Algorithm R, vectorized: a later row that draws
        # the same slot overwrites an earlier one, as one by one it would)
        seen = int(self.remembered[slot])  # before this batch
        self.remembered[slot] += len(rows)
        free = capacity - int(self.filled[slot, 1])
        direct = min(free, len(rows))
        if direct:
            start = int(self.filled[slot, 1])
            self.recent[slot, 1, start : start + direct] = rows[:direct]
            self.recent_answers[slot, 1, start : start + direct] = answers[:direct]
            self.reservoir_index[slot, start : start + direct] = seen + np.arange(direct)
            self.filled[slot, 1] += direct
        if direct < len(rows):
            counts = seen + np.arange(direct, len(rows))
            positions = (self._rng.random(len(counts)) * (counts + 1)).astype(np.int64)
            keep = positions < capacity
            self.recent[slot, 1, positions[keep]] = rows[direct:][keep]
            self.recent_answers[slot, 1, positions[keep]] = answers[direct:][keep]
            self.reservoir_index[slot, positions[keep]] = counts[keep]
        # the nearest-earlier distances of new queries (PRADA), a ring
        ring = self.config.distances
        finite = d1[np.isfinite(d1)].astype(np.float16)[-ring:]
        if len(finite):
            where = (self.distance_count[slot] + np.arange(len(finite))) % ring
            self.distance_ring[slot, where] = finite
            self.distance_count[slot] += len(finite)

    # --- judging ----------------------------------------------------------------------------

    def _nulls(self, counters: Floats) -> dict[str, float]:
        """Each signal's population rate: the median over the clients with enough rows."""
        config, total = self.config, counters[: len(self.ids)]
        nulls: dict[str, float] = {}

        def median_rate(k: int, n: int) -> float:
            judged = total[:, n] >= config.min_rows
            if judged.sum() < config.population_min_clients:
                return 0.0
            return float(np.median(total[judged, k] / total[judged, n]))

        nulls["ood"] = median_rate(OOD, DISTINCT)
        nulls["hits"] = median_rate(HITS, HASHED)
        nulls["flips"] = median_rate(FLIPS, ANSWERED)
        nulls["edge"] = median_rate(EDGE, ANSWERED)
        nulls["near"] = median_rate(NEAR, NOVEL)
        nulls["low"] = median_rate(LOW, DISTINCT)
        judged = total[:, LLR_N] >= config.min_rows
        copula = self.reference.copula
        if copula is not None:
            train = copula.llr_mean
            if judged.sum() >= config.population_min_clients:
                means = total[judged, LLR_SUM] / total[judged, LLR_N]
                median = float(np.median(means))
            else:
                median = train
            nulls["llr"] = min(train, median)
            # judged closer to what independently drawn features score than to the population
            # (not a multiple of the clients' spread: attackers widen it)
            nulls["llr_margin"] = max(0.5 * (nulls["llr"] - copula.independent_llr), 1e-6)
        return nulls

    def _floors(self, nulls: dict[str, float]) -> dict[str, float]:
        membership = self.reference.membership
        return {
            "ood": max(nulls["ood"], 1e-3),
            "hits": max(nulls["hits"], membership.null_rate if membership else 0.0, 1e-4),
            "flips": max(nulls["flips"], 2e-3),
            "edge": max(nulls["edge"], 1e-2),
            "near": max(nulls["near"], 1e-2),
            "low": max(nulls["low"], LOW_SHARE),
        }

    def _judge(
        self, slot: int, before: Floats, found: _Events, nulls: dict[str, float]
    ) -> list[Finding]:
        config, floors = self.config, self._floors(nulls)
        findings: list[Finding] = []
        rows_before = before[ROWS]

        def rate(name: str, events: Bools, trials: Bools, k0: float, n0: float,
                 effect: float) -> tuple[float, int] | None:  # fmt: skip
            """The first position (in the sample) where this signal crosses, and its score."""
            k = k0 + np.cumsum(events, dtype=np.float64)
            n = n0 + np.cumsum(trials, dtype=np.float64)
            digits, crossing = _rate_verdict(config, name, k, n, floors[name], effect)
            hit = np.flatnonzero(crossing)
            return (float(digits[-1] if len(digits) else 0), int(hit[0])) if len(hit) else None

        def position_of(index_in_sample: int) -> int:
            return int(found.sample_positions[index_in_sample])

        def emit(kind: Kind, score: float, position: int, evidence: dict[str, Any]) -> None:
            k = KINDS.index(kind)
            if self.flagged[slot, k]:
                return
            if position < 0:
                position = len(found.times) - 1
            self.flagged[slot, k] = True
            name = self.ids[slot]
            findings.append(
                Finding(
                    client_id=UNKNOWN if name == UNKNOWN_CLIENT else name,
                    kind=kind,
                    first_seen=float(found.times[position]),
                    score=score,
                    queries=int(rows_before + position + 1),
                    evidence=evidence,
                )
            )

        total = self.total[slot]
        # out of distribution: every row counts
        crossed = rate("ood", found.ood, found.distinct, before[OOD], before[DISTINCT], 5.0)
        if crossed is None:
            crossed = self._decayed_crossing(slot, OOD, DISTINCT, "ood", 5.0)
        if crossed is not None:
            position = position_of(crossed[1]) if crossed[1] >= 0 else -1
            emit("out_of_distribution", crossed[0], position, {
                "rows": int(total[ROWS]),
                "distinct_rows_checked": int(total[DISTINCT]),
                "violating_rows": int(total[OOD]),
                "rate": _round(total[OOD] / max(total[DISTINCT], 1)),
                "population_rate": _round(floors["ood"]),
                "what": "rows outside the training range, fractional where training was "
                "integral, of the wrong type or width, or with an invalid one-hot group",
            })  # fmt: skip
        # membership
        crossed = rate("hits", found.hits, found.hashed, before[HITS], before[HASHED], 5.0)
        if crossed is None:
            crossed = self._decayed_crossing(slot, HITS, HASHED, "hits", 5.0)
        if crossed is not None:
            position = position_of(crossed[1]) if crossed[1] >= 0 else -1
            emit("membership", crossed[0], position, {
                "rows_checked": int(total[HASHED]),
                "training_cell_hits": int(total[HITS]),
                "rate": _round(total[HITS] / max(total[HASHED], 1)),
                "population_rate": _round(floors["hits"]),
                "what": "rows in the same quantized cell as a training row (keyed hashes): "
                "exact or near-exact training rows",
            })  # fmt: skip
        # probing: label flips between near duplicates, answers at the boundary
        flips = rate("flips", found.flips, found.answered, before[FLIPS], before[ANSWERED], 5.0)
        edge = rate("edge", found.edge, found.answered, before[EDGE], before[ANSWERED], 3.0)
        near = rate("near", found.near, found.novel, before[NEAR], before[NOVEL], 5.0)
        if near is None:
            near = self._decayed_crossing(slot, NEAR, NOVEL, "near", 5.0)
        if flips is None:
            flips = self._decayed_crossing(slot, FLIPS, ANSWERED, "flips", 5.0)
        if edge is None:
            edge = self._decayed_crossing(slot, EDGE, ANSWERED, "edge", 3.0)
        probing = [c for c in (flips, edge, near) if c is not None]
        if probing:
            first = min(probing, key=lambda c: c[1] if c[1] >= 0 else 1 << 62)
            position = position_of(first[1]) if first[1] >= 0 else -1
            emit("probing", max(c[0] for c in probing), position, {
                "new_queries_answered": int(total[ANSWERED]),
                "new_queries": int(total[NOVEL]),
                "near_duplicates": int(total[NEAR]),
                "near_duplicate_rate": _round(total[NEAR] / max(total[NOVEL], 1)),
                "population_near_duplicate_rate": _round(floors["near"]),
                "label_flips": int(total[FLIPS]),
                "flip_rate": _round(total[FLIPS] / max(total[ANSWERED], 1)),
                "population_flip_rate": _round(floors["flips"]),
                "boundary_answers": int(total[EDGE]),
                "boundary_rate": _round(total[EDGE] / max(total[ANSWERED], 1)),
                "population_boundary_rate": _round(floors["edge"]),
                "what": "new queries that are small changes of the client's earlier ones and "
                "moved the answer (near duplicates), those answered with the other label "
                "(flips), and answers "
                f"within {self.config.boundary} of the decision threshold",
            })  # fmt: skip
        # extraction: jointly implausible queries, on average or in share
        if found.llr is not None and "llr" in nulls:
            low = rate("low", found.low, found.distinct, before[LOW], before[DISTINCT], 5.0)
            if low is None:
                low = self._decayed_crossing(slot, LOW, DISTINCT, "low", 5.0)
            mean_crossing = self._llr_crossing(slot, before, found, nulls)
            both = [c for c in (mean_crossing, low) if c is not None]
            crossed = min(both, key=lambda c: c[1] if c[1] >= 0 else 1 << 62) if both else None
            if crossed is not None:
                position = position_of(crossed[1]) if crossed[1] >= 0 else -1
                w, royston = shapiro_francia(self._distances(slot))
                mean = total[LLR_SUM] / max(total[LLR_N], 1)
                emit("extraction", crossed[0], position, {
                    "rows": int(total[LLR_N]),
                    "mean_joint_llr": _round(mean),
                    "population_median_llr": _round(nulls["llr"]),
                    "training_mean_llr": _round(self.reference.copula.llr_mean)
                    if self.reference.copula else None,
                    "margin": _round(nulls["llr_margin"]),
                    "implausible_rows": int(total[LOW]),
                    "implausible_rate": _round(total[LOW] / max(total[DISTINCT], 1)),
                    "population_implausible_rate": _round(floors["low"]),
                    "prada_w": _round(w),
                    "prada_z": _round(royston),
                    "what": "queries whose features are plausible one by one and implausible "
                    "together (log likelihood ratio of the training copula against "
                    "independent features), as sampling each feature's marginal makes them: "
                    "on average, or rows below the training's 1st percentile (implausible) "
                    "in a share no client like the others sends",
                })  # fmt: skip
        return findings

    def _llr_crossing(
        self, slot: int, before: Floats, found: _Events, nulls: dict[str, float]
    ) -> tuple[float, int] | None:
        config, copula = self.config, self.reference.copula
        assert found.llr is not None
        assert copula is not None
        digits, crossing = _llr_verdict(
            config, copula.llr_std, nulls,
            before[LLR_N] + np.cumsum(found.distinct, dtype=np.float64),
            before[LLR_SUM] + np.cumsum(found.llr), before[LLR_SQ] + np.cumsum(found.llr**2),
        )  # fmt: skip
        hit = np.flatnonzero(crossing)
        if len(hit):
            return float(digits[-1]), int(hit[0])
        # a client that turned: its decayed mean, against the decayed population
        decayed = self.decayed[slot]
        recent = self._recent_nulls if "llr" in self._recent_nulls else nulls
        digits, crossing = _llr_verdict(
            config, copula.llr_std, recent, decayed[LLR_N : LLR_N + 1],
            decayed[LLR_SUM : LLR_SUM + 1], decayed[LLR_SQ : LLR_SQ + 1],
        )  # fmt: skip
        return (float(digits[0]), -1) if crossing[0] else None

    def _decayed_crossing(
        self, slot: int, k: int, n: int, name: str, effect: float
    ) -> tuple[float, int] | None:
        """The decayed counters' verdict (a client whose recent rows differ from its past),
        against the decayed population; position -1: the batch's last row."""
        decayed = self.decayed[slot]
        digits, crossing = _rate_verdict(
            self.config, name, decayed[k : k + 1], decayed[n : n + 1],
            self._recent_floors[name], effect,
        )  # fmt: skip
        return (float(digits[0]), -1) if crossing[0] else None

    def _distances(self, slot: int) -> Floats:
        count = min(int(self.distance_count[slot]), self.config.distances)
        return self.distance_ring[slot, :count].astype(np.float64)

    # --- views and state --------------------------------------------------------------------

    def client_scores(self) -> dict[str, dict[str, float]]:
        """Every client's current evidence per kind (decimal digits), for metrics and dashboards."""
        nulls = self._nulls(self.total)
        floors = self._floors(nulls)
        total = self.total[: len(self.ids)]
        scores: dict[str, dict[str, float]] = {}
        for slot, name in enumerate(self.ids):
            row = total[slot]

            def one(k: int, n: int, floor: float, row: Floats = row) -> float:
                return float(rate_digits(row[k : k + 1], row[n : n + 1], floor)[0])

            entry = {
                "out_of_distribution": one(OOD, DISTINCT, floors["ood"]),
                "membership": one(HITS, HASHED, floors["hits"]),
                "probing": max(
                    one(FLIPS, ANSWERED, floors["flips"]),
                    one(EDGE, ANSWERED, floors["edge"]),
                    one(NEAR, NOVEL, floors["near"]),
                ),
                "extraction": 0.0,
            }
            copula = self.reference.copula
            if copula is not None and row[LLR_N] >= 1 and "llr" in nulls:
                digits, _ = _llr_verdict(
                    self.config, copula.llr_std, nulls, row[LLR_N : LLR_N + 1],
                    row[LLR_SUM : LLR_SUM + 1], row[LLR_SQ : LLR_SQ + 1],
                )  # fmt: skip
                entry["extraction"] = max(float(digits[0]), one(LOW, DISTINCT, floors["low"]))
            scores[UNKNOWN if name == UNKNOWN_CLIENT else name] = {
                k: round(v, 2) for k, v in entry.items()
            }
        return scores

    def state_bytes(self) -> bytes:
        """Everything the next run needs, as a compressed npz (no object arrays)."""
        size = len(self.ids)
        meta = {"ids": self.ids, "clock": self.clock, "config": asdict(self.config),
                "version": 1}  # fmt: skip
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            total=self.total[:size],
            decayed=self.decayed[:size],
            first=self.first[:size],
            last=self.last[:size],
            flagged=self.flagged[:size],
            recent=self.recent[:size].astype(np.float16),
            recent_answers=self.recent_answers[:size].astype(np.float16),
            filled=self.filled[:size],
            remembered=self.remembered[:size],
            reservoir_index=self.reservoir_index[:size],
            distance_ring=self.distance_ring[:size],
            distance_count=self.distance_count[:size],
        )
        return buffer.getvalue()

    @classmethod
    def from_state_bytes(
        cls, reference: PayloadReference, data: bytes, config: DetectorConfig | None = None
    ) -> PayloadDetector:
        """A detector resumed from ``state_bytes``; refuses state of another shape."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as saved:
                arrays = {name: saved[name] for name in saved.files}
            meta = json.loads(bytes(arrays.pop("meta")).decode())
        except (ValueError, KeyError, OSError, UnicodeDecodeError) as error:
            raise ValueError(f"payload detector state cannot be read: {error}") from None
        detector = cls(reference, config)
        expected = set(_STATE_ARRAYS)
        if set(arrays) != expected:
            raise ValueError(
                f"payload detector state holds {sorted(arrays)}, this detector keeps "
                f"{sorted(expected)}: state of another version; start afresh"
            )
        m, c = reference.transform.dimensions, detector.config
        shape = arrays["recent"].shape
        if (
            shape[1:] != (2, c.recent, m)
            or arrays["distance_ring"].shape[1:] != (c.distances,)
            or arrays["total"].shape[1:] != (_COUNTERS,)
        ):
            raise ValueError(
                f"payload detector state of shape {shape[1:]}, this detector keeps "
                f"{(2, c.recent, m)}: a new baseline or configuration; start afresh"
            )
        detector.ids = list(meta["ids"])
        detector.index = {name: i for i, name in enumerate(detector.ids)}
        detector.clock = float(meta["clock"])
        for name, array in arrays.items():
            setattr(detector, name, array.copy())
        detector.recent = detector.recent.astype(np.float32)
        detector.recent_answers = detector.recent_answers.astype(np.float32)
        if len(detector.ids) != len(detector.first):
            raise ValueError("payload detector state: client ids and arrays disagree")
        return detector


_STATE_ARRAYS = (
    "total", "decayed", "first", "last", "flagged", "recent", "recent_answers", "filled",
    "remembered", "reservoir_index", "distance_ring", "distance_count",
)  # fmt: skip
_CHUNK_ROWS = 50_000
LOW_SHARE = 0.01
"""The share of training rows whose LLR is below ``Copula.llr_low``."""
_RATE_SIGNALS = (
    ("ood", OOD, DISTINCT, 5.0),
    ("hits", HITS, HASHED, 5.0),
    ("flips", FLIPS, ANSWERED, 5.0),
    ("edge", EDGE, ANSWERED, 3.0),
    ("near", NEAR, NOVEL, 5.0),
    ("low", LOW, DISTINCT, 5.0),
)
"""(name, events column, trials column, effect: how many times the null rate a finding needs)."""
_MIN_RATE = {"ood": 0.02, "hits": 0.02, "flips": 0.03, "edge": 0.1, "near": 0.1, "low": 0.2}
"""The smallest rate of each signal a finding needs, whatever its significance."""


def _rate_verdict(
    config: DetectorConfig, name: str, k: Floats, n: Floats, p0: float, effect: float
) -> tuple[Floats, Bools]:
    """A rate signal's evidence (digits) and where it makes a finding: significant, enough
    events and trials, and a rate of at least ``effect`` times the null and ``_MIN_RATE``."""
    digits = rate_digits(k, n, p0)
    crossing = (
        (digits >= config.threshold)
        & (k >= config.min_events)
        & (n >= config.min_rows)
        & (k / np.maximum(n, 1) >= max(effect * p0, _MIN_RATE[name]))
    )
    return digits, crossing


def _llr_verdict(
    config: DetectorConfig, floor: float, nulls: dict[str, float], n: Floats, total: Floats,
    squares: Floats,
) -> tuple[Floats, Bools]:  # fmt: skip
    """The mean-LLR signal from its running sums: the one-sided evidence that the client's mean
    is below the population's (the larger of its spread and the training's, ``floor``), and
    where it makes a finding (enough rows, short by more than the margin)."""
    rows = np.maximum(n, 1e-12)
    mean = total / rows
    spread = np.maximum(np.sqrt(np.maximum(squares / rows - mean**2, 0.0)), floor)
    shortfall = nulls["llr"] - mean
    digits = normal_digits(shortfall / (spread / np.sqrt(rows)))
    crossing = (
        (digits >= config.threshold) & (n >= config.min_rows) & (shortfall > nulls["llr_margin"])
    )
    return digits, crossing


def _row_facts(
    config: DetectorConfig, assessed: Bools, d1: Floats, d_old: Floats, outs: Floats,
    neighbour: Floats,
) -> dict[str, Bools]:  # fmt: skip
    """A row's facts from its nearest earlier row of the same client (``d1``, whose answer is
    ``neighbour``) and its nearest row sent more than ``lag`` rows before (``d_old``): a
    re-sent or updated record is as near to its old copies as to its last one; a search walks
    away from where it started."""
    walking = np.isfinite(d_old) & (
        d_old > config.walk * np.maximum(np.where(assessed, d1, 0.0), config.repeat)
    )
    novel = assessed & (d1 > config.repeat)
    close = novel & (d1 < config.near)
    # a near duplicate counts when its answer moved: a re-sent record with a jitter or an
    # updated field gets the same answer, a step of a boundary search a different one
    near = close & walking & (np.abs(outs - neighbour) >= config.answer_step)  # NaN: False
    answered = novel & np.isfinite(outs)
    label = outs >= config.decision_threshold
    flips = near & np.isfinite(neighbour) & np.isfinite(outs) & (
        label != (neighbour >= config.decision_threshold)
    )  # fmt: skip
    resent = close & ~walking
    # answers at the boundary, but not those of a record re-sent with a jitter
    edge = answered & ~resent & (np.abs(outs - config.decision_threshold) < config.boundary)
    # the first row or a new query, not a re-send (exact, or a near copy of rows it sent long
    # before): what violations and the joint likelihood are judged on (a client re-sending
    # one odd row has sent one odd row)
    distinct = ~assessed | (novel & ~resent)
    return {"assessed": assessed, "novel": novel, "near": near, "answered": answered,
            "flips": flips, "edge": edge, "distinct": distinct}  # fmt: skip


def _half(values: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """``values`` at float16 precision (what the saved state keeps), as float32."""
    result: npt.NDArray[np.float32] = values.astype(np.float16).astype(np.float32)
    return result


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


@dataclass(frozen=True)
class _Chunk:
    z: npt.NDArray[np.float32]
    llr: npt.NDArray[np.float32] | None
    violating: Bools
    owner: npt.NDArray[np.int64]
    time: Floats
    answer: Floats


@dataclass
class _Pending:
    rows: list[list[Any]] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    answers: list[float] = field(default_factory=list)
    bad: list[int] = field(default_factory=list)
    """Rows of the wrong width."""


@dataclass
class _SmallBatch:
    """``_assess_small``'s clients (distinct ``slots``): their counters, first and last times,
    and each one's ``_Events``, built only for the clients judged."""

    slots: npt.NDArray[np.int64]
    counts: Floats
    first: Floats
    last: Floats
    lengths: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int64]
    when: Floats
    llr_rows: Floats | None
    facts: dict[str, Bools]
    _position: dict[int, int] = field(default_factory=dict)

    def events(self, slot: int) -> _Events:
        if not self._position:
            self._position = {s: i for i, s in enumerate(self.slots.tolist())}
        i = self._position[slot]
        n = int(self.lengths[i])
        return _Events(
            times=self.when[self.rows[i, :n]],
            sample_positions=np.arange(n),
            llr=self.llr_rows[i, :n] if self.llr_rows is not None else None,
            **{name: values[i, :n] for name, values in self.facts.items()},
        )


def _none() -> Bools:
    return np.zeros(0, dtype=bool)


@dataclass
class _Events:
    """One client's rows of one batch: their times (all rows), and facts of its sample of them."""

    times: Floats
    ood: Bools = field(default_factory=_none)
    distinct: Bools = field(default_factory=_none)
    llr: Floats | None = None
    """Of the distinct rows (0 elsewhere)."""
    sample_positions: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    assessed: Bools = field(default_factory=_none)
    novel: Bools = field(default_factory=_none)
    near: Bools = field(default_factory=_none)
    answered: Bools = field(default_factory=_none)
    flips: Bools = field(default_factory=_none)
    edge: Bools = field(default_factory=_none)
    hashed: Bools = field(default_factory=_none)
    hits: Bools = field(default_factory=_none)
    low: Bools = field(default_factory=_none)

    def sums(self) -> Floats:
        out = np.zeros(_COUNTERS)
        out[ROWS] = len(self.times)
        if self.llr is not None:
            out[LLR_N], out[LLR_SUM], out[LLR_SQ] = (
                self.distinct.sum(), self.llr.sum(), (self.llr**2).sum()
            )  # fmt: skip
        facts = {OOD: self.ood, DISTINCT: self.distinct,
                 ASSESSED: self.assessed, NOVEL: self.novel, NEAR: self.near,
                 ANSWERED: self.answered, FLIPS: self.flips, EDGE: self.edge,
                 HASHED: self.hashed, HITS: self.hits, LOW: self.low}  # fmt: skip
        for column, fact in facts.items():
            out[column] = fact.sum()
        return out

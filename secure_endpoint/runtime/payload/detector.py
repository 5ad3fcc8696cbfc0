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
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from secure_endpoint.runtime.capture.records import UNKNOWN_CLIENT, Capture, RowBuffer
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
        # each chunk scored into normal scores as it is cut: the raw values (twice the bytes)
        # are not kept for the rest of the hour
        self.intake = BatchIntake(reference.transform.width, reference.transform.positions,
                                  self.config, convert=self._convert)  # fmt: skip
        self.index = self.intake.index
        self.ids = self.intake.ids
        m, c = reference.transform.dimensions, self.config
        self.total = np.zeros((0, _COUNTERS))
        self.decayed = np.zeros((0, _COUNTERS))
        self.first = np.zeros(0)
        self.last = np.zeros(0)
        self.flagged = np.zeros((0, len(KINDS)), dtype=bool)
        self.recent = np.zeros((0, 2, c.recent, m), dtype=np.float16)
        """[client, buffer (0: the last rows, 1: a uniform reservoir), slot, feature]."""
        self.recent_answers = np.full((0, 2, c.recent), np.nan, dtype=np.float16)
        # both float16 (what the saved state keeps; 10 KB a client), float32 for arithmetic
        self.filled = np.zeros((0, 2), dtype=np.int64)
        self.remembered = np.zeros(0, dtype=np.int64)
        """Rows each client has had assessed (its sample's rows), the order of its history."""
        self.reservoir_index = np.zeros((0, c.recent), dtype=np.int64)
        """Each reservoir row's place in that order."""
        self.distance_ring = np.zeros((0, c.distances), dtype=np.float16)
        self.distance_count = np.zeros(0, dtype=np.int64)
        self.clock = 0.0
        self._rng = np.random.default_rng(0)
        self._recent_nulls: dict[str, float] = {}
        self._recent_floors: dict[str, float] = {}
        self._found: list[Finding] = []

    # --- clients ----------------------------------------------------------------------------

    def _cover(self) -> None:
        """Room in the arrays for every client the intake has named."""
        size = len(self.first)
        while size < len(self.ids):
            size = max(16, 2 * size)
        if size > len(self.first):
            self._grow(size)

    def _grow(self, size: int) -> None:
        def grown(array: npt.NDArray[Any], fill: float = 0) -> npt.NDArray[Any]:
            # zeros are pages the system maps on first write: a client's buffers cost memory
            # and time when it sends, not when the arrays double
            out = np.zeros((size, *array.shape[1:]), dtype=array.dtype)
            out[: len(array)] = array
            if fill:
                out[len(array) :] = fill
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
        for batch in self.intake.add(capture):
            self.score(batch)
        self._cover()

    def flush(self) -> list[Finding]:
        """Score what is pending; the findings raised since the last ``flush``."""
        for batch in self.intake.close():
            self.score(batch)
        found, self._found = self._found, []
        return found

    def score(self, batch: Batch, names: Iterable[str] = ()) -> None:
        """Score a closed batch of the intake's (``add`` does; a detector in another process
        is handed the batches with ``names``, the clients the intake named since the last)."""
        for name in names:
            self.intake.slot(name)
        self._cover()
        if batch:
            self._found += self._batch(batch)

    def _convert(self, raw: RawChunk) -> _Chunk:
        """Rows as arrays: normal scores, LLR and violations, per row."""
        transform = self.reference.transform
        z = transform.normal_scores(raw.values)
        copula = self.reference.copula
        return _Chunk(
            z=z.astype(np.float32),
            llr=copula.llr(z).astype(np.float32) if copula else None,
            violating=transform.violations(raw.values, raw.wrong) > 0,
            owner=raw.owner,
            time=raw.time,
            answer=raw.answer,
        )

    # --- one batch --------------------------------------------------------------------------

    def _batch(self, batch: Batch) -> list[Finding]:
        config = self.config
        chunks = [c if isinstance(c, _Chunk) else self._convert(c) for c in batch]
        z = np.concatenate([c.z for c in chunks])
        llrs = [c.llr for c in chunks if c.llr is not None]
        llr = np.concatenate(llrs).astype(np.float64) if llrs else None
        owner = np.concatenate([c.owner for c in chunks])
        when = np.concatenate([c.time for c in chunks])
        rows = _Rows(
            z=z,
            llr=llr,
            violating=np.concatenate([c.violating for c in chunks]),
            owner=owner,
            when=when,
            answer=np.concatenate([c.answer for c in chunks]),
            order=np.lexsort((when, owner)),
        )
        end = float(when.max())
        if self.clock:
            factor = 0.5 ** (max(end - self.clock, 0.0) / (config.half_life_hours * 3600))
            self.decayed *= factor
        self.clock = max(self.clock, end)

        before = self.total.copy()
        assessed = self._assess(rows)
        slots = assessed.slots  # distinct: their counters at once
        self.total[slots] += assessed.counts
        self.decayed[slots] += assessed.counts
        first = self.first[slots]
        self.first[slots] = np.where(first == 0, assessed.first, first)
        self.last[slots] = np.maximum(self.last[slots], assessed.last)
        nulls = self._nulls(self.total)
        # the decayed counters are judged against the decayed population: in a world that
        # moves, every client's recent rows move before the whole history's median does
        self._recent_nulls = self._nulls(self.decayed)
        self._recent_floors = self._floors(self._recent_nulls)
        suspects = self._suspects(slots, nulls)
        findings = []
        for slot in slots[suspects].tolist():
            findings += self._judge(slot, before[slot], assessed.events(slot), nulls)
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

    def _assess(self, rows: _Rows) -> _Assessed:
        """Every client's rows of the batch against its earlier rows: a sample of at most
        ``sample_rows`` of them (evenly spread), each against the client's buffers as the
        batch found them and the sample's own earlier rows. Clients whose samples are of one
        size are assessed together, vectorized, in groups of bounded memory."""
        config = self.config
        order = rows.order
        starts = np.flatnonzero(np.diff(rows.owner[order], prepend=-1))
        lengths = np.diff(np.append(starts, len(order)))
        assessed = _Assessed(
            slots=rows.owner[order[starts]],
            counts=np.zeros((len(starts), _COUNTERS)),
            first=rows.when[order[starts]],
            last=rows.when[order[starts + lengths - 1]],
            order=order,
            starts=starts,
            lengths=lengths,
            when=rows.when,
        )
        assessed.counts[:, ROWS] = lengths
        sizes = np.minimum(lengths, config.sample_rows)
        cells = (2 * config.recent + sizes) * np.maximum(sizes, rows.z.shape[1])
        for size in np.unique(sizes).tolist():
            members = np.flatnonzero(sizes == size)
            step = max(1, _GROUP_CELLS // int(cells[members[0]]))
            for at in range(0, len(members), step):
                group = members[at : at + step]
                positions = np.broadcast_to(np.arange(size), (len(group), size)).copy()
                for i in np.flatnonzero(lengths[group] > size).tolist():
                    n = int(lengths[group[i]])
                    positions[i] = np.linspace(0, n - 1, size).astype(np.int64)
                sample = order[starts[group][:, None] + positions]
                facts, llr_rows = self._assess_group(rows, sample)
                assessed.add(group, positions, facts, llr_rows)
        return assessed

    def _assess_group(
        self, rows: _Rows, sample: npt.NDArray[np.int64]
    ) -> tuple[dict[str, Bools], Floats | None]:
        """The facts of ``sample`` (a row of row indices per client, distinct clients, each
        row in time order), then the rows remembered."""
        config, capacity = self.config, self.config.recent
        count, size = sample.shape
        slots = rows.owner[sample[:, 0]]
        x = rows.z[sample]  # (client, row, feature)
        outs = rows.answer[sample]
        halves = _half(x)
        # earlier rows of these clients: their buffers (valid or not), then the sample's own
        history = np.concatenate(
            [self.recent[slots].reshape(count, 2 * capacity, -1), halves], axis=1, dtype=np.float32
        )
        history_answers = np.concatenate(
            [self.recent_answers[slots].reshape(count, 2 * capacity), _half(outs)], axis=1
        ).astype(np.float64)
        filled = self.filled[slots]
        slot = np.arange(capacity)[None, :]
        seen = self.remembered[slots]  # rows remembered before this batch
        # each earlier row's place in the client's history, and which rows are earlier
        index = np.concatenate(
            [seen[:, None] - filled[:, :1] + slot, self.reservoir_index[slots],
             seen[:, None] + np.arange(size)], axis=1,
        )  # fmt: skip
        valid = np.concatenate([slot < filled[:, :1], slot < filled[:, 1:]], axis=1)
        own = np.arange(size)
        earlier = np.concatenate(
            [
                np.broadcast_to(valid[:, None, :], (count, size, 2 * capacity)),
                np.broadcast_to(own[None, :] < own[:, None], (count, size, size)),
            ],
            axis=2,
        )
        dims = max(x.shape[2], 1)
        squares = (
            np.einsum("crk,crk->cr", x, x)[:, :, None]
            + np.einsum("chk,chk->ch", history, history)[:, None, :]
            - 2.0 * np.matmul(x, history.transpose(0, 2, 1))
        )
        distance = np.where(earlier, np.sqrt(np.maximum(squares, 0.0) / dims), np.inf)
        nearest = distance.argmin(axis=2)
        d1 = np.take_along_axis(distance, nearest[:, :, None], axis=2)[:, :, 0]
        # the nearest of the rows sent more than ``lag`` rows before: a re-sent or updated
        # record is as near to its old copies as to its last one; a search walks away from
        # where it started
        old = index[:, None, :] < (seen[:, None] + own - config.lag)[:, :, None]
        d_old = np.where(old, distance, np.inf).min(axis=2)
        neighbour = np.take_along_axis(history_answers, nearest, axis=1)
        facts = _row_facts(config, np.isfinite(d1), d1, d_old, outs, neighbour)
        distinct = facts["distinct"]
        facts["ood"] = rows.violating[sample] & distinct
        llr_rows = None
        copula = self.reference.copula
        if rows.llr is not None and copula is not None:
            llr = rows.llr[sample]
            llr_rows = np.where(distinct, llr, 0.0)
            facts["low"] = distinct & (llr < copula.llr_low)
        else:
            facts["low"] = np.zeros(sample.shape, dtype=bool)
        # membership: a keyed hash costs microseconds: a share of the rows, at least 32, at most
        # hash_rows
        hashed = np.zeros(sample.shape, dtype=bool)
        hits = np.zeros(sample.shape, dtype=bool)
        hasher, membership = self.reference.hasher, self.reference.membership
        if hasher is not None and membership is not None and config.hash_rows:
            picked = min(size, max(32, size // 4), config.hash_rows)
            pick = np.unique(np.linspace(0, size - 1, picked).round().astype(np.int64))
            hashed[:, pick] = True
            width = rows.z.shape[1]
            found = membership.hits(hasher.hashes(rows.z[sample[:, pick]].reshape(-1, width)))
            hits[:, pick] = found.reshape(count, len(pick))
        facts["hashed"], facts["hits"] = hashed, hits
        self._remember(slots, halves, _half(outs), np.where(facts["novel"], d1, np.inf))
        return facts, llr_rows

    def _remember(
        self,
        slots: npt.NDArray[np.int64],
        rows: npt.NDArray[np.float32],
        answers: npt.NDArray[np.float32],
        d1: Floats,
    ) -> None:
        """Keep ``rows`` (client, row, feature; distinct clients, time order) in the clients'
        buffers, and the finite ``d1`` (the new queries' nearest-earlier distances) in their
        distance rings."""
        capacity = self.config.recent
        count, size = rows.shape[:2]
        # the last rows: a ring, newest last
        filled = self.filled[slots, 0]
        total = filled + size
        growing = total <= capacity  # the new rows go after the old ones
        who, which = np.nonzero(np.broadcast_to(growing[:, None], (count, size)))
        at = filled[who] + which
        self.recent[slots[who], 0, at] = rows[who, which]
        self.recent_answers[slots[who], 0, at] = answers[who, which]
        full = filled >= capacity  # the ring moves by the new rows
        if full.any():
            moving, keep = slots[full], max(capacity - size, 0)
            new = rows[full, size - (capacity - keep) :]
            new_answers = answers[full, size - (capacity - keep) :]
            if keep:
                self.recent[moving, 0, :keep] = self.recent[moving, 0, capacity - keep :]
                self.recent_answers[moving, 0, :keep] = self.recent_answers[
                    moving, 0, capacity - keep :
                ]
            self.recent[moving, 0, keep:] = new
            self.recent_answers[moving, 0, keep:] = new_answers
        filling = ~growing & ~full  # the last ``capacity`` of the old rows and the new ones
        if filling.any():
            part = np.flatnonzero(filling)
            slot = np.arange(capacity)[None, :]
            place = (total[part] - capacity)[:, None] + slot  # in (old rows, new rows)
            source = np.where(
                place < filled[part, None], place, capacity + place - filled[part, None]
            )
            pick = np.arange(len(part))[:, None]
            kept = np.concatenate([self.recent[slots[part], 0], rows[part]], axis=1)
            self.recent[slots[part], 0] = kept[pick, source]
            kept_answers = np.concatenate(
                [self.recent_answers[slots[part], 0], answers[part]], axis=1
            )
            self.recent_answers[slots[part], 0] = kept_answers[pick, source]
        self.filled[slots, 0] = np.minimum(total, capacity)
        # a uniform reservoir of the history (Algorithm R: row t of the history replaces a
        # uniform slot of t + 1 when the slot is within the reservoir; a later row that draws
        # the same slot overwrites an earlier one, as one by one it would)
        seen = self.remembered[slots]
        self.remembered[slots] += size
        free = capacity - self.filled[slots, 1]
        direct = np.minimum(free, size)
        step = np.arange(size)[None, :]
        counts = seen[:, None] + step
        draws = (self._rng.random((count, size)) * (counts + 1)).astype(np.int64)
        target = np.where(step < direct[:, None], self.filled[slots, 1][:, None] + step, draws)
        who, which = np.nonzero(target < capacity)
        key = who * capacity + target[who, which]
        _, last = np.unique(key[::-1], return_index=True)  # each slot: its last writer
        who, which = who[len(key) - 1 - last], which[len(key) - 1 - last]
        at = target[who, which]
        self.recent[slots[who], 1, at] = rows[who, which]
        self.recent_answers[slots[who], 1, at] = answers[who, which]
        self.reservoir_index[slots[who], at] = counts[who, which]
        self.filled[slots, 1] += direct
        # the nearest-earlier distances of new queries (PRADA), a ring of the last ones
        ring = self.config.distances
        finite = np.isfinite(d1)
        number = finite.sum(axis=1)
        rank = np.cumsum(finite, axis=1) - 1 - np.maximum(number - ring, 0)[:, None]
        who, which = np.nonzero(finite & (rank >= 0))
        if len(who):
            where = (self.distance_count[slots[who]] + rank[who, which]) % ring
            self.distance_ring[slots[who], where] = d1[who, which].astype(np.float16)
        self.distance_count[slots] += np.minimum(number, ring)

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

        def digits(k: int, n: int, floor: str) -> Floats:
            return rate_digits(total[:, k], total[:, n], floors[floor])

        kinds = {
            "out_of_distribution": digits(OOD, DISTINCT, "ood"),
            "membership": digits(HITS, HASHED, "hits"),
            "probing": np.maximum.reduce(
                [
                    digits(FLIPS, ANSWERED, "flips"),
                    digits(EDGE, ANSWERED, "edge"),
                    digits(NEAR, NOVEL, "near"),
                ]
            ),
            "extraction": np.zeros(len(total)),
        }
        copula = self.reference.copula
        if copula is not None and "llr" in nulls:
            llr, _ = _llr_verdict(
                self.config, copula.llr_std, nulls, total[:, LLR_N], total[:, LLR_SUM],
                total[:, LLR_SQ],
            )  # fmt: skip
            extraction = np.maximum(llr, digits(LOW, DISTINCT, "low"))
            kinds["extraction"] = np.where(total[:, LLR_N] >= 1, extraction, 0.0)
        listed = {kind: values.tolist() for kind, values in kinds.items()}
        return {
            UNKNOWN if name == UNKNOWN_CLIENT else name: {
                kind: round(values[slot], 2) for kind, values in listed.items()
            }
            for slot, name in enumerate(self.ids)
        }

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
            recent=self.recent[:size],
            recent_answers=self.recent_answers[:size],
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
        for name in meta["ids"]:
            detector.intake.slot(name)
        detector.clock = float(meta["clock"])
        for name, array in arrays.items():
            setattr(detector, name, array.copy())
        detector.recent = detector.recent.astype(np.float16)
        detector.recent_answers = detector.recent_answers.astype(np.float16)
        if len(detector.ids) != len(detector.first):
            raise ValueError("payload detector state: client ids and arrays disagree")
        return detector


_STATE_ARRAYS = (
    "total", "decayed", "first", "last", "flagged", "recent", "recent_answers", "filled",
    "remembered", "reservoir_index", "distance_ring", "distance_count",
)  # fmt: skip
_CHUNK_ROWS = 50_000
_GROUP_CELLS = 1 << 22
"""Distances (or history values) computed at once for a group of clients: 16 MB of float32."""
_FACT_COLUMNS = {
    "ood": OOD, "distinct": DISTINCT, "assessed": ASSESSED, "novel": NOVEL, "near": NEAR,
    "answered": ANSWERED, "flips": FLIPS, "edge": EDGE, "hashed": HASHED, "hits": HITS,
    "low": LOW,
}  # fmt: skip
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


@dataclass(frozen=True)
class RawChunk:
    """Rows as read, as arrays: their values (NaN where missing; a row of the wrong width all
    missing), where a value was of the wrong type (or its row of the wrong width), and each
    row's client (a slot of the intake's), time and answer (NaN without one)."""

    values: Floats
    wrong: Bools
    owner: npt.NDArray[np.int64]
    time: Floats
    answer: Floats


Batch = list["RawChunk | _Chunk"]
"""The rows scored together: a batch's chunks, in the order read (raw, or scored already)."""


def save_batch(path: Path, batch: Batch) -> None:
    """A batch of ``RawChunk``s as an uncompressed npz (no pickle), for a detector in another
    process (``load_batch``)."""
    names = [f.name for f in fields(RawChunk)]
    arrays = {f"{i}.{name}": getattr(chunk, name) for i, chunk in enumerate(batch)
              for name in names}  # fmt: skip
    with path.open("wb") as handle:
        np.savez(handle, **arrays)


def load_batch(path: Path) -> Batch:
    """The batch ``save_batch`` wrote; the file is removed once read."""
    names = [f.name for f in fields(RawChunk)]
    with np.load(path, allow_pickle=False) as saved:
        batch: Batch = [RawChunk(**{name: saved[f"{i}.{name}"] for name in names})
                        for i in range(len(saved.files) // len(names))]  # fmt: skip
    path.unlink()
    return batch


@dataclass
class _Pending:
    rows: RowBuffer = field(default_factory=RowBuffer)
    owners: list[int] = field(default_factory=list)
    """Per capture: its client's slot, time and row count (rows share them)."""
    times: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    answers: list[float] = field(default_factory=list)
    bad: list[int] = field(default_factory=list)
    """Rows of the wrong width."""


class BatchIntake:
    """The detector's reading half: captures in, closed batches of rows as arrays out, and
    each client's slot (its place in the detector's arrays, in the order first seen). A batch
    closes when a capture comes ``batch_seconds`` after the batch's first, or at
    ``batch_rows``. Cheap next to the scoring, so that ``inspect-capture --jobs 2`` can read in
    one process and score in the other, with the same batches as one process makes.
    ``convert``, when given, is applied to each chunk as it is cut."""

    def __init__(
        self,
        width: int,
        positions: npt.NDArray[np.intp],
        config: DetectorConfig,
        convert: Callable[[RawChunk], _Chunk] | None = None,
    ) -> None:
        self.width, self.positions, self.config = width, positions, config
        self._convert = convert
        self.index: dict[str, int] = {}
        self.ids: list[str] = []
        self._pending = _Pending()
        self._chunks: Batch = []
        self._size = 0
        self._start: float | None = None

    def slot(self, name: str) -> int:
        found = self.index.get(name)
        if found is None:
            found = self.index[name] = len(self.ids)
            self.ids.append(name)
        return found

    def add(self, capture: Capture) -> list[Batch]:
        """Take one capture; the batches it closed (most often none)."""
        closed = []
        if self._start is None:
            self._start = capture.time
        elif capture.time >= self._start + self.config.batch_seconds:
            closed = self.close()
            self._start = capture.time
        slot = self.slot(capture.client_id)
        outputs = capture.outputs if len(capture.outputs) == len(capture.rows) else None
        width, pending, rows, matrix = self.width, self._pending, capture.rows, capture.matrix
        n = len(rows)
        if matrix is not None and matrix.shape[1] == width:
            pending.rows.add_matrix(matrix)
        else:
            fixed: list[list[Any]] = []
            for row in rows:
                if len(row) != width:
                    pending.bad.append(pending.rows.rows + len(fixed))
                    row = [None] * width  # a row of the wrong width: a violation
                fixed.append(row)
            pending.rows.add_rows(fixed)
        pending.owners.append(slot)
        pending.times.append(capture.time)
        pending.sizes.append(n)
        pending.answers.extend(outputs if outputs is not None else [math.nan] * n)
        if pending.rows.rows >= _CHUNK_ROWS:
            self._chunk()
            if self._size >= self.config.batch_rows:
                closed.append(self._take())
        return closed

    def close(self) -> list[Batch]:
        """The pending rows' batch, if any; the next capture starts a new one."""
        self._chunk()
        self._start = None
        return [self._take()] if self._size else []

    def _take(self) -> Batch:
        batch, self._chunks, self._size = self._chunks, [], 0
        return batch

    def _chunk(self) -> None:
        pending = self._pending
        if not pending.rows.rows:
            return
        values, wrong = pending.rows.arrays(self.positions)
        wrong[pending.bad] = True
        sizes = np.asarray(pending.sizes, dtype=np.int64)
        chunk = RawChunk(
            values=values,
            wrong=wrong,
            owner=np.repeat(np.asarray(pending.owners, dtype=np.int64), sizes),
            time=np.repeat(np.asarray(pending.times, dtype=np.float64), sizes),
            answer=np.asarray(pending.answers, dtype=np.float64),
        )
        self._chunks.append(self._convert(chunk) if self._convert else chunk)
        self._size += pending.rows.rows
        self._pending = _Pending()


@dataclass(frozen=True)
class _Rows:
    """A batch's rows: per row its normal scores, LLR, violation, client, time and answer;
    ``order`` sorts them by client, then time."""

    z: npt.NDArray[np.float32]
    llr: Floats | None
    violating: Bools
    owner: npt.NDArray[np.int64]
    when: Floats
    answer: Floats
    order: npt.NDArray[np.int64]


@dataclass
class _Assessed:
    """``_assess``'s clients (distinct ``slots``, one segment of ``order`` each): their counters,
    first and last times, and each one's ``_Events``, built only for the clients judged."""

    slots: npt.NDArray[np.int64]
    counts: Floats
    first: Floats
    last: Floats
    order: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]
    when: Floats
    groups: list[tuple[npt.NDArray[np.int64], dict[str, Bools], Floats | None]] = field(
        default_factory=list
    )
    """(positions in the segments of the sampled rows, facts, LLR) of each group."""
    _where: dict[int, tuple[int, int]] = field(default_factory=dict)

    def add(
        self,
        members: npt.NDArray[np.int64],
        positions: npt.NDArray[np.int64],
        facts: dict[str, Bools],
        llr_rows: Floats | None,
    ) -> None:
        """The facts of the segments ``members``, one row each."""
        number = len(self.groups)
        self.groups.append((positions, facts, llr_rows))
        for row, member in enumerate(members.tolist()):
            self._where[member] = (number, row)
        counts = self.counts[members]
        for name, column in _FACT_COLUMNS.items():
            counts[:, column] = facts[name].sum(axis=1)
        if llr_rows is not None:
            counts[:, LLR_N] = facts["distinct"].sum(axis=1)
            counts[:, LLR_SUM] = llr_rows.sum(axis=1)
            counts[:, LLR_SQ] = (llr_rows**2).sum(axis=1)
        self.counts[members] = counts

    def events(self, slot: int) -> _Events:
        member = int(np.searchsorted(self.slots, slot))
        number, row = self._where[member]
        positions, facts, llr_rows = self.groups[number]
        start, n = int(self.starts[member]), int(self.lengths[member])
        return _Events(
            times=self.when[self.order[start : start + n]],
            sample_positions=positions[row],
            llr=llr_rows[row] if llr_rows is not None else None,
            **{name: values[row] for name, values in facts.items()},
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

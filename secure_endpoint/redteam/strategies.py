"""Oracle-based attacks on a tabular binary classifier, step by step.

An oracle answers rows with the positive-class probability, or raises ``Stopped`` (the endpoint
refused: a 400, a 429, a quarantine, a 403). A ``Strategy`` never calls the oracle itself: it
proposes the next batch of rows (``next_queries``), is told the answers (``observe``), says when
it has finished (``done``) and what it achieved (``report``). That lets the traffic simulator
pace it inside a usage plan, hour by hour, and ``secure-endpoint attack`` loop it against an
endpoint (``run``). What a strategy may know of the model's input is a ``Knowledge``: what the
public API documentation would say (feature names, kinds, bounds, decimals), a few natural rows,
per-feature samples of the marginals, and, for membership probing only, candidate training rows.

Strategies, keyed ``<kind>:<name>`` in ``STRATEGIES``:

- ``extraction:marginal``: each feature drawn independently from its marginal (plausible
  feature by feature, wrong jointly); ``extraction:uniform``: uniform in the documented bounds;
  ``extraction:synthetic``: a few seed rows grown by Jacobian-sign augmentation of the
  surrogate plus a gaussian jitter (Papernot et al. 2017, as PRADA, Juuti et al. 2019,
  describes the attacks it catches); ``extraction:active``: rows its surrogate is least sure
  of. Each fits a scikit-learn surrogate on (queries, answers); with a ``judge`` (an oracle that
  is not counted, such as the local model) the report holds the surrogate's agreement with the
  target on held-out natural rows against the number of queries.
- ``boundary:hopskipjump``: decision-based (labels only): from a row of the other label, binary
  searches toward the target row, then estimates the boundary's normal from the labels of
  random probes and steps along it with shrinking steps (after HopSkipJump, Chen et al. 2020);
  ``boundary:coordinate``: score-based, one feature at a time, keeping changes that move the
  probability toward the threshold and halving the step when none does (after SimBA, Guo et
  al. 2019). Both report the queries needed to flip each target's prediction.
- ``ood:impossible`` (values out of the bounds, negative counts, fractions in integer
  features), ``ood:onehot`` (invalid one-hot groups), ``ood:extreme`` (extreme values within
  the bounds).
- ``membership:exact`` (candidate training rows replayed among non-members, to calibrate a
  confidence threshold), ``membership:perturbed`` (tiny perturbations of them, label-only
  membership inference after Choquette-Choo et al. 2021).

Deterministic given the ``rng``. numpy only; the surrogate imports scikit-learn when it is
first fitted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Oracle = Callable[[Floats], Floats]
"""Rows ``(n, d)`` to positive-class probabilities ``(n,)``; raises ``Stopped``."""
Asking = Generator[Floats, Floats, Floats]
"""A sub-generator that yields batches of rows and returns the answers to all of them."""

KINDS = ("extraction", "boundary", "ood", "membership")
FINDING_KINDS = {
    "extraction": "extraction",
    "boundary": "probing",
    "ood": "out_of_distribution",
    "membership": "membership",
}
"""The detector's finding kind for each strategy kind."""

FeatureKind = Literal["numeric", "integer", "binary", "onehot"]


class Stopped(Exception):
    """The oracle refused: ``reason`` is ``invalid_body`` (400), ``throttled`` (429),
    ``quarantined``, ``forbidden`` (403), ``unauthorized`` (401) or what the caller saw."""

    def __init__(self, reason: str, status: int | None = None, detail: str = "") -> None:
        super().__init__(f"{reason}{f' ({status})' if status is not None else ''}"
                         f"{f': {detail}' if detail else ''}")  # fmt: skip
        self.reason = reason
        self.status = status
        self.detail = detail


# --- knowledge ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureInfo:
    """One input column as the API documentation would state it. ``lo``/``hi`` are the
    documented bounds (infinite when it states none); ``group`` names the one-hot group of an
    ``onehot`` column."""

    name: str
    kind: FeatureKind = "numeric"
    lo: float = -math.inf
    hi: float = math.inf
    decimals: int = 4
    group: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("numeric", "integer", "binary", "onehot"):
            raise ValueError(f"feature {self.name!r}: kind {self.kind!r} is not one of "
                             "numeric, integer, binary, onehot")  # fmt: skip
        if self.kind == "onehot" and not self.group:
            raise ValueError(f"feature {self.name!r}: a onehot feature needs its group")
        if not self.lo <= self.hi:
            raise ValueError(f"feature {self.name!r}: lo {self.lo} is above hi {self.hi}")

    @property
    def integer(self) -> bool:
        return self.kind != "numeric"


@dataclass(frozen=True, eq=False)
class Knowledge:
    """What an attacker knows: the features, a few natural ``seed_rows``, ``marginals`` (rows
    whose columns are each a sample of that feature's marginal; only the columns are used, not
    the rows' joint structure, except within a one-hot group), ``holdout`` natural rows to score
    a surrogate on, and for membership probing ``candidates`` (training rows) and
    ``non_members`` (natural rows that are not). ``threshold``: the positive label's."""

    features: tuple[FeatureInfo, ...]
    seed_rows: Floats
    marginals: Floats
    holdout: Floats | None = None
    candidates: Floats | None = None
    non_members: Floats | None = None
    threshold: float = 0.5

    def __post_init__(self) -> None:
        d = len(self.features)
        if d == 0:
            raise ValueError("knowledge needs at least one feature")
        for field_name in ("seed_rows", "marginals", "holdout", "candidates", "non_members"):
            value = getattr(self, field_name)
            if value is None:
                continue
            array = np.asarray(value, dtype=np.float64)
            if array.ndim != 2 or array.shape[1] != d or len(array) == 0:
                raise ValueError(f"knowledge {field_name}: expected a non-empty (n, {d}) array, "
                                 f"got shape {array.shape}")  # fmt: skip
            object.__setattr__(self, field_name, array)
        if len(self.marginals) < 2:
            raise ValueError("knowledge marginals: need at least 2 rows")
        if not 0 < self.threshold < 1:
            raise ValueError(f"knowledge threshold must be in (0, 1), got {self.threshold}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def width(self) -> int:
        return len(self.features)

    @cached_property
    def lo(self) -> Floats:
        return np.array([f.lo for f in self.features])

    @cached_property
    def hi(self) -> Floats:
        return np.array([f.hi for f in self.features])

    @cached_property
    def low(self) -> Floats:
        """Finite lower bounds: the documented ones, else the marginals' minimum."""
        return np.where(np.isfinite(self.lo), self.lo, self.marginals.min(axis=0))

    @cached_property
    def high(self) -> Floats:
        """Finite upper bounds: the documented ones, else the marginals' maximum."""
        return np.where(np.isfinite(self.hi), self.hi, self.marginals.max(axis=0))

    @cached_property
    def decimals(self) -> Ints:
        return np.array([0 if f.integer else f.decimals for f in self.features], dtype=np.int64)

    @cached_property
    def integer(self) -> Bools:
        return np.array([f.integer for f in self.features])

    @cached_property
    def binary(self) -> Bools:
        return np.array([f.kind == "binary" for f in self.features])

    @cached_property
    def groups(self) -> dict[str, Ints]:
        """One-hot groups: their columns."""
        out: dict[str, list[int]] = {}
        for i, f in enumerate(self.features):
            if f.kind == "onehot":
                assert f.group is not None
                out.setdefault(f.group, []).append(i)
        return {name: np.array(columns, dtype=np.int64) for name, columns in out.items()}

    @cached_property
    def mutable(self) -> Ints:
        """Columns a search moves freely (all but the one-hot groups)."""
        return np.array([i for i, f in enumerate(self.features) if f.kind != "onehot"],
                        dtype=np.int64)  # fmt: skip

    @cached_property
    def continuous(self) -> Ints:
        """Numeric and count columns (not binary, not one-hot)."""
        return np.array([i for i, f in enumerate(self.features)
                         if f.kind in ("numeric", "integer")], dtype=np.int64)  # fmt: skip

    @cached_property
    def scale(self) -> Floats:
        """Each feature's spread (the marginals' standard deviation; 1 where that is 0)."""
        std = self.marginals.std(axis=0)
        return np.where(std > 0, std, 1.0)

    def valid(self, rows: Floats) -> Floats:
        """``rows`` clipped to the documented bounds and rounded to each feature's decimals."""
        out = np.clip(np.asarray(rows, dtype=np.float64), self.lo, self.hi)
        return self.rounded(out)

    def rounded(self, rows: Floats) -> Floats:
        out = np.array(rows, dtype=np.float64, copy=True, ndmin=2)
        for decimals in np.unique(self.decimals).tolist():
            columns = self.decimals == decimals
            out[:, columns] = np.round(out[:, columns], int(decimals))
        return out

    def sample_marginals(self, rng: np.random.Generator, n: int) -> Floats:
        """``n`` rows, each column drawn independently from its marginal (a one-hot group is
        drawn as one, so that it stays valid)."""
        m, d = self.marginals.shape
        picks = rng.integers(0, m, size=(n, d))
        rows: Floats = self.marginals[picks, np.arange(d)]
        for columns in self.groups.values():
            whole = rng.integers(0, m, size=n)
            rows[:, columns] = self.marginals[whole][:, columns]
        return rows

    def distance(self, a: Floats, b: Floats) -> Floats:
        """Root mean square of ``a - b`` over the mutable columns, in each feature's spread."""
        delta = (np.atleast_2d(a) - np.atleast_2d(b))[:, self.mutable] / self.scale[self.mutable]
        result: Floats = np.sqrt((delta**2).mean(axis=1))
        return result

    @classmethod
    def from_rows(
        cls,
        names: Sequence[str],
        rows: Floats,
        rng: np.random.Generator,
        *,
        seed_rows: int = 5,
        holdout_rows: int = 1_000,
        threshold: float = 0.5,
    ) -> Knowledge:
        """Knowledge inferred from natural rows (a training CSV, say): kinds from the values
        (columns of 0/1 sharing a ``prefix_`` whose rows sum to one are a one-hot group),
        bounds the observed range, decimals the fewest that write every value. The rows are
        shuffled and split into seed rows, holdout rows and marginals."""
        data = np.asarray(rows, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] != len(names) or len(data) < seed_rows + 2:
            raise ValueError(f"from_rows: expected ({len(names)} columns, at least "
                             f"{seed_rows + 2} rows), got shape {data.shape}")  # fmt: skip
        data = data[rng.permutation(len(data))]
        binary = [bool(np.isin(data[:, j], (0.0, 1.0)).all()) for j in range(len(names))]
        prefixes: dict[str, list[int]] = {}
        for j, name in enumerate(names):
            if binary[j] and "_" in name:
                prefixes.setdefault(name.rsplit("_", 1)[0], []).append(j)
        group_of: dict[int, str] = {}
        for prefix, columns in prefixes.items():
            if len(columns) > 1 and np.allclose(data[:, columns].sum(axis=1), 1.0):
                group_of.update({j: prefix for j in columns})
        features = []
        for j, name in enumerate(names):
            column = data[:, j]
            decimals = next((k for k in range(7) if np.allclose(column * 10**k,
                             np.round(column * 10**k), atol=1e-6)), 6)  # fmt: skip
            kind: FeatureKind
            if j in group_of:
                kind = "onehot"
            elif binary[j]:
                kind = "binary"
            elif decimals == 0:
                kind = "integer"
            else:
                kind = "numeric"
            features.append(FeatureInfo(name, kind, float(column.min()), float(column.max()),
                                        decimals, group_of.get(j)))  # fmt: skip
        seed = data[:seed_rows]
        rest = data[seed_rows:]
        holdout = rest[:holdout_rows] if len(rest) > holdout_rows + 2 else None
        marginals = rest[holdout_rows:] if holdout is not None else rest
        return cls(tuple(features), seed, marginals, holdout, threshold=threshold)

    @classmethod
    def from_simulator(
        cls,
        rng: np.random.Generator,
        *,
        training_rows: Floats | None = None,
        seed_rows: int = 5,
        marginal_rows: int = 2_000,
        holdout_rows: int = 1_000,
        candidates: int = 200,
    ) -> Knowledge:
        """What an attacker knows of the capture simulator's model: its documented features,
        natural rows drawn from its population (not training rows), and with ``training_rows``
        ``candidates`` of them and as many non-members (needs ``secure-endpoint[simulate]``)."""
        from secure_endpoint.simulate.capture import population as pop

        kinds: dict[str, FeatureKind] = {"normal": "numeric", "lognormal": "numeric",
                                         "bounded": "numeric", "count": "integer",
                                         "binary": "binary", "onehot": "onehot"}  # fmt: skip
        features = []
        for f in pop.FEATURES:
            lo = float(f.lo)
            if f.kind == "lognormal":
                lo = 0.0
            elif f.kind == "count":
                lo = float(f.offset)
            elif f.kind in ("binary", "onehot"):
                lo = 0.0
            hi = 1.0 if f.kind in ("binary", "onehot") else float(f.hi)
            features.append(FeatureInfo(f.name, kinds[f.kind], lo, hi, f.decimals,
                                        "region" if f.kind == "onehot" else None))  # fmt: skip
        training = pop.SubPopulation.training()
        natural = pop.sample(rng, seed_rows + marginal_rows + holdout_rows, training)
        members = non_members = None
        if training_rows is not None and candidates > 0:
            take = rng.choice(len(training_rows), size=min(candidates, len(training_rows)),
                              replace=False)  # fmt: skip
            members = np.asarray(training_rows, dtype=np.float64)[take]
            non_members = pop.sample(rng, len(members), training)
        return cls(
            tuple(features),
            natural[:seed_rows],
            natural[seed_rows : seed_rows + marginal_rows],
            natural[seed_rows + marginal_rows :] if holdout_rows else None,
            members,
            non_members,
        )


# --- the strategy protocol ------------------------------------------------------------------------


class Strategy:
    """A step-wise attack. Subclasses set ``kind`` and ``name`` and write ``_queries``, a
    generator that yields each batch of rows and receives its answers (``answers = yield
    rows``); this class turns it into ``next_queries`` / ``observe`` and stops it after
    ``max_queries`` rows. ``step`` describes the pending batch (ground truth for a simulator)."""

    kind: ClassVar[str]
    name: ClassVar[str]

    def __init__(
        self,
        knowledge: Knowledge,
        rng: np.random.Generator,
        *,
        max_queries: int = 1_000,
        batch: int = 1,
    ) -> None:
        if max_queries < 1:
            raise ValueError(f"{self.key}: max_queries must be >= 1, got {max_queries}")
        if batch < 1:
            raise ValueError(f"{self.key}: batch must be >= 1, got {batch}")
        self.knowledge = knowledge
        self.rng = rng
        self.max_queries = max_queries
        self.batch = batch
        self.queries = 0
        """Rows answered so far."""
        self.step: dict[str, Any] = {}
        self._generator: Generator[Floats, Floats, None] | None = None
        self._pending: Floats | None = None
        self._exhausted = False

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"

    def _queries(self) -> Generator[Floats, Floats, None]:
        raise NotImplementedError

    def _ask(self, rows: Floats) -> Asking:
        """Yield ``rows`` in batches of ``batch``; return all their answers."""
        answers = []
        for start in range(0, len(rows), self.batch):
            answer = yield rows[start : start + self.batch]
            answers.append(np.asarray(answer, dtype=np.float64))
        return np.concatenate(answers) if answers else np.empty(0)

    def _record(self, rows: Floats, answers: Floats) -> None:
        """Called with every observed batch (subclasses keep what they report)."""

    def _advance(self, answers: Floats | None) -> None:
        assert self._generator is not None
        try:
            rows = next(self._generator) if answers is None else self._generator.send(answers)
        except StopIteration:
            self._exhausted, self._pending = True, None
            return
        rows = np.array(rows, dtype=np.float64, ndmin=2)
        if rows.shape[1] != self.knowledge.width or len(rows) == 0:
            raise RuntimeError(f"{self.key} proposed rows of shape {rows.shape}")
        self._pending = rows[: self.max_queries - self.queries]

    def _prime(self) -> None:
        if self._generator is None:
            self._generator = self._queries()
            self._advance(None)

    def done(self) -> bool:
        self._prime()
        return self._exhausted or self.queries >= self.max_queries

    def next_queries(self) -> Floats:
        """The next rows to send (empty when done); the same rows until they are observed."""
        if self.done() or self._pending is None:
            return np.empty((0, self.knowledge.width))
        return self._pending.copy()

    def observe(self, rows: Floats, answers: Floats) -> None:
        """The oracle's ``answers`` to ``rows`` (the rows ``next_queries`` gave)."""
        self._prime()
        rows = np.asarray(rows, dtype=np.float64)
        answers = np.asarray(answers, dtype=np.float64).reshape(-1)
        if self._pending is None or rows.shape != self._pending.shape:
            raise ValueError(f"{self.key}: observe() expects the rows next_queries() gave "
                             f"({None if self._pending is None else self._pending.shape}), "
                             f"got shape {rows.shape}")  # fmt: skip
        if len(answers) != len(rows):
            raise ValueError(f"{self.key}: {len(rows)} rows but {len(answers)} answers")
        self.queries += len(rows)
        self._record(rows, answers)
        if self.queries >= self.max_queries:
            self._pending = None
            return
        self._advance(answers)

    def report(self) -> dict[str, Any]:
        return {"strategy": self.key, "queries": self.queries}


def run(strategy: Strategy, oracle: Oracle) -> dict[str, Any]:
    """Loop ``strategy`` against ``oracle`` until it is done or the oracle stops it; its report
    with ``stopped`` (``{"reason", "status", "detail", "queries"}`` or None)."""
    stopped: Stopped | None = None
    while not strategy.done():
        rows = strategy.next_queries()
        try:
            answers = np.asarray(oracle(rows), dtype=np.float64)
        except Stopped as refusal:
            stopped = refusal
            break
        strategy.observe(rows, answers)
    report = strategy.report()
    report["stopped"] = None if stopped is None else {
        "reason": stopped.reason, "status": stopped.status, "detail": stopped.detail,
        "queries": strategy.queries,
    }  # fmt: skip
    return report


def _logit(p: Floats) -> Floats:
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    result: Floats = np.log(q / (1 - q))
    return result


def _auc(positive: Floats, negative: Floats) -> float | None:
    """P(a positive scores above a negative), ties half (Mann-Whitney)."""
    if len(positive) == 0 or len(negative) == 0:
        return None
    scores = np.concatenate([positive, negative])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # average ranks of ties
        tied = scores == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    u = ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2
    return float(u / (len(positive) * len(negative)))


# --- extraction -----------------------------------------------------------------------------------

CHECKPOINTS = (10, 25, 50, 100, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 7_500,
               10_000, 15_000, 20_000)  # fmt: skip


class Surrogate:
    """The attacker's copy: a gradient-boosted regressor of the answers' log-odds (scikit-learn,
    imported at the first fit), or their mean while there are too few answers."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.model: Any = None
        self.constant = 0.0

    def fit(self, rows: Floats, answers: Floats) -> None:
        target = _logit(answers)
        self.constant = float(target.mean()) if len(target) else 0.0
        if len(rows) < 10 or np.ptp(target) == 0:
            self.model = None
            return
        from sklearn.ensemble import HistGradientBoostingRegressor
        from threadpoolctl import threadpool_limits

        model = HistGradientBoostingRegressor(
            max_iter=100,
            learning_rate=0.1,
            max_leaf_nodes=15,
            min_samples_leaf=min(20, max(2, len(rows) // 10)),
            early_stopping=False,
            random_state=self.seed,
        )
        # One thread: OpenMP threads on a shared small machine make a fit of a thousand rows
        # take seconds instead of a tenth of one.
        with threadpool_limits(1):
            self.model = model.fit(rows, target)

    def logit(self, rows: Floats) -> Floats:
        if self.model is None:
            return np.full(len(rows), self.constant)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            result: Floats = np.asarray(self.model.predict(rows), dtype=np.float64)
        return result

    def proba(self, rows: Floats) -> Floats:
        result: Floats = 1.0 / (1.0 + np.exp(-self.logit(rows)))
        return result


class _Extraction(Strategy):
    """Keeps every (query, answer), fits the surrogate on demand (on at most ``fit_rows`` of
    them, drawn at random, so that a long run's refits stay cheap), and with a ``judge`` scores
    its agreement with the target on ``knowledge.holdout`` at each of ``checkpoints``."""

    kind = "extraction"

    def __init__(
        self,
        knowledge: Knowledge,
        rng: np.random.Generator,
        *,
        max_queries: int = 2_000,
        batch: int = 1,
        judge: Oracle | None = None,
        checkpoints: Sequence[int] = CHECKPOINTS,
        fit_rows: int = 5_000,
    ) -> None:
        super().__init__(knowledge, rng, max_queries=max_queries, batch=batch)
        self.judge = judge
        self.fit_rows = fit_rows
        self.checkpoints = sorted(set(checkpoints))
        self.curve: list[tuple[int, float]] = []
        self.surrogate = Surrogate(int(rng.integers(2**31)))
        self._rows: list[Floats] = []
        self._answers: list[Floats] = []
        self._fitted_at = -1
        self._truth: Bools | None = None

    def _record(self, rows: Floats, answers: Floats) -> None:
        before = self.queries - len(rows)
        self._rows.append(rows)
        self._answers.append(answers)
        if (
            self.judge is not None
            and self.knowledge.holdout is not None
            and any(before < c <= self.queries for c in self.checkpoints)
        ):
            agreement = self.agreement()
            assert agreement is not None
            self.curve.append((self.queries, agreement))

    def seen(self) -> tuple[Floats, Floats]:
        if not self._rows:
            return np.empty((0, self.knowledge.width)), np.empty(0)
        return np.concatenate(self._rows), np.concatenate(self._answers)

    def refit(self) -> None:
        if self._fitted_at != self.queries:
            rows, answers = self.seen()
            if len(rows) > self.fit_rows:
                keep = self.rng.choice(len(rows), self.fit_rows, replace=False)
                rows, answers = rows[keep], answers[keep]
            self.surrogate.fit(rows, answers)
            self._fitted_at = self.queries

    def agreement(self) -> float | None:
        """The share of holdout rows on which the surrogate's label is the target's."""
        holdout = self.knowledge.holdout
        if self.judge is None or holdout is None:
            return None
        threshold = self.knowledge.threshold
        if self._truth is None:
            self._truth = np.asarray(self.judge(holdout)) >= threshold
        self.refit()
        return float(((self.surrogate.proba(holdout) >= threshold) == self._truth).mean())

    def report(self) -> dict[str, Any]:
        report = super().report()
        agreement = self.agreement()
        if agreement is not None:
            assert self._truth is not None
            curve = list(self.curve)
            if not curve or curve[-1][0] != self.queries:
                curve.append((self.queries, agreement))
            positive = float(self._truth.mean())
            report.update(
                agreement=round(agreement, 4),
                curve=[[q, round(a, 4)] for q, a in curve],
                constantAgreement=round(max(positive, 1 - positive), 4),
                holdoutRows=len(self._truth),
            )
        return report


class Marginal(_Extraction):
    """Each feature drawn independently from its marginal."""

    name = "marginal"

    def _queries(self) -> Generator[Floats, Floats, None]:
        self.step = {"phase": "sample"}
        while True:
            yield self.knowledge.valid(self.knowledge.sample_marginals(self.rng, self.batch))


class Uniform(_Extraction):
    """Uniform in the documented bounds (the marginals' range where none is documented); a
    valid one-hot group, binaries 0 or 1."""

    name = "uniform"

    def _queries(self) -> Generator[Floats, Floats, None]:
        k = self.knowledge
        self.step = {"phase": "sample"}
        while True:
            rows = k.low + (k.high - k.low) * self.rng.random((self.batch, k.width))
            rows[:, k.binary] = self.rng.integers(0, 2, (self.batch, int(k.binary.sum())))
            for columns in k.groups.values():
                rows[:, columns] = 0.0
                rows[np.arange(self.batch), self.rng.choice(columns, self.batch)] = 1.0
            yield k.valid(rows)


class Synthetic(_Extraction):
    """Seed rows, then rounds of augmentation: each picked row moves ``step`` spreads along the
    sign of the surrogate's finite-difference gradient (the sign alternating every ``tau``
    rounds, as Papernot et al.'s reservoir), plus a gaussian jitter of ``jitter`` spreads. A
    round picks half the rows so far (at least ``per_round``, at most ``max_round``): the set
    grows geometrically, as in Papernot et al., with few refits."""

    name = "synthetic"

    def __init__(
        self,
        knowledge: Knowledge,
        rng: np.random.Generator,
        *,
        step: float = 0.3,
        jitter: float = 0.1,
        per_round: int = 50,
        max_round: int = 1_000,
        tau: int = 3,
        **params: Any,
    ) -> None:
        super().__init__(knowledge, rng, **params)
        self.step_size, self.jitter, self.per_round, self.tau = step, jitter, per_round, tau
        self.max_round = max_round

    def _gradient_sign(self, rows: Floats) -> Floats:
        k = self.knowledge
        columns = k.continuous
        h = 0.5 * k.scale[columns]
        n, c = len(rows), len(columns)
        up = np.repeat(rows, c, axis=0)
        down = up.copy()
        at = np.tile(np.arange(c), n)
        up[np.arange(n * c), columns[at]] += np.tile(h, n)
        down[np.arange(n * c), columns[at]] -= np.tile(h, n)
        diff = (self.surrogate.logit(up) - self.surrogate.logit(down)).reshape(n, c)
        sign = np.sign(diff)
        flat = sign == 0
        sign[flat] = self.rng.choice((-1.0, 1.0), int(flat.sum()))
        out = np.zeros_like(rows)
        out[:, columns] = sign * k.scale[columns]
        return out

    def _queries(self) -> Generator[Floats, Floats, None]:
        k = self.knowledge
        self.step = {"phase": "seed"}
        yield from self._ask(k.valid(k.seed_rows))
        round_ = 0
        while True:
            round_ += 1
            self.refit()
            seen, _ = self.seen()
            size = min(len(seen), max(self.per_round, min(self.max_round, len(seen) // 2)))
            picks = seen[self.rng.choice(len(seen), size, replace=False)]
            sign = 1.0 if (round_ // self.tau) % 2 == 0 else -1.0
            moved = picks + sign * self.step_size * self._gradient_sign(picks)
            noise = self.rng.standard_normal(picks.shape) * self.jitter * k.scale
            moved[:, k.continuous] += noise[:, k.continuous]
            self.step = {"phase": "augment", "round": round_}
            yield from self._ask(k.valid(moved))


class Active(_Extraction):
    """``warmup`` rows from the marginals, then rounds of the candidates (marginal rows and
    jittered earlier queries) whose surrogate log-odds are closest to the threshold's; a round
    is a third of the queries so far (25 to 200 rows), so refits stay few."""

    name = "active"

    def __init__(
        self,
        knowledge: Knowledge,
        rng: np.random.Generator,
        *,
        warmup: int = 50,
        pool: int = 2_000,
        **params: Any,
    ) -> None:
        super().__init__(knowledge, rng, **params)
        self.warmup, self.pool = warmup, pool

    def _queries(self) -> Generator[Floats, Floats, None]:
        k = self.knowledge
        self.step = {"phase": "warmup"}
        yield from self._ask(k.valid(k.sample_marginals(self.rng, self.warmup)))
        cut = float(_logit(np.array([k.threshold]))[0])
        round_ = 0
        while True:
            round_ += 1
            self.refit()
            seen, _ = self.seen()
            near = seen[self.rng.integers(0, len(seen), self.pool // 2)]
            near[:, k.continuous] += (
                self.rng.standard_normal((len(near), len(k.continuous))) * 0.3
                * k.scale[k.continuous]
            )  # fmt: skip
            pool = k.valid(np.concatenate([k.sample_marginals(self.rng, self.pool // 2), near]))
            take = min(200, max(25, self.queries // 3))
            closest = np.argsort(np.abs(self.surrogate.logit(pool) - cut))[:take]
            self.step = {"phase": "uncertain", "round": round_}
            yield from self._ask(pool[closest])


# --- boundary search ------------------------------------------------------------------------------


@dataclass
class _Target:
    index: int
    label: bool
    probability: float = 0.0
    queries: int = 0
    flipped: bool = False
    queries_to_flip: int | None = None
    distance: float | None = None
    """The closest row of the other label found, in RMS spreads (``Knowledge.distance``)."""


class _Boundary(Strategy):
    """Attacks targets one after another (the seed rows, then rows from the marginals), each
    for at most ``per_target`` queries, until ``max_queries``. A target is flipped when a row
    of the other label is found within ``epsilon`` of it (``Knowledge.distance``)."""

    kind = "boundary"

    def __init__(
        self,
        knowledge: Knowledge,
        rng: np.random.Generator,
        *,
        max_queries: int = 2_000,
        batch: int = 1,
        per_target: int = 400,
        epsilon: float = 0.1,
    ) -> None:
        super().__init__(knowledge, rng, max_queries=max_queries, batch=batch)
        self.per_target, self.epsilon = per_target, epsilon
        self.targets: list[_Target] = []

    def _record(self, rows: Floats, answers: Floats) -> None:
        if self.targets:
            self.targets[-1].queries += len(rows)

    def _label(self, answers: Floats) -> Bools:
        result: Bools = np.asarray(answers) >= self.knowledge.threshold
        return result

    def _target_rows(self) -> Generator[Floats, None, None]:
        k = self.knowledge
        yield from k.valid(k.seed_rows)
        while True:
            yield k.valid(k.sample_marginals(self.rng, 1))[0]

    def _queries(self) -> Generator[Floats, Floats, None]:
        for index, target in enumerate(self._target_rows()):
            self.step = {"phase": "target", "target": index}
            self.targets.append(_Target(index, False))
            answer = yield from self._ask(target[None])
            self.targets[-1].label = bool(self._label(answer)[0])
            self.targets[-1].probability = float(answer[0])
            yield from self._attack(target, self.targets[-1])

    def _attack(self, target: Floats, state: _Target) -> Generator[Floats, Floats, None]:
        raise NotImplementedError

    def _found(self, state: _Target, row: Floats, target: Floats) -> bool:
        """Note an adversarial ``row``; True when it is within ``epsilon`` (a flip)."""
        d = float(self.knowledge.distance(row, target)[0])
        if state.distance is None or d < state.distance:
            state.distance = d
        if d <= self.epsilon and not state.flipped:
            state.flipped, state.queries_to_flip = True, state.queries
        return state.flipped

    def report(self) -> dict[str, Any]:
        report = super().report()
        flips = [t.queries_to_flip for t in self.targets if t.queries_to_flip is not None]
        report.update(
            targets=len(self.targets), flipped=len(flips),
            epsilon=self.epsilon if math.isfinite(self.epsilon) else None,  # JSON has no inf
            queriesToFlip=flips,
            medianQueriesToFlip=float(np.median(flips)) if flips else None,
            firstFlipAt=self._first_flip_at(),
            distances=[None if t.distance is None else round(t.distance, 4)
                       for t in self.targets],
        )  # fmt: skip
        return report

    def _first_flip_at(self) -> int | None:
        total = 0
        for t in self.targets:
            if t.queries_to_flip is not None:
                return total + t.queries_to_flip
            total += t.queries
        return None


class HopSkipJump(_Boundary):
    """Decision-based: labels only. Start from a row of the other label (rows from the
    marginals with the target's one-hot group, at most ``start_tries``), binary search to the
    boundary, then repeat: estimate the boundary's normal from ``probes * sqrt(iteration)``
    labelled random probes (at most ``max_probes``) around the boundary point, step along it
    (halving the step until the row is still adversarial), binary search back to the boundary."""

    name = "hopskipjump"

    def __init__(
        self,
        knowledge: Knowledge,
        rng: np.random.Generator,
        *,
        start_tries: int = 40,
        probes: int = 10,
        max_probes: int = 50,
        binary_steps: int = 10,
        **params: Any,
    ) -> None:
        super().__init__(knowledge, rng, **params)
        self.start_tries, self.probes, self.max_probes = start_tries, probes, max_probes
        self.binary_steps = binary_steps

    def _binary(self, target: Floats, adversarial: Floats, label: bool) -> Asking:
        """The adversarial end of a binary search between ``target`` and ``adversarial``."""
        k = self.knowledge
        lo, hi = 0.0, 1.0
        best = adversarial
        for _ in range(self.binary_steps):
            mid = (lo + hi) / 2
            row = k.valid(target + mid * (adversarial - target))[0]
            if np.array_equal(row, best) or np.array_equal(row, target):
                break
            self.step = {"phase": "binary"}
            answer = yield from self._ask(row[None])
            if bool(self._label(answer)[0]) != label:
                hi, best = mid, row
            else:
                lo = mid
        return best

    def _attack(self, target: Floats, state: _Target) -> Generator[Floats, Floats, None]:
        k = self.knowledge
        start: Floats | None = None
        for _ in range(self.start_tries):
            row = k.valid(k.sample_marginals(self.rng, 1))[0]
            for columns in k.groups.values():
                row[columns] = target[columns]
            self.step = {"phase": "start"}
            answer = yield from self._ask(row[None])
            if bool(self._label(answer)[0]) != state.label:
                start = row
                break
            if state.queries >= self.per_target:
                return
        if start is None:
            return
        boundary = yield from self._binary(target, start, state.label)
        if self._found(state, boundary, target):
            return
        columns = k.mutable
        scale = k.scale[columns]
        iteration = 0
        while state.queries < self.per_target:
            iteration += 1
            d = float(k.distance(boundary, target)[0])
            n = min(self.max_probes, int(self.probes * math.sqrt(iteration)))
            u = self.rng.standard_normal((n, len(columns)))
            u /= np.linalg.norm(u, axis=1, keepdims=True)
            delta = max(0.1 * d, 0.01) * math.sqrt(len(columns))
            probes = np.repeat(boundary[None], n, axis=0)
            probes[:, columns] += delta * u * scale
            probes = k.valid(probes)
            self.step = {"phase": "gradient", "iteration": iteration}
            answers = yield from self._ask(probes)
            phi = np.where(self._label(answers) != state.label, 1.0, -1.0)
            for row in probes[phi > 0]:
                self._found(state, row, target)
            if state.flipped:
                return
            if np.ptp(phi) > 0:
                phi = phi - phi.mean()
            g = (phi[:, None] * u).mean(axis=0)
            norm = float(np.linalg.norm(g))
            if norm == 0:
                continue
            g /= norm
            size = d * math.sqrt(len(columns)) / math.sqrt(iteration)
            moved: Floats | None = None
            while size > 1e-3 and state.queries < self.per_target:
                row = boundary.copy()
                row[columns] += size * g * scale
                row = k.valid(row)[0]
                self.step = {"phase": "step", "iteration": iteration}
                answer = yield from self._ask(row[None])
                if bool(self._label(answer)[0]) != state.label:
                    moved = row
                    break
                size /= 2
            if moved is None:
                continue
            boundary = yield from self._binary(target, moved, state.label)
            if self._found(state, boundary, target):
                return


class Coordinate(_Boundary):
    """Score-based, one feature at a time: try ``+step`` and ``-step`` spreads on a random
    feature (a binary one is flipped), keep the change if the probability moves toward the
    threshold; after a sweep without one, halve the step (from ``step`` down to
    ``min_step``). Stops at the first flip of the label."""

    name = "coordinate"

    def __init__(
        self,
        knowledge: Knowledge,
        rng: np.random.Generator,
        *,
        step: float = 0.5,
        min_step: float = 0.02,
        **params: Any,
    ) -> None:
        params.setdefault("epsilon", math.inf)
        super().__init__(knowledge, rng, **params)
        self.initial_step, self.min_step = step, min_step

    def _attack(self, target: Floats, state: _Target) -> Generator[Floats, Floats, None]:
        k = self.knowledge
        threshold = k.threshold
        x = target.copy()
        reference = state.probability
        size = self.initial_step
        while size >= self.min_step and state.queries < self.per_target:
            improved = False
            for j in self.rng.permutation(k.mutable).tolist():
                for direction in (1.0, -1.0):
                    row = x.copy()
                    if k.binary[j]:
                        if direction < 0:
                            continue
                        row[j] = 1.0 - row[j]
                    else:
                        row[j] += direction * size * k.scale[j]
                    row = k.valid(row)[0]
                    if np.array_equal(row, x):
                        continue
                    self.step = {"phase": "coordinate", "feature": k.names[j],
                                 "size": round(size, 4)}  # fmt: skip
                    p = yield from self._ask(row[None])
                    if bool(self._label(p)[0]) != state.label:
                        self._found(state, row, target)
                        state.flipped, state.queries_to_flip = True, state.queries
                        return
                    if abs(p[0] - threshold) < abs(reference - threshold):
                        x, reference, improved = row, float(p[0]), True
                        break
                    if state.queries >= self.per_target:
                        return
                if improved:
                    break
            if not improved:
                size /= 2


# --- out of distribution --------------------------------------------------------------------------


class _OutOfDistribution(Strategy):
    """Natural-looking rows (seed rows and marginal draws) with ``features`` (1 to that many)
    corrupted each, and ``mix`` of the rows left natural. Reports the corruptions sent and what
    the model answered to them."""

    kind = "ood"
    CORRUPTIONS: ClassVar[tuple[str, ...]]

    def __init__(
        self,
        knowledge: Knowledge,
        rng: np.random.Generator,
        *,
        max_queries: int = 1_000,
        batch: int = 1,
        features: int = 2,
        mix: float = 0.0,
    ) -> None:
        super().__init__(knowledge, rng, max_queries=max_queries, batch=batch)
        if not 0 <= mix < 1:
            raise ValueError(f"{self.key}: mix must be in [0, 1), got {mix}")
        self.features, self.mix = max(1, features), mix
        self.sent: dict[str, int] = {}
        self._answers: list[Floats] = []
        self._corrupt_flags: list[bool] = []

    def _base(self) -> Floats:
        k = self.knowledge
        row: Floats
        if self.rng.random() < 0.2:
            row = k.seed_rows[int(self.rng.integers(len(k.seed_rows)))].copy()
        else:
            row = k.valid(k.sample_marginals(self.rng, 1))[0]
        return row

    def _corrupt(self, row: Floats) -> str:
        raise NotImplementedError

    def _queries(self) -> Generator[Floats, Floats, None]:
        while True:
            rows, names = [], []
            for _ in range(self.batch):
                row = self._base()
                if self.rng.random() < self.mix:
                    names.append("none")
                else:
                    names.append(self._corrupt(row))
                rows.append(row)
            self.step = {"corruption": names[0] if len(names) == 1 else names}
            for name in names:
                self.sent[name] = self.sent.get(name, 0) + 1
            self._corrupt_flags.extend(name != "none" for name in names)
            yield np.array(rows)

    def _record(self, rows: Floats, answers: Floats) -> None:
        self._answers.append(answers)

    def report(self) -> dict[str, Any]:
        report = super().report()
        answers = np.concatenate(self._answers) if self._answers else np.empty(0)
        corrupt = np.array(self._corrupt_flags[: len(answers)], dtype=bool)
        report["corruptions"] = dict(sorted(self.sent.items()))
        if corrupt.any():
            seen = answers[corrupt]
            report["answers"] = {
                "mean": round(float(seen.mean()), 4), "min": round(float(seen.min()), 4),
                "max": round(float(seen.max()), 4),
                "positive": round(float((seen >= self.knowledge.threshold).mean()), 4),
            }  # fmt: skip
        return report


class Impossible(_OutOfDistribution):
    """Values no valid input has: above a documented maximum, below a documented minimum
    (negative amounts and counts), fractions in integer features."""

    name = "impossible"
    CORRUPTIONS = ("above_max", "below_min", "negative_count", "fractional")

    def _corrupt(self, row: Floats) -> str:
        k, rng = self.knowledge, self.rng
        chosen = []
        for _ in range(int(rng.integers(1, self.features + 1))):
            name = str(rng.choice(self.CORRUPTIONS))
            span = k.high - k.low
            if name == "above_max":
                candidates = np.flatnonzero(np.isfinite(k.hi) & ~k.integer)
                j = int(rng.choice(candidates))
                row[j] = round(k.hi[j] + span[j] * float(rng.uniform(0.1, 1.0)), 4)
            elif name == "below_min":
                candidates = np.flatnonzero(np.isfinite(k.lo) & ~k.integer)
                j = int(rng.choice(candidates))
                row[j] = round(k.lo[j] - span[j] * float(rng.uniform(0.1, 1.0)), 4)
            elif name == "negative_count":
                candidates = np.flatnonzero(k.integer & ~k.binary)
                candidates = candidates[~np.isin(candidates, np.concatenate(
                    [*k.groups.values(), np.empty(0, np.int64)]))]  # fmt: skip
                j = int(rng.choice(candidates))
                row[j] = -float(rng.integers(1, 10))
            else:
                candidates = np.flatnonzero(k.integer)
                j = int(rng.choice(candidates))
                row[j] = float(row[j]) + round(float(rng.uniform(0.1, 0.9)), 2)
            chosen.append(name)
        return str(chosen[0])


class OneHot(_OutOfDistribution):
    """Invalid one-hot groups: none set, two set, a member of 2 or 0.5, a member of -1."""

    name = "onehot"
    CORRUPTIONS = ("none_set", "two_set", "not_binary", "negative")

    def __init__(self, knowledge: Knowledge, rng: np.random.Generator, **params: Any) -> None:
        super().__init__(knowledge, rng, **params)
        if not knowledge.groups:
            raise ValueError(f"{self.key}: the knowledge has no one-hot group")

    def _corrupt(self, row: Floats) -> str:
        rng = self.rng
        groups = list(self.knowledge.groups.values())
        columns = groups[int(rng.integers(len(groups)))]
        name = str(rng.choice(self.CORRUPTIONS))
        on = columns[row[columns] == 1]
        off = columns[row[columns] != 1]
        if name == "none_set":
            row[columns] = 0.0
        elif name == "two_set" and len(off):
            row[int(rng.choice(off))] = 1.0
        elif name == "not_binary" and len(on):
            row[int(on[0])] = float(rng.choice((2.0, 0.5)))
        else:
            name = "negative"
            row[int(rng.choice(columns))] = -1.0
        return name


class Extreme(_OutOfDistribution):
    """Extreme values that may be valid: exactly at a documented bound, or far past anything
    natural where none is documented (ten to a hundred times the marginals' maximum);
    ``features`` + 1 of them at once."""

    name = "extreme"
    CORRUPTIONS = ("at_bound", "far_out")

    def _corrupt(self, row: Floats) -> str:
        k, rng = self.knowledge, self.rng
        chosen = rng.choice(k.continuous, min(len(k.continuous), self.features + 1),
                            replace=False)  # fmt: skip
        kinds = []
        for j in chosen.tolist():
            if np.isfinite(k.hi[j]):
                row[j] = k.hi[j] if rng.random() < 0.7 or not np.isfinite(k.lo[j]) else k.lo[j]
                kinds.append("at_bound")
            else:
                row[j] = k.high[j] * float(rng.uniform(10, 100))
                kinds.append("far_out")
        row[:] = k.rounded(row)[0]
        return "far_out" if "far_out" in kinds else "at_bound"


# --- membership -----------------------------------------------------------------------------------


class _Membership(Strategy):
    """Sends ``knowledge.candidates`` (training rows, in a shuffled cycle) with
    ``knowledge.non_members`` mixed in so that ``member_fraction`` of the rows are members,
    and reports how well the answers separate them (the attacker's calibration)."""

    kind = "membership"

    def __init__(
        self,
        knowledge: Knowledge,
        rng: np.random.Generator,
        *,
        max_queries: int = 1_000,
        batch: int = 1,
        member_fraction: float = 0.5,
    ) -> None:
        super().__init__(knowledge, rng, max_queries=max_queries, batch=batch)
        if knowledge.candidates is None:
            raise ValueError(f"{self.key}: the knowledge has no candidate training rows")
        if not 0 < member_fraction <= 1:
            raise ValueError(f"{self.key}: member_fraction must be in (0, 1], got "
                             f"{member_fraction}")  # fmt: skip
        self.member_fraction = member_fraction
        self.members: list[bool] = []
        self.answers: list[Floats] = []

    def _picks(self) -> Generator[tuple[bool, int], None, None]:
        """(member?, row index) forever: the candidates in shuffled cycles, non-members mixed."""
        k = self.knowledge
        assert k.candidates is not None
        members = others = np.empty(0, dtype=np.int64)
        while True:
            take_member = k.non_members is None or self.rng.random() < self.member_fraction
            if take_member:
                if not len(members):
                    members = self.rng.permutation(len(k.candidates))
                index, members = int(members[0]), members[1:]
            else:
                assert k.non_members is not None
                if not len(others):
                    others = self.rng.permutation(len(k.non_members))
                index, others = int(others[0]), others[1:]
            yield take_member, index

    def _row(self, member: bool, index: int) -> Floats:
        k = self.knowledge
        source = k.candidates if member else k.non_members
        assert source is not None
        row: Floats = source[index].copy()
        return row

    def _record(self, rows: Floats, answers: Floats) -> None:
        self.answers.append(answers)

    def report(self) -> dict[str, Any]:
        report = super().report()
        answers = np.concatenate(self.answers) if self.answers else np.empty(0)
        members = np.array(self.members[: len(answers)], dtype=bool)
        confidence = np.maximum(answers, 1 - answers)
        auc = _auc(confidence[members], confidence[~members])
        report.update(members=int(members.sum()), nonMembers=int((~members).sum()),
                      confidenceAuc=None if auc is None else round(auc, 4))  # fmt: skip
        if auc is not None:
            cuts = np.unique(confidence)
            accuracy = [((confidence >= c) == members).mean() for c in cuts]
            best = int(np.argmax(accuracy))
            report.update(threshold=round(float(cuts[best]), 4),
                          accuracy=round(float(accuracy[best]), 4))  # fmt: skip
        return report


class Exact(_Membership):
    """Candidate training rows replayed exactly, among non-members."""

    name = "exact"

    def _queries(self) -> Generator[Floats, Floats, None]:
        picks = self._picks()
        while True:
            batch = [next(picks) for _ in range(self.batch)]
            self.members.extend(member for member, _ in batch)
            self.step = {"member": batch[0][0] if self.batch == 1 else [m for m, _ in batch]}
            yield np.array([self._row(member, index) for member, index in batch])


class Perturbed(_Membership):
    """Each picked row sent ``copies`` times, each with 1 to 3 numeric features moved by a
    tiny amount (``size`` spreads at most), then rounded."""

    name = "perturbed"

    def __init__(
        self,
        knowledge: Knowledge,
        rng: np.random.Generator,
        *,
        copies: int = 4,
        size: float = 0.01,
        **params: Any,
    ) -> None:
        super().__init__(knowledge, rng, **params)
        self.copies, self.size = max(1, copies), size

    def _queries(self) -> Generator[Floats, Floats, None]:
        k = self.knowledge
        numeric = np.flatnonzero(~k.integer)
        picks = self._picks()
        while True:
            member, index = next(picks)
            base = self._row(member, index)
            rows = np.repeat(base[None], self.copies, axis=0)
            for row in rows:
                moved = self.rng.choice(numeric, int(self.rng.integers(1, 4)), replace=False)
                row[moved] += self.rng.uniform(-1, 1, len(moved)) * self.size * k.scale[moved]
            rows = k.valid(rows)
            self.members.extend([member] * len(rows))
            self.step = {"member": member}
            yield from self._ask(rows)


STRATEGIES: dict[str, type[Strategy]] = {
    f"{cls.kind}:{cls.name}": cls
    for cls in (Marginal, Uniform, Synthetic, Active, HopSkipJump, Coordinate, Impossible,
                OneHot, Extreme, Exact, Perturbed)
}  # fmt: skip
"""Every strategy by ``<kind>:<name>``."""


def make(key: str, knowledge: Knowledge, rng: np.random.Generator, **params: Any) -> Strategy:
    """The strategy ``key`` (``<kind>:<name>``) with ``params``; a clear error if unknown."""
    if key not in STRATEGIES:
        raise ValueError(f"unknown strategy {key!r}; known: {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[key](knowledge, rng, **params)

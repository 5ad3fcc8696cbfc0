"""A mergeable streaming quantile sketch (KLL: Karnin, Lang and Liberty, "Optimal Quantile
Approximation in Streams", FOCS 2016), written with numpy, serialized as Model Monitor's
``kll.sketch``.

The sketch keeps levels of items: an item at level ``h`` stands for ``2**h`` items of the stream.
Level ``h`` of a sketch with ``H`` levels holds up to ``max(2, ceil(k * c**(H - 1 - h)))`` items
(the top level ``k``, each level below ``c`` times fewer). Whole numpy blocks are appended to
level 0; while the sketch holds more items than its levels' capacities add up to, the lowest
level at or over its capacity is compacted: sorted, and every other item (from a random
offset, 0 or 1) moves up one level, where it weighs twice as much. Each compaction at level ``h``
moves any rank by at most ``2**h``, with a random sign, which is what bounds the error.

Two sketches with the same ``k`` and ``c`` merge by concatenating their levels and compacting;
the result has the error bound of one sketch fed both streams. Memory: about ``k / (1 - c)``
items (5,700 for the defaults) however many items were fed.

The defaults (``k`` = 2048, ``c`` = 0.64) are the parameters SageMaker Model Monitor's prebuilt
container records in its ``statistics.json``. ``normalized_rank_error`` is the bound Apache
DataSketches gives for its KLL sketch at 99 % confidence (an empirical fit); the tests hold this
implementation to it.

Serialized (``to_json``): ``{"parameters": {"c": c, "k": k}, "data": [[level 0], [level 1], ...]}``,
each level sorted, ``data[h]`` weighing ``2**h`` each. Model Monitor documents the shape (a list of
lists of numbers) but not the order of the levels; this is ours. ``from_json`` validates it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_K = 2048
DEFAULT_C = 0.64
_MAX_LEVELS = 61  # 2**61 items per item at the top: far beyond any stream, keeps weights exact

FloatArray = npt.NDArray[np.float64]


def normalized_rank_error(k: int) -> float:
    """The rank error (a share of the items) that a KLL sketch of ``k`` keeps within, single-sided
    queries, at 99 % confidence: Apache DataSketches' fit ``2.296 / k**0.9723``."""
    return float(2.296 / k**0.9723)


class KllSketch:
    """Approximate quantiles and CDF of a stream of floats (NaN ignored)."""

    def __init__(self, k: int = DEFAULT_K, c: float = DEFAULT_C, *, seed: int = 0) -> None:
        if not 8 <= k <= 65535:
            raise ValueError(f"KLL k must be between 8 and 65535, got {k}")
        if not 0.5 <= c < 1:
            raise ValueError(f"KLL c must be in [0.5, 1), got {c}")
        self.k = k
        self.c = c
        self.n = 0
        self.min = math.inf
        self.max = -math.inf
        self._levels: list[FloatArray] = [np.empty(0)]
        self._rng = np.random.default_rng(seed)
        self._sorted: tuple[int, FloatArray, npt.NDArray[np.int64]] | None = None
        """``_weighted`` as of ``n`` items: every change of the items changes ``n``."""

    @property
    def levels(self) -> Sequence[FloatArray]:
        return tuple(self._levels)

    @property
    def retained(self) -> int:
        """The number of items the sketch holds."""
        return sum(len(level) for level in self._levels)

    def update(self, values: npt.ArrayLike) -> None:
        """Feed values (any shape, flattened); NaN are skipped, infinities are refused."""
        array = np.asarray(values, dtype=np.float64).ravel()
        array = array[~np.isnan(array)]
        if not len(array):
            return
        if not np.isfinite(array).all():
            raise ValueError("a KLL sketch takes finite values only")
        self.n += len(array)
        self.min = min(self.min, float(array.min()))
        self.max = max(self.max, float(array.max()))
        self._levels[0] = np.concatenate([self._levels[0], array])
        self._compress()

    def merge(self, other: KllSketch) -> None:
        """Add ``other``'s items to this sketch (``other`` is left as it is)."""
        if (other.k, other.c) != (self.k, self.c):
            raise ValueError(
                f"cannot merge KLL sketches of other parameters: k={self.k}, c={self.c} "
                f"and k={other.k}, c={other.c}"
            )
        if not other.n:
            return
        while len(self._levels) < len(other._levels):
            self._levels.append(np.empty(0))
        for h, level in enumerate(other._levels):
            self._levels[h] = np.concatenate([self._levels[h], level])
        self.n += other.n
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        self._compress()

    def _capacity(self, h: int) -> int:
        depth = len(self._levels) - 1 - h
        return max(2, math.ceil(self.k * self.c**depth))

    def _compress(self) -> None:
        while self.retained > sum(self._capacity(h) for h in range(len(self._levels))):
            h = next(
                h for h in range(len(self._levels)) if len(self._levels[h]) >= self._capacity(h)
            )
            if h + 1 == len(self._levels):
                if len(self._levels) == _MAX_LEVELS:
                    raise OverflowError("KLL sketch is full")
                self._levels.append(np.empty(0))
            items = np.sort(self._levels[h])
            even = len(items) - len(items) % 2
            offset = int(self._rng.integers(2))
            self._levels[h + 1] = np.concatenate([self._levels[h + 1], items[offset:even:2]])
            self._levels[h] = items[even:]

    def _weighted(self) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        """The retained items sorted, and the cumulative weight up to and including each
        (read-only, kept until the sketch changes: a report asks for them several times)."""
        if self._sorted is not None and self._sorted[0] == self.n:
            return self._sorted[1], self._sorted[2]
        items = np.concatenate(self._levels)
        weights = np.concatenate(
            [np.full(len(level), 1 << h, dtype=np.int64) for h, level in enumerate(self._levels)]
        )
        order = np.argsort(items, kind="stable")
        ranked, cumulative = items[order], np.cumsum(weights[order])
        ranked.flags.writeable = cumulative.flags.writeable = False
        self._sorted = (self.n, ranked, cumulative)
        return ranked, cumulative

    def cdf(self, points: npt.ArrayLike) -> FloatArray:
        """The estimated share of the items at or below each point (0 for an empty sketch)."""
        where = np.asarray(points, dtype=np.float64)
        if not self.n:
            return np.zeros(where.shape)
        items, cumulative = self._weighted()
        index = np.searchsorted(items, where, side="right")
        below = np.where(index > 0, cumulative[np.maximum(index - 1, 0)], 0)
        return np.asarray(below / self.n, dtype=np.float64)

    def quantiles(self, probabilities: npt.ArrayLike) -> FloatArray:
        """The estimated quantile of each probability in [0, 1]: 0 is the minimum, 1 the maximum."""
        p = np.asarray(probabilities, dtype=np.float64)
        if not self.n:
            raise ValueError("an empty KLL sketch has no quantiles")
        if ((p < 0) | (p > 1) | np.isnan(p)).any():
            raise ValueError("quantile probabilities must be in [0, 1]")
        items, cumulative = self._weighted()
        index = np.searchsorted(cumulative, p * self.n, side="left")
        found = items[np.minimum(index, len(items) - 1)]
        found = np.where(p <= 0, self.min, np.where(p >= 1, self.max, found))
        return np.clip(found, self.min, self.max)

    def to_json(self) -> dict[str, Any]:
        """Model Monitor's ``sketch``: parameters and the levels, lowest first, each sorted."""
        return {
            "parameters": {"c": self.c, "k": self.k},
            "data": [np.sort(level).tolist() for level in self._levels],
        }

    @classmethod
    def from_json(
        cls, sketch: Mapping[str, Any], *, n: int, minimum: float, maximum: float, seed: int = 0
    ) -> KllSketch:
        """A sketch from ``to_json``'s output; ``n``, ``minimum`` and ``maximum`` come from the
        statistics next to it (``num_present``, ``min``, ``max``) and are checked against it."""
        try:
            parameters, data = sketch["parameters"], sketch["data"]
            k, c = parameters["k"], parameters["c"]
        except (KeyError, TypeError):
            raise ValueError("a KLL sketch needs parameters {c, k} and data") from None
        if int(k) != k or not isinstance(data, list) or not 1 <= len(data) <= _MAX_LEVELS:
            raise ValueError("a KLL sketch needs an integral k and 1 to 61 levels of data")
        sketch_ = cls(int(k), float(c), seed=seed)
        levels: list[FloatArray] = []
        for level in data:
            if not isinstance(level, list) or not all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in level
            ):
                raise ValueError("each KLL level must be a list of numbers")
            levels.append(np.asarray(level, dtype=np.float64))
        weight = sum(len(level) << h for h, level in enumerate(levels))
        if weight != n:
            raise ValueError(f"the KLL sketch stands for {weight} items, its statistics say {n}")
        if n and not all(
            np.isfinite(level).all() and (level >= minimum).all() and (level <= maximum).all()
            for level in levels
        ):
            raise ValueError("the KLL sketch holds values outside its [min, max]")
        sketch_._levels = levels
        sketch_.n, sketch_.min, sketch_.max = n, float(minimum), float(maximum)
        return sketch_

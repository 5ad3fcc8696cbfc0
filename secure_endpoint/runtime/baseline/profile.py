"""Per-feature statistics of a stream of blocks, in bounded memory, mergeable across shards.

A ``Profiler`` takes ``Block``s (``readers``) and keeps, per column: the number of numbers and of
text cells, the count, mean and sum of squared deviations merged block by block with Chan's
parallel formula (exact up to rounding, unlike a running sum of squares), the sum, min and max, a
KLL sketch (``kll``), whether every number is whole, written as an integer, or 0/1, up to
``DISTINCT_CAP`` distinct values with their counts, and the counts of text values (up to
``TEXT_CAP`` distinct). Over the 0/1 columns it adds up how often each pair is 1 together, which is
what finds one-hot groups without keeping rows. ``Profiler.merge`` adds another profiler's state
(shards profiled apart), so do its sketches.

``finish`` decides each feature's type (``inferred_type``, as Model Monitor names them) and kind:

- ``string``: some present cell is text that is not a number (inferred ``String``);
- ``one_hot``: a member of a one-hot group: at least two 0/1 columns, never missing, never 1 in
  the same row, adding up to the row count (so exactly one 1 per row). Groups are found among
  columns sharing a name prefix (``color_red``, ``color_blue``: the part before the last ``_``,
  ``.``, ``:``, ``=`` or ``-``), then among runs of adjacent 0/1 columns;
- ``binary``: 0/1 values, in no group;
- ``integral``: whole numbers written as integers (inferred ``Integral``);
- ``fractional``: the rest (inferred ``Fractional``), including floats that happen to be whole
  (``whole_valued`` says so).

One-hot and binary columns are ``Integral`` when written as integers, ``Fractional`` (``1.0``) if
not: the type follows the spelling, the kind the values.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secure_endpoint.runtime.baseline.kll import DEFAULT_C, DEFAULT_K, KllSketch
from secure_endpoint.runtime.baseline.readers import BaselineInputError, Block

DISTINCT_CAP = 32
"""Distinct values kept per column: the categorical sets (and Model Monitor's ``domains``)."""
TEXT_CAP = 10_000
"""Distinct text values counted per column; more are counted as one (``distinct_exact`` False)."""
_SEPARATORS = re.compile(r"^(.*\S)[_.:=-][^_.:=-]*$")

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class OneHotGroup:
    name: str
    indices: tuple[int, ...]
    detected_by: str
    """``prefix`` (shared name prefix) or ``sum`` (adjacent 0/1 columns adding up to one)."""


@dataclass(frozen=True)
class FeatureProfile:
    name: str
    index: int
    inferred_type: str
    """``Integral``, ``Fractional`` or ``String``: Model Monitor's ``inferred_type``."""
    kind: str
    """``fractional``, ``integral``, ``binary``, ``one_hot`` or ``string``."""
    num_present: int
    num_missing: int
    numbers: int
    """Present cells that are numbers (the rest of ``num_present`` is text)."""
    mean: float | None
    sum: float | None
    std_dev: float | None
    """Population standard deviation of the numbers."""
    min: float | None
    max: float | None
    whole_valued: bool
    sketch: KllSketch | None
    values: dict[float, int] | None
    """Distinct numbers and their counts, when at most ``DISTINCT_CAP``."""
    text_values: dict[str, int] | None
    """String features: every distinct value (numbers as written back) and its count."""
    distinct_count: int | None
    distinct_exact: bool
    one_hot_group: str | None


@dataclass(frozen=True)
class Profile:
    names: tuple[str, ...]
    rows: int
    complete_rows: int
    """Rows with no missing cell."""
    features: tuple[FeatureProfile, ...]
    one_hot_groups: tuple[OneHotGroup, ...]
    record_rows: dict[int, int] | None
    """JSON Lines: how many records (requests) held each number of rows."""
    k: int
    c: float


class Profiler:
    """Feed blocks of ``len(names)`` columns, then ``finish``."""

    def __init__(
        self, names: Sequence[str], *, k: int = DEFAULT_K, c: float = DEFAULT_C, seed: int = 0
    ) -> None:
        width = len(names)
        self.names = tuple(names)
        self.k, self.c = k, c
        self.rows = 0
        self.complete_rows = 0
        self.numbers = np.zeros(width, dtype=np.int64)
        self.text_cells = np.zeros(width, dtype=np.int64)
        self.mean = np.zeros(width)
        self.m2 = np.zeros(width)
        self.sum = np.zeros(width)
        self.min = np.full(width, math.inf)
        self.max = np.full(width, -math.inf)
        self.whole = np.ones(width, dtype=bool)
        self.spelled = np.ones(width, dtype=bool)
        self.binary = np.ones(width, dtype=bool)
        self.together = np.zeros((width, width))
        self.distinct: list[Counter[float] | None] = [Counter() for _ in range(width)]
        self.text: list[Counter[str]] = [Counter() for _ in range(width)]
        self.text_overflow = np.zeros(width, dtype=bool)
        self.sketches = [KllSketch(k, c, seed=seed + j) for j in range(width)]
        self.record_rows: Counter[int] | None = None

    def update(self, block: Block) -> None:
        values = block.values
        if block.width != len(self.names):
            raise ValueError(f"a block of {block.width} columns for {len(self.names)} features")
        if not block.rows:
            return
        missing = np.isnan(values)
        counts = block.rows - missing.sum(axis=0)
        if missing.any():
            with np.errstate(invalid="ignore", divide="ignore"):
                sums = np.nansum(values, axis=0)
                means = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
                m2 = np.nansum((values - means) ** 2, axis=0)
        else:
            sums = values.sum(axis=0)
            means = sums / block.rows
            m2 = ((values - means) ** 2).sum(axis=0)
        self._merge_moments(counts, means, m2, sums)
        self.min = np.fmin(self.min, np.fmin.reduce(values, axis=0))
        self.max = np.fmax(self.max, np.fmax.reduce(values, axis=0))
        self.spelled &= block.integer_spelled
        whole = np.flatnonzero(self.whole)
        if len(whole):
            sub = values[:, whole]
            self.whole[whole] = np.all((sub == np.floor(sub)) | missing[:, whole], axis=0)
        binary = np.flatnonzero(self.binary & self.whole)
        self.binary[:] = False
        if len(binary):
            sub = values[:, binary]
            still = np.all((sub == 0) | (sub == 1) | missing[:, binary], axis=0)
            binary = binary[still]
            self.binary[binary] = True
            ones = np.nan_to_num(values[:, binary])
            self.together[np.ix_(binary, binary)] += ones.T @ ones
        for j, seen in enumerate(self.distinct):
            if seen is not None:
                column = values[~missing[:, j], j]
                unique, tally = np.unique(column, return_counts=True)
                if len(unique) > DISTINCT_CAP:
                    self.distinct[j] = None
                    continue
                seen.update(dict(zip(unique.tolist(), tally.tolist(), strict=True)))
                if len(seen) > DISTINCT_CAP:
                    self.distinct[j] = None
        absent = missing
        if block.text:
            absent = missing.copy()
            for j, cells in block.text.items():
                absent[:, j] = [cell is None for cell in cells]
        self.complete_rows += int(block.rows - absent.any(axis=1).sum())
        for j, cells in block.text.items():
            texts = [cell for cell, gone in zip(cells, missing[:, j], strict=True) if gone and cell]
            self.text_cells[j] += len(texts)
            self._count_text(j, Counter(texts))
        for j, sketch in enumerate(self.sketches):
            sketch.update(values[:, j])
        if block.row_counts is not None:
            self.record_rows = self.record_rows if self.record_rows is not None else Counter()
            unique, tally = np.unique(block.row_counts, return_counts=True)
            self.record_rows.update(dict(zip(unique.tolist(), tally.tolist(), strict=True)))
        self.rows += block.rows

    def _count_text(self, j: int, counts: Counter[str]) -> None:
        seen = self.text[j]
        for value, count in counts.items():
            if value in seen or len(seen) < TEXT_CAP:
                seen[value] += count
            else:
                self.text_overflow[j] = True

    def _merge_moments(
        self, counts: npt.ArrayLike, means: FloatArray, m2: FloatArray, sums: FloatArray
    ) -> None:
        n_b = np.asarray(counts, dtype=np.int64)
        n_a = self.numbers
        total = n_a + n_b
        safe = np.maximum(total, 1)
        delta = means - self.mean
        self.mean = np.where(total > 0, self.mean + delta * (n_b / safe), 0.0)
        self.m2 = self.m2 + m2 + delta**2 * (n_a * n_b / safe)
        self.sum = self.sum + sums
        self.numbers = total

    def merge(self, other: Profiler) -> None:
        """Add ``other``'s state: the profile of both streams, as if one had been fed both."""
        if other.names != self.names:
            raise ValueError("cannot merge profiles of other features")
        self._merge_moments(other.numbers, other.mean, other.m2, other.sum)
        self.rows += other.rows
        self.complete_rows += other.complete_rows
        self.text_cells += other.text_cells
        self.min = np.fmin(self.min, other.min)
        self.max = np.fmax(self.max, other.max)
        self.spelled &= other.spelled
        self.whole &= other.whole
        self.binary &= other.binary
        self.together += other.together
        for j, theirs in enumerate(other.distinct):
            ours = self.distinct[j]
            if ours is None or theirs is None:
                self.distinct[j] = None
            else:
                ours.update(theirs)
                if len(ours) > DISTINCT_CAP:
                    self.distinct[j] = None
            self._count_text(j, other.text[j])
            self.sketches[j].merge(other.sketches[j])
        self.text_overflow |= other.text_overflow
        if other.record_rows is not None:
            self.record_rows = (self.record_rows or Counter()) + other.record_rows

    def finish(self) -> Profile:
        """The profile; refuses no rows at all and a column empty in every row."""
        if not self.rows:
            raise BaselineInputError("the training data has no rows")
        present = self.numbers + self.text_cells
        empty = [name for name, n in zip(self.names, present, strict=True) if not n]
        if empty:
            raise BaselineInputError(
                f"column(s) {', '.join(map(repr, empty))} empty in every one of the {self.rows} "
                "rows: drop them (or fill them) before building a baseline"
            )
        groups = self._one_hot_groups(present)
        member = {j: group.name for group in groups for j in group.indices}
        features = tuple(
            self._feature(j, int(present[j]), member.get(j)) for j in range(len(self.names))
        )
        return Profile(
            names=self.names,
            rows=self.rows,
            complete_rows=self.complete_rows,
            features=features,
            one_hot_groups=tuple(groups),
            record_rows=dict(sorted(self.record_rows.items())) if self.record_rows else None,
            k=self.k,
            c=self.c,
        )

    def _feature(self, j: int, present: int, group: str | None) -> FeatureProfile:
        numbers = int(self.numbers[j])
        has_numbers = numbers > 0
        is_text = self.text_cells[j] > 0
        distinct = self.distinct[j]
        values = dict(sorted(distinct.items())) if distinct is not None and has_numbers else None
        text_values = None
        distinct_count = len(values) if values is not None else None
        if is_text:
            inferred, kind = "String", "string"
            counter = Counter(self.text[j])
            for number, count in (values or {}).items():
                counter[_as_text(number)] += count
            text_values = dict(counter.most_common())
            distinct_count = len(text_values)
        elif self.whole[j] and self.spelled[j]:
            inferred = "Integral"
            kind = "one_hot" if group else "binary" if self.binary[j] else "integral"
        else:
            inferred = "Fractional"
            kind = (
                "one_hot"
                if group
                else "binary"
                if self.binary[j] and self.whole[j]
                else "fractional"
            )
        exact = not self.text_overflow[j] and (distinct is not None or is_text)
        if is_text and distinct is None and has_numbers:
            exact = False
        numeric = has_numbers and not is_text  # a String feature's numbers are among its text
        std = math.sqrt(max(float(self.m2[j]), 0.0) / numbers) if numeric else None
        return FeatureProfile(
            name=self.names[j],
            index=j,
            inferred_type=inferred,
            kind=kind,
            num_present=present,
            num_missing=self.rows - present,
            numbers=numbers,
            mean=float(self.mean[j]) if numeric else None,
            sum=float(self.sum[j]) if numeric else None,
            std_dev=std,
            min=float(self.min[j]) if numeric else None,
            max=float(self.max[j]) if numeric else None,
            whole_valued=bool(self.whole[j]) and numeric,
            sketch=self.sketches[j] if numeric else None,
            values=values if numeric else None,
            text_values=text_values,
            distinct_count=distinct_count,
            distinct_exact=bool(exact),
            one_hot_group=group,
        )

    def _one_hot_groups(self, present: npt.NDArray[np.int64]) -> list[OneHotGroup]:
        candidates = [
            j
            for j in range(len(self.names))
            if self.binary[j]
            and self.whole[j]
            and present[j] == self.rows
            and not self.text_cells[j]
        ]
        groups: list[OneHotGroup] = []
        by_prefix: dict[str, list[int]] = {}
        for j in candidates:
            match = _SEPARATORS.match(self.names[j])
            if match:
                by_prefix.setdefault(match.group(1), []).append(j)
        taken: set[int] = set()
        for prefix, members in by_prefix.items():
            if len(members) >= 2 and self._is_one_hot(members):
                groups.append(OneHotGroup(prefix, tuple(members), "prefix"))
                taken.update(members)
        rest = [j for j in candidates if j not in taken]
        i = 0
        while i < len(rest):
            run = [rest[i]]
            found = None
            for j in rest[i + 1 :]:
                if j != run[-1] + 1 or any(self.together[j, m] for m in run):
                    break
                run.append(j)
                if self._is_one_hot(run):
                    found = list(run)
                    break
            if found:
                groups.append(OneHotGroup(self._group_name(found), tuple(found), "sum"))
                i += len(found)
            else:
                i += 1
        return sorted(groups, key=lambda group: group.indices[0])

    def _is_one_hot(self, members: list[int]) -> bool:
        block = self.together[np.ix_(members, members)]
        exclusive = not (block - np.diag(np.diag(block))).any()
        return exclusive and int(np.diag(block).sum()) == self.rows

    def _group_name(self, members: list[int]) -> str:
        names = [self.names[j] for j in members]
        prefix = os.path.commonprefix(names).rstrip("_.:=- ")  # noqa: RUF071 (characters)
        return prefix if prefix and prefix not in self.names else f"{names[0]}..{names[-1]}"


def _as_text(number: float) -> str:
    """A number of a String feature, written back: whole numbers without a point."""
    return str(int(number)) if number == int(number) else repr(number)


def profile_blocks(
    names: Sequence[str],
    blocks: Iterable[Block],
    *,
    k: int = DEFAULT_K,
    c: float = DEFAULT_C,
    seed: int = 0,
) -> Profile:
    """Profile every block of a stream (a ``TrainingData``, say) and finish."""
    profiler = Profiler(names, k=k, c=c, seed=seed)
    for block in blocks:
        profiler.update(block)
    return profiler.finish()

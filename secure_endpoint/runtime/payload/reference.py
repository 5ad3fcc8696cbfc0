"""What the payload detector knows of the training data, and ``payload.json`` that holds it.

From ``reference.json`` (already in every baseline):

- a **normal-score transform** per numeric feature: the value's training quantile (piecewise
  linear between the 101 recorded quantiles, ties at their middle rank) mapped through the
  standard normal's inverse CDF, clipped to about +-2.9. In these units every feature has
  the same scale, whatever its shape;
- the **constraints** of a row: training range, integral features, one-hot groups.

From ``payload.json`` (written by ``secure-endpoint baseline``, a second pass over the training
data; optional: without it only the out-of-distribution checks run):

- a **Gaussian copula**: the correlation of the normal scores (shrunk towards the identity so it
  inverts), and the mean and standard deviation over the training rows of each row's log
  likelihood ratio ``LLR = log copula(z) - log independent(z) = -(z'(P - I)z + log det R) / 2``.
  A row drawn from the training population has, on average, an LLR of the features' mutual
  information (positive); a row whose features were drawn one by one from their marginals has a
  negative one. The marginals cannot tell them apart, the copula can;
- **membership hashes**: for each training row and each of ``GRIDS`` grids (cells of one normal
  score, each grid shifted by a different key-derived offset), a keyed BLAKE2b hash (8 bytes)
  of the row's cell. A query in the same cell as a training row on any grid is a membership hit:
  exact replays and perturbations of a few hundredths of a standard deviation land in it, fresh
  rows of the same population almost never (the rate measured on held-out training rows,
  ``null_rate``, is in the file). The rows are never stored, and without the key the hashes
  cannot be tested against a candidate row: keep the key in a secret, apart from the baseline.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from secure_endpoint.runtime.baseline.readers import Block
from secure_endpoint.runtime.baseline.store import check_key

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]

FORMAT = "secure-endpoint/payload-reference"
VERSION = 1
GRIDS = 3
"""Membership grids (each shifted): more catch more perturbations, and cost a hash each."""
CELL = 1.0
"""Membership cell width, in normal scores."""
SHRINK = 0.05
"""Copula correlation shrinkage towards the identity."""
Z_LIMIT = float(NormalDist().inv_cdf(0.998))
MEMBERSHIP_KEY_ENV = "SECURE_ENDPOINT_MEMBERSHIP_KEY"
_HOLDOUT = 10
"""Every ``_HOLDOUT``-th training row measures the membership null rate (a hit rate of rows the
set was not built from)."""


WIDEN = 0.1
"""A value is out of range beyond the training range widened by this share of it on each side
(a fresh row beyond the training extremes is common: about one in ``n / features`` rows), and
never across zero or one when the training values stayed on one side of them."""


def _widened(low: float, high: float) -> tuple[float, float]:
    margin = WIDEN * (high - low)
    lo, hi = low - margin, high + margin
    if low >= 0:
        lo = max(lo, 0.0)
    if high <= 1 and low >= 0:
        hi = min(hi, 1.0)
    return lo, hi


@dataclass(frozen=True)
class Transform:
    """Raw rows to normal scores, and the constraints of a row (from ``reference.json``)."""

    width: int
    names: tuple[str, ...]
    positions: Ints
    """The row positions of the numeric features (string features are left out)."""
    knots: tuple[Floats, ...]
    scores: tuple[Floats, ...]
    low: Floats
    high: Floats
    integral: npt.NDArray[np.bool_]
    groups: tuple[Ints, ...]
    """One-hot groups, as indices into ``positions``."""

    @classmethod
    def from_reference(cls, document: Mapping[str, Any]) -> Transform:
        inverse = NormalDist().inv_cdf
        levels = np.asarray(document["quantile_probabilities"], dtype=np.float64)
        names, positions, knots, scores, low, high, integral = [], [], [], [], [], [], []
        for entry in document["features"]:
            if entry["inferred_type"] not in ("Integral", "Fractional") or not entry["quantiles"]:
                continue
            values = np.asarray(entry["quantiles"], dtype=np.float64)
            unique, first, counts = np.unique(values, return_index=True, return_counts=True)
            # a value recorded at several levels (a discrete feature) sits at their middle
            middle = np.array(
                [levels[a : a + c].mean() for a, c in zip(first, counts, strict=True)]
            )
            middle = np.clip(middle, 0.002, 0.998)
            if len(unique) == 1:
                middle = np.array([0.5])
            names.append(str(entry["name"]))
            positions.append(int(entry["position"]))
            knots.append(unique)
            scores.append(np.array([inverse(p) for p in middle]))
            low.append(_widened(float(entry["min"]), float(entry["max"]))[0])
            high.append(_widened(float(entry["min"]), float(entry["max"]))[1])
            integral.append(entry["inferred_type"] == "Integral")
        index = {position: i for i, position in enumerate(positions)}
        groups = tuple(
            np.array([index[p] for p in group["positions"] if p in index], dtype=np.intp)
            for group in document.get("one_hot_groups") or []
        )
        return cls(
            width=int(document["row_width"]),
            names=tuple(names),
            positions=np.array(positions, dtype=np.intp),
            knots=tuple(knots),
            scores=tuple(scores),
            low=np.array(low),
            high=np.array(high),
            integral=np.array(integral, dtype=bool),
            groups=tuple(g for g in groups if len(g) > 1),
        )

    @property
    def dimensions(self) -> int:
        return len(self.positions)

    def normal_scores(self, values: Floats) -> Floats:
        """``values`` (rows x the numeric features, NaN where missing) as normal scores; a
        missing value scores 0 (the median)."""
        out = np.empty(values.shape, dtype=np.float64)
        for j in range(values.shape[1]):
            out[:, j] = np.interp(values[:, j], self.knots[j], self.scores[j])
        out[np.isnan(values)] = 0.0
        return out

    def violations(self, values: Floats, wrong: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        """Per row, how many of its values no training row has: outside the (widened) range,
        fractional where training was integral, of the wrong type, or an invalid one-hot group
        (members that are not 0/1 or do not add up to 1)."""
        with np.errstate(invalid="ignore"):
            outside = (values < self.low) | (values > self.high)
            whole = values[:, self.integral]
            fractional = np.isfinite(whole) & (whole != np.round(whole))
        count: npt.NDArray[np.int64] = (outside | wrong).sum(axis=1) + fractional.sum(axis=1)
        for group in self.groups:
            members = values[:, group]
            with np.errstate(invalid="ignore"):
                bad = ~np.isin(members, (0.0, 1.0)).all(axis=1) | (members.sum(axis=1) != 1)
            count += bad.astype(np.int64)
        return count


@dataclass(frozen=True)
class Copula:
    """The joint structure of the normal scores (see the module docstring)."""

    precision_minus_identity: Floats
    log_det: float
    llr_mean: float
    llr_std: float
    llr_independent: float | None = None
    """The mean LLR of training rows with each column shuffled on its own (what sampling each
    feature's marginal gives), measured at build time."""
    llr_q01: float | None = None
    """The 1st percentile of the training rows' LLR."""

    @property
    def llr_low(self) -> float:
        """Below it a row is jointly implausible: 1% of training rows are."""
        if self.llr_q01 is not None:
            return self.llr_q01
        return self.llr_mean - 2.326 * self.llr_std

    @property
    def independent_llr(self) -> float:
        """The mean LLR of rows whose features are drawn one by one from their marginals: as
        measured on shuffled training columns, else that of independent standard normal
        scores, ``-(tr(P - I) + log det R) / 2`` (further off for discrete features)."""
        if self.llr_independent is not None:
            return self.llr_independent
        return -0.5 * (float(np.trace(self.precision_minus_identity)) + self.log_det)

    def llr(self, z: Floats) -> Floats:
        quadratic = ((z @ self.precision_minus_identity) * z).sum(axis=1)
        result: Floats = -0.5 * (quadratic + self.log_det)
        return result

    @classmethod
    def fit(cls, z: Floats) -> Copula:
        dimensions = z.shape[1]
        correlation = np.corrcoef(z, rowvar=False) if len(z) > 1 else np.eye(dimensions)
        correlation = np.nan_to_num(np.atleast_2d(correlation), nan=0.0)
        np.fill_diagonal(correlation, 1.0)
        correlation = (1 - SHRINK) * correlation + SHRINK * np.eye(dimensions)
        sign, log_det = np.linalg.slogdet(correlation)
        precision = np.linalg.inv(correlation)
        copula = cls(precision - np.eye(dimensions), float(log_det) if sign > 0 else 0.0, 0.0, 1.0)
        llr = copula.llr(z)
        shuffled = np.random.default_rng(0).permuted(z, axis=0)  # each column on its own
        return cls(
            copula.precision_minus_identity,
            copula.log_det,
            float(llr.mean()),
            float(max(llr.std(), 1e-6)),
            float(copula.llr(shuffled).mean()) if len(z) > 1 else None,
            float(np.quantile(llr, 0.01)) if len(z) > 1 else None,
        )


class MembershipHasher:
    """Keyed hashes of a row's cells on ``GRIDS`` shifted grids (see the module docstring)."""

    def __init__(self, key: bytes, dimensions: int) -> None:
        check_key(key, what="the membership key")
        self._key = hashlib.blake2b(key, digest_size=32, person=b"se-membership").digest()
        seed = int.from_bytes(hashlib.blake2b(self._key, digest_size=8).digest(), "big")
        self.offsets = np.random.default_rng(seed).uniform(0, CELL, (GRIDS, dimensions))

    def hashes(self, z: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.uint64]:
        """(rows, GRIDS) hashes."""
        out = np.empty((len(z), GRIDS), dtype=np.uint64)
        width = z.shape[1]
        for grid in range(GRIDS):
            cells = np.floor((z + self.offsets[grid]) / CELL).astype(np.int8).tobytes()
            keyed = hashlib.blake2b(key=self._key, salt=bytes([grid]), digest_size=8)
            digests = bytearray()
            for start in range(0, len(cells), width):
                one = keyed.copy()
                one.update(cells[start : start + width])
                digests += one.digest()
            out[:, grid] = np.frombuffer(bytes(digests), dtype=">u8")
        return out


@dataclass(frozen=True)
class Membership:
    hashes: npt.NDArray[np.uint64]
    """Sorted, unique."""
    null_rate: float
    rows: int
    _filter: npt.NDArray[np.bool_] = field(init=False, repr=False, compare=False)
    """A bucket per value of a hash's low bits, set when a training hash has them: a row hash
    in an empty bucket (most) is answered without searching ``hashes``. About 16 buckets a
    training hash (4 MiB for 50,000 rows on 3 grids), at most 16 MiB."""

    def __post_init__(self) -> None:
        bits = min(24, max(16, math.ceil(math.log2(max(len(self.hashes), 1))) + 4))
        buckets = np.zeros(1 << bits, dtype=bool)
        buckets[self.hashes & np.uint64((1 << bits) - 1)] = True
        object.__setattr__(self, "_filter", buckets)

    def hits(self, row_hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        """Per row: whether any of its grid hashes is a training row's."""
        found = np.zeros(row_hashes.shape, dtype=bool)
        if len(self.hashes):
            mask = np.uint64(len(self._filter) - 1)
            maybe = self._filter[row_hashes & mask]
            candidates = row_hashes[maybe]
            where = np.searchsorted(self.hashes, candidates).clip(max=len(self.hashes) - 1)
            found[maybe] = self.hashes[where] == candidates
        return np.asarray(found.any(axis=1), dtype=bool)


@dataclass(frozen=True)
class PayloadReference:
    transform: Transform
    copula: Copula | None
    membership: Membership | None
    hasher: MembershipHasher | None

    @classmethod
    def from_documents(
        cls,
        reference: Mapping[str, Any],
        payload: Mapping[str, Any] | None,
        *,
        membership_key: bytes | None = None,
    ) -> PayloadReference:
        transform = Transform.from_reference(reference)
        if payload is None:
            return cls(transform, None, None, None)
        parsed = parse_payload(payload, transform.dimensions)
        copula, membership = parsed
        hasher = None
        if membership is not None and membership_key is not None:
            hasher = MembershipHasher(membership_key, transform.dimensions)
        return cls(transform, copula, membership if hasher else None, hasher)

    @classmethod
    def from_baseline(
        cls, baseline: Any, *, membership_key: bytes | None = None
    ) -> PayloadReference:
        """From a verified ``store.Baseline`` (its ``payload`` may be None)."""
        return cls.from_documents(
            baseline.reference, baseline.payload, membership_key=membership_key
        )


def build_payload(
    reference: Mapping[str, Any], blocks: Iterable[Block], *, membership_key: bytes | None
) -> dict[str, Any]:
    """``payload.json`` from the training rows (a second pass, after ``reference.json``)."""
    transform = Transform.from_reference(reference)
    hasher = MembershipHasher(membership_key, transform.dimensions) if membership_key else None
    parts: list[Floats] = []
    built: list[npt.NDArray[np.uint64]] = []
    held: list[npt.NDArray[np.uint64]] = []
    seen = 0
    for block in blocks:
        z = transform.normal_scores(block.values[:, transform.positions])
        parts.append(z.astype(np.float32))
        if hasher is not None:
            hashes = hasher.hashes(z)
            holdout = (np.arange(seen, seen + len(z)) % _HOLDOUT) == 0
            built.append(hashes[~holdout])
            held.append(hashes[holdout])
        seen += len(z)
    z_all = np.concatenate(parts).astype(np.float64) if parts else np.zeros((0, 0))
    copula = Copula.fit(z_all)
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "features": list(transform.names),
        "copula": {
            "precision_minus_identity": copula.precision_minus_identity.round(8).tolist(),
            "log_det": copula.log_det,
            "llr_mean": copula.llr_mean,
            "llr_std": copula.llr_std,
            "llr_independent": copula.llr_independent,
            "llr_q01": copula.llr_q01,
        },
        "membership": None,
    }
    if hasher is not None:
        training = np.unique(np.concatenate(built).ravel()) if built else np.zeros(0, np.uint64)
        holdout_hashes = np.concatenate(held) if held else np.zeros((0, GRIDS), np.uint64)
        null = float(np.isin(holdout_hashes, training).any(axis=1).mean()) if len(held) else 0.0
        everything = np.unique(np.concatenate([training, holdout_hashes.ravel()]))
        document["membership"] = {
            "grids": GRIDS,
            "cell": CELL,
            "hash": "blake2b-64, keyed",
            "rows": seen,
            "null_rate": null,
            "hashes": base64.b64encode(everything.astype(">u8").tobytes()).decode("ascii"),
        }
    return document


def parse_payload(document: Mapping[str, Any], dimensions: int) -> tuple[Copula, Membership | None]:
    """``payload.json`` checked: the format, a square copula of ``dimensions``; raises
    ``ValueError`` naming what is wrong."""
    if document.get("format") != FORMAT or document.get("version") != VERSION:
        raise ValueError(f"payload.json: not a {FORMAT} version {VERSION} document")
    try:
        entry = document["copula"]
        matrix = np.asarray(entry["precision_minus_identity"], dtype=np.float64)
        independent, q01 = entry.get("llr_independent"), entry.get("llr_q01")
        copula = Copula(matrix, float(entry["log_det"]), float(entry["llr_mean"]),
                        float(entry["llr_std"]),
                        None if independent is None else float(independent),
                        None if q01 is None else float(q01))  # fmt: skip
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"payload.json: the copula cannot be read: {error}") from None
    if matrix.shape != (dimensions, dimensions):
        raise ValueError(
            f"payload.json: a copula of {matrix.shape}, the reference has {dimensions} numeric "
            "features (built from another baseline?)"
        )
    found = document.get("membership")
    if not found:
        return copula, None
    try:
        raw = base64.b64decode(found["hashes"], validate=True)
        hashes = np.frombuffer(raw, dtype=">u8").astype(np.uint64)
        membership = Membership(hashes, float(found["null_rate"]), int(found["rows"]))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"payload.json: the membership hashes cannot be read: {error}") from None
    if int(found.get("grids", GRIDS)) != GRIDS or float(found.get("cell", CELL)) != CELL:
        raise ValueError("payload.json: membership hashes of another grid; rebuild the baseline")
    return copula, membership

"""The tabular feature space of the simulated model: a latent-factor population, sub-populations
of it for clients, the label, and the training CSV.

Every numeric feature is a transform of a standardized score ``s = (L . z + noise) / norm`` where
``z`` holds four latent factors (wealth, activity, risk, engagement), standard normal in the
training population, so features correlate through their loadings. The transforms give the
realistic shapes: normal and clipped (``age``), log-normal and skewed (``income``), bounded by a
logistic (``utilization_ratio`` in [0, 1]), Poisson counts (``num_logins_7d``), binaries
(``is_premium``), and one one-hot group (``region_*``) whose membership also moves the latent
means. A population drift is a shift of some features' scores ``s`` (in their standard
deviations) before the transform, so a drifted feature keeps its bounds and its type.

The label (1: the account defaults or charges back) is a nonlinear function of the observed
features with interactions and thresholds, drawn as a Bernoulli of its logistic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

Kind = Literal["normal", "lognormal", "bounded", "count", "binary", "onehot"]
Floats = npt.NDArray[np.float64]

N_LATENT = 4
NOISE = 0.6
"""The idiosyncratic part of each score, beside its latent loadings."""

REGIONS = ("eu", "us", "apac", "latam", "mea")
REGION_SHARE = np.array([0.30, 0.35, 0.18, 0.10, 0.07])
REGION_LATENT = np.array(
    [[0.1, 0.0, -0.1, 0.0], [0.3, 0.2, 0.0, 0.0], [0.0, 0.3, 0.0, 0.2],
     [-0.3, 0.0, 0.2, 0.0], [-0.1, -0.1, 0.1, 0.0]]
)  # fmt: skip
"""Latent mean of each region's members (regions differ in wealth, activity, risk)."""


@dataclass(frozen=True)
class Feature:
    """One column: its name, kind, latent loadings and transform parameters.

    ``normal``: ``clip(loc + scale * s, lo, hi)``; ``lognormal``: ``exp(loc + scale * s)``;
    ``bounded``: ``lo + (hi - lo) * logistic(loc + scale * s)``; ``count``: ``offset +
    Poisson(exp(loc + scale * s))``; ``binary``: ``s > loc``; ``onehot``: a member of a group.
    """

    name: str
    kind: Kind
    loadings: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    loc: float = 0.0
    scale: float = 1.0
    lo: float = -np.inf
    hi: float = np.inf
    decimals: int = 0
    offset: int = 0

    @property
    def integer(self) -> bool:
        return self.kind in ("count", "binary", "onehot")


def _f(
    name: str, kind: Kind, loadings: tuple[float, float, float, float], **params: float
) -> Feature:
    decimals = int(params.pop("decimals", 0 if kind in ("count", "binary") else 4))
    offset = int(params.pop("offset", 0))
    return Feature(name, kind, loadings, decimals=decimals, offset=offset, **params)


FEATURES: tuple[Feature, ...] = (
    _f("age", "normal", (0.5, -0.2, -0.1, 0.0), loc=42, scale=13, lo=18, hi=95, decimals=0),
    _f("income", "lognormal", (0.8, 0.1, -0.2, 0.0), loc=np.log(52_000), scale=0.55, decimals=2),
    _f("savings_balance", "lognormal", (0.7, 0.0, -0.3, 0.1), loc=np.log(8_000), scale=1.1,
       decimals=2),
    _f("credit_limit", "lognormal", (0.75, 0.1, -0.3, 0.0), loc=np.log(9_000), scale=0.6,
       decimals=2),
    _f("credit_score", "bounded", (0.3, 0.0, -0.8, 0.0), loc=0.6, scale=1.2, lo=300, hi=850,
       decimals=0),
    _f("utilization_ratio", "bounded", (-0.3, 0.2, 0.7, 0.0), loc=-0.5, scale=1.3, lo=0, hi=1),
    _f("debt_to_income", "bounded", (-0.4, 0.0, 0.6, 0.0), loc=-1.2, scale=1.0, lo=0, hi=2),
    _f("avg_transaction_amount", "lognormal", (0.5, 0.3, 0.0, 0.0), loc=np.log(45), scale=0.7,
       decimals=2),
    _f("monthly_spend", "lognormal", (0.6, 0.6, 0.0, 0.0), loc=np.log(1_800), scale=0.6,
       decimals=2),
    _f("session_duration_s", "lognormal", (0.0, 0.3, 0.0, 0.7), loc=np.log(240), scale=0.8,
       decimals=1),
    _f("days_since_last_login", "lognormal", (0.0, -0.4, 0.0, -0.6), loc=np.log(3), scale=1.0,
       decimals=2),
    _f("account_age_days", "normal", (0.4, 0.0, -0.2, 0.3), loc=1_500, scale=900, lo=1, hi=7_300,
       decimals=0),
    _f("mobile_share", "bounded", (-0.2, 0.2, 0.0, 0.5), loc=0.4, scale=1.2, lo=0, hi=1),
    _f("international_share", "bounded", (0.3, 0.0, 0.3, 0.0), loc=-2.2, scale=1.0, lo=0, hi=1),
    _f("late_payment_ratio", "bounded", (0.0, 0.0, 0.8, -0.1), loc=-3.0, scale=1.2, lo=0, hi=1),
    _f("merchant_entropy", "normal", (0.2, 0.6, 0.0, 0.2), loc=3, scale=1, lo=0, hi=6),
    _f("spend_volatility", "lognormal", (0.0, 0.2, 0.5, 0.0), loc=np.log(0.3), scale=0.5),
    _f("avg_balance_30d", "lognormal", (0.8, 0.0, -0.2, 0.0), loc=np.log(3_000), scale=0.9,
       decimals=2),
    _f("device_trust_score", "bounded", (0.0, 0.0, -0.5, 0.4), loc=1.5, scale=1.0, lo=0, hi=1),
    _f("geo_distance_km", "lognormal", (0.0, 0.2, 0.4, 0.0), loc=np.log(15), scale=1.2,
       decimals=1),
    _f("num_transactions_30d", "count", (0.2, 0.8, 0.0, 0.1), loc=np.log(35), scale=0.6),
    _f("num_logins_7d", "count", (0.0, 0.4, 0.0, 0.8), loc=np.log(6), scale=0.5),
    _f("num_support_tickets_90d", "count", (0.0, 0.0, 0.5, -0.2), loc=np.log(0.6), scale=0.6),
    _f("num_failed_payments_90d", "count", (-0.2, 0.0, 0.8, 0.0), loc=np.log(0.3), scale=0.8),
    _f("num_devices", "count", (0.0, 0.3, 0.2, 0.3), loc=np.log(0.8), scale=0.4, offset=1),
    _f("num_products", "count", (0.5, 0.0, 0.0, 0.3), loc=np.log(1.2), scale=0.4, offset=1),
    _f("num_declined_30d", "count", (0.0, 0.3, 0.7, 0.0), loc=np.log(0.4), scale=0.8),
    _f("num_chargebacks_365d", "count", (0.0, 0.0, 0.8, 0.0), loc=np.log(0.1), scale=0.9),
    _f("is_premium", "binary", (0.8, 0.0, 0.0, 0.2), loc=1.0),
    _f("has_autopay", "binary", (0.2, 0.0, -0.4, 0.3), loc=0.0),
    *(_f(f"region_{r}", "onehot", (0.0, 0.0, 0.0, 0.0)) for r in REGIONS),
)  # fmt: skip
FEATURE_NAMES = tuple(f.name for f in FEATURES)
INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
SCORED = tuple(i for i, f in enumerate(FEATURES) if f.kind != "onehot")
"""Columns computed from a score (every column but the one-hot group)."""
REGION_COLUMNS = tuple(INDEX[f"region_{r}"] for r in REGIONS)
LABEL = "label"

_LOADINGS = np.array([FEATURES[i].loadings for i in SCORED])  # (n scored, N_LATENT)
_NORM = np.sqrt((_LOADINGS**2).sum(axis=1) + NOISE**2)


@dataclass(frozen=True)
class SubPopulation:
    """Where one client's rows come from: a latent mean and spread, and region weights."""

    latent_mean: Floats
    latent_scale: float
    region_weights: Floats

    @staticmethod
    def training() -> SubPopulation:
        return SubPopulation(np.zeros(N_LATENT), 1.0, REGION_SHARE)

    @staticmethod
    def draw(
        rng: np.random.Generator,
        *,
        spread: float = 0.6,
        scale: tuple[float, float] = (0.5, 0.85),
        concentration: float = 2.5,
    ) -> SubPopulation:
        """A region of the training population: latent mean ``N(0, spread^2)``, a narrower
        spread, and region weights drawn around the training shares (``concentration`` low:
        one or two regions dominate, a reweighting; high: close to the training shares)."""
        weights = rng.dirichlet(REGION_SHARE * concentration)
        return SubPopulation(rng.normal(0.0, spread, N_LATENT), float(rng.uniform(*scale)), weights)


def sample(
    rng: np.random.Generator,
    n: int,
    sub: SubPopulation,
    shift: dict[int, Floats] | None = None,
) -> Floats:
    """``n`` rows of ``sub`` (float64, ``len(FEATURES)`` columns, rounded as the features say);
    ``shift`` moves some columns' scores by that many standard deviations (a drift)."""
    region = rng.choice(len(REGIONS), size=n, p=sub.region_weights)
    z = sub.latent_mean + sub.latent_scale * rng.standard_normal((n, N_LATENT))
    z += REGION_LATENT[region]
    s = (z @ _LOADINGS.T + NOISE * rng.standard_normal((n, len(SCORED)))) / _NORM
    rows = np.zeros((n, len(FEATURES)))
    for j, i in enumerate(SCORED):
        if shift and i in shift:
            s[:, j] += shift[i]
        rows[:, i] = transform(FEATURES[i], s[:, j], rng)
    rows[np.arange(n), np.array(REGION_COLUMNS)[region]] = 1.0
    return round_rows(rows)


def transform(feature: Feature, s: Floats, rng: np.random.Generator) -> Floats:
    if feature.kind == "normal":
        return np.clip(feature.loc + feature.scale * s, feature.lo, feature.hi)
    if feature.kind == "lognormal":
        return np.exp(feature.loc + feature.scale * s)
    if feature.kind == "bounded":
        logistic = 1.0 / (1.0 + np.exp(-(feature.loc + feature.scale * s)))
        return feature.lo + (feature.hi - feature.lo) * logistic
    if feature.kind == "count":
        return feature.offset + rng.poisson(np.exp(feature.loc + feature.scale * s)).astype(float)
    if feature.kind == "binary":
        return (s > feature.loc).astype(float)
    raise ValueError(f"feature {feature.name} of kind {feature.kind} has no transform")


_DECIMALS = np.array([f.decimals for f in FEATURES])


def round_rows(rows: Floats) -> Floats:
    """Rows as a client writes them: each column to its decimals (what the model receives)."""
    out = rows.copy()
    for decimals in np.unique(_DECIMALS):
        columns = decimals == _DECIMALS
        out[:, columns] = np.round(out[:, columns], int(decimals))
    return out


def label(rows: Floats, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """The label: a Bernoulli of a nonlinear function of the observed features."""
    c = {name: rows[:, i] for name, i in INDEX.items()}
    logit = (
        -1.6
        + 1.5 * np.tanh(4.0 * (c["utilization_ratio"] - 0.55))
        + 0.9 * (c["num_failed_payments_90d"] >= 1)
        + 0.6 * np.log1p(c["num_declined_30d"])
        - 0.9 * (c["credit_score"] - 640.0) / 100.0
        + 0.8 * c["international_share"] * np.log1p(c["geo_distance_km"]) / 3.0
        - 0.5 * np.log(c["income"] / 52_000.0) * (c["is_premium"] + 0.5)
        + 0.4 * c["region_latam"]
        + 0.3 * np.sin(c["session_duration_s"] / 120.0)
        + 1.2 * c["late_payment_ratio"]
    )
    p = 1.0 / (1.0 + np.exp(-logit))
    return (rng.random(len(rows)) < p).astype(np.int64)


def training_set(seed: int, n: int) -> tuple[Floats, npt.NDArray[np.int64]]:
    """The training rows and labels (deterministic given ``seed``)."""
    rng = np.random.default_rng([seed, 0])
    rows = sample(rng, n, SubPopulation.training())
    return rows, label(rows, rng)


# --- text -----------------------------------------------------------------------------------------

ROW_FORMAT = ",".join(
    "%d" if f.integer or f.decimals == 0 else f"%.{f.decimals}f" for f in FEATURES
)
"""A ``%`` template that writes one row with each column's decimals (ints without a point)."""


def csv_lines(rows: Floats) -> Iterator[str]:
    """Each row as one CSV line (no newline)."""
    for row in rows.tolist():
        yield ROW_FORMAT % tuple(row)


def write_training_csv(path: Path, rows: Floats, labels: npt.NDArray[np.int64]) -> None:
    """``training.csv``: a header of the feature names and ``label``, then one row a line."""
    with path.open("w") as out:
        out.write(",".join((*FEATURE_NAMES, LABEL)) + "\n")
        for line, y in zip(csv_lines(rows), labels.tolist(), strict=True):
            out.write(f"{line},{y}\n")


def read_training_csv(path: Path) -> tuple[Floats, npt.NDArray[np.int64]]:
    """The rows and labels of a ``training.csv`` written here (checks the header)."""
    with path.open() as lines:
        header = next(lines).rstrip("\n").split(",")
        if tuple(header) != (*FEATURE_NAMES, LABEL):
            raise ValueError(f"{path}: header {header[:3]}... is not this simulator's")
        data = np.loadtxt(lines, delimiter=",", ndmin=2)
    return data[:, :-1], data[:, -1].astype(np.int64)

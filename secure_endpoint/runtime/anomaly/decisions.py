"""From scores and aggregates to decisions: anomalous or not, what to do, and why.

A window is anomalous when its Isolation Forest score reaches the threshold of its kind of
principal (calibrated to the top ``alert_quantile`` of the baseline's own windows of that kind,
never scikit-learn's default ``contamination``) or when a hard rule hits. Hard rules are plain
limits an operator can read:

- ``rejected-flood``: an address sends at least ``rejected_per_second`` rejected (4xx) requests
  per second without a client id (floods, credential stuffing);
- ``path-scan``: at least ``scan_paths`` requests for paths the API has no route for (404: the
  access log holds the matched route, never the client's path, which is the WAF logs' to keep),
  mostly rejected, from an address never seen with a client id (a client's own address retrying
  a wrong URL is not blocked for it);
- ``address-spread``: a client known for at least ``spread_known_seconds`` seen from at least
  ``spread_new_addresses`` addresses new for it in one window (a stolen secret used from many
  places; a client's own pool of egress addresses is not new once seen);
- ``unknown-address``: an address never seen with a client id and quiet for a day before, all of
  whose requests are rejected (unauthenticated probing, however thinly spread; alert only, and
  ``flag_unknown_addresses=False`` turns it off where internet background noise is unwanted);
- ``daily-quota``: a client over ``daily_quota`` requests in the trailing day (when given);
- ``cumulative-volume``: a client's volume over the trailing ``cumulative_hours`` over
  ``cumulative_factor`` times the most it ever sent in such a period before (extraction that
  stays under the rate limits but not under its own record).

The action is ``block`` (put the address on the WAF's auto-block list, or revoke the client)
only after a blocking rule (the first three) or at least ``block_after`` anomalous windows of the
same principal within ``block_lookback_windows``; else ``alert`` for an anomalous window, and
``none``. Every anomalous window carries reasons: the rules that hit and the features furthest
from the baseline's usual values for principals of its kind.

Pure: plain data in, plain data out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secure_endpoint.runtime.anomaly.features import (
    FEATURES,
    WindowAggregates,
    first_window_start,
    trailing_sum,
)
from secure_endpoint.runtime.anomaly.scoring import Model

DAY_SECONDS = 86_400
RULE_SCORE = 1.0
"""The score of a window that a hard rule flags: the highest an Isolation Forest can give."""

BLOCKING_RULES = ("rejected-flood", "path-scan", "address-spread")
ALERTING_RULES = ("unknown-address", "daily-quota", "cumulative-volume")

_SHOWN_AS: dict[str, tuple[str, str]] = {
    "log_requests": ("requests", "expm1"),
    "log_requests_per_active_second": ("requests per active second", "exp"),
    "log_addresses": ("addresses", "exp"),
    "log_paths": ("routes", "exp"),
    "log_mean_bytes": ("mean response bytes", "expm1"),
    "log_mean_latency": ("mean latency ms", "expm1"),
    "log_history_rate": ("usual requests per window", "expm1"),
}


@dataclass(frozen=True)
class DecisionConfig:
    """Limits of the hard rules and of blocking (see the module docstring)."""

    rejected_per_second: float = 0.4
    scan_paths: int = 10
    scan_rejected_share: float = 0.5
    spread_new_addresses: int = 5
    spread_known_seconds: int = 3600
    flag_unknown_addresses: bool = True
    daily_quota: int | None = None
    cumulative_hours: float = 6.0
    cumulative_factor: float = 4.0
    cumulative_min_requests: int = 1000
    cumulative_min_history_hours: float = 24.0
    own_record_margin: float | None = 0.0
    block_after: int = 2
    block_lookback_windows: int = 12
    max_feature_reasons: int = 3
    min_feature_z: float = 3.0

    def __post_init__(self) -> None:
        if self.rejected_per_second <= 0:
            raise ValueError(
                f"rejected_per_second must be positive, got {self.rejected_per_second}"
            )
        if self.block_after < 1:
            raise ValueError(f"block_after must be at least 1, got {self.block_after}")
        if self.block_lookback_windows < self.block_after:
            raise ValueError(
                f"block_lookback_windows ({self.block_lookback_windows}) must be at least "
                f"block_after ({self.block_after})"
            )
        if self.daily_quota is not None and self.daily_quota < 1:
            raise ValueError(f"daily_quota must be at least 1, got {self.daily_quota}")
        if self.cumulative_hours <= 0:
            raise ValueError(f"cumulative_hours must be positive, got {self.cumulative_hours}")


@dataclass(frozen=True, eq=False)
class Decisions:
    """One decision per row of the aggregates: ``score`` (higher is more anomalous),
    ``anomalous``, ``action`` (``none``, ``alert`` or ``block``) and ``reasons``."""

    score: npt.NDArray[np.float64]
    anomalous: npt.NDArray[np.bool_]
    action: list[str]
    reasons: list[list[str]]
    rules: dict[str, npt.NDArray[np.bool_]]

    def select(self, mask: npt.NDArray[np.bool_]) -> Decisions:
        """The decisions of the rows where ``mask`` is true."""
        index = np.flatnonzero(mask).tolist()
        return Decisions(
            self.score[mask],
            self.anomalous[mask],
            [self.action[i] for i in index],
            [self.reasons[i] for i in index],
            {name: hit[mask] for name, hit in self.rules.items()},
        )


def hard_rules(
    aggregates: WindowAggregates, config: DecisionConfig = DecisionConfig()
) -> dict[str, npt.NDArray[np.bool_]]:
    """Which rows each hard rule flags."""
    column = aggregates.column
    is_client = aggregates.is_client[aggregates.principal]
    n = column("requests")
    rejected = column("status_4xx")
    window = aggregates.window_seconds
    window_end_ms = (aggregates.window_start + window) * 1000.0
    known = aggregates.first_authenticated_ms[aggregates.principal] < window_end_ms
    rules = {
        "rejected-flood": ~is_client & (rejected >= config.rejected_per_second * window),
        # requests for no route (404) from an address that never authenticated
        "path-scan": ~is_client
        & ~known
        & (column("status_404") >= config.scan_paths)
        & (rejected >= config.scan_rejected_share * n),
    }
    # a stolen secret: addresses new for a client that has been known for a while
    seen_for = aggregates.window_start - first_window_start(aggregates)
    rules["address-spread"] = (
        is_client
        & (column("new_addresses") >= config.spread_new_addresses)
        & (seen_for >= config.spread_known_seconds)
    )
    # probing: an address never seen with a client id, quiet for a day, all of it rejected
    _, earlier = trailing_sum(aggregates, n, DAY_SECONDS)
    rules["unknown-address"] = (
        ~is_client & ~known & (earlier == 0) & (rejected >= n) & config.flag_unknown_addresses
    )
    day, _ = trailing_sum(aggregates, n, DAY_SECONDS - window)
    day += n  # the trailing day, this window included
    if config.daily_quota is None:
        rules["daily-quota"] = np.zeros(len(n), dtype=bool)
    else:
        rules["daily-quota"] = is_client & (day > config.daily_quota)
    rules["cumulative-volume"] = is_client & _over_own_record(aggregates, n, config)
    return rules


def _over_own_record(
    aggregates: WindowAggregates, n: npt.NDArray[np.float64], config: DecisionConfig
) -> npt.NDArray[np.bool_]:
    """Rows whose trailing volume (``cumulative_hours``, this window included) is over
    ``cumulative_factor`` times the largest such volume of the same principal in its history
    before that period (as far back as the data goes: load 7 days in the monitor)."""
    rows = len(n)
    if rows == 0:
        return np.zeros(0, dtype=bool)
    seconds = aggregates.window_seconds
    horizon = int(config.cumulative_hours * 3600) // seconds * seconds
    volume, _ = trailing_sum(aggregates, n, horizon - seconds)
    volume += n
    # the running maximum of each principal's trailing volume (rows: by principal, in time order)
    counts = np.rint(volume).astype(np.int64)
    big = int(counts.max()) + 1
    offset = aggregates.principal * big
    record = np.maximum.accumulate(counts + offset) - offset
    # ... as it stood at the principal's last window a whole period before this one
    window = aggregates.window_start // seconds
    span = int(window.max() - window.min()) + horizon // seconds + 2
    key = aggregates.principal * span + (window - int(window.min())) + horizon // seconds
    earlier = np.searchsorted(key, key - horizon // seconds, side="right") - 1
    at = np.maximum(earlier, 0)
    same = (earlier >= 0) & (aggregates.principal[at] == aggregates.principal)
    # ... once the principal has been seen for at least a whole day before that period (a
    # record needs at least one daily cycle: a new client has none yet)
    least = horizon + int(config.cumulative_min_history_hours * 3600)
    same &= aggregates.window_start - first_window_start(aggregates) >= least - seconds
    before = np.where(same, record[at], -1)
    return np.asarray(
        same
        & (volume >= config.cumulative_min_requests)
        & (volume > config.cumulative_factor * np.maximum(before, 1)),
        dtype=bool,
    )


def own_record(
    aggregates: WindowAggregates, score: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """For each row, the highest score of the same principal's earlier windows (-inf: none).

    Rows are grouped by principal and in time order: a running maximum within each group,
    computed over ``score + 4 * principal`` (exact to about 1e-10 for a million principals)."""
    rows = len(score)
    if rows == 0:
        return np.zeros(0)
    offset = aggregates.principal.astype(np.float64) * 4.0  # scores lie in [0, 1]
    running = np.maximum.accumulate(np.clip(score, 0.0, 1.0) + offset) - offset
    earlier = np.empty(rows)
    earlier[0] = -np.inf
    earlier[1:] = running[:-1]
    new = np.ones(rows, dtype=bool)
    np.not_equal(aggregates.principal[1:], aggregates.principal[:-1], out=new[1:])
    earlier[new] = -np.inf
    return earlier


def decide(
    aggregates: WindowAggregates,
    X: npt.NDArray[np.float64],
    scores: npt.NDArray[np.float64] | None,
    model: Model | None,
    config: DecisionConfig = DecisionConfig(),
    decided: npt.NDArray[np.bool_] | None = None,
) -> Decisions:
    """Decide the rows where ``decided`` is true (default: every row); the others are history
    that the rules look back on (never anomalous). Without a model (rules only) the score is 0
    unless a rule hits."""
    rows = len(aggregates)
    rules = hard_rules(aggregates, config)
    if decided is not None:
        rules = {name: hit & decided for name, hit in rules.items()}
    any_rule = np.zeros(rows, dtype=bool)
    for hit in rules.values():
        any_rule |= hit
    is_client = aggregates.is_client[aggregates.principal]
    if model is None or scores is None:
        score = np.zeros(rows, dtype=np.float64)
        threshold = np.full(rows, np.inf)
    else:
        score = np.asarray(scores, dtype=np.float64).copy()
        threshold = model.threshold(is_client)
    if config.own_record_margin is None:
        record = np.full(rows, -np.inf)
    else:
        # the running maximum is exact to about 1e-10 (see own_record): compare with room for it
        record = own_record(aggregates, score) + config.own_record_margin + 1e-9
    by_score = (score >= threshold) & (score > record)
    if decided is not None:
        by_score &= decided
    anomalous = by_score | any_rule
    score[any_rule] = np.maximum(score[any_rule], RULE_SCORE)
    blocking = np.zeros(rows, dtype=bool)
    for name in BLOCKING_RULES:
        blocking |= rules[name]
    recent, _ = trailing_sum(
        aggregates,
        anomalous.astype(np.float64),
        config.block_lookback_windows * aggregates.window_seconds,
    )
    repeated = anomalous & (recent + 1 >= config.block_after)
    block = blocking | repeated
    action = np.where(block, "block", np.where(anomalous, "alert", "none")).tolist()
    reasons: list[list[str]] = [[] for _ in range(rows)]
    for i in np.flatnonzero(anomalous).tolist():
        reasons[i] = _reasons(i, aggregates, X, score, threshold, rules, model, by_score, config)
        if repeated[i] and not blocking[i]:
            reasons[i].append(
                f"repeated: {int(recent[i]) + 1} anomalous windows within the last "
                f"{config.block_lookback_windows}"
            )
    return Decisions(score, anomalous, action, reasons, rules)


def _reasons(
    i: int,
    aggregates: WindowAggregates,
    X: npt.NDArray[np.float64],
    score: npt.NDArray[np.float64],
    threshold: npt.NDArray[np.float64],
    rules: dict[str, npt.NDArray[np.bool_]],
    model: Model | None,
    by_score: npt.NDArray[np.bool_],
    config: DecisionConfig,
) -> list[str]:
    column = aggregates.column
    out = []
    for name, hit in rules.items():
        if not hit[i]:
            continue
        if name == "rejected-flood":
            detail = f"{column('status_4xx')[i]:.0f} rejected requests without a client id"
        elif name == "path-scan":
            detail = (
                f"{column('status_404')[i]:.0f} requests for no route, "
                f"{column('status_4xx')[i]:.0f} rejected"
            )
        elif name == "address-spread":
            detail = (
                f"{column('new_addresses')[i]:.0f} new source addresses "
                f"({column('addresses')[i]:.0f} in all)"
            )
        elif name == "unknown-address":
            detail = "never seen with a client id, every request rejected"
        elif name == "daily-quota":
            detail = f"over the daily quota of {config.daily_quota}"
        else:
            detail = (
                f"volume of the last {config.cumulative_hours:g} h over "
                f"{config.cumulative_factor:g}x its own record"
            )
        out.append(f"rule:{name}: {detail}")
    if model is not None and by_score[i]:
        out.append(f"isolation score {score[i]:.3f} >= threshold {threshold[i]:.3f}")
    if model is not None:
        kind = 0 if aggregates.is_client[aggregates.principal[i]] else 1
        median, scale = model.reference_median[kind], model.reference_scale[kind]
        out.extend(
            explain(
                X[i],
                median,
                scale,
                model.feature_names,
                limit=config.max_feature_reasons,
                min_z=config.min_feature_z,
            )
        )
    return out


def explain(
    x: npt.NDArray[np.float64],
    median: npt.NDArray[np.float64],
    scale: npt.NDArray[np.float64],
    names: Sequence[str] = FEATURES,
    *,
    limit: int = 3,
    min_z: float = 3.0,
) -> list[str]:
    """The features furthest from the usual values (robust z-scores), most distant first."""
    z = (x - median) / scale
    order = np.argsort(-np.abs(z), kind="stable")
    out = []
    for j in order[:limit].tolist():
        if abs(z[j]) < min_z:
            break
        label, unit = _SHOWN_AS.get(names[j], (names[j], ""))
        value, usual = _shown(x[j], unit), _shown(median[j], unit)
        out.append(f"{label} {value:.3g} vs usual {usual:.3g} (z {z[j]:+.1f})")
    return out


def _shown(value: float, unit: str) -> float:
    if unit == "expm1":
        return float(np.expm1(value))
    if unit == "exp":
        return float(np.exp(value))
    return float(value)

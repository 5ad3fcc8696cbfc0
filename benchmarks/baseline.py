"""A static threshold detector in the style of AWS WAF Security Automations, to compare against.

Per source address: more than 100 requests in a 5-minute window (the HTTP flood rate-based rule),
or 50 client errors (4xx) or more in a minute (the scanners and probes log parser). Windows and
minutes are aligned to the epoch. A principal's window is flagged when any address it used in that
window was flagged in that window; its score is the largest ratio of a count to its limit over those
addresses (1 or more is flagged), so that it can be ranked for a ROC AUC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RATE_LIMIT = 100
"""Requests per address per 5 minutes; more is flagged."""
RATE_SECONDS = 300
ERROR_LIMIT = 50
"""Client errors (4xx) per address per minute; this many is flagged."""
ERROR_SECONDS = 60


@dataclass(frozen=True)
class Scores:
    """One row per (window, principal) that sent a request, ordered by window then principal."""

    window_start: npt.NDArray[np.int64]
    principal: list[str]
    score: npt.NDArray[np.float64]
    anomalous: npt.NDArray[np.bool_]

    def as_dict(self) -> dict[tuple[int, str], tuple[float, bool]]:
        return {
            (int(w), p): (float(s), bool(a))
            for w, p, s, a in zip(
                self.window_start, self.principal, self.score, self.anomalous, strict=True
            )
        }


def _group_max(keys: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> np.ndarray:
    """For each element, the largest value among the elements with the same key."""
    unique, inverse = np.unique(keys, return_inverse=True)
    best = np.full(len(unique), -np.inf)
    np.maximum.at(best, inverse, values)
    return best[inverse]


def _group_count(keys: npt.NDArray[np.int64]) -> np.ndarray:
    """For each element, how many elements share its key."""
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return counts[inverse]


def threshold_scores(
    time_ms: Sequence[int] | npt.NDArray[np.int64],
    address: Sequence[str],
    principal: Sequence[str],
    status: Sequence[int] | npt.NDArray[np.int64],
    *,
    window_seconds: int = 300,
) -> Scores:
    """Score each (window, principal) of a request log given as columns."""
    t = np.asarray(time_ms, dtype=np.int64) // 1000
    status_ = np.asarray(status, dtype=np.int64)
    if not len(t):
        empty = np.zeros(0)
        return Scores(empty.astype(np.int64), [], empty, empty.astype(bool))
    _, a = np.unique(np.asarray(address, dtype=object), return_inverse=True)
    principals, p = np.unique(np.asarray(principal, dtype=object), return_inverse=True)
    a, p = a.astype(np.int64), p.astype(np.int64)
    t_rel = t - t.min()
    span = int(t_rel.max()) // min(ERROR_SECONDS, window_seconds) + 2  # buckets per address

    def per_address(seconds: int) -> npt.NDArray[np.int64]:
        bucket = t // seconds
        keys: npt.NDArray[np.int64] = a * span + (bucket - bucket.min())
        return keys

    requests = _group_count(per_address(RATE_SECONDS))
    errors = (status_ >= 400) & (status_ < 500)
    error_counts = np.zeros(len(t), dtype=np.int64)
    error_counts[errors] = _group_count(per_address(ERROR_SECONDS)[errors])
    score = np.maximum(requests / (RATE_LIMIT + 1), error_counts / ERROR_LIMIT)
    address_window = _group_max(per_address(window_seconds), score)  # the address's verdict
    window = t // window_seconds
    row_keys = (window - window.min()) * len(principals) + p
    rows = np.unique(row_keys)
    row_score = np.full(len(rows), -np.inf)
    np.maximum.at(row_score, np.searchsorted(rows, row_keys), address_window)
    window_start = (rows // len(principals) + window.min()) * window_seconds
    return Scores(
        window_start=window_start,
        principal=[str(principals[i]) for i in (rows % len(principals))],
        score=row_score,
        anomalous=row_score >= 1.0,
    )

"""Per principal and window: the aggregates of its requests, then the features scored.

Two ways lead to the same ``WindowAggregates``: ``aggregate`` over parsed records (the offline
replay) and ``insights.aggregates_from_rows`` over the rows of the Logs Insights queries (the
monitor in AWS, whose cost then grows with the number of principals, not of requests). Only
aggregates that one Logs Insights ``stats`` pass can compute are used: counts, sums, minima,
maxima and distinct counts. ``features`` turns either into the same matrix.

Pure: plain data in, plain data out; no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secure_endpoint.runtime.anomaly.records import Records

WINDOW_SECONDS = 300
"""The default window: aligned to the epoch, as the Logs Insights query bins it."""

HISTORY_SECONDS = 86_400
"""The default horizon of a principal's own history (the trailing-history features)."""

AGGREGATES = (
    "requests",  # count
    "first_ms",  # first request, milliseconds after the window start
    "last_ms",  # last request, milliseconds after the window start
    "seconds",  # distinct seconds with a request
    "tens",  # distinct 10-second slots with a request
    "status_401",
    "status_403",
    "status_404",
    "status_429",
    "status_4xx",  # every 4xx, the four above included
    "status_5xx",
    "addresses",  # distinct source addresses
    "new_addresses",  # source addresses seen for the first time for this principal
    "paths",  # distinct routes (resourcePath; "-", a path with no route, is one of them)
    "bytes_sum",  # responseLength
    "bytes_squares",
    "answered",  # requests answered below 400 (the ones whose latency is the client's doing)
    "latency_sum",  # responseLatency of the answered requests, milliseconds
    "latency_squares",
)
"""What is aggregated per principal and window, in the order of ``WindowAggregates.values``."""

FEATURES = (
    "log_requests",
    "regularity_1s",
    "regularity_10s",
    "log_requests_per_active_second",
    "share_401",
    "share_403",
    "share_404",
    "share_429",
    "share_other_4xx",
    "share_5xx",
    "log_addresses",
    "log_new_addresses",
    "log_paths",
    "log_mean_bytes",
    "bytes_cv",
    "log_mean_latency",
    "latency_cv",
    "is_client",
    "known_address",
    "history_duty",
    "log_history_rate",
    "volume_vs_history",
    "history_volume_cv",
    "addresses_vs_history",
)
"""The columns of the feature matrix, in order (see ``features`` for what each one is)."""


@dataclass(frozen=True)
class WindowAggregates:
    """Aggregates per principal and window, one row each.

    Rows are grouped by principal (the principal index ascending) and, within a principal, in
    window order: what the history features need. ``names``, ``is_client`` and
    ``first_authenticated_ms`` are per principal; ``first_authenticated_ms`` is when the address
    was first seen with a client id (``inf``: never, or a client).
    """

    window_seconds: int
    names: tuple[str, ...]
    is_client: npt.NDArray[np.bool_]
    first_authenticated_ms: npt.NDArray[np.float64]
    principal: npt.NDArray[np.int64]
    window_start: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]  # rows x AGGREGATES
    malformed: int = 0

    def __len__(self) -> int:
        return len(self.principal)

    def column(self, name: str) -> npt.NDArray[np.float64]:
        return self.values[:, AGGREGATES.index(name)]

    def row_names(self) -> list[str]:
        return [self.names[i] for i in self.principal.tolist()]

    def as_dict(self) -> dict[tuple[str, int], dict[str, float]]:
        """``{(principal, window start): {aggregate: value}}``, for comparisons and tests."""
        starts = self.window_start.tolist()
        rows = self.values.tolist()
        return {
            (name, start): dict(zip(AGGREGATES, row, strict=True))
            for name, start, row in zip(self.row_names(), starts, rows, strict=True)
        }

    def select(self, mask: npt.NDArray[np.bool_]) -> WindowAggregates:
        """The rows where ``mask`` is true (the principals are kept)."""
        return WindowAggregates(
            self.window_seconds,
            self.names,
            self.is_client,
            self.first_authenticated_ms,
            self.principal[mask],
            self.window_start[mask],
            self.values[mask],
            self.malformed,
        )


def build(
    window_seconds: int,
    principal_names: list[str],
    principal_is_client: list[bool],
    window_start: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    first_authenticated_ms: dict[str, float],
    malformed: int = 0,
) -> WindowAggregates:
    """Aggregates from one row per (principal, window), in any order: the Insights path."""
    names: dict[tuple[bool, str], int] = {}
    codes = np.fromiter(
        (
            names.setdefault((kind, name), len(names))
            for name, kind in zip(principal_names, principal_is_client, strict=True)
        ),
        np.int64,
        len(principal_names),
    )
    order = np.lexsort((window_start, codes))
    keys = list(names)
    return WindowAggregates(
        window_seconds=window_seconds,
        names=tuple(name for _, name in keys),
        is_client=np.array([kind for kind, _ in keys], dtype=bool),
        first_authenticated_ms=np.array(
            [np.inf if kind else first_authenticated_ms.get(name, np.inf) for kind, name in keys],
            dtype=np.float64,
        ),
        principal=codes[order],
        window_start=np.asarray(window_start, dtype=np.int64)[order],
        values=np.asarray(values, dtype=np.float64).reshape(-1, len(AGGREGATES))[order],
        malformed=malformed,
    )


def aggregate(records: Records, window_seconds: int = WINDOW_SECONDS) -> WindowAggregates:
    """Aggregates of parsed records: what the Logs Insights queries return, computed locally."""
    if window_seconds < 10 or window_seconds % 10:
        raise ValueError(f"window_seconds must be a multiple of 10 seconds, got {window_seconds}")
    n = len(records)
    window_ms = window_seconds * 1000
    is_client_request = records.client >= 0
    # one principal code space: clients even, addresses odd
    principal = np.where(is_client_request, 2 * records.client, 2 * records.address + 1)
    window = records.time_ms // window_ms
    offset = records.time_ms - window * window_ms
    if n:
        first_window, n_windows = int(window.min()), int(window.max() - window.min()) + 1
    else:
        first_window, n_windows = 0, 1
    shift = int(window_ms).bit_length()
    group = principal * n_windows + (window - first_window)
    if n and int(group.max()) < (1 << (62 - shift)):
        order = np.argsort((group << shift) | offset)
    else:  # too many principals and windows for one 64-bit key
        order = np.lexsort((offset, group))
    group, offset = group[order], offset[order]
    boundary = np.empty(n, dtype=bool)
    boundary[:1] = True
    np.not_equal(group[1:], group[:-1], out=boundary[1:])
    starts = np.flatnonzero(boundary)
    ends = np.append(starts[1:], n)
    row = np.cumsum(boundary) - 1
    rows = len(starts)

    values = np.zeros((rows, len(AGGREGATES)), dtype=np.float64)
    put = {name: values[:, i] for i, name in enumerate(AGGREGATES)}
    put["requests"][:] = ends - starts
    if n:
        put["first_ms"][:] = offset[starts]
        put["last_ms"][:] = offset[ends - 1]
        for name, slot_ms in (("seconds", 1000), ("tens", 10_000)):
            slot = offset // slot_ms
            new = boundary.copy()
            new[1:] |= slot[1:] != slot[:-1]
            put[name][:] = np.add.reduceat(new, starts, dtype=np.int64)
        status = records.status[order]
        classes = np.zeros(n, dtype=np.int64)
        classes[(status >= 400) & (status < 500)] = 1
        classes[status >= 500] = 2
        for code, offset_code in ((401, 3), (403, 4), (404, 5), (429, 6)):
            classes[status == code] = offset_code
        counts = np.bincount(row * 8 + classes, minlength=rows * 8).reshape(rows, 8)
        for name, code in (("status_401", 3), ("status_403", 4), ("status_404", 5)):
            put[name][:] = counts[:, code]
        put["status_429"][:] = counts[:, 6]
        put["status_4xx"][:] = counts[:, 1] + counts[:, 3:7].sum(axis=1)
        put["status_5xx"][:] = counts[:, 2]
        size = max(len(records.addresses), 1)
        pairs = _distinct(row * size + records.address[order])  # (row, address), row-ordered
        pair_row = pairs // size
        put["addresses"][:] = np.bincount(pair_row, minlength=rows)
        # a principal's rows come in window order: its first row with an address is where the
        # address is new for it
        principal_address = group[starts][pair_row] // n_windows * size + pairs % size
        first = _run_starts(np.argsort(principal_address, kind="stable"), principal_address)
        put["new_addresses"][:] = np.bincount(pair_row[first], minlength=rows)
        route_size = max(len(records.routes), 1)
        route_pairs = _distinct(row * route_size + records.route[order])
        put["paths"][:] = np.bincount(route_pairs // route_size, minlength=rows)
        answered = status < 400
        put["answered"][:] = np.add.reduceat(answered, starts, dtype=np.int64)
        for name, column in (
            ("bytes", records.response_length[order]),
            ("latency", np.where(answered, records.response_latency[order], 0)),
        ):
            sorted_values = column.astype(np.float64)
            put[f"{name}_sum"][:] = np.add.reduceat(sorted_values, starts)
            put[f"{name}_squares"][:] = np.add.reduceat(sorted_values * sorted_values, starts)

    group_of_row = group[starts] if n else np.zeros(0, np.int64)
    row_code = group_of_row // n_windows
    window_start = (group_of_row % n_windows + first_window) * window_seconds
    # dense principal indexes, in code order (clients and addresses interleaved): codes ascend
    new_principal = np.ones(rows, dtype=bool)
    np.not_equal(row_code[1:], row_code[:-1], out=new_principal[1:])
    used = row_code[new_principal]
    principal_index = np.cumsum(new_principal) - 1
    kinds = used % 2 == 0
    names = tuple(
        records.clients[int(c) // 2] if c % 2 == 0 else records.addresses[int(c) // 2]
        for c in used.tolist()
    )
    first_auth = np.full(len(records.addresses), np.inf)
    np.minimum.at(
        first_auth,
        records.address[is_client_request],
        records.time_ms[is_client_request].astype(np.float64),
    )
    first_authenticated = np.full(len(used), np.inf)
    first_authenticated[~kinds] = first_auth[used[~kinds] // 2]
    return WindowAggregates(
        window_seconds=window_seconds,
        names=names,
        is_client=kinds,
        first_authenticated_ms=np.asarray(first_authenticated, dtype=np.float64),
        principal=principal_index.astype(np.int64),
        window_start=window_start.astype(np.int64),
        values=values,
        malformed=records.malformed,
    )


def _distinct(keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The distinct values, sorted (a sort and a comparison: ``np.unique`` is much slower). The
    keys come grouped by row, so they are sorted already but within rows: timsort (``stable``)
    takes those runs as they are."""
    ordered = np.sort(keys, kind="stable")
    first = np.ones(len(ordered), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


def _run_starts(order: npt.NDArray[np.int64], keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Positions (in ``keys``) of the first of each run of equal keys in a stable ``order``."""
    ordered = keys[order]
    first = np.ones(len(ordered), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return order[first]


def features(
    aggregates: WindowAggregates, history_seconds: int = HISTORY_SECONDS
) -> npt.NDArray[np.float64]:
    """The feature matrix (rows of ``aggregates`` x ``FEATURES``), finite everywhere.

    Per window: volume (``log_requests``), regularity at the 1 s and 10 s scales (the distinct
    slots used against what a Poisson process would use: +1 evenly spread, 0 random, -1 all in one
    slot), burstiness (requests per active second), the error classes as shares (5xx above the
    window's share over all principals, as the model's health is everyone's), distinct
    addresses, addresses new for the principal (for an address principal: 1 in its first window),
    distinct routes (``resourcePath``), response size and the latency of answered requests (log
    mean and coefficient of variation),
    whether the principal is a client, and, for an address, whether it was already seen with a
    client id (a legitimate client's expired token) by the end of the window.

    From the principal's own history over the trailing ``history_seconds`` (before the window):
    the share of windows it was active in, its mean requests per window, this window's volume and
    distinct addresses against its usual ones, and how steady its volume is (the coefficient of
    variation of its per-window counts, idle windows included). The history is measured over the
    part of the horizon that the data covers, so that these features do not drift as data
    accumulates.
    """
    if history_seconds < aggregates.window_seconds:
        raise ValueError(
            f"history_seconds must be at least one window ({aggregates.window_seconds}), "
            f"got {history_seconds}"
        )
    a = {name: aggregates.values[:, i] for i, name in enumerate(AGGREGATES)}
    n = a["requests"]
    rows = len(n)
    out = np.zeros((rows, len(FEATURES)), dtype=np.float64)
    if rows == 0:
        return out
    put = {name: out[:, i] for i, name in enumerate(FEATURES)}
    safe_n = np.maximum(n, 1.0)
    put["log_requests"][:] = np.log1p(n)
    put["regularity_1s"][:] = _regularity(n, a["first_ms"], a["last_ms"], a["seconds"], 1000)
    put["regularity_10s"][:] = _regularity(n, a["first_ms"], a["last_ms"], a["tens"], 10_000)
    put["log_requests_per_active_second"][:] = np.log(safe_n / np.maximum(a["seconds"], 1.0))
    put["share_401"][:] = a["status_401"] / safe_n
    put["share_403"][:] = a["status_403"] / safe_n
    put["share_404"][:] = a["status_404"] / safe_n
    put["share_429"][:] = a["status_429"] / safe_n
    named = a["status_401"] + a["status_403"] + a["status_404"] + a["status_429"]
    put["share_other_4xx"][:] = np.maximum(a["status_4xx"] - named, 0.0) / safe_n
    put["log_addresses"][:] = np.log(np.maximum(a["addresses"], 1.0))
    put["log_new_addresses"][:] = np.log1p(a["new_addresses"])
    put["log_paths"][:] = np.log(np.maximum(a["paths"], 1.0))
    mean_bytes, bytes_cv = _mean_cv(a["bytes_sum"], a["bytes_squares"], safe_n)
    put["log_mean_bytes"][:] = np.log1p(mean_bytes)
    put["bytes_cv"][:] = bytes_cv
    # the model's health is everyone's: latency of the answered requests only (no timeouts), and
    # 5xx above the window's share over all principals, so that an incident (everyone's 503s and
    # timeouts at once) does not look like client behaviour
    answered = np.maximum(a["answered"], 1.0)
    mean_latency, latency_cv = _mean_cv(a["latency_sum"], a["latency_squares"], answered)
    put["log_mean_latency"][:] = np.log1p(mean_latency)
    put["latency_cv"][:] = latency_cv
    put["share_5xx"][:] = a["status_5xx"] / safe_n - _window_share(
        a["status_5xx"], n, aggregates.window_start
    )
    is_client = aggregates.is_client[aggregates.principal]
    put["is_client"][:] = is_client
    window_end_ms = (aggregates.window_start + aggregates.window_seconds) * 1000.0
    first_auth = aggregates.first_authenticated_ms[aggregates.principal]
    put["known_address"][:] = is_client | (first_auth < window_end_ms)
    _history(aggregates, history_seconds, n, put)
    np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return out


def _regularity(
    n: npt.NDArray[np.float64],
    first_ms: npt.NDArray[np.float64],
    last_ms: npt.NDArray[np.float64],
    distinct: npt.NDArray[np.float64],
    slot_ms: int,
) -> npt.NDArray[np.float64]:
    slots = np.floor(last_ms / slot_ms) - np.floor(first_ms / slot_ms) + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = slots * -np.expm1(n * np.log1p(-1.0 / slots))  # balls into bins
        expected = np.where(slots <= 1, 1.0, expected)
        most = np.minimum(n, slots)
        spread = (distinct - expected) / (most - expected)
        clumped = (distinct - expected) / (expected - 1.0)
        value = np.where(distinct >= expected, spread, clumped)
    value = np.where((n < 3) | (slots < 3) | ~np.isfinite(value), 0.0, value)
    return np.clip(value, -1.0, 1.0)


def _window_share(
    part: npt.NDArray[np.float64],
    total: npt.NDArray[np.float64],
    window_start: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """For each row, ``part / total`` over every principal of its window."""
    _, group = np.unique(window_start, return_inverse=True)
    parts = np.bincount(group, weights=part)
    totals = np.maximum(np.bincount(group, weights=total), 1.0)
    return np.asarray((parts / totals)[group], dtype=np.float64)


def _mean_cv(
    total: npt.NDArray[np.float64], squares: npt.NDArray[np.float64], n: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    mean = total / n
    variance = np.maximum(squares / n - mean * mean, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = np.where(mean > 0, np.sqrt(variance) / mean, 0.0)
    return mean, cv


def trailing_sum(
    aggregates: WindowAggregates,
    x: npt.NDArray[np.float64],
    horizon_seconds: int,
    *,
    skip_seconds: int = 0,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """For each row: the sum of ``x`` over the same principal's rows whose window starts in
    ``[start - horizon_seconds, start - skip_seconds)`` (its earlier windows), and how many rows
    that is. Vectorized: rows are grouped by principal and in window order."""
    rows = len(aggregates)
    if rows == 0:
        return np.zeros(0), np.zeros(0)
    seconds = aggregates.window_seconds
    window = aggregates.window_start // seconds
    horizon, skip = horizon_seconds // seconds, skip_seconds // seconds
    first_window = int(window.min())
    span = int(window.max()) - first_window + horizon + 2
    key = aggregates.principal * span + (window - first_window) + horizon
    lo = np.searchsorted(key, key - horizon, side="left")
    hi = np.searchsorted(key, key - skip, side="left") if skip else np.arange(rows)
    cumulative = np.concatenate(([0.0], np.cumsum(x, dtype=np.float64)))
    return cumulative[hi] - cumulative[lo], (hi - lo).astype(np.float64)


def first_window_start(aggregates: WindowAggregates) -> npt.NDArray[np.int64]:
    """For each row, the start of its principal's first window in the data."""
    rows = len(aggregates)
    new = np.ones(rows, dtype=bool)
    np.not_equal(aggregates.principal[1:], aggregates.principal[:-1], out=new[1:])
    first_row = np.maximum.accumulate(np.where(new, np.arange(rows), 0))
    return np.asarray(aggregates.window_start[first_row], dtype=np.int64)


def covered_windows(aggregates: WindowAggregates, horizon_seconds: int) -> npt.NDArray[np.float64]:
    """How many windows of the trailing horizon the data covers, for each row."""
    window = aggregates.window_start // aggregates.window_seconds
    if len(window) == 0:
        return np.zeros(0)
    horizon = horizon_seconds // aggregates.window_seconds
    return np.minimum(window - int(window.min()), horizon).astype(np.float64)


def _history(
    aggregates: WindowAggregates,
    history_seconds: int,
    n: npt.NDArray[np.float64],
    put: dict[str, npt.NDArray[np.float64]],
) -> None:
    log_n = np.log1p(n)
    log_addresses = np.log(np.maximum(aggregates.column("addresses"), 1.0))
    total, active = trailing_sum(aggregates, n, history_seconds)
    squares, _ = trailing_sum(aggregates, n * n, history_seconds)
    usual_log_n, _ = trailing_sum(aggregates, log_n, history_seconds)
    usual_log_addresses, _ = trailing_sum(aggregates, log_addresses, history_seconds)
    covered = covered_windows(aggregates, history_seconds)
    has_cover = covered > 0
    has_history = active > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        put["history_duty"][:] = np.where(has_cover, active / covered, 0.0)
        rate = np.where(has_cover, total / covered, 0.0)
        put["log_history_rate"][:] = np.log1p(rate)
        put["volume_vs_history"][:] = log_n - np.where(has_history, usual_log_n / active, 0.0)
        variance = np.maximum(np.where(has_cover, squares / covered, 0.0) - rate * rate, 0.0)
        put["history_volume_cv"][:] = np.where(rate > 0, np.sqrt(variance) / rate, 0.0)
        put["addresses_vs_history"][:] = np.where(
            has_history, log_addresses - usual_log_addresses / active, 0.0
        )

"""The aggregates of ``features.aggregate``, computed inside CloudWatch Logs Insights.

Three queries over the access-log group, so that the monitor reads one row per principal and
window (its cost grows with the number of clients, not of requests):

- ``principal_query("client", ...)``: requests that carried a client id, by client and window;
- ``principal_query("address", ...)``: requests without one, by source address and window;
- ``pairs_query(...)``: when each (client, source address) pair was first seen, from which come
  the addresses new for a client in each window and when an address was first seen with a client.

and ``UNPARSEABLE_QUERY`` counts the lines in a range that are no access-log record (no
``requestId``, which API Gateway writes in every line of the pinned format): Logs Insights
discovers no field in a line that is not JSON, so such a line is invisible to the three queries
above, and the count is how the monitor says so (its ``UnparseableLogLines`` metric).

Windows are computed from ``requestTimeEpoch`` (as the local path does), never from the ingestion
time ``@timestamp``; each query keeps only the requests of its time range by that field, so a
range can be queried with some slack around it and cut at window boundaries without splitting a
window. ``collect`` pages past the 10,000-row limit of a query's results: it halves the time range
(at window boundaries) while a query comes back full, and within a single window it pages through
principals in order. ``aggregates_from_rows`` turns the rows into ``WindowAggregates``; a test
proves them equal to ``features.aggregate`` over the same records.

The arithmetic needs only what Logs Insights documents: ``floor``, ``abs``, ``least``, ``%``,
``count_distinct`` (exact for the small per-window counts here), ``min``, ``max`` and ``sum``.

Pure: the query runs through a function the caller passes (the adapter's ``StartQuery`` and
``GetQueryResults``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

import numpy as np

from secure_endpoint.runtime.anomaly.features import AGGREGATES, WindowAggregates, build

ROW_LIMIT = 10_000
"""The most rows a Logs Insights query returns."""

Kind = Literal["client", "address"]
Row = Mapping[str, str]
RunQuery = Callable[[str, int, int], Sequence[Row]]
"""(query text, start, end in epoch seconds) -> result rows as ``{field: value}``."""

SLACK_SECONDS = 300
"""How far around a range ``@timestamp`` is read: log events are stamped when written."""

_SAFE_PRINCIPAL = re.compile(r"[A-Za-z0-9._:+=,@-]{1,256}")

# Per request (fields), then per principal and window (stats). status is 100..599, so
# floor(status / 100) is its class and 1 - least(1, abs(x - k)) is 1 exactly when x == k.
_FIELDS = """fields {principal} as principal,
  floor(requestTimeEpoch / {window_ms}) * {window_seconds} as windowStart,
  requestTimeEpoch % {window_ms} as offsetMs,
  floor((requestTimeEpoch % {window_ms}) / 1000) as second,
  floor((requestTimeEpoch % {window_ms}) / 10000) as tenSeconds,
  1 - least(1, abs(status - 401)) as is401,
  1 - least(1, abs(status - 403)) as is403,
  1 - least(1, abs(status - 404)) as is404,
  1 - least(1, abs(status - 429)) as is429,
  1 - least(1, abs(floor(status / 100) - 4)) as is4xx,
  1 - least(1, abs(floor(status / 100) - 5)) as is5xx,
  1 - floor(status / 400) as isAnswered,
  responseLength * 1 as bytes,
  responseLength * responseLength as bytesSquared,
  responseLatency * (1 - floor(status / 400)) as answeredLatency,
  responseLatency * responseLatency * (1 - floor(status / 400)) as answeredLatencySquared"""

_STATS: dict[str, str] = {
    "requests": "count(*)",
    "first_ms": "min(offsetMs)",
    "last_ms": "max(offsetMs)",
    "seconds": "count_distinct(second)",
    "tens": "count_distinct(tenSeconds)",
    "status_401": "sum(is401)",
    "status_403": "sum(is403)",
    "status_404": "sum(is404)",
    "status_429": "sum(is429)",
    "status_4xx": "sum(is4xx)",
    "status_5xx": "sum(is5xx)",
    "addresses": "count_distinct(sourceIp)",
    "paths": "count_distinct(resourcePath)",
    "bytes_sum": "sum(bytes)",
    "bytes_squares": "sum(bytesSquared)",
    "answered": "sum(isAnswered)",
    "latency_sum": "sum(answeredLatency)",
    "latency_squares": "sum(answeredLatencySquared)",
}
"""How Logs Insights computes each aggregate (``new_addresses`` comes from ``pairs_query``)."""

_HAS_CLIENT = 'ispresent(clientId) and clientId != "-" and clientId != ""'
_NO_CLIENT = 'not ispresent(clientId) or clientId = "-" or clientId = ""'


def principal_query(
    kind: Kind, window_seconds: int, start_ms: int, end_ms: int, *, after: str | None = None
) -> str:
    """The query of one kind of principal over requests in ``[start_ms, end_ms)``, sorted by
    principal; ``after``: only principals after this one (to page within a window)."""
    if kind not in ("client", "address"):
        raise ValueError(f"kind must be 'client' or 'address', got {kind!r}")
    principal = "clientId" if kind == "client" else "sourceIp"
    who = _HAS_CLIENT if kind == "client" else _NO_CLIENT
    lines = [
        f"filter ispresent(requestTimeEpoch) and ispresent(status) and ({who})",
        f"filter requestTimeEpoch >= {int(start_ms)} and requestTimeEpoch < {int(end_ms)}",
    ]
    if after is not None:
        lines.append(f'filter {principal} > "{_checked(after)}"')
    lines.append(
        _FIELDS.format(
            principal=principal, window_ms=window_seconds * 1000, window_seconds=window_seconds
        )
    )
    stats = ",\n  ".join(f"{expression} as {name}" for name, expression in _STATS.items())
    lines.append(f"stats {stats}\n  by principal, windowStart")
    lines.append(f"sort principal asc\n| limit {ROW_LIMIT}")
    return "\n| ".join(lines)


def pairs_query(start_ms: int, end_ms: int) -> str:
    """When each (client, source address) pair was first seen in ``[start_ms, end_ms)``."""
    return "\n| ".join(
        [
            f"filter ispresent(requestTimeEpoch) and ({_HAS_CLIENT})",
            f"filter requestTimeEpoch >= {int(start_ms)} and requestTimeEpoch < {int(end_ms)}",
            "stats min(requestTimeEpoch) as firstSeen by clientId, sourceIp",
            f"limit {ROW_LIMIT}",
        ]
    )


UNPARSEABLE_QUERY = "filter not ispresent(requestId)\n| stats count(*) as unparseable"
"""Lines of the access-log group (by ``@timestamp``, the only field a line that is not JSON has)
without the pinned ``requestId``: not JSON, or JSON of another format; ``count_of`` reads it."""


def count_of(rows: Iterable[Row], name: str) -> int:
    """The ``stats count(*) as <name>`` of a query's rows (no row: nothing matched, 0)."""
    return sum(int(float(row.get(name) or 0)) for row in rows)


def collect(
    run: RunQuery, kind: Kind | Literal["pairs"], start: int, end: int, window_seconds: int
) -> list[Row]:
    """Every row of a query over ``[start, end)`` (epoch seconds, window-aligned), however many.

    A full page (``ROW_LIMIT`` rows) means rows may be missing: the range is halved at a window
    boundary and each half queried; a single window still full is paged through principals (the
    rows come sorted by principal). Pair rows are halved down to a second, and merged (the
    earliest first-seen time wins).
    """
    if start % window_seconds or end % window_seconds:
        raise ValueError(f"range [{start}, {end}) is not aligned to {window_seconds} s windows")
    if kind == "pairs":
        merged: dict[tuple[str, str], Row] = {}
        for row in _collect_pairs(run, start, end, window_seconds):
            key = (row["clientId"], row["sourceIp"])
            if key not in merged or float(row["firstSeen"]) < float(merged[key]["firstSeen"]):
                merged[key] = row
        return list(merged.values())
    return _collect_principals(run, kind, start, end, window_seconds)


def _read(run: RunQuery, query: str, start: int, end: int) -> Sequence[Row]:
    return run(query, start - SLACK_SECONDS, end + SLACK_SECONDS)


def _halves(start: int, end: int, window_seconds: int) -> tuple[int, int, int]:
    windows = (end - start) // window_seconds
    middle = start + windows // 2 * window_seconds
    return start, middle, end


def _collect_principals(
    run: RunQuery, kind: Kind, start: int, end: int, window_seconds: int
) -> list[Row]:
    query = principal_query(kind, window_seconds, start * 1000, end * 1000)
    rows = _read(run, query, start, end)
    if len(rows) < ROW_LIMIT:
        return list(rows)
    if end - start > window_seconds:
        lo, middle, hi = _halves(start, end, window_seconds)
        return _collect_principals(run, kind, lo, middle, window_seconds) + _collect_principals(
            run, kind, middle, hi, window_seconds
        )
    out = list(rows)
    while len(rows) == ROW_LIMIT:  # one window: page on, after the last principal read
        after = rows[-1]["principal"]
        query = principal_query(kind, window_seconds, start * 1000, end * 1000, after=after)
        rows = _read(run, query, start, end)
        out.extend(rows)
    return out


def _collect_pairs(run: RunQuery, start: int, end: int, window_seconds: int) -> list[Row]:
    """First-seen times merge by their minimum, so the range may be halved below a window."""
    rows = _read(run, pairs_query(start * 1000, end * 1000), start, end)
    if len(rows) < ROW_LIMIT:
        return list(rows)
    if end - start <= 1:
        raise ValueError(f"more than {ROW_LIMIT} (client, address) pairs in the second {start}")
    middle = start + (end - start) // 2
    return _collect_pairs(run, start, middle, window_seconds) + _collect_pairs(
        run, middle, end, window_seconds
    )


def result_row(fields: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """A ``GetQueryResults`` row (``[{"field": ..., "value": ...}]``) as ``{field: value}``."""
    return {entry["field"]: entry["value"] for entry in fields if "field" in entry}


def aggregates_from_rows(
    client_rows: Iterable[Row],
    address_rows: Iterable[Row],
    pair_rows: Iterable[Row],
    window_seconds: int,
) -> WindowAggregates:
    """The rows of the three queries as ``WindowAggregates``, equal to ``features.aggregate``
    over the same requests."""
    names: list[str] = []
    kinds: list[bool] = []
    starts: list[int] = []
    values: list[list[float]] = []
    new_column = AGGREGATES.index("new_addresses")
    index: dict[tuple[bool, str, int], int] = {}
    for is_client, rows in ((True, client_rows), (False, address_rows)):
        for row in rows:
            name, start = row["principal"], int(float(row["windowStart"]))
            index[(is_client, name, start)] = len(names)
            names.append(name)
            kinds.append(is_client)
            starts.append(start)
            values.append([_number(row.get(name_)) for name_ in AGGREGATES])
    table = np.array(values, dtype=np.float64).reshape(-1, len(AGGREGATES))
    first_authenticated: dict[str, float] = {}
    for row in pair_rows:
        client, address, seen = row["clientId"], row["sourceIp"], _number(row["firstSeen"])
        if seen < first_authenticated.get(address, np.inf):
            first_authenticated[address] = seen
        start = int(seen // (window_seconds * 1000)) * window_seconds
        at = index.get((True, client, start))
        if at is not None:
            table[at, new_column] += 1
    # an address principal's own address is new in its first window
    first_window: dict[str, int] = {}
    for is_client, name, start in index:
        if not is_client and start < first_window.get(name, np.iinfo(np.int64).max):
            first_window[name] = start
    for name, start in first_window.items():
        table[index[(False, name, start)], new_column] = 1
    return build(
        window_seconds,
        names,
        kinds,
        np.array(starts, dtype=np.int64),
        table,
        first_authenticated,
    )


def _number(value: str | None) -> float:
    """A number as Logs Insights prints it; absent (a sum of nothing) is 0."""
    if value is None or value == "":
        return 0.0
    return float(value)


def _checked(principal: str) -> str:
    if not _SAFE_PRINCIPAL.fullmatch(principal):
        raise ValueError(f"refusing to put principal {principal!r} into a query")
    return principal

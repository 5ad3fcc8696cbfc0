"""A local stand-in for CloudWatch Logs Insights that answers the anomaly monitor's queries.

moto (and any local emulator) stores log events but cannot run Logs Insights' ``stats`` queries.
``LocalInsights`` is an ``insights.RunQuery`` that answers the queries the monitor sends, over
log events read back from wherever they are (a moto log group through ``FilterLogEvents``, or
lines in memory):

- ``insights.principal_query`` (clients, or addresses without a client id): the ``fields``
  arithmetic request by request, then ``count``, ``count_distinct``, ``min``, ``max`` and
  ``sum`` per principal and window, sorted by principal, ``after`` a principal when paging;
- ``insights.pairs_query``: the first time each (client, address) pair was seen;
- ``MALFORMED_QUERY``: the lines the other queries skip (not JSON, or without
  ``requestTimeEpoch`` or ``status``), as the monitor counts them.
- ``insights.UNPARSEABLE_QUERY``: the lines without a ``requestId`` (not JSON, or JSON of
  another format).

``emulate`` is written from the query text's meaning, independently of ``features.aggregate``:
``tests/runtime/anomaly/test_anomaly_insights.py`` proves the two give the same aggregates. As
Logs Insights does, the events are chosen by ``@timestamp`` (the event's timestamp) within the
query's start and end, then by ``requestTimeEpoch`` within the range the query's text names;
values come back as strings, at most ``limit`` rows. A query of any other shape, or asking for
an aggregate this module does not compute, is refused (``ValueError``) rather than answered
wrongly.

Outside ``secure_endpoint.runtime`` on purpose: it never runs in AWS, so it is not bundled into
the functions. Used by the tests of the monitor and by ``make demo``.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import orjson

from secure_endpoint.runtime.anomaly.insights import ROW_LIMIT, UNPARSEABLE_QUERY

Kind = Literal["client", "address", "pairs"]
Reader = Callable[[int, int], Iterable[bytes | str]]
"""(start, end) in epoch seconds -> the messages of the events whose timestamp is in the range."""

MALFORMED_QUERY = (
    "filter not ispresent(requestTimeEpoch) or not ispresent(status)\n| stats count(*) as malformed"
)
"""The monitor's count of the lines its aggregate queries skip (``anomaly_monitor.history``)."""

_RANGE = re.compile(r"filter requestTimeEpoch >= (\d+) and requestTimeEpoch < (\d+)")
_WINDOW = re.compile(r"floor\(requestTimeEpoch / (\d+)\) \* (\d+) as windowStart")
_PRINCIPAL = re.compile(r"fields (clientId|sourceIp) as principal")
_AFTER = re.compile(r'filter (clientId|sourceIp) > "([^"]*)"')
_LIMIT = re.compile(r"\| limit (\d+)\s*$")
_ALIASES = re.compile(r" as (\w+)")
_PAIRS = "stats min(requestTimeEpoch) as firstSeen by clientId, sourceIp"

_SUMS = (
    ("status_401", "is401"),
    ("status_403", "is403"),
    ("status_404", "is404"),
    ("status_429", "is429"),
    ("status_4xx", "is4xx"),
    ("status_5xx", "is5xx"),
    ("bytes_sum", "bytes"),
    ("bytes_squares", "bytesSquared"),
    ("answered", "isAnswered"),
    ("latency_sum", "answeredLatency"),
    ("latency_squares", "answeredLatencySquared"),
)
COMPUTED = frozenset(
    ("requests", "first_ms", "last_ms", "seconds", "tens", "addresses", "paths", *dict(_SUMS))
)
"""The aggregates (``stats ... as name``) that ``emulate`` computes."""


def _is(value: int, expected: int) -> int:
    return 1 - min(1, abs(value - expected))  # 1 - least(1, abs(x - k))


def _number(value: Any) -> int:
    """A field in arithmetic: a number, or nothing (``-``), which sums as 0."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _request_fields(record: Mapping[str, Any], window_seconds: int) -> dict[str, Any]:
    """The ``fields`` command of the principal queries, for one request."""
    window_ms = window_seconds * 1000
    t, status = int(record["requestTimeEpoch"]), int(record["status"])
    length = _number(record.get("responseLength"))
    latency = _number(record.get("responseLatency"))
    answered = 1 - math.floor(status / 400)
    return {
        "windowStart": math.floor(t / window_ms) * window_seconds,
        "offsetMs": t % window_ms,
        "second": math.floor((t % window_ms) / 1000),
        "tenSeconds": math.floor((t % window_ms) / 10000),
        "is401": _is(status, 401),
        "is403": _is(status, 403),
        "is404": _is(status, 404),
        "is429": _is(status, 429),
        "is4xx": _is(math.floor(status / 100), 4),
        "is5xx": _is(math.floor(status / 100), 5),
        "isAnswered": answered,
        "bytes": length,
        "bytesSquared": length * length,
        "answeredLatency": latency * answered,
        "answeredLatencySquared": latency * latency * answered,
    }


def _record(text: bytes | str) -> dict[str, Any] | None:
    """A log event as Logs Insights discovers its JSON fields (None: no fields at all)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _has_client(record: Mapping[str, Any]) -> bool:
    return record.get("clientId") not in (None, "-", "")


def _complete(record: Mapping[str, Any]) -> bool:
    return "requestTimeEpoch" in record and "status" in record


def emulate(
    lines: Iterable[bytes | str], kind: Kind, window_seconds: int = 300
) -> list[dict[str, str]]:
    """The rows of the principal query of ``kind`` (or of the pairs query) over ``lines``, as
    Logs Insights computes them; lines it would skip are skipped."""
    return _emulate([r for r in map(_record, lines) if r is not None], kind, window_seconds)


def _emulate(
    records: list[dict[str, Any]], kind: Kind, window_seconds: int = 300
) -> list[dict[str, str]]:
    if kind == "pairs":
        first: dict[tuple[str, str], int] = {}
        for r in records:
            if "requestTimeEpoch" in r and _has_client(r):
                key = (r["clientId"], r["sourceIp"])
                first[key] = min(first.get(key, 2**63), int(r["requestTimeEpoch"]))
        return [
            {"clientId": c, "sourceIp": a, "firstSeen": str(seen)} for (c, a), seen in first.items()
        ]
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if not _complete(r) or _has_client(r) != (kind == "client"):
            continue
        principal = r["clientId"] if kind == "client" else r["sourceIp"]
        f = _request_fields(r, window_seconds) | {
            "sourceIp": r["sourceIp"],
            "route": r.get("resourcePath"),
        }
        groups[(principal, f["windowStart"])].append(f)
    rows = []
    for (principal, start), fs in sorted(groups.items()):
        row: dict[str, Any] = {
            "principal": principal,
            "windowStart": start,
            "requests": len(fs),
            "first_ms": min(f["offsetMs"] for f in fs),
            "last_ms": max(f["offsetMs"] for f in fs),
            "seconds": len({f["second"] for f in fs}),
            "tens": len({f["tenSeconds"] for f in fs}),
            "addresses": len({f["sourceIp"] for f in fs}),
            "paths": len({f["route"] for f in fs if f["route"] is not None}),
        }
        for name, field in _SUMS:
            row[name] = sum(f[field] for f in fs)
        rows.append({key: str(value) for key, value in row.items()})
    return rows


def malformed(lines: Iterable[bytes | str]) -> int:
    """How many lines ``MALFORMED_QUERY`` counts."""
    return sum(1 for text in lines if (r := _record(text)) is None or not _complete(r))


def unparseable(lines: Iterable[bytes | str]) -> int:
    """How many lines ``UNPARSEABLE_QUERY`` counts: no ``requestId`` field discovered."""
    return sum(1 for text in lines if (r := _record(text)) is None or "requestId" not in r)


class LocalInsights:
    """``insights.RunQuery`` over the events ``read`` returns for a query's time range.

    :param read: the messages of the events stamped within ``[start, end)`` (epoch seconds).
    :param limit: the most rows a query returns. Default: - ``insights.ROW_LIMIT``, as AWS
    """

    def __init__(self, read: Reader, *, limit: int = ROW_LIMIT) -> None:
        self._read = read
        self.limit = limit
        self.queries = 0

    @classmethod
    def over_lines(cls, lines: Iterable[bytes | str], *, limit: int = ROW_LIMIT) -> LocalInsights:
        """Over lines in memory, each stamped with its own ``requestTimeEpoch``."""
        stamped = []
        for text in lines:
            record = _record(text)
            stamp = record.get("requestTimeEpoch") if record is not None else None
            stamped.append((_number(stamp) // 1000 if stamp is not None else None, text))

        def read(start: int, end: int) -> list[bytes | str]:
            return [text for t, text in stamped if t is not None and start <= t < end]

        return cls(read, limit=limit)

    def __call__(self, query: str, start: int, end: int) -> list[dict[str, str]]:
        self.queries += 1
        if query == MALFORMED_QUERY:
            return [{"malformed": str(malformed(self._read(start, end)))}]
        if query == UNPARSEABLE_QUERY:
            return [{"unparseable": str(unparseable(self._read(start, end)))}]
        span = _RANGE.search(query)
        if span is None:
            raise ValueError(f"the local Logs Insights answers only the monitor's queries: {query}")
        lo, hi = int(span.group(1)), int(span.group(2))
        if lo < start * 1000 or hi > end * 1000:
            raise ValueError(
                f"requests in [{lo}, {hi}) ms asked from events stamped in [{start}, {end}) s: "
                "the query would miss some (read with slack around the range)"
            )
        limit = min(self.limit, int(m.group(1))) if (m := _LIMIT.search(query)) else self.limit
        records = [
            r
            for r in map(_record, self._read(start, end))
            if r is not None
            and "requestTimeEpoch" in r
            and lo <= _number(r["requestTimeEpoch"]) < hi
        ]
        if _PAIRS in query:
            return _emulate(records, "pairs")[:limit]
        principal, window = _PRINCIPAL.search(query), _WINDOW.search(query)
        if principal is None or window is None:
            raise ValueError(f"the local Logs Insights answers only the monitor's queries: {query}")
        aliases = set(_ALIASES.findall(query.split("| stats", 1)[-1]))
        unknown = aliases - COMPUTED - {"windowStart"}
        if unknown:
            raise ValueError(f"the local Logs Insights does not compute {sorted(unknown)}")
        kind: Kind = "client" if principal.group(1) == "clientId" else "address"
        window_seconds = int(window.group(2))
        if int(window.group(1)) != window_seconds * 1000:
            raise ValueError(f"inconsistent window in the query: {window.group(0)}")
        rows = _emulate(records, kind, window_seconds)
        if after := _AFTER.search(query):
            rows = [r for r in rows if r["principal"] > after.group(2)]
        return sorted(rows, key=lambda r: r["principal"])[:limit]


def log_group_reader(logs: Any, log_group: str) -> Reader:
    """A ``Reader`` of a log group through ``FilterLogEvents`` (a boto3 ``logs`` client)."""

    def read(start: int, end: int) -> list[str]:
        params: dict[str, Any] = {
            "logGroupName": log_group,
            "startTime": int(start) * 1000,
            "endTime": int(end) * 1000 - 1,
        }
        out: list[str] = []
        while True:
            page = logs.filter_log_events(**params)
            out += [event["message"] for event in page["events"]]
            token = page.get("nextToken")
            if not token:
                return out
            params["nextToken"] = token

    return read

"""The Logs Insights path gives the same aggregates, and so the same features, as the local one.

``emulate`` answers the three queries the way Logs Insights would, request by request (its
``fields`` arithmetic, ``count_distinct``, ``min``, ``max`` and ``sum``), independently of
``features.aggregate``; values come back as strings, as ``GetQueryResults`` gives them.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pytest
from anomaly_traffic import START, line, traffic

from secure_endpoint.runtime.anomaly import insights
from secure_endpoint.runtime.anomaly.features import AGGREGATES, aggregate, features
from secure_endpoint.runtime.anomaly.insights import (
    aggregates_from_rows,
    collect,
    pairs_query,
    principal_query,
    result_row,
)
from secure_endpoint.runtime.anomaly.records import parse_lines

WINDOW = 300


def _is(value: int, expected: int) -> int:
    return 1 - min(1, abs(value - expected))  # 1 - least(1, abs(x - k))


def _request_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The ``fields`` command of the principal queries, for one request."""
    t, status = int(record["requestTimeEpoch"]), int(record["status"])
    length = 0 if record["responseLength"] == "-" else int(record["responseLength"])
    latency = 0 if record["responseLatency"] == "-" else int(record["responseLatency"])
    answered = 1 - math.floor(status / 400)
    return {
        "windowStart": math.floor(t / (WINDOW * 1000)) * WINDOW,
        "offsetMs": t % (WINDOW * 1000),
        "second": math.floor((t % (WINDOW * 1000)) / 1000),
        "tenSeconds": math.floor((t % (WINDOW * 1000)) / 10000),
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


def _has_client(record: dict[str, Any]) -> bool:
    return record["clientId"] not in ("-", "")


def emulate(lines: Sequence[bytes], kind: str) -> list[dict[str, str]]:
    records = [orjson.loads(text) for text in lines]
    if kind == "pairs":
        first: dict[tuple[str, str], int] = {}
        for r in records:
            if _has_client(r):
                key = (r["clientId"], r["sourceIp"])
                first[key] = min(first.get(key, 2**63), int(r["requestTimeEpoch"]))
        return [
            {"clientId": c, "sourceIp": a, "firstSeen": str(seen)} for (c, a), seen in first.items()
        ]
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if _has_client(r) != (kind == "client"):
            continue
        principal = r["clientId"] if kind == "client" else r["sourceIp"]
        f = _request_fields(r) | {"sourceIp": r["sourceIp"], "path": r["path"]}
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
            "paths": len({f["path"] for f in fs}),
        }
        for name, field in (
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
        ):
            row[name] = sum(f[field] for f in fs)
        rows.append({key: str(value) for key, value in row.items()})
    return rows


def _lines(hours: float = 3, clients: int = 6) -> list[bytes]:
    lines = traffic(hours=hours, clients=clients, seed=3, flood_at=1.5)
    # a client behind several addresses, and one seen later without its token
    for i in range(40):
        t = START * 1000 + 7_000_000 + i * 9_000
        lines.append(line(requestTimeEpoch=t, clientId="pool", sourceIp=f"192.0.2.{i % 7}"))
    lines.append(line(requestTimeEpoch=START * 1000 + 7_500_000, sourceIp="192.0.2.3", status=401))
    lines.append(line(requestTimeEpoch=START * 1000 + 60_000, path="/scan", status=404))
    return lines


def test_the_insights_rows_make_the_same_aggregates_and_features_as_the_records() -> None:
    lines = _lines()
    local = aggregate(parse_lines(lines), WINDOW)
    remote = aggregates_from_rows(
        emulate(lines, "client"), emulate(lines, "address"), emulate(lines, "pairs"), WINDOW
    )

    local_rows, remote_rows = local.as_dict(), remote.as_dict()
    assert local_rows.keys() == remote_rows.keys()
    for key, values in local_rows.items():
        assert remote_rows[key] == pytest.approx(values, rel=1e-12), key
    by_key_local = dict(zip(_keys(local), features(local), strict=True))
    by_key_remote = dict(zip(_keys(remote), features(remote), strict=True))
    for key, row in by_key_local.items():
        np.testing.assert_allclose(by_key_remote[key], row, rtol=1e-9, atol=1e-12)


def _keys(agg: Any) -> list[tuple[str, int]]:
    return list(zip(agg.row_names(), agg.window_start.tolist(), strict=True))


def test_the_principal_query_computes_every_aggregate_but_new_addresses() -> None:
    query = principal_query("client", WINDOW, 0, 3_600_000)
    aliases = set(re.findall(r" as (\w+)", query.split("| stats", 1)[1]))
    assert aliases == set(AGGREGATES) - {"new_addresses"}
    assert "by principal, windowStart" in query
    assert "requestTimeEpoch >= 0 and requestTimeEpoch < 3600000" in query
    assert "floor(requestTimeEpoch / 300000) * 300 as windowStart" in query
    assert 'clientId != "-"' in query
    assert "sourceIp as principal" in principal_query("address", WINDOW, 0, 1)
    assert "stats min(requestTimeEpoch) as firstSeen by clientId, sourceIp" in pairs_query(0, 1)


def test_refuses_a_principal_that_could_break_out_of_the_query() -> None:
    with pytest.raises(ValueError, match="refusing to put principal"):
        principal_query("address", WINDOW, 0, 1, after='x" or 1=1 | display "')
    with pytest.raises(ValueError, match="kind must be"):
        principal_query("user", WINDOW, 0, 1)  # type: ignore[arg-type]


class FakeInsights:
    """Runs the emulated queries over the lines of a time range, ``limit`` rows at most."""

    def __init__(self, lines: list[bytes], limit: int) -> None:
        self.lines, self.limit, self.queries = lines, limit, 0
        self.times = [int(orjson.loads(text)["requestTimeEpoch"]) for text in lines]

    def __call__(self, query: str, start: int, end: int) -> list[dict[str, str]]:
        self.queries += 1
        lo, hi = map(int, re.search(r"requestTimeEpoch >= (\d+) and requestTimeEpoch < (\d+)",
                                    query).groups())  # fmt: skip
        chosen = [text for text, t in zip(self.lines, self.times, strict=True) if lo <= t < hi]
        assert start * 1000 <= lo  # the @timestamp range holds the requests' range
        assert hi <= end * 1000
        if "firstSeen" in query:
            return emulate(chosen, "pairs")[: self.limit]
        kind = "client" if "clientId as principal" in query else "address"
        rows = emulate(chosen, kind)
        if after := re.search(r'filter \w+ > "([^"]+)"', query):
            rows = [r for r in rows if r["principal"] > after.group(1)]
        return sorted(rows, key=lambda r: r["principal"])[: self.limit]


def test_collect_pages_past_the_row_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _lines(hours=2.5, clients=3)
    # a distributed probe: 30 addresses in one window
    for i in range(30):
        lines.append(line(requestTimeEpoch=START * 1000 + 9_000_000 + i, sourceIp=f"10.9.0.{i}"))
    monkeypatch.setattr(insights, "ROW_LIMIT", 8)
    fake = FakeInsights(lines, limit=8)
    start, end = START, START + 4 * 3600

    rows = {
        kind: collect(fake, kind, start, end, WINDOW) for kind in ("client", "address", "pairs")
    }

    for kind in ("client", "address", "pairs"):
        expected = emulate(lines, kind)
        assert sorted(map(sorted, (r.items() for r in rows[kind]))) == sorted(
            map(sorted, (r.items() for r in expected))
        ), kind
    assert fake.queries > 3


def test_collect_refuses_a_range_off_the_window_grid() -> None:
    with pytest.raises(ValueError, match="not aligned to 300 s windows"):
        collect(FakeInsights([], 10), "client", START + 1, START + 600, WINDOW)


def test_result_rows_become_dicts() -> None:
    fields = [{"field": "principal", "value": "a"}, {"field": "requests", "value": "3"}]
    assert result_row(fields) == {"principal": "a", "requests": "3"}

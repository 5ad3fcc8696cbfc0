"""The local Logs Insights answers the monitor's queries only, and says so otherwise.

That its rows equal ``features.aggregate`` is proven in
``tests/runtime/anomaly/test_anomaly_insights.py``; the monitor runs against it in
``tests/lambdas/anomaly_monitor``."""

from __future__ import annotations

import json

import pytest
from anomaly_monitor.history import MALFORMED_QUERY as MONITOR_MALFORMED_QUERY

from demo.local_insights import MALFORMED_QUERY, LocalInsights
from secure_endpoint.runtime.anomaly.insights import UNPARSEABLE_QUERY, pairs_query, principal_query

T = 1_772_409_600_000  # ms, on a window boundary


def line(t_ms: int, source: str = "192.0.2.1", client: str = "-", status: str = "401") -> str:
    return json.dumps(
        {
            "requestTimeEpoch": str(t_ms),
            "sourceIp": source,
            "clientId": client,
            "resourcePath": "/v1/predict",
            "status": status,
            "responseLength": "-",
            "responseLatency": "3",
        }
    )


LINES = [
    line(T + 1_000),
    line(T + 2_000),
    line(T + 3_000, "198.51.100.7", "client1", "200"),
    line(T + 400_000),  # the next window
    "not json",
    json.dumps({"status": "200"}),
]


def test_it_counts_malformed_lines_with_the_monitors_own_query() -> None:
    insights = LocalInsights(lambda start, end: LINES)

    assert MALFORMED_QUERY == MONITOR_MALFORMED_QUERY
    assert insights(MALFORMED_QUERY, 0, 2**40) == [{"malformed": "2"}]


def test_it_counts_lines_without_the_pinned_request_id_as_unparseable() -> None:
    lines = [
        json.dumps({"requestId": "r1"} | json.loads(line(T + 1_000))),
        json.dumps({"requestId": "r2", "status": "200"}),  # malformed, but a record of the format
        '{"requestId":"r3","userAgent":"curl "x"","status":"200"}',  # an unescaped quote
        json.dumps({"status": "200"}),  # JSON of another format
        "not json",
    ]
    insights = LocalInsights(lambda start, end: lines)

    assert insights(UNPARSEABLE_QUERY, 0, 2**40) == [{"unparseable": "3"}]
    assert insights(MALFORMED_QUERY, 0, 2**40) == [{"malformed": "4"}]


def test_it_answers_a_principal_query_per_window() -> None:
    insights = LocalInsights.over_lines(LINES)
    query = principal_query("address", 300, T, T + 600_000)

    rows = insights(query, T // 1000 - 300, T // 1000 + 900)

    assert [(r["principal"], r["windowStart"], r["requests"]) for r in rows] == [
        ("192.0.2.1", str(T // 1000), "2"),
        ("192.0.2.1", str(T // 1000 + 300), "1"),
    ]
    assert rows[0]["status_401"] == "2"
    assert rows[0]["bytes_sum"] == "0"  # "-" sums as nothing
    assert insights.queries == 1


def test_it_answers_the_pairs_query() -> None:
    rows = LocalInsights.over_lines(LINES)(pairs_query(T, T + 600_000), T // 1000, T // 1000 + 600)

    assert rows == [
        {"clientId": "client1", "sourceIp": "198.51.100.7", "firstSeen": str(T + 3_000)}
    ]


def test_refuses_a_query_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="answers only the monitor's queries"):
        LocalInsights.over_lines(LINES)("fields @message | limit 20", 0, 1)


def test_refuses_an_aggregate_it_does_not_compute() -> None:
    query = principal_query("client", 300, T, T + 300_000).replace(
        "count(*) as requests", "count(*) as requests,\n  avg(bytes) as bytes_mean"
    )
    with pytest.raises(ValueError, match=r"does not compute \['bytes_mean'\]"):
        LocalInsights.over_lines(LINES)(query, T // 1000, T // 1000 + 300)


def test_refuses_requests_outside_the_events_time_range() -> None:
    query = principal_query("address", 300, T, T + 600_000)
    with pytest.raises(ValueError, match="the query would miss some"):
        LocalInsights.over_lines(LINES)(query, T // 1000, T // 1000 + 300)

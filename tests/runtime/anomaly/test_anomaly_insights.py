"""The Logs Insights path gives the same aggregates, and so the same features, as the local one.

``demo.local_insights`` answers the three queries the way Logs Insights would, request
by request (its ``fields`` arithmetic, ``count_distinct``, ``min``, ``max`` and ``sum``),
independently of ``features.aggregate``; values come back as strings, as ``GetQueryResults`` gives
them. The monitor's tests and ``make demo`` run the monitor against it.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from anomaly_traffic import START, line, traffic

from demo.local_insights import LocalInsights, emulate
from secure_endpoint.constructs.access_log import ACCESS_LOG_FIELDS
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


def _lines(hours: float = 3, clients: int = 6) -> list[bytes]:
    lines = traffic(hours=hours, clients=clients, seed=3, flood_at=1.5)
    # a client behind several addresses, and one seen later without its token
    for i in range(40):
        t = START * 1000 + 7_000_000 + i * 9_000
        lines.append(line(requestTimeEpoch=t, clientId="pool", sourceIp=f"192.0.2.{i % 7}"))
    lines.append(line(requestTimeEpoch=START * 1000 + 7_500_000, sourceIp="192.0.2.3", status=401))
    lines.append(line(requestTimeEpoch=START * 1000 + 60_000, resourcePath="-", status=404))
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


def test_collect_pages_past_the_row_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _lines(hours=2.5, clients=3)
    # a distributed probe: 30 addresses in one window
    for i in range(30):
        lines.append(line(requestTimeEpoch=START * 1000 + 9_000_000 + i, sourceIp=f"10.9.0.{i}"))
    monkeypatch.setattr(insights, "ROW_LIMIT", 8)
    fake = LocalInsights.over_lines(lines, limit=8)
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
        collect(LocalInsights.over_lines([], limit=10), "client", START + 1, START + 600, WINDOW)


def test_result_rows_become_dicts() -> None:
    fields = [{"field": "principal", "value": "a"}, {"field": "requests", "value": "3"}]
    assert result_row(fields) == {"principal": "a", "requests": "3"}


def test_the_unparseable_query_counts_lines_without_the_pinned_request_id() -> None:
    # Logs Insights discovers no field in a line that is not JSON: it has no requestId
    assert insights.UNPARSEABLE_QUERY == (
        "filter not ispresent(requestId)\n| stats count(*) as unparseable"
    )
    assert "requestId" in ACCESS_LOG_FIELDS


@pytest.mark.parametrize(
    ("rows", "count"),
    [
        ([{"unparseable": "3"}], 3),
        ([{"unparseable": "12.0"}], 12),  # numbers as Logs Insights may print them
        ([{"unparseable": ""}], 0),
        ([{}], 0),
        ([], 0),  # nothing matched: no row
    ],
)
def test_count_of_reads_the_count_row(rows: list[dict[str, str]], count: int) -> None:
    assert insights.count_of(rows, "unparseable") == count

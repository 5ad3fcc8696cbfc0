"""The Logs Insights runner against botocore's Stubber (moto cannot run queries), the history
format and the window plan."""

from typing import Any

import boto3
import numpy as np
import pytest
from anomaly_monitor import history as state
from anomaly_monitor.adapters import InsightsRunner, QueryError
from anomaly_monitor.config import Config, ConfigError
from botocore.stub import Stubber

GROUP = "access"


@pytest.fixture
def logs() -> Any:
    return boto3.client("logs", region_name="us-east-1")


def runner(logs: Any, sleeps: list[float]) -> InsightsRunner:
    return InsightsRunner(logs, GROUP, sleep=sleeps.append, deadline_seconds=60)


def results(*rows: dict[str, str]) -> list[list[dict[str, str]]]:
    return [
        [{"field": k, "value": v} for k, v in row.items()] + [{"field": "@ptr", "value": "x"}]
        for row in rows
    ]


def test_polls_until_complete_and_returns_rows_as_dicts(logs: Any) -> None:
    sleeps: list[float] = []
    with Stubber(logs) as stub:
        stub.add_response(
            "start_query",
            {"queryId": "q1"},
            {
                "logGroupName": GROUP,
                "startTime": 0,
                "endTime": 600,
                "queryString": "Q",
                "limit": 10_000,
            },
        )
        stub.add_response("get_query_results", {"status": "Running", "results": []})
        stub.add_response(
            "get_query_results",
            {"status": "Complete", "results": results({"principal": "alpha", "requests": "3"})},
        )
        rows = runner(logs, sleeps)("Q", 0, 600)
    assert rows == [{"principal": "alpha", "requests": "3", "@ptr": "x"}]
    assert sleeps == [0.25]


def test_retries_start_query_while_logs_insights_is_at_its_limit(logs: Any) -> None:
    sleeps: list[float] = []
    with Stubber(logs) as stub:
        for _ in range(2):
            stub.add_client_error("start_query", "LimitExceededException", "too many queries")
        stub.add_response("start_query", {"queryId": "q1"})
        stub.add_response("get_query_results", {"status": "Complete", "results": []})
        assert runner(logs, sleeps)("Q", 0, 600) == []
    assert sleeps == [1.0, 2.0]


@pytest.mark.parametrize("status", ["Failed", "Cancelled", "Timeout"])
def test_a_query_that_does_not_complete_fails_the_run(logs: Any, status: str) -> None:
    with Stubber(logs) as stub:
        stub.add_response("start_query", {"queryId": "q1"})
        stub.add_response("get_query_results", {"status": status, "results": []})
        with pytest.raises(QueryError, match=status):
            runner(logs, [])("Q", 0, 600)


def test_other_errors_are_raised_not_retried(logs: Any) -> None:
    with Stubber(logs) as stub:
        stub.add_client_error("start_query", "ResourceNotFoundException", "no such group")
        with pytest.raises(Exception, match="no such group"):
            runner(logs, [])("Q", 0, 600)


def test_the_first_run_reads_the_baseline_and_decides_the_last_window() -> None:
    plan = state.plan(
        10_000 + 130, None, window_seconds=300, settle_seconds=120,
        baseline_seconds=3600, max_catchup_seconds=3600,
    )  # fmt: skip
    assert plan == state.Plan(read_from=9900 - 3600, scored_from=9600, end=9900, backfill=True)


def test_a_run_after_the_last_one_reads_only_the_new_windows() -> None:
    kwargs: dict[str, Any] = dict(
        window_seconds=300, settle_seconds=120, baseline_seconds=3600, max_catchup_seconds=900
    )
    assert state.plan(9900 + 420, 9900, **kwargs) == state.Plan(9900, 9900, 10_200, False)
    assert state.plan(9900 + 200, 9900, **kwargs) is None  # nothing new: a no-op
    late = state.plan(9900 + 3000, 9900, **kwargs)  # missed runs: read all, act on the last 15'
    assert late == state.Plan(9900, 12_600 - 900, 12_600, False)


def rows(principal: str, start: int, requests: int) -> dict[str, str]:
    return {"principal": principal, "windowStart": str(start), "requests": str(requests),
            "addresses": "1", "paths": "1"}  # fmt: skip


def test_history_keeps_what_is_new_for_a_client_over_the_whole_history() -> None:
    empty = state.History.empty(300)
    first = state.extend(
        empty, [rows("alpha", 0, 5)], [rows("192.0.2.1", 0, 2)],
        [{"clientId": "alpha", "sourceIp": "203.0.113.1", "firstSeen": "1000"}],
        start=0, end=300, keep_seconds=3600,
    )  # fmt: skip
    second = state.extend(
        first, [rows("alpha", 300, 5)], [rows("192.0.2.1", 300, 2)],
        [{"clientId": "alpha", "sourceIp": "203.0.113.1", "firstSeen": "301000"},
         {"clientId": "alpha", "sourceIp": "203.0.113.9", "firstSeen": "302000"}],
        start=300, end=600, keep_seconds=3600,
    )  # fmt: skip
    table = second.aggregates.as_dict()
    assert table[("alpha", 300)]["new_addresses"] == 1  # .9 only: .1 was known
    assert table[("192.0.2.1", 300)]["new_addresses"] == 0  # seen in the first window
    assert table[("192.0.2.1", 0)]["new_addresses"] == 1
    pruned = state.extend(second, [], [], [], start=3900, end=3900, keep_seconds=3600)
    assert set(pruned.aggregates.as_dict()) == {("alpha", 300), ("192.0.2.1", 300)}


def test_history_round_trips_and_refuses_tampered_bytes() -> None:
    h = state.extend(
        state.History.empty(300), [rows("alpha", 0, 5)], [], [], start=0, end=300,
        keep_seconds=3600,
    )  # fmt: skip
    data = state.dumps(h)
    back = state.loads(data, state.sha256(data))
    assert back.aggregates.as_dict() == h.aggregates.as_dict()
    assert np.array_equal(back.aggregates.values, h.aggregates.values)
    with pytest.raises(state.HistoryError, match="digest mismatch"):
        state.loads(data[:-1] + b"\0", state.sha256(data))


def test_config_reads_the_environment_and_names_what_is_wrong() -> None:
    env = {"ACCESS_LOG_GROUP": "g", "STATE_BUCKET": "b", "ALERT_TOPIC_ARN": "arn:t",
           "MONITOR_SETTINGS": '{"window_seconds": 300, "auto_block": false}'}  # fmt: skip
    assert Config.from_env(env).settings.window_seconds == 300
    with pytest.raises(ConfigError, match="unknown keys"):
        Config.from_env(env | {"MONITOR_SETTINGS": '{"window": 1}'})
    with pytest.raises(ConfigError, match="auto_block needs"):
        Config.from_env(env | {"MONITOR_SETTINGS": '{"auto_block": true}'})
    with pytest.raises(ConfigError, match="STATE_BUCKET"):
        Config.from_env({k: v for k, v in env.items() if k != "STATE_BUCKET"})

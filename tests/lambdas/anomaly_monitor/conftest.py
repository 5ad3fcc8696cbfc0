"""Fixtures for the anomaly monitor: access logs in a moto log group, state, topic, WAF, table.

moto stores the log events but cannot run Logs Insights queries: ``MotoInsights`` reads the
events of the asked time range back from moto and answers the core's three queries with the
emulation of ``tests/runtime/anomaly/test_anomaly_insights.py`` (request by request, as Logs
Insights computes them), plus the monitor's malformed-line count.
"""

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "runtime" / "anomaly"))


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials in one region, so that nothing can reach a real account."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        yield {
            name: boto3.client(name) for name in ("logs", "s3", "sns", "sqs", "wafv2", "dynamodb")
        }


class MotoInsights:
    """``insights.RunQuery`` over the events of a moto log group."""

    def __init__(self, logs: Any, group: str) -> None:
        from test_anomaly_insights import FakeInsights

        self.logs, self.group, self.queries = logs, group, 0
        self._fake = FakeInsights

    def events(self, start: int, end: int) -> list[bytes]:
        params: dict[str, Any] = {
            "logGroupName": self.group,
            "startTime": start * 1000,
            "endTime": end * 1000,
        }
        out: list[bytes] = []
        while True:
            page = self.logs.filter_log_events(**params)
            out += [event["message"].encode() for event in page["events"]]
            if not page.get("nextToken"):
                return out
            params["nextToken"] = page["nextToken"]

    def __call__(self, query: str, start: int, end: int) -> list[dict[str, str]]:
        self.queries += 1
        lines = self.events(start, end)
        if "malformed" in query:
            bad = 0
            for text in lines:
                try:
                    record = json.loads(text)
                except ValueError:
                    bad += 1
                    continue
                bad += not ("requestTimeEpoch" in record and "status" in record)
            return [{"malformed": str(bad)}]
        good = [text for text in lines if _parses(text)]
        return self._fake(good, 10_000)(query, start, end)


def _parses(text: bytes) -> bool:
    try:
        record = json.loads(text)
    except ValueError:
        return False
    return isinstance(record, dict) and "requestTimeEpoch" in record and "status" in record

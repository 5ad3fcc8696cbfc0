"""Fixtures for the anomaly monitor: access logs in a moto log group, state, topic, WAF, table.

moto stores the log events but cannot run Logs Insights queries: the tests read the events of
each query's time range back from moto and answer the monitor's queries with
``secure_endpoint.local_insights`` (request by request, as Logs Insights computes them).
"""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws


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

"""Fixtures for the anomaly monitor: access logs in a moto log group, state, topic, WAF, table.

moto stores the log events but cannot run Logs Insights queries: the tests read the events of
each query's time range back from moto and answer the monitor's queries with
``demo.local_insights`` (request by request, as Logs Insights computes them).
"""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_fakes import use_fake_credentials
from moto import mock_aws


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials in one region, so that nothing can reach a real account."""
    use_fake_credentials(monkeypatch, "us-east-1")


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        yield {
            name: boto3.client(name) for name in ("logs", "s3", "sns", "sqs", "wafv2", "dynamodb")
        }

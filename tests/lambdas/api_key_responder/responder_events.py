"""The responder's test helpers: moto's API Gateway, SNS and SQS with fake credentials, and
SNS-shaped events, as Lambda delivers them (moto runs no SNS -> Lambda). Not a conftest.py:
``tests/lambdas/anomaly_monitor`` imports its own ``conftest`` by that name."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from aws_fakes import use_fake_credentials
from moto import mock_aws

REQUEST_TOPIC = "arn:aws:sns:us-east-1:123456789012:requests"


def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials in one region, so that nothing can reach a real account."""
    use_fake_credentials(monkeypatch, "us-east-1")


@contextmanager
def moto_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """moto's API Gateway, SNS and SQS, with fake credentials."""
    fake_credentials(monkeypatch)
    with mock_aws():
        yield {name: boto3.client(name) for name in ("apigateway", "sns", "sqs")}


def request(client_id: str, **changes: Any) -> dict[str, Any]:
    """A request as the monitor publishes it."""
    return {
        "version": 1,
        "action": "disable-api-key",
        "clientId": client_id,
        "windowStart": 1_767_225_300,
        "windowEnd": 1_767_225_600,
        "score": 1.0,
        "reasons": ["rule:address-spread: 6 new addresses"],
    } | changes


def sns_event(
    message: Any, *, topic: str = REQUEST_TOPIC, action: str = "disable-api-key"
) -> dict[str, Any]:
    """An SNS -> Lambda event of one record, as Lambda delivers it."""
    text = message if isinstance(message, str) else json.dumps(message)
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic}:0f4c",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": "5f1a",
                    "TopicArn": topic,
                    "Subject": None,
                    "Message": text,
                    "Timestamp": "2026-01-01T00:00:00.000Z",
                    "MessageAttributes": {"action": {"Type": "String", "Value": action}},
                },
            }
        ]
    }

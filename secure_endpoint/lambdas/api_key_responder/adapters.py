"""The responder's AWS boundaries: API Gateway's API keys, and the alert topic.

Clients use botocore's standard retry mode (throttling, 5xx and connection errors retried with
exponential backoff and jitter). Errors are raised, never swallowed: the invocation fails, Lambda
retries it, then leaves it in the dead-letter queue.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from botocore.config import Config

from api_key_responder.messages import PENDING, SENT, mark_of, marked

CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 6}, connect_timeout=5, read_timeout=15
)
DISABLE = {"op": "replace", "path": "/enabled", "value": "false"}


class Disabled(Enum):
    """What ``ApiKeys.disable`` found and did."""

    NOW = "disabled"
    """It was enabled: disabled now, its alert owed."""
    ALERT_OWED = "disabled-alert-owed"
    """Disabled by an earlier attempt whose alert was not recorded as sent: the alert is owed."""
    ALREADY = "already-disabled"
    """Disabled already, by someone else or with its alert sent: nothing to do, nothing done."""


class ApiKeys:
    """Disables API keys; it has no way to enable one.

    Disabling marks the key's description (``messages.marked``) in the same call, so that a retry
    after a failure to alert knows the alert is still owed; ``alert_sent`` records that it went.

    :param client: a boto3 ``apigateway`` client (``CLIENT_CONFIG``).
    """

    def __init__(self, client: Any) -> None:
        self._client = client

    def disable(self, api_key_id: str) -> Disabled:
        key = self._client.get_api_key(apiKey=api_key_id)
        description = str(key.get("description") or "")
        if not key["enabled"]:
            return Disabled.ALERT_OWED if mark_of(description) == PENDING else Disabled.ALREADY
        self._client.update_api_key(
            apiKey=api_key_id, patchOperations=[DISABLE, _describe(marked(description, PENDING))]
        )
        return Disabled.NOW

    def alert_sent(self, api_key_id: str) -> None:
        """Record in the key's description that its alert went out."""
        description = str(self._client.get_api_key(apiKey=api_key_id).get("description") or "")
        self._client.update_api_key(
            apiKey=api_key_id, patchOperations=[_describe(marked(description, SENT))]
        )


def _describe(description: str) -> dict[str, str]:
    return {"op": "replace", "path": "/description", "value": description}


class AlertTopic:
    """The endpoint's alert topic."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self.topic_arn = topic_arn

    def publish(self, subject: str, message: str) -> str:
        response = self._client.publish(TopicArn=self.topic_arn, Subject=subject, Message=message)
        return str(response["MessageId"])


def clients(session: Any) -> dict[str, Any]:
    """The boto3 clients of the responder, with explicit retries."""
    return {
        "apigateway": session.client("apigateway", config=CLIENT_CONFIG),
        "sns": session.client("sns", config=CLIENT_CONFIG),
    }

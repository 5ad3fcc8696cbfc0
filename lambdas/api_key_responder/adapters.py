"""The responder's AWS boundaries: API Gateway's API keys, and the alert topic.

Clients use botocore's standard retry mode (throttling, 5xx and connection errors retried with
exponential backoff and jitter). Errors are raised, never swallowed: the invocation fails, Lambda
retries it, then leaves it in the dead-letter queue.
"""

from __future__ import annotations

from typing import Any

from botocore.config import Config

CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 6}, connect_timeout=5, read_timeout=15
)
DISABLE = [{"op": "replace", "path": "/enabled", "value": "false"}]


class ApiKeys:
    """Disables API keys; it has no way to enable one.

    :param client: a boto3 ``apigateway`` client (``CLIENT_CONFIG``).
    """

    def __init__(self, client: Any) -> None:
        self._client = client

    def disable(self, api_key_id: str) -> bool:
        """Disable the key; whether it was enabled (False: nothing to do, nothing done)."""
        if not self._client.get_api_key(apiKey=api_key_id)["enabled"]:
            return False
        self._client.update_api_key(apiKey=api_key_id, patchOperations=DISABLE)
        return True


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

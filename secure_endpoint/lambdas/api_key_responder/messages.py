"""The monitor's requests to disable a client's API key: their shape, and their validation.

A request is one SNS message (JSON), with the message attribute ``action=disable-api-key``::

    {"version": 1, "action": "disable-api-key", "clientId": "<Cognito app client id>",
     "windowStart": 1767225300, "windowEnd": 1767225600, "score": 1.0,
     "reasons": ["rule:address-spread ..."]}

``parse`` accepts a request only for a client the responder knows (its configuration) and only
from the request topic; anything else, malformed or not, comes back as a ``Dropped`` with the
reason, never as an exception. Pure: plain data in, plain data out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from api_key_responder.config import KnownClient

ACTION = "disable-api-key"
VERSION = 1
MAX_MESSAGE_CHARS = 16_384
MAX_REASONS = 10
MAX_REASON_CHARS = 300


@dataclass(frozen=True)
class DisableRequest:
    """A valid request: disable the API key of ``client``, flagged in this window."""

    client: KnownClient
    window_start: int
    window_end: int
    score: float
    reasons: tuple[str, ...]
    message_id: str


@dataclass(frozen=True)
class Dropped:
    """A record that is not a valid request, and why (logged, then dropped)."""

    reason: str
    message_id: str = ""
    client_id: str = ""


def records(event: Any) -> list[Any]:
    """The SNS records of a Lambda event; anything else is no record."""
    if not isinstance(event, dict):
        return []
    found = event.get("Records")
    return list(found) if isinstance(found, list) else []


def parse(
    record: Any, clients: Mapping[str, KnownClient], topic_arn: str
) -> DisableRequest | Dropped:
    """One SNS record as a request for a known client, or why it is dropped."""
    sns = record.get("Sns") if isinstance(record, dict) else None
    if not isinstance(sns, dict):
        return Dropped("not an SNS record")
    message_id = _str(sns.get("MessageId"))[:100]
    if sns.get("TopicArn") != topic_arn:
        return Dropped("not from the request topic", message_id)
    attributes = sns.get("MessageAttributes")
    action = attributes.get("action") if isinstance(attributes, dict) else None
    if not isinstance(action, dict) or action.get("Value") != ACTION:
        return Dropped(f"message attribute action is not {ACTION}", message_id)
    text = sns.get("Message")
    if not isinstance(text, str) or len(text) > MAX_MESSAGE_CHARS:
        return Dropped("message is not text of at most 16 KiB", message_id)
    try:
        body = json.loads(text)
    except ValueError:
        return Dropped("message is not JSON", message_id)
    if not isinstance(body, dict):
        return Dropped("message is not a JSON object", message_id)
    if body.get("version") != VERSION or body.get("action") != ACTION:
        return Dropped(f"message is not a version {VERSION} {ACTION} request", message_id)
    client_id = body.get("clientId")
    if not isinstance(client_id, str) or not client_id:
        return Dropped("message has no clientId", message_id)
    shown = client_id[:128]
    client = clients.get(client_id)
    if client is None:
        return Dropped("unknown client id", message_id, shown)
    window = _window(body.get("windowStart"), body.get("windowEnd"))
    if window is None:
        return Dropped("windowStart and windowEnd must be integers, start first", message_id, shown)
    score = body.get("score", 0.0)
    if isinstance(score, bool) or not isinstance(score, int | float) or score != score:
        return Dropped("score is not a number", message_id, shown)
    reasons = body.get("reasons", [])
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        return Dropped("reasons must be a list of strings", message_id, shown)
    return DisableRequest(
        client,
        *window,
        float(score),
        tuple(r[:MAX_REASON_CHARS] for r in reasons[:MAX_REASONS]),
        message_id,
    )


def reenable_command(api_key_id: str) -> str:
    """How an operator turns the key back on."""
    return (
        f"aws apigateway update-api-key --api-key {api_key_id} "
        "--patch-operations op=replace,path=/enabled,value=true"
    )


def disabled_alert(request: DisableRequest) -> tuple[str, str]:
    """The subject and body of the alert saying a key was disabled."""
    client = request.client
    subject = f"secure-endpoint: API key of client {client.name} disabled"
    body = {
        "disabled": {
            "client": client.name,
            "clientId": client.client_id,
            "apiKeyId": client.api_key_id,
        },
        "windowStart": request.window_start,
        "windowEnd": request.window_end,
        "score": request.score,
        "reasons": list(request.reasons),
        "effect": "every request with this API key gets 403 until the key is enabled again",
        "reenable": reenable_command(client.api_key_id),
        "next": [
            f"secure-endpoint revoke-client {client.name}  # also rotate its secret",
            reenable_command(client.api_key_id) + "  # a false positive: let it back in",
        ],
        "runbook": "docs/runbook.md#anomaly-monitor",
    }
    return subject[:100], json.dumps(body, indent=1)


MARK_PREFIX = " [secure-endpoint: disabled by the anomaly responder, alert "
PENDING, SENT = "pending", "sent"
"""The states a disable leaves in the key's description: written with the disable itself (one
``update_api_key`` call), ``sent`` once the alert is out. A retry that finds its key disabled
and ``pending`` still owes the alert, and sends it."""


def marked(description: str, state: str) -> str:
    """``description`` with its responder mark (if any) replaced by one in ``state``."""
    return unmarked(description) + f"{MARK_PREFIX}{state}]"


def unmarked(description: str) -> str:
    at = description.find(MARK_PREFIX)
    return description if at < 0 else description[:at]


def mark_of(description: str) -> str | None:
    """The state of the responder's mark in ``description``; None when it holds none."""
    at = description.find(MARK_PREFIX)
    if at < 0 or not description.endswith("]"):
        return None
    return description[at + len(MARK_PREFIX) : -1]


def _window(start: Any, end: Any) -> tuple[int, int] | None:
    for value in (start, end):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**40:
            return None
    return (start, end) if start < end else None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""

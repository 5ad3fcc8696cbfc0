"""The payload monitor's quarantine requests: their shape, and their validation.

A request is one SNS message (JSON) with the message attribute ``action=quarantine-client``
(``drift_monitor.payload.quarantines`` writes it)::

    {"version": 1, "clientId": "<Cognito app client id>", "kind": "probing", "score": 23.5,
     "ttlSeconds": 86400, "windowEnd": "2026-12-07T12:00:00Z", "reason": "payload probing ...",
     "finding": {<the finding, as its JSON line>}}

The request is made from the finding by ``runtime.quarantine.requests_from_findings`` (its
reason, and the kind, score, evidence, ``first_seen`` and ``queries`` the quarantine alert
shows).

``parse`` accepts a request only from the request topic, with that action, for a TTL the
endpoint allows (at most the configured ``AutoQuarantine.ttl``: a request cannot ask for more);
anything else comes back as a ``Dropped`` with the reason, never as an exception. Which clients
may be quarantined is ``runtime.quarantine.Quarantine``'s to say (known clients, never one on
``never_quarantine``). Pure: plain data in, plain data out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from secure_endpoint.runtime.quarantine import QuarantineRequest, requests_from_findings

ACTION = "quarantine-client"
VERSION = 1
SOURCE = "payload monitor"
MAX_MESSAGE_CHARS = 16_384
KINDS = frozenset({"extraction", "probing", "out_of_distribution", "membership"})


@dataclass(frozen=True)
class Dropped:
    """A record that is not a valid request, and why (logged, then dropped)."""

    reason: str
    message_id: str = ""
    client_id: str = ""


@dataclass(frozen=True)
class Parsed:
    request: QuarantineRequest
    client_id: str
    message_id: str


def records(event: Any) -> list[Any]:
    """The SNS records of a Lambda event; anything else is no record."""
    if not isinstance(event, dict):
        return []
    found = event.get("Records")
    return list(found) if isinstance(found, list) else []


def is_schedule(event: Any) -> bool:
    """An EventBridge scheduled event: the TTL sweep, not a request."""
    return isinstance(event, dict) and event.get("detail-type") == "Scheduled Event"


def parse(record: Any, topic_arn: str, max_ttl_seconds: int) -> Parsed | Dropped:
    sns = record.get("Sns") if isinstance(record, dict) else None
    if not isinstance(sns, dict):
        return Dropped("not-an-sns-record")
    message_id = str(sns.get("MessageId", ""))
    if sns.get("TopicArn") != topic_arn:
        return Dropped("other-topic", message_id)
    attributes = sns.get("MessageAttributes")
    action = attributes.get("action") if isinstance(attributes, dict) else None
    if not isinstance(action, dict) or action.get("Value") != ACTION:
        return Dropped("other-action", message_id)
    text = sns.get("Message")
    if not isinstance(text, str) or len(text) > MAX_MESSAGE_CHARS:
        return Dropped("no-message", message_id)
    try:
        body = json.loads(text)
    except ValueError:
        return Dropped("not-json", message_id)
    if not isinstance(body, dict) or body.get("version") != VERSION:
        return Dropped("other-version", message_id)
    client_id, kind, ttl = body.get("clientId"), body.get("kind"), body.get("ttlSeconds")
    if not isinstance(client_id, str) or not client_id:
        return Dropped("no-client", message_id)
    if kind not in KINDS:
        return Dropped("unknown-kind", message_id, client_id)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 60 <= ttl <= max_ttl_seconds:
        return Dropped("ttl-not-allowed", message_id, client_id)
    finding = body.get("finding")
    if not isinstance(finding, dict) or (finding.get("client_id"), finding.get("kind")) != (
        client_id,
        kind,
    ):
        return Dropped("no-finding", message_id, client_id)
    try:
        made = requests_from_findings([finding], timedelta(seconds=ttl), source=SOURCE)
    except ValueError:
        return Dropped("invalid-request", message_id, client_id)
    if not made:  # a score that is no number
        return Dropped("invalid-request", message_id, client_id)
    (request,) = made
    return Parsed(request, client_id, message_id)

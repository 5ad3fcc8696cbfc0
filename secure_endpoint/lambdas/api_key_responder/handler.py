"""SNS-triggered function: disable the API key of a client the anomaly monitor asks it to.

The anomaly monitor runs in an isolated VPC, and API Gateway's management API has no VPC
endpoint; so the monitor publishes a request (``messages``) to a topic only it may publish to,
and this function, outside the VPC, acts on it. It checks each record (from that topic, a known
client id, a well-formed request: anything else is logged and dropped, never raised), disables
the client's key (a disabled key is left as it is), logs one structured audit line per record,
says in the alert topic that the key was disabled and how to re-enable it, and emits EMF metrics
(``KeysDisabled``, ``KeysAlreadyDisabled``, ``RequestsDropped``). It never enables a key.

The alert is never lost to a failure between disabling and alerting: the disable marks the key's
description as owing its alert (in the same API call), and the mark becomes ``sent`` only after
the alert is published. A publish that fails fails the invocation; Lambda's retry finds the key
disabled with its alert owed and sends it, without disabling again. Delivery is at least once: a
failure after the publish and before the mark is recorded sends the alert twice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from api_key_responder import messages
from api_key_responder.adapters import AlertTopic, ApiKeys, Disabled, clients
from api_key_responder.config import Config
from secure_endpoint.runtime import powertools

DEFAULT_SERVICE = "api-key-responder"
"""The Powertools service outside Lambda (tests, local runs); in Lambda, the one the construct
names, unique to its endpoint (``secure_endpoint.runtime.powertools``)."""
NAMESPACE = "SecureEndpoint/Anomaly"

logger, metrics, tracer = powertools.tools(DEFAULT_SERVICE, NAMESPACE)


@dataclass(frozen=True)
class Adapters:
    keys: ApiKeys
    alerts: AlertTopic


@cache
def config() -> Config:
    """Read once per execution environment, at the first (cold-start) invocation."""
    return Config.from_env(os.environ)


@cache
def adapters() -> Adapters:
    aws = clients(boto3.session.Session())
    return Adapters(ApiKeys(aws["apigateway"]), AlertTopic(aws["sns"], config().alert_topic_arn))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return respond(event, config(), adapters())


_AUDIT_MESSAGES = {
    Disabled.NOW: "API key disabled",
    Disabled.ALERT_OWED: "API key disabled by an earlier attempt: sending its alert",
    Disabled.ALREADY: "API key was already disabled",
}


def respond(event: Any, cfg: Config, aws: Adapters) -> dict[str, Any]:
    """Act on every record of ``event``; a summary of what was done."""
    outcome: dict[str, list[str]] = {"disabled": [], "alreadyDisabled": [], "dropped": []}
    for record in messages.records(event):
        parsed = messages.parse(record, cfg.clients, cfg.request_topic_arn)
        if isinstance(parsed, messages.Dropped):
            logger.warning(
                "request dropped",
                extra={
                    "audit": "disable-api-key",
                    "result": "dropped",
                    "reason": parsed.reason,
                    "messageId": parsed.message_id,
                    "clientId": parsed.client_id,
                },
            )
            outcome["dropped"].append(parsed.reason)
            continue
        client = parsed.client
        found = aws.keys.disable(client.api_key_id)
        result = found.value
        logger.info(
            _AUDIT_MESSAGES[found],
            extra={
                "audit": "disable-api-key",
                "result": result,
                "client": client.name,
                "clientId": client.client_id,
                "apiKeyId": client.api_key_id,
                "windowStart": parsed.window_start,
                "windowEnd": parsed.window_end,
                "score": parsed.score,
                "reasons": list(parsed.reasons),
                "messageId": parsed.message_id,
                "reenable": messages.reenable_command(client.api_key_id),
            },
        )
        if found is not Disabled.ALREADY:
            aws.alerts.publish(*messages.disabled_alert(parsed))
            aws.keys.alert_sent(client.api_key_id)
            outcome["disabled"].append(client.name)
        else:
            outcome["alreadyDisabled"].append(client.name)
    for name, key in (
        ("KeysDisabled", "disabled"),
        ("KeysAlreadyDisabled", "alreadyDisabled"),
        ("RequestsDropped", "dropped"),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=len(outcome[key]))
    return outcome

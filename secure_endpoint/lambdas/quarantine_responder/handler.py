"""The quarantine responder: quarantines the clients the payload monitor asks it to, and
releases them when their TTL ends.

The drift monitor (payload monitoring) runs in the endpoint's isolated VPC, and API Gateway's
management API has no VPC endpoint; so, with ``auto_quarantine``, the monitor publishes a request
per client (``requests``) to a topic only it may publish to, and this function, outside the
VPC, acts on it through ``secure_endpoint.runtime.quarantine`` (its guard rails: known clients
only, never one on ``never_quarantine``, at most ``max_per_run`` new quarantines an invocation,
an extension rather than a second quarantine, the alert recorded as owed before anything
moves). Every 15 minutes a schedule runs ``reconcile``: quarantines whose TTL ended are
released, interrupted ones completed, owed alerts sent.

Metrics (namespace ``SecureEndpoint/Payload``, the function's service): ClientsQuarantined,
QuarantinesExtended, QuarantinesRefused (never_quarantine), QuarantinesDeferred (over
max_per_run), QuarantineRequestsDropped, QuarantinesReleased.

Environment: ``API_KEY_CLIENTS`` (Cognito client id -> ``{"name", "apiKeyId"}``),
``REQUEST_TOPIC_ARN``, ``ALERT_TOPIC_ARN``, ``NEVER_QUARANTINE`` (JSON list of names or ids),
``MAX_PER_RUN``, ``MAX_TTL_SECONDS``, optionally ``QUARANTINE_PLAN_ID`` (without it, keys are
disabled instead).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config as BotoConfig

from quarantine_responder import requests as req
from secure_endpoint.runtime import powertools
from secure_endpoint.runtime.quarantine import (
    ClientRef,
    Quarantine,
    apigateway_client,
    clients_from_json,
)

DEFAULT_SERVICE = "quarantine-responder"
NAMESPACE = "SecureEndpoint/Payload"
SNS_CONFIG = BotoConfig(
    retries={"mode": "standard", "total_max_attempts": 8}, connect_timeout=5, read_timeout=20
)

logger, metrics, tracer = powertools.tools(DEFAULT_SERVICE, NAMESPACE)


class ConfigError(ValueError):
    """The environment does not describe the responder; the message names the variable."""


@dataclass(frozen=True)
class Config:
    clients: tuple[ClientRef, ...]
    request_topic_arn: str
    alert_topic_arn: str
    never_quarantine: tuple[str, ...]
    max_per_run: int
    max_ttl_seconds: int
    quarantine_plan_id: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        values = {}
        for name in ("API_KEY_CLIENTS", "REQUEST_TOPIC_ARN", "ALERT_TOPIC_ARN"):
            values[name] = env.get(name, "")
            if not values[name]:
                raise ConfigError(f"the environment variable {name} is not set")
        try:
            clients = clients_from_json(json.loads(values["API_KEY_CLIENTS"]))
            never = json.loads(env.get("NEVER_QUARANTINE", "[]"))
            max_per_run = int(env.get("MAX_PER_RUN", "3"))
            max_ttl = int(env.get("MAX_TTL_SECONDS", "86400"))
        except (ValueError, AttributeError) as error:
            raise ConfigError(
                "API_KEY_CLIENTS, NEVER_QUARANTINE, MAX_PER_RUN or MAX_TTL_SECONDS cannot be "
                f"read: {error}"
            ) from None
        if not isinstance(never, list) or not all(isinstance(n, str) for n in never):
            raise ConfigError(f"NEVER_QUARANTINE must be a JSON list of names, got {never!r}")
        return cls(
            clients=tuple(clients),
            request_topic_arn=values["REQUEST_TOPIC_ARN"],
            alert_topic_arn=values["ALERT_TOPIC_ARN"],
            never_quarantine=tuple(never),
            max_per_run=max_per_run,
            max_ttl_seconds=max_ttl,
            quarantine_plan_id=env.get("QUARANTINE_PLAN_ID", ""),
        )


class AlertTopic:
    """``runtime.quarantine.Alerter`` on an SNS topic."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self.topic_arn = topic_arn

    def publish(self, subject: str, message: str) -> str:
        response = self._client.publish(TopicArn=self.topic_arn, Subject=subject, Message=message)
        return str(response["MessageId"])


@cache
def config() -> Config:
    return Config.from_env(os.environ)


@cache
def quarantine() -> Quarantine:
    session = boto3.session.Session()
    return build(config(), apigateway_client(session), session.client("sns", config=SNS_CONFIG))


def build(cfg: Config, apigateway: Any, sns: Any) -> Quarantine:
    return Quarantine(
        apigateway,
        cfg.clients,
        quarantine_plan_id=cfg.quarantine_plan_id or None,
        never_quarantine=cfg.never_quarantine,
        max_per_run=cfg.max_per_run,
        alerts=AlertTopic(sns, cfg.alert_topic_arn),
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return respond(event, config(), quarantine())


def respond(event: Any, cfg: Config, q: Quarantine) -> dict[str, Any]:
    """The TTL sweep for a scheduled event, else the requests of the SNS records."""
    if req.is_schedule(event):
        released, repaired = q.reconcile()
        metrics.add_metric("QuarantinesReleased", MetricUnit.Count, len(released.released))
        return {"released": list(released.released), "repaired": list(repaired)}
    wanted = []
    dropped = []
    for record in req.records(event):
        parsed = req.parse(record, cfg.request_topic_arn, cfg.max_ttl_seconds)
        if isinstance(parsed, req.Dropped):
            logger.warning(
                "quarantine request dropped",
                extra={"audit": "quarantine", "result": "dropped", "reason": parsed.reason,
                       "messageId": parsed.message_id, "clientId": parsed.client_id},
            )  # fmt: skip
            dropped.append(parsed.reason)
            continue
        logger.info(
            "quarantine requested",
            extra={"audit": "quarantine", "clientId": parsed.client_id,
                   "messageId": parsed.message_id, "detail": dict(parsed.request.detail),
                   "ttlSeconds": parsed.request.ttl.total_seconds()},
        )  # fmt: skip
        wanted.append(parsed.request)
    result = q.quarantine(wanted) if wanted else None
    outcome = {
        "quarantined": [e.client.name for e in result.quarantined] if result else [],
        "extended": [e.client.name for e in result.extended] if result else [],
        "refused": list(result.refused) if result else [],
        "deferred": list(result.deferred) if result else [],
        "unknown": list(result.unknown) if result else [],
        "dropped": dropped,
    }
    for name, key in (
        ("ClientsQuarantined", "quarantined"),
        ("QuarantinesExtended", "extended"),
        ("QuarantinesRefused", "refused"),
        ("QuarantinesDeferred", "deferred"),
    ):
        metrics.add_metric(name, MetricUnit.Count, len(outcome[key]))
    metrics.add_metric(
        "QuarantineRequestsDropped", MetricUnit.Count, len(dropped) + len(outcome["unknown"])
    )
    return outcome

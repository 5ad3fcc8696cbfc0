"""The drift monitor: hourly, compare the newly captured inputs with the training baseline and
with each client's own past.

A run reads the data-capture objects stored since its cursor (``secure_endpoint.runtime.capture
.runs``) as one window and
- compares it with the baseline shipped in the function's layer (``/opt``, digests checked at
  cold start: a tampered baseline stops the function): Model Monitor's checks, written as the
  window's ``constraint_violations.json`` under ``<state prefix>reports/`` when it holds any;
- judges it client by client (``drift.References``): each client's mean of each feature against
  its own first ``REFERENCE_HOURS`` (24) of traffic; when enough clients moved the same way, the
  world did, and a finding goes to ``<state prefix>findings/``;
then publishes the metrics and commits its state (``<state prefix>state.json``: the cursor and
the client references, in one object). A run that fails before the commit is read again by the
next one; a report or finding written twice is the same one.

Metrics (namespace ``SecureEndpoint/Drift``, the function's Powertools service): CapturedRows,
UnreadableCaptureLines, DriftingFeatures (features the world moved on; only once some client is
judged), FeaturesOffTraining (Model Monitor's training-only drift check), ConstraintViolations
(completeness, type and width), MaxDriftDistance, and per feature FeatureDriftDistance
(dimension ``Feature``).

With payload monitoring (``PAYLOAD_MONITORING=true``) the same captures, read once, also go
through the payload detector (``secure_endpoint.runtime.payload``), which scores each client on
what it sends (extraction, probing, out of distribution, membership; ``payload``). A run then
1. writes the new findings as JSON Lines (``<state prefix>findings/<end>.payload.jsonl``);
2. publishes one alert on the alert topic, once per window (a marker under
   ``<state prefix>alerts/``): before anything that could fail after it, so a later failure
   never loses it, and its retry does not repeat it;
3. with automatic quarantine, asks the quarantine responder (outside the VPC: API Gateway's
   management API has no VPC endpoint) to quarantine the worst clients, at most
   ``max_per_run``, never one on ``never_quarantine`` (the responder is idempotent);
4. writes the detector's state to the slot the committed state does not name, and commits
   ``state.json`` naming it with the cursor and the client references: all or nothing, so the
   cursor never moves past captures the detector's committed state has not seen;
5. publishes the payload metrics (namespace ``SecureEndpoint/Payload``): PayloadFindings by
   ``Kind``, ClientsFlagged, MaxPayloadScore, UnknownClientRows, PayloadRows, and the top
   clients' PayloadScore (dimension ``Client``).
The membership key (the detector's keyed hashes of training rows) is read from Secrets Manager
at cold start (``MEMBERSHIP_KEY_SECRET_ARN``), never from the layer or the environment.

Environment: ``CAPTURE_BUCKET``, ``ENDPOINT_PREFIX`` (``capture/<endpoint name>/``),
``STATE_PREFIX`` (``drift/``), optionally ``BASELINE_DIR``, ``LOOKBACK_HOURS``,
``MAX_BYTES_PER_RUN``, ``REFERENCE_HOURS``; for payload monitoring ``PAYLOAD_MONITORING``,
``ALERT_TOPIC_ARN``, ``CLIENT_NAMES`` (client id to name, JSON), optionally
``MEMBERSHIP_KEY_SECRET_ARN``, ``QUARANTINE_TOPIC_ARN`` and ``QUARANTINE`` (JSON: ttl_seconds,
never, max_per_run).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config as BotoConfig

from drift_monitor import payload as pay
from secure_endpoint.runtime import powertools
from secure_endpoint.runtime.baseline.store import Baseline, load_baseline
from secure_endpoint.runtime.capture import runs
from secure_endpoint.runtime.capture.drift import (
    FeatureShift,
    Reference,
    References,
    WindowReport,
    iso,
    world_episode,
)
from secure_endpoint.runtime.capture.records import Capture
from secure_endpoint.runtime.capture.s3 import S3CaptureStore

DEFAULT_SERVICE = "drift-monitor"
"""The service where ``POWERTOOLS_SERVICE_NAME`` is unset (tests, local runs); the construct
names one unique to its endpoint (``secure_endpoint.runtime.powertools``)."""
NAMESPACE = "SecureEndpoint/Drift"
PAYLOAD_NAMESPACE = "SecureEndpoint/Payload"
KIND_DIMENSION = "Kind"
CLIENT_DIMENSION = "Client"
TOP_CLIENTS = 10
"""Clients whose PayloadScore is published each run (and logged for the dashboard's table)."""
DEFAULT_REFERENCE_HOURS = 24
"""How long each client's own traffic is learnt before it is judged: a day, its daily cycle."""
CLIENT_CONFIG = BotoConfig(
    retries={"mode": "standard", "total_max_attempts": 8}, connect_timeout=5, read_timeout=30
)

logger, metrics, tracer = powertools.tools(DEFAULT_SERVICE, NAMESPACE)


class ConfigError(ValueError):
    """The function's environment is incomplete; names the variable."""


@dataclass(frozen=True)
class Config:
    capture_bucket: str
    endpoint_prefix: str
    state_prefix: str
    baseline_dir: Path
    lookback_hours: int
    max_bytes: int
    reference_seconds: float
    payload: bool = False
    alert_topic_arn: str = ""
    membership_key_secret_arn: str = ""
    client_names: Mapping[str, str] = field(default_factory=dict)
    quarantine: pay.QuarantineSettings = field(default_factory=pay.QuarantineSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        values = {}
        for name in ("CAPTURE_BUCKET", "ENDPOINT_PREFIX", "STATE_PREFIX"):
            values[name] = env.get(name, "")
            if not values[name]:
                raise ConfigError(f"the environment variable {name} is not set")
        for name in ("ENDPOINT_PREFIX", "STATE_PREFIX"):
            if not values[name].endswith("/"):
                raise ConfigError(f"{name} must end with '/', got {values[name]!r}")
        try:
            lookback = int(env.get("LOOKBACK_HOURS", runs.DEFAULT_LOOKBACK_HOURS))
            max_bytes = int(env.get("MAX_BYTES_PER_RUN", runs.DEFAULT_MAX_BYTES))
            reference_hours = int(env.get("REFERENCE_HOURS", DEFAULT_REFERENCE_HOURS))
        except ValueError as error:
            raise ConfigError(
                "LOOKBACK_HOURS, MAX_BYTES_PER_RUN and REFERENCE_HOURS must be whole numbers: "
                f"{error}"
            ) from None
        payload = env.get("PAYLOAD_MONITORING", "false")
        if payload not in ("true", "false"):
            raise ConfigError(f"PAYLOAD_MONITORING must be true or false, got {payload!r}")
        alert_topic = env.get("ALERT_TOPIC_ARN", "")
        if payload == "true" and not alert_topic:
            raise ConfigError("payload monitoring needs ALERT_TOPIC_ARN: it is not set")
        return cls(
            capture_bucket=values["CAPTURE_BUCKET"],
            endpoint_prefix=values["ENDPOINT_PREFIX"],
            state_prefix=values["STATE_PREFIX"],
            baseline_dir=Path(env.get("BASELINE_DIR", "/opt")),
            lookback_hours=lookback,
            max_bytes=max_bytes,
            reference_seconds=reference_hours * 3600.0,
            payload=payload == "true",
            alert_topic_arn=alert_topic,
            membership_key_secret_arn=env.get("MEMBERSHIP_KEY_SECRET_ARN", ""),
            client_names=_names(env.get("CLIENT_NAMES", "{}")),
            quarantine=_quarantine(env.get("QUARANTINE_TOPIC_ARN", ""), env.get("QUARANTINE")),
        )

    @property
    def state_key(self) -> str:
        return f"{self.state_prefix}state.json"

    @property
    def findings_prefix(self) -> str:
        return f"{self.state_prefix}findings/"

    @property
    def reports_prefix(self) -> str:
        return f"{self.state_prefix}reports/"

    @property
    def alerts_prefix(self) -> str:
        return f"{self.state_prefix}alerts/"


def _names(text: str) -> dict[str, str]:
    try:
        names = json.loads(text)
    except ValueError:
        names = None
    if not isinstance(names, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in names.items()
    ):
        raise ConfigError(f"CLIENT_NAMES must be a JSON object of client id to name, got {text!r}")
    return names


def _quarantine(topic_arn: str, text: str | None) -> pay.QuarantineSettings:
    if not topic_arn:
        return pay.QuarantineSettings()
    try:
        document = json.loads(text or "")
        settings = pay.QuarantineSettings(
            topic_arn=topic_arn,
            ttl_seconds=int(document["ttl_seconds"]),
            never=frozenset(str(c) for c in document["never"]),
            max_per_run=int(document["max_per_run"]),
        )
    except (ValueError, TypeError, KeyError) as error:
        raise ConfigError(
            "QUARANTINE must be JSON with ttl_seconds, never and max_per_run, got "
            f"{text!r} ({error})"
        ) from None
    if settings.ttl_seconds < 60 or settings.max_per_run < 1:
        raise ConfigError(f"QUARANTINE needs ttl_seconds >= 60 and max_per_run >= 1, got {text!r}")
    return settings


@cache
def config() -> Config:
    return Config.from_env(os.environ)


@cache
def baseline() -> Baseline:
    """The baseline, verified against its manifest once per execution environment."""
    return load_baseline(config().baseline_dir)


@cache
def reference() -> Reference:
    return Reference.from_baseline(baseline())


@cache
def s3() -> Any:
    return boto3.session.Session().client("s3", config=CLIENT_CONFIG)


@dataclass(frozen=True)
class Payload:
    """What the payload half of a run needs: a detector (from its committed state, or fresh),
    the baseline it is learnt on, and where alerts and quarantine requests go."""

    detector: Callable[[bytes | None], pay.Detector]
    baseline: str
    sns: Any


@cache
def membership_key() -> bytes | None:
    """The detector's membership key, read once from Secrets Manager: the UTF-8 bytes of the
    secret string, one trailing newline dropped (as ``--membership-key-file`` reads a file)."""
    arn = config().membership_key_secret_arn
    if not arn:
        return None
    client = boto3.session.Session().client("secretsmanager", config=CLIENT_CONFIG)
    key = str(client.get_secret_value(SecretId=arn)["SecretString"]).encode()
    return key[:-1] if key.endswith(b"\n") else key


@cache
def payload() -> Payload | None:
    """The payload detector's parts, built once (at the cold start)."""
    cfg = config()
    if not cfg.payload:
        return None
    from secure_endpoint.runtime.payload.detector import DetectorConfig, PayloadDetector
    from secure_endpoint.runtime.payload.reference import PayloadReference

    documents = baseline()
    ref = PayloadReference.from_baseline(documents, membership_key=membership_key())

    def detector(state: bytes | None) -> pay.Detector:
        if state is None:
            return PayloadDetector(ref, DetectorConfig())
        return PayloadDetector.from_state_bytes(ref, state)

    return Payload(
        detector,
        pay.baseline_digest(documents.manifest),
        boto3.session.Session().client("sns", config=CLIENT_CONFIG),
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run(time.time(), config(), reference(), s3(), payload())


@dataclass(frozen=True)
class State:
    cursor: runs.Cursor
    references: References
    payload: pay.StateRef | None


def run(
    now: float, cfg: Config, ref: Reference, client: Any, payload: Payload | None = None
) -> dict[str, Any]:
    """One run (see the module); returns what it read and found."""
    state = _state(client, cfg, ref, now)
    cursor, references = state.cursor, state.references
    detector, fresh = _detector(client, cfg, state.payload, payload)
    tally = pay.Tally()

    def detect(captures: Iterator[Capture]) -> None:
        tally.findings = list(detector.run(tally.watch(captures))) if detector else []

    result = runs.run(
        S3CaptureStore(client, cfg.capture_bucket),
        cfg.endpoint_prefix,
        ref,
        cursor,
        now,
        lookback_hours=cfg.lookback_hours,
        max_bytes=cfg.max_bytes,
        also=detect if detector is not None else None,
    )
    moved = references.judge(result.report, ref) if result.objects else []
    world = [shift for shift in moved if shift.world]
    violations = result.report.violations(ref) if result.objects else []
    if violations:
        _put(client, cfg, runs.report_key(cfg.reports_prefix, result), {"violations": violations})
    if world:
        finding = world_episode([(result.report, world)])
        _put(client, cfg, f"{cfg.findings_prefix}{iso(result.report.end)}.json", finding)
    payload_summary: dict[str, Any] = {}
    slot: pay.StateRef | None = state.payload
    if detector is not None and payload is not None and (result.objects or fresh):
        payload_summary = _respond(client, cfg, payload, tally.findings, iso(result.report.end))
        slot = _save_detector(client, cfg, payload, detector, state.payload)
    # Model Monitor's baseline_drift_check compares with the training data alone; live traffic
    # differs from it every hour, so the alarm counts only the other violations.
    broken = [v for v in violations if v["constraint_check_type"] != "baseline_drift_check"]
    _publish(result.report, result.counts.unreadable, len(broken), world, bool(moved))
    if result.objects:
        references.learn(result.report)
    if result.cursor != cursor or result.objects or slot != state.payload:
        document: dict[str, Any] = {
            "cursor": json.loads(result.cursor.to_json()),
            "references": json.loads(references.to_json()),
        }
        if slot is not None:
            document["payload"] = slot.to_json()
        # the commit: cursor, references and the detector's state at once
        _put(client, cfg, cfg.state_key, document)
    if detector is not None and result.objects:
        _publish_payload(tally, detector)  # after the commit: a failed run publishes none
    summary = {
        "objects": result.objects,
        "records": result.counts.records,
        "rows": result.report.rows,
        "skipped": dict(result.counts.skipped),
        "drifting": [shift.name for shift in world],
        "off_training": [f.name for f in result.report.drifted],
        "clients_judged": max((shift.judged_clients for shift in moved), default=0),
        "violations": len(broken),
        "backlog": result.backlog,
    }
    if detector is not None:
        summary["payload"] = {
            "findings": [f.to_json() for f in tally.findings],
            "unknown_rows": tally.unknown_rows,
            **payload_summary,
        }
    if result.counts.unreadable:
        logger.warning("capture lines skipped", extra={"skipped": summary["skipped"]})
    if world:
        logger.warning("drift", extra={"features": summary["drifting"]})
    logger.info("drift run", extra=summary)
    return summary


def _detector(
    client: Any, cfg: Config, ref: pay.StateRef | None, parts: Payload | None
) -> tuple[pay.Detector | None, bool]:
    """The detector from its committed state, and whether it is a fresh one. A state learnt
    on another baseline (a new layer version), or intact but of another detector version, is
    replaced by a fresh one, said in the log; a state that is named but missing or changed
    stops the run (starting over would forget every client's history, which is what a
    patient attacker wants)."""
    if parts is None:
        return None, False
    if ref is None:
        return parts.detector(None), True
    if ref.baseline != parts.baseline:
        logger.warning(
            "new baseline: the payload detector starts over",
            extra={"was": ref.baseline, "now": parts.baseline},
        )
        return parts.detector(None), True
    data = pay.checked_state(ref, _get(client, cfg, ref.key))
    try:
        return parts.detector(data), False
    except ValueError as error:
        # intact (its digest matches) but of another shape: this code keeps other arrays (an
        # upgrade of the library changed the detector's configuration)
        logger.warning(
            "the payload detector's state is of another version: it starts over",
            extra={"error": str(error), "key": ref.key},
        )
        return parts.detector(None), True


def _respond(
    client: Any, cfg: Config, parts: Payload, findings: list[pay.Finding], window_end: str
) -> dict[str, Any]:
    """Findings file, alert, quarantine requests: in that order, each idempotent."""
    if not findings:
        return {"alerted": False, "quarantine_requested": []}
    key = pay.findings_key(cfg.findings_prefix, window_end)
    client.put_object(
        Bucket=cfg.capture_bucket,
        Key=key,
        Body=pay.jsonl(findings),
        ContentType="application/x-ndjson",
    )
    for finding in findings:
        logger.warning("payload finding", extra=finding.to_json())
    requests = pay.quarantines(findings, cfg.quarantine, window_end)
    subject, message = pay.alert(
        findings,
        window_end=window_end,
        names=cfg.client_names,
        capture_url=f"s3://{cfg.capture_bucket}/{cfg.endpoint_prefix}",
        findings_url=f"s3://{cfg.capture_bucket}/{key}",
        quarantine=cfg.quarantine,
        requested=requests,
    )
    alerted = _publish_once(client, cfg, parts.sns, window_end, subject, message)
    for client_id, request in requests.requested.items():
        response = parts.sns.publish(
            TopicArn=cfg.quarantine.topic_arn,
            Message=request,
            MessageAttributes={
                "action": {"DataType": "String", "StringValue": pay.QUARANTINE_ACTION},
                "clientId": {"DataType": "String", "StringValue": client_id},
            },
        )
        logger.info(
            "quarantine requested",
            extra={"clientId": client_id, "messageId": response["MessageId"]},
        )
    if requests.deferred:
        logger.warning(
            "quarantines over the per-run limit",
            extra={"deferred": list(requests.deferred), "limit": cfg.quarantine.max_per_run},
        )
    return {
        "alerted": alerted,
        "quarantine_requested": sorted(requests.requested),
        "quarantine_never": list(requests.never),
        "quarantine_deferred": list(requests.deferred),
    }


def _publish_once(
    client: Any, cfg: Config, sns: Any, window_end: str, subject: str, message: str
) -> bool:
    """Publish the window's alert unless its marker says it went out (a retried run); only a
    stop between the publish and the marker sends it twice."""
    marker = f"{cfg.alerts_prefix}{window_end}.payload.json"
    if _get(client, cfg, marker) is not None:
        return False
    response = sns.publish(TopicArn=cfg.alert_topic_arn, Subject=subject, Message=message)
    _put(client, cfg, marker, {"messageId": response["MessageId"]})
    return True


def _save_detector(
    client: Any,
    cfg: Config,
    parts: Payload,
    detector: pay.Detector,
    current: pay.StateRef | None,
) -> pay.StateRef:
    """Write the detector's state to the slot ``state.json`` does not name; ``state.json``
    names it at the commit."""
    data = detector.state_bytes()
    key = pay.next_slot(cfg.state_prefix, current)
    client.put_object(
        Bucket=cfg.capture_bucket, Key=key, Body=data, ContentType="application/octet-stream"
    )
    return pay.StateRef(key, pay.sha256(data), parts.baseline)


def _state(client: Any, cfg: Config, ref: Reference, now: float) -> State:
    """The committed cursor, client references and payload state; fresh ones on the first
    run. A state that cannot be read stops the run (resetting it would re-read or skip
    capture)."""
    names = [f.name for f in ref.features]
    body = _get(client, cfg, cfg.state_key)
    if body is None:
        return State(runs.Cursor(now - 3600), References(cfg.reference_seconds, names), None)
    document = json.loads(body)
    if not isinstance(document, dict) or "cursor" not in document:
        raise ValueError(f"{cfg.state_key} is not a drift monitor state")
    cursor = runs.Cursor.from_json(json.dumps(document["cursor"]), start=now - 3600)
    references = References.from_json(json.dumps(document.get("references")), names)
    return State(
        cursor, references, pay.StateRef.from_json(document.get("payload"), cfg.state_prefix)
    )


def _get(client: Any, cfg: Config, key: str) -> bytes | None:
    try:
        return bytes(client.get_object(Bucket=cfg.capture_bucket, Key=key)["Body"].read())
    except client.exceptions.NoSuchKey:
        return None


def _put(client: Any, cfg: Config, key: str, document: Any) -> None:
    client.put_object(
        Bucket=cfg.capture_bucket,
        Key=key,
        Body=json.dumps(document, indent=1).encode(),
        ContentType="application/json",
    )


def _publish(
    report: WindowReport,
    unreadable: int,
    violations: int,
    world: list[FeatureShift],
    judged: bool,
) -> None:
    metrics.add_metric("CapturedRows", MetricUnit.Count, report.rows)
    metrics.add_metric("UnreadableCaptureLines", MetricUnit.Count, unreadable)
    if not report.judged:
        return  # nothing, or too little, to compare: no drift figures (not zeros)
    if judged:  # some client had a complete reference to be judged against
        metrics.add_metric("DriftingFeatures", MetricUnit.Count, len(world))
    metrics.add_metric("FeaturesOffTraining", MetricUnit.Count, len(report.drifted))
    metrics.add_metric("ConstraintViolations", MetricUnit.Count, violations)
    worst = max((f.linf for f in report.features), default=0.0)
    metrics.add_metric("MaxDriftDistance", MetricUnit.NoUnit, worst)
    for feature in report.features:
        per_feature = powertools.ephemeral(metrics)
        per_feature.add_dimension("Feature", feature.name[:250])  # the dashboard searches it
        per_feature.add_metric("FeatureDriftDistance", MetricUnit.NoUnit, feature.linf)
        per_feature.flush_metrics()


def _publish_payload(tally: pay.Tally, detector: pay.Detector) -> None:
    """The payload metrics, in their own namespace under the function's service."""
    scores = detector.client_scores()
    run_metrics = EphemeralMetrics(namespace=PAYLOAD_NAMESPACE, service=metrics.service)
    flagged = {f.client_id for f in tally.findings}
    run_metrics.add_metric("ClientsFlagged", MetricUnit.Count, len(flagged))
    run_metrics.add_metric("UnknownClientRows", MetricUnit.Count, tally.unknown_rows)
    run_metrics.add_metric("PayloadRows", MetricUnit.Count, tally.rows)
    top = pay.top_scores(scores, TOP_CLIENTS)
    run_metrics.add_metric("MaxPayloadScore", MetricUnit.NoUnit, top[0][2] if top else 0.0)
    run_metrics.flush_metrics()
    for kind in pay.KINDS:  # zeros too: the alarms see a quiet hour as quiet, not as missing
        per_kind = EphemeralMetrics(namespace=PAYLOAD_NAMESPACE, service=metrics.service)
        per_kind.add_dimension(KIND_DIMENSION, kind)
        count = sum(f.kind == kind for f in tally.findings)
        per_kind.add_metric("PayloadFindings", MetricUnit.Count, count)
        per_kind.flush_metrics()
    for client_id, kind, score in top:
        logger.info("payload score", extra={"client": client_id, "kind": kind, "score": score})
        per_client = EphemeralMetrics(namespace=PAYLOAD_NAMESPACE, service=metrics.service)
        per_client.add_dimension(CLIENT_DIMENSION, client_id[:250])
        per_client.add_metric("PayloadScore", MetricUnit.NoUnit, score)
        per_client.flush_metrics()

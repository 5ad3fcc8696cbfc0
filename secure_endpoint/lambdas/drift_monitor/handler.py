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

Environment: ``CAPTURE_BUCKET``, ``ENDPOINT_PREFIX`` (``capture/<endpoint name>/``),
``STATE_PREFIX`` (``drift/``), optionally ``BASELINE_DIR``, ``LOOKBACK_HOURS``,
``MAX_BYTES_PER_RUN``, ``REFERENCE_HOURS``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config as BotoConfig

from secure_endpoint.runtime import powertools
from secure_endpoint.runtime.baseline.store import load_baseline
from secure_endpoint.runtime.capture import runs
from secure_endpoint.runtime.capture.drift import (
    FeatureShift,
    Reference,
    References,
    WindowReport,
    iso,
    world_episode,
)
from secure_endpoint.runtime.capture.s3 import S3CaptureStore

DEFAULT_SERVICE = "drift-monitor"
"""The service where ``POWERTOOLS_SERVICE_NAME`` is unset (tests, local runs); the construct
names one unique to its endpoint (``secure_endpoint.runtime.powertools``)."""
NAMESPACE = "SecureEndpoint/Drift"
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
        return cls(
            capture_bucket=values["CAPTURE_BUCKET"],
            endpoint_prefix=values["ENDPOINT_PREFIX"],
            state_prefix=values["STATE_PREFIX"],
            baseline_dir=Path(env.get("BASELINE_DIR", "/opt")),
            lookback_hours=lookback,
            max_bytes=max_bytes,
            reference_seconds=reference_hours * 3600.0,
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


@cache
def config() -> Config:
    return Config.from_env(os.environ)


@cache
def reference() -> Reference:
    """The baseline, verified against its manifest once per execution environment."""
    return Reference.from_baseline(load_baseline(config().baseline_dir))


@cache
def s3() -> Any:
    return boto3.session.Session().client("s3", config=CLIENT_CONFIG)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run(time.time(), config(), reference(), s3())


def run(now: float, cfg: Config, ref: Reference, client: Any) -> dict[str, Any]:
    """One run (see the module); returns what it read and found."""
    cursor, references = _state(client, cfg, ref, now)
    result = runs.run(
        S3CaptureStore(client, cfg.capture_bucket),
        cfg.endpoint_prefix,
        ref,
        cursor,
        now,
        lookback_hours=cfg.lookback_hours,
        max_bytes=cfg.max_bytes,
    )
    moved = references.judge(result.report, ref) if result.objects else []
    world = [shift for shift in moved if shift.world]
    violations = result.report.violations(ref) if result.objects else []
    if violations:
        _put(client, cfg, runs.report_key(cfg.reports_prefix, result), {"violations": violations})
    if world:
        finding = world_episode([(result.report, world)])
        _put(client, cfg, f"{cfg.findings_prefix}{iso(result.report.end)}.json", finding)
    # Model Monitor's baseline_drift_check compares with the training data alone; live traffic
    # differs from it every hour, so the alarm counts only the other violations.
    broken = [v for v in violations if v["constraint_check_type"] != "baseline_drift_check"]
    _publish(result.report, result.counts.unreadable, len(broken), world, bool(moved))
    if result.objects:
        references.learn(result.report)
    if result.cursor != cursor or result.objects:
        state = {
            "cursor": json.loads(result.cursor.to_json()),
            "references": json.loads(references.to_json()),
        }
        _put(client, cfg, cfg.state_key, state)  # the commit: cursor and references at once
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
    if result.counts.unreadable:
        logger.warning("capture lines skipped", extra={"skipped": summary["skipped"]})
    if world:
        logger.warning("drift", extra={"features": summary["drifting"]})
    logger.info("drift run", extra=summary)
    return summary


def _state(client: Any, cfg: Config, ref: Reference, now: float) -> tuple[runs.Cursor, References]:
    """The committed cursor and client references; fresh ones on the first run. A state that
    cannot be read stops the run (resetting it would re-read or skip capture)."""
    names = [f.name for f in ref.features]
    try:
        body = client.get_object(Bucket=cfg.capture_bucket, Key=cfg.state_key)["Body"].read()
    except client.exceptions.NoSuchKey:
        return runs.Cursor(now - 3600), References(cfg.reference_seconds, names)
    document = json.loads(body)
    if not isinstance(document, dict) or "cursor" not in document:
        raise ValueError(f"{cfg.state_key} is not a drift monitor state")
    cursor = runs.Cursor.from_json(json.dumps(document["cursor"]), start=now - 3600)
    references = References.from_json(json.dumps(document.get("references")), names)
    return cursor, references


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
        per_feature.add_dimension("Feature", feature.name[:250])
        per_feature.add_metric("FeatureDriftDistance", MetricUnit.NoUnit, feature.linf)
        per_feature.flush_metrics()

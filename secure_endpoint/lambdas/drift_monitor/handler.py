"""The drift monitor: hourly, compare the newly captured inputs with the training baseline.

A run reads the data-capture objects stored since its cursor (``secure_endpoint.runtime.capture
.runs``), compares them as one window with the baseline shipped in the function's layer
(``/opt``, digests checked at cold start: a tampered baseline stops the function),
then, in this order: writes the window's ``constraint_violations.json`` under
``<state prefix>reports/`` (when it holds any), publishes the metrics, and commits the cursor
(``<state prefix>cursor.json``). A run that fails before the commit is read again by the next
one; a report written twice is the same report.

Metrics (namespace ``SecureEndpoint/Drift``, the function's Powertools service): CapturedRows,
UnreadableCaptureLines, DriftingFeatures, ConstraintViolations, MaxDriftDistance, and per
feature FeatureDriftDistance (dimension ``Feature``).

Environment: ``CAPTURE_BUCKET``, ``ENDPOINT_PREFIX`` (``capture/<endpoint name>/``),
``STATE_PREFIX`` (``drift/``), optionally ``BASELINE_DIR``, ``LOOKBACK_HOURS``,
``MAX_BYTES_PER_RUN``.
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
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config as BotoConfig

from secure_endpoint.runtime.baseline.store import load_baseline
from secure_endpoint.runtime.capture import runs
from secure_endpoint.runtime.capture.drift import Reference, WindowReport
from secure_endpoint.runtime.capture.s3 import S3CaptureStore

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "drift-monitor")
NAMESPACE = "SecureEndpoint/Drift"
CLIENT_CONFIG = BotoConfig(
    retries={"mode": "standard", "total_max_attempts": 8}, connect_timeout=5, read_timeout=30
)

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)


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
        except ValueError as error:
            raise ConfigError(
                f"LOOKBACK_HOURS and MAX_BYTES_PER_RUN must be whole numbers: {error}"
            ) from None
        return cls(
            capture_bucket=values["CAPTURE_BUCKET"],
            endpoint_prefix=values["ENDPOINT_PREFIX"],
            state_prefix=values["STATE_PREFIX"],
            baseline_dir=Path(env.get("BASELINE_DIR", "/opt")),
            lookback_hours=lookback,
            max_bytes=max_bytes,
        )

    @property
    def cursor_key(self) -> str:
        return f"{self.state_prefix}cursor.json"

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
    cursor = runs.Cursor.from_json(_read(client, cfg), start=now - 3600)
    result = runs.run(
        S3CaptureStore(client, cfg.capture_bucket),
        cfg.endpoint_prefix,
        ref,
        cursor,
        now,
        lookback_hours=cfg.lookback_hours,
        max_bytes=cfg.max_bytes,
    )
    violations = result.report.violations(ref) if result.objects else []
    if violations:
        client.put_object(
            Bucket=cfg.capture_bucket,
            Key=runs.report_key(cfg.reports_prefix, result),
            Body=json.dumps({"violations": violations}, indent=2).encode(),
            ContentType="application/json",
        )
    _publish(result.report, result.counts.unreadable, len(violations), bool(result.objects))
    if result.cursor != cursor:
        client.put_object(
            Bucket=cfg.capture_bucket,
            Key=cfg.cursor_key,
            Body=result.cursor.to_json().encode(),
            ContentType="application/json",
        )
    summary = {
        "objects": result.objects,
        "records": result.counts.records,
        "rows": result.report.rows,
        "skipped": dict(result.counts.skipped),
        "drifting": [f.name for f in result.report.drifted],
        "violations": len(violations),
        "backlog": result.backlog,
    }
    if result.counts.unreadable:
        logger.warning("capture lines skipped", extra={"skipped": summary["skipped"]})
    if summary["drifting"]:
        logger.warning("drift", extra={"features": summary["drifting"]})
    logger.info("drift run", extra=summary)
    return summary


def _read(client: Any, cfg: Config) -> bytes | None:
    try:
        body: bytes = client.get_object(Bucket=cfg.capture_bucket, Key=cfg.cursor_key)[
            "Body"
        ].read()
    except client.exceptions.NoSuchKey:
        return None
    return body


def _publish(report: WindowReport, unreadable: int, violations: int, read: bool) -> None:
    metrics.add_metric("CapturedRows", MetricUnit.Count, report.rows)
    metrics.add_metric("UnreadableCaptureLines", MetricUnit.Count, unreadable)
    if not read or not report.judged:
        return  # nothing, or too little, to compare: no drift figures (not zeros)
    metrics.add_metric("DriftingFeatures", MetricUnit.Count, len(report.drifted))
    metrics.add_metric("ConstraintViolations", MetricUnit.Count, violations)
    worst = max((f.linf for f in report.features), default=0.0)
    metrics.add_metric("MaxDriftDistance", MetricUnit.NoUnit, worst)
    for feature in report.features:
        per_feature = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
        per_feature.add_dimension("Feature", feature.name[:250])
        per_feature.add_metric("FeatureDriftDistance", MetricUnit.NoUnit, feature.linf)
        per_feature.flush_metrics()

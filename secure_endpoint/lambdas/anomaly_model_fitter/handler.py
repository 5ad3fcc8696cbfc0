"""The anomaly monitor's model fitter: hourly, refit the Isolation Forests when they are due.

The 5-minute monitor scores with numpy alone; this function, the only one that imports
scikit-learn, fits the model it scores with. A run at ``now`` (the scheduled time: a retry
carries the same): read the model pointer (``model/current.json``); when the model is fresh
(younger than ``retrain_seconds``, fitted with today's settings, its object there and matching
its digest) stop. Else read the monitor's committed history (the pointer and history object the
monitor alone writes, digest checked), fit on its trailing baseline, write the model under a
key named by its digest (``model/<sha256>.bin``), then commit the model pointer naming it. A run
that stops before the commit leaves the previous model in use; writing the same model again
writes the same bytes under the same key, so a retry is harmless. Before the monitor has
committed a history, or when the baseline holds too few windows to fit a forest, nothing is
written and the monitor keeps to its hard rules (or the model it has).

Environment: ``STATE_BUCKET`` (the monitor's bucket) and ``MONITOR_SETTINGS`` (the monitor's
settings: baseline, history, retrain interval, seed, alert quantile).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import boto3
from anomaly_monitor import history as state
from anomaly_monitor.adapters import CLIENT_CONFIG, MODEL_PREFIX, StateStore
from anomaly_monitor.config import ConfigError, Settings
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from anomaly_model_fitter import fitting
from secure_endpoint.runtime import powertools
from secure_endpoint.runtime.anomaly.scoring import ForestConfig, dumps, sha256

DEFAULT_SERVICE = "anomaly-model-fitter"
"""The Powertools service outside Lambda (tests, local runs); in Lambda, the one the construct
names, unique to its endpoint (``secure_endpoint.runtime.powertools``)."""
NAMESPACE = "SecureEndpoint/Anomaly"

logger, metrics, tracer = powertools.tools(DEFAULT_SERVICE, NAMESPACE)


@dataclass(frozen=True)
class Config:
    state_bucket: str
    settings: Settings

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        bucket = env.get("STATE_BUCKET", "")
        if not bucket:
            raise ConfigError("the environment variable STATE_BUCKET is not set")
        return cls(state_bucket=bucket, settings=Settings.from_env(env))


@cache
def config() -> Config:
    """Read once per execution environment, at the first (cold-start) invocation."""
    return Config.from_env(os.environ)


@cache
def store() -> StateStore:
    client = boto3.session.Session().client("s3", config=CLIENT_CONFIG)
    return StateStore(client, config().state_bucket)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run(event_time(event), config().settings, store())


def event_time(event: dict[str, Any], clock: Callable[[], float] = time.time) -> float:
    """The scheduled time of an EventBridge event (a retry carries the same), else now."""
    text = event.get("time") if isinstance(event, dict) else None
    if isinstance(text, str):
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            logger.warning("unreadable event time; using the clock", extra={"time": text})
    return clock()


def model_settings(settings: Settings) -> dict[str, Any]:
    return fitting.settings_of(
        random_state=settings.random_state,
        alert_quantile=settings.alert_quantile,
        baseline_seconds=settings.baseline_seconds,
        history_seconds=settings.history_seconds,
    )


def run(now: float, settings: Settings, store: StateStore) -> dict[str, Any]:
    """One run of the fitter at ``now`` (epoch seconds)."""
    wanted = model_settings(settings)
    current = store.model_pointer()
    reason = fitting.due(current, now, settings.retrain_seconds, wanted)
    if reason is None and current is not None:
        reason = _object_problem(store, current)
    if reason is None and current is not None:
        logger.info("model is fresh: nothing to do", extra={"fittedAt": current["fittedAt"]})
        return _done("fresh", current)
    logger.info("fitting", extra={"reason": reason})
    pointer = store.pointer() or {}
    ref = pointer.get("history")
    if not ref:
        return _skipped(f"{reason}; but the monitor has committed no history yet", current)
    data = store.read(ref["key"])
    if data is None:
        return _skipped(f"{reason}; but the monitor's history object is gone", current)
    try:
        history = state.loads(data, ref["sha256"])
    except state.HistoryError as error:
        logger.warning("history refused", extra={"error": str(error), "key": ref["key"]})
        metrics.add_metric(name="HistoryRefused", unit=MetricUnit.Count, value=1)
        return _skipped(f"{reason}; but the monitor's history was refused ({error})", current)
    baseline_end = int(pointer["lastWindowEnd"])
    model = fitting.fit_baseline(
        history.aggregates,
        baseline_end,
        baseline_seconds=settings.baseline_seconds,
        history_seconds=settings.history_seconds,
        config=ForestConfig(
            random_state=settings.random_state, alert_quantile=settings.alert_quantile
        ),
    )
    if not model.fitted:
        return _skipped(f"{reason}; but the baseline has too few windows to fit", current)
    blob = dumps(model)
    digest = sha256(blob)
    key = f"{MODEL_PREFIX}{digest}.bin"
    store.put(key, blob)  # content-addressed: a retry writes the same bytes
    new = fitting.reference(key, digest, model, now=now, baseline_end=baseline_end, settings=wanted)
    store.commit_model(new)
    metrics.add_metric(name="ModelsFitted", unit=MetricUnit.Count, value=1)
    for kind, rows in zip(("Client", "Address"), model.training_rows, strict=True):
        metrics.add_metric(name=f"{kind}TrainingWindows", unit=MetricUnit.Count, value=rows)
    logger.info("model fitted", extra={"reason": reason, **new})
    return _done("fitted", new, reason)


def _object_problem(store: StateStore, ref: Mapping[str, Any]) -> str | None:
    """Why the model object ``ref`` names cannot be used (gone, or not its digest), or None."""
    data = store.read(str(ref.get("key", "")))
    if data is None:
        return "the model object is gone"
    if sha256(data) != ref.get("sha256"):
        logger.warning("stored model refused: digest mismatch", extra={"key": ref.get("key")})
        metrics.add_metric(name="ModelRefused", unit=MetricUnit.Count, value=1)
        return "the stored model does not match its digest"
    return None


def _done(status: str, ref: Mapping[str, Any], reason: str | None = None) -> dict[str, Any]:
    return {
        "status": status,
        "reason": reason,
        "modelSha256": ref.get("sha256"),
        "fittedAt": ref.get("fittedAt"),
        "trainingRows": ref.get("trainingRows"),
    }


def _skipped(reason: str, current: Mapping[str, Any] | None) -> dict[str, Any]:
    logger.warning("no model fitted", extra={"reason": reason})
    metrics.add_metric(name="FitsSkipped", unit=MetricUnit.Count, value=1)
    return {
        "status": "skipped",
        "reason": reason,
        "modelSha256": current.get("sha256") if current else None,
    }

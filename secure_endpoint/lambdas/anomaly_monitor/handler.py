"""The anomaly monitor: every 5 minutes, read the access logs' aggregates, score, decide, act.

A run: read the pointer (the last committed state) and plan the windows (none new: a no-op,
which makes a retried run harmless); release expired blocks and repair the IP sets
(``BlockList.reconcile``); read the new windows' aggregates from Logs Insights; add them to the
history; load the model the model fitter (``lambdas/anomaly_model_fitter``, hourly) committed,
digest checked, and score with numpy alone (this function never imports scikit-learn); decide;
emit metrics, alert once per window, block addresses when ``auto_block``; then write the history
under a new key and commit the pointer. A run that stops anywhere before the commit leaves the
previous state as it was; the actions it took are idempotent, so its retry completes it.

Before the fitter's first model (a fresh deployment: the fitter needs a committed history, so
up to an hour), or while the model is missing or refused, the hard rules alone decide: the run
says so (``model: "rules only"``, a note, the ``ColdStart`` metric). A model older than twice
``retrain_seconds`` (the fitter is failing: its errors alarm) is still used, with a warning.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import boto3
import numpy as np
import numpy.typing as npt
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from anomaly_monitor import findings as act
from anomaly_monitor import history as state
from anomaly_monitor.adapters import (
    HISTORY_PREFIX,
    AlertTopic,
    InsightsRunner,
    KeyRequestTopic,
    StateStore,
    block_list,
    clients,
)
from anomaly_monitor.config import Config, Settings
from secure_endpoint.runtime.anomaly import insights
from secure_endpoint.runtime.anomaly.decisions import DecisionConfig
from secure_endpoint.runtime.anomaly.detect import DetectConfig, Detections, detect
from secure_endpoint.runtime.anomaly.features import FEATURES
from secure_endpoint.runtime.anomaly.scoring import ForestConfig, IntegrityError, Model, loads
from secure_endpoint.runtime.blocklist import BlockList

SERVICE = "anomaly-monitor"
NAMESPACE = "SecureEndpoint/Anomaly"
CLIENT_DIMENSION = "Client"
POINTER_VERSION = 1

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)


@dataclass(frozen=True)
class Adapters:
    store: StateStore
    query: Callable[[str, int, int], Any]
    topic: AlertTopic
    blocks: BlockList | None
    key_requests: KeyRequestTopic | None = None


@cache
def config() -> Config:
    """Read once per execution environment, at the first (cold-start) invocation."""
    return Config.from_env(os.environ)


@cache
def adapters() -> Adapters:
    aws = clients(boto3.session.Session())
    cfg = config()
    store = StateStore(aws["s3"], cfg.state_bucket)
    blocks = None
    if cfg.block_table_name and cfg.auto_block_set_arns:
        blocks = block_list(
            aws["dynamodb"],
            aws["wafv2"],
            cfg.block_table_name,
            cfg.auto_block_set_arns,
            cfg.protected_cidrs,
            cfg.settings.max_blocks_per_run,
        )
    return Adapters(
        store,
        InsightsRunner(aws["logs"], cfg.access_log_group),
        AlertTopic(aws["sns"], cfg.alert_topic_arn, store),
        blocks,
        KeyRequestTopic(aws["sns"], cfg.api_key_request_topic_arn)
        if cfg.settings.disable_api_keys and cfg.api_key_request_topic_arn
        else None,
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run(event_time(event), config().settings, adapters())


def event_time(event: dict[str, Any], clock: Callable[[], float] = time.time) -> float:
    """The scheduled time of an EventBridge event (a retry carries the same), else now."""
    text = event.get("time") if isinstance(event, dict) else None
    if isinstance(text, str):
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            logger.warning("unreadable event time; using the clock", extra={"time": text})
    return clock()


def run(now: float, settings: Settings, aws: Adapters) -> dict[str, Any]:
    """One run of the monitor at ``now`` (epoch seconds)."""
    pointer = aws.store.pointer() or {}
    last_end = pointer.get("lastWindowEnd")
    windows = state.plan(
        now,
        int(last_end) if last_end is not None else None,
        window_seconds=settings.window_seconds,
        settle_seconds=settings.settle_seconds,
        baseline_seconds=settings.baseline_seconds,
        max_catchup_seconds=settings.max_catchup_seconds,
    )
    if windows is None:
        logger.info("window already processed: nothing to do", extra={"lastWindowEnd": last_end})
        metrics.add_metric(name="RunsSkipped", unit=MetricUnit.Count, value=1)
        return {"status": "skipped", "windowEnd": last_end}
    released = aws.blocks.reconcile() if aws.blocks is not None else None

    past, history_note = _history(aws.store, pointer, settings.window_seconds)
    rows = _read(aws.query, windows, settings.window_seconds)
    malformed = _malformed(aws.query, windows)
    # lines of the scored windows with no pinned field: each counted once, by the run scoring it
    unparseable = insights.count_of(
        aws.query(insights.UNPARSEABLE_QUERY, windows.scored_from, windows.end), "unparseable"
    )
    if unparseable:
        logger.warning(
            "access-log lines that are no access-log record",
            extra={"unparseable": unparseable, "from": windows.scored_from, "to": windows.end},
        )
    current = state.extend(
        past,
        rows["client"],
        rows["address"],
        rows["pairs"],
        start=windows.read_from,
        end=windows.end,
        keep_seconds=settings.keep_seconds,
    )
    model_ref = aws.store.model_pointer()
    model, model_note = _model(aws.store, model_ref, now, settings)
    detections = _detect(current, windows, settings, model)
    notes = [n for n in (history_note, model_note) if n]
    for note in notes:
        logger.info(note)

    anomalous = act.findings(detections)
    summary = act.summary(detections, anomalous)
    for finding in anomalous:
        logger.info("anomalous", extra=finding.as_dict())
    blocked: list[str] = []
    refused: list[str] = []
    deferred: list[str] = []
    if settings.auto_block and aws.blocks is not None:
        requests = act.block_requests(anomalous, timedelta(seconds=settings.block_ttl_seconds))
        if requests:
            outcome = aws.blocks.block(requests)
            blocked = [e.address for e in (*outcome.blocked, *outcome.extended)]
            refused, deferred = list(outcome.refused), list(outcome.deferred)
    keys = _request_key_disables(anomalous, settings, aws)
    alerted = False
    if anomalous:
        subject, message = act.alert(
            anomalous,
            window_end=windows.end,
            trained_on=detections.trained_on,
            blocked=blocked,
            refused=refused,
            deferred=deferred,
            auto_block=settings.auto_block,
            limit=settings.max_alert_findings,
            disable_requested=tuple(keys.messages),
            disable_deferred=keys.deferred,
        )
        alerted = aws.topic.publish_once(windows.end, subject, message)
    active = aws.blocks.blocked(now) if aws.blocks is not None else []
    for entry in active:
        logger.info(
            "blocked address",
            extra={"address": entry.address, "expiresAt": entry.expires_at, "reason": entry.reason},
        )

    _save(aws.store, current, windows.end)
    _emit(
        summary,
        settings,
        (malformed, unparseable),
        len(blocked),
        len(refused),
        len(deferred),
        len(active),
    )
    if released is not None:
        metrics.add_metric(name="BlocksExpired", unit=MetricUnit.Count, value=len(released.expired))
    cold = detections.trained_on == "rules only"
    metrics.add_metric(name="ColdStart", unit=MetricUnit.Count, value=int(cold))
    if settings.disable_api_keys:
        metrics.add_metric(
            name="KeyDisablesRequested", unit=MetricUnit.Count, value=len(keys.messages)
        )
        metrics.add_metric(
            name="KeyDisablesDeferred", unit=MetricUnit.Count, value=len(keys.deferred)
        )
    return {
        "status": "done",
        "windowEnd": windows.end,
        "scoredFrom": windows.scored_from,
        "readFrom": windows.read_from,
        "model": detections.trained_on,
        "notes": notes,
        "windows": summary.windows,
        "malformedLines": malformed,
        "unparseableLines": unparseable,
        "anomalous": [f.as_dict() for f in anomalous],
        "alerted": alerted,
        "blocked": blocked,
        "refused": refused,
        "deferred": deferred,
        "apiKeyDisableRequested": list(keys.messages),
        "apiKeyDisableDeferred": list(keys.deferred),
        "expired": sorted(released.expired) if released is not None else [],
        "activeBlocks": len(active),
        "modelSha256": model_ref.get("sha256") if model is not None and model_ref else None,
    }


def _request_key_disables(
    anomalous: list[act.Finding], settings: Settings, aws: Adapters
) -> act.KeyRequests:
    """With ``disable_api_keys``, one request per blocking client (at most the cap)."""
    if not (settings.disable_api_keys and settings.auto_block and aws.key_requests is not None):
        return act.KeyRequests()
    keys = act.key_requests(anomalous, settings.window_seconds, settings.max_key_disables_per_run)
    for client_id, message in keys.messages.items():
        message_id = aws.key_requests.request(client_id, message, act.DISABLE_API_KEY)
        logger.info(
            "API key disable requested", extra={"clientId": client_id, "messageId": message_id}
        )
    if keys.deferred:
        logger.warning(
            "API key disables over the per-run limit",
            extra={"deferred": list(keys.deferred), "limit": settings.max_key_disables_per_run},
        )
    return keys


def _read(
    query: Callable[[str, int, int], Any], windows: state.Plan, window_seconds: int
) -> dict[str, list[Any]]:
    return {
        kind: insights.collect(query, kind, windows.read_from, windows.end, window_seconds)
        for kind in ("client", "address", "pairs")
    }


def _malformed(query: Callable[[str, int, int], Any], windows: state.Plan) -> int:
    return insights.count_of(
        query(state.MALFORMED_QUERY, windows.read_from, windows.end), "malformed"
    )


def _history(
    store: StateStore, pointer: dict[str, Any], window_seconds: int
) -> tuple[state.History, str]:
    ref = pointer.get("history")
    if not ref:
        return state.History.empty(window_seconds), "cold start: no history yet"
    data = store.read(ref["key"])
    if data is None:
        return state.History.empty(window_seconds), "history object gone: starting over"
    try:
        past = state.loads(data, ref["sha256"])
    except state.HistoryError as error:
        logger.warning("history refused", extra={"error": str(error), "key": ref["key"]})
        return state.History.empty(window_seconds), f"history refused ({error}): starting over"
    if past.aggregates.window_seconds != window_seconds:
        return state.History.empty(window_seconds), "window length changed: starting over"
    return past, ""


def _model(
    store: StateStore, ref: dict[str, Any] | None, now: float, settings: Settings
) -> tuple[Model | None, str]:
    """The model the fitter committed when it is there and intact; else None (hard rules
    only) and why."""
    if not ref:
        return None, "cold start: no model fitted yet, hard rules only until the model fitter's run"
    data = store.read(str(ref.get("key", "")))
    if data is None:
        return None, "stored model is gone: hard rules only until the model fitter refits"
    try:
        model = loads(data, str(ref.get("sha256", "")), FEATURES)
    except IntegrityError as error:
        logger.warning("stored model refused", extra={"error": str(error), "key": ref["key"]})
        metrics.add_metric(name="ModelRefused", unit=MetricUnit.Count, value=1)
        return None, f"stored model refused ({error}): hard rules only until the fitter refits"
    age = now - float(ref.get("fittedAt", 0))
    metrics.add_metric(name="ModelAge", unit=MetricUnit.Seconds, value=max(0.0, age))
    if age > 2 * settings.retrain_seconds:
        logger.warning("stale model", extra={"fittedAt": ref.get("fittedAt"), "ageSeconds": age})
        return model, f"stored model is {age / 3600:.0f} h old: is the model fitter failing?"
    return model, ""


def _rules_only(
    X: npt.NDArray[np.float64],
    is_client: npt.NDArray[np.bool_],
    training: npt.NDArray[np.bool_],
    forest: ForestConfig,
    trained_on: str,
) -> tuple[Model, npt.NDArray[np.float64] | None]:
    """No model: no forest either (this function fits none); the hard rules decide alone."""
    n = X.shape[1]
    empty = Model(
        forests=(None, None),
        thresholds=(float("inf"), float("inf")),
        training_rows=(0, 0),
        feature_names=FEATURES,
        reference_median=np.zeros((2, n)),
        reference_scale=np.ones((2, n)),
        trained_on=trained_on,
        config=forest,
    )
    return empty, None


def _detect(
    current: state.History, windows: state.Plan, settings: Settings, model: Model | None
) -> Detections:
    detect_config = DetectConfig(
        window_seconds=settings.window_seconds,
        history_seconds=settings.history_seconds,
        forest=ForestConfig(
            random_state=settings.random_state, alert_quantile=settings.alert_quantile
        ),
        decisions=DecisionConfig(daily_quota=settings.daily_quota),
    )
    return detect(current.aggregates, windows.scored_from, detect_config, model, fit=_rules_only)


def _save(store: StateStore, current: state.History, window_end: int) -> dict[str, Any]:
    """Write the new history, then the pointer naming it (the commit)."""
    data = state.dumps(current)
    digest = state.sha256(data)
    history_key = f"{HISTORY_PREFIX}{window_end}-{digest[:16]}.bin"
    store.put(history_key, data)
    new_pointer = {
        "version": POINTER_VERSION,
        "lastWindowEnd": window_end,
        "history": {"key": history_key, "sha256": digest, "rows": len(current.aggregates)},
    }
    store.commit(new_pointer)
    return new_pointer


def _emit(
    summary: act.Summary,
    settings: Settings,
    skipped: tuple[int, int],
    blocked: int,
    refused: int,
    deferred: int,
    active: int,
) -> None:
    count = MetricUnit.Count
    for name, value in (
        ("AnomalousPrincipals", summary.anomalous_clients + summary.anomalous_addresses),
        ("AnomalousClients", summary.anomalous_clients),
        ("AnomalousAddresses", summary.anomalous_addresses),
        ("WindowsScored", summary.windows),
        ("MalformedLines", skipped[0]),
        ("UnparseableLogLines", skipped[1]),
        ("Blocked", blocked),
        ("BlockRefused", refused),
        ("BlockDeferred", deferred),
        ("ActiveBlocks", active),
    ):
        metrics.add_metric(name=name, unit=count, value=value)
    metrics.add_metric(
        name="MaxClientScore", unit=MetricUnit.NoUnit, value=summary.max_client_score
    )
    metrics.add_metric(
        name="MaxAddressScore", unit=MetricUnit.NoUnit, value=summary.max_address_score
    )
    # Per client (clients are the API's app clients: bounded); the most anomalous first.
    top = sorted(summary.client_scores.items(), key=lambda item: (-item[1], item[0]))
    for client, score in top[: settings.top_clients]:
        per_client = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
        per_client.add_dimension(name=CLIENT_DIMENSION, value=client)
        per_client.add_metric(name="AnomalyScore", unit=MetricUnit.NoUnit, value=score)
        per_client.flush_metrics()

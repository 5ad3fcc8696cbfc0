"""What the model fitter decides and fits: pure, plain data in and out (no boto3, no clock).

- ``due``: whether the committed model (the reference in ``model/current.json``) must be
  refitted at ``now``, and why: none yet, older than ``retrain_seconds``, fitted with other
  settings, or its object gone or refused by its digest;
- ``fit_baseline``: the Isolation Forests fitted on the trailing ``baseline_seconds`` of the
  monitor's committed history, exactly the windows the monitor used to fit on in its own runs
  (those with at least ``warmup_seconds`` of history before them);
- ``reference``: the model pointer that names a stored model.

scikit-learn is imported by ``fit_baseline`` only (through ``scoring.fit_model``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from secure_endpoint.runtime.anomaly.features import (
    FEATURES,
    WindowAggregates,
    covered_windows,
    features,
)
from secure_endpoint.runtime.anomaly.scoring import ForestConfig, Model, fit_model

MODEL_POINTER_VERSION = 1
WARMUP_SECONDS = 3600
"""Baseline windows with less history than this before them are left out of the fit (their
history features are not yet comparable): ``DetectConfig.warmup_seconds``."""


def settings_of(
    *, random_state: int, alert_quantile: float, baseline_seconds: int, history_seconds: int
) -> dict[str, Any]:
    """The settings a model is fitted with, as its pointer records them: a model fitted with
    other ones is refitted."""
    return {
        "randomState": random_state,
        "alertQuantile": alert_quantile,
        "baselineSeconds": baseline_seconds,
        "historySeconds": history_seconds,
    }


def due(
    ref: Mapping[str, Any] | None,
    now: float,
    retrain_seconds: int,
    settings: Mapping[str, Any],
) -> str | None:
    """Why the model ``ref`` names must be refitted at ``now`` (None: it is fresh).

    The object itself is checked by the caller (gone, or refused by its digest)."""
    if not ref:
        return "no model yet"
    if ref.get("version") != MODEL_POINTER_VERSION:
        return f"model pointer version {ref.get('version')!r} is not {MODEL_POINTER_VERSION}"
    fitted_at = ref.get("fittedAt")
    if not isinstance(fitted_at, int | float):
        return "model pointer has no fittedAt"
    if now - float(fitted_at) >= retrain_seconds:
        return "model is due for refitting"
    if {name: ref.get(name) for name in settings} != dict(settings):
        return "model settings changed"
    return None


def fit_baseline(
    aggregates: WindowAggregates,
    end: int,
    *,
    baseline_seconds: int,
    history_seconds: int,
    config: ForestConfig,
    warmup_seconds: int = WARMUP_SECONDS,
) -> Model:
    """Fit on the windows of ``[end - baseline_seconds, end)`` warm enough to compare (the
    model may have no forest at all: too few windows of either kind, ``Model.fitted``)."""
    X = features(aggregates, history_seconds)
    is_client = aggregates.is_client[aggregates.principal]
    warm = covered_windows(aggregates, history_seconds) * aggregates.window_seconds
    starts = aggregates.window_start
    training = (
        (starts >= end - baseline_seconds)
        & (starts < end)
        & (warm >= min(warmup_seconds, history_seconds))
    )
    return fit_model(
        X[training], is_client[training], FEATURES, config=config, trained_on="baseline"
    )


def reference(
    key: str,
    digest: str,
    model: Model,
    *,
    now: float,
    baseline_end: int,
    settings: Mapping[str, Any],
) -> dict[str, Any]:
    """The model pointer naming the model stored at ``key`` with SHA-256 ``digest``."""
    return {
        "version": MODEL_POINTER_VERSION,
        "key": key,
        "sha256": digest,
        "fittedAt": int(now),
        "baselineEnd": int(baseline_end),
        "trainedOn": model.trained_on,
        "trainingRows": [int(rows) for rows in model.training_rows],
        "thresholds": [float(t) if np.isfinite(t) else None for t in model.thresholds],
        **settings,
    }

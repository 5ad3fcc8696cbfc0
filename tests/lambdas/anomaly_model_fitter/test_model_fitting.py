"""The model fitter's pure core: when a model is due, and its configuration."""

from __future__ import annotations

from typing import Any

import pytest
from anomaly_model_fitter import fitting
from anomaly_model_fitter.handler import Config, event_time, model_settings
from anomaly_monitor.config import ConfigError, Settings

SETTINGS = fitting.settings_of(
    random_state=0, alert_quantile=0.995, baseline_seconds=86_400, history_seconds=86_400
)
FRESH = {"version": 1, "key": "model/x.bin", "sha256": "x", "fittedAt": 1000, **SETTINGS}


def test_a_fresh_model_is_not_due() -> None:
    assert fitting.due(FRESH, 1000 + 3599, 3600, SETTINGS) is None


@pytest.mark.parametrize(
    ("ref", "now", "reason"),
    [
        (None, 0, "no model yet"),
        ({}, 0, "no model yet"),
        (FRESH, 1000 + 3600, "model is due for refitting"),
        (FRESH | {"version": 2}, 1001, "model pointer version 2 is not 1"),
        (FRESH | {"fittedAt": "soon"}, 1001, "model pointer has no fittedAt"),
        (FRESH | {"randomState": 7}, 1001, "model settings changed"),
        (FRESH | {"alertQuantile": 0.99}, 1001, "model settings changed"),
        (FRESH | {"baselineSeconds": 3600}, 1001, "model settings changed"),
        ({k: v for k, v in FRESH.items() if k != "historySeconds"}, 1001, "model settings changed"),
    ],
)
def test_a_model_is_due_when(ref: dict[str, Any] | None, now: float, reason: str) -> None:
    assert fitting.due(ref, now, 3600, SETTINGS) == reason


def test_the_pointer_records_the_settings_the_monitor_runs_with() -> None:
    settings = Settings(random_state=5, alert_quantile=0.99, baseline_seconds=7200)
    assert model_settings(settings) == {
        "randomState": 5,
        "alertQuantile": 0.99,
        "baselineSeconds": 7200,
        "historySeconds": 86_400,
    }


def test_config_reads_the_bucket_and_the_monitors_settings() -> None:
    config = Config.from_env(
        {"STATE_BUCKET": "state", "MONITOR_SETTINGS": '{"retrain_seconds": 3600}'}
    )
    assert config.state_bucket == "state"
    assert config.settings.retrain_seconds == 3600


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "STATE_BUCKET is not set"),
        ({"STATE_BUCKET": "s", "MONITOR_SETTINGS": "[1]"}, "must be a JSON object"),
        ({"STATE_BUCKET": "s", "MONITOR_SETTINGS": '{"nope": 1}'}, r"unknown keys \['nope'\]"),
    ],
)
def test_config_refuses(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config.from_env(env)


def test_the_event_time_is_the_schedules() -> None:
    assert event_time({"time": "2026-01-01T00:00:00Z"}) == 1767225600.0
    assert event_time({}, clock=lambda: 5.0) == 5.0

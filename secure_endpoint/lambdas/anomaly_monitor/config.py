"""The monitor's configuration, read once from the environment the construct sets.

Pure: the environment is passed in as a mapping.

- ``ACCESS_LOG_GROUP``: the API's access log group (name);
- ``STATE_BUCKET``: the monitor's own bucket (model, history, run markers);
- ``ALERT_TOPIC_ARN``: the alert topic;
- ``BLOCK_TABLE_NAME`` and ``AUTO_BLOCK_SET_ARNS`` (JSON ``{"4": arn, "6": arn}``): the auto-block
  list, used only with ``auto_block``; the table's expired records are released on every run;
- ``PROTECTED_CIDRS``: JSON list of CIDRs never blocked (the allowlist);
- ``API_KEY_REQUEST_TOPIC_ARN``: where requests to disable a client's API key go, used only with
  ``disable_api_keys`` (the responder outside the VPC acts on them);
- ``MONITOR_SETTINGS``: JSON object of ``Settings`` fields (missing ones take their default).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SETTINGS_ENV = "MONITOR_SETTINGS"


class ConfigError(ValueError):
    """The environment does not describe the monitor; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """What the construct's ``MonitorOptions`` set (seconds everywhere)."""

    window_seconds: int = 300
    settle_seconds: int = 120
    baseline_seconds: int = 86_400
    history_seconds: int = 86_400
    keep_seconds: int = 7 * 86_400
    max_catchup_seconds: int = 3_600
    retrain_seconds: int = 86_400
    auto_block: bool = False
    disable_api_keys: bool = False
    max_key_disables_per_run: int = 3
    block_ttl_seconds: int = 3_600
    max_blocks_per_run: int = 10
    alert_quantile: float = 0.995
    daily_quota: int | None = None
    random_state: int = 0
    top_clients: int = 20
    max_alert_findings: int = 25

    def __post_init__(self) -> None:
        for name in ("window_seconds", "baseline_seconds", "history_seconds", "keep_seconds"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 60:
                raise ConfigError(f"{SETTINGS_ENV}.{name} must be at least 60, got {value!r}")
        if self.baseline_seconds % self.window_seconds:
            raise ConfigError(f"{SETTINGS_ENV}.baseline_seconds must be whole windows")
        if self.keep_seconds < max(self.history_seconds, self.baseline_seconds):
            raise ConfigError(
                f"{SETTINGS_ENV}.keep_seconds must cover history_seconds and baseline_seconds"
            )
        if not 1 <= self.max_blocks_per_run <= 100:
            raise ConfigError(
                f"{SETTINGS_ENV}.max_blocks_per_run must be 1-100, got {self.max_blocks_per_run}"
            )
        if not 1 <= self.max_key_disables_per_run <= 100:
            raise ConfigError(
                f"{SETTINGS_ENV}.max_key_disables_per_run must be 1-100, "
                f"got {self.max_key_disables_per_run}"
            )
        if self.disable_api_keys and not self.auto_block:
            raise ConfigError(f"{SETTINGS_ENV}.disable_api_keys needs auto_block")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """The settings in ``MONITOR_SETTINGS`` (the monitor's and the model fitter's)."""
        raw = _json(env, SETTINGS_ENV, {})
        if not isinstance(raw, dict):
            raise ConfigError(f"{SETTINGS_ENV} must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ConfigError(f"{SETTINGS_ENV} has unknown keys {sorted(unknown)}")
        return cls(**raw)


@dataclass(frozen=True)
class Config:
    access_log_group: str
    state_bucket: str
    alert_topic_arn: str
    block_table_name: str
    auto_block_set_arns: Mapping[int, str]
    protected_cidrs: tuple[str, ...]
    settings: Settings
    api_key_request_topic_arn: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        text = {
            name: _text(env, name)
            for name in ("ACCESS_LOG_GROUP", "STATE_BUCKET", "ALERT_TOPIC_ARN")
        }
        sets = _json(env, "AUTO_BLOCK_SET_ARNS", {})
        if not isinstance(sets, dict) or set(sets) - {"4", "6"}:
            raise ConfigError('AUTO_BLOCK_SET_ARNS must be a JSON object {"4": arn, "6": arn}')
        protected = _json(env, "PROTECTED_CIDRS", [])
        if not isinstance(protected, list) or not all(isinstance(c, str) for c in protected):
            raise ConfigError("PROTECTED_CIDRS must be a JSON list of CIDR strings")
        settings = Settings.from_env(env)
        table = env.get("BLOCK_TABLE_NAME", "")
        if settings.auto_block and (not table or not sets):
            raise ConfigError("auto_block needs BLOCK_TABLE_NAME and AUTO_BLOCK_SET_ARNS")
        request_topic = env.get("API_KEY_REQUEST_TOPIC_ARN", "")
        if settings.disable_api_keys and not request_topic:
            raise ConfigError("disable_api_keys needs API_KEY_REQUEST_TOPIC_ARN")
        return cls(
            access_log_group=text["ACCESS_LOG_GROUP"],
            state_bucket=text["STATE_BUCKET"],
            alert_topic_arn=text["ALERT_TOPIC_ARN"],
            block_table_name=table,
            auto_block_set_arns={int(v): str(arn) for v, arn in sets.items()},
            protected_cidrs=tuple(protected),
            settings=settings,
            api_key_request_topic_arn=request_topic,
        )


def _text(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ConfigError(f"the environment variable {name} is not set")
    return value


def _json(env: Mapping[str, str], name: str, default: Any) -> Any:
    if name not in env:
        return default
    try:
        return json.loads(env[name])
    except ValueError:
        raise ConfigError(f"{name} is not JSON") from None

"""The responder's configuration, read once from the environment the construct sets.

Pure: the environment is passed in as a mapping.

- ``API_KEY_CLIENTS``: JSON object, Cognito app client id -> ``{"name": ..., "apiKeyId": ...}``:
  the only clients whose API key the responder may disable (its role is held to these keys);
- ``REQUEST_TOPIC_ARN``: the topic the monitor's requests come from (records of any other
  topic are dropped);
- ``ALERT_TOPIC_ARN``: where it says that it disabled a key, and how to re-enable it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

CLIENTS_ENV = "API_KEY_CLIENTS"


class ConfigError(ValueError):
    """The environment does not describe the responder; the message names the variable."""


@dataclass(frozen=True)
class KnownClient:
    client_id: str
    name: str
    api_key_id: str


@dataclass(frozen=True)
class Config:
    clients: Mapping[str, KnownClient]
    request_topic_arn: str
    alert_topic_arn: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        try:
            raw = json.loads(env.get(CLIENTS_ENV, ""))
        except ValueError:
            raise ConfigError(f"{CLIENTS_ENV} is not JSON") from None
        if not isinstance(raw, dict) or not raw:
            raise ConfigError(f"{CLIENTS_ENV} must be a non-empty JSON object")
        clients = {}
        for client_id, entry in raw.items():
            if (
                not isinstance(entry, dict)
                or not isinstance(entry.get("name"), str)
                or not isinstance(entry.get("apiKeyId"), str)
                or not entry["apiKeyId"]
            ):
                raise ConfigError(
                    f'{CLIENTS_ENV}[{client_id!r}] must be {{"name": ..., "apiKeyId": ...}}'
                )
            clients[client_id] = KnownClient(client_id, entry["name"], entry["apiKeyId"])
        return cls(
            clients=clients,
            request_topic_arn=_text(env, "REQUEST_TOPIC_ARN"),
            alert_topic_arn=_text(env, "ALERT_TOPIC_ARN"),
        )


def _text(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ConfigError(f"the environment variable {name} is not set")
    return value

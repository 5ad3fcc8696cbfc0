"""The function's configuration, read once from the environment the construct sets.

Pure: the environment is passed in as a mapping.

``THREAT_INTEL_FEEDS``: a JSON list, one object per feed::

    {"name": "spamhaus-drop", "url": "https://www.spamhaus.org/drop/drop_v4.json",
     "format": "spamhaus-json", "ipv4_set_arn": "arn:aws:wafv2:...", "ipv6_set_arn": "...",
     "min_entries": 100, "min_ratio": 0.5, "max_ratio": 2.0}

``PROTECTED_CIDRS``: a JSON list of CIDRs no feed may put in an IP set (the allowlist); optional.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from threat_intel_feed.feeds import FeedFormat, Guard

FEEDS_ENV = "THREAT_INTEL_FEEDS"
PROTECTED_ENV = "PROTECTED_CIDRS"


class ConfigError(ValueError):
    """The environment does not describe the feeds; the message names the variable and key."""


@dataclass(frozen=True)
class FeedConfig:
    name: str
    url: str
    format: FeedFormat
    ipv4_set_arn: str
    ipv6_set_arn: str
    guard: Guard


@dataclass(frozen=True)
class Config:
    feeds: tuple[FeedConfig, ...]
    protected_cidrs: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        feeds = _json(env, FEEDS_ENV)
        if not isinstance(feeds, list) or not feeds:
            raise ConfigError(f"{FEEDS_ENV} must be a non-empty JSON list of feeds")
        protected = _json(env, PROTECTED_ENV) if PROTECTED_ENV in env else []
        if not isinstance(protected, list) or not all(isinstance(c, str) for c in protected):
            raise ConfigError(f"{PROTECTED_ENV} must be a JSON list of CIDR strings")
        parsed = tuple(_feed(index, item) for index, item in enumerate(feeds))
        names = [feed.name for feed in parsed]
        if len(set(names)) != len(names):
            raise ConfigError(f"{FEEDS_ENV} names a feed twice: {names}")
        return cls(parsed, tuple(protected))


def _json(env: Mapping[str, str], name: str) -> Any:
    if name not in env:
        raise ConfigError(f"the environment variable {name} is not set")
    try:
        return json.loads(env[name])
    except ValueError:
        raise ConfigError(f"{name} is not JSON") from None


def _feed(index: int, item: Any) -> FeedConfig:
    where = f"{FEEDS_ENV}[{index}]"
    if not isinstance(item, dict):
        raise ConfigError(f"{where} must be a JSON object")
    text = {}
    for key in ("name", "url", "format", "ipv4_set_arn", "ipv6_set_arn"):
        value = item.get(key)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where} has no string value for {key!r}")
        text[key] = value
    try:
        feed_format = FeedFormat(text["format"])
    except ValueError:
        raise ConfigError(
            f"{where} has format {text['format']!r}; "
            f"expected one of {[f.value for f in FeedFormat]}"
        ) from None
    defaults = Guard()
    try:
        guard = Guard(
            min_entries=item.get("min_entries", defaults.min_entries),
            min_ratio=item.get("min_ratio", defaults.min_ratio),
            max_ratio=item.get("max_ratio", defaults.max_ratio),
        )
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{where}: {error}") from None
    return FeedConfig(
        name=text["name"],
        url=text["url"],
        format=feed_format,
        ipv4_set_arn=text["ipv4_set_arn"],
        ipv6_set_arn=text["ipv6_set_arn"],
        guard=guard,
    )

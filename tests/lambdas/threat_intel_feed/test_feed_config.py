"""The configuration the construct writes into the environment."""

import json
from typing import Any

import pytest
from threat_intel_feed.config import Config, ConfigError, FeedConfig
from threat_intel_feed.feeds import FeedFormat, Guard

ARN = (
    "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/drop/11111111-2222-3333-4444-555555555555"
)
FEED = {
    "name": "spamhaus-drop",
    "url": "https://www.spamhaus.org/drop/drop_v4.json",
    "format": "spamhaus-json",
    "ipv4_set_arn": ARN,
    "ipv6_set_arn": ARN,
}


def env(*feeds: Any, **more: str) -> dict[str, str]:
    return {"THREAT_INTEL_FEEDS": json.dumps(list(feeds)), **more}


def test_reads_feeds_with_default_guards() -> None:
    assert Config.from_env(env(FEED)) == Config(
        feeds=(
            FeedConfig(
                "spamhaus-drop",
                "https://www.spamhaus.org/drop/drop_v4.json",
                FeedFormat.SPAMHAUS_JSON,
                ARN,
                ARN,
                Guard(),
            ),
        )
    )


def test_reads_guard_settings_and_protected_cidrs() -> None:
    feed = {**FEED, "min_entries": 100, "min_ratio": 0.8, "max_ratio": 1.5}
    config = Config.from_env(env(feed, PROTECTED_CIDRS='["203.0.113.0/24"]'))
    assert config.feeds[0].guard == Guard(min_entries=100, min_ratio=0.8, max_ratio=1.5)
    assert config.protected_cidrs == ("203.0.113.0/24",)


@pytest.mark.parametrize(
    ("environment", "problem"),
    [
        ({}, "THREAT_INTEL_FEEDS is not set"),
        ({"THREAT_INTEL_FEEDS": "[{"}, "THREAT_INTEL_FEEDS is not JSON"),
        (env(), "non-empty JSON list"),
        (env("feed"), r"THREAT_INTEL_FEEDS\[0\] must be a JSON object"),
        (env({**FEED, "url": None}), r"\[0\] has no string value for 'url'"),
        (env({**FEED, "format": "csv"}), "has format 'csv'; expected one of"),
        (env({**FEED, "min_ratio": 2}), r"\[0\]: min_ratio must be above 0"),
        (env({**FEED, "min_entries": "many"}), r"\[0\]: "),
        (env(FEED, FEED), "names a feed twice"),
        (env(FEED, PROTECTED_CIDRS='"10.0.0.0/8"'), "PROTECTED_CIDRS must be a JSON list"),
    ],
)
def test_refuses_a_configuration_it_cannot_follow(
    environment: dict[str, str], problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem):
        Config.from_env(environment)

"""Threat intelligence: WAF IP sets filled from public IP reputation feeds by a scheduled Lambda.

Each feed gets an IPv4 and an IPv6 IP set, created empty; a Lambda function run by an
EventBridge schedule downloads every feed, validates each entry, refuses a feed that looks
broken (too few entries, shrinking or growing beyond its ratios, incomplete, too large for an IP
set) and replaces a set's addresses only when its feed passed. A feed that fails or is refused
leaves its sets as they were; every run reports what changed per feed (logs and EMF metrics).
The sets are meant for the deny band of a web ACL (``WebAclProtection(blocked_ip_sets=...)``).
"""

from __future__ import annotations

import enum
import ipaddress
import json
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from secure_endpoint import compliance
from secure_endpoint.constructs import _building as build
from secure_endpoint.constructs import _metrics as metrics
from secure_endpoint.constructs import _validation as check
from secure_endpoint.constructs.bundling import lambda_code, resolve_cache_dir

FEED_PACKAGE = "threat_intel_feed"
# What the function's Powertools service name starts with (each construct's ends with its own
# path: ``service_name``), and its metrics namespace (lambdas/threat_intel_feed).
SERVICE = "threat-intel-feed"
METRICS_NAMESPACE = "SecureEndpoint/ThreatIntel"

MAX_FEEDS = 5
"""Two IP sets per feed: 5 feeds fill the 10 further IP sets the web ACL's deny band takes, and
their description fits the function's 4 KB environment."""
MIN_SCHEDULE = Duration.minutes(15)
MAX_SCHEDULE = Duration.days(1)
MAX_URL_CHARS = 512
MAX_IP_SET_ADDRESSES = 10_000
_FEED_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
_ENVIRONMENT_BYTES = 4096  # Lambda's limit for all environment variables together
_ARN_CHARS = 232  # arn:<partition>:wafv2:<region>:<account>:regional/ipset/<128 name>/<36 id>


class FeedFormat(enum.Enum):
    """How a feed is written (the function's ``threat_intel_feed.feeds.FeedFormat``)."""

    SPAMHAUS_JSON = "spamhaus-json"
    """Spamhaus DROP JSON lines (``drop_v4.json``, ``drop_v6.json``); the last line is metadata,
    so a truncated download is recognized."""
    SPAMHAUS_TEXT = "spamhaus-text"
    """Legacy Spamhaus text (``drop.txt``, ``edrop.txt``): ``1.10.16.0/20 ; SBL256894``, ``;``
    comments."""
    PLAIN = "plain"
    """One address or CIDR per line, ``#`` comments (the Tor bulk exit list)."""


@dataclass(frozen=True)
class ThreatIntelFeed:
    """A public IP reputation feed and the guard its content must pass.

    :param name: 1-32 lowercase letters, digits or hyphens; the ``Feed`` dimension of the
        function's metrics and part of the IP sets' construct ids (renaming replaces the sets).
    :param url: an ``https://`` URL without credentials.
    :param format: how the feed is written. Default: - ``FeedFormat.PLAIN``
    :param min_entries: a feed with fewer valid entries is refused. Default: - 1
    :param min_ratio: a feed shrinking below this share of what its IP sets hold is refused,
        above 0 and at most 1. Default: - 0.5
    :param max_ratio: a feed growing beyond this multiple of what its IP sets hold is refused,
        1 to 100. Default: - 2.0
    :param min_interval: the shortest refresh interval the provider allows; the construct
        refuses a shorter schedule. Default: - none
    """

    name: str
    url: str
    format: FeedFormat = FeedFormat.PLAIN
    min_entries: int = 1
    min_ratio: float = 0.5
    max_ratio: float = 2.0
    min_interval: Duration | None = None


SPAMHAUS_DROP = ThreatIntelFeed(
    "spamhaus-drop",
    "https://www.spamhaus.org/drop/drop_v4.json",
    FeedFormat.SPAMHAUS_JSON,
    min_entries=100,
    min_interval=Duration.hours(1),
)
"""Spamhaus DROP, IPv4: netblocks hijacked or leased by spam and cyber-crime operations (about
1,500 CIDRs; EDROP was merged into it in April 2024). Spamhaus asks for at most one download per
hour; free to use, with attribution (https://www.spamhaus.org/drop/terms/)."""

SPAMHAUS_DROP_V6 = ThreatIntelFeed(
    "spamhaus-drop-v6",
    "https://www.spamhaus.org/drop/drop_v6.json",
    FeedFormat.SPAMHAUS_JSON,
    min_entries=10,
    min_interval=Duration.hours(1),
)
"""Spamhaus DROPv6: the IPv6 counterpart of ``SPAMHAUS_DROP`` (about 100 CIDRs)."""

TOR_EXIT_NODES = ThreatIntelFeed(
    "tor-exit-nodes",
    "https://check.torproject.org/torbulkexitlist",
    FeedFormat.PLAIN,
    min_entries=100,
)
"""The Tor Project's list of Tor exit addresses (about 1,000-2,000 IPv4 addresses, one per line).
Blocking them blocks every Tor user: choose it only where anonymous clients are not expected."""


@dataclass(frozen=True)
class _FeedIpSets:
    feed: ThreatIntelFeed
    ipv4: wafv2.CfnIPSet
    ipv6: wafv2.CfnIPSet


def _feed_env(feed: ThreatIntelFeed, ipv4_arn: str, ipv6_arn: str) -> dict[str, object]:
    """One feed as the function reads it (``threat_intel_feed.config``)."""
    return {
        "name": feed.name,
        "url": feed.url,
        "format": feed.format.value,
        "ipv4_set_arn": ipv4_arn,
        "ipv6_set_arn": ipv6_arn,
        "min_entries": feed.min_entries,
        "min_ratio": feed.min_ratio,
        "max_ratio": feed.max_ratio,
    }


class ThreatIntelFeeds(Construct):
    """WAF IP sets kept filled from public IP reputation feeds by a scheduled, hardened Lambda.

    Per feed, an IPv4 and an IPv6 ``AWS::WAFv2::IPSet``, created empty. The function runs on a
    schedule (EventBridge rule), outside any VPC because it downloads public feeds from the
    internet; with no retries (the next scheduled run is the retry,
    and feed providers limit downloads), a KMS-encrypted dead-letter queue for failed runs,
    X-Ray tracing, a KMS-encrypted environment and log group, and a role that may read and
    update exactly these IP sets. The run fails (dead-letter queue, Errors metric) when no feed
    could be brought up to date; a partial failure shows in ``metric_failed_feeds`` and
    ``metric_refused_feeds``.

    A deploy that changes an IP set's template properties writes its (empty) template addresses
    back: the set stays empty until the next run.

    :param feeds: 1-5 feeds with unique names, such as ``SPAMHAUS_DROP`` and ``TOR_EXIT_NODES``.
    :param key: the KMS key of the log group, the environment and the dead-letter queue;
        CloudWatch Logs must be allowed to use it (``EncryptionKey`` is).
    :param schedule: how often the feeds are refreshed, whole minutes from 15 minutes to 1 day,
        and no shorter than any feed's ``min_interval``. Default: - 1 hour
    :param waf_scope: ``REGIONAL`` (API Gateway, ALB) or ``CLOUDFRONT`` (the stack must then be in
        us-east-1). Default: - ``REGIONAL``
    :param protected_cidrs: addresses no feed may put into an IP set, such as the allowlist's;
        entries overlapping them are skipped and counted. Default: - none
    :param log_retention: how long the function's logs are kept. Default: - one year
    :param bundling_cache_dir: where bundled Lambda dependencies are cached.
        Default: - ``$SECURE_ENDPOINT_CACHE_DIR``, else the per-user cache
        (``bundling.resolve_cache_dir``)
    :param reserved_concurrency: reserve 1 concurrent execution (one refresh at a time). Lambda
        keeps at least 100 of the account's concurrency unreserved, so reservations need an account
        quota of at least 100 plus all of them (new accounts may start at 10: raise it in Service
        Quotas first). Default: - false; runs share the account's unreserved pool
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        feeds: Sequence[ThreatIntelFeed],
        key: kms.IKey,
        schedule: Duration | None = None,
        waf_scope: Literal["REGIONAL", "CLOUDFRONT"] = "REGIONAL",
        protected_cidrs: Sequence[str | ipaddress.IPv4Network | ipaddress.IPv6Network] = (),
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        bundling_cache_dir: Path | None = None,
        reserved_concurrency: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        interval = schedule or Duration.hours(1)
        check_feeds("feeds", feeds)
        check_schedule("schedule", interval, feeds)
        check_waf_scope("waf_scope", waf_scope, Stack.of(self).region)
        protected = check.cidrs("protected_cidrs", [str(c) for c in protected_cidrs])
        self.schedule = interval
        self.service_name = build.service_name(self, SERVICE)
        """The function's Powertools service: the ``service`` dimension of its metrics, unique
        to this construct (``threat-intel-feed-<path>-<hash>``)."""

        feed_sets = [self._ip_sets(feed, waf_scope) for feed in feeds]
        self.ip_sets_by_feed: dict[str, list[wafv2.CfnIPSet]] = {
            s.feed.name: [s.ipv4, s.ipv6] for s in feed_sets
        }
        self.ip_sets: list[wafv2.CfnIPSet] = [
            ip_set for s in feed_sets for ip_set in (s.ipv4, s.ipv6)
        ]
        """Every feed's IP sets (IPv4, then IPv6, feed by feed), for a web ACL's deny band."""

        self.log_group = logs.LogGroup(self, "Logs", encryption_key=key, retention=log_retention)
        self.dead_letter_queue = build.dead_letter_queue(
            self, "DeadLetters", key=key, owner="the threat intelligence function"
        )
        self.function = self._function(
            feed_sets,
            [str(network) for network in protected],
            key,
            interval,
            resolve_cache_dir(bundling_cache_dir),
            reserved_concurrency,
        )
        iam.Grant.add_to_principal(
            grantee=self.function,
            actions=["wafv2:GetIPSet", "wafv2:UpdateIPSet"],
            resource_arns=[ip_set.attr_arn for ip_set in self.ip_sets],
        )
        self.rule = events.Rule(
            self,
            "Schedule",
            description="Refreshes the secure-endpoint threat intelligence IP sets",
            schedule=events.Schedule.rate(interval),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=2,
                    max_event_age=interval,
                )
            ],
        )
        build.allow_rule_dead_letters(key)

    def _ip_sets(self, feed: ThreatIntelFeed, waf_scope: str) -> _FeedIpSets:
        ip_sets = [
            wafv2.CfnIPSet(
                self,
                f"{_pascal(feed.name)}Ipv{version}",
                scope=waf_scope,
                ip_address_version=f"IPV{version}",
                addresses=[],
                description=(
                    f"secure-endpoint: IPv{version} addresses of the {feed.name} feed, "
                    "filled by the threat intelligence function"
                ),
            )
            for version in (4, 6)
        ]
        return _FeedIpSets(feed, *ip_sets)

    def _function(
        self,
        feed_sets: Sequence[_FeedIpSets],
        protected_cidrs: list[str],
        key: kms.IKey,
        interval: Duration,
        cache_dir: Path,
        reserved_concurrency: bool,
    ) -> lambda_.Function:
        role = build.lambda_role(
            self, "Role", description="Refreshes the secure-endpoint threat intelligence IP sets"
        )
        self.log_group.grant_write(role)
        build.allow_dead_letter_sends(key, role)
        stack = Stack.of(self)
        function = build.hardened_function(
            self,
            "Function",
            package=FEED_PACKAGE,
            code=lambda_code(FEED_PACKAGE, cache_dir, include_runtime=True),
            description="Fills WAF IP sets from public IP reputation feeds",
            role=role,
            key=key,
            log_group=self.log_group,
            dead_letter_queue=self.dead_letter_queue,
            reserved_concurrent_executions=1 if reserved_concurrency else None,
            memory_size=256,
            timeout=Duration.minutes(5),
            # A failed run is not retried: the schedule runs it again, and feed providers ask
            # for spaced downloads (Spamhaus: at most hourly). A run waiting longer than the
            # interval is dropped; the next one is already due.
            retry_attempts=0,
            max_event_age=Duration.seconds(min(interval.to_seconds(), 6 * 3600)),
            environment={
                "THREAT_INTEL_FEEDS": stack.to_json_string(
                    [_feed_env(s.feed, s.ipv4.attr_arn, s.ipv6.attr_arn) for s in feed_sets]
                ),
                "PROTECTED_CIDRS": json.dumps(protected_cidrs, separators=(",", ":")),
                "POWERTOOLS_SERVICE_NAME": self.service_name,
            },
        )
        compliance.acknowledge(
            function,
            "The function downloads public IP reputation feeds (Spamhaus, the Tor Project) from "
            "the internet, and the endpoint's VPC is isolated, without NAT by design; so it runs "
            "outside any VPC. It fetches only the https:// URLs of its configuration, checked at "
            "synth, refuses redirects to other schemes, and calls only WAF for its own IP sets.",
            "HIPAA.Security-LambdaInsideVPC",
            "NIST.800.53.R5-LambdaInsideVPC",
            "PCI.DSS.321-LambdaInsideVPC",
        )
        build.acknowledge_invoke_config(function)
        compliance.acknowledge(
            role,
            "Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which "
            "support no resource-level permissions; every other statement names its resource.",
            "AwsSolutions-IAM5[Resource::*]",
        )
        build.depend_on_grants(function, role)
        return function

    def metric_failed_feeds(self, **options: Any) -> cloudwatch.Metric:
        """Feeds that could not be fetched or written.

        :param options: ``cloudwatch.MetricOptions`` fields (``period``, ``statistic``,
            ``label``, ...). Default: - Sum per the schedule's interval
        """
        return self._metric("FeedsFailed", options)

    def metric_refused_feeds(self, **options: Any) -> cloudwatch.Metric:
        """Feeds the guard refused (their IP sets kept their addresses).

        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Sum per the schedule's
            interval
        """
        return self._metric("FeedsRefused", options)

    def metric_added_addresses(self, feed: str, **options: Any) -> cloudwatch.Metric:
        """Entries one feed added to its IP sets.

        :param feed: the feed's name.
        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Sum per the schedule's
            interval
        """
        return self._metric("Added", options, feed)

    def metric_removed_addresses(self, feed: str, **options: Any) -> cloudwatch.Metric:
        """Entries one feed removed from its IP sets.

        :param feed: the feed's name.
        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Sum per the schedule's
            interval
        """
        return self._metric("Removed", options, feed)

    def _metric(
        self, name: str, options: dict[str, Any], feed: str | None = None
    ) -> cloudwatch.Metric:
        dimensions = {"service": self.service_name}
        if feed is not None:
            if feed not in self.ip_sets_by_feed:
                raise ValueError(
                    f"feed must be one of {sorted(self.ip_sets_by_feed)}, got {feed!r}"
                )
            dimensions["Feed"] = feed
        return metrics.metric(
            METRICS_NAMESPACE,
            name,
            dimensions,
            options,
            statistic=cloudwatch.Stats.SUM,
            period=self.schedule,
        )


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def check_feeds(prop: str, feeds: Sequence[ThreatIntelFeed]) -> None:
    """1-5 feeds with unique, valid names, ``https://`` URLs and sane guards."""
    if isinstance(feeds, ThreatIntelFeed) or not isinstance(feeds, Sequence):
        raise ValueError(f"{prop} must be a list of ThreatIntelFeed, got {feeds!r}")
    if not 1 <= len(feeds) <= MAX_FEEDS:
        raise ValueError(
            f"{prop} must hold 1 to {MAX_FEEDS} feeds (two IP sets each), got {len(feeds)}"
        )
    seen: set[str] = set()
    for feed in feeds:
        if not isinstance(feed, ThreatIntelFeed):
            raise ValueError(f"{prop} must hold ThreatIntelFeed objects, got {feed!r}")
        check_feed(f"{prop}[{feed.name!r}]", feed)
        pascal = _pascal(feed.name)
        if pascal in seen:
            raise ValueError(f"{prop} has two feeds named {feed.name!r}; names must be unique")
        seen.add(pascal)
    arn = "x" * _ARN_CHARS
    estimate = len(json.dumps([_feed_env(feed, arn, arn) for feed in feeds]))
    if estimate > _ENVIRONMENT_BYTES - 512:
        raise ValueError(
            f"{prop} would need about {estimate} bytes of the function's environment, which "
            f"holds {_ENVIRONMENT_BYTES} in all: use fewer feeds or shorter URLs"
        )


def check_feed(prop: str, feed: ThreatIntelFeed) -> None:
    if not isinstance(feed.name, str) or not _FEED_NAME.match(feed.name):
        raise ValueError(
            f"{prop}.name must be 1-32 lowercase letters, digits or hyphens, starting and ending "
            f"with a letter or digit, like 'spamhaus-drop', got {feed.name!r}"
        )
    check_feed_url(f"{prop}.url", feed.url)
    if not isinstance(feed.format, FeedFormat):
        raise ValueError(
            f"{prop}.format must be a FeedFormat ({', '.join(f.name for f in FeedFormat)}), "
            f"got {feed.format!r}"
        )
    check.int_range(f"{prop}.min_entries", feed.min_entries, 1, 2 * MAX_IP_SET_ADDRESSES)
    if (
        isinstance(feed.min_ratio, bool)
        or not isinstance(feed.min_ratio, int | float)
        or not 0 < feed.min_ratio <= 1
    ):
        raise ValueError(
            f"{prop}.min_ratio must be above 0 and at most 1 (the share of the current entries "
            f"a new feed must keep), got {feed.min_ratio!r}"
        )
    check.number_range(f"{prop}.max_ratio", feed.max_ratio, 1, 100)
    if feed.min_interval is not None and not isinstance(feed.min_interval, Duration):
        raise ValueError(
            f"{prop}.min_interval must be a Duration, like Duration.hours(1), "
            f"got {feed.min_interval!r}"
        )


def check_feed_url(prop: str, url: str) -> None:
    """An ``https://`` URL with a host and no credentials, spaces or fragment."""
    if not isinstance(url, str) or Token.is_unresolved(url):
        raise ValueError(f"{prop} must be a literal https:// URL, got {url!r}")
    parts = urllib.parse.urlsplit(url)
    if (
        parts.scheme != "https"
        or not parts.hostname
        or parts.username is not None
        or parts.fragment
        or len(url) > MAX_URL_CHARS
        or any(c.isspace() or not c.isprintable() for c in url)
    ):
        raise ValueError(
            f"{prop} must be an https:// URL of at most {MAX_URL_CHARS} characters with a host "
            "and no credentials, spaces or fragment, like "
            f"'https://www.spamhaus.org/drop/drop_v4.json', got {url!r}"
        )


def check_schedule(prop: str, interval: Duration, feeds: Sequence[ThreatIntelFeed]) -> None:
    if not isinstance(interval, Duration):
        raise ValueError(f"{prop} must be a Duration, like Duration.hours(1), got {interval!r}")
    if Token.is_unresolved(interval.to_string()):
        return
    seconds = interval.to_seconds(integral=False)
    low, high = MIN_SCHEDULE.to_seconds(), MAX_SCHEDULE.to_seconds()
    if not low <= seconds <= high or seconds % 60:
        raise ValueError(
            f"{prop} must be whole minutes from 15 minutes to 1 day, "
            f"got {interval.to_human_string()}"
        )
    for feed in feeds:
        if feed.min_interval is not None and seconds < feed.min_interval.to_seconds(integral=False):
            raise ValueError(
                f"{prop} ({interval.to_human_string()}) is shorter than feed {feed.name!r} "
                f"allows: its provider asks for at most one download per "
                f"{feed.min_interval.to_human_string()}"
            )


def check_waf_scope(prop: str, waf_scope: str, region: str) -> None:
    if waf_scope not in ("REGIONAL", "CLOUDFRONT"):
        raise ValueError(f"{prop} must be 'REGIONAL' or 'CLOUDFRONT', got {waf_scope!r}")
    if waf_scope == "CLOUDFRONT" and (Token.is_unresolved(region) or region != "us-east-1"):
        raise ValueError(
            f"{prop}='CLOUDFRONT' needs a stack in us-east-1, where CloudFront's IP sets live; "
            f"got region {region!r}"
        )

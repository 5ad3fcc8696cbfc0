"""Scheduled function: refresh WAF IP sets from public IP reputation feeds.

Configuration: ``THREAT_INTEL_FEEDS`` and ``PROTECTED_CIDRS`` (see ``config``). Each feed is
fetched, parsed, validated entry by entry and checked by its guard against what its two IP sets
(IPv4, IPv6) hold now; only then are the sets replaced. A feed that cannot be fetched or is
refused leaves its sets exactly as they were.

Each run logs one line per feed (outcome, entries, added, removed, rejected, reasons) and emits
EMF metrics: per feed (dimension ``Feed``) ``Entries``, ``Added``, ``Removed``, ``Rejected``,
``Protected``, ``Refused`` and ``Failed``; per run ``FeedsUpdated``, ``FeedsUnchanged``,
``FeedsRefused`` and ``FeedsFailed``. The invocation fails (so that the dead-letter queue and the
Errors metric see it) only when no feed could be brought up to date (``feeds.run_failed``).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from secure_endpoint.runtime import powertools
from secure_endpoint.runtime.waf_ip_sets import IpSetWriter
from threat_intel_feed import feeds
from threat_intel_feed.adapters import FeedFetcher, FetchError, ip_set_writer
from threat_intel_feed.config import Config, FeedConfig
from threat_intel_feed.feeds import FeedReport, Outcome

DEFAULT_SERVICE = "threat-intel-feed"
"""The Powertools service outside Lambda (tests, local runs); in Lambda, the one the construct
names, unique to its endpoint (``secure_endpoint.runtime.powertools``)."""
NAMESPACE = "SecureEndpoint/ThreatIntel"
FEED_DIMENSION = "Feed"

logger, metrics, tracer = powertools.tools(DEFAULT_SERVICE, NAMESPACE)


class NoFeedUpdatedError(Exception):
    """Every feed failed or was refused: the IP sets are as stale as they were before the run."""


@dataclass(frozen=True)
class Adapters:
    fetcher: FeedFetcher
    writer: Callable[[str], IpSetWriter]  # IP set ARN -> its writer


@cache
def config() -> Config:
    """Read once per execution environment, at the first (cold-start) invocation."""
    return Config.from_env(os.environ)


@cache
def adapters() -> Adapters:
    client = boto3.client("wafv2")
    protected = config().protected_cidrs
    return Adapters(FeedFetcher(), lambda arn: ip_set_writer(client, arn, protected))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    reports = [refresh(feed, adapters()) for feed in config().feeds]
    for report in reports:
        report_feed(report)
    outcomes = Counter(report.outcome for report in reports)
    for outcome in Outcome:
        metrics.add_metric(
            name=f"Feeds{outcome.value.title()}", unit=MetricUnit.Count, value=outcomes[outcome]
        )
    if feeds.run_failed(reports):
        raise NoFeedUpdatedError(
            "no feed was brought up to date; the IP sets keep their previous addresses: "
            + "; ".join(f"{r.feed} {r.outcome.value}: {' '.join(r.reasons)}" for r in reports)
        )
    return {"feeds": [report.as_dict() for report in reports]}


@tracer.capture_method
def refresh(feed: FeedConfig, aws: Adapters) -> FeedReport:
    """Fetch, check and apply one feed; every failure is reported, none is raised."""
    tracer.put_annotation("feed", feed.name)
    try:
        text = aws.fetcher.fetch(feed.url)
    except FetchError as error:
        return FeedReport(feed.name, Outcome.FAILED, reasons=(str(error),))
    parsed = feeds.parse(text, feed.format)
    found = FeedReport(
        feed.name,
        Outcome.FAILED,
        entries=parsed.entries,
        rejected=parsed.rejected,
        rejected_samples=parsed.rejected_samples,
    )
    try:
        writers = {4: aws.writer(feed.ipv4_set_arn), 6: aws.writer(feed.ipv6_set_arn)}
        current = sum(len(writer.addresses()) for writer in writers.values())
    except (ClientError, BotoCoreError, ValueError) as error:
        return replace(found, reasons=(f"reading the IP sets failed: {error}",))
    refusals = feeds.refusals(parsed, current, feed.guard)
    if refusals:
        return replace(found, outcome=Outcome.REFUSED, reasons=refusals)
    report = found
    for version, writer in writers.items():
        try:
            change = writer.replace(parsed.addresses(version))
        except (ClientError, BotoCoreError, ValueError) as error:
            return replace(report, reasons=(f"writing the IPv{version} set failed: {error}",))
        report = replace(
            report,
            added=report.added + len(change.added),
            removed=report.removed + len(change.removed),
            protected=report.protected + len(change.refused),
        )
    changed = report.added or report.removed
    return replace(report, outcome=Outcome.UPDATED if changed else Outcome.UNCHANGED)


def report_feed(report: FeedReport) -> None:
    """One structured log line and one EMF document (dimension ``Feed``) per feed."""
    log = logger.info if report.outcome in (Outcome.UPDATED, Outcome.UNCHANGED) else logger.warning
    log("feed refreshed", extra=report.as_dict())
    feed_metrics = powertools.ephemeral(metrics)
    feed_metrics.add_dimension(name=FEED_DIMENSION, value=report.feed)
    for name, value in (
        ("Entries", report.entries),
        ("Added", report.added),
        ("Removed", report.removed),
        ("Rejected", report.rejected_total),
        ("Protected", report.protected),
        ("Refused", int(report.outcome is Outcome.REFUSED)),
        ("Failed", int(report.outcome is Outcome.FAILED)),
    ):
        feed_metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    feed_metrics.flush_metrics()

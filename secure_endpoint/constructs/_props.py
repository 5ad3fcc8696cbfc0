"""The checks of ``SecureEndpoint``'s own props, and the defaults that depend on several.

``check_props`` runs before any construct is built: every bad prop fails here, naming the prop
as users write it, the value received and what is allowed. It returns the values the endpoint
composes with, resolved, and the warnings of values that are legal but defeat their purpose.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2

from secure_endpoint.constructs import _validation as check
from secure_endpoint.constructs import removal
from secure_endpoint.constructs.alarms import check_emails
from secure_endpoint.constructs.edge import DEFAULT_RATE_WINDOW_SEC, WafOptions
from secure_endpoint.constructs.input_constraints import InputConstraints
from secure_endpoint.constructs.monitor import MonitorOptions
from secure_endpoint.constructs.options import (
    ApiClient,
    ArtifactOptions,
    CustomDomain,
    DataCaptureOptions,
    HostingOptions,
    TlsPolicy,
)
from secure_endpoint.constructs.response_hardening import ResponseHardening

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class CheckedProps:
    """What ``SecureEndpoint`` composes with, every value checked and defaulted."""

    clients: tuple[ApiClient, ...]
    hosting: HostingOptions
    artifact: ArtifactOptions
    allowed_cidrs: list[Network]
    denied_cidrs: list[Network]
    waf: WafOptions
    rate_limit_per_api_key: int
    bundling_cache_dir: Path | None
    warnings: list[tuple[str, str]]


def check_props(props: dict[str, Any]) -> CheckedProps:
    """Check ``SecureEndpoint``'s keyword props (``props``, by name) before anything is built."""
    p = props
    check.s3_url("model_data_url", p["model_data_url"])
    check.iam_literal("model_data_url", p["model_data_url"])
    check.sha256_hex("model_sha256", p["model_sha256"])
    clients = _clients(p["clients"])
    hosting = p["hosting"]
    check.instance_of(
        "hosting",
        hosting,
        HostingOptions,
        "a HostingOptions, like HostingOptions(framework='sklearn', framework_version='1.2-1')",
    )
    artifact = p["artifact"] if p["artifact"] is not None else ArtifactOptions()
    check.instance_of("artifact", artifact, ArtifactOptions, "an ArtifactOptions or None")
    allowed = check.cidrs("allowed_cidrs", p["allowed_cidrs"])
    warnings = [
        (f"secure-endpoint:{i}", m) for i, m in check.allowlist_warnings("allowed_cidrs", allowed)
    ]
    _resources(p)
    check.api_path("path", p["path"])
    _optional("request_schema", p["request_schema"], apigw.JsonSchema, "an apigw.JsonSchema")
    _optional(
        "input_constraints",
        p["input_constraints"],
        InputConstraints,
        "an InputConstraints (InputConstraints.from_baseline(directory))",
    )
    if p["input_constraints"] is not None and p["request_schema"] is not None:
        raise ValueError(
            "request_schema and input_constraints both give the request model: pass one "
            "(input_constraints compiles its schema from the baseline)"
        )
    check.enum_member("tls_policy", p["tls_policy"], TlsPolicy)
    _optional(
        "response_hardening",
        p["response_hardening"],
        ResponseHardening,
        "a ResponseHardening, like ResponseHardening(probability_decimals=2)",
    )
    _optional("custom_domain", p["custom_domain"], CustomDomain, "a CustomDomain")
    _optional("data_capture", p["data_capture"], DataCaptureOptions, "a DataCaptureOptions")
    if p["drift_baseline"] is not None:
        if p["data_capture"] is None:
            raise ValueError(
                "drift_baseline needs data_capture=DataCaptureOptions(...): the drift monitor "
                "reads the captured requests"
            )
        from secure_endpoint.constructs.drift_monitor import check_baseline

        check_baseline(p["drift_baseline"])
    if p["access_token_validity"] is not None:
        _whole(
            "access_token_validity",
            p["access_token_validity"],
            60,
            300,
            86_400,
            "Duration.minutes(15)",
        )
    if p["rotation_interval"] is not None:
        _whole(
            "rotation_interval",
            p["rotation_interval"],
            86_400,
            86_400,
            365 * 86_400,
            "Duration.days(30)",
        )
    check.enum_member("log_retention", p["log_retention"], logs.RetentionDays)
    rate, burst = p["throttling_rate_limit"], p["throttling_burst_limit"]
    check.number_range("throttling_rate_limit", rate, 1, check.MAX_RATE_LIMIT)
    check.int_range("throttling_burst_limit", burst, 1, check.MAX_BURST_LIMIT)
    if burst < rate:
        raise ValueError(
            f"throttling_burst_limit ({burst}) must be at least throttling_rate_limit ({rate:g})"
        )
    warnings += _stage_below_plans(rate, burst, clients)
    check.boolean("cloud_watch_role", p["cloud_watch_role"])
    check.boolean("reserved_concurrency", p["reserved_concurrency"])
    removal.check("removal_policy", p["removal_policy"])

    web_acl, waf, shield = p["web_acl"], p["waf"], p["shield"]
    _optional("web_acl", web_acl, wafv2.CfnWebACL, "a wafv2.CfnWebACL of scope REGIONAL")
    _optional("waf", waf, WafOptions, "a WafOptions")
    if web_acl is not None and waf is not None:
        raise ValueError(
            "waf configures the web ACL built here and cannot be combined with web_acl, which "
            "is only associated with the stage: configure its rules where it is defined"
        )
    if shield is not None:
        from secure_endpoint.constructs.shield import ShieldOptions

        check.instance_of("shield", shield, ShieldOptions, "a ShieldOptions, like ShieldOptions()")
        if web_acl is not None:
            raise ValueError(
                "shield cannot be combined with web_acl: the regional web ACL must require "
                "CloudFront's origin secret, which only the web ACL built here does"
            )
    waf = waf if waf is not None else WafOptions()
    denied = check.cidrs("waf.denied_cidrs", waf.denied_cidrs)
    check.disjoint_cidrs("allowed_cidrs", allowed, "waf.denied_cidrs", denied)
    if waf.threat_intel_feeds and web_acl is not None:  # pragma: no cover (waf excludes web_acl)
        raise ValueError("waf.threat_intel_feeds cannot be combined with web_acl")
    plan_allows = _api_key_rate_limit(clients, waf.window_seconds)
    per_key = waf.rate_limit_per_api_key
    if per_key is not None and not check.is_number_token(per_key) and per_key < plan_allows:
        generous = max(clients, key=lambda c: _plan_allows(c, waf.window_seconds))
        warnings.append(
            (
                "secure-endpoint:waf-key-limit-below-plan",
                f"waf.rate_limit_per_api_key={per_key} is below what clients[{generous.name}]'s "
                f"usage plan allows in the {waf.window_seconds} s window ({plan_allows}: "
                "rate x window + burst): the WAF blocks that client with 429s it paid for; "
                "leave it unset to follow the plans",
            )
        )

    check_emails(_list("alarm_emails", p["alarm_emails"], "['oncall@example.com']"), "alarm_emails")  # type: ignore[arg-type]
    for subscription in _list("alarm_subscriptions", p["alarm_subscriptions"]):
        check.resource(
            "alarm_subscriptions[]",
            subscription,
            "bind",
            "an SNS subscription like subscriptions.SqsSubscription(queue)",
        )
    runbook = p["runbook_url"]
    if not isinstance(runbook, str) or not runbook.strip():
        raise ValueError(f"runbook_url must be a non-empty string (a URL), got {runbook!r}")
    check.boolean("anomaly_monitor", p["anomaly_monitor"])
    check.boolean("auto_block", p["auto_block"])
    _optional("monitor_options", p["monitor_options"], MonitorOptions, "a MonitorOptions")
    options = p["monitor_options"]
    if not p["anomaly_monitor"] and (p["auto_block"] or options is not None):
        raise ValueError(
            "auto_block and monitor_options configure the anomaly monitor; "
            "set anomaly_monitor=True as well"
        )
    if options is not None and options.disable_api_keys and not p["auto_block"]:
        raise ValueError(
            "monitor_options.disable_api_keys=True needs auto_block=True: a client's API key is "
            "disabled only where the monitor acts on its findings, got auto_block=False"
        )
    if p["auto_block"] and web_acl is not None:
        raise ValueError(
            "auto_block cannot be combined with web_acl: the auto-block IP sets belong to the "
            "web ACL built here; the monitor can still alert (auto_block=False)"
        )
    cache_dir = p["bundling_cache_dir"]
    if isinstance(cache_dir, str) and cache_dir:
        cache_dir = Path(cache_dir)
    if cache_dir is not None:
        check.instance_of("bundling_cache_dir", cache_dir, Path, "a directory (a Path) or None")
    return CheckedProps(
        clients=clients,
        hosting=hosting,
        artifact=artifact,
        allowed_cidrs=allowed,
        denied_cidrs=denied,
        waf=waf,
        rate_limit_per_api_key=per_key if per_key is not None else plan_allows,
        bundling_cache_dir=cache_dir,
        warnings=warnings,
    )


def _clients(value: object) -> tuple[ApiClient, ...]:
    if isinstance(value, ApiClient):
        raise ValueError(
            f"clients must be a list of ApiClient, like [ApiClient('partner-a')], got the one "
            f"client {value!r}: put it in a list"
        )
    clients = _list("clients", value, "[ApiClient('partner-a')]")
    for client in clients:
        if not isinstance(client, ApiClient):
            raise ValueError(
                f"clients must hold ApiClient values, like ApiClient('partner-a', "
                f"rate_limit=10), got {client!r}"
            )
    check.unique_names("clients", [c.name for c in clients])  # type: ignore[attr-defined]
    return clients  # type: ignore[return-value]


def _list(prop: str, value: object, example: str = "['203.0.113.0/24']") -> tuple[object, ...]:
    return check.sequence(prop, value, example)


def _optional(prop: str, value: object, kind: type, example: str) -> None:
    if value is not None:
        check.instance_of(prop, value, kind, f"{example} or None")


def _whole(prop: str, value: object, unit: int, low: int, high: int, example: str) -> None:
    """A Duration of whole ``unit`` seconds from ``low`` to ``high`` seconds."""
    seconds = check.duration(prop, value, low, high, example)
    if not math.isnan(seconds) and seconds % unit:
        raise ValueError(
            f"{prop} must be whole {'days' if unit == 86_400 else 'minutes'}, like {example}, "
            f"got {value.to_human_string()}"  # type: ignore[attr-defined]
        )


def _resources(p: dict[str, Any]) -> None:
    """The resources that may be brought instead of created."""
    if p["vpc"] is not None:
        check.resource("vpc", p["vpc"], "vpc_id", "an ec2.IVpc, like ec2.Vpc.from_lookup(...)")
    if p["vpc_subnets"] is not None:
        if p["vpc"] is None:
            raise ValueError("vpc_subnets selects subnets of a brought vpc; give vpc as well")
        check.instance_of(
            "vpc_subnets", p["vpc_subnets"], ec2.SubnetSelection, "an ec2.SubnetSelection"
        )
    check.boolean("add_vpc_endpoints", p["add_vpc_endpoints"])
    if p["add_vpc_endpoints"] and p["vpc"] is None:
        raise ValueError(
            "add_vpc_endpoints adds endpoints to a brought vpc; the VPC created here has them "
            "already: give vpc as well, or leave add_vpc_endpoints out"
        )
    if p["encryption_key"] is not None:
        check.resource(
            "encryption_key", p["encryption_key"], "key_arn", "a KMS key (kms.IKey), not its ARN"
        )
    if p["user_pool"] is not None:
        check.resource(
            "user_pool", p["user_pool"], "user_pool_id", "a Cognito user pool (cognito.IUserPool)"
        )
    if p["user_pool_domain"] is not None:
        check.resource(
            "user_pool_domain",
            p["user_pool_domain"],
            "domain_name",
            "a Cognito user pool domain (cognito.IUserPoolDomain)",
        )
    if (p["user_pool"] is None) != (p["user_pool_domain"] is None):
        raise ValueError(
            "user_pool and user_pool_domain go together: a brought pool needs its domain for "
            f"the token endpoint (got user_pool={p['user_pool']!r}, "
            f"user_pool_domain={p['user_pool_domain']!r})"
        )


def _stage_below_plans(
    rate: float, burst: int, clients: Sequence[ApiClient]
) -> list[tuple[str, str]]:
    warnings = []
    for client in clients:
        if client.rate_limit > rate or client.burst > burst:
            warnings.append(
                (
                    "secure-endpoint:stage-throttle-below-plan",
                    f"throttling_rate_limit={rate:g}/throttling_burst_limit={burst} (all "
                    f"clients together) is below clients[{client.name}]'s usage plan "
                    f"(rate_limit={client.rate_limit:g}, burst_limit={client.burst}): the stage "
                    "throttles that client before its plan does; raise the stage limits",
                )
            )
    return warnings


def _plan_allows(client: ApiClient, window_sec: float) -> int:
    return math.ceil(client.rate_limit * window_sec) + client.burst


def _api_key_rate_limit(clients: Sequence[ApiClient], window_sec: float | None) -> int:
    """What the most generous usage plan lets one key send in the WAF's rate window."""
    window = window_sec if window_sec else DEFAULT_RATE_WINDOW_SEC
    return max(max(_plan_allows(c, window) for c in clients), check.WAF_RATE_LIMIT_MIN)

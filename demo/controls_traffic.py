"""Baseline checks of what traffic gets through: rate (3) and burst limits (4), input validation
(5), gateway controls (8), DDoS protection and Shield (10), clear responses (12) and threat
intelligence (17)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from demo.protection import Protection, Status, listed, number, plural, protection
from demo.template_index import (
    Index,
    api_methods,
    managed_groups,
    method_name,
    nested,
    protected_stages,
    rate_rules,
    scheduled_functions,
    stage_throttle,
    usage_plans,
    web_acl_rules,
)


def rate_limits(ix: Index) -> Protection:
    missing: list[str] = []
    plans = usage_plans(ix)
    if not plans:
        missing.append("no usage plan")
    plan_text = []
    for plan in plans:
        rate = (plan.props.get("Throttle") or {}).get("RateLimit")
        quota = plan.props.get("Quota") or {}
        if rate is None:
            missing.append(f"usage plan {plan.logical_id} has no rate limit")
        if not quota.get("Limit"):
            missing.append(f"usage plan {plan.logical_id} has no quota")
        period = str(quota.get("Period", "")).lower()
        plan_text.append(f"{number(rate)} rps, {number(quota.get('Limit'))}/{period}")
    keyless = [
        method_name(ix, m) for m in api_methods(ix) if m.props.get("ApiKeyRequired") is not True
    ]
    if keyless:
        missing.append(f"no API key (so no usage plan) on {listed(keyless)}")
    stages = ix.of("AWS::ApiGateway::Stage")
    stage_rates = [stage_throttle(stage)[0] for stage in stages]
    if not stages or None in stage_rates:
        missing.append("a stage without a default rate limit")
    rates = rate_rules(ix)
    if not rates:
        missing.append("no WAF rate-based rule")
    waf = [
        f"{number(r.get('Limit'))} {_aggregate(r)} per {r.get('EvaluationWindowSec', 300)} s"
        for r in rates
    ]
    return protection(
        3,
        "rate limiting",
        missing,
        f"usage plan{plural(len(plans))} {listed(plan_text)}; stage "
        f"{listed([number(r) for r in stage_rates])} rps; WAF {listed(waf)}",
    )


def _aggregate(rate: Mapping[str, Any]) -> str:
    """What a WAF rate rule counts by: 'per IP', 'per x-api-key', ..."""
    kind = str(rate.get("AggregateKeyType", "IP"))
    if kind == "CUSTOM_KEYS":
        names = [
            str(spec.get("Name", part)) if isinstance(spec, Mapping) else part
            for key in rate.get("CustomKeys", [])
            for part, spec in key.items()
        ]
        return "per " + " and ".join(names)
    return {"IP": "per IP", "FORWARDED_IP": "per forwarded IP", "CONSTANT": "in all"}.get(
        kind, f"per {kind.lower()}"
    )


def burst_limits(ix: Index) -> Protection:
    missing: list[str] = []
    plans = usage_plans(ix)
    bursts = [(plan.props.get("Throttle") or {}).get("BurstLimit") for plan in plans]
    if not plans or None in bursts:
        missing.append("a usage plan without a burst limit")
    stage_bursts = [stage_throttle(stage)[1] for stage in ix.of("AWS::ApiGateway::Stage")]
    if not stage_bursts or None in stage_bursts:
        missing.append("a stage without a default burst limit")
    windows = sorted({int(r.get("EvaluationWindowSec", 300)) for r in rate_rules(ix)})
    if not windows:
        missing.append("no WAF rate-based rule")
    rates = [(plan.props.get("Throttle") or {}).get("RateLimit") for plan in plans]
    stage_text = listed([number(b) for b in stage_bursts])
    per_plan = [
        f"rate {number(r)} rps, burst {number(b)}" for r, b in zip(rates, bursts, strict=True)
    ]
    return protection(
        4,
        "burst limits",
        missing,
        f"usage plan {listed(per_plan)}; stage burst {stage_text}; "
        f"WAF rate window {listed([f'{w} s' for w in windows])}",
    )


def input_validation(ix: Index) -> Protection:
    missing: list[str] = []
    methods = api_methods(ix)
    if not methods:
        missing.append("no API method")
    models: set[str] = set()
    for method in methods:
        validator = ix.resolve(method, method.props.get("RequestValidatorId"))
        if validator is None or validator.props.get("ValidateRequestBody") is not True:
            missing.append(f"{method_name(ix, method)} does not validate its body")
        request_models = method.props.get("RequestModels") or {}
        resolved = [ix.resolve(method, ref) for ref in request_models.values()]
        if not resolved or any(m is None or not m.props.get("Schema") for m in resolved):
            missing.append(f"{method_name(ix, method)} has no JSON Schema model")
        for model in resolved:
            if model is not None:
                models.add(str((model.props.get("Schema") or {}).get("title", model.logical_id)))
        if (method.props.get("Integration") or {}).get("PassthroughBehavior") not in (
            "NEVER",
            None,
        ):
            missing.append(f"{method_name(ix, method)} passes unmodelled content types through")
    sizes = [
        s
        for _, rule in web_acl_rules(ix)
        for s in nested(rule.get("Statement"), "SizeConstraintStatement")
        if "Body" in (s.get("FieldToMatch") or {})
    ]
    if not sizes:
        missing.append("no WAF body size limit")
    inspection = [
        g
        for g in managed_groups(ix)
        if g in ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")
    ]
    if not inspection:
        missing.append("no WAF managed rules for bad inputs")
    return protection(
        5,
        "input validation",
        missing,
        f"{len(methods)}/{len(methods)} methods validate the body against "
        f"JSON Schema {listed(sorted(models))}, application/json only; WAF body limit "
        f"{listed([number(s.get('Size')) + ' B' for s in sizes])}; "
        f"{listed([g.removeprefix('AWSManagedRules') for g in inspection])}",
    )


def gateway_controls(ix: Index) -> Protection:
    missing: list[str] = []
    covered, bare = protected_stages(ix)
    if not covered and not bare:
        missing.append("no API stage")
    if bare:
        missing.append(f"stage without a web ACL: {listed([s.logical_id for s in bare])}")
    ip_rules = [
        str(rule.get("Name"))
        for _, rule in web_acl_rules(ix)
        if nested(rule.get("Statement"), "IPSetReferenceStatement")
    ]
    if not ip_rules:
        missing.append("no WAF IP list rule")
    if not ix.of("AWS::ApiGateway::RequestValidator"):
        missing.append("no request validator")
    ip_sets = len(ix.of("AWS::WAFv2::IPSet"))
    return protection(
        8,
        "API gateway controls",
        missing,
        f"web ACL on {len(covered)}/{len(covered) + len(bare)} API stages; "
        f"IP list rules {listed(ip_rules)} over {ip_sets} IP set{plural(ip_sets)}; "
        "request validation",
    )


def ddos(ix: Index) -> Protection:
    missing: list[str] = []
    _, bare = protected_stages(ix)
    if bare:
        missing.append(f"stage without a web ACL: {listed([s.logical_id for s in bare])}")
    rates = rate_rules(ix)
    groups = managed_groups(ix)
    if not rates:
        missing.append("no WAF rate-based rule")
    if not groups:
        missing.append("no WAF managed rule group")
    caps = [
        t.props.get("MaxCapacity")
        for t in ix.of("AWS::ApplicationAutoScaling::ScalableTarget")
        if t.props.get("ServiceNamespace") == "sagemaker"
    ]
    if ix.of("AWS::SageMaker::Endpoint") and not caps:
        missing.append("endpoint autoscaling without a cap")
    return protection(
        10,
        "DDoS protection",
        missing,
        f"WAF: {len(rates)} rate rule{plural(len(rates))}, {len(groups)} managed rule group"
        f"{plural(len(groups))}; endpoint autoscaling capped at "
        f"{listed([number(c) for c in caps])} instances",
    )


def shield(ix: Index) -> Protection:
    protections = ix.of("AWS::Shield::Protection")
    if not protections:
        return Protection(
            10,
            "Shield Advanced",
            Status.OPT_IN,
            "opt-in (off): shield=ShieldOptions() puts CloudFront and Shield Advanced in front",
        )
    automatic = [
        p
        for p in protections
        if (p.props.get("ApplicationLayerAutomaticResponseConfiguration") or {}).get("Status")
        == "ENABLED"
    ]
    distributions = ix.of("AWS::CloudFront::Distribution")
    return Protection(
        10,
        "Shield Advanced",
        Status.ON,
        f"{len(protections)} protection{plural(len(protections))} on "
        f"{len(distributions)} CloudFront distribution{plural(len(distributions))}; "
        f"automatic layer-7 response on {len(automatic)}/{len(protections)}",
    )


_REQUIRED_ERROR_STATUSES = ("400", "401", "403", "404", "429", "500")


def clear_responses(ix: Index) -> Protection:
    responses = ix.of("AWS::ApiGateway::GatewayResponse")
    json_statuses = sorted(
        {
            str(r.props.get("StatusCode"))
            for r in responses
            if "application/json" in (r.props.get("ResponseTemplates") or {})
        },
        key=lambda s: (len(s), s),
    )
    absent = [s for s in _REQUIRED_ERROR_STATUSES if s not in json_statuses]
    missing = [f"no JSON body for {', '.join(absent)}"] if absent else []
    model_errors = sum(
        1
        for m in api_methods(ix)
        for answer in (m.props.get("Integration") or {}).get("IntegrationResponses", [])
        if str(answer.get("StatusCode", "")).startswith(("4", "5"))
        and "application/json" in (answer.get("ResponseTemplates") or {})
    )
    return protection(
        12,
        "clear HTTP responses",
        missing,
        f"JSON error bodies for {' '.join(json_statuses)} ({len(responses)} gateway responses) "
        f"and {model_errors} model error mapping{plural(model_errors)}",
    )


_REPUTATION_GROUPS = ("AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesAnonymousIpList")


def threat_intelligence(ix: Index) -> Protection:
    groups = [g for g in managed_groups(ix) if g in _REPUTATION_GROUPS]
    feeds = [name for name, _ in scheduled_functions(ix) if "threat_intel" in name]
    missing = [] if groups else ["no AWS managed reputation list"]
    feed_note = (
        f"public feeds refreshed by {listed(feeds)}"
        if feeds
        else "public IP reputation feeds opt-in (off)"
    )
    return protection(
        17,
        "threat intelligence",
        missing,
        f"{listed([g.removeprefix('AWSManagedRules') for g in groups])}; {feed_note}",
    )

"""The security baseline (``STANDARD.md``) as the synthesized templates show it.

Pure: plain template dicts (stack name -> template) in, ``Protection`` values out; no CDK, no AWS,
no files. Each protection is derived from the resources that implement it, so a template without
one gets a ``✗`` naming what is missing rather than a claim.
"""

from __future__ import annotations

import enum
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Template = Mapping[str, Any]


class Status(enum.Enum):
    """Whether the synthesized stack implements a protection."""

    ON = "✓"
    MISSING = "✗"
    OPT_IN = "\u2013"  # an en dash: off by default, one setting away


@dataclass(frozen=True)
class Protection:
    """One line of the baseline (``/work/shared/STANDARD.md``) and what the templates show."""

    control: int
    name: str
    status: Status
    evidence: str

    @property
    def mark(self) -> str:
        return self.status.value


_CDK_METADATA = "AWS::CDK::Metadata"  # the CDK's version report, not a resource of the app


def stack_resource_count(template: Template) -> int:
    """The resources of one template, without the CDK's metadata resource."""
    return sum(1 for _, r in _resources_of(template) if r.get("Type") != _CDK_METADATA)


def resources_by_service(templates: Mapping[str, Template]) -> dict[str, int]:
    """``AWS::<Service>::<Type>`` counts by service (``Custom::*`` as Custom), most first."""
    counts: Counter[str] = Counter()
    for template in templates.values():
        for _, resource in _resources_of(template):
            kind = str(resource.get("Type", ""))
            if kind == _CDK_METADATA:
                continue
            parts = kind.split("::")
            counts["Custom" if parts[0] == "Custom" else parts[1] if len(parts) > 1 else kind] += 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _resources_of(template: Template) -> list[tuple[str, Mapping[str, Any]]]:
    return list((template.get("Resources") or {}).items())


@dataclass(frozen=True)
class _Resource:
    stack: str
    logical_id: str
    type: str
    props: Mapping[str, Any]
    depends_on: tuple[str, ...]


class _Index:
    """Every resource of every template, by type and by (stack, logical id)."""

    def __init__(self, templates: Mapping[str, Template]) -> None:
        self.templates = templates
        self.resources: list[_Resource] = []
        for stack, template in templates.items():
            for logical_id, resource in _resources_of(template):
                depends = resource.get("DependsOn") or []
                self.resources.append(
                    _Resource(
                        stack,
                        logical_id,
                        str(resource.get("Type", "")),
                        resource.get("Properties") or {},
                        (depends,) if isinstance(depends, str) else tuple(depends),
                    )
                )
        self._by_id = {(r.stack, r.logical_id): r for r in self.resources}

    def of(self, *types: str) -> list[_Resource]:
        return [r for r in self.resources if r.type in types]

    def resolve(self, origin: _Resource, value: Any) -> _Resource | None:
        """The resource a ``Ref`` or ``Fn::GetAtt`` in ``origin``'s template points at."""
        target = _ref(value)
        return self._by_id.get((origin.stack, target)) if target else None

    def outputs(self) -> set[str]:
        return {key for t in self.templates.values() for key in (t.get("Outputs") or {})}


def _ref(value: Any) -> str | None:
    if isinstance(value, Mapping):
        if isinstance(value.get("Ref"), str):
            return str(value["Ref"])
        attribute = value.get("Fn::GetAtt")
        if isinstance(attribute, list) and attribute:
            return str(attribute[0])
        if isinstance(attribute, str):
            return attribute.split(".", 1)[0]
    return None


def _refs_in(value: Any) -> set[str]:
    """Every logical id a value refers to, through joins and subs."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        target = _ref(value)
        if target:
            found.add(target)
        for inner in value.values():
            found |= _refs_in(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _refs_in(inner)
    return found


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _nested(statement: Any, key: str) -> list[Mapping[str, Any]]:
    """Every ``key`` statement inside a WAF statement (through And/Or/Not)."""
    found: list[Mapping[str, Any]] = []
    if isinstance(statement, Mapping):
        if key in statement:
            found.append(statement[key])
        for inner in statement.values():
            found += _nested(inner, key)
    elif isinstance(statement, list):
        for inner in statement:
            found += _nested(inner, key)
    return found


def _protection(control: int, name: str, missing: Sequence[str], evidence: str) -> Protection:
    if missing:
        return Protection(control, name, Status.MISSING, "missing: " + "; ".join(missing))
    return Protection(control, name, Status.ON, evidence)


def _methods(ix: _Index) -> list[_Resource]:
    return [m for m in ix.of("AWS::ApiGateway::Method") if m.props.get("HttpMethod") != "OPTIONS"]


def _method_name(ix: _Index, method: _Resource) -> str:
    parts: list[str] = []
    resource = ix.resolve(method, method.props.get("ResourceId"))
    for _ in range(50):  # a resource tree is never this deep; a cycle would be
        if resource is None or resource.type != "AWS::ApiGateway::Resource":
            break
        parts.append(str(resource.props.get("PathPart", "?")))
        resource = ix.resolve(resource, resource.props.get("ParentId"))
    return f"{method.props.get('HttpMethod', '?')} /{'/'.join(reversed(parts))}"


def _web_acl_rules(ix: _Index) -> list[tuple[_Resource, Mapping[str, Any]]]:
    return [
        (acl, rule) for acl in ix.of("AWS::WAFv2::WebACL") for rule in acl.props.get("Rules", [])
    ]


def _rate_rules(ix: _Index) -> list[Mapping[str, Any]]:
    return [
        rate
        for _, rule in _web_acl_rules(ix)
        for rate in _nested(rule.get("Statement"), "RateBasedStatement")
    ]


def _managed_groups(ix: _Index) -> list[str]:
    return [
        str(group.get("Name"))
        for _, rule in _web_acl_rules(ix)
        for group in _nested(rule.get("Statement"), "ManagedRuleGroupStatement")
    ]


def _stage_throttle(stage: _Resource) -> tuple[Any, Any]:
    for setting in stage.props.get("MethodSettings", []):
        if setting.get("HttpMethod") == "*" and setting.get("ResourcePath") == "/*":
            return setting.get("ThrottlingRateLimit"), setting.get("ThrottlingBurstLimit")
    return None, None


def _number(value: Any) -> str:
    return f"{value:,g}" if isinstance(value, int | float) else str(value)


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _listed(items: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def template_protections(templates: Mapping[str, Template]) -> list[Protection]:
    """Each protection of the baseline the templates can show, derived from them."""
    ix = _Index(templates)
    checks: list[Callable[[_Index], Protection]] = [
        _authentication,
        _tls,
        _encryption_at_rest,
        _rate_limits,
        _burst_limits,
        _input_validation,
        _logging,
        _gateway_controls,
        _least_privilege,
        _ddos,
        _shield,
        _secrets,
        _clear_responses,
        _anomaly_detection,
        _isolation,
        _integrity,
        _incident_response,
        _threat_intelligence,
    ]
    return [check(ix) for check in checks]


def _authentication(ix: _Index) -> Protection:
    missing: list[str] = []
    pools = ix.of("AWS::Cognito::UserPool")
    if not pools:
        missing.append("no Cognito user pool")
    open_pools = [
        p
        for p in pools
        if not (p.props.get("AdminCreateUserConfig") or {}).get("AllowAdminCreateUserOnly")
    ]
    if open_pools:
        missing.append(f"self sign-up allowed on {len(open_pools)} user pool(s)")
    if not any(s.props.get("Scopes") for s in ix.of("AWS::Cognito::UserPoolResourceServer")):
        missing.append("no resource server with scopes")
    clients = ix.of("AWS::Cognito::UserPoolClient")
    machine = [c for c in clients if c.props.get("AllowedOAuthFlows") == ["client_credentials"]]
    if not machine:
        missing.append("no client-credentials app client")
    if len(machine) < len(clients):
        missing.append(f"{len(clients) - len(machine)} app client(s) allow other OAuth flows")
    methods = _methods(ix)
    if not methods:
        missing.append("no API method")
    scopes: set[str] = set()
    for method in methods:
        authorizer = ix.resolve(method, method.props.get("AuthorizerId"))
        method_scopes = method.props.get("AuthorizationScopes") or []
        if (
            method.props.get("AuthorizationType") != "COGNITO_USER_POOLS"
            or authorizer is None
            or authorizer.props.get("Type") != "COGNITO_USER_POOLS"
            or not method_scopes
        ):
            missing.append(f"{_method_name(ix, method)} is not authorized by a Cognito scope")
        scopes.update(str(s) for s in method_scopes)
    return _protection(
        1,
        "authentication",
        missing,
        f"Cognito OAuth client credentials ({len(machine)} app client{_s(len(machine))}, "
        f"self sign-up off); {len(methods)}/{len(methods)} methods require "
        f"{_listed(sorted(scopes))}",
    )


_TLS_12_PLUS = re.compile(r"TLS_?1_?[23]|TLS1[23]")


def _tls(ix: _Index) -> Protection:
    missing: list[str] = []
    apis = ix.of("AWS::ApiGateway::RestApi")
    policies: set[str] = set()
    for api in [*apis, *ix.of("AWS::ApiGateway::DomainName", "AWS::ApiGateway::DomainNameV2")]:
        policy = api.props.get("SecurityPolicy")
        if not isinstance(policy, str) or not _TLS_12_PLUS.search(policy):
            missing.append(
                f"{api.logical_id} has security policy {policy or 'none (TLS 1.0 allowed)'}"
            )
        else:
            policies.add(policy)
    if not apis:
        missing.append("no REST API")
    for distribution in ix.of("AWS::CloudFront::Distribution"):
        config = distribution.props.get("DistributionConfig") or {}
        behaviors = [config.get("DefaultCacheBehavior") or {}, *config.get("CacheBehaviors", [])]
        if any(
            b.get("ViewerProtocolPolicy") not in ("https-only", "redirect-to-https")
            for b in behaviors
        ):
            missing.append(f"{distribution.logical_id} lets viewers use plain HTTP")
    strict = all(api.props.get("EndpointAccessMode") == "STRICT" for api in apis)
    cloudfront = " and CloudFront (HTTPS only)" if ix.of("AWS::CloudFront::Distribution") else ""
    return _protection(
        2,
        "TLS in transit",
        missing,
        f"API security policy {_listed(sorted(policies))} (TLS 1.2+, HTTPS only)"
        f"{', endpoint access mode STRICT' if strict else ''}{cloudfront}",
    )


def _encryption_at_rest(ix: _Index) -> Protection:
    missing: list[str] = []
    keys = ix.of("AWS::KMS::Key")
    if not keys:
        missing.append("no customer-managed KMS key")
    static = [k.logical_id for k in keys if k.props.get("EnableKeyRotation") is not True]
    if static:
        missing.append(f"key rotation off on {_listed(static)}")

    def dynamo(p: Mapping[str, Any]) -> bool:
        sse = p.get("SSESpecification") or {}
        return bool(sse.get("SSEEnabled")) and sse.get("SSEType") == "KMS"

    def capture(p: Mapping[str, Any]) -> bool:
        config = p.get("DataCaptureConfig")
        return config is None or bool(config.get("KmsKeyId"))

    kinds: list[tuple[str, tuple[str, ...], Callable[[Mapping[str, Any]], bool]]] = [
        ("log groups", ("AWS::Logs::LogGroup",), lambda p: bool(p.get("KmsKeyId"))),
        ("secrets", ("AWS::SecretsManager::Secret",), lambda p: bool(p.get("KmsKeyId"))),
        ("topics", ("AWS::SNS::Topic",), lambda p: bool(p.get("KmsMasterKeyId"))),
        ("queues", ("AWS::SQS::Queue",), lambda p: bool(p.get("KmsMasterKeyId"))),
        ("tables", ("AWS::DynamoDB::Table",), dynamo),
        (
            "endpoint volumes",
            ("AWS::SageMaker::EndpointConfig",),
            lambda p: bool(p.get("KmsKeyId")),
        ),
        ("captured data", ("AWS::SageMaker::EndpointConfig",), capture),
    ]
    shown: list[str] = []
    for label, types, encrypted in kinds:
        found = ix.of(*types)
        plain = [r.logical_id for r in found if not encrypted(r.props)]
        if plain:
            missing.append(f"{label} without the KMS key: {_listed(plain)}")
        if found and label != "captured data":
            shown.append(f"{len(found) - len(plain)}/{len(found)} {label}")
    buckets = ix.of("AWS::S3::Bucket")
    with_kms = sum(1 for b in buckets if "aws:kms" in json.dumps(b.props.get("BucketEncryption")))
    bucket_note = (
        f"; buckets: {with_kms} KMS, {len(buckets) - with_kms} S3-managed" if buckets else ""
    )
    return _protection(
        2,
        "encryption at rest",
        missing,
        f"{len(keys)} customer-managed KMS key{_s(len(keys))}, rotation on; encrypts "
        f"{', '.join(shown)}{bucket_note}",
    )


def _usage_plans(ix: _Index) -> list[_Resource]:
    return ix.of("AWS::ApiGateway::UsagePlan")


def _rate_limits(ix: _Index) -> Protection:
    missing: list[str] = []
    plans = _usage_plans(ix)
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
        plan_text.append(f"{_number(rate)} rps, {_number(quota.get('Limit'))}/{period}")
    keyless = [
        _method_name(ix, m) for m in _methods(ix) if m.props.get("ApiKeyRequired") is not True
    ]
    if keyless:
        missing.append(f"no API key (so no usage plan) on {_listed(keyless)}")
    stages = ix.of("AWS::ApiGateway::Stage")
    stage_rates = [_stage_throttle(stage)[0] for stage in stages]
    if not stages or None in stage_rates:
        missing.append("a stage without a default rate limit")
    rates = _rate_rules(ix)
    if not rates:
        missing.append("no WAF rate-based rule")
    waf = [
        f"{_number(r.get('Limit'))} {_aggregate(r)} per {r.get('EvaluationWindowSec', 300)} s"
        for r in rates
    ]
    return _protection(
        3,
        "rate limiting",
        missing,
        f"usage plan{_s(len(plans))} {_listed(plan_text)}; stage "
        f"{_listed([_number(r) for r in stage_rates])} rps; WAF {_listed(waf)}",
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


def _burst_limits(ix: _Index) -> Protection:
    missing: list[str] = []
    plans = _usage_plans(ix)
    bursts = [(plan.props.get("Throttle") or {}).get("BurstLimit") for plan in plans]
    if not plans or None in bursts:
        missing.append("a usage plan without a burst limit")
    stage_bursts = [_stage_throttle(stage)[1] for stage in ix.of("AWS::ApiGateway::Stage")]
    if not stage_bursts or None in stage_bursts:
        missing.append("a stage without a default burst limit")
    windows = sorted({int(r.get("EvaluationWindowSec", 300)) for r in _rate_rules(ix)})
    if not windows:
        missing.append("no WAF rate-based rule")
    rates = [(plan.props.get("Throttle") or {}).get("RateLimit") for plan in plans]
    stage_text = _listed([_number(b) for b in stage_bursts])
    per_plan = [
        f"rate {_number(r)} rps, burst {_number(b)}" for r, b in zip(rates, bursts, strict=True)
    ]
    return _protection(
        4,
        "burst limits",
        missing,
        f"usage plan {_listed(per_plan)}; stage burst {stage_text}; "
        f"WAF rate window {_listed([f'{w} s' for w in windows])}",
    )


def _input_validation(ix: _Index) -> Protection:
    missing: list[str] = []
    methods = _methods(ix)
    if not methods:
        missing.append("no API method")
    models: set[str] = set()
    for method in methods:
        validator = ix.resolve(method, method.props.get("RequestValidatorId"))
        if validator is None or validator.props.get("ValidateRequestBody") is not True:
            missing.append(f"{_method_name(ix, method)} does not validate its body")
        request_models = method.props.get("RequestModels") or {}
        resolved = [ix.resolve(method, ref) for ref in request_models.values()]
        if not resolved or any(m is None or not m.props.get("Schema") for m in resolved):
            missing.append(f"{_method_name(ix, method)} has no JSON Schema model")
        for model in resolved:
            if model is not None:
                models.add(str((model.props.get("Schema") or {}).get("title", model.logical_id)))
        if (method.props.get("Integration") or {}).get("PassthroughBehavior") not in (
            "NEVER",
            None,
        ):
            missing.append(f"{_method_name(ix, method)} passes unmodelled content types through")
    sizes = [
        s
        for _, rule in _web_acl_rules(ix)
        for s in _nested(rule.get("Statement"), "SizeConstraintStatement")
        if "Body" in (s.get("FieldToMatch") or {})
    ]
    if not sizes:
        missing.append("no WAF body size limit")
    inspection = [
        g
        for g in _managed_groups(ix)
        if g in ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")
    ]
    if not inspection:
        missing.append("no WAF managed rules for bad inputs")
    return _protection(
        5,
        "input validation",
        missing,
        f"{len(methods)}/{len(methods)} methods validate the body against "
        f"JSON Schema {_listed(sorted(models))}, application/json only; WAF body limit "
        f"{_listed([_number(s.get('Size')) + ' B' for s in sizes])}; "
        f"{_listed([g.removeprefix('AWSManagedRules') for g in inspection])}",
    )


def _logging(ix: _Index) -> Protection:
    missing: list[str] = []
    stages = ix.of("AWS::ApiGateway::Stage")
    if not stages:
        missing.append("no API stage")
    for stage in stages:
        setting = stage.props.get("AccessLogSetting") or {}
        group = ix.resolve(stage, setting.get("DestinationArn"))
        if group is None or not str(setting.get("Format", "")).lstrip().startswith("{"):
            missing.append(f"stage {stage.logical_id} has no JSON access log")
        if stage.props.get("TracingEnabled") is not True:
            missing.append(f"stage {stage.logical_id} has X-Ray tracing off")
    acls = ix.of("AWS::WAFv2::WebACL")
    logged = {
        (c.stack, _ref(c.props.get("ResourceArn")))
        for c in ix.of("AWS::WAFv2::LoggingConfiguration")
    }
    unlogged = [a.logical_id for a in acls if (a.stack, a.logical_id) not in logged]
    if not acls:
        missing.append("no WAF web ACL")
    if unlogged:
        missing.append(f"web ACL without logs: {_listed(unlogged)}")
    groups = ix.of("AWS::Logs::LogGroup")
    if not groups:
        missing.append("no log group")
    bare = [g.logical_id for g in groups if not g.props.get("KmsKeyId")]
    forever = [g.logical_id for g in groups if not g.props.get("RetentionInDays")]
    if bare:
        missing.append(f"log groups without the KMS key: {_listed(bare)}")
    if forever:
        missing.append(f"log groups without retention: {_listed(forever)}")
    retention = sorted(
        {int(g.props["RetentionInDays"]) for g in groups if g.props.get("RetentionInDays")}
    )
    dashboards = len(ix.of("AWS::CloudWatch::Dashboard"))
    if not dashboards:
        missing.append("no dashboard")
    redacted = sorted(
        {
            str((field.get("SingleHeader") or {}).get("Name"))
            for c in ix.of("AWS::WAFv2::LoggingConfiguration")
            for field in c.props.get("RedactedFields", [])
            if "SingleHeader" in field
        }
    )
    return _protection(
        7,
        "logging and monitoring",
        missing,
        f"JSON access logs and X-Ray on {len(stages)} stage{_s(len(stages))}; WAF logs "
        f"{len(acls)}/{len(acls)} web ACLs (redacted: {_listed(redacted)}); "
        f"{len(groups)}/{len(groups)} log groups KMS-encrypted, kept "
        f"{_listed([f'{d} d' for d in retention])}; {dashboards} dashboard{_s(dashboards)}",
    )


def _protected_stages(ix: _Index) -> tuple[list[_Resource], list[_Resource]]:
    """The stages a WAF web ACL is associated with, and the others."""
    associated = {
        (a.stack, target)
        for a in ix.of("AWS::WAFv2::WebACLAssociation")
        for target in _refs_in(a.props.get("ResourceArn"))
    }
    stages = ix.of("AWS::ApiGateway::Stage")
    covered = [s for s in stages if (s.stack, s.logical_id) in associated]
    return covered, [s for s in stages if (s.stack, s.logical_id) not in associated]


def _gateway_controls(ix: _Index) -> Protection:
    missing: list[str] = []
    covered, bare = _protected_stages(ix)
    if not covered and not bare:
        missing.append("no API stage")
    if bare:
        missing.append(f"stage without a web ACL: {_listed([s.logical_id for s in bare])}")
    ip_rules = [
        str(rule.get("Name"))
        for _, rule in _web_acl_rules(ix)
        if _nested(rule.get("Statement"), "IPSetReferenceStatement")
    ]
    if not ip_rules:
        missing.append("no WAF IP list rule")
    if not ix.of("AWS::ApiGateway::RequestValidator"):
        missing.append("no request validator")
    ip_sets = len(ix.of("AWS::WAFv2::IPSet"))
    return _protection(
        8,
        "API gateway controls",
        missing,
        f"web ACL on {len(covered)}/{len(covered) + len(bare)} API stages; "
        f"IP list rules {_listed(ip_rules)} over {ip_sets} IP set{_s(ip_sets)}; "
        "request validation",
    )


def _policy_statements(ix: _Index) -> list[Mapping[str, Any]]:
    statements: list[Mapping[str, Any]] = []
    for policy in ix.of("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        statements += _as_list((policy.props.get("PolicyDocument") or {}).get("Statement"))
    for role in ix.of("AWS::IAM::Role"):
        for inline in role.props.get("Policies", []):
            statements += _as_list((inline.get("PolicyDocument") or {}).get("Statement"))
    return [s for s in statements if s.get("Effect") == "Allow"]


def _least_privilege(ix: _Index) -> Protection:
    missing: list[str] = []
    roles = ix.of("AWS::IAM::Role")
    if not roles:
        missing.append("no IAM role to check")
    statements = _policy_statements(ix)
    wildcards = sorted(
        {
            str(action)
            for s in statements
            for action in _as_list(s.get("Action"))
            if isinstance(action, str) and (action == "*" or action.endswith(":*"))
        }
    )
    if wildcards:
        missing.append(f"wildcard actions {_listed(wildcards)}")
    if any("NotAction" in s for s in statements):
        missing.append("an Allow with NotAction")
    on_any = sum(1 for s in statements if "*" in _as_list(s.get("Resource")))
    managed = sorted(
        {
            name
            for role in roles
            for arn in _as_list(role.props.get("ManagedPolicyArns"))
            if (name := _aws_managed_policy(arn))
        }
    )
    managed_note = f"; AWS managed: {_listed(managed)}" if managed else ""
    return _protection(
        9,
        "least privilege",
        missing,
        f"{len(roles)} role{_s(len(roles))}, {len(statements)} grant statements, no wildcard "
        f"action; Resource '*' only in {on_any} (actions without resource-level permissions)"
        f"{managed_note}",
    )


_AWS_MANAGED_POLICY = re.compile(r":iam::aws:policy/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)$")


def _strings(value: Any) -> str:
    """The literal parts of a value, joined (an ARN built with Fn::Join or Fn::Sub)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return "".join(_strings(inner) for key, inner in value.items() if key != "Ref")
    if isinstance(value, list):
        return "".join(_strings(inner) for inner in value)
    return ""


def _aws_managed_policy(arn: Any) -> str | None:
    match = _AWS_MANAGED_POLICY.search(_strings(arn))
    return match.group(1) if match else None


def _ddos(ix: _Index) -> Protection:
    missing: list[str] = []
    _, bare = _protected_stages(ix)
    if bare:
        missing.append(f"stage without a web ACL: {_listed([s.logical_id for s in bare])}")
    rates = _rate_rules(ix)
    groups = _managed_groups(ix)
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
    return _protection(
        10,
        "DDoS protection",
        missing,
        f"WAF: {len(rates)} rate rule{_s(len(rates))}, {len(groups)} managed rule group"
        f"{_s(len(groups))}; endpoint autoscaling capped at "
        f"{_listed([_number(c) for c in caps])} instances",
    )


def _shield(ix: _Index) -> Protection:
    protections = ix.of("AWS::Shield::Protection")
    if not protections:
        return Protection(
            10,
            "Shield Advanced",
            Status.OPT_IN,
            "opt-in (off): shield_advanced=True puts CloudFront and Shield Advanced in front",
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
        f"{len(protections)} protection{_s(len(protections))} on {len(distributions)} CloudFront "
        f"distribution{_s(len(distributions))}; automatic layer-7 response on "
        f"{len(automatic)}/{len(protections)}",
    )


def _secrets(ix: _Index) -> Protection:
    missing: list[str] = []
    secrets = ix.of("AWS::SecretsManager::Secret")
    if not secrets:
        missing.append("no Secrets Manager secret")
    schedules = {
        (s.stack, _ref(s.props.get("SecretId"))): s
        for s in ix.of("AWS::SecretsManager::RotationSchedule")
    }
    unrotated = [s.logical_id for s in secrets if (s.stack, s.logical_id) not in schedules]
    if unrotated:
        missing.append(f"secrets never rotated: {_listed(unrotated)}")
    unkeyed = [s.logical_id for s in secrets if not s.props.get("KmsKeyId")]
    if unkeyed:
        missing.append(f"secrets without the KMS key: {_listed(unkeyed)}")
    intervals = sorted(
        {
            str(
                (s.props.get("RotationRules") or {}).get("ScheduleExpression")
                or f"every {(s.props.get('RotationRules') or {}).get('AutomaticallyAfterDays')} d"
            )
            for s in schedules.values()
        }
    )
    keys = ix.of("AWS::ApiGateway::ApiKey")
    literal = [k.logical_id for k in keys if isinstance(k.props.get("Value"), str)]
    if literal:
        missing.append(f"API key value written in the template: {_listed(literal)}")
    from_secrets = sum(1 for k in keys if "{{resolve:secretsmanager:" in json.dumps(k.props))
    return _protection(
        11,
        "secrets management",
        missing,
        f"{len(secrets)}/{len(secrets)} secrets KMS-encrypted, rotated "
        f"{_listed(intervals)}; {from_secrets}/{len(keys)} API keys resolved from "
        "Secrets Manager (no credential in the template)",
    )


_REQUIRED_ERROR_STATUSES = ("400", "401", "403", "404", "429", "500")


def _clear_responses(ix: _Index) -> Protection:
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
        for m in _methods(ix)
        for answer in (m.props.get("Integration") or {}).get("IntegrationResponses", [])
        if str(answer.get("StatusCode", "")).startswith(("4", "5"))
        and "application/json" in (answer.get("ResponseTemplates") or {})
    )
    return _protection(
        12,
        "clear HTTP responses",
        missing,
        f"JSON error bodies for {' '.join(json_statuses)} ({len(responses)} gateway responses) "
        f"and {model_errors} model error mapping{_s(model_errors)}",
    )


def _scheduled_functions(ix: _Index) -> list[tuple[str, str]]:
    """(handler module, schedule) of each Lambda function an EventBridge schedule runs."""
    found = []
    for rule in ix.of("AWS::Events::Rule"):
        schedule = rule.props.get("ScheduleExpression")
        if not schedule or rule.props.get("State", "ENABLED") != "ENABLED":
            continue
        for target in rule.props.get("Targets", []):
            function = ix.resolve(rule, target.get("Arn"))
            if function is not None and function.type == "AWS::Lambda::Function":
                handler = str(function.props.get("Handler", function.logical_id))
                found.append((handler.split(".", 1)[0], str(schedule)))
    return found


def _anomaly_detection(ix: _Index) -> Protection:
    missing: list[str] = []
    detectors = ix.of("AWS::CloudWatch::AnomalyDetector")
    bands = [a for a in ix.of("AWS::CloudWatch::Alarm") if a.props.get("ThresholdMetricId")]
    if not bands:
        missing.append("no anomaly-band alarm")
    silent = [a.logical_id for a in bands if not a.props.get("AlarmActions")]
    if silent:
        missing.append(f"anomaly alarms that notify no one: {_listed(silent)}")
    monitors = [(name, when) for name, when in _scheduled_functions(ix) if "anomaly" in name]
    if not monitors:
        missing.append("no scheduled anomaly monitor function")
    return _protection(
        13,
        "anomaly detection with alerts",
        missing,
        f"{len(bands)} anomaly-band alarm{_s(len(bands))} on {len(detectors)} detector"
        f"{_s(len(detectors))}, alerting SNS; "
        f"{_listed([f'{name} {when}' for name, when in monitors])}",
    )


def _isolation(ix: _Index) -> Protection:
    missing: list[str] = []
    models = ix.of("AWS::SageMaker::Model")
    if not models:
        missing.append("no SageMaker model")
    subnets: set[str] = set()
    for model in models:
        if model.props.get("EnableNetworkIsolation") is not True:
            missing.append(f"network isolation off on {model.logical_id}")
        vpc = model.props.get("VpcConfig") or {}
        if not vpc.get("Subnets"):
            missing.append(f"{model.logical_id} runs outside a VPC")
        subnets |= {json.dumps(s, sort_keys=True) for s in vpc.get("Subnets", [])}
    gateways = ix.of(
        "AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EgressOnlyInternetGateway"
    )
    public = [
        s.logical_id
        for s in ix.of("AWS::EC2::Subnet")
        if s.props.get("MapPublicIpOnLaunch") is True
    ]
    if public:
        missing.append(f"public subnets {_listed(public)}")
    endpoints = len(ix.of("AWS::EC2::VPCEndpoint"))
    egress = (
        "no internet or NAT gateway in the stack"
        if not gateways
        else f"{len(gateways)} internet/NAT gateway{_s(len(gateways))} in the stack"
    )
    return _protection(
        14,
        "model isolation",
        missing,
        f"network isolation on {len(models)}/{len(models)} models, in "
        f"{len(subnets)} private subnet{_s(len(subnets))}; {egress}; {endpoints} VPC endpoints",
    )


_TAMPER_WORDS = re.compile(r"tamper|digest|artifact|integrity", re.IGNORECASE)


def _alarm_metrics(alarm: _Resource) -> list[tuple[str, str]]:
    """(namespace, metric name) of every metric an alarm watches, math alarms included."""
    metrics = [(alarm.props.get("Namespace"), alarm.props.get("MetricName"))]
    for query in alarm.props.get("Metrics", []):
        metric = (query.get("MetricStat") or {}).get("Metric") or {}
        metrics.append((metric.get("Namespace"), metric.get("MetricName")))
    return [(str(ns), str(name)) for ns, name in metrics if ns and name]


def _tamper_alarms(ix: _Index) -> list[tuple[_Resource, str]]:
    """Alarms on the artifact's own integrity metric (not on an AWS/* service metric such as
    the checking function's errors), or that say they watch for tampering; with the metric."""
    found = []
    for alarm in ix.of("AWS::CloudWatch::Alarm"):
        own = [
            name
            for namespace, name in _alarm_metrics(alarm)
            if not namespace.startswith("AWS/") and _TAMPER_WORDS.search(f"{namespace} {name}")
        ]
        if own or "tamper" in str(alarm.props.get("AlarmDescription", "")).lower():
            found.append((alarm, own[0] if own else alarm.logical_id))
    return found


def _integrity(ix: _Index) -> Protection:
    missing: list[str] = []
    checks = [r for r in ix.resources if r.type.startswith("Custom::") and r.props.get("Sha256")]
    if not checks:
        missing.append("no SHA-256 check of the model artifact")
    check_ids = {(c.stack, c.logical_id) for c in checks}
    models = ix.of("AWS::SageMaker::Model")
    unchecked = [
        m.logical_id for m in models if not any((m.stack, d) in check_ids for d in m.depends_on)
    ]
    if checks and unchecked:
        missing.append(f"models created without waiting for the check: {_listed(unchecked)}")
    checkers = {
        (c.stack, _ref(c.props.get("ServiceToken")))
        for c in checks
        if _ref(c.props.get("ServiceToken"))
    }
    rechecks = sorted(
        {
            str(rule.props.get("ScheduleExpression"))
            for rule in ix.of("AWS::Events::Rule")
            if rule.props.get("ScheduleExpression")
            and any(
                (rule.stack, _ref(t.get("Arn"))) in checkers for t in rule.props.get("Targets", [])
            )
        }
    )
    tamper = _tamper_alarms(ix)
    if not tamper:
        missing.append("tamper alarm on the artifact")
    verified = (
        f"SHA-256 verified by {_listed(sorted({c.type for c in checks}))} before "
        f"{len(models) - len(unchecked)}/{len(models)} models exist"
    )
    if rechecks:
        verified += f", re-checked {_listed(rechecks)}"
    if checks and missing:  # say what is there as well as what is not
        return Protection(15, "model and data integrity", Status.MISSING,
                          f"{verified}; missing: {'; '.join(missing)}")  # fmt: skip
    return _protection(
        15,
        "model and data integrity",
        missing,
        f"{verified}; tamper alarm on {_listed([metric for _, metric in tamper])}",
    )


_MANIFEST_PREFIX = "SecureEndpointManifest"  # secure_endpoint.manifest.OUTPUT_PREFIX


def _incident_response(ix: _Index) -> Protection:
    missing: list[str] = []
    topics = ix.of("AWS::SNS::Topic")
    if not topics:
        missing.append("no SNS topic for alerts")
    alarms = ix.of("AWS::CloudWatch::Alarm")
    silent = [a.logical_id for a in alarms if not a.props.get("AlarmActions")]
    if silent:
        missing.append(f"alarms that notify no one: {_listed(silent)}")
    no_runbook = [
        a.logical_id
        for a in alarms
        if "runbook" not in str(a.props.get("AlarmDescription", "")).lower()
    ]
    if no_runbook:
        missing.append(f"alarms without a runbook link: {_listed(no_runbook)}")
    if not alarms:
        missing.append("no alarm")
    expiring = [
        t
        for t in ix.of("AWS::DynamoDB::Table")
        if (t.props.get("TimeToLiveSpecification") or {}).get("Enabled")
    ]
    if not any(o.startswith(_MANIFEST_PREFIX) for o in ix.outputs()):
        missing.append(
            f"the endpoint manifest the response commands read ({_MANIFEST_PREFIX}...)"
        )
    block = "auto-block list with expiry (DynamoDB TTL)" if expiring else "no expiring block list"
    return _protection(
        16,
        "incident response",
        missing,
        f"{len(alarms)}/{len(alarms)} alarms notify {len(topics)} SNS topic{_s(len(topics))} "
        f"and link the runbook; {block}; block/revoke/rotate commands find their targets in "
        "the endpoint's manifest output",
    )


_REPUTATION_GROUPS = ("AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesAnonymousIpList")


def _threat_intelligence(ix: _Index) -> Protection:
    groups = [g for g in _managed_groups(ix) if g in _REPUTATION_GROUPS]
    feeds = [name for name, _ in _scheduled_functions(ix) if "threat_intel" in name]
    missing = [] if groups else ["no AWS managed reputation list"]
    feed_note = (
        f"public feeds refreshed by {_listed(feeds)}"
        if feeds
        else "public IP reputation feeds opt-in (off)"
    )
    return _protection(
        17,
        "threat intelligence",
        missing,
        f"{_listed([g.removeprefix('AWSManagedRules') for g in groups])}; {feed_note}",
    )


_COMPLIANCE_PACKS = ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")


def scan_protections(
    open_findings: Mapping[str, int],
    acknowledged: int,
    lint_errors: int,
    lint_warnings: int,
    templates: Mapping[str, Template],
) -> list[Protection]:
    """Controls 6 and 18: from the scans (open cdk-nag findings per pack, cfn-lint counts) and,
    for data capture, the templates."""
    missing = []
    if not open_findings:
        missing.append("no cdk-nag pack ran")
    total_open = sum(open_findings.values())
    if total_open:
        missing.append(f"{total_open} open cdk-nag findings")
    if lint_errors:
        missing.append(f"{lint_errors} cfn-lint errors")
    scanning = _protection(
        6,
        "vulnerability scanning",
        missing,
        f"cdk-nag {len(open_findings)} packs: 0 open, {acknowledged} acknowledged with a reason; "
        f"cfn-lint: 0 errors, {lint_warnings} warnings",
    )
    absent = [p for p in _COMPLIANCE_PACKS if p not in open_findings]
    failing = [p for p in _COMPLIANCE_PACKS if open_findings.get(p)]
    compliance_missing = []
    if absent:
        compliance_missing.append(f"packs not run: {', '.join(absent)}")
    if failing:
        compliance_missing.append(f"open findings in {', '.join(failing)}")
    ix = _Index(templates)
    capturing = [
        c
        for c in ix.of("AWS::SageMaker::EndpointConfig")
        if (c.props.get("DataCaptureConfig") or {}).get("EnableCapture")
    ]
    attributable = any(
        "X-Amzn-SageMaker-Inference-Id" in json.dumps(m.props.get("Integration") or {})
        for m in _methods(ix)
    )
    capture = ("data capture on" if capturing else "data capture opt-in (off)") + (
        ", each record names its OAuth client" if attributable else ""
    )
    compliance_line = _protection(
        18,
        "compliance",
        compliance_missing,
        f"{', '.join(_COMPLIANCE_PACKS)} clean; {capture}",
    )
    return [scanning, compliance_line]

"""Baseline checks of who may call and what is kept secret: authentication (1), encryption in
transit and at rest (2), least privilege (9) and secrets management (11)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from demo.protection import Protection, listed, plural, protection
from demo.template_index import Index, api_methods, as_list, method_name, ref


def authentication(ix: Index) -> Protection:
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
    methods = api_methods(ix)
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
            missing.append(f"{method_name(ix, method)} is not authorized by a Cognito scope")
        scopes.update(str(s) for s in method_scopes)
    return protection(
        1,
        "authentication",
        missing,
        f"Cognito OAuth client credentials ({len(machine)} app client{plural(len(machine))}, "
        f"self sign-up off); {len(methods)}/{len(methods)} methods require "
        f"{listed(sorted(scopes))}",
    )


_TLS_12_PLUS = re.compile(r"TLS_?1_?[23]|TLS1[23]")


def tls(ix: Index) -> Protection:
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
    return protection(
        2,
        "TLS in transit",
        missing,
        f"API security policy {listed(sorted(policies))} (TLS 1.2+, HTTPS only)"
        f"{', endpoint access mode STRICT' if strict else ''}{cloudfront}",
    )


def encryption_at_rest(ix: Index) -> Protection:
    missing: list[str] = []
    keys = ix.of("AWS::KMS::Key")
    if not keys:
        missing.append("no customer-managed KMS key")
    static = [k.logical_id for k in keys if k.props.get("EnableKeyRotation") is not True]
    if static:
        missing.append(f"key rotation off on {listed(static)}")

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
            missing.append(f"{label} without the KMS key: {listed(plain)}")
        if found and label != "captured data":
            shown.append(f"{len(found) - len(plain)}/{len(found)} {label}")
    buckets = ix.of("AWS::S3::Bucket")
    with_kms = sum(1 for b in buckets if "aws:kms" in json.dumps(b.props.get("BucketEncryption")))
    bucket_note = (
        f"; buckets: {with_kms} KMS, {len(buckets) - with_kms} S3-managed" if buckets else ""
    )
    return protection(
        2,
        "encryption at rest",
        missing,
        f"{len(keys)} customer-managed KMS key{plural(len(keys))}, rotation on; encrypts "
        f"{', '.join(shown)}{bucket_note}",
    )


def _policy_statements(ix: Index) -> list[Mapping[str, Any]]:
    statements: list[Mapping[str, Any]] = []
    for policy in ix.of("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        statements += as_list((policy.props.get("PolicyDocument") or {}).get("Statement"))
    for role in ix.of("AWS::IAM::Role"):
        for inline in role.props.get("Policies", []):
            statements += as_list((inline.get("PolicyDocument") or {}).get("Statement"))
    return [s for s in statements if s.get("Effect") == "Allow"]


def least_privilege(ix: Index) -> Protection:
    missing: list[str] = []
    roles = ix.of("AWS::IAM::Role")
    if not roles:
        missing.append("no IAM role to check")
    statements = _policy_statements(ix)
    wildcards = sorted(
        {
            str(action)
            for s in statements
            for action in as_list(s.get("Action"))
            if isinstance(action, str) and (action == "*" or action.endswith(":*"))
        }
    )
    if wildcards:
        missing.append(f"wildcard actions {listed(wildcards)}")
    if any("NotAction" in s for s in statements):
        missing.append("an Allow with NotAction")
    on_any = sum(1 for s in statements if "*" in as_list(s.get("Resource")))
    managed = sorted(
        {
            name
            for role in roles
            for arn in as_list(role.props.get("ManagedPolicyArns"))
            if (name := _aws_managed_policy(arn))
        }
    )
    managed_note = f"; AWS managed: {listed(managed)}" if managed else ""
    return protection(
        9,
        "least privilege",
        missing,
        f"{len(roles)} role{plural(len(roles))}, {len(statements)} grant statements, no wildcard "
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


def secrets(ix: Index) -> Protection:
    missing: list[str] = []
    secrets = ix.of("AWS::SecretsManager::Secret")
    if not secrets:
        missing.append("no Secrets Manager secret")
    schedules = {
        (s.stack, ref(s.props.get("SecretId"))): s
        for s in ix.of("AWS::SecretsManager::RotationSchedule")
    }
    unrotated = [s.logical_id for s in secrets if (s.stack, s.logical_id) not in schedules]
    if unrotated:
        missing.append(f"secrets never rotated: {listed(unrotated)}")
    unkeyed = [s.logical_id for s in secrets if not s.props.get("KmsKeyId")]
    if unkeyed:
        missing.append(f"secrets without the KMS key: {listed(unkeyed)}")
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
        missing.append(f"API key value written in the template: {listed(literal)}")
    from_secrets = sum(1 for k in keys if "{{resolve:secretsmanager:" in json.dumps(k.props))
    return protection(
        11,
        "secrets management",
        missing,
        f"{len(secrets)}/{len(secrets)} secrets KMS-encrypted, rotated "
        f"{listed(intervals)}; {from_secrets}/{len(keys)} API keys resolved from "
        "Secrets Manager (no credential in the template)",
    )

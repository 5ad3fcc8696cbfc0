"""AWS WAF in front of the API stage: allow, deny and auto-block lists, rate rules, managed
rule groups and a body size limit, with logs.

The rules come from the builders of ``waf_rules``, in its bands (lower is evaluated first):
the origin secret and the allowlist, then the deny, auto-block and threat intelligence lists
and countries, then the per-address and per-API-key rates, the body size, and last the AWS
managed rule groups. Logging is ``waf_logging.add_waf_logging``.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_cdk import Annotations, Duration, Fn, Names, Stack, Token
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from secure_endpoint.constructs import _metrics as metrics
from secure_endpoint.constructs import _validation as check
from secure_endpoint.constructs.waf_logging import REDACTED_HEADERS, add_waf_logging
from secure_endpoint.constructs.waf_rules import (
    ALLOWLIST_RULE,
    AUTO_BLOCK_RULE,
    BLOCKED_IP_SETS_RULE,
    BODY_SIZE_RULE,
    CSV_BODY_RULE,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_RATE_LIMIT_PER_API_KEY,
    DEFAULT_RATE_LIMIT_PER_IP,
    DEFAULT_RATE_WINDOW_SEC,
    DENY_LIST_RULE,
    FORWARDED_FOR_HEADER,
    GEO_RULE,
    ORIGIN_SECRET_RULE,
    ORIGIN_VERIFY_HEADER,
    RATE_LIMIT_PER_API_KEY_RULE,
    RATE_LIMIT_PER_IP_RULE,
    Band,
    RuleBuilder,
    api_key_rate_rule,
    body_size_rule,
    csv_body_rule,
    geo_rule,
    ip_set_rule,
    managed_rule,
    origin_secret_rule,
    rate_rule,
    response_body_keys,
    visibility,
    waf_error_body,
    waf_response_bodies,
    window_seconds,
    with_priorities,
)

__all__ = [
    "ALLOWLIST_RULE",
    "AUTO_BLOCK_RULE",
    "BLOCKED_IP_SETS_RULE",
    "BODY_SIZE_RULE",
    "CSV_BODY_RULE",
    "DEFAULT_MANAGED_RULE_GROUPS",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_RATE_LIMIT_PER_API_KEY",
    "DEFAULT_RATE_LIMIT_PER_IP",
    "DEFAULT_RATE_WINDOW_SEC",
    "DENY_LIST_RULE",
    "FORWARDED_FOR_HEADER",
    "GEO_RULE",
    "MAX_IP_SET_ADDRESSES",
    "ORIGIN_SECRET_RULE",
    "ORIGIN_VERIFY_HEADER",
    "RATE_LIMIT_PER_API_KEY_RULE",
    "RATE_LIMIT_PER_IP_RULE",
    "REDACTED_HEADERS",
    "SOURCE_ADDRESS_RULE_GROUPS",
    "WebAclProtection",
    "add_waf_logging",
    "waf_error_body",
    "waf_response_bodies",
]

if TYPE_CHECKING:
    from secure_endpoint.constructs.threat_intel import ThreatIntelFeed

DEFAULT_MANAGED_RULE_GROUPS: tuple[str, ...] = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesAnonymousIpList",
)
#: Managed rule groups that judge the source address; behind CloudFront the regional web ACL
#: sees CloudFront's addresses (which the anonymous IP list counts as a hosting provider), so
#: these belong in the CloudFront web ACL.
SOURCE_ADDRESS_RULE_GROUPS = frozenset(
    {"AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesAnonymousIpList"}
)
MAX_IP_SET_ADDRESSES = 10_000

_MAX_BLOCKED_IP_SETS = 10

_RequestBodyConfig = wafv2.CfnWebACL.RequestBodyAssociatedResourceTypeConfigProperty


class WebAclProtection(Construct):
    """A REGIONAL AWS WAF web ACL associated with an API Gateway stage, with logs.

    The web ACL allows by default and blocks, in this order (see the module's bands):

    - when ``origin_secret`` is given, every request without the CloudFront origin secret header
      (403 JSON), so that nobody reaches the stage around CloudFront;
    - when ``allowed_cidrs`` is given, every request from another address (403 JSON). Allowed
      addresses still pass every rule below: the allowlist narrows who may try, it does not
      exempt them (a default action of block with an allow rule would skip the rate rules);
    - addresses in the deny list (``denied_cidrs``), in the auto-block list (which the anomaly
      monitor and operators write, initially empty), in ``blocked_ip_sets`` (threat
      intelligence), and from ``blocked_countries`` or outside ``allowed_countries`` (403 JSON);
    - more than ``rate_limit_per_ip`` requests from one address, or ``rate_limit_per_api_key``
      requests with one ``x-api-key`` value, within ``rate_window``: 429 JSON with a
      ``Retry-After`` header of the window length;
    - request bodies larger than ``max_body_bytes``: 413 JSON;
    - what the AWS managed rule groups block (their own actions unless overridden), answered by
      API Gateway's ``WAF_FILTERED`` gateway response.

    Every rule and the web ACL emit CloudWatch metrics and sampled requests. Requests are logged
    to a KMS-encrypted log group named ``aws-waf-logs-...`` (WAF requires the prefix) with the
    ``REDACTED_HEADERS`` redacted. When logging is set up, AWS adds the log-delivery resource
    policy for this log group itself, provided the deploying principal (the CloudFormation
    execution role) may call ``logs:CreateLogDelivery``, ``logs:PutResourcePolicy``,
    ``logs:DescribeResourcePolicies`` and ``logs:DescribeLogGroups``; so no
    ``logs.ResourcePolicy`` is created here. The log group outlives the stack (RETAIN) and its
    name follows the construct path, so delete it before re-creating a deleted stack.

    Behind CloudFront (``origin_secret`` given) the source address of every request is a
    CloudFront server: the IP set rules then read the viewer's address from the last entry of
    ``X-Forwarded-For`` (CloudFront appends it; what a viewer wrote before it is ignored), and
    the rules that cannot do so safely (the per-address rate rule, geo rules and the managed
    groups in ``SOURCE_ADDRESS_RULE_GROUPS``) are left to the CloudFront web ACL, which sees the
    real address: giving them here is an error, or, for the rule groups, they are skipped.

    :param stage: the API Gateway stage to protect.
    :param key: the KMS key of the log group; CloudWatch Logs of this account and region must be
        allowed to use it (``EncryptionKey`` is).
    :param rate_limit_per_ip: requests one source address may send within ``rate_window``,
        10 to 2,000,000,000. Default: - 1000
    :param rate_limit_per_api_key: requests carrying one ``x-api-key`` value within
        ``api_key_rate_window``, 10 to 2,000,000,000; requests without the header are not
        counted by this rule (API Gateway refuses them). Keep it above what the most generous
        usage plan allows in the window: it stops floods before they cost an authorizer call,
        the usage plans do the fine-grained throttling. Default: - 3000 (10 requests a second)
    :param rate_window: the window of the per-address rate rule: 1, 2, 5 or 10 minutes.
        Default: - 5 minutes
    :param api_key_rate_window: the window of the per-API-key rate rule: 1, 2, 5 or 10 minutes.
        Default: - ``rate_window``
    :param managed_rule_groups: AWS managed rule groups, evaluated in this order, at most 20.
        The Common Rule Set's ``SizeRestrictions_BODY`` (8 KB) is set to count, because the
        body size rule enforces ``max_body_bytes``. The anonymous IP list also blocks hosting
        providers' addresses, where server-side clients often run: such clients need the
        allowlist or a list without that group.
        Default: - ``DEFAULT_MANAGED_RULE_GROUPS`` (common, known bad inputs, Amazon IP
        reputation, anonymous IP)
    :param managed_rule_overrides: per group, rule name to action, 'COUNT' (observe without
        blocking, for example while tuning false positives) or 'BLOCK'; the key '*' sets the
        whole group to count. Every COUNT is reported as a synth warning.
        Default: - the groups' own actions
    :param max_body_bytes: the largest request body allowed, 1 to 65,536 bytes. A REGIONAL web
        ACL inspects a body only up to the body inspection limit of the protected resource:
        16 KB by default for API Gateway. The web ACL's API Gateway limit is set to the smallest
        of 16, 32, 48 or 64 KB that covers ``max_body_bytes`` (limits over 16 KB cost extra; see
        AWS WAF pricing), and a body beyond the limit counts as too large (oversize handling
        MATCH), so no body escapes by being too big to inspect. Default: - 64 KiB
    :param log_retention: how long WAF logs are kept. Default: - one year
    :param allowed_cidrs: when given, requests from any other address are blocked first
        (IPv4 and IPv6 IP sets, at most 10,000 blocks each). Default: - every address may try
    :param denied_cidrs: addresses always blocked (IPv4 and IPv6 IP sets, at most 10,000 blocks
        each, none overlapping ``allowed_cidrs``). The sets exist even when empty, so that
        operators granted ``grant_update_deny_list`` can add to them; a deploy that changes this
        prop replaces what they hold. Default: - none
    :param blocked_ip_sets: further IP sets to block, such as threat intelligence feeds
        (``ThreatIntelFeeds.ip_sets``), at most 10. Default: - none
    :param blocked_countries: ISO 3166 alpha-2 codes of countries whose requests are blocked.
        Default: - none
    :param allowed_countries: when given, requests from every other country are blocked;
        exclusive with ``blocked_countries``. Default: - every country
    :param origin_secret: the secret CloudFront sends in the ``x-origin-verify`` header: the
        stage then answers only requests that carry it (see above). The secret's rotation
        rewrites the rule's two accepted values (``ORIGIN_SECRET_RULE``).
        Default: - the stage is reached directly
    :param csv_forbidden_characters: a regular expression (PCRE, as WAF reads it): a
        ``text/csv`` body holding a match is blocked with 400 ``invalid_body`` (the CSV input
        constraints). Default: - CSV bodies are not inspected
    :param web_acl: a web ACL of your own (REGIONAL) to associate with the stage instead. Nothing
        else is created: no rules, no IP sets, no log group, no logging configuration; it must
        then not be combined with the rule, list or logging props.
        Default: - a web ACL as described above
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: apigw.Stage,
        key: kms.IKey,
        rate_limit_per_ip: int = DEFAULT_RATE_LIMIT_PER_IP,
        rate_limit_per_api_key: int = DEFAULT_RATE_LIMIT_PER_API_KEY,
        rate_window: Duration | None = None,
        api_key_rate_window: Duration | None = None,
        managed_rule_groups: Sequence[str] = DEFAULT_MANAGED_RULE_GROUPS,
        managed_rule_overrides: Mapping[str, Mapping[str, str]] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        allowed_cidrs: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network] = (),
        denied_cidrs: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network] = (),
        blocked_ip_sets: Sequence[wafv2.CfnIPSet] = (),
        blocked_countries: Sequence[str] = (),
        allowed_countries: Sequence[str] = (),
        origin_secret: secretsmanager.ISecret | None = None,
        csv_forbidden_characters: str | None = None,
        web_acl: wafv2.CfnWebACL | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        window_sec = window_seconds("rate_window", rate_window)
        key_window_sec = (
            window_sec
            if api_key_rate_window is None
            else window_seconds("api_key_rate_window", api_key_rate_window)
        )
        check.waf_rate_limit("rate_limit_per_ip", rate_limit_per_ip)
        check.waf_rate_limit("rate_limit_per_api_key", rate_limit_per_api_key)
        groups = check.waf_managed_rule_groups(
            "managed_rule_groups", managed_rule_groups, Band.MANAGED.size
        )
        overrides = check.waf_rule_overrides(
            "managed_rule_overrides", managed_rule_overrides or {}, groups
        )
        inspection_limit = check.waf_body_inspection_limit("max_body_bytes", max_body_bytes)
        check.disjoint_cidrs("allowed_cidrs", allowed_cidrs, "denied_cidrs", denied_cidrs)
        blocked_countries = check.country_codes("blocked_countries", blocked_countries)
        allowed_countries = check.country_codes("allowed_countries", allowed_countries)
        if blocked_countries and allowed_countries:
            raise ValueError(
                "give blocked_countries or allowed_countries, not both (got "
                f"blocked_countries={blocked_countries}, allowed_countries={allowed_countries})"
            )
        if len(blocked_ip_sets) > _MAX_BLOCKED_IP_SETS:
            raise ValueError(
                f"blocked_ip_sets may hold at most {_MAX_BLOCKED_IP_SETS} IP sets, "
                f"got {len(blocked_ip_sets)}"
            )
        behind_cloudfront = origin_secret is not None
        if behind_cloudfront:
            _refuse_source_address_rules(
                rate_limit_per_ip=rate_limit_per_ip,
                rate_window_sec=window_sec,
                countries=bool(blocked_countries or allowed_countries),
            )

        self.log_group: logs.LogGroup | None = None
        self._rule_names: frozenset[str] | None = None
        self.allowed_ip_sets: list[wafv2.CfnIPSet] = []
        self.deny_ip_sets: list[wafv2.CfnIPSet] = []
        self.auto_block_ip_sets: list[wafv2.CfnIPSet] = []
        if web_acl is not None:
            _only_associate(
                web_acl,
                rate_limit_per_ip=rate_limit_per_ip,
                rate_limit_per_api_key=rate_limit_per_api_key,
                rate_window_sec=window_sec,
                api_key_rate_window_sec=key_window_sec,
                managed_rule_groups=groups,
                managed_rule_overrides=overrides,
                max_body_bytes=max_body_bytes,
                log_retention=log_retention,
                allowed_cidrs=allowed_cidrs,
                denied_cidrs=denied_cidrs,
                blocked_ip_sets=blocked_ip_sets,
                countries=[*blocked_countries, *allowed_countries],
                origin_secret=origin_secret,
            )
            if csv_forbidden_characters is not None:
                Annotations.of(self).add_warning_v2(
                    "secure-endpoint:csv-body-unchecked",
                    "The input constraints take text/csv bodies, which only the WAF can check, "
                    "and web_acl is your own: add a rule blocking a text/csv body that matches "
                    f"{csv_forbidden_characters} with 400, or bodies reach the model unchecked.",
                )
            self.web_acl = web_acl
        else:
            if behind_cloudfront:
                groups = [group for group in groups if group not in SOURCE_ADDRESS_RULE_GROUPS]
            elif not groups:
                Annotations.of(self).add_warning_v2(
                    "secure-endpoint:waf-no-managed-rules",
                    "managed_rule_groups is empty: the web ACL blocks no known exploits, bad "
                    "inputs or malicious IPs, only floods and oversized bodies.",
                )
            _warn_of_counting(self, overrides)
            self.allowed_ip_sets = self._ip_sets(
                "Allowed", "addresses allowed to call", allowed_cidrs, "allowed_cidrs", empty=False
            )
            self.deny_ip_sets = self._ip_sets(
                "Denied",
                "addresses always blocked, listed by operators",
                denied_cidrs,
                "denied_cidrs",
            )
            self.auto_block_ip_sets = self._ip_sets(
                "AutoBlocked",
                "addresses blocked for a while by the anomaly monitor or operators",
                (),
            )
            forwarded = behind_cloudfront
            allow: list[RuleBuilder] = []
            if origin_secret is not None:
                value = origin_secret.secret_value.unsafe_unwrap()
                allow.append(functools.partial(origin_secret_rule, ORIGIN_SECRET_RULE, value=value))
            if self.allowed_ip_sets:
                allow.append(
                    functools.partial(
                        ip_set_rule,
                        ALLOWLIST_RULE,
                        ip_sets=self.allowed_ip_sets,
                        forwarded=forwarded,
                        negate=True,
                    )
                )
            deny: list[RuleBuilder] = [
                functools.partial(
                    ip_set_rule, name, ip_sets=ip_sets, forwarded=forwarded, negate=False
                )
                for name, ip_sets in (
                    (DENY_LIST_RULE, self.deny_ip_sets),
                    (AUTO_BLOCK_RULE, self.auto_block_ip_sets),
                    (BLOCKED_IP_SETS_RULE, list(blocked_ip_sets)),
                )
                if ip_sets
            ]
            if blocked_countries or allowed_countries:
                deny.append(
                    functools.partial(
                        geo_rule,
                        GEO_RULE,
                        countries=blocked_countries or allowed_countries,
                        negate=bool(allowed_countries),
                    )
                )
            rate: list[RuleBuilder] = [
                functools.partial(
                    api_key_rate_rule,
                    RATE_LIMIT_PER_API_KEY_RULE,
                    limit=rate_limit_per_api_key,
                    window_sec=key_window_sec,
                )
            ]
            if not behind_cloudfront:
                rate.insert(
                    0,
                    functools.partial(
                        rate_rule,
                        RATE_LIMIT_PER_IP_RULE,
                        limit=rate_limit_per_ip,
                        window_sec=window_sec,
                    ),
                )
            rules = with_priorities(
                {
                    Band.ALLOW: allow,
                    Band.DENY: deny,
                    Band.RATE: rate,
                    Band.BODY_SIZE: [
                        functools.partial(body_size_rule, BODY_SIZE_RULE, max_bytes=max_body_bytes)
                    ],
                    Band.BODY_SHAPE: [
                        functools.partial(
                            csv_body_rule, CSV_BODY_RULE, forbidden=csv_forbidden_characters
                        )
                    ]
                    if csv_forbidden_characters is not None
                    else [],
                    Band.MANAGED: [
                        functools.partial(managed_rule, name, overrides=overrides.get(name, {}))
                        for name in groups
                    ],
                }
            )
            self.web_acl = wafv2.CfnWebACL(
                self,
                "WebAcl",
                scope="REGIONAL",
                description=(
                    "secure-endpoint: allow, deny and auto-block lists, rate limits, body size "
                    "and AWS managed rules"
                ),
                default_action=wafv2.CfnWebACL.DefaultActionProperty(
                    allow=wafv2.CfnWebACL.AllowActionProperty()
                ),
                visibility_config=visibility(Names.unique_id(self)),
                rules=rules,
                custom_response_bodies={
                    body_key: body
                    for body_key, body in waf_response_bodies(max_body_bytes).items()
                    if body_key in response_body_keys(rules)
                },
                association_config=wafv2.CfnWebACL.AssociationConfigProperty(
                    request_body={
                        "API_GATEWAY": _RequestBodyConfig(
                            default_size_inspection_limit=inspection_limit
                        )
                    }
                ),
            )
            self._rule_names = frozenset(r.name for r in rules)
            self.log_group = add_waf_logging(self, self.web_acl_arn, key, log_retention)

        self.association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl_arn
        )

    def _ip_sets(
        self,
        name: str,
        purpose: str,
        cidrs: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network],
        prop: str = "",
        *,
        empty: bool = True,
    ) -> list[wafv2.CfnIPSet]:
        """An IPv4 and an IPv6 set of ``cidrs``; with ``empty=False``, only non-empty ones."""
        ip_sets = []
        for version, family in ((4, "IPV4"), (6, "IPV6")):
            blocks = sorted(str(c) for c in cidrs if c.version == version)
            if len(blocks) > MAX_IP_SET_ADDRESSES:
                raise ValueError(
                    f"{prop} holds {len(blocks)} IPv{version} blocks; a WAF IP set takes "
                    f"at most {MAX_IP_SET_ADDRESSES}: aggregate them into wider blocks"
                )
            if blocks or empty:
                ip_sets.append(
                    wafv2.CfnIPSet(
                        self,
                        f"{name}Ipv{version}",
                        scope="REGIONAL",
                        ip_address_version=family,
                        addresses=blocks,
                        description=f"secure-endpoint: IPv{version} {purpose}",
                    )
                )
        return ip_sets

    def grant_update_deny_list(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read and replace the deny list (``wafv2:GetIPSet``/``UpdateIPSet``)."""
        return _grant_update(grantee, self.deny_ip_sets, "deny list")

    def grant_update_auto_block_list(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read and replace the auto-block list, as the anomaly monitor does."""
        return _grant_update(grantee, self.auto_block_ip_sets, "auto-block list")

    @property
    def web_acl_arn(self) -> str:
        return self.web_acl.attr_arn

    @property
    def web_acl_name(self) -> str:
        """The web ACL's name: the WebACL dimension of its metrics."""
        if self.web_acl.name is not None:
            return self.web_acl.name
        # Ref of AWS::WAFv2::WebACL is 'name|id|scope'.
        return Fn.select(0, Fn.split("|", self.web_acl.ref))

    def metric_blocked_requests(self, rule: str | None = None, **options: Any) -> cloudwatch.Metric:
        """Requests the web ACL blocked, by one rule or by all rules.

        :param rule: the rule's name (its metric name), such as ``RATE_LIMIT_PER_IP_RULE``,
            ``BODY_SIZE_RULE`` or a managed rule group's name. Default: - ``ALL`` rules
        :param options: ``cloudwatch.MetricOptions`` fields (``period``, ``statistic``,
            ``label``, ...). Default: - Sum per 5 minutes
        """
        if rule is not None and self._rule_names is not None and rule not in self._rule_names:
            raise ValueError(
                f"rule must be one of the web ACL's rules {sorted(self._rule_names)} or None "
                f"for all of them, got {rule!r}"
            )
        return metrics.metric(
            "AWS/WAFV2",
            "BlockedRequests",
            {
                "WebACL": self.web_acl_name,
                "Rule": "ALL" if rule is None else rule,
                "Region": Stack.of(self).region,
            },
            options,
            statistic=cloudwatch.Stats.SUM,
            period=Duration.minutes(5),
        )


def _refuse_source_address_rules(
    *, rate_limit_per_ip: int, rate_window_sec: int, countries: bool
) -> None:
    """Behind CloudFront, rules on the source address belong to the CloudFront web ACL."""
    given = {
        "rate_limit_per_ip": rate_limit_per_ip != DEFAULT_RATE_LIMIT_PER_IP,
        "rate_window": rate_window_sec != DEFAULT_RATE_WINDOW_SEC,
        "blocked_countries/allowed_countries": countries,
    }
    misplaced = [prop for prop, differs in given.items() if differs]
    if misplaced:
        raise ValueError(
            f"{', '.join(misplaced)} cannot be combined with origin_secret: behind CloudFront "
            "the regional web ACL sees CloudFront's addresses, so per-address rate and geo "
            "rules go to the CloudFront web ACL (ShieldAdvancedEdge)"
        )


def _warn_of_counting(scope: Construct, overrides: Mapping[str, Mapping[str, str]]) -> None:
    counted = [
        f"{group} (all rules)" if rule == check.WAF_WHOLE_GROUP else f"{group}/{rule}"
        for group, rules in overrides.items()
        for rule, action in rules.items()
        if action == "COUNT"
    ]
    if counted:
        Annotations.of(scope).add_warning_v2(
            "secure-endpoint:waf-rules-counted",
            f"managed_rule_overrides sets {', '.join(counted)} to COUNT: matching requests are "
            "logged and counted, not blocked. Return them to their own action once tuned.",
        )


def _grant_update(
    grantee: iam.IGrantable, ip_sets: Sequence[wafv2.CfnIPSet], what: str
) -> iam.Grant:
    if not ip_sets:
        raise ValueError(f"this web ACL has no {what}: it was brought (web_acl), not built here")
    return iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["wafv2:GetIPSet", "wafv2:UpdateIPSet"],
        resource_arns=[ip_set.attr_arn for ip_set in ip_sets],
    )


def _only_associate(
    web_acl: wafv2.CfnWebACL,
    *,
    rate_limit_per_ip: int,
    rate_limit_per_api_key: int,
    rate_window_sec: int,
    api_key_rate_window_sec: int,
    managed_rule_groups: Sequence[str],
    managed_rule_overrides: Mapping[str, object],
    max_body_bytes: int,
    log_retention: logs.RetentionDays,
    allowed_cidrs: Sequence[object],
    denied_cidrs: Sequence[object],
    blocked_ip_sets: Sequence[object],
    countries: Sequence[str],
    origin_secret: secretsmanager.ISecret | None,
) -> None:
    """Refuse a brought web ACL that cannot protect a stage, or props it would ignore."""
    if not Token.is_unresolved(web_acl.scope) and web_acl.scope != "REGIONAL":
        raise ValueError(
            f"web_acl must have scope 'REGIONAL' to protect an API Gateway stage, "
            f"got {web_acl.scope!r}"
        )
    ignored = {
        "rate_limit_per_ip": rate_limit_per_ip != DEFAULT_RATE_LIMIT_PER_IP,
        "rate_limit_per_api_key": rate_limit_per_api_key != DEFAULT_RATE_LIMIT_PER_API_KEY,
        "rate_window": rate_window_sec != DEFAULT_RATE_WINDOW_SEC,
        "api_key_rate_window": api_key_rate_window_sec != rate_window_sec,
        "managed_rule_groups": tuple(managed_rule_groups) != DEFAULT_MANAGED_RULE_GROUPS,
        "managed_rule_overrides": bool(managed_rule_overrides),
        "max_body_bytes": max_body_bytes != DEFAULT_MAX_BODY_BYTES,
        "log_retention": log_retention != logs.RetentionDays.ONE_YEAR,
        "allowed_cidrs": bool(allowed_cidrs),
        "denied_cidrs": bool(denied_cidrs),
        "blocked_ip_sets": bool(blocked_ip_sets),
        "blocked_countries/allowed_countries": bool(countries),
        "origin_secret": origin_secret is not None,
    }
    changed = [prop for prop, differs in ignored.items() if differs]
    if changed:
        raise ValueError(
            f"{', '.join(changed)} cannot be combined with web_acl: a brought web ACL is only "
            "associated with the stage; configure its rules, lists and logging where it is "
            "defined"
        )


@dataclass(frozen=True, kw_only=True)
class WafOptions:
    """The rules of the web ACL built by ``SecureEndpoint(waf=WafOptions(...))``.

    With ``SecureEndpoint(shield=...)`` the per-address rate rule, the geo rules and the
    address-reputation groups move to the CloudFront web ACL; the per-key rule stays here.

    :param denied_cidrs: addresses the WAF always blocks (403), none overlapping
        ``allowed_cidrs``. Default: - none
    :param blocked_countries: ISO 3166 alpha-2 codes of countries the WAF blocks.
        Default: - none
    :param allowed_countries: when given, the WAF blocks every other country; exclusive with
        ``blocked_countries``. Default: - every country
    :param rate_limit_per_ip: requests one address may send in ``rate_window`` before the WAF
        blocks it with a 429, 10 to 2,000,000,000. Default: - 1000
    :param rate_limit_per_api_key: requests one API key may send in ``rate_window`` before the
        WAF blocks it with a 429. Default: - what the most generous client's usage plan allows
        in the window (rate x window + burst), so that the WAF stops only what the gateway
        would throttle anyway, before it costs an authorizer call
    :param rate_window: the window of both rate rules: 1, 2, 5 or 10 minutes.
        Default: - 5 minutes
    :param managed_rule_groups: AWS managed rule groups, in order, at most 20.
        Default: - common, known bad inputs, Amazon IP reputation, anonymous IP
    :param rule_overrides: per managed group, rule name (or '*') to 'COUNT' or 'BLOCK';
        every COUNT is a synth warning. Default: - the groups' own actions
    :param threat_intel_feeds: public reputation lists whose addresses the WAF blocks,
        refreshed by a scheduled Lambda (``SPAMHAUS_DROP``, ``SPAMHAUS_DROP_V6``,
        ``TOR_EXIT_NODES`` or your own ``ThreatIntelFeed``), at most 5. Default: - none
    :param max_body_bytes: the largest request body the WAF lets through (413 beyond), up to
        65,536. Default: - 64 KiB
    """

    denied_cidrs: Sequence[str] = ()
    blocked_countries: Sequence[str] = ()
    allowed_countries: Sequence[str] = ()
    rate_limit_per_ip: int = DEFAULT_RATE_LIMIT_PER_IP
    rate_limit_per_api_key: int | None = None
    rate_window: Duration | None = None
    managed_rule_groups: Sequence[str] = DEFAULT_MANAGED_RULE_GROUPS
    rule_overrides: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    threat_intel_feeds: Sequence[ThreatIntelFeed] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def __post_init__(self) -> None:
        check.cidrs("waf.denied_cidrs", self.denied_cidrs)
        set_ = functools.partial(object.__setattr__, self)
        set_("denied_cidrs", tuple(self.denied_cidrs))
        blocked = check.country_codes("waf.blocked_countries", self.blocked_countries)
        allowed = check.country_codes("waf.allowed_countries", self.allowed_countries)
        if blocked and allowed:
            raise ValueError(
                "give waf.blocked_countries or waf.allowed_countries, not both (got "
                f"blocked_countries={blocked}, allowed_countries={allowed})"
            )
        set_("blocked_countries", tuple(blocked))
        set_("allowed_countries", tuple(allowed))
        check.waf_rate_limit("waf.rate_limit_per_ip", self.rate_limit_per_ip)
        if self.rate_limit_per_api_key is not None:
            check.waf_rate_limit("waf.rate_limit_per_api_key", self.rate_limit_per_api_key)
        if self.rate_window is not None:
            window_seconds("waf.rate_window", self.rate_window)
        groups = check.waf_managed_rule_groups(
            "waf.managed_rule_groups", self.managed_rule_groups, Band.MANAGED.size
        )
        set_("managed_rule_groups", tuple(groups))
        overrides = check.waf_rule_overrides("waf.rule_overrides", self.rule_overrides, groups)
        set_("rule_overrides", overrides)
        feeds = check.sequence(
            "waf.threat_intel_feeds", self.threat_intel_feeds, "[SPAMHAUS_DROP, TOR_EXIT_NODES]"
        )
        if feeds:
            from secure_endpoint.constructs.threat_intel import check_feeds

            check_feeds("waf.threat_intel_feeds", feeds)  # type: ignore[arg-type]
        set_("threat_intel_feeds", feeds)
        check.waf_body_inspection_limit("waf.max_body_bytes", self.max_body_bytes)

    @property
    def window_seconds(self) -> int:
        """The rate rules' window in seconds, resolved."""
        return window_seconds("waf.rate_window", self.rate_window)

"""AWS WAF in front of the API stage: allow, deny and auto-block lists, rate rules, managed
rule groups and a body size limit, with logs.

Rules come from small private builders; their priorities are assigned in one place
(``_with_priorities``), by purpose, in this order (lower is evaluated first):

====== ================================================================ =======================
band   purpose                                                          rules
====== ================================================================ =======================
0-9    who may talk at all: the CloudFront origin secret, the allowlist  origin secret, allowlist
10-19  who may not: deny list, auto-block list, further blocked IP sets  deny, auto-block, feeds,
       (threat intelligence), countries                                 geo
20-29  how much: per source address, per API key                        per IP, per API key
30     how large: the body size                                         body size
40-59  what: AWS managed rule groups, in the order given                up to 20
====== ================================================================ =======================

Cheap, decisive rules come first: a request that fails them is blocked before it is counted by
a rate rule or inspected by a rule group (which costs capacity units and adds latency), and a
blocked address never uses up a rate counter. The body size rule precedes the rule groups so
that an oversized body gets a clear 413 rather than whatever a group says about its first bytes.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aws_cdk import Annotations, ArnFormat, Duration, Fn, Names, Stack, Token
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from secure_endpoint.constructs import _validation as check
from secure_endpoint.constructs.api import error_body

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
DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_RATE_LIMIT_PER_IP = 1000
DEFAULT_RATE_LIMIT_PER_API_KEY = 3000
DEFAULT_RATE_WINDOW_SEC = 300

ORIGIN_SECRET_RULE = "CloudFrontOriginOnly"  # noqa: S105 (a rule name)
ORIGIN_VERIFY_HEADER = "x-origin-verify"
ALLOWLIST_RULE = "AllowedAddressesOnly"
DENY_LIST_RULE = "DeniedAddresses"
AUTO_BLOCK_RULE = "AutoBlockedAddresses"
BLOCKED_IP_SETS_RULE = "BlockedIpSets"
GEO_RULE = "GeoRestriction"
RATE_LIMIT_PER_IP_RULE = "RateLimitPerIp"
RATE_LIMIT_PER_API_KEY_RULE = "RateLimitPerApiKey"
BODY_SIZE_RULE = "BodySizeLimit"
MAX_IP_SET_ADDRESSES = 10_000
#: Request headers never written to WAF logs.
REDACTED_HEADERS = ("authorization", "x-api-key", ORIGIN_VERIFY_HEADER)
#: The header CloudFront appends the viewer's address to; the last entry is the one it added.
FORWARDED_FOR_HEADER = "X-Forwarded-For"
# The rule of the Common Rule Set that blocks bodies over 8 KB with a bare 403; the body size rule
# enforces ``max_body_bytes`` instead, with a 413 JSON body.
_CRS = "AWSManagedRulesCommonRuleSet"
_CRS_BODY_SIZE_RULE = "SizeRestrictions_BODY"

_FORBIDDEN = "forbidden"
_THROTTLED = "throttled"
_TOO_LARGE = "too_large"
_JSON = "APPLICATION_JSON"

_MAX_BLOCKED_IP_SETS = 10

_Rule = wafv2.CfnWebACL.RuleProperty
_RuleBuilder = Callable[[int], _Rule]
_RequestBodyConfig = wafv2.CfnWebACL.RequestBodyAssociatedResourceTypeConfigProperty


class _Band(enum.Enum):
    """Rule priorities by purpose: (first, last), evaluated lowest first."""

    ALLOW = (0, 9)
    DENY = (10, 19)
    RATE = (20, 29)
    BODY_SIZE = (30, 30)
    MANAGED = (40, 59)

    @property
    def size(self) -> int:
        first, last = self.value
        return int(last - first + 1)


def waf_error_body(code: str, message: str) -> str:
    """``api.error_body`` without the request id, for WAF custom responses.

    WAF sends its custom response bodies verbatim: they cannot use ``$context`` variables, so the
    ``requestId`` field is dropped and the rest of the shape stays ``{"error":..,"message":..}``.
    """
    body = json.loads(error_body(code, message))
    del body["requestId"]
    return json.dumps(body, separators=(",", ":"))


def waf_response_bodies(
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> dict[str, wafv2.CfnWebACL.CustomResponseBodyProperty]:
    """The JSON bodies of the web ACL's own answers (403, 429, 413), by response body key."""
    bodies = {
        _FORBIDDEN: waf_error_body(_FORBIDDEN, "The request was blocked."),
        _THROTTLED: waf_error_body(_THROTTLED, "Rate limit exceeded; retry later."),
        _TOO_LARGE: waf_error_body(
            _TOO_LARGE, f"The request body is larger than {max_body_bytes} bytes."
        ),
    }
    return {
        key: wafv2.CfnWebACL.CustomResponseBodyProperty(content_type=_JSON, content=content)
        for key, content in bodies.items()
    }


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
        web_acl: wafv2.CfnWebACL | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        window_sec = _window_seconds("rate_window", rate_window)
        key_window_sec = (
            window_sec
            if api_key_rate_window is None
            else _window_seconds("api_key_rate_window", api_key_rate_window)
        )
        check.waf_rate_limit("rate_limit_per_ip", rate_limit_per_ip)
        check.waf_rate_limit("rate_limit_per_api_key", rate_limit_per_api_key)
        groups = check.waf_managed_rule_groups(
            "managed_rule_groups", managed_rule_groups, _Band.MANAGED.size
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
            allow: list[_RuleBuilder] = []
            if origin_secret is not None:
                value = origin_secret.secret_value.unsafe_unwrap()
                allow.append(
                    functools.partial(_origin_secret_rule, ORIGIN_SECRET_RULE, value=value)
                )
            if self.allowed_ip_sets:
                allow.append(
                    functools.partial(
                        _ip_set_rule,
                        ALLOWLIST_RULE,
                        ip_sets=self.allowed_ip_sets,
                        forwarded=forwarded,
                        negate=True,
                    )
                )
            deny: list[_RuleBuilder] = [
                functools.partial(
                    _ip_set_rule, name, ip_sets=ip_sets, forwarded=forwarded, negate=False
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
                        _geo_rule,
                        GEO_RULE,
                        countries=blocked_countries or allowed_countries,
                        negate=bool(allowed_countries),
                    )
                )
            rate: list[_RuleBuilder] = [
                functools.partial(
                    _api_key_rate_rule,
                    RATE_LIMIT_PER_API_KEY_RULE,
                    limit=rate_limit_per_api_key,
                    window_sec=key_window_sec,
                )
            ]
            if not behind_cloudfront:
                rate.insert(
                    0,
                    functools.partial(
                        _rate_rule,
                        RATE_LIMIT_PER_IP_RULE,
                        limit=rate_limit_per_ip,
                        window_sec=window_sec,
                    ),
                )
            rules = _with_priorities(
                {
                    _Band.ALLOW: allow,
                    _Band.DENY: deny,
                    _Band.RATE: rate,
                    _Band.BODY_SIZE: [
                        functools.partial(_body_size_rule, BODY_SIZE_RULE, max_bytes=max_body_bytes)
                    ],
                    _Band.MANAGED: [
                        functools.partial(_managed_rule, name, overrides=overrides.get(name, {}))
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
                visibility_config=_visibility(Names.unique_id(self)),
                rules=rules,
                custom_response_bodies=waf_response_bodies(max_body_bytes),
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

    def metric_blocked_requests(self, rule: str | None = None) -> cloudwatch.Metric:
        """Requests the web ACL blocked (sum over 5 minutes), by one rule or by all rules.

        :param rule: the rule's name (its metric name), such as ``RATE_LIMIT_PER_IP_RULE``,
            ``BODY_SIZE_RULE`` or a managed rule group's name. Default: - ``ALL`` rules
        """
        if rule is not None and self._rule_names is not None and rule not in self._rule_names:
            raise ValueError(
                f"rule must be one of the web ACL's rules {sorted(self._rule_names)} or None "
                f"for all of them, got {rule!r}"
            )
        return cloudwatch.Metric(
            namespace="AWS/WAFV2",
            metric_name="BlockedRequests",
            dimensions_map={
                "WebACL": self.web_acl_name,
                "Rule": "ALL" if rule is None else rule,
                "Region": Stack.of(self).region,
            },
            statistic=cloudwatch.Stats.SUM,
            period=Duration.minutes(5),
        )


def add_waf_logging(
    scope: Construct, web_acl_arn: str, key: kms.IKey, retention: logs.RetentionDays
) -> logs.LogGroup:
    """Log ``web_acl_arn``'s requests to a new KMS-encrypted ``aws-waf-logs-...`` log group.

    The log group (child ``Logs`` of ``scope``) is named after ``scope``'s path, within the
    limits WAF and CloudWatch Logs set; the ``REDACTED_HEADERS`` never reach it.
    """
    prefix = check.WAF_LOG_GROUP_PREFIX
    name = prefix + Names.unique_resource_name(
        scope,
        max_length=check.LOG_GROUP_NAME_MAX - len(prefix),
        separator="-",
        allowed_special_characters="-_",
    )
    check.waf_log_group_name(name)
    log_group = logs.LogGroup(
        scope, "Logs", log_group_name=name, encryption_key=key, retention=retention
    )
    wafv2.CfnLoggingConfiguration(
        scope,
        "Logging",
        resource_arn=web_acl_arn,
        # The log group ARN as WAF documents it, without the ':*' of its Arn attribute.
        log_destination_configs=[
            Stack.of(scope).format_arn(
                service="logs",
                resource="log-group",
                resource_name=log_group.log_group_name,
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
        ],
        redacted_fields=[
            wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
            for header in REDACTED_HEADERS
        ],
    )
    return log_group


def _window_seconds(prop: str, window: Duration | None) -> int:
    window = window or Duration.seconds(DEFAULT_RATE_WINDOW_SEC)
    if not isinstance(window, Duration):
        raise ValueError(f"{prop} must be a Duration, like Duration.minutes(5), got {window!r}")
    return check.waf_rate_window(prop, window.to_seconds(integral=False))


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


def _with_priorities(bands: Mapping[_Band, Sequence[_RuleBuilder]]) -> list[_Rule]:
    """Build every rule with its priority: bands in order, rules in order within a band."""
    rules: list[_Rule] = []
    for band in _Band:
        builders = bands.get(band, ())
        if len(builders) > band.size:
            raise ValueError(
                f"the {band.name.lower()} band holds at most {band.size} rules, got {len(builders)}"
            )
        first, _ = band.value
        rules.extend(build(first + index) for index, build in enumerate(builders))
    return rules


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, sampled_requests_enabled=True, metric_name=metric_name
    )


def _block(
    status: int, body_key: str, headers: Mapping[str, str] | None = None
) -> wafv2.CfnWebACL.RuleActionProperty:
    return wafv2.CfnWebACL.RuleActionProperty(
        block=wafv2.CfnWebACL.BlockActionProperty(
            custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                response_code=status,
                custom_response_body_key=body_key,
                response_headers=[
                    wafv2.CfnWebACL.CustomHTTPHeaderProperty(name=n, value=v)
                    for n, v in (headers or {}).items()
                ]
                or None,
            )
        )
    )


def _origin_secret_rule(name: str, priority: int, *, value: str) -> _Rule:
    """Block, with 403 ``forbidden``, requests whose origin header holds neither accepted value.

    Both values start as the secret's current value; its rotation sets them to the current and
    the pending value, so that CloudFront may send either while its configuration propagates.
    """
    accepted = [
        wafv2.CfnWebACL.StatementProperty(
            byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                    single_header={"Name": ORIGIN_VERIFY_HEADER}
                ),
                positional_constraint="EXACTLY",
                search_string=value,
                text_transformations=[
                    wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                ],
            )
        )
        for _ in range(2)
    ]
    return _Rule(
        name=name,
        priority=priority,
        statement=wafv2.CfnWebACL.StatementProperty(
            not_statement=wafv2.CfnWebACL.NotStatementProperty(
                statement=wafv2.CfnWebACL.StatementProperty(
                    or_statement=wafv2.CfnWebACL.OrStatementProperty(statements=accepted)
                )
            )
        ),
        action=_block(403, _FORBIDDEN),
        visibility_config=_visibility(name),
    )


def _ip_set_rule(
    name: str,
    priority: int,
    *,
    ip_sets: Sequence[wafv2.CfnIPSet],
    forwarded: bool,
    negate: bool,
) -> _Rule:
    """Block, with 403 ``forbidden``, requests from (``negate``: from outside) the IP sets.

    With ``forwarded``, the address is the last of ``X-Forwarded-For``, the one CloudFront
    appended; a request without a valid one is blocked either way (fallback MATCH for a deny
    rule, NO_MATCH under the negation of an allow rule).
    """
    forwarded_config = (
        wafv2.CfnWebACL.IPSetForwardedIPConfigurationProperty(
            header_name=FORWARDED_FOR_HEADER,
            position="LAST",
            fallback_behavior="NO_MATCH" if negate else "MATCH",
        )
        if forwarded
        else None
    )
    references = [
        wafv2.CfnWebACL.StatementProperty(
            ip_set_reference_statement=wafv2.CfnWebACL.IPSetReferenceStatementProperty(
                arn=ip_set.attr_arn, ip_set_forwarded_ip_config=forwarded_config
            )
        )
        for ip_set in ip_sets
    ]
    matched = (
        references[0]
        if len(references) == 1
        else wafv2.CfnWebACL.StatementProperty(
            or_statement=wafv2.CfnWebACL.OrStatementProperty(statements=references)
        )
    )
    return _forbid(name, priority, matched, negate=negate)


def _geo_rule(name: str, priority: int, *, countries: Sequence[str], negate: bool) -> _Rule:
    """Block, with 403 ``forbidden``, requests from (``negate``: from outside) the countries."""
    matched = wafv2.CfnWebACL.StatementProperty(
        geo_match_statement=wafv2.CfnWebACL.GeoMatchStatementProperty(country_codes=list(countries))
    )
    return _forbid(name, priority, matched, negate=negate)


def _forbid(
    name: str, priority: int, matched: wafv2.CfnWebACL.StatementProperty, *, negate: bool
) -> _Rule:
    """Block, with 403 ``forbidden``, what ``matched`` matches (``negate``: what it does not)."""
    return _Rule(
        name=name,
        priority=priority,
        statement=(
            wafv2.CfnWebACL.StatementProperty(
                not_statement=wafv2.CfnWebACL.NotStatementProperty(statement=matched)
            )
            if negate
            else matched
        ),
        action=_block(403, _FORBIDDEN),
        visibility_config=_visibility(name),
    )


def _api_key_rate_rule(name: str, priority: int, *, limit: int, window_sec: int) -> _Rule:
    """Block an ``x-api-key`` value over ``limit`` requests in ``window_sec`` with 429."""
    return _Rule(
        name=name,
        priority=priority,
        statement=wafv2.CfnWebACL.StatementProperty(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                aggregate_key_type="CUSTOM_KEYS",
                custom_keys=[
                    wafv2.CfnWebACL.RateBasedStatementCustomKeyProperty(
                        header=wafv2.CfnWebACL.RateLimitHeaderProperty(
                            name="x-api-key",
                            text_transformations=[
                                wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                            ],
                        )
                    )
                ],
                limit=limit,
                evaluation_window_sec=window_sec,
            )
        ),
        action=_block(429, _THROTTLED, {"Retry-After": str(window_sec)}),
        visibility_config=_visibility(name),
    )


def _rate_rule(name: str, priority: int, *, limit: int, window_sec: int) -> _Rule:
    """Block a source IP over ``limit`` requests in ``window_sec`` with 429 ``throttled``."""
    return _Rule(
        name=name,
        priority=priority,
        statement=wafv2.CfnWebACL.StatementProperty(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                aggregate_key_type="IP", limit=limit, evaluation_window_sec=window_sec
            )
        ),
        action=_block(429, _THROTTLED, {"Retry-After": str(window_sec)}),
        visibility_config=_visibility(name),
    )


def _managed_rule(group: str, priority: int, *, overrides: Mapping[str, str]) -> _Rule:
    """An AWS managed rule group with its own metric, its actions as ``overrides`` change them.

    The Common Rule Set's 8 KB body rule counts unless overridden: the body size rule enforces
    ``max_body_bytes`` with a clearer answer.
    """
    rule_actions = dict(overrides)
    whole_group_counts = rule_actions.pop(check.WAF_WHOLE_GROUP, None) == "COUNT"
    if group == _CRS:
        rule_actions.setdefault(_CRS_BODY_SIZE_RULE, "COUNT")
    action_overrides = [
        wafv2.CfnWebACL.RuleActionOverrideProperty(
            name=rule,
            action_to_use=wafv2.CfnWebACL.RuleActionProperty(
                count=wafv2.CfnWebACL.CountActionProperty() if action == "COUNT" else None,
                block=wafv2.CfnWebACL.BlockActionProperty() if action == "BLOCK" else None,
            ),
        )
        for rule, action in sorted(rule_actions.items())
    ]
    return _Rule(
        name=group,
        priority=priority,
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS", name=group, rule_action_overrides=action_overrides or None
            )
        ),
        override_action=wafv2.CfnWebACL.OverrideActionProperty(
            count={} if whole_group_counts else None, none=None if whole_group_counts else {}
        ),
        visibility_config=_visibility(group),
    )


def _body_size_rule(name: str, priority: int, *, max_bytes: int) -> _Rule:
    """Block bodies over ``max_bytes``, and bodies too large to inspect, with 413 ``too_large``."""
    return _Rule(
        name=name,
        priority=priority,
        statement=wafv2.CfnWebACL.StatementProperty(
            size_constraint_statement=wafv2.CfnWebACL.SizeConstraintStatementProperty(
                field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                    body=wafv2.CfnWebACL.BodyProperty(oversize_handling="MATCH")
                ),
                comparison_operator="GT",
                size=max_bytes,
                text_transformations=[
                    wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                ],
            )
        ),
        action=_block(413, _TOO_LARGE),
        visibility_config=_visibility(name),
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
            _window_seconds("waf.rate_window", self.rate_window)
        groups = check.waf_managed_rule_groups(
            "waf.managed_rule_groups", self.managed_rule_groups, _Band.MANAGED.size
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
        return _window_seconds("waf.rate_window", self.rate_window)

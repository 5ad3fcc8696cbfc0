"""The baseline AWS WAF web ACL in front of the API stage: rate limit, managed rules, body size.

Rules come from small private builders; their priorities are assigned in one place
(``_with_priorities``), by purpose, in this order (lower is evaluated first):

====== =========================================================== ==========
band   purpose                                                     rules now
====== =========================================================== ==========
0-9    allowlist (block what is not in the allowed IP sets)        allowlist
10-19  deny lists (IP sets, the automatic block set, geo)          reserved
20-29  rate rules (per source IP; per API key)                     per IP
30-49  AWS managed rule groups, in the order given                 up to 20
50     body size                                                   one
====== =========================================================== ==========
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import json
from collections.abc import Callable, Mapping, Sequence

from aws_cdk import Annotations, ArnFormat, Duration, Fn, Names, Stack, Token
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from secure_endpoint import _validation as check
from secure_endpoint.api import error_body

DEFAULT_MANAGED_RULE_GROUPS: tuple[str, ...] = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesAnonymousIpList",
)
DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_RATE_LIMIT_PER_IP = 1000
DEFAULT_RATE_WINDOW_SEC = 300

ALLOWLIST_RULE = "AllowedAddressesOnly"
RATE_LIMIT_PER_IP_RULE = "RateLimitPerIp"
MAX_IP_SET_ADDRESSES = 10_000
BODY_SIZE_RULE = "BodySizeLimit"
# The rule of the Common Rule Set that blocks bodies over 8 KB with a bare 403; the body size rule
# enforces ``max_body_bytes`` instead, with a 413 JSON body.
_CRS = "AWSManagedRulesCommonRuleSet"
_CRS_BODY_SIZE_RULE = "SizeRestrictions_BODY"

_FORBIDDEN = "forbidden"
_THROTTLED = "throttled"
_TOO_LARGE = "too_large"
_JSON = "APPLICATION_JSON"

_Rule = wafv2.CfnWebACL.RuleProperty
_RuleBuilder = Callable[[int], _Rule]
_RequestBodyConfig = wafv2.CfnWebACL.RequestBodyAssociatedResourceTypeConfigProperty


class _Band(enum.Enum):
    """Rule priorities by purpose: (first, last), evaluated lowest first."""

    ALLOW = (0, 9)
    DENY = (10, 19)
    RATE = (20, 29)
    MANAGED = (30, 49)
    BODY_SIZE = (50, 50)

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


class WebAclProtection(Construct):
    """A REGIONAL AWS WAF web ACL associated with an API Gateway stage, with logs.

    The web ACL allows by default and blocks:

    - more than ``rate_limit_per_ip`` requests from one source IP within ``rate_window``, with a
      429 JSON body and a ``Retry-After`` header of the window length;
    - what the AWS managed rule groups block (their own actions, each group with its own metric);
      API Gateway answers those with its ``WAF_FILTERED`` gateway response;
    - request bodies larger than ``max_body_bytes``, with a 413 JSON body.

    Every rule and the web ACL emit CloudWatch metrics and sampled requests. Requests are logged
    to a KMS-encrypted log group named ``aws-waf-logs-...`` (WAF requires the prefix) with the
    ``authorization`` and ``x-api-key`` headers redacted. When logging is set up, AWS adds the
    log-delivery resource policy for this log group itself, provided the deploying principal
    (the CloudFormation execution role) may call ``logs:CreateLogDelivery``,
    ``logs:PutResourcePolicy``, ``logs:DescribeResourcePolicies`` and ``logs:DescribeLogGroups``;
    so no ``logs.ResourcePolicy`` is created here. The log group outlives the stack (RETAIN) and
    its name follows the construct path, so delete it before re-creating a deleted stack.

    :param stage: the API Gateway stage to protect.
    :param key: the KMS key of the log group; CloudWatch Logs of this account and region must be
        allowed to use it (``EncryptionKey`` is).
    :param rate_limit_per_ip: requests one source IP may send within ``rate_window``,
        10 to 2,000,000,000. Default: - 1000
    :param rate_window: the window the rate is counted over: 1, 2, 5 or 10 minutes.
        Default: - 5 minutes
    :param managed_rule_groups: AWS managed rule groups, evaluated in this order, at most 20.
        The Common Rule Set's ``SizeRestrictions_BODY`` (8 KB) is set to count, because the
        body size rule enforces ``max_body_bytes``. The anonymous IP list also blocks hosting
        providers' addresses, where server-side clients often run: such clients need the
        allowlist band (reserved) or a list without that group.
        Default: - ``DEFAULT_MANAGED_RULE_GROUPS`` (common, known bad inputs, Amazon IP
        reputation, anonymous IP)
    :param max_body_bytes: the largest request body allowed, 1 to 65,536 bytes. A REGIONAL web
        ACL inspects a body only up to the body inspection limit of the protected resource:
        16 KB by default for API Gateway. The web ACL's API Gateway limit is set to the smallest
        of 16, 32, 48 or 64 KB that covers ``max_body_bytes`` (limits over 16 KB cost extra; see
        AWS WAF pricing), and a body beyond the limit counts as too large (oversize handling
        MATCH), so no body escapes by being too big to inspect. Default: - 64 KiB
    :param log_retention: how long WAF logs are kept. Default: - one year
    :param allowed_cidrs: when given, requests from any other address are blocked first, with a
        403 JSON body (IPv4 and IPv6 IP sets, at most 10,000 blocks each); allowed addresses still
        pass every other rule. Default: - every address may try
    :param web_acl: a web ACL of your own (REGIONAL) to associate with the stage instead. Nothing
        else is created: no rules, no log group, no logging configuration; it must then not be
        combined with the rule or logging props. Default: - a web ACL as described above
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: apigw.Stage,
        key: kms.IKey,
        rate_limit_per_ip: int = DEFAULT_RATE_LIMIT_PER_IP,
        rate_window: Duration | None = None,
        managed_rule_groups: Sequence[str] = DEFAULT_MANAGED_RULE_GROUPS,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        allowed_cidrs: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network] = (),
        web_acl: wafv2.CfnWebACL | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        window = rate_window or Duration.seconds(DEFAULT_RATE_WINDOW_SEC)
        if not isinstance(window, Duration):
            raise ValueError(
                f"rate_window must be a Duration, like Duration.minutes(5), got {window!r}"
            )
        check.waf_rate_limit("rate_limit_per_ip", rate_limit_per_ip)
        window_sec = check.waf_rate_window("rate_window", window.to_seconds(integral=False))
        groups = check.waf_managed_rule_groups(
            "managed_rule_groups", managed_rule_groups, _Band.MANAGED.size
        )
        inspection_limit = check.waf_body_inspection_limit("max_body_bytes", max_body_bytes)

        self.log_group: logs.LogGroup | None = None
        self._rule_names: frozenset[str] | None = None
        self.allowed_ip_sets: list[wafv2.CfnIPSet] = []
        if web_acl is not None and allowed_cidrs:
            raise ValueError(
                "allowed_cidrs cannot be enforced on a brought web_acl: add the allowlist to "
                f"that web ACL yourself (got {len(allowed_cidrs)} CIDR blocks)"
            )
        if web_acl is not None:
            _only_associate(
                web_acl,
                rate_limit_per_ip=rate_limit_per_ip,
                rate_window_sec=window_sec,
                managed_rule_groups=groups,
                max_body_bytes=max_body_bytes,
                log_retention=log_retention,
            )
            self.web_acl = web_acl
        else:
            if not groups:
                Annotations.of(self).add_warning_v2(
                    "secure-endpoint:waf-no-managed-rules",
                    "managed_rule_groups is empty: the web ACL blocks no known exploits, bad "
                    "inputs or malicious IPs, only floods and oversized bodies.",
                )
            self.allowed_ip_sets = self._allowed_ip_sets(allowed_cidrs)
            allowlist = (
                [functools.partial(_allowlist_rule, ALLOWLIST_RULE, ip_sets=self.allowed_ip_sets)]
                if self.allowed_ip_sets
                else []
            )
            rules = _with_priorities(
                {
                    _Band.ALLOW: allowlist,
                    _Band.RATE: [
                        functools.partial(
                            _rate_rule,
                            RATE_LIMIT_PER_IP_RULE,
                            limit=rate_limit_per_ip,
                            window_sec=window_sec,
                        )
                    ],
                    _Band.MANAGED: [functools.partial(_managed_rule, name) for name in groups],
                    _Band.BODY_SIZE: [
                        functools.partial(_body_size_rule, BODY_SIZE_RULE, max_bytes=max_body_bytes)
                    ],
                }
            )
            self.web_acl = wafv2.CfnWebACL(
                self,
                "WebAcl",
                scope="REGIONAL",
                description="secure-endpoint: rate limit, AWS managed rules and body size",
                default_action=wafv2.CfnWebACL.DefaultActionProperty(
                    allow=wafv2.CfnWebACL.AllowActionProperty()
                ),
                visibility_config=_visibility(Names.unique_id(self)),
                rules=rules,
                custom_response_bodies={
                    **(
                        {
                            _FORBIDDEN: wafv2.CfnWebACL.CustomResponseBodyProperty(
                                content_type=_JSON,
                                content=waf_error_body(_FORBIDDEN, "The request was blocked."),
                            )
                        }
                        if allowlist
                        else {}
                    ),
                    _THROTTLED: wafv2.CfnWebACL.CustomResponseBodyProperty(
                        content_type=_JSON,
                        content=waf_error_body(_THROTTLED, "Rate limit exceeded; retry later."),
                    ),
                    _TOO_LARGE: wafv2.CfnWebACL.CustomResponseBodyProperty(
                        content_type=_JSON,
                        content=waf_error_body(
                            _TOO_LARGE,
                            f"The request body is larger than {max_body_bytes} bytes.",
                        ),
                    ),
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
            self.log_group = self._add_logging(key, log_retention)

        self.association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl_arn
        )

    def _allowed_ip_sets(
        self, cidrs: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]
    ) -> list[wafv2.CfnIPSet]:
        ip_sets = []
        for version, family in ((4, "IPV4"), (6, "IPV6")):
            blocks = sorted(str(c) for c in cidrs if c.version == version)
            if len(blocks) > MAX_IP_SET_ADDRESSES:
                raise ValueError(
                    f"allowed_cidrs holds {len(blocks)} IPv{version} blocks; a WAF IP set takes "
                    f"at most {MAX_IP_SET_ADDRESSES}: aggregate them into wider blocks"
                )
            if blocks:
                ip_sets.append(
                    wafv2.CfnIPSet(
                        self,
                        f"AllowedIpv{version}",
                        scope="REGIONAL",
                        ip_address_version=family,
                        addresses=blocks,
                        description=f"secure-endpoint: IPv{version} addresses allowed to call",
                    )
                )
        return ip_sets

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

    def _add_logging(self, key: kms.IKey, retention: logs.RetentionDays) -> logs.LogGroup:
        prefix = check.WAF_LOG_GROUP_PREFIX
        name = prefix + Names.unique_resource_name(
            self,
            max_length=check.LOG_GROUP_NAME_MAX - len(prefix),
            separator="-",
            allowed_special_characters="-_",
        )
        check.waf_log_group_name(name)
        log_group = logs.LogGroup(
            self, "Logs", log_group_name=name, encryption_key=key, retention=retention
        )
        wafv2.CfnLoggingConfiguration(
            self,
            "Logging",
            resource_arn=self.web_acl_arn,
            # The log group ARN as WAF documents it, without the ':*' of its Arn attribute.
            log_destination_configs=[
                Stack.of(self).format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=log_group.log_group_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
                for header in ("authorization", "x-api-key")
            ],
        )
        return log_group


def _only_associate(
    web_acl: wafv2.CfnWebACL,
    *,
    rate_limit_per_ip: int,
    rate_window_sec: int,
    managed_rule_groups: Sequence[str],
    max_body_bytes: int,
    log_retention: logs.RetentionDays,
) -> None:
    """Refuse a brought web ACL that cannot protect a stage, or props it would ignore."""
    if not Token.is_unresolved(web_acl.scope) and web_acl.scope != "REGIONAL":
        raise ValueError(
            f"web_acl must have scope 'REGIONAL' to protect an API Gateway stage, "
            f"got {web_acl.scope!r}"
        )
    ignored = {
        "rate_limit_per_ip": rate_limit_per_ip != DEFAULT_RATE_LIMIT_PER_IP,
        "rate_window": rate_window_sec != DEFAULT_RATE_WINDOW_SEC,
        "managed_rule_groups": tuple(managed_rule_groups) != DEFAULT_MANAGED_RULE_GROUPS,
        "max_body_bytes": max_body_bytes != DEFAULT_MAX_BODY_BYTES,
        "log_retention": log_retention != logs.RetentionDays.ONE_YEAR,
    }
    changed = [prop for prop, differs in ignored.items() if differs]
    if changed:
        raise ValueError(
            f"{', '.join(changed)} cannot be combined with web_acl: a brought web ACL is only "
            "associated with the stage; configure its rules and logging where it is defined"
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


def _allowlist_rule(name: str, priority: int, *, ip_sets: Sequence[wafv2.CfnIPSet]) -> _Rule:
    """Block, with 403 ``forbidden``, every request from outside the allowed IP sets."""
    references = [
        wafv2.CfnWebACL.StatementProperty(
            ip_set_reference_statement=wafv2.CfnWebACL.IPSetReferenceStatementProperty(
                arn=ip_set.attr_arn
            )
        )
        for ip_set in ip_sets
    ]
    allowed = (
        references[0]
        if len(references) == 1
        else wafv2.CfnWebACL.StatementProperty(
            or_statement=wafv2.CfnWebACL.OrStatementProperty(statements=references)
        )
    )
    return _Rule(
        name=name,
        priority=priority,
        statement=wafv2.CfnWebACL.StatementProperty(
            not_statement=wafv2.CfnWebACL.NotStatementProperty(statement=allowed)
        ),
        action=_block(403, _FORBIDDEN),
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


def _managed_rule(group: str, priority: int) -> _Rule:
    """An AWS managed rule group with its own actions (override none) and its own metric."""
    overrides = (
        [
            wafv2.CfnWebACL.RuleActionOverrideProperty(
                name=_CRS_BODY_SIZE_RULE,
                action_to_use=wafv2.CfnWebACL.RuleActionProperty(
                    count=wafv2.CfnWebACL.CountActionProperty()
                ),
            )
        ]
        if group == _CRS
        else None
    )
    return _Rule(
        name=group,
        priority=priority,
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS", name=group, rule_action_overrides=overrides
            )
        ),
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
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

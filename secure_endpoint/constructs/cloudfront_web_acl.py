"""The CLOUDFRONT-scope web ACL in front of the distribution, and the us-east-1 stack it lives in.

WAF creates CLOUDFRONT-scope web ACLs in us-east-1 only; ``cloudfront_web_acl_stack`` finds or
makes the stack there (see ``shield`` for why each resource lives where it does). The rules come
from
``waf_rules``: countries, the per-viewer-address rate and the address-reputation rule groups,
which only this web ACL can judge (the regional one sees CloudFront's addresses).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from aws_cdk import Annotations, Duration, Environment, Names, Stack, Stage, Token
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from secure_endpoint.constructs import _validation as check
from secure_endpoint.constructs.keys import EncryptionKey
from secure_endpoint.constructs.waf_logging import add_waf_logging
from secure_endpoint.constructs.waf_rules import (
    DEFAULT_RATE_LIMIT_PER_IP,
    GEO_RULE,
    RATE_LIMIT_PER_IP_RULE,
    Band,
    RuleBuilder,
    geo_rule,
    managed_rule,
    rate_rule,
    response_body_keys,
    visibility,
    waf_response_bodies,
    window_seconds,
    with_priorities,
)

#: The only Region where CLOUDFRONT-scope web ACLs (and their logs) can be created.
EDGE_REGION = "us-east-1"
#: The CloudFront web ACL's managed rule groups: those that judge the viewer's address, which
#: only the CloudFront web ACL sees (the regional one sees CloudFront's).
DEFAULT_EDGE_MANAGED_RULE_GROUPS: tuple[str, ...] = (
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesAnonymousIpList",
)


class CloudFrontWebAcl(Construct):
    """A CLOUDFRONT-scope web ACL with logs; it must be created in a us-east-1 stack.

    It allows by default and blocks, in the bands of ``waf_rules``: requests from
    ``blocked_countries`` or outside ``allowed_countries`` (403 JSON), more than
    ``rate_limit_per_ip`` requests from one viewer address within ``rate_window`` (429 JSON with
    ``Retry-After``), and what the managed rule groups block. Every rule emits metrics and
    sampled requests; requests are logged to a log group ``aws-waf-logs-...`` encrypted with
    ``key`` (a key of us-east-1), with ``REDACTED_HEADERS`` redacted. Shield Advanced's
    automatic mitigation adds a ``ShieldMitigationRuleGroup`` rule (priority 10,000,000) to
    this web ACL itself: that is expected drift, which no deploy removes.

    :param key: a KMS key of us-east-1 for the log group. Default: - a new rotating key
    :param rate_limit_per_ip: 10 to 2,000,000,000. Default: - 1000
    :param rate_window: 1, 2, 5 or 10 minutes. Default: - 5 minutes
    :param managed_rule_groups: AWS managed rule groups, in order, at most 20.
        Default: - ``DEFAULT_EDGE_MANAGED_RULE_GROUPS`` (Amazon IP reputation, anonymous IP)
    :param blocked_countries: ISO 3166 alpha-2 codes. Default: - none
    :param allowed_countries: when given, every other country is blocked; exclusive with
        ``blocked_countries``. Default: - every country
    :param log_retention: Default: - one year
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey | None = None,
        rate_limit_per_ip: int = DEFAULT_RATE_LIMIT_PER_IP,
        rate_window: Duration | None = None,
        managed_rule_groups: Sequence[str] = DEFAULT_EDGE_MANAGED_RULE_GROUPS,
        blocked_countries: Sequence[str] = (),
        allowed_countries: Sequence[str] = (),
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
    ) -> None:
        super().__init__(scope, construct_id)
        region = Stack.of(self).region
        if Token.is_unresolved(region) or region != EDGE_REGION:
            raise ValueError(
                f"CloudFrontWebAcl must be created in a stack of Region {EDGE_REGION!r} (WAF "
                "creates CLOUDFRONT-scope web ACLs there only), got a stack of "
                f"{'an unresolved Region' if Token.is_unresolved(region) else repr(region)}"
            )
        window_sec = window_seconds("rate_window", rate_window)
        check.waf_rate_limit("rate_limit_per_ip", rate_limit_per_ip)
        groups = check.waf_managed_rule_groups(
            "managed_rule_groups", managed_rule_groups, Band.MANAGED.size
        )
        blocked = check.country_codes("blocked_countries", blocked_countries)
        allowed = check.country_codes("allowed_countries", allowed_countries)
        if blocked and allowed:
            raise ValueError(
                "give blocked_countries or allowed_countries, not both (got "
                f"blocked_countries={blocked}, allowed_countries={allowed})"
            )
        if not groups:
            Annotations.of(self).add_warning_v2(
                "secure-endpoint:waf-no-managed-rules",
                "managed_rule_groups of the CloudFront web ACL is empty: it blocks no address "
                "known for abuse, only floods (and the countries given).",
            )
        geo: list[RuleBuilder] = (
            [
                functools.partial(
                    geo_rule, GEO_RULE, countries=blocked or allowed, negate=bool(allowed)
                )
            ]
            if blocked or allowed
            else []
        )
        rules = with_priorities(
            {
                Band.DENY: geo,
                Band.RATE: [
                    functools.partial(
                        rate_rule,
                        RATE_LIMIT_PER_IP_RULE,
                        limit=rate_limit_per_ip,
                        window_sec=window_sec,
                    )
                ],
                Band.MANAGED: [
                    functools.partial(managed_rule, name, overrides={}) for name in groups
                ],
            }
        )
        used_bodies = response_body_keys(rules)
        self.key = key or EncryptionKey(self, "Encryption").key
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="CLOUDFRONT",
            description="secure-endpoint: viewer rate limit, address reputation and geo rules",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(
                allow=wafv2.CfnWebACL.AllowActionProperty()
            ),
            visibility_config=visibility(Names.unique_id(self)),
            rules=rules,
            custom_response_bodies={
                body_key: body
                for body_key, body in waf_response_bodies().items()
                if body_key in used_bodies
            },
        )
        self.rule_names = frozenset(rule.name for rule in rules)
        self.log_group = add_waf_logging(self, self.web_acl_arn, self.key, log_retention)

    @property
    def web_acl_arn(self) -> str:
        return self.web_acl.attr_arn


def cloudfront_web_acl_stack(stack: Stack, brought: Stack | None) -> Stack:
    """The stack of the CLOUDFRONT web ACL: brought, the API's own, or a new sibling."""
    if brought is not None:
        region = brought.region
        if Token.is_unresolved(region) or region != EDGE_REGION:
            raise ValueError(
                f"edge_stack must be a stack of Region {EDGE_REGION!r} (env=Environment(region="
                f"'{EDGE_REGION}')), got one of "
                f"{'an unresolved Region' if Token.is_unresolved(region) else repr(region)}"
            )
        if (
            not Token.is_unresolved(brought.account)
            and not Token.is_unresolved(stack.account)
            and brought.account != stack.account
        ):
            raise ValueError(
                f"edge_stack must be in the API's account {stack.account!r}, "
                f"got {brought.account!r}"
            )
        if brought is not stack:
            stack.add_stack_dependency(brought, "the distribution uses its CloudFront web ACL")
        return brought
    if Token.is_unresolved(stack.region):
        raise ValueError(
            "ShieldAdvancedEdge needs a stack with a concrete Region, like "
            "Stack(app, 'Api', env=Environment(account='111122223333', region='eu-west-1')): "
            "its CloudFront web ACL must be created in "
            f"{EDGE_REGION}, in a stack of its own unless the API's stack is there too, and "
            "which it is cannot be told from an environment-agnostic stack"
        )
    if stack.region == EDGE_REGION:
        return stack
    stage = Stage.of(stack)
    assert stage is not None
    edge_id = f"{stack.node.id}-edge"
    existing = stage.node.try_find_child(edge_id)
    if isinstance(existing, Stack):
        return existing
    edge = Stack(
        stage,
        edge_id,
        # An environment-agnostic account stays so: both stacks deploy to the CLI's account.
        env=Environment(
            account=None if Token.is_unresolved(stack.account) else stack.account,
            region=EDGE_REGION,
        ),
        stack_name=f"{stack.stack_name}-{stack.region}-edge",
        description=(
            f"secure-endpoint: the CloudFront web ACL of {stack.stack_name} ({stack.region})"
        ),
        termination_protection=stack.termination_protection,
    )
    stack.add_stack_dependency(edge, "the distribution uses its CloudFront web ACL")
    return edge

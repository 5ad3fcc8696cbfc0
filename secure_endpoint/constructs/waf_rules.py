"""The WAF rule builders both web ACLs are made of, and the order they are evaluated in.

Each builder takes a rule's name and priority (and its settings) and returns one
``wafv2.CfnWebACL.RuleProperty``; priorities are assigned in one place (``with_priorities``),
by purpose, in this order (lower is evaluated first):

====== ================================================================ =======================
band   purpose                                                          rules
====== ================================================================ =======================
0-9    who may talk at all: the CloudFront origin secret, the allowlist  origin secret, allowlist
10-19  who may not: deny list, auto-block list, further blocked IP sets  deny, auto-block, feeds,
       (threat intelligence), countries                                 geo
20-29  how much: per source address, per API key                        per IP, per API key
30     how large: the body size                                         body size
31     what shape: a text/csv body's characters (with CSV input          CSV body
       constraints)
40-59  what: AWS managed rule groups, in the order given                up to 20
====== ================================================================ =======================

Cheap, decisive rules come first: a request that fails them is blocked before it is counted by
a rate rule or inspected by a rule group (which costs capacity units and adds latency), and a
blocked address never uses up a rate counter. The body size rule precedes the rule groups so
that an oversized body gets a clear 413 rather than whatever a group says about its first bytes.

The REGIONAL web ACL (``edge.WebAclProtection``) and the CLOUDFRONT one
(``cloudfront_web_acl.CloudFrontWebAcl``) both use them; the names are public within the
package, not re-exported from ``secure_endpoint``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_wafv2 as wafv2

from secure_endpoint.constructs import _validation as check
from secure_endpoint.constructs.api import error_body

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
CSV_BODY_RULE = "CsvBodyCharacters"
#: The header CloudFront appends the viewer's address to; the last entry is the one it added.
FORWARDED_FOR_HEADER = "X-Forwarded-For"
# The rule of the Common Rule Set that blocks bodies over 8 KB with a bare 403; the body size rule
# enforces ``max_body_bytes`` instead, with a 413 JSON body.
CRS = "AWSManagedRulesCommonRuleSet"
CRS_BODY_SIZE_RULE = "SizeRestrictions_BODY"

#: The custom response body keys: 403, 429, 413 and 400.
FORBIDDEN = "forbidden"
THROTTLED = "throttled"
TOO_LARGE = "too_large"
INVALID_BODY = "invalid_body"
_JSON = "APPLICATION_JSON"

Rule = wafv2.CfnWebACL.RuleProperty
RuleBuilder = Callable[[int], Rule]


class Band(enum.Enum):
    """Rule priorities by purpose: (first, last), evaluated lowest first."""

    ALLOW = (0, 9)
    DENY = (10, 19)
    RATE = (20, 29)
    BODY_SIZE = (30, 30)
    BODY_SHAPE = (31, 31)
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
    """The JSON bodies of the web ACL's own answers (403, 429, 413, 400), by response body key."""
    bodies = {
        FORBIDDEN: waf_error_body(FORBIDDEN, "The request was blocked."),
        THROTTLED: waf_error_body(THROTTLED, "Rate limit exceeded; retry later."),
        TOO_LARGE: waf_error_body(
            TOO_LARGE, f"The request body is larger than {max_body_bytes} bytes."
        ),
        INVALID_BODY: waf_error_body(
            INVALID_BODY, "The request body does not match the input schema."
        ),
    }
    return {
        key: wafv2.CfnWebACL.CustomResponseBodyProperty(content_type=_JSON, content=content)
        for key, content in bodies.items()
    }


def window_seconds(prop: str, window: Duration | None) -> int:
    """A rate rule's window in seconds (1, 2, 5 or 10 minutes), checked as ``prop``."""
    window = window or Duration.seconds(DEFAULT_RATE_WINDOW_SEC)
    if not isinstance(window, Duration):
        raise ValueError(f"{prop} must be a Duration, like Duration.minutes(5), got {window!r}")
    return check.waf_rate_window(prop, window.to_seconds(integral=False))


def with_priorities(bands: Mapping[Band, Sequence[RuleBuilder]]) -> list[Rule]:
    """Build every rule with its priority: bands in order, rules in order within a band."""
    rules: list[Rule] = []
    for band in Band:
        builders = bands.get(band, ())
        if len(builders) > band.size:
            raise ValueError(
                f"the {band.name.lower()} band holds at most {band.size} rules, got {len(builders)}"
            )
        first, _ = band.value
        rules.extend(build(first + index) for index, build in enumerate(builders))
    return rules


def visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    """CloudWatch metrics and sampled requests, under ``metric_name``."""
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, sampled_requests_enabled=True, metric_name=metric_name
    )


def block(
    status: int, body_key: str, headers: Mapping[str, str] | None = None
) -> wafv2.CfnWebACL.RuleActionProperty:
    """Block with ``status``, the custom response body ``body_key`` and ``headers``."""
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


def origin_secret_rule(name: str, priority: int, *, value: str) -> Rule:
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
    return Rule(
        name=name,
        priority=priority,
        statement=wafv2.CfnWebACL.StatementProperty(
            not_statement=wafv2.CfnWebACL.NotStatementProperty(
                statement=wafv2.CfnWebACL.StatementProperty(
                    or_statement=wafv2.CfnWebACL.OrStatementProperty(statements=accepted)
                )
            )
        ),
        action=block(403, FORBIDDEN),
        visibility_config=visibility(name),
    )


def ip_set_rule(
    name: str,
    priority: int,
    *,
    ip_sets: Sequence[wafv2.CfnIPSet],
    forwarded: bool,
    negate: bool,
) -> Rule:
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
    return forbid(name, priority, matched, negate=negate)


def geo_rule(name: str, priority: int, *, countries: Sequence[str], negate: bool) -> Rule:
    """Block, with 403 ``forbidden``, requests from (``negate``: from outside) the countries."""
    matched = wafv2.CfnWebACL.StatementProperty(
        geo_match_statement=wafv2.CfnWebACL.GeoMatchStatementProperty(country_codes=list(countries))
    )
    return forbid(name, priority, matched, negate=negate)


def forbid(
    name: str, priority: int, matched: wafv2.CfnWebACL.StatementProperty, *, negate: bool
) -> Rule:
    """Block, with 403 ``forbidden``, what ``matched`` matches (``negate``: what it does not)."""
    return Rule(
        name=name,
        priority=priority,
        statement=(
            wafv2.CfnWebACL.StatementProperty(
                not_statement=wafv2.CfnWebACL.NotStatementProperty(statement=matched)
            )
            if negate
            else matched
        ),
        action=block(403, FORBIDDEN),
        visibility_config=visibility(name),
    )


def api_key_rate_rule(name: str, priority: int, *, limit: int, window_sec: int) -> Rule:
    """Block an ``x-api-key`` value over ``limit`` requests in ``window_sec`` with 429."""
    return Rule(
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
        action=block(429, THROTTLED, {"Retry-After": str(window_sec)}),
        visibility_config=visibility(name),
    )


def rate_rule(name: str, priority: int, *, limit: int, window_sec: int) -> Rule:
    """Block a source IP over ``limit`` requests in ``window_sec`` with 429 ``throttled``."""
    return Rule(
        name=name,
        priority=priority,
        statement=wafv2.CfnWebACL.StatementProperty(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                aggregate_key_type="IP", limit=limit, evaluation_window_sec=window_sec
            )
        ),
        action=block(429, THROTTLED, {"Retry-After": str(window_sec)}),
        visibility_config=visibility(name),
    )


def managed_rule(group: str, priority: int, *, overrides: Mapping[str, str]) -> Rule:
    """An AWS managed rule group with its own metric, its actions as ``overrides`` change them.

    The Common Rule Set's 8 KB body rule counts unless overridden: the body size rule enforces
    ``max_body_bytes`` with a clearer answer.
    """
    rule_actions = dict(overrides)
    whole_group_counts = rule_actions.pop(check.WAF_WHOLE_GROUP, None) == "COUNT"
    if group == CRS:
        rule_actions.setdefault(CRS_BODY_SIZE_RULE, "COUNT")
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
    return Rule(
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
        visibility_config=visibility(group),
    )


def body_size_rule(name: str, priority: int, *, max_bytes: int) -> Rule:
    """Block bodies over ``max_bytes``, and bodies too large to inspect, with 413 ``too_large``."""
    return Rule(
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
        action=block(413, TOO_LARGE),
        visibility_config=visibility(name),
    )


def csv_body_rule(name: str, priority: int, *, forbidden: str) -> Rule:
    """Block, with 400 ``invalid_body``, a ``text/csv`` request whose body holds a character
    that the regular expression ``forbidden`` matches (the part WAF inspects: the first
    ``max_body_bytes``, larger bodies being blocked by the body size rule before)."""
    content_type = wafv2.CfnWebACL.StatementProperty(
        byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                single_header={"Name": "content-type"}
            ),
            positional_constraint="STARTS_WITH",
            search_string="text/csv",
            text_transformations=[
                wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="LOWERCASE")
            ],
        )
    )
    bad_character = wafv2.CfnWebACL.StatementProperty(
        regex_match_statement=wafv2.CfnWebACL.RegexMatchStatementProperty(
            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                body=wafv2.CfnWebACL.BodyProperty(oversize_handling="CONTINUE")
            ),
            regex_string=forbidden,
            text_transformations=[
                wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
            ],
        )
    )
    return Rule(
        name=name,
        priority=priority,
        statement=wafv2.CfnWebACL.StatementProperty(
            and_statement=wafv2.CfnWebACL.AndStatementProperty(
                statements=[content_type, bad_character]
            )
        ),
        action=block(400, INVALID_BODY),
        visibility_config=visibility(name),
    )


def response_body_keys(rules: Sequence[Rule]) -> set[str]:
    """The custom response bodies the rules answer with (a web ACL defines only those)."""
    keys = set()
    for rule in rules:
        action = rule.action
        blocked = action.block if isinstance(action, wafv2.CfnWebACL.RuleActionProperty) else None
        response = (
            blocked.custom_response
            if isinstance(blocked, wafv2.CfnWebACL.BlockActionProperty)
            else None
        )
        if isinstance(response, wafv2.CfnWebACL.CustomResponseProperty):
            keys.add(str(response.custom_response_body_key))
    return keys

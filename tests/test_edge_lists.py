"""The web ACL's lists and options: deny and auto-block sets, per-key rate, overrides, geo, and
the variant behind CloudFront (origin secret, forwarded addresses). Nag and cfn-lint under the
construct: test_compliance_matrix.py."""

import ipaddress
import json

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_wafv2 as wafv2
from aws_cdk.assertions import Annotations, Match, Template
from configurations import once
from test_edge import brought_acl, mock_api

from secure_endpoint.constructs.edge import (
    ALLOWLIST_RULE,
    AUTO_BLOCK_RULE,
    BLOCKED_IP_SETS_RULE,
    BODY_SIZE_RULE,
    DENY_LIST_RULE,
    GEO_RULE,
    ORIGIN_SECRET_RULE,
    ORIGIN_VERIFY_HEADER,
    RATE_LIMIT_PER_API_KEY_RULE,
    RATE_LIMIT_PER_IP_RULE,
    SOURCE_ADDRESS_RULE_GROUPS,
    WebAclProtection,
)
from secure_endpoint.constructs.keys import EncryptionKey

pytestmark = pytest.mark.synth

ALLOWED = [ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("2001:db8::/32")]
DENIED = [
    ipaddress.ip_network("198.51.100.0/24"),
    ipaddress.ip_network("192.0.2.7/32"),
    ipaddress.ip_network("2001:db9::/48"),
]
FORBIDDEN = {
    "Block": {"CustomResponse": {"ResponseCode": 403, "CustomResponseBodyKey": "forbidden"}}
}


def feed_ip_set(stack):
    return wafv2.CfnIPSet(
        stack, "Feed", scope="REGIONAL", ip_address_version="IPV4", addresses=["100.64.0.0/10"]
    )


def configuration():
    """The configuration of this module (and a row of the compliance matrix, which counts the
    findings under ``Lists/Waf`` and ``Front/Waf``: the mock APIs are not hardened)."""
    app = App()
    stack = Stack(app, "Lists")
    key = EncryptionKey(stack, "Key").key
    feed = feed_ip_set(stack)
    waf = WebAclProtection(
        stack,
        "Waf",
        stage=mock_api(stack).deployment_stage,
        key=key,
        allowed_cidrs=ALLOWED,
        denied_cidrs=DENIED,
        blocked_ip_sets=[feed],
        blocked_countries=["KP", "IR"],
        rate_limit_per_api_key=6000,
        api_key_rate_window=Duration.minutes(1),
        managed_rule_overrides={
            "AWSManagedRulesCommonRuleSet": {"NoUserAgent_HEADER": "COUNT"},
            "AWSManagedRulesAnonymousIpList": {"*": "COUNT"},
            "AWSManagedRulesKnownBadInputsRuleSet": {"Log4JRCE_HEADER": "BLOCK"},
        },
    )
    monitor = iam.Role(stack, "Monitor", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    waf.grant_update_auto_block_list(monitor)
    operators = iam.Role(stack, "Operators", assumed_by=iam.AccountRootPrincipal())
    waf.grant_update_deny_list(operators)

    front = Stack(app, "Front")
    secret = secretsmanager.Secret(
        front,
        "OriginSecret",
        encryption_key=kms.Key(front, "SecretKey", enable_key_rotation=True),
        generate_secret_string=secretsmanager.SecretStringGenerator(
            exclude_punctuation=True, password_length=64
        ),
    )
    fronted = WebAclProtection(
        front,
        "Waf",
        stage=mock_api(front).deployment_stage,
        key=EncryptionKey(front, "Key").key,
        allowed_cidrs=ALLOWED,
        denied_cidrs=DENIED,
        origin_secret=secret,
    )
    return {
        "app": app,
        "stack": stack,
        "waf": waf,
        "feed": feed,
        "template": Template.from_stack(stack),
        "front": front,
        "secret": secret,
        "fronted": fronted,
        "front_template": Template.from_stack(front),
    }


@pytest.fixture(scope="module")
def built():
    return once(configuration)


def rules_of(template):
    (acl,) = template.find_resources("AWS::WAFv2::WebACL").values()
    return {rule["Name"]: rule for rule in acl["Properties"]["Rules"]}


@pytest.fixture(scope="module")
def rules(built):
    return rules_of(built["template"])


@pytest.fixture(scope="module")
def front_rules(built):
    return rules_of(built["front_template"])


def arn_of(stack, ip_set):
    return {"Fn::GetAtt": [stack.get_logical_id(ip_set), "Arn"]}


def addresses(template, ip_set, stack):
    return template.to_json()["Resources"][stack.get_logical_id(ip_set)]["Properties"]


# --- IP set families --------------------------------------------------------------------------


def test_every_rule_has_its_place_in_the_bands(rules):
    assert {name: rule["Priority"] for name, rule in rules.items()} == {
        ALLOWLIST_RULE: 0,
        DENY_LIST_RULE: 10,
        AUTO_BLOCK_RULE: 11,
        BLOCKED_IP_SETS_RULE: 12,
        GEO_RULE: 13,
        RATE_LIMIT_PER_IP_RULE: 20,
        RATE_LIMIT_PER_API_KEY_RULE: 21,
        BODY_SIZE_RULE: 30,
        "AWSManagedRulesCommonRuleSet": 40,
        "AWSManagedRulesKnownBadInputsRuleSet": 41,
        "AWSManagedRulesAmazonIpReputationList": 42,
        "AWSManagedRulesAnonymousIpList": 43,
    }


def test_the_deny_list_holds_denied_cidrs_in_both_families(built):
    stack, template, waf = built["stack"], built["template"], built["waf"]
    v4, v6 = (addresses(template, s, stack) for s in waf.deny_ip_sets)
    assert v4["IPAddressVersion"] == "IPV4"
    assert v4["Addresses"] == ["192.0.2.7/32", "198.51.100.0/24"]
    assert v6["IPAddressVersion"] == "IPV6"
    assert v6["Addresses"] == ["2001:db9::/48"]


def test_the_auto_block_list_starts_empty_in_both_families(built):
    stack, template, waf = built["stack"], built["template"], built["waf"]
    props = [addresses(template, s, stack) for s in waf.auto_block_ip_sets]
    assert [(p["IPAddressVersion"], p["Addresses"]) for p in props] == [
        ("IPV4", []),
        ("IPV6", []),
    ]


@pytest.mark.parametrize(
    ("rule", "attribute"),
    [(DENY_LIST_RULE, "deny_ip_sets"), (AUTO_BLOCK_RULE, "auto_block_ip_sets")],
)
def test_deny_and_auto_block_rules_block_either_family_with_a_403(built, rules, rule, attribute):
    stack = built["stack"]
    ip_sets = getattr(built["waf"], attribute)
    assert rules[rule]["Action"] == FORBIDDEN
    assert rules[rule]["Statement"] == {
        "OrStatement": {
            "Statements": [
                {"IPSetReferenceStatement": {"Arn": arn_of(stack, ip_set)}} for ip_set in ip_sets
            ]
        }
    }


def test_blocked_ip_sets_from_feeds_are_blocked(built, rules):
    assert rules[BLOCKED_IP_SETS_RULE]["Action"] == FORBIDDEN
    assert rules[BLOCKED_IP_SETS_RULE]["Statement"] == {
        "IPSetReferenceStatement": {"Arn": arn_of(built["stack"], built["feed"])}
    }


def test_an_empty_deny_list_still_exists_so_that_operators_can_fill_it():
    stack = Stack(App(), "Empty")
    waf = WebAclProtection(
        stack, "Waf", stage=mock_api(stack).deployment_stage, key=kms.Key(stack, "K")
    )
    assert len(waf.deny_ip_sets) == len(waf.auto_block_ip_sets) == 2
    assert ALLOWLIST_RULE not in rules_of(Template.from_stack(stack))


def test_the_monitor_may_update_only_the_auto_block_sets(built):
    stack, waf = built["stack"], built["waf"]
    policies = built["template"].find_resources(
        "AWS::IAM::Policy",
        {
            "Properties": {
                "Roles": [
                    {
                        "Ref": stack.get_logical_id(
                            stack.node.find_child("Monitor").node.default_child
                        )
                    }
                ]
            }
        },
    )
    (policy,) = policies.values()
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {
            "Action": ["wafv2:GetIPSet", "wafv2:UpdateIPSet"],
            "Effect": "Allow",
            "Resource": [arn_of(stack, s) for s in waf.auto_block_ip_sets],
        }
    ]


def test_operators_may_update_the_deny_sets(built):
    stack, waf = built["stack"], built["waf"]
    operators = stack.node.find_child("Operators").node.default_child
    (policy,) = (
        built["template"]
        .find_resources(
            "AWS::IAM::Policy",
            {"Properties": {"Roles": [{"Ref": stack.get_logical_id(operators)}]}},
        )
        .values()
    )
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Resource"] == [arn_of(stack, s) for s in waf.deny_ip_sets]


def test_a_brought_web_acl_has_no_lists_to_grant(new_stage):
    stack, stage, key = new_stage
    waf = WebAclProtection(stack, "Waf", stage=stage, key=key, web_acl=brought_acl(stack))
    role = iam.Role(stack, "R", assumed_by=iam.AccountRootPrincipal())
    with pytest.raises(ValueError, match="no auto-block list: it was brought"):
        waf.grant_update_auto_block_list(role)


# --- rate per API key, overrides, geo ---------------------------------------------------------


def test_the_api_key_rate_rule_counts_each_key_value(rules):
    rule = rules[RATE_LIMIT_PER_API_KEY_RULE]
    assert rule["Statement"] == {
        "RateBasedStatement": {
            "AggregateKeyType": "CUSTOM_KEYS",
            "CustomKeys": [
                {
                    "Header": {
                        "Name": "x-api-key",
                        "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
                    }
                }
            ],
            "Limit": 6000,
            "EvaluationWindowSec": 60,
        }
    }
    assert rule["Action"]["Block"]["CustomResponse"] == {
        "ResponseCode": 429,
        "CustomResponseBodyKey": "throttled",
        "ResponseHeaders": [{"Name": "Retry-After", "Value": "60"}],
    }


def test_rule_overrides_count_or_block_single_rules(rules):
    def overrides(group):
        return rules[group]["Statement"]["ManagedRuleGroupStatement"].get("RuleActionOverrides")

    assert overrides("AWSManagedRulesCommonRuleSet") == [
        {"Name": "NoUserAgent_HEADER", "ActionToUse": {"Count": {}}},
        {"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}},
    ]
    assert overrides("AWSManagedRulesKnownBadInputsRuleSet") == [
        {"Name": "Log4JRCE_HEADER", "ActionToUse": {"Block": {}}}
    ]
    assert rules["AWSManagedRulesKnownBadInputsRuleSet"]["OverrideAction"] == {"None": {}}


def test_a_whole_group_can_be_set_to_count(rules):
    group = rules["AWSManagedRulesAnonymousIpList"]
    assert group["OverrideAction"] == {"Count": {}}
    assert "RuleActionOverrides" not in group["Statement"]["ManagedRuleGroupStatement"]


def test_counting_rules_is_a_warned_weakening(built):
    Annotations.from_stack(built["stack"]).has_warning(
        "/Lists/Waf",
        Match.string_like_regexp(
            r"AWSManagedRulesCommonRuleSet/NoUserAgent_HEADER, "
            r"AWSManagedRulesAnonymousIpList \(all rules\) to COUNT"
        ),
    )


def test_blocked_countries_are_blocked(rules):
    assert rules[GEO_RULE]["Statement"] == {"GeoMatchStatement": {"CountryCodes": ["KP", "IR"]}}
    assert rules[GEO_RULE]["Action"] == FORBIDDEN


def test_allowed_countries_block_every_other_country(new_stage):
    stack, stage, key = new_stage
    WebAclProtection(stack, "Waf", stage=stage, key=key, allowed_countries=["DE", "FR"])
    rule = rules_of(Template.from_stack(stack))[GEO_RULE]
    assert rule["Statement"] == {
        "NotStatement": {"Statement": {"GeoMatchStatement": {"CountryCodes": ["DE", "FR"]}}}
    }


# --- behind CloudFront ------------------------------------------------------------------------


def test_behind_cloudfront_the_origin_secret_is_checked_first(built, front_rules):
    front, secret = built["front"], built["secret"]
    rule = front_rules[ORIGIN_SECRET_RULE]
    assert rule["Priority"] == 0
    assert rule["Action"] == FORBIDDEN
    value = front.resolve(secret.secret_value.unsafe_unwrap())
    match = {
        "ByteMatchStatement": {
            "FieldToMatch": {"SingleHeader": {"Name": ORIGIN_VERIFY_HEADER}},
            "PositionalConstraint": "EXACTLY",
            "SearchString": value,
            "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
        }
    }
    assert rule["Statement"] == {
        "NotStatement": {"Statement": {"OrStatement": {"Statements": [match, match]}}}
    }
    assert "resolve:secretsmanager" in json.dumps(value)


def test_behind_cloudfront_ip_sets_read_the_address_cloudfront_appended(front_rules):
    allow = front_rules[ALLOWLIST_RULE]["Statement"]["NotStatement"]["Statement"]["OrStatement"]
    deny = front_rules[DENY_LIST_RULE]["Statement"]["OrStatement"]
    for statements, fallback in ((allow, "NO_MATCH"), (deny, "MATCH")):
        for statement in statements["Statements"]:
            assert statement["IPSetReferenceStatement"]["IPSetForwardedIPConfig"] == {
                "HeaderName": "X-Forwarded-For",
                "Position": "LAST",
                "FallbackBehavior": fallback,
            }


def test_behind_cloudfront_source_address_rules_are_left_to_cloudfront(front_rules):
    assert RATE_LIMIT_PER_IP_RULE not in front_rules
    assert not SOURCE_ADDRESS_RULE_GROUPS & set(front_rules)
    assert {ORIGIN_SECRET_RULE, ALLOWLIST_RULE, RATE_LIMIT_PER_API_KEY_RULE} <= set(front_rules)
    assert front_rules[ALLOWLIST_RULE]["Priority"] == 1


@pytest.mark.parametrize(
    ("props", "match"),
    [
        ({"rate_limit_per_ip": 500}, r"rate_limit_per_ip cannot be combined with origin_secret"),
        (
            {"blocked_countries": ["KP"]},
            r"blocked_countries/allowed_countries cannot be combined with origin_secret",
        ),
    ],
)
def test_behind_cloudfront_source_address_props_are_refused(new_stage, props, match):
    stack, stage, key = new_stage
    secret = secretsmanager.Secret(stack, "S")
    with pytest.raises(ValueError, match=match):
        WebAclProtection(stack, "Waf", stage=stage, key=key, origin_secret=secret, **props)


# --- bad input --------------------------------------------------------------------------------


@pytest.fixture
def new_stage():
    stack = Stack(App(), "Fresh")
    return stack, mock_api(stack).deployment_stage, kms.Key(stack, "Key")


@pytest.mark.parametrize(
    ("props", "match"),
    [
        (
            {"allowed_cidrs": ALLOWED, "denied_cidrs": [ipaddress.ip_network("203.0.113.128/25")]},
            r"allowed_cidrs entry '203.0.113.0/24' overlaps denied_cidrs entry '203.0.113.128/25'",
        ),
        (
            {
                "denied_cidrs": [
                    ipaddress.ip_network(f"10.{i // 256}.{i % 256}.0/24") for i in range(10_001)
                ]
            },
            r"denied_cidrs holds 10001 IPv4 blocks; a WAF IP set takes at most 10000",
        ),
        ({"rate_limit_per_api_key": 5}, r"rate_limit_per_api_key must be a whole number from 10"),
        (
            {"api_key_rate_window": Duration.minutes(3)},
            r"api_key_rate_window must be one of 1 min, 2 min, 5 min, 10 min",
        ),
        ({"blocked_countries": ["XX"]}, r"blocked_countries must hold ISO 3166 .* got 'XX'"),
        ({"allowed_countries": "DE"}, r"allowed_countries must be a list of country codes"),
        ({"blocked_countries": ["KP", "KP"]}, r"blocked_countries names a country twice"),
        (
            {"blocked_countries": ["KP"], "allowed_countries": ["DE"]},
            r"give blocked_countries or allowed_countries, not both",
        ),
        (
            {"managed_rule_overrides": {"AWSManagedRulesSQLiRuleSet": {"X": "COUNT"}}},
            r"names rule group 'AWSManagedRulesSQLiRuleSet', which the web ACL does not use",
        ),
        (
            {"managed_rule_overrides": {"AWSManagedRulesCommonRuleSet": {"X": "ALLOW"}}},
            r"\['X'\] must be one of 'COUNT', 'BLOCK', got 'ALLOW'",
        ),
        (
            {"managed_rule_overrides": {"AWSManagedRulesCommonRuleSet": {"*": "BLOCK"}}},
            r"\['\*'\] must be one of 'COUNT', got 'BLOCK'",
        ),
        (
            {"managed_rule_overrides": {"AWSManagedRulesCommonRuleSet": {"bad name": "COUNT"}}},
            r"names rule 'bad name'; rule names are 1-128 letters",
        ),
        (
            {"managed_rule_overrides": {"AWSManagedRulesCommonRuleSet": {}}},
            r"\['AWSManagedRulesCommonRuleSet'\] must map rule names",
        ),
        ({"managed_rule_overrides": ["x"]}, r"managed_rule_overrides must map rule group names"),
    ],
)
def test_rejects_bad_list_props(new_stage, props, match):
    stack, stage, key = new_stage
    with pytest.raises(ValueError, match=match):
        WebAclProtection(stack, "Waf", stage=stage, key=key, **props)


def test_rejects_more_than_ten_blocked_ip_sets(new_stage):
    stack, stage, key = new_stage
    sets = [
        wafv2.CfnIPSet(stack, f"S{i}", scope="REGIONAL", ip_address_version="IPV4", addresses=[])
        for i in range(11)
    ]
    with pytest.raises(ValueError, match="blocked_ip_sets may hold at most 10 IP sets, got 11"):
        WebAclProtection(stack, "Waf", stage=stage, key=key, blocked_ip_sets=sets)


def test_rejects_list_props_a_brought_web_acl_would_ignore(new_stage):
    stack, stage, key = new_stage
    with pytest.raises(
        ValueError, match=r"denied_cidrs, origin_secret cannot be combined with web_acl"
    ):
        WebAclProtection(
            stack,
            "Waf",
            stage=stage,
            key=key,
            denied_cidrs=DENIED,
            origin_secret=secretsmanager.Secret(stack, "S"),
            web_acl=brought_acl(stack),
        )

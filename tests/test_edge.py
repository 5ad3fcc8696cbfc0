"""The baseline web ACL: rules, custom responses, association and logs, synthesized once.
Nag and cfn-lint under the construct: test_compliance_matrix.py."""

import json

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_kms as kms
from aws_cdk import aws_wafv2 as wafv2
from aws_cdk.assertions import Annotations, Capture, Match, Template
from configurations import once

from secure_endpoint import compliance
from secure_endpoint.constructs import _validation as check
from secure_endpoint.constructs.edge import (
    AUTO_BLOCK_RULE,
    BODY_SIZE_RULE,
    DEFAULT_MANAGED_RULE_GROUPS,
    DENY_LIST_RULE,
    RATE_LIMIT_PER_API_KEY_RULE,
    RATE_LIMIT_PER_IP_RULE,
    WebAclProtection,
    waf_error_body,
)
from secure_endpoint.constructs.keys import EncryptionKey

pytestmark = pytest.mark.synth


def mock_api(stack):
    """A minimal REST API: one mock-integration method, so that it has a stage."""
    api = apigw.RestApi(stack, "Api", cloud_watch_role=False)
    api.root.add_method(
        "GET",
        apigw.MockIntegration(
            request_templates={"application/json": '{"statusCode": 200}'},
            integration_responses=[apigw.IntegrationResponse(status_code="200")],
        ),
        method_responses=[apigw.MethodResponse(status_code="200")],
    )
    return api


def brought_acl(stack, scope="REGIONAL"):
    return wafv2.CfnWebACL(
        stack,
        "OwnAcl",
        scope=scope,
        default_action=wafv2.CfnWebACL.DefaultActionProperty(
            allow=wafv2.CfnWebACL.AllowActionProperty()
        ),
        visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True, sampled_requests_enabled=True, metric_name="OwnAcl"
        ),
    )


def configuration():
    """The configuration of this module (and a row of the compliance matrix, which counts the
    findings under ``Edge/Waf`` and ``Brought/Waf``: the mock APIs are not hardened)."""
    app = App()
    stack = Stack(app, "Edge")
    key = EncryptionKey(stack, "Key").key
    api = mock_api(stack)
    waf = WebAclProtection(stack, "Waf", stage=api.deployment_stage, key=key)

    brought_stack = Stack(app, "Brought")
    brought_api = mock_api(brought_stack)
    own_acl = brought_acl(brought_stack)
    brought = WebAclProtection(
        brought_stack,
        "Waf",
        stage=brought_api.deployment_stage,
        key=kms.Key(brought_stack, "Key", enable_key_rotation=True),
        web_acl=own_acl,
    )

    mock_api(Stack(app, "Bare"))  # a stage with no web ACL, to show what nag reports then
    return {
        "app": app,
        "stack": stack,
        "api": api,
        "key": key,
        "waf": waf,
        "template": Template.from_stack(stack),
        "brought_stack": brought_stack,
        "brought_api": brought_api,
        "brought": brought,
        "own_acl": own_acl,
        "brought_template": Template.from_stack(brought_stack),
    }


@pytest.fixture(scope="module")
def built():
    return once(configuration)


@pytest.fixture(scope="module")
def template(built):
    return built["template"]


@pytest.fixture(scope="module")
def web_acl(template):
    (acl,) = template.find_resources("AWS::WAFv2::WebACL").values()
    return acl["Properties"]


@pytest.fixture(scope="module")
def rules(web_acl):
    return {rule["Name"]: rule for rule in web_acl["Rules"]}


def logical_id(construct):
    return Stack.of(construct).get_logical_id(construct.node.default_child)


# --- the web ACL and its rules ----------------------------------------------------------------


def test_the_web_acl_is_regional_and_allows_what_no_rule_blocks(web_acl):
    assert web_acl["Scope"] == "REGIONAL"
    assert web_acl["DefaultAction"] == {"Allow": {}}


def test_the_association_targets_the_stage_arn(built, template):
    stack, api, waf = built["stack"], built["api"], built["waf"]
    template.has_resource_properties(
        "AWS::WAFv2::WebACLAssociation",
        {
            "ResourceArn": stack.resolve(api.deployment_stage.stage_arn),
            "WebACLArn": {"Fn::GetAtt": [stack.get_logical_id(waf.web_acl), "Arn"]},
        },
    )


def test_rules_have_their_documented_priorities(web_acl):
    priorities = {rule["Name"]: rule["Priority"] for rule in web_acl["Rules"]}
    assert priorities == {
        DENY_LIST_RULE: 10,
        AUTO_BLOCK_RULE: 11,
        RATE_LIMIT_PER_IP_RULE: 20,
        RATE_LIMIT_PER_API_KEY_RULE: 21,
        BODY_SIZE_RULE: 30,
        **{name: 40 + i for i, name in enumerate(DEFAULT_MANAGED_RULE_GROUPS)},
    }


def test_the_rate_rule_blocks_a_source_ip_over_the_limit_with_a_429(template):
    template.has_resource_properties(
        "AWS::WAFv2::WebACL",
        {
            "Rules": Match.array_with(
                [
                    Match.object_like(
                        {
                            "Name": RATE_LIMIT_PER_IP_RULE,
                            "Priority": 20,
                            "Statement": {
                                "RateBasedStatement": {
                                    "AggregateKeyType": "IP",
                                    "Limit": 1000,
                                    "EvaluationWindowSec": 300,
                                }
                            },
                            "Action": {
                                "Block": {
                                    "CustomResponse": {
                                        "ResponseCode": 429,
                                        "CustomResponseBodyKey": "throttled",
                                        "ResponseHeaders": [
                                            {"Name": "Retry-After", "Value": "300"}
                                        ],
                                    }
                                }
                            },
                        }
                    )
                ]
            )
        },
    )


@pytest.mark.parametrize(("index", "group"), list(enumerate(DEFAULT_MANAGED_RULE_GROUPS)))
def test_each_managed_rule_group_keeps_its_own_actions_and_metric(rules, index, group):
    rule = rules[group]
    assert rule["Priority"] == 40 + index
    assert rule["OverrideAction"] == {"None": {}}
    assert "Action" not in rule
    statement = rule["Statement"]["ManagedRuleGroupStatement"]
    assert (statement["VendorName"], statement["Name"]) == ("AWS", group)
    assert rule["VisibilityConfig"]["MetricName"] == group


def test_only_the_common_rule_sets_8kb_body_rule_is_counted_not_blocked(rules):
    overrides = {
        name: rule["Statement"]["ManagedRuleGroupStatement"].get("RuleActionOverrides")
        for name, rule in rules.items()
        if "ManagedRuleGroupStatement" in rule["Statement"]
    }
    assert overrides.pop("AWSManagedRulesCommonRuleSet") == [
        {"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}
    ]
    assert set(overrides.values()) == {None}


def test_the_body_size_rule_blocks_large_and_uninspectable_bodies_with_a_413(rules, web_acl):
    rule = rules[BODY_SIZE_RULE]
    assert rule["Priority"] == 30
    assert rule["Statement"] == {
        "SizeConstraintStatement": {
            "FieldToMatch": {"Body": {"OversizeHandling": "MATCH"}},
            "ComparisonOperator": "GT",
            "Size": 64 * 1024,
            "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
        }
    }
    assert rule["Action"] == {
        "Block": {"CustomResponse": {"ResponseCode": 413, "CustomResponseBodyKey": "too_large"}}
    }
    assert web_acl["AssociationConfig"] == {
        "RequestBody": {"API_GATEWAY": {"DefaultSizeInspectionLimit": "KB_64"}}
    }


def test_custom_responses_use_bodies_the_web_acl_defines(web_acl):
    keys = {
        rule["Action"]["Block"]["CustomResponse"]["CustomResponseBodyKey"]
        for rule in web_acl["Rules"]
        if "Block" in rule.get("Action", {})
    }
    assert keys == set(web_acl["CustomResponseBodies"]) == {"forbidden", "throttled", "too_large"}


def test_custom_response_bodies_are_the_apis_json_error_shape(web_acl):
    bodies = web_acl["CustomResponseBodies"]
    assert {body["ContentType"] for body in bodies.values()} == {"APPLICATION_JSON"}
    forbidden = json.loads(bodies["forbidden"]["Content"])
    assert forbidden == {"error": "forbidden", "message": "The request was blocked."}
    throttled = json.loads(bodies["throttled"]["Content"])
    too_large = json.loads(bodies["too_large"]["Content"])
    assert throttled == {"error": "throttled", "message": "Rate limit exceeded; retry later."}
    assert too_large == {
        "error": "too_large",
        "message": "The request body is larger than 65536 bytes.",
    }


def test_waf_error_bodies_drop_the_request_id_that_waf_cannot_fill():
    body = waf_error_body("forbidden", "No.")
    assert "$context" not in body
    assert json.loads(body) == {"error": "forbidden", "message": "No."}


def test_every_rule_and_the_web_acl_emit_metrics_and_sampled_requests(web_acl):
    configs = [web_acl["VisibilityConfig"], *(r["VisibilityConfig"] for r in web_acl["Rules"])]
    assert len(configs) == 1 + len(web_acl["Rules"])
    for config in configs:
        assert config["CloudWatchMetricsEnabled"] is True
        assert config["SampledRequestsEnabled"] is True
    metric_names = [config["MetricName"] for config in configs]
    assert len(set(metric_names)) == len(metric_names)


@pytest.mark.parametrize(
    ("max_body_bytes", "limit"),
    [(1, "KB_16"), (16_384, "KB_16"), (16_385, "KB_32"), (49_152, "KB_48"), (65_536, "KB_64")],
)
def test_the_body_inspection_limit_is_the_smallest_that_covers_max_body_bytes(
    max_body_bytes, limit
):
    assert check.waf_body_inspection_limit("max_body_bytes", max_body_bytes) == limit


# --- logging ----------------------------------------------------------------------------------


def test_logging_goes_to_the_waf_log_group_and_redacts_credentials(built, template):
    waf = built["waf"]
    destination = Capture()
    template.has_resource_properties(
        "AWS::WAFv2::LoggingConfiguration",
        {
            "ResourceArn": {"Fn::GetAtt": [built["stack"].get_logical_id(waf.web_acl), "Arn"]},
            "LogDestinationConfigs": [destination],
            "RedactedFields": Match.array_equals(
                [
                    {"SingleHeader": {"Name": "authorization"}},
                    {"SingleHeader": {"Name": "x-api-key"}},
                    {"SingleHeader": {"Name": "x-origin-verify"}},
                ]
            ),
        },
    )
    parts = destination.as_object()["Fn::Join"][1]
    assert parts[-2:] == [":log-group:", {"Ref": logical_id(waf.log_group)}]


def test_the_log_group_is_named_for_waf_encrypted_and_retained(built, template):
    log_group = template.to_json()["Resources"][logical_id(built["waf"].log_group)]
    assert log_group["Properties"]["LogGroupName"].startswith("aws-waf-logs-Edge-Waf-")
    assert log_group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [logical_id(built["key"]), "Arn"]}
    assert log_group["Properties"]["RetentionInDays"] == 365
    assert log_group["DeletionPolicy"] == "Retain"


def test_the_log_group_name_fits_the_limit_however_deep_the_construct():
    stack = Stack(App(), "Deep")
    waf = WebAclProtection(
        stack, "W" * 600, stage=mock_api(stack).deployment_stage, key=kms.Key(stack, "K")
    )
    name = waf.log_group.node.default_child.log_group_name
    assert name.startswith("aws-waf-logs-")
    assert len(name) <= 512


# --- a brought web ACL ------------------------------------------------------------------------


def test_a_brought_web_acl_is_only_associated(built):
    template, stack = built["brought_template"], built["brought_stack"]
    template.has_resource_properties(
        "AWS::WAFv2::WebACLAssociation",
        {
            "ResourceArn": stack.resolve(built["brought_api"].deployment_stage.stage_arn),
            "WebACLArn": {"Fn::GetAtt": [stack.get_logical_id(built["own_acl"]), "Arn"]},
        },
    )
    template.resource_count_is("AWS::WAFv2::WebACL", 1)
    template.has_resource_properties(
        "AWS::WAFv2::WebACL",
        {"VisibilityConfig": {"MetricName": "OwnAcl"}, "Rules": Match.absent()},
    )
    template.resource_count_is("AWS::WAFv2::LoggingConfiguration", 0)
    template.resource_count_is("AWS::Logs::LogGroup", 0)
    assert built["brought"].web_acl is built["own_acl"]
    assert built["brought"].log_group is None


# --- metrics ----------------------------------------------------------------------------------


def test_blocked_requests_metric_covers_all_rules_by_default(built):
    waf, stack = built["waf"], built["stack"]
    metric = waf.metric_blocked_requests()
    assert (metric.namespace, metric.metric_name) == ("AWS/WAFV2", "BlockedRequests")
    assert stack.resolve(metric.dimensions) == {
        "WebACL": {
            "Fn::Select": [0, {"Fn::Split": ["|", {"Ref": stack.get_logical_id(waf.web_acl)}]}]
        },
        "Rule": "ALL",
        "Region": {"Ref": "AWS::Region"},
    }


def test_blocked_requests_metric_of_one_rule_uses_its_metric_name(built):
    metric = built["waf"].metric_blocked_requests(RATE_LIMIT_PER_IP_RULE)
    assert metric.dimensions["Rule"] == RATE_LIMIT_PER_IP_RULE


def test_blocked_requests_metric_rejects_a_rule_the_web_acl_lacks(built):
    with pytest.raises(ValueError, match=r"rule must be one of .*got 'NoSuchRule'"):
        built["waf"].metric_blocked_requests("NoSuchRule")


def test_blocked_requests_metric_of_a_brought_web_acl_uses_its_name(new_stage):
    stack, stage, key = new_stage
    own_acl = brought_acl(stack)
    own_acl.name = "own-acl"
    waf = WebAclProtection(stack, "Waf", stage=stage, key=key, web_acl=own_acl)
    metric = waf.metric_blocked_requests("AnyRuleOfIts")
    assert metric.dimensions == {
        "WebACL": "own-acl",
        "Rule": "AnyRuleOfIts",
        "Region": stack.region,
    }


# --- nag ------------------------------------------------------------------------------------


def test_nag_sees_the_stages_as_protected_by_a_web_acl(built):
    report = compliance.PACKS["AwsSolutions"]().validate_scope(built["app"])
    unprotected = {
        resource.construct_path
        for violation in report.violations
        if violation.rule_name == "AwsSolutions-APIG3"
        for resource in violation.violating_resources
    }
    assert unprotected == {"Bare/Api/DeploymentStage.prod/Resource"}


# --- bad input --------------------------------------------------------------------------------


@pytest.fixture
def new_stage():
    stack = Stack(App(), "Fresh")
    return stack, mock_api(stack).deployment_stage, kms.Key(stack, "Key")


@pytest.mark.parametrize(
    ("props", "match"),
    [
        ({"rate_limit_per_ip": 9}, r"rate_limit_per_ip must be a whole number from 10 to "),
        ({"rate_limit_per_ip": 2_000_000_001}, r"to 2000000000, got 2000000001"),
        ({"rate_limit_per_ip": 100.5}, r"rate_limit_per_ip must be a whole number.*got 100\.5"),
        ({"rate_window": Duration.seconds(90)}, r"rate_window must be one of .*got 90 seconds"),
        ({"rate_window": Duration.minutes(30)}, r"60/120/300/600 seconds\), got 1800 seconds"),
        ({"rate_window": 300}, r"rate_window must be a Duration.*got 300"),
        (
            {"managed_rule_groups": "AWSManagedRulesCommonRuleSet"},
            r"managed_rule_groups must be a list .*got 'AWSManagedRulesCommonRuleSet'",
        ),
        (
            {"managed_rule_groups": ["CommonRuleSet"]},
            r"start with 'AWSManagedRules'.*got 'CommonRuleSet'",
        ),
        (
            {"managed_rule_groups": ["AWSManagedRulesSQLiRuleSet"] * 2},
            r"names 'AWSManagedRulesSQLiRuleSet' twice",
        ),
        (
            {"managed_rule_groups": ["AWSManagedRulesATPRuleSet"]},
            r"'AWSManagedRulesATPRuleSet', which needs ManagedRuleGroupConfigs",
        ),
        (
            {"managed_rule_groups": [f"AWSManagedRulesGroup{i}" for i in range(21)]},
            r"managed_rule_groups may name at most 20 rule groups, got 21",
        ),
        ({"max_body_bytes": 0}, r"max_body_bytes must be a whole number from 1 to 65536, got 0"),
        ({"max_body_bytes": 65_537}, r"max_body_bytes .* from 1 to 65536, got 65537"),
    ],
)
def test_rejects_bad_props(new_stage, props, match):
    stack, stage, key = new_stage
    with pytest.raises(ValueError, match=match):
        WebAclProtection(stack, "Waf", stage=stage, key=key, **props)


def test_rejects_a_brought_web_acl_that_is_not_regional(new_stage):
    stack, stage, key = new_stage
    with pytest.raises(ValueError, match=r"web_acl must have scope 'REGIONAL'.*got 'CLOUDFRONT'"):
        WebAclProtection(
            stack, "Waf", stage=stage, key=key, web_acl=brought_acl(stack, "CLOUDFRONT")
        )


def test_rejects_rule_props_a_brought_web_acl_would_ignore(new_stage):
    stack, stage, key = new_stage
    with pytest.raises(
        ValueError, match=r"rate_limit_per_ip, max_body_bytes cannot be combined with web_acl"
    ):
        WebAclProtection(
            stack,
            "Waf",
            stage=stage,
            key=key,
            rate_limit_per_ip=500,
            max_body_bytes=1024,
            web_acl=brought_acl(stack),
        )


def test_rejects_a_log_group_name_without_the_waf_prefix_or_too_long():
    with pytest.raises(ValueError, match=r"must start with 'aws-waf-logs-'.*got 'waf-logs'"):
        check.waf_log_group_name("waf-logs")
    with pytest.raises(ValueError, match=r"at most 512 characters"):
        check.waf_log_group_name("aws-waf-logs-" + "x" * 500)


def test_warns_when_no_managed_rule_group_is_left(new_stage):
    stack, stage, key = new_stage
    WebAclProtection(stack, "Waf", stage=stage, key=key, managed_rule_groups=[])
    Annotations.from_stack(stack).has_warning(
        "/Fresh/Waf", Match.string_like_regexp("managed_rule_groups is empty")
    )


def test_an_allowlist_blocks_every_other_address_first():
    import ipaddress

    app = App()
    stack = Stack(app, "Allow")
    key = EncryptionKey(stack, "Key").key
    api = apigw.RestApi(stack, "Api")
    api.root.add_method("GET", apigw.MockIntegration())
    cidrs = [ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("2001:db8::/32")]
    WebAclProtection(stack, "Waf", stage=api.deployment_stage, key=key, allowed_cidrs=cidrs)
    template = Template.from_stack(stack)
    v4, v6 = Capture(), Capture()
    template.has_resource_properties(
        "AWS::WAFv2::IPSet", {"IPAddressVersion": "IPV4", "Addresses": ["203.0.113.0/24"]}
    )
    template.has_resource_properties(
        "AWS::WAFv2::IPSet", {"IPAddressVersion": "IPV6", "Addresses": ["2001:db8::/32"]}
    )
    template.has_resource_properties(
        "AWS::WAFv2::WebACL",
        {
            "Rules": Match.array_with(
                [
                    Match.object_like(
                        {
                            "Name": "AllowedAddressesOnly",
                            "Priority": 0,
                            "Action": {
                                "Block": {
                                    "CustomResponse": Match.object_like(
                                        {"ResponseCode": 403, "CustomResponseBodyKey": "forbidden"}
                                    )
                                }
                            },
                            "Statement": {
                                "NotStatement": {
                                    "Statement": {
                                        "OrStatement": {
                                            "Statements": [
                                                {
                                                    "IPSetReferenceStatement": {
                                                        "Arn": {"Fn::GetAtt": [v4, "Arn"]}
                                                    }
                                                },
                                                {
                                                    "IPSetReferenceStatement": {
                                                        "Arn": {"Fn::GetAtt": [v6, "Arn"]}
                                                    }
                                                },
                                            ]
                                        }
                                    }
                                }
                            },
                        }
                    )
                ]
            )
        },
    )
    sets = template.find_resources("AWS::WAFv2::IPSet")
    assert sets[v4.as_string()]["Properties"]["IPAddressVersion"] == "IPV4"
    assert sets[v6.as_string()]["Properties"]["IPAddressVersion"] == "IPV6"

"""Shield Advanced behind CloudFront: the edge stack, the distribution, Shield, the rotation.

Two apps are synthesized once each: an API stack in eu-west-1 (so the CLOUDFRONT web ACL goes to
a separate us-east-1 stack) with CloudFront's default certificate, and one in us-east-1 (one
stack) with a custom domain, a viewer certificate, a country allowlist and counting mitigation.
Both are rows of test_compliance_matrix.py (nag and cfn-lint).
"""

import itertools
import json
import re

import pytest
from aws_cdk import App, CfnElement, Duration, Environment, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_wafv2 as wafv2
from aws_cdk.assertions import Annotations, Capture, Match, Template
from configurations import once
from origin_secret_rotation.rotation import accepted_values
from test_api import CLIENTS, StandInEndpoint

from secure_endpoint.constructs.api import InferenceApi
from secure_endpoint.constructs.edge import (
    GEO_RULE,
    ORIGIN_SECRET_RULE,
    ORIGIN_VERIFY_HEADER,
    RATE_LIMIT_PER_IP_RULE,
    REDACTED_HEADERS,
    WebAclProtection,
    waf_error_body,
)
from secure_endpoint.constructs.identity import OAuthIdentity
from secure_endpoint.constructs.keys import EncryptionKey
from secure_endpoint.constructs.options import CustomDomain, TlsPolicy
from secure_endpoint.constructs.shield import (
    DEFAULT_EDGE_MANAGED_RULE_GROUPS,
    SHIELD_ADVANCED_MONTHLY_FEE_USD,
    AutomaticMitigation,
    EmergencyContact,
    ShieldAdvancedEdge,
    create_origin_secret,
)

pytestmark = pytest.mark.synth

ACCOUNT = "111122223333"
CONTACTS = [
    EmergencyContact("oncall@example.com", "+12025550100", "Primary on-call, 24/7"),
    EmergencyContact("security@example.com"),
]
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


def api_stack(region, *, account=ACCOUNT, custom_domain=None):
    """An app with one stack holding a real InferenceApi, its key and an origin secret."""
    app = App(context={"aws:cdk:bundling-stacks": []})
    env = Environment(account=account, region=region) if region else None
    stack = Stack(app, "Api", env=env)
    return app, stack, add_api(stack, custom_domain=custom_domain)


def add_api(stack, prefix="", *, custom_domain=None):
    """A real InferenceApi with its key, its web ACL and the origin secret that web ACL needs."""
    key = EncryptionKey(stack, f"{prefix}Key").key
    identity = OAuthIdentity(stack, f"{prefix}Identity", clients=CLIENTS)
    api = InferenceApi(
        stack,
        f"{prefix}Inference",
        endpoint=StandInEndpoint(),
        user_pool=identity.user_pool,
        invoke_scope=identity.invoke_scope,
        key=key,
        custom_domain=custom_domain,
    )
    for client in CLIENTS:
        api.add_client(client, f"{client.name}-key-value-from-a-secret-0123456789")
    secret = create_origin_secret(stack, f"{prefix}OriginSecret", key=key)
    waf = WebAclProtection(stack, f"{prefix}Waf", stage=api.stage, key=key, origin_secret=secret)
    return {"key": key, "api": api, "secret": secret, "waf": waf}


def shield_props(parts, **props):
    return {
        "stage": parts["api"].stage,
        "origin_secret": parts["secret"],
        "regional_web_acl": parts["waf"].web_acl,
        "key": parts["key"],
    } | props


def configuration():
    """eu-west-1, with a us-east-1 edge stack (and a row of the compliance matrix)."""
    app, stack, parts = api_stack("eu-west-1")
    edge = ShieldAdvancedEdge(stack, "Shield", **shield_props(parts, emergency_contacts=CONTACTS))
    return {
        "app": app,
        "stack": stack,
        "edge": edge,
        **parts,
        "template": Template.from_stack(stack),
        "edge_template": Template.from_stack(edge.edge_stack),
    }


@pytest.fixture(scope="module")
def built():
    return once(configuration)


@pytest.fixture(scope="module")
def template(built):
    return built["template"]


@pytest.fixture(scope="module")
def edge_template(built):
    return built["edge_template"]


def one_stack_configuration():
    """us-east-1: no edge stack; a custom domain as origin; the distribution's own name (and a
    row of the compliance matrix)."""
    stack_for_certs = Stack(App(), "Certs")
    api_certificate = acm.Certificate.from_certificate_arn(
        stack_for_certs, "ApiCert", f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/api"
    )
    app, stack, parts = api_stack(
        "us-east-1", custom_domain=CustomDomain("origin.example.com", api_certificate)
    )
    viewer_certificate = acm.Certificate(stack, "ViewerCert", domain_name="api.example.com")
    edge = ShieldAdvancedEdge(
        stack,
        "Shield",
        **shield_props(
            parts,
            custom_domain=CustomDomain("origin.example.com", api_certificate),
            domain_names=["api.example.com"],
            certificate=viewer_certificate,
            viewer_security_policy=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2025,
            allowed_countries=["DE", "FR"],
            automatic_mitigation=AutomaticMitigation.COUNT,
            rate_limit_per_ip=500,
            rate_window=Duration.minutes(1),
            rotation_interval=Duration.days(7),
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
        ),
    )
    return {"app": app, "stack": stack, "edge": edge, "template": Template.from_stack(stack)}


@pytest.fixture(scope="module")
def one_stack():
    return once(one_stack_configuration)


def logical_id(construct):
    element = construct if isinstance(construct, CfnElement) else construct.node.default_child
    return Stack.of(construct).get_logical_id(element)


def only(template, resource_type):
    (resource,) = template.find_resources(resource_type).values()
    return resource


def rules_by_name(web_acl):
    return {rule["Name"]: rule for rule in web_acl["Properties"]["Rules"]}


# --- placement --------------------------------------------------------------------------------


def test_the_cloudfront_web_acl_lives_in_a_us_east_1_stack_beside_the_api_stack(built):
    edge_stack, stack = built["edge"].edge_stack, built["stack"]
    assert (edge_stack.region, edge_stack.account) == ("us-east-1", ACCOUNT)
    assert edge_stack.stack_name == "Api-eu-west-1-edge"
    assert edge_stack in stack.dependencies
    built["edge_template"].resource_count_is("AWS::WAFv2::WebACL", 1)
    built["template"].resource_count_is("AWS::WAFv2::WebACL", 1)  # the regional one
    assert only(built["edge_template"], "AWS::WAFv2::WebACL")["Properties"]["Scope"] == (
        "CLOUDFRONT"
    )


def test_the_web_acl_arn_is_the_one_value_that_crosses_regions(built, edge_template, template):
    """A weak reference: CloudFormation reads the edge stack's output; no custom resource."""
    output = Capture()
    reference = {
        "Fn::GetStackOutput": {
            "StackName": "Api-eu-west-1-edge",
            "Region": "us-east-1",
            "OutputName": output,
        }
    }
    template.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {"DistributionConfig": Match.object_like({"WebACLId": reference})},
    )
    assert edge_template.to_json()["Outputs"] == {
        output.as_string(): {"Value": {"Fn::GetAtt": [logical_id(built["edge"].web_acl), "Arn"]}}
    }
    for stack_template in (template, edge_template):
        types = {r["Type"] for r in stack_template.to_json()["Resources"].values()}
        assert not [t for t in types if t.startswith("Custom::")]


def test_a_stack_in_us_east_1_keeps_everything_in_one_stack(one_stack):
    edge, stack, template = one_stack["edge"], one_stack["stack"], one_stack["template"]
    assert edge.edge_stack is stack
    assert stack.dependencies == []
    scopes = sorted(
        acl["Properties"]["Scope"] for acl in template.find_resources("AWS::WAFv2::WebACL").values()
    )
    assert scopes == ["CLOUDFRONT", "REGIONAL"]
    assert "Fn::GetStackOutput" not in json.dumps(template.to_json())
    template.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": Match.object_like(
                {"WebACLId": {"Fn::GetAtt": [logical_id(edge.web_acl), "Arn"]}}
            )
        },
    )


def test_a_brought_edge_stack_holds_the_web_acl():
    app, stack, parts = api_stack("eu-west-1")
    edge_stack = Stack(app, "MyEdge", env=Environment(account=ACCOUNT, region="us-east-1"))
    edge = ShieldAdvancedEdge(stack, "Shield", **shield_props(parts, edge_stack=edge_stack))
    assert edge.edge_stack is edge_stack
    assert Stack.of(edge.web_acl) is edge_stack
    assert edge_stack in stack.dependencies
    assert app.node.try_find_child("Api-edge") is None
    Template.from_stack(stack).has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": Match.object_like(
                {"WebACLId": {"Fn::GetStackOutput": Match.object_like({"StackName": "MyEdge"})}}
            )
        },
    )


def test_two_edges_of_one_stack_share_its_edge_stack():
    _, stack, parts = api_stack("eu-west-1")
    first = ShieldAdvancedEdge(stack, "First", **shield_props(parts))
    second = ShieldAdvancedEdge(stack, "Second", **shield_props(add_api(stack, "Second")))
    assert first.edge_stack is second.edge_stack
    assert first.web_acl is not second.web_acl


def test_an_environment_agnostic_stack_is_refused():
    _, stack, parts = api_stack(None)
    with pytest.raises(ValueError, match=r"needs a stack with a concrete Region, like Stack\("):
        ShieldAdvancedEdge(stack, "Shield", **shield_props(parts))


def test_an_environment_agnostic_account_deploys_both_stacks_to_the_cli_account():
    _, stack, parts = api_stack("eu-west-1", account=None)
    edge = ShieldAdvancedEdge(stack, "Shield", **shield_props(parts))
    assert edge.edge_stack.region == "us-east-1"
    assert edge.edge_stack.resolve(edge.edge_stack.account) == {"Ref": "AWS::AccountId"}
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": Match.object_like(
                {"WebACLId": {"Fn::GetStackOutput": Match.object_like({"Region": "us-east-1"})}}
            )
        },
    )


# --- the CloudFront web ACL -------------------------------------------------------------------


def test_the_cloudfront_web_acl_rates_viewers_and_checks_their_addresses(edge_template):
    web_acl = only(edge_template, "AWS::WAFv2::WebACL")
    rules = rules_by_name(web_acl)
    assert {name: rule["Priority"] for name, rule in rules.items()} == {
        RATE_LIMIT_PER_IP_RULE: 20,
        **{group: 40 + i for i, group in enumerate(DEFAULT_EDGE_MANAGED_RULE_GROUPS)},
    }
    assert rules[RATE_LIMIT_PER_IP_RULE]["Statement"] == {
        "RateBasedStatement": {"AggregateKeyType": "IP", "Limit": 1000, "EvaluationWindowSec": 300}
    }
    assert rules[RATE_LIMIT_PER_IP_RULE]["Action"] == {
        "Block": {
            "CustomResponse": {
                "ResponseCode": 429,
                "CustomResponseBodyKey": "throttled",
                "ResponseHeaders": [{"Name": "Retry-After", "Value": "300"}],
            }
        }
    }
    assert web_acl["Properties"]["CustomResponseBodies"] == {
        "throttled": {
            "ContentType": "APPLICATION_JSON",
            "Content": waf_error_body("throttled", "Rate limit exceeded; retry later."),
        }
    }
    assert web_acl["Properties"]["DefaultAction"] == {"Allow": {}}
    configs = [
        web_acl["Properties"]["VisibilityConfig"],
        *(r["VisibilityConfig"] for r in rules.values()),
    ]
    assert all(c["CloudWatchMetricsEnabled"] and c["SampledRequestsEnabled"] for c in configs)


def test_the_cloudfront_web_acl_logs_to_a_waf_log_group_of_us_east_1_with_secrets_redacted(
    built, edge_template
):
    web_acl = built["edge"].edge_web_acl
    edge_template.has_resource_properties(
        "AWS::WAFv2::LoggingConfiguration",
        {
            "ResourceArn": {"Fn::GetAtt": [logical_id(web_acl.web_acl), "Arn"]},
            "RedactedFields": [{"SingleHeader": {"Name": h}} for h in REDACTED_HEADERS],
        },
    )
    assert ORIGIN_VERIFY_HEADER in REDACTED_HEADERS
    log_group = only(edge_template, "AWS::Logs::LogGroup")
    assert log_group["Properties"]["LogGroupName"].startswith("aws-waf-logs-")
    assert log_group["Properties"]["RetentionInDays"] == 365
    assert log_group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [logical_id(web_acl.key), "Arn"]}
    assert only(edge_template, "AWS::KMS::Key")["Properties"]["EnableKeyRotation"] is True


def test_a_country_allowlist_blocks_every_other_country_at_the_edge(one_stack):
    web_acl = one_stack["template"].find_resources(
        "AWS::WAFv2::WebACL", {"Properties": {"Scope": "CLOUDFRONT"}}
    )
    (acl,) = web_acl.values()
    rules = rules_by_name(acl)
    assert rules[GEO_RULE]["Priority"] == 10
    assert rules[GEO_RULE]["Statement"] == {
        "NotStatement": {"Statement": {"GeoMatchStatement": {"CountryCodes": ["DE", "FR"]}}}
    }
    assert rules[RATE_LIMIT_PER_IP_RULE]["Statement"]["RateBasedStatement"] == {
        "AggregateKeyType": "IP",
        "Limit": 500,
        "EvaluationWindowSec": 60,
    }
    assert set(acl["Properties"]["CustomResponseBodies"]) == {"forbidden", "throttled"}


# --- the distribution -------------------------------------------------------------------------


def distribution_config(template):
    return only(template, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]


def test_the_distribution_reaches_the_stage_over_tls_1_2_with_the_origin_secret(built, template):
    stack, api, secret = built["stack"], built["api"], built["secret"]
    (origin,) = distribution_config(template)["Origins"]
    assert origin["DomainName"] == {
        "Fn::Join": [
            "",
            [
                {"Ref": logical_id(api.rest_api)},
                ".execute-api.eu-west-1.",
                {"Ref": "AWS::URLSuffix"},
            ],
        ]
    }
    assert origin["OriginPath"] == {"Fn::Join": ["", ["/", stack.resolve(api.stage.stage_name)]]}
    assert origin["CustomOriginConfig"] == {
        "OriginProtocolPolicy": "https-only",
        "OriginSSLProtocols": ["TLSv1.2"],
        "OriginReadTimeout": 30,
    }
    assert origin["OriginCustomHeaders"] == [
        {
            "HeaderName": ORIGIN_VERIFY_HEADER,
            "HeaderValue": stack.resolve(secret.secret_value.unsafe_unwrap()),
        }
    ]


def test_the_origin_header_is_a_dynamic_reference_never_the_secret(template):
    (origin,) = distribution_config(template)["Origins"]
    value = json.dumps(origin["OriginCustomHeaders"][0]["HeaderValue"])
    assert "{{resolve:secretsmanager:" in value


def test_viewers_use_https_and_nothing_is_cached(template):
    config = distribution_config(template)
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "https-only"
    assert "POST" in behavior["AllowedMethods"]
    assert behavior["CachePolicyId"] == CACHING_DISABLED
    assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert (config["HttpVersion"], config["PriceClass"], config["IPV6Enabled"]) == (
        "http2and3",
        "PriceClass_All",
        True,
    )
    assert "Aliases" not in config


def test_the_managed_policies_are_the_ones_cdk_names():
    assert cloudfront.CachePolicy.CACHING_DISABLED.cache_policy_id == CACHING_DISABLED
    assert (
        cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER.origin_request_policy_id
        == ALL_VIEWER_EXCEPT_HOST_HEADER
    )


def test_a_custom_domain_is_the_origin_and_the_viewer_certificate_sets_the_policy(one_stack):
    config = distribution_config(one_stack["template"])
    (origin,) = config["Origins"]
    assert origin["DomainName"] == "origin.example.com"
    assert "OriginPath" not in origin
    assert config["Aliases"] == ["api.example.com"]
    certificate = one_stack["stack"].node.find_child("ViewerCert")
    assert config["ViewerCertificate"] == {
        "AcmCertificateArn": {"Ref": logical_id(certificate)},
        "MinimumProtocolVersion": "TLSv1.2_2025",
        "SslSupportMethod": "sni-only",
    }
    assert config["PriceClass"] == "PriceClass_100"


def test_cloudfront_logs_go_to_a_kms_encrypted_bucket_that_allows_cloudfront_acls(built, template):
    edge, key = built["edge"], built["key"]
    config = distribution_config(template)
    assert config["Logging"] == {
        "Bucket": {"Fn::GetAtt": [logical_id(edge.log_bucket), "RegionalDomainName"]},
        "IncludeCookies": False,
        "Prefix": "cloudfront/",
    }
    bucket = template.to_json()["Resources"][logical_id(edge.log_bucket)]["Properties"]
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": [logical_id(key), "Arn"]},
    }
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {
        "Ref": logical_id(edge.access_log_bucket)
    }
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "AllowCloudFrontLogDeliveryToEncrypt",
                                "Principal": {"Service": "delivery.logs.amazonaws.com"},
                                "Action": "kms:GenerateDataKey*",
                            }
                        )
                    ]
                )
            }
        },
    )


# --- Shield -----------------------------------------------------------------------------------


def distribution_arn(built):
    return built["stack"].resolve(built["edge"].distribution.distribution_arn)


def test_shield_protects_the_distribution_with_its_health_check_and_blocks_automatically(
    built, template
):
    health_check = built["stack"].get_logical_id(built["edge"].health_check)
    protection = only(template, "AWS::Shield::Protection")["Properties"]
    assert protection["ResourceArn"] == distribution_arn(built)
    assert protection["HealthCheckArns"] == [
        {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":route53:::healthcheck/",
                    {"Fn::GetAtt": [health_check, "HealthCheckId"]},
                ],
            ]
        }
    ]
    assert protection["ApplicationLayerAutomaticResponseConfiguration"] == {
        "Status": "ENABLED",
        "Action": {"Block": {}},
    }
    assert re.fullmatch(r"[ a-zA-Z0-9_.\-]{1,128}", protection["Name"])


def test_counting_mitigation_is_configured_when_asked(one_stack):
    protection = only(one_stack["template"], "AWS::Shield::Protection")["Properties"]
    assert protection["ApplicationLayerAutomaticResponseConfiguration"] == {
        "Status": "ENABLED",
        "Action": {"Count": {}},
    }


def test_the_protection_group_holds_the_distribution_with_max_aggregation(built, template):
    group = only(template, "AWS::Shield::ProtectionGroup")
    assert group["Properties"]["Pattern"] == "ARBITRARY"
    assert group["Properties"]["Members"] == [distribution_arn(built)]
    assert group["Properties"]["Aggregation"] == "MAX"
    assert re.fullmatch(r"[a-zA-Z0-9\-]{1,36}", group["Properties"]["ProtectionGroupId"])
    assert group["DependsOn"] == [built["stack"].get_logical_id(built["edge"].protection)]


def test_health_based_detection_reads_the_api_5xx_rate_alarm_of_the_api_region(built, template):
    edge, api = built["edge"], built["api"]
    health = only(template, "AWS::Route53::HealthCheck")["Properties"]["HealthCheckConfig"]
    assert health == {
        "Type": "CLOUDWATCH_METRIC",
        "AlarmIdentifier": {"Name": {"Ref": logical_id(edge.health_alarm)}, "Region": "eu-west-1"},
        "InsufficientDataHealthStatus": "Healthy",
    }
    alarm = only(template, "AWS::CloudWatch::Alarm")["Properties"]
    assert {k: alarm[k] for k in ("Namespace", "MetricName", "Statistic", "Period")} == {
        "Namespace": "AWS/ApiGateway",
        "MetricName": "5XXError",
        "Statistic": "Average",
        "Period": 60,
    }
    assert alarm["Dimensions"] == [
        {"Name": "ApiName", "Value": built["stack"].resolve(api.rest_api.rest_api_name)},
        {"Name": "Stage", "Value": built["stack"].resolve(api.stage.stage_name)},
    ]
    assert (alarm["Threshold"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (
        0.05,
        2,
        2,
    )
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"


def test_proactive_engagement_lists_the_emergency_contacts(template):
    engagement = only(template, "AWS::Shield::ProactiveEngagement")["Properties"]
    assert engagement == {
        "ProactiveEngagementStatus": "ENABLED",
        "EmergencyContactList": [
            {
                "EmailAddress": "oncall@example.com",
                "PhoneNumber": "+12025550100",
                "ContactNotes": "Primary on-call, 24/7",
            },
            {"EmailAddress": "security@example.com"},
        ],
    }


def test_proactive_engagement_is_left_alone_without_contacts(one_stack):
    one_stack["template"].resource_count_is("AWS::Shield::ProactiveEngagement", 0)


def test_every_synth_warns_of_the_subscription_and_of_the_default_certificate(built, one_stack):
    annotations = Annotations.from_stack(built["stack"])
    annotations.has_warning(
        "/Api/Shield",
        Match.string_like_regexp(
            rf"active Shield Advanced subscription.*{SHIELD_ADVANCED_MONTHLY_FEE_USD:,} USD a "
            r"month with a 12-month commitment.*\[ack: secure-endpoint:shield-subscription\]"
        ),
    )
    annotations.has_warning(
        "/Api/Shield", Match.string_like_regexp("viewer security policy at TLSv1")
    )
    one = Annotations.from_stack(one_stack["stack"])
    one.has_warning("/Api/Shield", Match.string_like_regexp("Shield Advanced subscription"))
    one.has_no_warning("/Api/Shield", Match.string_like_regexp("viewer security policy at TLSv1"))


# --- the rotation -----------------------------------------------------------------------------


def test_the_origin_secret_rotates_every_30_days_with_its_own_function(built, template):
    edge, secret, waf = built["edge"], built["secret"], built["waf"]
    function = edge.rotation.function
    template.has_resource_properties(
        "AWS::SecretsManager::RotationSchedule",
        {
            "SecretId": {"Ref": logical_id(secret)},
            "RotationLambdaARN": {"Fn::GetAtt": [logical_id(function), "Arn"]},
            "RotationRules": {"ScheduleExpression": "rate(30 days)"},
            "RotateImmediatelyOnUpdate": False,
        },
    )
    properties = template.to_json()["Resources"][logical_id(function)]["Properties"]
    assert properties["Handler"] == "origin_secret_rotation.handler.handler"
    assert properties["Runtime"] == "python3.14"
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert "ReservedConcurrentExecutions" not in properties  # opt-in
    assert properties["KmsKeyArn"] == {"Fn::GetAtt": [logical_id(built["key"]), "Arn"]}
    assert "VpcConfig" not in properties
    assert properties["DeadLetterConfig"] == {
        "TargetArn": {"Fn::GetAtt": [logical_id(edge.rotation.dead_letter_queue), "Arn"]}
    }
    variables = properties["Environment"]["Variables"]
    assert variables["WEB_ACL_ARN"] == {"Fn::GetAtt": [logical_id(waf.web_acl), "Arn"]}
    assert variables["DISTRIBUTION_ID"] == {"Ref": logical_id(edge.distribution)}
    assert (variables["ORIGIN_SECRET_RULE"], variables["ORIGIN_VERIFY_HEADER"]) == (
        ORIGIN_SECRET_RULE,
        ORIGIN_VERIFY_HEADER,
    )


def test_a_shorter_rotation_interval_is_scheduled(one_stack):
    one_stack["template"].has_resource_properties(
        "AWS::SecretsManager::RotationSchedule",
        {"RotationRules": {"ScheduleExpression": "rate(7 days)"}},
    )


def grants(template, edge):
    role = edge.rotation.role
    policy = template.to_json()["Resources"][logical_id(role.grants_policy)]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def test_the_rotation_role_may_write_that_web_acl_and_that_distribution_only(built, template):
    edge, waf, stack = built["edge"], built["waf"], built["stack"]
    statements = {json.dumps(s["Action"]): s["Resource"] for s in grants(template, edge)}
    assert statements[json.dumps(["wafv2:GetWebACL", "wafv2:UpdateWebACL"])] == {
        "Fn::GetAtt": [logical_id(waf.web_acl), "Arn"]
    }
    assert statements[
        json.dumps(["cloudfront:GetDistribution", "cloudfront:UpdateDistribution"])
    ] == distribution_arn(built)
    referenced = statements[json.dumps("wafv2:UpdateWebACL")]
    assert [stack.resolve(r)["Fn::Join"][1][-1] for r in referenced] == [
        f":wafv2:eu-west-1:{ACCOUNT}:regional/ipset/*",
        f":wafv2:eu-west-1:{ACCOUNT}:regional/managedruleset/*",
    ]
    assert statements[json.dumps(["kms:GenerateDataKey", "kms:Decrypt"])] == {
        "Fn::GetAtt": [logical_id(built["key"]), "Arn"]
    }
    actions = [
        a
        for s in grants(template, edge)
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert not [a for a in actions if a.endswith("*")]


def test_the_origin_rule_the_regional_web_acl_synthesizes_is_what_rotation_rewrites(
    built, template
):
    """The contract between edge.py and the rotation function, checked on the template."""
    regional = template.to_json()["Resources"][logical_id(built["waf"].web_acl)]
    rules = json.loads(
        re.sub(
            r'\{"Fn::Join": \["", \["\{\{resolve:secretsmanager:", \{"Ref": "[^"]+"\}, '
            r'":SecretString:::\}\}"\]\]\}',
            '"synthesized-secret-value"',
            json.dumps(regional["Properties"]["Rules"]),
        )
    )
    assert rules[0]["Name"] == ORIGIN_SECRET_RULE
    assert rules[0]["Priority"] == 0
    assert accepted_values(rules, ORIGIN_SECRET_RULE, ORIGIN_VERIFY_HEADER) == (
        "synthesized-secret-value",
        "synthesized-secret-value",
    )


# --- invariants -------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["template", "edge_template"])
def test_every_log_group_is_encrypted_and_retained(built, which):
    groups = built[which].find_resources("AWS::Logs::LogGroup")
    assert groups
    for name, group in groups.items():
        assert "KmsKeyId" in group["Properties"], name
        assert group["Properties"]["RetentionInDays"] >= 365, name


# --- bad input --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fresh():
    """A stack to build into; every case here fails before anything is added."""
    _, stack, parts = api_stack("eu-west-1")
    return stack, parts


BAD_IDS = itertools.count()  # each refused construct stays in the tree: ids must differ


def cert(region):
    return acm.Certificate.from_certificate_arn(
        Stack(App(), "Certs"), "Cert", f"arn:aws:acm:{region}:{ACCOUNT}:certificate/viewer"
    )


@pytest.mark.parametrize(
    ("props", "match"),
    [
        (
            {"tls_policy": TlsPolicy.TLS13_ONLY},
            r"tls_policy TlsPolicy.TLS13_ONLY cannot be combined with Shield Advanced: "
            r"CloudFront connects to origins with TLS 1.2 at most",
        ),
        (
            {
                "custom_domain": CustomDomain(
                    "api.example.com",
                    cert("eu-west-1"),
                    s3.Bucket.from_bucket_name(Stack(App(), "T"), "Trust", "truststore"),
                    "ca.pem",
                )
            },
            r"custom_domain 'api.example.com' requires mutual TLS",
        ),
        ({"domain_names": ["api.example.com"]}, r"domain_names and certificate go together"),
        ({"certificate": cert("us-east-1")}, r"got domain_names=\[\], certificate=given"),
        ({"domain_names": "api.example.com"}, r"domain_names must be a list"),
        ({"domain_names": ["API.example"], "certificate": cert("us-east-1")}, r"got 'API.example'"),
        (
            {"domain_names": ["api.example.com"], "certificate": cert("eu-west-1")},
            r"certificate must be an ACM certificate of us-east-1.*got one of 'eu-west-1'",
        ),
        (
            {
                "domain_names": ["api.example.com"],
                "certificate": cert("us-east-1"),
                "viewer_security_policy": cloudfront.SecurityPolicyProtocol.TLS_V1_2_2019,
            },
            r"viewer_security_policy must be TLS_V1_2_2021, TLS_V1_2_2025 or TLS_V1_3_2025",
        ),
        (
            {"viewer_security_policy": cloudfront.SecurityPolicyProtocol.TLS_V1_3_2025},
            r"applies only with a certificate",
        ),
        ({"health_error_rate": 0}, r"health_error_rate must be a share .* got 0"),
        ({"health_error_rate": 1.0}, r"got 1\.0"),
        ({"health_error_rate": True}, r"got True"),
        ({"automatic_mitigation": "BLOCK"}, r"automatic_mitigation must be an AutomaticMitigation"),
        ({"emergency_contacts": CONTACTS[0]}, r"emergency_contacts must be a list"),
        ({"emergency_contacts": ["oncall@example.com"]}, r"must hold EmergencyContact values"),
        (
            {"emergency_contacts": [EmergencyContact(f"a{i}@example.com") for i in range(11)]},
            r"at most 10 contacts .* got 11",
        ),
        ({"rate_limit_per_ip": 9}, r"rate_limit_per_ip must be a whole number from 10"),
        ({"rate_window": Duration.seconds(90)}, r"rate_window must be one of .*got 90 seconds"),
        ({"blocked_countries": ["XX"]}, r"blocked_countries must hold ISO 3166 .* got 'XX'"),
        (
            {"blocked_countries": ["KP"], "allowed_countries": ["DE"]},
            r"give blocked_countries or allowed_countries, not both",
        ),
        ({"managed_rule_groups": ["IpReputation"]}, r"start with 'AWSManagedRules'"),
        ({"rotation_interval": Duration.days(400)}, r"rotation_interval \(days\) .* got 400"),
        ({"rotation_interval": 30}, r"rotation_interval must be a Duration"),
    ],
)
def test_rejects_bad_props(fresh, props, match):
    stack, parts = fresh
    with pytest.raises(ValueError, match=match):
        ShieldAdvancedEdge(stack, f"Bad{next(BAD_IDS)}", **shield_props(parts, **props))


def test_rejects_a_regional_web_acl_that_is_not_regional(fresh):
    stack, parts = fresh
    acl = wafv2.CfnWebACL(
        Stack(App(), "Other"),
        "Acl",
        scope="CLOUDFRONT",
        default_action={"allow": {}},
        visibility_config={
            "cloudWatchMetricsEnabled": True,
            "sampledRequestsEnabled": True,
            "metricName": "x",
        },
    )
    with pytest.raises(
        ValueError, match=r"regional_web_acl must have scope 'REGIONAL'.*CLOUDFRONT"
    ):
        ShieldAdvancedEdge(stack, "Cf", **shield_props(parts, regional_web_acl=acl))


def test_rejects_an_edge_stack_outside_us_east_1(fresh):
    stack, parts = fresh
    elsewhere = Stack(App(), "Edge", env=Environment(account=ACCOUNT, region="us-west-2"))
    with pytest.raises(
        ValueError, match=r"edge_stack must be a stack of Region 'us-east-1'.*'us-west-2'"
    ):
        ShieldAdvancedEdge(stack, "West", **shield_props(parts, edge_stack=elsewhere))


def test_rejects_an_edge_stack_of_another_account(fresh):
    stack, parts = fresh
    other = Stack(App(), "Edge", env=Environment(account="444455556666", region="us-east-1"))
    with pytest.raises(ValueError, match=r"edge_stack must be in the API's account '111122223333'"):
        ShieldAdvancedEdge(stack, "Other", **shield_props(parts, edge_stack=other))


@pytest.mark.parametrize(
    ("contact", "match"),
    [
        ({"email": "not-an-address"}, r"email must be an email address .* got 'not-an-address'"),
        ({"email": "a@" + "b" * 150 + ".com"}, r"at most 150 characters"),
        ({"email": "a@b.co", "phone": "0123 456"}, r"phone must be an E.164 number.*'0123 456'"),
        ({"email": "a@b.co", "notes": "call <now>"}, r"notes must be 1-1024 .*'call <now>'"),
    ],
)
def test_rejects_an_emergency_contact_shield_would_refuse(contact, match):
    with pytest.raises(ValueError, match=match):
        EmergencyContact(**contact)

"""SecureEndpoint with shield=ShieldOptions(): CloudFront, a us-east-1 web ACL, Shield and
the origin secret. Nag and cfn-lint: test_compliance_matrix.py."""

import json

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk.assertions import Annotations, Match, Template
from configurations import once
from endpoint_builder import SKLEARN
from template_checks import assert_rotation_invocations_are_scoped
from test_endpoint import CLIENTS, DIGEST, synth

from secure_endpoint import HostingOptions, WafOptions
from secure_endpoint.constructs.edge import ORIGIN_SECRET_RULE, SOURCE_ADDRESS_RULE_GROUPS
from secure_endpoint.constructs.shield import EmergencyContact, ShieldOptions

pytestmark = pytest.mark.synth

# A region and no account, as `cdk synth -c region=eu-west-1` gives offline (no AZ lookups).
ENV = Environment(region="eu-west-1")


def configuration():
    """The configuration of this module (and a row of the compliance matrix)."""
    app, stack, endpoint = synth(
        env=ENV,
        waf=WafOptions(blocked_countries=["KP"], rate_limit_per_ip=500),
        shield=ShieldOptions(emergency_contacts=[EmergencyContact("soc@example.com")]),
    )
    edge_stack = endpoint.shield.edge_stack
    return {
        "app": app,
        "stack": stack,
        "endpoint": endpoint,
        "template": Template.from_stack(stack),
        "edge_stack": edge_stack,
        "edge_template": Template.from_stack(edge_stack),
    }


@pytest.fixture(scope="module")
def built():
    return once(configuration)


def rules_of(template):
    (acl,) = template.find_resources("AWS::WAFv2::WebACL").values()
    return acl["Properties"]["Scope"], {r["Name"]: r for r in acl["Properties"]["Rules"]}


def test_the_cloudfront_web_acl_lives_in_a_us_east_1_stack(built):
    assert built["edge_stack"].region == "us-east-1"
    assert built["edge_stack"] is not built["stack"]
    scope, _ = rules_of(built["edge_template"])
    assert scope == "CLOUDFRONT"


def test_the_regional_web_acl_requires_the_origin_secret_and_leaves_address_rules(built):
    scope, rules = rules_of(built["template"])
    assert scope == "REGIONAL"
    assert rules[ORIGIN_SECRET_RULE]["Priority"] == 0
    assert "RateLimitPerIp" not in rules
    assert "GeoRestriction" not in rules
    assert not SOURCE_ADDRESS_RULE_GROUPS & set(rules)
    assert "RateLimitPerApiKey" in rules


def test_address_rules_go_to_the_cloudfront_web_acl(built):
    _, rules = rules_of(built["edge_template"])
    rate = next(r for r in rules.values() if "RateBasedStatement" in r["Statement"])
    assert rate["Statement"]["RateBasedStatement"]["Limit"] == 500
    geo = next(r for r in rules.values() if "GeoMatchStatement" in r["Statement"])
    assert geo["Statement"]["GeoMatchStatement"]["CountryCodes"] == ["KP"]
    assert set(rules) >= SOURCE_ADDRESS_RULE_GROUPS


def test_clients_are_sent_to_cloudfront_not_to_the_regional_api(built):
    stack, endpoint, template = built["stack"], built["endpoint"], built["template"]
    distribution = stack.get_logical_id(endpoint.shield.distribution.node.default_child)
    outputs = template.to_json()["Outputs"]
    (api_url,) = [o for name, o in outputs.items() if name.startswith("EndpointApiUrl")]
    assert distribution in json.dumps(api_url["Value"])
    assert "execute-api" not in json.dumps(api_url["Value"])
    secrets = template.find_resources("AWS::SecretsManager::Secret")
    client_secret = next(s for s in secrets.values() if "api_key" in json.dumps(s))
    assert distribution in json.dumps(client_secret["Properties"]["GenerateSecretString"])


def test_shield_protects_the_distribution_and_warns_of_the_subscription(built):
    built["template"].resource_count_is("AWS::Shield::Protection", 1)
    built["template"].resource_count_is("AWS::Shield::ProtectionGroup", 1)
    built["template"].has_resource_properties(
        "AWS::Shield::ProactiveEngagement",
        {"EmergencyContactList": [Match.object_like({"EmailAddress": "soc@example.com"})]},
    )
    Annotations.from_stack(built["stack"]).has_warning(
        "*", Match.string_like_regexp("only with an active Shield Advanced subscription.*3,000 USD")
    )


def test_shield_needs_a_concrete_region():
    with pytest.raises(ValueError, match="shield needs a stack with a concrete region"):
        synth(shield=ShieldOptions())


def test_shield_cannot_use_a_brought_web_acl():
    from aws_cdk import aws_wafv2 as wafv2

    from secure_endpoint import SecureEndpoint

    stack = Stack(App(context={"aws:cdk:bundling-stacks": []}), "Own", env=ENV)
    acl = wafv2.CfnWebACL(
        stack, "Acl", scope="REGIONAL",
        default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
        visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True, sampled_requests_enabled=True, metric_name="Own"),
    )  # fmt: skip
    with pytest.raises(ValueError, match="shield cannot be combined with web_acl"):
        SecureEndpoint(
            stack, "Endpoint", model_data_url="s3://models/churn/model.tar.gz",
            model_sha256=DIGEST, hosting=HostingOptions(**SKLEARN),
            clients=CLIENTS, shield=ShieldOptions(), web_acl=acl,
        )  # fmt: skip


def test_the_health_alarm_and_the_rotation_reach_the_alert_topic(built):
    stack, endpoint, template = built["stack"], built["endpoint"], built["template"]
    topic = {"Ref": stack.get_logical_id(endpoint.alarm_topic.node.default_child)}
    health = template.to_json()["Resources"][
        stack.get_logical_id(endpoint.shield.health_alarm.node.default_child)
    ]
    assert health["Properties"]["AlarmActions"] == [topic]
    assert {"OriginSecretRotationErrors", "OriginSecretRotationDeadLetters"} <= set(
        endpoint.alarms.alarms
    )


def test_secrets_manager_may_invoke_both_rotations_only_for_their_secrets_here(built):
    # The client secret's rotation and the origin secret's, both in the regional stack.
    rotations = built["template"].find_resources("AWS::SecretsManager::RotationSchedule")
    assert len(rotations) == 2
    assert_rotation_invocations_are_scoped(built["template"])
    assert built["edge_template"].find_resources("AWS::SecretsManager::RotationSchedule") == {}

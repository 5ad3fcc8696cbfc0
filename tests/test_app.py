"""The sample app reads its settings from context, as `cdk synth -c name=value` passes them."""

import json
import re
from pathlib import Path

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

import app as sample_app
from secure_endpoint import compliance

pytestmark = pytest.mark.synth


def synth_app(tmp_path, **context):
    """Synthesize as `cdk synth` would: context values arrive as strings."""
    app = App(context={"aws:cdk:bundling-stacks": [], **context}, outdir=str(tmp_path))
    sample_app.build(app)
    app.synth()
    return {
        path.name.removesuffix(".template.json"): json.loads(path.read_text())
        for path in tmp_path.glob("*.template.json")
    }


def monitor_settings(template):
    """The anomaly monitor's MONITOR_SETTINGS, its literal parts joined (tokens dropped)."""
    (monitor,) = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"]["Handler"] == "anomaly_monitor.handler.handler"
    ]
    settings = monitor["Properties"]["Environment"]["Variables"]["MONITOR_SETTINGS"]
    if isinstance(settings, str):
        return json.loads(settings)
    return json.loads("".join(p for p in settings["Fn::Join"][1] if isinstance(p, str)))


def web_acl_rules(template):
    (acl,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::WAFv2::WebACL"]
    return {rule["Name"]: rule for rule in acl["Properties"]["Rules"]}


@pytest.fixture(scope="module")
def default_templates(tmp_path_factory):
    return synth_app(tmp_path_factory.mktemp("default"))


def test_the_defaults_synthesize_one_stack_without_feeds_or_geo(default_templates):
    assert list(default_templates) == ["SecureEndpointSample"]
    rules = web_acl_rules(default_templates["SecureEndpointSample"])
    assert "BlockedIpSets" not in rules
    assert "GeoRestriction" not in rules


@pytest.mark.smoke
def test_the_default_sample_app_synthesizes_clean_under_every_pack(tmp_path):
    """The one synth `make test-fast` runs: the sample app as `cdk synth` builds it, defaults."""
    app = App(context={"aws:cdk:bundling-stacks": []}, outdir=str(tmp_path))
    stack = sample_app.build(app)
    app.synth()
    assert compliance.findings(app) == []
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::SageMaker::Endpoint", 1)
    template.resource_count_is("AWS::WAFv2::WebACL", 1)
    template.has_resource_properties(
        "AWS::ApiGateway::Method", {"HttpMethod": "POST", "AuthorizationType": "COGNITO_USER_POOLS"}
    )


def test_context_strings_as_the_cli_passes_them_reach_the_web_acl(tmp_path):
    templates = synth_app(
        tmp_path,
        denied_cidrs='["198.51.100.0/24"]',
        blocked_countries='["KP"]',
        threat_intel_feeds='["spamhaus-drop", "tor-exit-nodes"]',
        waf_rule_overrides='{"AWSManagedRulesCommonRuleSet": {"NoUserAgent_HEADER": "COUNT"}}',
    )
    template = templates["SecureEndpointSample"]
    rules = web_acl_rules(template)
    assert rules["GeoRestriction"]["Statement"] == {"GeoMatchStatement": {"CountryCodes": ["KP"]}}
    assert len(rules["BlockedIpSets"]["Statement"]["OrStatement"]["Statements"]) == 4
    denied = [
        r["Properties"]["Addresses"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::WAFv2::IPSet"
    ]
    assert ["198.51.100.0/24"] in denied


def test_an_unknown_feed_name_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"threat_intel_feeds names unknown feeds \['nope'\]"):
        synth_app(tmp_path, threat_intel_feeds='["nope"]')


def test_shield_advanced_adds_a_us_east_1_stack_and_a_cloudfront_front(tmp_path):
    templates = synth_app(tmp_path, shield_advanced="true")
    assert set(templates) == {"SecureEndpointSample", "SecureEndpointSample-edge"}
    resources = templates["SecureEndpointSample"]["Resources"].values()
    types = {r["Type"] for r in resources}
    assert {"AWS::CloudFront::Distribution", "AWS::Shield::Protection"} <= types
    edge = templates["SecureEndpointSample-edge"]["Resources"].values()
    (acl,) = [r for r in edge if r["Type"] == "AWS::WAFv2::WebACL"]
    assert acl["Properties"]["Scope"] == "CLOUDFRONT"


def test_auto_block_from_context_lets_the_monitor_block(tmp_path):
    template = synth_app(tmp_path, auto_block="true")["SecureEndpointSample"]
    assert monitor_settings(template)["auto_block"] is True


def test_the_monitor_alerts_only_by_default(default_templates):
    template = default_templates["SecureEndpointSample"]
    assert monitor_settings(template)["auto_block"] is False


def test_disable_api_keys_with_auto_block_adds_the_responder(tmp_path):
    templates = synth_app(tmp_path, auto_block="true", disable_api_keys="true")
    resources = templates["SecureEndpointSample"]["Resources"].values()
    handlers = {
        r["Properties"]["Handler"] for r in resources if r["Type"] == "AWS::Lambda::Function"
    }
    assert "api_key_responder.handler.handler" in handlers


def test_disable_api_keys_without_auto_block_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="needs auto_block=True"):
        synth_app(tmp_path, disable_api_keys="true")


def test_a_model_signature_from_context_is_checked_with_the_key_named(tmp_path):
    key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    signature = "MEUCIQ" + "A" * 90
    template = synth_app(
        tmp_path,
        model_signature=signature,
        model_signing_key_arn=key_arn,
        artifact_bucket_events="true",
    )["SecureEndpointSample"]
    resources = template["Resources"].values()
    (check,) = [r for r in resources if r["Type"] == "Custom::ModelArtifactVerification"]
    assert (check["Properties"]["Signature"], check["Properties"]["SigningKeyArn"]) == (
        signature,
        key_arn,
    )
    patterns = [r["Properties"].get("EventPattern") for r in resources
                if r["Type"] == "AWS::Events::Rule"]  # fmt: skip
    assert any(p and p["source"] == ["aws.s3"] for p in patterns)


def test_smoke_client_adds_a_client_that_may_not_invoke(tmp_path, default_templates):
    def app_clients(template):
        return {
            r["Properties"]["ClientName"]: r["Properties"]["AllowedOAuthScopes"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::Cognito::UserPoolClient"
        }

    templates = synth_app(tmp_path, smoke_client="true")

    (partner,) = app_clients(default_templates["SecureEndpointSample"]).values()
    clients = app_clients(templates["SecureEndpointSample"])
    assert len(clients) == 2
    smoke = next(scopes for name, scopes in clients.items() if "smoke-no-invoke" in str(name))
    assert len(smoke) == 1
    assert "smoke" in json.dumps(smoke)
    assert "invoke" not in json.dumps(smoke)
    assert "invoke" in json.dumps(partner)


_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# Each of the sample app's switches turned on, once each, with what it needs beside it.
_EVERY_SWITCH = {
    "smoke_client": {"smoke_client": "true"},
    "data_capture": {"data_capture": "true"},
    "cloud_watch_role": {"cloud_watch_role": "true"},
    "anomaly_monitor": {"anomaly_monitor": "false"},
    "auto_block": {"auto_block": "true"},
    "artifact_bucket_events": {"artifact_bucket_events": "true"},
    "disable_api_keys": {"auto_block": "true", "disable_api_keys": "true"},
    "allow_mutable_image_tag": {
        "image_uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/model:v1",
        "allow_mutable_image_tag": "true",
    },
    "shield_advanced": {"shield_advanced": "true"},
    "model_signature": {"model_signature": "MEUCIQ" + "A" * 90, "model_signing_key_arn": _KEY_ARN},
    "threat_intel_feeds": {"threat_intel_feeds": '["spamhaus-drop", "tor-exit-nodes"]'},
}


def test_every_switch_of_the_sample_app_is_synthesized_below():
    source = (Path(sample_app.__file__)).read_text()
    switches = set(re.findall(r'_context\(app, "(\w+)", (?:False|True)\)', source))
    assert switches == set(_EVERY_SWITCH) - {"model_signature", "threat_intel_feeds"}


@pytest.mark.parametrize("switch", sorted(_EVERY_SWITCH))
def test_the_sample_app_is_nag_clean_with_each_switch_on(tmp_path, switch):
    # cdk synth runs every pack (app.main); an unacknowledged finding fails the deploy.
    app = App(context={"aws:cdk:bundling-stacks": [], **_EVERY_SWITCH[switch]},
              outdir=str(tmp_path))  # fmt: skip
    stack = sample_app.build(app)
    app.synth()
    assert compliance.findings(app) == []
    if switch == "cloud_watch_role":
        (account,) = Template.from_stack(stack).find_resources("AWS::ApiGateway::Account").values()
        assert "CloudWatchRoleArn" in account["Properties"]

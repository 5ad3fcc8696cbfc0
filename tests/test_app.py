"""The sample app reads its settings from context, as `cdk synth -c name=value` passes them.

The app with its defaults and with each switch on are rows of test_compliance_matrix.py."""

import json
import re
from pathlib import Path

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template
from configurations import once

import app as sample_app

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


def configuration(switch=None):
    """The sample app, synthesized, with one switch of ``EVERY_SWITCH`` on (or its defaults)."""
    app = App(context={"aws:cdk:bundling-stacks": [], **(EVERY_SWITCH[switch] if switch else {})})
    stack = sample_app.build(app)
    app.synth()
    return app, stack


def templates_of(built):
    """The templates of a built ``configuration``, by file name as `cdk synth` writes them."""
    app, _ = built
    return {
        stack.template_file.removesuffix(".template.json"): stack.template
        for stack in app.synth().stacks
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
def default_templates():
    return templates_of(once(configuration))


@pytest.mark.smoke  # the one synth `make test-fast` keeps: the sample app, defaults
def test_the_defaults_synthesize_one_stack_without_feeds_or_geo(default_templates):
    assert list(default_templates) == ["SecureEndpointSample"]
    rules = web_acl_rules(default_templates["SecureEndpointSample"])
    assert "BlockedIpSets" not in rules
    assert "GeoRestriction" not in rules


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


def test_shield_advanced_adds_a_us_east_1_stack_and_a_cloudfront_front():
    templates = templates_of(once(configuration, "shield_advanced"))
    assert set(templates) == {"SecureEndpointSample", "SecureEndpointSample-edge"}
    resources = templates["SecureEndpointSample"]["Resources"].values()
    types = {r["Type"] for r in resources}
    assert {"AWS::CloudFront::Distribution", "AWS::Shield::Protection"} <= types
    edge = templates["SecureEndpointSample-edge"]["Resources"].values()
    (acl,) = [r for r in edge if r["Type"] == "AWS::WAFv2::WebACL"]
    assert acl["Properties"]["Scope"] == "CLOUDFRONT"


def test_auto_block_from_context_lets_the_monitor_block():
    template = templates_of(once(configuration, "auto_block"))["SecureEndpointSample"]
    assert monitor_settings(template)["auto_block"] is True


def test_the_monitor_alerts_only_by_default(default_templates):
    template = default_templates["SecureEndpointSample"]
    assert monitor_settings(template)["auto_block"] is False


def test_disable_api_keys_with_auto_block_adds_the_responder():
    templates = templates_of(once(configuration, "disable_api_keys"))
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


def test_smoke_client_adds_a_client_that_may_not_invoke(default_templates):
    def app_clients(template):
        return {
            r["Properties"]["ClientName"]: r["Properties"]["AllowedOAuthScopes"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::Cognito::UserPoolClient"
        }

    templates = templates_of(once(configuration, "smoke_client"))

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
EVERY_SWITCH = {
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
    assert switches == set(EVERY_SWITCH) - {"model_signature", "threat_intel_feeds"}


def test_the_cloud_watch_role_switch_gives_api_gateway_the_accounts_role():
    _, stack = once(configuration, "cloud_watch_role")
    (account,) = Template.from_stack(stack).find_resources("AWS::ApiGateway::Account").values()
    assert "CloudWatchRoleArn" in account["Properties"]


def test_an_input_baseline_from_context_becomes_the_request_model(tmp_path):
    from baseline_files import write_baseline

    baseline = write_baseline(tmp_path / "baseline")
    template = synth_app(tmp_path / "out", input_baseline=str(baseline))["SecureEndpointSample"]
    schemas = [
        r["Properties"]["Schema"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ApiGateway::Model"
    ]
    (request,) = [s for s in schemas if s.get("title") == "InferenceRequest"]
    assert [f["title"] for f in request["items"]["items"]] == [
        "tenure_months", "monthly_charges", "balance_delta", "support_calls", "region_eu",
        "region_us",
    ]  # fmt: skip


def test_a_drift_baseline_from_context_adds_the_drift_monitor(tmp_path):
    from baseline_dirs import build_baseline

    baseline = build_baseline(tmp_path / "drift", rows=500)
    template = synth_app(tmp_path / "out", data_capture="true", drift_baseline=str(baseline))[
        "SecureEndpointSample"
    ]
    layers = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::LayerVersion"]
    assert len(layers) == 1
    alarms = [r["Properties"].get("MetricName") for r in template["Resources"].values()
              if r["Type"] == "AWS::CloudWatch::Alarm"]  # fmt: skip
    assert "DriftingFeatures" in alarms

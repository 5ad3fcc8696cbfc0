"""Payload monitoring in an endpoint's template: the drift monitor's environment and grants, an
alarm per kind, the dashboard row, the membership key's secret and the VPC endpoints."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Annotations, Match, Template
from baseline_dirs import build_baseline
from configurations import once
from endpoint_builder import MODEL, synth_endpoint

from secure_endpoint import ApiClient, DataCaptureOptions, SecureEndpoint, compliance

pytestmark = pytest.mark.synth

KINDS = {
    "extraction": "PayloadExtraction",
    "probing": "PayloadProbing",
    "out_of_distribution": "PayloadOutOfDistribution",
    "membership": "PayloadMembership",
}


def baseline() -> Path:
    return build_baseline(Path(tempfile.mkdtemp(prefix="payload-")), rows=2000)


def membership_key(stack: Stack) -> secretsmanager.Secret:
    """The secret as docs/payload-monitoring.md says to make it: its own rotating key, rotated
    with the baseline (a new key needs new hashes), not by Secrets Manager."""
    key = kms.Key(stack, "MembershipKeyKey", enable_key_rotation=True)
    secret = secretsmanager.Secret(
        stack, "MembershipKey", description="membership hashes key", encryption_key=key
    )
    compliance.acknowledge(
        secret,
        "The baseline's membership hashes are keyed with this value: a rotation by Secrets "
        "Manager would make every hash unmatchable. It is rotated with the baseline (a new "
        "value, secure-endpoint baseline, a deployment).",
        "AwsSolutions-SMG4",
    )
    compliance.acknowledge(
        secret,
        "Rotated together with the baseline it keys (a new value, then secure-endpoint "
        "baseline and a deployment), never alone: a lone rotation breaks every stored hash.",
        "HIPAA.Security-SecretsManagerRotationEnabled",
        "NIST.800.53.R5-SecretsManagerRotationEnabled",
    )
    return secret


def configuration() -> dict[str, Any]:
    """Payload monitoring without the anomaly monitor (so its SNS endpoint is the payload
    alerts' own) and with a membership key (a compliance matrix row)."""
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, "Payload")
    secret = membership_key(stack)
    endpoint = SecureEndpoint(
        stack,
        "Endpoint",
        clients=[ApiClient(name="partner"), ApiClient(name="qa")],
        data_capture=DataCaptureOptions(),
        drift_baseline=baseline(),
        anomaly_monitor=False,
        payload_membership_key=secret,
        **MODEL,
    )
    return {"app": app, "stack": stack, "endpoint": endpoint, "secret": secret,
            "template": Template.from_stack(stack)}  # fmt: skip


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    return once(configuration)


def drift_function(template: Template) -> dict[str, Any]:
    functions = template.find_resources("AWS::Lambda::Function")
    (found,) = [f for k, f in functions.items() if "DriftMonitor" in k]
    return found["Properties"]


def test_the_function_scores_payloads_and_alerts_the_endpoint_topic(built):
    template, stack = built["template"], built["stack"]
    props = drift_function(template)
    variables = props["Environment"]["Variables"]
    assert variables["PAYLOAD_MONITORING"] == "true"
    (topic,) = template.find_resources("AWS::SNS::Topic")
    assert variables["ALERT_TOPIC_ARN"] == {"Ref": topic}
    secret_id = stack.get_logical_id(built["secret"].node.default_child)
    assert variables["MEMBERSHIP_KEY_SECRET_ARN"] == {"Ref": secret_id}
    assert "QUARANTINE_TOPIC_ARN" not in variables  # alert only, by default
    assert props["MemorySize"] == 2048
    # alerts name clients: the Cognito client id of each, to its name
    names = json.dumps(variables["CLIENT_NAMES"])
    assert "partner" in names
    assert "qa" in names
    assert "UserPoolClient" in names or "Client" in names


def test_it_may_publish_to_the_alert_topic_and_read_the_membership_key(built):
    template, stack = built["template"], built["stack"]
    policies = template.find_resources("AWS::IAM::ManagedPolicy")
    (policy,) = [p for k, p in policies.items() if "DriftMonitor" in k]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (topic,) = template.find_resources("AWS::SNS::Topic")
    publish = [s for s in statements if s["Action"] == "sns:Publish"]
    assert [s["Resource"] for s in publish] == [{"Ref": topic}]
    secret_id = stack.get_logical_id(built["secret"].node.default_child)
    reads = [s for s in statements if "secretsmanager:GetSecretValue" in s["Action"]]
    assert [s["Resource"] for s in reads] == [{"Ref": secret_id}]


def test_an_alarm_per_kind_points_at_its_runbook_section(built):
    template = built["template"]
    props = drift_function(template)
    service = props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    found = {}
    for alarm in template.find_resources("AWS::CloudWatch::Alarm").values():
        p = alarm["Properties"]
        if p.get("Namespace") == "SecureEndpoint/Payload":
            assert p["MetricName"] == "PayloadFindings"
            assert p["Statistic"] == "Sum"
            assert p["Period"] == 3600
            assert p["Threshold"] == 0
            dims = {d["Name"]: d["Value"] for d in p["Dimensions"]}
            assert dims["service"] == service
            found[dims["Kind"]] = p["AlarmDescription"]
            assert p["AlarmActions"], "the alarm notifies the alert topic"
    assert set(found) == set(KINDS)
    for kind, description in found.items():
        assert f"#payload-{kind.replace('_', '-')}" in description


def test_the_runbook_has_a_section_per_kind():
    runbook = (Path(__file__).parent.parent / "docs" / "runbook.md").read_text()
    for kind in KINDS:
        section = f'<a id="payload-{kind.replace("_", "-")}"></a>'
        assert section in runbook, section
        body = runbook.split(section, 1)[1].split('<a id="', 1)[0]
        for part in ("What it means", "Confirm", "What to do"):
            assert part in body, (kind, part)


def test_the_dashboard_shows_top_clients_and_findings_by_kind(built):
    (dashboard,) = built["template"].find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert "Top clients by payload score" in body
    assert "Payload findings by kind" in body
    for kind in KINDS:
        assert f'\\"Kind\\",\\"{kind}\\"' in body, kind


def test_the_vpc_gets_the_sns_and_secrets_manager_endpoints(built):
    endpoints = built["template"].find_resources("AWS::EC2::VPCEndpoint")
    services = json.dumps([e["Properties"]["ServiceName"] for e in endpoints.values()])
    assert ".sns" in services
    assert ".secretsmanager" in services
    assert ".logs" not in services  # the anomaly monitor's, which is off here


def test_turning_payload_monitoring_off_warns_and_drops_its_parts():
    _, stack, _ = synth_endpoint(
        "NoPayload",
        clients=[ApiClient(name="a")],
        data_capture=DataCaptureOptions(),
        drift_baseline=baseline(),
        anomaly_monitor=False,
        payload_monitoring=False,
    )
    Annotations.from_stack(stack).has_warning(
        "/NoPayload/Endpoint", Match.string_like_regexp("payload_monitoring=False")
    )
    template = Template.from_stack(stack)
    variables = drift_function(template)["Environment"]["Variables"]
    assert "PAYLOAD_MONITORING" not in variables
    assert drift_function(template)["MemorySize"] == 1024
    namespaces = {a["Properties"].get("Namespace")
                  for a in template.find_resources("AWS::CloudWatch::Alarm").values()}  # fmt: skip
    assert "SecureEndpoint/Payload" not in namespaces
    endpoints = template.find_resources("AWS::EC2::VPCEndpoint").values()
    services = json.dumps([e["Properties"]["ServiceName"] for e in endpoints])
    assert ".sns" not in services

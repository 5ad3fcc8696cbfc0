"""Payload monitoring in an endpoint's template: the drift monitor's environment and grants, an
alarm per kind, the dashboard row, the membership key's secret and the VPC endpoints."""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Annotations, Match, Template
from baseline_dirs import build_baseline
from configurations import once
from endpoint_builder import MODEL, synth_endpoint

from secure_endpoint import (
    ApiClient,
    AutoQuarantine,
    DataCaptureOptions,
    SecureEndpoint,
    compliance,
)
from secure_endpoint.cli import main

pytestmark = pytest.mark.synth

KINDS = {
    "extraction": "PayloadExtraction",
    "probing": "PayloadProbing",
    "out_of_distribution": "PayloadOutOfDistribution",
    "membership": "PayloadMembership",
}


def baseline() -> Path:
    return build_baseline(Path(tempfile.mkdtemp(prefix="payload-")), rows=2000)


def keyed_baseline() -> Path:
    """A baseline with keyed membership hashes (``--membership-key-file``)."""
    folder = Path(tempfile.mkdtemp(prefix="payload-keyed-"))
    build_baseline(folder, rows=2000)
    (folder / "key").write_bytes(b"k" * 32)
    code = main(["baseline", "--training", str(folder / "train.csv"), "--output",
                 str(folder / "keyed"), "--membership-key-file", str(folder / "key")])  # fmt: skip
    assert code == 0
    return folder / "keyed"


def without_payload_json() -> Path:
    """A baseline of before payload monitoring: no payload.json."""
    folder = baseline()
    copy = folder.parent / "old"
    shutil.copytree(folder, copy)
    (copy / "payload.json").unlink()
    return copy


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
        drift_baseline=keyed_baseline(),
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
    (found,) = [f for k, f in functions.items() if "DriftMonitorFunction" in k]
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


def with_auto_quarantine() -> dict[str, Any]:
    """Automatic quarantine on, one client protected (a compliance matrix row)."""
    app, stack, endpoint = synth_endpoint(
        "Quarantining",
        clients=[ApiClient(name="partner"), ApiClient(name="qa")],
        data_capture=DataCaptureOptions(),
        drift_baseline=baseline(),
        auto_quarantine=AutoQuarantine(
            ttl=Duration.hours(6), never_quarantine=["qa"], max_per_run=2
        ),
    )
    return {"app": app, "stack": stack, "endpoint": endpoint,
            "template": Template.from_stack(stack)}  # fmt: skip


@pytest.fixture(scope="module")
def quarantining() -> dict[str, Any]:
    return once(with_auto_quarantine)


def test_auto_quarantine_asks_a_responder_outside_the_vpc(quarantining):
    template, stack, endpoint = (quarantining[k] for k in ("template", "stack", "endpoint"))
    responder = endpoint.drift.quarantine
    assert responder is not None
    topic_id = stack.get_logical_id(responder.topic.node.default_child)
    variables = drift_function(template)["Environment"]["Variables"]
    assert variables["QUARANTINE_TOPIC_ARN"] == {"Ref": topic_id}
    settings = json.dumps(variables["QUARANTINE"])
    assert '\\"ttl_seconds\\":21600' in settings
    assert '\\"max_per_run\\":2' in settings
    qa_client = stack.get_logical_id(endpoint.identity.app_clients["qa"].node.default_child)
    assert qa_client in settings  # never_quarantine by Cognito client id
    function_id = stack.get_logical_id(responder.function.node.default_child)
    function = template.find_resources("AWS::Lambda::Function")[function_id]["Properties"]
    assert "VpcConfig" not in function  # API Gateway's management API has no VPC endpoint
    env = function["Environment"]["Variables"]
    assert env["MAX_TTL_SECONDS"] == "21600"
    assert env["NEVER_QUARANTINE"] == '["qa"]'
    plan_id = stack.get_logical_id(endpoint.quarantine_plan.usage_plan.node.default_child)
    assert env["QUARANTINE_PLAN_ID"] == {"Ref": plan_id}
    template.has_resource_properties("AWS::SNS::Subscription", {
        "TopicArn": {"Ref": topic_id}, "Protocol": "lambda",
        "FilterPolicy": {"action": ["quarantine-client"]},
    })  # fmt: skip
    # the CLI's `quarantine` uses the same plan: the endpoint's manifest names it
    manifest = json.dumps(template.find_outputs("*"))
    assert '\\"quarantinePlanId\\":\\"' in manifest
    assert json.dumps({"Ref": plan_id}) in manifest
    assert '\\"neverQuarantine\\":[\\"qa\\"]' in manifest
    rules = template.find_resources("AWS::Events::Rule")
    arn = {"Fn::GetAtt": [function_id, "Arn"]}
    sweeps = [
        r["Properties"] for r in rules.values() if r["Properties"]["Targets"][0]["Arn"] == arn
    ]
    assert [s["ScheduleExpression"] for s in sweeps] == ["rate(15 minutes)"]


def test_the_dashboard_counts_the_quarantines(quarantining, built):
    def body(of: dict[str, Any]) -> str:
        (dashboard,) = of["template"].find_resources("AWS::CloudWatch::Dashboard").values()
        return json.dumps(dashboard["Properties"]["DashboardBody"])

    assert "ClientsQuarantined" in body(quarantining)
    assert "ClientsQuarantined" not in body(built)  # alert only: no responder


def test_only_the_drift_monitor_may_publish_quarantine_requests(quarantining):
    template, stack, endpoint = (quarantining[k] for k in ("template", "stack", "endpoint"))
    responder = endpoint.drift.quarantine
    topic_id = stack.get_logical_id(responder.topic.node.default_child)
    role_id = stack.get_logical_id(endpoint.drift.role.node.default_child)
    policies = template.find_resources("AWS::SNS::TopicPolicy")
    (statements,) = [p["Properties"]["PolicyDocument"]["Statement"] for p in policies.values()
                     if p["Properties"]["Topics"] == [{"Ref": topic_id}]]  # fmt: skip
    (deny,) = [s for s in statements if s.get("Sid") == "OnlyTheMonitorRequests"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": {
        "Fn::GetAtt": [role_id, "Arn"]}}}  # fmt: skip


def test_the_responder_may_move_only_the_clients_keys(quarantining):
    template, stack, endpoint = (quarantining[k] for k in ("template", "stack", "endpoint"))
    role = endpoint.drift.quarantine.role
    policies = template.find_resources("AWS::IAM::ManagedPolicy")
    role_id = stack.get_logical_id(role.node.default_child)
    statements = [s for p in policies.values()
                  if {"Ref": role_id} in p["Properties"].get("Roles", [])
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]  # fmt: skip
    actions = {a for s in statements for a in
               (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}  # fmt: skip
    assert {"apigateway:GET", "apigateway:PATCH", "apigateway:POST", "apigateway:DELETE"} <= actions
    gateway = [s for s in statements if str(s["Action"]).startswith("['apigateway")
               or str(s["Action"]).startswith("apigateway")]  # fmt: skip
    for statement in gateway:
        resources = json.dumps(statement["Resource"])
        assert "apikeys" in resources or "usageplans" in resources, statement
        assert "*" not in resources.replace("::", ""), statement


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"auto_quarantine": AutoQuarantine()}, "auto_quarantine configures payload monitoring"),
        ({"drift_baseline": "BASELINE", "payload_monitoring": False,
          "auto_quarantine": AutoQuarantine()}, "auto_quarantine configures payload monitoring"),
        ({"drift_baseline": "BASELINE", "auto_quarantine": "on"}, "must be an AutoQuarantine"),
        ({"drift_baseline": "BASELINE", "auto_quarantine": AutoQuarantine(ttl=Duration.days(31))},
         "auto_quarantine.ttl must be whole minutes from 1 minute to 30 days, got 31 days"),
        ({"drift_baseline": "BASELINE",
          "auto_quarantine": AutoQuarantine(never_quarantine=["nobody"])},
         r"never_quarantine names \['nobody'\], which are not clients"),
        ({"drift_baseline": "BASELINE", "auto_quarantine": AutoQuarantine(max_per_run=0)},
         "max_per_run must be from 1 to 20, got 0"),
        ({"drift_baseline": "BASELINE", "payload_membership_key": "arn:aws:secretsmanager:x"},
         "payload_membership_key must be a Secrets Manager secret"),
        ({"drift_baseline": "BASELINE", "payload_monitoring": "yes"},
         "payload_monitoring must be True or False"),
    ],
)  # fmt: skip
def test_bad_payload_props_name_the_prop(props, message):
    if props.get("drift_baseline") == "BASELINE":
        props = props | {"drift_baseline": bad_props_baseline()}
    app = App(context={"aws:cdk:bundling-stacks": []})
    with pytest.raises(ValueError, match=message):
        SecureEndpoint(Stack(app, "Bad"), "Endpoint", clients=[ApiClient(name="a")],
                       data_capture=DataCaptureOptions(), **MODEL, **props)  # fmt: skip


@functools.cache
def bad_props_baseline() -> Path:
    return baseline()


def test_a_baseline_that_limits_the_detector_warns():
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, "Limited")
    for name, folder in (("Keyed", keyed_baseline()), ("Old", without_payload_json())):
        SecureEndpoint(stack, name, clients=[ApiClient(name="a")],
                       data_capture=DataCaptureOptions(), drift_baseline=folder,
                       anomaly_monitor=False, **MODEL)  # fmt: skip
    annotations = Annotations.from_stack(stack)
    annotations.has_warning(
        "/Limited/Keyed/DriftMonitor",
        Match.string_like_regexp("holds keyed membership hashes, but no payload_membership_key"),
    )
    annotations.has_warning(
        "/Limited/Old/DriftMonitor", Match.string_like_regexp("has no payload.json")
    )


def test_a_membership_key_without_hashes_to_use_it_on_is_refused():
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, "Unkeyed")
    secret = secretsmanager.Secret(stack, "Key")
    with pytest.raises(ValueError, match="payload_membership_key was given, but drift_baseline"):
        SecureEndpoint(stack, "Endpoint", clients=[ApiClient(name="a")],
                       data_capture=DataCaptureOptions(), drift_baseline=bad_props_baseline(),
                       payload_membership_key=secret, **MODEL)  # fmt: skip
    assert stack.node.try_find_child("Endpoint") is None  # refused before anything was built


def test_the_vpc_endpoints_payload_monitoring_needs():
    from secure_endpoint.constructs.vpc_endpoints import needed

    alone = needed(anomaly_monitor=False, model_signature=False, payload_alerts=True,
                   secrets=True).names()  # fmt: skip
    assert alone == ["sns (interface)", "secretsmanager (interface)", "s3 (gateway)"]
    # with the anomaly monitor, its SNS endpoint serves both: listed once
    both = needed(anomaly_monitor=True, model_signature=False, payload_alerts=True).names()
    assert both.count("sns (interface)") == 1
    assert "secretsmanager (interface)" not in both


def test_operators_may_quarantine_into_the_same_plan():
    from aws_cdk import aws_iam as iam

    _, stack, endpoint = synth_endpoint(
        "Operated",
        clients=[ApiClient(name="partner")],
        data_capture=DataCaptureOptions(),
        drift_baseline=bad_props_baseline(),
        auto_quarantine=AutoQuarantine(),
    )
    operators = iam.Role(stack, "Operators", assumed_by=iam.AccountRootPrincipal())
    endpoint.grant_incident_response(operators)
    template = Template.from_stack(stack)
    role_id = stack.get_logical_id(operators.node.default_child)
    plan_id = stack.get_logical_id(endpoint.quarantine_plan.usage_plan.node.default_child)
    policies = [p["Properties"] for p in template.find_resources("AWS::IAM::Policy").values()
                if {"Ref": role_id} in p["Properties"]["Roles"]]  # fmt: skip
    statements = [s for p in policies for s in p["PolicyDocument"]["Statement"]]
    joins = [s for s in statements if s["Action"] == "apigateway:POST"]
    assert joins, statements
    assert json.dumps({"Ref": plan_id}) in json.dumps(joins)  # into the quarantine plan

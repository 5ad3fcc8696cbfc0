"""The drift monitor in an endpoint's template: its layer, grants, schedule, alarms, order."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template
from baseline_dirs import build_baseline
from configurations import once
from endpoint_builder import synth_endpoint

from secure_endpoint import ApiClient, DataCaptureOptions

pytestmark = pytest.mark.synth


def configuration() -> dict[str, Any]:
    """An endpoint with data capture and the drift monitor (a compliance matrix row)."""
    baseline = build_baseline(Path(tempfile.mkdtemp(prefix="drift-")), rows=2000)
    app, stack, endpoint = synth_endpoint(
        "Drifting",
        clients=[ApiClient(name="a")],
        data_capture=DataCaptureOptions(),
        drift_baseline=baseline,
    )
    return {"app": app, "endpoint": endpoint, "template": Template.from_stack(stack)}


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    return once(configuration)


def resources(template: Template, kind: str) -> dict[str, Any]:
    return template.find_resources(kind)


def drift_function(built) -> tuple[str, dict[str, Any]]:
    functions = resources(built["template"], "AWS::Lambda::Function")
    (found,) = [(k, f) for k, f in functions.items() if "DriftMonitor" in k]
    return found


def test_the_function_reads_the_baseline_from_its_layer_in_the_vpc(built):
    _, function = drift_function(built)
    props = function["Properties"]
    (layer,) = resources(built["template"], "AWS::Lambda::LayerVersion")
    assert props["Layers"] == [{"Ref": layer}]
    assert props["Environment"]["Variables"]["BASELINE_DIR"] == "/opt"
    assert props["Environment"]["Variables"]["STATE_PREFIX"] == "drift/"
    prefix = props["Environment"]["Variables"]["ENDPOINT_PREFIX"]["Fn::Join"][1]
    assert prefix[0] == "capture/"
    assert prefix[-1] == "/"
    assert props["VpcConfig"]["SubnetIds"]
    assert props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"].startswith("drift-monitor-")
    # every VPC function waits for the VPC endpoints it reaches AWS through
    depends = function.get("DependsOn", [])
    assert any("S3" in d or "Gateway" in d for d in depends), depends


def test_it_may_read_the_capture_and_write_only_under_drift(built):
    policies = resources(built["template"], "AWS::IAM::ManagedPolicy")
    (policy,) = [p for k, p in policies.items() if "DriftMonitor" in k]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    writes = [s for s in statements if any("PutObject" in a for a in _actions(s))]
    for statement in writes:
        for resource in _resources(statement):
            assert json.dumps(resource).endswith('/drift/*"]]}') or "drift/*" in json.dumps(
                resource
            ), resource
    lists = [s for s in statements if "s3:ListBucket" in _actions(s)]
    assert lists
    assert lists[0]["Condition"]["StringLike"]["s3:prefix"][1] == "drift/"


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return actions if isinstance(actions, list) else [actions]


def _resources(statement: dict[str, Any]) -> list[Any]:
    found = statement["Resource"]
    return found if isinstance(found, list) else [found]


def test_it_runs_hourly_with_a_dead_letter_queue(built):
    rules = resources(built["template"], "AWS::Events::Rule")
    (rule,) = [r for k, r in rules.items() if "DriftMonitor" in k]
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 hour)"
    assert "DeadLetterConfig" in rule["Properties"]["Targets"][0]


def test_drift_and_violations_alarm_with_the_runbook(built):
    alarms = resources(built["template"], "AWS::CloudWatch::Alarm")
    service = drift_function(built)[1]["Properties"]["Environment"]["Variables"][
        "POWERTOOLS_SERVICE_NAME"
    ]
    found = {}
    for alarm in alarms.values():
        props = alarm["Properties"]
        if props.get("Namespace") == "SecureEndpoint/Drift":
            assert props["Dimensions"] == [{"Name": "service", "Value": service}]
            assert props["Threshold"] == 0
            assert "#input-drift" in props["AlarmDescription"]
            found[props["MetricName"]] = props
    assert set(found) == {"DriftingFeatures", "ConstraintViolations"}


def test_the_runbook_has_the_drift_section():
    runbook = (Path(__file__).parent.parent / "docs" / "runbook.md").read_text()
    assert '<a id="input-drift"></a>' in runbook


def test_the_dashboard_graphs_each_feature_drift_by_searching_its_service(built):
    (dashboard,) = built["template"].find_resources("AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    body = json.loads("".join(p if isinstance(p, str) else "token" for p in parts))
    service = drift_function(built)[1]["Properties"]["Environment"]["Variables"][
        "POWERTOOLS_SERVICE_NAME"
    ]
    (graph,) = [w for w in body["widgets"] if "per feature" in w["properties"].get("title", "")]
    ((search,),) = graph["properties"]["metrics"]
    assert search["expression"] == (
        'SEARCH(\'{"SecureEndpoint/Drift",Feature,service} '
        f'MetricName="FeatureDriftDistance" service="{service}"\', \'Maximum\', 3600)'
    )
    assert search["period"] == 3600

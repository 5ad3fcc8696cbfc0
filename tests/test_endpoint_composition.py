"""examples/multi_stack as a spec: a shared stack's VPC, key and user pool (with its domain) used
by two endpoints of another stack, next to an environment-agnostic stack. It synthesizes
without a dependency cycle and the two endpoints have distinct names and manifests; that it is
clean under the five cdk-nag packs and cfn-lint is a row of test_compliance_matrix.py."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk.assertions import Template
from configurations import once

from secure_endpoint import manifest

pytestmark = pytest.mark.synth

EXAMPLE = Path(__file__).parents[1] / "examples" / "multi_stack" / "app.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("multi_stack_app", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def configuration() -> dict[str, Any]:
    """The example's app (and a row of the compliance matrix)."""
    example = load_example()
    app = App(context={"aws:cdk:bundling-stacks": []})
    shared, models, standalone = example.build(app)
    assembly = app.synth()  # a DependencyCycle would raise here
    return {
        "app": app,
        "assembly": assembly,
        "shared": shared,
        "models": models,
        "standalone": standalone,
        "templates": {s.stack_name: Template.from_stack(s) for s in (shared, models, standalone)},
    }


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    return once(configuration)


def resources(template: Template, kind: str) -> list[dict[str, Any]]:
    return list(template.find_resources(kind).values())


def test_only_the_models_stack_depends_on_the_shared_one(built: dict[str, Any]) -> None:
    shared, models, standalone = built["shared"], built["models"], built["standalone"]
    assert [s.stack_name for s in models.dependencies] == ["Shared"]
    assert shared.dependencies == []
    assert standalone.dependencies == []


def test_the_shared_resources_are_used_not_recreated(built: dict[str, Any]) -> None:
    models = built["templates"]["Models"]
    for kind in ("AWS::KMS::Key", "AWS::EC2::VPC", "AWS::Cognito::UserPool"):
        assert resources(models, kind) == [], kind
    # one app client per API client, in the models stack, on the shared pool
    clients = resources(models, "AWS::Cognito::UserPoolClient")
    assert [c["Properties"]["ClientName"] for c in clients] == ["crm", "payments"]
    (pool_id,) = {json.dumps(c["Properties"]["UserPoolId"]) for c in clients}
    assert "Fn::ImportValue" in pool_id
    assert "Shared:ExportsOutputRefMachines" in pool_id


def test_the_shared_key_policy_lets_the_services_of_other_stacks_use_it(
    built: dict[str, Any],
) -> None:
    (key,) = resources(built["templates"]["Shared"], "AWS::KMS::Key")
    sids = {s.get("Sid") for s in key["Properties"]["KeyPolicy"]["Statement"]}
    assert {
        "AllowCloudWatchLogsOfThisAccountAndRegion",
        "AllowCloudWatchAlarmsOfThisAccount",
        "AllowEventBridgeRulesOfThisAccountToUseDeadLetterQueues",
        "AllowSnsTopicsOfThisAccountToUseDeadLetterQueues",
        "AllowCloudFrontLogDeliveryToEncrypt",
    } <= sids
    # and nothing of the models stack's roles is written into it (that would be a cycle)
    assert "Models" not in json.dumps(key["Properties"]["KeyPolicy"])


def test_the_secret_rotations_get_the_shared_key_through_secrets_manager_only(
    built: dict[str, Any],
) -> None:
    models = built["templates"]["Models"]
    via = [
        statement
        for policy in resources(models, "AWS::IAM::Policy")
        + resources(models, "AWS::IAM::ManagedPolicy")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
        == {"Fn::Join": ["", ["secretsmanager.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
        or statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
        == "secretsmanager.eu-west-1.amazonaws.com"
    ]
    assert len(via) >= 2  # one rotation per endpoint
    for statement in via:
        assert set(statement["Action"]) == {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}


def test_the_vpc_endpoints_are_added_once_to_the_shared_vpc(built: dict[str, Any]) -> None:
    services = Counter(
        json.dumps(e["Properties"]["ServiceName"])
        for e in resources(built["templates"]["Shared"], "AWS::EC2::VPCEndpoint")
    )
    assert set(services.values()) == {1}, services
    names = {s.rsplit(".", 1)[-1].strip('"]}') for s in services}
    assert names == {"logs", "sns", "wafv2", "s3", "dynamodb"}
    assert resources(built["templates"]["Models"], "AWS::EC2::VPCEndpoint") == []


def test_the_two_endpoints_write_two_manifests(built: dict[str, Any]) -> None:
    models = built["models"]
    outputs = built["templates"]["Models"].to_json()["Outputs"]
    keys = sorted(k for k in outputs if k.startswith(manifest.OUTPUT_PREFIX))
    assert keys == [manifest.output_key("Churn"), manifest.output_key("Fraud")]
    rendered = {key: json.dumps(outputs[key]["Value"]) for key in keys}
    churn, fraud = rendered[keys[0]], rendered[keys[1]]
    assert '\\"name\\":\\"Churn\\"' in churn
    assert '\\"crm\\"' in churn
    assert '\\"payments\\"' not in churn
    assert '\\"payments\\"' in fraud
    # two resource servers in one pool: two identifiers, so two invoke scopes
    assert models.churn.identity.invoke_scope != models.fraud.identity.invoke_scope


NAMED = {
    "AWS::ApiGateway::RestApi": "Name",
    "AWS::SageMaker::Endpoint": "EndpointName",
    "AWS::WAFv2::WebACL": "Name",
    "AWS::WAFv2::IPSet": "Name",
    "AWS::Cognito::UserPoolResourceServer": "Identifier",
    "AWS::ApiGateway::UsagePlan": "UsagePlanName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
}


@pytest.mark.parametrize(("kind", "prop"), NAMED.items())
def test_physical_names_are_distinct_across_the_two_endpoints(
    built: dict[str, Any], kind: str, prop: str
) -> None:
    stack: Stack = built["models"]
    names = [
        json.dumps(stack.resolve(r["Properties"][prop]))
        for r in resources(built["templates"]["Models"], kind)
        if prop in r.get("Properties", {})
    ]
    assert len(names) == len(set(names)), names


def test_the_environment_agnostic_stack_has_one_endpoint_of_its_own(built: dict[str, Any]) -> None:
    standalone = built["templates"]["Standalone"]
    assert built["standalone"].region.startswith("${Token")
    assert len(resources(standalone, "AWS::SageMaker::Endpoint")) == 1
    assert len(resources(standalone, "AWS::KMS::Key")) == 1
    outputs = standalone.to_json()["Outputs"]
    assert [k for k in outputs if k.startswith(manifest.OUTPUT_PREFIX)] == [
        manifest.output_key("Endpoint")
    ]


def test_the_shared_pool_is_hardened_as_the_one_an_endpoint_creates(built: dict[str, Any]) -> None:
    (shared_pool,) = resources(built["templates"]["Shared"], "AWS::Cognito::UserPool")
    (own_pool,) = resources(built["templates"]["Standalone"], "AWS::Cognito::UserPool")
    assert shared_pool["Properties"] == own_pool["Properties"]
    assert shared_pool["Properties"]["MfaConfiguration"] == "ON"
    assert shared_pool["Properties"]["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}
    assert shared_pool["DeletionPolicy"] == own_pool["DeletionPolicy"] == "Retain"


# --- each endpoint's own metrics --------------------------------------------------------------

METRIC_HANDLERS = (
    "anomaly_monitor.handler.handler",
    "anomaly_model_fitter.handler.handler",
    "api_key_responder.handler.handler",
    "threat_intel_feed.handler.handler",
)
"""The functions that publish Powertools metrics, under their ``POWERTOOLS_SERVICE_NAME``."""


def alarm_metrics(props: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric name, dimensions) of every metric an alarm's properties watch."""
    stats = [q["MetricStat"]["Metric"] for q in props.get("Metrics", []) if "MetricStat" in q]
    if "MetricName" in props:
        stats.append(props)
    return [
        (m["Namespace"], m["MetricName"], {d["Name"]: d["Value"] for d in m.get("Dimensions", [])})
        for m in stats
    ]


def dashboard_metrics(stack: Stack, dashboard: Any) -> list[dict[str, Any]]:
    """The dimensions of every metric of a dashboard's widgets (tokens as ``TOKEN``)."""
    body = stack.resolve(dashboard.node.default_child.dashboard_body)
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    widgets = json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))["widgets"]
    found = []
    for widget in widgets:
        for line in widget["properties"].get("metrics", []):
            values = [v for v in line if not isinstance(v, dict)]
            if len(values) >= 2:  # namespace, name, then dimension name/value pairs
                found.append(dict(zip(values[2::2], values[3::2], strict=True)))
    return found


def test_each_endpoints_functions_publish_under_a_service_of_their_own(
    built: dict[str, Any],
) -> None:
    models = built["models"]
    functions = built["templates"]["Models"].find_resources("AWS::Lambda::Function")
    services = [
        f["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        for f in functions.values()
        if f["Properties"]["Handler"] in METRIC_HANDLERS
    ]
    assert len(services) == 4  # a monitor and a model fitter per endpoint
    assert len(set(services)) == 4, services
    for endpoint in (models.churn, models.fraud):
        monitor = endpoint.monitor
        for function, service in (
            (monitor.function, monitor.service_name),
            (monitor.fitter, monitor.fitter_service_name),
        ):
            props = functions[models.get_logical_id(function.node.default_child)]["Properties"]
            assert props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == service
    assert (
        models.churn.monitor.service_name == "anomaly-monitor-Models-Churn-AnomalyMonitor-BB2632A9"
    )
    assert (
        models.fraud.monitor.service_name == "anomaly-monitor-Models-Fraud-AnomalyMonitor-931C05E6"
    )


def test_each_endpoints_alarms_watch_its_own_monitors_service(built: dict[str, Any]) -> None:
    models = built["models"]
    resources_ = built["templates"]["Models"].to_json()["Resources"]
    for endpoint in (models.churn, models.fraud):
        watched = []
        for name, alarm in endpoint.alarms.alarms.items():
            props = resources_[models.get_logical_id(alarm.node.default_child)]["Properties"]
            for namespace, metric, dimensions in alarm_metrics(props):
                if "service" in dimensions:
                    watched.append((name, namespace, metric))
                    assert dimensions["service"] == endpoint.monitor.service_name, name
        assert watched == [
            ("AnomalousPrincipals", "SecureEndpoint/Anomaly", "AnomalousPrincipals"),
            ("UnparseableLogLines", "SecureEndpoint/Anomaly", "UnparseableLogLines"),
        ]


def test_no_two_anomaly_detectors_are_the_same(built: dict[str, Any]) -> None:
    """CloudFormation refuses a second detector of the same metric, statistic and dimensions;
    and one endpoint's band would be fitted on the other's numbers."""
    models = built["models"]
    detectors = built["templates"]["Models"].find_resources("AWS::CloudWatch::AnomalyDetector")
    identities = [
        json.dumps(
            [p["Namespace"], p["MetricName"], p["Stat"], p.get("Dimensions", [])], sort_keys=True
        )
        for p in (d["Properties"] for d in detectors.values())
    ]
    assert len(identities) == len(set(identities)), Counter(identities).most_common(2)
    for endpoint in (models.churn, models.fraud):
        own = [
            c
            for c in endpoint.alarms.node.children
            if isinstance(c, cloudwatch.CfnAnomalyDetector)
            and c.namespace == "SecureEndpoint/Anomaly"
        ]
        (detector,) = own
        props = detectors[models.get_logical_id(detector)]["Properties"]
        assert props["Dimensions"] == [{"Name": "service", "Value": endpoint.monitor.service_name}]


def test_each_endpoints_dashboard_graphs_its_own_monitor(built: dict[str, Any]) -> None:
    models = built["models"]
    for endpoint in (models.churn, models.fraud):
        services = [
            d["service"]
            for d in dashboard_metrics(models, endpoint.alarms.dashboard)
            if "service" in d
        ]
        # anomalous principals and active blocks (anomaly monitor widget)
        assert services == [endpoint.monitor.service_name] * 2

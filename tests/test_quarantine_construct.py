"""The quarantine usage plan: its limits, its bad props, and a grant that covers exactly what
``runtime/quarantine.py`` calls.

The grant is checked against the calls themselves: a quarantine, a release, a TTL sweep and a
listing run against moto with every call recorded; each call becomes the IAM action and resource
API Gateway authorizes it by (the HTTP verb, and the request path of botocore's service model
with the call's parameters in it), and that set must equal what the synthesized policy allows,
its references resolved to moto's ids. Nag and cfn-lint: test_compliance_matrix.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import botocore.session
import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template
from aws_fakes import use_fake_credentials
from configurations import once
from moto import mock_aws

from secure_endpoint.constructs._iam import ManagedPolicyRole
from secure_endpoint.constructs.quarantine import QuarantinePlan
from secure_endpoint.runtime.quarantine import (
    ClientRef,
    Quarantine,
    QuarantineRequest,
    apigateway_client,
)

pytestmark = pytest.mark.synth

REGION = "eu-west-1"


def rest_api(stack: Stack) -> apigw.RestApi:
    """A REST API with one method, so that it has a deployment and a stage."""
    api = apigw.RestApi(stack, "Api", cloud_watch_role=False)
    api.root.add_method("GET", apigw.MockIntegration())
    return api


def configuration() -> dict[str, Any]:
    """The configuration of this module (and a row of the compliance matrix)."""
    app = App()
    stack = Stack(app, "Quarantine")
    api = rest_api(stack)
    plan = QuarantinePlan(
        stack, "Plan", rest_api=api, stage=api.deployment_stage, never_quarantine=["ops"]
    )
    client_plan = api.add_usage_plan("PartnerPlan", api_stages=[
        apigw.UsagePlanPerApiStage(api=api, stage=api.deployment_stage)
    ])  # fmt: skip
    key = api.add_api_key("PartnerKey")
    operator = ManagedPolicyRole(stack, "Operator", assumed_by=iam.AccountRootPrincipal())
    plan.grant_quarantine(
        operator, api_keys={"partner-a": key}, usage_plans={"partner-a": client_plan}
    )
    return {"app": app, "stack": stack, "plan": plan, "template": Template.from_stack(stack)}


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    return once(configuration)


def test_the_plan_covers_the_stage_with_a_small_rate_and_quota(built: dict[str, Any]) -> None:
    stack = built["stack"]
    (plan,) = [
        p["Properties"]
        for p in built["template"].find_resources("AWS::ApiGateway::UsagePlan").values()
        if "quarantine" in p["Properties"].get("Description", "")
    ]
    assert plan["Throttle"] == {"RateLimit": 1, "BurstLimit": 1}
    assert plan["Quota"] == {"Limit": 100, "Period": "DAY"}
    api = stack.node.find_child("Api")
    (stage,) = plan["ApiStages"]
    assert stage["ApiId"] == {"Ref": stack.get_logical_id(api.node.default_child)}
    assert stage["Stage"] == {"Ref": stack.get_logical_id(api.deployment_stage.node.default_child)}
    assert built["plan"].never_quarantine == ("ops",)


def test_the_plan_has_no_key_of_its_own(built: dict[str, Any]) -> None:
    plan_id = {"Ref": built["stack"].get_logical_id(built["plan"].usage_plan.node.default_child)}
    keys = built["template"].find_resources("AWS::ApiGateway::UsagePlanKey").values()
    assert [k for k in keys if k["Properties"]["UsagePlanId"] == plan_id] == []


def test_the_grant_names_each_key_and_plan_and_nothing_else(built: dict[str, Any]) -> None:
    stack = built["stack"]
    (policy,) = built["template"].find_resources("AWS::IAM::ManagedPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    ids = {
        "q": stack.get_logical_id(built["plan"].usage_plan.node.default_child),
        "p": stack.get_logical_id(stack.node.find_child("Api").node.find_child("PartnerPlan")
                                  .node.default_child),
        "k": stack.get_logical_id(stack.node.find_child("Api").node.find_child("PartnerKey")
                                  .node.default_child),
    }  # fmt: skip
    found = {(action, arn) for action, arn in _allowed(statements, {})}
    expected = {
        ("apigateway:GET", "/apikeys/<k>"),
        ("apigateway:PATCH", "/apikeys/<k>"),
        ("apigateway:GET", "/usageplans"),
        ("apigateway:GET", "/usageplans/<q>/keys"),
        ("apigateway:POST", "/usageplans/<q>/keys"),
        ("apigateway:POST", "/usageplans/<p>/keys"),
        ("apigateway:DELETE", "/usageplans/<q>/keys/<k>"),
        ("apigateway:DELETE", "/usageplans/<p>/keys/<k>"),
    }
    prefix = "arn:<AWS::Partition>:apigateway:<AWS::Region>::"
    assert found == {
        (action, prefix + path.replace("<q>", f"<{ids['q']}>")
         .replace("<p>", f"<{ids['p']}>").replace("<k>", f"<{ids['k']}>"))
        for action, path in expected
    }  # fmt: skip
    assert all(s["Effect"] == "Allow" for s in statements)


# --- the grant against the calls --------------------------------------------------------------

_MODEL = botocore.session.get_session().get_service_model("apigateway")


def iam_request(operation: str, params: dict[str, Any]) -> tuple[str, str]:
    """How API Gateway's management API authorizes a call: ``apigateway:<VERB>`` on
    ``arn:aws:apigateway:<region>::<the request path>``, from botocore's service model."""
    model = _MODEL.operation_model(operation)
    path = model.http["requestUri"]
    for member, shape in model.input_shape.members.items():
        if shape.serialization.get("location") == "uri":
            path = path.replace("{" + shape.serialization["name"] + "}", str(params[member]))
    return f"apigateway:{model.http['method']}", f"arn:aws:apigateway:{REGION}::{path}"


@pytest.fixture
def moto_gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    use_fake_credentials(monkeypatch, REGION)
    with mock_aws():
        inspect = boto3.client("apigateway", region_name=REGION)
        api_id = inspect.create_rest_api(name="inference")["id"]
        stage = [{"apiId": api_id, "stage": "prod"}]
        clients, plans = [], {}
        for index, name in enumerate(("partner-a", "partner-b")):
            key = inspect.create_api_key(name=name, description=f"client {name}", enabled=True)
            plans[name] = inspect.create_usage_plan(name=name, apiStages=stage)["id"]
            inspect.create_usage_plan_key(
                usagePlanId=plans[name], keyId=key["id"], keyType="API_KEY"
            )
            clients.append(ClientRef(name, f"client{index}", key["id"]))
        quarantine_plan = inspect.create_usage_plan(name="quarantine", apiStages=stage)["id"]
        yield {"clients": clients, "plans": plans, "quarantine_plan": quarantine_plan}


def test_grant_quarantine_allows_exactly_the_calls_the_runtime_makes(
    moto_gateway: dict[str, Any],
) -> None:
    clients = moto_gateway["clients"]
    client = apigateway_client(boto3.Session(region_name=REGION))
    called: set[tuple[str, str]] = set()

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        called.add(iam_request(model.name, params))

    client.meta.events.register("provide-client-params.apigateway", record)
    now = {"t": 1_800_000_000.0}
    quarantine = Quarantine(
        client, clients, quarantine_plan_id=moto_gateway["quarantine_plan"], clock=lambda: now["t"]
    )
    quarantine.quarantine(
        [QuarantineRequest(c.name, timedelta(hours=1), "probing") for c in clients]
    )
    quarantine.quarantine([QuarantineRequest("partner-a", timedelta(hours=2), "again")])
    quarantine.quarantined()
    quarantine.release(["partner-a"])
    now["t"] += 7200
    assert quarantine.release_expired().released == ("partner-b",)
    quarantine.reconcile()

    app = App()
    stack = Stack(app, "Granted", env=Environment(account="123456789012", region=REGION))
    api = rest_api(stack)
    plan = QuarantinePlan(stack, "Plan", rest_api=api, stage=api.deployment_stage)
    operator = ManagedPolicyRole(stack, "Operator", assumed_by=iam.AccountRootPrincipal())
    plan.grant_quarantine(
        operator,
        api_keys={
            c.name: apigw.ApiKey.from_api_key_id(stack, f"{c.name}Key", c.api_key_id)
            for c in clients
        },
        usage_plans={
            name: apigw.UsagePlan.from_usage_plan_id(stack, f"{name}Plan", plan_id)
            for name, plan_id in moto_gateway["plans"].items()
        },
    )
    template = Template.from_stack(stack)
    (policy,) = template.find_resources("AWS::IAM::ManagedPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    refs = {
        stack.get_logical_id(plan.usage_plan.node.default_child): moto_gateway["quarantine_plan"],
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
    }

    assert set(_allowed(statements, refs)) == called


def _allowed(statements: list[dict[str, Any]], refs: dict[str, str]) -> list[tuple[str, str]]:
    """Every (action, resource) the statements allow, references rendered: a known one as its
    value, others as ``<logical id>``."""
    found = []
    for statement in statements:
        actions = statement["Action"]
        resources = statement["Resource"]
        for action in [actions] if isinstance(actions, str) else actions:
            for resource in resources if isinstance(resources, list) else [resources]:
                found.append((action, _render(resource, refs)))
    return found


def _render(value: Any, refs: dict[str, str]) -> str:
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return refs.get(value["Ref"], f"<{value['Ref']}>")
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_render(part, refs) for part in parts)
    raise AssertionError(f"unexpected intrinsic in a policy resource: {value!r}")


# --- bad props --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"rate_limit": 0}, r"QuarantinePlan.rate_limit must be a number from 0.1 to 10000, got 0"),
        (
            {"burst_limit": 0},
            r"QuarantinePlan.burst_limit must be a whole number from 1 to 5000, got 0",
        ),
        (
            {"rate_limit": 5.0, "burst_limit": 2},
            r"QuarantinePlan.burst_limit \(2\) must be at least its rate_limit \(5\)",
        ),
        (
            {"quota_per_day": 0},
            r"QuarantinePlan.quota_per_day must be a whole number from 1 to 1000000000, got 0",
        ),
        ({"never_quarantine": "ops"}, r"never_quarantine must be a list of client names"),
        ({"never_quarantine": ["ops", "a b"]}, r"got 'a b' in \['ops', 'a b'\]"),
        ({"never_quarantine": ["ops", "ops"]}, r"names a client twice: \['ops', 'ops'\]"),
    ],
)
def test_bad_props_are_refused_naming_the_prop_and_the_value(
    props: dict[str, Any], message: str
) -> None:
    stack = Stack(App(), "Bad")
    api = rest_api(stack)
    with pytest.raises(ValueError, match=message):
        QuarantinePlan(stack, "Plan", rest_api=api, stage=api.deployment_stage, **props)


def test_the_grant_needs_the_same_clients_in_keys_and_plans() -> None:
    stack = Stack(App(), "Bad")
    api = rest_api(stack)
    plan = QuarantinePlan(stack, "Plan", rest_api=api, stage=api.deployment_stage)
    role = ManagedPolicyRole(stack, "Role", assumed_by=iam.AccountRootPrincipal())
    key = api.add_api_key("Key")
    with pytest.raises(ValueError, match=r"api_keys for \['a'\] and usage_plans for \[\]"):
        plan.grant_quarantine(role, api_keys={"a": key}, usage_plans={})

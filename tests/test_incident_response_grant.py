"""SecureEndpoint.grant_incident_response grants what the CLI's response commands call, no more.

The commands run against moto (the fixture of test_cli_response) with every AWS call recorded;
each call maps to its IAM action, and that set must equal the grant's actions.
"""

from __future__ import annotations

from typing import Any

import botocore.client
import pytest
from aws_cdk import Environment
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template
from endpoint_builder import synth_endpoint
from test_cli_response import STACK, Deployed, aws, run  # noqa: F401 (the fixture)

from secure_endpoint import ApiClient

pytestmark = pytest.mark.synth

# Calls that need no IAM permission, and the HTTP-verb actions of API Gateway's management API.
NO_PERMISSION = {("sts", "GetCallerIdentity")}
API_GATEWAY = {"GetApiKey": "apigateway:GET", "UpdateApiKey": "apigateway:PATCH"}


def iam_action(service: str, operation: str) -> str | None:
    if (service, operation) in NO_PERMISSION:
        return None
    if service == "apigateway":
        return API_GATEWAY[operation]
    return f"{service}:{operation}"


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> set[tuple[str, str]]:
    calls: set[tuple[str, str]] = set()
    original = botocore.client.BaseClient._make_api_call

    def record(self: Any, operation: str, params: Any) -> Any:
        calls.add((self.meta.service_model.signing_name, operation))
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    return calls


def test_the_response_commands_call_exactly_what_the_grant_allows(
    aws: Deployed,  # noqa: F811
    recorded: set[tuple[str, str]],
    granted_actions: set[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv in (
        ("block", "203.0.113.7"),
        ("blocked",),
        ("unblock", "203.0.113.7"),
        ("revoke-client", "partner-a"),
        ("rotate-client", "partner-a"),
    ):
        assert run(*argv, "--stack", STACK) == 0, capsys.readouterr().err
    called = {a for s, o in recorded if (a := iam_action(s, o)) is not None}
    assert called == granted_actions - KMS_ON_BEHALF


#: DynamoDB calls KMS with the caller's permission on the table's customer-managed key.
KMS_ON_BEHALF = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}


@pytest.fixture(scope="module")
def operator_policy() -> dict[str, Any]:
    _, stack, endpoint = synth_endpoint(
        "Response",
        env=Environment(account="111122223333", region="eu-west-1"),
        clients=[ApiClient(name="partner-a", rate_limit=10, burst_limit=20, quota_per_day=100)],
        allowed_cidrs=["198.51.100.0/24"],
    )
    role = iam.Role(stack, "Operator", assumed_by=iam.AccountRootPrincipal())
    endpoint.grant_incident_response(role)
    template = Template.from_stack(stack)
    (policy,) = [
        p
        for p in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": _logical_id(stack, role)} in p["Properties"]["Roles"]
    ]
    return {"statements": policy["Properties"]["PolicyDocument"]["Statement"], "stack": stack}


def _logical_id(stack: Any, role: iam.Role) -> str:
    return str(stack.get_logical_id(role.node.default_child))


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


@pytest.fixture(scope="module")
def granted_actions(operator_policy: dict[str, Any]) -> set[str]:
    return {a for s in operator_policy["statements"] for a in _actions(s)}


def test_the_grant_allows_no_wildcard_and_names_each_resource(
    operator_policy: dict[str, Any],
) -> None:
    statements = operator_policy["statements"]
    assert all(s["Effect"] == "Allow" for s in statements)
    assert all("*" not in a for s in statements for a in _actions(s))
    assert all(s["Resource"] != "*" for s in statements)
    by_action: dict[str, Any] = {}
    for s in statements:
        for a in _actions(s):
            by_action.setdefault(a, []).append(s["Resource"])
    (stack_arn,) = by_action["cloudformation:DescribeStacks"]
    assert stack_arn == {"Ref": "AWS::StackId"}
    assert "wafv2:UpdateIPSet" in by_action
    assert "wafv2:GetIPSet" in by_action
    # the allowlist may be read, never updated
    updatable = str(by_action["wafv2:UpdateIPSet"])
    assert "AutoBlocked" in updatable
    assert "Allowed" not in updatable
    assert "Allowed" in str(by_action["wafv2:GetIPSet"])
    assert "Denied" not in str(by_action)
    assert "/apikeys/" in str(by_action["apigateway:PATCH"])
    assert "sagemaker:InvokeEndpoint" not in by_action

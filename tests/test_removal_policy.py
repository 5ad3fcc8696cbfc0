"""``removal_policy``: what the stateful resources of an endpoint do when they leave the stack.

Each variant has every stateful child (data capture, the monitor with auto-block, Shield's us-east-1
stack); the DESTROY one is also a row of test_compliance_matrix.py (nag and cfn-lint clean).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from aws_cdk import Environment, RemovalPolicy
from aws_cdk.assertions import Annotations, Match, Template
from configurations import once
from endpoint_builder import synth_endpoint

from secure_endpoint import ApiClient, DataCaptureOptions, ShieldOptions
from secure_endpoint.constructs import removal

pytestmark = pytest.mark.synth

# What CloudFormation gets for each policy: (DeletionPolicy, UpdateReplacePolicy).
RETAINED = ("Retain", "Retain")
DELETED = ("Delete", "Delete")
RETAINED_EXCEPT_ON_CREATE = ("RetainExceptOnCreate", "Retain")
# Every stateful resource of the variant, by stack: at least this many of each type.
STATEFUL_COUNTS = {
    "Removal": {
        "AWS::KMS::Key": 1,
        "AWS::S3::Bucket": 6,  # capture + its logs, monitor state + its logs, CloudFront logs x2
        "AWS::Logs::LogGroup": 8,
        "AWS::DynamoDB::Table": 1,
        "AWS::Cognito::UserPool": 1,
    },
    "Removal-eu-west-1-edge": {"AWS::KMS::Key": 1, "AWS::Logs::LogGroup": 1},
}


def synth(policy: RemovalPolicy | None) -> tuple[Any, ...]:
    props: dict[str, Any] = {
        "clients": [ApiClient("partner-a")],
        "data_capture": DataCaptureOptions(),
        "auto_block": True,
        "shield": ShieldOptions(),
    }
    if policy is not None:
        props["removal_policy"] = policy
    return synth_endpoint("Removal", Environment(region="eu-west-1"), **props)


def by_default() -> tuple[Any, ...]:
    return synth(None)


def with_destroy() -> tuple[Any, ...]:
    """DESTROY on everything (and a row of the compliance matrix)."""
    return synth(RemovalPolicy.DESTROY)


def with_retain_on_update_or_delete() -> tuple[Any, ...]:
    return synth(RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE)


def templates(built: tuple[Any, ...]) -> dict[str, dict[str, Any]]:
    _, stack, endpoint = built
    return {
        s.stack_name: Template.from_stack(s).to_json()["Resources"]
        for s in (stack, endpoint.shield.edge_stack)
    }


def policies(built: tuple[Any, ...]) -> dict[str, Counter[tuple[str, tuple[str, str]]]]:
    """Per stack: how many resources of each type have each (DeletionPolicy,
    UpdateReplacePolicy)."""
    return {
        name: Counter(
            (r["Type"], (r.get("DeletionPolicy", "-"), r.get("UpdateReplacePolicy", "-")))
            for r in resources.values()
            if r["Type"] in removal.STATEFUL or r["Type"] == "AWS::SecretsManager::Secret"
        )
        for name, resources in templates(built).items()
    }


def expected(stateful: tuple[str, str]) -> dict[str, Counter[tuple[str, tuple[str, str]]]]:
    """The counts of the variant when every stateful resource gets ``stateful``; secrets are
    deleted in every variant."""
    counts = {
        name: Counter({(kind, stateful): n for kind, n in kinds.items()})
        for name, kinds in STATEFUL_COUNTS.items()
    }
    counts["Removal"][("AWS::SecretsManager::Secret", DELETED)] = 2  # the client's, the origin's
    return counts


@pytest.mark.parametrize(
    ("build", "stateful"),
    [
        # today's policies, so the default changes no template: secrets deleted, the rest kept
        (by_default, RETAINED),
        (with_destroy, DELETED),
        (with_retain_on_update_or_delete, RETAINED_EXCEPT_ON_CREATE),
    ],
)
def test_every_stateful_resource_gets_the_policy(build, stateful):
    found = policies(once(build))
    for stack, kinds in STATEFUL_COUNTS.items():
        # how many log groups there are depends on the functions built; their policy does not
        logs = found[stack].pop(("AWS::Logs::LogGroup", stateful), 0)
        assert logs >= kinds["AWS::Logs::LogGroup"], (stack, found[stack])
        want = expected(stateful)[stack]
        del want[("AWS::Logs::LogGroup", stateful)]
        assert found[stack] == want, stack


def test_destroy_leaves_nothing_retained_and_no_deletion_protection():
    built = once(with_destroy)
    for stack, resources in templates(built).items():
        retained = sorted(
            f"{lid} {r['Type']}"
            for lid, r in resources.items()
            if "Retain" in (r.get("DeletionPolicy", ""), r.get("UpdateReplacePolicy", ""))
        )
        assert retained == [], stack
    resources = templates(built)["Removal"]
    (pool,) = [r for r in resources.values() if r["Type"] == "AWS::Cognito::UserPool"]
    assert pool["Properties"]["DeletionProtection"] == "INACTIVE"
    (table,) = [r for r in resources.values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert table["Properties"]["DeletionProtectionEnabled"] is False


def test_retaining_policies_keep_deletion_protection():
    for build in (by_default, with_retain_on_update_or_delete):
        resources = templates(once(build))["Removal"]
        (pool,) = [r for r in resources.values() if r["Type"] == "AWS::Cognito::UserPool"]
        assert pool["Properties"]["DeletionProtection"] == "ACTIVE"
        (table,) = [r for r in resources.values() if r["Type"] == "AWS::DynamoDB::Table"]
        assert table["Properties"]["DeletionProtectionEnabled"] is True


def test_destroy_warns_naming_what_will_be_deleted():
    _, stack, _ = once(with_destroy)
    (warning,) = Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp("removal_policy=RemovalPolicy.DESTROY")
    )
    message = warning.entry.data
    assert warning.id == "/Removal/Endpoint"
    for named in (
        "KMS keys: Removal/Endpoint/Encryption/Key/Resource",
        "Cognito user pools: Removal/Endpoint/Identity/UserPool/Resource",
        "DynamoDB tables: Removal/Endpoint/AutoBlockList/Table/Resource",
        "Removal-edge/RemovalEndpointShield9E6225F3WebAcl/Logs/Resource",  # in us-east-1
        "empty it first",
        "pending window",
    ):
        assert named in message, named


@pytest.mark.parametrize("build", [by_default, with_retain_on_update_or_delete])
def test_retaining_policies_do_not_warn(build):
    _, stack, _ = once(build)
    warnings = Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp("removal_policy")
    )
    assert warnings == []

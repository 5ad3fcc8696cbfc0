"""ArtifactVerification as ModelHosting creates it: the custom resource the model waits for, its
function and a role held to the one artifact object; nag and cfn-lint clean. Synthesized once."""

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template
from cfnlint.api import lint

from secure_endpoint import compliance, integrity
from secure_endpoint.hosting import ModelHosting
from secure_endpoint.images import ContainerImage
from secure_endpoint.integrity import ArtifactVerification
from secure_endpoint.keys import EncryptionKey
from secure_endpoint.network import IsolatedNetwork

CDK_CONTEXT = json.loads((Path(__file__).parent.parent / "cdk.json").read_text())["context"]
BUCKET = "model-artifacts-bucket"
OBJECT = "models/churn/model.tar.gz"
MODEL_URL = f"s3://{BUCKET}/{OBJECT}"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
OBJECT_ARN = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":s3:::{BUCKET}/{OBJECT}"]]}


def build(app, stack_id, **props):
    stack = Stack(app, stack_id)
    key = EncryptionKey(stack, "Key").key
    network = IsolatedNetwork(stack, "Network", key=key)
    hosting = ModelHosting(
        stack,
        "Hosting",
        model_data_url=MODEL_URL,
        model_sha256=SHA256,
        image=ContainerImage.from_framework("sklearn", "1.2-1", instance_type="ml.m5.large"),
        instance_type="ml.m5.large",
        instance_count=1,
        max_instance_count=2,
        vpc=network.vpc,
        vpc_subnets=network.isolated_subnets,
        key=key,
        **props,
    )
    return stack, hosting


@pytest.fixture(scope="module")
def app():
    app = App(context=CDK_CONTEXT)
    plain = build(app, "Plain")
    artifact_key_stack = Stack(app, "ArtifactKey")
    artifact_key = kms.Key(artifact_key_stack, "ArtifactKey", enable_key_rotation=True)
    with_key = build(
        app,
        "WithKey",
        model_data_key=artifact_key,
        s3_prefix_list=ec2.PrefixList.from_prefix_list_id(artifact_key_stack, "S3", "pl-63a5400a"),
    )
    return app, plain, with_key


@pytest.fixture(scope="module")
def plain(app):
    stack, hosting = app[1]
    return stack, hosting, Template.from_stack(stack)


@pytest.fixture(scope="module")
def with_key(app):
    stack, hosting = app[2]
    return stack, hosting, Template.from_stack(stack)


def logical_id(stack, construct):
    return stack.resolve(stack.get_logical_id(construct.node.default_child))


def verifier_statements(stack, hosting, template):
    role = hosting.artifact_verification.function.role
    policies = template.find_resources(
        "AWS::IAM::ManagedPolicy", {"Properties": {"Roles": [{"Ref": logical_id(stack, role)}]}}
    )
    ((_, policy),) = policies.items()
    return policy["Properties"]["PolicyDocument"]["Statement"]


def test_the_custom_resource_carries_the_url_and_the_digest(plain):
    stack, hosting, template = plain
    function_id = logical_id(stack, hosting.artifact_verification.function)
    template.has_resource_properties(
        integrity.RESOURCE_TYPE,
        {
            "ServiceToken": {"Fn::GetAtt": [function_id, "Arn"]},
            "ModelDataUrl": MODEL_URL,
            "Sha256": SHA256,
            "ServiceTimeout": "960",
        },
    )


def test_the_model_depends_on_the_check(plain):
    stack, hosting, template = plain
    (model,) = template.find_resources("AWS::SageMaker::Model").values()
    assert logical_id(stack, hosting.artifact_verification.resource) in model["DependsOn"]


def test_the_function_is_pinned_hardened_and_in_the_isolated_subnets(plain):
    stack, hosting, template = plain
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "artifact_verifier.handler.handler",
            "Runtime": "python3.14",
            "MemorySize": integrity.MEMORY_MB,
            "Timeout": 900,
            "ReservedConcurrentExecutions": 1,
            "TracingConfig": {"Mode": "Active"},
            "DeadLetterConfig": {"TargetArn": Match.any_value()},
            "VpcConfig": {
                "SecurityGroupIds": [
                    {"Fn::GetAtt": [logical_id(stack, hosting.security_group), "GroupId"]}
                ],
                "SubnetIds": Match.any_value(),
            },
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": logical_id(stack, hosting.artifact_verification.function)},
            "MaximumRetryAttempts": 0,
        },
    )


def test_the_role_may_read_exactly_the_artifact_object(plain):
    statements = verifier_statements(*plain)
    s3 = [s for s in statements if any(a.startswith("s3:") for a in s["Action"])]
    (statement,) = s3
    assert sorted(statement["Action"]) == [
        "s3:GetObject",
        "s3:GetObjectAttributes",
        "s3:GetObjectVersion",
        "s3:GetObjectVersionAttributes",
    ]
    assert statement["Resource"] == OBJECT_ARN
    assert "Condition" not in statement


def test_without_an_artifact_key_the_role_has_no_decrypt_beyond_its_queue(plain):
    stack, hosting, template = plain
    statements = verifier_statements(stack, hosting, template)
    decrypting = [s for s in statements if "kms:Decrypt" in s["Action"]]
    (only,) = decrypting  # the dead-letter queue's key, for failed sends
    assert sorted(only["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_with_an_artifact_key_the_role_may_decrypt_with_it(with_key):
    stack, hosting, template = with_key
    statements = verifier_statements(stack, hosting, template)
    assert any(
        s["Action"] == "kms:Decrypt" and "ArtifactKey" in json.dumps(s["Resource"])
        for s in statements
    )


def test_with_a_prefix_list_the_check_waits_for_the_s3_egress_rule(with_key):
    stack, hosting, template = with_key
    (check,) = template.find_resources(integrity.RESOURCE_TYPE).values()
    egress = hosting.node.find_child("S3Egress")
    assert stack.resolve(stack.get_logical_id(egress)) in check["DependsOn"]


def test_the_largest_streamed_artifact_is_stated():
    assert 50 * 10**9 < integrity.MAX_STREAMED_BYTES < 100 * 10**9


def test_rejects_a_digest_that_is_not_sha256():
    stack = Stack(App(context=CDK_CONTEXT), "Bad")
    key = EncryptionKey(stack, "Key").key
    network = IsolatedNetwork(stack, "Network", key=key)
    sg = ec2.SecurityGroup(stack, "Sg", vpc=network.vpc)
    with pytest.raises(ValueError, match="model_sha256 must be a SHA-256 digest"):
        ArtifactVerification(
            stack,
            "Check",
            model_data_url=MODEL_URL,
            model_sha256="abc",
            key=key,
            vpc=network.vpc,
            vpc_subnets=network.isolated_subnets,
            security_group=sg,
        )


def test_no_nag_finding_is_left(app):
    assert compliance.findings(app[0]) == []


@pytest.mark.parametrize("variant", ["plain", "with_key"])
def test_cfn_lint_finds_nothing(request, variant):
    _, _, template = request.getfixturevalue(variant)
    assert lint(json.dumps(template.to_json()), regions=["us-east-1", "eu-west-1"]) == []

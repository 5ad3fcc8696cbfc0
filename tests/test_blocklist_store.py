"""The auto-block table: its properties, its grants, its acknowledgements, synthesized once.
Nag and cfn-lint: test_compliance_matrix.py."""

import json

import pytest
from aws_cdk import App, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template
from configurations import once

from secure_endpoint.constructs._iam import ManagedPolicyRole
from secure_endpoint.constructs.blocklist_store import (
    PARTITION_KEY,
    READ_ACTIONS,
    TTL_ATTRIBUTE,
    WRITE_ACTIONS,
    BlockListTable,
)
from secure_endpoint.constructs.keys import EncryptionKey

pytestmark = pytest.mark.synth


def lambda_role(stack, construct_id):
    return ManagedPolicyRole(
        stack, construct_id, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com")
    )


def configuration():
    """The configuration of this module (and a row of the compliance matrix)."""
    app = App()
    stack = Stack(app, "AutoBlock")
    key = EncryptionKey(stack, "Key").key
    table = BlockListTable(stack, "BlockList", key=key)
    monitor = lambda_role(stack, "Monitor")
    reader = lambda_role(stack, "Reader")
    table.grant_read_write(monitor)
    table.grant_read(reader)
    return {
        "app": app,
        "stack": stack,
        "key": key,
        "table": table,
        "monitor": monitor,
        "reader": reader,
        "template": Template.from_stack(stack),
    }


@pytest.fixture(scope="module")
def built():
    return once(configuration)


@pytest.fixture(scope="module")
def template(built):
    return built["template"]


def logical_id(built, construct):
    return built["stack"].get_logical_id(construct.node.default_child)


def statements_of(template, built, role):
    """The statements of the managed policy that holds ``role``'s grants."""
    policy_id = built["stack"].get_logical_id(role.grants_policy.node.default_child)
    policy = template.to_json()["Resources"][policy_id]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def test_the_table_is_keyed_by_address_on_demand_and_expires_records_by_purge_at(built, template):
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "address", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
        },
    )
    assert TTL_ATTRIBUTE == "purgeAt"


def test_the_table_is_encrypted_with_the_customer_key(built, template):
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "SSESpecification": {
                "SSEEnabled": True,
                "SSEType": "KMS",
                "KMSMasterKeyId": {"Fn::GetAtt": [logical_id(built, built["key"]), "Arn"]},
            }
        },
    )


def test_the_table_is_recoverable_protected_from_deletion_and_retained(template):
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": Match.object_like(
                {
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "DeletionProtectionEnabled": True,
                }
            ),
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_the_table_has_no_physical_name(template):
    (table,) = template.find_resources("AWS::DynamoDB::Table").values()
    assert "TableName" not in table["Properties"]


def test_a_removal_policy_may_be_given_and_deletion_protection_stays():
    stack = Stack(App(), "Destroyable")
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    BlockListTable(stack, "BlockList", key=key, removal_policy=RemovalPolicy.DESTROY)
    template = Template.from_stack(stack)
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": Match.object_like({"DeletionProtectionEnabled": True}),
            "DeletionPolicy": "Delete",
        },
    )


def test_read_write_grants_exactly_the_block_list_calls_on_this_table(built, template):
    table_arn = {"Fn::GetAtt": [logical_id(built, built["table"].table), "Arn"]}
    key_arn = {"Fn::GetAtt": [logical_id(built, built["key"]), "Arn"]}
    statements = statements_of(template, built, built["monitor"])
    assert {
        "Action": sorted([*READ_ACTIONS, *WRITE_ACTIONS]),
        "Resource": table_arn,
    } in [{"Action": sorted(s["Action"]), "Resource": s["Resource"]} for s in statements]
    assert {
        "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"],
        "Resource": key_arn,
    } in [{"Action": sorted(s["Action"]), "Resource": s["Resource"]} for s in statements]
    assert sorted(WRITE_ACTIONS) == [
        "dynamodb:DeleteItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ]


def test_read_grants_no_write_and_only_decryption(built, template):
    statements = statements_of(template, built, built["reader"])
    actions = {action for s in statements for action in s["Action"]}
    assert actions == {*READ_ACTIONS, "kms:Decrypt", "kms:DescribeKey"}


def test_no_grant_uses_a_wildcard(built, template):
    for role in (built["monitor"], built["reader"]):
        for statement in statements_of(template, built, role):
            assert not any("*" in action for action in statement["Action"])
            assert "*" not in json.dumps(statement["Resource"])


def test_only_the_backup_plan_rules_are_acknowledged_and_only_on_the_table(built):
    acknowledged = {
        (construct.node.path, rule)
        for construct in built["table"].node.find_all()
        for entry in construct.node.metadata
        if entry.type == "aws:cdk:acknowledged-rules"
        for rule in entry.data
    }
    assert acknowledged == {
        ("AutoBlock/BlockList/Table", "Annotation::HIPAA.Security-DynamoDBInBackupPlan"),
        ("AutoBlock/BlockList/Table", "Annotation::NIST.800.53.R5-DynamoDBInBackupPlan"),
    }

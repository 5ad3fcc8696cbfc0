"""The DynamoDB table behind the auto-block list: one record per blocked address and its expiry.

The records and how they are written are ``secure_endpoint.runtime.blocklist``'s; this is only
where they live.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from secure_endpoint import compliance

PARTITION_KEY = "address"
"""The partition key: an address in normalized CIDR notation (``203.0.113.7/32``)."""

TTL_ATTRIBUTE = "purgeAt"
"""The TTL attribute: a week after a record's ``expiresAt``, so DynamoDB deletes only records the
auto-block list has long released (see ``secure_endpoint.runtime.blocklist.PURGE_GRACE``)."""

READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:Scan", "dynamodb:DescribeTable")
WRITE_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")


class BlockListTable(Construct):
    """The table of auto-block records: on demand, encrypted with the customer key, recoverable
    to any second of the last 35 days, protected from deletion and kept when the stack goes.

    Grants name exactly the calls the auto-block list makes, on this table only (it has no
    index), and the key actions DynamoDB needs to serve them.

    :param key: the customer-managed KMS key the table is encrypted with.
    :param removal_policy: what happens to the table when it leaves the stack; deletion
        protection stays on either way. Default: - RETAIN
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(
                name=PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            deletion_protection=True,
            removal_policy=removal_policy,
        )
        compliance.acknowledge(
            self.table,
            "Every auto-block record lives at most 30 days plus a week before it is purged, and "
            "point-in-time recovery restores the table to any second of the last 35 days, which "
            "covers each record's whole life; a daily AWS Backup copy would only restore an "
            "older state of the same records.",
            "HIPAA.Security-DynamoDBInBackupPlan",
            "NIST.800.53.R5-DynamoDBInBackupPlan",
        )

    @property
    def table_name(self) -> str:
        return self.table.table_name

    @property
    def table_arn(self) -> str:
        return self.table.table_arn

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` list the records (``secure-endpoint blocked``)."""
        self.key.grant(grantee, "kms:Decrypt", "kms:DescribeKey")
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=list(READ_ACTIONS), resource_arns=[self.table_arn]
        )

    def grant_read_write(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` block, unblock and expire addresses (the monitor, operators)."""
        self.key.grant(
            grantee, "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"
        )
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[*READ_ACTIONS, *WRITE_ACTIONS],
            resource_arns=[self.table_arn],
        )

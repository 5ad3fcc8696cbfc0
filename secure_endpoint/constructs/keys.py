"""The one customer-managed KMS key behind every log, volume, secret and captured payload."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


class EncryptionKey(Construct):
    """A symmetric KMS key with rotation on, usable by CloudWatch Logs of this account and region.

    CloudWatch Logs may use the key only under an encryption context naming a log group of this
    account and region, so no other account's log groups can borrow it.

    :param rotation_period: how often KMS rotates the key material. Default: - 365 days
    :param removal_policy: what happens to the key when the stack is deleted. Default: - RETAIN
    :param for_other_stacks: also write the statements a ``SecureEndpoint`` in another stack
        needs (``allow_secure_endpoints_to_use``): for a key in a shared stack. Default: - false
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        rotation_period: Duration | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        for_other_stacks: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="secure-endpoint: logs, endpoint volumes, secrets and captured data",
            enable_key_rotation=True,
            rotation_period=rotation_period,
            removal_policy=removal_policy,
            pending_window=Duration.days(30),
        )
        allow_logs_to_use(self.key)
        if for_other_stacks:
            allow_secure_endpoints_to_use(self.key)


def allow_logs_to_use(key: kms.IKey) -> None:
    """Let CloudWatch Logs of this account and region encrypt log groups with ``key``.

    A brought key is left alone when it cannot take a policy statement (imported keys); its owner
    must then allow the same.
    """
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchLogsOfThisAccountAndRegion",
            principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
            actions=[
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncryptFrom",
                "kms:ReEncryptTo",
                "kms:GenerateDataKey",
                "kms:GenerateDataKeyWithoutPlaintext",
                "kms:DescribeKey",
            ],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": (
                        f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"
                    )
                }
            },
        ),
        allow_no_op=True,
    )


def allow_secure_endpoints_to_use(key: kms.Key) -> None:
    """Write into ``key``'s policy what the services need when a ``SecureEndpoint`` of another
    stack uses it: such an endpoint grants its own roles in their identity policies, but cannot
    write this key's policy (docs/bring-your-own.md lists the same statements). Each statement
    is held to this account (and region)."""
    from secure_endpoint.constructs import _building as build
    from secure_endpoint.constructs.alarms import allow_alarms_to_use

    allow_logs_to_use(key)
    allow_alarms_to_use(key)
    build.allow_rule_dead_letters(key)
    build.allow_topic_dead_letters(key)
    build.allow_service_to_use_key(
        key,
        sid="AllowCloudFrontLogDeliveryToEncrypt",
        service="delivery.logs.amazonaws.com",
        actions=["kms:GenerateDataKey*"],
    )


def in_stack_of(key: kms.IKey, scope: Construct) -> bool:
    """Whether ``key`` is a key defined in ``scope``'s stack, whose policy this stack writes."""
    return isinstance(key, kms.Key) and Stack.of(key) is Stack.of(scope)


def referenced(scope: Construct, construct_id: str, key: kms.IKey) -> kms.IKey:
    """``key`` as this stack should use it.

    A key of this stack is used as it is: grants and the services' statements go into its key
    policy. A key of another stack, or an imported one, is referred to by its ARN only: every
    grant then goes into the grantee's identity policy, and no statement is added to the key's
    policy, which belongs to its owner (written in another stack, a grant there would make that
    stack depend on this one, and this one on it: a dependency cycle). The owner allows the
    services (docs/bring-your-own.md).
    """
    if in_stack_of(key, scope):
        return key
    return kms.Key.from_key_arn(scope, construct_id, key.key_arn)


def grant_via_service(
    key: kms.IKey, grantee: iam.IGrantable, service: str, *actions: str
) -> iam.Grant:
    """Let ``grantee`` use ``actions`` of ``key`` only through ``service``
    (``secretsmanager``), in an identity policy.

    CDK grants a secret's readers the key through ``kms.ViaServicePrincipal``, which only a key
    policy can hold: a key referred to by ARN (``referenced``) would silently give nothing. This
    is the same permission on the grantee's side, held to the service by ``kms:ViaService``.
    """
    return iam.Grant.add_to_principal(
        grantee=grantee,
        actions=list(actions),
        resource_arns=[key.key_arn],
        conditions={"StringEquals": {"kms:ViaService": f"{service}.{Aws.REGION}.amazonaws.com"}},
    )

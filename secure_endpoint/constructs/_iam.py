"""Roles whose grants land in a customer-managed policy instead of an inline one.

HIPAA, NIST 800-53 and PCI DSS (rule ``IAMNoInlinePolicy``) ask for managed policies: they are
versioned, reusable and auditable on their own. CDK grants write to a role's inline default
policy; ``ManagedPolicyRole`` sends the same statements to one managed policy per role, so every
``grant_*`` keeps working unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct


class ManagedPolicyRole(iam.Role):
    """An ``iam.Role`` whose principal-policy statements go to an attached managed policy."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self._grants: iam.ManagedPolicy | None = None

    @property
    def grants_policy(self) -> iam.ManagedPolicy | None:
        """The managed policy holding this role's grants (None until the first grant)."""
        return self._grants

    def add_to_principal_policy(
        self, statement: iam.PolicyStatement
    ) -> iam.AddToPrincipalPolicyResult:
        if self._grants is None:
            self._grants = iam.ManagedPolicy(self, "Grants", roles=[self])
        self._grants.add_statements(statement)
        return iam.AddToPrincipalPolicyResult(statement_added=True, policy_dependable=self._grants)


SECRETS_MANAGER = "secretsmanager.amazonaws.com"


def scope_rotation_invocations(
    function: lambda_.Function,
    rotations: Sequence[tuple[secretsmanager.ISecret, secretsmanager.RotationSchedule]],
) -> None:
    """Let Secrets Manager invoke a rotation function only for these secrets, in this account.

    ``add_rotation_schedule`` grants ``secretsmanager.amazonaws.com`` an unconditioned
    ``lambda:InvokeFunction`` (one per function, however many secrets it rotates): any account's
    secret could then name the function (the confused-deputy problem). The Secrets Manager guide
    on rotation-function permissions recommends ``aws:SourceAccount`` and ``aws:SourceArn``; so
    CDK's permission gets the account and the first secret's ARN, and each further secret gets its
    own permission, which its schedule waits for.
    """
    if not rotations:
        return
    account = Stack.of(function).account
    granted = [
        child
        for child in function.node.children
        if isinstance(child, lambda_.CfnPermission) and child.principal == SECRETS_MANAGER
    ]
    if len(granted) != 1:
        raise AssertionError(f"expected CDK's one rotation permission, found {len(granted)}")
    (first, _), *others = rotations
    granted[0].source_account = account
    granted[0].source_arn = first.secret_arn
    for index, (secret, schedule) in enumerate(others, start=2):
        permission = lambda_.CfnPermission(
            function,
            f"RotationInvoke{index}",
            action="lambda:InvokeFunction",
            function_name=function.function_arn,
            principal=SECRETS_MANAGER,
            source_account=account,
            source_arn=secret.secret_arn,
        )
        schedule.node.add_dependency(permission)

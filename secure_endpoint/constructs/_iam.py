"""Roles whose grants land in a customer-managed policy instead of an inline one.

HIPAA, NIST 800-53 and PCI DSS (rule ``IAMNoInlinePolicy``) ask for managed policies: they are
versioned, reusable and auditable on their own. CDK grants write to a role's inline default
policy; ``ManagedPolicyRole`` sends the same statements to one managed policy per role, so every
``grant_*`` keeps working unchanged.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_iam as iam
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

"""The cdk-nag packs secure-endpoint is held to, and the one way to acknowledge a finding.

Acknowledgements are per resource, with a reason specific to that resource; ``acknowledge``
refuses vague reasons so that a suppression never hides what it is about.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import Acknowledgment, Stack, Token, Validations
from cdk_nag import (
    AwsSolutionsChecks,
    HIPAASecurityChecks,
    NagPack,
    NIST80053R5Checks,
    PCIDSS321Checks,
    ServerlessChecks,
)
from constructs import IConstruct

PACKS: dict[str, Callable[[], NagPack]] = {
    "AwsSolutions": lambda: AwsSolutionsChecks(verbose=True),
    "HIPAA.Security": lambda: HIPAASecurityChecks(verbose=True),
    "NIST.800.53.R5": lambda: NIST80053R5Checks(verbose=True),
    "PCI.DSS.321": lambda: PCIDSS321Checks(verbose=True),
    "Serverless": lambda: ServerlessChecks(verbose=True),
}

_MIN_REASON = 40


def add_packs(scope: IConstruct) -> None:
    """Register every pack as a validation plugin, so that ``cdk synth`` reports their findings."""
    Validations.of(scope).add_plugins(*(make() for make in PACKS.values()))


def acknowledge(resource: IConstruct, reason: str, *rule_ids: str) -> None:
    """Acknowledge ``rule_ids`` on ``resource`` (and its children) with a specific reason."""
    if len(reason) < _MIN_REASON:
        raise ValueError(
            f"an acknowledgement needs a reason of at least {_MIN_REASON} characters that says "
            f"why the rule does not apply to this resource, got {reason!r}"
        )
    rendered = _renderer(resource) if any("<AWS::" in r for r in rule_ids) else None
    Validations.of(resource).acknowledge(
        *(Acknowledgment(id=rendered(r) if rendered else r, reason=reason) for r in rule_ids)
    )


def _renderer(resource: IConstruct) -> Callable[[str], str]:
    """Finding ids as cdk-nag renders them: a stack with a concrete region or account shows the
    value where an environment-agnostic one shows ``<AWS::Region>`` or ``<AWS::AccountId>``.
    The stack is asked once (each question is a round trip to the CDK's node process)."""
    stack = Stack.of(resource)
    concrete = [
        (placeholder, value)
        for placeholder, value in (
            ("<AWS::Region>", stack.region),
            ("<AWS::AccountId>", stack.account),
        )
        if not Token.is_unresolved(value)
    ]

    def render(rule_id: str) -> str:
        for placeholder, value in concrete:
            rule_id = rule_id.replace(placeholder, value)
        return rule_id

    return render


def findings(scope: IConstruct) -> list[str]:
    """Every unacknowledged finding of every pack under ``scope``, as 'rule path' lines.

    The same packs ``cdk synth`` runs; tests assert this list is empty.
    """
    lines = []
    for make in PACKS.values():
        report = make().validate_scope(scope)
        for violation in report.violations:
            for resource in violation.violating_resources:
                lines.append(f"{violation.rule_name} {resource.construct_path}")
    return sorted(lines)

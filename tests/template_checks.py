"""Checks that tests run on synthesized templates (nag and cfn-lint: test_compliance_matrix.py)."""

from __future__ import annotations


def assert_rotation_invocations_are_scoped(template):
    """Every Secrets Manager invoke permission names this account and one rotated secret, and
    every rotated secret has one (fails on an unconditioned ``add_rotation_schedule`` grant)."""
    resources = template.to_json()["Resources"]
    permissions = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Permission"
        and r["Properties"]["Principal"] == "secretsmanager.amazonaws.com"
    ]
    rotated = sorted(
        r["Properties"]["SecretId"]["Ref"]
        for r in resources.values()
        if r["Type"] == "AWS::SecretsManager::RotationSchedule"
    )
    assert rotated, "no rotation schedule in the template"
    for permission in permissions:
        assert permission.get("SourceAccount") == {"Ref": "AWS::AccountId"}, permission
    assert sorted(p["SourceArn"]["Ref"] for p in permissions) == rotated

"""What happens to the stateful resources an endpoint creates when they leave their stack.

Every key, bucket, log group, table and user pool is retained by default: deleting the stack (or
removing the endpoint) leaves the data, its key and the audit logs behind. ``SecureEndpoint(
removal_policy=RemovalPolicy.DESTROY)`` opts out, for test and demo stacks: ``apply`` sets the
policy on each of them, turns off the deletion protection that would make their deletion fail,
and the endpoint warns at synth naming what will be deleted. Secrets are always deleted (after
Secrets Manager's recovery window): they hold credentials of app clients that go with the stack.

Buckets get no ``auto_delete_objects`` (it adds a custom-resource Lambda, with its own role and
runtime to keep under the nag packs): a bucket that still holds objects fails the stack's
deletion until it is emptied, which the warning says.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CfnResource, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from constructs import IConstruct

STATEFUL: dict[str, str] = {
    "AWS::KMS::Key": "KMS keys",
    "AWS::S3::Bucket": "S3 buckets",
    "AWS::Logs::LogGroup": "log groups",
    "AWS::DynamoDB::Table": "DynamoDB tables",
    "AWS::Cognito::UserPool": "Cognito user pools",
}
"""The resource types ``removal_policy`` governs, and how the warning names them."""

ALLOWED = (
    RemovalPolicy.RETAIN,
    RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    RemovalPolicy.DESTROY,
)


def check(prop: str, value: object) -> None:
    """A ``RemovalPolicy`` the stateful resources all accept (none of KMS, S3, CloudWatch Logs
    and Cognito takes ``SNAPSHOT``)."""
    if value in ALLOWED:
        return
    allowed = ", ".join(f"RemovalPolicy.{p.name}" for p in ALLOWED)
    why = (
        " (KMS keys, S3 buckets, log groups and user pools cannot be snapshotted)"
        if value is RemovalPolicy.SNAPSHOT
        else ""
    )
    raise ValueError(f"{prop} must be one of {allowed}, got {value!r}{why}")


def apply(scopes: Sequence[IConstruct], policy: RemovalPolicy) -> dict[str, list[str]]:
    """Set ``policy`` on every stateful resource under ``scopes`` (deletion and replacement),
    with deletion protection off when it is ``DESTROY``; the paths changed, by kind."""
    changed: dict[str, list[str]] = {}
    for scope in scopes:
        for construct in scope.node.find_all():
            if not isinstance(construct, CfnResource):
                continue
            kind = STATEFUL.get(construct.cfn_resource_type)
            if kind is None:
                continue
            construct.apply_removal_policy(policy)
            if policy is RemovalPolicy.DESTROY:
                _unprotect(construct)
            changed.setdefault(kind, []).append(construct.node.path)
    return changed


def _unprotect(resource: CfnResource) -> None:
    """Turn off the deletion protection CloudFormation would otherwise fail the deletion on."""
    if isinstance(resource, cognito.CfnUserPool):
        resource.deletion_protection = "INACTIVE"
    elif isinstance(resource, dynamodb.CfnTable):
        resource.deletion_protection_enabled = False


def destroy_warning(changed: dict[str, list[str]]) -> str:
    """The synth warning of ``removal_policy=RemovalPolicy.DESTROY``, naming what goes."""
    listed = "; ".join(f"{kind}: {', '.join(paths)}" for kind, paths in sorted(changed.items()))
    return (
        "removal_policy=RemovalPolicy.DESTROY: deleting the stack, removing this endpoint or "
        "replacing one of these resources deletes it with all it holds (captured requests, "
        "monitor state, access and audit logs, the block list, the user pool's clients); a KMS "
        "key is scheduled for deletion after its pending window, and what it encrypted becomes "
        "unreadable. An S3 bucket that still holds objects fails the deletion: empty it first "
        f"(auto_delete_objects is not used). Deletion protection is off. {listed}"
    )

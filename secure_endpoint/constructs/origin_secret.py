"""The origin secret CloudFront sends to the API, and the Lambda that rotates it.

The regional web ACL answers only requests whose ``x-origin-verify`` header holds the secret
(``waf_rules.ORIGIN_SECRET_RULE``); the distribution sends it. ``OriginSecretRotation`` changes
it in both without downtime.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from secure_endpoint import compliance
from secure_endpoint.constructs import _building as build
from secure_endpoint.constructs import _validation as check
from secure_endpoint.constructs._iam import scope_rotation_invocations
from secure_endpoint.constructs.bundling import lambda_code
from secure_endpoint.constructs.waf_rules import ORIGIN_SECRET_RULE, ORIGIN_VERIFY_HEADER

#: Length of the origin secret: letters and digits.
ORIGIN_SECRET_LENGTH = 64
ROTATION_PACKAGE = "origin_secret_rotation"


def create_origin_secret(
    scope: Construct, construct_id: str, *, key: kms.IKey
) -> secretsmanager.Secret:
    """The origin secret: a plain string of 64 letters and digits, encrypted with ``key``.

    Give it to ``WebAclProtection(origin_secret=...)`` and to ``ShieldAdvancedEdge``, which
    rotates it. Nothing but CloudFront and the rotation function ever needs its value.
    """
    return secretsmanager.Secret(
        scope,
        construct_id,
        description=(
            f"secure-endpoint: the {ORIGIN_VERIFY_HEADER} header CloudFront sends to the API"
        ),
        encryption_key=key,
        generate_secret_string=secretsmanager.SecretStringGenerator(
            password_length=ORIGIN_SECRET_LENGTH,
            exclude_punctuation=True,
            include_space=False,
            require_each_included_type=True,
        ),
        removal_policy=RemovalPolicy.DESTROY,
    )


class OriginSecretRotation(Construct):
    """The Lambda that rotates the origin secret without downtime, and its schedule.

    Each rotation (see ``lambdas/origin_secret_rotation``) makes the regional web ACL's origin
    secret rule accept the new value beside the one CloudFront sends, then switches the
    distribution's origin header to it; the previous value stays accepted until the next
    rotation. Both writes happen outside CloudFormation, so the web ACL and the distribution
    drift from their template by design. A deploy that updates either resolves the template's
    dynamic reference to AWSCURRENT and resets it to that value (the web ACL then accepts
    AWSCURRENT twice): consistent once a rotation has finished and CloudFront has deployed it;
    a deploy within those minutes may refuse, for a few minutes, edges still sending the other
    value.

    The function runs outside any VPC: CloudFront's API has no VPC endpoint. It may read and
    write that one web ACL and that one distribution, and read and stage versions of that one
    secret; it has a dead-letter queue, active tracing (a reserved concurrency of 1 with
    ``reserved_concurrency``) and logs and environment encrypted with ``key``.

    :param secret: the origin secret.
    :param regional_web_acl: the REGIONAL web ACL holding ``ORIGIN_SECRET_RULE``.
    :param distribution: the distribution sending ``ORIGIN_VERIFY_HEADER``.
    :param key: the KMS key of the secret's Region for logs, environment and queue.
    :param bundling_cache_dir: where bundled Lambda dependencies are cached.
    :param edge_web_acl_arn: the distribution's CLOUDFRONT web ACL, which the role may read:
        every UpdateDistribution carries the WebACLId of the configuration it sends back.
        Default: - no such permission
    :param rotation_interval: 1 to 365 days. Default: - 30 days
    :param log_retention: Default: - one year
    :param reserved_concurrency: reserve 1 concurrent execution for the rotation. Lambda keeps at
        least 100 of the account's concurrency unreserved, so reservations need an account quota of
        at least 100 plus all of them (new accounts may start at 10: raise it in Service Quotas
        first). Default: - false; Secrets Manager still runs one rotation of a secret at a time
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        secret: secretsmanager.ISecret,
        regional_web_acl: wafv2.CfnWebACL,
        distribution: cloudfront.Distribution,
        key: kms.IKey,
        bundling_cache_dir: Path,
        reserved_concurrency: bool = False,
        edge_web_acl_arn: str | None = None,
        rotation_interval: Duration | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
    ) -> None:
        super().__init__(scope, construct_id)
        interval = rotation_interval or Duration.days(30)
        if not isinstance(interval, Duration):
            raise ValueError(
                f"rotation_interval must be a Duration, like Duration.days(30), got {interval!r}"
            )
        check.int_range("rotation_interval (days)", int(interval.to_days()), 1, 365)
        log_group = logs.LogGroup(self, "Logs", encryption_key=key, retention=log_retention)
        self.role = build.lambda_role(
            self, "Role", description="Rotates the secure-endpoint CloudFront origin secret"
        )
        log_group.grant_write(self.role)
        build.allow_dead_letter_sends(key, self.role)
        self.dead_letter_queue = build.dead_letter_queue(
            self, "DeadLetters", key=key, owner="the rotation Lambda", failures="events"
        )
        self.function = build.hardened_function(
            self,
            "Function",
            package=ROTATION_PACKAGE,
            code=lambda_code(ROTATION_PACKAGE, bundling_cache_dir, include_runtime=True),
            description="Rotates the CloudFront origin secret in the web ACL and distribution",
            role=self.role,
            key=key,
            log_group=log_group,
            dead_letter_queue=self.dead_letter_queue,
            reserved_concurrent_executions=1 if reserved_concurrency else None,
            memory_size=256,
            timeout=Duration.seconds(60),
            environment={
                "WEB_ACL_ARN": regional_web_acl.attr_arn,
                "ORIGIN_SECRET_RULE": ORIGIN_SECRET_RULE,
                "ORIGIN_VERIFY_HEADER": ORIGIN_VERIFY_HEADER,
                "DISTRIBUTION_ID": distribution.distribution_id,
                "POWERTOOLS_SERVICE_NAME": "secure-endpoint-origin-secret-rotation",
            },
        )
        self._grant(regional_web_acl, distribution, edge_web_acl_arn)
        self.schedule = secret.add_rotation_schedule(
            "Rotation",
            rotation_lambda=self.function,
            automatically_after=interval,
            rotate_immediately_on_update=False,
        )
        scope_rotation_invocations(self.function, [(secret, self.schedule)])
        self._acknowledge()
        build.depend_on_grants(self.function, self.role)

    def _grant(
        self,
        regional_web_acl: wafv2.CfnWebACL,
        distribution: cloudfront.Distribution,
        edge_web_acl_arn: str | None,
    ) -> None:
        stack = Stack.of(self)
        iam.Grant.add_to_principal(
            grantee=self.role,
            actions=["wafv2:GetWebACL", "wafv2:UpdateWebACL"],
            resource_arns=[regional_web_acl.attr_arn],
        )
        # UpdateWebACL is also authorized against every IP set and managed rule group the web
        # ACL references; that permits referencing them in this web ACL, not changing them.
        iam.Grant.add_to_principal(
            grantee=self.role,
            actions=["wafv2:UpdateWebACL"],
            resource_arns=[
                stack.format_arn(service="wafv2", resource=f"regional/{kind}", resource_name="*")
                for kind in ("ipset", "managedruleset")
            ],
        )
        iam.Grant.add_to_principal(
            grantee=self.role,
            actions=["cloudfront:GetDistribution", "cloudfront:UpdateDistribution"],
            resource_arns=[distribution.distribution_arn],
        )
        if edge_web_acl_arn is not None:
            iam.Grant.add_to_principal(
                grantee=self.role, actions=["wafv2:GetWebACL"], resource_arns=[edge_web_acl_arn]
            )

    def _acknowledge(self) -> None:
        compliance.acknowledge(
            self.role,
            "Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, and new "
            "values come from secretsmanager:GetRandomPassword (granted by CDK's rotation "
            "schedule); none of them supports resource-level permissions.",
            "AwsSolutions-IAM5[Resource::*]",
        )
        compliance.acknowledge(
            self.role,
            "wafv2:UpdateWebACL is authorized against each IP set and managed rule group the "
            "web ACL references, whose names and ids other constructs choose; this grants "
            "referencing them from the one web ACL the role may update, never changing them.",
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:wafv2:<AWS::Region>:"
            "<AWS::AccountId>:regional/ipset/*]",
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:wafv2:<AWS::Region>:"
            "<AWS::AccountId>:regional/managedruleset/*]",
        )
        compliance.acknowledge(
            self.function,
            "The function calls CloudFront's API, which no VPC endpoint serves, so a VPC would "
            "need a NAT gateway to the internet; outside a VPC it has no inbound path at all.",
            "HIPAA.Security-LambdaInsideVPC",
            "NIST.800.53.R5-LambdaInsideVPC",
            "PCI.DSS.321-LambdaInsideVPC",
        )

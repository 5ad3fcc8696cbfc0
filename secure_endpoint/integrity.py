"""Verify before create: the model artifact's SHA-256 is checked before the model exists.

A CloudFormation custom resource backed by a small hardened Lambda (``lambdas/artifact_verifier``)
reads the one artifact object and compares its SHA-256 with the digest the stack expects; the
SageMaker model depends on it, so an artifact that differs fails the deployment before it can
become a model.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CustomResource, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from secure_endpoint import _building as build
from secure_endpoint import _validation as check
from secure_endpoint import compliance
from secure_endpoint.bundling import lambda_code

VERIFIER_PACKAGE = "artifact_verifier"
RESOURCE_TYPE = "Custom::ModelArtifactVerification"

MEMORY_MB = 2048
"""More than 1,769 MB, where Lambda gives a whole vCPU: hashing is CPU-bound, and network
bandwidth grows with memory too. One 8 MiB chunk is held at a time, whatever the artifact's size."""
TIMEOUT = Duration.minutes(15)
"""Lambda's maximum; the function stops reading 20 seconds before it to report to CloudFormation."""
STREAM_MB_PER_SECOND = 80
"""A conservative single-stream S3 GetObject rate from inside a Region. Hashing is far faster
(``benchmarks/artifact_sha256.py``, 200 MB: 1,780 MB/s in memory, 530-650 MB/s through botocore
from moto, on a 2-vCPU x86 host with SHA extensions), so the network bounds the check."""
MAX_STREAMED_BYTES = STREAM_MB_PER_SECOND * 10**6 * (TIMEOUT.to_seconds() - 20)
"""About 70 GB: artifacts larger than this (without a full-object SHA-256 stored by S3) cannot be
verified within the timeout, and fail the deployment with a message saying so."""


class ArtifactVerification(Construct):
    """A custom resource that fails the deployment unless the object at ``model_data_url`` has
    the SHA-256 ``model_sha256``.

    S3's stored ``ChecksumSHA256`` is used when it is a full-object checksum (a single-part upload
    with ``--checksum-algorithm SHA256``): nothing is downloaded. Otherwise (a multipart upload,
    whose checksum is composite, or no SHA-256 checksum) the object is streamed in 8 MiB chunks
    and hashed, that version and ETag only, up to about ``MAX_STREAMED_BYTES``. The function runs
    in ``vpc_subnets`` and reaches S3, and CloudFormation's pre-signed response URL (an S3 URL),
    through the VPC's S3 gateway endpoint; it may read that one object (and decrypt with
    ``model_data_key``), nothing else. Its role, dead-letter queue, log group and environment
    are hardened like every function of this library. A changed URL or digest re-verifies.

    :param model_data_url: ``s3://bucket/key`` of the artifact.
    :param model_sha256: the artifact's expected SHA-256, 64 hex digits.
    :param key: the KMS key of the log group, the environment and the dead-letter queue.
    :param vpc: the VPC the function runs in.
    :param vpc_subnets: subnets that reach S3 (through a gateway endpoint, or otherwise).
    :param security_group: the function's security group; it must let HTTPS out to S3.
    :param model_data_key: the KMS key the artifact is encrypted with. Default: - none; the
        artifact is encrypted with SSE-S3 or not at all
    :param log_retention: how long the function's logs are kept. Default: - one year
    :param bundling_cache_dir: where bundled Lambda code is cached.
        Default: - '.cache/lambda-deps' under the working directory
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model_data_url: str,
        model_sha256: str,
        key: kms.IKey,
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        model_data_key: kms.IKey | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        bundling_cache_dir: Path | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        bucket_name, object_key = check.s3_url("model_data_url", model_data_url)
        check.iam_literal("model_data_url", model_data_url)
        check.sha256_hex("model_sha256", model_sha256)
        stack = Stack.of(self)

        self.log_group = logs.LogGroup(self, "Logs", encryption_key=key, retention=log_retention)
        """The function's log group, encrypted with ``key``."""
        self.dead_letter_queue = build.dead_letter_queue(
            self, "DeadLetters", key=key, owner="the model artifact check", failures="checks"
        )
        """Invocations that failed before they could answer CloudFormation."""
        role = build.lambda_role(
            self,
            "Role",
            description="Checks the SHA-256 of one model artifact before the model is created",
            in_vpc=True,
        )
        self.log_group.grant_write(role)
        build.allow_dead_letter_sends(key, role)
        # The artifact bucket is the user's and no construct of it exists here: one statement,
        # for the one object (GetObjectAttributes and, in a versioned bucket, the version
        # variants S3 asks for).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:GetObjectAttributes",
                    "s3:GetObjectVersionAttributes",
                ],
                resources=[
                    stack.format_arn(
                        service="s3",
                        region="",
                        account="",
                        resource=bucket_name,
                        resource_name=object_key,
                    )
                ],
            )
        )
        if model_data_key is not None:
            model_data_key.grant_decrypt(role)

        self.function = build.hardened_function(
            self,
            "Function",
            package=VERIFIER_PACKAGE,
            code=lambda_code(
                VERIFIER_PACKAGE, bundling_cache_dir or Path(".cache") / "lambda-deps"
            ),
            description="Fails the deployment unless the model artifact has the expected SHA-256",
            role=role,
            key=key,
            log_group=self.log_group,
            dead_letter_queue=self.dead_letter_queue,
            memory_size=MEMORY_MB,
            timeout=TIMEOUT,
            environment={},
            # CloudFormation invokes the function asynchronously and waits for one response;
            # a retry would only answer a request already answered or given up.
            retry_attempts=0,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=[security_group],
        )
        """The hardened function behind the custom resource."""
        build.acknowledge_invoke_config(self.function, "check")
        compliance.acknowledge(
            role,
            "Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which "
            "support no resource-level permissions; every other statement names its resource.",
            "AwsSolutions-IAM5[Resource::*]",
        )
        build.depend_on_grants(self.function, role)

        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.function.function_arn,
            resource_type=RESOURCE_TYPE,
            properties={"ModelDataUrl": model_data_url, "Sha256": model_sha256},
            # A response lost anyway (the function itself failed) fails the stack after the
            # function's timeout, not after CloudFormation's default hour.
            service_timeout=Duration.seconds(TIMEOUT.to_seconds() + 60),
        )
        """The ``Custom::ModelArtifactVerification`` resource the model depends on."""

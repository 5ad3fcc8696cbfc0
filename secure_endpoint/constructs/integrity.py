"""Model artifact integrity: checked before the model exists, and watched after.

A CloudFormation custom resource backed by a small hardened Lambda (``lambdas/artifact_verifier``)
reads the one artifact object and compares its SHA-256 with the digest the stack expects, then
verifies an optional KMS signature of that digest; the SageMaker model depends on it, so an
artifact that differs (or is not signed by the key named) fails the deployment before it can
become a model. Then it scans the archive for what would run code when the model is loaded
(``secure_endpoint.runtime.artifact_scan``). After the deploy, the same function re-reads the
artifact on a schedule (and, when the bucket sends them, on its object events) and publishes
``ArtifactDigestMismatch``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aws_cdk import Annotations, CustomResource, Duration, Size, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from secure_endpoint import compliance
from secure_endpoint.constructs import _building as build
from secure_endpoint.constructs import _metrics as metrics
from secure_endpoint.constructs import _validation as check
from secure_endpoint.constructs.bundling import lambda_code, resolve_cache_dir

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
EPHEMERAL_STORAGE = Size.mebibytes(10_240)
"""Lambda's maximum ``/tmp``: the scan spools each zip inside the archive (a PyTorch ``.pt``, a
Keras ``.keras``, an ``.npz``) there, one at a time, so a zip member of up to about 10 GB is
scanned. Paid for only while the function runs."""
SCAN_MB_PER_SECOND = 60
"""A conservative rate of the scan of array-heavy models (a second read from S3, gunzip, tar;
arrays and tensors are read past, not parsed): ``benchmarks/artifact_scan.py`` measured 140-280
MB/s from memory on a loaded 2-vCPU host, so S3's stream (80-100 MB/s) is the bound. A pickle of
millions of small Python objects is walked at about 0.4-0.7 M opcodes a second: the scan's
limit of 50 M opcodes a pickle is one to two minutes."""
MAX_SCANNED_BYTES = SCAN_MB_PER_SECOND * 10**6 * (TIMEOUT.to_seconds() - 20) // 2
"""About 26 GB of array-heavy archive with the digest streamed first (half the timeout each): a
2 GB archive takes under a minute for each read. A larger one fails the deployment with a
message saying it ran out of time."""
RESERVED_CONCURRENCY = 2
"""A deploy's check never waits behind a scheduled one (two reads of the artifact at most)."""

DEFAULT_SIGNING_ALGORITHM = "ECDSA_SHA_256"
"""With an ``ECC_NIST_P256`` key: 128-bit security like the SHA-256 digest it signs, and a
signature of about 72 bytes (96 characters of base64) that fits a context value."""
DEFAULT_CHECK_INTERVAL = Duration.hours(1)
"""How often the artifact is re-hashed after the deploy."""
UNSAFE_ARTIFACT_METRIC = "ArtifactUnsafe"
"""1 when the deploy-time scan refused the artifact (lambdas/artifact_verifier/scan.py)."""
# The tamper check's event mode and metric (lambdas/artifact_verifier/tamper.py).
TAMPER_CHECK_MODE = "tamper-check"
METRICS_NAMESPACE = "SecureEndpoint/Integrity"
DIGEST_MISMATCH_METRIC = "ArtifactDigestMismatch"
_OBJECT_EVENTS = ["Object Created", "Object Deleted"]


class ArtifactVerification(Construct):
    """A custom resource that fails the deployment unless the object at ``model_data_url`` has
    the SHA-256 ``model_sha256`` (and, when given, ``model_signature`` of that digest verifies
    with ``model_signing_key``), and a tamper check that keeps re-hashing the object after.

    S3's stored ``ChecksumSHA256`` is used when it is a full-object checksum (a single-part upload
    with ``--checksum-algorithm SHA256``): nothing is downloaded. Otherwise (a multipart upload,
    whose checksum is composite, or no SHA-256 checksum) the object is streamed in 8 MiB chunks
    and hashed, that version and ETag only, up to about ``MAX_STREAMED_BYTES``. The function runs
    in ``vpc_subnets`` and reaches S3, and CloudFormation's pre-signed response URL (an S3 URL),
    through the VPC's S3 gateway endpoint; it may read that one object (and decrypt with
    ``model_data_key``), nothing else. Its role, dead-letter queue, log group and environment
    are hardened like every function of this library. A changed URL, digest or signature
    re-verifies.

    The signature is checked with ``kms:Verify`` (``MessageType=DIGEST``) over the 32-byte
    SHA-256 digest, after the digest itself; the role may use ``kms:Verify`` with that key
    alone, and the subnets must reach KMS (an interface endpoint with private DNS).

    After the deploy, an EventBridge schedule (every ``artifact_check_interval``) invokes the
    same function, which re-reads the object the same way and publishes
    ``ArtifactDigestMismatch`` (namespace ``SecureEndpoint/Integrity``, dimension
    ``FunctionName``): 0 while the bytes have ``model_sha256``, 1 once they differ or the
    object is gone or refused (``metric_digest_mismatch``; ``SecureEndpoint`` alarms on it). A
    successful deploy-time check publishes 0 too. With ``artifact_bucket_events`` a second rule
    runs the check on the object's ``Object Created`` and ``Object Deleted`` events.

    :param model_data_url: ``s3://bucket/key`` of the artifact.
    :param model_sha256: the artifact's expected SHA-256, 64 hex digits.
    :param key: the KMS key of the log group, the environment and the dead-letter queue.
    :param vpc: the VPC the function runs in.
    :param vpc_subnets: subnets that reach S3 (through a gateway endpoint, or otherwise).
    :param security_group: the function's security group; it must let HTTPS out to S3.
    :param model_data_key: the KMS key the artifact is encrypted with. Default: - none; the
        artifact is encrypted with SSE-S3 or not at all
    :param model_signature: the base64 signature of the artifact's SHA-256 digest by
        ``model_signing_key`` (``aws kms sign --message-type DIGEST``), with that key.
        Default: - none; no signature is checked
    :param model_signing_key: the asymmetric KMS key (KeyUsage ``SIGN_VERIFY``) that signed it;
        brought, never created here. Default: - none
    :param model_signing_algorithm: ``ECDSA_SHA_256``, ``RSASSA_PSS_SHA_256`` or
        ``RSASSA_PKCS1_V1_5_SHA_256``. Default: - ``ECDSA_SHA_256``
    :param artifact_check_interval: how often the artifact is re-hashed after the deploy,
        whole minutes from 15 minutes to 1 day. Default: - 1 hour
    :param artifact_bucket_events: the artifact's bucket sends events to EventBridge (its
        ``EventBridgeConfiguration`` is on; this construct cannot turn it on for a bucket it does
        not own): re-check within about a minute of the object being written or deleted.
        Default: - false; the schedule alone
    :param artifact_scan: after the digest (and signature) pass, stream the archive once more
        and fail the deployment if loading the model would run code the allowlist does not
        allow: pickle imports (scikit-learn/joblib, PyTorch, NumPy object arrays), Keras Lambda
        layers and custom objects, paths out of the model directory, tar or zip bombs
        (docs/model-integrity.md). False is a warned opt-out. Default: - true
    :param allowed_pickle_globals: ``module.name`` entries (or globs like ``'mypackage.*'``)
        the scan allows beyond its built-in allowlist; its deny list wins over them.
        Default: - none
    :param log_retention: how long the function's logs are kept. Default: - one year
    :param bundling_cache_dir: where bundled Lambda code is cached.
        Default: - ``$SECURE_ENDPOINT_CACHE_DIR``, else the per-user cache
        (``bundling.resolve_cache_dir``)
    :param reserved_concurrency: reserve 2 concurrent executions (a deploy's check never waits
        behind a scheduled one). Lambda keeps at least 100 of the account's concurrency unreserved,
        so reservations need an account quota of at least 100 plus all of them (new accounts may
        start at 10: raise it in Service Quotas first). Default: - false; runs share the account's
        unreserved pool
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
        model_signature: str | None = None,
        model_signing_key: kms.IKey | None = None,
        model_signing_algorithm: str | None = None,
        artifact_check_interval: Duration | None = None,
        artifact_bucket_events: bool = False,
        artifact_scan: bool = True,
        allowed_pickle_globals: Sequence[str] = (),
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        bundling_cache_dir: Path | None = None,
        reserved_concurrency: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        bucket_name, object_key = check.s3_url("model_data_url", model_data_url)
        check.iam_literal("model_data_url", model_data_url)
        check.sha256_hex("model_sha256", model_sha256)
        check.model_signature(
            model_signature, model_signing_key is not None, model_signing_algorithm
        )
        algorithm = model_signing_algorithm or DEFAULT_SIGNING_ALGORITHM
        if model_signing_key is not None:
            _check_signing_key(model_signing_key, algorithm)
        interval = _interval(artifact_check_interval)
        if not isinstance(artifact_bucket_events, bool):
            raise ValueError(
                f"artifact_bucket_events must be True or False, got {artifact_bucket_events!r}"
            )
        check.boolean("artifact_scan", artifact_scan)
        allowed = check.pickle_globals("allowed_pickle_globals", allowed_pickle_globals)
        if allowed and not artifact_scan:
            raise ValueError(
                f"allowed_pickle_globals ({list(allowed)!r:.100}) applies to artifact_scan, "
                "which is False"
            )
        if not artifact_scan:
            Annotations.of(self).add_warning_v2(
                "secure-endpoint:artifact-scan-off",
                "The model artifact is not scanned (artifact scan=False): a model.tar.gz with "
                "the right digest whose pickles import os.system, or whose Keras model holds "
                "a Lambda layer, is deployed and runs that code when the container loads it.",
            )
        stack = Stack.of(self)
        self.scans = artifact_scan
        """Whether the deploy-time check scans the archive."""
        self.check_interval = interval
        """How often the artifact is re-hashed after the deploy."""

        self.log_group = logs.LogGroup(self, "Logs", encryption_key=key, retention=log_retention)
        """The function's log group, encrypted with ``key``."""
        self.dead_letter_queue = build.dead_letter_queue(
            self, "DeadLetters", key=key, owner="the model artifact check", failures="checks"
        )
        """Failed invocations: a deploy-time check that could not answer CloudFormation, a
        tamper check that failed, or a rule's event that could not be delivered."""
        role = build.lambda_role(
            self,
            "Role",
            description="Checks one model artifact's SHA-256 before the model exists, and after",
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
        if model_signing_key is not None:
            model_signing_key.grant_verify(role)

        self.function = build.hardened_function(
            self,
            "Function",
            package=VERIFIER_PACKAGE,
            code=lambda_code(
                VERIFIER_PACKAGE, resolve_cache_dir(bundling_cache_dir), include_runtime=True
            ),
            description="Fails the deploy, or alerts later, unless the model artifact is unchanged",
            role=role,
            key=key,
            log_group=self.log_group,
            dead_letter_queue=self.dead_letter_queue,
            reserved_concurrent_executions=RESERVED_CONCURRENCY if reserved_concurrency else None,
            memory_size=MEMORY_MB,
            timeout=TIMEOUT,
            ephemeral_storage_size=EPHEMERAL_STORAGE,
            environment={},
            # CloudFormation invokes the function asynchronously and waits for one response;
            # a retry would only answer a request already answered or given up. A failed
            # tamper check waits in the dead-letter queue; the next one runs on schedule.
            retry_attempts=0,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=[security_group],
        )
        """The hardened function behind the custom resource and the tamper check."""
        build.acknowledge_invoke_config(self.function, "check")
        compliance.acknowledge(
            role,
            "Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which "
            "support no resource-level permissions; every other statement names its resource.",
            "AwsSolutions-IAM5[Resource::*]",
        )
        build.depend_on_grants(self.function, role)

        properties: dict[str, Any] = {
            "ModelDataUrl": model_data_url,
            "Sha256": model_sha256,
            "Scan": "true" if artifact_scan else "false",
        }
        if allowed:
            properties["AllowedPickleGlobals"] = list(allowed)
        if model_signing_key is not None and model_signature is not None:
            properties |= {
                "Signature": model_signature,
                "SigningKeyArn": model_signing_key.key_arn,
                "SigningAlgorithm": algorithm,
            }
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.function.function_arn,
            resource_type=RESOURCE_TYPE,
            properties=properties,
            # A response lost anyway (the function itself failed) fails the stack after the
            # function's timeout, not after CloudFormation's default hour.
            service_timeout=Duration.seconds(TIMEOUT.to_seconds() + 60),
        )
        """The ``Custom::ModelArtifactVerification`` resource the model depends on."""

        check_event = events.RuleTargetInput.from_object(
            {
                "Mode": TAMPER_CHECK_MODE,
                "ModelDataUrl": model_data_url,
                "Sha256": model_sha256,
                "Time": events.EventField.time,
                "Trigger": events.EventField.detail_type,
            }
        )
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="Re-checks the SHA-256 of the model artifact behind the endpoint",
            schedule=events.Schedule.rate(interval),
            targets=[self._target(check_event, interval)],
        )
        """The rule that runs the tamper check every ``check_interval``."""
        self.object_events: events.Rule | None = None
        """The rule that runs it on the object's S3 events; None without
        ``artifact_bucket_events``."""
        if artifact_bucket_events:
            self.object_events = events.Rule(
                self,
                "ObjectEvents",
                description="Re-checks the model artifact when its object is written or deleted",
                event_pattern=events.EventPattern(
                    source=["aws.s3"],
                    detail_type=_OBJECT_EVENTS,
                    detail={
                        "bucket": {"name": [bucket_name]},
                        "object": {"key": _keys(object_key)},
                    },
                ),
                targets=[self._target(check_event, interval)],
            )
        build.allow_rule_dead_letters(key)

    def _target(self, event: events.RuleTargetInput, interval: Duration) -> targets.LambdaFunction:
        return targets.LambdaFunction(
            self.function,
            event=event,
            dead_letter_queue=self.dead_letter_queue,
            retry_attempts=2,
            max_event_age=interval,
        )

    def metric_digest_mismatch(self, **options: Any) -> cloudwatch.Metric:
        """``ArtifactDigestMismatch``: 1 when a check found the bytes behind the model changed,
        gone or refused, 0 when they still have ``model_sha256``.

        :param options: ``cloudwatch.MetricOptions`` fields (``period``, ``statistic``,
            ``label``, ...). Default: - Maximum per ``check_interval``
        """
        return metrics.metric(
            METRICS_NAMESPACE,
            DIGEST_MISMATCH_METRIC,
            {"FunctionName": self.function.function_name},
            options,
            statistic=cloudwatch.Stats.MAXIMUM,
            period=self.check_interval,
        )

    def metric_unsafe_artifact(self, **options: Any) -> cloudwatch.Metric:
        """``ArtifactUnsafe``: 1 when a deploy-time scan refused the artifact (the deployment
        failed), 0 when it was clean.

        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Maximum per 5 minutes
        """
        return metrics.metric(
            METRICS_NAMESPACE,
            UNSAFE_ARTIFACT_METRIC,
            {"FunctionName": self.function.function_name},
            options,
            statistic=cloudwatch.Stats.MAXIMUM,
            period=Duration.minutes(5),
        )


def _check_signing_key(key: kms.IKey, algorithm: str) -> None:
    """A key created in this app says its usage and spec: they must suit ``algorithm``. A
    brought key (imported, an alias) is checked by KMS at deploy time."""
    cfn_key = key.node.default_child
    if isinstance(cfn_key, kms.CfnKey):
        check.signing_key(
            "model_signing_key",
            cfn_key.key_usage or "ENCRYPT_DECRYPT",
            cfn_key.key_spec or "SYMMETRIC_DEFAULT",
            algorithm,
        )


def _interval(value: Duration | None) -> Duration:
    if value is None:
        return DEFAULT_CHECK_INTERVAL
    if not isinstance(value, Duration):
        raise ValueError(
            f"artifact_check_interval must be a Duration, like Duration.hours(1), got {value!r}"
        )
    check.check_interval("artifact_check_interval", value.to_seconds())
    return value


def _keys(object_key: str) -> list[str]:
    """The object key as S3 events may write it: as is, and URL-encoded when that differs."""
    encoded = urllib.parse.quote_plus(object_key, safe="/")
    return [object_key] if encoded == object_key else [object_key, encoded]

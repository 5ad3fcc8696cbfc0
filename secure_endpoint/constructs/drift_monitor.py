"""The drift monitor: an hourly function comparing captured inputs with the training baseline.

The baseline directory (``secure-endpoint baseline`` writes it) ships as a Lambda layer, so the
function reads it from ``/opt`` and checks its digests at cold start; a new baseline is a
new layer version, deployed like code. The function runs in the endpoint's isolated subnets and
reaches only S3, through the gateway endpoint: it reads ``capture/<endpoint>/`` and writes only
under ``drift/`` (its state: cursor and client references; the ``constraint_violations.json``
reports; the drift findings) in the capture bucket. Drift is judged client by client, each
against its own first day of traffic. Its run logic is ``secure_endpoint.runtime.capture.runs``;
the handler, ``lambdas/drift_monitor``, says how a run goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from secure_endpoint import compliance
from secure_endpoint.constructs import _building as build
from secure_endpoint.constructs import _metrics as metrics
from secure_endpoint.constructs.bundling import lambda_code, resolve_cache_dir, runtime

PACKAGE = "drift_monitor"
NAMESPACE = "SecureEndpoint/Drift"
STATE_PREFIX = "drift/"
SCHEDULE = Duration.hours(1)
MEMORY_MB = 1024
TIMEOUT = Duration.minutes(10)
_BASELINE_FILES = ("manifest.json", "statistics.json", "constraints.json", "reference.json")


class DriftMonitor(Construct):
    """Hourly drift checks of an endpoint's data capture against a training baseline.

    :param capture_bucket: the data-capture bucket (``ModelHosting.capture_bucket``).
    :param capture_prefix: the endpoint's prefix in it, ending in '/' (``capture/<endpoint>/``).
    :param baseline: the baseline directory: manifest.json, statistics.json, constraints.json,
        reference.json, as ``secure-endpoint baseline`` writes them.
    :param key: the KMS key of the bucket, logs, queue and environment.
    :param vpc: the VPC whose ``vpc_subnets`` the function runs in (S3 gateway endpoint).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        capture_bucket: s3.IBucket,
        capture_prefix: str,
        baseline: str | Path,
        key: kms.IKey,
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        bundling_cache_dir: Path | None = None,
        reserved_concurrency: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        folder = check_baseline(baseline)
        self.service_name = build.service_name(self, "drift-monitor")
        self.baseline_layer = lambda_.LayerVersion(
            self,
            "Baseline",
            # the directory's files land in /opt, where the function reads them
            code=lambda_.Code.from_asset(str(folder)),
            description="The training baseline the drift monitor compares captured inputs with",
        )
        scheduled = build.scheduled_function_in_vpc(
            self,
            name="drift monitor",
            key=key,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            log_retention=log_retention,
            schedule=SCHEDULE,
            package=PACKAGE,
            code=lambda_code(PACKAGE, resolve_cache_dir(bundling_cache_dir), include_runtime=True),
            description="Compares the newly captured inputs with the training baseline",
            runtime=runtime(PACKAGE),
            reserved_concurrent_executions=1 if reserved_concurrency else None,
            memory_size=MEMORY_MB,
            timeout=TIMEOUT,
            # A failed run leaves the state: a retry or the next run reads the same objects.
            layers=[self.baseline_layer],
            environment={
                "CAPTURE_BUCKET": capture_bucket.bucket_name,
                "ENDPOINT_PREFIX": capture_prefix,
                "STATE_PREFIX": STATE_PREFIX,
                "BASELINE_DIR": "/opt",
                "POWERTOOLS_SERVICE_NAME": self.service_name,
            },
        )
        self.log_group = scheduled.log_group
        self.dead_letter_queue = scheduled.dead_letter_queue
        self.role = scheduled.role
        self.security_group = scheduled.security_group
        self.function = scheduled.function
        self.rule = scheduled.rule
        build.allow_rule_dead_letters(key)
        build.allow_dead_letter_sends(key, self.role)
        build.acknowledge_invoke_config(self.function)
        self._grant(capture_bucket, capture_prefix, key)

    def _grant(self, bucket: s3.IBucket, prefix: str, key: kms.IKey) -> None:
        """Read the endpoint's capture and its own state, list only their folders, write only
        under ``drift/``; the key for SSE-KMS reads and writes."""
        self.log_group.grant_write(self.role)
        capture, state = (
            bucket.arn_for_objects(f"{prefix}*"),
            bucket.arn_for_objects(f"{STATE_PREFIX}*"),
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[capture, state])
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[state])
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{prefix}*", STATE_PREFIX]}},
            )
        )
        key.grant(self.role, "kms:Decrypt", "kms:GenerateDataKey")
        build.depend_on_grants(self.function, self.role)
        compliance.acknowledge(
            self.role,
            "Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which "
            "support no resource-level permissions.",
            "AwsSolutions-IAM5[Resource::*]",
        )
        stack = Stack.of(self)
        bucket_id = stack.resolve(stack.get_logical_id(bucket.node.default_child))  # type: ignore[arg-type]
        compliance.acknowledge(
            self.role,
            "SageMaker names capture objects by endpoint, variant, hour and a random suffix, and "
            "the monitor's reports by run time: s3:GetObject on the endpoint's capture/ prefix "
            "and on drift/, s3:PutObject on drift/ only.",
            f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{STATE_PREFIX}*]",
            *_capture_findings(stack, bucket_id, prefix),
        )

    def _metric(self, name: str, statistic: str, options: Mapping[str, Any]) -> cloudwatch.Metric:
        return metrics.metric(
            NAMESPACE,
            name,
            {"service": self.service_name},
            options,
            period=SCHEDULE,
            statistic=statistic,
        )

    def metric_drifting_features(self, **options: Any) -> cloudwatch.Metric:
        """``DriftingFeatures``: features on which enough clients moved the same way in a run
        (reported once some client has a complete reference).

        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Maximum per hour
        """
        return self._metric("DriftingFeatures", cloudwatch.Stats.MAXIMUM, options)

    def metric_constraint_violations(self, **options: Any) -> cloudwatch.Metric:
        """``ConstraintViolations``: the training baseline's completeness, type and width
        violations in a run.

        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Maximum per hour
        """
        return self._metric("ConstraintViolations", cloudwatch.Stats.MAXIMUM, options)

    def metric_max_drift_distance(self, **options: Any) -> cloudwatch.Metric:
        """``MaxDriftDistance``: the largest L-infinity distance of any feature from the baseline
        in a run.

        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Maximum per hour
        """
        return self._metric("MaxDriftDistance", cloudwatch.Stats.MAXIMUM, options)

    def metric_captured_rows(self, **options: Any) -> cloudwatch.Metric:
        """``CapturedRows``: the captured rows a run read.

        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Sum per hour
        """
        return self._metric("CapturedRows", cloudwatch.Stats.SUM, options)

    def widgets(self) -> list[cloudwatch.IWidget]:
        """The dashboard row: drift distance and drifting features, violations, captured rows."""
        return [
            cloudwatch.GraphWidget(
                title="Drift from the training baseline",
                left=[self.metric_max_drift_distance()],
                right=[self.metric_drifting_features()],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Captured rows and constraint violations",
                left=[self.metric_captured_rows()],
                right=[self.metric_constraint_violations()],
                width=12,
            ),
        ]


def _capture_findings(stack: Stack, bucket_id: str, prefix: str) -> list[str]:
    """cdk-nag's name for the wildcard on ``<bucket>/<prefix>*``: the endpoint name in
    ``prefix`` is a token, which cdk-nag writes as ``<LogicalId.Attribute>``."""
    resolved = stack.resolve(prefix)
    if isinstance(resolved, str):
        return [f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{resolved}*]"]
    parts = []
    for part in resolved["Fn::Join"][1]:
        if isinstance(part, str):
            parts.append(part)
        elif "Fn::GetAtt" in part:
            parts.append(f"<{part['Fn::GetAtt'][0]}.{part['Fn::GetAtt'][1]}>")
        else:
            parts.append(f"<{part['Ref']}>")
    return [f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{''.join(parts)}*]"]


def check_baseline(baseline: str | Path) -> Path:
    if not isinstance(baseline, str | Path):
        raise ValueError(
            f"drift_baseline must be a directory path (a str or Path), got {baseline!r}"
        )
    folder = Path(baseline).resolve()
    missing = [name for name in _BASELINE_FILES if not (folder / name).is_file()]
    if missing:
        raise ValueError(
            f"drift_baseline {str(baseline)!r} must be a baseline directory holding "
            f"{', '.join(_BASELINE_FILES)} (secure-endpoint baseline writes them); missing: "
            f"{', '.join(missing)}"
        )
    return folder

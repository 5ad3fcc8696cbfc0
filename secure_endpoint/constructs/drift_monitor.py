"""The drift monitor: an hourly function comparing captured inputs with the training baseline.

The baseline directory (``secure-endpoint baseline`` writes it) ships as a Lambda layer, so the
function reads it from ``/opt`` and checks its digests at cold start; a new baseline is a
new layer version, deployed like code. The function runs in the endpoint's isolated subnets and
reaches only S3, through the gateway endpoint: it reads ``capture/<endpoint>/`` and writes only
under ``drift/`` (its state: cursor and client references; the ``constraint_violations.json``
reports; the drift findings) in the capture bucket. Drift is judged client by client, each
against its own first day of traffic. Its run logic is ``secure_endpoint.runtime.capture.runs``;
the handler, ``lambdas/drift_monitor``, says how a run goes.

With payload monitoring (on by default) the same run scores every client on what it sends
(``secure_endpoint.runtime.payload``: extraction, probing, out of distribution, membership),
writes its findings beside the drift findings, alerts the endpoint's alert topic (through the
SNS interface endpoint) and publishes ``SecureEndpoint/Payload`` metrics; the detector's
membership key, when the baseline has keyed hashes of training rows, is a Secrets Manager
secret the function reads at its cold start (through the Secrets Manager interface endpoint),
never a file of the layer nor an environment variable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_cdk import Annotations, Duration, Stack, Token
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from constructs import Construct

from secure_endpoint import compliance
from secure_endpoint.constructs import _building as build
from secure_endpoint.constructs import _metrics as metrics
from secure_endpoint.constructs.bundling import lambda_code, resolve_cache_dir, runtime
from secure_endpoint.constructs.quarantine import QuarantinePlan
from secure_endpoint.constructs.quarantine_responder import QuarantineResponder

PACKAGE = "drift_monitor"
NAMESPACE = "SecureEndpoint/Drift"
PAYLOAD_NAMESPACE = "SecureEndpoint/Payload"
PAYLOAD_KINDS = ("extraction", "probing", "out_of_distribution", "membership")
STATE_PREFIX = "drift/"
SCHEDULE = Duration.hours(1)
FEATURE_DRIFT_METRIC = "FeatureDriftDistance"
FEATURE_DIMENSION = "Feature"
"""The per-feature drift metric the function publishes, and the dimension naming the feature."""
MEMORY_MB = 1024
PAYLOAD_MEMORY_MB = 2048
"""With payload monitoring: the detector's per-client sketches (10,000 clients and 10 million
rows an hour fit 2 GB)."""
TIMEOUT = Duration.minutes(10)
_BASELINE_FILES = ("manifest.json", "statistics.json", "constraints.json", "reference.json")


@dataclass(frozen=True)
class AutoQuarantine:
    """Quarantine the clients the payload detector flags, automatically (the guard rails of the
    auto-block): at most ``max_per_run`` new ones a run, the worst first, never a client on
    ``never_quarantine``, each for ``ttl``, then released on its own. Idempotent: a client
    already quarantined has its quarantine extended, not doubled.

    :param ttl: how long, whole minutes from 1 minute to 30 days. Default: - 24 hours
    :param never_quarantine: client names (``ApiClient.name``) never to quarantine (your own
        integrations, QA). Default: - none
    :param max_per_run: new quarantines a run may ask for, 1 to 20. Default: - 3
    """

    ttl: Duration = field(default_factory=lambda: Duration.hours(24))
    never_quarantine: Sequence[str] = ()
    max_per_run: int = 3

    def settings(self, clients: Sequence[str]) -> dict[str, Any]:
        """The checked settings, in seconds; errors name the field as users write it."""
        if not isinstance(self.ttl, Duration) or Token.is_unresolved(self.ttl.to_string()):
            raise ValueError(
                f"auto_quarantine.ttl must be a literal Duration, like Duration.hours(24), "
                f"got {self.ttl!r}"
            )
        seconds = self.ttl.to_seconds(integral=False)
        if not 60 <= seconds <= 30 * 86_400 or seconds % 60:
            raise ValueError(
                "auto_quarantine.ttl must be whole minutes from 1 minute to 30 days, got "
                f"{self.ttl.to_human_string()}"
            )
        if isinstance(self.never_quarantine, str):
            raise ValueError(
                "auto_quarantine.never_quarantine must be a list of client names, got the "
                f"string {self.never_quarantine!r}"
            )
        unknown = sorted(set(self.never_quarantine) - set(clients))
        if unknown:
            raise ValueError(
                f"auto_quarantine.never_quarantine names {unknown}, which are not clients of "
                f"the endpoint ({sorted(clients)})"
            )
        count = self.max_per_run
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 20:
            raise ValueError(f"auto_quarantine.max_per_run must be from 1 to 20, got {count!r}")
        return {
            "ttl_seconds": int(seconds),
            "never": sorted(self.never_quarantine),
            "max_per_run": count,
        }


class DriftMonitor(Construct):
    """Hourly drift checks of an endpoint's data capture against a training baseline.

    :param capture_bucket: the data-capture bucket (``ModelHosting.capture_bucket``).
    :param capture_prefix: the endpoint's prefix in it, ending in '/' (``capture/<endpoint>/``).
    :param baseline: the baseline directory: manifest.json, statistics.json, constraints.json,
        reference.json, as ``secure-endpoint baseline`` writes them.
    :param key: the KMS key of the bucket, logs, queue and environment.
    :param vpc: the VPC whose ``vpc_subnets`` the function runs in (S3 gateway endpoint).
    :param payload_monitoring: also score each client on what it sends, and alert
        ``alert_topic`` on findings (the VPC needs an SNS interface endpoint). Default: - true
    :param alert_topic: where payload findings are told; needed with ``payload_monitoring``.
        Default: - none
    :param app_clients: the endpoint's Cognito app clients by name: alerts name a client by
        its name. Default: - alerts name client ids
    :param membership_key: the secret holding the key of the baseline's keyed hashes of
        training rows (``secure-endpoint baseline`` with a membership key), read by the function
        at its cold start (the VPC needs a Secrets Manager interface endpoint).
        Default: - none: membership is judged without keyed hashes
    :param auto_quarantine: quarantine the clients it flags, through a
        ``QuarantineResponder`` outside the VPC (with ``api_keys``, ``usage_plans`` and
        ``quarantine_plan``). Default: - none, alert only
    :param api_keys: each client's API key, by client name. Default: - none
    :param usage_plans: each client's own usage plan, by client name. Default: - none
    :param quarantine_plan: where quarantined keys go. Default: - none
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
        payload_monitoring: bool = True,
        alert_topic: sns.ITopic | None = None,
        app_clients: Mapping[str, cognito.IUserPoolClient] | None = None,
        membership_key: secretsmanager.ISecret | None = None,
        auto_quarantine: AutoQuarantine | None = None,
        api_keys: Mapping[str, apigw.IApiKey] | None = None,
        usage_plans: Mapping[str, apigw.IUsagePlan] | None = None,
        quarantine_plan: QuarantinePlan | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        folder = check_baseline(baseline)
        if payload_monitoring and alert_topic is None:
            raise ValueError(
                "payload_monitoring needs alert_topic (where findings are told), got none; "
                "or payload_monitoring=False"
            )
        if not payload_monitoring and (membership_key or auto_quarantine):
            raise ValueError(
                "membership_key and auto_quarantine configure payload monitoring: set "
                "payload_monitoring=True as well"
            )
        if auto_quarantine is not None and not (api_keys and usage_plans and quarantine_plan):
            raise ValueError(
                "auto_quarantine needs api_keys, usage_plans and quarantine_plan (the keys it "
                "moves and where to)"
            )
        self.payload_monitoring = payload_monitoring
        if payload_monitoring:
            self._check_payload_reference(folder, membership_key)
        names = dict(app_clients or {})
        quarantine = (
            auto_quarantine.settings(sorted(names)) if auto_quarantine is not None else None
        )
        stack = Stack.of(self)
        payload_environment: dict[str, str] = {}
        if payload_monitoring:
            assert alert_topic is not None
            payload_environment = {
                "PAYLOAD_MONITORING": "true",
                "ALERT_TOPIC_ARN": alert_topic.topic_arn,
                "CLIENT_NAMES": stack.to_json_string(
                    {names[n].user_pool_client_id: n for n in sorted(names)}
                ),
            }
            if membership_key is not None:
                payload_environment["MEMBERSHIP_KEY_SECRET_ARN"] = membership_key.secret_arn
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
            memory_size=PAYLOAD_MEMORY_MB if payload_monitoring else MEMORY_MB,
            timeout=TIMEOUT,
            # A failed run leaves the state: a retry or the next run reads the same objects.
            layers=[self.baseline_layer],
            environment={
                "CAPTURE_BUCKET": capture_bucket.bucket_name,
                "ENDPOINT_PREFIX": capture_prefix,
                "STATE_PREFIX": STATE_PREFIX,
                "BASELINE_DIR": "/opt",
                "POWERTOOLS_SERVICE_NAME": self.service_name,
                **payload_environment,
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
        self.membership_key = membership_key
        if payload_monitoring and alert_topic is not None:
            # the role may already use the key (GenerateDataKey, Decrypt): SNS needs both
            iam.Grant.add_to_principal(
                grantee=self.role, actions=["sns:Publish"], resource_arns=[alert_topic.topic_arn]
            )
        if membership_key is not None:
            membership_key.grant_read(self.role)
        self.quarantine: QuarantineResponder | None = None
        """The responder of ``auto_quarantine``: its topic, function and sweep schedule."""
        if quarantine is not None:
            assert alert_topic is not None
            assert quarantine_plan is not None
            assert api_keys is not None
            assert usage_plans is not None
            self.quarantine = QuarantineResponder(
                self,
                "Quarantine",
                api_keys=api_keys,
                usage_plans=usage_plans,
                app_clients=names,
                quarantine_plan=quarantine_plan,
                requester=self.role,
                key=key,
                alert_topic=alert_topic,
                ttl_seconds=quarantine["ttl_seconds"],
                never_quarantine=quarantine["never"],
                max_per_run=quarantine["max_per_run"],
                log_retention=log_retention,
                bundling_cache_dir=bundling_cache_dir,
                reserved_concurrency=reserved_concurrency,
            )
            settings = dict(quarantine)
            settings["never"] = [names[n].user_pool_client_id for n in quarantine["never"]]
            self.function.add_environment("QUARANTINE_TOPIC_ARN", self.quarantine.topic.topic_arn)
            self.function.add_environment("QUARANTINE", stack.to_json_string(settings))

    def _check_payload_reference(
        self, folder: Path, membership_key: secretsmanager.ISecret | None
    ) -> None:
        """What the baseline lets the detector judge: without ``payload.json`` only rows
        outside the baseline; membership only with its hashes and their key."""
        hashed = membership_hashes(folder)
        if hashed is None:
            Annotations.of(self).add_warning_v2(
                "secure-endpoint:payload-reference-missing",
                f"drift_baseline {str(folder)!r} has no payload.json (a baseline from before "
                "payload monitoring): only out-of-distribution rows are judged, not extraction, "
                "probing or membership; rebuild it with secure-endpoint baseline",
            )
        check_membership_key(folder, membership_key is not None)
        if hashed and membership_key is None:
            Annotations.of(self).add_warning_v2(
                "secure-endpoint:membership-key-missing",
                "drift_baseline holds keyed membership hashes, but no payload_membership_key was "
                "given: membership probing (replays of training rows) is not judged; give the "
                "secret holding the key the baseline was built with",
            )

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
            "the monitor's reports, findings and alert markers by run time: s3:GetObject on the "
            "endpoint's capture/ prefix and on drift/, s3:PutObject on drift/ only.",
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

    def feature_drift_search(self, label: str = "") -> cloudwatch.SearchExpression:
        """``FeatureDriftDistance`` of every feature (one line each, by its ``Feature``
        dimension): the L-infinity distance from the baseline per run, as a CloudWatch search
        (at most 500 features a graph; a search cannot be alarmed on).

        :param label: the expression's label; each line is named by its feature
        """
        schema = f'{{"{NAMESPACE}",{FEATURE_DIMENSION},service}}'
        term = f'MetricName="{FEATURE_DRIFT_METRIC}" service="{self.service_name}"'
        return cloudwatch.SearchExpression(
            expression=f"SEARCH('{schema} {term}', 'Maximum', {SCHEDULE.to_seconds()})",
            label=label,
            period=SCHEDULE,
        )

    def metric_captured_rows(self, **options: Any) -> cloudwatch.Metric:
        """``CapturedRows``: the captured rows a run read.

        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Sum per hour
        """
        return self._metric("CapturedRows", cloudwatch.Stats.SUM, options)

    def _payload_metric(
        self, name: str, statistic: str, options: Mapping[str, Any], **dimensions: str
    ) -> cloudwatch.Metric:
        return metrics.metric(
            PAYLOAD_NAMESPACE,
            name,
            {"service": self.service_name, **dimensions},
            options,
            period=SCHEDULE,
            statistic=statistic,
        )

    def metric_payload_findings(self, kind: str, **options: Any) -> cloudwatch.Metric:
        """``PayloadFindings``: new findings of one kind in a run (0 in a run without any).

        :param kind: extraction, probing, out_of_distribution or membership.
        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Sum per hour
        """
        if kind not in PAYLOAD_KINDS:
            raise ValueError(f"kind must be one of {', '.join(PAYLOAD_KINDS)}, got {kind!r}")
        return self._payload_metric("PayloadFindings", cloudwatch.Stats.SUM, options, Kind=kind)

    def metric_clients_flagged(self, **options: Any) -> cloudwatch.Metric:
        """``ClientsFlagged``: clients with a new payload finding in a run.

        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Maximum per hour
        """
        return self._payload_metric("ClientsFlagged", cloudwatch.Stats.MAXIMUM, options)

    def metric_max_payload_score(self, **options: Any) -> cloudwatch.Metric:
        """``MaxPayloadScore``: the highest client score of any kind after a run.

        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Maximum per hour
        """
        return self._payload_metric("MaxPayloadScore", cloudwatch.Stats.MAXIMUM, options)

    def metric_unknown_client_rows(self, **options: Any) -> cloudwatch.Metric:
        """``UnknownClientRows``: captured rows without a client id (attributed to nobody).

        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Sum per hour
        """
        return self._payload_metric("UnknownClientRows", cloudwatch.Stats.SUM, options)

    def payload_alarms(self) -> list[tuple[str, cloudwatch.Metric, str, str]]:
        """One alarm per kind: (construct id, metric, description, runbook section)."""
        if not self.payload_monitoring:
            return []
        described = {
            "extraction": "queries that cover the feature space unlike real clients (a model "
            "being copied)",
            "probing": "chains of near-duplicate queries converging on the decision boundary "
            "(an adversarial search)",
            "out_of_distribution": "rows outside the training baseline at a rate no legitimate "
            "client shows",
            "membership": "exact or near-exact training rows (membership probing)",
        }
        return [
            (
                f"Payload{''.join(part.title() for part in kind.split('_'))}",
                self.metric_payload_findings(kind),
                f"Payload {kind.replace('_', ' ')}: a client sent {described[kind]} in the "
                "last hour; the alert topic's message names it with the evidence",
                f"payload-{kind.replace('_', '-')}",
            )
            for kind in PAYLOAD_KINDS
        ]

    def widgets(self) -> list[cloudwatch.IWidget]:
        """The dashboard rows: drift distance and drifting features, violations, captured
        rows, drift per feature over time; with payload monitoring, the top clients by payload
        score and the findings by kind."""
        return self._drift_widgets() + (self._payload_widgets() if self.payload_monitoring else [])

    def _payload_widgets(self) -> list[cloudwatch.IWidget]:
        return [
            cloudwatch.LogQueryWidget(
                title="Top clients by payload score (drift monitor)",
                log_group_names=[self.log_group.log_group_name],
                query_lines=[
                    'filter message = "payload score"',
                    "stats max(score) as topScore, latest(kind) as worstKind by client",
                    "sort topScore desc",
                    "limit 20",
                ],
                view=cloudwatch.LogQueryVisualizationType.TABLE,
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Payload findings by kind",
                left=[
                    self.metric_payload_findings(kind, label=kind.replace("_", " "))
                    for kind in PAYLOAD_KINDS
                ],
                right=[
                    self.metric_max_payload_score(),
                    self.metric_unknown_client_rows(),
                    *(
                        [self.quarantine.metric_clients_quarantined()]
                        if self.quarantine is not None
                        else []
                    ),
                ],
                width=12,
            ),
        ]

    def _drift_widgets(self) -> list[cloudwatch.IWidget]:
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
            cloudwatch.GraphWidget(
                title="Drift from the training baseline, per feature (L-infinity)",
                left=[self.feature_drift_search()],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=1),
                width=24,
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


def membership_hashes(folder: Path) -> bool | None:
    """Whether the baseline's ``payload.json`` holds membership hashes; None without one."""
    path = folder / "payload.json"
    if not path.is_file():
        return None
    try:
        return bool(json.loads(path.read_text()).get("membership"))
    except (ValueError, AttributeError) as error:
        raise ValueError(f"drift_baseline's payload.json cannot be read: {error}") from None


def check_membership_key(folder: Path, given: bool) -> None:
    """A membership key needs hashes made with it in the baseline."""
    if given and not membership_hashes(folder):
        raise ValueError(
            "payload_membership_key was given, but drift_baseline's payload.json holds no "
            f"membership hashes ({str(folder)!r}): rebuild it with secure-endpoint baseline "
            "--membership-key-file, with the secret's value"
        )


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

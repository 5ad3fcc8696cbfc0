"""The anomaly monitor: a scheduled, hardened Lambda that scores each client's and address's
traffic, alerts, and (when asked) blocks addresses for a while.

Every run (5 minutes by default) reads per principal and window aggregates of the access logs
from CloudWatch Logs Insights (so its cost grows with the number of clients, not of requests),
scores them with an Isolation Forest fitted on a trailing baseline, decides with the hard rules
of ``secure_endpoint.runtime.anomaly.decisions``, emits EMF metrics, publishes one alert per
window to the alert topic, and, with ``auto_block``, writes addresses to the WAF's auto-block IP
sets with a TTL (never an address of the allowlist, at most ``max_blocks_per_run`` a run). It
also releases expired blocks, the ones operators made by hand included. With
``disable_api_keys`` it also asks the ``ApiKeyResponder`` (outside the VPC) to disable the API
key of each client whose action is ``block``.

The function runs in the endpoint's isolated subnets and reaches CloudWatch Logs, SNS and WAF
through interface endpoints, S3 and DynamoDB through gateway endpoints. Its state (seven days of
aggregates, ``state/``, and alert markers, ``alerts/``) lives in a bucket it alone may write.

The monitor scores with numpy alone; the model fitter (``lambdas/anomaly_model_fitter``, the only
function that imports scikit-learn) runs hourly in the same subnets, refits the Isolation Forests
on the monitor's committed history when the model is due (``retrain_every``), gone or refused, and
commits them under ``model/``, which it alone may write (the monitor only reads it). Until the
first model exists the monitor decides by its hard rules alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Annotations, Duration, Stack, Token
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from secure_endpoint import compliance
from secure_endpoint.constructs import _building as build
from secure_endpoint.constructs import _metrics as metrics
from secure_endpoint.constructs import _validation as check
from secure_endpoint.constructs.api_key_responder import ApiKeyResponder
from secure_endpoint.constructs.blocklist_store import BlockListTable
from secure_endpoint.constructs.bundling import lambda_code, resolve_cache_dir, runtime

MONITOR_PACKAGE = "anomaly_monitor"
FITTER_PACKAGE = "anomaly_model_fitter"
# What the functions' Powertools service names start with, and their metrics namespace
# (lambdas/anomaly_monitor, lambdas/anomaly_model_fitter); each monitor's names end with its
# own path (``service_name``, ``fitter_service_name``).
SERVICE = "anomaly-monitor"
FITTER_SERVICE = "anomaly-model-fitter"
METRICS_NAMESPACE = "SecureEndpoint/Anomaly"
INTERFACE_ENDPOINTS = (
    ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    ec2.InterfaceVpcEndpointAwsService.SNS,
    ec2.InterfaceVpcEndpointAwsService.WAFV2,
)
"""What the monitor calls through interface endpoints; S3 and DynamoDB have gateway endpoints."""

MEMORY_MB = 1024
TIMEOUT = Duration.minutes(5)
FITTER_SCHEDULE = Duration.hours(1)
"""How often the model fitter runs. It refits only when the model is older than
``retrain_every`` (or gone, refused, fitted with other settings), so the hourly run bounds how
long the monitor goes without a usable model, not how often it is refitted."""
FITTER_MEMORY_MB = 1024
FITTER_TIMEOUT = Duration.minutes(5)
# The state bucket's prefixes (lambdas/anomaly_monitor/adapters.py): who writes which.
STATE_PREFIX = "state/"
ALERT_PREFIX = "alerts/"
MODEL_PREFIX = "model/"
_ACCESS_LOG_RETENTION = Duration.days(90)
_S3_LOGS_USE_BUCKET_POLICY = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"


@dataclass(frozen=True, kw_only=True)
class MonitorOptions:
    """How the anomaly monitor runs and decides.

    :param schedule: how often it runs, whole minutes from 5 minutes to 1 hour; also the
        window its aggregates are taken over. Default: - 5 minutes
    :param baseline: the trailing period the Isolation Forest is fitted on, 1 hour to 7 days.
        Default: - 24 hours
    :param history: how far back each principal's own history features look, a window to
        7 days. Default: - 24 hours
    :param retrain_every: how old the committed model may grow before the model fitter (the only
        function that imports scikit-learn, run hourly) refits it, 1 hour to 7 days; the monitor
        warns when it scores with a model older than twice this. Default: - 24 hours
    :param block_ttl: how long an auto-blocked address stays blocked, 1 minute to 30 days.
        Default: - 1 hour
    :param max_blocks_per_run: new blocks one run may start, 1-100. Default: - 10
    :param alert_quantile: the share of the baseline's own windows scored below the alert
        threshold, from 0.9 to below 1. Default: - 0.995 (the top 0.5%)
    :param daily_quota: a client's requests over the trailing day that raise an alert.
        Default: - no quota rule
    :param random_state: the forest's seed: runs are deterministic given it. Default: - 0
    :param disable_api_keys: also disable the API key of each client whose action is ``block``
        (two flagged windows, or a blocking rule), through the ``ApiKeyResponder``; needs
        ``auto_block=True``. A strong action: a false positive locks a partner out until an
        operator re-enables the key (a synth warning says so). Default: - false (the alert
        names ``secure-endpoint revoke-client``)
    :param max_key_disables_per_run: API keys one run may ask to disable, 1-100; the others
        are named in the alert. Default: - 3
    """

    schedule: Duration | None = None
    baseline: Duration | None = None
    history: Duration | None = None
    retrain_every: Duration | None = None
    block_ttl: Duration | None = None
    max_blocks_per_run: int = 10
    alert_quantile: float = 0.995
    daily_quota: int | None = None
    random_state: int = 0
    disable_api_keys: bool = False
    max_key_disables_per_run: int = 3

    def __post_init__(self) -> None:
        # Every field alone; what needs auto_block is checked where it is known.
        _settings(self, auto_block=True)


class AnomalyMonitor(Construct):
    """The scheduled anomaly monitor of an API's access logs (see the module docstring).

    Hardened: pinned memory (1 GB) and timeout (5 minutes), Python of
    ``bundling.BYTECODE_RUNTIME`` with bytecode compiled ahead of time, X-Ray tracing (one
    reserved concurrent execution with ``reserved_concurrency``), a KMS-encrypted dead-letter
    queue and environment, a KMS-encrypted log group, in the VPC behind a security group that
    lets only HTTPS out. Its role may start queries on the access log group only,
    publish to the alert topic, read and write its own state and alert markers, read the model,
    read and write the auto-block records and IP sets.

    The model fitter (``fitter``) is hardened the same way, in the same subnets behind its own
    security group, on an hourly schedule; its role may read the monitor's state and write the
    model (``model/``) only.

    :param access_log_group: the API's access log group (the pinned JSON format).
    :param key: the KMS key of the bucket, the log group, the queue and the environment.
    :param alert_topic: where alerts go (``EndpointAlarms.topic``).
    :param vpc: where the function runs; its subnets need endpoints for CloudWatch Logs, SNS,
        WAF (``INTERFACE_ENDPOINTS``), S3 and DynamoDB.
    :param vpc_subnets: the function's subnets.
    :param block_list: the auto-block records; expired blocks are released every run.
        Default: - none: no block is written or released
    :param auto_block_ip_sets: the WAF's auto-block IP sets (IPv4, IPv6), with ``block_list``.
        Default: - none
    :param auto_block: block anomalous addresses, not only alert. Default: - false (alert only)
    :param protected_cidrs: addresses never blocked (the allowlist). Default: - none
    :param api_keys: each client's API key by client name, for ``options.disable_api_keys``.
        Default: - none (required with ``disable_api_keys``)
    :param app_clients: each client's Cognito app client by the same names, for
        ``options.disable_api_keys``. Default: - none (required with ``disable_api_keys``)
    :param options: schedule, baseline and limits. Default: - ``MonitorOptions()``
    :param log_retention: Default: - one year
    :param bundling_cache_dir: where bundled Lambda code is cached.
        Default: - ``$SECURE_ENDPOINT_CACHE_DIR``, else the per-user cache
        (``bundling.resolve_cache_dir``)
    :param reserved_concurrency: reserve 1 concurrent execution (runs never overlap). Lambda keeps
        at least 100 of the account's concurrency unreserved, so reservations need an account quota
        of at least 100 plus all of them (new accounts may start at 10: raise it in Service Quotas
        first). Default: - false; a run that outlasts the schedule's interval may overlap the next,
        and runs share the account's unreserved pool
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        access_log_group: logs.ILogGroup,
        key: kms.IKey,
        alert_topic: sns.ITopic,
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection,
        block_list: BlockListTable | None = None,
        auto_block_ip_sets: Sequence[wafv2.CfnIPSet] = (),
        auto_block: bool = False,
        protected_cidrs: Sequence[str] = (),
        api_keys: Mapping[str, apigw.IApiKey] | None = None,
        app_clients: Mapping[str, cognito.IUserPoolClient] | None = None,
        options: MonitorOptions | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        bundling_cache_dir: Path | None = None,
        reserved_concurrency: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.node.set_context(_S3_LOGS_USE_BUCKET_POLICY, True)
        opts = options or MonitorOptions()
        if not isinstance(opts, MonitorOptions):
            raise ValueError(f"options must be a MonitorOptions, got {opts!r}")
        settings = _settings(opts, auto_block)
        if auto_block and (block_list is None or not auto_block_ip_sets):
            raise ValueError(
                "auto_block needs block_list and auto_block_ip_sets (the web ACL's auto-block "
                "IP sets); a brought web_acl has none: use alert-only monitoring"
            )
        if opts.disable_api_keys and not (api_keys and app_clients):
            raise ValueError(
                "options.disable_api_keys needs api_keys and app_clients (each client's API key "
                f"and Cognito app client by name), got api_keys={api_keys!r}, "
                f"app_clients={app_clients!r}"
            )
        protected = [str(n) for n in check.cidrs("protected_cidrs", list(protected_cidrs))]
        window_seconds = int(str(settings["window_seconds"]))
        self.schedule = Duration.seconds(window_seconds)
        stack = Stack.of(self)
        self.service_name = build.service_name(self, SERVICE)
        """The monitor's Powertools service: the ``service`` dimension of its metrics, unique
        to this monitor (``anomaly-monitor-<path>-<hash>``)."""
        self.fitter_service_name = build.service_name(self, FITTER_SERVICE)
        """The model fitter's, after the same monitor (``anomaly-model-fitter-<path>-<hash>``)."""

        self.access_log_bucket, self.state_bucket = self._buckets(key)
        self.log_group = logs.LogGroup(self, "Logs", encryption_key=key, retention=log_retention)
        self.dead_letter_queue = build.dead_letter_queue(
            self, "DeadLetters", key=key, owner="the anomaly monitor"
        )
        self.role = build.lambda_role(
            self, "Role", description="Runs the secure-endpoint anomaly monitor", in_vpc=True
        )
        self.responder: ApiKeyResponder | None = None
        if opts.disable_api_keys and api_keys and app_clients:
            Annotations.of(self).add_warning_v2(
                "secure-endpoint:disable-api-keys",
                "The anomaly monitor disables the API key of every client it would block "
                "(MonitorOptions(disable_api_keys=True)): a false positive locks that partner out "
                "until an operator re-enables its key (aws apigateway update-api-key --api-key "
                "<id> --patch-operations op=replace,path=/enabled,value=true).",
            )
            self.responder = ApiKeyResponder(
                self,
                "ApiKeyResponder",
                api_keys=api_keys,
                app_clients=app_clients,
                requester=self.role,
                key=key,
                alert_topic=alert_topic,
                log_retention=log_retention,
                bundling_cache_dir=bundling_cache_dir,
                reserved_concurrency=reserved_concurrency,
            )
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Anomaly monitor: no inbound; HTTPS out to the VPC endpoints only",
            allow_all_outbound=False,
        )
        # S3 and DynamoDB gateway endpoints are addressed by the services' public ranges, so a
        # rule for the VPC range alone would cut them off; the subnets have no internet route.
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(),
            ec2.Port.tcp(443),
            "HTTPS to the interface endpoints and the S3 and DynamoDB gateway endpoints",
        )
        self.function = build.hardened_function(
            self,
            "Function",
            package=MONITOR_PACKAGE,
            code=lambda_code(
                MONITOR_PACKAGE,
                resolve_cache_dir(bundling_cache_dir),
                include_runtime=True,
                prune=True,
            ),
            description="Scores API clients and addresses from the access logs; alerts, blocks",
            runtime=runtime(MONITOR_PACKAGE),
            role=self.role,
            key=key,
            log_group=self.log_group,
            dead_letter_queue=self.dead_letter_queue,
            reserved_concurrent_executions=1 if reserved_concurrency else None,
            memory_size=MEMORY_MB,
            timeout=TIMEOUT,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=[self.security_group],
            # One retry: a run is idempotent (a window already committed is a no-op); a run
            # older than the schedule is dropped, the next one reads the windows it missed.
            retry_attempts=1,
            max_event_age=Duration.seconds(window_seconds),
            environment={
                "ACCESS_LOG_GROUP": access_log_group.log_group_name,
                "STATE_BUCKET": self.state_bucket.bucket_name,
                "ALERT_TOPIC_ARN": alert_topic.topic_arn,
                "BLOCK_TABLE_NAME": block_list.table_name if block_list is not None else "",
                "AUTO_BLOCK_SET_ARNS": stack.to_json_string(
                    {
                        str(version): ip_set.attr_arn
                        for version, ip_set in zip((4, 6), auto_block_ip_sets, strict=False)
                    }
                    if block_list is not None
                    else {}
                ),
                "PROTECTED_CIDRS": stack.to_json_string(protected),
                "MONITOR_SETTINGS": stack.to_json_string(settings),
                "API_KEY_REQUEST_TOPIC_ARN": (
                    self.responder.topic.topic_arn if self.responder is not None else ""
                ),
                "POWERTOOLS_SERVICE_NAME": self.service_name,
            },
        )
        self.fitter = self._fitter(
            key=key,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            settings=stack.to_json_string(settings),
            log_retention=log_retention,
            bundling_cache_dir=bundling_cache_dir,
            reserved_concurrency=reserved_concurrency,
        )
        self._grant(access_log_group, key, alert_topic, block_list, auto_block_ip_sets)
        self._grant_fitter(key)
        self._one_writer_per_prefix()
        self.rule = events.Rule(
            self,
            "Schedule",
            description="Runs the secure-endpoint anomaly monitor",
            schedule=events.Schedule.rate(self.schedule),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=2,
                    max_event_age=Duration.seconds(window_seconds),
                )
            ],
        )
        build.allow_rule_dead_letters(key)
        self._acknowledge()

    # --- metrics ---------------------------------------------------------------------------

    def metric_anomalous_principals(self, **options: Any) -> cloudwatch.Metric:
        """Clients and addresses found anomalous, summed per period: the monitor's own anomaly
        metric.

        :param options: ``cloudwatch.MetricOptions`` fields (``period``, ``statistic``,
            ``label``, ``unit``, ...). Default: - Sum per the schedule
        """
        return self._metric("AnomalousPrincipals", cloudwatch.Stats.SUM, options)

    def metric_max_address_score(self, **options: Any) -> cloudwatch.Metric:
        """The highest score of an address in a run.

        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Maximum per the schedule
        """
        return self._metric("MaxAddressScore", cloudwatch.Stats.MAXIMUM, options)

    def metric_client_score(self, client: str, **options: Any) -> cloudwatch.Metric:
        """One client's anomaly score.

        :param client: the ``ApiClient.name``.
        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Maximum per the schedule
        """
        return self._metric("AnomalyScore", cloudwatch.Stats.MAXIMUM, options, client=client)

    def metric_unparseable_log_lines(self, **options: Any) -> cloudwatch.Metric:
        """Access-log lines of the scored windows with no pinned field (not JSON, or another
        format), summed per period: requests the monitor cannot see.

        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Sum per the schedule
        """
        return self._metric("UnparseableLogLines", cloudwatch.Stats.SUM, options)

    def metric_active_blocks(self, **options: Any) -> cloudwatch.Metric:
        """Addresses on the auto-block list at the end of a run.

        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Maximum per the schedule
        """
        return self._metric("ActiveBlocks", cloudwatch.Stats.MAXIMUM, options)

    def _metric(
        self, name: str, statistic: str, options: dict[str, Any], client: str | None = None
    ) -> cloudwatch.Metric:
        dimensions = {"service": self.service_name} | (
            {"Client": client} if client is not None else {}
        )
        return metrics.metric(
            METRICS_NAMESPACE, name, dimensions, options, statistic=statistic, period=self.schedule
        )

    def widgets(self) -> list[cloudwatch.IWidget]:
        """Dashboard widgets: top anomalous clients and addresses, currently blocked addresses,
        and the monitor's own numbers."""
        log_group = self.log_group.log_group_name
        return [
            cloudwatch.LogQueryWidget(
                title="Top anomalous clients and addresses (anomaly monitor)",
                log_group_names=[log_group],
                query_lines=[
                    'filter message = "anomalous"',
                    "stats max(score) as topScore, count(*) as runs, latest(action) as action "
                    "by principal, kind",
                    "sort topScore desc",
                    "limit 20",
                ],
                view=cloudwatch.LogQueryVisualizationType.TABLE,
                width=12,
            ),
            cloudwatch.LogQueryWidget(
                title="Blocked addresses (as of the monitor's last runs)",
                log_group_names=[log_group],
                query_lines=[
                    'filter message = "blocked address"',
                    "stats latest(expiresAt) as expiresAt, latest(reason) as reason by address",
                    "sort expiresAt desc",
                    "limit 50",
                ],
                view=cloudwatch.LogQueryVisualizationType.TABLE,
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Anomaly monitor: anomalous principals, active blocks",
                left=[self.metric_anomalous_principals()],
                right=[self.metric_active_blocks()],
                width=24,
            ),
        ]

    # --- private ---------------------------------------------------------------------------

    def _buckets(self, key: kms.IKey) -> tuple[s3.Bucket, s3.Bucket]:
        access_logs = build.access_log_bucket(
            self, "StateAccessLogs", expiration=_ACCESS_LOG_RETENTION
        )
        state = build.encrypted_bucket(
            self,
            "State",
            key=key,
            access_logs=access_logs,
            access_logs_prefix="monitor-state/",
            lifecycle_rules=[
                # the pointer names the newest history: older ones are unreferenced
                s3.LifecycleRule(prefix="state/history/", expiration=Duration.days(8)),
                s3.LifecycleRule(prefix="alerts/", expiration=Duration.days(2)),
                s3.LifecycleRule(prefix="model/", expiration=Duration.days(30)),
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(7),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
            ],
        )
        return access_logs, state

    def _grant(
        self,
        access_log_group: logs.ILogGroup,
        key: kms.IKey,
        alert_topic: sns.ITopic,
        block_list: BlockListTable | None,
        auto_block_ip_sets: Sequence[wafv2.CfnIPSet],
    ) -> None:
        role = self.role
        self.log_group.grant_write(role)
        # The same two actions let SNS encrypt for the topic; S3 for the state.
        build.allow_dead_letter_sends(key, role)
        # Its own state and alert markers, read and written; the model, read only (the fitter
        # writes it). ListBucket makes a missing key read as 404 (the first run, no model yet).
        self._grant_objects(role, "s3:GetObject", (STATE_PREFIX, ALERT_PREFIX, MODEL_PREFIX))
        self._grant_objects(role, "s3:PutObject", (STATE_PREFIX, ALERT_PREFIX))
        self._grant_list(role)
        alert_topic.grant_publish(role)
        iam.Grant.add_to_principal(
            grantee=role,
            actions=["logs:StartQuery"],
            resource_arns=[access_log_group.log_group_arn],
        )
        # GetQueryResults and StopQuery take a query id and support no resource-level scoping.
        iam.Grant.add_to_principal(
            grantee=role,
            actions=["logs:GetQueryResults", "logs:StopQuery"],
            resource_arns=["*"],
        )
        if block_list is not None:
            block_list.grant_read_write(role)
            iam.Grant.add_to_principal(
                grantee=role,
                actions=["wafv2:GetIPSet", "wafv2:UpdateIPSet"],
                resource_arns=[ip_set.attr_arn for ip_set in auto_block_ip_sets],
            )
        build.depend_on_grants(self.function, self.role)

    def _fitter(
        self,
        *,
        key: kms.IKey,
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection,
        settings: str,
        log_retention: logs.RetentionDays,
        bundling_cache_dir: Path | None,
        reserved_concurrency: bool,
    ) -> lambda_.Function:
        """The model fitter: built like the monitor, in its subnets, run hourly. A run is
        idempotent (the model is content-addressed, the pointer names it last)."""
        fitter = build.scheduled_function_in_vpc(
            Construct(self, "ModelFitter"),
            name="anomaly model fitter",
            key=key,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            log_retention=log_retention,
            schedule=FITTER_SCHEDULE,
            package=FITTER_PACKAGE,
            code=lambda_code(
                FITTER_PACKAGE,
                resolve_cache_dir(bundling_cache_dir),
                include_runtime=True,
                prune=True,
                also=(MONITOR_PACKAGE,),
            ),
            description="Fits the anomaly monitor's Isolation Forests on its committed history",
            runtime=runtime(FITTER_PACKAGE),
            reserved_concurrent_executions=1 if reserved_concurrency else None,
            memory_size=FITTER_MEMORY_MB,
            timeout=FITTER_TIMEOUT,
            environment={
                "STATE_BUCKET": self.state_bucket.bucket_name,
                "MONITOR_SETTINGS": settings,
                "POWERTOOLS_SERVICE_NAME": self.fitter_service_name,
            },
        )
        self.fitter_log_group = fitter.log_group
        self.fitter_dead_letter_queue = fitter.dead_letter_queue
        self.fitter_role = fitter.role
        self.fitter_security_group = fitter.security_group
        self.fitter_rule = fitter.rule
        return fitter.function

    def _grant_fitter(self, key: kms.IKey) -> None:
        """The fitter reads the monitor's committed pointer and history and the model; it
        writes the model and its pointer (``model/``) only."""
        role = self.fitter_role
        self.fitter_log_group.grant_write(role)
        # Dead-letter sends (SQS), and SSE-KMS reads and writes of the state bucket.
        build.allow_dead_letter_sends(key, role)
        self._grant_objects(role, "s3:GetObject", (STATE_PREFIX, MODEL_PREFIX))
        self._grant_objects(role, "s3:PutObject", (MODEL_PREFIX,))
        self._grant_list(role)
        build.depend_on_grants(self.fitter, self.fitter_role)

    def _grant_objects(self, role: iam.IRole, action: str, prefixes: Sequence[str]) -> None:
        iam.Grant.add_to_principal(
            grantee=role,
            actions=[action],
            resource_arns=[self.state_bucket.arn_for_objects(f"{p}*") for p in prefixes],
        )

    def _grant_list(self, role: iam.IRole) -> None:
        iam.Grant.add_to_principal(
            grantee=role, actions=["s3:ListBucket"], resource_arns=[self.state_bucket.bucket_arn]
        )

    def _one_writer_per_prefix(self) -> None:
        """Nobody but the fitter's role writes or deletes ``model/`` objects, nobody but the
        monitor's role any other: a model or history a function loads was written by the one
        function that writes it (and is checked against its digest anyway)."""
        actions = ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"]
        models = self.state_bucket.arn_for_objects(f"{MODEL_PREFIX}*")
        self.state_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlyTheMonitorWritesState",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=actions,
                not_resources=[models],
                conditions={"ArnNotEquals": {"aws:PrincipalArn": self.role.role_arn}},
            )
        )
        self.state_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlyTheFitterWritesModels",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=actions,
                resources=[models],
                conditions={"ArnNotEquals": {"aws:PrincipalArn": self.fitter_role.role_arn}},
            )
        )

    def _acknowledge(self) -> None:
        stack = Stack.of(self)
        bucket_id = stack.resolve(stack.get_logical_id(self.state_bucket.node.default_child))  # type: ignore[arg-type]
        compliance.acknowledge(
            self.role,
            "Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, and Logs "
            "Insights' GetQueryResults and StopQuery take only a query id: none of them supports "
            "resource-level permissions. StartQuery is held to the access log group.",
            "AwsSolutions-IAM5[Resource::*]",
        )
        state = f"<{bucket_id}.Arn>"
        compliance.acknowledge(
            self.role,
            "Object keys the monitor names per run under its own bucket's prefixes: history "
            "objects by window end and digest (state/history/), its pointer (state/), one alert "
            "marker per window (alerts/), and the fitter's models by digest (model/). Only "
            "s3:GetObject on the three and s3:PutObject on state/ and alerts/; the bucket policy "
            "denies it every write under model/.",
            f"AwsSolutions-IAM5[Resource::{state}/{STATE_PREFIX}*]",
            f"AwsSolutions-IAM5[Resource::{state}/{ALERT_PREFIX}*]",
            f"AwsSolutions-IAM5[Resource::{state}/{MODEL_PREFIX}*]",
        )
        compliance.acknowledge(
            self.role,
            "CDK's publish grant on the alert topic, which the project key encrypts: SNS needs "
            "kms:GenerateDataKey* and kms:Decrypt on that one key to encrypt each alert.",
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
        )
        compliance.acknowledge(
            self.fitter_role,
            "Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which "
            "support no resource-level permissions.",
            "AwsSolutions-IAM5[Resource::*]",
        )
        compliance.acknowledge(
            self.fitter_role,
            "The monitor's committed history has generated names (state/history/<window end>-"
            "<digest>.bin, named by state/pointer.json) and the models the fitter writes are "
            "named by their digest (model/<sha256>.bin, named by model/current.json): "
            "s3:GetObject on state/ and model/, s3:PutObject on model/ only; the bucket policy "
            "denies it every write outside model/.",
            f"AwsSolutions-IAM5[Resource::{state}/{STATE_PREFIX}*]",
            f"AwsSolutions-IAM5[Resource::{state}/{MODEL_PREFIX}*]",
        )
        build.acknowledge_invoke_config(self.function)
        build.acknowledge_invoke_config(self.fitter)
        for function in (self.function, self.fitter):
            compliance.acknowledge(
                function,
                f"{function.runtime.name}, one version behind the newest Python runtime, on "
                "purpose: the bundle ships bytecode compiled ahead of time by that exact Python "
                "on the build machine (none is available for the newest), which cuts the cold "
                "imports of numpy (the monitor's scoring) and scikit-learn (the fitter's) two- "
                "to fourfold (benchmarks/bundles.py). The runtime is supported and patched by "
                "AWS; the other functions run on the newest.",
                "AwsSolutions-L1",
                "Serverless-LambdaLatestVersion",
            )
        for target, what in (
            (self.state_bucket, "the fitter's model and a week of per-client aggregates"),
            (self.access_log_bucket, "who read and wrote the monitor's state"),
        ):
            build.acknowledge_no_replication(
                target,
                f"This bucket holds {what}, versioned and expired by lifecycle rules; all of it "
                "is rebuilt from the access logs by the next runs (the model is refitted, the "
                "history re-read), so a replica in a second Region would add nothing to recover.",
            )


def _seconds(name: str, value: Duration | None, default: Duration, low: int, high: int) -> int:
    duration = value if value is not None else default
    if not isinstance(duration, Duration):
        raise ValueError(f"{name} must be a Duration, like Duration.hours(1), got {duration!r}")
    if Token.is_unresolved(duration.to_string()):
        raise ValueError(f"{name} must be a literal Duration, got a token")
    seconds = duration.to_seconds(integral=False)
    if not low <= seconds <= high or seconds % 60:
        raise ValueError(
            f"{name} must be whole minutes from {check.human_seconds(low)} to "
            f"{check.human_seconds(high)}, "
            f"got {duration.to_human_string()}"
        )
    return int(seconds)


def _settings(options: MonitorOptions, auto_block: bool) -> dict[str, object]:
    """The function's ``MONITOR_SETTINGS``, checked (``anomaly_monitor.config.Settings``).

    Messages name the fields as ``SecureEndpoint(monitor_options=...)`` users write them.
    """
    day, week = 86_400, 7 * 86_400
    window = _seconds("monitor_options.schedule", options.schedule, Duration.minutes(5), 300, 3600)
    baseline = _seconds(
        "monitor_options.baseline", options.baseline, Duration.hours(24), 3600, week
    )
    history = _seconds("monitor_options.history", options.history, Duration.hours(24), window, week)
    retrain = _seconds(
        "monitor_options.retrain_every", options.retrain_every, Duration.hours(24), 3600, week
    )
    ttl = _seconds("monitor_options.block_ttl", options.block_ttl, Duration.hours(1), 60, 30 * day)
    if baseline % window:
        raise ValueError(
            f"monitor_options.baseline ({baseline} s) must be a whole number of schedule windows "
            f"({window} s)"
        )
    check.int_range("monitor_options.max_blocks_per_run", options.max_blocks_per_run, 1, 100)
    quantile = options.alert_quantile
    if (
        isinstance(quantile, bool)
        or not isinstance(quantile, int | float)
        or not (0.9 <= quantile < 1)
    ):
        raise ValueError(
            f"monitor_options.alert_quantile must be from 0.9 to below 1, got {quantile!r}"
        )
    if options.daily_quota is not None:
        check.int_range("monitor_options.daily_quota", options.daily_quota, 1, 10**12)
    check.int_range("monitor_options.random_state", options.random_state, 0, 2**32 - 1)
    check.int_range(
        "monitor_options.max_key_disables_per_run", options.max_key_disables_per_run, 1, 100
    )
    if not isinstance(options.disable_api_keys, bool):
        raise ValueError(
            "monitor_options.disable_api_keys must be True or False, "
            f"got {options.disable_api_keys!r}"
        )
    if not isinstance(auto_block, bool):
        raise ValueError(f"auto_block must be True or False, got {auto_block!r}")
    if options.disable_api_keys and not auto_block:
        raise ValueError(
            "MonitorOptions(disable_api_keys=True) needs auto_block=True: a client's API key is "
            "disabled only where the monitor acts on its findings, got auto_block=False"
        )
    return {
        "window_seconds": window,
        "baseline_seconds": baseline,
        "history_seconds": history,
        "keep_seconds": week,
        "retrain_seconds": retrain,
        "block_ttl_seconds": ttl,
        "max_blocks_per_run": options.max_blocks_per_run,
        "alert_quantile": float(quantile),
        "daily_quota": options.daily_quota,
        "random_state": options.random_state,
        "auto_block": auto_block,
        "disable_api_keys": options.disable_api_keys,
        "max_key_disables_per_run": options.max_key_disables_per_run,
    }

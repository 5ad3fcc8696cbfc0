"""The quarantine responder: quarantines the clients the payload monitor flags, outside the VPC.

The drift monitor's payload half runs in the endpoint's isolated VPC, and API Gateway's
management API has no VPC endpoint, so with ``auto_quarantine`` it publishes a request per
client to a topic of this construct's, which only the monitor's role may publish to. The
function (``lambdas/quarantine_responder``), outside any VPC, checks each request and moves the
client's API key to the quarantine usage plan (``QuarantinePlan``) through
``secure_endpoint.runtime.quarantine``, alerting the alert topic; every 15 minutes it releases
the quarantines whose TTL ended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from secure_endpoint.constructs import _building as build
from secure_endpoint.constructs import _metrics as metrics
from secure_endpoint.constructs.bundling import lambda_code, resolve_cache_dir
from secure_endpoint.constructs.quarantine import QuarantinePlan

PACKAGE = "quarantine_responder"
SERVICE = "quarantine-responder"
NAMESPACE = "SecureEndpoint/Payload"
ACTION = "quarantine-client"
"""The ``action`` message attribute of a request (``lambdas/drift_monitor/payload.py``)."""
SWEEP = Duration.minutes(15)
"""How often expired quarantines are released: a quarantine lasts at most this much longer
than its TTL."""
MEMORY_MB = 256
TIMEOUT = Duration.seconds(120)


class QuarantineResponder(Construct):
    """A request topic and the hardened function that quarantines the clients it names.

    The topic is KMS-encrypted, TLS only, and its policy denies ``sns:Publish`` to every
    principal but ``requester``; the subscription filters on ``action=quarantine-client``. The
    function: pinned memory (256 MB) and timeout (2 minutes), X-Ray, a KMS-encrypted
    dead-letter queue, environment and log group, one reserved concurrent execution with
    ``reserved_concurrency``; outside any VPC. Its role may do exactly what
    ``QuarantinePlan.grant_quarantine`` allows on the clients' keys and plans, and publish to
    the alert topic.

    :param api_keys: each client's API key, by client name.
    :param usage_plans: each client's own usage plan, by the same names.
    :param app_clients: each client's Cognito app client, by the same names (requests name the
        client id).
    :param quarantine_plan: where quarantined keys go.
    :param requester: the only principal that may publish requests (the drift monitor's role);
        it must be allowed to use ``key`` (``kms:GenerateDataKey``, ``kms:Decrypt``).
    :param key: the KMS key of the topic, the queue, the environment and the log group.
    :param alert_topic: where each quarantine is told.
    :param ttl_seconds: the longest quarantine a request may ask for (``AutoQuarantine.ttl``).
    :param never_quarantine: client names never to quarantine. Default: - none
    :param max_per_run: new quarantines an invocation may start. Default: - 3
    :param log_retention: Default: - one year
    :param bundling_cache_dir: Default: - ``bundling.resolve_cache_dir``
    :param reserved_concurrency: reserve 1 concurrent execution. Default: - false
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api_keys: Mapping[str, apigw.IApiKey],
        usage_plans: Mapping[str, apigw.IUsagePlan],
        app_clients: Mapping[str, cognito.IUserPoolClient],
        quarantine_plan: QuarantinePlan,
        requester: iam.IRole,
        key: kms.IKey,
        alert_topic: sns.ITopic,
        ttl_seconds: int,
        never_quarantine: Sequence[str] = (),
        max_per_run: int = 3,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        bundling_cache_dir: Path | None = None,
        reserved_concurrency: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        if not api_keys or not set(api_keys) == set(app_clients) == set(usage_plans):
            raise ValueError(
                "api_keys, usage_plans and app_clients must name the same clients, at least one, "
                f"got {sorted(api_keys)}, {sorted(usage_plans)} and {sorted(app_clients)}"
            )
        stack = Stack.of(self)
        built = build.request_responder(
            self,
            package=PACKAGE,
            code=lambda_code(PACKAGE, resolve_cache_dir(bundling_cache_dir), include_runtime=True),
            service=SERVICE,
            owner="the quarantine responder",
            action=ACTION,
            requester=requester,
            key=key,
            alert_topic=alert_topic,
            api_keys=api_keys,
            app_clients=app_clients,
            topic_name="secure-endpoint quarantine requests",
            role_description="Quarantines the clients the secure-endpoint payload monitor names",
            function_description="Quarantines the clients the payload monitor asks it to",
            outside_vpc=(
                "API Gateway's management API (usage plan keys, API keys) has no VPC endpoint, "
                "and the endpoint's VPC is isolated without NAT by design, so this function "
                "runs outside any VPC. It is invoked only by its request topic, which only the "
                "drift monitor's role may publish to, and by its sweep schedule, and may only "
                "move the clients' keys between their own plans and the quarantine plan."
            ),
            traced="the clients' API keys and usage plans, the quarantine plan, the alert topic",
            environment={
                "NEVER_QUARANTINE": stack.to_json_string(sorted(never_quarantine)),
                "MAX_PER_RUN": str(max_per_run),
                "MAX_TTL_SECONDS": str(ttl_seconds),
                "QUARANTINE_PLAN_ID": quarantine_plan.usage_plan_id,
            },
            log_retention=log_retention,
            reserved_concurrency=reserved_concurrency,
            memory_size=MEMORY_MB,
            timeout=TIMEOUT,
        )
        self.topic, self.log_group = built.topic, built.log_group
        self.dead_letter_queue, self.role = built.dead_letter_queue, built.role
        self.function, self.subscription = built.function, built.subscription
        self.service_name = built.service_name
        quarantine_plan.grant_quarantine(self.role, api_keys=api_keys, usage_plans=usage_plans)
        self.sweep = events.Rule(
            self,
            "Sweep",
            description="Releases the quarantines whose TTL ended",
            schedule=events.Schedule.rate(SWEEP),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=2,
                    max_event_age=SWEEP,
                )
            ],
        )
        build.allow_rule_dead_letters(key)

    def metric_clients_quarantined(self, **options: Any) -> cloudwatch.Metric:
        """``ClientsQuarantined``: new quarantines.

        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Sum per hour
        """
        return metrics.metric(
            NAMESPACE,
            "ClientsQuarantined",
            {"service": self.service_name},
            options,
            statistic=cloudwatch.Stats.SUM,
            period=Duration.hours(1),
        )

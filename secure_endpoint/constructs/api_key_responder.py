"""The API key responder: disables a client's API key when the anomaly monitor asks it to.

The anomaly monitor runs in the endpoint's isolated VPC, and API Gateway's management API has no
VPC endpoint (``execute-api`` serves invocations only), so the monitor cannot call
``apigateway:UpdateApiKey`` itself. With ``MonitorOptions(disable_api_keys=True)`` it publishes a
request per blocking client (the Cognito client id and the window) to a topic of its own, which
only the monitor's role may publish to; this small function, outside the VPC, is subscribed to it,
checks the request against the clients it knows, and disables that client's key (never enabling
one), then says so in the alert topic with the command that re-enables it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from secure_endpoint.constructs import _building as build
from secure_endpoint.constructs import _metrics as metrics
from secure_endpoint.constructs.bundling import lambda_code, resolve_cache_dir

RESPONDER_PACKAGE = "api_key_responder"
# What the function's Powertools service name starts with (each responder's ends with its own
# path: ``service_name``), and its metrics namespace (lambdas/api_key_responder).
SERVICE = "api-key-responder"
METRICS_NAMESPACE = "SecureEndpoint/Anomaly"
DISABLE_API_KEY = "disable-api-key"
"""The ``action`` message attribute of a request (``anomaly_monitor.findings``)."""
MEMORY_MB = 256
TIMEOUT = Duration.seconds(60)


class ApiKeyResponder(Construct):
    """A request topic and the hardened function that disables the API keys it names.

    The topic is KMS-encrypted, TLS only, and its policy denies ``sns:Publish`` to every
    principal but ``requester``; the function's subscription also filters on the message
    attribute ``action=disable-api-key``. The function: pinned memory (256 MB) and timeout
    (1 minute), Python of ``bundling.RUNTIME``, X-Ray, one reserved concurrent execution
    with ``reserved_concurrency``, a
    KMS-encrypted dead-letter queue, environment and log group; outside any VPC. Its role may
    read and update exactly the clients' API keys (``apigateway:GET`` and ``apigateway:PATCH`` on
    ``arn:aws:apigateway:<region>::/apikeys/<id>``) and publish to the alert topic. A disable marks
    the key's description as owing its alert until the alert is out, so that a retry after a
    failed publish still alerts (at least once) without disabling again.

    :param api_keys: each client's API key, by client name.
    :param app_clients: each client's Cognito app client, by the same names; its client id is
        what the access logs and the monitor's requests name.
    :param requester: the only principal that may publish requests (the monitor's role); it
        must be allowed to use ``key`` (``kms:GenerateDataKey``, ``kms:Decrypt``).
    :param key: the KMS key of the topic, the queue, the environment and the log group.
    :param alert_topic: where the function says which key it disabled and how to re-enable it.
    :param log_retention: Default: - one year
    :param bundling_cache_dir: where bundled Lambda code is cached.
        Default: - ``$SECURE_ENDPOINT_CACHE_DIR``, else the per-user cache
        (``bundling.resolve_cache_dir``)
    :param reserved_concurrency: reserve 1 concurrent execution (one disable at a time). Lambda
        keeps at least 100 of the account's concurrency unreserved, so reservations need an account
        quota of at least 100 plus all of them (new accounts may start at 10: raise it in Service
        Quotas first). Default: - false; runs share the account's unreserved pool
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api_keys: Mapping[str, apigw.IApiKey],
        app_clients: Mapping[str, cognito.IUserPoolClient],
        requester: iam.IRole,
        key: kms.IKey,
        alert_topic: sns.ITopic,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        bundling_cache_dir: Path | None = None,
        reserved_concurrency: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        if not api_keys or set(api_keys) != set(app_clients):
            raise ValueError(
                "api_keys and app_clients must name the same clients, at least one, got "
                f"api_keys for {sorted(api_keys)} and app_clients for {sorted(app_clients)}"
            )
        stack = Stack.of(self)
        names = sorted(api_keys)
        built = build.request_responder(
            self,
            package=RESPONDER_PACKAGE,
            # the runtime for its Powertools set-up (secure_endpoint.runtime.powertools)
            code=lambda_code(
                RESPONDER_PACKAGE, resolve_cache_dir(bundling_cache_dir), include_runtime=True
            ),
            service=SERVICE,
            owner="the API key responder",
            action=DISABLE_API_KEY,
            requester=requester,
            key=key,
            alert_topic=alert_topic,
            api_keys=api_keys,
            app_clients=app_clients,
            topic_name="secure-endpoint API key disable requests",
            role_description="Disables the API keys the secure-endpoint anomaly monitor names",
            function_description="Disables the API keys the anomaly monitor asks it to",
            outside_vpc=(
                "API Gateway's management API (apigateway:PATCH on /apikeys) has no VPC "
                "endpoint, and the endpoint's VPC is isolated without NAT by design, so this "
                "function runs outside any VPC. It is invoked only by its request topic, which "
                "only the anomaly monitor's role may publish to, and may only read and disable "
                "the clients' API keys."
            ),
            traced="the clients' API keys, the alert topic, the log group, the project key",
            environment={},
            log_retention=log_retention,
            reserved_concurrency=reserved_concurrency,
            memory_size=MEMORY_MB,
            timeout=TIMEOUT,
        )
        self.topic, self.log_group = built.topic, built.log_group
        self.dead_letter_queue, self.role = built.dead_letter_queue, built.role
        self.function, self.subscription = built.function, built.subscription
        self.service_name = built.service_name
        """The function's Powertools service: the ``service`` dimension of its metrics, unique
        to this responder (``api-key-responder-<path>-<hash>``)."""
        self.api_key_arns = [
            f"arn:{stack.partition}:apigateway:{stack.region}::/apikeys/{api_keys[n].key_id}"
            for n in names
        ]
        # GET to see whether a key is enabled (a disabled key is left alone) and whether its
        # alert is still owed, PATCH to disable it and mark its description in the same call.
        iam.Grant.add_to_principal(
            grantee=self.role,
            actions=["apigateway:GET", "apigateway:PATCH"],
            resource_arns=self.api_key_arns,
        )

    def metric_keys_disabled(self, **options: Any) -> cloudwatch.Metric:
        """API keys the responder disabled.

        :param options: ``cloudwatch.MetricOptions`` fields (``period``, ``statistic``,
            ``label``, ...). Default: - Sum per 5 minutes
        """
        return metrics.metric(
            METRICS_NAMESPACE,
            "KeysDisabled",
            {"service": self.service_name},
            options,
            statistic=cloudwatch.Stats.SUM,
            period=Duration.minutes(5),
        )

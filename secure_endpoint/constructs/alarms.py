"""Eyes on the inference path: anomaly-band alarms, plain alarms, a dashboard, one alert topic.

Metrics whose normal level follows the traffic (request counts, errors, latency, WAF blocks) get
a CloudWatch anomaly detector and an alarm on its band: no fixed threshold to guess, and a
band that learns the daily and weekly pattern. Metrics where any value means trouble (the 5XX
rate, a dead-letter queue's depth, a function's errors) get plain threshold alarms. Every alarm
notifies one KMS-encrypted SNS topic and says in its description what it means and where the
runbook section for it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as sns_subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from secure_endpoint.constructs.api import InferenceApi
from secure_endpoint.constructs.edge import WebAclProtection
from secure_endpoint.constructs.hosting import ModelHosting

#: Where alarm descriptions point; set ``runbook_url`` to your own copy (an internal wiki).
DEFAULT_RUNBOOK_URL = "docs/runbook.md in the secure-endpoint repository"
DEFAULT_STD_DEVS = 3.0
DEFAULT_SERVER_ERROR_RATE = 0.05
_PERIOD = Duration.minutes(5)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ANCHOR = re.compile(r"^[a-z0-9-]+$")


class EndpointAlarms(Construct):
    """Anomaly detectors and alarms over the API, the endpoint and the WAF, with a dashboard.

    Anomaly-band alarms (each with its ``AWS::CloudWatch::AnomalyDetector``), over 5-minute
    periods, alarm after 2 of 3 periods outside the band: API requests (above or below),
    4XX and 5XX (above), latency p90 (above), endpoint invocations (above or below), model
    latency p99 (above), and WAF blocked requests (above). A plain alarm watches the share of
    5XX answers. ``add_anomaly_alarm``, ``add_threshold_alarm``, ``watch_dead_letter_queue`` and
    ``watch_function`` add more, such as the anomaly monitor's.

    :param api: the inference API.
    :param hosting: the SageMaker endpoint.
    :param key: encrypts the alert topic; CloudWatch alarms of this account are allowed to use
        it (an imported key must allow ``cloudwatch.amazonaws.com`` ``kms:Decrypt`` and
        ``kms:GenerateDataKey*`` itself).
    :param edge: the web ACL, for its blocked-requests alarm. Default: - none
    :param email_addresses: addresses subscribed to the topic (each confirms by email).
        Default: - none
    :param subscriptions: other subscriptions (SQS, Lambda, HTTPS). Default: - none
    :param std_devs: the width of the anomaly bands in standard deviations, 1 to 10; wider means
        fewer, surer alarms. Default: - 3
    :param server_error_rate: the share of 5XX answers over 5 minutes that alarms, above 0 and
        at most 1. Default: - 0.05
    :param runbook_url: where each alarm's description points, followed by ``#<section>``.
        Default: - ``docs/runbook.md`` of this repository
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: InferenceApi,
        hosting: ModelHosting,
        key: kms.IKey,
        edge: WebAclProtection | None = None,
        email_addresses: Sequence[str] = (),
        subscriptions: Sequence[sns.ITopicSubscription] = (),
        std_devs: float = DEFAULT_STD_DEVS,
        server_error_rate: float = DEFAULT_SERVER_ERROR_RATE,
        runbook_url: str = DEFAULT_RUNBOOK_URL,
    ) -> None:
        super().__init__(scope, construct_id)
        check_emails(email_addresses)
        if not isinstance(std_devs, int | float) or not 1 <= std_devs <= 10:
            raise ValueError(f"std_devs must be a number from 1 to 10, got {std_devs!r}")
        if not isinstance(server_error_rate, int | float) or not 0 < server_error_rate <= 1:
            raise ValueError(
                "server_error_rate must be a share above 0 and at most 1, "
                f"got {server_error_rate!r}"
            )
        if not isinstance(runbook_url, str) or not runbook_url.strip():
            raise ValueError(f"runbook_url must be a non-empty string, got {runbook_url!r}")
        self._std_devs = float(std_devs)
        self._runbook_url = runbook_url

        allow_alarms_to_use(key)
        self.topic = sns.Topic(
            self, "Topic", display_name="secure-endpoint alerts", master_key=key, enforce_ssl=True
        )
        for address in email_addresses:
            self.topic.add_subscription(sns_subscriptions.EmailSubscription(address))
        for subscription in subscriptions:
            self.topic.add_subscription(subscription)
        self._action = cloudwatch_actions.SnsAction(self.topic)
        self.alarms: dict[str, cloudwatch.Alarm] = {}

        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            default_interval=Duration.hours(24),
            period_override=cloudwatch.PeriodOverride.INHERIT,
        )

        both, above = (
            cloudwatch.ComparisonOperator.LESS_THAN_LOWER_OR_GREATER_THAN_UPPER_THRESHOLD,
            cloudwatch.ComparisonOperator.GREATER_THAN_UPPER_THRESHOLD,
        )
        requests = api.metric_count(period=_PERIOD, statistic="Sum")
        client_errors = api.metric_client_error(period=_PERIOD, statistic="Sum")
        server_errors = api.metric_server_error(period=_PERIOD, statistic="Sum")
        self.add_anomaly_alarm(
            "ApiRequests", requests, both, "API requests left their usual band", "api-requests"
        )
        self.add_anomaly_alarm(
            "Api4xx", client_errors, above, "More client errors than usual", "api-4xx"
        )
        self.add_anomaly_alarm(
            "Api5xx", server_errors, above, "More server errors than usual", "api-5xx"
        )
        self.add_anomaly_alarm(
            "ApiLatency",
            api.metric_latency(period=_PERIOD, statistic="p90"),
            above,
            "API latency (p90) is above its usual band",
            "latency",
        )
        self.add_anomaly_alarm(
            "Invocations",
            hosting.metric_invocations(period=_PERIOD),
            both,
            "Endpoint invocations left their usual band",
            "invocations",
        )
        self.add_anomaly_alarm(
            "ModelLatency",
            hosting.metric_model_latency(period=_PERIOD),
            above,
            "Model latency (p99) is above its usual band",
            "latency",
        )
        if edge is not None:
            self.add_anomaly_alarm(
                "WafBlocked",
                edge.metric_blocked_requests(),
                above,
                "The WAF blocks more requests than usual",
                "waf-blocked",
            )
        rate = cloudwatch.MathExpression(
            expression="IF(requests > 0, errors / requests, 0)",
            using_metrics={"errors": server_errors, "requests": requests},
            label="5XX share",
            period=_PERIOD,
        )
        self.add_threshold_alarm(
            "Api5xxRate",
            rate,
            threshold=server_error_rate,
            description=f"More than {server_error_rate:.0%} of API answers are 5XX",
            runbook_section="api-5xx",
        )

        self._add_widgets(api, hosting, edge, requests, client_errors, server_errors)

    # --- alarms ---------------------------------------------------------------------------

    def add_anomaly_alarm(
        self,
        name: str,
        metric: cloudwatch.Metric,
        comparison: cloudwatch.ComparisonOperator,
        description: str,
        runbook_section: str,
    ) -> cloudwatch.Alarm:
        """An anomaly detector for ``metric`` and an alarm on its band (2 of 3 periods out).

        :param name: the alarm's construct id, unique among this construct's alarms.
        :param metric: a plain metric (not math), with its statistic and period.
        :param comparison: one of the three anomaly-band operators.
        :param description: what the alarm means, in one line.
        :param runbook_section: the runbook anchor, lowercase words joined by '-'.
        """
        self._check_new(name, runbook_section)
        assert isinstance(metric, cloudwatch.Metric), "anomaly alarms take plain metrics"
        # The metric's own properties, not to_metric_config(): that answer is a struct whose every
        # field is one more round trip to the CDK's node process (about 19 per alarm, 4 here).
        # Dimensions sorted by name, as to_metric_config lists them.
        dimensions = metric.dimensions or {}
        detector = cloudwatch.CfnAnomalyDetector(
            self,
            f"{name}Detector",
            metric_name=metric.metric_name,
            namespace=metric.namespace,
            stat=metric.statistic,
            dimensions=[
                cloudwatch.CfnAnomalyDetector.DimensionProperty(name=key, value=dimensions[key])
                for key in sorted(dimensions)
            ]
            or None,
        )
        alarm = cloudwatch.AnomalyDetectionAlarm(
            self,
            name,
            metric=metric,
            std_devs=self._std_devs,
            comparison_operator=comparison,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=self._describe(description, runbook_section),
        )
        # The alarm would create a default detector itself if it came first.
        alarm.node.add_dependency(detector)
        return self._register(name, alarm)

    def add_threshold_alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        runbook_section: str,
        evaluation_periods: int = 1,
        treat_missing_data: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> cloudwatch.Alarm:
        """An alarm when ``metric`` is above ``threshold``.

        :param treat_missing_data: BREACHING for a metric whose absence is itself the trouble
            (a check that should report every period). Default: - NOT_BREACHING
        """
        self._check_new(name, runbook_section)
        alarm = cloudwatch.Alarm(
            self,
            name,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=evaluation_periods,
            treat_missing_data=treat_missing_data,
            alarm_description=self._describe(description, runbook_section),
        )
        return self._register(name, alarm)

    def watch_dead_letter_queue(self, name: str, queue: sqs.IQueue, what: str) -> cloudwatch.Alarm:
        """Alarm as soon as ``queue`` holds a message: some run of ``what`` failed for good."""
        return self.add_threshold_alarm(
            name,
            queue.metric_approximate_number_of_messages_visible(
                period=_PERIOD, statistic="Maximum"
            ),
            threshold=0,
            description=f"A failed run of {what} is waiting in its dead-letter queue",
            runbook_section="dead-letter-queue",
        )

    def watch_function(self, name: str, function: lambda_.IFunction, what: str) -> cloudwatch.Alarm:
        """Alarm when ``function`` reports an error in a 5-minute period."""
        return self.add_threshold_alarm(
            name,
            function.metric_errors(period=_PERIOD, statistic="Sum"),
            threshold=0,
            description=f"{what} failed",
            runbook_section="function-errors",
        )

    def _check_new(self, name: str, runbook_section: str) -> None:
        if name in self.alarms:
            raise ValueError(f"an alarm named {name!r} exists already")
        if not _ANCHOR.match(runbook_section):
            raise ValueError(
                "runbook_section must be lowercase letters, digits and '-', "
                f"got {runbook_section!r}"
            )

    def _describe(self, description: str, section: str) -> str:
        return f"{description}. Runbook: {self._runbook_url}#{section}"

    def _register(self, name: str, alarm: cloudwatch.Alarm) -> cloudwatch.Alarm:
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms[name] = alarm
        return alarm

    # --- dashboard ------------------------------------------------------------------------

    def _add_widgets(
        self,
        api: InferenceApi,
        hosting: ModelHosting,
        edge: WebAclProtection | None,
        requests: cloudwatch.IMetric,
        client_errors: cloudwatch.IMetric,
        server_errors: cloudwatch.IMetric,
    ) -> None:
        log_group = api.access_log_group.log_group_name
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Traffic: API requests and endpoint invocations",
                left=[requests, hosting.metric_invocations(period=_PERIOD)],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Errors by class",
                left=[client_errors, server_errors],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Latency percentiles (ms)",
                left=[api.metric_latency(period=_PERIOD, statistic=stat) for stat in ("p50", "p90")]
                + [api.metric_latency(period=_PERIOD, statistic="p99")],
                width=8,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.LogQueryWidget(
                title="Throttled and refused answers by type (access logs)",
                log_group_names=[log_group],
                query_lines=[
                    "fields @timestamp, status, errorType",
                    'filter status like /^4/ and errorType != "-"',
                    "stats count() as answers by errorType, bin(5m)",
                ],
                view=cloudwatch.LogQueryVisualizationType.STACKEDAREA,
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Model latency p99 (µs) and invocations per instance",
                left=[hosting.metric_model_latency(period=_PERIOD)],
                right=[hosting.metric("InvocationsPerInstance", period=_PERIOD, statistic="Sum")],
                width=12,
            ),
        )
        if edge is not None:
            self.dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title="WAF blocks by rule",
                    left=[
                        cloudwatch.MathExpression(
                            expression=(
                                "SEARCH('{AWS/WAFV2,Region,Rule,WebACL} "
                                'MetricName="BlockedRequests" '
                                f"WebACL=\"{edge.web_acl_name}\"', 'Sum', 300)"
                            ),
                            label="",
                            period=_PERIOD,
                        )
                    ],
                    width=12,
                ),
                cloudwatch.LogQueryWidget(
                    title="Top addresses by requests (access logs)",
                    log_group_names=[log_group],
                    query_lines=[
                        "stats count() as requests, "
                        "sum(status like /^4/) as client_errors by sourceIp, clientId",
                        "sort requests desc",
                        "limit 20",
                    ],
                    view=cloudwatch.LogQueryVisualizationType.TABLE,
                    width=12,
                ),
            )
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="Alarms", alarms=list(self.alarms.values()), width=24
            )
        )


def allow_alarms_to_use(key: kms.IKey) -> None:
    """Let CloudWatch alarms of this account publish to topics encrypted with ``key``."""
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsOfThisAccount",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": Stack.of(key).account}},
        ),
        allow_no_op=True,
    )


def check_emails(addresses: Sequence[str], prop: str = "email_addresses") -> None:
    """A list of email addresses; ``prop`` names it as the caller's users write it."""
    if isinstance(addresses, str) or not isinstance(addresses, Sequence):
        raise ValueError(f"{prop} must be a list of email addresses, got {addresses!r}")
    for address in addresses:
        if not isinstance(address, str) or not _EMAIL.match(address):
            raise ValueError(
                f"{prop} must hold addresses like 'oncall@example.com', got {address!r}"
            )

"""``SecureEndpoint``: composes the parts into one secured inference path, and nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from aws_cdk import Annotations, CfnOutput, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from secure_endpoint import manifest
from secure_endpoint.constructs import _building as build
from secure_endpoint.constructs import keys, removal, vpc_endpoints
from secure_endpoint.constructs._props import check_props

if TYPE_CHECKING:  # the opt-in parts are imported when used: a synth without them is faster
    from secure_endpoint.constructs.drift_monitor import AutoQuarantine, DriftMonitor
    from secure_endpoint.constructs.quarantine import QuarantinePlan
    from secure_endpoint.constructs.shield import ShieldAdvancedEdge, ShieldOptions
    from secure_endpoint.constructs.threat_intel import ThreatIntelFeeds
from secure_endpoint.constructs.alarms import DEFAULT_RUNBOOK_URL, EndpointAlarms
from secure_endpoint.constructs.api import CSV, JSON, InferenceApi
from secure_endpoint.constructs.blocklist_store import BlockListTable
from secure_endpoint.constructs.bundling import resolve_cache_dir
from secure_endpoint.constructs.credentials import ClientCredentials
from secure_endpoint.constructs.edge import (
    DEFAULT_RATE_LIMIT_PER_API_KEY,
    DEFAULT_RATE_LIMIT_PER_IP,
    SOURCE_ADDRESS_RULE_GROUPS,
    WafOptions,
    WebAclProtection,
)
from secure_endpoint.constructs.hosting import CAPTURE_PREFIX, ModelHosting
from secure_endpoint.constructs.identity import OAuthIdentity
from secure_endpoint.constructs.images import ContainerImage
from secure_endpoint.constructs.input_constraints import (
    CSV_FORBIDDEN_CHARACTERS,
    InputConstraints,
    InputFormat,
)
from secure_endpoint.constructs.keys import EncryptionKey, allow_logs_to_use
from secure_endpoint.constructs.monitor import AnomalyMonitor, MonitorOptions
from secure_endpoint.constructs.network import IsolatedNetwork
from secure_endpoint.constructs.options import (
    ApiClient,
    ArtifactOptions,
    CustomDomain,
    DataCaptureOptions,
    HostingOptions,
    TlsPolicy,
)
from secure_endpoint.constructs.response_hardening import ResponseHardening

#: The auto-block table's calls of the response commands (secure_endpoint.runtime.blocklist).
INCIDENT_TABLE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:Scan",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)


class SecureEndpoint(Construct):
    """A SageMaker real-time endpoint behind a regional REST API, secured end to end.

    Request path: client -> WAF -> API Gateway (TLS 1.2+/1.3 policy, Cognito OAuth scope, API
    key and usage plan, JSON Schema validation) -> SageMaker runtime (direct AWS integration) ->
    a network-isolated model in private subnets. Everything at rest is encrypted with one
    customer-managed KMS key; each client's credentials live in Secrets Manager and rotate.

    Props are grouped by concern: ``hosting`` (container and capacity), ``artifact`` (the
    artifact's key, signature and checks), ``waf`` (the web ACL's rules), ``shield`` (CloudFront
    and Shield Advanced), ``monitor_options``; docs/props.md lists every prop and its default.

    :param model_data_url: ``s3://bucket/key`` of the model artifact (``model.tar.gz``).
    :param model_sha256: SHA-256 of the artifact, 64 lowercase hex characters.
    :param clients: the API's machine clients, a list of at least one ``ApiClient``.
    :param hosting: the model's container (a framework or an ECR image) and capacity.
    :param artifact: the artifact's KMS key, signature and re-check schedule.
        Default: - ``ArtifactOptions()``: SSE-S3, no signature, re-hashed every hour
    :param allowed_cidrs: when given, only these addresses reach the API (the WAF blocks the
        rest). Default: - every address may try
    :param vpc: a VPC to run in instead of creating one; it must give its isolated subnets a
        gateway endpoint for S3 (the secret rotation runs outside any VPC: Cognito has no VPC
        endpoint for a pool with a domain). Default: - an isolated VPC with flow logs
    :param vpc_subnets: the subnets of a brought ``vpc``. Default: - its isolated subnets
    :param add_vpc_endpoints: add the VPC endpoints the functions need to a brought ``vpc``
        (once per VPC in the app). Without it, a VPC defined with CDK that lacks one fails the
        synth naming it, and an imported VPC, whose endpoints cannot be seen, gets a warning
        listing them (docs/bring-your-own.md). Default: - false
    :param encryption_key: a KMS key instead of creating one. A key from another stack, or an
        imported one, is granted to this endpoint's roles in their own policies; its owner
        writes the key-policy statements the services need (docs/bring-your-own.md).
        Default: - a new key, rotating
    :param user_pool: a Cognito pool instead of creating one (with ``user_pool_domain``).
        Default: - a new pool without self sign-up
    :param user_pool_domain: the domain of a brought pool. Default: - a new Cognito domain
    :param path: the inference path. Default: - '/v1/predict'
    :param request_schema: JSON Schema of the request body. Default: - rows of numbers
    :param input_constraints: the request model compiled from a training baseline
        (``InputConstraints.from_baseline(directory)``): row width, types and ranges per
        feature; instead of ``request_schema``. Default: - ``request_schema``
    :param tls_policy: Default: - ``TlsPolicy.TLS13_1_2``
    :param response_hardening: less of the model's answer in each response
        (``ResponseHardening(probability_decimals=2, top_k=None, label_only=False)``), applied
        by API Gateway to the success responses: rounded probabilities, the top classes only,
        or the label alone, against extraction and decision-boundary search; a response of a
        shape it does not know becomes a 500 (docs/response-hardening.md).
        Default: - the model's answer as it is
    :param custom_domain: serve on a custom domain (optionally with mutual TLS) and disable the
        execute-api endpoint. Default: - the execute-api endpoint
    :param drift_baseline: a baseline directory (``secure-endpoint baseline`` writes it): an
        hourly function compares the captured inputs with it, with alarms on drifting features
        and constraint violations. Needs ``data_capture``. Default: - no drift checks
    :param data_capture: capture requests and responses, attributed to clients.
        Default: - off
    :param payload_monitoring: with ``drift_baseline``, the drift monitor also scores every
        client on what it sends (extraction, probing, out-of-distribution rows, membership
        probing), with an alarm per kind, an alert naming the client and a dashboard row.
        Adds an SNS interface endpoint to a VPC created here (a brought VPC must have one).
        Default: - true (with ``drift_baseline``)
    :param payload_membership_key: the Secrets Manager secret of the key the baseline's
        membership hashes were made with; the monitor reads it at its cold start (adds a
        Secrets Manager interface endpoint). Default: - none
    :param auto_quarantine: quarantine the clients the payload monitor flags
        (``AutoQuarantine``: TTL, ``never_quarantine``, at most ``max_per_run``).
        Default: - none, alert only
    :param access_token_validity: whole minutes from 5 minutes to 1 day. Default: - 15 minutes
    :param rotation_interval: how often client secrets rotate, whole days from 1 to 365.
        Default: - 30 days
    :param log_retention: retention of every log group. Default: - one year
    :param throttling_rate_limit: stage-wide rate over all clients. Default: - 100 rps
    :param throttling_burst_limit: stage-wide burst. Default: - 200
    :param cloud_watch_role: create the account-wide API Gateway CloudWatch role.
        Default: - false (the account must have one for execution logging)
    :param waf: the rules of the web ACL built here (deny list, countries, rate rules, managed
        groups, threat feeds, body size). Default: - ``WafOptions()``
    :param web_acl: a REGIONAL web ACL of your own, associated with the stage instead of the one
        built here (then ``waf`` cannot be given). Default: - a web ACL as ``waf`` says
    :param shield: put CloudFront, a CLOUDFRONT web ACL (in a us-east-1 stack) and Shield
        Advanced in front of the API (see ``ShieldOptions``). Needs an active Shield Advanced
        subscription and a stack with a concrete region. Default: - none
    :param alarm_emails: addresses the alert topic mails (each confirms once). Default: - none
    :param alarm_subscriptions: other subscriptions of the alert topic (SQS, Lambda, HTTPS).
        Default: - none
    :param runbook_url: where alarm descriptions point. Default: - ``docs/runbook.md``
    :param anomaly_monitor: score every client and address from the access logs every 5
        minutes and alert on anomalies (``AnomalyMonitor``); it also releases expired
        auto-blocks. Adds CloudWatch Logs, SNS and WAF interface endpoints and a DynamoDB
        gateway endpoint to a VPC created here (a brought VPC must have them).
        Default: - true
    :param auto_block: let the monitor put anomalous addresses on the WAF's auto-block list
        for ``monitor_options.block_ttl`` (never an allowlisted address). Default: - false,
        alert only
    :param monitor_options: the monitor's schedule, baseline and limits, and whether it also
        disables the API key of a client it would block (``disable_api_keys``, with
        ``auto_block``). Default: - ``MonitorOptions()``
    :param bundling_cache_dir: where the Lambda functions' dependencies and bundles are cached
        (installed there once per lock; every app that names the same directory reuses them).
        Default: - ``$SECURE_ENDPOINT_CACHE_DIR`` when set, else ``lambda-deps`` in the per-user
        cache directory (``platformdirs.user_cache_dir("secure-endpoint")``:
        ``~/.cache/secure-endpoint/lambda-deps`` on Linux), shared by all of this user's apps
    :param reserved_concurrency: reserve each function's concurrency (rotation 2, artifact check 2,
        monitor, API key responder, threat intelligence and origin-secret rotation 1 each): runs
        never overlap and a flood elsewhere in the account cannot starve them. Lambda keeps 100 of
        the account's concurrency unreserved, so the Region's quota must be at least 100 plus every
        reservation (an info message gives the sum); new accounts may start at 10. Default: - false;
        the functions share the account's unreserved pool
    :param removal_policy: what happens to the stateful resources created here (the KMS key, the
        S3 buckets of captured data, monitor state and access logs, the log groups, the block
        list table, the user pool) when they leave the stack: ``RETAIN``,
        ``RETAIN_ON_UPDATE_OR_DELETE`` or ``DESTROY`` (for test stacks: a synth warning names
        what will be deleted; deletion protection is turned off; a bucket still holding objects
        fails the deletion until emptied). Client and origin secrets are always deleted.
        Default: - ``RemovalPolicy.RETAIN``
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model_data_url: str,
        model_sha256: str,
        clients: Sequence[ApiClient],
        hosting: HostingOptions,
        artifact: ArtifactOptions | None = None,
        allowed_cidrs: Sequence[str] = (),
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        add_vpc_endpoints: bool = False,
        encryption_key: kms.IKey | None = None,
        user_pool: cognito.IUserPool | None = None,
        user_pool_domain: cognito.IUserPoolDomain | None = None,
        path: str = "/v1/predict",
        request_schema: apigw.JsonSchema | None = None,
        input_constraints: InputConstraints | None = None,
        tls_policy: TlsPolicy = TlsPolicy.TLS13_1_2,
        response_hardening: ResponseHardening | None = None,
        custom_domain: CustomDomain | None = None,
        data_capture: DataCaptureOptions | None = None,
        drift_baseline: str | Path | None = None,
        payload_monitoring: bool = True,
        payload_membership_key: secretsmanager.ISecret | None = None,
        auto_quarantine: AutoQuarantine | None = None,
        access_token_validity: Duration | None = None,
        rotation_interval: Duration | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        throttling_rate_limit: float = 100.0,
        throttling_burst_limit: int = 200,
        cloud_watch_role: bool = False,
        waf: WafOptions | None = None,
        web_acl: wafv2.CfnWebACL | None = None,
        shield: ShieldOptions | None = None,
        alarm_emails: Sequence[str] = (),
        alarm_subscriptions: Sequence[sns.ITopicSubscription] = (),
        runbook_url: str = DEFAULT_RUNBOOK_URL,
        anomaly_monitor: bool = True,
        auto_block: bool = False,
        monitor_options: MonitorOptions | None = None,
        bundling_cache_dir: Path | None = None,
        reserved_concurrency: bool = False,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        # Every prop is checked before anything is built: a bad one fails fast, by its name.
        props = check_props(
            {name: value for name, value in locals().items() if name not in _NOT_PROPS}
        )
        super().__init__(scope, construct_id)
        for warning_id, message in props.warnings:
            Annotations.of(self).add_warning_v2(warning_id, message)
        clients = list(props.clients)
        model, artifact, waf = props.hosting, props.artifact, props.waf
        self.allowed_cidrs = props.allowed_cidrs
        self.denied_cidrs = props.denied_cidrs
        shield_advanced = shield is not None
        model_signature = artifact.signature

        if encryption_key is None:
            self.key: kms.IKey = EncryptionKey(self, "Encryption").key
        elif keys.in_stack_of(encryption_key, self):
            self.key = encryption_key
            allow_logs_to_use(encryption_key)
        else:
            # Another stack's key, or an imported one: grants go to our principals only, and
            # its owner allows the services (docs/bring-your-own.md).
            self.key = keys.referenced(self, "BroughtKey", encryption_key)

        needs = vpc_endpoints.needed(
            anomaly_monitor=anomaly_monitor,
            model_signature=model_signature is not None,
            payload_alerts=drift_baseline is not None and payload_monitoring,
            secrets=payload_membership_key is not None,
        )
        if vpc is None:
            self.network: IsolatedNetwork | None = IsolatedNetwork(
                self,
                "Network",
                key=self.key,
                flow_log_retention=log_retention,
                interface_endpoints=list(needs.interface),
            )
            self.vpc: ec2.IVpc = self.network.vpc
            subnets = self.network.isolated_subnets
            if anomaly_monitor:
                self.network.vpc.add_gateway_endpoint(
                    "DynamoDb",
                    service=ec2.GatewayVpcEndpointAwsService.DYNAMODB,
                    subnets=[subnets],
                )
        else:
            self.network = None
            self.vpc = vpc
            subnets = vpc_subnets or ec2.SubnetSelection(
                subnet_type=ec2.SubnetType.PRIVATE_ISOLATED
            )
            vpc_endpoints.check_brought_vpc(
                self, vpc, subnets, needs, add_missing=add_vpc_endpoints
            )

        image = (
            ContainerImage.from_uri(
                model.image_uri, allow_mutable_tag=model.allow_mutable_image_tag
            )
            if model.image_uri is not None
            else ContainerImage.from_framework(
                str(model.framework),
                str(model.framework_version),
                instance_type=model.instance_type,
            )
        )
        cache_dir = resolve_cache_dir(props.bundling_cache_dir)
        self.hosting = ModelHosting(
            self,
            "Hosting",
            model_data_url=model_data_url,
            model_sha256=model_sha256,
            image=image,
            instance_type=model.instance_type,
            instance_count=model.instance_count,
            max_instance_count=model.maximum,
            vpc=self.vpc,
            vpc_subnets=subnets,
            key=self.key,
            data_capture=data_capture,
            target_invocations_per_instance=model.target_invocations_per_instance,
            bundling_cache_dir=cache_dir,
            reserved_concurrency=reserved_concurrency,
            model_data_key=artifact.data_key,
            model_signature=artifact.signature,
            model_signing_key=artifact.signing_key,
            model_signing_algorithm=artifact.signing_algorithm,
            artifact_check_interval=artifact.check_interval,
            artifact_bucket_events=artifact.bucket_events,
            artifact_scan=artifact.scan,
            allowed_pickle_globals=artifact.allowed_pickle_globals,
        )
        if self.network is not None and model_signature is not None:
            # The signature is checked when the check runs: the endpoint must be there.
            self.hosting.artifact_verification.resource.node.add_dependency(
                self.network.interface_endpoints["kms"]
            )
        self.identity = OAuthIdentity(
            self,
            "Identity",
            clients=clients,
            user_pool=user_pool,
            user_pool_domain=user_pool_domain,
            access_token_validity=access_token_validity,
        )
        csv_body = (
            input_constraints is not None and input_constraints.input_format is InputFormat.CSV
        )
        self.api = InferenceApi(
            self,
            "Api",
            endpoint=self.hosting,
            user_pool=self.identity.user_pool,
            invoke_scope=self.identity.invoke_scope,
            key=self.key,
            path=path,
            request_schema=(
                input_constraints.request_schema()
                if input_constraints is not None and not csv_body
                else request_schema
            ),
            request_content_type=CSV if csv_body else JSON,
            throttling_rate_limit=throttling_rate_limit,
            throttling_burst_limit=throttling_burst_limit,
            tls_policy=tls_policy,
            custom_domain=custom_domain,
            log_retention=log_retention,
            cloud_watch_role=cloud_watch_role,
            response_hardening=response_hardening,
        )
        self.threat_intel: ThreatIntelFeeds | None = None
        if waf.threat_intel_feeds:
            from secure_endpoint.constructs.threat_intel import ThreatIntelFeeds

            self.threat_intel = ThreatIntelFeeds(
                self,
                "ThreatIntel",
                feeds=waf.threat_intel_feeds,
                key=self.key,
                protected_cidrs=self.allowed_cidrs,
                log_retention=log_retention,
                bundling_cache_dir=cache_dir,
                reserved_concurrency=reserved_concurrency,
            )
        if shield_advanced and Token.is_unresolved(Stack.of(self).region):
            raise ValueError(
                "shield needs a stack with a concrete region (env=Environment("
                "region='eu-west-1'), or cdk synth -c region=... with the sample app): the "
                "CloudFront web ACL goes to a stack in us-east-1, wired to this one by region"
            )
        origin_secret = None
        if shield_advanced:
            from secure_endpoint.constructs.shield import create_origin_secret

            origin_secret = create_origin_secret(self, "OriginSecret", key=self.key)
        # Behind CloudFront, the rules on the viewer's address move to the CloudFront web ACL.
        regional_groups = list(waf.managed_rule_groups)
        self.edge = WebAclProtection(
            self,
            "Edge",
            stage=self.api.stage,
            key=self.key,
            log_retention=log_retention,
            allowed_cidrs=self.allowed_cidrs,
            denied_cidrs=self.denied_cidrs,
            blocked_ip_sets=self.threat_intel.ip_sets if self.threat_intel else (),
            blocked_countries=() if shield_advanced else waf.blocked_countries,
            allowed_countries=() if shield_advanced else waf.allowed_countries,
            rate_limit_per_ip=DEFAULT_RATE_LIMIT_PER_IP
            if shield_advanced
            else waf.rate_limit_per_ip,
            rate_limit_per_api_key=(
                DEFAULT_RATE_LIMIT_PER_API_KEY
                if web_acl is not None
                else props.rate_limit_per_api_key
            ),
            api_key_rate_window=waf.rate_window,
            rate_window=None if shield_advanced else waf.rate_window,
            managed_rule_groups=regional_groups,
            managed_rule_overrides=waf.rule_overrides,
            max_body_bytes=waf.max_body_bytes,
            origin_secret=origin_secret,
            csv_forbidden_characters=CSV_FORBIDDEN_CHARACTERS if csv_body else None,
            web_acl=web_acl,
        )
        self.shield: ShieldAdvancedEdge | None = None
        if origin_secret is not None and shield is not None:
            from secure_endpoint.constructs.shield import ShieldAdvancedEdge

            options = shield
            self.shield = ShieldAdvancedEdge(
                self,
                "Shield",
                stage=self.api.stage,
                origin_secret=origin_secret,
                regional_web_acl=self.edge.web_acl,
                key=self.key,
                tls_policy=tls_policy,
                custom_domain=custom_domain,
                domain_names=options.domain_names,
                certificate=options.certificate,
                viewer_security_policy=options.viewer_security_policy,
                price_class=options.price_class,
                rate_limit_per_ip=waf.rate_limit_per_ip,
                rate_window=waf.rate_window,
                managed_rule_groups=[
                    group for group in regional_groups if group in SOURCE_ADDRESS_RULE_GROUPS
                ],
                blocked_countries=waf.blocked_countries,
                allowed_countries=waf.allowed_countries,
                automatic_mitigation=options.automatic_mitigation,
                health_error_rate=options.health_error_rate,
                emergency_contacts=options.emergency_contacts,
                log_retention=log_retention,
                bundling_cache_dir=cache_dir,
                reserved_concurrency=reserved_concurrency,
            )
        self.credentials = ClientCredentials(
            self,
            "Credentials",
            identity=self.identity,
            clients=clients,
            api_url=self.api_url,
            key=self.key,
            bundling_cache_dir=cache_dir,
            rotation_interval=rotation_interval,
            log_retention=log_retention,
            reserved_concurrency=reserved_concurrency,
        )
        for client in clients:
            api_key = self.credentials.secrets[client.name].secret_value_from_json("api_key")
            self.api.add_client(client, api_key.unsafe_unwrap())
        self.block_list = BlockListTable(self, "AutoBlockList", key=self.key)
        self.alarms = EndpointAlarms(
            self,
            "Alarms",
            api=self.api,
            hosting=self.hosting,
            key=self.key,
            edge=self.edge,
            email_addresses=alarm_emails,
            subscriptions=alarm_subscriptions,
            runbook_url=runbook_url,
        )
        self._watch_artifact()
        self.monitor: AnomalyMonitor | None = None
        if anomaly_monitor:
            self.monitor = AnomalyMonitor(
                self,
                "AnomalyMonitor",
                access_log_group=self.api.access_log_group,
                key=self.key,
                alert_topic=self.alarms.topic,
                vpc=self.vpc,
                vpc_subnets=subnets,
                block_list=self.block_list if self.edge.auto_block_ip_sets else None,
                auto_block_ip_sets=self.edge.auto_block_ip_sets,
                auto_block=auto_block,
                protected_cidrs=[str(n) for n in self.allowed_cidrs],
                api_keys=self.api.api_keys,
                app_clients=self.identity.app_clients,
                options=monitor_options,
                log_retention=log_retention,
                bundling_cache_dir=cache_dir,
                reserved_concurrency=reserved_concurrency,
            )
            self.alarms.add_anomaly_alarm(
                "AnomalousPrincipals",
                self.monitor.metric_anomalous_principals(),
                cloudwatch.ComparisonOperator.GREATER_THAN_UPPER_THRESHOLD,
                "The anomaly monitor finds more anomalous clients or addresses than usual",
                "anomaly-monitor",
            )
            self.alarms.add_threshold_alarm(
                "UnparseableLogLines",
                self.monitor.metric_unparseable_log_lines(),
                threshold=0,
                description=(
                    "Access-log lines the anomaly monitor cannot parse (not JSON, or without "
                    "the pinned fields): requests invisible to it"
                ),
                runbook_section="unparseable-log-lines",
            )
            self.alarms.dashboard.add_widgets(*self.monitor.widgets())
        self.drift: DriftMonitor | None = None
        self.quarantine_plan: QuarantinePlan | None = None
        """The usage plan ``auto_quarantine`` moves clients' keys to; None without it."""
        if drift_baseline is not None:
            self._add_drift_monitor(
                drift_baseline, subnets, log_retention, cache_dir, reserved_concurrency,
                payload_monitoring=payload_monitoring,
                membership_key=payload_membership_key,
                auto_quarantine=auto_quarantine,
            )  # fmt: skip
        self._grant_secret_rotations_the_key()
        self._watch_functions()
        if reserved_concurrency:
            build.note_reservations(self)
        if self.network is not None:
            self.network.order_after_endpoints(self)
        self._add_outputs()
        if removal_policy is not RemovalPolicy.RETAIN:  # RETAIN is what every resource has
            self._apply_removal_policy(removal_policy)

    def _apply_removal_policy(self, policy: RemovalPolicy) -> None:
        scopes: list[Construct] = [self]
        # The CloudFront web ACL's key and log group live in the us-east-1 stack, not under self.
        edge = self.shield.edge_web_acl if self.shield is not None else None
        if edge is not None and not edge.node.path.startswith(f"{self.node.path}/"):
            scopes.append(edge)
        changed = removal.apply(scopes, policy)
        if policy is RemovalPolicy.DESTROY:
            Annotations.of(self).add_warning_v2(
                "secure-endpoint:removal-policy-destroy", removal.destroy_warning(changed)
            )

    def _add_drift_monitor(
        self,
        baseline: str | Path,
        subnets: ec2.SubnetSelection,
        log_retention: logs.RetentionDays,
        cache_dir: Path,
        reserved_concurrency: bool,
        *,
        payload_monitoring: bool,
        membership_key: secretsmanager.ISecret | None,
        auto_quarantine: AutoQuarantine | None,
    ) -> None:
        from secure_endpoint.constructs.drift_monitor import DriftMonitor

        if auto_quarantine is not None:
            from secure_endpoint.constructs.quarantine import QuarantinePlan

            self.quarantine_plan = QuarantinePlan(
                self,
                "QuarantinePlan",
                rest_api=self.api.rest_api,
                stage=self.api.stage,
                never_quarantine=list(auto_quarantine.never_quarantine),
            )
        bucket = self.hosting.capture_bucket
        assert bucket is not None  # checked with the props: drift needs data_capture
        self.drift = DriftMonitor(
            self,
            "DriftMonitor",
            capture_bucket=bucket,
            capture_prefix=f"{CAPTURE_PREFIX}/{self.hosting.endpoint_name}/",
            baseline=baseline,
            key=self.key,
            vpc=self.vpc,
            vpc_subnets=subnets,
            log_retention=log_retention,
            bundling_cache_dir=cache_dir,
            reserved_concurrency=reserved_concurrency,
            payload_monitoring=payload_monitoring,
            alert_topic=self.alarms.topic,
            app_clients=self.identity.app_clients,
            membership_key=membership_key,
            auto_quarantine=auto_quarantine,
            api_keys=self.api.api_keys,
            usage_plans=self.api.usage_plans,
            quarantine_plan=self.quarantine_plan,
        )
        for name, metric, description, section in self.drift.payload_alarms():
            self.alarms.add_threshold_alarm(
                name, metric, threshold=0, description=description, runbook_section=section
            )
        self.alarms.add_threshold_alarm(
            "InputDrift",
            self.drift.metric_drifting_features(),
            threshold=0,
            description=(
                "Captured inputs drifted: on at least one feature, many clients' inputs moved "
                "the same way from their own usual values in the last hour"
            ),
            runbook_section="input-drift",
        )
        self.alarms.add_threshold_alarm(
            "InputConstraintViolations",
            self.drift.metric_constraint_violations(),
            threshold=0,
            description=(
                "Captured inputs broke the training baseline's constraints (completeness, type "
                "or row width) in the last hour"
            ),
            runbook_section="input-drift",
        )
        self.alarms.dashboard.add_widgets(*self.drift.widgets())

    def _watch_artifact(self) -> None:
        verification = self.hosting.artifact_verification
        alarm = self.alarms.add_threshold_alarm(
            "ModelArtifactChanged",
            verification.metric_digest_mismatch(),
            threshold=0,
            description=(
                "The model artifact is not the approved model_sha256 any more (changed, deleted "
                "or unreadable), or its scheduled check stopped reporting"
            ),
            runbook_section="model-artifact-changed",
            # A check that stops reporting hides a change as well as a broken check would.
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )
        # The deploy-time check publishes the first data point: an alarm created before it
        # would find none, and breach.
        alarm.node.add_dependency(verification.resource)
        if verification.scans:
            # A refused artifact fails the deploy, which rolls back: on an update, this alarm
            # (from the deploy before) still sees the data point and pages, since an approved
            # archive that carries code is an incident, not only a failed deploy.
            self.alarms.add_threshold_alarm(
                "ModelArtifactUnsafe",
                verification.metric_unsafe_artifact(),
                threshold=0,
                description=(
                    "A deploy was refused: the model artifact, with the approved digest, holds "
                    "code that would run when the model is loaded (a pickle import outside the "
                    "allowlist, a Keras Lambda layer, ...)"
                ),
                runbook_section="artifact-unsafe",
            )

    def _watch_functions(self) -> None:
        watched = [
            ("ClientSecretRotation", self.credentials.rotation_function, "client rotation"),
            (
                "ArtifactCheck",
                self.hosting.artifact_verification.function,
                "the model artifact check",
            ),
        ]
        if self.threat_intel is not None:
            watched.append(("ThreatIntel", self.threat_intel.function, "the threat feed update"))
        if self.monitor is not None:
            watched.append(("AnomalyMonitor", self.monitor.function, "the anomaly monitor"))
            watched.append(("AnomalyModelFitter", self.monitor.fitter, "the anomaly model fitter"))
            if self.monitor.responder is not None:
                watched.append(
                    ("ApiKeyResponder", self.monitor.responder.function, "the API key responder")
                )
        if self.drift is not None:
            watched.append(("DriftMonitor", self.drift.function, "the drift monitor"))
            if self.drift.quarantine is not None:
                watched.append(
                    ("QuarantineResponder", self.drift.quarantine.function, "quarantine responder")
                )
        if self.shield is not None:
            watched.append(
                ("OriginSecretRotation", self.shield.rotation.function, "origin secret rotation")
            )
            # Shield watches the health alarm; people should hear of it too.
            self.shield.health_alarm.add_alarm_action(
                cloudwatch_actions.SnsAction(self.alarm_topic)
            )
        for name, function, what in watched:
            self.alarms.watch_function(f"{name}Errors", function, what)
            if function.dead_letter_queue is not None:
                self.alarms.watch_dead_letter_queue(
                    f"{name}DeadLetters", function.dead_letter_queue, what
                )

    # The attributes users reach for most, named as the README documents them.
    @property
    def monitor_function(self) -> lambda_.Function | None:
        """The anomaly monitor's function; None with ``anomaly_monitor=False``."""
        return self.monitor.function if self.monitor is not None else None

    @property
    def rest_api(self) -> apigw.RestApi:
        return self.api.rest_api

    @property
    def user_pool(self) -> cognito.IUserPool:
        return self.identity.user_pool

    @property
    def endpoint_name(self) -> str:
        return self.hosting.endpoint_name

    @property
    def access_log_group(self) -> logs.LogGroup:
        return self.api.access_log_group

    @property
    def api_url(self) -> str:
        """Where clients POST: through CloudFront with ``shield``, else the API."""
        if self.shield is None:
            return self.api.api_url
        return f"{self.shield.url}{self.api.path}"

    @property
    def token_url(self) -> str:
        return self.identity.token_url

    @property
    def deny_ip_sets(self) -> list[wafv2.CfnIPSet]:
        """The WAF's deny list (IPv4, IPv6): grant operators ``grant_update_deny_list``."""
        return self.edge.deny_ip_sets

    @property
    def auto_block_ip_sets(self) -> list[wafv2.CfnIPSet]:
        """The WAF's auto-block list (IPv4, IPv6), which the anomaly monitor writes."""
        return self.edge.auto_block_ip_sets

    @property
    def alarm_topic(self) -> sns.Topic:
        """The KMS-encrypted SNS topic every alarm notifies."""
        return self.alarms.topic

    @property
    def dashboard(self) -> cloudwatch.Dashboard:
        return self.alarms.dashboard

    @property
    def client_secrets(self) -> dict[str, secretsmanager.Secret]:
        """Each client's Secrets Manager secret, by client name."""
        return dict(self.credentials.secrets)

    def grant_update_deny_list(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` (operators) read and replace the WAF's deny list."""
        return self.edge.grant_update_deny_list(grantee)

    def grant_update_auto_block_list(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read and replace the WAF's auto-block list."""
        return self.edge.grant_update_auto_block_list(grantee)

    def grant_incident_response(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` (operators) run the CLI's response commands against this endpoint:
        ``block``, ``unblock``, ``blocked``, ``revoke-client`` and ``rotate-client``.

        Exactly the calls those commands make: ``cloudformation:DescribeStacks`` on this stack
        (its outputs); ``dynamodb:GetItem``/``Scan``/``PutItem``/``UpdateItem``/``DeleteItem``
        on the auto-block table, with ``kms:Decrypt``, ``kms:Encrypt`` and
        ``kms:GenerateDataKey`` on its key (DynamoDB uses the caller's permission on the
        customer-managed key); ``wafv2:GetIPSet``/``UpdateIPSet`` on the auto-block IP sets and
        ``wafv2:GetIPSet`` on the allowlist's; ``apigateway:GET``/``PATCH`` on each client's API
        key; ``secretsmanager:RotateSecret`` on each client's secret; with ``auto_quarantine``,
        what ``quarantine``, ``release`` and ``quarantined`` call on the clients' keys and plans
        and the quarantine plan (``QuarantinePlan.grant_quarantine``). Not the deny list
        (``grant_update_deny_list``) nor anything of the model.
        """
        stack = Stack.of(self)
        grants = [
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=["cloudformation:DescribeStacks"],
                resource_arns=[stack.stack_id],
            ),
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=[*INCIDENT_TABLE_ACTIONS],
                resource_arns=[self.block_list.table_arn],
            ),
            self.block_list.key.grant(grantee, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"),
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=["wafv2:GetIPSet", "wafv2:UpdateIPSet"],
                resource_arns=[ip_set.attr_arn for ip_set in self.edge.auto_block_ip_sets],
            ),
        ]
        if self.edge.allowed_ip_sets:
            grants.append(
                iam.Grant.add_to_principal(
                    grantee=grantee,
                    actions=["wafv2:GetIPSet"],
                    resource_arns=[ip_set.attr_arn for ip_set in self.edge.allowed_ip_sets],
                )
            )
        grants += [
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=["apigateway:GET", "apigateway:PATCH"],
                resource_arns=[
                    f"arn:{stack.partition}:apigateway:{stack.region}::/apikeys/{key.key_id}"
                    for key in self.api.api_keys.values()
                ],
            ),
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=["secretsmanager:RotateSecret"],
                resource_arns=[secret.secret_arn for secret in self.credentials.secrets.values()],
            ),
        ]
        if self.quarantine_plan is not None:
            grants.append(
                self.quarantine_plan.grant_quarantine(
                    grantee, api_keys=self.api.api_keys, usage_plans=self.api.usage_plans
                )
            )
        combined = grants[0]
        for grant in grants[1:]:
            combined = combined.combine(grant)
        return combined

    def _grant_secret_rotations_the_key(self) -> None:
        """The rotations read and write their secrets, which Secrets Manager encrypts with the
        key: CDK grants that in the key's policy, which a key referred to by ARN does not take,
        so the rotation roles get it in their own."""
        if keys.in_stack_of(self.key, self):
            return
        rotations = [self.credentials.rotation_function]
        if self.shield is not None:
            rotations.append(self.shield.rotation.function)
        for function in rotations:
            keys.grant_via_service(
                self.key, function, "secretsmanager", "kms:Decrypt", "kms:Encrypt",
                "kms:GenerateDataKey",
            )  # fmt: skip

    @property
    def manifest_name(self) -> str:
        """The endpoint's name in its discovery manifest: its construct path inside the stack
        (``secure-endpoint block --stack S --endpoint NAME``)."""
        stack_path = Stack.of(self).node.path
        return self.node.path[len(stack_path) + 1 :] if stack_path else self.node.path

    def _add_outputs(self) -> None:
        stack = Stack.of(self)
        CfnOutput(self, "ApiUrl", value=self.api_url, description="POST inference requests here")
        CfnOutput(self, "TokenUrl", value=self.token_url, description="OAuth 2.0 token endpoint")
        CfnOutput(self, "EndpointName", value=self.endpoint_name)
        for name, secret in self.credentials.secrets.items():
            CfnOutput(
                self,
                f"{name}SecretArn",
                value=secret.secret_arn,
                description=f"Credentials of client {name}: secure-endpoint invoke --secret-id",
            )
        # One manifest per endpoint, under a key of its own: the response commands, the smoke
        # test and the demo find everything in it (secure-endpoint block --stack ... --endpoint).
        found = manifest.Manifest(
            name=self.manifest_name,
            api_url=self.api_url,
            token_url=self.token_url,
            endpoint_name=self.endpoint_name,
            invoke_scope=self.identity.invoke_scope,
            clients={
                name: manifest.ClientEntry(
                    secret_arn=secret.secret_arn,
                    api_key_id=self.api.api_keys[name].key_id,
                    # alerts name a client by its id: revoke-client takes either
                    client_id=self.identity.app_clients[name].user_pool_client_id,
                )
                for name, secret in self.credentials.secrets.items()
            },
            auto_block_table=self.block_list.table_name,
            ip_sets=dict(
                zip((4, 6), (s.attr_arn for s in self.edge.auto_block_ip_sets), strict=False)
            ),
            allowlist=tuple(ip_set.attr_arn for ip_set in self.edge.allowed_ip_sets),
            # the CLI's quarantine moves keys to the same plan as auto_quarantine
            quarantine_plan_id=plan.usage_plan_id if (plan := self.quarantine_plan) else None,
            never_quarantine=plan.never_quarantine if plan else (),
        )
        self.manifest_output = CfnOutput(
            self,
            "Manifest",
            key=manifest.output_key(self.manifest_name),
            value=stack.to_json_string(found.as_json()),
            description=f"secure-endpoint manifest, schema {manifest.SCHEMA}",
        )


# The locals of ``SecureEndpoint.__init__`` that are not props.
_NOT_PROPS = frozenset({"self", "scope", "construct_id", "__class__"})

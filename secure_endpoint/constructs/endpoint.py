"""``SecureEndpoint``: composes the parts into one secured inference path, and nothing else."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from aws_cdk import CfnOutput, Duration, Stack, Token
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
from secure_endpoint.constructs import _validation as check

if TYPE_CHECKING:  # the opt-in parts are imported when used: a synth without them is faster
    from secure_endpoint.constructs.shield import ShieldAdvancedEdge, ShieldOptions
    from secure_endpoint.constructs.threat_intel import ThreatIntelFeed, ThreatIntelFeeds
from secure_endpoint.constructs import keys, vpc_endpoints
from secure_endpoint.constructs._validation import WAF_RATE_LIMIT_MIN
from secure_endpoint.constructs.alarms import DEFAULT_RUNBOOK_URL, EndpointAlarms
from secure_endpoint.constructs.api import InferenceApi
from secure_endpoint.constructs.blocklist_store import BlockListTable
from secure_endpoint.constructs.credentials import ClientCredentials
from secure_endpoint.constructs.edge import (
    DEFAULT_MANAGED_RULE_GROUPS,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_RATE_LIMIT_PER_API_KEY,
    DEFAULT_RATE_LIMIT_PER_IP,
    DEFAULT_RATE_WINDOW_SEC,
    SOURCE_ADDRESS_RULE_GROUPS,
    WebAclProtection,
)
from secure_endpoint.constructs.hosting import ModelHosting
from secure_endpoint.constructs.identity import OAuthIdentity
from secure_endpoint.constructs.images import ContainerImage
from secure_endpoint.constructs.keys import EncryptionKey, allow_logs_to_use
from secure_endpoint.constructs.monitor import INTERFACE_ENDPOINTS, AnomalyMonitor, MonitorOptions
from secure_endpoint.constructs.network import IsolatedNetwork
from secure_endpoint.constructs.options import (
    ApiClient,
    CustomDomain,
    DataCaptureOptions,
    TlsPolicy,
)


class SecureEndpoint(Construct):
    """A SageMaker real-time endpoint behind a regional REST API, secured end to end.

    Request path: client -> WAF -> API Gateway (TLS 1.2+/1.3 policy, Cognito OAuth scope, API
    key and usage plan, JSON Schema validation) -> SageMaker runtime (direct AWS integration) ->
    a network-isolated model in private subnets. Everything at rest is encrypted with one
    customer-managed KMS key; each client's credentials live in Secrets Manager and rotate.

    :param model_data_url: ``s3://bucket/key`` of the model artifact (``model.tar.gz``).
    :param model_sha256: SHA-256 of the artifact, 64 lowercase hex characters.
    :param model_data_key: the KMS key the artifact is encrypted with (SSE-KMS); the check of
        the artifact's digest before the model exists may decrypt with it.
        Default: - none; the artifact is encrypted with SSE-S3
    :param model_signature: the base64 signature of the artifact's SHA-256 digest by
        ``model_signing_key`` (``aws kms sign --message-type DIGEST``, see the README), checked
        with ``kms:Verify`` before the model is created; a KMS interface endpoint is added to a
        VPC created here (a brought VPC must have one). Default: - none
    :param model_signing_key: the asymmetric SIGN_VERIFY KMS key that signed it, given with
        ``model_signature``; the check may use ``kms:Verify`` with it, nothing else.
        Default: - none
    :param model_signing_algorithm: ``ECDSA_SHA_256``, ``RSASSA_PSS_SHA_256`` or
        ``RSASSA_PKCS1_V1_5_SHA_256``. Default: - ``ECDSA_SHA_256``
    :param artifact_check_interval: how often the artifact is re-hashed after the deploy; the
        ``ModelArtifactChanged`` alarm fires when the bytes differ, the object is gone, or the
        checks stop. Whole minutes from 15 minutes to 1 day. Default: - 1 hour
    :param artifact_bucket_events: the artifact's bucket sends events to EventBridge (turn it
        on for the bucket): also re-check within a minute of the object being written or
        deleted. Default: - false; the schedule alone
    :param clients: the API's machine clients, at least one.
    :param framework: a SageMaker framework container, like 'sklearn' (with
        ``framework_version``). Default: - none; give ``image_uri`` instead
    :param framework_version: like '1.2-1'. Default: - none
    :param image_uri: an ECR image instead of a framework container, by digest
        (``repo@sha256:<64 hex>``). Default: - none
    :param allow_mutable_image_tag: accept an ``image_uri`` with a tag, which can be moved to
        other bytes after review (a synth warning). Default: - false
    :param instance_type: Default: - 'ml.m5.large'
    :param instance_count: instances at deploy and the autoscaling minimum. Default: - 1
    :param max_instance_count: the autoscaling ceiling, which caps what a flood can cost.
        Default: - 2 x instance_count
    :param allowed_cidrs: when given, only these addresses reach the API (the WAF blocks the
        rest). Default: - every address may try
    :param vpc: a VPC to run in instead of creating one; it must give its isolated subnets
        endpoints for S3, Secrets Manager and Cognito. Default: - an isolated VPC with flow logs
    :param vpc_subnets: the subnets of a brought ``vpc``. Default: - its isolated subnets
    :param add_vpc_endpoints: add the VPC endpoints the functions need to a brought ``vpc``
        (once per VPC in the app). Without it, a VPC defined with CDK that lacks one fails the
        synth naming it, and an imported VPC, whose endpoints cannot be seen, gets a warning
        listing them (docs/bring-your-own.md). Default: - false
    :param encryption_key: a KMS key instead of creating one. Default: - a new key, rotating
    :param user_pool: a Cognito pool instead of creating one (with ``user_pool_domain``).
        Default: - a new pool without self sign-up
    :param user_pool_domain: the domain of a brought pool. Default: - a new Cognito domain
    :param path: the inference path. Default: - '/v1/predict'
    :param request_schema: JSON Schema of the request body. Default: - rows of numbers
    :param tls_policy: Default: - ``TlsPolicy.TLS13_1_2``
    :param custom_domain: serve on a custom domain (optionally with mutual TLS) and disable the
        execute-api endpoint. Default: - the execute-api endpoint
    :param data_capture: capture requests and responses, attributed to clients.
        Default: - off
    :param access_token_validity: Default: - 15 minutes
    :param rotation_interval: how often client secrets rotate. Default: - 30 days
    :param log_retention: retention of every log group. Default: - one year
    :param throttling_rate_limit: stage-wide rate over all clients. Default: - 100 rps
    :param throttling_burst_limit: stage-wide burst. Default: - 200
    :param cloud_watch_role: create the account-wide API Gateway CloudWatch role.
        Default: - false (the account must have one for execution logging)
    :param target_invocations_per_instance: autoscaling target, invocations per instance per
        minute. Default: - 300
    :param denied_cidrs: addresses the WAF always blocks (403), none overlapping
        ``allowed_cidrs``. Default: - none
    :param blocked_countries: ISO 3166 alpha-2 codes of countries the WAF blocks.
        Default: - none
    :param allowed_countries: when given, the WAF blocks every other country. Default: - all
    :param waf_rate_limit_per_ip: requests one address may send in ``waf_rate_window`` before
        the WAF blocks it with a 429. Default: - 1000
    :param waf_rate_window: the window of both rate rules: 1, 2, 5 or 10 minutes.
        Default: - 5 minutes
    :param waf_rate_limit_per_api_key: requests one API key may send in ``waf_rate_window``
        before the WAF blocks it with a 429. Default: - what the most generous client's usage
        plan allows in the window (rate x window + burst), so that the WAF stops only what the
        gateway would throttle anyway, before it costs an authorizer call
    :param waf_managed_rule_groups: AWS managed rule groups, in order.
        Default: - common, known bad inputs, Amazon IP reputation, anonymous IP
    :param waf_rule_overrides: per managed group, rule name (or '*') to 'COUNT' or 'BLOCK';
        every COUNT is a synth warning. Default: - the groups' own actions
    :param threat_intel_feeds: public reputation lists whose addresses the WAF blocks, refreshed
        by a scheduled Lambda (``SPAMHAUS_DROP``, ``SPAMHAUS_DROP_V6``, ``TOR_EXIT_NODES`` or
        your own ``ThreatIntelFeed``), at most 5. Default: - none
    :param shield_advanced: put CloudFront, a CLOUDFRONT web ACL (in a us-east-1 stack) and
        Shield Advanced in front of the API (see ``ShieldAdvancedEdge``); the regional web ACL
        then requires CloudFront's rotating origin secret, and the per-address rate, geo and
        address-reputation rules move to the CloudFront web ACL. Needs an active Shield
        Advanced subscription (about 3,000 USD a month) and a stack with a concrete region.
        Default: - false
    :param shield_options: the CloudFront and Shield settings (viewer domain and certificate,
        automatic mitigation, emergency contacts, ...). Default: - ``ShieldOptions()``
    :param web_acl: a REGIONAL web ACL of your own, associated with the stage instead of the one
        built here (then the WAF props above cannot be used). Default: - a web ACL as above
    :param max_body_bytes: the largest request body the WAF lets through (413 beyond), up to
        65,536. Default: - 64 KiB
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
        ``auto_block``).
        Default: - ``MonitorOptions()``
    :param bundling_cache_dir: cache of bundled Lambda dependencies.
        Default: - '.cache/lambda-deps' under the working directory
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model_data_url: str,
        model_sha256: str,
        clients: Sequence[ApiClient],
        model_data_key: kms.IKey | None = None,
        model_signature: str | None = None,
        model_signing_key: kms.IKey | None = None,
        model_signing_algorithm: str | None = None,
        artifact_check_interval: Duration | None = None,
        artifact_bucket_events: bool = False,
        framework: str | None = None,
        framework_version: str | None = None,
        image_uri: str | None = None,
        allow_mutable_image_tag: bool = False,
        instance_type: str = "ml.m5.large",
        instance_count: int = 1,
        max_instance_count: int | None = None,
        allowed_cidrs: Sequence[str] = (),
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        add_vpc_endpoints: bool = False,
        encryption_key: kms.IKey | None = None,
        user_pool: cognito.IUserPool | None = None,
        user_pool_domain: cognito.IUserPoolDomain | None = None,
        path: str = "/v1/predict",
        request_schema: apigw.JsonSchema | None = None,
        tls_policy: TlsPolicy = TlsPolicy.TLS13_1_2,
        custom_domain: CustomDomain | None = None,
        data_capture: DataCaptureOptions | None = None,
        access_token_validity: Duration | None = None,
        rotation_interval: Duration | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        throttling_rate_limit: float = 100.0,
        throttling_burst_limit: int = 200,
        cloud_watch_role: bool = False,
        target_invocations_per_instance: int = 300,
        denied_cidrs: Sequence[str] = (),
        blocked_countries: Sequence[str] = (),
        allowed_countries: Sequence[str] = (),
        waf_rate_limit_per_ip: int = DEFAULT_RATE_LIMIT_PER_IP,
        waf_rate_limit_per_api_key: int | None = None,
        waf_rate_window: Duration | None = None,
        waf_managed_rule_groups: Sequence[str] = DEFAULT_MANAGED_RULE_GROUPS,
        waf_rule_overrides: Mapping[str, Mapping[str, str]] | None = None,
        threat_intel_feeds: Sequence[ThreatIntelFeed] = (),
        shield_advanced: bool = False,
        shield_options: ShieldOptions | None = None,
        web_acl: wafv2.CfnWebACL | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        alarm_emails: Sequence[str] = (),
        alarm_subscriptions: Sequence[sns.ITopicSubscription] = (),
        runbook_url: str = DEFAULT_RUNBOOK_URL,
        anomaly_monitor: bool = True,
        auto_block: bool = False,
        monitor_options: MonitorOptions | None = None,
        bundling_cache_dir: Path | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        clients = list(clients)
        check.unique_names("clients", [c.name for c in clients])
        check.image_choice(image_uri, framework, framework_version)
        check.model_signature(
            model_signature, model_signing_key is not None, model_signing_algorithm
        )
        check.instance_type("instance_type", instance_type, encrypted_volume=True)
        self.allowed_cidrs = check.cidrs("allowed_cidrs", allowed_cidrs)
        self.denied_cidrs = check.cidrs("denied_cidrs", denied_cidrs)
        if vpc is None and vpc_subnets is not None:
            raise ValueError("vpc_subnets selects subnets of a brought vpc; give vpc as well")
        if vpc is None and add_vpc_endpoints:
            raise ValueError(
                "add_vpc_endpoints adds endpoints to a brought vpc; the VPC created here has "
                "them already: give vpc as well, or leave add_vpc_endpoints out"
            )
        if not anomaly_monitor and (auto_block or monitor_options is not None):
            raise ValueError(
                "auto_block and monitor_options configure the anomaly monitor; "
                "set anomaly_monitor=True as well"
            )
        if auto_block and web_acl is not None:
            raise ValueError(
                "auto_block cannot be combined with web_acl: the auto-block IP sets belong to the "
                "web ACL built here; the monitor can still alert (auto_block=False)"
            )

        if encryption_key is None:
            self.key: kms.IKey = EncryptionKey(self, "Encryption").key
        elif keys.in_stack_of(encryption_key, self):
            self.key = encryption_key
            allow_logs_to_use(encryption_key)
        else:
            # Another stack's key, or an imported one: grants go to our principals only, and
            # its owner allows the services (docs/bring-your-own.md).
            self.key = keys.referenced(self, "BroughtKey", encryption_key)

        if vpc is None:
            self.network: IsolatedNetwork | None = IsolatedNetwork(
                self,
                "Network",
                key=self.key,
                flow_log_retention=log_retention,
                interface_endpoints=[
                    ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
                    ec2.InterfaceVpcEndpointAwsService.COGNITO_IDP,
                    *(INTERFACE_ENDPOINTS if anomaly_monitor else ()),
                    # The artifact check's kms:Verify of the model signature.
                    *(
                        [ec2.InterfaceVpcEndpointAwsService.KMS]
                        if model_signature is not None
                        else []
                    ),
                ],
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
                self,
                vpc,
                subnets,
                vpc_endpoints.needed(
                    anomaly_monitor=anomaly_monitor, model_signature=model_signature is not None
                ),
                add_missing=add_vpc_endpoints,
            )

        image = (
            ContainerImage.from_uri(image_uri, allow_mutable_tag=allow_mutable_image_tag)
            if image_uri is not None
            else ContainerImage.from_framework(
                str(framework), str(framework_version), instance_type=instance_type
            )
        )
        cache_dir = bundling_cache_dir or Path(".cache") / "lambda-deps"
        self.hosting = ModelHosting(
            self,
            "Hosting",
            model_data_url=model_data_url,
            model_sha256=model_sha256,
            image=image,
            instance_type=instance_type,
            instance_count=instance_count,
            max_instance_count=max_instance_count or 2 * instance_count,
            vpc=self.vpc,
            vpc_subnets=subnets,
            key=self.key,
            data_capture=data_capture,
            target_invocations_per_instance=target_invocations_per_instance,
            bundling_cache_dir=cache_dir,
            model_data_key=model_data_key,
            model_signature=model_signature,
            model_signing_key=model_signing_key,
            model_signing_algorithm=model_signing_algorithm,
            artifact_check_interval=artifact_check_interval,
            artifact_bucket_events=artifact_bucket_events,
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
        self.api = InferenceApi(
            self,
            "Api",
            endpoint=self.hosting,
            user_pool=self.identity.user_pool,
            invoke_scope=self.identity.invoke_scope,
            key=self.key,
            path=path,
            request_schema=request_schema,
            throttling_rate_limit=throttling_rate_limit,
            throttling_burst_limit=throttling_burst_limit,
            tls_policy=tls_policy,
            custom_domain=custom_domain,
            log_retention=log_retention,
            cloud_watch_role=cloud_watch_role,
        )
        self.threat_intel: ThreatIntelFeeds | None = None
        if threat_intel_feeds:
            if web_acl is not None:
                raise ValueError(
                    "threat_intel_feeds cannot be combined with web_acl: the feeds' IP sets "
                    "are blocked by the web ACL built here; reference ThreatIntelFeeds.ip_sets "
                    "from your own web ACL instead"
                )
            from secure_endpoint.constructs.threat_intel import ThreatIntelFeeds

            self.threat_intel = ThreatIntelFeeds(
                self,
                "ThreatIntel",
                feeds=threat_intel_feeds,
                key=self.key,
                protected_cidrs=self.allowed_cidrs,
                log_retention=log_retention,
                bundling_cache_dir=cache_dir,
            )
        if shield_options is not None and not shield_advanced:
            raise ValueError("shield_options configure shield_advanced=True; set it as well")
        if shield_advanced and Token.is_unresolved(Stack.of(self).region):
            raise ValueError(
                "shield_advanced needs a stack with a concrete region (env=Environment("
                "region='eu-west-1'), or cdk synth -c region=... with the sample app): the "
                "CloudFront web ACL goes to a stack in us-east-1, wired to this one by region"
            )
        if shield_advanced and web_acl is not None:
            raise ValueError(
                "shield_advanced cannot be combined with web_acl: the regional web ACL must "
                "require CloudFront's origin secret, which only the web ACL built here does"
            )
        origin_secret = None
        if shield_advanced:
            from secure_endpoint.constructs.shield import create_origin_secret

            origin_secret = create_origin_secret(self, "OriginSecret", key=self.key)
        # Behind CloudFront, the rules on the viewer's address move to the CloudFront web ACL.
        regional_groups = list(waf_managed_rule_groups)
        self.edge = WebAclProtection(
            self,
            "Edge",
            stage=self.api.stage,
            key=self.key,
            log_retention=log_retention,
            allowed_cidrs=self.allowed_cidrs,
            denied_cidrs=self.denied_cidrs,
            blocked_ip_sets=self.threat_intel.ip_sets if self.threat_intel else (),
            blocked_countries=() if shield_advanced else blocked_countries,
            allowed_countries=() if shield_advanced else allowed_countries,
            rate_limit_per_ip=DEFAULT_RATE_LIMIT_PER_IP
            if shield_advanced
            else waf_rate_limit_per_ip,
            rate_limit_per_api_key=(
                DEFAULT_RATE_LIMIT_PER_API_KEY
                if web_acl is not None
                else waf_rate_limit_per_api_key or _api_key_rate_limit(clients, waf_rate_window)
            ),
            api_key_rate_window=waf_rate_window,
            rate_window=None if shield_advanced else waf_rate_window,
            managed_rule_groups=regional_groups,
            managed_rule_overrides=waf_rule_overrides,
            max_body_bytes=max_body_bytes,
            origin_secret=origin_secret,
            web_acl=web_acl,
        )
        self.shield: ShieldAdvancedEdge | None = None
        if origin_secret is not None:
            from secure_endpoint.constructs.shield import ShieldAdvancedEdge, ShieldOptions

            options = shield_options or ShieldOptions()
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
                rate_limit_per_ip=waf_rate_limit_per_ip,
                rate_window=waf_rate_window,
                managed_rule_groups=[
                    group for group in regional_groups if group in SOURCE_ADDRESS_RULE_GROUPS
                ],
                blocked_countries=blocked_countries,
                allowed_countries=allowed_countries,
                automatic_mitigation=options.automatic_mitigation,
                health_error_rate=options.health_error_rate,
                emergency_contacts=options.emergency_contacts,
                log_retention=log_retention,
                bundling_cache_dir=cache_dir,
            )
        self.credentials = ClientCredentials(
            self,
            "Credentials",
            identity=self.identity,
            clients=clients,
            api_url=self.api_url,
            key=self.key,
            vpc=self.vpc,
            vpc_subnets=subnets,
            bundling_cache_dir=cache_dir,
            rotation_interval=rotation_interval,
            log_retention=log_retention,
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
            )
            self.alarms.add_anomaly_alarm(
                "AnomalousPrincipals",
                self.monitor.metric_anomalous_principals(),
                cloudwatch.ComparisonOperator.GREATER_THAN_UPPER_THRESHOLD,
                "The anomaly monitor finds more anomalous clients or addresses than usual",
                "anomaly-monitor",
            )
            self.alarms.dashboard.add_widgets(*self.monitor.widgets())
        self._grant_secret_rotations_the_key()
        self._watch_functions()
        self._add_outputs()

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
            if self.monitor.responder is not None:
                watched.append(
                    ("ApiKeyResponder", self.monitor.responder.function, "the API key responder")
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
        """Where clients POST: through CloudFront with ``shield_advanced``, else the API."""
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
        )
        key = manifest.output_key(self.manifest_name)
        self.manifest_output = CfnOutput(
            self,
            "Manifest",
            key=key,
            value=stack.to_json_string(found.as_json()),
            description=f"secure-endpoint manifest, schema {manifest.SCHEMA}",
        )


def _api_key_rate_limit(clients: Sequence[ApiClient], window: Duration | None) -> int:
    """What the most generous usage plan lets one key send in the WAF's rate window."""
    # An invalid window is reported by the web ACL, naming its prop; any number does here.
    seconds = (
        window.to_seconds(integral=False)
        if isinstance(window, Duration)
        else DEFAULT_RATE_WINDOW_SEC
    )
    window_sec = seconds or DEFAULT_RATE_WINDOW_SEC
    allowed = max(math.ceil(c.rate_limit * window_sec) + int(c.burst_limit or 0) for c in clients)
    return max(allowed, WAF_RATE_LIMIT_MIN)

"""SageMaker real-time hosting of one model: network-isolated, encrypted, capped autoscaling."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aws_cdk import Annotations, ArnFormat, CfnResource, CfnTag, Duration, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct, IDependable

from secure_endpoint import compliance
from secure_endpoint.constructs import _building as build
from secure_endpoint.constructs import _metrics as metrics
from secure_endpoint.constructs import _validation as check
from secure_endpoint.constructs._iam import ManagedPolicyRole
from secure_endpoint.constructs.images import ContainerImage
from secure_endpoint.constructs.integrity import ArtifactVerification
from secure_endpoint.constructs.options import DataCaptureOptions

#: The model tag that records the SHA-256 digest of the model artifact.
MODEL_SHA256_TAG = "secure-endpoint:model-sha256"
#: Where SageMaker endpoints write their container logs.
ENDPOINT_LOG_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"
#: The CloudWatch namespace of the endpoint invocation metrics.
METRICS_NAMESPACE = "AWS/SageMaker"
#: The prefix of captured objects in the capture bucket.
CAPTURE_PREFIX = "capture"

_SCALE_OUT_COOLDOWN = Duration.minutes(1)
_SCALE_IN_COOLDOWN = Duration.minutes(5)
_ACCESS_LOG_RETENTION = Duration.days(365)
_S3_LOGS_USE_BUCKET_POLICY = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"
_AUTOSCALING_SERVICE_LINKED_ROLE = (
    "aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)


class ModelHosting(Construct):
    """A SageMaker model served by a real-time endpoint, inside a VPC, with capped autoscaling.

    The model runs with network isolation (its container can make no network calls) on
    instances whose volumes are encrypted with ``key``; SageMaker reaches the model artifact
    and the capture bucket through the subnets given, behind a security group that admits
    nothing and lets out HTTPS only. One execution role holds exactly what hosting needs: read
    of the one artifact object, pull of the one image, logs of SageMaker endpoints, the network
    interfaces of the VPC configuration, and use of ``key``. Application Auto Scaling tracks
    invocations per instance between ``instance_count`` and ``max_instance_count``, so a flood
    of requests is throttled rather than turned into an unbounded bill.

    :param scope: the parent construct.
    :param construct_id: the construct id.
    :param model_data_url: the model artifact, ``s3://bucket/key.tar.gz``, in the endpoint's
        Region. The bucket is yours: it must be reachable from the subnets (an S3 gateway
        endpoint) and, if it is encrypted with another KMS key, that key must let
        ``execution_role`` decrypt.
    :param model_sha256: the SHA-256 digest of the artifact, recorded on the model as the tag
        ``secure-endpoint:model-sha256`` and verified before the model is created
        (``ArtifactVerification``): an artifact with another digest fails the deployment.
    :param image: the serving container image.
    :param instance_type: the SageMaker instance type; one whose storage is EBS, so that ``key``
        can encrypt it (not an NVMe instance-store type such as ``ml.g5``).
    :param instance_count: the instances kept running, and the autoscaling minimum (1-1000).
    :param max_instance_count: the autoscaling maximum, at least ``instance_count`` (1-1000):
        the ceiling on what a flood of requests can cost.
    :param vpc: the VPC the model's network interfaces are placed in.
    :param vpc_subnets: the subnets for the network interfaces, in at least two Availability
        Zones.
    :param key: the KMS key for the instance volumes and the captured data.
    :param target_invocations_per_instance: the invocations per instance per minute autoscaling
        holds the variant at (1-100,000). Default: - 300
    :param data_capture: capture requests and responses to an encrypted bucket created here.
        Default: - no capture
    :param variant_name: the production variant's name. Default: - ``AllTraffic``
    :param s3_prefix_list: the Amazon S3 managed prefix list of the region
        (``com.amazonaws.<region>.s3``), for example from ``ec2.PrefixList.from_lookup`` in
        the app; the security group then lets HTTPS out to S3 only. Default: - HTTPS out to
        any IPv4 address, which from subnets without internet routes reaches only the VPC
        and the S3 gateway endpoint (S3 traffic through a gateway endpoint is addressed to
        S3's public ranges, so a rule for the VPC range alone would block the download)
    :param model_data_key: the KMS key the artifact is encrypted with (SSE-KMS); the artifact
        check may decrypt with it. Default: - none; the artifact is encrypted with SSE-S3
    :param model_signature: the base64 signature of the artifact's SHA-256 digest by
        ``model_signing_key``, checked with ``kms:Verify`` before the model is created; the
        subnets must then reach KMS through an interface endpoint (with ``s3_prefix_list``, the
        security group also lets HTTPS out to the VPC's range for it). Default: - none
    :param model_signing_key: the asymmetric SIGN_VERIFY KMS key that signed it.
        Default: - none
    :param model_signing_algorithm: ``ECDSA_SHA_256``, ``RSASSA_PSS_SHA_256`` or
        ``RSASSA_PKCS1_V1_5_SHA_256``. Default: - ``ECDSA_SHA_256``
    :param artifact_check_interval: how often the artifact is re-hashed after the deploy
        (``artifact_verification.metric_digest_mismatch()``), 15 minutes to 1 day.
        Default: - 1 hour
    :param artifact_bucket_events: the artifact's bucket sends events to EventBridge: also
        re-check on the object's writes and deletes. Default: - false
    :param artifact_scan: scan the artifact for what would run code when loaded before the
        model exists (``ArtifactVerification``). Default: - true
    :param allowed_pickle_globals: imports the scan allows beyond its allowlist.
        Default: - none
    :param bundling_cache_dir: where bundled Lambda code is cached.
        Default: - ``$SECURE_ENDPOINT_CACHE_DIR``, else the per-user cache
        (``bundling.resolve_cache_dir``)
    :param reserved_concurrency: reserve 2 concurrent executions for the artifact check. Lambda
        keeps at least 100 of the account's concurrency unreserved, so reservations need an account
        quota of at least 100 plus all of them (new accounts may start at 10: raise it in Service
        Quotas first). Default: - false; no reservation
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model_data_url: str,
        model_sha256: str,
        image: ContainerImage,
        instance_type: str,
        instance_count: int,
        max_instance_count: int,
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection,
        key: kms.IKey,
        target_invocations_per_instance: int = 300,
        data_capture: DataCaptureOptions | None = None,
        variant_name: str = "AllTraffic",
        s3_prefix_list: ec2.IPrefixList | None = None,
        model_data_key: kms.IKey | None = None,
        model_signature: str | None = None,
        model_signing_key: kms.IKey | None = None,
        model_signing_algorithm: str | None = None,
        artifact_check_interval: Duration | None = None,
        artifact_bucket_events: bool = False,
        artifact_scan: bool = True,
        allowed_pickle_globals: Sequence[str] = (),
        bundling_cache_dir: Path | None = None,
        reserved_concurrency: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        # S3 delivers the capture bucket's access logs under a bucket policy, with ACLs kept
        # disabled, whatever the app's feature flags say (the flag's default needs ACLs).
        self.node.set_context(_S3_LOGS_USE_BUCKET_POLICY, True)
        bucket_name, object_key = check.s3_url("model_data_url", model_data_url)
        check.iam_literal("model_data_url", model_data_url)
        check.sha256_hex("model_sha256", model_sha256)
        if not isinstance(image, ContainerImage):
            raise ValueError(
                "image must be a ContainerImage, such as ContainerImage.from_uri(...) or "
                f"ContainerImage.from_framework(...), got {image!r}"
            )
        check.instance_type("instance_type", instance_type, encrypted_volume=True)
        check.instance_counts(instance_count, max_instance_count)
        check.int_range(
            "target_invocations_per_instance", target_invocations_per_instance, 1, 100_000
        )
        if data_capture is not None and not isinstance(data_capture, DataCaptureOptions):
            raise ValueError(
                f"data_capture must be a DataCaptureOptions or None, got {data_capture!r}"
            )
        check.variant_name("variant_name", variant_name)
        subnets = _select_subnets(vpc, vpc_subnets)
        check.subnet_spread(
            "vpc_subnets", subnets.subnet_ids, [s.availability_zone for s in subnets.subnets]
        )

        stack = Stack.of(self)
        self.variant_name = variant_name
        """The production variant's name."""
        self._key = key

        self.execution_role = ManagedPolicyRole(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker hosting of one model: its artifact, image, logs and network",
        )
        """The role SageMaker assumes to host the model; its grants land in a managed policy."""
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="SageMaker model: no inbound; HTTPS out, to reach Amazon S3",
            allow_all_outbound=False,
        )
        """The model's network interfaces' security group: no ingress, HTTPS egress only."""
        s3_egress: ec2.CfnSecurityGroupEgress | None = None
        if s3_prefix_list is not None:
            # Not add_egress_rule: CDK would render a prefix-list rule as a separate resource
            # and drop the group's inline placeholder, and a group created without inline
            # egress keeps EC2's default allow-all rule next to it.
            s3_egress = self._https_egress(
                "S3Egress",
                "HTTPS to Amazon S3 (model artifact, captured data)",
                destination_prefix_list_id=s3_prefix_list.prefix_list_id,
            )
        else:
            self.security_group.add_egress_rule(
                ec2.Peer.any_ipv4(),
                ec2.Port.tcp(443),
                "HTTPS to Amazon S3 through the gateway endpoint (model artifact, captured data)",
            )

        self.artifact_verification = ArtifactVerification(
            self,
            "ArtifactVerification",
            model_data_url=model_data_url,
            model_sha256=model_sha256,
            key=key,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            # The function needs what the model needs: no inbound, HTTPS out to Amazon S3.
            security_group=self.security_group,
            model_data_key=model_data_key,
            model_signature=model_signature,
            model_signing_key=model_signing_key,
            model_signing_algorithm=model_signing_algorithm,
            artifact_check_interval=artifact_check_interval,
            artifact_bucket_events=artifact_bucket_events,
            artifact_scan=artifact_scan,
            allowed_pickle_globals=allowed_pickle_globals,
            bundling_cache_dir=bundling_cache_dir,
            reserved_concurrency=reserved_concurrency,
        )
        """The check that the artifact has ``model_sha256`` (the model depends on it), and the
        tamper check that keeps re-hashing it."""
        if s3_egress is not None:
            # The check reaches S3 through this rule: it must exist before the check runs.
            self.artifact_verification.resource.node.add_dependency(s3_egress)
            if model_signature is not None:
                # ... and KMS, for the signature, through an interface endpoint in the VPC.
                kms_egress = self._https_egress(
                    "KmsEgress",
                    "HTTPS to the VPC's KMS endpoint (the model signature check)",
                    cidr_ip=vpc.vpc_cidr_block,
                )
                self.artifact_verification.resource.node.add_dependency(kms_egress)
        role_policy = self._grant_hosting(
            stack, bucket_name, object_key, image, subnets.subnet_ids, vpc.vpc_id
        )
        self._acknowledge_execution_role()

        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.execution_role.role_arn,
            enable_network_isolation=True,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=image.bind(self), model_data_url=model_data_url, mode="SingleModel"
            ),
            vpc_config=sagemaker.CfnModel.VpcConfigProperty(
                security_group_ids=[self.security_group.security_group_id],
                subnets=subnets.subnet_ids,
            ),
            tags=[CfnTag(key=MODEL_SHA256_TAG, value=model_sha256)],
        )
        """The SageMaker model (``AWS::SageMaker::Model``)."""
        # SageMaker uses the role as soon as the endpoint is created: its policy must exist.
        self.model.node.add_dependency(role_policy)
        # Verify before create: an artifact with another digest never becomes a model.
        verification = self.artifact_verification.resource.node.default_child
        assert isinstance(verification, CfnResource)
        self.model.add_resource_dependency(verification)

        self.capture_bucket: s3.Bucket | None = None
        """The bucket captured requests and responses go to; None without data capture."""
        self.capture_access_log_bucket: s3.Bucket | None = None
        """The server access log bucket of ``capture_bucket``; None without data capture."""
        capture_config = None
        if data_capture is not None:
            capture_config = self._data_capture(data_capture, key)

        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            kms_key_id=key.key_arn,
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=variant_name,
                    model_name=self.model.attr_model_name,
                    instance_type=instance_type,
                    initial_instance_count=instance_count,
                    initial_variant_weight=1.0,
                )
            ],
            data_capture_config=capture_config,
        )
        """The endpoint configuration (``AWS::SageMaker::EndpointConfig``)."""
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            # A deployment keeps the instance count autoscaling chose, not the initial one.
            retain_all_variant_properties=True,
            exclude_retained_variant_properties=[
                sagemaker.CfnEndpoint.VariantPropertyProperty(
                    variant_property_type="DataCaptureConfig"
                )
            ],
        )
        """The endpoint (``AWS::SageMaker::Endpoint``)."""
        self.endpoint_name = self.endpoint.attr_endpoint_name
        """The endpoint's name, generated by CloudFormation."""
        # SageMaker reports endpoint ARNs in lower case whatever the name's case, and IAM
        # compares ARNs case-sensitively: only the ARN SageMaker returns matches requests.
        self.endpoint_arn = self.endpoint.ref
        """The endpoint's ARN, as SageMaker reports it (resource name in lower case)."""

        self.scalable_target = appscaling.ScalableTarget(
            self,
            "ScalableTarget",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{self.endpoint_name}/variant/{variant_name}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=instance_count,
            max_capacity=max_instance_count,
            # For SageMaker, Application Auto Scaling acts through its service-linked role (and
            # creates it if missing); naming it keeps CDK from adding an unused role.
            role=iam.Role.from_role_arn(
                self,
                "AutoScalingRole",
                stack.format_arn(
                    service="iam",
                    region="",
                    resource="role",
                    resource_name=_AUTOSCALING_SERVICE_LINKED_ROLE,
                ),
                mutable=False,
            ),
        )
        """The variant's instance count as an Application Auto Scaling target, capped."""
        self.scalable_target.scale_to_track_metric(
            "InvocationsPerInstance",
            target_value=target_invocations_per_instance,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            scale_out_cooldown=_SCALE_OUT_COOLDOWN,
            scale_in_cooldown=_SCALE_IN_COOLDOWN,
        )

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` invoke this endpoint (``sagemaker:InvokeEndpoint``), and only it.

        A principal granted this calls SageMaker directly, around the API: no WAF rule, OAuth
        scope, usage plan, access log or anomaly monitor sees those calls. Every call of this
        method therefore adds a synth warning (``secure-endpoint:direct-invoke``) naming the
        grantee; keep it for trusted internal callers. The API's own integration role is
        granted through ``grant_api_invoke``, without a warning.
        """
        who = grantee.node.path if isinstance(grantee, Construct) else repr(grantee)
        Annotations.of(self).add_warning_v2(
            "secure-endpoint:direct-invoke",
            f"grant_invoke lets {who} invoke the SageMaker endpoint directly, bypassing the "
            "API's WAF rules, OAuth scopes, usage plans, access logs and anomaly monitor. "
            "Prefer an API client (ApiClient) for callers that are not fully trusted.",
        )
        return self.grant_api_invoke(grantee)

    def grant_api_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let API Gateway's integration role (``grantee``) invoke this endpoint, and only it.

        ``InferenceApi`` calls this for the role its integration assumes: the path behind the
        WAF, OAuth and usage plans. For any other principal use ``grant_invoke``, which warns.
        """
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["sagemaker:InvokeEndpoint"], resource_arns=[self.endpoint_arn]
        )

    def metric(self, metric_name: str, **options: Any) -> cloudwatch.Metric:
        """A metric of this endpoint's variant in ``AWS/SageMaker``.

        :param metric_name: such as ``Invocations`` or ``ModelLatency``.
        :param options: ``cloudwatch.MetricOptions`` fields (``period``, ``statistic``,
            ``label``, ...). Default: - Average per five minutes
        """
        return self._metric(metric_name, options)

    def metric_invocations(self, **options: Any) -> cloudwatch.Metric:
        """Requests sent to the variant.

        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Sum per five minutes
        """
        return self._metric("Invocations", options, statistic="Sum")

    def metric_model_latency(self, **options: Any) -> cloudwatch.Metric:
        """Time the model took to respond, in microseconds.

        :param options: ``cloudwatch.MetricOptions`` fields. Default: - p99 per five minutes
        """
        return self._metric("ModelLatency", options, statistic="p99")

    def metric_invocation_errors(
        self, status_class: str = "5XX", **options: Any
    ) -> cloudwatch.Metric:
        """Invocations the endpoint answered with an error.

        :param status_class: ``'5XX'`` (the model or the endpoint failed) or ``'4XX'`` (the
            request was refused). Default: - ``'5XX'``
        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Sum per five minutes
        """
        if status_class not in ("4XX", "5XX"):
            raise ValueError(f"status_class must be '4XX' or '5XX', got {status_class!r}")
        return self._metric(f"Invocation{status_class}Errors", options, statistic="Sum")

    def _metric(
        self, metric_name: str, options: dict[str, Any], **defaults: Any
    ) -> cloudwatch.Metric:
        return metrics.metric(
            METRICS_NAMESPACE,
            metric_name,
            {"EndpointName": self.endpoint_name, "VariantName": self.variant_name},
            options,
            **defaults,
        )

    def _grant_hosting(
        self,
        stack: Stack,
        bucket_name: str,
        object_key: str,
        image: ContainerImage,
        subnet_ids: list[str],
        vpc_id: str,
    ) -> IDependable:
        """Everything SageMaker needs to host the model, on the execution role.

        Returns the policy that holds it, which the model must wait for.
        """
        role = self.execution_role
        # The artifact bucket is the user's and no construct of it exists here: this one
        # statement is written by hand, for the one object.
        artifact = role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
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
        image.grant_pull(role, scope=self)
        # Encrypted instance volumes: SageMaker creates grants on the key for the EBS volumes.
        self._key.grant_decrypt(role)
        self._key.grant(role, "kms:DescribeKey")
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:CreateGrant"],
                resources=[self._key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:DescribeLogStreams",
                    "logs:PutLogEvents",
                ],
                resources=[
                    stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=f"{ENDPOINT_LOG_GROUP_PREFIX}*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/Endpoints"}},
            )
        )
        # The network interfaces of the VPC configuration.
        network_interfaces = stack.format_arn(
            service="ec2", resource="network-interface", resource_name="*"
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ec2:CreateNetworkInterface"],
                resources=[
                    network_interfaces,
                    stack.format_arn(
                        service="ec2",
                        resource="security-group",
                        resource_name=self.security_group.security_group_id,
                    ),
                    *(
                        stack.format_arn(service="ec2", resource="subnet", resource_name=subnet)
                        for subnet in subnet_ids
                    ),
                ],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "ec2:CreateNetworkInterfacePermission",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DeleteNetworkInterfacePermission",
                ],
                resources=[network_interfaces],
                # Only the interfaces in the model's VPC. The EC2 service authorization reference
                # lists ec2:Vpc (the VPC's ARN) among the network-interface resource type's
                # condition keys, so it applies to all three actions on that resource type.
                conditions={
                    "ArnEquals": {
                        "ec2:Vpc": stack.format_arn(
                            service="ec2", resource="vpc", resource_name=vpc_id
                        )
                    }
                },
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "ec2:DescribeDhcpOptions",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeVpcs",
                ],
                resources=["*"],
            )
        )
        assert artifact.policy_dependable is not None
        return artifact.policy_dependable

    def _https_egress(
        self, construct_id: str, description: str, **destination: str
    ) -> ec2.CfnSecurityGroupEgress:
        """An HTTPS egress rule of the model's security group, as its own resource."""
        return ec2.CfnSecurityGroupEgress(
            self,
            construct_id,
            group_id=self.security_group.security_group_id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description=description,
            **destination,
        )

    def _acknowledge_execution_role(self) -> None:
        role = self.execution_role
        compliance.acknowledge(
            role,
            "Resource '*' is limited to actions that have no resource-level permissions: "
            "ecr:GetAuthorizationToken (the registry login before the scoped image pull), the "
            "ec2:Describe* calls SageMaker makes to validate the VPC configuration, and "
            "cloudwatch:PutMetricData, held to the /aws/sagemaker/Endpoints namespace by a "
            "condition.",
            "AwsSolutions-IAM5[Resource::*]",
        )
        compliance.acknowledge(
            role,
            "SageMaker creates, shares and deletes the model's network interfaces, whose ids "
            "do not exist before it does; creation is further limited to this model's subnets "
            "and security group, and the ENI actions to this account and Region.",
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:"
            "<AWS::AccountId>:network-interface/*]",
        )
        compliance.acknowledge(
            role,
            "SageMaker writes container logs to /aws/sagemaker/Endpoints/<endpoint name>; the "
            "name is generated by CloudFormation when the endpoint is created, after this role "
            "must already hold the permission, so the log-group name ends in a wildcard under "
            "that SageMaker-owned prefix.",
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:"
            "<AWS::AccountId>:log-group:/aws/sagemaker/Endpoints/*]",
        )

    def _data_capture(
        self, options: DataCaptureOptions, key: kms.IKey
    ) -> sagemaker.CfnEndpointConfig.DataCaptureConfigProperty:
        """The capture bucket, its access-log bucket, the role's write grant, the config."""
        self.capture_access_log_bucket = build.access_log_bucket(
            self, "CaptureAccessLogs", expiration=_ACCESS_LOG_RETENTION
        )
        self.capture_bucket = build.encrypted_bucket(
            self,
            "CaptureBucket",
            key=key,
            access_logs=self.capture_access_log_bucket,
            access_logs_prefix="capture-bucket/",
            lifecycle_rules=[build.expiring_versions(Duration.days(options.expiration_days))],
        )
        self.capture_bucket.grant_put(self.execution_role, f"{CAPTURE_PREFIX}/*")
        self._acknowledge_capture(self.capture_bucket, self.capture_access_log_bucket)
        return sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
            enable_capture=True,
            initial_sampling_percentage=options.sampling_percentage,
            destination_s3_uri=self.capture_bucket.s3_url_for_object(CAPTURE_PREFIX),
            kms_key_id=key.key_arn,
            capture_options=[
                sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input"),
                sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Output"),
            ],
            capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                json_content_types=["application/json"]
            ),
        )

    def _acknowledge_capture(self, bucket: s3.Bucket, access_logs: s3.Bucket) -> None:
        stack = Stack.of(self)
        bucket_id = stack.resolve(stack.get_logical_id(bucket.node.default_child))  # type: ignore[arg-type]
        compliance.acknowledge(
            self.execution_role,
            "SageMaker writes captured requests and responses under capture/<endpoint>/"
            "<variant>/<yyyy>/<mm>/<dd>/<hh>/ with generated file names, so the object ARN ends "
            "in a wildcard; it is held to the capture prefix of the capture bucket created here.",
            f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{CAPTURE_PREFIX}/*]",
        )
        compliance.acknowledge(
            self.execution_role,
            "CDK's put grant on the SSE-KMS capture bucket: s3:Abort* is AbortMultipartUpload "
            "for SageMaker's multipart uploads of captured data, and kms:GenerateDataKey* and "
            "kms:ReEncrypt* expand to the data-key and re-encrypt variants of this construct's "
            "key alone, which S3 uses to encrypt the objects the role writes.",
            "AwsSolutions-IAM5[Action::s3:Abort*]",
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
            "AwsSolutions-IAM5[Action::kms:ReEncrypt*]",
        )
        for target, what in ((bucket, "captured inference data"), (access_logs, "access logs")):
            build.acknowledge_no_replication(
                target,
                f"This bucket holds {what} of one endpoint, versioned and expired by a "
                "lifecycle rule; replicating it would copy request payloads (or who read "
                "them) into a second bucket and Region and widen where they live, while a "
                "sample of recent traffic needs no disaster-recovery copy.",
            )


def _select_subnets(vpc: ec2.IVpc, selection: ec2.SubnetSelection) -> ec2.SelectedSubnets:
    if not isinstance(selection, ec2.SubnetSelection):
        raise ValueError(
            "vpc_subnets must be an ec2.SubnetSelection, such as "
            f"ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED), got {selection!r}"
        )
    return vpc.select_subnets(
        availability_zones=selection.availability_zones,
        one_per_az=selection.one_per_az,
        subnet_filters=selection.subnet_filters,
        subnet_group_name=selection.subnet_group_name,
        subnets=selection.subnets,
        subnet_type=selection.subnet_type,
    )

"""ModelHosting in an IsolatedNetwork, with and without data capture, synthesized once.
Nag and cfn-lint: test_compliance_matrix.py."""

import json
from pathlib import Path

import pytest
from aws_cdk import App, Duration, Environment, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Capture, Match, Template
from configurations import once

from secure_endpoint.constructs.hosting import ModelHosting
from secure_endpoint.constructs.images import ContainerImage
from secure_endpoint.constructs.keys import EncryptionKey
from secure_endpoint.constructs.network import IsolatedNetwork
from secure_endpoint.constructs.options import DataCaptureOptions

pytestmark = pytest.mark.synth

CDK_CONTEXT = json.loads((Path(__file__).parent.parent / "cdk.json").read_text())["context"]
MODEL_URL = "s3://model-artifacts-bucket/models/churn/model.tar.gz"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
IMAGE_URI = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn@sha256:" + "ab" * 32


def logs_key(stack):
    """The project's key: rotating, and usable by CloudWatch Logs of this account and region."""
    return EncryptionKey(stack, "Key").key


def build(app, stack_id, *, image=None, env=None, **props):
    stack = Stack(app, stack_id, env=env)
    key = logs_key(stack)
    network = IsolatedNetwork(stack, "Network", key=key)
    hosting = ModelHosting(
        stack,
        "Hosting",
        model_data_url=MODEL_URL,
        model_sha256=SHA256,
        image=image
        or ContainerImage.from_framework("sklearn", "1.2-1", instance_type="ml.m5.large"),
        instance_type="ml.m5.large",
        instance_count=2,
        max_instance_count=6,
        vpc=network.vpc,
        vpc_subnets=network.isolated_subnets,
        key=key,
        **props,
    )
    return stack, key, network, hosting


class Built:
    def __init__(self, app, stack, key, network, hosting):
        self.app = app
        self.stack = stack
        self.key = key
        self.network = network
        self.hosting = hosting
        self.template = Template.from_stack(stack)

    def id(self, construct):
        """The logical id of a construct's CloudFormation resource."""
        resource = construct.node.default_child or construct
        return self.stack.resolve(self.stack.get_logical_id(resource))

    def role_policy(self):
        """The logical id and properties of the execution role's one policy."""
        role = {"Ref": self.id(self.hosting.execution_role)}
        policies = self.template.find_resources(
            "AWS::IAM::ManagedPolicy", {"Properties": {"Roles": [role]}}
        )
        assert len(policies) == 1
        ((policy_id, policy),) = policies.items()
        return policy_id, policy["Properties"]

    def role_statements(self):
        return self.role_policy()[1]["PolicyDocument"]["Statement"]


def configuration():
    """One app, two stacks: without and with data capture (a row of the compliance matrix)."""
    app = App(context=CDK_CONTEXT)
    plain = build(app, "Hosting", target_invocations_per_instance=120)
    captured = build(
        app,
        "HostingWithCapture",
        data_capture=DataCaptureOptions(sampling_percentage=25, expiration_days=30),
    )
    return app, Built(app, *plain), Built(app, *captured)


@pytest.fixture(scope="module")
def app():
    return once(configuration)


@pytest.fixture(scope="module")
def plain(app):
    return app[1]


@pytest.fixture(scope="module")
def captured(app):
    return app[2]


def actions_of(statement):
    action = statement["Action"]
    return [action] if isinstance(action, str) else action


def resources_of(statement):
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


# The model


def test_the_model_runs_network_isolated_with_the_role_subnets_and_security_group(plain):
    role, sg, subnets = Capture(), Capture(), Capture()
    plain.template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "EnableNetworkIsolation": True,
            "ExecutionRoleArn": {"Fn::GetAtt": [role, "Arn"]},
            "VpcConfig": {
                "SecurityGroupIds": [{"Fn::GetAtt": [sg, "GroupId"]}],
                "Subnets": subnets,
            },
        },
    )
    assert role.as_string() == plain.id(plain.hosting.execution_role)
    assert sg.as_string() == plain.id(plain.hosting.security_group)
    isolated = [subnet.subnet_id for subnet in plain.network.vpc.isolated_subnets]
    assert subnets.as_array() == plain.stack.resolve(isolated)
    assert len(subnets.as_array()) == 2


def test_the_model_serves_the_artifact_with_the_image_and_records_its_digest(plain):
    image = Capture()
    plain.template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": {
                "Image": image,
                "ModelDataUrl": MODEL_URL,
                "Mode": "SingleModel",
            },
            "Tags": [{"Key": "secure-endpoint:model-sha256", "Value": SHA256}],
        },
    )
    assert image.as_object()["Fn::FindInMap"][1] == {"Ref": "AWS::Region"}


def test_the_model_waits_for_the_role_policy_and_the_artifact_check(plain):
    (model,) = plain.template.find_resources("AWS::SageMaker::Model").values()
    policy_id, _ = plain.role_policy()
    check_id = plain.id(plain.hosting.artifact_verification.resource)
    assert sorted(model["DependsOn"]) == sorted([policy_id, check_id])
    plain.template.resource_properties_count_is(
        "AWS::IAM::Policy", {"Roles": [{"Ref": plain.id(plain.hosting.execution_role)}]}, 0
    )


def test_the_security_group_admits_nothing_and_lets_out_https_only(plain):
    group = plain.template.find_resources("AWS::EC2::SecurityGroup")[
        plain.id(plain.hosting.security_group)
    ]
    assert "SecurityGroupIngress" not in group["Properties"]
    (egress,) = group["Properties"]["SecurityGroupEgress"]
    assert (egress["IpProtocol"], egress["FromPort"], egress["ToPort"]) == ("tcp", 443, 443)
    plain.template.resource_count_is("AWS::EC2::SecurityGroupIngress", 0)


def with_the_s3_prefix_list():
    """The S3 prefix list given (and a row of the compliance matrix)."""
    app = App()
    stack = Stack(app, "PrefixList")
    props = valid_props(stack)
    s3 = ec2.PrefixList.from_prefix_list_id(stack, "S3", "pl-6ea54007")
    return app, stack, ModelHosting(stack, "Hosting", s3_prefix_list=s3, **props)


def test_with_the_s3_prefix_list_the_security_group_lets_out_to_s3_only():
    _, stack, hosting = once(with_the_s3_prefix_list)
    template = Template.from_stack(stack)
    group_id = stack.resolve(stack.get_logical_id(hosting.security_group.node.default_child))
    group = template.find_resources("AWS::EC2::SecurityGroup")[group_id]
    # The inline placeholder matches no traffic, and removes EC2's default allow-all rule.
    (placeholder,) = group["Properties"]["SecurityGroupEgress"]
    assert placeholder["CidrIp"] == "255.255.255.255/32"
    assert placeholder["IpProtocol"] == "icmp"
    egress = template.find_resources("AWS::EC2::SecurityGroupEgress")
    assert [rule["Properties"] for rule in egress.values()] == [
        {
            "Description": "HTTPS to Amazon S3 (model artifact, captured data)",
            "DestinationPrefixListId": "pl-6ea54007",
            "FromPort": 443,
            "GroupId": {"Fn::GetAtt": [group_id, "GroupId"]},
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]


# The execution role


def test_the_role_reads_exactly_the_artifact_object(plain):
    statements = plain.role_statements()
    reads = [s for s in statements if "s3:GetObject" in actions_of(s)]
    assert reads == [
        {
            "Action": "s3:GetObject",
            "Effect": "Allow",
            "Resource": {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":s3:::model-artifacts-bucket/models/churn/model.tar.gz",
                    ],
                ]
            },
        }
    ]


def test_the_role_has_no_action_wildcard_and_no_aws_managed_policy(plain):
    for statement in plain.role_statements():
        for action in actions_of(statement):
            assert "*" not in action, statement
    role = plain.template.find_resources("AWS::IAM::Role")[plain.id(plain.hosting.execution_role)]
    assert "ManagedPolicyArns" not in role["Properties"]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "sagemaker.amazonaws.com"
    }


def test_resource_wildcards_are_only_where_iam_or_sagemaker_leave_no_choice(plain):
    wildcard_actions = set()
    for statement in plain.role_statements():
        if any("*" in json.dumps(r) for r in resources_of(statement)):
            wildcard_actions.update(actions_of(statement))
    assert wildcard_actions == {
        # No resource-level permissions.
        "cloudwatch:PutMetricData",
        "ec2:DescribeDhcpOptions",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
        "ecr:GetAuthorizationToken",
        # Network interfaces that do not exist yet.
        "ec2:CreateNetworkInterface",
        "ec2:CreateNetworkInterfacePermission",
        "ec2:DeleteNetworkInterface",
        "ec2:DeleteNetworkInterfacePermission",
        # Log groups named after the generated endpoint name.
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
    }


def test_the_role_uses_the_key_through_grants(plain):
    key_arn = {"Fn::GetAtt": [plain.id(plain.key), "Arn"]}
    statements = plain.role_statements()
    on_key = [s for s in statements if s["Resource"] == key_arn]
    actions = {a for s in on_key for a in actions_of(s)}
    assert actions == {"kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"}
    (create_grant,) = [s for s in on_key if "kms:CreateGrant" in actions_of(s)]
    assert create_grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_the_role_pulls_only_the_model_image(plain):
    (pull,) = [s for s in plain.role_statements() if "ecr:BatchGetImage" in actions_of(s)]
    resource = json.dumps(pull["Resource"])
    assert resource.endswith(':repository/sagemaker-scikit-learn"]]}')


def test_network_interfaces_are_created_only_in_the_model_subnets_and_security_group(plain):
    (create,) = [
        s for s in plain.role_statements() if actions_of(s) == ["ec2:CreateNetworkInterface"]
    ]
    resources = json.dumps(create["Resource"])
    assert plain.id(plain.hosting.security_group) in resources
    for subnet in plain.network.vpc.isolated_subnets:
        assert plain.id(subnet) in resources
    assert len(create["Resource"]) == 4  # the interfaces, the group, two subnets


def test_logs_are_limited_to_sagemaker_endpoint_log_groups(plain):
    (logs_statement,) = [s for s in plain.role_statements() if "logs:PutLogEvents" in actions_of(s)]
    assert logs_statement["Resource"]["Fn::Join"][1][-1] == (
        ":log-group:/aws/sagemaker/Endpoints/*"
    )
    (metrics,) = [
        s for s in plain.role_statements() if actions_of(s) == ["cloudwatch:PutMetricData"]
    ]
    assert metrics["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/Endpoints"}
    }


# The endpoint


def test_the_endpoint_config_encrypts_volumes_with_the_key(plain):
    key = Capture()
    plain.template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig", {"KmsKeyId": {"Fn::GetAtt": [key, "Arn"]}}
    )
    assert key.as_string() == plain.id(plain.key)


def test_the_endpoint_config_has_one_variant_of_this_model(plain):
    model = Capture()
    plain.template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": {"Fn::GetAtt": [model, "ModelName"]},
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 2,
                    "InitialVariantWeight": 1,
                }
            ],
            "DataCaptureConfig": Match.absent(),
        },
    )
    assert model.as_string() == plain.stack.resolve(plain.stack.get_logical_id(plain.hosting.model))


def test_the_endpoint_uses_the_config_and_keeps_the_scaled_count_on_update(plain):
    config = Capture()
    plain.template.has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "EndpointConfigName": {"Fn::GetAtt": [config, "EndpointConfigName"]},
            "RetainAllVariantProperties": True,
            "ExcludeRetainedVariantProperties": [{"VariantPropertyType": "DataCaptureConfig"}],
        },
    )
    assert config.as_string() == plain.stack.resolve(
        plain.stack.get_logical_id(plain.hosting.endpoint_config)
    )


def test_name_and_arn_are_the_endpoint_attributes(plain):
    endpoint_id = plain.stack.resolve(plain.stack.get_logical_id(plain.hosting.endpoint))
    assert plain.stack.resolve(plain.hosting.endpoint_name) == {
        "Fn::GetAtt": [endpoint_id, "EndpointName"]
    }
    assert plain.stack.resolve(plain.hosting.endpoint_arn) == {"Ref": endpoint_id}
    assert plain.hosting.variant_name == "AllTraffic"
    assert plain.hosting.capture_bucket is None
    assert plain.hosting.capture_access_log_bucket is None


# Autoscaling


def test_autoscaling_targets_this_variant_between_the_count_and_the_cap(plain):
    endpoint = Capture()
    plain.template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "ServiceNamespace": "sagemaker",
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
            "MinCapacity": 2,
            "MaxCapacity": 6,
            "ResourceId": {
                "Fn::Join": [
                    "",
                    [
                        "endpoint/",
                        {"Fn::GetAtt": [endpoint, "EndpointName"]},
                        "/variant/AllTraffic",
                    ],
                ]
            },
        },
    )
    assert endpoint.as_string() == plain.stack.resolve(
        plain.stack.get_logical_id(plain.hosting.endpoint)
    )


def test_autoscaling_acts_through_its_service_linked_role(plain):
    role = Capture()
    plain.template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget", {"RoleARN": role}
    )
    assert role.as_object()["Fn::Join"][1][-1] == (
        ":role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
        "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
    )
    for role in plain.template.find_resources("AWS::IAM::Role").values():
        trust = json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
        assert "application-autoscaling" not in trust


def test_autoscaling_tracks_invocations_per_instance_and_scales_in_slower(plain):
    target = Capture()
    config = Capture()
    plain.template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "ScalingTargetId": {"Ref": target},
            "TargetTrackingScalingPolicyConfiguration": config,
        },
    )
    assert target.as_string() == plain.id(plain.hosting.scalable_target)
    assert config.as_object()["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
    }
    assert config.as_object()["TargetValue"] == 120
    assert config.as_object()["ScaleInCooldown"] > config.as_object()["ScaleOutCooldown"]


# Invocation and metrics


def test_grant_invoke_allows_invoking_exactly_this_endpoint(plain):
    stack = Stack(App(), "Caller")
    role = iam.Role(stack, "Caller", assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"))
    # The endpoint lives in another stack here; only the statement's shape matters.
    grant = plain.hosting.grant_invoke(role)
    assert grant.success
    (statement,) = grant.principal_statements
    assert statement.actions == ["sagemaker:InvokeEndpoint"]
    assert statement.resources == [plain.hosting.endpoint_arn]


def test_metrics_are_of_this_endpoint_and_variant(plain):
    hosting = plain.hosting
    dimensions = {"EndpointName": hosting.endpoint_name, "VariantName": "AllTraffic"}
    cases = [
        (hosting.metric_invocations(), "Invocations", "Sum"),
        (hosting.metric_model_latency(), "ModelLatency", "p99"),
        (hosting.metric_invocation_errors(), "Invocation5XXErrors", "Sum"),
        (hosting.metric_invocation_errors("4XX"), "Invocation4XXErrors", "Sum"),
    ]
    for metric, name, statistic in cases:
        assert metric.namespace == "AWS/SageMaker"
        assert metric.metric_name == name
        assert metric.statistic == statistic
        assert metric.dimensions == dimensions
        assert metric.period.to_seconds() == 300


def test_metric_period_and_statistic_can_be_chosen(plain):
    metric = plain.hosting.metric_model_latency(period=Duration.minutes(1), statistic="p50")
    assert (metric.period.to_seconds(), metric.statistic) == (60, "p50")


def test_metric_invocation_errors_rejects_other_status_classes(plain):
    with pytest.raises(ValueError, match=r"status_class must be '4XX' or '5XX', got '3XX'"):
        plain.hosting.metric_invocation_errors("3XX")


# Data capture


def test_data_capture_goes_to_the_capture_bucket_encrypted_with_the_key(captured):
    bucket, key = Capture(), Capture()
    captured.template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "DataCaptureConfig": {
                "EnableCapture": True,
                "InitialSamplingPercentage": 25,
                "DestinationS3Uri": {"Fn::Join": ["", ["s3://", {"Ref": bucket}, "/capture"]]},
                "KmsKeyId": {"Fn::GetAtt": [key, "Arn"]},
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
            }
        },
    )
    assert bucket.as_string() == captured.id(captured.hosting.capture_bucket)
    assert key.as_string() == captured.id(captured.key)


def test_the_capture_bucket_is_private_encrypted_versioned_logged_and_expires(captured):
    logs_bucket = Capture()
    bucket = captured.template.find_resources("AWS::S3::Bucket")[
        captured.id(captured.hosting.capture_bucket)
    ]
    props = bucket["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {
            "BucketKeyEnabled": True,
            "ServerSideEncryptionByDefault": {
                "KMSMasterKeyID": {"Fn::GetAtt": [captured.id(captured.key), "Arn"]},
                "SSEAlgorithm": "aws:kms",
            },
        }
    ]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 30
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    captured.template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LoggingConfiguration": {
                "DestinationBucketName": {"Ref": logs_bucket},
                "LogFilePrefix": "capture-bucket/",
            }
        },
    )
    assert logs_bucket.as_string() == captured.id(captured.hosting.capture_access_log_bucket)


def test_the_access_log_bucket_uses_sse_s3_and_a_bucket_policy_not_acls(captured):
    bucket = captured.template.find_resources("AWS::S3::Bucket")[
        captured.id(captured.hosting.capture_access_log_bucket)
    ]
    props = bucket["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert "AccessControl" not in props
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
    captured.template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": captured.id(captured.hosting.capture_access_log_bucket)},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "s3:PutObject",
                                "Principal": {"Service": "logging.s3.amazonaws.com"},
                            }
                        )
                    ]
                )
            },
        },
    )


@pytest.mark.parametrize("bucket", ["capture_bucket", "capture_access_log_bucket"])
def test_both_buckets_refuse_plain_http_and_old_tls(captured, bucket):
    bucket_id = captured.id(getattr(captured.hosting, bucket))
    captured.template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket_id},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ),
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"NumericLessThan": {"s3:TlsVersion": 1.2}},
                            }
                        ),
                    ]
                )
            },
        },
    )


def test_the_role_may_write_captured_data_under_the_capture_prefix_only(captured):
    writes = [s for s in captured.role_statements() if "s3:PutObject" in actions_of(s)]
    assert len(writes) == 1
    assert writes[0]["Resource"] == {
        "Fn::Join": [
            "",
            [{"Fn::GetAtt": [captured.id(captured.hosting.capture_bucket), "Arn"]}, "/capture/*"],
        ]
    }
    assert not any("s3:Delete" in a for s in captured.role_statements() for a in actions_of(s))


def test_capture_works_without_the_apps_feature_flags():
    stack, _, _, hosting = build(App(), "NoFlags", data_capture=DataCaptureOptions())
    template = Template.from_stack(stack)
    for bucket in template.find_resources("AWS::S3::Bucket").values():
        assert "AccessControl" not in bucket["Properties"]
    assert hosting.capture_bucket is not None


# A regional stack and a brought image


def test_a_regional_stack_with_a_brought_image_names_it_directly():
    stack, _, _, hosting = build(
        App(context=CDK_CONTEXT),
        "Regional",
        image=ContainerImage.from_uri(IMAGE_URI),
        env=Environment(account="111122223333", region="eu-west-1"),
    )
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::SageMaker::Model", {"PrimaryContainer": Match.object_like({"Image": IMAGE_URI})}
    )
    assert "Mappings" not in template.to_json()
    del hosting


# Invalid props


def valid_props(stack):
    key = logs_key(stack)
    network = IsolatedNetwork(stack, "Network", key=key)
    return {
        "model_data_url": MODEL_URL,
        "model_sha256": SHA256,
        "image": ContainerImage.from_uri(IMAGE_URI),
        "instance_type": "ml.m5.large",
        "instance_count": 1,
        "max_instance_count": 2,
        "vpc": network.vpc,
        "vpc_subnets": network.isolated_subnets,
        "key": key,
    }


def one_zone(props):
    zone = props["vpc"].isolated_subnets[0].availability_zone
    return ec2.SubnetSelection(
        subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, availability_zones=[zone]
    )


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"model_data_url": "https://bucket/model.tar.gz"}, r"model_data_url must be an S3"),
        ({"model_data_url": "s3://bucket/models/"}, r"model_data_url must be an S3 object URL"),
        ({"model_data_url": "s3://bucket/models/*.tar.gz"}, r"model_data_url must not contain"),
        ({"model_sha256": "abc"}, r"model_sha256 must be a SHA-256 digest.*'abc'"),
        ({"model_sha256": SHA256.upper()}, r"model_sha256 must be a SHA-256 digest"),
        ({"image": IMAGE_URI}, r"image must be a ContainerImage"),
        ({"instance_type": "m5.large"}, r"instance_type must be a SageMaker instance type"),
        ({"instance_type": "ml.g5.xlarge"}, r"instance_type='ml.g5.xlarge' has NVMe"),
        ({"instance_count": 0}, r"instance_count must be a whole number from 1 to 1000, got 0"),
        ({"max_instance_count": 1001}, r"max_instance_count must be a whole number"),
        (
            {"instance_count": 3, "max_instance_count": 2},
            r"max_instance_count \(2\) must be at least instance_count \(3\)",
        ),
        (
            {"target_invocations_per_instance": 0},
            r"target_invocations_per_instance must be a whole number from 1 to 100000, got 0",
        ),
        (
            {"target_invocations_per_instance": 100_001},
            r"target_invocations_per_instance .* got 100001",
        ),
        ({"data_capture": {"sampling_percentage": 10}}, r"data_capture must be a DataCaptureOpt"),
        ({"variant_name": "-blue"}, r"variant_name must be 1-63 letters.*'-blue'"),
        ({"variant_name": "a" * 64}, r"variant_name must be 1-63"),
        ({"vpc_subnets": one_zone}, r"vpc_subnets must select at least two subnets"),
        ({"vpc_subnets": "isolated"}, r"vpc_subnets must be an ec2.SubnetSelection"),
    ],
)
def test_rejects_invalid_props(change, match):
    stack = Stack(App(), "Invalid")
    props = valid_props(stack)
    for name, value in change.items():
        props[name] = value(props) if callable(value) else value
    with pytest.raises(ValueError, match=match):
        ModelHosting(stack, "Hosting", **props)


def test_the_valid_props_are_accepted():
    stack = Stack(App(), "Valid")
    hosting = ModelHosting(stack, "Hosting", **valid_props(stack))
    assert hosting.capture_bucket is None


def test_interface_permissions_and_deletion_are_limited_to_the_model_vpc(plain):
    (statement,) = [
        s for s in plain.role_statements() if "ec2:DeleteNetworkInterface" in actions_of(s)
    ]
    assert actions_of(statement) == [
        "ec2:CreateNetworkInterfacePermission",
        "ec2:DeleteNetworkInterface",
        "ec2:DeleteNetworkInterfacePermission",
    ]
    vpc_arn = statement["Condition"]["ArnEquals"]["ec2:Vpc"]
    rendered = json.dumps(vpc_arn)
    assert ":vpc/" in rendered
    assert plain.id(plain.network.vpc) in rendered

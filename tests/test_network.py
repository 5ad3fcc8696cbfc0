"""IsolatedNetwork: an isolated VPC with flow logs, synthesized once for the module.
Nag and cfn-lint: test_compliance_matrix.py."""

import json
from pathlib import Path

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Capture, Match, Template
from configurations import once

from secure_endpoint.constructs.keys import EncryptionKey
from secure_endpoint.constructs.network import IsolatedNetwork

pytestmark = pytest.mark.synth

CDK_CONTEXT = json.loads((Path(__file__).parent.parent / "cdk.json").read_text())["context"]


def logs_key(stack):
    """The project's key: rotating, and usable by CloudWatch Logs of this account and region."""
    return EncryptionKey(stack, "Key").key


def configuration():
    """The configuration of this module (and a row of the compliance matrix)."""
    app = App(context=CDK_CONTEXT)
    stack = Stack(app, "NetworkStack")
    key = logs_key(stack)
    network = IsolatedNetwork(
        stack,
        "Network",
        key=key,
        interface_endpoints=[
            ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME,
            ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
        ],
    )
    return app, stack, network, Template.from_stack(stack)


@pytest.fixture(scope="module")
def built():
    return once(configuration)


@pytest.fixture(scope="module")
def template(built):
    return built[3]


def logical_id(stack, construct):
    return stack.resolve(stack.get_logical_id(construct.node.default_child))


def test_the_vpc_has_no_route_to_the_internet(template):
    template.resource_count_is("AWS::EC2::InternetGateway", 0)
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::EgressOnlyInternetGateway", 0)
    assert template.find_resources("AWS::EC2::Route") == {}
    for subnet in template.find_resources("AWS::EC2::Subnet").values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False


def test_the_subnets_are_isolated_and_span_two_zones(built):
    _, _, network, template = built
    assert network.vpc.public_subnets == []
    assert network.vpc.private_subnets == []
    zones = {
        json.dumps(subnet["Properties"]["AvailabilityZone"])
        for subnet in template.find_resources("AWS::EC2::Subnet").values()
    }
    assert len(network.vpc.isolated_subnets) == len(zones) == 2


def test_only_looked_up_zones_tell_cfn_lint_they_are_literal(template):
    # Env-agnostic: Fn::GetAZs, nothing for cfn-lint to be told (W3010 must still apply).
    for subnet in template.find_resources("AWS::EC2::Subnet").values():
        assert "Fn::Select" in subnet["Properties"]["AvailabilityZone"]
        assert "Metadata" not in subnet
    stack = Stack(
        App(context=CDK_CONTEXT),
        "Concrete",
        env=Environment(account="123456789012", region="eu-west-1"),
    )
    IsolatedNetwork(stack, "Network", key=logs_key(stack))
    subnets = Template.from_stack(stack).find_resources("AWS::EC2::Subnet").values()
    assert [s["Properties"]["AvailabilityZone"] for s in subnets] == ["dummy1a", "dummy1b"]
    assert [s["Metadata"] for s in subnets] == [
        {"cfn-lint": {"config": {"ignore_checks": ["W3010"]}}}
    ] * 2


def test_isolated_subnets_selects_every_isolated_subnet(built):
    _, stack, network, _ = built
    chosen = network.vpc.select_subnets(subnet_type=network.isolated_subnets.subnet_type)
    every = [subnet.subnet_id for subnet in network.vpc.isolated_subnets]
    assert stack.resolve(chosen.subnet_ids) == stack.resolve(every)
    assert network.isolated_subnets.subnet_type == ec2.SubnetType.PRIVATE_ISOLATED


def test_flow_logs_record_all_traffic_into_the_encrypted_retained_log_group(built):
    _, stack, network, template = built
    group = Capture()
    template.has_resource_properties(
        "AWS::EC2::FlowLog",
        {
            "ResourceType": "VPC",
            "TrafficType": "ALL",
            "LogDestinationType": "cloud-watch-logs",
            "LogGroupName": {"Ref": group},
            "ResourceId": {"Ref": logical_id(stack, network.vpc)},
        },
    )
    assert group.as_string() == logical_id(stack, network.flow_log_group)
    key_id = stack.resolve(
        stack.get_logical_id(stack.node.find_child("Key").node.find_child("Key").node.default_child)
    )
    log_group = template.find_resources("AWS::Logs::LogGroup")[group.as_string()]
    assert log_group["Properties"] == {
        "KmsKeyId": {"Fn::GetAtt": [key_id, "Arn"]},
        "RetentionInDays": 365,
    }
    assert log_group["DeletionPolicy"] == "Retain"


def test_every_log_group_has_a_key_and_a_retention(template):
    groups = template.find_resources("AWS::Logs::LogGroup")
    assert groups
    for group in groups.values():
        assert "KmsKeyId" in group["Properties"]
        assert "RetentionInDays" in group["Properties"]


def test_the_flow_log_role_may_only_write_to_its_log_group(built):
    _, stack, network, template = built
    policies = template.find_resources(
        "AWS::IAM::ManagedPolicy",
        {"Properties": {"Roles": [{"Ref": logical_id(stack, network.flow_log_role)}]}},
    )
    assert len(policies) == 1
    (policy,) = policies.values()
    group_arn = {"Fn::GetAtt": [logical_id(stack, network.flow_log_group), "Arn"]}
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statements == [
        {
            "Action": ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": group_arn,
        }
    ]
    template.resource_properties_count_is(
        "AWS::IAM::Policy",
        {"Roles": [{"Ref": logical_id(stack, network.flow_log_role)}]},
        0,
    )


def test_only_vpc_flow_logs_of_this_account_may_assume_the_flow_log_role(built):
    _, stack, network, template = built
    role = template.find_resources("AWS::IAM::Role")[logical_id(stack, network.flow_log_role)]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {
        "aws:SourceAccount": {"Ref": "AWS::AccountId"}
    }
    assert "ManagedPolicyArns" not in role["Properties"]


def test_the_default_security_group_is_stripped(built):
    _, stack, network, template = built
    template.has_resource_properties(
        "Custom::VpcRestrictDefaultSG",
        {
            "DefaultSecurityGroupId": {
                "Fn::GetAtt": [logical_id(stack, network.vpc), "DefaultSecurityGroup"]
            }
        },
    )


def test_s3_is_reached_through_a_gateway_endpoint_from_every_subnet(built):
    _, stack, network, template = built
    route_tables = [
        {"Ref": stack.resolve(stack.get_logical_id(s.node.find_child("RouteTable")))}
        for s in network.vpc.isolated_subnets
    ]
    template.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "VpcEndpointType": "Gateway",
            "ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".s3"]]},
            "RouteTableIds": Match.array_equals(route_tables),
        },
    )


@pytest.mark.parametrize("service", ["sagemaker.runtime", "secretsmanager"])
def test_interface_endpoints_use_private_dns_and_the_endpoint_security_group(built, service):
    _, stack, network, template = built
    sg_id = logical_id(stack, network.endpoint_security_group)
    template.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "VpcEndpointType": "Interface",
            "PrivateDnsEnabled": True,
            "ServiceName": {
                "Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, f".{service}"]]
            },
            "SecurityGroupIds": [{"Fn::GetAtt": [sg_id, "GroupId"]}],
            "SubnetIds": Match.array_equals(
                stack.resolve([subnet.subnet_id for subnet in network.vpc.isolated_subnets])
            ),
        },
    )
    assert service in network.interface_endpoints


def test_the_endpoint_security_group_admits_https_from_the_vpc_only(built):
    _, stack, network, template = built
    group = template.find_resources("AWS::EC2::SecurityGroup")[
        logical_id(stack, network.endpoint_security_group)
    ]
    assert group["Properties"]["SecurityGroupIngress"] == [
        {
            "CidrIp": "10.0.0.0/16",
            "Description": "HTTPS from the VPC",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]
    # CDK's placeholder for "no egress": a rule that matches no traffic.
    (egress,) = group["Properties"]["SecurityGroupEgress"]
    assert egress["CidrIp"] == "255.255.255.255/32"
    template.has_resource_properties("AWS::EC2::VPC", {"CidrBlock": "10.0.0.0/16"})


def test_retention_and_range_can_be_chosen():
    stack = Stack(App(), "Chosen")
    IsolatedNetwork(
        stack,
        "Network",
        key=logs_key(stack),
        cidr="172.20.0.0/20",
        flow_log_retention=logs.RetentionDays.THREE_MONTHS,
    )
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 90})
    template.has_resource_properties("AWS::EC2::VPC", {"CidrBlock": "172.20.0.0/20"})
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {"SecurityGroupIngress": [Match.object_like({"CidrIp": "172.20.0.0/20"})]},
    )
    template.resource_properties_count_is(
        "AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Interface"}, 0
    )


@pytest.mark.parametrize(
    ("props", "match"),
    [
        ({"max_azs": 1}, r"max_azs must be a whole number from 2 to 6, got 1"),
        ({"max_azs": 7}, r"max_azs .* got 7"),
        ({"cidr": "10.0.0.1/16"}, r"cidr must hold CIDR blocks"),
        ({"cidr": "10.0.0.0/8"}, r"cidr must be an IPv4 range from /16 to /24.*'10.0.0.0/8'"),
        ({"cidr": "2001:db8::/56"}, r"cidr must be an IPv4 range"),
        ({"cidr": "8.8.0.0/16"}, r"cidr must lie in a private range.*'8.8.0.0/16'"),
        (
            {"interface_endpoints": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME},
            r"interface_endpoints must be a list",
        ),
        ({"interface_endpoints": ["sagemaker.runtime"]}, r"interface_endpoints must hold"),
        (
            {
                "interface_endpoints": [
                    ec2.InterfaceVpcEndpointAwsService.STS,
                    ec2.InterfaceVpcEndpointAwsService.STS,
                ]
            },
            r"interface_endpoints lists 'sts' twice",
        ),
    ],
)
def test_rejects_invalid_props(props, match):
    stack = Stack(App(), "Invalid")
    with pytest.raises(ValueError, match=match):
        IsolatedNetwork(stack, "Network", key=logs_key(stack), **props)

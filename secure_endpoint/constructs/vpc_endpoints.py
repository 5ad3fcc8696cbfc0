"""The VPC endpoints an endpoint's functions need, and the check of a brought VPC for them.

The VPC's subnets are isolated (no NAT): every AWS API a function inside it calls must be reached
through an interface endpoint, S3 and DynamoDB through gateway endpoints. A VPC created here gets
them (``IsolatedNetwork``). A brought VPC is checked:

- a VPC defined with CDK in this app (``ec2.Vpc``, in this stack or another): its endpoints are
  constructs too, so a missing one fails the synth, naming each;
- an imported VPC (``Vpc.from_lookup``, ``Vpc.from_vpc_attributes``): its endpoints cannot be
  seen, so the synth warns and lists what must be there, unless ``add_vpc_endpoints=True`` has
  the endpoint add them.

Added endpoints are added once per VPC in the app: a second interface endpoint of a service with
private DNS in one VPC would be refused at deploy.
"""

from __future__ import annotations

from dataclasses import dataclass

import jsii
from aws_cdk import Annotations, Stack, Token
from aws_cdk import aws_ec2 as ec2
from constructs import Construct, IValidation

from secure_endpoint.constructs.monitor import INTERFACE_ENDPOINTS


@dataclass(frozen=True)
class NeededEndpoints:
    """The interface and gateway endpoints the functions in the VPC call AWS through."""

    interface: tuple[ec2.InterfaceVpcEndpointAwsService, ...]
    gateway: tuple[ec2.GatewayVpcEndpointAwsService, ...]

    def names(self) -> list[str]:
        """Short names, as an error lists them ('logs (interface)', 's3 (gateway)')."""
        return [f"{s.short_name} (interface)" for s in self.interface] + [
            f"{_gateway_short_name(s)} (gateway)" for s in self.gateway
        ]


def needed(
    *,
    anomaly_monitor: bool,
    model_signature: bool,
    payload_alerts: bool = False,
    secrets: bool = False,
) -> NeededEndpoints:
    """What an endpoint's functions call through the VPC.

    The anomaly monitor calls CloudWatch Logs, SNS and WAF (``monitor.INTERFACE_ENDPOINTS``) and
    DynamoDB; the artifact check S3 and, with a model signature, KMS; SageMaker reads the
    artifact from S3; the drift monitor's payload alerts SNS, and its membership key Secrets
    Manager (``secrets``). The secret rotations run outside the VPC (Cognito has no PrivateLink
    for a pool with a domain), so Cognito is not needed here.
    """
    interface = [
        *(INTERFACE_ENDPOINTS if anomaly_monitor else ()),
        *((ec2.InterfaceVpcEndpointAwsService.KMS,) if model_signature else ()),
    ]
    sns = ec2.InterfaceVpcEndpointAwsService.SNS
    if payload_alerts and sns.name not in {service.name for service in interface}:
        interface.append(sns)
    if secrets:
        interface.append(ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER)
    gateway = [
        ec2.GatewayVpcEndpointAwsService.S3,
        *((ec2.GatewayVpcEndpointAwsService.DYNAMODB,) if anomaly_monitor else ()),
    ]
    return NeededEndpoints(tuple(interface), tuple(gateway))


def check_brought_vpc(
    scope: Construct,
    vpc: ec2.IVpc,
    subnets: ec2.SubnetSelection,
    endpoints: NeededEndpoints,
    *,
    add_missing: bool,
) -> None:
    """Fail the synth on endpoints missing from a CDK ``vpc``, or add or warn about them on an
    imported one (see the module)."""
    if isinstance(vpc, ec2.Vpc):
        if add_missing:
            _add(scope, vpc, subnets, endpoints)
        # Checked at synth, once the whole app is built: endpoints may be added after this.
        scope.node.add_validation(_Validation(vpc, endpoints))
        return
    if add_missing:
        _add(scope, vpc, subnets, endpoints)
        return
    Annotations.of(scope).add_warning_v2(
        "secure-endpoint:vpc-endpoints",
        "The brought VPC is imported, so its endpoints cannot be checked: its subnets must "
        f"reach {', '.join(endpoints.names())} through VPC endpoints (private DNS on for the "
        "interface ones), or the functions inside it time out. Pass add_vpc_endpoints=True to "
        "have them added. See docs/bring-your-own.md.",
    )


@jsii.implements(IValidation)
class _Validation:
    def __init__(self, vpc: ec2.Vpc, endpoints: NeededEndpoints) -> None:
        self._vpc = vpc
        self._endpoints = endpoints

    def validate(self) -> list[str]:
        missing = _missing(self._vpc, self._endpoints)
        if not missing.interface and not missing.gateway:
            return []
        return [
            f"the brought vpc {self._vpc.node.path} has no VPC endpoint for "
            f"{', '.join(missing.names())}; the endpoint's functions run in its isolated "
            "subnets and reach AWS only through them: add them to the VPC "
            "(vpc.add_interface_endpoint / add_gateway_endpoint), or pass "
            "add_vpc_endpoints=True to have the SecureEndpoint add them"
        ]


def _add(
    scope: Construct, vpc: ec2.IVpc, subnets: ec2.SubnetSelection, endpoints: NeededEndpoints
) -> None:
    """Add the endpoints the VPC lacks: to a CDK VPC itself (in its own stack, so that two
    SecureEndpoints on one VPC, in one stack or several, add each endpoint once), to ``scope``
    for an imported one."""
    missing = _missing(vpc, endpoints)
    owner: Construct = vpc if isinstance(vpc, ec2.Vpc) else scope
    if missing.interface:
        group = ec2.SecurityGroup(
            owner,
            "SecureEndpointInterfaceEndpoints",
            vpc=vpc,
            description="Interface endpoints: HTTPS from inside the VPC only",
            allow_all_outbound=False,
        )
        group.add_ingress_rule(ec2.Peer.ipv4(_cidr(vpc)), ec2.Port.tcp(443), "HTTPS from the VPC")
    for service in missing.interface:
        ec2.InterfaceVpcEndpoint(
            owner,
            f"SecureEndpoint{_construct_id(service.short_name)}Endpoint",
            vpc=vpc,
            service=service,
            subnets=subnets,
            private_dns_enabled=True,
            security_groups=[group],
            open=False,
        )
    for gateway in missing.gateway:
        ec2.GatewayVpcEndpoint(
            owner,
            f"SecureEndpoint{_construct_id(_gateway_short_name(gateway))}GatewayEndpoint",
            vpc=vpc,
            service=gateway,
            subnets=[subnets],
        )


def _cidr(vpc: ec2.IVpc) -> str:
    """The VPC's IPv4 range, as a literal where it is known at synth: the nag rules that look
    for open ingress cannot read the VPC's ``CidrBlock`` attribute."""
    cfn = vpc.node.default_child if isinstance(vpc, ec2.Vpc) else None
    if (
        isinstance(cfn, ec2.CfnVPC)
        and isinstance(cfn.cidr_block, str)
        and not Token.is_unresolved(cfn.cidr_block)
    ):
        return cfn.cidr_block
    return vpc.vpc_cidr_block


def _missing(vpc: ec2.IVpc, endpoints: NeededEndpoints) -> NeededEndpoints:
    """The endpoints no ``CfnVPCEndpoint`` in the app gives ``vpc``: one in the VPC's own stack
    with the same VPC reference, or, for a VPC id known at synth (an imported VPC), one in any
    stack with that id."""
    stack = Stack.of(vpc)
    vpc_ref = stack.resolve(vpc.vpc_id)
    literal = not Token.is_unresolved(vpc.vpc_id)
    present = set()
    for child in vpc.node.root.node.find_all():
        if not isinstance(child, ec2.CfnVPCEndpoint):
            continue
        owner = Stack.of(child)
        same_stack = owner.node.path == stack.node.path
        if (same_stack and owner.resolve(child.vpc_id) == vpc_ref) or (
            literal and child.vpc_id == vpc.vpc_id
        ):
            present.add(repr(owner.resolve(child.service_name)))

    def there(name: str) -> bool:
        return repr(stack.resolve(name)) in present

    return NeededEndpoints(
        tuple(s for s in endpoints.interface if not there(s.name)),
        tuple(g for g in endpoints.gateway if not there(g.name)),
    )


def _gateway_short_name(service: ec2.GatewayVpcEndpointAwsService) -> str:
    # 'com.amazonaws.${Token[AWS.Region.6]}.s3': the region is a token, the service is not.
    return service.name.rsplit(".", 1)[-1]


def _construct_id(short_name: str) -> str:
    return "".join(part.capitalize() for part in short_name.replace("-", ".").split("."))

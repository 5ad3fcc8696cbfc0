"""Shield Advanced for the regional API: CloudFront in front, two web ACLs, health-based detection.

Shield Advanced cannot protect an API Gateway stage; it protects CloudFront distributions (among
others). ``ShieldAdvancedEdge`` therefore puts a distribution in front of the REGIONAL API and
protects that::

    client ─TLS─▶ CloudFront ─▶ CLOUDFRONT web ACL (per-IP rate, IP reputation, geo)
                     │ Shield Advanced protection, group, health check, automatic mitigation
                     └─TLS 1.2, x-origin-verify: <secret>─▶ REGIONAL web ACL (origin secret first)
                                                            ─▶ API Gateway ─▶ SageMaker

Where each resource lives, and why:

===================================== ================ ===========================================
resource                              stack (Region)   why there
===================================== ================ ===========================================
CLOUDFRONT web ACL, its log group,    edge stack       WAF creates CLOUDFRONT-scope web ACLs in
a KMS key for that log group          (us-east-1)      us-east-1 only; keys and log groups are
                                                       regional, so they sit beside it
distribution and its log buckets      the API's stack  its origin header is a dynamic reference to
                                      (any Region)     the origin secret, which CloudFormation
                                                       resolves in the secret's Region only
origin secret, its rotation Lambda    the API's stack  the regional web ACL reads the secret the
                                                       same way; Secrets Manager invokes rotation
                                                       functions of its own Region only
Shield protection and group,          the API's stack  Shield is a global API (one endpoint, in
proactive engagement, Route 53                         us-east-1, which CloudFormation's handlers
health check                                           reach from every Region); Route 53 health
                                                       checks are global too
health alarm (API 5XX rate)           the API's stack  a health check names its alarm's Region;
                                                       the stage's metrics are in that Region
===================================== ================ ===========================================

So one value crosses Regions, in one direction: the CLOUDFRONT web ACL's ARN, from the edge
stack to the distribution (and to the rotation role, which may read that web ACL). It crosses as
a weak reference, CloudFormation's ``Fn::GetStackOutput``: the edge stack outputs the ARN, the
API's stack reads that output from us-east-1 when it is created or updated, and CDK deploys the
edge stack first. No custom resource, no SSM parameter, no export that would lock either stack
(the ``cross_region_references`` flag is not needed). Weak means CloudFormation does not stop
the edge stack from replacing or deleting the web ACL, but WAF does: it refuses to delete a web
ACL that a distribution uses. When the API's stack is itself in us-east-1, no edge stack is made
and nothing crosses Regions. The edge stack is created beside the API's stack (same account,
same app or stage, id ``<stack id>-edge``, stack name ``<stack name>-<Region>-edge``), unless
one in us-east-1 is given as ``edge_stack``; bootstrap us-east-1 for it. The API's stack needs
a concrete Region (``env``): which resources must move depends on it.

Costs: Shield Advanced needs an active subscription of the account (about
``SHIELD_ADVANCED_MONTHLY_FEE_USD`` a month, with a ``SHIELD_ADVANCED_COMMITMENT_MONTHS``-month
commitment, plus data transfer out); every synth says so in a warning.

The parts, by job: ``cloudfront_web_acl`` (the CLOUDFRONT web ACL and its us-east-1 stack),
``distribution`` (the distribution and its log buckets), ``origin_secret`` (the secret and its
rotation) and, here, the Shield protection, its health-based detection and the options.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Annotations, Duration, Names, ReferenceStrength, Stack, Token
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_shield as shield
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from secure_endpoint import compliance
from secure_endpoint.constructs import _metrics as metrics
from secure_endpoint.constructs import _validation as check
from secure_endpoint.constructs.bundling import resolve_cache_dir
from secure_endpoint.constructs.cloudfront_web_acl import (
    DEFAULT_EDGE_MANAGED_RULE_GROUPS,
    EDGE_REGION,
    CloudFrontWebAcl,
    cloudfront_web_acl_stack,
)
from secure_endpoint.constructs.distribution import (
    VIEWER_SECURITY_POLICIES,
    check_origin,
    check_viewer,
    origin_distribution,
)
from secure_endpoint.constructs.options import CustomDomain, TlsPolicy
from secure_endpoint.constructs.origin_secret import (
    ORIGIN_SECRET_LENGTH,
    ROTATION_PACKAGE,
    OriginSecretRotation,
    create_origin_secret,
)
from secure_endpoint.constructs.waf_rules import DEFAULT_RATE_LIMIT_PER_IP

__all__ = [
    "DEFAULT_EDGE_MANAGED_RULE_GROUPS",
    "DEFAULT_HEALTH_ERROR_RATE",
    "EDGE_REGION",
    "ORIGIN_SECRET_LENGTH",
    "ROTATION_PACKAGE",
    "SHIELD_ADVANCED_COMMITMENT_MONTHS",
    "SHIELD_ADVANCED_MONTHLY_FEE_USD",
    "VIEWER_SECURITY_POLICIES",
    "AutomaticMitigation",
    "CloudFrontWebAcl",
    "EmergencyContact",
    "OriginSecretRotation",
    "ShieldAdvancedEdge",
    "ShieldOptions",
    "create_origin_secret",
]

#: What a Shield Advanced subscription costs per account (or organization), in USD a month.
SHIELD_ADVANCED_MONTHLY_FEE_USD = 3_000
#: How long a Shield Advanced subscription commits to, in months.
SHIELD_ADVANCED_COMMITMENT_MONTHS = 12
DEFAULT_HEALTH_ERROR_RATE = 0.05

_MAX_EMERGENCY_CONTACTS = 10
_EMAIL = re.compile(r"^\S+@\S+\.\S+$")
_PHONE = re.compile(r"^\+[1-9]\d{1,14}$")
_NOTES = re.compile(r"^[\w\s.\-,:/()+@]{1,1024}$")
_S3_LOGS_USE_BUCKET_POLICY = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"
_SHIELD_NAME_MAX = 128
_PROTECTION_GROUP_ID_MAX = 36


class AutomaticMitigation(enum.Enum):
    """What Shield Advanced's automatic application-layer mitigation does with the rules it adds.

    ``BLOCK`` stops an attack Shield detects without waiting for anyone; ``COUNT`` only records
    what its rules would block (to observe before trusting it); ``DISABLED`` leaves mitigation
    to the web ACL's own rules and to the Shield Response Team.
    """

    BLOCK = "Block"
    COUNT = "Count"
    DISABLED = "Disabled"


@dataclass(frozen=True)
class EmergencyContact:
    """Someone the Shield Response Team may call or write to during an event.

    :param email: an address like 'oncall@example.com' (at most 150 characters).
    :param phone: E.164, like '+12025550100'. Default: - none
    :param notes: up to 1,024 letters, digits, spaces and ``.-,:/()+@``. Default: - none
    """

    email: str
    phone: str | None = None
    notes: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.email, str) or len(self.email) > 150 or not _EMAIL.match(self.email):
            raise ValueError(
                "emergency_contacts[].email must be an email address of at most 150 characters "
                f"like 'oncall@example.com', got {self.email!r}"
            )
        if self.phone is not None and not (
            isinstance(self.phone, str) and _PHONE.match(self.phone)
        ):
            raise ValueError(
                "emergency_contacts[].phone must be an E.164 number, a '+' and up to 15 digits "
                f"like '+12025550100', got {self.phone!r}"
            )
        if self.notes is not None and not (
            isinstance(self.notes, str) and _NOTES.match(self.notes)
        ):
            raise ValueError(
                "emergency_contacts[].notes must be 1-1024 letters, digits, spaces or "
                f"'.-,:/()+@', got {self.notes!r}"
            )


@dataclass(frozen=True, kw_only=True)
class ShieldOptions:
    """CloudFront, a CLOUDFRONT web ACL and Shield Advanced in front of the API:
    ``SecureEndpoint(shield=ShieldOptions(...))`` (see ``ShieldAdvancedEdge``).

    The regional web ACL then requires CloudFront's rotating origin secret, and the
    per-address rate, geo and address-reputation rules move to the CloudFront web ACL. Needs
    an active Shield Advanced subscription (about 3,000 USD a month) and a stack with a
    concrete region.

    :param domain_names: the distribution's own names, with ``certificate``. Default: - none;
        the ``*.cloudfront.net`` name
    :param certificate: an ACM certificate of us-east-1 covering ``domain_names``.
        Default: - none
    :param viewer_security_policy: the viewers' TLS policy (with a certificate).
        Default: - TLSv1.2_2021
    :param price_class: the edge locations used. Default: - all
    :param automatic_mitigation: Shield's application-layer response. Default: - BLOCK
    :param health_error_rate: the 5XX share that marks the API unhealthy for Shield's
        health-based detection. Default: - 0.05
    :param emergency_contacts: the Shield Response Team's contacts (proactive engagement; one
        setting per account). Default: - none
    """

    domain_names: Sequence[str] = ()
    certificate: acm.ICertificate | None = None
    viewer_security_policy: cloudfront.SecurityPolicyProtocol = (
        cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021
    )
    price_class: cloudfront.PriceClass = cloudfront.PriceClass.PRICE_CLASS_ALL
    automatic_mitigation: AutomaticMitigation = AutomaticMitigation.BLOCK
    health_error_rate: float = DEFAULT_HEALTH_ERROR_RATE
    emergency_contacts: Sequence[EmergencyContact] = ()

    def __post_init__(self) -> None:
        names = check_viewer(
            self.domain_names, self.certificate, self.viewer_security_policy, "shield."
        )
        object.__setattr__(self, "domain_names", tuple(names))
        _check_settings(
            self.price_class, self.automatic_mitigation, self.health_error_rate, "shield."
        )
        contacts = _check_contacts(self.emergency_contacts, "shield.")
        object.__setattr__(self, "emergency_contacts", tuple(contacts))


class ShieldAdvancedEdge(Construct):
    """CloudFront and Shield Advanced in front of a REGIONAL API stage (see the module).

    The distribution forwards every method to the stage over HTTPS (TLS 1.2, the highest
    CloudFront speaks to origins) and adds the origin secret header that the regional web ACL
    requires, so that nobody reaches the stage around CloudFront. Viewers must use HTTPS; the
    distribution caches nothing (``CACHING_DISABLED``: responses are per client) and forwards
    every viewer header except ``Host`` (so ``Authorization``, ``x-api-key`` and
    ``Content-Type`` reach the API; API Gateway routes by its own host name). It serves HTTP/2
    and HTTP/3 and logs to a KMS-encrypted, versioned S3 bucket (CloudFront's standard logs
    need bucket ACLs), whose own access logs go to a second bucket.

    Shield Advanced protects the distribution, alone in a protection group (aggregation MAX,
    as AWS advises for CloudFront). Health-based detection reads a Route 53 health check of the
    alarm ``health_alarm``: the API's 5XX rate over one-minute periods. Automatic application
    layer mitigation adds its rules to the CloudFront web ACL.

    Every synth warns (``secure-endpoint:shield-subscription``) that the account needs a Shield
    Advanced subscription: about ``SHIELD_ADVANCED_MONTHLY_FEE_USD`` USD a month for
    ``SHIELD_ADVANCED_COMMITMENT_MONTHS`` months. Without it the deploy fails at the protection.

    Children, as attributes: ``edge_stack``, ``edge_web_acl`` (``web_acl``, ``web_acl_arn``),
    ``distribution`` (``distribution_url``), ``log_bucket``, ``access_log_bucket``, ``rotation``
    (its ``function``, ``role``, ``schedule``), ``health_alarm``, ``health_check``,
    ``protection``, ``protection_group`` and ``proactive_engagement`` (or None).

    :param stage: the REGIONAL API stage behind the distribution.
    :param origin_secret: the secret the regional web ACL requires in ``x-origin-verify``
        (``create_origin_secret``); it is rotated here.
    :param regional_web_acl: the stage's web ACL, built by ``WebAclProtection`` with
        ``origin_secret``: the rotation rewrites its ``ORIGIN_SECRET_RULE``.
    :param key: the KMS key of the stage's Region, for the log bucket, the rotation function's
        logs, environment and queue.
    :param tls_policy: the API's security policy. CloudFront connects to origins with TLS 1.2
        at most, so ``TlsPolicy.TLS13_ONLY`` is refused. Default: - ``TlsPolicy.TLS13_1_2``
    :param custom_domain: the API's custom domain; the execute-api endpoint is then disabled,
        so the distribution's origin is this domain. Mutual TLS is refused: CloudFront presents
        no client certificate to origins. Default: - the stage's execute-api endpoint
    :param domain_names: the distribution's own names (CNAMEs), with ``certificate``.
        Default: - the distribution's ``*.cloudfront.net`` name only
    :param certificate: an ACM certificate of us-east-1 covering ``domain_names``; it also
        lets ``viewer_security_policy`` apply (with the default certificate CloudFront accepts
        TLS 1.0, which a synth warning says). Default: - CloudFront's default certificate
    :param viewer_security_policy: with ``certificate``, ``TLS_V1_2_2021`` or stricter.
        Default: - ``SecurityPolicyProtocol.TLS_V1_2_2021``
    :param price_class: where CloudFront serves from; every edge location absorbs floods
        best. Default: - ``PriceClass.PRICE_CLASS_ALL``
    :param rate_limit_per_ip: viewer requests per address within ``rate_window`` before the
        CloudFront web ACL answers 429, 10 to 2,000,000,000. Default: - 1000
    :param rate_window: 1, 2, 5 or 10 minutes. Default: - 5 minutes
    :param managed_rule_groups: the CloudFront web ACL's AWS managed rule groups.
        Default: - ``DEFAULT_EDGE_MANAGED_RULE_GROUPS``
    :param blocked_countries: ISO 3166 alpha-2 codes blocked at the edge. Default: - none
    :param allowed_countries: when given, every other country is blocked at the edge.
        Default: - every country
    :param automatic_mitigation: Shield's automatic application-layer mitigation.
        Default: - ``AutomaticMitigation.BLOCK``: a flood is stopped at the edge without
        waiting for an operator (Shield derives its rules from the attack's signature against
        the distribution's traffic baseline); ``COUNT`` only observes, ``DISABLED`` leaves
        mitigation to the web ACL's own rules and the Shield Response Team
    :param health_error_rate: the share of 5XX responses (0 to 1, exclusive) above which the
        API counts as unhealthy for two minutes running. Default: - 0.05
    :param emergency_contacts: with these, proactive engagement is enabled: the Shield
        Response Team contacts them when the health check turns unhealthy during an event
        (needs Business or Enterprise Support). Proactive engagement is one setting per
        account: give contacts in one stack per account only. Default: - not enabled
    :param rotation_interval: how often the origin secret rotates, 1 to 365 days.
        Default: - 30 days
    :param log_retention: of the WAF logs and the rotation logs. Default: - one year
    :param access_log_expiration: how long CloudFront's access logs (and the access logs of
        their bucket) are kept. Default: - 365 days
    :param bundling_cache_dir: where bundled Lambda dependencies are cached.
        Default: - ``$SECURE_ENDPOINT_CACHE_DIR``, else the per-user cache
        (``bundling.resolve_cache_dir``)
    :param edge_stack: a stack of us-east-1 (same account) for the CloudFront web ACL.
        Default: - one created beside the stage's stack, or the stage's stack itself when it
        is in us-east-1
    :param reserved_concurrency: reserve 1 concurrent execution for the origin-secret rotation.
        Lambda keeps at least 100 of the account's concurrency unreserved, so reservations need an
        account quota of at least 100 plus all of them (new accounts may start at 10: raise it in
        Service Quotas first). Default: - false; no reservation
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: apigw.Stage,
        origin_secret: secretsmanager.ISecret,
        regional_web_acl: wafv2.CfnWebACL,
        key: kms.IKey,
        tls_policy: TlsPolicy = TlsPolicy.TLS13_1_2,
        custom_domain: CustomDomain | None = None,
        domain_names: Sequence[str] = (),
        certificate: acm.ICertificate | None = None,
        viewer_security_policy: cloudfront.SecurityPolicyProtocol = (
            cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021
        ),
        price_class: cloudfront.PriceClass = cloudfront.PriceClass.PRICE_CLASS_ALL,
        rate_limit_per_ip: int = DEFAULT_RATE_LIMIT_PER_IP,
        rate_window: Duration | None = None,
        managed_rule_groups: Sequence[str] = DEFAULT_EDGE_MANAGED_RULE_GROUPS,
        blocked_countries: Sequence[str] = (),
        allowed_countries: Sequence[str] = (),
        automatic_mitigation: AutomaticMitigation = AutomaticMitigation.BLOCK,
        health_error_rate: float = DEFAULT_HEALTH_ERROR_RATE,
        emergency_contacts: Sequence[EmergencyContact] = (),
        rotation_interval: Duration | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        access_log_expiration: Duration | None = None,
        bundling_cache_dir: Path | None = None,
        edge_stack: Stack | None = None,
        reserved_concurrency: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        # S3 delivers the log bucket's access logs under a bucket policy, with ACLs kept
        # disabled on the access-log bucket, whatever the app's feature flags say.
        self.node.set_context(_S3_LOGS_USE_BUCKET_POLICY, True)
        stack = Stack.of(self)
        check_origin(tls_policy, custom_domain)
        _check_regional_web_acl(regional_web_acl)
        names = check_viewer(domain_names, certificate, viewer_security_policy)
        _check_settings(price_class, automatic_mitigation, health_error_rate)
        contacts = _check_contacts(emergency_contacts)
        self.domain_names = names
        self.edge_stack = cloudfront_web_acl_stack(stack, edge_stack)

        self.edge_web_acl = CloudFrontWebAcl(
            self if self.edge_stack is stack else self.edge_stack,
            "CloudFrontWebAcl" if self.edge_stack is stack else f"{Names.unique_id(self)}WebAcl",
            rate_limit_per_ip=rate_limit_per_ip,
            rate_window=rate_window,
            managed_rule_groups=managed_rule_groups,
            blocked_countries=blocked_countries,
            allowed_countries=allowed_countries,
            log_retention=log_retention,
        )
        self.distribution, self.log_bucket, self.access_log_bucket = origin_distribution(
            self,
            stage,
            origin_secret,
            key,
            web_acl_arn=self.web_acl_arn,
            custom_domain=custom_domain,
            domain_names=names,
            certificate=certificate,
            viewer_security_policy=viewer_security_policy,
            price_class=price_class,
            access_log_expiration=access_log_expiration or Duration.days(365),
        )
        self.rotation = OriginSecretRotation(
            self,
            "OriginSecretRotation",
            secret=origin_secret,
            regional_web_acl=regional_web_acl,
            distribution=self.distribution,
            key=key,
            bundling_cache_dir=resolve_cache_dir(bundling_cache_dir),
            reserved_concurrency=reserved_concurrency,
            edge_web_acl_arn=self.web_acl_arn,
            rotation_interval=rotation_interval,
            log_retention=log_retention,
        )
        self.health_alarm, self.health_check = self._health(stage, health_error_rate)
        self.protection, self.protection_group = self._protect(automatic_mitigation)
        self.proactive_engagement = (
            shield.CfnProactiveEngagement(
                self,
                "ProactiveEngagement",
                proactive_engagement_status="ENABLED",
                emergency_contact_list=[
                    shield.CfnProactiveEngagement.EmergencyContactProperty(
                        email_address=c.email, phone_number=c.phone, contact_notes=c.notes
                    )
                    for c in contacts
                ],
            )
            if contacts
            else None
        )
        Annotations.of(self).add_warning_v2(
            "secure-endpoint:shield-subscription",
            "Shield Advanced protects this distribution only with an active Shield Advanced "
            f"subscription of the account: about {SHIELD_ADVANCED_MONTHLY_FEE_USD:,} USD a month "
            f"with a {SHIELD_ADVANCED_COMMITMENT_MONTHS}-month commitment (plus data transfer). "
            "Subscribe before deploying: the AWS::Shield::Protection fails without one.",
        )
        if certificate is None:
            Annotations.of(self).add_warning_v2(
                "secure-endpoint:cloudfront-default-certificate",
                "The distribution uses CloudFront's default *.cloudfront.net certificate, for "
                "which CloudFront fixes the viewer security policy at TLSv1 (TLS 1.0 and up). "
                "Give domain_names and a certificate of us-east-1 to require TLS 1.2.",
            )

    @property
    def web_acl(self) -> wafv2.CfnWebACL:
        """The CLOUDFRONT-scope web ACL (in ``edge_stack``)."""
        return self.edge_web_acl.web_acl

    @property
    def web_acl_arn(self) -> str:
        """The CLOUDFRONT web ACL's ARN as this construct's stack reads it (``Fn::GetStackOutput``
        from the edge stack, a weak reference; a plain ``Fn::GetAtt`` in one stack)."""
        return Stack.consume_reference(self.edge_web_acl.web_acl_arn, ReferenceStrength.WEAK)

    @property
    def distribution_url(self) -> str:
        """``https://`` and the distribution's own domain name."""
        return f"https://{self.distribution.distribution_domain_name}"

    @property
    def url(self) -> str:
        """``https://`` and the name viewers use: the first of ``domain_names``, if any."""
        if self.domain_names:
            return f"https://{self.domain_names[0]}"
        return self.distribution_url

    def metric_origin_error_rate(self, **options: Any) -> cloudwatch.Metric:
        """The metric behind ``health_alarm``: the stage's share of 5XX responses.

        :param options: ``cloudwatch.MetricOptions`` fields (``period``, ``statistic``,
            ``label``, ...). Default: - Average per minute
        """
        return self._origin_error_rate.with_(**metrics.checked(options))

    def _health(
        self, stage: apigw.Stage, error_rate: float
    ) -> tuple[cloudwatch.Alarm, route53.CfnHealthCheck]:
        stack = Stack.of(self)
        # Route 53 health checks take standard-resolution metrics with a plain statistic:
        # the Average of 5XXError (0 or 1 per request) is the share of 5XX responses.
        self._origin_error_rate = stage.metric_server_error(
            period=Duration.minutes(1), statistic=cloudwatch.Stats.AVERAGE
        )
        alarm = cloudwatch.Alarm(
            self,
            "HealthAlarm",
            alarm_description=(
                "secure-endpoint: the API answers more than "
                f"{error_rate:.0%} of requests with 5XX; Shield Advanced reads it as unhealthy"
            ),
            metric=self._origin_error_rate,
            threshold=error_rate,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        compliance.acknowledge(
            alarm,
            "This alarm is read by a Route 53 health check for Shield Advanced's health-based "
            "detection and proactive engagement; who gets notified is up to the owner "
            "(health_alarm.add_alarm_action), the alarm itself acts through Shield.",
            "HIPAA.Security-CloudWatchAlarmAction",
            "NIST.800.53.R5-CloudWatchAlarmAction",
        )
        health_check = route53.CfnHealthCheck(
            self,
            "HealthCheck",
            health_check_config=route53.CfnHealthCheck.HealthCheckConfigProperty(
                type="CLOUDWATCH_METRIC",
                alarm_identifier=route53.CfnHealthCheck.AlarmIdentifierProperty(
                    name=alarm.alarm_name, region=stack.region
                ),
                insufficient_data_health_status="Healthy",
            ),
            health_check_tags=[
                route53.CfnHealthCheck.HealthCheckTagProperty(
                    key="Name", value=f"secure-endpoint {stack.stack_name} API 5XX rate"
                )
            ],
        )
        return alarm, health_check

    def _protect(
        self, mitigation: AutomaticMitigation
    ) -> tuple[shield.CfnProtection, shield.CfnProtectionGroup]:
        stack = Stack.of(self)
        automatic = (
            None
            if mitigation is AutomaticMitigation.DISABLED
            else shield.CfnProtection.ApplicationLayerAutomaticResponseConfigurationProperty(
                status="ENABLED",
                action=shield.CfnProtection.ActionProperty(
                    block={} if mitigation is AutomaticMitigation.BLOCK else None,
                    count={} if mitigation is AutomaticMitigation.COUNT else None,
                ),
            )
        )
        protection = shield.CfnProtection(
            self,
            "Protection",
            name=Names.unique_resource_name(
                self, max_length=_SHIELD_NAME_MAX, separator="-", allowed_special_characters="-"
            ),
            resource_arn=self.distribution.distribution_arn,
            health_check_arns=[
                stack.format_arn(
                    service="route53",
                    region="",
                    account="",
                    resource="healthcheck",
                    resource_name=self.health_check.attr_health_check_id,
                )
            ],
            application_layer_automatic_response_configuration=automatic,
        )
        group = shield.CfnProtectionGroup(
            self,
            "ProtectionGroup",
            protection_group_id=Names.unique_resource_name(
                self,
                max_length=_PROTECTION_GROUP_ID_MAX,
                separator="-",
                allowed_special_characters="-",
            ),
            pattern="ARBITRARY",
            members=[self.distribution.distribution_arn],
            aggregation="MAX",
        )
        # Members must be protected before they join a group.
        group.add_resource_dependency(protection)
        return protection, group


def _check_regional_web_acl(web_acl: wafv2.CfnWebACL) -> None:
    if not isinstance(web_acl, wafv2.CfnWebACL):
        raise ValueError(
            "regional_web_acl must be the stage's wafv2.CfnWebACL (WebAclProtection.web_acl), "
            f"got {web_acl!r}"
        )
    if not Token.is_unresolved(web_acl.scope) and web_acl.scope != "REGIONAL":
        raise ValueError(
            f"regional_web_acl must have scope 'REGIONAL' (it protects the stage), "
            f"got {web_acl.scope!r}"
        )


def _check_settings(
    price_class: cloudfront.PriceClass,
    automatic_mitigation: AutomaticMitigation,
    health_error_rate: float,
    prefix: str = "",
) -> None:
    check.enum_member(f"{prefix}price_class", price_class, cloudfront.PriceClass)
    if not isinstance(automatic_mitigation, AutomaticMitigation):
        raise ValueError(
            f"{prefix}automatic_mitigation must be an AutomaticMitigation (BLOCK, COUNT or "
            f"DISABLED), got {automatic_mitigation!r}"
        )
    if isinstance(health_error_rate, bool) or not (
        isinstance(health_error_rate, int | float) and 0 < health_error_rate < 1
    ):
        raise ValueError(
            f"{prefix}health_error_rate must be a share of responses between 0 and 1 "
            f"(exclusive), like 0.05 for 5%, got {health_error_rate!r}"
        )


def _check_contacts(
    contacts: Sequence[EmergencyContact], prefix: str = ""
) -> list[EmergencyContact]:
    if isinstance(contacts, EmergencyContact | str) or not isinstance(contacts, Sequence):
        raise ValueError(
            f"{prefix}emergency_contacts must be a list of EmergencyContact, like "
            f"[EmergencyContact('oncall@example.com')], got {contacts!r}"
        )
    checked = list(contacts)
    for contact in checked:
        if not isinstance(contact, EmergencyContact):
            raise ValueError(
                f"{prefix}emergency_contacts must hold EmergencyContact values, got {contact!r}"
            )
    if len(checked) > _MAX_EMERGENCY_CONTACTS:
        raise ValueError(
            f"{prefix}emergency_contacts may list at most {_MAX_EMERGENCY_CONTACTS} contacts "
            f"(Shield's limit), got {len(checked)}"
        )
    return checked

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
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import (
    Annotations,
    Arn,
    ArnFormat,
    Duration,
    Environment,
    Names,
    ReferenceStrength,
    RemovalPolicy,
    Stack,
    Stage,
    Token,
)
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_shield as shield
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from secure_endpoint import compliance
from secure_endpoint.constructs import _building as build
from secure_endpoint.constructs import _validation as check
from secure_endpoint.constructs.bundling import lambda_code
from secure_endpoint.constructs.edge import (
    DEFAULT_RATE_LIMIT_PER_IP,
    GEO_RULE,
    ORIGIN_SECRET_RULE,
    ORIGIN_VERIFY_HEADER,
    RATE_LIMIT_PER_IP_RULE,
    _Band,
    _geo_rule,
    _managed_rule,
    _rate_rule,
    _RuleBuilder,
    _visibility,
    _window_seconds,
    _with_priorities,
    add_waf_logging,
    waf_response_bodies,
)
from secure_endpoint.constructs.keys import EncryptionKey
from secure_endpoint.constructs.options import CustomDomain, TlsPolicy

#: What a Shield Advanced subscription costs per account (or organization), in USD a month.
SHIELD_ADVANCED_MONTHLY_FEE_USD = 3_000
#: How long a Shield Advanced subscription commits to, in months.
SHIELD_ADVANCED_COMMITMENT_MONTHS = 12
#: The only Region where CLOUDFRONT-scope web ACLs (and their logs) can be created.
EDGE_REGION = "us-east-1"
#: The CloudFront web ACL's managed rule groups: those that judge the viewer's address, which
#: only the CloudFront web ACL sees (the regional one sees CloudFront's).
DEFAULT_EDGE_MANAGED_RULE_GROUPS: tuple[str, ...] = (
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesAnonymousIpList",
)
#: Length of the origin secret: letters and digits.
ORIGIN_SECRET_LENGTH = 64
ROTATION_PACKAGE = "origin_secret_rotation"
DEFAULT_HEALTH_ERROR_RATE = 0.05
#: Viewer security policies at least as strict as the API's own (TLS 1.2 with forward secrecy).
VIEWER_SECURITY_POLICIES = (
    cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
    cloudfront.SecurityPolicyProtocol.TLS_V1_2_2025,
    cloudfront.SecurityPolicyProtocol.TLS_V1_3_2025,
)

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


@dataclass(frozen=True)
class ShieldOptions:
    """The CloudFront and Shield settings of ``SecureEndpoint(shield_advanced=True)``.

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


def create_origin_secret(
    scope: Construct, construct_id: str, *, key: kms.IKey
) -> secretsmanager.Secret:
    """The origin secret: a plain string of 64 letters and digits, encrypted with ``key``.

    Give it to ``WebAclProtection(origin_secret=...)`` and to ``ShieldAdvancedEdge``, which
    rotates it. Nothing but CloudFront and the rotation function ever needs its value.
    """
    return secretsmanager.Secret(
        scope,
        construct_id,
        description=(
            f"secure-endpoint: the {ORIGIN_VERIFY_HEADER} header CloudFront sends to the API"
        ),
        encryption_key=key,
        generate_secret_string=secretsmanager.SecretStringGenerator(
            password_length=ORIGIN_SECRET_LENGTH,
            exclude_punctuation=True,
            include_space=False,
            require_each_included_type=True,
        ),
        removal_policy=RemovalPolicy.DESTROY,
    )


class CloudFrontWebAcl(Construct):
    """A CLOUDFRONT-scope web ACL with logs; it must be created in a us-east-1 stack.

    It allows by default and blocks, in the bands of ``secure_endpoint.constructs.edge``: requests
    from
    ``blocked_countries`` or outside ``allowed_countries`` (403 JSON), more than
    ``rate_limit_per_ip`` requests from one viewer address within ``rate_window`` (429 JSON with
    ``Retry-After``), and what the managed rule groups block. Every rule emits metrics and
    sampled requests; requests are logged to a log group ``aws-waf-logs-...`` encrypted with
    ``key`` (a key of us-east-1), with ``REDACTED_HEADERS`` redacted. Shield Advanced's
    automatic mitigation adds a ``ShieldMitigationRuleGroup`` rule (priority 10,000,000) to
    this web ACL itself: that is expected drift, which no deploy removes.

    :param key: a KMS key of us-east-1 for the log group. Default: - a new rotating key
    :param rate_limit_per_ip: 10 to 2,000,000,000. Default: - 1000
    :param rate_window: 1, 2, 5 or 10 minutes. Default: - 5 minutes
    :param managed_rule_groups: AWS managed rule groups, in order, at most 20.
        Default: - ``DEFAULT_EDGE_MANAGED_RULE_GROUPS`` (Amazon IP reputation, anonymous IP)
    :param blocked_countries: ISO 3166 alpha-2 codes. Default: - none
    :param allowed_countries: when given, every other country is blocked; exclusive with
        ``blocked_countries``. Default: - every country
    :param log_retention: Default: - one year
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey | None = None,
        rate_limit_per_ip: int = DEFAULT_RATE_LIMIT_PER_IP,
        rate_window: Duration | None = None,
        managed_rule_groups: Sequence[str] = DEFAULT_EDGE_MANAGED_RULE_GROUPS,
        blocked_countries: Sequence[str] = (),
        allowed_countries: Sequence[str] = (),
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
    ) -> None:
        super().__init__(scope, construct_id)
        region = Stack.of(self).region
        if Token.is_unresolved(region) or region != EDGE_REGION:
            raise ValueError(
                f"CloudFrontWebAcl must be created in a stack of Region {EDGE_REGION!r} (WAF "
                "creates CLOUDFRONT-scope web ACLs there only), got a stack of "
                f"{'an unresolved Region' if Token.is_unresolved(region) else repr(region)}"
            )
        window_sec = _window_seconds("rate_window", rate_window)
        check.waf_rate_limit("rate_limit_per_ip", rate_limit_per_ip)
        groups = check.waf_managed_rule_groups(
            "managed_rule_groups", managed_rule_groups, _Band.MANAGED.size
        )
        blocked = check.country_codes("blocked_countries", blocked_countries)
        allowed = check.country_codes("allowed_countries", allowed_countries)
        if blocked and allowed:
            raise ValueError(
                "give blocked_countries or allowed_countries, not both (got "
                f"blocked_countries={blocked}, allowed_countries={allowed})"
            )
        if not groups:
            Annotations.of(self).add_warning_v2(
                "secure-endpoint:waf-no-managed-rules",
                "managed_rule_groups of the CloudFront web ACL is empty: it blocks no address "
                "known for abuse, only floods (and the countries given).",
            )
        geo: list[_RuleBuilder] = (
            [
                functools.partial(
                    _geo_rule, GEO_RULE, countries=blocked or allowed, negate=bool(allowed)
                )
            ]
            if blocked or allowed
            else []
        )
        rules = _with_priorities(
            {
                _Band.DENY: geo,
                _Band.RATE: [
                    functools.partial(
                        _rate_rule,
                        RATE_LIMIT_PER_IP_RULE,
                        limit=rate_limit_per_ip,
                        window_sec=window_sec,
                    )
                ],
                _Band.MANAGED: [
                    functools.partial(_managed_rule, name, overrides={}) for name in groups
                ],
            }
        )
        used_bodies = _response_body_keys(rules)
        self.key = key or EncryptionKey(self, "Encryption").key
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="CLOUDFRONT",
            description="secure-endpoint: viewer rate limit, address reputation and geo rules",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(
                allow=wafv2.CfnWebACL.AllowActionProperty()
            ),
            visibility_config=_visibility(Names.unique_id(self)),
            rules=rules,
            custom_response_bodies={
                body_key: body
                for body_key, body in waf_response_bodies().items()
                if body_key in used_bodies
            },
        )
        self.rule_names = frozenset(rule.name for rule in rules)
        self.log_group = add_waf_logging(self, self.web_acl_arn, self.key, log_retention)

    @property
    def web_acl_arn(self) -> str:
        return self.web_acl.attr_arn


class OriginSecretRotation(Construct):
    """The Lambda that rotates the origin secret without downtime, and its schedule.

    Each rotation (see ``lambdas/origin_secret_rotation``) makes the regional web ACL's origin
    secret rule accept the new value beside the one CloudFront sends, then switches the
    distribution's origin header to it; the previous value stays accepted until the next
    rotation. Both writes happen outside CloudFormation, so the web ACL and the distribution
    drift from their template by design. A deploy that updates either resolves the template's
    dynamic reference to AWSCURRENT and resets it to that value (the web ACL then accepts
    AWSCURRENT twice): consistent once a rotation has finished and CloudFront has deployed it;
    a deploy within those minutes may refuse, for a few minutes, edges still sending the other
    value.

    The function runs outside any VPC: CloudFront's API has no VPC endpoint. It may read and
    write that one web ACL and that one distribution, and read and stage versions of that one
    secret; it has a dead-letter queue, active tracing (a reserved concurrency of 1 with
    ``reserved_concurrency``) and logs and environment encrypted with ``key``.

    :param secret: the origin secret.
    :param regional_web_acl: the REGIONAL web ACL holding ``ORIGIN_SECRET_RULE``.
    :param distribution: the distribution sending ``ORIGIN_VERIFY_HEADER``.
    :param key: the KMS key of the secret's Region for logs, environment and queue.
    :param bundling_cache_dir: where bundled Lambda dependencies are cached.
    :param edge_web_acl_arn: the distribution's CLOUDFRONT web ACL, which the role may read:
        every UpdateDistribution carries the WebACLId of the configuration it sends back.
        Default: - no such permission
    :param rotation_interval: 1 to 365 days. Default: - 30 days
    :param log_retention: Default: - one year
    :param reserved_concurrency: reserve 1 concurrent execution for the rotation. Lambda keeps at
        least 100 of the account's concurrency unreserved, so reservations need an account quota of
        at least 100 plus all of them (new accounts may start at 10: raise it in Service Quotas
        first). Default: - false; Secrets Manager still runs one rotation of a secret at a time
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        secret: secretsmanager.ISecret,
        regional_web_acl: wafv2.CfnWebACL,
        distribution: cloudfront.Distribution,
        key: kms.IKey,
        bundling_cache_dir: Path,
        reserved_concurrency: bool = False,
        edge_web_acl_arn: str | None = None,
        rotation_interval: Duration | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
    ) -> None:
        super().__init__(scope, construct_id)
        interval = rotation_interval or Duration.days(30)
        if not isinstance(interval, Duration):
            raise ValueError(
                f"rotation_interval must be a Duration, like Duration.days(30), got {interval!r}"
            )
        check.int_range("rotation_interval (days)", int(interval.to_days()), 1, 365)
        log_group = logs.LogGroup(self, "Logs", encryption_key=key, retention=log_retention)
        self.role = build.lambda_role(
            self, "Role", description="Rotates the secure-endpoint CloudFront origin secret"
        )
        log_group.grant_write(self.role)
        build.allow_dead_letter_sends(key, self.role)
        self.dead_letter_queue = build.dead_letter_queue(
            self, "DeadLetters", key=key, owner="the rotation Lambda", failures="events"
        )
        self.function = build.hardened_function(
            self,
            "Function",
            package=ROTATION_PACKAGE,
            code=lambda_code(ROTATION_PACKAGE, bundling_cache_dir, include_runtime=True),
            description="Rotates the CloudFront origin secret in the web ACL and distribution",
            role=self.role,
            key=key,
            log_group=log_group,
            dead_letter_queue=self.dead_letter_queue,
            reserved_concurrent_executions=1 if reserved_concurrency else None,
            memory_size=256,
            timeout=Duration.seconds(60),
            environment={
                "WEB_ACL_ARN": regional_web_acl.attr_arn,
                "ORIGIN_SECRET_RULE": ORIGIN_SECRET_RULE,
                "ORIGIN_VERIFY_HEADER": ORIGIN_VERIFY_HEADER,
                "DISTRIBUTION_ID": distribution.distribution_id,
                "POWERTOOLS_SERVICE_NAME": "secure-endpoint-origin-secret-rotation",
            },
        )
        self._grant(regional_web_acl, distribution, edge_web_acl_arn)
        self.schedule = secret.add_rotation_schedule(
            "Rotation",
            rotation_lambda=self.function,
            automatically_after=interval,
            rotate_immediately_on_update=False,
        )
        self._acknowledge()
        build.depend_on_grants(self.function, self.role)

    def _grant(
        self,
        regional_web_acl: wafv2.CfnWebACL,
        distribution: cloudfront.Distribution,
        edge_web_acl_arn: str | None,
    ) -> None:
        stack = Stack.of(self)
        iam.Grant.add_to_principal(
            grantee=self.role,
            actions=["wafv2:GetWebACL", "wafv2:UpdateWebACL"],
            resource_arns=[regional_web_acl.attr_arn],
        )
        # UpdateWebACL is also authorized against every IP set and managed rule group the web
        # ACL references; that permits referencing them in this web ACL, not changing them.
        iam.Grant.add_to_principal(
            grantee=self.role,
            actions=["wafv2:UpdateWebACL"],
            resource_arns=[
                stack.format_arn(service="wafv2", resource=f"regional/{kind}", resource_name="*")
                for kind in ("ipset", "managedruleset")
            ],
        )
        iam.Grant.add_to_principal(
            grantee=self.role,
            actions=["cloudfront:GetDistribution", "cloudfront:UpdateDistribution"],
            resource_arns=[distribution.distribution_arn],
        )
        if edge_web_acl_arn is not None:
            iam.Grant.add_to_principal(
                grantee=self.role, actions=["wafv2:GetWebACL"], resource_arns=[edge_web_acl_arn]
            )

    def _acknowledge(self) -> None:
        compliance.acknowledge(
            self.role,
            "Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, and new "
            "values come from secretsmanager:GetRandomPassword (granted by CDK's rotation "
            "schedule); none of them supports resource-level permissions.",
            "AwsSolutions-IAM5[Resource::*]",
        )
        compliance.acknowledge(
            self.role,
            "wafv2:UpdateWebACL is authorized against each IP set and managed rule group the "
            "web ACL references, whose names and ids other constructs choose; this grants "
            "referencing them from the one web ACL the role may update, never changing them.",
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:wafv2:<AWS::Region>:"
            "<AWS::AccountId>:regional/ipset/*]",
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:wafv2:<AWS::Region>:"
            "<AWS::AccountId>:regional/managedruleset/*]",
        )
        compliance.acknowledge(
            self.function,
            "The function calls CloudFront's API, which no VPC endpoint serves, so a VPC would "
            "need a NAT gateway to the internet; outside a VPC it has no inbound path at all.",
            "HIPAA.Security-LambdaInsideVPC",
            "NIST.800.53.R5-LambdaInsideVPC",
            "PCI.DSS.321-LambdaInsideVPC",
        )


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
        Default: - '.cache/lambda-deps' under the working directory
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
        _check_origin(tls_policy, custom_domain)
        _check_regional_web_acl(regional_web_acl)
        names = _check_viewer(domain_names, certificate, viewer_security_policy)
        if not isinstance(automatic_mitigation, AutomaticMitigation):
            raise ValueError(
                "automatic_mitigation must be an AutomaticMitigation (BLOCK, COUNT or DISABLED), "
                f"got {automatic_mitigation!r}"
            )
        if isinstance(health_error_rate, bool) or not (
            isinstance(health_error_rate, int | float) and 0 < health_error_rate < 1
        ):
            raise ValueError(
                "health_error_rate must be a share of responses between 0 and 1 (exclusive), "
                f"like 0.05 for 5%, got {health_error_rate!r}"
            )
        contacts = _check_contacts(emergency_contacts)
        self.domain_names = names
        self.edge_stack = _edge_stack(stack, edge_stack)

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
        self.distribution = self._distribution(
            stage,
            origin_secret,
            key,
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
            bundling_cache_dir=bundling_cache_dir or Path(".cache") / "lambda-deps",
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

    def metric_origin_error_rate(self) -> cloudwatch.IMetric:
        """The metric behind ``health_alarm``: the stage's share of 5XX responses per minute."""
        return self.health_alarm.metric

    def _distribution(
        self,
        stage: apigw.Stage,
        origin_secret: secretsmanager.ISecret,
        key: kms.IKey,
        *,
        custom_domain: CustomDomain | None,
        domain_names: Sequence[str],
        certificate: acm.ICertificate | None,
        viewer_security_policy: cloudfront.SecurityPolicyProtocol,
        price_class: cloudfront.PriceClass,
        access_log_expiration: Duration,
    ) -> cloudfront.Distribution:
        if custom_domain is not None:
            domain, path = custom_domain.domain_name, None
        else:
            api_stack = Stack.of(stage)
            domain = (
                f"{stage.rest_api.rest_api_id}.execute-api.{api_stack.region}."
                f"{api_stack.url_suffix}"
            )
            path = f"/{stage.stage_name}"
        self.log_bucket, self.access_log_bucket = self._log_buckets(key, access_log_expiration)
        distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="secure-endpoint: CloudFront in front of the regional inference API",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.HttpOrigin(
                    domain,
                    origin_path=path,
                    protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
                    origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
                    custom_headers={
                        ORIGIN_VERIFY_HEADER: origin_secret.secret_value.unsafe_unwrap()
                    },
                    # API Gateway gives up on an integration after 29 seconds.
                    read_timeout=Duration.seconds(30),
                ),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
            ),
            web_acl_id=self.web_acl_arn,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=price_class,
            domain_names=list(domain_names) or None,
            certificate=certificate,
            minimum_protocol_version=viewer_security_policy if certificate else None,
            enable_logging=True,
            log_bucket=self.log_bucket,
            log_file_prefix="cloudfront/",
            log_includes_cookies=False,
        )
        compliance.acknowledge(
            distribution,
            "Countries are restricted, when blocked_countries or allowed_countries is given, by "
            "the CloudFront web ACL's geo rule, which answers with the API's JSON 403; the "
            "distribution's own restriction would answer with CloudFront's HTML error page.",
            "AwsSolutions-CFR1",
        )
        if certificate is None:
            compliance.acknowledge(
                distribution,
                "Without domain_names and a certificate the distribution has only its "
                "*.cloudfront.net name, whose certificate CloudFront pins to the TLSv1 security "
                "policy; a synth warning (secure-endpoint:cloudfront-default-certificate) says so.",
                "AwsSolutions-CFR4",
            )
        return distribution

    def _log_buckets(self, key: kms.IKey, retention: Duration) -> tuple[s3.Bucket, s3.Bucket]:
        """CloudFront's standard-log bucket (KMS, ACLs on) and the bucket of its access logs."""
        access_logs = build.access_log_bucket(self, "LogBucketAccessLogs", expiration=retention)
        bucket = build.encrypted_bucket(
            self,
            "LogBucket",
            key=key,
            access_logs=access_logs,
            access_logs_prefix="cloudfront-log-bucket/",
            lifecycle_rules=[build.expiring_versions(retention)],
            # CloudFront's standard logs are written by the awslogsdelivery account through an
            # ACL grant, which CloudFront adds; the bucket owner still owns every object.
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
        )
        # CloudFront's log delivery encrypts each log object with a data key of ``key``.
        build.allow_service_to_use_key(
            key,
            sid="AllowCloudFrontLogDeliveryToEncrypt",
            service="delivery.logs.amazonaws.com",
            actions=["kms:GenerateDataKey*"],
        )
        for target, what in ((bucket, "CloudFront access logs"), (access_logs, "who read them")):
            build.acknowledge_no_replication(
                target,
                f"This bucket holds {what} of one distribution, versioned and expired by a "
                "lifecycle rule; a replica would copy client addresses into a second bucket and "
                "Region, while the WAF logs keep the security record of every request.",
            )
        return bucket, access_logs

    def _health(
        self, stage: apigw.Stage, error_rate: float
    ) -> tuple[cloudwatch.Alarm, route53.CfnHealthCheck]:
        stack = Stack.of(self)
        alarm = cloudwatch.Alarm(
            self,
            "HealthAlarm",
            alarm_description=(
                "secure-endpoint: the API answers more than "
                f"{error_rate:.0%} of requests with 5XX; Shield Advanced reads it as unhealthy"
            ),
            # Route 53 health checks take standard-resolution metrics with a plain statistic:
            # the Average of 5XXError (0 or 1 per request) is the share of 5XX responses.
            metric=stage.metric_server_error(
                period=Duration.minutes(1), statistic=cloudwatch.Stats.AVERAGE
            ),
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


def _response_body_keys(rules: Sequence[wafv2.CfnWebACL.RuleProperty]) -> set[str]:
    """The custom response bodies the rules answer with (a web ACL defines only those)."""
    keys = set()
    for rule in rules:
        action = rule.action
        block = action.block if isinstance(action, wafv2.CfnWebACL.RuleActionProperty) else None
        response = (
            block.custom_response
            if isinstance(block, wafv2.CfnWebACL.BlockActionProperty)
            else None
        )
        if isinstance(response, wafv2.CfnWebACL.CustomResponseProperty):
            keys.add(str(response.custom_response_body_key))
    return keys


def _edge_stack(stack: Stack, brought: Stack | None) -> Stack:
    """The stack of the CLOUDFRONT web ACL: brought, the API's own, or a new sibling."""
    if brought is not None:
        region = brought.region
        if Token.is_unresolved(region) or region != EDGE_REGION:
            raise ValueError(
                f"edge_stack must be a stack of Region {EDGE_REGION!r} (env=Environment(region="
                f"'{EDGE_REGION}')), got one of "
                f"{'an unresolved Region' if Token.is_unresolved(region) else repr(region)}"
            )
        if (
            not Token.is_unresolved(brought.account)
            and not Token.is_unresolved(stack.account)
            and brought.account != stack.account
        ):
            raise ValueError(
                f"edge_stack must be in the API's account {stack.account!r}, "
                f"got {brought.account!r}"
            )
        if brought is not stack:
            stack.add_stack_dependency(brought, "the distribution uses its CloudFront web ACL")
        return brought
    if Token.is_unresolved(stack.region):
        raise ValueError(
            "ShieldAdvancedEdge needs a stack with a concrete Region, like "
            "Stack(app, 'Api', env=Environment(account='111122223333', region='eu-west-1')): "
            "its CloudFront web ACL must be created in "
            f"{EDGE_REGION}, in a stack of its own unless the API's stack is there too, and "
            "which it is cannot be told from an environment-agnostic stack"
        )
    if stack.region == EDGE_REGION:
        return stack
    stage = Stage.of(stack)
    assert stage is not None
    edge_id = f"{stack.node.id}-edge"
    existing = stage.node.try_find_child(edge_id)
    if isinstance(existing, Stack):
        return existing
    edge = Stack(
        stage,
        edge_id,
        # An environment-agnostic account stays so: both stacks deploy to the CLI's account.
        env=Environment(
            account=None if Token.is_unresolved(stack.account) else stack.account,
            region=EDGE_REGION,
        ),
        stack_name=f"{stack.stack_name}-{stack.region}-edge",
        description=(
            f"secure-endpoint: the CloudFront web ACL of {stack.stack_name} ({stack.region})"
        ),
        termination_protection=stack.termination_protection,
    )
    stack.add_stack_dependency(edge, "the distribution uses its CloudFront web ACL")
    return edge


def _check_origin(tls_policy: TlsPolicy, custom_domain: CustomDomain | None) -> None:
    if tls_policy is TlsPolicy.TLS13_ONLY:
        raise ValueError(
            "tls_policy TlsPolicy.TLS13_ONLY cannot be combined with Shield Advanced: CloudFront "
            "connects to origins with TLS 1.2 at most (OriginSslProtocols SSLv3 to TLSv1.2), "
            "so it could not reach the API; use TlsPolicy.TLS13_1_2, whose forward-secret "
            "TLS 1.2 ciphers (ECDHE with AES-GCM) CloudFront speaks"
        )
    if not isinstance(tls_policy, TlsPolicy):
        raise ValueError(f"tls_policy must be a TlsPolicy, got {tls_policy!r}")
    if custom_domain is not None and custom_domain.truststore_bucket is not None:
        raise ValueError(
            f"custom_domain {custom_domain.domain_name!r} requires mutual TLS (it has a "
            "truststore), which CloudFront cannot pass: it presents no client certificate to "
            "origins; drop the truststore or leave Shield Advanced off"
        )


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


def _check_viewer(
    domain_names: Sequence[str],
    certificate: acm.ICertificate | None,
    policy: cloudfront.SecurityPolicyProtocol,
) -> list[str]:
    if isinstance(domain_names, str):
        raise ValueError(
            f"domain_names must be a list like ['api.example.com'], got {domain_names!r}"
        )
    names = list(domain_names)
    for name in names:
        check.domain_name("domain_names[]", name.removeprefix("*."))
    if bool(names) != (certificate is not None):
        raise ValueError(
            "domain_names and certificate go together: a distribution serves its own names "
            f"only with a certificate covering them (got domain_names={names!r}, "
            f"certificate={'given' if certificate is not None else None})"
        )
    if certificate is not None:
        arn = certificate.certificate_arn
        region = (
            certificate.env.region
            if Token.is_unresolved(arn)
            else Arn.split(arn, ArnFormat.SLASH_RESOURCE_NAME).region
        )
        if not Token.is_unresolved(region) and region != EDGE_REGION:
            raise ValueError(
                f"certificate must be an ACM certificate of {EDGE_REGION} (CloudFront reads "
                f"certificates there only), got one of {region!r}"
            )
    if policy not in VIEWER_SECURITY_POLICIES:
        raise ValueError(
            "viewer_security_policy must be TLS_V1_2_2021, TLS_V1_2_2025 or TLS_V1_3_2025 "
            f"(TLS 1.2 and up with forward secrecy, like the API), got {policy!r}"
        )
    if certificate is None and policy is not cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021:
        raise ValueError(
            f"viewer_security_policy {policy!r} applies only with a certificate: with the "
            "default *.cloudfront.net certificate CloudFront fixes the policy; give "
            "domain_names and certificate"
        )
    return names


def _check_contacts(contacts: Sequence[EmergencyContact]) -> list[EmergencyContact]:
    if isinstance(contacts, EmergencyContact) or not isinstance(contacts, Sequence):
        raise ValueError(
            "emergency_contacts must be a list of EmergencyContact, like "
            f"[EmergencyContact('oncall@example.com')], got {contacts!r}"
        )
    checked = list(contacts)
    for contact in checked:
        if not isinstance(contact, EmergencyContact):
            raise ValueError(
                f"emergency_contacts must hold EmergencyContact values, got {contact!r}"
            )
    if len(checked) > _MAX_EMERGENCY_CONTACTS:
        raise ValueError(
            f"emergency_contacts may list at most {_MAX_EMERGENCY_CONTACTS} contacts (Shield's "
            f"limit), got {len(checked)}"
        )
    return checked

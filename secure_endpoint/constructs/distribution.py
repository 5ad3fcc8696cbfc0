"""The CloudFront distribution in front of the REGIONAL API stage, and its log buckets.

Built into a ``ShieldAdvancedEdge`` (``scope``): the children keep their ids under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from aws_cdk import Arn, ArnFormat, Duration, Stack, Token
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from secure_endpoint import compliance
from secure_endpoint.constructs import _building as build
from secure_endpoint.constructs import _validation as check
from secure_endpoint.constructs.cloudfront_web_acl import EDGE_REGION
from secure_endpoint.constructs.options import CustomDomain, TlsPolicy
from secure_endpoint.constructs.waf_rules import ORIGIN_VERIFY_HEADER

#: Viewer security policies at least as strict as the API's own (TLS 1.2 with forward secrecy).
VIEWER_SECURITY_POLICIES = (
    cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
    cloudfront.SecurityPolicyProtocol.TLS_V1_2_2025,
    cloudfront.SecurityPolicyProtocol.TLS_V1_3_2025,
)


class OriginDistribution(NamedTuple):
    """What ``origin_distribution`` builds."""

    distribution: cloudfront.Distribution
    log_bucket: s3.Bucket
    access_log_bucket: s3.Bucket


def origin_distribution(
    scope: Construct,
    stage: apigw.Stage,
    origin_secret: secretsmanager.ISecret,
    key: kms.IKey,
    *,
    web_acl_arn: str,
    custom_domain: CustomDomain | None,
    domain_names: Sequence[str],
    certificate: acm.ICertificate | None,
    viewer_security_policy: cloudfront.SecurityPolicyProtocol,
    price_class: cloudfront.PriceClass,
    access_log_expiration: Duration,
) -> OriginDistribution:
    """The distribution ``Distribution`` of ``scope``, sending every request to ``stage``.

    The origin is ``custom_domain`` when given (the execute-api endpoint is then disabled),
    else the stage's execute-api endpoint and path; every request carries the origin secret in
    ``ORIGIN_VERIFY_HEADER``; ``web_acl_arn`` is the CLOUDFRONT web ACL. Logs go to
    ``LogBucket``, whose access logs go to ``LogBucketAccessLogs``.
    """
    if custom_domain is not None:
        domain, path = custom_domain.domain_name, None
    else:
        api_stack = Stack.of(stage)
        domain = (
            f"{stage.rest_api.rest_api_id}.execute-api.{api_stack.region}.{api_stack.url_suffix}"
        )
        path = f"/{stage.stage_name}"
    log_bucket, access_log_bucket = _log_buckets(scope, key, access_log_expiration)
    distribution = cloudfront.Distribution(
        scope,
        "Distribution",
        comment="secure-endpoint: CloudFront in front of the regional inference API",
        default_behavior=cloudfront.BehaviorOptions(
            origin=origins.HttpOrigin(
                domain,
                origin_path=path,
                protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
                origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
                custom_headers={ORIGIN_VERIFY_HEADER: origin_secret.secret_value.unsafe_unwrap()},
                # API Gateway gives up on an integration after 29 seconds.
                read_timeout=Duration.seconds(30),
            ),
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
            cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        ),
        web_acl_id=web_acl_arn,
        http_version=cloudfront.HttpVersion.HTTP2_AND_3,
        price_class=price_class,
        domain_names=list(domain_names) or None,
        certificate=certificate,
        minimum_protocol_version=viewer_security_policy if certificate else None,
        enable_logging=True,
        log_bucket=log_bucket,
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
    return OriginDistribution(distribution, log_bucket, access_log_bucket)


def _log_buckets(
    scope: Construct, key: kms.IKey, retention: Duration
) -> tuple[s3.Bucket, s3.Bucket]:
    """CloudFront's standard-log bucket (KMS, ACLs on) and the bucket of its access logs."""
    access_logs = build.access_log_bucket(scope, "LogBucketAccessLogs", expiration=retention)
    bucket = build.encrypted_bucket(
        scope,
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


def check_origin(tls_policy: TlsPolicy, custom_domain: CustomDomain | None) -> None:
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


def check_viewer(
    domain_names: Sequence[str],
    certificate: acm.ICertificate | None,
    policy: cloudfront.SecurityPolicyProtocol,
    prefix: str = "",
) -> list[str]:
    if isinstance(domain_names, str) or not isinstance(domain_names, Sequence):
        raise ValueError(
            f"{prefix}domain_names must be a list like ['api.example.com'], got {domain_names!r}"
        )
    names = list(domain_names)
    for name in names:
        if not isinstance(name, str):
            raise ValueError(
                f"{prefix}domain_names must hold domain names like 'api.example.com', got {name!r}"
            )
        check.domain_name(f"{prefix}domain_names[]", name.removeprefix("*."))
    if certificate is not None:
        check.resource(
            f"{prefix}certificate",
            certificate,
            "certificate_arn",
            "an ACM certificate (ICertificate)",
        )
    if bool(names) != (certificate is not None):
        raise ValueError(
            f"{prefix}domain_names and {prefix}certificate go together: a distribution serves "
            "its own names "
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
                f"{prefix}certificate must be an ACM certificate of {EDGE_REGION} (CloudFront "
                f"reads certificates there only), got one of {region!r}"
            )
    if policy not in VIEWER_SECURITY_POLICIES:
        raise ValueError(
            f"{prefix}viewer_security_policy must be TLS_V1_2_2021, TLS_V1_2_2025 or TLS_V1_3_2025 "
            f"(TLS 1.2 and up with forward secrecy, like the API), got {policy!r}"
        )
    if certificate is None and policy is not cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021:
        raise ValueError(
            f"{prefix}viewer_security_policy {policy!r} applies only with a certificate: with the "
            "default *.cloudfront.net certificate CloudFront fixes the policy; give "
            "domain_names and certificate"
        )
    return names

"""Where both web ACLs log: a KMS-encrypted ``aws-waf-logs-...`` log group, headers redacted."""

from __future__ import annotations

from aws_cdk import ArnFormat, Names, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from secure_endpoint.constructs import _validation as check
from secure_endpoint.constructs.waf_rules import ORIGIN_VERIFY_HEADER

#: Request headers never written to WAF logs.
REDACTED_HEADERS = ("authorization", "x-api-key", ORIGIN_VERIFY_HEADER)


def add_waf_logging(
    scope: Construct, web_acl_arn: str, key: kms.IKey, retention: logs.RetentionDays
) -> logs.LogGroup:
    """Log ``web_acl_arn``'s requests to a new KMS-encrypted ``aws-waf-logs-...`` log group.

    The log group (child ``Logs`` of ``scope``) is named after ``scope``'s path, within the
    limits WAF and CloudWatch Logs set; the ``REDACTED_HEADERS`` never reach it.
    """
    prefix = check.WAF_LOG_GROUP_PREFIX
    name = prefix + Names.unique_resource_name(
        scope,
        max_length=check.LOG_GROUP_NAME_MAX - len(prefix),
        separator="-",
        allowed_special_characters="-_",
    )
    check.waf_log_group_name(name)
    log_group = logs.LogGroup(
        scope, "Logs", log_group_name=name, encryption_key=key, retention=retention
    )
    wafv2.CfnLoggingConfiguration(
        scope,
        "Logging",
        resource_arn=web_acl_arn,
        # The log group ARN as WAF documents it, without the ':*' of its Arn attribute.
        log_destination_configs=[
            Stack.of(scope).format_arn(
                service="logs",
                resource="log-group",
                resource_name=log_group.log_group_name,
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
        ],
        redacted_fields=[
            wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
            for header in REDACTED_HEADERS
        ],
    )
    return log_group

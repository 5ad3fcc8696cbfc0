"""Secrets Manager rotation function for the CloudFront origin secret.

Configuration (read once, at cold start): ``WEB_ACL_ARN`` (the regional web ACL),
``ORIGIN_SECRET_RULE`` (its rule that checks the header), ``ORIGIN_VERIFY_HEADER`` (the header)
and ``DISTRIBUTION_ID`` (the distribution that sends it). Each step is idempotent: Secrets
Manager may invoke any of them again after a failure. See ``rotation`` for the steps.

The function writes the web ACL and the distribution outside CloudFormation: both drift from
their template by design. A deploy that updates either resolves the template's dynamic
reference to AWSCURRENT and resets it to that value (the web ACL then accepts AWSCURRENT twice),
which is consistent once a rotation has finished: CloudFront sends what the web ACL accepts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from origin_secret_rotation import rotation
from origin_secret_rotation.adapters import DistributionConfig, WebAclRules
from origin_secret_rotation.rotation import WebAclRef
from secure_endpoint.runtime import secret_rotation
from secure_endpoint.runtime.secret_rotation import (
    PENDING,
    RotationError,
    RotationEvent,
    SecretStore,
)

logger = Logger(service="origin-secret-rotation")


@dataclass(frozen=True)
class Config:
    web_acl: WebAclRef
    rule_name: str
    header: str
    distribution_id: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        names = ("WEB_ACL_ARN", "ORIGIN_SECRET_RULE", "ORIGIN_VERIFY_HEADER", "DISTRIBUTION_ID")
        missing = [name for name in names if not env.get(name)]
        if missing:
            raise RotationError(f"the function's environment lacks {', '.join(missing)}")
        return cls(
            web_acl=WebAclRef.from_arn(env["WEB_ACL_ARN"]),
            rule_name=env["ORIGIN_SECRET_RULE"],
            header=env["ORIGIN_VERIFY_HEADER"],
            distribution_id=env["DISTRIBUTION_ID"],
        )


@dataclass(frozen=True)
class Adapters:
    secrets: SecretStore
    web_acl: WebAclRules
    distribution: DistributionConfig
    rule_name: str
    header: str


@cache
def adapters() -> Adapters:
    """Built once per execution environment, at the first (cold-start) invocation."""
    config = Config.from_env(os.environ)
    return Adapters(
        SecretStore(boto3.client("secretsmanager")),
        WebAclRules(boto3.client("wafv2"), config.web_acl),
        # CloudFront's API is global: the client resolves its one endpoint in any Region.
        DistributionConfig(boto3.client("cloudfront"), config.distribution_id),
        config.rule_name,
        config.header,
    )


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> None:
    request = RotationEvent.parse(event)
    logger.append_keys(**request.log_keys())
    logger.info("rotation step done", outcome=run_step(request, adapters()))


def run_step(event: RotationEvent, aws: Adapters) -> str:
    """Carry out one step; the returned outcome is for the log and holds no secret."""
    return secret_rotation.run_step(
        event,
        aws.secrets,
        create_secret=lambda: _create(event, aws),
        set_secret=lambda: _set(event, aws),
        test_secret=lambda: _test(event, aws),
    )


def _pending(event: RotationEvent, aws: Adapters) -> str:
    value = aws.secrets.pending_value(event.secret_id, event.token)
    return rotation.check_origin_secret(event.secret_id, PENDING, value)


def _create(event: RotationEvent, aws: Adapters) -> str:
    if aws.secrets.pending_value(event.secret_id, event.token) is not None:
        return "pending version already exists"
    value = rotation.check_origin_secret(
        event.secret_id, PENDING, aws.secrets.random_value(rotation.SECRET_LENGTH)
    )
    aws.secrets.put_pending(event.secret_id, event.token, value)
    return "pending version created"


def _set(event: RotationEvent, aws: Adapters) -> str:
    pending = _pending(event, aws)
    config, deployed = aws.distribution.read()
    plan = rotation.plan_set(
        pending=pending,
        accepted=rotation.accepted_values(aws.web_acl.rules(), aws.rule_name, aws.header),
        sent=rotation.sent_values(config, aws.header),
        deployed=deployed,
    )
    if plan.accepted is not None:
        accepted = plan.accepted
        aws.web_acl.update_rules(
            lambda rules: rotation.with_accepted_values(rules, aws.rule_name, aws.header, accepted)
        )
        logger.info("web ACL accepts the pending and the sent value", rule=aws.rule_name)
    if plan.send is not None:
        value = plan.send
        aws.distribution.update(
            lambda current: rotation.with_sent_value(current, aws.header, value)
        )
        logger.info("distribution sends the pending value", header=aws.header)
    return "pending value set in the web ACL and the distribution"


def _test(event: RotationEvent, aws: Adapters) -> str:
    rotation.check_pending_in_use(
        event.secret_id,
        _pending(event, aws),
        rotation.accepted_values(aws.web_acl.rules(), aws.rule_name, aws.header),
        rotation.sent_values(aws.distribution.read()[0], aws.header),
    )
    return "the web ACL accepts and the distribution sends the pending value"

"""Secrets Manager rotation function for the client secret of a Cognito app client.

Configuration: ``USER_POOL_ID``, the pool whose app clients this function may rotate.
Each step is idempotent: Secrets Manager may invoke any of them again after a failure.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from client_secret_rotation import rotation
from client_secret_rotation.adapters import CognitoClientSecrets
from client_secret_rotation.rotation import SECRET_ID_KEY
from secure_endpoint.runtime import secret_rotation
from secure_endpoint.runtime.secret_rotation import CURRENT, PENDING, RotationEvent, SecretStore

logger = Logger(service="client-secret-rotation")


@dataclass(frozen=True)
class Adapters:
    secrets: SecretStore
    cognito: CognitoClientSecrets


@cache
def adapters() -> Adapters:
    """Built once per execution environment, at the first (cold-start) invocation."""
    return Adapters(
        SecretStore(boto3.client("secretsmanager")),
        CognitoClientSecrets(boto3.client("cognito-idp"), os.environ["USER_POOL_ID"]),
    )


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> None:
    request = RotationEvent.parse(event)
    logger.append_keys(**request.log_keys())
    logger.info("rotation step done", outcome=run_step(request, adapters()))


def run_step(event: RotationEvent, aws: Adapters) -> str:
    """Carry out one step; the returned outcome is for the log and holds no secret.

    setSecret: Cognito already accepts the pending secret, so there is nothing to set, only to
    check. testSecret: this function runs in isolated subnets without internet access and cannot
    call the token endpoint, so the test is that Cognito lists the secret as active.
    """
    return secret_rotation.run_step(
        event,
        aws.secrets,
        create_secret=lambda: _create(event, aws),
        set_secret=lambda: _check_pending_is_active(event, aws),
        test_secret=lambda: _check_pending_is_active(event, aws),
    )


def _create(event: RotationEvent, aws: Adapters) -> str:
    if aws.secrets.has_pending_value(event.secret_id, event.token):
        return "pending version already exists"
    current = _read(event, aws, CURRENT)
    client_id = current["client_id"]
    stale = rotation.secrets_to_delete(
        event.secret_id, aws.cognito.active(client_id), current.get(SECRET_ID_KEY)
    )
    for client_secret_id in stale:
        aws.cognito.delete(client_id, client_secret_id)
        logger.info("deleted client secret", client_secret_id=client_secret_id)
    new_id, new_secret = aws.cognito.add(client_id)
    logger.info("added client secret", client_secret_id=new_id)
    pending = rotation.pending_secret(current, new_id, new_secret)
    aws.secrets.put_pending(event.secret_id, event.token, json.dumps(pending))
    return "pending version created"


def _check_pending_is_active(event: RotationEvent, aws: Adapters) -> str:
    pending = _read(event, aws, PENDING)
    active = aws.cognito.active(pending["client_id"])
    rotation.check_pending_is_active(event.secret_id, pending, active)
    return "pending client secret is active in Cognito"


def _read(event: RotationEvent, aws: Adapters, stage: str) -> dict[str, Any]:
    version = event.token if stage == PENDING else None
    secret_string = aws.secrets.value(event.secret_id, stage, version)
    return rotation.parse_secret(
        event.secret_id, stage, secret_string, user_pool_id=aws.cognito.user_pool_id
    )

"""The decisions of the rotation steps that are particular to a Cognito app client secret.

Pure: plain data in, plain data out; no boto3, no environment, no clock.

Secret contract (SecretString JSON): ``client_name``, ``client_id``, ``client_secret``,
``user_pool_id``, ``token_url``, ``api_url``, ``scope``, ``api_key``, and, once rotated,
``client_secret_id`` (the Cognito id of ``client_secret``). Unknown keys are preserved.
Only ``client_secret`` and ``client_secret_id`` ever change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from secure_endpoint.runtime.secret_rotation import CURRENT, PENDING, RotationError

ROTATION_KEYS = ("client_id", "client_secret", "user_pool_id")
SECRET_ID_KEY = "client_secret_id"  # noqa: S105 - the name of a JSON key, not a secret


@dataclass(frozen=True)
class ActiveSecret:
    """A client secret as Cognito lists it: its id and creation date, never its value."""

    client_secret_id: str
    created: datetime


def parse_secret(
    secret_id: str, stage: str, secret_string: str | None, *, user_pool_id: str
) -> dict[str, Any]:
    """The secret's JSON object, checked to hold what rotation needs and to be ``user_pool_id``'s.

    AWSPENDING must also name its client secret. Errors name secret, stage and key, never a value.
    """
    required = (*ROTATION_KEYS, SECRET_ID_KEY) if stage == PENDING else ROTATION_KEYS
    try:
        data = json.loads(secret_string or "")
    except json.JSONDecodeError:
        raise RotationError(f"secret {secret_id!r} ({stage}) is not JSON") from None
    if not isinstance(data, dict):
        raise RotationError(f"secret {secret_id!r} ({stage}) is not a JSON object")
    for key in required:
        if not isinstance(data.get(key), str) or not data[key]:
            raise RotationError(
                f"secret {secret_id!r} ({stage}) has no string value for key {key!r}"
            )
    if data["user_pool_id"] != user_pool_id:
        raise RotationError(
            f"secret {secret_id!r} ({stage}) is for user pool {data['user_pool_id']!r}; "
            f"this function rotates clients of {user_pool_id!r}"
        )
    return data


def secrets_to_delete(
    secret_id: str, active: Sequence[ActiveSecret], current_secret_id: str | None
) -> list[str]:
    """Cognito client secrets to delete so that one can be added: all but AWSCURRENT's.

    Cognito allows two secrets per app client. Between rotations they are AWSCURRENT's and
    AWSPREVIOUS's; after a failed attempt the second may be an orphan no version refers to.
    Either way it goes. A secret never rotated has no ``client_secret_id``: its secret is then
    the app client's original one, the oldest.
    """
    if not active:
        raise RotationError(f"the app client of secret {secret_id!r} has no client secret")
    if current_secret_id is None:
        keep = min(active, key=lambda secret: secret.created).client_secret_id
    elif current_secret_id in {secret.client_secret_id for secret in active}:
        keep = current_secret_id
    else:
        raise RotationError(
            f"client secret {current_secret_id!r} of secret {secret_id!r} ({CURRENT}) is not "
            "active in Cognito; refusing to guess which client secret to keep"
        )
    return [s.client_secret_id for s in active if s.client_secret_id != keep]


def pending_secret(
    current: Mapping[str, Any], client_secret_id: str, client_secret: str
) -> dict[str, Any]:
    """AWSCURRENT's content with the new client secret; every other key is kept."""
    return {**current, "client_secret": client_secret, SECRET_ID_KEY: client_secret_id}


def check_pending_is_active(
    secret_id: str, pending: Mapping[str, Any], active: Sequence[ActiveSecret]
) -> None:
    if pending[SECRET_ID_KEY] not in {secret.client_secret_id for secret in active}:
        raise RotationError(
            f"client secret {pending[SECRET_ID_KEY]!r} of secret {secret_id!r} ({PENDING}) "
            "is not active in Cognito"
        )

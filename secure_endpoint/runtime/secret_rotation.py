"""The Secrets Manager rotation protocol, shared by every rotation function of secure-endpoint.

Secrets Manager rotates a secret by invoking one function four times with the same
``ClientRequestToken`` (the new version's id): ``createSecret``, ``setSecret``, ``testSecret``,
``finishSecret``. Any step may be invoked again after a failure, so each must be idempotent.
What every rotation does the same way lives here:

- :class:`RotationEvent` parses the invocation; :func:`token_is_current` refuses a version that
  Secrets Manager did not stage AWSPENDING and tells one that is already AWSCURRENT;
- :func:`finish` and :func:`finish_secret` move AWSCURRENT to the new version and clear
  AWSPENDING (finishSecret is the same for every secret);
- :class:`SecretStore` reads and writes versions and stages, retrying throttled calls;
- :func:`run_step` checks the staging and dispatches to the function's own three steps.

What a secret *is* (its value, the service that must accept it) stays in each function.
Standard library and boto3 only: this module is bundled into Lambda functions, never the CDK.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

CURRENT = "AWSCURRENT"
PENDING = "AWSPENDING"

Versions = Mapping[str, Sequence[str]]
"""Version ids to their staging labels, as ``DescribeSecret`` gives ``VersionIdsToStages``."""

Sleep = Callable[[float], None]

THROTTLING = frozenset({"ThrottlingException", "TooManyRequestsException", "Throttling"})
BACKOFF = (0.25, 0.5, 1.0, 2.0)
"""Seconds to wait before each retry of a throttled call: five attempts in all."""


class RotationError(Exception):
    """The rotation cannot go on safely; the message names the secret and what is wrong,
    never a secret value."""


class Step(StrEnum):
    CREATE = "createSecret"
    SET = "setSecret"
    TEST = "testSecret"
    FINISH = "finishSecret"


@dataclass(frozen=True)
class RotationEvent:
    """What Secrets Manager asks: one step of rotating one secret to one version (the token)."""

    secret_id: str
    token: str
    step: Step

    @classmethod
    def parse(cls, event: Mapping[str, Any]) -> RotationEvent:
        try:
            return cls(
                str(event["SecretId"]), str(event["ClientRequestToken"]), Step(event["Step"])
            )
        except KeyError as missing:
            raise RotationError(
                f"rotation event has no {missing}; expected SecretId, ClientRequestToken and Step"
            ) from None
        except ValueError:
            raise RotationError(
                f"rotation event has unknown Step {event['Step']!r}; "
                f"expected one of {[step.value for step in Step]}"
            ) from None

    def log_keys(self) -> dict[str, str]:
        """Structured log keys that say which step of which rotation this is (no secret)."""
        return {"secret_id": self.secret_id, "step": self.step.value, "token": self.token}


@dataclass(frozen=True)
class SecretMetadata:
    """The parts of ``DescribeSecret`` that rotation looks at."""

    rotation_enabled: bool
    versions: Versions


def token_is_current(event: RotationEvent, metadata: SecretMetadata) -> bool:
    """Refuse what Secrets Manager did not stage; True when the token is already AWSCURRENT."""
    if not metadata.rotation_enabled:
        raise RotationError(f"secret {event.secret_id!r} does not have rotation enabled")
    stages = metadata.versions.get(event.token)
    if stages is None:
        raise RotationError(
            f"version {event.token!r} of secret {event.secret_id!r} is not staged for rotation"
        )
    if CURRENT in stages:
        return True
    if PENDING not in stages:
        raise RotationError(
            f"version {event.token!r} of secret {event.secret_id!r} is not {PENDING} "
            f"(its stages: {list(stages)})"
        )
    return False


@dataclass(frozen=True)
class Finish:
    """What finishSecret still has to do: demote the old AWSCURRENT, clear AWSPENDING."""

    demote: str | None
    clear_pending: bool


def finish(versions: Versions, token: str) -> Finish:
    demote = next(
        (version for version, stages in versions.items() if CURRENT in stages and version != token),
        None,
    )
    return Finish(demote=demote, clear_pending=PENDING in versions.get(token, ()))


# --- Secrets Manager --------------------------------------------------------------------------


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def call_with_backoff(method: Callable[..., Any], sleep: Sleep, **params: Any) -> Any:
    """``method(**params)``, tried again after each delay of ``BACKOFF`` while AWS throttles it."""
    for delay in BACKOFF:
        try:
            return method(**params)
        except ClientError as error:
            if error_code(error) not in THROTTLING:
                raise
        sleep(delay)
    return method(**params)


class SecretStore:
    """Secrets Manager: the versions, stages and values of the secret being rotated.

    The client is injected; throttling is retried (``call_with_backoff``), every other error is
    raised.
    """

    def __init__(self, client: Any, *, sleep: Sleep = time.sleep) -> None:
        self._client = client
        self._sleep = sleep

    def describe(self, secret_id: str) -> SecretMetadata:
        response = call_with_backoff(self._client.describe_secret, self._sleep, SecretId=secret_id)
        return SecretMetadata(
            rotation_enabled=bool(response.get("RotationEnabled", False)),
            versions=response.get("VersionIdsToStages", {}),
        )

    def value(self, secret_id: str, stage: str, version_id: str | None = None) -> str | None:
        """The ``SecretString`` of ``stage`` (of ``version_id`` if given); raises if none."""
        secret_string: str | None = self._get(secret_id, stage, version_id).get("SecretString")
        return secret_string

    def pending_value(self, secret_id: str, token: str) -> str | None:
        """The AWSPENDING value of version ``token``, or None when that version has none."""
        response = self._get_pending(secret_id, token)
        secret_string: str | None = None if response is None else response.get("SecretString")
        return secret_string

    def has_pending_value(self, secret_id: str, token: str) -> bool:
        """Whether version ``token`` has an AWSPENDING value: createSecret already stored it."""
        return self._get_pending(secret_id, token) is not None

    def random_value(self, length: int) -> str:
        """A new value from Secrets Manager's generator: letters and digits, at least one each."""
        response = call_with_backoff(
            self._client.get_random_password,
            self._sleep,
            PasswordLength=length,
            ExcludePunctuation=True,
            IncludeSpace=False,
            RequireEachIncludedType=True,
        )
        return str(response["RandomPassword"])

    def put_pending(self, secret_id: str, token: str, secret_string: str) -> None:
        call_with_backoff(
            self._client.put_secret_value,
            self._sleep,
            SecretId=secret_id,
            ClientRequestToken=token,
            SecretString=secret_string,
            VersionStages=[PENDING],
        )

    def move_stage(
        self, secret_id: str, stage: str, *, to_version: str | None, from_version: str | None
    ) -> None:
        """Attach ``stage`` to ``to_version`` and detach it from ``from_version`` (or None)."""
        versions = {"MoveToVersionId": to_version, "RemoveFromVersionId": from_version}
        call_with_backoff(
            self._client.update_secret_version_stage,
            self._sleep,
            SecretId=secret_id,
            VersionStage=stage,
            **{key: value for key, value in versions.items() if value},
        )

    def _get(self, secret_id: str, stage: str, version_id: str | None) -> dict[str, Any]:
        version = {"VersionId": version_id} if version_id else {}
        response: dict[str, Any] = call_with_backoff(
            self._client.get_secret_value,
            self._sleep,
            SecretId=secret_id,
            VersionStage=stage,
            **version,
        )
        return response

    def _get_pending(self, secret_id: str, token: str) -> dict[str, Any] | None:
        try:
            return self._get(secret_id, PENDING, token)
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return None
            raise


# --- the steps --------------------------------------------------------------------------------

StepAction = Callable[[], str]
"""One of a function's own steps: does it, and returns an outcome for the log (no secret)."""


def finish_secret(event: RotationEvent, secrets: SecretStore, versions: Versions) -> str:
    """finishSecret: AWSCURRENT moves to the token's version, and no AWSPENDING is left."""
    plan = finish(versions, event.token)
    if plan.demote is not None:
        secrets.move_stage(
            event.secret_id, CURRENT, to_version=event.token, from_version=plan.demote
        )
    if plan.clear_pending:
        # Leave no AWSPENDING behind: the next RotateSecret then starts from a clean state.
        secrets.move_stage(event.secret_id, PENDING, to_version=None, from_version=event.token)
    return "version is AWSCURRENT"


def run_step(
    event: RotationEvent,
    secrets: SecretStore,
    *,
    create_secret: StepAction,
    set_secret: StepAction,
    test_secret: StepAction,
) -> str:
    """Carry out one step; the returned outcome is for the log and holds no secret.

    The staging is checked first (:func:`token_is_current`). finishSecret is done here; the
    other steps are the function's own, and are skipped for a version already AWSCURRENT.
    """
    metadata = secrets.describe(event.secret_id)
    already_current = token_is_current(event, metadata)
    if event.step is Step.FINISH:
        return finish_secret(event, secrets, metadata.versions)
    if already_current:
        return "version already AWSCURRENT: nothing to do"
    actions = {Step.CREATE: create_secret, Step.SET: set_secret, Step.TEST: test_secret}
    return actions[event.step]()

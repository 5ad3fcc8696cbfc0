"""The Secrets Manager rotation protocol: plain data, Secrets Manager in moto, and the dispatch.

Both rotation functions (``client_secret_rotation``, ``origin_secret_rotation``) run on this
module; their own tests cover what they do in each step, end to end.
"""

from __future__ import annotations

import re
import string
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from secure_endpoint.runtime.secret_rotation import (
    Finish,
    RotationError,
    RotationEvent,
    SecretMetadata,
    SecretStore,
    Step,
    call_with_backoff,
    finish,
    finish_secret,
    run_step,
    token_is_current,
)

SECRET = "api-client/partner"
EVENT = RotationEvent(SECRET, "token-2", Step.CREATE)
TOKEN = "11111111-2222-3333-4444-555555555555"


# --- events and versions ----------------------------------------------------------------------


@pytest.mark.parametrize("step", list(Step))
def test_parses_a_rotation_event(step: Step) -> None:
    event = {"SecretId": SECRET, "ClientRequestToken": "t", "Step": step.value}
    assert RotationEvent.parse(event) == RotationEvent(SECRET, "t", step)


@pytest.mark.parametrize("missing", ["SecretId", "ClientRequestToken", "Step"])
def test_rejects_an_event_without_a_required_key(missing: str) -> None:
    event = {"SecretId": SECRET, "ClientRequestToken": "t", "Step": "createSecret"}
    del event[missing]
    with pytest.raises(RotationError, match=f"no '{missing}'"):
        RotationEvent.parse(event)


def test_rejects_an_unknown_step() -> None:
    with pytest.raises(RotationError, match="unknown Step 'undoSecret'"):
        RotationEvent.parse({"SecretId": SECRET, "ClientRequestToken": "t", "Step": "undoSecret"})


def test_an_event_logs_which_step_of_which_rotation_it_is() -> None:
    assert EVENT.log_keys() == {"secret_id": SECRET, "step": "createSecret", "token": "token-2"}


def test_a_pending_token_has_work_to_do() -> None:
    metadata = SecretMetadata(True, {"token-1": ["AWSCURRENT"], "token-2": ["AWSPENDING"]})
    assert token_is_current(EVENT, metadata) is False


@pytest.mark.parametrize("stages", [["AWSCURRENT"], ["AWSCURRENT", "AWSPENDING"]])
def test_a_token_already_current_has_nothing_to_do(stages: list[str]) -> None:
    assert token_is_current(EVENT, SecretMetadata(True, {"token-2": stages})) is True


def test_refuses_a_secret_without_rotation_enabled() -> None:
    with pytest.raises(RotationError, match="does not have rotation enabled"):
        token_is_current(EVENT, SecretMetadata(False, {"token-2": ["AWSPENDING"]}))


def test_refuses_a_token_that_is_not_staged() -> None:
    with pytest.raises(
        RotationError, match="'token-2' of secret 'api-client/partner' is not staged"
    ):
        token_is_current(EVENT, SecretMetadata(True, {"token-1": ["AWSCURRENT"]}))


def test_refuses_a_token_staged_as_previous() -> None:
    with pytest.raises(RotationError, match="is not AWSPENDING"):
        token_is_current(EVENT, SecretMetadata(True, {"token-2": ["AWSPREVIOUS"]}))


def test_finishing_demotes_the_old_version_and_clears_pending() -> None:
    versions = {"token-1": ["AWSCURRENT"], "token-2": ["AWSPENDING"], "token-0": ["AWSPREVIOUS"]}
    assert finish(versions, "token-2") == Finish(demote="token-1", clear_pending=True)


def test_finishing_again_has_nothing_left_to_do() -> None:
    versions = {"token-1": ["AWSPREVIOUS"], "token-2": ["AWSCURRENT"]}
    assert finish(versions, "token-2") == Finish(demote=None, clear_pending=False)


# --- throttling -------------------------------------------------------------------------------


def throttled(operation: str = "DescribeSecret") -> ClientError:
    error = {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}
    return ClientError({"Error": error}, operation)


class Flaky:
    """A call that is throttled ``failures`` times, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self, **params: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise throttled()
        return params


def test_a_throttled_call_is_retried_with_growing_delays() -> None:
    delays: list[float] = []
    assert call_with_backoff(Flaky(failures=3), delays.append, SecretId=SECRET) == {
        "SecretId": SECRET
    }
    assert delays == [0.25, 0.5, 1.0]


def test_a_call_throttled_five_times_raises_the_throttling_error() -> None:
    call = Flaky(failures=5)
    with pytest.raises(ClientError, match="TooManyRequestsException"):
        call_with_backoff(call, lambda _: None)
    assert call.calls == 5


def test_other_errors_are_raised_at_once() -> None:
    def denied(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDeniedException"}}, "DescribeSecret")

    delays: list[float] = []
    with pytest.raises(ClientError, match="AccessDeniedException"):
        call_with_backoff(denied, delays.append)
    assert delays == []


# --- Secrets Manager (moto) -------------------------------------------------------------------


@pytest.fixture
def secretsmanager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Secrets Manager in moto, which also sets fake credentials: no real account is reached."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def test_secret_store_describes_versions_and_rotation(secretsmanager: Any) -> None:
    created = secretsmanager.create_secret(Name=SECRET, SecretString="{}")
    metadata = SecretStore(secretsmanager).describe(SECRET)
    assert metadata.rotation_enabled is False
    assert metadata.versions == {created["VersionId"]: ["AWSCURRENT"]}


def test_secret_store_puts_and_reads_a_pending_version(secretsmanager: Any) -> None:
    secretsmanager.create_secret(Name=SECRET, SecretString="current")
    store = SecretStore(secretsmanager)
    assert store.has_pending_value(SECRET, TOKEN) is False
    assert store.pending_value(SECRET, TOKEN) is None

    store.put_pending(SECRET, TOKEN, "pending")

    assert store.has_pending_value(SECRET, TOKEN) is True
    assert store.pending_value(SECRET, TOKEN) == "pending"
    assert store.value(SECRET, "AWSPENDING", TOKEN) == "pending"
    assert store.value(SECRET, "AWSCURRENT") == "current"


def test_secret_store_raises_for_a_stage_without_a_value(secretsmanager: Any) -> None:
    secretsmanager.create_secret(Name=SECRET, SecretString="current")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        SecretStore(secretsmanager).value(SECRET, "AWSPENDING", TOKEN)


def test_secret_store_moves_current_and_clears_pending(secretsmanager: Any) -> None:
    old = secretsmanager.create_secret(Name=SECRET, SecretString="current")["VersionId"]
    store = SecretStore(secretsmanager)
    store.put_pending(SECRET, TOKEN, "pending")

    store.move_stage(SECRET, "AWSCURRENT", to_version=TOKEN, from_version=old)
    store.move_stage(SECRET, "AWSPENDING", to_version=None, from_version=TOKEN)

    assert store.describe(SECRET).versions == {old: ["AWSPREVIOUS"], TOKEN: ["AWSCURRENT"]}


def test_secret_store_draws_letters_and_digits_of_the_length_asked(secretsmanager: Any) -> None:
    values = {SecretStore(secretsmanager).random_value(64) for _ in range(5)}
    assert len(values) == 5
    alphanumeric = re.compile(f"[{re.escape(string.ascii_letters + string.digits)}]{{64}}")
    assert all(alphanumeric.fullmatch(value) for value in values)


def test_secret_store_raises_for_an_unknown_secret(secretsmanager: Any) -> None:
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        SecretStore(secretsmanager).describe("missing")


def test_finish_secret_makes_the_token_current_and_leaves_no_pending(secretsmanager: Any) -> None:
    old = secretsmanager.create_secret(Name=SECRET, SecretString="current")["VersionId"]
    store = SecretStore(secretsmanager)
    store.put_pending(SECRET, TOKEN, "pending")
    event = RotationEvent(SECRET, TOKEN, Step.FINISH)

    assert finish_secret(event, store, store.describe(SECRET).versions) == "version is AWSCURRENT"
    finished = store.describe(SECRET).versions
    assert finished == {old: ["AWSPREVIOUS"], TOKEN: ["AWSCURRENT"]}

    finish_secret(event, store, finished)
    assert store.describe(SECRET).versions == finished


# --- the dispatch -----------------------------------------------------------------------------


class StagedSecrets:
    """A stand-in for ``SecretStore`` with fixed rotation and stages; records stage moves."""

    def __init__(self, versions: dict[str, list[str]], *, rotation_enabled: bool = True) -> None:
        self.metadata = SecretMetadata(rotation_enabled, versions)
        self.moves: list[tuple[str, str | None, str | None]] = []

    def describe(self, secret_id: str) -> SecretMetadata:
        assert secret_id == SECRET
        return self.metadata

    def move_stage(
        self, secret_id: str, stage: str, *, to_version: str | None, from_version: str | None
    ) -> None:
        assert secret_id == SECRET
        self.moves.append((stage, to_version, from_version))


class Steps:
    """The function's own steps, each recording that it ran."""

    def __init__(self) -> None:
        self.ran: list[Step] = []

    def run(self, event: RotationEvent, secrets: StagedSecrets) -> str:
        return run_step(
            event,
            secrets,  # type: ignore[arg-type]
            create_secret=lambda: self._do(Step.CREATE),
            set_secret=lambda: self._do(Step.SET),
            test_secret=lambda: self._do(Step.TEST),
        )

    def _do(self, step: Step) -> str:
        self.ran.append(step)
        return f"did {step.value}"


PENDING_VERSIONS = {"token-1": ["AWSCURRENT"], "token-2": ["AWSPENDING"]}


@pytest.mark.parametrize("step", [Step.CREATE, Step.SET, Step.TEST])
def test_each_step_of_a_pending_version_is_the_functions_own(step: Step) -> None:
    steps, secrets = Steps(), StagedSecrets(PENDING_VERSIONS)
    assert steps.run(RotationEvent(SECRET, "token-2", step), secrets) == f"did {step.value}"
    assert steps.ran == [step]
    assert secrets.moves == []


def test_finishing_moves_the_stages_without_the_functions_steps() -> None:
    steps, secrets = Steps(), StagedSecrets(PENDING_VERSIONS)
    outcome = steps.run(RotationEvent(SECRET, "token-2", Step.FINISH), secrets)
    assert outcome == "version is AWSCURRENT"
    assert steps.ran == []
    assert secrets.moves == [("AWSCURRENT", "token-2", "token-1"), ("AWSPENDING", None, "token-2")]


@pytest.mark.parametrize("step", [Step.CREATE, Step.SET, Step.TEST])
def test_a_version_already_current_skips_the_functions_steps(step: Step) -> None:
    steps, secrets = Steps(), StagedSecrets({"token-2": ["AWSCURRENT"]})
    outcome = steps.run(RotationEvent(SECRET, "token-2", step), secrets)
    assert outcome == "version already AWSCURRENT: nothing to do"
    assert (steps.ran, secrets.moves) == ([], [])


@pytest.mark.parametrize("step", list(Step))
def test_no_step_runs_for_a_version_that_is_not_staged(step: Step) -> None:
    steps, secrets = Steps(), StagedSecrets({"token-1": ["AWSCURRENT"]})
    with pytest.raises(RotationError, match="is not staged for rotation"):
        steps.run(RotationEvent(SECRET, "token-2", step), secrets)
    assert (steps.ran, secrets.moves) == ([], [])


@pytest.mark.parametrize("step", list(Step))
def test_no_step_runs_for_a_secret_without_rotation_enabled(step: Step) -> None:
    steps, secrets = Steps(), StagedSecrets(PENDING_VERSIONS, rotation_enabled=False)
    with pytest.raises(RotationError, match="does not have rotation enabled"):
        steps.run(RotationEvent(SECRET, "token-2", step), secrets)
    assert (steps.ran, secrets.moves) == ([], [])


def test_the_module_loads_neither_the_cdk_nor_powertools() -> None:
    """Both rotation bundles ship it; it must work with boto3 alone, as the runtime package."""
    script = "import sys, secure_endpoint.runtime.secret_rotation; print(*sorted(sys.modules))"
    imported = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    roots = {name.split(".")[0] for name in imported}
    assert "botocore" in roots
    assert not roots & {"aws_cdk", "jsii", "constructs", "aws_lambda_powertools"}

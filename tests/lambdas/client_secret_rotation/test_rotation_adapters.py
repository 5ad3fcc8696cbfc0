"""The AWS adapters: Secrets Manager against moto, Cognito against botocore's service model.

moto 5.2.5 does not implement Cognito's Add/List/DeleteUserPoolClientSecret, so
``CognitoClientSecrets`` is checked with botocore's ``Stubber``, which validates every request
and response against the cognito-idp service model shipped with boto3.
"""

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from client_secret_rotation.adapters import CognitoClientSecrets, SecretStore, call_with_backoff
from client_secret_rotation.rotation import ActiveSecret

POOL = "us-east-1_Pool"
CLIENT_ID = "abc123"
TOKEN = "11111111-2222-3333-4444-555555555555"


def throttled(operation: str = "ListUserPoolClientSecrets") -> ClientError:
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
    assert call_with_backoff(Flaky(failures=3), delays.append, ClientId=CLIENT_ID) == {
        "ClientId": CLIENT_ID
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


def test_secret_store_describes_versions_and_rotation(secretsmanager: Any) -> None:
    created = secretsmanager.create_secret(Name="partner", SecretString="{}")
    metadata = SecretStore(secretsmanager).describe("partner")
    assert metadata.rotation_enabled is False
    assert metadata.versions == {created["VersionId"]: ["AWSCURRENT"]}


def test_secret_store_puts_and_reads_a_pending_version(secretsmanager: Any) -> None:
    secretsmanager.create_secret(Name="partner", SecretString='{"v": 1}')
    store = SecretStore(secretsmanager)
    assert store.has_pending_value("partner", TOKEN) is False

    store.put_pending("partner", TOKEN, '{"v": 2}')

    assert store.has_pending_value("partner", TOKEN) is True
    assert json.loads(store.value("partner", "AWSPENDING", TOKEN) or "") == {"v": 2}
    assert json.loads(store.value("partner", "AWSCURRENT") or "") == {"v": 1}


def test_secret_store_moves_current_and_clears_pending(secretsmanager: Any) -> None:
    old = secretsmanager.create_secret(Name="partner", SecretString='{"v": 1}')["VersionId"]
    store = SecretStore(secretsmanager)
    store.put_pending("partner", TOKEN, '{"v": 2}')

    store.move_stage("partner", "AWSCURRENT", to_version=TOKEN, from_version=old)
    store.move_stage("partner", "AWSPENDING", to_version=None, from_version=TOKEN)

    assert store.describe("partner").versions == {old: ["AWSPREVIOUS"], TOKEN: ["AWSCURRENT"]}


def test_secret_store_raises_for_an_unknown_secret(secretsmanager: Any) -> None:
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        SecretStore(secretsmanager).describe("missing")


@pytest.fixture
def cognito_stub() -> Any:
    client = boto3.client("cognito-idp")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_cognito_lists_every_page_of_client_secrets(cognito_stub: Any) -> None:
    client, stub = cognito_stub
    first, second = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)
    request = {"UserPoolId": POOL, "ClientId": CLIENT_ID}
    stub.add_response(
        "list_user_pool_client_secrets",
        {
            "ClientSecrets": [{"ClientSecretId": "a", "ClientSecretCreateDate": first}],
            "NextToken": "n",
        },
        request,
    )
    stub.add_response(
        "list_user_pool_client_secrets",
        {"ClientSecrets": [{"ClientSecretId": "b", "ClientSecretCreateDate": second}]},
        {**request, "NextToken": "n"},
    )
    assert CognitoClientSecrets(client, POOL).active(CLIENT_ID) == [
        ActiveSecret("a", first),
        ActiveSecret("b", second),
    ]


def test_cognito_adds_a_generated_client_secret(cognito_stub: Any) -> None:
    client, stub = cognito_stub
    descriptor = {"ClientSecretId": "new", "ClientSecretValue": "generated-by-cognito-0123456789"}
    stub.add_response(
        "add_user_pool_client_secret",
        {"ClientSecretDescriptor": descriptor},
        {"UserPoolId": POOL, "ClientId": CLIENT_ID},
    )
    assert CognitoClientSecrets(client, POOL).add(CLIENT_ID) == (
        "new",
        "generated-by-cognito-0123456789",
    )


def test_cognito_deletes_a_client_secret_after_throttling(cognito_stub: Any) -> None:
    client, stub = cognito_stub
    request = {"UserPoolId": POOL, "ClientId": CLIENT_ID, "ClientSecretId": "old"}
    stub.add_client_error("delete_user_pool_client_secret", "TooManyRequestsException")
    stub.add_response("delete_user_pool_client_secret", {}, request)
    delays: list[float] = []
    CognitoClientSecrets(client, POOL, sleep=delays.append).delete(CLIENT_ID, "old")
    assert delays == [0.25]


def test_cognito_raises_when_the_app_client_is_unknown(cognito_stub: Any) -> None:
    client, stub = cognito_stub
    stub.add_client_error("list_user_pool_client_secrets", "ResourceNotFoundException")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        CognitoClientSecrets(client, POOL).active(CLIENT_ID)

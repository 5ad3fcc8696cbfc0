"""The Cognito adapter against botocore's service model (Secrets Manager's is shared: see
``tests/runtime/test_secret_rotation.py``).

moto 5.2.5 does not implement Cognito's Add/List/DeleteUserPoolClientSecret, so
``CognitoClientSecrets`` is checked with botocore's ``Stubber``, which validates every request
and response against the cognito-idp service model shipped with boto3.
"""

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from client_secret_rotation.adapters import CognitoClientSecrets
from client_secret_rotation.rotation import ActiveSecret

POOL = "us-east-1_Pool"
CLIENT_ID = "abc123"


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

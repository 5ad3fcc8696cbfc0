"""The client library against a local fake of Cognito's token endpoint and of the API."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import stat
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from secure_api_fake import on_loopback

from secure_endpoint.cli.client import (
    ClientCredentials,
    InferenceClient,
    NetworkError,
    TokenCache,
    TokenError,
)

CLIENT_ID = "client-a"
CLIENT_SECRET = "client-secret-that-must-never-be-cached"
API_KEY = "api-key-that-must-never-be-cached"
SCOPE = "secure-endpoint/invoke secure-endpoint/read"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:client-a-AbCdEf"
BODY = b'{"instances": [[1.0, 2.0]]}'


@dataclass
class FakeApi:
    """Cognito's ``/oauth2/token`` and the API's ``/v1/predict``, as far as a client can tell."""

    base_url: str = ""
    expires_in: int = 3600
    reject_next: int = 0  # predict answers 401 this many more times, whatever the token
    token_calls: int = 0
    predict_calls: int = 0

    def secret(self, **overrides: str) -> dict[str, str]:
        return {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "token_url": f"{self.base_url}/oauth2/token",
            "api_url": f"{self.base_url}/v1/predict",
            "scope": SCOPE,
            "api_key": API_KEY,
            **overrides,
        }

    def credentials(self, **overrides: str) -> ClientCredentials:
        return ClientCredentials.from_secret_string(
            SECRET_ARN, json.dumps(self.secret(**overrides))
        )

    def token(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        self.token_calls += 1
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if headers.get("Authorization") != f"Basic {basic}":
            return 400, {"error": "invalid_client"}
        form = urllib.parse.parse_qs(body.decode())
        if headers.get("Content-Type") != "application/x-www-form-urlencoded" or form != {
            "grant_type": ["client_credentials"],
            "scope": [SCOPE],
        }:
            return 400, {"error": "invalid_request"}
        token = f"token-{self.token_calls}"
        return 200, {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}

    def predict(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        self.predict_calls += 1
        if (
            self.reject_next > 0
            or headers.get("Authorization") != f"Bearer token-{self.token_calls}"
        ):
            self.reject_next = max(0, self.reject_next - 1)
            return 401, {"message": "Unauthorized"}
        if headers.get("x-api-key") != API_KEY or headers.get("Content-Type") != "application/json":
            return 403, {"message": "Forbidden"}
        return 200, {"predictions": [0.5], "received": json.loads(body)}


@contextmanager
def serve_fake_api() -> Iterator[FakeApi]:
    """Run a FakeApi on 127.0.0.1 on a free port for the duration of the block."""
    api = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            routes = {"/oauth2/token": api.token, "/v1/predict": api.predict}
            if self.path == "/moved":
                self.send_response(307)
                self.send_header("Location", f"{api.base_url}/v1/predict")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status, answer = routes[self.path](self.headers, body)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("x-amzn-RequestId", f"request-{api.predict_calls}")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with on_loopback(Handler) as api.base_url:
        yield api


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    with serve_fake_api() as api:
        yield api


@pytest.fixture
def clock() -> list[float]:
    return [1_000_000.0]


def client(
    api: FakeApi, cache_dir: Path | None, clock: list[float] | None = None
) -> InferenceClient:
    cache = TokenCache(cache_dir, now=(lambda: clock[0]) if clock is not None else time.time)
    return InferenceClient(api.credentials(), cache, timeout=5, allow_insecure_http=True)


# Credentials


def test_credentials_ignore_unknown_keys_and_hide_secrets_from_repr(fake_api: FakeApi) -> None:
    secret = json.dumps(fake_api.secret(comment="rotated by ops"))
    credentials = ClientCredentials.from_secret_string(SECRET_ARN, secret)
    assert credentials.client_id == CLIENT_ID
    assert credentials.scope == SCOPE
    assert CLIENT_SECRET not in repr(credentials)
    assert API_KEY not in repr(credentials)


@pytest.mark.parametrize(
    "key", ["client_id", "client_secret", "token_url", "api_url", "scope", "api_key"]
)
def test_rejects_secret_missing_a_key(fake_api: FakeApi, key: str) -> None:
    secret = fake_api.secret()
    del secret[key]
    with pytest.raises(
        ValueError, match=re.escape(f"secret '{SECRET_ARN}' has no string value for key '{key}'")
    ):
        ClientCredentials.from_secret_string(SECRET_ARN, json.dumps(secret))


def test_rejects_secret_that_is_not_json() -> None:
    with pytest.raises(ValueError, match="secret 'client-a' is not a JSON object"):
        ClientCredentials.from_secret_string("client-a", "client_id=abc")


def test_credentials_are_read_from_secrets_manager_and_known_by_arn(
    fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        secrets = boto3.client("secretsmanager")
        arn = secrets.create_secret(Name="client-a", SecretString=json.dumps(fake_api.secret()))[
            "ARN"
        ]
        credentials = ClientCredentials.from_secrets_manager(secrets, "client-a")
    assert credentials.secret_id == arn
    assert credentials.api_url == f"{fake_api.base_url}/v1/predict"


# URLs


def test_refuses_plain_http_by_default(fake_api: FakeApi) -> None:
    with pytest.raises(ValueError, match=r"refusing URL 'http://127\.0\.0\.1"):
        InferenceClient(fake_api.credentials(), TokenCache(None))


@pytest.mark.parametrize("url", ["http://example.com/v1/predict", "file:///etc/passwd", "https://"])
def test_insecure_http_flag_allows_only_loopback(fake_api: FakeApi, url: str) -> None:
    with pytest.raises(ValueError, match="refusing URL"):
        InferenceClient(
            fake_api.credentials(api_url=url), TokenCache(None), allow_insecure_http=True
        )


# Tokens and cache


def test_token_is_fetched_once_and_reused_across_calls(fake_api: FakeApi, tmp_path: Path) -> None:
    api_client = client(fake_api, tmp_path)
    responses = [api_client.invoke(BODY) for _ in range(3)]
    assert [r.status for r in responses] == [200, 200, 200]
    assert json.loads(responses[0].body)["received"] == json.loads(BODY)
    assert (fake_api.token_calls, fake_api.predict_calls) == (1, 3)


def test_token_is_reused_by_another_process_through_the_file_cache(
    fake_api: FakeApi, tmp_path: Path
) -> None:
    assert client(fake_api, tmp_path).invoke(BODY).status == 200
    script = (
        "import sys, pathlib\n"
        "from secure_endpoint.cli.client import *\n"
        "creds = ClientCredentials.from_secret_string(sys.argv[1], sys.stdin.read())\n"
        "cache = TokenCache(pathlib.Path(sys.argv[2]))\n"
        "print(InferenceClient(creds, cache, allow_insecure_http=True).invoke(b'{}').status)\n"
    )
    other = subprocess.run(  # noqa: S603 - our interpreter, our script
        [sys.executable, "-c", script, SECRET_ARN, str(tmp_path)],
        input=json.dumps(fake_api.secret()),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert other.stdout.strip() == "200"
    assert (fake_api.token_calls, fake_api.predict_calls) == (1, 2)


def test_token_is_refetched_shortly_before_expiry(
    fake_api: FakeApi, tmp_path: Path, clock: list[float]
) -> None:
    api_client = client(fake_api, tmp_path, clock)
    api_client.invoke(BODY)
    clock[0] += 3600 - 60 - 1  # inside the 60 s skew: still served
    api_client.invoke(BODY)
    assert fake_api.token_calls == 1
    clock[0] += 2
    assert api_client.invoke(BODY).status == 200
    assert fake_api.token_calls == 2


def test_cache_file_is_private_named_by_hash_and_holds_no_credentials(
    fake_api: FakeApi, tmp_path: Path
) -> None:
    client(fake_api, tmp_path / "cache").invoke(BODY)
    files = list((tmp_path / "cache").iterdir())
    assert [f.name for f in files] == [f"{hashlib.sha256(SECRET_ARN.encode()).hexdigest()}.json"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    content = files[0].read_text()
    assert json.loads(content)["access_token"] == "token-1"
    assert CLIENT_SECRET not in content
    assert API_KEY not in content


@pytest.mark.parametrize("garbage", ["{not json", '{"access_token": 7}', "[]", ""])
def test_corrupt_cache_file_is_ignored_and_replaced(
    fake_api: FakeApi, tmp_path: Path, garbage: str
) -> None:
    path = TokenCache(tmp_path).path(SECRET_ARN)
    assert path is not None
    path.write_text(garbage)
    assert client(fake_api, tmp_path).invoke(BODY).status == 200
    assert fake_api.token_calls == 1
    assert json.loads(path.read_text())["access_token"] == "token-1"


def test_rejected_client_credentials_raise_token_error(fake_api: FakeApi) -> None:
    credentials = fake_api.credentials(client_secret="wrong")
    api_client = InferenceClient(credentials, TokenCache(None), allow_insecure_http=True)
    with pytest.raises(TokenError, match=r"HTTP 400 \(invalid_client\)"):
        api_client.invoke(BODY)
    assert fake_api.predict_calls == 0


# Invocation


def test_401_refreshes_the_token_once_and_retries(fake_api: FakeApi, tmp_path: Path) -> None:
    api_client = client(fake_api, tmp_path)
    api_client.invoke(BODY)
    fake_api.reject_next = 1
    response = api_client.invoke(BODY)
    assert response.status == 200
    assert (fake_api.token_calls, fake_api.predict_calls) == (2, 3)


def test_persistent_401_is_returned_after_a_single_retry(fake_api: FakeApi, tmp_path: Path) -> None:
    fake_api.reject_next = 5
    response = client(fake_api, tmp_path).invoke(BODY)
    assert response.status == 401
    assert not response.ok
    assert json.loads(response.body) == {"message": "Unauthorized"}
    assert (fake_api.token_calls, fake_api.predict_calls) == (2, 2)


def test_response_carries_status_headers_and_body(fake_api: FakeApi) -> None:
    response = client(fake_api, None).invoke(BODY)
    assert response.ok
    assert response.headers["x-amzn-requestid"] == "request-1"
    assert response.headers["content-type"] == "application/json"


def test_redirects_are_not_followed(fake_api: FakeApi) -> None:
    credentials = fake_api.credentials(api_url=f"{fake_api.base_url}/moved")
    api_client = InferenceClient(credentials, TokenCache(None), allow_insecure_http=True)
    assert api_client.invoke(BODY).status == 307
    assert fake_api.predict_calls == 0


def test_unreachable_endpoint_raises_network_error(fake_api: FakeApi) -> None:
    credentials = fake_api.credentials(token_url=f"{closed_port_url()}/oauth2/token")
    api_client = InferenceClient(credentials, TokenCache(None), allow_insecure_http=True)
    with pytest.raises(NetworkError, match=r"no answer from http://127\.0\.0\.1:\d+/oauth2/token"):
        api_client.invoke(BODY)

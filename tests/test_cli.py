"""The ``secure-endpoint`` command: exit codes and one-line messages, secrets in moto."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_fakes import use_fake_credentials
from moto import mock_aws
from secure_api_fake import INVOKE, STATUS, SecureApiFake, serve
from test_client import BODY, FakeApi, closed_port_url, serve_fake_api

from secure_endpoint.cli import main

REGION = "eu-west-1"


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    with serve_fake_api() as api:
        yield api


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch, cache_home: Path) -> Iterator[Any]:
    use_fake_credentials(monkeypatch, REGION)
    with mock_aws():
        yield boto3.client("secretsmanager")


@pytest.fixture
def body_file(tmp_path: Path) -> Path:
    path = tmp_path / "body.json"
    path.write_bytes(BODY)
    return path


def invoke(secret_id: str, body: Path | str, *extra: str) -> int:
    return main(["invoke", "--secret-id", secret_id, "--body", str(body), *extra])


def test_invoke_prints_the_body_and_status_and_exits_0(
    fake_api: FakeApi, secrets: Any, body_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets.create_secret(Name="client-a", SecretString=json.dumps(fake_api.secret()))
    assert invoke("client-a", body_file, "--insecure-http-for-testing") == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["received"] == json.loads(BODY)
    assert err.splitlines() == [
        "secure-endpoint: warning: plain http allowed on loopback (testing)",
        "HTTP 200 (request id request-1)",
    ]


def test_second_invocation_reuses_the_cached_token(
    fake_api: FakeApi, secrets: Any, body_file: Path, cache_home: Path
) -> None:
    secrets.create_secret(Name="client-a", SecretString=json.dumps(fake_api.secret()))
    assert invoke("client-a", body_file, "--insecure-http-for-testing") == 0
    assert invoke("client-a", body_file, "--insecure-http-for-testing") == 0
    assert (fake_api.token_calls, fake_api.predict_calls) == (1, 2)
    assert len(list((cache_home / "secure-endpoint").glob("*.json"))) == 1


def test_invoke_reads_the_body_from_stdin(
    fake_api: FakeApi,
    secrets: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secrets.create_secret(Name="client-a", SecretString=json.dumps(fake_api.secret()))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"x": 1}')))
    assert invoke("client-a", "-", "--insecure-http-for-testing") == 0
    assert json.loads(capsys.readouterr().out)["received"] == {"x": 1}


def test_http_error_status_exits_1(
    fake_api: FakeApi, secrets: Any, body_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets.create_secret(Name="client-a", SecretString=json.dumps(fake_api.secret()))
    fake_api.reject_next = 2
    assert invoke("client-a", body_file, "--insecure-http-for-testing") == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == {"message": "Unauthorized"}
    assert err.splitlines()[-1] == "HTTP 401 (request id request-2)"


def test_missing_secret_exits_2_with_one_line(
    secrets: Any, body_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert invoke("no-such-secret", body_file) == 2
    assert capsys.readouterr().err == (
        f"secure-endpoint: error: secret 'no-such-secret' not found in {REGION}\n"
    )


def test_secret_missing_a_key_exits_2(
    fake_api: FakeApi, secrets: Any, body_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = fake_api.secret()
    del secret["api_key"]
    secrets.create_secret(Name="client-a", SecretString=json.dumps(secret))
    assert invoke("client-a", body_file) == 2
    assert "has no string value for key 'api_key'" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b'{"instances": [1,', b"", b"\xff\xfe"])
def test_invalid_json_body_exits_2_before_any_request(
    fake_api: FakeApi,
    secrets: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
) -> None:
    secrets.create_secret(Name="client-a", SecretString=json.dumps(fake_api.secret()))
    (tmp_path / "bad.json").write_bytes(content)
    assert invoke("client-a", tmp_path / "bad.json", "--insecure-http-for-testing") == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"secure-endpoint: error: body file '{tmp_path / 'bad.json'}' is not valid JSON"
    )
    assert len(err.splitlines()) == 1
    assert fake_api.token_calls == fake_api.predict_calls == 0


def test_unreadable_body_file_exits_2(
    secrets: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert invoke("client-a", tmp_path / "absent.json") == 2
    assert capsys.readouterr().err.endswith("No such file or directory\n")


def test_no_aws_credentials_exits_2(
    cache_home: Path,
    body_file: Path,
    capsys: pytest.CaptureFixture[str],
    no_aws_credentials: None,
) -> None:
    assert invoke("client-a", body_file, "--region", REGION) == 2
    assert capsys.readouterr().err == (
        "secure-endpoint: error: no AWS credentials found: configure them or pass --profile\n"
    )


def test_plain_http_api_is_refused_without_the_testing_flag(
    fake_api: FakeApi, secrets: Any, body_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets.create_secret(Name="client-a", SecretString=json.dumps(fake_api.secret()))
    assert invoke("client-a", body_file) == 2
    assert "error: refusing URL 'http://127.0.0.1" in capsys.readouterr().err
    assert fake_api.token_calls == 0


def test_network_error_exits_1_with_one_line(
    fake_api: FakeApi, secrets: Any, body_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = fake_api.secret(api_url=f"{closed_port_url()}/v1/predict")
    secrets.create_secret(Name="client-a", SecretString=json.dumps(secret))
    assert invoke("client-a", body_file, "--insecure-http-for-testing") == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("secure-endpoint: error: no answer from http://127.0.0.1:")
    assert "Traceback" not in "\n".join(err)


@pytest.fixture
def scoped_api() -> Iterator[SecureApiFake]:
    """The API as deployed, checking the invoke scope: a client that may also ask for status."""
    with serve(SecureApiFake()) as api:
        yield api


def test_invoke_without_a_token_shows_the_apis_401_and_asks_for_no_token(
    scoped_api: SecureApiFake, secrets: Any, body_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = scoped_api.add_client("a", (INVOKE,))
    secrets.create_secret(Name="client-a", SecretString=json.dumps(secret))
    assert invoke("client-a", body_file, "--no-token", "--insecure-http-for-testing") == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["error"] == "unauthorized"
    assert err.splitlines()[-1] == "HTTP 401 (request id fake-request)"
    assert scoped_api.token_requests == []


def test_invoke_with_a_scope_asks_for_it_and_caches_its_token_apart(
    scoped_api: SecureApiFake,
    secrets: Any,
    cache_home: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    secret = scoped_api.add_client("a", (INVOKE, STATUS))
    secrets.create_secret(Name="client-a", SecretString=json.dumps(secret))
    rows = tmp_path / "rows.json"
    rows.write_text("[[1.0, 2.0]]")
    assert invoke("client-a", rows, "--scope", STATUS, "--insecure-http-for-testing") == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["error"] == "forbidden"
    assert err.splitlines()[-1] == "HTTP 403 (request id fake-request)"
    assert invoke("client-a", rows, "--insecure-http-for-testing") == 0
    assert invoke("client-a", rows, "--scope", STATUS, "--insecure-http-for-testing") == 1
    assert scoped_api.token_requests == [STATUS, f"{INVOKE} {STATUS}"]
    assert len(list((cache_home / "secure-endpoint").glob("*.json"))) == 2


def test_invoke_with_a_scope_the_client_was_not_given_is_refused_by_the_token_endpoint(
    scoped_api: SecureApiFake, secrets: Any, body_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = scoped_api.add_client("a", (INVOKE,))
    secrets.create_secret(Name="client-a", SecretString=json.dumps(secret))
    assert invoke("client-a", body_file, "--scope", STATUS, "--insecure-http-for-testing") == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "secure-endpoint: error: token endpoint answered HTTP 400 (invalid_scope)"
    )


def test_scope_and_no_token_do_not_go_together(
    body_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        invoke("client-a", body_file, "--scope", STATUS, "--no-token")
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_missing_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_cli_starts_without_importing_the_cdk() -> None:
    code = "import secure_endpoint.cli, sys; assert 'aws_cdk' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)  # noqa: S603

"""The deployed API, called as a client would: needs AWS credentials and a deployed stack.

Set ``SECURE_ENDPOINT_SECRET_ID`` (an API client's secret) and ``SECURE_ENDPOINT_SAMPLE_BODY``
(path to a JSON request the model accepts); region and credentials come from the AWS config.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import boto3
import pytest

from secure_endpoint.cli import main
from secure_endpoint.cli.client import ClientCredentials

pytestmark = pytest.mark.integration

SECRET_ID = os.environ.get("SECURE_ENDPOINT_SECRET_ID", "")
SAMPLE_BODY = os.environ.get("SECURE_ENDPOINT_SAMPLE_BODY", "")


@pytest.fixture(scope="module")
def credentials() -> ClientCredentials:
    if not SECRET_ID:
        pytest.skip("SECURE_ENDPOINT_SECRET_ID is not set: no deployed API client to call")
    session = boto3.Session()
    if session.get_credentials() is None:
        pytest.skip("boto3 finds no AWS credentials to read the client's secret with")
    secrets = session.client("secretsmanager")
    return ClientCredentials.from_secrets_manager(secrets, SECRET_ID)


def test_client_with_a_token_gets_a_prediction(
    credentials: ClientCredentials, capsys: pytest.CaptureFixture[str]
) -> None:
    if not SAMPLE_BODY:
        pytest.skip("SECURE_ENDPOINT_SAMPLE_BODY is not set: no request body the model accepts")
    assert main(["invoke", "--secret-id", SECRET_ID, "--body", SAMPLE_BODY]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines()[-1].startswith("HTTP 200")
    json.loads(out)


def test_request_without_a_token_is_refused_with_401(credentials: ClientCredentials) -> None:
    assert credentials.api_url.startswith("https://")
    request = urllib.request.Request(  # noqa: S310 - https, asserted above
        credentials.api_url,
        data=b"{}",
        headers={"Content-Type": "application/json", "x-api-key": credentials.api_key},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)  # noqa: S310
    with refused.value:
        assert refused.value.code == 401


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    assert url.startswith("https://")
    request = urllib.request.Request(  # noqa: S310 - https, asserted above
        url, data=body, headers={"Content-Type": "application/json", **headers}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as refused:
        with refused:
            return refused.code


def test_an_oversized_body_is_stopped_by_the_waf_with_413(credentials: ClientCredentials) -> None:
    oversized = b"[[" + b"0," * 40_000 + b"0]]"  # 80 KB: over the default 64 KiB limit
    status = _post(credentials.api_url, oversized, {"x-api-key": credentials.api_key})
    assert status == 413


def test_the_regional_api_refuses_requests_around_cloudfront() -> None:
    """With shield_advanced: set SECURE_ENDPOINT_REGIONAL_URL to the stage's execute-api URL."""
    regional = os.environ.get("SECURE_ENDPOINT_REGIONAL_URL", "")
    if not regional:
        pytest.skip("SECURE_ENDPOINT_REGIONAL_URL is not set: no Shield variant to check")
    assert _post(regional, b"[[0]]", {}) == 403

"""Client of a deployed SecureEndpoint: OAuth client credentials, a token cache and invocation.

Standard library and boto3 only, so that the ``secure-endpoint`` command starts without the CDK.
Redirects are never followed, so a bearer token or client secret never travels to another URL.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import ipaddress
import json
import logging
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

_LOG = logging.getLogger(__name__)
_SECRET_KEYS = ("client_id", "client_secret", "token_url", "api_url", "scope", "api_key")


class TokenError(Exception):
    """The token endpoint refused the client credentials or answered something unusable."""


class NetworkError(Exception):
    """No HTTP answer: DNS, connection, TLS or timeout failure."""


class SecretsClient(Protocol):
    """The one call of a boto3 ``secretsmanager`` client used here."""

    def get_secret_value(self, *, SecretId: str) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class ClientCredentials:
    """What an API client needs, as stored in its Secrets Manager secret."""

    secret_id: str
    client_id: str
    client_secret: str = field(repr=False)
    token_url: str
    api_url: str
    scope: str
    api_key: str = field(repr=False)

    @classmethod
    def from_secret_string(cls, secret_id: str, secret_string: str) -> ClientCredentials:
        """Parse the secret's JSON; unknown keys are ignored, a missing one is a ``ValueError``."""
        try:
            data = json.loads(secret_string)
        except json.JSONDecodeError as error:
            raise ValueError(f"secret {secret_id!r} is not a JSON object: {error}") from None
        if not isinstance(data, dict):
            raise ValueError(f"secret {secret_id!r} is not a JSON object")
        for key in _SECRET_KEYS:
            if not isinstance(data.get(key), str) or not data[key]:
                raise ValueError(f"secret {secret_id!r} has no string value for key {key!r}")
        return cls(secret_id, **{key: data[key] for key in _SECRET_KEYS})

    @classmethod
    def from_secrets_manager(cls, client: SecretsClient, secret_id: str) -> ClientCredentials:
        """Read the secret; it is then known by its ARN, which names one secret in one account."""
        response = client.get_secret_value(SecretId=secret_id)
        arn = str(response.get("ARN", secret_id))
        if not isinstance(response.get("SecretString"), str):
            raise ValueError(f"secret {arn!r} has no SecretString (binary secrets are not read)")
        return cls.from_secret_string(arn, response["SecretString"])


class TokenCache:
    """Access tokens by key, in memory and, when ``cache_dir`` is given, one 0600 file per key.

    A token is served until ``skew`` seconds before it expires. Files hold only the token and
    its expiry, never client credentials; an unreadable or corrupt file is a miss and is replaced.
    """

    def __init__(
        self,
        cache_dir: Path | None,
        *,
        skew: float = 60.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._dir = cache_dir
        self._skew = skew
        self._now = now
        self._memory: dict[str, tuple[str, float]] = {}

    def path(self, key: str) -> Path | None:
        """The file that holds the token for ``key``, named by the SHA-256 of the key."""
        if self._dir is None:
            return None
        return self._dir / f"{hashlib.sha256(key.encode()).hexdigest()}.json"

    def get(self, key: str) -> str | None:
        entry = self._memory.get(key) or self._read(key)
        if entry is None or self._now() >= entry[1] - self._skew:
            return None
        self._memory[key] = entry
        return entry[0]

    def put(self, key: str, token: str, expires_in: float) -> None:
        entry = (token, self._now() + expires_in)
        self._memory[key] = entry
        path = self.path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")  # mode 0600
            try:
                with os.fdopen(fd, "w") as file:
                    json.dump({"access_token": entry[0], "expires_at": entry[1]}, file)
                os.replace(tmp, path)
            finally:
                Path(tmp).unlink(missing_ok=True)
        except OSError as error:  # the token still works from memory; say why it is not kept
            _LOG.warning("token cache not written to %s: %s", path, error)

    def discard(self, key: str) -> None:
        self._memory.pop(key, None)
        path = self.path(key)
        if path is not None:
            path.unlink(missing_ok=True)

    def _read(self, key: str) -> tuple[str, float] | None:
        path = self.path(key)
        if path is None or not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            token, expires_at = data["access_token"], data["expires_at"]
            if not isinstance(token, str) or not isinstance(expires_at, int | float):
                raise TypeError("access_token or expires_at has the wrong type")
        except (OSError, ValueError, KeyError, TypeError) as error:
            _LOG.warning("ignoring corrupt token cache %s: %s", path, error)
            return None
        return token, float(expires_at)


@dataclass(frozen=True)
class InferenceResponse:
    """The API's answer, whatever its status. Header names are lowercase."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class InferenceClient:
    """Calls the predict method with a cached OAuth token; a 401 refreshes the token once.

    :param allow_insecure_http: accept ``http://`` URLs on loopback hosts, for local test servers.
        Default: - https only
    :param scope: the scopes (space-separated) to ask the token endpoint for; its tokens are
        cached apart. Default: - the scopes of the client's secret
    """

    def __init__(
        self,
        credentials: ClientCredentials,
        cache: TokenCache,
        *,
        timeout: float = 30.0,
        allow_insecure_http: bool = False,
        scope: str | None = None,
    ) -> None:
        for url in (credentials.token_url, credentials.api_url):
            _check_url(url, allow_insecure_http)
        self.credentials = credentials
        self.scope = scope or credentials.scope
        self._cache_key = (
            credentials.secret_id
            if self.scope == credentials.scope
            else f"{credentials.secret_id} scope={self.scope}"
        )
        self._cache = cache
        self._timeout = timeout

    def access_token(self) -> str:
        """A cached token, or a new one from the token endpoint."""
        token = self._cache.get(self._cache_key)
        if token is None:
            token, expires_in = self._fetch_token()
            self._cache.put(self._cache_key, token, expires_in)
        return token

    def invoke(self, body: bytes, *, authorize: bool = True) -> InferenceResponse:
        """POST ``body`` (JSON) to the predict method and return the answer.

        :param authorize: send the bearer token. Without it only the API key goes, and the API's
            401 is returned as it is. Default: - true
        """
        if not authorize:
            return _post(self.credentials.api_url, body, self._headers(), self._timeout)
        response = self._predict(body)
        if response.status == http.HTTPStatus.UNAUTHORIZED:
            self._cache.discard(self._cache_key)
            response = self._predict(body)
        return response

    def _predict(self, body: bytes) -> InferenceResponse:
        headers = {"Authorization": f"Bearer {self.access_token()}", **self._headers()}
        return _post(self.credentials.api_url, body, headers, self._timeout)

    def _headers(self) -> dict[str, str]:
        return {"x-api-key": self.credentials.api_key, "Content-Type": "application/json"}

    def _fetch_token(self) -> tuple[str, float]:
        creds = self.credentials
        basic = base64.b64encode(f"{creds.client_id}:{creds.client_secret}".encode()).decode()
        form = {"grant_type": "client_credentials", "scope": self.scope}
        headers = {
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        body = urllib.parse.urlencode(form).encode()
        response = _post(creds.token_url, body, headers, self._timeout)
        try:
            data = json.loads(response.body)
        except ValueError:
            data = None
        if not response.ok:
            error = data.get("error") if isinstance(data, dict) else None
            raise TokenError(
                f"token endpoint answered HTTP {response.status} ({error or 'no error code'})"
            )
        if not (
            isinstance(data, dict)
            and isinstance(data.get("access_token"), str)
            and isinstance(data.get("expires_in"), int | float)
        ):
            raise TokenError("token endpoint answer has no access_token and expires_in")
        return data["access_token"], float(data["expires_in"])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx is returned as it is


_OPENER = urllib.request.build_opener(_NoRedirect)


def _check_url(url: str, allow_insecure_http: bool) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if allow_insecure_http and parts.scheme == "http" and _is_loopback(parts.hostname):
        return
    expected = "https:// (or http:// on a loopback host when insecure http is allowed)"
    raise ValueError(f"refusing URL {url!r}: expected {expected}")


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> InferenceResponse:
    # The scheme is https, or http on loopback by explicit choice: InferenceClient checks it.
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return _answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return _answer(error.code, error.headers, error.read())
    except (http.client.HTTPException, OSError) as error:  # URLError, TimeoutError, ssl errors
        reason = getattr(error, "reason", None) or error
        raise NetworkError(f"no answer from {url}: {reason}") from error


def _answer(status: int, headers: Any, body: bytes) -> InferenceResponse:
    return InferenceResponse(status, {k.lower(): v for k, v in headers.items()}, body)

"""A local stand-in for a deployed SecureEndpoint: Cognito's token endpoint and the API's predict
method, answering with the statuses and JSON error bodies the stack gives, on 127.0.0.1.

Each rule can be switched off (``validate=False``, ...) to stand for a broken deployment, so that
a check against it can be seen to fail.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

INVOKE = "secure-endpoint/invoke"
STATUS = "secure-endpoint/status"


@dataclass
class FakeClient:
    name: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    api_key: str


@dataclass
class SecureApiFake:
    """The token endpoint and ``/prod/v1/predict``; the usage plan is a token bucket per key."""

    burst: int = 5
    rate: float = 2.0
    features: int | None = None  # the model refuses rows of another length (400 invalid_input)
    require_token: bool = True
    check_scope: bool = True
    validate: bool = True
    throttle: bool = True
    json_errors: bool = True
    base_url: str = ""
    clients: dict[str, FakeClient] = field(default_factory=dict)
    tokens: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)
    token_requests: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_client(self, name: str, scopes: tuple[str, ...] = (INVOKE,)) -> dict[str, str]:
        """Register a client; its secret as the stack stores it in Secrets Manager."""
        client = FakeClient(name, f"id-{name}", f"secret-{name}", scopes, f"api-key-of-{name:0>20}")
        self.clients[client.client_id] = client
        return {
            "client_name": name,
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "token_url": f"{self.base_url}/oauth2/token",
            "api_url": f"{self.base_url}/prod/v1/predict",
            "scope": " ".join(scopes),
            "api_key": client.api_key,
        }

    def answer(self, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        if path == "/oauth2/token":
            return self._token(headers, body)
        if path == "/prod/v1/predict":
            status, answer = self._predict(headers, body)
            with self._lock:
                self.statuses[status] += 1
            return status, answer
        return 404, self._error("not_found", "No such resource or method.")

    def _token(self, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        try:
            client_id, secret = (
                base64.b64decode(headers.get("Authorization", "").removeprefix("Basic "))
                .decode()
                .split(":", 1)
            )
        except ValueError:
            return 400, {"error": "invalid_client"}
        client = self.clients.get(client_id)
        if client is None or client.client_secret != secret:
            return 400, {"error": "invalid_client"}
        form = urllib.parse.parse_qs(body.decode())
        requested = form.get("scope", [" ".join(client.scopes)])[0].split()
        with self._lock:
            self.token_requests.append(" ".join(requested))
            if not set(requested) <= set(client.scopes):
                return 400, {"error": "invalid_scope"}
            token = f"token-{len(self.tokens) + 1}"
            self.tokens[token] = (client_id, frozenset(requested))
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def _predict(self, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        if self.require_token:
            token = headers.get("Authorization", "").removeprefix("Bearer ")
            if token not in self.tokens:
                return 401, self._error("unauthorized", "A valid bearer token is required.")
            if self.check_scope and INVOKE not in self.tokens[token][1]:
                return 403, self._error("forbidden", "The token lacks the required scope.")
        key = headers.get("x-api-key", "")
        if key not in {c.api_key for c in self.clients.values()}:
            return 403, self._error("forbidden", "A valid x-api-key is required.")
        if self.throttle and not self._take(key):
            return 429, self._error("throttled", "Rate limit exceeded; retry later.")
        try:
            rows = json.loads(body)
        except ValueError:
            rows = None
        valid = (
            isinstance(rows, list)
            and rows
            and all(
                isinstance(row, list)
                and row
                and all(isinstance(x, int | float) and not isinstance(x, bool) for x in row)
                for row in rows
            )
        )
        if self.validate and not valid:
            return 400, self._error("invalid_body", "The request body does not match the schema.")
        if self.features is not None and any(len(row) != self.features for row in rows or []):
            return 400, self._error("invalid_input", "The model rejected the input.")
        return 200, {"predictions": [0.5 for _ in rows or []]}

    def refill(self) -> None:
        """Every usage plan bucket full again, as after a quiet minute."""
        with self._lock:
            self._buckets.clear()

    def _take(self, key: str) -> bool:
        with self._lock:
            now = time.monotonic()
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1, now)
            return True

    def _error(self, code: str, message: str) -> Any:
        if not self.json_errors:
            return message
        return {"error": code, "message": message, "requestId": "fake-request"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst opens many connections at once


@contextmanager
def serve(api: SecureApiFake) -> Iterator[SecureApiFake]:
    """Run ``api`` on 127.0.0.1 on a free port for the duration of the block."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status, answer = api.answer(self.path, self.headers, body)
            payload = (json.dumps(answer) if not isinstance(answer, str) else answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("x-amzn-RequestId", "fake-request")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with on_loopback(Handler, _Server) as api.base_url:
        yield api


@contextmanager
def on_loopback(
    handler: type[BaseHTTPRequestHandler],
    server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer,
) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1, on a free port, from a thread for the duration of the
    block; yields the base URL."""
    server = server_class(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

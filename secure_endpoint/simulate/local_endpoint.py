"""A local stand-in for a deployed SecureEndpoint: the simulator's model behind an emulation of
the SageMaker runtime's ``InvokeEndpoint`` that writes real data-capture files, with the
gateway's limits an attacker meets in front of it.

``LocalEndpoint`` is the in-process form (what ``secure-endpoint attack --local`` and the demo
call, on a clock they choose so that hours of traffic take seconds); ``LocalServer`` puts it on
``http://127.0.0.1:<port>`` for anything that speaks HTTP, the CLI's ``InferenceClient``
included. Per call, in API Gateway's order:

1. quarantine: a client put in quarantine (``LocalEndpoint.quarantine``) gets 403
   ``forbidden`` (its API key disabled, ``Quarantine(mode="disable")``) or is held to the
   quarantine usage plan (``mode="plan"``, the default: a small rate and quota, then 429);
2. the usage plan (``UsagePlan``, per client): a token bucket of ``rate_per_second`` and
   ``burst`` (429 ``throttled``) and a daily quota (429 ``quota_exceeded``); every call that
   passes the API key check counts towards the quota, as in API Gateway;
3. request validation: with a request model (``schema``: the JSON Schema that
   ``InputConstraints.json_schema()`` compiles from a baseline) a JSON body it refuses gets 400
   ``invalid_body`` with the validator's message as ``detail``: a check of the subset
   ``InputConstraints`` emits (shape, row width and count, types, ranges, allowed values; the
   tests hold it to ``jsonschema``'s verdicts), or ``jsonschema`` itself (``RequestModel``).
   CSV bodies are not checked (API Gateway cannot).
4. the model: ``{"instances": [[...], ...]}``, ``{"inputs": ...}``, a bare list of rows, or CSV
   rows; the answer ``{"predictions": [p, ...]}`` (JSON) or one probability a line (CSV), as
   the capture simulator's endpoint answers. A row the model cannot read (wrong width, a
   string) is SageMaker's 400, answered 400 ``invalid_input`` as the API maps it.

Only what reaches the model is captured: ``simulate.capture.layout`` builds the lines and the
object keys (``<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm>-<ss>-<mmm>-<uuid>.jsonl``), and
the inference id is ``client_id:requestId`` as the API's request template sets it. Lines are
buffered and written as one object per ``object_seconds`` of the clock (SageMaker writes
objects every few minutes) and on ``flush()``; ``secure_endpoint.runtime.capture.records``
reads them back.

Over HTTP: ``POST /oauth2/token`` (client credentials, HTTP Basic; the token names the client),
``POST /predict`` (a bearer token of that endpoint; 401 without), and SageMaker's own
``POST /endpoints/<name>/invocations`` (no gateway: the ``X-Amzn-SageMaker-Inference-Id``
header, when sent, is captured as it is; boto3's ``sagemaker-runtime`` client with
``endpoint_url`` set to the server calls it, its SigV4 signature unchecked).
"""

from __future__ import annotations

import base64
import contextlib
import http
import json
import math
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from secure_endpoint.simulate.capture.layout import (
    CAPTURE_PREFIX,
    ObjectWriter,
    Payload,
    capture_line,
    inference_id,
    object_key,
)
from secure_endpoint.simulate.capture.model import Floats, TreeEnsemble

JSON = "application/json"
CSV = "text/csv"
TOKEN_PREFIX = "local."  # noqa: S105 - not a secret: the local server's token format
"""A local access token is this prefix and the client id (the server trusts its own tokens)."""


class Model(Protocol):
    """What answers: ``TreeEnsemble`` (``model.json``), or any model with these two."""

    @property
    def feature_names(self) -> tuple[str, ...]: ...

    def predict_proba(self, rows: Floats) -> Floats: ...


@dataclass(frozen=True)
class UsagePlan:
    """A client's usage plan: API Gateway's token bucket and daily quota.

    :param rate_per_second: the steady rate.
    :param burst: the bucket's size.
    :param quota_per_day: requests a UTC day. Default: - none
    """

    rate_per_second: float = 10.0
    burst: int = 20
    quota_per_day: int | None = 10_000

    def __post_init__(self) -> None:
        if not self.rate_per_second > 0:
            raise ValueError(f"rate_per_second must be > 0, got {self.rate_per_second}")
        if self.burst < 1:
            raise ValueError(f"burst must be >= 1, got {self.burst}")
        if self.quota_per_day is not None and self.quota_per_day < 1:
            raise ValueError(f"quota_per_day must be >= 1 or None, got {self.quota_per_day}")


@dataclass(frozen=True)
class Quarantine:
    """What a quarantined client gets: its key moved to ``plan`` (``mode="plan"``) or disabled
    (``mode="disable"``: 403 ``forbidden``)."""

    mode: Literal["plan", "disable"] = "plan"
    plan: UsagePlan = UsagePlan(rate_per_second=0.05, burst=1, quota_per_day=50)

    def __post_init__(self) -> None:
        if self.mode not in ("plan", "disable"):
            raise ValueError(f"quarantine mode must be 'plan' or 'disable', got {self.mode!r}")


@dataclass(frozen=True)
class Answer:
    """What the endpoint answered. ``error`` is the API's error code (``throttled``,
    ``quota_exceeded``, ``forbidden``, ``invalid_body``, ``invalid_input``, ...) or None."""

    status: int
    body: bytes
    content_type: str = JSON
    error: str | None = None
    rows: int = 0
    """Rows the model scored (and the capture holds)."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


_MESSAGES = {
    "throttled": (429, "Rate limit exceeded; retry later."),
    "quota_exceeded": (429, "Daily quota exceeded."),
    "forbidden": (403, "A valid x-api-key is required."),
    "unauthorized": (401, "A valid bearer token is required."),
    "invalid_body": (400, "The request body does not match the input schema."),
    "invalid_input": (400, "The model rejected the input."),
    "unsupported_media_type": (415, "Send Content-Type: application/json."),
    "not_found": (404, "No such resource or method."),
}


def _error(code: str, detail: str | None = None) -> Answer:
    status, message = _MESSAGES[code]
    body: dict[str, str] = {"error": code, "message": message, "requestId": str(uuid.uuid4())}
    if detail is not None:
        body["detail"] = detail
    return Answer(status, json.dumps(body).encode(), JSON, code)


class _Bucket:
    """One client's token bucket and day count under a plan."""

    def __init__(self, plan: UsagePlan, now: float) -> None:
        self.plan = plan
        self.tokens = float(plan.burst)
        self.at = now
        self.day = int(now // 86_400)
        self.used = 0

    def take(self, now: float) -> str | None:
        """None when the call may pass, else the error code."""
        plan = self.plan
        day = int(now // 86_400)
        if day != self.day:
            self.day, self.used = day, 0
        if plan.quota_per_day is not None and self.used >= plan.quota_per_day:
            return "quota_exceeded"
        self.tokens = min(plan.burst, self.tokens + (now - self.at) * plan.rate_per_second)
        self.at = max(self.at, now)
        if self.tokens < 1:
            return "throttled"
        self.tokens -= 1
        self.used += 1
        return None


class RequestModel:
    """The gateway's request validation against a JSON Schema (draft 4).

    :param engine: ``builtin``, a check of the subset ``InputConstraints`` emits (fast, no
        dependency: jsonschema is not one of this package's), or ``jsonschema`` (needs it
        installed; a hundred times slower on a row of 35 features). Default: - builtin
    """

    def __init__(self, schema: Mapping[str, Any], engine: str = "builtin") -> None:
        self.schema = dict(schema)
        self._validator: Any = None
        if engine == "jsonschema":
            import jsonschema

            self._validator = jsonschema.Draft4Validator(self.schema)
        elif engine != "builtin":
            raise ValueError(f"engine must be 'builtin' or 'jsonschema', got {engine!r}")

    def error(self, body: Any) -> str | None:
        """Why ``body`` is refused, or None when it passes."""
        if self._validator is not None:
            found = next(iter(self._validator.iter_errors(body)), None)
            if found is None:
                return None
            where = "/".join(str(part) for part in found.path) or "the body"
            return f"{where}: {found.message}"
        return _check(self.schema, body)


def _check(schema: Mapping[str, Any], value: Any, path: tuple[str, ...] = ()) -> str | None:
    """The subset of draft 4 that ``InputConstraints.json_schema`` emits; the message names
    the path as the API's detail does (``instances/0/13: ...``)."""
    where = "/".join(path) or "the body"
    if "enum" in schema:
        return None if value in schema["enum"] else f"{where}: {value!r} is not one of the allowed"
    kinds = schema.get("type")
    if kinds is not None:
        allowed = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is(kind, value) for kind in allowed):
            return f"{where}: {json.dumps(value)[:40]} is not of type {'/'.join(allowed)}"
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                return f"{where}: {key!r} is a required property"
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is False and set(value) - set(properties):
            return f"{where}: additional properties are not allowed"
        for key, sub in properties.items():
            if key in value and (found := _check(sub, value[key], (*path, key))):
                return found
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return f"{where}: {len(value)} items, fewer than {schema['minItems']}"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{where}: {len(value)} items, more than {schema['maxItems']}"
        items = schema.get("items")
        for i, item in enumerate(value):
            sub = items[i] if isinstance(items, list) and i < len(items) else items
            if isinstance(sub, dict) and (found := _check(sub, item, (*path, str(i)))):
                return found
    if _is("number", value):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{where}: {value} is less than the minimum of {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{where}: {value} is greater than the maximum of {schema['maximum']}"
    return None


def _is(kind: str, value: Any) -> bool:
    if kind == "null":
        return value is None
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return True


class _Unreadable(Exception):
    """A body the model cannot read (SageMaker's 400)."""


def _rows(body: bytes, content_type: str, width: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    text = body.decode("utf-8", errors="strict")
    if content_type == CSV:
        parsed: Any = [line.split(",") for line in text.splitlines() if line.strip()]
    else:
        parsed = json.loads(text)
        if isinstance(parsed, dict):
            parsed = parsed.get("instances", parsed.get("inputs"))
    if not isinstance(parsed, list) or not parsed:
        raise _Unreadable("no rows")
    if not isinstance(parsed[0], list):
        parsed = [parsed]
    try:
        rows = np.asarray(parsed, dtype=np.float64)
    except (TypeError, ValueError):
        raise _Unreadable("a value that is not a number, or rows of unequal width") from None
    if rows.ndim != 2 or rows.shape[1] != width:
        raise _Unreadable(f"rows of {rows.shape[-1]} values, the model takes {width}")
    if not np.isfinite(rows).all():
        raise _Unreadable("a value that is not finite")
    return rows


@dataclass
class Stats:
    """What the endpoint answered, per client: status counts and rows scored."""

    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    rows: Counter[str] = field(default_factory=Counter)

    def count(self, client: str, status: int) -> None:
        self.statuses.setdefault(client, Counter())[status] += 1


class LocalEndpoint:
    """The model, the gateway's limits in front of it, and data capture behind it.

    :param model: what answers (the simulator's ``TreeEnsemble``, or anything with
        ``predict_proba(rows)`` and ``feature_names``).
    :param root: the capture destination: objects go to ``root/<prefix>/<endpoint>/...``.
    :param plan: every client's usage plan. Default: - no limit
    :param schema: the request model (JSON Schema). Default: - no validation
    :param validator: ``builtin`` or ``jsonschema`` (``RequestModel``). Default: - builtin
    :param clock: epoch seconds now. Default: - ``time.time``
    :param object_seconds: the span of one capture object. Default: - 60
    """

    def __init__(
        self,
        model: Model,
        root: Path,
        *,
        endpoint_name: str = "secure-endpoint-local",
        variant_name: str = "AllTraffic",
        prefix: str = CAPTURE_PREFIX,
        plan: UsagePlan | None = None,
        schema: Mapping[str, Any] | None = None,
        validator: str = "builtin",
        quarantine: Quarantine = Quarantine(),
        clock: Callable[[], float] = time.time,
        object_seconds: float = 60.0,
        ids: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        if object_seconds <= 0:
            raise ValueError(f"object_seconds must be > 0, got {object_seconds}")
        self.model = model
        self.width = len(model.feature_names)
        self.writer = ObjectWriter(Path(root))
        self.endpoint_name, self.variant_name, self.prefix = endpoint_name, variant_name, prefix
        self.plan = plan
        self.request_model = RequestModel(schema, validator) if schema is not None else None
        self.quarantine_policy = quarantine
        self.clock = clock
        self.object_seconds = object_seconds
        self.ids = ids
        self.stats = Stats()
        self.quarantined: dict[str, float] = {}
        """Quarantined clients and since when."""
        self._buckets: dict[str, _Bucket] = {}
        self._held: dict[str, _Bucket] = {}
        self._lines: list[str] = []
        self._first = 0.0
        self._lock = threading.Lock()

    # Quarantine, as the response commands would set it on a deployed stack.
    def quarantine(self, client_id: str) -> None:
        with self._lock:
            self.quarantined.setdefault(client_id, self.clock())

    def release(self, client_id: str) -> None:
        with self._lock:
            self.quarantined.pop(client_id, None)
            self._held.pop(client_id, None)

    def invoke(self, client_id: str, body: bytes, content_type: str = JSON) -> Answer:
        """One call through the gateway as OAuth client ``client_id``."""
        with self._lock:
            answer = self._gateway(client_id, body, content_type)
            self.stats.count(client_id, answer.status)
            return answer

    def invoke_endpoint(
        self, body: bytes, content_type: str = JSON, inference: str | None = None
    ) -> Answer:
        """SageMaker's ``InvokeEndpoint`` alone: no gateway, ``inference`` captured as it is."""
        with self._lock:
            return self._model(body, content_type, inference)

    def _gateway(self, client_id: str, body: bytes, content_type: str) -> Answer:
        now = self.clock()
        media = content_type.split(";", 1)[0].strip().lower()
        if client_id in self.quarantined:
            if self.quarantine_policy.mode == "disable":
                return _error("forbidden")
            held = self._held.setdefault(client_id, _Bucket(self.quarantine_policy.plan, now))
            if refused := held.take(now):
                return _error(refused)
        elif self.plan is not None:
            bucket = self._buckets.setdefault(client_id, _Bucket(self.plan, now))
            if refused := bucket.take(now):
                return _error(refused)
        if media not in (JSON, CSV):
            return _error("unsupported_media_type")
        if self.request_model is not None and media == JSON:
            try:
                document = json.loads(body)
            except ValueError:
                return _error("invalid_body", "the body is not JSON")
            if detail := self.request_model.error(document):
                return _error("invalid_body", detail)
        answer = self._model(body, media, inference_id(client_id, str(uuid.uuid4())))
        self.stats.rows[client_id] += answer.rows
        return answer

    def _model(self, body: bytes, content_type: str, inference: str | None) -> Answer:
        media = content_type.split(";", 1)[0].strip().lower()
        try:
            rows = _rows(body, media, self.width)
        except (_Unreadable, ValueError, UnicodeDecodeError) as error:
            return _error("invalid_input", str(error) if isinstance(error, _Unreadable) else None)
        probabilities = [float(p) for p in self.model.predict_proba(rows)]
        if media == CSV:
            out = Payload("text/csv; charset=utf-8", "\n".join(map(repr, probabilities)))
        else:
            out = Payload(JSON, json.dumps({"predictions": probabilities}))
        now = self.clock()
        self._capture(
            capture_line(
                request=Payload(content_type, body.decode()),
                response=out,
                event_id=self.ids(),
                inference=inference,
                epoch=now,
            ),
            now,
        )
        return Answer(200, out.body.encode(), out.content_type, rows=len(rows))

    def _capture(self, line: str, now: float) -> None:
        if self._lines and now - self._first >= self.object_seconds:
            self._write()
        if not self._lines:
            self._first = now
        self._lines.append(line)

    def _write(self) -> None:
        key = object_key(self.prefix, self.endpoint_name, self.variant_name, self._first,
                         self.ids())  # fmt: skip
        self.writer.write(key, self._lines)
        self._lines = []

    def flush(self) -> None:
        """Write the buffered capture lines as an object now."""
        with self._lock:
            if self._lines:
                self._write()

    @property
    def capture_dir(self) -> Path:
        """Where this endpoint's capture objects go."""
        return self.writer.root / self.prefix / self.endpoint_name / self.variant_name

    def __enter__(self) -> LocalEndpoint:
        return self

    def __exit__(self, *_: object) -> None:
        self.flush()


class VirtualClock:
    """A clock that moves only when told: hours of traffic in seconds of work."""

    def __init__(self, start: float) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        if seconds < 0 or not math.isfinite(seconds):
            raise ValueError(f"a clock moves forward by a finite amount, got {seconds}")
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        """``time.sleep``'s signature, for code that backs off."""
        self.advance(max(0.0, seconds))


class LocalServer:
    """``endpoint`` on ``http://host:port`` in a thread (port 0: any free port).

    ``POST /oauth2/token`` answers any client credentials with a token naming the client
    (``clients``, when given, maps the client ids it accepts to their secrets); ``POST
    /predict`` is the API (bearer token required); ``POST /endpoints/<name>/invocations`` is
    the SageMaker runtime.
    """

    def __init__(
        self,
        endpoint: LocalEndpoint,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clients: Mapping[str, str] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.clients = dict(clients) if clients is not None else None
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.endpoint.flush()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def token(self, authorization: str) -> str | None:
        """The client id of valid HTTP Basic client credentials."""
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            client, _, secret = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if not client or (self.clients is not None and self.clients.get(client) != secret):
            return None
        return client


def _handler(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return None  # quiet: the capture is the record

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            content_type = self.headers.get("Content-Type", JSON)
            path = self.path.split("?", 1)[0]
            if path == "/oauth2/token":
                client = server.token(self.headers.get("Authorization", ""))
                if client is None:
                    self._send(Answer(400, b'{"error":"invalid_client"}', JSON, "invalid_client"))
                    return
                issued = {"access_token": TOKEN_PREFIX + client, "expires_in": 3600,
                          "token_type": "Bearer"}  # fmt: skip
                self._send(Answer(200, json.dumps(issued).encode()))
            elif path.startswith("/endpoints/") and path.endswith("/invocations"):
                self._runtime(path.split("/")[2], body, content_type)
            elif path == "/predict":
                scheme, _, token = self.headers.get("Authorization", "").partition(" ")
                if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX):
                    self._send(_error("unauthorized"))
                    return
                client = token.removeprefix(TOKEN_PREFIX)
                self._send(server.endpoint.invoke(client, body, content_type))
            else:
                self._send(_error("not_found"))

        def _runtime(self, name: str, body: bytes, content_type: str) -> None:
            """SageMaker's InvokeEndpoint, as boto3's ``sagemaker-runtime`` client reads it:
            the answer with ``x-Amzn-Invoked-Production-Variant``; an unknown endpoint a 400
            ``ValidationError``; what the model cannot read a 424 ``ModelError`` carrying the
            container's 400 (API Gateway maps it to the API's 400 ``invalid_input``)."""
            endpoint = server.endpoint
            if name != endpoint.endpoint_name:
                message = f"Endpoint {name} not found."
                self._send(Answer(400, json.dumps({"message": message}).encode()),
                           {"x-amzn-ErrorType": "ValidationError"})  # fmt: skip
                return
            inference = self.headers.get("X-Amzn-SageMaker-Inference-Id")
            answer = endpoint.invoke_endpoint(body, content_type, inference)
            if answer.ok:
                self._send(answer, {"x-Amzn-Invoked-Production-Variant": endpoint.variant_name})
                return
            error = {"message": "Received client error (400) from primary with message "
                     f"\"{answer.body.decode()}\".", "OriginalStatusCode": 400,
                     "OriginalMessage": answer.body.decode()}  # fmt: skip
            self._send(Answer(424, json.dumps(error).encode()), {"x-amzn-ErrorType": "ModelError"})

        def _send(self, answer: Answer, headers: Mapping[str, str] | None = None) -> None:
            self.send_response(answer.status, http.HTTPStatus(answer.status).phrase)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)

    return Handler


def main(
    argv: list[str] | None = None, *, ready: Callable[[LocalServer], None] | None = None
) -> int:
    """``python -m secure_endpoint.simulate.local_endpoint --local DIR [--port 8080]``: serve
    ``DIR/model.json`` until interrupted (``ready``, for tests: called once serving, then the
    server stops)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m secure_endpoint.simulate.local_endpoint",
        description="Serve the capture simulator's model on 127.0.0.1 behind the gateway's "
        "limits, writing SageMaker data capture into DIR/capture.",
    )
    parser.add_argument("--local", type=Path, required=True, metavar="DIR")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--endpoint-name", default="secure-endpoint-local")
    parser.add_argument(
        "--plan", default="10,20,10000", metavar="RATE,BURST,QUOTA", help="or 'none'"
    )
    args = parser.parse_args(argv)
    try:
        model = TreeEnsemble.load(args.local / "model.json")
        plan = None
        if args.plan != "none":
            rate, burst, quota = args.plan.split(",")
            plan = UsagePlan(float(rate), int(burst), int(quota) if quota else None)
    except (OSError, ValueError, KeyError) as error:
        parser.error(str(error))
    endpoint = LocalEndpoint(model, args.local, endpoint_name=args.endpoint_name, plan=plan)
    with LocalServer(endpoint, port=args.port) as server:
        print(f"serving {args.local / 'model.json'} on {server.url} (/oauth2/token, /predict, "
              f"/endpoints/{args.endpoint_name}/invocations); capture in "
              f"{endpoint.capture_dir}", flush=True)  # fmt: skip
        if ready is not None:
            ready(server)
        else:
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop, write the capture
                threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Smoke test of a deployed SecureEndpoint: what a client, a stranger and an abuser each get.

One expectation per line, each sent through ``InferenceClient`` (the code ``secure-endpoint
invoke`` uses): 200 for a valid token and body, 401 without a token, 403 with a token that lacks
the invoke scope, 400 for a body the JSON Schema refuses, and 429 under a burst beyond the
client's usage plan. Every refusal must also carry the API's JSON error body.

A token without the invoke scope comes from the client itself when it may request another scope,
else from another client of the stack whose scopes exclude it; Cognito refuses to issue a scope a
client was not given, so without either the 403 check is shown as not run, with how to enable it.

Standard library and boto3 only, like the client.
"""

from __future__ import annotations

import dataclasses
import enum
import http
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from secure_endpoint.cli.client import (
    ClientCredentials,
    InferenceClient,
    InferenceResponse,
    NetworkError,
    TokenCache,
    TokenError,
)
from secure_endpoint.cli.outputs import Manifest, ManifestError, StackNotFound, endpoint_manifest

DEFAULT_BODY = b"[[0.0, 0.0, 0.0, 0.0]]"
BAD_BODY = b'{"rows": "not an array of rows of numbers"}'
DEFAULT_INVOKE_SCOPE = "secure-endpoint/invoke"
DEFAULT_BURST_REQUESTS = 300
MIN_BURST_REQUESTS = 50
# Every request counts against the WAF's per-address rate rule (1,000 per 5 minutes in the sample
# app): a smoke run stays well below it.
MAX_BURST_REQUESTS = 600


_BODY_HINT = "the model may refuse the default body: pass --body FILE with a request it accepts"


class SmokeError(Exception):
    """The smoke test cannot start (no stack, no client, no secret): nothing was sent."""


class Outcome(enum.Enum):
    PASS = "PASS"  # noqa: S105 - an outcome, not a password
    FAIL = "FAIL"
    SKIP = "SKIP"  # could not be checked; the detail says why and how to enable it


@dataclass(frozen=True)
class Check:
    """One expectation and what the API answered."""

    expectation: str
    outcome: Outcome
    detail: str

    def line(self, width: int = 0) -> str:
        return f"{self.outcome.value}  {self.expectation:<{width}}  {self.detail}"


@dataclass(frozen=True)
class SmokePlan:
    """What to send, and as whom.

    :param credentials: a client allowed the invoke scope.
    :param wrong_scope: credentials whose token lacks the invoke scope. Default: - the 403 check
        is not run
    :param wrong_scope_note: where ``wrong_scope`` comes from, or why there is none.
    :param burst_requests: requests sent at once for the 429 check.
    :param burst_note: the limits the burst should exceed, for the report.
    :param custom_body: ``body`` was given by the user (else a failing 200 suggests giving one).
    """

    credentials: ClientCredentials
    body: bytes = DEFAULT_BODY
    bad_body: bytes = BAD_BODY
    wrong_scope: ClientCredentials | None = None
    wrong_scope_note: str = ""
    burst_requests: int = DEFAULT_BURST_REQUESTS
    burst_concurrency: int = 32
    burst_note: str = ""
    timeout: float = 30.0
    allow_insecure_http: bool = False
    custom_body: bool = False


def run_checks(plan: SmokePlan) -> list[Check]:
    """Send every check's requests, in order (the burst last), and say how each went."""
    client = _client(plan, plan.credentials)
    checks = [
        _expect(
            "200 with a valid token and body",
            http.HTTPStatus.OK,
            lambda: client.invoke(plan.body),
            hint=None if plan.custom_body else _BODY_HINT,
        ),
        _expect(
            "401 without a token",
            http.HTTPStatus.UNAUTHORIZED,
            lambda: client.invoke(plan.body, authorize=False),
        ),
    ]
    name = "403 with a token lacking the invoke scope"
    if plan.wrong_scope is None:
        checks.append(Check(name, Outcome.SKIP, plan.wrong_scope_note))
    else:
        wrong = _client(plan, plan.wrong_scope)
        check = _expect(name, http.HTTPStatus.FORBIDDEN, lambda: wrong.invoke(plan.body))
        checks.append(
            dataclasses.replace(check, detail=f"{check.detail} ({plan.wrong_scope_note})")
        )
    checks.append(
        _expect(
            "400 for a body the schema refuses",
            http.HTTPStatus.BAD_REQUEST,
            lambda: client.invoke(plan.bad_body),
        )
    )
    checks.append(_burst(plan, client))
    return checks


def exit_code(checks: Sequence[Check]) -> int:
    """0 when no check failed (one not run is shown, not failed), else 1."""
    return 1 if any(c.outcome is Outcome.FAIL for c in checks) else 0


def report_lines(checks: Sequence[Check]) -> list[str]:
    width = max((len(c.expectation) for c in checks), default=0)
    counts = Counter(c.outcome for c in checks)
    total = f"{counts[Outcome.PASS]} passed, {counts[Outcome.FAIL]} failed"
    if counts[Outcome.SKIP]:
        total += f", {counts[Outcome.SKIP]} not run"
    return [*(c.line(width) for c in checks), total]


def _client(plan: SmokePlan, credentials: ClientCredentials) -> InferenceClient:
    # Tokens stay in memory: a token with another scope must never land in the invoke cache.
    return InferenceClient(
        credentials,
        TokenCache(None),
        timeout=plan.timeout,
        allow_insecure_http=plan.allow_insecure_http,
    )


def _error_code(response: InferenceResponse) -> str | None:
    """The ``error`` of the API's JSON error body, or None when the body is not one."""
    try:
        body = json.loads(response.body)
    except ValueError:
        return None
    code = body.get("error") if isinstance(body, dict) else None
    return str(code) if isinstance(code, str) else None


def _expect(
    expectation: str,
    expected: int,
    send: Callable[[], InferenceResponse],
    *,
    hint: str | None = None,
) -> Check:
    started = time.perf_counter()
    try:
        response = send()
    except (TokenError, NetworkError, ValueError) as error:
        return Check(expectation, Outcome.FAIL, str(error))
    elapsed_ms = (time.perf_counter() - started) * 1000
    code = _error_code(response)
    seen = f"HTTP {response.status}" + (f" {code}" if code else "")
    if response.status != expected:
        detail = f"got {seen}"
        if hint and code == "invalid_input":
            detail += f"; {hint}"
        elif response.status == http.HTTPStatus.TOO_MANY_REQUESTS:
            detail += "; an earlier burst? retry in a minute"
        return Check(expectation, Outcome.FAIL, detail)
    if expected >= 400 and code is None:
        return Check(expectation, Outcome.FAIL, f"{seen} without the API's JSON error body")
    return Check(expectation, Outcome.PASS, seen if code else f"{seen} in {elapsed_ms:.0f} ms")


def _burst(plan: SmokePlan, client: InferenceClient) -> Check:
    expectation = "429 under a burst"
    try:
        client.access_token()  # one token for every request of the burst
    except (TokenError, NetworkError) as error:
        return Check(expectation, Outcome.FAIL, str(error))

    def send(_: int) -> tuple[int | None, str | None]:
        try:
            response = client.invoke(plan.body)
        except NetworkError:
            return None, None
        return response.status, _error_code(response)

    with ThreadPoolExecutor(max_workers=max(1, plan.burst_concurrency)) as pool:
        answers = list(pool.map(send, range(plan.burst_requests)))
    statuses = Counter(str(status) if status else "no answer" for status, _ in answers)
    throttled = [code for status, code in answers if status == http.HTTPStatus.TOO_MANY_REQUESTS]
    limits = f" ({plan.burst_note})" if plan.burst_note else ""
    seen = ", ".join(f"{count}x {status}" for status, count in sorted(statuses.items()))
    if not throttled:
        return Check(
            expectation,
            Outcome.FAIL,
            f"no 429 in {plan.burst_requests} concurrent requests{limits}: {seen}",
        )
    if None in throttled:
        return Check(expectation, Outcome.FAIL, "HTTP 429 without the API's JSON error body")
    codes = "/".join(sorted({str(code) for code in throttled}))
    return Check(
        expectation,
        Outcome.PASS,
        f"{len(throttled)} of {plan.burst_requests} concurrent requests got HTTP 429 {codes}"
        f"{limits}; all: {seen}",
    )


# --- the plan, from a deployed stack -----------------------------------------------------------


def plan_from_stack(
    session: Any,
    stack: str,
    *,
    client: str | None = None,
    endpoint: str | None = None,
    invoke_scope: str | None = None,
    **options: Any,
) -> tuple[str, SmokePlan]:
    """The client to test (its name) and the plan, from the endpoint's manifest (the stack's
    only endpoint, or ``endpoint``) and its clients' secrets. ``invoke_scope`` defaults to the
    one the manifest names.

    ``options`` go to ``SmokePlan``; ``burst_requests=None`` derives the burst from the client's
    usage plan.

    :raises SmokeError: no such stack, no client output, an unknown or unfit client.
    """
    found = _manifest(session, stack, endpoint)
    invoke_scope = invoke_scope or found.invoke_scope
    clients = {name: entry.as_json() for name, entry in found.clients.items()}
    if client is None:
        if len(clients) != 1:
            raise SmokeError(
                f"stack {stack!r} has clients {', '.join(sorted(clients))}: pass --client NAME"
            )
        client = next(iter(clients))
    if client not in clients:
        known = ", ".join(sorted(clients)) or "none"
        raise SmokeError(f"no client {client!r} in stack {stack!r} (its clients: {known})")
    secrets = session.client("secretsmanager")
    credentials = _read(secrets, clients[client], client)
    scopes = credentials.scope.split()
    if invoke_scope not in scopes:
        raise SmokeError(
            f"client {client!r} may not request {invoke_scope} (its scopes: {credentials.scope}): "
            "pick a client that may call the API, or pass --invoke-scope"
        )
    wrong, note = _wrong_scope(secrets, clients, client, credentials, invoke_scope)
    burst_requests = options.pop("burst_requests", None)
    derived, burst_note = _burst_size(session, clients[client].get("apiKeyId"))
    plan = SmokePlan(
        credentials=credentials,
        wrong_scope=wrong,
        wrong_scope_note=note,
        burst_requests=burst_requests or derived,
        burst_note=burst_note,
        **options,
    )
    return client, plan


def _manifest(session: Any, stack: str, endpoint: str | None) -> Manifest:
    try:
        return endpoint_manifest(session, stack, endpoint)
    except StackNotFound as error:
        raise SmokeError(
            f"{error}: deploy it first (make deploy), or pass --stack and --region of a "
            "deployed one"
        ) from None
    except ManifestError as error:
        raise SmokeError(str(error)) from None


def _read(secrets: Any, entry: Mapping[str, Any], name: str) -> ClientCredentials:
    secret = entry.get("secretArn")
    if not isinstance(secret, str) or not secret:
        raise SmokeError(f"the manifest has no secretArn for client {name!r}")
    try:
        return ClientCredentials.from_secrets_manager(secrets, secret)
    except ValueError as error:  # the secret lacks a key or is not JSON
        raise SmokeError(str(error)) from None


def _wrong_scope(
    secrets: Any,
    clients: Mapping[str, Mapping[str, Any]],
    name: str,
    credentials: ClientCredentials,
    invoke_scope: str,
) -> tuple[ClientCredentials | None, str]:
    import botocore.exceptions

    others = [s for s in credentials.scope.split() if s != invoke_scope]
    if others:
        scope = " ".join(others)
        return dataclasses.replace(credentials, scope=scope), f"client {name} asking for {scope}"
    unreadable = []
    for other in sorted(set(clients) - {name}):
        try:
            candidate = _read(secrets, clients[other], other)
        except (SmokeError, botocore.exceptions.ClientError):
            unreadable.append(other)
            continue
        if invoke_scope not in candidate.scope.split():
            return candidate, f"client {other}, scopes {candidate.scope}"
    note = (
        f"no client can get a token without {invoke_scope}, and Cognito refuses a scope a client "
        "was not given: give a client another scope (ApiClient(scopes=('invoke', 'status'))) "
        "or add one without invoke (the sample app: deploy with -c smoke_client=true)"
    )
    if unreadable:
        note += f" (unreadable secrets: {', '.join(unreadable)})"
    return None, note


def _burst_size(session: Any, api_key_id: Any) -> tuple[int, str]:
    """Requests for the 429 check: three times the usage plan's burst, within bounds."""
    import botocore.exceptions

    if not isinstance(api_key_id, str) or not api_key_id:
        return DEFAULT_BURST_REQUESTS, "usage plan unknown: no apiKeyId in the manifest"
    try:
        plans = session.client("apigateway").get_usage_plans(keyId=api_key_id).get("items", [])
    except botocore.exceptions.ClientError as error:
        code = error.response["Error"].get("Code")
        return DEFAULT_BURST_REQUESTS, f"usage plan not readable ({code})"
    throttle = (plans[0].get("throttle") or {}) if plans else {}
    burst, rate = throttle.get("burstLimit"), throttle.get("rateLimit")
    if not isinstance(burst, int):
        return DEFAULT_BURST_REQUESTS, "the usage plan has no burst limit"
    limits = f"usage plan rate {rate if rate is not None else '?'} rps, burst {burst}"
    requests = max(3 * burst, MIN_BURST_REQUESTS)
    if requests > MAX_BURST_REQUESTS:
        limits += f"; capped at {MAX_BURST_REQUESTS} requests, pass --burst-requests for more"
    return min(requests, MAX_BURST_REQUESTS), limits

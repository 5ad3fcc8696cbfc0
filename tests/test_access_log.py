"""The pinned access-log format stays JSON whatever a client sends.

API Gateway substitutes each ``$context`` variable into the format as it is (no escaping), so
``render`` below does exactly that, and the tests parse what it gives back with ``json.loads``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secure_endpoint.constructs import access_log
from secure_endpoint.constructs.access_log import (
    ACCESS_LOG_FIELDS,
    SAFE_VALUES,
    access_log_format,
)

_VARIABLE = re.compile(r"\$context\.[A-Za-z0-9_.]+")

HOSTILE = [
    '"',
    "\\",
    "\t",
    "\n",
    "\r\n",
    "\x00",
    "\x1b[31m",
    "}",
    '"}',
    '{"x":',
    '"}{"x":"',
    '","clientId":"victim","sourceIp":"10.0.0.1',
    '\\","status":"200',
    "\\u0022",
    "a\\",
    "é ☃ 😀 \u2028\u2029",
    "\ud800",
    "$context.requestId",
    "-",
    "",
]
"""What a client may send, in each field it can reach: quotes, backslashes, control characters,
closing and opening braces, field injections, unicode (line separators, a lone surrogate)."""

NORMAL: dict[str, str] = {
    "$context.requestId": "0b6a4c1e-1c2d-4e5f-8a9b-0123456789ab",
    "$context.requestTimeEpoch": "1772409600000",
    "$context.identity.sourceIp": "198.51.100.7",
    "$context.authorizer.claims.client_id": "4l2n0q8kqf3o7h5b1d9m6c2p1s",
    "$context.identity.apiKeyId": "a1b2c3d4e5",
    "$context.httpMethod": "POST",
    "$context.resourcePath": "/v1/predict",
    "$context.status": "200",
    "$context.responseLength": "120",
    "$context.responseLatency": "25",
    "$context.integrationLatency": "20",
    "$context.error.responseType": "-",
    "$context.wafResponseCode": "WAF_ALLOW",
    "$context.tlsVersion": "TLSv1.3",
}
"""One ordinary request, as API Gateway logs it."""

PINNED_VARIABLES = frozenset(NORMAL)
"""The allowlist, repeated here on purpose: adding a variable to the format means adding it
here, with the evidence (in ``access_log``'s docstring) that no client text can reach it."""

CLIENT_CHOSEN = (
    "$context.identity.userAgent",
    "$context.path",
    "$context.domainName",
    "$context.domainPrefix",
    "$context.identity.clientCert",
    "$context.identity.caller",
    "$context.identity.user",
    "$context.error.message",
    "$context.error.validationErrorString",
    "$context.authorizer.principalId",
    "$context.requestOverride",
    "$context.responseOverride",
    "$input.",
    "$method.request",
    "$stageVariables",
    "$util.",
)
"""Variables (prefixes) whose values a client writes or can quote."""


def render(log_format: str, values: Mapping[str, str]) -> str:
    """The line API Gateway writes: every ``$context`` variable replaced by its value, as is."""
    return _VARIABLE.sub(lambda match: values[match.group(0)], log_format)


def written(variable: str, attempt: str) -> str:
    """What API Gateway writes for ``variable`` when a client tries to put ``attempt`` there.

    Only the variables a client can send something for: an ``x-amzn-RequestId`` header, a
    bearer token (its ``client_id`` claim), an ``x-api-key`` header, the request path and an
    ``X-Forwarded-For`` header. A value API Gateway could write anyway is written as it is."""
    if re.fullmatch(SAFE_VALUES[variable], attempt):
        return attempt
    return {
        # "replaces overridden request IDs that aren't in the format of a UUID"
        "$context.requestId": f"{NORMAL['$context.requestId']}_REPLACED_INVALID_REQUEST_ID",
        # a token whose claim was edited fails the signature check: 401, no claims
        "$context.authorizer.claims.client_id": "-",
        # a key that is no key of the API: 403, no key id
        "$context.identity.apiKeyId": "-",
        # a path the API has no route for: no resource matched
        "$context.resourcePath": "-",
        # the TCP peer's address, whatever the headers say
        "$context.identity.sourceIp": NORMAL["$context.identity.sourceIp"],
    }[variable]


CLIENT_REACHABLE = (
    "$context.requestId",
    "$context.authorizer.claims.client_id",
    "$context.identity.apiKeyId",
    "$context.resourcePath",
    "$context.identity.sourceIp",
)
"""The pinned variables a client can aim a value at. Not ``httpMethod``: a method is a token
(RFC 9110 section 9.1: no quote, backslash, space or control character), so a hostile one is
no HTTP request; its seven documented values are covered by ``SAFE_VALUES`` below."""


def _expected(values: Mapping[str, str]) -> dict[str, str]:
    return {field: values[variable] for field, variable in ACCESS_LOG_FIELDS.items()}


def test_the_format_holds_exactly_the_pinned_variables() -> None:
    assert set(ACCESS_LOG_FIELDS.values()) == PINNED_VARIABLES
    assert set(SAFE_VALUES) == PINNED_VARIABLES
    assert _VARIABLE.findall(access_log_format()) == list(ACCESS_LOG_FIELDS.values())


@pytest.mark.parametrize("variable", CLIENT_CHOSEN)
def test_no_client_chosen_variable_is_in_the_format(variable: str) -> None:
    log_format = access_log_format()
    assert variable not in log_format
    assert not any(v.startswith(variable) for v in [*ACCESS_LOG_FIELDS.values(), *SAFE_VALUES])


def test_no_token_claim_but_the_verified_client_id_is_logged() -> None:
    claims = [v for v in ACCESS_LOG_FIELDS.values() if ".claims." in v]
    assert claims == ["$context.authorizer.claims.client_id"]


def test_a_variable_off_the_allowlist_refuses_to_render(monkeypatch: pytest.MonkeyPatch) -> None:
    fields = ACCESS_LOG_FIELDS | {"userAgent": "$context.identity.userAgent"}
    monkeypatch.setattr(access_log, "ACCESS_LOG_FIELDS", fields)

    with pytest.raises(ValueError, match=r"not on the JSON-safe allowlist.*userAgent"):
        access_log.access_log_format()


def test_an_ordinary_request_parses_back_to_its_fields() -> None:
    line = render(access_log_format(), NORMAL)

    assert "\n" not in line
    assert json.loads(line) == _expected(NORMAL)


@pytest.mark.parametrize("attempt", HOSTILE, ids=repr)
@pytest.mark.parametrize("variable", CLIENT_REACHABLE)
def test_a_hostile_value_aimed_at_any_field_leaves_the_line_json(
    variable: str, attempt: str
) -> None:
    values = NORMAL | {variable: written(variable, attempt)}

    line = render(access_log_format(), values)

    assert json.loads(line) == _expected(values)


@pytest.mark.parametrize("attempt", HOSTILE, ids=repr)
def test_hostile_values_aimed_at_every_field_at_once_leave_the_line_json(attempt: str) -> None:
    values = NORMAL | {v: written(v, attempt) for v in CLIENT_REACHABLE}

    assert json.loads(render(access_log_format(), values)) == _expected(values)


@pytest.mark.parametrize(
    "attempt", [a for a in HOSTILE if set(a) & {'"', "\\"} or any(ord(c) < 0x20 for c in a)]
)
@pytest.mark.parametrize("variable", sorted(PINNED_VARIABLES))
def test_no_field_admits_a_quote_a_backslash_or_a_control_character(
    variable: str, attempt: str
) -> None:
    assert re.fullmatch(SAFE_VALUES[variable], attempt) is None


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {v: st.from_regex(f"(?:{pattern})", fullmatch=True) for v, pattern in SAFE_VALUES.items()}
    )
)
def test_any_value_api_gateway_can_write_parses_back(values: dict[str, str]) -> None:
    assert json.loads(render(access_log_format(), values)) == _expected(values)


@pytest.mark.parametrize(
    ("field", "variable"),
    [("userAgent", "$context.identity.userAgent"), ("path", "$context.path")],
)
def test_the_removed_fields_would_break_a_line_or_forge_its_fields(
    field: str, variable: str
) -> None:
    # the renderer and the assertion above can fail: the old format, rendered the same way
    log_format = json.dumps(ACCESS_LOG_FIELDS | {field: variable}, separators=(",", ":"))
    broken = render(log_format, NORMAL | {variable: 'curl/8 "x"'})
    forged = render(log_format, NORMAL | {variable: 'x","clientId":"victim'})

    with pytest.raises(json.JSONDecodeError):
        json.loads(broken)
    assert json.loads(forged)["clientId"] == "victim"

"""The access-log record format, pinned: the anomaly monitor and its offline replay parse it.

API Gateway writes each ``$context`` variable into the format as it is, without escaping
(nothing in the access-log format language escapes a value for JSON). A value holding a ``"``, a
backslash or a control character therefore makes the line invalid JSON, which Logs Insights and
the local parsers can only skip: a client that chose such a value would vanish from the
monitor. So the format holds only variables whose every value API Gateway can write is JSON-safe
inside a string (no ``"``, no backslash, no control character), and no text a client chooses.
Why each field is safe (field: ``$context.`` variable: what API Gateway writes there):

- ``requestId``: ``requestId``: a UUID. A client may send its own ``x-amzn-RequestId``; one that
  is not a UUID is logged as ``<uuid>_REPLACED_INVALID_REQUEST_ID`` (API Gateway's "Access
  logging for REST APIs").
- ``requestTimeEpoch``: ``requestTimeEpoch``: set by API Gateway, digits.
- ``sourceIp``: ``identity.sourceIp``: the address of the TCP peer (IPv4 or IPv6), set by AWS.
- ``clientId``: ``authorizer.claims.client_id``: a claim of a Cognito access token whose
  signature the authorizer verified, so the app client id Cognito generated (``[\\w+]+``); ``-``
  without a valid token. No client can forge it.
- ``apiKeyId``: ``identity.apiKeyId``: the id API Gateway generated for the key presented
  (letters and digits), ``-`` without one.
- ``httpMethod``: ``httpMethod``: DELETE, GET, HEAD, OPTIONS, PATCH, POST or PUT ("Variables for
  access logging"); an HTTP method is a token, which has no quote, backslash, space or control
  character.
- ``resourcePath``: ``resourcePath``: the route template the request matched, one of this API's
  own resources (``/v1/predict``), written by the operator, not the client; ``-`` for a path the
  API has no route for (no resource matched; the simulator writes the same).
- ``status``: ``status``: the status code sent, three digits.
- ``responseLength``, ``responseLatency``, ``integrationLatency``: the same names: bytes and
  milliseconds, digits or ``-``.
- ``errorType``: ``error.responseType``: a gateway response type (``THROTTLED``,
  ``WAF_FILTERED``...) or ``-``.
- ``wafResponseCode``: ``wafResponseCode``: ``WAF_ALLOW``, ``WAF_BLOCK``, ``WAF_LIMIT``... or
  ``-``.
- ``tlsVersion``: ``tlsVersion``: ``TLSv1.2``, ``TLSv1.3``... or ``-``.

``SAFE_VALUES`` holds, for each variable, the pattern of what API Gateway writes there; the
tests render the format with the most hostile values a client can cause and with values drawn
from these patterns, and parse every line back.

Left out on purpose, because a client writes them:

- ``$context.identity.userAgent`` (the ``User-Agent`` header, free text). Nothing in the monitor
  reads it (it is no feature: any client sets any value). For forensics, the WAF logs, on by
  default, keep every request's headers, ``User-Agent`` included, JSON-escaped by AWS (only the
  ``REDACTED_HEADERS`` of ``waf_logging`` are left out).
- ``$context.path`` (the request path as the client sent it: API Gateway keeps a REST API's
  path as received, percent-encoded or not, and does not escape it). The monitor counts distinct
  ``resourcePath`` values instead; a path scan shows as requests for no route (404 here) and, path
  by path, in the WAF logs (``httpRequest.uri``).
- Headers, query strings, the body (``$input``, ``$method.request``), ``$context.domainName``
  (the ``Host`` header), ``$context.identity.clientCert.*`` (a client certificate's subject is
  the client's to choose), ``$context.error.message`` and ``$context.error.validationErrorString``
  (they can quote the request), any other token claim, ``$context.authorizer.principalId``.

Every value is a string (API Gateway writes ``-`` where a variable has no value).
"""

from __future__ import annotations

import json

ACCESS_LOG_FIELDS: dict[str, str] = {
    "requestId": "$context.requestId",
    "requestTimeEpoch": "$context.requestTimeEpoch",
    "sourceIp": "$context.identity.sourceIp",
    "clientId": "$context.authorizer.claims.client_id",
    "apiKeyId": "$context.identity.apiKeyId",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "errorType": "$context.error.responseType",
    "wafResponseCode": "$context.wafResponseCode",
    "tlsVersion": "$context.tlsVersion",
}
"""Field name -> the ``$context`` variable API Gateway substitutes there."""

_DIGITS = r"[0-9]+"

SAFE_VALUES: dict[str, str] = {
    "$context.requestId": r"[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}"
    r"(_REPLACED_INVALID_REQUEST_ID)?",
    "$context.requestTimeEpoch": _DIGITS,
    "$context.identity.sourceIp": r"[0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9A-Fa-f:.]{2,45}",
    "$context.authorizer.claims.client_id": r"[\w+]{1,128}|-",
    "$context.identity.apiKeyId": r"[A-Za-z0-9]{1,64}|-",
    "$context.httpMethod": r"DELETE|GET|HEAD|OPTIONS|PATCH|POST|PUT",
    "$context.resourcePath": r"/([A-Za-z0-9._-]+|\{[A-Za-z0-9._-]+\+?\})"
    r"(/([A-Za-z0-9._-]+|\{[A-Za-z0-9._-]+\+?\}))*|/|-",
    "$context.status": r"[1-5][0-9]{2}",
    "$context.responseLength": _DIGITS + "|-",
    "$context.responseLatency": _DIGITS + "|-",
    "$context.integrationLatency": _DIGITS + "|-",
    "$context.error.responseType": r"[A-Z0-9_]{1,64}|-",
    "$context.wafResponseCode": r"WAF_[A-Z_]{1,32}|-",
    "$context.tlsVersion": r"TLSv1(\.[0-3])?|-",
}
"""Each allowed variable -> a pattern (matched whole) of every value API Gateway writes there.

The allowlist of the format: a variable is added here only with the evidence that no client can
put a ``"``, a backslash or a control character into it (the module docstring's table)."""


def access_log_format() -> str:
    """The JSON line API Gateway writes for each request, every value quoted as a string."""
    unsafe = sorted(set(ACCESS_LOG_FIELDS.values()) - set(SAFE_VALUES))
    if unsafe:
        raise ValueError(f"access-log variables not on the JSON-safe allowlist: {unsafe}")
    return json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))

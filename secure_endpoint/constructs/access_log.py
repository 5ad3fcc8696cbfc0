"""The access-log record format, pinned: the anomaly monitor and its offline replay parse it.

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
    "userAgent": "$context.identity.userAgent",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "errorType": "$context.error.responseType",
    "wafResponseCode": "$context.wafResponseCode",
    "tlsVersion": "$context.tlsVersion",
}


def access_log_format() -> str:
    """The JSON line API Gateway writes for each request, every value quoted as a string."""
    return json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))

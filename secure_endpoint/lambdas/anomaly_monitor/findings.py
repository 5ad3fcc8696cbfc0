"""From the decisions of a run to what the monitor does: findings, blocks, the alert, metrics.

Pure: plain data in, plain data out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from secure_endpoint.runtime.anomaly.detect import Detections
from secure_endpoint.runtime.blocklist import MAX_REASON, BlockRequest

SNS_SUBJECT_LIMIT = 100
DISABLE_API_KEY = "disable-api-key"
"""The action of a request to disable a client's API key (``lambdas/api_key_responder``)."""
REQUEST_VERSION = 1
MAX_REQUEST_REASONS = 10
REENABLE = (
    "aws apigateway update-api-key --api-key <apiKeyId of the client in the stack output "
    "ApiClients> --patch-operations op=replace,path=/enabled,value=true"
)


@dataclass(frozen=True)
class Finding:
    """A principal's worst anomalous window of the run."""

    principal: str
    kind: str  # "client" or "address"
    window_start: int
    score: float
    action: str  # "alert" or "block"
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "kind": self.kind,
            "windowStart": self.window_start,
            "score": round(self.score, 4),
            "action": self.action,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class Summary:
    """Per-run numbers: scores per client, the highest per kind, anomalous principals."""

    client_scores: dict[str, float] = field(default_factory=dict)
    max_client_score: float = 0.0
    max_address_score: float = 0.0
    anomalous_clients: int = 0
    anomalous_addresses: int = 0
    windows: int = 0


def findings(detections: Detections) -> list[Finding]:
    """One finding per anomalous principal (its highest-scoring window; a block wins), most
    anomalous first."""
    best: dict[tuple[str, str], Finding] = {}
    for row in detections.rows():
        if not row["anomalous"]:
            continue
        finding = Finding(
            row["principal"],
            row["kind"],
            int(row["windowStart"]),
            float(row["score"]),
            row["action"],
            tuple(row["reasons"]),
        )
        key = (finding.kind, finding.principal)
        if key not in best or _rank(finding) > _rank(best[key]):
            best[key] = finding
    return sorted(best.values(), key=lambda f: (-_rank(f)[0], -f.score, f.kind, f.principal))


def _rank(finding: Finding) -> tuple[int, float]:
    return (finding.action == "block", finding.score)


def summary(detections: Detections, anomalous: list[Finding]) -> Summary:
    scores: dict[str, float] = {}
    best = {"client": 0.0, "address": 0.0}
    for row in detections.rows():
        score = float(row["score"])
        if row["kind"] == "client":
            scores[row["principal"]] = max(score, scores.get(row["principal"], 0.0))
        best[row["kind"]] = max(best[row["kind"]], score)
    return Summary(
        client_scores=scores,
        max_client_score=best["client"],
        max_address_score=best["address"],
        anomalous_clients=sum(f.kind == "client" for f in anomalous),
        anomalous_addresses=sum(f.kind == "address" for f in anomalous),
        windows=len(detections),
    )


def block_requests(anomalous: list[Finding], ttl: timedelta) -> list[BlockRequest]:
    """Addresses whose action is ``block``, most anomalous first (``BlockList`` caps how many
    start per run and refuses the allowlist)."""
    requests = []
    for finding in anomalous:
        if finding.kind != "address" or finding.action != "block":
            continue
        reason = "; ".join(finding.reasons) or f"anomaly score {finding.score:.3f}"
        requests.append(BlockRequest(finding.principal, ttl, reason[:MAX_REASON]))
    return requests


@dataclass(frozen=True)
class KeyRequests:
    """The run's requests to disable clients' API keys: at most the cap, the rest deferred."""

    messages: dict[str, str] = field(default_factory=dict)  # client id -> request (JSON)
    deferred: tuple[str, ...] = ()


def key_requests(anomalous: list[Finding], window_seconds: int, limit: int) -> KeyRequests:
    """A request per client whose action is ``block`` (two flagged windows, or a blocking
    rule), most anomalous first, at most ``limit``; the rest are deferred (named in the alert).

    Each carries the Cognito client id and the window; the responder disables the client's API
    key (a no-op for a disabled key, so a retried run that repeats a request does no harm)."""
    clients = [f for f in anomalous if f.kind == "client" and f.action == "block"]
    messages = {
        f.principal: json.dumps(
            {
                "version": REQUEST_VERSION,
                "action": DISABLE_API_KEY,
                "clientId": f.principal,
                "windowStart": f.window_start,
                "windowEnd": f.window_start + window_seconds,
                "score": round(f.score, 4),
                "reasons": list(f.reasons[:MAX_REQUEST_REASONS]),
            }
        )
        for f in clients[:limit]
    }
    return KeyRequests(messages, tuple(f.principal for f in clients[limit:]))


def alert(
    anomalous: list[Finding],
    *,
    window_end: int,
    trained_on: str,
    blocked: list[str],
    refused: list[str],
    deferred: list[str],
    auto_block: bool,
    limit: int,
    disable_requested: tuple[str, ...] = (),
    disable_deferred: tuple[str, ...] = (),
) -> tuple[str, str]:
    """The subject and body (JSON, readable as is) of the run's SNS alert."""
    clients = sum(f.kind == "client" for f in anomalous)
    addresses = len(anomalous) - clients
    when = datetime.fromtimestamp(window_end, UTC).strftime("%Y-%m-%d %H:%M UTC")
    subject = f"secure-endpoint: {clients} anomalous clients, {addresses} addresses ({when})"
    revoke = [f.principal for f in anomalous if f.kind == "client" and f.action == "block"]
    body = {
        "windowEnd": window_end,
        "model": trained_on,
        "autoBlock": auto_block,
        "findings": [f.as_dict() for f in anomalous[:limit]],
        "findingsLeftOut": max(0, len(anomalous) - limit),
        "blocked": blocked,
        "refusedAllowlisted": refused,
        "deferredOverLimit": deferred,
        "apiKeyDisableRequested": list(disable_requested),
        "apiKeyDisableDeferred": list(disable_deferred),
        "next": [
            f"API key of client {name}: disabled by the responder (its alert confirms it, "
            f"with the key id); a false positive: {REENABLE}"
            for name in disable_requested
        ]
        + [f"secure-endpoint revoke-client {name}" for name in revoke]
        + (
            []
            if auto_block
            else [
                f"secure-endpoint block {f.principal} --ttl 1h"
                for f in anomalous
                if f.kind == "address" and f.action == "block"
            ][:limit]
        ),
        "runbook": "docs/runbook.md#anomaly-monitor",
    }
    return subject[:SNS_SUBJECT_LIMIT], json.dumps(body, indent=1)

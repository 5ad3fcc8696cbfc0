"""The payload half of the drift monitor's run: what it keeps, writes, says and asks for.

Pure: plain data in, plain data out (the handler reads and writes S3 and SNS). The detector
(``secure_endpoint.runtime.payload``) scores each client on what it sends; this module
- names and checks its state: the detector's npz bytes go to one of two slots,
  ``<state prefix>payload/state-a.npz`` and ``-b.npz``, the one the committed ``state.json``
  does not name, and ``state.json`` then names the new slot with its digest and the baseline it
  was learnt on. ``state.json`` is the commit: a run that stops before it leaves the previous
  slot, named and intact, and its retry overwrites the other one;
- writes the run's findings as JSON Lines (``Finding.to_json``, one a line);
- composes the alert (client, kind, evidence and the commands) and picks the clients to
  quarantine (at most ``max_per_run``, never one of ``never``, the worst first).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from secure_endpoint.runtime.capture.records import UNKNOWN_CLIENT, Capture
from secure_endpoint.runtime.payload.detector import UNKNOWN

KINDS = ("extraction", "probing", "out_of_distribution", "membership")
NOBODY = frozenset({"", "*", UNKNOWN_CLIENT, UNKNOWN})
"""Client ids that name no client: drift findings' ``*``, and the rows without a client id."""
STATE_VERSION = 1
SLOTS = ("a", "b")
SNS_SUBJECT_LIMIT = 100
SNS_MESSAGE_BUDGET = 200_000
"""Bytes of alert body kept under SNS's 256 KiB limit; findings past it are counted, not sent."""
MAX_EVIDENCE_CHARS = 2_000
QUARANTINE_ACTION = "quarantine-client"
"""The ``action`` message attribute of a quarantine request (``lambdas/quarantine_responder``)."""
REQUEST_VERSION = 1
RUNBOOK = "docs/runbook.md"


class Finding(Protocol):
    """What the detector reports (``secure_endpoint.runtime.payload.findings.Finding``)."""

    @property
    def client_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def first_seen(self) -> float: ...
    @property
    def score(self) -> float: ...
    @property
    def evidence(self) -> dict[str, Any]: ...
    @property
    def queries(self) -> int: ...

    def to_json(self) -> dict[str, Any]: ...


class Detector(Protocol):
    """``secure_endpoint.runtime.payload.detector.PayloadDetector``, as the run uses it."""

    def run(self, captures: Iterable[Capture], /) -> Sequence[Finding]: ...

    def state_bytes(self) -> bytes: ...

    def client_scores(self) -> Mapping[str, Mapping[str, float]]: ...


class PayloadStateError(ValueError):
    """The committed payload state cannot be used: missing, changed, or not the detector's."""


@dataclass(frozen=True)
class StateRef:
    """The payload part of ``state.json``: which slot holds the detector's state."""

    key: str
    sha256: str
    baseline: str  # the digest of the baseline manifest the state was learnt on

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "key": self.key,
            "sha256": self.sha256,
            "baseline": self.baseline,
        }

    @classmethod
    def from_json(cls, document: object, state_prefix: str) -> StateRef | None:
        if document is None:
            return None
        if not isinstance(document, dict) or document.get("version") != STATE_VERSION:
            raise PayloadStateError(f"the payload state is not a version {STATE_VERSION} state")
        key, digest, baseline = (str(document.get(k) or "") for k in ("key", "sha256", "baseline"))
        if not (key and digest and baseline):
            raise PayloadStateError("the payload state lacks its key, sha256 or baseline")
        if key not in {slot_key(state_prefix, slot) for slot in SLOTS}:
            raise PayloadStateError(f"the payload state names {key!r}, not one of its slots")
        return cls(key, digest, baseline)


def slot_key(state_prefix: str, slot: str) -> str:
    return f"{state_prefix}payload/state-{slot}.npz"


def next_slot(state_prefix: str, current: StateRef | None) -> str:
    """The slot the committed state does not name (the first one on a first run)."""
    first, second = (slot_key(state_prefix, s) for s in SLOTS)
    return second if current is not None and current.key == first else first


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def baseline_digest(manifest: Mapping[str, Any]) -> str:
    """Names the baseline a state was learnt on: a new baseline starts a new state."""
    return sha256(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode())


def checked_state(ref: StateRef, data: bytes | None) -> bytes:
    """The slot's bytes, when they are what ``state.json`` committed."""
    if data is None:
        raise PayloadStateError(f"{ref.key}, named by state.json, is missing")
    if sha256(data) != ref.sha256:
        raise PayloadStateError(f"{ref.key} does not match the digest state.json recorded")
    return data


@dataclass
class Tally:
    """What the payload side saw of the captures, counted as they stream past."""

    rows: int = 0
    unknown_rows: int = 0
    findings: list[Finding] = field(default_factory=list)

    def watch(self, captures: Iterable[Capture]) -> Iterator[Capture]:
        for capture in captures:
            self.rows += len(capture.rows)
            if capture.client_id in NOBODY:
                self.unknown_rows += len(capture.rows)
            yield capture


def findings_key(findings_prefix: str, window_end: str) -> str:
    """Where a run's payload findings go: by the time of its last object (a retry of the same
    window writes the same object)."""
    return f"{findings_prefix}{window_end}.payload.jsonl"


def jsonl(findings: Iterable[Finding]) -> bytes:
    return b"".join(
        json.dumps(f.to_json(), sort_keys=True, separators=(",", ":")).encode() + b"\n"
        for f in findings
    )


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class QuarantineSettings:
    """Automatic quarantine (``AutoQuarantine``); off when ``topic_arn`` is empty."""

    topic_arn: str = ""
    ttl_seconds: int = 86_400
    never: frozenset[str] = frozenset()  # client ids
    max_per_run: int = 3

    @property
    def enabled(self) -> bool:
        return bool(self.topic_arn)


@dataclass(frozen=True)
class Quarantines:
    """The clients a run asks the responder to quarantine, and those it holds back."""

    requested: dict[str, str] = field(default_factory=dict)  # client id -> request message
    never: tuple[str, ...] = ()
    deferred: tuple[str, ...] = ()


def quarantines(
    findings: Sequence[Finding], settings: QuarantineSettings, window_end: str
) -> Quarantines:
    """One request per flagged client, its worst finding first; never the unattributed rows'
    ``unknown`` client (it is nobody's key) nor a client on ``never``; at most ``max_per_run``,
    the highest scores first."""
    if not settings.enabled:
        return Quarantines()
    worst: dict[str, Finding] = {}
    for finding in findings:
        if finding.client_id in NOBODY:
            continue
        if finding.client_id not in worst or finding.score > worst[finding.client_id].score:
            worst[finding.client_id] = finding
    ranked = sorted(worst.values(), key=lambda f: (-f.score, f.client_id))
    never = tuple(f.client_id for f in ranked if f.client_id in settings.never)
    allowed = [f for f in ranked if f.client_id not in settings.never]
    chosen = allowed[: settings.max_per_run]
    requested = {
        f.client_id: json.dumps(
            {
                "version": REQUEST_VERSION,
                "clientId": f.client_id,
                "kind": f.kind,
                "score": round(float(f.score), 4),
                "ttlSeconds": settings.ttl_seconds,
                "windowEnd": window_end,
                "reason": f"payload {f.kind} (score {float(f.score):.3g})",
                "finding": {**f.to_json(), "evidence": _evidence(f.evidence)},
            },
            sort_keys=True,
        )
        for f in chosen
    }
    return Quarantines(requested, never, tuple(f.client_id for f in allowed[len(chosen) :]))


def _ttl(seconds: int) -> str:
    if seconds % 86_400 == 0:
        return f"{seconds // 86_400 * 24}h"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{max(1, seconds // 60)}m"


def _evidence(evidence: Mapping[str, Any]) -> Any:
    text = json.dumps(evidence, sort_keys=True, default=str)
    if len(text) <= MAX_EVIDENCE_CHARS:
        return json.loads(text)
    return {"truncated": text[:MAX_EVIDENCE_CHARS]}


def alert(
    findings: Sequence[Finding],
    *,
    window_end: str,
    names: Mapping[str, str],
    capture_url: str,
    findings_url: str,
    quarantine: QuarantineSettings,
    requested: Quarantines,
) -> tuple[str, str]:
    """The subject and body (JSON, readable as is) of the run's payload alert: per finding the
    client (its name where the endpoint knows it), the kind, the score, the evidence, and the
    commands that confirm and answer it."""
    kinds = sorted({f.kind for f in findings})
    clients = sorted({f.client_id for f in findings})
    subject = (
        f"secure-endpoint: payload {', '.join(kinds)} from {len(clients)} "
        f"client{'s' if len(clients) != 1 else ''} ({window_end})"
    )
    ttl = _ttl(quarantine.ttl_seconds)
    entries: list[dict[str, Any]] = []
    size = 0
    left_out = 0
    for f in sorted(findings, key=lambda f: (-float(f.score), f.client_id, f.kind)):
        name = names.get(f.client_id, f.client_id)
        attributable = f.client_id not in NOBODY
        entry = {
            "client": name,
            "clientId": f.client_id,
            "kind": f.kind,
            "score": round(float(f.score), 4),
            "queries": int(f.queries),
            "firstSeen": iso(float(f.first_seen)),
            "evidence": _evidence(f.evidence),
            "quarantine": (
                "requested (automatic)"
                if f.client_id in requested.requested
                else "never (on never_quarantine)"
                if f.client_id in requested.never
                else "deferred (over max_per_run)"
                if f.client_id in requested.deferred
                else "not automatic"
            ),
            "next": (
                [
                    f"secure-endpoint inspect-capture --capture {capture_url} --baseline "
                    "BASELINE_DIR --output findings.jsonl"
                    + (" --membership-key-file KEY_FILE" if f.kind == "membership" else ""),
                    f"secure-endpoint quarantine {name} --ttl {ttl}",
                    f"secure-endpoint revoke-client {name}",
                ]
                if attributable
                else [
                    "rows without a client id: check the request template "
                    "(inferenceId = client_id:requestId)"
                ]
            ),
            "runbook": f"{RUNBOOK}#payload-{f.kind.replace('_', '-')}",
        }
        cost = len(json.dumps(entry))
        if size + cost > SNS_MESSAGE_BUDGET:
            left_out += 1
            continue
        size += cost
        entries.append(entry)
    body = {
        "windowEnd": window_end,
        "findings": entries,
        "findingsLeftOut": left_out,
        "allFindings": findings_url,
        "autoQuarantine": quarantine.enabled,
        "quarantineRequested": sorted(requested.requested),
        "quarantineNever": list(requested.never),
        "quarantineDeferred": list(requested.deferred),
    }
    return subject[:SNS_SUBJECT_LIMIT], json.dumps(body, indent=1)


def top_scores(
    scores: Mapping[str, Mapping[str, float]], limit: int
) -> list[tuple[str, str, float]]:
    """(client, its worst kind, that score) for the ``limit`` highest-scoring clients."""
    rows = []
    for client, by_kind in scores.items():
        if not by_kind:
            continue
        kind = max(sorted(by_kind), key=lambda k: by_kind[k])
        rows.append((client, kind, float(by_kind[kind])))
    rows.sort(key=lambda row: (-row[2], row[0]))
    return rows[:limit]

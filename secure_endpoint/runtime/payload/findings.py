"""A per-client payload finding and its JSON Lines form.

One finding a line::

    {"client_id": "...", "kind": "extraction", "first_seen": "2026-12-07T12:00:00Z",
     "score": 12.3, "queries": 240, "evidence": {...}}

``first_seen`` is the capture time of the client's row at which the evidence first crossed the
threshold, ``queries`` how many rows the client had sent by then, ``score`` the evidence in
decimal digits (the negative base-10 logarithm of a bound on the chance that a client like the
others sends what this one sent), ``evidence`` the statistics behind it, named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Kind = Literal["extraction", "probing", "out_of_distribution", "membership"]
KINDS: tuple[Kind, ...] = ("extraction", "probing", "out_of_distribution", "membership")


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Finding:
    client_id: str
    kind: Kind
    first_seen: float
    """Epoch seconds (``to_json`` writes ISO 8601)."""
    score: float
    queries: int
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "kind": self.kind,
            "first_seen": iso(self.first_seen),
            "score": round(self.score, 2),
            "queries": self.queries,
            "evidence": self.evidence,
        }

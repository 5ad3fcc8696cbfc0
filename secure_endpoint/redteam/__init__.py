"""Red-team strategies against a model behind an oracle: extraction, boundary search,
out-of-distribution probing and membership probing (``strategies``).

A strategy is step-wise (``next_queries`` / ``observe``) so that the traffic simulator can pace
it inside a usage plan and ``secure-endpoint attack`` can loop it against an endpoint. numpy
only; scikit-learn is imported lazily by the extraction strategies' surrogate.
"""

from __future__ import annotations

from secure_endpoint.redteam.strategies import (
    FINDING_KINDS,
    KINDS,
    STRATEGIES,
    FeatureInfo,
    Knowledge,
    Oracle,
    Stopped,
    Strategy,
    run,
)

__all__ = [
    "FINDING_KINDS",
    "KINDS",
    "STRATEGIES",
    "FeatureInfo",
    "Knowledge",
    "Oracle",
    "Stopped",
    "Strategy",
    "run",
]

"""What the API returns with output hardening on: the mapping template's rules, in Python.

``ResponseHardening`` (secure_endpoint.constructs.response_hardening) writes these rules as the
VTL that API Gateway runs on every success response. This is the same thing on parsed JSON: the
reference the template is tested against (on random bodies), and what a local stand-in of the
API (a local model server, the red-team command against it) applies to answer as the deployed
API would. No CDK here.
"""

from __future__ import annotations

import math
from typing import Any

FIELDS = ("probabilities", "probability", "scores", "score")
"""The keys of a row object whose numbers are hardened (SageMaker's XGBoost and Linear Learner
write ``score``, Hugging Face pipelines ``score``, scikit-learn scripts ``probabilities``)."""
LABELS = ("label", "predicted_label")
"""The keys of a row object that hold its label, returned as the model wrote them."""
LABEL = "label"
"""The key of a label that ``label_only`` derives from the numbers."""
PREDICTIONS = "predictions"
EXACT_DIGITS = 15
"""Numbers of ``10**(EXACT_DIGITS - decimals)`` or more are refused, not rounded: rounding
counts whole ``10**-decimals`` units in a double, exact below 2**53 (about 9.007e15)."""


class Refused(ValueError):
    """A body the API answers with a 500 ``internal_error``: a shape the hardening does not
    understand, or a number it cannot round."""


def max_magnitude(decimals: int) -> int:
    """The smallest magnitude refused at ``decimals`` decimals (1e13 at 2)."""
    return int(10 ** (EXACT_DIGITS - decimals))


def harden(
    body: Any,
    *,
    probability_decimals: int | None = 2,
    top_k: int | None = None,
    label_only: bool = False,
    label_threshold: float = 0.5,
) -> Any:
    """``body`` (the model's answer, parsed) as the hardened API returns it; raises
    ``Refused`` where the API answers 500. The settings are ``ResponseHardening``'s, unchecked."""
    return _Hardening(probability_decimals, top_k, label_only, label_threshold).body(body)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Hardening:
    def __init__(
        self, decimals: int | None, top_k: int | None, label_only: bool, threshold: float
    ) -> None:
        self.decimals, self.top_k = decimals, top_k
        self.label_only, self.threshold = label_only, threshold

    def body(self, body: Any) -> Any:
        if isinstance(body, list):
            return [self.row(row) for row in body]
        if isinstance(body, dict) and list(body) == [PREDICTIONS]:
            rows = body[PREDICTIONS]
            if not isinstance(rows, list):
                raise Refused(f"{PREDICTIONS} is not a list")
            return {PREDICTIONS: [self.row(row) for row in rows]}
        if isinstance(body, dict) or _is_number(body):
            return self.row(body)
        raise Refused(f"not a shape the hardening knows: {type(body).__name__}")

    def row(self, row: Any) -> Any:
        if not isinstance(row, dict):
            return self.value(row)
        unknown = [key for key in row if key not in (*FIELDS, *LABELS)]
        if unknown or not row:
            raise Refused(f"a row object with keys {list(row)!r}")
        labels = {key: row[key] for key in LABELS if key in row}
        for label in labels.values():
            if not (isinstance(label, str | bool) or _is_number(label)):
                raise Refused(f"a label that is not a string, number or boolean: {label!r}")
        if self.label_only:
            if labels:
                return labels
            field = next((key for key in FIELDS if key in row), None)
            if field is None:
                raise Refused("a row object without a label or numbers")
            return {LABEL: self.value(row[field])}
        return {key: self.value(row[key]) for key in FIELDS if key in row} | labels

    def value(self, value: Any) -> Any:
        if _is_number(value):
            if not self.label_only:
                return self.rounded(value)
            if not 0 <= value <= 1:
                raise Refused(f"label_only: {value!r} is not a probability")
            return 1 if value >= self.threshold else 0
        if not isinstance(value, list) or not all(_is_number(v) for v in value):
            raise Refused(f"neither a number nor a list of numbers: {value!r:.80}")
        if self.label_only:
            if not value:
                raise Refused("label_only: an empty list has no largest value")
            return self.top(value, 1)[0]
        keep = set(range(len(value)) if self.top_k is None else self.top(value, self.top_k))
        return [self.rounded(v) if i in keep else self.zero() for i, v in enumerate(value)]

    @staticmethod
    def top(values: list[Any], k: int) -> list[int]:
        """The indexes of the ``k`` largest, largest first; ties to the lower index."""
        return sorted(range(len(values)), key=lambda i: (-values[i], i))[:k]

    def zero(self) -> float | int:
        return 0.0 if self.decimals else 0

    def rounded(self, x: float) -> float | int:
        decimals = self.decimals
        if decimals is None:
            return x
        magnitude = abs(x)
        if not math.isfinite(magnitude) or magnitude >= max_magnitude(decimals):
            raise Refused(f"{x!r} is too large to round to {decimals} decimals")
        scale = 10**decimals
        units = int(magnitude * float(scale) + 0.5)  # what the template's longValue() keeps
        sign = "-" if x < 0 and units > 0 else ""
        if not decimals:
            return int(f"{sign}{units}")
        return float(f"{sign}{units // scale}.{units % scale:0{decimals}d}")

"""The baseline's documents: Model Monitor's ``statistics.json``, ``constraints.json`` and
``constraint_violations.json`` (field names as documented, see the package docstring), and our
``reference.json``.

``reference.json`` (``REFERENCE_FORMAT``, version 1) is what the gateway constraints, the drift
function and the per-client detectors need beyond Model Monitor's files::

    {"format": "secure-endpoint/baseline-reference", "version": 1,
     "row_width": int, "feature_names": [...], "label_column": str | null,
     "source": {"format": "csv" | "parquet" | "jsonl", "file_name": str},
     "rows": {"count": int, "complete": int (rows with no missing cell)},
     "record_rows": null | {"records": int, "min": int, "max": int, "mean": float,
                            "p99": int, "counts": {"<rows>": records, ...}},
     "quantile_probabilities": [0.0, 0.01, ..., 1.0],
     "integer_positions": [int], "categorical_positions": [int],
     "one_hot_groups": [{"name", "positions": [int], "detected_by": "prefix" | "sum"}],
     "features": [{"name", "position", "inferred_type", "kind", "num_present", "num_missing",
                   "completeness", "min", "max", "mean", "std_dev", "whole_valued",
                   "quantiles": [101 numbers] | null,
                   "values": [numbers] | null, "value_counts": [int] | null,
                   "text_values": [str] | null, "text_counts": [int] | null,
                   "distinct_count": int | null, "distinct_exact": bool,
                   "one_hot_group": str | null}]}

``quantiles`` are the KLL estimates at ``quantile_probabilities`` (percentiles): the CDF for the
Linf distance and equal-mass bins for PSI. ``values`` (numbers, with ``value_counts``) are kept
when a feature has at most 32 distinct values; ``categorical_positions`` are the binary, one-hot
and String features. ``record_rows`` (rows per request) is known from JSON Lines input only.
JSON only, never pickle: ``parse_reference`` checks the shape before anything uses it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from secure_endpoint.runtime.baseline.profile import FeatureProfile, Profile

STATISTICS_VERSION = 0
CONSTRAINTS_VERSION = 0
REFERENCE_FORMAT = "secure-endpoint/baseline-reference"
REFERENCE_VERSION = 1
BUCKETS = 10
"""Model Monitor materializes each numerical distribution in 10 buckets."""
QUANTILE_PROBABILITIES = tuple(i / 100 for i in range(101))
DEFAULT_DRIFT_THRESHOLD = 0.1
"""Model Monitor's default ``comparison_threshold``."""
CHECK_TYPES = (
    "data_type_check",
    "completeness_check",
    "baseline_drift_check",
    "missing_column_check",
    "extra_column_check",
    "categorical_values_check",
)
"""``constraint_violations.json``'s ``constraint_check_type`` values."""
DOMAIN_CAP = 32
"""String features with at most this many distinct values get ``string_constraints.domains``."""


def statistics(profile: Profile) -> dict[str, Any]:
    """Model Monitor's ``statistics.json`` for ``profile``."""
    return {
        "version": STATISTICS_VERSION,
        "dataset": {"item_count": profile.rows},
        "features": [_feature_statistics(feature) for feature in profile.features],
    }


def _common(feature: FeatureProfile) -> dict[str, int]:
    return {"num_present": feature.num_present, "num_missing": feature.num_missing}


def _feature_statistics(feature: FeatureProfile) -> dict[str, Any]:
    if feature.inferred_type == "String":
        return {
            "name": feature.name,
            "inferred_type": "String",
            "string_statistics": {
                "common": _common(feature),
                "distinct_count": feature.distinct_count or 0,
                "distribution": {
                    "categorical": {
                        "buckets": [
                            {"value": value, "count": count}
                            for value, count in (feature.text_values or {}).items()
                        ]
                    }
                },
            },
        }
    assert feature.sketch is not None
    assert feature.min is not None
    assert feature.max is not None
    return {
        "name": feature.name,
        "inferred_type": feature.inferred_type,
        "numerical_statistics": {
            "common": _common(feature),
            "mean": feature.mean,
            "sum": feature.sum,
            "std_dev": feature.std_dev,
            "min": feature.min,
            "max": feature.max,
            "distribution": {
                "kll": {
                    "buckets": _buckets(feature),
                    "sketch": feature.sketch.to_json(),
                }
            },
        },
    }


def _buckets(feature: FeatureProfile) -> list[dict[str, float]]:
    """10 buckets of equal width from min to max: the first closed, the others open below;
    counted exactly for a feature of few distinct values, else from the sketch."""
    assert feature.sketch is not None
    assert feature.min is not None
    assert feature.max is not None
    low, high = feature.min, feature.max
    if low == high:
        return [{"lower_bound": low, "upper_bound": high, "count": float(feature.numbers)}]
    edges = np.linspace(low, high, BUCKETS + 1)
    if feature.values is not None:  # few distinct values, counted exactly
        where = np.minimum(np.searchsorted(edges[1:], list(feature.values)), BUCKETS - 1)
        counts = np.bincount(where, weights=list(feature.values.values()), minlength=BUCKETS)
    else:
        below = np.rint(feature.sketch.cdf(edges[1:]) * feature.numbers)
        below[-1] = feature.numbers
        counts = np.diff(np.concatenate([[0.0], below]))
    return [
        {"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": float(count)}
        for i, count in enumerate(counts)
    ]


def constraints(
    profile: Profile, *, drift_threshold: float = DEFAULT_DRIFT_THRESHOLD
) -> dict[str, Any]:
    """Model Monitor's ``constraints.json``: what the training data implies, per feature, and
    the monitoring configuration with ``drift_threshold`` as the ``comparison_threshold``."""
    if not 0 < drift_threshold <= 1:
        raise ValueError(f"drift threshold must be in (0, 1], got {drift_threshold}")
    features = []
    for feature in profile.features:
        entry: dict[str, Any] = {
            "name": feature.name,
            "inferred_type": feature.inferred_type,
            "completeness": feature.num_present / profile.rows,
        }
        if feature.inferred_type == "String":
            if feature.text_values is not None and len(feature.text_values) <= DOMAIN_CAP:
                entry["string_constraints"] = {"domains": sorted(feature.text_values)}
        else:
            assert feature.min is not None
            entry["num_constraints"] = {"is_non_negative": feature.min >= 0}
        features.append(entry)
    return {
        "version": CONSTRAINTS_VERSION,
        "features": features,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": 0.1,
            "domain_content_threshold": 0.1,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": drift_threshold,
                "comparison_method": "Robust",
                "categorical_comparison_threshold": drift_threshold,
                "categorical_drift_method": "LInfinity",
            },
        },
    }


def violation(feature_name: str, constraint_check_type: str, description: str) -> dict[str, str]:
    """One entry of ``constraint_violations.json``."""
    if constraint_check_type not in CHECK_TYPES:
        raise ValueError(
            f"constraint_check_type must be one of {', '.join(CHECK_TYPES)}, "
            f"got {constraint_check_type!r}"
        )
    return {
        "feature_name": feature_name,
        "constraint_check_type": constraint_check_type,
        "description": description,
    }


def violations(entries: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """Model Monitor's ``constraint_violations.json``."""
    return {"violations": [dict(entry) for entry in entries]}


def reference(
    profile: Profile, *, source_format: str, file_name: str, label_column: str | None
) -> dict[str, Any]:
    """Our ``reference.json`` (see the module docstring)."""
    features = []
    for feature in profile.features:
        quantiles = (
            feature.sketch.quantiles(QUANTILE_PROBABILITIES).tolist() if feature.sketch else None
        )
        features.append(
            {
                "name": feature.name,
                "position": feature.index,
                "inferred_type": feature.inferred_type,
                "kind": feature.kind,
                "num_present": feature.num_present,
                "num_missing": feature.num_missing,
                "completeness": feature.num_present / profile.rows,
                "min": feature.min,
                "max": feature.max,
                "mean": feature.mean,
                "std_dev": feature.std_dev,
                "whole_valued": feature.whole_valued,
                "quantiles": quantiles,
                "values": _numbers(feature),
                "value_counts": list(feature.values.values())
                if feature.values is not None
                else None,
                "text_values": list(feature.text_values)
                if feature.text_values is not None
                else None,
                "text_counts": (
                    list(feature.text_values.values()) if feature.text_values is not None else None
                ),
                "distinct_count": feature.distinct_count,
                "distinct_exact": feature.distinct_exact,
                "one_hot_group": feature.one_hot_group,
            }
        )
    return {
        "format": REFERENCE_FORMAT,
        "version": REFERENCE_VERSION,
        "row_width": len(profile.names),
        "feature_names": list(profile.names),
        "label_column": label_column,
        "source": {"format": source_format, "file_name": file_name},
        "rows": {"count": profile.rows, "complete": profile.complete_rows},
        "record_rows": _record_rows(profile.record_rows),
        "quantile_probabilities": list(QUANTILE_PROBABILITIES),
        "integer_positions": [f.index for f in profile.features if f.inferred_type == "Integral"],
        "categorical_positions": [
            f.index for f in profile.features if f.kind in ("binary", "one_hot", "string")
        ],
        "one_hot_groups": [
            {"name": g.name, "positions": list(g.indices), "detected_by": g.detected_by}
            for g in profile.one_hot_groups
        ],
        "features": features,
    }


def _numbers(feature: FeatureProfile) -> list[float | int] | None:
    """The distinct numbers, as integers where the feature's numbers are all whole."""
    if feature.values is None:
        return None
    return [int(v) if feature.whole_valued else v for v in feature.values]


def _record_rows(counts: Mapping[int, int] | None) -> dict[str, Any] | None:
    if not counts:
        return None
    sizes = np.repeat(np.array(list(counts), dtype=np.int64), list(counts.values()))
    return {
        "records": len(sizes),
        "min": int(sizes.min()),
        "max": int(sizes.max()),
        "mean": float(sizes.mean()),
        "p99": int(np.quantile(sizes, 0.99, method="higher")),
        "counts": {str(size): count for size, count in counts.items()},
    }


def parse_reference(document: Any) -> dict[str, Any]:
    """``reference.json``'s content, checked: the right format and version, one feature per
    position with the fields the detectors read. Raises ``ValueError`` naming what is wrong."""
    if not isinstance(document, dict) or document.get("format") != REFERENCE_FORMAT:
        raise ValueError(f"reference.json: not a {REFERENCE_FORMAT} document")
    if document.get("version") != REFERENCE_VERSION:
        raise ValueError(
            f"reference.json: version {document.get('version')!r}, this code reads "
            f"{REFERENCE_VERSION}"
        )
    width, names, features = (
        document.get(key) for key in ("row_width", "feature_names", "features")
    )
    if not (
        isinstance(width, int)
        and isinstance(names, list)
        and isinstance(features, list)
        and len(names) == len(features) == width
    ):
        raise ValueError("reference.json: row_width, feature_names and features disagree")
    required = ("name", "position", "inferred_type", "kind", "min", "max", "quantiles", "values")
    for position, feature in enumerate(features):
        if not isinstance(feature, dict) or any(key not in feature for key in required):
            raise ValueError(f"reference.json: feature {position} lacks one of {required}")
        if feature["position"] != position or feature["name"] != names[position]:
            raise ValueError(f"reference.json: feature {position} is out of place")
        quantiles = feature["quantiles"]
        if quantiles is not None and (
            len(quantiles) != len(document.get("quantile_probabilities", []))
            or any(b < a for a, b in itertools.pairwise(quantiles))
        ):
            raise ValueError(f"reference.json: feature {feature['name']!r} has bad quantiles")
    return document

"""A training baseline in SageMaker Model Monitor's documented data-quality formats, for tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# (name, inferred type, min, max, non-negative, completeness, domain)
FEATURES: list[tuple[str, str, float, float, bool, float, list[str] | None]] = [
    ("tenure_months", "Integral", 0, 72, True, 1.0, None),
    ("monthly_charges", "Fractional", 18.25, 118.75, True, 1.0, None),
    ("balance_delta", "Fractional", -40.0, 60.0, False, 1.0, None),
    ("support_calls", "Integral", 0, 9, True, 0.97, None),  # had missing values
    ("region_eu", "Integral", 0, 1, True, 1.0, None),
    ("region_us", "Integral", 0, 1, True, 1.0, None),
]


def write_baseline(directory: Path, features: list[Any] = FEATURES) -> Path:
    """A baseline in Model Monitor's documented data-quality formats."""
    statistics = {
        "version": 0.0,
        "dataset": {"item_count": 1000},
        "features": [
            {
                "name": name,
                "inferred_type": kind,
                "numerical_statistics": {
                    "common": {"num_present": 1000, "num_missing": 0},
                    "mean": (low + high) / 2,
                    "sum": (low + high) * 500,
                    "std_dev": (high - low) / 4,
                    "min": low,
                    "max": high,
                },
            }
            for name, kind, low, high, _, _, _ in features
        ],
    }
    constraints = {
        "version": 0.0,
        "features": [
            {
                "name": name,
                "inferred_type": kind,
                "completeness": completeness,
                **(
                    {"num_constraints": {"is_non_negative": non_negative}}
                    if kind != "String"
                    else {}
                ),
                **({"string_constraints": {"domains": domain}} if domain else {}),
            }
            for name, kind, _, _, non_negative, completeness, domain in features
        ],
        "monitoring_config": {"evaluate_constraints": "Enabled", "emit_metrics": "Enabled"},
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "statistics.json").write_text(json.dumps(statistics))
    (directory / "constraints.json").write_text(json.dumps(constraints))
    return directory

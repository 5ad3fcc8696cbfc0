"""The baseline's files against SageMaker Model Monitor's documented formats.

The schemas below are written from the documentation pages, field by field (names, nesting,
enumerated values), and close every object (``additionalProperties: false``) so that a misspelt
or invented field fails:

- statistics.json: https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-interpreting-statistics.html
  (and model-monitor-byoc-statistics.html, the same schema);
- constraints.json: https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-constraints.html;
- constraint_violations.json:
  https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-interpreting-violations.html.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from secure_endpoint.runtime.baseline import formats, store
from secure_endpoint.runtime.baseline.profile import Profiler
from secure_endpoint.runtime.baseline.readers import open_training


def closed(properties: dict, required: list[str] | None = None) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": required if required is not None else list(properties),
        "additionalProperties": False,
    }


NUMBER = {"type": "number"}
COMMON = closed({"num_present": NUMBER, "num_missing": NUMBER})

STATISTICS_SCHEMA = closed(
    {
        "version": NUMBER,
        "dataset": closed({"item_count": NUMBER}),
        "features": {
            "type": "array",
            "items": {
                "oneOf": [
                    closed(
                        {
                            "name": {"type": "string"},
                            "inferred_type": {"enum": ["Fractional", "Integral"]},
                            "numerical_statistics": closed(
                                {
                                    "common": COMMON,
                                    "mean": NUMBER,
                                    "sum": NUMBER,
                                    "std_dev": NUMBER,
                                    "min": NUMBER,
                                    "max": NUMBER,
                                    "distribution": closed(
                                        {
                                            "kll": closed(
                                                {
                                                    "buckets": {
                                                        "type": "array",
                                                        "items": closed(
                                                            {
                                                                "lower_bound": NUMBER,
                                                                "upper_bound": NUMBER,
                                                                "count": NUMBER,
                                                            }
                                                        ),
                                                    },
                                                    "sketch": closed(
                                                        {
                                                            "parameters": closed(
                                                                {"c": NUMBER, "k": NUMBER}
                                                            ),
                                                            "data": {
                                                                "type": "array",
                                                                "items": {
                                                                    "type": "array",
                                                                    "items": NUMBER,
                                                                },
                                                            },
                                                        }
                                                    ),
                                                }
                                            )
                                        }
                                    ),
                                }
                            ),
                        }
                    ),
                    closed(
                        {
                            "name": {"type": "string"},
                            "inferred_type": {"const": "String"},
                            "string_statistics": closed(
                                {
                                    "common": COMMON,
                                    "distinct_count": NUMBER,
                                    "distribution": closed(
                                        {
                                            "categorical": closed(
                                                {
                                                    "buckets": {
                                                        "type": "array",
                                                        "items": closed(
                                                            {
                                                                "value": {"type": "string"},
                                                                "count": NUMBER,
                                                            }
                                                        ),
                                                    }
                                                }
                                            )
                                        }
                                    ),
                                }
                            ),
                        }
                    ),
                ]
            },
        },
    }
)

ENABLED = {"enum": ["Enabled", "Disabled"]}
CONSTRAINTS_SCHEMA = closed(
    {
        "version": NUMBER,
        "features": {
            "type": "array",
            "items": closed(
                {
                    "name": {"type": "string"},
                    "inferred_type": {"enum": ["Integral", "Fractional", "String", "Unknown"]},
                    "completeness": {"type": "number", "minimum": 0, "maximum": 1},
                    "num_constraints": closed({"is_non_negative": {"type": "boolean"}}),
                    "string_constraints": closed(
                        {"domains": {"type": "array", "items": {"type": "string"}}}
                    ),
                    "monitoringConfigOverrides": {"type": "object"},
                },
                required=["name", "inferred_type", "completeness"],
            ),
        },
        "monitoring_config": closed(
            {
                "evaluate_constraints": ENABLED,
                "emit_metrics": ENABLED,
                "datatype_check_threshold": NUMBER,
                "domain_content_threshold": NUMBER,
                "distribution_constraints": closed(
                    {
                        "perform_comparison": ENABLED,
                        "comparison_threshold": NUMBER,
                        "comparison_method": {"enum": ["Simple", "Robust"]},
                        "categorical_comparison_threshold": NUMBER,
                        "categorical_drift_method": {"enum": ["LInfinity", "ChiSquared"]},
                    }
                ),
            }
        ),
    }
)

VIOLATIONS_SCHEMA = closed(
    {
        "violations": {
            "type": "array",
            "items": closed(
                {
                    "feature_name": {"type": "string"},
                    "constraint_check_type": {
                        "enum": [
                            "data_type_check",
                            "completeness_check",
                            "baseline_drift_check",
                            "missing_column_check",
                            "extra_column_check",
                            "categorical_values_check",
                        ]
                    },
                    "description": {"type": "string"},
                }
            ),
        }
    }
)


@pytest.fixture(scope="module")
def baseline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A baseline of every kind of feature: fractional, integral, one-hot, binary, string."""
    directory = tmp_path_factory.mktemp("formats")
    rng = np.random.default_rng(3)
    lines = ["x,count,color_red,color_blue,flag,city,label"]
    for i in range(3000):
        red = int(rng.integers(2))
        x = "" if i % 100 == 0 else f"{rng.normal():.5f}"
        city = ("paris", "oslo", "lima")[i % 3]
        lines.append(f"{x},{rng.poisson(4)},{red},{1 - red},{rng.integers(2)},{city},{i % 2}")
    (directory / "train.csv").write_text("\n".join(lines) + "\n")
    data = open_training(directory / "train.csv", label_column="label")
    profiler = Profiler(data.names, k=64)
    for block in data:
        profiler.update(block)
    profile = profiler.finish()
    files = store.documents(
        profile,
        drift_threshold=0.2,
        source_format="csv",
        file_name="train.csv",
        label_column="label",
    )
    store.write_baseline(directory / "baseline", files)
    return directory / "baseline"


def load(directory: Path, name: str) -> dict:
    return json.loads((directory / name).read_text())


def test_statistics_json_follows_the_documented_schema(baseline_dir):
    statistics = load(baseline_dir, "statistics.json")
    jsonschema.validate(statistics, STATISTICS_SCHEMA)
    types = {f["name"]: f["inferred_type"] for f in statistics["features"]}
    assert types == {
        "x": "Fractional",
        "count": "Integral",
        "color_red": "Integral",
        "color_blue": "Integral",
        "flag": "Integral",
        "city": "String",
    }
    assert statistics["dataset"] == {"item_count": 3000}


def test_constraints_json_follows_the_documented_schema(baseline_dir):
    constraints = load(baseline_dir, "constraints.json")
    jsonschema.validate(constraints, CONSTRAINTS_SCHEMA)
    by_name = {f["name"]: f for f in constraints["features"]}
    assert by_name["x"]["completeness"] == pytest.approx(0.99)
    assert by_name["x"]["num_constraints"] == {"is_non_negative": False}
    assert by_name["count"]["num_constraints"] == {"is_non_negative": True}
    assert by_name["city"]["string_constraints"] == {"domains": ["lima", "oslo", "paris"]}
    distribution = constraints["monitoring_config"]["distribution_constraints"]
    assert distribution["comparison_threshold"] == 0.2
    assert distribution["comparison_method"] == "Robust"


def test_violations_follow_the_documented_schema():
    document = formats.violations(
        [
            formats.violation("x", "baseline_drift_check", "distance 0.3 exceeds 0.1"),
            formats.violation("city", "categorical_values_check", "12% unknown values"),
        ]
    )
    jsonschema.validate(document, VIOLATIONS_SCHEMA)
    assert document["violations"][0]["feature_name"] == "x"


def test_rejects_an_undocumented_check_type():
    with pytest.raises(ValueError, match="constraint_check_type must be one of"):
        formats.violation("x", "range_check", "out of range")


def test_the_schemas_catch_a_misnamed_field(baseline_dir):
    statistics = load(baseline_dir, "statistics.json")
    broken = copy.deepcopy(statistics)
    numbers = broken["features"][0]["numerical_statistics"]
    numbers["stddev"] = numbers.pop("std_dev")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, STATISTICS_SCHEMA)
    constraints = load(baseline_dir, "constraints.json")
    constraints["monitoring_config"]["distribution_constraints"]["comparion_method"] = "Simple"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(constraints, CONSTRAINTS_SCHEMA)


def test_buckets_are_ten_of_equal_width_counting_every_number(baseline_dir):
    statistics = load(baseline_dir, "statistics.json")
    x = statistics["features"][0]["numerical_statistics"]
    buckets = x["distribution"]["kll"]["buckets"]
    assert len(buckets) == 10
    assert buckets[0]["lower_bound"] == x["min"]
    assert buckets[-1]["upper_bound"] == x["max"]
    widths = [b["upper_bound"] - b["lower_bound"] for b in buckets]
    assert widths == pytest.approx([widths[0]] * 10)
    assert sum(b["count"] for b in buckets) == x["common"]["num_present"] == 2970


def test_buckets_of_a_feature_of_few_values_are_exact(baseline_dir):
    statistics = load(baseline_dir, "statistics.json")
    reference = load(baseline_dir, "reference.json")
    count = statistics["features"][1]["numerical_statistics"]
    feature = reference["features"][1]
    values = dict(zip(feature["values"], feature["value_counts"], strict=True))
    buckets = count["distribution"]["kll"]["buckets"]
    first = buckets[0]["upper_bound"]  # the first bucket is closed: min is in it
    assert buckets[0]["count"] == sum(c for v, c in values.items() if v <= first)
    for bucket in buckets[1:]:
        low, high = bucket["lower_bound"], bucket["upper_bound"]
        assert bucket["count"] == sum(c for v, c in values.items() if low < v <= high)


def test_the_sketch_in_statistics_reloads_with_its_weight(baseline_dir):
    baseline = store.load_baseline(baseline_dir)
    sketch = baseline.sketch("x")
    assert sketch.n == 2970
    assert sketch.k == 64
    assert sketch.c == 0.64
    assert sketch.quantiles([0, 1]).tolist() == [sketch.min, sketch.max]


def test_reference_json_names_groups_positions_and_quantiles(baseline_dir):
    reference = load(baseline_dir, "reference.json")
    assert formats.parse_reference(reference) is reference
    assert reference["row_width"] == 6
    assert reference["feature_names"] == ["x", "count", "color_red", "color_blue", "flag", "city"]
    assert reference["label_column"] == "label"
    assert reference["rows"] == {"count": 3000, "complete": 2970}
    assert reference["record_rows"] is None
    assert reference["one_hot_groups"] == [
        {"name": "color", "positions": [2, 3], "detected_by": "prefix"}
    ]
    assert reference["integer_positions"] == [1, 2, 3, 4]
    assert reference["categorical_positions"] == [2, 3, 4, 5]
    kinds = [f["kind"] for f in reference["features"]]
    assert kinds == ["fractional", "integral", "one_hot", "one_hot", "binary", "string"]
    flag = reference["features"][4]
    assert flag["values"] == [0, 1]
    assert sum(flag["value_counts"]) == 3000
    x = reference["features"][0]
    assert len(x["quantiles"]) == 101
    assert x["quantiles"][0] == x["min"]
    assert x["quantiles"][-1] == x["max"]
    assert reference["features"][5]["text_values"] == ["paris", "oslo", "lima"]
    assert reference["features"][5]["quantiles"] is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(format="other"), "not a secure-endpoint/baseline-reference"),
        (lambda r: r.update(version=2), "version 2"),
        (lambda r: r.update(row_width=5), "disagree"),
        (lambda r: r["features"][0].pop("quantiles"), "lacks one of"),
        (lambda r: r["features"].reverse(), "out of place"),
        (lambda r: r["features"][0]["quantiles"].reverse(), "bad quantiles"),
    ],
)
def test_parse_reference_refuses_a_malformed_reference(baseline_dir, change, message):
    reference = load(baseline_dir, "reference.json")
    change(reference)
    with pytest.raises(ValueError, match=message):
        formats.parse_reference(reference)

"""Input constraints at the gateway: the request model compiled from a training baseline.

A baseline in SageMaker Model Monitor's data-quality format (``statistics.json`` and
``constraints.json``, as ``secure-endpoint baseline`` or Model Monitor's own baselining job
writes them) says, per feature in the model's column order, its type, its range and, for a
string feature, its domain. ``InputConstraints`` turns that into the JSON Schema (draft 4) of the
API's request model, which API Gateway checks before anything reaches SageMaker:

- exact row width (one schema per position, no extra items);
- numbers only (``"NaN"`` or ``"1"`` as strings are refused), integers where the feature is
  ``Integral``;
- per position a minimum and maximum: the training range widened by ``margin`` times its
  width on each side (never below zero for a feature Model Monitor constrains as non-negative);
- the allowed values of a ``String`` feature (its ``string_constraints.domains``);
- ``null`` only where training data had missing values (``completeness`` below 1);
- at most ``max_rows`` rows per request.

A violation is answered 400 with the API's JSON error body, its ``detail`` API Gateway's own
validation message. What the schema cannot see (a row whose every value is in range but whose
combination is not, one-hot groups with two ones, drift) is for the drift monitor and the
payload inspector.

Model Monitor's formats:
https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-statistics.html and
https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-constraints.html
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aws_cdk import aws_apigateway as apigw

INTEGRAL, FRACTIONAL, STRING = "Integral", "Fractional", "String"
DEFAULT_MARGIN = 0.1
DEFAULT_MAX_ROWS = 1000
MAX_FEATURES = 10_000
"""The widest row the default schema takes; a baseline wider than this is refused."""


class InputFormat(enum.Enum):
    """The JSON request shape the endpoint takes."""

    ROWS = "rows"
    """A bare array of rows, ``[[...], ...]``: what the SageMaker framework containers read."""
    INSTANCES = "instances"
    """``{"instances": [[...], ...]}`` (TensorFlow Serving's row format, and many containers')."""
    INPUTS = "inputs"
    """``{"inputs": [[...], ...]}`` (TensorFlow Serving's columnar key, given rows)."""
    CSV = "csv"
    """A ``text/csv`` body of numbers, one row per line. API Gateway cannot check it against a
    schema: the WAF refuses a body holding anything but digits, signs, ``.``, ``e``/``E``,
    commas, spaces and line breaks; the width and ranges are left to the payload inspector."""

    @property
    def content_type(self) -> str:
        return "text/csv" if self is InputFormat.CSV else "application/json"


CSV_FORBIDDEN_CHARACTERS = r"[^0-9eE+.,\r\n \t-]"
"""What no CSV row of numbers holds: the WAF's check of a ``text/csv`` body (PCRE, as WAF)."""


@dataclass(frozen=True)
class FeatureOverride:
    """What to use for one feature instead of what the baseline implies (``None``: keep it).

    :param minimum: the smallest value accepted (no margin is added to it).
    :param maximum: the largest value accepted (no margin is added to it).
    :param integer: whether only whole numbers are accepted.
    :param allowed: the only values accepted (replaces the range).
    :param nullable: whether ``null`` is accepted.
    """

    minimum: float | None = None
    maximum: float | None = None
    integer: bool | None = None
    allowed: Sequence[float | str] | None = None
    nullable: bool | None = None


@dataclass(frozen=True)
class FeatureConstraint:
    """What the gateway accepts at one position of a row."""

    name: str
    kind: str  # Integral, Fractional or String
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[float | str, ...] | None = None
    nullable: bool = False

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"title": self.name}
        if self.allowed is not None:
            schema["enum"] = [*self.allowed, *([None] if self.nullable else [])]
            return schema
        base = {INTEGRAL: "integer", FRACTIONAL: "number", STRING: "string"}[self.kind]
        schema["type"] = [base, "null"] if self.nullable else base
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return schema


class BaselineError(ValueError):
    """The baseline cannot be read or does not describe a model's inputs; names file and field."""


@dataclass(frozen=True)
class InputConstraints:
    """The request model of the API, per feature (see the module).

    Build it with ``InputConstraints.from_baseline(directory)``; pass it to ``SecureEndpoint`` as
    ``input_constraints=``.

    :param features: the constraint of each position, in the model's column order.
    :param input_format: the JSON request shape. Default: - ``InputFormat.ROWS``
    :param max_rows: the most rows a request may hold. Default: - 1000
    """

    features: tuple[FeatureConstraint, ...]
    input_format: InputFormat = InputFormat.ROWS
    max_rows: int = DEFAULT_MAX_ROWS
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        features = tuple(self.features) if isinstance(self.features, list | tuple) else None
        if not features or not all(isinstance(f, FeatureConstraint) for f in features):
            raise ValueError(
                "input_constraints.features must be a non-empty sequence of FeatureConstraint "
                f"(InputConstraints.from_baseline builds them), got {self.features!r}"
            )
        object.__setattr__(self, "features", features)
        if not isinstance(self.input_format, InputFormat):
            raise ValueError(
                "input_constraints.input_format must be an InputFormat "
                f"({', '.join(f.name for f in InputFormat)}), got {self.input_format!r}"
            )
        strings = [f.name for f in features if f.kind == STRING]
        if self.input_format is InputFormat.CSV and strings:
            raise ValueError(
                "input_constraints: InputFormat.CSV takes numeric features only (the WAF checks "
                f"a text/csv body for digits and separators); {strings[:5]} are String features: "
                "send JSON, or override them"
            )
        if (
            not isinstance(self.max_rows, int)
            or isinstance(self.max_rows, bool)
            or not 1 <= self.max_rows <= 100_000
        ):
            raise ValueError(
                "input_constraints.max_rows must be a whole number from 1 to 100000, "
                f"got {self.max_rows!r}"
            )

    @classmethod
    def from_baseline(
        cls,
        directory: str | Path,
        *,
        margin: float = DEFAULT_MARGIN,
        overrides: Mapping[str, FeatureOverride] | None = None,
        input_format: InputFormat = InputFormat.ROWS,
        max_rows: int = DEFAULT_MAX_ROWS,
    ) -> InputConstraints:
        """The constraints of the baseline in ``directory`` (``statistics.json`` and
        ``constraints.json``), each range widened by ``margin`` times its width on each side,
        then ``overrides`` (by feature name) applied."""
        if (
            not isinstance(margin, int | float)
            or isinstance(margin, bool)
            or not (0 <= margin <= 10)
        ):
            raise ValueError(
                f"input constraints: margin must be a number from 0 to 10 (a fraction of each "
                f"feature's training range), got {margin!r}"
            )
        folder = Path(directory)
        _check_digests(folder)
        statistics = _read(folder / "statistics.json")
        constraints = _read(folder / "constraints.json")
        features = _features(statistics, constraints, folder, float(margin))
        if overrides:
            features = _apply(features, overrides)
        return cls(tuple(features), input_format, max_rows, source=str(folder))

    @property
    def width(self) -> int:
        return len(self.features)

    def json_schema(self) -> dict[str, Any]:
        """The request model as a JSON Schema draft 4 document (for the JSON input formats)."""
        if self.input_format is InputFormat.CSV:
            raise ValueError(
                "input constraints: a text/csv body has no JSON Schema; the WAF checks its "
                "characters (CSV_FORBIDDEN_CHARACTERS)"
            )
        row = {
            "type": "array",
            "minItems": self.width,
            "maxItems": self.width,
            "items": [feature.json_schema() for feature in self.features],
            "additionalItems": False,
        }
        rows = {"type": "array", "minItems": 1, "maxItems": self.max_rows, "items": row}
        top: dict[str, Any] = {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "title": "InferenceRequest",
            "description": f"Rows of the {self.width} features of the training baseline.",
        }
        if self.input_format is InputFormat.ROWS:
            return top | rows
        key = self.input_format.value
        return top | {
            "type": "object",
            "required": [key],
            "properties": {key: rows},
            "additionalProperties": False,
        }

    def request_schema(self) -> apigw.JsonSchema:
        """The request model as CDK's ``apigw.JsonSchema``, for the API's request model."""
        return _to_cdk(self.json_schema())


def _check_digests(folder: Path) -> None:
    """Refuse the two files when the baseline's ``manifest.json`` (``secure-endpoint baseline``
    writes one; Model Monitor's own job does not) records other SHA-256 digests. The manifest's
    HMAC, if any, is checked where the key is: ``runtime.baseline.store.load_baseline``."""
    path = folder / "manifest.json"
    if not path.exists():
        return
    try:
        listed = json.loads(path.read_text(encoding="utf-8"))["files"]
        for name in ("statistics.json", "constraints.json"):
            expected = listed[name]["sha256"]
            found = hashlib.sha256((folder / name).read_bytes()).hexdigest()
            if not hmac.compare_digest(str(expected), found):
                raise BaselineError(
                    f"input constraints: {folder / name} does not match its SHA-256 in "
                    f"{path} (damaged or changed since the baseline was built)"
                )
    except (OSError, ValueError, KeyError, TypeError) as error:
        if isinstance(error, BaselineError):
            raise
        raise BaselineError(f"input constraints: cannot check {path}: {error!r}") from None


def _read(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(
            f"input constraints: no {path.name} in {path.parent} (a baseline directory holds "
            "statistics.json and constraints.json: secure-endpoint baseline writes them)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BaselineError(f"input constraints: cannot read {path}: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("features"), list):
        raise BaselineError(f"input constraints: {path} has no 'features' list")
    return document


def _features(
    statistics: dict[str, Any], constraints: dict[str, Any], folder: Path, margin: float
) -> list[FeatureConstraint]:
    stats = _by_name(statistics["features"], folder / "statistics.json")
    rules = _by_name(constraints["features"], folder / "constraints.json")
    if list(stats) != list(rules):
        raise BaselineError(
            f"input constraints: statistics.json and constraints.json in {folder} name "
            f"different features ({list(stats)[:5]}... vs {list(rules)[:5]}...)"
        )
    if not stats:
        raise BaselineError(f"input constraints: the baseline in {folder} has no feature")
    if len(stats) > MAX_FEATURES:
        raise BaselineError(
            f"input constraints: the baseline in {folder} has {len(stats)} features; at most "
            f"{MAX_FEATURES} are supported"
        )
    return [_feature(name, stats[name], rules[name], folder, margin) for name in stats]


def _by_name(entries: list[Any], path: Path) -> dict[str, dict[str, Any]]:
    named: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            raise BaselineError(f"input constraints: {path} features[{index}] has no name")
        if name in named:
            raise BaselineError(f"input constraints: {path} names feature {name!r} twice")
        named[name] = entry
    return named


def _feature(
    name: str, stats: dict[str, Any], rules: dict[str, Any], folder: Path, margin: float
) -> FeatureConstraint:
    kind = rules.get("inferred_type", stats.get("inferred_type"))
    where = f"feature {name!r} of the baseline in {folder}"
    completeness = rules.get("completeness", 1.0)
    nullable = isinstance(completeness, int | float) and completeness < 1.0
    if kind == STRING:
        domains = (rules.get("string_constraints") or {}).get("domains")
        allowed = tuple(str(v) for v in domains) if isinstance(domains, list) and domains else None
        return FeatureConstraint(name, STRING, allowed=allowed, nullable=nullable)
    if kind not in (INTEGRAL, FRACTIONAL):
        raise BaselineError(
            f"input constraints: {where} has inferred_type {kind!r}; the gateway can constrain "
            "Integral, Fractional and String features (override the feature, or fix the data)"
        )
    numbers = stats.get("numerical_statistics") or {}
    low, high = _finite(numbers.get("min")), _finite(numbers.get("max"))
    if low is None or high is None:
        raise BaselineError(
            f"input constraints: {where} has no finite numerical_statistics min and max"
        )
    spread = (high - low) * margin
    minimum, maximum = low - spread, high + spread
    non_negative = (rules.get("num_constraints") or {}).get("is_non_negative") is True
    if non_negative:
        minimum = max(0.0, minimum)
    if kind == INTEGRAL:
        minimum, maximum = math.floor(minimum), math.ceil(maximum)
    return FeatureConstraint(name, kind, _tidy(minimum), _tidy(maximum), nullable=nullable)


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _tidy(value: float) -> float:
    """Whole numbers as ints (``3``, not ``3.0``), others rounded to 12 significant digits."""
    if float(value).is_integer():
        return int(value)
    return float(f"{value:.12g}")


def _apply(
    features: list[FeatureConstraint], overrides: Mapping[str, FeatureOverride]
) -> list[FeatureConstraint]:
    known = {feature.name for feature in features}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(
            f"input constraints: overrides name features the baseline does not have: {unknown} "
            f"(its features: {sorted(known)[:20]})"
        )
    result = []
    for feature in features:
        override = overrides.get(feature.name)
        if override is None:
            result.append(feature)
            continue
        if not isinstance(override, FeatureOverride):
            raise ValueError(
                f"input constraints: overrides[{feature.name!r}] must be a FeatureOverride, "
                f"got {override!r}"
            )
        changed = feature
        if override.integer is not None:
            changed = replace(changed, kind=INTEGRAL if override.integer else FRACTIONAL)
        if override.minimum is not None:
            changed = replace(changed, minimum=override.minimum)
        if override.maximum is not None:
            changed = replace(changed, maximum=override.maximum)
        if override.allowed is not None:
            changed = replace(changed, allowed=tuple(override.allowed))
        if override.nullable is not None:
            changed = replace(changed, nullable=override.nullable)
        if (
            changed.minimum is not None
            and changed.maximum is not None
            and changed.minimum > changed.maximum
        ):
            raise ValueError(
                f"input constraints: overrides[{feature.name!r}] gives minimum "
                f"{changed.minimum} above maximum {changed.maximum}"
            )
        result.append(changed)
    return result


_TYPES = {
    "array": apigw.JsonSchemaType.ARRAY,
    "object": apigw.JsonSchemaType.OBJECT,
    "number": apigw.JsonSchemaType.NUMBER,
    "integer": apigw.JsonSchemaType.INTEGER,
    "string": apigw.JsonSchemaType.STRING,
    "null": apigw.JsonSchemaType.NULL,
    "boolean": apigw.JsonSchemaType.BOOLEAN,
}


def _to_cdk(schema: Mapping[str, Any]) -> apigw.JsonSchema:
    """``schema`` (the subset ``InputConstraints`` writes) as an ``apigw.JsonSchema``."""
    options: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$schema":
            options["schema"] = apigw.JsonSchemaVersion.DRAFT4
        elif key == "type":
            types = [_TYPES[t] for t in ([value] if isinstance(value, str) else value)]
            options["type"] = types[0] if len(types) == 1 else types
        elif key == "items":
            options["items"] = (
                [_to_cdk(item) for item in value] if isinstance(value, list) else _to_cdk(value)
            )
        elif key == "properties":
            options["properties"] = {name: _to_cdk(inner) for name, inner in value.items()}
        else:
            options[_SNAKE[key]] = value
    return apigw.JsonSchema(**options)


_SNAKE = {
    "title": "title",
    "description": "description",
    "minItems": "min_items",
    "maxItems": "max_items",
    "additionalItems": "additional_items",
    "additionalProperties": "additional_properties",
    "required": "required",
    "minimum": "minimum",
    "maximum": "maximum",
    "enum": "enum",
}

"""The request model compiled from a Model Monitor-format baseline, checked as API Gateway would:
the schema in the synthesized template, run by a JSON Schema draft 4 validator on real bodies."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from aws_cdk import App, Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template
from baseline_files import FEATURES, write_baseline
from configurations import once
from endpoint_builder import synth_endpoint

from secure_endpoint import FeatureOverride, InputConstraints, InputFormat
from secure_endpoint.constructs.api import InferenceApi
from secure_endpoint.constructs.identity import OAuthIdentity
from secure_endpoint.constructs.input_constraints import BaselineError, FeatureConstraint
from secure_endpoint.constructs.keys import EncryptionKey
from secure_endpoint.constructs.options import ApiClient

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_baseline(tmp_path_factory.mktemp("baseline"))


class StandInEndpoint:
    endpoint_name = "model-endpoint"

    def grant_api_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        arn = f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:endpoint/model-endpoint"
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["sagemaker:InvokeEndpoint"], resource_arns=[arn]
        )


def synthesized_model(constraints: InputConstraints) -> dict[str, Any]:
    """The request model's schema as the template gives it to API Gateway."""
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, "ApiStack")
    identity = OAuthIdentity(stack, "Identity", clients=[ApiClient(name="a")])
    InferenceApi(
        stack,
        "Api",
        endpoint=StandInEndpoint(),  # type: ignore[arg-type]
        user_pool=identity.user_pool,
        invoke_scope=identity.invoke_scope,
        key=EncryptionKey(stack, "Key").key,
        request_schema=constraints.request_schema(),
    )
    models = Template.from_stack(stack).find_resources("AWS::ApiGateway::Model")
    (schema,) = [
        m["Properties"]["Schema"]
        for m in models.values()
        if m["Properties"]["Schema"].get("title") == "InferenceRequest"
    ]
    return schema


@pytest.fixture(scope="module")
def deployed_schema(baseline: Path) -> dict[str, Any]:
    return synthesized_model(InputConstraints.from_baseline(baseline, max_rows=50))


def errors(schema: dict[str, Any], body: Any) -> list[str]:
    validator = jsonschema.Draft4Validator(schema)
    return [error.message for error in validator.iter_errors(body)]


VALID = [12, 70.5, -3.25, 2, 1, 0]


def test_the_template_model_is_what_the_baseline_implies(baseline, deployed_schema):
    constraints = InputConstraints.from_baseline(baseline, max_rows=50)
    assert deployed_schema == constraints.json_schema()
    jsonschema.Draft4Validator.check_schema(deployed_schema)
    row = deployed_schema["items"]
    assert row["minItems"] == row["maxItems"] == 6
    assert row["additionalItems"] is False
    tenure, charges, delta, calls, eu, _ = row["items"]
    # the training range widened by 10% of its width each side, never below 0 if non-negative
    assert tenure == {"title": "tenure_months", "type": "integer", "minimum": 0, "maximum": 80}
    assert charges == {
        "title": "monthly_charges",
        "type": "number",
        "minimum": 8.2,
        "maximum": 128.8,
    }
    assert delta == {"title": "balance_delta", "type": "number", "minimum": -50, "maximum": 70}
    assert calls["type"] == ["integer", "null"]  # training data had missing values
    assert eu == {"title": "region_eu", "type": "integer", "minimum": 0, "maximum": 2}


@pytest.mark.parametrize(
    "body",
    [
        [VALID],
        [VALID, [0, 8.2, -50, None, 0, 1], [80, 128.8, 70, 9, 1, 0]],
        [[12, 70, -3, 2, 1, 0]],  # whole numbers are numbers
    ],
)
def test_rows_within_the_baseline_pass(deployed_schema, body):
    assert errors(deployed_schema, body) == []


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ([[12, 70.5, -3.25, 2, 1, 0, 5]], "too long"),
        ([[12, 70.5, -3.25, 2, 1]], "too short"),
        ([[12, 500.0, -3.25, 2, 1, 0]], "maximum"),
        ([[-1, 70.5, -3.25, 2, 1, 0]], "minimum"),
        ([[12.5, 70.5, -3.25, 2, 1, 0]], "integer"),
        ([["12", 70.5, -3.25, 2, 1, 0]], "string"),
        ([[12, "NaN", -3.25, 2, 1, 0]], "NaN"),
        ([[None, 70.5, -3.25, 2, 1, 0]], "null"),
        ([VALID] * 51, "too many rows"),
        ([], "no rows"),
        ({"instances": [VALID]}, "another shape"),
        ([[[12], 70.5, -3.25, 2, 1, 0]], "nested"),
    ],
)
def test_rows_outside_the_baseline_are_refused(deployed_schema, body, why):
    assert errors(deployed_schema, body), why


@pytest.mark.parametrize("shape", [InputFormat.INSTANCES, InputFormat.INPUTS])
def test_the_object_shapes_wrap_the_same_rows(baseline, shape):
    constraints = InputConstraints.from_baseline(baseline, input_format=shape)
    schema = constraints.json_schema()
    key = shape.value
    assert errors(schema, {key: [VALID]}) == []
    assert errors(schema, [VALID])  # the bare rows are not this shape
    assert errors(schema, {key: [VALID], "extra": 1})
    assert errors(schema, {key: [[*VALID, 1]]})
    assert errors(schema, {})


def test_the_object_shape_survives_the_cdk_rendering(baseline):
    constraints = InputConstraints.from_baseline(baseline, input_format=InputFormat.INSTANCES)
    assert synthesized_model(constraints) == constraints.json_schema()


def test_a_zero_margin_keeps_the_training_range(baseline):
    row = InputConstraints.from_baseline(baseline, margin=0).json_schema()["items"]["items"]
    assert row[1]["minimum"] == 18.25
    assert row[1]["maximum"] == 118.75
    assert row[2]["minimum"] == -40


def test_overrides_replace_what_the_baseline_implies(baseline):
    constraints = InputConstraints.from_baseline(
        baseline,
        overrides={
            "balance_delta": FeatureOverride(minimum=-1000, maximum=1000),
            "region_eu": FeatureOverride(allowed=[0, 1]),
            "support_calls": FeatureOverride(nullable=False),
            "tenure_months": FeatureOverride(integer=False),
        },
    )
    schema = constraints.json_schema()
    tenure, _, delta, calls, eu, _ = schema["items"]["items"]
    assert delta["minimum"] == -1000
    assert delta["maximum"] == 1000
    assert eu == {"title": "region_eu", "enum": [0, 1]}
    assert calls["type"] == "integer"
    assert tenure["type"] == "number"
    assert errors(schema, [[12.5, 70.5, 900, 2, 1, 0]]) == []
    assert errors(schema, [[12, 70.5, -3.25, 2, 2, 0]])  # region_eu: 0 or 1 only


def test_string_features_take_their_domain(tmp_path):
    features = [
        *FEATURES[:2],
        ("plan", "String", 0, 0, False, 1.0, ["basic", "premium"]),
    ]
    schema = InputConstraints.from_baseline(write_baseline(tmp_path, features)).json_schema()
    assert schema["items"]["items"][2] == {"title": "plan", "enum": ["basic", "premium"]}
    assert errors(schema, [[1, 20.0, "premium"]]) == []
    assert errors(schema, [[1, 20.0, "gold"]])


@pytest.fixture(scope="module")
def json_endpoint(baseline: Path) -> tuple[InputConstraints, Template]:
    """One endpoint under JSON input constraints, for the tests of its template."""
    constraints = InputConstraints.from_baseline(baseline)
    _, stack, _ = synth_endpoint(
        "Constrained", clients=[ApiClient(name="a")], input_constraints=constraints
    )
    return constraints, Template.from_stack(stack)


def test_the_schema_renders_into_the_endpoint_template(json_endpoint):
    constraints, template = json_endpoint
    models = template.find_resources("AWS::ApiGateway::Model")
    schemas = [m["Properties"]["Schema"] for m in models.values()]
    assert constraints.json_schema() in schemas


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: (d / "statistics.json").unlink(), "no statistics.json in"),
        (lambda d: (d / "constraints.json").write_text("{"), "cannot read"),
        (lambda d: (d / "constraints.json").write_text('{"features": 3}'), "no 'features' list"),
    ],
)
def test_a_broken_baseline_is_refused_naming_the_file(tmp_path, change, message):
    write_baseline(tmp_path)
    change(tmp_path)
    with pytest.raises(BaselineError, match=message):
        InputConstraints.from_baseline(tmp_path)


def test_the_two_files_must_name_the_same_features(tmp_path):
    write_baseline(tmp_path)
    constraints = json.loads((tmp_path / "constraints.json").read_text())
    constraints["features"] = constraints["features"][1:]
    (tmp_path / "constraints.json").write_text(json.dumps(constraints))
    with pytest.raises(BaselineError, match="name different features"):
        InputConstraints.from_baseline(tmp_path)


def test_a_feature_of_unknown_type_or_without_range_is_refused(tmp_path):
    write_baseline(tmp_path, [("x", "Unknown", 0, 1, False, 1.0, None)])
    with pytest.raises(BaselineError, match=r"feature 'x'.*inferred_type 'Unknown'"):
        InputConstraints.from_baseline(tmp_path)
    write_baseline(tmp_path, [("y", "Fractional", float("nan"), 1, False, 1.0, None)])
    with pytest.raises(BaselineError, match=r"feature 'y'.*no finite"):
        InputConstraints.from_baseline(tmp_path)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: InputConstraints.from_baseline(d, margin=-0.1), "margin must be a number"),
        (lambda d: InputConstraints.from_baseline(d, margin="10%"), "margin must be a number"),
        (lambda d: InputConstraints.from_baseline(d, max_rows=0), r"max_rows .* got 0"),
        (
            lambda d: InputConstraints.from_baseline(d, input_format="rows"),
            r"input_format must be an InputFormat \(ROWS, INSTANCES, INPUTS, CSV\), got 'rows'",
        ),
        (
            lambda d: InputConstraints.from_baseline(d, overrides={"nope": FeatureOverride()}),
            r"features the baseline does not have: \['nope'\]",
        ),
        (
            lambda d: InputConstraints.from_baseline(
                d, overrides={"tenure_months": FeatureOverride(minimum=5, maximum=1)}
            ),
            r"overrides\['tenure_months'\] gives minimum 5 above maximum 1",
        ),
        (
            lambda d: InputConstraints.from_baseline(
                d, overrides={"tenure_months": {"minimum": 1}}
            ),
            r"overrides\['tenure_months'\] must be a FeatureOverride",
        ),
        (lambda d: InputConstraints(features=()), "non-empty sequence of FeatureConstraint"),
        (
            lambda d: InputConstraints(
                features=(FeatureConstraint("a", "Fractional"),), max_rows=True
            ),
            "max_rows must be a whole number",
        ),
    ],
)
def test_bad_arguments_are_refused_by_name(baseline, call, message):
    with pytest.raises(ValueError, match=message):
        call(baseline)


# --- text/csv bodies: API Gateway passes them on, the WAF checks their characters --------------


def csv_configuration() -> dict[str, Any]:
    """An endpoint taking text/csv under CSV input constraints (a compliance matrix row)."""
    baseline = write_baseline(Path(tempfile.mkdtemp(prefix="csv-baseline-")))
    constraints = InputConstraints.from_baseline(baseline, input_format=InputFormat.CSV)
    app, stack, _ = synth_endpoint(
        "CsvConstrained", clients=[ApiClient(name="a")], input_constraints=constraints
    )
    return {"app": app, "template": Template.from_stack(stack)}


@pytest.fixture(scope="module")
def csv_endpoint() -> dict[str, Any]:
    return once(csv_configuration)


def csv_rule(template: Template) -> dict[str, Any]:
    (acl,) = template.find_resources("AWS::WAFv2::WebACL").values()
    (rule,) = [r for r in acl["Properties"]["Rules"] if r["Name"] == "CsvBodyCharacters"]
    return rule


def test_a_csv_endpoint_takes_text_csv_only_and_passes_it_on(csv_endpoint):
    template = csv_endpoint["template"]
    (method,) = [
        m["Properties"]
        for m in template.find_resources("AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "POST"
    ]
    integration = method["Integration"]
    assert list(integration["RequestTemplates"]) == ["text/csv"]
    assert integration["RequestParameters"]["integration.request.header.Content-Type"] == (
        "'text/csv'"
    )
    assert integration["PassthroughBehavior"] == "NEVER"  # any other type: 415
    assert "RequestModels" not in method  # API Gateway has no schema for CSV
    (media,) = template.find_resources(
        "AWS::ApiGateway::GatewayResponse",
        {"Properties": {"ResponseType": "UNSUPPORTED_MEDIA_TYPE"}},
    ).values()
    body = json.loads(media["Properties"]["ResponseTemplates"]["application/json"])
    assert body["message"] == "Send Content-Type: text/csv."


def test_the_waf_refuses_a_csv_body_with_anything_but_numbers(csv_endpoint):
    import re

    rule = csv_rule(csv_endpoint["template"])
    assert rule["Priority"] == 31  # after the body size rule (30), before the managed groups
    content_type, characters = rule["Statement"]["AndStatement"]["Statements"]
    match = content_type["ByteMatchStatement"]
    assert match["FieldToMatch"] == {"SingleHeader": {"Name": "content-type"}}
    assert match["PositionalConstraint"] == "STARTS_WITH"
    assert match["SearchString"] == "text/csv"
    assert match["TextTransformations"] == [{"Priority": 0, "Type": "LOWERCASE"}]
    regex = characters["RegexMatchStatement"]
    assert regex["FieldToMatch"] == {"Body": {"OversizeHandling": "CONTINUE"}}
    assert rule["Action"]["Block"]["CustomResponse"] == {
        "ResponseCode": 400,
        "CustomResponseBodyKey": "invalid_body",
    }
    forbidden = re.compile(regex["RegexString"])  # a character class: PCRE and re agree
    for fine in ["12,70.5,-3.25,2,1,0", "1,2e-3,+4,,0,1\r\n5, 6 ,7,8,9,0\n", "1.5E+10\t,2"]:
        assert forbidden.search(fine) is None, fine
    for refused in ["12,NaN,1", '{"instances": [[1]]}', "1;2;3", "1,2\n=cmd|' /C calc'!A0", "0x1F"]:
        assert forbidden.search(refused) is not None, refused


def test_the_waf_answers_a_refused_csv_body_in_the_api_s_error_shape(csv_endpoint):
    (acl,) = csv_endpoint["template"].find_resources("AWS::WAFv2::WebACL").values()
    body = acl["Properties"]["CustomResponseBodies"]["invalid_body"]
    assert body["ContentType"] == "APPLICATION_JSON"
    assert json.loads(body["Content"]) == {
        "error": "invalid_body",
        "message": "The request body does not match the input schema.",
    }


def test_a_json_endpoint_has_no_csv_rule_and_no_unused_body(json_endpoint):
    (acl,) = json_endpoint[1].find_resources("AWS::WAFv2::WebACL").values()
    assert "CsvBodyCharacters" not in [r["Name"] for r in acl["Properties"]["Rules"]]
    assert set(acl["Properties"]["CustomResponseBodies"]) == {"forbidden", "throttled", "too_large"}


def test_csv_takes_numeric_features_only(tmp_path):
    features = [*FEATURES[:2], ("plan", "String", 0, 0, False, 1.0, ["basic"])]
    with pytest.raises(ValueError, match=r"InputFormat.CSV takes numeric features only.*'plan'"):
        InputConstraints.from_baseline(
            write_baseline(tmp_path, features), input_format=InputFormat.CSV
        )


def test_a_csv_body_has_no_json_schema(baseline):
    constraints = InputConstraints.from_baseline(baseline, input_format=InputFormat.CSV)
    with pytest.raises(ValueError, match="a text/csv body has no JSON Schema"):
        constraints.json_schema()


def test_a_baseline_built_by_the_command_is_read_and_its_digests_checked(tmp_path):
    from secure_endpoint.cli import main

    rng = np.random.default_rng(0)
    rows = [",".join(["a", "b"])] + [f"{rng.normal():.3f},{rng.integers(0, 9)}" for _ in range(500)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    folder = tmp_path / "baseline"
    assert main(["baseline", "--training", str(tmp_path / "train.csv"), "--output",
                 str(folder)]) == 0  # fmt: skip
    schema = InputConstraints.from_baseline(folder).json_schema()
    a, b = schema["items"]["items"]
    assert a["type"] == "number"
    assert b["type"] == "integer"
    assert b["minimum"] == 0
    statistics = folder / "statistics.json"
    statistics.write_bytes(statistics.read_bytes().replace(b'"mean"', b'"mean" ', 1))
    with pytest.raises(BaselineError, match=r"statistics.json does not match its SHA-256"):
        InputConstraints.from_baseline(folder)

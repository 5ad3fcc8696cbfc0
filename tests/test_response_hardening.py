"""Output hardening: the option's checks, and its mapping template rendered over model answers.

The template is rendered as API Gateway would (``apigw_vtl``: airspeed-ext with ``$input`` and
the Java methods emulated) over bodies the model containers write: scikit-learn's
``predict_proba`` dumped as JSON, the capture simulator's ``{"predictions": [...]}``, SageMaker
XGBoost and Linear Learner objects, a Hugging Face pipeline's list of objects.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from apigw_vtl import render_response
from aws_cdk.assertions import Template
from configurations import once
from endpoint_builder import synth_endpoint

from secure_endpoint import ApiClient, ResponseHardening
from secure_endpoint.constructs.response_hardening import FAILED_BODY


def harden(body: Any, **options: Any) -> Any:
    """The JSON a client gets for the model's ``body`` (a JSON value or its text)."""
    text = body if isinstance(body, str) else json.dumps(body)
    rendered = render_response(ResponseHardening(**options).response_template(), text)
    assert rendered.status is None, f"refused: {rendered.body}"
    return rendered.json()


def refused(body: Any, **options: Any) -> bool:
    """Whether the template answers ``body`` with the 500 that says nothing."""
    text = body if isinstance(body, str) else json.dumps(body)
    rendered = render_response(
        ResponseHardening(**options).response_template(), text, request_id="r-42"
    )
    if rendered.status is None:
        return False
    assert rendered.status == 500
    assert rendered.json() == {
        "error": "internal_error",
        "message": "Internal error; retry later.",
        "requestId": "r-42",
    }
    return True


# --- the option's checks ---------------------------------------------------------------------


def test_the_defaults_round_to_two_decimals():
    hardening = ResponseHardening()
    assert (hardening.probability_decimals, hardening.top_k, hardening.label_only) == (
        2,
        None,
        False,
    )


BAD_OPTIONS = [
    (
        {"probability_decimals": 7},
        r"probability_decimals must be a whole number from 0 to 6, got 7",
    ),
    ({"probability_decimals": -1}, r"probability_decimals must be .* from 0 to 6, got -1"),
    ({"probability_decimals": 2.5}, r"probability_decimals must be .*, got 2.5"),
    ({"probability_decimals": True}, r"probability_decimals must be .*, got True"),
    ({"top_k": 0}, r"response_hardening.top_k must be a whole number from 1 to 1000, got 0"),
    ({"top_k": "3"}, r"top_k must be .*, got '3'"),
    ({"label_only": 1}, r"response_hardening.label_only must be True or False, got 1"),
    (
        {"label_only": True, "top_k": 2},
        r"label_only .* leave response_hardening.top_k out \(got top_k=2\)",
    ),
    (
        {"label_only": True, "probability_decimals": 4},
        r"label_only .*probability_decimals at its default \(got 4\)",
    ),
    (
        {"label_only": True, "label_threshold": 1.0},
        r"label_threshold must be a number strictly between 0 and 1, got 1.0",
    ),
    ({"label_only": True, "label_threshold": "0.5"}, r"label_threshold must be .*, got '0.5'"),
    ({"label_threshold": 0.7}, r"label_threshold \(0.7\) applies to label_only, which is False"),
    ({"probability_decimals": None}, r"leave nothing to harden"),
]


@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS)
def test_bad_options_fail_naming_the_prop_the_value_and_what_is_allowed(options, message):
    with pytest.raises(ValueError, match=message):
        ResponseHardening(**options)


def test_label_only_takes_the_default_or_no_decimals():
    assert ResponseHardening(label_only=True).label_only
    assert ResponseHardening(label_only=True, probability_decimals=None).label_only


@pytest.mark.synth
def test_the_endpoint_refuses_anything_but_a_response_hardening():
    with pytest.raises(
        ValueError,
        match=r"response_hardening must be a ResponseHardening, like .*, got \{'probabil",
    ):
        synth_endpoint(
            "Bad", clients=[ApiClient("a")], response_hardening={"probability_decimals": 2}
        )


# --- rounding ----------------------------------------------------------------------------------


def test_probabilities_are_rounded_half_away_from_zero_to_the_decimals():
    body = {"predictions": [0.87654, 1e-7, 0.125, 0.5, 1, 0, 0.995, 0.994999, -0.876, -1e-9]}
    assert harden(body) == {"predictions": [0.88, 0.0, 0.13, 0.5, 1.0, 0.0, 1.0, 0.99, -0.88, 0.0]}


def test_the_numbers_are_written_with_exactly_the_decimals():
    rendered = render_response(
        ResponseHardening(probability_decimals=3).response_template(),
        json.dumps({"predictions": [0.1, 1e-7, 0.0005, 7, -0.25, 123456.78951]}),
    )
    assert rendered.body == '{"predictions":[0.100,0.000,0.001,7.000,-0.250,123456.790]}'


@pytest.mark.parametrize("decimals", range(7))
def test_every_number_of_decimals_rounds_like_decimal_arithmetic(decimals):
    rng = np.random.default_rng(decimals)
    values = [float(v) for v in rng.random(200)] + [float(v) for v in rng.normal(0, 50, 100)]
    got = harden({"predictions": values}, probability_decimals=decimals)["predictions"]
    # half away from zero of the binary value: what the template's (|x| 10^d + 0.5) floor does
    want = [
        float(np.sign(v) * np.floor(abs(v) * 10**decimals + 0.5) / 10**decimals) for v in values
    ]
    assert got == pytest.approx(want, abs=0, rel=1e-12)
    assert all(len(str(g).partition(".")[2]) <= max(decimals, 1) for g in got)


def test_a_sklearn_batch_of_class_probabilities_is_rounded_row_by_row():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    features = rng.normal(size=(300, 4))
    labels = (features @ [1.0, -2.0, 0.5, 0.0] + rng.normal(0, 0.3, 300) > 0).astype(int)
    model = LogisticRegression().fit(features, labels)
    probabilities = model.predict_proba(features[:25])
    body = json.dumps(probabilities.tolist())  # what an inference script returns
    got = np.array(harden(body, probability_decimals=2))
    assert got.shape == (25, 2)
    assert np.array_equal(got, np.floor(probabilities * 100 + 0.5) / 100)
    assert not np.array_equal(got, probabilities)


def test_the_capture_simulators_answers_are_rounded():
    probabilities = [0.034127765411923, 0.98127362, 0.5000000001, 0.4999999]
    body = json.dumps({"predictions": probabilities})  # the simulator's model, as it writes them
    assert harden(body, probability_decimals=1) == {"predictions": [0.0, 1.0, 0.5, 0.5]}
    assert harden(body, probability_decimals=0) == {"predictions": [0, 1, 1, 0]}


def test_no_decimals_writes_whole_numbers():
    rendered = render_response(
        ResponseHardening(probability_decimals=0).response_template(), "[0.5, 0.49, -0.5, 2.5]"
    )
    assert rendered.body == "[1,0,-1,3]"


# --- the shapes --------------------------------------------------------------------------------


def test_a_single_object_keeps_its_label_and_rounds_its_probabilities():
    body = {"probabilities": [0.123456, 0.876544], "label": "churn"}
    assert harden(body) == {"probabilities": [0.12, 0.88], "label": "churn"}


def test_a_list_of_row_objects_is_hardened_row_by_row():
    body = [
        {"label": "POSITIVE", "score": 0.9998656511306763},  # a Hugging Face pipeline
        {"label": "NEGATIVE", "score": 0.6663},
    ]
    assert harden(body) == [
        {"score": 1.0, "label": "POSITIVE"},
        {"score": 0.67, "label": "NEGATIVE"},
    ]


def test_sagemaker_builtin_algorithm_objects_are_hardened():
    linear_learner = {"predictions": [{"score": 0.41234567, "predicted_label": 0}]}
    assert harden(linear_learner) == {"predictions": [{"score": 0.41, "predicted_label": 0}]}
    xgboost_softprob = {"predictions": [{"score": [0.1234, 0.5678, 0.3088]}]}
    assert harden(xgboost_softprob) == {"predictions": [{"score": [0.12, 0.57, 0.31]}]}


def test_predictions_of_lists_of_numbers_and_of_objects_mix():
    body = {"predictions": [0.7777, [0.25, 0.75], {"scores": [1.23456, -0.5]}]}
    assert harden(body) == {"predictions": [0.78, [0.25, 0.75], {"scores": [1.23, -0.5]}]}


def test_a_bare_number_is_rounded():
    assert harden("0.87654") == 0.88


def test_labels_keep_their_type_and_escapes():
    body = [
        {"label": 'it\'s "quoted" \\ \u00e9', "probability": 0.5},
        {"label": True, "probability": 0.25},
        {"label": 3, "probability": 0.1},
        {"label": 2.5},
    ]
    assert harden(body) == [
        {"probability": 0.5, "label": 'it\'s "quoted" \\ \u00e9'},
        {"probability": 0.25, "label": True},
        {"probability": 0.1, "label": 3},
        {"label": 2.5},
    ]


def test_empty_batches_stay_empty():
    assert harden({"predictions": []}) == {"predictions": []}
    assert harden([]) == []
    assert harden([[]]) == [[]]


# --- top k -------------------------------------------------------------------------------------


def test_top_1_keeps_the_largest_class_only():
    assert harden([[0.1, 0.7, 0.2]], top_k=1) == [[0.0, 0.7, 0.0]]


def test_top_k_keeps_the_k_largest_rounded_and_zeroes_the_rest():
    body = {"predictions": [{"probabilities": [0.05123, 0.4, 0.15, 0.3, 0.09877]}]}
    assert harden(body, top_k=2) == {"predictions": [{"probabilities": [0.0, 0.4, 0.0, 0.3, 0.0]}]}
    assert harden(body, top_k=3, probability_decimals=1) == {
        "predictions": [{"probabilities": [0.0, 0.4, 0.2, 0.3, 0.0]}]
    }


def test_a_full_batch_of_ten_classes_keeps_the_top_3_of_each_row():
    """The default request schema's largest batch (1000 rows), ten classes each."""
    probabilities = np.random.default_rng(3).dirichlet(np.ones(10), size=1000)
    got = np.array(harden({"predictions": probabilities.tolist()}, top_k=3)["predictions"])
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :3]
    want = np.zeros_like(probabilities)
    rows = np.arange(1000)[:, None]
    want[rows, top] = np.floor(probabilities[rows, top] * 100 + 0.5) / 100
    assert np.array_equal(got, want)


def test_top_k_ties_go_to_the_lower_index_and_a_k_beyond_the_classes_keeps_them_all():
    assert harden([[0.3, 0.3, 0.4]], top_k=2) == [[0.3, 0.0, 0.4]]
    assert harden([[0.3, 0.7]], top_k=5) == [[0.3, 0.7]]


def test_top_k_without_rounding_keeps_the_numbers_exact():
    body = [[0.123456789, 0.876543211, 1e-7]]
    assert harden(body, top_k=1, probability_decimals=None) == [[0, 0.876543211, 0]]


def test_top_k_leaves_one_number_per_row_as_it_is_but_rounded():
    assert harden({"predictions": [0.21, 0.876]}, top_k=1) == {"predictions": [0.21, 0.88]}


# --- label only --------------------------------------------------------------------------------


def test_label_only_keeps_a_row_objects_own_label_and_nothing_else():
    body = [{"label": "POSITIVE", "score": 0.9998}, {"predicted_label": 0, "score": 0.1}]
    assert harden(body, label_only=True) == [{"label": "POSITIVE"}, {"predicted_label": 0}]


def test_label_only_takes_the_argmax_of_a_list():
    body = [[0.1, 0.7, 0.2], [0.5, 0.5], {"probabilities": [0.2, 0.3, 0.5]}]
    assert harden(body, label_only=True) == [1, 0, {"label": 2}]


def test_label_only_thresholds_one_probability_per_row():
    body = {"predictions": [0.2, 0.5, 0.7, 0, 1]}
    assert harden(body, label_only=True) == {"predictions": [0, 1, 1, 0, 1]}
    assert harden(body, label_only=True, label_threshold=0.75) == {"predictions": [0, 0, 0, 0, 1]}


@pytest.mark.parametrize(
    "body",
    [[2], [-0.1], {"predictions": [{"score": 1.5}]}, [[]], {"probabilities": []}],
)
def test_label_only_refuses_what_is_not_a_probability_or_has_no_label(body):
    assert refused(body, label_only=True)


# --- what is not understood is refused ---------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        '"a string"',
        "true",
        "null",
        {"predictions": [None]},
        {"predictions": 0.5},
        {"predictions": [0.5], "model_version": "3"},  # another key might carry raw scores
        {"logits": [1.2, -0.3]},
        {"probabilities": [0.1, 0.9], "logits": [1.2, -0.3]},
        {},
        [{"label": "a", "explanation": {"f1": 0.3}}],
        [{"label": ["a", "b"]}],
        [{"label": None}],
        [{"probabilities": [0.1, "0.9"]}],
        [{"probabilities": [[0.1, 0.9]]}],  # a batch inside one object
        [[[0.1, 0.9]]],
        [["0.5"]],
        [0.5, "0.5"],
        [0.5, None, 0.25],  # a null after a number: not the number again
        [[0.5, 0.5], [0.2, None]],
        [{"probabilities": [0.1, 0.9]}, None],
        [{"score": 0.4}, {"score": None}],
        [{"label": "a"}, {"label": None}],
        [1e13],  # too large to round exactly in a double at 2 decimals
        [-1e15],
    ],
    ids=repr,
)
def test_a_response_it_does_not_understand_becomes_a_500_that_says_nothing(body):
    assert refused(body)
    assert refused(body, top_k=1)


def test_a_body_that_is_not_json_fails_the_template():
    """API Gateway answers a template that cannot parse the body with its 500 (DEFAULT_5XX,
    our JSON error): nothing of the body is returned."""
    template = ResponseHardening().response_template()
    for body in ("0.5,0.25\n", "[NaN]", "{"):
        with pytest.raises(Exception, match=r"Expecting|Extra data|refuses NaN"):
            render_response(template, body)


def test_the_harness_keeps_a_variable_a_null_is_set_to_as_velocity_does():
    rendered = render_response("#set($x = 1)#set($x = $input.path('$.missing'))$x", "{}")
    assert rendered.body == "1"


def test_the_largest_numbers_it_rounds_stay_exact():
    assert harden([9_999_999_999_999.4, -123_456_789.125]) == [9_999_999_999_999.4, -123_456_789.13]
    assert refused([10_000_000_000_000])
    rendered = render_response(
        ResponseHardening(probability_decimals=6).response_template(), "[999999999.5, 2148]"
    )
    # 2148 * 10**6 is beyond a Java int: the template multiplies in floating point
    assert rendered.body == "[999999999.500000,2148.000000]"
    assert refused([1_000_000_000], probability_decimals=6)
    assert harden([10**15 - 1], probability_decimals=0) == [10**15 - 1]


def test_the_500_body_is_the_apis_internal_error():
    assert json.loads(FAILED_BODY.replace("$context.requestId", "x")) == {
        "error": "internal_error",
        "message": "Internal error; retry later.",
        "requestId": "x",
    }


# --- in the API --------------------------------------------------------------------------------


def configuration() -> dict[str, Any]:
    """An endpoint that rounds to 3 decimals and keeps the top 2 classes (a compliance row)."""
    app, stack, endpoint = synth_endpoint(
        "Hardened",
        clients=[ApiClient("a")],
        response_hardening=ResponseHardening(probability_decimals=3, top_k=2),
    )
    return {"app": app, "endpoint": endpoint, "template": Template.from_stack(stack)}


@pytest.fixture(scope="module")
def hardened() -> dict[str, Any]:
    return once(configuration)


def _predict_responses(template: Template) -> dict[str, dict[str, Any]]:
    (method,) = [
        m["Properties"]
        for m in template.find_resources("AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "POST"
    ]
    return {r["StatusCode"]: r for r in method["Integration"]["IntegrationResponses"]}


@pytest.mark.synth
def test_the_success_response_carries_the_one_hardening_template(hardened):
    responses = _predict_responses(hardened["template"])
    success = responses["200"]
    assert success["SelectionPattern"] == r"2\d{2}"
    # one template: API Gateway uses it whatever Accept the client sends
    assert list(success["ResponseTemplates"]) == ["application/json"]
    template = success["ResponseTemplates"]["application/json"]
    assert template == ResponseHardening(probability_decimals=3, top_k=2).response_template()
    rendered = render_response(template, '{"predictions": [[0.12345, 0.5, 0.37655]]}')
    assert rendered.body == '{"predictions":[[0.000,0.500,0.377]]}'


@pytest.mark.synth
def test_the_error_responses_are_unchanged(hardened):
    responses = _predict_responses(hardened["template"])
    assert sorted(responses) == ["200", "400", "500", "502", "503"]
    codes = {"400": "invalid_input", "502": "model_error", "503": "unavailable"}
    for status, code in (*codes.items(), ("500", "internal_error")):
        body = json.loads(responses[status]["ResponseTemplates"]["application/json"])
        assert body["error"] == code
    gateway = hardened["template"].find_resources("AWS::ApiGateway::GatewayResponse")
    statuses = {
        r["Properties"]["ResponseType"]: r["Properties"]["StatusCode"] for r in gateway.values()
    }
    assert statuses["UNAUTHORIZED"] == "401"
    assert statuses["ACCESS_DENIED"] == "403"
    assert statuses["THROTTLED"] == "429"
    assert statuses["DEFAULT_5XX"] == "500"


@pytest.mark.synth
def test_without_the_option_the_models_answer_passes_as_it_is():
    from test_api import build

    _, stack, api, _ = build()
    success = _predict_responses(Template.from_stack(stack))["200"]
    assert "ResponseTemplates" not in success
    assert api.response_hardening is None

"""The Python hardening agrees with the mapping template API Gateway runs, body for body."""

from __future__ import annotations

import json
from typing import Any

import pytest
from apigw_vtl import render_response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secure_endpoint import ResponseHardening
from secure_endpoint.runtime.hardening import Refused, harden

SETTINGS = [
    ResponseHardening(),
    ResponseHardening(probability_decimals=0),
    ResponseHardening(probability_decimals=6),
    ResponseHardening(probability_decimals=3, top_k=2),
    ResponseHardening(probability_decimals=None, top_k=1),
    ResponseHardening(label_only=True),
    ResponseHardening(label_only=True, label_threshold=0.3),
]
TEMPLATES = {h: h.response_template() for h in SETTINGS}

numbers = st.one_of(
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=-1e14, max_value=1e14, allow_nan=False),
    st.integers(min_value=-(10**14), max_value=10**14),
    st.sampled_from([0.005, 0.125, 0.285, 1e-7, -0.5, 2.5, 0.9999999]),
)
vectors = st.lists(numbers, max_size=5)
labels = st.one_of(st.text(max_size=4), st.integers(-3, 3), st.booleans(), st.none(), vectors)
junk = st.one_of(st.none(), st.text(max_size=3), st.booleans(), st.lists(vectors, max_size=2))
objects = st.dictionaries(
    st.sampled_from(
        ["probabilities", "probability", "scores", "score", "label", "predicted_label", "logits"]
    ),
    st.one_of(numbers, vectors, labels, junk),
    max_size=3,
)
rows = st.one_of(numbers, vectors, objects, junk)
bodies = st.one_of(
    st.lists(rows, max_size=4),
    st.fixed_dictionaries({"predictions": st.one_of(st.lists(rows, max_size=4), rows)}),
    objects,
    numbers,
    junk,
)


def through_the_template(hardening: ResponseHardening, body: Any) -> Any:
    """The API's answer: the parsed body, or ``Refused`` for the 500."""
    rendered = render_response(TEMPLATES[hardening], json.dumps(body))
    if rendered.status == 500:
        return Refused
    assert rendered.status is None
    return rendered.json()


def through_python(hardening: ResponseHardening, body: Any) -> Any:
    try:
        return hardening.apply(body)
    except Refused:
        return Refused


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hardening=st.sampled_from(SETTINGS), body=bodies)
def test_the_python_hardening_answers_as_the_template_does(hardening, body):
    want = through_the_template(hardening, body)
    got = through_python(hardening, body)
    # the same values of the same types (1 is not 1.0) in the same order
    assert json.dumps(got if got is not Refused else "refused") == json.dumps(
        want if want is not Refused else "refused"
    )


def test_examples_of_each_rule():
    assert harden({"predictions": [0.87654, 1e-7]}) == {"predictions": [0.88, 0.0]}
    assert harden([[0.1, 0.7, 0.2]], top_k=1) == [[0.0, 0.7, 0.0]]
    assert harden([[0.1, 0.7, 0.2]], label_only=True) == [1]
    assert harden({"probabilities": [0.3, 0.7], "label": "b"}, label_only=True) == {"label": "b"}
    assert harden([0.5, 0.49], probability_decimals=0) == [1, 0]


@pytest.mark.parametrize(
    "body", [{"logits": [1]}, [None], "text", [1e13], {"predictions": 0.5}, [{"label": [1]}]]
)
def test_what_the_api_refuses_raises(body):
    with pytest.raises(Refused):
        harden(body)

"""The answer shapes ``records`` reads one score per row from."""

from __future__ import annotations

import json

import pytest

from secure_endpoint.runtime.capture.records import Counts, parse_line, read_lines


def line(answer: object, rows: int = 2, encoding: str = "JSON") -> str:
    data = answer if isinstance(answer, str) else json.dumps(answer)
    return json.dumps({
        "captureData": {
            "endpointInput": {"observedContentType": "application/json", "mode": "INPUT",
                              "data": json.dumps({"instances": [[1.0, 2.0]] * rows}),
                              "encoding": "JSON"},
            "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                               "data": data, "encoding": encoding},
        },
        "eventMetadata": {"eventId": "e", "inferenceId": "client-a:r1",
                          "inferenceTime": "2026-12-07T10:00:00Z"},
        "eventVersion": "0",
    })  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "scores"),
    [
        ({"predictions": [0.25, 0.75]}, [0.25, 0.75]),
        ([0.25, 0.75], [0.25, 0.75]),
        ({"predictions": [[0.7, 0.3], [0.2, 0.8]]}, [0.3, 0.8]),
        ([{"probabilities": [0.6, 0.4]}, {"probabilities": [0.1, 0.9]}], [0.4, 0.9]),
        ([{"scores": [0.6, 0.4], "label": 0}, {"scores": [0.1, 0.9], "label": 1}], [0.4, 0.9]),
        ({"probabilities": [0.6, 0.4]}, [0.4]),  # one object: one row's answer
        ([{"label": "positive"}, {"label": "negative"}], [1.0, 0.0]),
        ([{"label": True}, {"label": 0}], [1.0, 0.0]),
        # three classes: 0.5 + (top - runner-up) / 2, 0.5 at the boundary of the two likeliest
        ({"predictions": [[0.5, 0.3, 0.2], [0.34, 0.33, 0.33]]}, [0.6, 0.505]),
        ("0.25\n0.75\n", [0.25, 0.75]),
    ],
)
def test_one_score_per_row_from_every_known_shape(answer, scores):
    encoding = "CSV" if isinstance(answer, str) else "JSON"
    outputs = parse_line(line(answer, encoding=encoding)).outputs
    assert outputs == pytest.approx(scores)


def test_a_configured_path_reads_another_shape():
    answer = {"result": {"scores": [0.1, 0.9]}, "model": "v3"}
    assert parse_line(line(answer)).outputs == []  # unknown shape: no scores, the row still read
    assert parse_line(line(answer), "result.scores").outputs == [0.1, 0.9]
    assert parse_line(line(answer), "result.missing").outputs == []


def test_an_unreadable_answer_never_loses_the_request():
    counts = Counts()
    found = list(read_lines([line("not json {"), line({"error": "boom"})], counts))
    assert [len(c.rows) for c in found] == [2, 2]
    assert [c.outputs for c in found] == [[], []]
    assert counts.unreadable == 0

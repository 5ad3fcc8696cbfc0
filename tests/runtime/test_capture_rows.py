"""Captured rows as arrays: a capture's own matrix when its rows are all numbers of one width,
and the same values and wrong-type cells, in order, whichever way the rows were kept."""

from __future__ import annotations

import json

import numpy as np
import pytest

from secure_endpoint.runtime.capture.records import (
    RowBuffer,
    number_matrix,
    numeric_matrix,
    parse_line,
)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([[1, 2.5], [3, -4]], [[1.0, 2.5], [3.0, -4.0]]),
        ([[1, 2], [3, 4]], [[1.0, 2.0], [3.0, 4.0]]),
        ([[1.5, "2"]], None),  # text, even if it reads as a number
        ([[True, False]], None),  # booleans
        ([[1.0, None]], None),  # a missing value: a cell at a time
        ([[1.0, 2.0], [3.0]], None),  # rows of different widths
        ([[1.0, [2.0]]], None),  # a nested list
        ([[2**70, 1]], None),  # too large for a machine integer
    ],
)
def test_a_matrix_only_for_rows_of_numbers_of_one_width(rows, expected):
    found = number_matrix(rows)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert found.dtype == np.float64
        assert found.tolist() == expected


def test_text_that_reads_as_a_number_is_of_the_wrong_type():
    values, wrong = numeric_matrix([[1.5, "2", None, True]], np.arange(4))
    assert wrong.tolist() == [[False, True, False, True]]
    assert values[0, 0] == 1.5
    assert np.isnan(values[0, 1:]).all()


def test_a_buffer_gives_the_rows_in_order_as_numeric_matrix_does():
    rng = np.random.default_rng(2)
    parts = [
        rng.normal(size=(3, 5)).tolist(),
        [[1, 2, "x", 4, 5]],
        rng.normal(size=(2, 5)).tolist(),
        rng.normal(size=(4, 5)).tolist(),
        [[None, 1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0, 5.0]],
    ]
    buffer = RowBuffer()
    for rows in parts:
        matrix = number_matrix(rows)
        if matrix is None:
            buffer.add_rows(rows)
        else:
            buffer.add_matrix(matrix)
    positions = np.array([4, 0, 2])
    values, wrong = buffer.arrays(positions)
    expected_values, expected_wrong = numeric_matrix([r for p in parts for r in p], positions)
    assert buffer.rows == 12
    np.testing.assert_array_equal(values, expected_values)
    np.testing.assert_array_equal(wrong, expected_wrong)
    empty = RowBuffer().arrays(positions)
    assert empty[0].shape == empty[1].shape == (0, 3)


def test_a_parsed_capture_carries_its_matrix():
    def line(rows):
        return json.dumps({
            "captureData": {"endpointInput": {"observedContentType": "application/json",
                                              "data": json.dumps({"instances": rows}),
                                              "encoding": "JSON"}},
            "eventMetadata": {"inferenceId": "c:1", "inferenceTime": "2026-12-01T00:00:00Z"},
        })  # fmt: skip

    capture = parse_line(line([[1, 2.0], [3, 4]]))
    assert capture.matrix is not None
    assert capture.matrix.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert parse_line(line([[1, "a"]])).matrix is None

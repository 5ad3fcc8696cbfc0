"""Training data and request bodies to blocks: names, labels, missing cells, spelling, errors."""

from __future__ import annotations

import builtins
import csv
import gzip
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secure_endpoint.runtime.baseline.readers import (
    BaselineInputError,
    block_from_csv_text,
    block_from_payload,
    open_training,
)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def stacked(data) -> np.ndarray:
    return np.vstack([block.values for block in data])


def test_csv_header_names_the_features_and_the_label_is_dropped(tmp_path):
    path = write(tmp_path / "t.csv", "a,label,b\n1,0,2.5\n3,1,4.5\n")
    data = open_training(path, label_column="label")
    assert data.names == ("a", "b")
    blocks = list(data)
    assert blocks[0].values.tolist() == [[1, 2.5], [3, 4.5]]
    assert blocks[0].integer_spelled.tolist() == [True, False]


def test_csv_blocks_are_bounded(tmp_path):
    path = write(tmp_path / "t.csv", "a\n" + "".join(f"{i}\n" for i in range(1000)))
    blocks = list(open_training(path, block_rows=128))
    assert [b.rows for b in blocks] == [128] * 7 + [104]
    assert stacked(blocks)[:, 0].tolist() == list(range(1000))


def test_csv_empty_and_nan_cells_are_missing_and_text_is_kept(tmp_path):
    path = write(tmp_path / "t.csv", 'a,b,c\n1,,x\n2,nan,"y, z"\n,3,\n')
    (block,) = open_training(path)
    values = block.values
    assert np.isnan(values[:, 2]).all()
    assert values[:, 0].tolist()[:2] == [1, 2]
    assert np.isnan(values[2, 0])
    assert np.isnan(values[:2, 1]).all()
    assert values[2, 1] == 3
    assert block.text == {2: ["x", "y, z", None]}
    assert block.integer_spelled.tolist()[:2] == [True, True]


def test_a_string_label_leaves_numeric_features(tmp_path):
    path = write(tmp_path / "t.csv", "x,y,label\n1.5,2,yes\n2.5,3,no\n")
    (block,) = open_training(path, label_column="label")
    assert block.values.tolist() == [[1.5, 2], [2.5, 3]]
    assert block.text == {}


def test_headerless_csv_takes_feature_names(tmp_path):
    path = write(tmp_path / "t.csv", "0,1.5,2\n1,2.5,3\n")
    data = open_training(path, feature_names=["label", "x", "y"], label_column="label")
    assert data.names == ("x", "y")
    assert stacked(data).tolist() == [[1.5, 2], [2.5, 3]]


def test_gzip_and_a_byte_order_mark_are_read(tmp_path):
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress("\ufeffa,b\n1,2\n".encode()))
    data = open_training(path)
    assert data.format == "csv"
    assert data.names == ("a", "b")
    assert stacked(data).tolist() == [[1, 2]]


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("0,1\n", {}, r"\(no header\); name the columns with --feature-names"),
        ("0,1\n", {"feature_names": ["a"]}, "names 1 columns, .* has 2"),
        (
            "a,b\n1,2\n",
            {"feature_names": ["a", "c"]},
            r"\(a,c\) does not match the header .*\(a,b\)",
        ),
        ("a,a\n1,2\n", {}, r"duplicate names \['a'\]"),
        ("a,\n1,2\n", {}, "every feature needs a name"),
        ("a,b\n1,2\n", {"label_column": "y"}, "no column 'y' for --label-column"),
        ("", {}, "empty"),
    ],
)
def test_refuses_bad_names(tmp_path, text, kwargs, message):
    with pytest.raises(BaselineInputError, match=message):
        open_training(write(tmp_path / "t.csv", text), **kwargs)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2\n3\n", "line 3 has 1 fields, not 2 .ragged rows."),
        ("a,b\n1,2\n3,4,5\n", "line 3 has 3 fields, not 2"),
        ("a,b\n1,\n3,4,5\n", "line 3 has 3 fields"),
        ("a,b\n1,2\n3,inf\n", "an infinite value near line 3, column 2"),
    ],
)
def test_refuses_ragged_rows_and_infinities_naming_the_line(tmp_path, text, message):
    with pytest.raises(BaselineInputError, match=message):
        list(open_training(write(tmp_path / "t.csv", text)))


def test_refuses_a_missing_file_and_an_unknown_format(tmp_path):
    with pytest.raises(BaselineInputError, match="no such file"):
        open_training(tmp_path / "nope.csv")
    with pytest.raises(BaselineInputError, match="give --format"):
        open_training(write(tmp_path / "t.txt", "a\n1\n"))
    assert open_training(tmp_path / "t.txt", format="csv").names == ("a",)


def test_json_lines_of_instances_and_inputs(tmp_path):
    lines = [
        {"instances": [[1, 2.5, None], [2, 3.5, 4]]},
        {"inputs": [[3, 4.5, 5]]},
        {"instances": [4, 5.5, 6]},  # one row
    ]
    path = write(tmp_path / "t.jsonl", "\n".join(map(json.dumps, lines)) + "\n\n")
    data = open_training(path)
    assert data.names == ("_c0", "_c1", "_c2")
    (block,) = data
    assert block.values[:, 0].tolist() == [1, 2, 3, 4]
    assert np.isnan(block.values[0, 2])
    assert block.integer_spelled.tolist() == [True, False, True]
    assert block.row_counts.tolist() == [2, 1, 1]


def test_json_lines_label_and_names(tmp_path):
    path = write(tmp_path / "t.jsonl", json.dumps({"instances": [[0, 1.5], [1, 2.5]]}))
    data = open_training(path, feature_names=["y", "x"], label_column="y")
    assert data.names == ("x",)
    assert stacked(data).tolist() == [[1.5], [2.5]]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"instances": [[1, 2]]}', '{"instances": [[1]]}'], "line 2, row 1 has 1 values"),
        (['{"instances": [[1, 2]]}', "not json"], "line 2 is not JSON"),
        (['{"rows": [[1, 2]]}'], 'expected an object with "instances" or "inputs"'),
        (['{"instances": []}'], "non-empty list of rows"),
        (['{"instances": [[1, 2], 3]}'], "every row of 'instances' must be a list"),
    ],
)
def test_json_lines_refuse_malformed_records(tmp_path, lines, message):
    path = write(tmp_path / "t.jsonl", "\n".join(lines))
    with pytest.raises(BaselineInputError, match=message):
        list(open_training(path))


def test_json_text_and_booleans_are_text():
    block = block_from_payload({"instances": [[1, "a"], [2, True]]})
    assert block.text == {1: ["a", "true"]}
    assert np.isnan(block.values[:, 1]).all()


def test_request_bodies_check_their_width():
    assert block_from_payload({"inputs": [[1, 2]]}, 2).values.tolist() == [[1, 2]]
    with pytest.raises(BaselineInputError, match="row 1 has 3 values, expected 2"):
        block_from_payload({"instances": [[1, 2, 3]]}, 2)
    assert block_from_csv_text("1,2\n3,4\n", 2).row_counts.tolist() == [2]
    with pytest.raises(BaselineInputError, match="row 2 has 1 fields, expected 2"):
        block_from_csv_text("1,2\n3\n", 2)


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(BaselineInputError, match=r"needs pyarrow.*secure-endpoint\[parquet\]"):
        open_training(path)


def test_parquet_columns_keep_their_types(tmp_path):
    import pyarrow as pa  # the dev extra: the parquet extra's reader is tested, never skipped
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "n": pa.array([1, 2, None, 4], pa.int64()),
            "x": pa.array([0.5, None, 2.0, 3.0], pa.float64()),
            "city": pa.array(["oslo", "lima", None, "oslo"]),
            "label": pa.array([0, 1, 0, 1], pa.int8()),
            "__index_level_0__": pa.array([7, 8, 9, 10]),  # pandas' index, not a feature
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    data = open_training(tmp_path / "t.parquet", label_column="label", block_rows=3)
    assert data.names == ("n", "x", "city")
    blocks = list(data)
    assert [b.rows for b in blocks] == [3, 1]
    values = stacked(blocks)
    assert values[:, 0].tolist()[:2] == [1, 2]
    assert np.isnan(values[2, 0])
    assert np.isnan(values[1, 1])
    assert blocks[0].integer_spelled.tolist() == [True, False, False]
    assert blocks[0].text == {2: ["oslo", "lima", None]}
    with pytest.raises(BaselineInputError, match="does not match the columns"):
        open_training(tmp_path / "t.parquet", feature_names=["a", "b", "c", "d"])


def test_huge_json_numbers_and_undecodable_bytes_are_input_errors(tmp_path):
    with pytest.raises(BaselineInputError, match="too large for a float in column 2"):
        block_from_payload({"instances": [[1, 10**400]]})
    with pytest.raises(BaselineInputError, match="too large for a float in column 1"):
        block_from_payload({"instances": [[10**400, "x"]]})
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 10_000 + b"\xff\xfe,3\n")
    data = open_training(path)
    with pytest.raises(BaselineInputError, match="cannot read it"):
        list(data)


def test_runs_of_empty_cells_anywhere_in_a_row_are_missing(tmp_path):
    path = write(tmp_path / "t.csv", "a,b,c,d\n,,,4\r\n1,,,\n,2,,\n3,2.5,1,7")
    (block,) = open_training(path)
    assert np.isnan(block.values).sum(axis=0).tolist() == [2, 2, 3, 2]
    assert block.values[3].tolist() == [3, 2.5, 1, 7]
    assert block.integer_spelled.tolist() == [True, False, True, True]
    assert block.text == {}


def test_blocks_after_one_with_text_read_the_same(tmp_path):
    """The text columns of a block are split out of the next ones (numpy reads the rest): the
    values, the text, the spelling and the errors are those of the csv module."""
    rows = [f"{i % 4},{'' if i % 5 == 0 else i / 4},{('a', 'b')[i % 2]},{i}" for i in range(40)]
    rows[25] = "1,2.5,c,"  # an empty cell in the last column
    path = write(tmp_path / "t.csv", "n,x,s,i\n" + "\n".join(rows) + "\n")
    blocks = list(open_training(path, block_rows=10))
    assert len(blocks) == 4
    for block in blocks:
        assert block.integer_spelled.tolist() == [True, False, False, True]
        assert set(block.text) == {2}
    values = stacked(blocks)
    assert values[:, 0].tolist() == [i % 4 for i in range(25)] + [1] + [
        i % 4 for i in range(26, 40)
    ]
    assert np.isnan(values[25, 3])
    assert np.isnan(values[[0, 5, 10, 15, 20, 30, 35], 1]).all()
    assert [cell for b in blocks for cell in b.text[2]][24:27] == ["a", "c", "a"]


@pytest.mark.parametrize(
    ("late", "message"),
    [
        ("1,2,a", "line 17 has 3 fields, not 4"),
        ("1,2,a,4,5", "line 17 has 5 fields, not 4"),
        ("1,2,a,inf", "infinite value near line"),
    ],
)
def test_errors_after_a_block_with_text_still_name_the_line(tmp_path, late, message):
    rows = [f"{i},{i / 2},t{i},{i}" for i in range(30)]
    rows[15] = late
    path = write(tmp_path / "t.csv", "n,x,s,i\n" + "\n".join(rows) + "\n")
    with pytest.raises(BaselineInputError, match=message):
        list(open_training(path, block_rows=10))


def test_text_or_quotes_appearing_in_a_later_block(tmp_path):
    rows = [f"{i},t{i},{i / 2}" for i in range(10)]
    rows += [f"{i},t{i},{'x' if i == 12 else i / 2}" for i in range(10, 20)]
    rows += [f'{i},"t,{i}",{i / 2}' for i in range(20, 30)]
    path = write(tmp_path / "t.csv", "n,s,x\n" + "\n".join(rows) + "\n")
    blocks = list(open_training(path, block_rows=10))
    assert [sorted(b.text) for b in blocks] == [[1], [1, 2], [1]]
    assert blocks[1].text[2][2] == "x"
    assert blocks[2].text[1][0] == "t,20"
    assert stacked(blocks)[:, 0].tolist() == list(range(30))


CELLS = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.floats(-1e6, 1e6, allow_nan=False).map(repr),
    st.sampled_from(["", "nan", " 7 ", "1e3", "-0", "abc", "x y", '"q,1"', '"2.5"']),
)


def reference_reading(rows: list[list[str]]) -> tuple[list[list[float | str | None]], list[bool]]:
    """What each cell means, read with the csv module and float() alone."""
    parsed_rows = list(csv.reader(io.StringIO("\n".join(",".join(row) for row in rows))))
    meaning: list[list[float | str | None]] = []
    for row in parsed_rows:
        out: list[float | str | None] = []
        for cell in row:
            text = cell.strip()
            try:
                number = float(text) if text else math.nan
                out.append(None if math.isnan(number) else number)
            except ValueError:
                out.append(text)
        meaning.append(out)
    width = len(parsed_rows[0])
    spelled = [
        all(re.fullmatch(r"[+-]?\d+", row[j].strip()) for row in parsed_rows if _present(row[j]))
        for j in range(width)
    ]
    return meaning, spelled


def _present(cell: str) -> bool:
    text = cell.strip()
    return bool(text) and text != "nan"


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda width: st.lists(
            st.lists(CELLS, min_size=width, max_size=width), min_size=1, max_size=30
        )
    ),
    st.integers(1, 7),
    st.sampled_from(["\n", "\r\n"]),
)
def test_csv_blocks_mean_what_the_csv_module_reads(tmp_path_factory, rows, block_rows, newline):
    rows = [row for row in rows if any(cell for cell in row) or len(row) > 1]
    if not rows:
        return
    path = tmp_path_factory.mktemp("prop") / "t.csv"
    width = len(rows[0])
    names = [f"c{j}" for j in range(width)]
    lines = [",".join(names), *(",".join(row) for row in rows)]
    path.write_bytes((newline.join(lines) + newline).encode())
    blocks = list(open_training(path, block_rows=block_rows))
    meaning, spelled = reference_reading(rows)
    values = stacked(blocks)
    assert values.shape == (len(meaning), width)
    offset = 0
    for block in blocks:
        for i in range(block.rows):
            for j in range(width):
                expected = meaning[offset + i][j]
                if isinstance(expected, str):
                    assert np.isnan(block.values[i, j])
                    assert block.text[j][i] == expected
                elif expected is None:
                    assert np.isnan(block.values[i, j])
                else:
                    assert block.values[i, j] == expected
        offset += block.rows
    has_text = [any(isinstance(row[j], str) for row in meaning) for j in range(width)]
    for j in range(width):
        if not has_text[j]:
            got = all(bool(block.integer_spelled[j]) for block in blocks)
            whole = all(
                row[j] is None or float(row[j]).is_integer()  # type: ignore[arg-type]
                for row in meaning
            )
            assert got == (spelled[j] and whole), (j, rows)

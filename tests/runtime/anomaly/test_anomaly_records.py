"""Access-log lines to columns: well-formed lines read, malformed ones counted, never a raise."""

from __future__ import annotations

import json
import subprocess
import sys
from operator import itemgetter
from typing import Any

import orjson
import pytest
from anomaly_traffic import START, line, record
from hypothesis import given, settings
from hypothesis import strategies as st

from secure_endpoint.runtime.anomaly.records import (
    FIELDS,
    RecordReader,
    _well_formed,
    first_seen,
    parse_lines,
)


def test_reads_a_request_with_a_client_id_as_that_client() -> None:
    records = parse_lines([line(clientId="abc", status=201, responseLength=77)])

    assert len(records) == 1
    assert records.malformed == 0
    assert records.clients[records.client[0]] == "abc"
    assert records.addresses[records.address[0]] == "198.51.100.7"
    assert records.routes[records.route[0]] == "/v1/predict"
    assert records.time_ms.tolist() == [START * 1000]
    assert records.status.tolist() == [201]
    assert records.response_length.tolist() == [77]


def test_a_request_without_a_client_id_has_none() -> None:
    records = parse_lines([line(clientId="-"), line(clientId="")])

    assert records.client.tolist() == [-1, -1]
    assert records.clients == ()


def test_dashes_in_lengths_and_latencies_read_as_zero_and_unread_fields_are_not_checked() -> None:
    records = parse_lines([line(responseLength="-", responseLatency="-", integrationLatency="x")])

    assert records.malformed == 0
    assert records.response_length.tolist() == [0]
    assert records.response_latency.tolist() == [0]


def test_numbers_written_as_json_numbers_are_read_too() -> None:
    text = orjson.dumps(record() | {"requestTimeEpoch": START * 1000, "status": 200})
    assert len(parse_lines([text])) == 1


@pytest.mark.parametrize(
    "text",
    [
        b"not json",
        b"[1, 2, 3]",
        b'"a string"',
        b"{}",
        json.dumps({k: v for k, v in record().items() if k != "status"}).encode(),
        line(status="abc"),
        line(status=99),
        line(status=600),
        line(status="-"),
        line(requestTimeEpoch="-"),
        line(requestTimeEpoch="-5"),
        line(requestTimeEpoch="1" * 20),
        line(requestTimeEpoch="1.5e12"),
        line(responseLength="many"),
        line(responseLatency="-3"),
        line(sourceIp="-"),
        line(sourceIp=""),
        orjson.dumps(record() | {"sourceIp": 7}),
        orjson.dumps(record() | {"clientId": ["a"]}),
        orjson.dumps(record() | {"resourcePath": None}),
        b'{"requestTimeEpoch": NaN}',
    ],
)
def test_counts_and_skips_a_malformed_line(text: bytes) -> None:
    records = parse_lines([line(), text, line()])

    assert records.malformed == 1
    assert len(records) == 2


def test_blank_lines_are_skipped_without_being_counted() -> None:
    records = parse_lines([line(), b"", b"\n", b"   \r\n", line()])
    assert (len(records), records.malformed) == (2, 0)


def test_a_bad_line_costs_only_itself_in_its_chunk() -> None:
    lines = [line(clientId=f"c{i}") for i in range(10)]
    lines[3] = line(status="bad")
    lines[7] = b"{"

    records = parse_lines(lines, chunk_lines=4)

    assert (len(records), records.malformed) == (8, 2)
    assert [records.clients[c] for c in records.client] == [
        f"c{i}" for i in range(10) if i not in (3, 7)
    ]


def test_chunks_share_one_string_table() -> None:
    lines = [line(clientId=f"c{i % 3}", sourceIp=f"192.0.2.{i % 2}") for i in range(9)]
    records = parse_lines(lines, chunk_lines=2)
    assert records.clients == ("c0", "c1", "c2")
    assert records.addresses == ("192.0.2.0", "192.0.2.1")
    assert records.client.tolist() == [0, 1, 2] * 3


def test_rejects_a_chunk_of_fewer_than_one_line() -> None:
    with pytest.raises(ValueError, match="chunk_lines must be at least 1, got 0"):
        parse_lines([], chunk_lines=0)


_values = st.one_of(
    st.text(max_size=12),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True),
    st.none(),
    st.booleans(),
    st.sampled_from(["-", "", "200", "401", "1772409600000", "503", "0"]),
    st.lists(st.integers(), max_size=2),
)
_fields = st.sampled_from(
    ["requestTimeEpoch", "status", "sourceIp", "clientId", "resourcePath", "responseLength",
     "responseLatency", "requestId"]
)  # fmt: skip


@st.composite
def _lines(draw: Any) -> bytes:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.binary(max_size=80))
    if choice == 1:
        return draw(st.text(max_size=80)).encode("utf-8", "surrogatepass")
    base: dict[str, Any] = record()
    for key in draw(st.lists(_fields, max_size=4)):
        if draw(st.booleans()):
            base.pop(key, None)
        else:
            base[key] = draw(_values)
    return json.dumps(base).encode()


@settings(max_examples=300, deadline=None)
@given(st.lists(_lines(), max_size=12), st.integers(1, 5))
def test_garbage_never_raises_and_every_line_is_counted_once(
    lines: list[bytes], chunk: int
) -> None:
    records = parse_lines(lines, chunk_lines=chunk)

    blank = sum(1 for text in lines if not text.strip())
    assert len(records) + records.malformed == len(lines) - blank
    # a line is well formed or not on its own, whatever its neighbours in the chunk
    alone = [parse_lines([text]) for text in lines]
    assert len(records) == sum(len(one) for one in alone)
    assert records.time_ms.tolist() == [t for one in alone for t in one.time_ms.tolist()]


def _as_orjson_reads_it(text: bytes) -> str:
    """The module's rules applied to ``orjson.loads``' reading of a line, one line at a time."""
    if not text.strip():
        return "blank"
    try:
        document = orjson.loads(text)
        row = itemgetter(*FIELDS)(document)
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return "malformed"
    if not isinstance(document.get("requestId"), str | None):
        return "malformed"
    ip, client = row[FIELDS.index("sourceIp")], row[FIELDS.index("clientId")]
    return (
        "record"
        if _well_formed(row) and ip not in ("-", "") and client is not None
        else ("malformed")
    )


_TRICKY = [
    b'{"status": "404"}',  # fields missing
    # a repeated key: the last one counts (an injected one first is overridden, and after, wins)
    json.dumps(record()).encode().replace(b'"status"', b'"status": "abc", "status"', 1),
    json.dumps(record()).encode().replace(b'"resourcePath"', b'"status": "abc", "resourcePath"', 1),
    json.dumps(record())
    .encode()
    .replace(b'"resourcePath": "', b'"resourcePath": "\\ud800', 1),  # lone surrogate
    json.dumps(record())
    .encode()
    .replace(b'"resourcePath": "', b'"resourcePath": "\xff', 1),  # not UTF-8
    b"\xef\xbb\xbf" + json.dumps(record()).encode(),  # a byte-order mark
    json.dumps(record()).encode() + b" x",  # trailing garbage
    json.dumps(record()).encode() + b"  \t",  # trailing whitespace
    json.dumps(record() | {"status": 200.0}).encode(),
    json.dumps(record() | {"status": True}).encode(),
    json.dumps(record() | {"requestTimeEpoch": 10**30}).encode(),
    json.dumps(record() | {"responseLength": -1}).encode(),
    json.dumps(record() | {"clientId": None}).encode(),
    json.dumps([record()]).encode(),
    b"  ",
    b"null",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_lines(), st.sampled_from(_TRICKY)), min_size=1, max_size=8))
def test_each_line_is_read_as_orjson_reads_it_under_the_documented_rules(
    lines: list[bytes],
) -> None:
    expected = [_as_orjson_reads_it(text) for text in lines]
    records = parse_lines(lines)

    assert len(records) == expected.count("record")
    assert records.malformed == expected.count("malformed")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (b"not json", "unparseable"),
        (b"{", "unparseable"),
        (
            json.dumps(record())
            .encode()
            .replace(b'"resourcePath": "', b'"resourcePath": "\xff', 1),
            "unparseable",
        ),
        (b"[]", "wrong_shape"),
        (b"null", "wrong_shape"),
        (b'"a string"', "wrong_shape"),
        (b'{"status": "404"}', "wrong_shape"),
        (line(status="abc"), "wrong_shape"),
        (line(sourceIp="-"), "wrong_shape"),
        (orjson.dumps(record() | {"requestId": 7}), "wrong_shape"),
    ],
)
def test_a_malformed_line_is_counted_as_unparseable_or_of_the_wrong_shape(
    text: bytes, kind: str
) -> None:
    reader = RecordReader()
    reader.feed([line(), text, line()])

    assert (reader.unparseable, reader.wrong_shape) == ((1, 0) if kind == "unparseable" else (0, 1))
    assert reader.malformed == reader.records().malformed == 1
    assert reader.count == 2


@pytest.mark.parametrize("chunk", [1, 2, 1000])
def test_a_deduplicating_reader_keeps_the_first_record_of_each_request_id(chunk: int) -> None:
    first = [line(requestId=f"r{i}", status=200 + i) for i in range(5)]
    again = [line(requestId=f"r{i}", status=300 + i) for i in (3, 0)]
    anonymous = [line(requestId="-"), line(requestId="-"), orjson.dumps(
        {k: v for k, v in record().items() if k != "requestId"})]  # fmt: skip
    bad_then_good = [line(requestId="r9", status="bad"), line(requestId="r9", status=209)]
    reader = RecordReader(chunk, deduplicate=True, keep_ids=True)

    reader.feed([*first, *again, *anonymous, *bad_then_good])

    records = reader.records()
    assert records.status.tolist() == [200, 201, 202, 203, 204, 200, 200, 200, 209]
    assert (reader.duplicates, reader.wrong_shape, reader.unparseable) == (2, 1, 0)
    assert reader.request_ids() == ["r0", "r1", "r2", "r3", "r4", "-", "-", None, "r9"]


def test_a_plain_reader_keeps_duplicates_and_keeps_no_ids() -> None:
    reader = RecordReader()
    reader.feed([line(requestId="same")] * 3)

    assert (reader.count, reader.duplicates) == (3, 0)
    with pytest.raises(ValueError, match="keep_ids=True"):
        reader.request_ids()


def test_first_seen_marks_new_ids_and_adds_them() -> None:
    import numpy as np

    seen: set[str | None] = {"a"}
    keep = np.array([True, True, True, False, True, True])

    fresh = first_seen(["a", "b", "b", "c", None, "-"], keep, seen)

    assert fresh is not None
    assert fresh.tolist() == [False, True, False, False, True, True]
    assert seen == {"a", "b"}  # "c" was not kept; no id is never remembered
    assert first_seen(["x", "y", None], np.ones(3, dtype=bool), seen) is None  # all new
    assert seen == {"a", "b", "x", "y"}


def test_importing_the_anomaly_package_does_not_load_the_cdk_or_scikit_learn() -> None:
    code = (
        "import sys\n"
        "import secure_endpoint.runtime.anomaly.detect, secure_endpoint.runtime.anomaly.insights\n"
        # msgspec parses raw lines for `detect` only: the monitor's Lambda does not ship it
        "roots = {'aws_cdk', 'jsii', 'constructs', 'sklearn', 'boto3', 'msgspec'}\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in roots)\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr

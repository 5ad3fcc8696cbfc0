"""Inputs of the offline replay: gzip recognized by its bytes, standard input, and the reason
given when an input holds no record."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from secure_endpoint.runtime.anomaly.inputs import (
    InputSummary,
    nothing_read,
    one_stdin,
    open_lines,
    splittable,
)


def _read(source: Path | str, stdin: io.BufferedReader | None = None) -> list[bytes]:
    with open_lines(source, stdin) as lines:
        return list(lines)


def test_a_file_is_read_decompressed_when_it_starts_as_gzip_does(tmp_path: Path) -> None:
    plain, packed = tmp_path / "a.gz", tmp_path / "export"  # the names say the opposite
    plain.write_bytes(b"one\ntwo\n")
    packed.write_bytes(gzip.compress(b"one\n") + gzip.compress(b"two\n"))  # two members

    assert _read(plain) == _read(packed) == [b"one\n", b"two\n"]
    assert splittable(plain)
    assert not splittable(packed)
    assert not splittable("-")


@pytest.mark.parametrize(
    "data", [b"one\ntwo\n", gzip.compress(b"one\ntwo\n", mtime=0)], ids=["plain", "gzip"]
)
def test_a_dash_reads_standard_input_compressed_or_not(data: bytes) -> None:
    stdin = io.BufferedReader(io.BytesIO(data))  # type: ignore[arg-type]
    assert _read("-", stdin) == [b"one\n", b"two\n"]


def test_standard_input_may_be_named_once() -> None:
    one_stdin(["a", "-", Path("b")])
    with pytest.raises(ValueError, match="read only once"):
        one_stdin(["-", Path("-")])


def test_a_summary_with_a_record_is_no_problem() -> None:
    assert nothing_read("--logs x", InputSummary(records=1, unparseable=9)) is None


def test_the_reason_names_every_cause_with_its_count() -> None:
    reason = nothing_read("--logs x", InputSummary(0, 2, 3, 4))

    assert reason is not None
    assert reason.startswith("--logs x holds no access-log record: 2 lines are not JSON")
    assert "3 lines are JSON but not access-log records" in reason
    assert "requestTimeEpoch, status, sourceIp, clientId, resourcePath" in reason
    assert "4 records repeat request ids read before" in reason
    assert nothing_read("--logs x", InputSummary()) == "--logs x holds no line: nothing to score"


def test_summaries_add_up_and_describe_themselves() -> None:
    total = InputSummary(1, 2, 3, 4) + InputSummary(10, 20, 30, 40)

    assert total == InputSummary(11, 22, 33, 44)
    assert (total.lines_malformed, total.lines) == (55, 110)
    assert total.describe() == (
        "11 records; 22 unparseable lines, 33 of the wrong shape, 44 duplicates skipped"
    )

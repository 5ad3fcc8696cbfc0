"""``secure-endpoint detect`` refuses garbage loudly: gzip and stdin read, duplicates dropped,
an unwritable output refused before reading, and a distinct exit when nothing could be read.

Every test goes through the CLI entry point (``main(argv)``) with real files."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from anomaly_traffic import START, line, record, traffic, write

from secure_endpoint.cli import main
from secure_endpoint.runtime.anomaly import detect as replay
from secure_endpoint.runtime.anomaly.detect import DetectConfig, detect
from secure_endpoint.runtime.anomaly.features import aggregate
from secure_endpoint.runtime.anomaly.records import parse_lines
from secure_endpoint.runtime.anomaly.scoring import ForestConfig

HOURS = 4
SCORED_FROM = START + HOURS * 3600


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("inputs")
    baseline = traffic(hours=HOURS, clients=10, seed=11)
    access = traffic(hours=2, clients=10, seed=12, start=SCORED_FROM, flood_at=1)
    files = {
        "baseline": write(directory / "baseline.jsonl", baseline),
        "access": write(directory / "access.jsonl", access),
        "triple": write(directory / "triple.jsonl", access * 3),
    }
    single = directory / "single.jsonl"
    assert detect_cli("--logs", files["access"], "--baseline", files["baseline"], "--output",
                      single) == 0  # fmt: skip
    files["single"] = single
    return files


def detect_cli(*args: Any) -> int:
    return main(["detect", *map(str, args)])


class _Stdin:
    """What ``sys.stdin`` offers the command: a binary ``buffer``."""

    def __init__(self, data: bytes) -> None:
        self.buffer = io.BufferedReader(io.BytesIO(data))  # type: ignore[arg-type]


class _Unreadable(io.RawIOBase):
    """A standard input that fails the test if anything reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("the input was read before the output was checked")


def _anomalous(path: Path) -> int:
    return sum(json.loads(text)["anomalous"] for text in path.read_text().splitlines())


# --- duplicates --------------------------------------------------------------------------------


def test_the_same_log_three_times_without_deduplication_would_change_the_detections(
    logs: dict[str, Path],
) -> None:
    # the premise of the next test: counting each request three times is not harmless here
    config = DetectConfig(forest=ForestConfig(n_estimators=50))
    baseline = logs["baseline"].read_bytes().splitlines()
    access = logs["access"].read_bytes().splitlines()
    once = detect(aggregate(parse_lines(baseline + access), 300), SCORED_FROM, config)
    thrice = detect(aggregate(parse_lines(baseline + access * 3), 300), SCORED_FROM, config)

    assert int(thrice.decisions.anomalous.sum()) > int(once.decisions.anomalous.sum())


def test_the_same_log_three_times_gives_the_detections_of_one(
    logs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    concatenated, three_files = tmp_path / "concatenated.jsonl", tmp_path / "three.jsonl"

    assert detect_cli("--logs", logs["triple"], "--baseline", logs["baseline"],
                      "--output", concatenated) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert detect_cli("--logs", logs["access"], logs["access"], logs["access"],
                      "--baseline", logs["baseline"], "--output", three_files) == 0  # fmt: skip

    assert concatenated.read_bytes() == logs["single"].read_bytes()
    assert three_files.read_bytes() == logs["single"].read_bytes()
    lines = len(logs["access"].read_bytes().splitlines())
    assert f"{lines:,} records; 0 unparseable lines, 0 of the wrong shape, " \
           f"{2 * lines:,} duplicates skipped" in err  # fmt: skip


def test_records_of_the_logs_already_in_the_baseline_are_duplicates(
    logs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overlapping = tmp_path / "overlapping.jsonl"
    tail = logs["baseline"].read_bytes().splitlines()[-100:]
    write(overlapping, tail + logs["access"].read_bytes().splitlines())
    out = tmp_path / "out.jsonl"
    capsys.readouterr()

    assert detect_cli("--logs", overlapping, "--baseline", logs["baseline"], "--output", out) == 0

    assert "100 duplicates skipped" in capsys.readouterr().err
    assert out.read_bytes() == logs["single"].read_bytes()  # scored from the same first window


def test_two_processes_drop_the_same_duplicates_as_one(
    logs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(replay, "CLAIM_BYTES", logs["triple"].stat().st_size // 7)
    config = DetectConfig(forest=ForestConfig(n_estimators=20, max_samples=256))
    inputs = [logs["access"], logs["triple"]]

    one, summary_one = replay.detect_files(inputs, logs["baseline"], config, jobs=1)
    two, summary_two = replay.detect_files(inputs, logs["baseline"], config, jobs=2)

    assert summary_two == summary_one
    assert summary_one["logs"].duplicates == 3 * summary_one["logs"].records
    assert list(two.rows()) == list(one.rows())


# --- gzip and standard input -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["access.jsonl.gz", "export-000000"])
def test_a_gzip_export_is_read_whatever_its_name(
    logs: dict[str, Path], tmp_path: Path, name: str
) -> None:
    compressed = tmp_path / name
    compressed.write_bytes(gzip.compress(logs["access"].read_bytes()))
    out = tmp_path / "out.jsonl"

    assert detect_cli("--logs", compressed, "--baseline", logs["baseline"], "--output", out) == 0
    assert out.read_bytes() == logs["single"].read_bytes()


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_dash_reads_the_logs_from_standard_input(
    logs: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    compress: bool,
) -> None:
    data = logs["access"].read_bytes()
    monkeypatch.setattr("sys.stdin", _Stdin(gzip.compress(data) if compress else data))
    out = tmp_path / "out.jsonl"
    capsys.readouterr()

    assert detect_cli("--logs", "-", "--baseline", logs["baseline"], "--output", out) == 0
    assert out.read_bytes() == logs["single"].read_bytes()
    assert "standard input: " in capsys.readouterr().err


def test_standard_input_is_read_once_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", _Stdin(line() + b"\n"))

    assert detect_cli("--logs", "-", "--baseline", "-", "--output", tmp_path / "o.jsonl") == 2
    assert "standard input (-) can be read only once" in capsys.readouterr().err


def test_a_corrupt_gzip_file_is_a_one_line_error(
    logs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(gzip.compress(logs["access"].read_bytes())[:5000])
    capsys.readouterr()

    assert detect_cli("--logs", truncated, "--output", tmp_path / "out.jsonl") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"secure-endpoint: error: cannot read {truncated}: corrupt or truncated")
    assert "Traceback" not in err
    assert not (tmp_path / "out.jsonl").exists()


# --- the output, checked first -----------------------------------------------------------------


@pytest.mark.parametrize("where", ["missing/out.jsonl", "."], ids=["no directory", "a directory"])
def test_an_unwritable_output_fails_before_any_input_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    monkeypatch.setattr("sys.stdin", type("S", (), {"buffer": io.BufferedReader(_Unreadable())}))
    output = tmp_path / where

    assert detect_cli("--logs", "-", "--output", output) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"secure-endpoint: error: cannot write --output {output}: ")
    assert "checked before reading any input" in err


def test_an_output_that_is_also_an_input_is_refused_and_left_intact(
    logs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "access.jsonl"
    copy.write_bytes(logs["access"].read_bytes())

    assert detect_cli("--logs", copy, "--output", copy) == 2
    assert "is also an input" in capsys.readouterr().err
    assert copy.read_bytes() == logs["access"].read_bytes()


# --- nothing to read: exit 3, and no output left behind -----------------------------------------


def _events_export() -> bytes:
    """``aws logs filter-log-events`` output: JSON, one document, not one record per line."""
    events = [{"timestamp": START * 1000, "message": json.dumps(record())}]
    return json.dumps({"events": events, "searchedLogStreams": []}, indent=2).encode()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "holds no line"),
        (b"\n\n  \n", "holds no line"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "are not JSON"),
        (b"timestamp,status\n1772409600000,200\n", "are not JSON"),
        (_events_export(), "are not JSON"),  # the lines of a pretty-printed document
        (orjson.dumps([record(), record()]), "are JSON but not access-log records"),
        (b'{"requestTimeEpoch": "1", "status": "200"}\n' * 3, "are JSON but not access-log"),
        (line(status="OK") + b"\n" + line(sourceIp="-") + b"\n", "are JSON but not access-log"),
    ],
    ids=[
        "empty",
        "blank",
        "binary",
        "csv",
        "events-export",
        "array",
        "missing-fields",
        "bad-values",
    ],
)
def test_logs_with_no_record_exit_3_saying_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, reason: str
) -> None:
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(content)
    out = tmp_path / "out.jsonl"

    assert detect_cli("--logs", garbage, "--output", out) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"secure-endpoint: error: --logs {garbage} holds no ")
    assert reason in err
    assert not out.exists()  # created by this run, removed when it failed


def test_logs_that_repeat_the_baseline_only_exit_3(
    logs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.jsonl"
    assert detect_cli("--logs", logs["baseline"], "--baseline", logs["baseline"],
                      "--output", out) == 3  # fmt: skip
    assert "repeat request ids read before" in capsys.readouterr().err


def test_a_baseline_with_no_record_exits_3_rather_than_start_cold(
    logs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = tmp_path / "baseline.jsonl"
    garbage.write_bytes(b"not json\n" * 5)

    assert detect_cli("--logs", logs["access"], "--baseline", garbage,
                      "--output", tmp_path / "out.jsonl") == 3  # fmt: skip
    assert f"--baseline {garbage} holds no access-log record: 5 lines are not JSON" in (
        capsys.readouterr().err
    )


def test_a_garbage_line_among_records_is_counted_and_the_run_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mixed = write(tmp_path / "mixed.jsonl", [b"garbage", b"[]", *traffic(hours=1, clients=3)])

    assert detect_cli("--logs", mixed, "--output", tmp_path / "out.jsonl") == 0
    assert "; 1 unparseable lines, 1 of the wrong shape, 0 duplicates skipped" in (
        capsys.readouterr().err
    )


def test_the_help_documents_each_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["detect", "--help"])
    text = " ".join(capsys.readouterr().out.split())

    assert (replay.EXIT_OK, replay.EXIT_USAGE, replay.EXIT_NO_RECORDS) == (0, 2, 3)
    assert "exit status: 0 when the detections were written; 2 on" in text
    assert "unwritable --output (checked before any input is read); 3 when the logs" in text
    assert "gzip" in text
    assert "- for stdin" in text

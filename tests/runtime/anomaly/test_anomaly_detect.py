"""Offline replay: ``detect`` over aggregates and ``secure-endpoint detect`` end to end."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from anomaly_traffic import START, line, traffic, write

from secure_endpoint.cli import main
from secure_endpoint.runtime.anomaly import detect as replay
from secure_endpoint.runtime.anomaly.detect import DetectConfig, detect
from secure_endpoint.runtime.anomaly.features import aggregate
from secure_endpoint.runtime.anomaly.records import parse_lines
from secure_endpoint.runtime.anomaly.scoring import ForestConfig

FAST = DetectConfig(forest=ForestConfig(n_estimators=20, max_samples=256))
HOURS = 6


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("logs")
    baseline = traffic(hours=HOURS, clients=12, seed=1)
    evaluated = traffic(hours=2, clients=12, seed=2, start=START + HOURS * 3600, flood_at=1)
    evaluated[10:10] = [b"not json", line(status="bad"), b"[]"]  # three malformed lines
    return {
        "baseline": write(directory / "baseline.jsonl", baseline),
        "access": write(directory / "access.jsonl", evaluated),
    }


def _flagged(detections: object) -> set[str]:
    agg, d = detections.aggregates, detections.decisions  # type: ignore[attr-defined]
    return {name for name, a in zip(agg.row_names(), d.anomalous.tolist(), strict=True) if a}


def test_fits_on_the_baseline_and_flags_the_flood(logs: dict[str, Path]) -> None:
    lines = logs["baseline"].read_bytes().splitlines() + logs["access"].read_bytes().splitlines()
    agg = aggregate(parse_lines(lines), 300)

    detections = detect(agg, START + HOURS * 3600, FAST)

    assert detections.trained_on == "baseline"
    assert (detections.aggregates.window_start >= START + HOURS * 3600).all()
    assert "192.0.2.66" in _flagged(detections)
    assert detections.decisions.anomalous.mean() < 0.05


def test_without_a_baseline_it_starts_cold_and_says_so(logs: dict[str, Path]) -> None:
    agg = aggregate(parse_lines(logs["access"].read_bytes().splitlines()), 300)

    detections = detect(agg, START, FAST)

    assert detections.trained_on == "cold-start"
    assert detections.model is not None
    assert detections.model.trained_on == "cold-start"
    assert "192.0.2.66" in _flagged(detections)


def test_with_too_few_windows_only_the_rules_decide() -> None:
    flood = [line(requestTimeEpoch=START * 1000 + i * 10, status=401) for i in range(500)]
    agg = aggregate(parse_lines(flood), 300)

    detections = detect(agg, START, FAST)

    assert detections.trained_on == "rules only"
    assert detections.model is None
    assert detections.decisions.action == ["block"]
    assert detections.decisions.reasons[0][0].startswith("rule:rejected-flood")


def run(*args: str) -> int:
    return main(["detect", *args])


def test_the_cli_writes_one_object_per_window_and_counts_malformed_lines(
    logs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "detections.jsonl"

    code = run("--logs", str(logs["access"]), "--baseline", str(logs["baseline"]),
               "--output", str(out))  # fmt: skip

    assert code == 0
    err = capsys.readouterr().err
    assert f"{logs['access']}: " in err
    assert "1 unparseable lines, 2 of the wrong shape, 0 duplicates skipped" in err
    assert "fitted on the baseline" in err
    assert "warning: 3 lines are no access-log record (1 not JSON, 2 of the wrong shape)" in err
    assert "invisible to detection" in err
    assert err.rstrip().endswith("3 lines skipped as no access-log record")
    rows = [json.loads(text) for text in out.read_text().splitlines()]
    assert rows
    for row in rows:
        assert set(row) >= {"windowStart", "principal", "score", "anomalous", "reasons"}
        assert isinstance(row["windowStart"], int)
        assert row["windowStart"] % 300 == 0
        assert isinstance(row["score"], float)
        assert isinstance(row["anomalous"], bool)
        assert row["kind"] in ("client", "address")
        assert row["action"] in ("none", "alert", "block")
        assert bool(row["reasons"]) == row["anomalous"]
    assert any(r["principal"] == "192.0.2.66" and r["anomalous"] for r in rows)


def test_the_cli_without_a_baseline_starts_cold_and_writes_to_stdout(
    logs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("--logs", str(logs["access"]), "--output", "-") == 0
    captured = capsys.readouterr()
    assert "cold start" in captured.err
    assert all(json.loads(text)["principal"] for text in captured.out.splitlines())


def test_a_stored_model_is_used_only_with_its_digest(
    logs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model.bin"
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    assert run("--logs", str(logs["access"]), "--baseline", str(logs["baseline"]),
               "--output", str(first), "--save-model", str(model)) == 0  # fmt: skip
    digest = Path(f"{model}.sha256").read_text().strip()

    stored = ("--model", str(model), "--model-sha256", digest)
    assert run("--logs", str(logs["access"]), "--baseline", str(logs["baseline"]),
               "--output", str(second), *stored) == 0  # fmt: skip
    assert second.read_bytes() == first.read_bytes()

    capsys.readouterr()
    assert run("--logs", str(logs["access"]), "--output", str(second),
               "--model", str(model), "--model-sha256", "0" * 64) == 2  # fmt: skip
    assert "digest mismatch" in capsys.readouterr().err
    assert run("--logs", str(logs["access"]), "--output", str(second), "--model", str(model)) == 2
    assert "--model needs --model-sha256" in capsys.readouterr().err


def test_an_unreadable_log_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("--logs", str(tmp_path / "missing.jsonl"), "--output", "-") == 2
    err = capsys.readouterr().err
    assert err.startswith("secure-endpoint: error: cannot read")
    assert "Traceback" not in err


def test_two_processes_give_the_same_detections_as_one(
    logs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay, "PARALLEL_BYTES", 0)  # split even these small files
    size = logs["baseline"].stat().st_size + logs["access"].stat().st_size
    monkeypatch.setattr(replay, "CLAIM_BYTES", size // 40)  # in about 40 blocks
    one, summary_one = replay.detect_files(logs["access"], logs["baseline"], FAST, jobs=1)
    two, summary_two = replay.detect_files(logs["access"], logs["baseline"], FAST, jobs=2)

    assert summary_two == summary_one
    assert summary_one["logs"].lines_malformed == 3
    assert list(two.rows()) == list(one.rows())


def test_blocks_cover_every_byte_once_each_cut_after_a_line(tmp_path: Path) -> None:
    first = write(tmp_path / "a.jsonl", [b"x" * n for n in (5, 30, 1, 12, 40)])
    second = write(tmp_path / "b.jsonl", [b"y" * n for n in (7, 3)])
    segments = [
        ("baseline", str(first), 0, first.stat().st_size),
        ("logs", str(second), 0, second.stat().st_size),
    ]
    for size in (1, 10, 33, 64, 1000):
        blocks = replay._blocks(segments, size)
        covered = [(path, start, end) for block in blocks for _, path, start, end in block]
        for path, start, end in covered:
            data = Path(path).read_bytes()
            assert start < end
            assert start == 0 or data[start - 1 : start] == b"\n"  # starts a line
        for _, path, _, size_of in segments:
            mine = sorted((s, e) for p, s, e in covered if p == path)
            assert mine[0][0] == 0
            assert mine[-1][1] == size_of
            assert all(a[1] == b[0] for a, b in itertools.pairwise(mine))
        if size >= 1000:
            assert len(blocks) == 1


def test_lines_between_reads_exactly_the_lines_of_the_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [b"a" * n + b"\n" for n in (0, 3, 0, 1, 7, 2, 0, 5)]
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b"".join(lines))
    ends = list(itertools.accumulate(map(len, lines), initial=0))
    for read_bytes in (1, 2, 4, 1 << 20):  # readlines' hint, below and above the line sizes
        monkeypatch.setattr(replay, "_READ_BYTES", read_bytes)
        for first, last in itertools.combinations(range(len(ends)), 2):
            with path.open("rb") as file:
                file.seek(ends[first])
                read = list(replay._lines_between(file, ends[last] - ends[first]))
            assert read == lines[first:last], (read_bytes, first, last)


def test_the_summary_counts_the_lines_skipped_per_input_and_in_all(
    logs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, summary = tmp_path / "detections.jsonl", tmp_path / "summary.json"
    broken = tmp_path / "broken.jsonl"
    # lines as a format with an unescaped User-Agent made them: not JSON, or a forged field
    broken.write_bytes(
        logs["access"].read_bytes()
        + b'{"requestId":"r-1","userAgent":"curl "x"","status":"200"}\n'
        + b'{"requestId":"r-2","userAgent":"a\\","status":"200"}\n'
    )

    code = run("--logs", str(broken), "--baseline", str(logs["baseline"]),
               "--output", str(out), "--summary", str(summary))  # fmt: skip

    assert code == 0
    counts = json.loads(summary.read_text())
    assert counts["inputs"]["logs"]["unparseable"] == 3
    assert counts["inputs"]["logs"]["wrongShape"] == 2
    assert counts["inputs"]["baseline"]["linesMalformed"] == 0
    assert (counts["unparseable"], counts["wrongShape"], counts["linesMalformed"]) == (3, 2, 5)
    assert counts["records"] == sum(part["records"] for part in counts["inputs"].values())
    assert counts["windows"] == len(out.read_text().splitlines())
    assert counts["trainedOn"] == "baseline"
    assert "warning: 5 lines are no access-log record (3 not JSON" in capsys.readouterr().err


def test_clean_logs_raise_no_warning(
    logs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = tmp_path / "summary.json"

    code = run("--logs", str(logs["baseline"]), "--output", str(tmp_path / "d.jsonl"),
               "--summary", str(summary))  # fmt: skip

    assert code == 0
    assert "warning" not in capsys.readouterr().err
    assert json.loads(summary.read_text())["linesMalformed"] == 0


def test_a_summary_in_a_missing_directory_is_refused_before_reading(
    logs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run("--logs", str(logs["access"]), "--output", str(tmp_path / "d.jsonl"),
               "--summary", str(tmp_path / "nowhere" / "s.json"))  # fmt: skip

    assert code == 2
    assert "cannot write --summary" in capsys.readouterr().err

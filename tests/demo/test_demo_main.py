"""``python -m demo``'s orchestration: step 1 through ``demo.synth_summary``, bad environments."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

import demo.__main__ as main_module
from demo import synth_summary
from demo.__main__ import Options, main
from demo.console import DemoError, Progress, require


class FakeSummary:
    def console_lines(self) -> list[str]:
        return ["resources: 200", "cdk-nag: 5 packs, 0 errors"]

    def markdown(self) -> str:
        return "| pack | errors |\n| --- | --- |\n| AwsSolutions | 0 |"


def test_step_one_prints_the_summary_of_demo_synth_summary(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    asked: list[tuple[Path, Path]] = []
    made: list[FakeSummary] = []

    def run(out: Path, *, cdk_out: Path, say: Any) -> FakeSummary:
        asked.append((out, cdk_out))
        say("cdk synth")
        made.append(FakeSummary())
        return made[-1]

    monkeypatch.setattr(synth_summary, "run", run)
    lines: list[str] = []

    summary, note = main_module._step_one(
        Options(out=tmp_path, cdk_out=tmp_path / "assembly"), lines.append
    )

    # the very summary synth_summary made is handed on (step 3's report reads it), and its
    # lines are what the console shows
    assert summary is made[0]
    assert note == ""
    assert asked == [(tmp_path, tmp_path / "assembly")]
    assert lines[0].startswith("[1/5] Synthesize the sample app")
    assert lines[1:4] == [
        "      cdk synth",
        "      resources: 200",
        "      cdk-nag: 5 packs, 0 errors",
    ]
    assert lines[4].startswith("      done in ")


def test_an_error_of_step_one_is_shown_as_is_with_exit_status_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(out: Path, *, cdk_out: Path, say: Any) -> FakeSummary:
        raise DemoError("Node.js 18 or later is required: install it from nodejs.org")

    monkeypatch.setattr(synth_summary, "run", run)

    status = main(["--out", str(tmp_path)])

    assert status == 2
    assert "demo: Node.js 18 or later is required" in capsys.readouterr().err
    assert not (tmp_path / "report.md").exists()


def test_a_missing_package_stops_the_demo_before_any_step_with_what_to_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name in ("matplotlib", "moto") else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)

    status = main(["--skip-synth", "--out", str(tmp_path)])

    captured = capsys.readouterr()
    assert status == 2
    assert "[1/5]" not in captured.out
    assert "moto (the local AWS emulator)" in captured.err
    assert "matplotlib (the report's plots)" in captured.err
    assert "make setup" in captured.err


def test_require_names_nothing_when_everything_is_there() -> None:
    require([("json", "the standard library")])
    with pytest.raises(DemoError, match=r"no_such_module_x \(a test\)"):
        require([("no_such_module_x", "a test")])


def test_the_bar_prints_one_final_line_off_a_terminal(tmp_path: Path) -> None:
    with (tmp_path / "out.txt").open("w+") as stream:
        with Progress("monitor runs", 4, "windows", stream=stream) as bar:
            for _ in range(4):
                bar.advance()
        stream.seek(0)
        text = stream.read()

    assert "\r" not in text
    assert text.count("\n") == 1
    assert "monitor runs" in text
    assert "4/4 windows in " in text

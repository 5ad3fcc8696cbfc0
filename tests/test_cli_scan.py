"""``secure-endpoint scan-artifact``: exit codes, findings printed, --allow and --json."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from secure_endpoint.cli import main

ROOT = Path(__file__).resolve().parent.parent


class RunsACommand:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned",))


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def archives(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "clean": tmp_path / "clean.tar.gz",
        "evil": tmp_path / "evil.tar.gz",
        "custom": tmp_path / "custom.pkl",
    }
    paths["clean"].write_bytes(tar_gz({"model.pkl": pickle.dumps({"w": [1.0, 2.0]})}))
    paths["evil"].write_bytes(
        tar_gz({"model.pkl": pickle.dumps({"w": 1}), "model.joblib": pickle.dumps(RunsACommand())})
    )
    paths["custom"].write_bytes(b"\x80\x02cmycompany.models\nChurn\n)\x81.")
    return paths


def test_a_clean_archive_exits_0(archives, capsys):
    assert main(["scan-artifact", str(archives["clean"])]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == f"{archives['clean']}: no finding in 1 member(s), 1 pickle(s)"


def test_findings_are_printed_one_a_line_and_exit_1(archives, capsys):
    assert main(["scan-artifact", str(archives["evil"])]) == 1
    out, err = capsys.readouterr()
    (line,) = out.splitlines()
    assert line.startswith("model.joblib @")
    assert ": STACK_GLOBAL posix.system: posix.system is in posix" in line
    assert "1 finding(s) in 2 member(s), 2 pickle(s)" in err


def test_allow_lets_a_trusted_global_through(archives, capsys):
    assert main(["scan-artifact", str(archives["custom"])]) == 1
    assert "mycompany.models.Churn is not in the allowlist" in capsys.readouterr().out
    assert main(["scan-artifact", str(archives["custom"]), "--allow", "mycompany.models.*"]) == 0


def test_allow_cannot_lift_the_deny_list(archives):
    assert main(["scan-artifact", str(archives["evil"]), "--allow", "posix.*"]) == 1


def test_json_prints_the_report(archives, capsys):
    assert main(["scan-artifact", str(archives["evil"]), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["clean"] is False
    assert report["file"] == str(archives["evil"])
    (finding,) = report["findings"]
    assert (finding["member"], finding["global"], finding["opcode"], finding["kind"]) == (
        "model.joblib",
        "posix.system",
        "STACK_GLOBAL",
        "pickle-global",
    )
    assert isinstance(finding["offset"], int)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--allow", "os"], "--allow: an allowed pickle global must be 'module.name'"),
        ([], "no such file"),
    ],
)
def test_usage_errors_exit_2_with_one_line(tmp_path, capsys, argv, message):
    missing = tmp_path / "missing.tar.gz"
    assert main(["scan-artifact", str(missing), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("secure-endpoint: error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_the_command_runs_as_a_program(archives):
    done = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "secure_endpoint.cli.commands",
            "scan-artifact",
            str(archives["evil"]),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 1, done.stderr
    assert "posix.system" in done.stdout

"""``secure-endpoint baseline``: the files it writes, its one-line errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from secure_endpoint.cli import main
from secure_endpoint.runtime.baseline import store

TRAINING = "x,n,color_red,color_blue,label\n" + "".join(
    f"{i / 10},{i % 5},{i % 2},{1 - i % 2},{i % 3}\n" for i in range(200)
)


@pytest.fixture
def training(tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    path.write_text(TRAINING)
    return path


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["baseline", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_writes_a_baseline_that_loads(capsys, tmp_path, training, monkeypatch):
    monkeypatch.delenv(store.KEY_ENV, raising=False)
    output = tmp_path / "out" / "baseline"
    code, out, err = run(
        capsys, "--training", str(training), "--label-column", "label", "--output", str(output),
        "--drift-threshold", "0.25",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out == (
        f"baseline of 200 rows x 4 features (1 fractional, 1 integral, 2 one_hot; 1 one-hot "
        f"groups) written to {output}; no membership key: membership probing not detected\n"
    )
    baseline = store.load_baseline(output)
    assert baseline.payload is not None
    assert baseline.payload["membership"] is None  # no key, no hashes
    assert baseline.payload["features"] == ["x", "n", "color_red", "color_blue"]
    assert baseline.feature_names == ["x", "n", "color_red", "color_blue"]
    assert baseline.reference["label_column"] == "label"
    distribution = baseline.constraints["monitoring_config"]["distribution_constraints"]
    assert distribution["comparison_threshold"] == 0.25
    assert not baseline.signature_verified


def test_signs_with_a_key_file_or_the_environment(capsys, tmp_path, training, monkeypatch):
    key = tmp_path / "key"
    key.write_bytes(b"s" * 40)
    code, out, _ = run(
        capsys, "--training", str(training), "--output", str(tmp_path / "a"),
        "--signing-key-file", str(key),
    )  # fmt: skip
    assert code == 0
    assert "(signed)" in out
    assert store.load_baseline(tmp_path / "a", key=b"s" * 40).signature_verified
    monkeypatch.setenv(store.KEY_ENV, "e" * 32)
    assert run(capsys, "--training", str(training), "--output", str(tmp_path / "b"))[0] == 0
    assert store.load_baseline(tmp_path / "b", key=b"e" * 32).signature_verified


def test_reads_json_lines_with_names(capsys, tmp_path):
    path = tmp_path / "requests.log"
    path.write_text("\n".join(json.dumps({"instances": [[i, i / 2]]}) for i in range(10)))
    code, _, err = run(
        capsys, "--training", str(path), "--format", "jsonl", "--feature-names", "a,b",
        "--output", str(tmp_path / "out"),
    )  # fmt: skip
    assert (code, err) == (0, "")
    reference = store.load_baseline(tmp_path / "out").reference
    assert reference["feature_names"] == ["a", "b"]
    assert reference["record_rows"]["max"] == 1


@pytest.mark.parametrize(
    ("text", "extra", "message"),
    [
        (None, [], "no such file"),
        ("a,b\n1,2\n3\n", [], "line 3 has 1 fields, not 2 (ragged rows)"),
        ("a,b\n1,2\n", ["--feature-names", "a,c"], "--feature-names (a,c) does not match the"),
        ("a,b\n1,\n2,\n", [], "column(s) 'b' empty in every one of the 2 rows"),
        ("a,b\n1,2\n", ["--label-column", "y"], "no column 'y' for --label-column"),
        ("a,b\n1,2\n", ["--drift-threshold", "0"], "--drift-threshold must be in (0, 1], got 0.0"),
        ("1,2\n", [], "(no header); name the columns with --feature-names"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, monkeypatch, text, extra, message):
    monkeypatch.delenv(store.KEY_ENV, raising=False)
    path = tmp_path / "t.csv"
    if text is not None:
        path.write_text(text)
    code, out, err = run(capsys, "--training", str(path), "--output", str(tmp_path / "o"), *extra)
    assert code == 2
    assert out == ""
    assert err.startswith("secure-endpoint: error: ")
    assert message in err
    assert err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_refuses_a_short_key_and_an_unwritable_output_before_reading(
    capsys, tmp_path, training, monkeypatch
):
    monkeypatch.setenv(store.KEY_ENV, "short")
    missing = str(tmp_path / "not-read.csv")
    code, _, err = run(capsys, "--training", missing, "--output", str(tmp_path / "o"))
    assert (code, "at least 32 bytes, got 5" in err) == (2, True)
    monkeypatch.delenv(store.KEY_ENV)
    (tmp_path / "file").write_text("")
    code, _, err = run(capsys, "--training", str(training), "--output", str(tmp_path / "file"))
    assert (code, "exists and is not a directory" in err) == (2, True)
    assert not (tmp_path / "o").exists()


def test_help_names_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["baseline", "--help"])
    assert "exit status: 0 when the baseline was written; 2 on" in capsys.readouterr().out


def test_membership_hashes_need_a_long_enough_key(capsys, tmp_path, training, monkeypatch):
    monkeypatch.delenv("SECURE_ENDPOINT_MEMBERSHIP_KEY", raising=False)
    short = tmp_path / "short"
    short.write_bytes(b"k" * 31)
    code, _, err = run(
        capsys, "--training", str(training), "--output", str(tmp_path / "a"),
        "--membership-key-file", str(short),
    )  # fmt: skip
    assert code == 2
    assert f"the membership key ({short}) is 31 bytes; it must be at least 32" in err
    monkeypatch.setenv("SECURE_ENDPOINT_MEMBERSHIP_KEY", "m" * 32)
    code, out, _ = run(capsys, "--training", str(training), "--output", str(tmp_path / "b"))
    assert code == 0
    assert "membership probing not detected" not in out  # hashed: no warning
    payload = store.load_baseline(tmp_path / "b").payload
    assert payload is not None
    membership = payload["membership"]
    assert membership["rows"] == 200
    assert membership["grids"] == 3
    # hashes of the quantized rows, 8 bytes each, never the rows
    import base64

    assert len(base64.b64decode(membership["hashes"])) % 8 == 0
    assert "0.5" not in membership["hashes"]

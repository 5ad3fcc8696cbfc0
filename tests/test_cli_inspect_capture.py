"""``inspect-capture --jobs 2``: read and measure drift in this process, score payloads in a
second one, with the findings and client scores of one process; what it does when the second
process fails. On a simulated capture with attackers of every kind, so there are findings to
compare."""

from __future__ import annotations

import io
import json
import os
import queue
import sys
from pathlib import Path

import pytest

from secure_endpoint.cli import main
from secure_endpoint.cli.failures import Failure
from secure_endpoint.cli.inspect_capture import _PayloadJob, _score_batches, _Scorer
from secure_endpoint.runtime.baseline.store import load_baseline
from secure_endpoint.runtime.capture.records import Counts, read_lines
from secure_endpoint.runtime.payload.reference import PayloadReference
from secure_endpoint.simulate.capture.simulator import Config, generate

KEY = b"inspect-capture-test-membership-key!"
CLIENTS = {
    "legit:interactive": 6, "legit:periodic": 2, "legit:batch": 1,
    "attack:extraction:marginal": 1, "attack:probing:coordinate": 1,
    "attack:out_of_distribution:impossible": 1, "attack:membership:exact": 1,
}  # fmt: skip


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("jobs")
    generate(Config(out, seed=3, hours=24, clients=CLIENTS, training_rows=2_000, drift=()))
    (out / "key").write_bytes(KEY)
    code = main(["baseline", "--training", str(out / "training.csv"), "--label-column",
                 "label", "--output", str(out / "baseline"),
                 "--membership-key-file", str(out / "key")])  # fmt: skip
    assert code == 0
    return out


def _inspect(sim: Path, out: Path, *extra: str) -> tuple[list[dict], dict]:
    code = main(["inspect-capture", "--capture", str(sim / "capture"), "--baseline",
                 str(sim / "baseline"), "--membership-key-file", str(sim / "key"),
                 "--output", str(out / "findings.jsonl"), "--scores", str(out / "scores.json"),
                 *extra])  # fmt: skip
    assert code == 0
    return _written(out)


@pytest.fixture(scope="module")
def one_process(sim, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The findings and scores of ``--jobs 1``, the reference both modes are held to."""
    out = tmp_path_factory.mktemp("one")
    _inspect(sim, out, "--jobs", "1")
    return out


def _written(out: Path) -> tuple[list[dict], dict]:
    findings = [json.loads(line) for line in (out / "findings.jsonl").read_text().splitlines()]
    return findings, json.loads((out / "scores.json").read_text())


def test_two_processes_find_what_one_finds(sim, one_process, tmp_path):
    findings, scores = _written(one_process)
    assert {f["kind"] for f in findings if f["client_id"] != "*"} >= {
        "extraction",
        "probing",
        "out_of_distribution",
        "membership",
    }
    assert _inspect(sim, tmp_path, "--jobs", "2") == (findings, scores)
    assert (one_process / "findings.jsonl").read_bytes() == (
        tmp_path / "findings.jsonl"
    ).read_bytes()


def test_two_processes_read_stdin_once(sim, one_process, tmp_path, monkeypatch):
    lines = b"".join(path.read_bytes() for path in sorted((sim / "capture").rglob("*.jsonl")))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines)))
    code = main(["inspect-capture", "--capture", "-", "--baseline", str(sim / "baseline"),
                 "--membership-key-file", str(sim / "key"), "--output",
                 str(tmp_path / "stdin.jsonl"), "--jobs", "2"])  # fmt: skip
    assert code == 0
    expected, _ = _written(one_process)
    found = [json.loads(line) for line in (tmp_path / "stdin.jsonl").read_text().splitlines()]
    assert found == expected


def _captures(sim: Path) -> list:
    lines = [raw for path in sorted((sim / "capture").rglob("*.jsonl"))
             for raw in path.read_bytes().splitlines()]  # fmt: skip
    return list(read_lines(lines, Counts()))


def _feed(scorer: _Scorer, captures: list) -> None:
    for capture in captures:
        scorer.add(capture)
    scorer.finish()


def test_a_scorer_that_fails_is_reported_not_waited_for(sim):
    baseline = load_baseline(sim / "baseline")
    reference = PayloadReference.from_baseline(baseline, membership_key=KEY)
    broken = _PayloadJob(baseline=sim / "no-such-baseline", signing_key=None, membership_key=KEY)
    scorer = _Scorer(broken, reference)
    try:
        with pytest.raises(Failure, match="payload inspection failed: Failure: --baseline"):
            _feed(scorer, _captures(sim))
    finally:
        scorer.stop()


def test_a_scorer_that_dies_is_reported_not_waited_for(sim):
    baseline = load_baseline(sim / "baseline")
    reference = PayloadReference.from_baseline(baseline, membership_key=KEY)
    job = _PayloadJob(baseline=sim / "baseline", signing_key=None, membership_key=KEY)
    environment = dict(os.environ)
    scorer = _Scorer(job, reference)
    assert dict(os.environ) == environment  # the scorer's one BLAS thread is its own
    try:
        scorer._process.kill()
        scorer._process.join()
        with pytest.raises(Failure, match="payload process ended unexpectedly"):
            _feed(scorer, _captures(sim))
    finally:
        scorer.stop()


def test_the_scoring_loop_hands_back_findings_and_scores(sim, tmp_path):
    baseline = load_baseline(sim / "baseline")
    reference = PayloadReference.from_baseline(baseline, membership_key=KEY)
    job = _PayloadJob(baseline=sim / "baseline", signing_key=None, membership_key=KEY)
    from secure_endpoint.runtime.payload.detector import (
        BatchIntake,
        DetectorConfig,
        PayloadDetector,
        save_batch,
    )

    alone = PayloadDetector(reference)
    expected = [f.to_json() for f in alone.run(_captures(sim))]
    intake = BatchIntake(reference.transform.width, reference.transform.positions,
                         DetectorConfig())  # fmt: skip
    batches: queue.Queue = queue.Queue()
    named, files = 0, []

    def send(batch: list) -> None:
        nonlocal named
        files.append(tmp_path / f"{len(files)}.npz")
        save_batch(files[-1], batch)
        batches.put((intake.ids[named:], str(files[-1])))
        named = len(intake.ids)

    for capture in _captures(sim):
        for batch in intake.add(capture):
            send(batch)
    for batch in intake.close():
        send(batch)
    batches.put(None)
    result: queue.Queue = queue.Queue()
    _score_batches(job, batches, result)
    status, (findings, scores) = result.get_nowait()
    assert status == "ok"
    assert findings == expected
    assert scores == alone.client_scores()
    assert len(files) > 1
    assert not any(path.exists() for path in files)  # each batch's file removed once read

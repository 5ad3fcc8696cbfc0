"""``make demo``'s steps 2 and 3, end to end on small traffic (the ``--quick`` variant, step 1
skipped): the monitor's real code in moto, and the report read back from the files it wrote."""

from __future__ import annotations

import os
from typing import Any

import pytest

from demo.__main__ import Options, Outcome
from demo.__main__ import run as run_demo
from demo.loop import QUICK, RunRecord
from demo.model_inputs import QUICK_HOURS
from demo.payload import QUICK_HOURS as PAYLOAD_QUICK_HOURS
from demo.plots import FILES
from demo.report import MONITOR, THRESHOLD, evaluations, markdown

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    before = dict(os.environ)
    lines: list[str] = []
    outcome = run_demo(
        Options(
            out=tmp_path_factory.mktemp("demo-report"),
            skip_synth=True,
            loop=QUICK,
            capture_hours=QUICK_HOURS,
            payload_hours=PAYLOAD_QUICK_HOURS,
        ),
        say=lines.append,
    )
    return {"outcome": outcome, "lines": lines, "environ_before": before, "after": dict(os.environ)}


@pytest.fixture(scope="module")
def outcome(demo: dict[str, Any]) -> Outcome:
    result: Outcome = demo["outcome"]
    return result


def _attackers(outcome: Outcome) -> set[str]:
    return {
        principal
        for attack in outcome.loop.truth.attacks
        for principal in attack["principals"]
        if attack["kind"] in ("attack:flood", "attack:credential-stuffing", "attack:path-scan")
    }


def test_attackers_are_blocked_in_the_waf_ip_sets_and_nobody_else(outcome: Outcome) -> None:
    blocked = outcome.loop.ever_blocked()

    assert blocked
    bare = {address.removesuffix("/32") for address in blocked}
    assert bare <= _attackers(outcome)
    flood = next(a for a in outcome.loop.truth.attacks if a["kind"] == "attack:flood")
    assert {f"{p}/32" for p in flood["principals"][1:]} <= set(blocked)


def test_a_block_has_its_record_in_the_table_while_it_is_in_the_ip_set(outcome: Outcome) -> None:
    for run in outcome.loop.runs:
        assert {record["address"] for record in run.records} == set(run.blocked)
        for record in run.records:
            assert record["expiresAt"] > run.now


def test_an_allowlisted_attacker_is_flagged_but_never_blocked(outcome: Outcome) -> None:
    loop = outcome.loop
    insider = loop.allowlisted_attacker

    assert loop.refused() == [insider]
    flagged = {f["principal"] for run in loop.runs for f in run.result["anomalous"]}
    assert insider.removesuffix("/32") in flagged
    for run in loop.all_runs():
        assert insider not in run.blocked
        assert insider not in {record["address"] for record in run.records}


def test_alerts_are_read_back_from_the_subscribed_queue(outcome: Outcome) -> None:
    runs = outcome.loop.runs
    alerted = [run for run in runs if run.result["alerted"]]

    assert alerted
    for run in runs:
        assert len(run.alerts) == int(run.result["alerted"])
    blocking = next(run for run in alerted if run.result["blocked"])
    (alert,) = blocking.alerts
    assert alert["windowEnd"] == blocking.window_end
    assert alert["blocked"] == blocking.result["blocked"]
    assert alert["autoBlock"] is True


def test_the_ttl_expiry_releases_what_was_still_blocked(outcome: Outcome) -> None:
    loop = outcome.loop
    last: RunRecord = loop.runs[-1]
    expiry = loop.expiry
    assert expiry is not None

    assert last.blocked  # something to release
    assert expiry.now - last.now > loop.options.block_ttl_seconds
    assert sorted(expiry.result["expired"]) == last.blocked
    assert expiry.blocked == []
    assert expiry.records == []


def test_every_run_emits_a_score_per_client_and_its_counts(outcome: Outcome) -> None:
    for run in outcome.loop.runs:
        assert run.client_scores
        assert all(0 <= score <= 1 for score in run.client_scores.values())
        (counts,) = [m for m in run.metrics if "Blocked" in m]
        namespace = counts["_aws"]["CloudWatchMetrics"][0]["Namespace"]
        assert namespace == "SecureEndpoint/Anomaly"
        assert _value(counts["Blocked"]) == len(run.result["blocked"])
        assert _value(counts["AnomalousPrincipals"]) == len(run.result["anomalous"])


def _value(metric: Any) -> float:
    return float(metric[0] if isinstance(metric, list) else metric)


def test_the_model_is_fitted_on_the_baseline_and_read_back_from_the_bucket(
    outcome: Outcome,
) -> None:
    loop = outcome.loop
    assert loop.runs[0].result["model"] == "rules only"  # before the fitter's first run
    assert loop.fits[0]["status"] == "fitted"
    assert {run.result["model"] for run in loop.runs[1:]} == {"stored model"}
    assert loop.model is not None
    assert loop.model.key.endswith(f"{loop.model.sha256}.bin")
    assert 0 < loop.model.thresholds[0] < 1


def test_the_monitor_catches_the_floods_and_the_threshold_misses_the_stolen_secret(
    outcome: Outcome,
) -> None:
    scored = evaluations(outcome.loop)

    assert scored[MONITOR].kinds["attack:flood"].caught
    assert scored[MONITOR].kinds["attack:stolen-secret"].caught
    assert not scored[THRESHOLD].kinds["attack:stolen-secret"].caught


def test_the_report_and_every_plot_are_written(outcome: Outcome) -> None:
    report, *others = outcome.files
    names = {path.name for path in others}

    assert report.name == "report.md"
    text = report.read_text()
    assert "Logs Insights is emulated locally" in text
    assert "## 3. Detection, against a static threshold" in text
    assert "_Not run: skipped (--skip-synth)_" in text
    assert set(FILES) <= names
    for name in FILES:
        data = (report.parent / name).read_bytes()
        assert data.startswith(PNG)
        assert len(data) > 10_000
        assert f"]({name})" in text
    output = (report.parent / "monitor-output.jsonl").read_text()
    assert '"_aws"' in output


class Summary:
    def markdown(self) -> str:
        return "## Synthesis\n\n| pack | open |\n| --- | --- |\n| AwsSolutions | 0 |\n"


def test_step_ones_summary_sits_under_the_reports_first_section(outcome: Outcome) -> None:
    text = markdown(outcome.loop, evaluations(outcome.loop), Summary())

    first = text.index("## 1. The sample app, synthesized and checked")
    assert text.index("\n### Synthesis\n") > first
    assert "\n## Synthesis" not in text
    assert "| AwsSolutions | 0 |" in text
    assert text.index("| AwsSolutions | 0 |") < text.index("## 2. The security loop")


def test_the_console_says_each_step_and_ends_with_the_report_and_the_deploy_command(
    demo: dict[str, Any], outcome: Outcome
) -> None:
    lines: list[str] = demo["lines"]
    steps = [line for line in lines if line.startswith("[")]

    assert [s[:5] for s in steps] == ["[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"]
    assert any("Logs Insights is emulated locally" in line for line in lines)
    assert any(line.strip().startswith("blocked: ") for line in lines)
    assert lines[-2] == f"Report: {outcome.files[0]}   (the demo took {outcome.seconds:.0f} s)"
    assert lines[-1] == "Deploy to your own AWS account: make deploy"


def test_the_fake_credentials_do_not_outlive_the_loop(demo: dict[str, Any]) -> None:
    def aws(environ: dict[str, str]) -> dict[str, str]:
        return {name: value for name, value in environ.items() if name.startswith("AWS_")}

    assert aws(demo["after"]) == aws(demo["environ_before"])


def test_the_fast_variant_stays_fast(outcome: Outcome) -> None:
    assert outcome.seconds < 75  # 60 before the payload act (about 10 s of it)


def test_the_model_aware_step_refuses_bad_rows_and_reports_drift(outcome: Outcome) -> None:
    report = outcome.files[0].read_text()
    assert "## The model-aware layer: input constraints and drift" in report
    assert "| a training row | passed to the model |" in report
    assert "| a row one value short | 400 invalid_body | 0: minItems" in report
    assert '| "NaN" as a string | 400 invalid_body |' in report
    assert any(path.name == "drift.png" for path in outcome.files)
    assert (outcome.files[0].parent / "drift.png").stat().st_size > 10_000


def test_the_payload_act_flags_the_attackers_and_stops_them_and_nobody_else(
    outcome: Outcome,
) -> None:
    result = outcome.payload
    by_key = {attack.key: attack for attack in result.attacks}
    # the request model stops rows out of bounds at the first one, before the model sees it
    ood = by_key["ood:impossible"]
    assert (ood.stopped["reason"], ood.stopped["afterQueries"]) == ("invalid_body", 0)
    # the others are flagged by what they send, of their own kind, and then quarantined
    for key, kind in (("extraction:active", "extraction"), ("boundary:hopskipjump", "probing"),
                      ("membership:exact", "membership")):  # fmt: skip
        attack = by_key[key]
        assert attack.first_finding is not None, key
        assert attack.first_finding["kind"] == kind
        assert attack.first_finding["queries"] <= 500
        assert attack.stopped["reason"] == "quarantined"
        assert attack.stopped["afterQueries"] < attack.queries + 1
    assert 0.5 < by_key["extraction:active"].agreement_at_flag <= 1
    legit = [c for c in result.clients if c.legitimate]
    assert len(legit) >= 30
    assert result.false_positives == []
    assert result.captured_rows > 5_000
    assert all(len(c.scores) == len(result.check_hours) for c in result.clients)

    report = outcome.files[0].read_text()
    assert "## Payload abuse: caught in what clients send" in report
    assert "| `ood:impossible` | 1 per 30 s | not flagged | - | invalid_body after 0 queries |" in (
        report
    )
    assert "Legitimate clients flagged: 0 of" in report
    for name in ("payload_scores.png", "extraction.png"):
        path = outcome.files[0].parent / name
        assert path in outcome.files
        assert path.read_bytes().startswith(PNG)
        assert path.stat().st_size > 10_000

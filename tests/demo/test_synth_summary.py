"""Step 1 of the demo: the baseline derived from the sample app's templates, the cdk-nag counts,
the environment checks, and one real run with the pinned CDK CLI."""

from __future__ import annotations

import copy
import json
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_app import synth_app

from demo import synth_summary
from demo.baseline import Status, resources_by_service, template_protections
from demo.synth_summary import (
    DemoError,
    LintResult,
    NagResult,
    PackEvaluation,
    check_environment,
    nag_results,
    summarize,
    unused_acknowledgements,
)

pytestmark = pytest.mark.synth

STACK = "SecureEndpointSample"


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The sample app as `cdk synth` builds it, in process, bundling skipped (once per module)."""
    return synth_app(tmp_path_factory.mktemp("synth-summary"))


def protections_of(templates: dict[str, Any]) -> dict[str, Any]:
    return {p.name: p for p in template_protections(templates)}


def resources(templates: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in templates[STACK]["Resources"].values() if r["Type"] == kind]


# --- the sample app ------------------------------------------------------------------------


def test_the_sample_app_shows_each_protection_with_its_values(templates: dict[str, Any]) -> None:
    found = protections_of(templates)
    assert found["authentication"].status is Status.ON
    assert "1/1 methods require secure-endpoint/invoke" in found["authentication"].evidence
    assert "usage plan 50 rps, 100,000/day; stage 100 rps" in found["rate limiting"].evidence
    assert "1,000 per IP per 300 s" in found["rate limiting"].evidence
    assert found["burst limits"].evidence.startswith("usage plan rate 50 rps, burst 100")
    assert "SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09" in found["TLS in transit"].evidence
    assert "JSON Schema InferenceRequest" in found["input validation"].evidence
    assert "65,536 B" in found["input validation"].evidence
    assert "network isolation on 1/1 models, in 2 private subnets" in (
        found["model isolation"].evidence
    )
    assert "rotated rate(30 days)" in found["secrets management"].evidence
    assert "anomaly_monitor rate(5 minutes)" in found["anomaly detection with alerts"].evidence
    assert "capped at 4 instances" in found["DDoS protection"].evidence
    for name in (
        "TLS in transit",
        "encryption at rest",
        "logging and monitoring",
        "API gateway controls",
        "least privilege",
        "clear HTTP responses",
        "incident response",
        "threat intelligence",
    ):
        assert found[name].status is Status.ON, found[name]


def test_shield_advanced_is_opt_in_and_off_by_default(templates: dict[str, Any]) -> None:
    shield = protections_of(templates)["Shield Advanced"]
    assert shield.status is Status.OPT_IN
    assert shield.evidence.startswith("opt-in (off)")


def test_shield_advanced_is_on_with_a_protection_in_the_template(
    templates: dict[str, Any],
) -> None:
    shielded = copy.deepcopy(templates)
    shielded[STACK]["Resources"]["Protection"] = {
        "Type": "AWS::Shield::Protection",
        "Properties": {
            "Name": "p",
            "ResourceArn": "arn:aws:cloudfront::123456789012:distribution/EXAMPLE",
            "ApplicationLayerAutomaticResponseConfiguration": {
                "Action": {"Block": {}},
                "Status": "ENABLED",
            },
        },
    }
    shield = protections_of(shielded)["Shield Advanced"]
    assert shield.status is Status.ON
    assert "automatic layer-7 response on 1/1" in shield.evidence


def test_integrity_names_the_check_and_needs_a_tamper_alarm(templates: dict[str, Any]) -> None:
    without_alarm = copy.deepcopy(templates)
    alarms = without_alarm[STACK]["Resources"]
    for logical_id, alarm in list(alarms.items()):
        if alarm["Type"] == "AWS::CloudWatch::Alarm" and not str(
            alarm["Properties"].get("Namespace", "AWS/")
        ).startswith("AWS/"):
            del alarms[logical_id]  # the alarms on the stack's own metrics
    with_alarm = copy.deepcopy(without_alarm)
    with_alarm[STACK]["Resources"]["Tamper"] = {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {"Namespace": "Acme/Integrity", "MetricName": "ArtifactDigestMismatch"},
    }
    verified = "SHA-256 verified by Custom::ModelArtifactVerification before 1/1 models exist"
    present = protections_of(with_alarm)["model and data integrity"]
    absent = protections_of(without_alarm)["model and data integrity"]
    assert (present.status, absent.status) == (Status.ON, Status.MISSING)
    assert present.evidence.startswith(verified)
    assert present.evidence.endswith("; tamper alarm on ArtifactDigestMismatch")
    assert absent.evidence.startswith(verified)
    assert absent.evidence.endswith("; missing: tamper alarm on the artifact")


def test_an_alarm_on_the_checking_functions_errors_is_no_tamper_alarm(
    templates: dict[str, Any],
) -> None:
    changed = copy.deepcopy(templates)
    alarms = changed[STACK]["Resources"]
    for logical_id, alarm in list(alarms.items()):
        if alarm["Type"] == "AWS::CloudWatch::Alarm":
            del alarms[logical_id]
    alarms["CheckErrors"] = {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "AlarmDescription": "the model artifact check failed",
        },
    }
    found = protections_of(changed)["model and data integrity"]
    assert found.status is Status.MISSING


def test_resources_are_grouped_by_service_most_first() -> None:
    template = {
        "Resources": {
            "A": {"Type": "AWS::S3::Bucket"},
            "B": {"Type": "AWS::S3::BucketPolicy"},
            "C": {"Type": "Custom::Verification"},
            "D": {"Type": "AWS::CDK::Metadata"},
            "E": {"Type": "AWS::KMS::Key"},
        }
    }
    assert list(resources_by_service({"s": template}).items()) == [
        ("S3", 2),
        ("Custom", 1),
        ("KMS", 1),
    ]


# --- a protection removed shows a cross ----------------------------------------------------


def _first(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(r for r in template["Resources"].values() if r["Type"] == kind)


def _drop(template: dict[str, Any], kind: str) -> None:
    for logical_id in [k for k, r in template["Resources"].items() if r["Type"] == kind]:
        del template["Resources"][logical_id]


def _no_auth(t: dict[str, Any]) -> None:
    method = _first(t, "AWS::ApiGateway::Method")["Properties"]
    method["AuthorizationType"] = "NONE"
    del method["AuthorizationScopes"]


def _wildcard_grant(t: dict[str, Any]) -> None:
    policy = _first(t, "AWS::IAM::ManagedPolicy")["Properties"]["PolicyDocument"]
    policy["Statement"].append({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})


def _silent_alarms(t: dict[str, Any]) -> None:
    for alarm in t["Resources"].values():
        if alarm["Type"] == "AWS::CloudWatch::Alarm":
            alarm["Properties"].pop("AlarmActions", None)


def _no_throttled_response(t: dict[str, Any]) -> None:
    for logical_id, r in list(t["Resources"].items()):
        if r["Type"] == "AWS::ApiGateway::GatewayResponse" and r["Properties"]["StatusCode"] in (
            "429",
        ):
            del t["Resources"][logical_id]


REMOVALS: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    (
        "no Cognito authorizer",
        _no_auth,
        "authentication",
        "POST /v1/predict is not authorized by a Cognito scope",
    ),
    (
        "TLS 1.0 default",
        lambda t: _first(t, "AWS::ApiGateway::RestApi")["Properties"].pop("SecurityPolicy"),
        "TLS in transit",
        "none (TLS 1.0 allowed)",
    ),
    (
        "a key that never rotates",
        lambda t: _first(t, "AWS::KMS::Key")["Properties"].update(EnableKeyRotation=False),
        "encryption at rest",
        "key rotation off",
    ),
    (
        "no usage plan throttle",
        lambda t: _first(t, "AWS::ApiGateway::UsagePlan")["Properties"].pop("Throttle"),
        "rate limiting",
        "has no rate limit",
    ),
    (
        "no usage plan throttle",
        lambda t: _first(t, "AWS::ApiGateway::UsagePlan")["Properties"].pop("Throttle"),
        "burst limits",
        "a usage plan without a burst limit",
    ),
    (
        "no body validation",
        lambda t: _first(t, "AWS::ApiGateway::RequestValidator")["Properties"].update(
            ValidateRequestBody=False
        ),
        "input validation",
        "POST /v1/predict does not validate its body",
    ),
    (
        "no WAF logs",
        lambda t: _drop(t, "AWS::WAFv2::LoggingConfiguration"),
        "logging and monitoring",
        "web ACL without logs",
    ),
    (
        "WAF not associated",
        lambda t: _drop(t, "AWS::WAFv2::WebACLAssociation"),
        "API gateway controls",
        "stage without a web ACL",
    ),
    ("a wildcard grant", _wildcard_grant, "least privilege", "wildcard actions s3:*"),
    (
        "uncapped autoscaling",
        lambda t: _drop(t, "AWS::ApplicationAutoScaling::ScalableTarget"),
        "DDoS protection",
        "endpoint autoscaling without a cap",
    ),
    (
        "no rotation",
        lambda t: _drop(t, "AWS::SecretsManager::RotationSchedule"),
        "secrets management",
        "secrets never rotated",
    ),
    ("no 429 body", _no_throttled_response, "clear HTTP responses", "no JSON body for 429"),
    (
        "silent alarms",
        _silent_alarms,
        "anomaly detection with alerts",
        "anomaly alarms that notify no one",
    ),
    ("silent alarms", _silent_alarms, "incident response", "alarms that notify no one"),
    (
        "no network isolation",
        lambda t: _first(t, "AWS::SageMaker::Model")["Properties"].update(
            EnableNetworkIsolation=False
        ),
        "model isolation",
        "network isolation off",
    ),
    (
        "no reputation lists",
        lambda t: _first(t, "AWS::WAFv2::WebACL")["Properties"].update(
            Rules=[
                r
                for r in _first(t, "AWS::WAFv2::WebACL")["Properties"]["Rules"]
                if "IpReputation" not in r["Name"] and "AnonymousIp" not in r["Name"]
            ]
        ),
        "threat intelligence",
        "no AWS managed reputation list",
    ),
]


@pytest.mark.parametrize(
    ("change", "mutate", "protection", "says"),
    REMOVALS,
    ids=[f"{protection}: {change}" for change, _, protection, _ in REMOVALS],
)
def test_a_template_without_a_protection_shows_a_cross(
    templates: dict[str, Any],
    change: str,
    mutate: Callable[[dict[str, Any]], None],
    protection: str,
    says: str,
) -> None:
    assert protections_of(templates)[protection].status is Status.ON
    changed = copy.deepcopy(templates)
    mutate(changed[STACK])
    found = protections_of(changed)[protection]
    assert found.status is Status.MISSING
    assert found.mark == "✗"
    assert says in found.evidence


def test_a_nat_gateway_is_reported_as_egress(templates: dict[str, Any]) -> None:
    changed = copy.deepcopy(templates)
    changed[STACK]["Resources"]["Nat"] = {"Type": "AWS::EC2::NatGateway", "Properties": {}}
    assert "; 1 internet/NAT gateway in the stack;" in (
        protections_of(changed)["model isolation"].evidence
    )


def test_an_empty_template_misses_every_protection_but_the_opt_in_one() -> None:
    found = template_protections({"Empty": {"Resources": {}}})
    assert {p.status for p in found if p.name != "Shield Advanced"} == {Status.MISSING}


# --- cdk-nag counts ------------------------------------------------------------------------


def test_acknowledged_findings_are_the_raw_ones_the_applied_run_lacks() -> None:
    applied = {"AwsSolutions": set(), "Serverless": set()}
    redrive = "Serverless-SQSRedrivePolicy"
    raw = {
        "AwsSolutions": {("AwsSolutions-IAM5[Resource::*]", "S/A"), ("AwsSolutions-L1", "S/B")},
        "Serverless": {(redrive, "S/Q1"), (redrive, "S/Q2")},
    }
    results = nag_results(applied, raw, {"pluginReports": []})
    assert results == (
        NagResult("AwsSolutions", unacknowledged=0, acknowledged=2, acknowledged_rules=2),
        NagResult("Serverless", unacknowledged=0, acknowledged=2, acknowledged_rules=1),
    )


def test_open_findings_come_from_both_runs_and_must_agree() -> None:
    finding = ("AwsSolutions-L1", "S/Function/Resource")
    report = {
        "pluginReports": [
            {
                "pluginName": "AwsSolutions",
                "violations": [{"ruleName": "AwsSolutions-L1", "violatingConstructs": [{}]}],
            }
        ]
    }
    (result,) = nag_results({"AwsSolutions": {finding}}, {"AwsSolutions": {finding}}, report)
    assert (result.unacknowledged, result.acknowledged) == (1, 0)
    with pytest.raises(DemoError, match="cdk synth reports 0 open AwsSolutions findings where"):
        nag_results({"AwsSolutions": {finding}}, {"AwsSolutions": {finding}}, {})


def test_an_acknowledgement_that_matches_no_finding_is_reported() -> None:
    packs = PackEvaluation(
        applied={"AwsSolutions": set()},
        raw={"AwsSolutions": {("AwsSolutions-IAM5", "S/Fn/Role/Policy/Resource")}},
        recorded=(
            ("AwsSolutions-IAM5", "S/Fn"),  # on an ancestor of the finding: used
            ("AwsSolutions-COG3", "S/Pool"),  # the pack raises nothing there: unused
            ("AwsSolutions-IAM5", "S/Other"),  # the rule, but elsewhere: unused
        ),
    )
    assert unused_acknowledgements(packs) == (
        ("AwsSolutions-COG3", "S/Pool"),
        ("AwsSolutions-IAM5", "S/Other"),
    )


# --- the summary ---------------------------------------------------------------------------


def test_the_summary_prints_short_lines_and_markdown_tables(templates: dict[str, Any]) -> None:
    changed = copy.deepcopy(templates)
    _first(changed[STACK], "AWS::SageMaker::Model")["Properties"]["EnableNetworkIsolation"] = False
    nag = [NagResult("AwsSolutions", 0, 18, 13), NagResult("HIPAA.Security", 0, 6, 5)]
    summary = summarize(
        changed,
        nag=nag,
        lint=LintResult(templates=1, errors=0, warnings=1, informational=0, messages=("a|b",)),
        cdk_out=Path("cdk.out"),
        acknowledgements=24,
        unused_acknowledgements=[("AwsSolutions-COG3", "S/Pool")],
        timings=[("cdk synth", 10.04)],
    )
    lines = summary.console_lines()
    assert lines[0].startswith(f"1 stack ({STACK}): ")
    assert lines[0].endswith("[cdk synth 10.0 s]")
    assert lines[2] == (
        "cdk-nag, 2 packs: 0 unacknowledged; acknowledged with a reason: AwsSolutions 18, "
        "HIPAA.Security 6; unused acknowledgements: 1 (see the report)"
    )
    assert lines[3] == "cfn-lint: 0 errors, 1 warnings (1 template)"
    (isolation,) = [line for line in lines if "model isolation" in line]
    assert isolation.lstrip().startswith("✗ 14 model isolation")
    assert summary.clean
    assert "model isolation" in {p.name for p in summary.missing}
    assert "compliance" in {p.name for p in summary.protections}
    markdown = summary.markdown()
    assert "| AwsSolutions | 0 | 18 | 13 |" in markdown
    assert "| 14 | model isolation | ✗ | missing: network isolation off on " in markdown
    assert "- `a\\|b`" in markdown
    assert "- `AwsSolutions-COG3` on `S/Pool`" in markdown


def test_a_scan_with_open_findings_is_not_clean(templates: dict[str, Any]) -> None:
    summary = summarize(
        templates,
        nag=[NagResult("HIPAA.Security", 2, 0, 0)],
        lint=LintResult(templates=1, errors=1, warnings=0, informational=0),
        cdk_out=Path("cdk.out"),
    )
    assert not summary.clean
    scans = {p.name: p for p in summary.protections if p.control in (6, 18)}
    assert scans["vulnerability scanning"].evidence == (
        "missing: 2 open cdk-nag findings; 1 cfn-lint errors"
    )
    assert "open findings in HIPAA.Security" in scans["compliance"].evidence


# --- the environment -----------------------------------------------------------------------


def _executable(path: Path, script: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def fake_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Put only a fake `node` printing ``version`` on PATH."""
    bin_dir = tmp_path / "bin"

    def install(version: str) -> None:
        _executable(bin_dir / "node", f'echo "{version}"\n')
        monkeypatch.setenv("PATH", str(bin_dir))

    return install


def test_no_node_on_path_says_to_install_node_20_and_run_make_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DemoError, match=r"Node\.js is not installed \(no `node` on PATH\)") as e:
        synth_summary.run(tmp_path / "out")
    assert "Node.js 20 or later" in str(e.value)
    assert "`make setup`" in str(e.value)


def test_an_old_node_is_refused(fake_node: Callable[[str], None], tmp_path: Path) -> None:
    fake_node("v18.19.0")
    with pytest.raises(DemoError, match=r"Node\.js 18 found at .*needs Node\.js 20 or later"):
        check_environment(tmp_path)


def test_a_missing_pinned_cli_says_make_setup_needs_network_once(
    fake_node: Callable[[str], None], tmp_path: Path
) -> None:
    fake_node("v20.11.1")
    with pytest.raises(DemoError, match=r"the pinned CDK CLI is not installed") as e:
        check_environment(tmp_path)
    assert "`make setup`" in str(e.value)
    assert "needs network access once" in str(e.value)


def test_a_missing_virtualenv_is_named(fake_node: Callable[[str], None], tmp_path: Path) -> None:
    fake_node("v22.1.0")
    _executable(tmp_path / "node_modules/.bin/cdk", "exit 0\n")
    (tmp_path / "cdk.json").write_text(json.dumps({"app": ".venv/bin/python app.py"}))
    with pytest.raises(DemoError, match=r"\(\.venv/bin/python\) is missing: run `make setup`"):
        check_environment(tmp_path)


def _fake_root(tmp_path: Path, cdk_script: str) -> Path:
    root = tmp_path / "repo"
    _executable(root / "node_modules/.bin/cdk", cdk_script)
    (root / "cdk.json").write_text(json.dumps({"app": "python3 app.py"}))
    return root


def test_a_failed_synth_shows_its_tail_and_the_open_findings(
    fake_node: Callable[[str], None], tmp_path: Path
) -> None:
    fake_node("v20.11.1")
    report = {
        "pluginReports": [
            {
                "pluginName": "AwsSolutions",
                "violations": [
                    {"ruleName": "AwsSolutions-L1", "violatingConstructs": [{}, {}]},
                ],
            }
        ]
    }
    root = _fake_root(
        tmp_path,
        'i=1; while [ "$i" -le 40 ]; do echo "line $i"; i=$((i + 1)); done\n'
        f"echo '{json.dumps(report)}' > \"$5/validation-report.json\"\n"
        'echo "Synthesis finished with errors" >&2\nexit 1\n',
    )
    with pytest.raises(DemoError) as failure:
        synth_summary.run(tmp_path / "out", root=root)
    message = str(failure.value)
    assert message.startswith(
        "cdk synth failed (exit 1). Open cdk-nag findings: AwsSolutions 2. Its last lines:\n"
    )
    assert message.endswith("line 40\nSynthesis finished with errors")
    assert "line 15\n" not in message


def test_the_output_directory_is_emptied_only_when_it_is_a_cloud_assembly(
    fake_node: Callable[[str], None], tmp_path: Path
) -> None:
    fake_node("v20.11.1")
    root = _fake_root(tmp_path, "exit 1\n")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(DemoError, match=r"refusing to empty .*not a cloud assembly"):
        synth_summary.run(tmp_path / "out", cdk_out=precious, root=root)
    assert (precious / "notes.txt").read_text() == "keep me"
    old = tmp_path / "old-assembly"
    old.mkdir()
    (old / "manifest.json").write_text("{}")
    (old / "stale.template.json").write_text("{}")
    with pytest.raises(DemoError, match="cdk synth failed"):
        synth_summary.run(tmp_path / "out", cdk_out=old, root=root)
    assert list(old.iterdir()) == []


# --- the real thing ------------------------------------------------------------------------


def test_run_synthesizes_with_the_pinned_cli_and_counts_every_pack(tmp_path: Path) -> None:
    """About 30 s on two cores: the CLI synth, cfn-lint and two in-process builds for the packs."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    steps: list[str] = []
    started = time.perf_counter()
    summary = synth_summary.run(tmp_path, say=steps.append)
    assert time.perf_counter() - started < 120
    assert len(steps) == 3
    assert summary.cdk_out == (tmp_path / "cdk.out").resolve()
    assert (summary.cdk_out / f"{STACK}.template.json").is_file()
    assert [name for name, _ in summary.stacks] == [STACK]
    assert summary.clean
    assert [r.pack for r in summary.nag] == [
        "AwsSolutions",
        "HIPAA.Security",
        "NIST.800.53.R5",
        "PCI.DSS.321",
        "Serverless",
    ]
    assert all(r.unacknowledged == 0 for r in summary.nag)
    assert all(0 < r.acknowledged_rules <= r.acknowledged for r in summary.nag)
    assert summary.acknowledgements > 0
    packs = tuple(f"{r.pack}-" for r in summary.nag)
    assert all(rule.startswith(packs) for rule, _ in summary.unused_acknowledgements)
    assert summary.lint.errors == 0
    assert dict(summary.services)["ApiGateway"] > 0
    on = {p.name for p in summary.protections if p.status is Status.ON}
    assert {"authentication", "rate limiting", "vulnerability scanning", "compliance"} <= on

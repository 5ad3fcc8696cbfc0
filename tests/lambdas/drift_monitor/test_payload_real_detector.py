"""The drift monitor's payload half with the real detector (``secure_endpoint.runtime.payload``)
over moto S3 and SNS: a baseline with payload.json and keyed membership hashes, legitimate
clients and two attackers spread over two hourly runs. The state written by the first run is
what the second resumes from; the attackers are found with their kinds, nobody else is."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import numpy as np
import pytest
from drift_monitor import handler
from drift_monitor import payload as pay
from drift_monitor.handler import Config, Payload, run
from moto import mock_aws

from secure_endpoint.cli.commands import main
from secure_endpoint.runtime.baseline import store
from secure_endpoint.runtime.capture.drift import Reference
from secure_endpoint.runtime.payload.detector import DetectorConfig, PayloadDetector
from secure_endpoint.runtime.payload.reference import PayloadReference
from secure_endpoint.simulate.capture import population as pop

BUCKET = "capture-bucket"
PREFIX = "capture/churn/"
REGION = "us-east-1"
KEY = b"k" * 32


@pytest.fixture(scope="module")
def baseline(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[store.Baseline, np.ndarray, Path]:
    folder = tmp_path_factory.mktemp("payload-baseline")
    rows, labels = pop.training_set(seed=3, n=6000)
    pop.write_training_csv(folder / "training.csv", rows, labels)
    (folder / "key").write_bytes(KEY)
    code = main(["baseline", "--training", str(folder / "training.csv"), "--label-column",
                 "label", "--output", str(folder / "baseline"),
                 "--membership-key-file", str(folder / "key")])  # fmt: skip
    assert code == 0
    return store.load_baseline(Path(folder / "baseline")), rows, folder / "baseline"


def line(client: str, n: int, rows: np.ndarray, at: float) -> str:
    moment = datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({
        "captureData": {
            "endpointInput": {"observedContentType": "application/json", "mode": "INPUT",
                              "data": json.dumps({"instances": rows.tolist()}),
                              "encoding": "JSON"},
            "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                               "data": json.dumps({"predictions": [0.3] * len(rows)}),
                               "encoding": "JSON"},
        },
        "eventMetadata": {"eventId": f"e{n}", "inferenceId": f"{client}:r{n}",
                          "inferenceTime": moment},
        "eventVersion": "0",
    })  # fmt: skip


def hour(s3, at: float, name: str, rng: np.random.Generator, training: np.ndarray) -> None:
    """Half an hour of traffic: 12 legitimate clients of their own sub-populations, an
    attacker sending impossible ages and one replaying training rows."""
    lines = []
    n = 0
    for i in range(12):
        rows = pop.sample(rng, 150, pop.SubPopulation.draw(np.random.default_rng(i)))
        for row in rows:
            lines.append(line(f"legit-{i}", n, row[None], at - 1800 + n % 1700))
            n += 1
    impossible = pop.sample(rng, 100, pop.SubPopulation.training())
    impossible[:, 0] = rng.uniform(200, 400, 100)
    members = training[rng.choice(len(training), 100)]
    for client, rows in (("impossible", impossible), ("member", members)):
        for row in rows:
            lines.append(line(client, n, row[None], at - 1800 + n % 1700))
            n += 1
    folder = datetime.fromtimestamp(at, UTC)
    key = f"{PREFIX}AllTraffic/{folder:%Y/%m/%d/%H}/{name}.jsonl"
    s3.put_object(Bucket=BUCKET, Key=key, Body="\n".join(lines).encode())


def test_two_hourly_runs_find_each_attacker_once_and_resume_from_the_state(baseline):
    documents, training, _ = baseline
    reference = Reference.from_baseline(documents)
    payload_ref = PayloadReference.from_baseline(documents, membership_key=KEY)

    def detector(state: bytes | None) -> PayloadDetector:
        if state is None:
            return PayloadDetector(payload_ref, DetectorConfig())
        return PayloadDetector.from_state_bytes(payload_ref, state)

    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        sns = boto3.client("sns", region_name=REGION)
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        cfg = Config.from_env({"CAPTURE_BUCKET": BUCKET, "ENDPOINT_PREFIX": PREFIX,
                               "STATE_PREFIX": "drift/", "PAYLOAD_MONITORING": "true",
                               "ALERT_TOPIC_ARN": topic})  # fmt: skip
        parts = Payload(detector, pay.baseline_digest(documents.manifest), sns)
        rng = np.random.default_rng(7)
        now = datetime.now(UTC).timestamp()
        found: dict[tuple[str, str], int] = {}
        for run_at, name in ((now - 3600, "first"), (now, "second")):
            hour(s3, run_at, name, rng, training)
            summary = run(run_at + 5, cfg, reference, s3, parts)
            for finding in summary["payload"]["findings"]:
                key = (finding["client_id"], finding["kind"])
                found[key] = found.get(key, 0) + 1
            handler.metrics.clear_metrics()
        state = json.loads(s3.get_object(Bucket=BUCKET, Key="drift/state.json")["Body"].read())
        slot = s3.get_object(Bucket=BUCKET, Key=state["payload"]["key"])["Body"].read()
        resumed = PayloadDetector.from_state_bytes(payload_ref, slot)
    assert state["payload"]["key"] == "drift/payload/state-b.npz"  # the second run's slot
    assert found[("impossible", "out_of_distribution")] == 1  # raised once, not every hour
    assert found[("member", "membership")] == 1
    assert {client for client, _ in found} == {"impossible", "member"}  # no legitimate client
    scores = resumed.client_scores()
    assert set(scores) >= {f"legit-{i}" for i in range(12)} | {"impossible", "member"}
    assert scores["impossible"]["out_of_distribution"] > 8


def test_the_cold_start_builds_the_detector_with_the_key_from_secrets_manager(
    baseline, monkeypatch
):
    documents, _, folder = baseline
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name=REGION)
        arn = secrets.create_secret(Name="membership", SecretString=KEY.decode() + "\n")["ARN"]
        monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
        cfg = Config.from_env({"CAPTURE_BUCKET": BUCKET, "ENDPOINT_PREFIX": PREFIX,
                               "STATE_PREFIX": "drift/", "PAYLOAD_MONITORING": "true",
                               "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:1:a",
                               "BASELINE_DIR": str(folder),
                               "MEMBERSHIP_KEY_SECRET_ARN": arn})  # fmt: skip
        monkeypatch.setattr(handler, "config", lambda: cfg)
        for cached in (handler.baseline, handler.membership_key, handler.payload):
            cached.cache_clear()
        try:
            parts = handler.payload()
            assert parts is not None
            detector = parts.detector(None)
            assert isinstance(detector, PayloadDetector)
            assert detector.reference.hasher is not None  # membership judged: the key was read
            assert parts.baseline == pay.baseline_digest(documents.manifest)
        finally:
            for cached in (handler.baseline, handler.membership_key, handler.payload):
                cached.cache_clear()


class Context:
    function_name = "Payload-DriftMonitorFunction-abc"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:Payload-DriftMonitor"
    aws_request_id = "request-1"
    log_stream_name = "2026/12/07/[$LATEST]abc"


def test_the_handler_runs_from_its_environment_and_flushes_the_payload_metrics(
    baseline, monkeypatch, capsys
):
    _, training, folder = baseline
    with mock_aws():
        monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        topic = boto3.client("sns", region_name=REGION).create_topic(Name="alerts")["TopicArn"]
        environment = {"CAPTURE_BUCKET": BUCKET, "ENDPOINT_PREFIX": PREFIX,
                       "STATE_PREFIX": "drift/", "PAYLOAD_MONITORING": "true",
                       "ALERT_TOPIC_ARN": topic, "BASELINE_DIR": str(folder)}  # fmt: skip
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        caches = (handler.config, handler.baseline, handler.reference, handler.s3,
                  handler.membership_key, handler.payload)  # fmt: skip
        for cached in caches:
            cached.cache_clear()
        try:
            hour(s3, datetime.now(UTC).timestamp() - 60, "one", np.random.default_rng(3), training)
            summary = handler.handler({"time": "2026-12-07T12:00:00Z"}, Context())
        finally:
            for cached in caches:
                cached.cache_clear()
    assert summary["objects"] == 1
    assert {f["client_id"] for f in summary["payload"]["findings"]} == {"impossible"}
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines()
               if line.startswith("{") and "_aws" in line]  # fmt: skip
    namespaces = {d["_aws"]["CloudWatchMetrics"][0]["Namespace"] for d in emitted}
    assert namespaces == {"SecureEndpoint/Drift", "SecureEndpoint/Payload"}
    flagged = [d["ClientsFlagged"] for d in emitted if "ClientsFlagged" in d]
    assert flagged == [1.0] or flagged == [[1.0]]

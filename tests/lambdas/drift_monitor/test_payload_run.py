"""The drift monitor's payload half against moto S3 and SNS: findings, the alert (once, before
anything that can fail after it), quarantine requests, and the detector's state committed with
the cursor or not at all."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import numpy as np
import pytest
from baseline_dirs import build_baseline, population
from drift_monitor import handler
from drift_monitor import payload as pay
from drift_monitor.handler import Config, ConfigError, Payload, run
from moto import mock_aws

from secure_endpoint.runtime.baseline import store
from secure_endpoint.runtime.capture.drift import Reference
from secure_endpoint.runtime.capture.records import UNKNOWN_CLIENT, Capture
from secure_endpoint.runtime.payload.detector import ROWS, DetectorConfig, PayloadDetector
from secure_endpoint.runtime.payload.findings import Finding
from secure_endpoint.runtime.payload.reference import PayloadReference

BUCKET = "capture-bucket"
PREFIX = "capture/churn/"
REGION = "us-east-1"
BASELINE = "b" * 64


# --- the payload detector over the test baseline (its payload.json, no membership key) -------


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> store.Baseline:
    return store.load_baseline(build_baseline(tmp_path_factory.mktemp("d")))


@pytest.fixture(scope="module")
def reference(documents) -> Reference:
    return Reference.from_baseline(documents)


@pytest.fixture(scope="module")
def payload_reference(documents) -> PayloadReference:
    return PayloadReference.from_baseline(documents)


def rows_of(ref: PayloadReference, data: bytes, client: str) -> int:
    """The rows of ``client`` in a saved detector state."""
    detector = PayloadDetector.from_state_bytes(ref, data)
    return int(detector.total[detector.index[client], ROWS])


# --- set-up -------------------------------------------------------------------------------------


def capture_line(client: str | None, n: int, rows: np.ndarray, at: float) -> str:
    body = [[round(float(r[0]), 2), int(r[1]), int(r[2]), round(float(r[3]), 4)] for r in rows]
    moment = datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({
        "captureData": {
            "endpointInput": {"observedContentType": "application/json", "mode": "INPUT",
                              "data": json.dumps({"instances": body}), "encoding": "JSON"},
            "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                               "data": json.dumps({"predictions": [0.2] * len(body)}),
                               "encoding": "JSON"},
        },
        "eventMetadata": {"eventId": f"e{n}",
                          "inferenceId": f"{client}:r{n}" if client else f"r{n}",
                          "inferenceTime": moment},
        "eventVersion": "0",
    })  # fmt: skip


def put_hour(s3, now: float, name: str, *, attacker: str | None = None, extra: str = "") -> str:
    """600 requests of 4 rows from c0..c7 (enough clients for the detector to judge each
    against the others: with 4 features, a fifth of anyone's rows are near duplicates);
    ``attacker`` sends 30 more of 2 rows with impossible ages (with 4 features some of its rows
    are near copies of others: the detector judges the distinct ones)."""
    rng = np.random.default_rng(len(name))
    lines = [capture_line(f"c{i % 8}", i, population(rng, 4), now - 600) for i in range(600)]
    if attacker is not None:
        for i in range(30):
            rows = population(rng, 2)
            rows[:, 1] = 400
            lines.append(capture_line(attacker, 1000 + i, rows, now - 300))
    lines += [capture_line(None, 2000 + i, population(rng, 3), now - 200) for i in range(2)]
    hour = datetime.fromtimestamp(now, UTC)
    key = f"{PREFIX}AllTraffic/{hour:%Y/%m/%d/%H}/{name}.jsonl"
    s3.put_object(Bucket=BUCKET, Key=key, Body=("\n".join(lines) + "\n" + extra).encode())
    return key


@pytest.fixture
def aws():
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topics = {}
        queues = {}
        for name in ("alerts", "quarantine"):
            topics[name] = sns.create_topic(Name=name)["TopicArn"]
            queues[name] = sqs.create_queue(QueueName=name)["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(
                QueueUrl=queues[name], AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            sns.subscribe(TopicArn=topics[name], Protocol="sqs", Endpoint=queue_arn,
                          Attributes={"RawMessageDelivery": "false"})  # fmt: skip
        yield {"s3": s3, "sns": sns, "sqs": sqs, "topics": topics, "queues": queues}
        handler.metrics.clear_metrics()


def config(aws, **quarantine: Any) -> Config:
    env = {
        "CAPTURE_BUCKET": BUCKET,
        "ENDPOINT_PREFIX": PREFIX,
        "STATE_PREFIX": "drift/",
        "PAYLOAD_MONITORING": "true",
        "ALERT_TOPIC_ARN": aws["topics"]["alerts"],
        "CLIENT_NAMES": json.dumps({"c9": "partner", "c0": "web"}),
    }
    if quarantine:
        env["QUARANTINE_TOPIC_ARN"] = aws["topics"]["quarantine"]
        env["QUARANTINE"] = json.dumps(quarantine)
    return Config.from_env(env)


def detector_of(ref: PayloadReference):
    def detector(state: bytes | None) -> PayloadDetector:
        if state is None:
            return PayloadDetector(ref)
        return PayloadDetector.from_state_bytes(ref, state)

    return detector


@pytest.fixture
def parts(aws, payload_reference):
    return lambda baseline=BASELINE: Payload(detector_of(payload_reference), baseline, aws["sns"])


def messages(aws, topic: str) -> list[dict[str, Any]]:
    found = []
    while True:
        got = aws["sqs"].receive_message(QueueUrl=aws["queues"][topic], MaxNumberOfMessages=10)
        if not got.get("Messages"):
            return found
        for m in got["Messages"]:
            found.append(json.loads(m["Body"]))
            aws["sqs"].delete_message(QueueUrl=aws["queues"][topic],
                                      ReceiptHandle=m["ReceiptHandle"])  # fmt: skip


def keys(aws, prefix: str = "drift/") -> list[str]:
    listed = aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def read(aws, key: str) -> bytes:
    return bytes(aws["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read())


def committed(aws) -> dict[str, Any]:
    return json.loads(read(aws, "drift/state.json"))


def now() -> float:
    return datetime.now(UTC).timestamp()


# --- the tests ------------------------------------------------------------------------------------


def test_a_flagged_client_gets_a_finding_line_an_alert_and_metrics(aws, reference, parts, capsys):
    t = now()
    put_hour(aws["s3"], t, "a", attacker="c9")
    summary = run(t + 5, config(aws), reference, aws["s3"], parts())
    found = {(f["client_id"], f["kind"]) for f in summary["payload"]["findings"]}
    # impossible ages: out of range, and implausible together (the copula)
    assert found == {("c9", "out_of_distribution"), ("c9", "extraction")}
    assert summary["payload"]["unknown_rows"] == 6  # the detector calls them "unknown"
    assert summary["payload"]["alerted"] is True
    (jsonl_key,) = [k for k in keys(aws, "drift/findings/") if k.endswith(".payload.jsonl")]
    lines = [json.loads(line) for line in read(aws, jsonl_key).decode().splitlines()]
    assert {(f["client_id"], f["kind"]) for f in lines} == found
    (ood,) = [f for f in lines if f["kind"] == "out_of_distribution"]
    assert ood["evidence"]["violating_rows"] == ood["evidence"]["distinct_rows_checked"] >= 20
    (alert,) = messages(aws, "alerts")
    assert alert["Subject"].startswith(
        "secure-endpoint: payload extraction, out_of_distribution from 1 client ("
    )
    body = json.loads(alert["Message"])
    (entry,) = [e for e in body["findings"] if e["kind"] == "out_of_distribution"]
    assert entry["client"] == "partner"  # the endpoint's name for c9
    assert entry["clientId"] == "c9"
    assert entry["evidence"]["violating_rows"] == ood["evidence"]["violating_rows"]
    assert entry["next"] == [
        f"secure-endpoint inspect-capture --capture s3://{BUCKET}/{PREFIX} --baseline "
        "BASELINE_DIR --output findings.jsonl",
        "secure-endpoint quarantine partner --ttl 24h",
        "secure-endpoint revoke-client partner",
    ]
    assert entry["runbook"] == "docs/runbook.md#payload-out-of-distribution"
    assert body["allFindings"] == f"s3://{BUCKET}/{jsonl_key}"
    assert body["autoQuarantine"] is False
    assert messages(aws, "quarantine") == []
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines()
               if line.startswith("{") and "_aws" in line]  # fmt: skip
    for document in emitted:  # EMF lists each value
        for name, value in list(document.items()):
            if isinstance(value, list) and len(value) == 1:
                document[name] = value[0]
    namespace = "SecureEndpoint/Payload"
    payload_docs = [d for d in emitted
                    if d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == namespace]  # fmt: skip
    by_kind = {d["Kind"]: d["PayloadFindings"] for d in payload_docs if "Kind" in d}
    assert by_kind == {"extraction": 1, "probing": 0, "out_of_distribution": 1, "membership": 0}
    (totals,) = [d for d in payload_docs if "ClientsFlagged" in d]
    assert totals["ClientsFlagged"] == 1
    assert totals["UnknownClientRows"] == 6
    assert totals["PayloadRows"] == 2400 + 60 + 6
    assert totals["MaxPayloadScore"] > 8  # decimal digits of evidence: c9's
    assert {d["service"] for d in payload_docs} == {handler.metrics.service}
    scores = {d["Client"]: d["PayloadScore"] for d in payload_docs if "Client" in d}
    assert scores["c9"] == totals["MaxPayloadScore"]
    assert scores["c0"] < 8  # no finding for a legitimate client


def test_the_detector_state_is_committed_with_the_cursor_in_alternating_slots(
    aws, reference, parts, payload_reference
):
    t = now()
    cfg = config(aws)
    put_hour(aws["s3"], t - 3600, "a")
    run(t - 3590, cfg, reference, aws["s3"], parts())
    first = committed(aws)["payload"]
    assert first["key"] == "drift/payload/state-a.npz"
    assert first["baseline"] == BASELINE
    assert first["sha256"] == pay.sha256(read(aws, first["key"]))
    assert rows_of(payload_reference, read(aws, first["key"]), "c0") == 300
    put_hour(aws["s3"], t, "b")
    run(t + 5, cfg, reference, aws["s3"], parts())
    second = committed(aws)["payload"]
    assert second["key"] == "drift/payload/state-b.npz"
    assert rows_of(payload_reference, read(aws, second["key"]), "c0") == 600
    # a run with nothing new keeps the state where it is
    run(t + 10, cfg, reference, aws["s3"], parts())
    assert committed(aws)["payload"] == second


def test_a_failed_commit_leaves_cursor_and_state_and_alerts_once(
    aws, reference, parts, payload_reference, monkeypatch
):
    t = now()
    cfg = config(aws)
    put_hour(aws["s3"], t - 3600, "a")
    run(t - 3590, cfg, reference, aws["s3"], parts())
    before = committed(aws)
    slot_a = read(aws, "drift/payload/state-a.npz")
    put_hour(aws["s3"], t, "b", attacker="c9")
    real = aws["s3"].put_object

    def failing(**kwargs):
        if kwargs["Key"] == "drift/state.json":
            raise ConnectionError("S3 went away")
        return real(**kwargs)

    monkeypatch.setattr(aws["s3"], "put_object", failing)
    with pytest.raises(ConnectionError):
        run(t + 5, cfg, reference, aws["s3"], parts())
    assert committed(aws) == before  # neither the cursor nor the payload state moved
    assert read(aws, "drift/payload/state-a.npz") == slot_a  # the committed slot untouched
    (alert,) = messages(aws, "alerts")  # the alert went out before the failure
    first = [(e["clientId"], e["kind"]) for e in json.loads(alert["Message"])["findings"]]
    assert {client for client, _ in first} == {"c9"}
    monkeypatch.setattr(aws["s3"], "put_object", real)
    summary = run(t + 6, cfg, reference, aws["s3"], parts())
    assert summary["objects"] == 1  # the same object again
    again = [(f["client_id"], f["kind"]) for f in summary["payload"]["findings"]]
    assert sorted(again) == sorted(first)  # the same findings
    assert summary["payload"]["alerted"] is False  # already sent: not twice
    assert messages(aws, "alerts") == []
    after = committed(aws)["payload"]
    assert after["key"] == "drift/payload/state-b.npz"
    assert rows_of(payload_reference, read(aws, after["key"]), "c0") == 600  # each row once


def test_a_run_that_fails_before_the_alert_sends_it_on_the_retry(
    aws, reference, parts, monkeypatch
):
    t = now()
    cfg = config(aws)
    put_hour(aws["s3"], t, "a", attacker="c9")
    real = aws["sns"].publish
    monkeypatch.setattr(aws["sns"], "publish", lambda **kw: (_ for _ in ()).throw(
        ConnectionError("SNS went away")))  # fmt: skip
    with pytest.raises(ConnectionError):
        run(t + 5, cfg, reference, aws["s3"], parts())
    assert keys(aws, "drift/state.json") == []  # no commit
    monkeypatch.setattr(aws["sns"], "publish", real)
    assert run(t + 6, cfg, reference, aws["s3"], parts())["payload"]["alerted"] is True
    assert len(messages(aws, "alerts")) == 1


def test_a_missing_or_changed_detector_state_stops_the_run(aws, reference, parts):
    t = now()
    cfg = config(aws)
    put_hour(aws["s3"], t - 3600, "a")
    run(t - 3590, cfg, reference, aws["s3"], parts())
    aws["s3"].put_object(Bucket=BUCKET, Key="drift/payload/state-a.npz", Body=b"other")
    with pytest.raises(pay.PayloadStateError, match="does not match the digest"):
        run(t + 5, cfg, reference, aws["s3"], parts())
    aws["s3"].delete_object(Bucket=BUCKET, Key="drift/payload/state-a.npz")
    with pytest.raises(pay.PayloadStateError, match=r"state-a\.npz, named by state\.json, is mis"):
        run(t + 5, cfg, reference, aws["s3"], parts())


def test_a_new_baseline_starts_the_detector_over(aws, reference, parts, payload_reference):
    t = now()
    cfg = config(aws)
    put_hour(aws["s3"], t - 3600, "a")
    run(t - 3590, cfg, reference, aws["s3"], parts())
    put_hour(aws["s3"], t, "b")
    run(t + 5, cfg, reference, aws["s3"], parts("c" * 64))
    state = committed(aws)["payload"]
    assert state["baseline"] == "c" * 64
    assert rows_of(payload_reference, read(aws, state["key"]), "c0") == 300  # the new hour only


def test_malformed_capture_lines_are_counted_and_the_rest_is_scored(aws, reference, parts):
    t = now()
    put_hour(aws["s3"], t, "a", attacker="c9", extra='not json\n{"captureData": 1}\n')
    summary = run(t + 5, config(aws), reference, aws["s3"], parts())
    assert summary["skipped"] == {"not-json": 1, "not-a-capture": 1}
    assert {f["client_id"] for f in summary["payload"]["findings"]} == {"c9"}


def test_auto_quarantine_requests_the_worst_clients_never_the_protected_ones(aws, reference, parts):
    t = now()
    cfg = config(aws, ttl_seconds=7200, never=["c8"], max_per_run=1)
    rng = np.random.default_rng(3)
    lines = []
    # impossible rows: c8 40 of 40 (protected), c9 30 of 30, c7 24 of 60
    for n, (client, good, bad) in enumerate([("c8", 0, 40), ("c9", 0, 30), ("c7", 36, 24)]):
        for i in range(good + bad):
            rows = population(rng, 1)
            if i >= good:
                rows[:, 1] = 400
            lines.append(capture_line(client, 100 * n + i, rows, t - 300))
    for i in range(4 * 40):  # legitimate clients, for the population
        lines.append(capture_line(f"l{i % 8}", 900 + i, population(rng, 1), t - 290))
    hour = datetime.fromtimestamp(t, UTC)
    aws["s3"].put_object(Bucket=BUCKET, Key=f"{PREFIX}AllTraffic/{hour:%Y/%m/%d/%H}/q.jsonl",
                         Body="\n".join(lines).encode())  # fmt: skip
    summary = run(t + 5, cfg, reference, aws["s3"], parts())["payload"]
    worst: dict[str, float] = {}
    for f in summary["findings"]:
        worst[f["client_id"]] = max(worst.get(f["client_id"], 0.0), f["score"])
    assert worst["c8"] > worst["c9"] > worst["c7"]
    assert summary["quarantine_requested"] == ["c9"]  # c8 scores higher, but is protected
    assert summary["quarantine_never"] == ["c8"]
    assert summary["quarantine_deferred"] == ["c7"]  # over max_per_run
    (request,) = messages(aws, "quarantine")
    assert request["MessageAttributes"]["action"]["Value"] == "quarantine-client"
    assert request["MessageAttributes"]["clientId"]["Value"] == "c9"
    body = json.loads(request["Message"])
    expected = ("c9", 7200, "out_of_distribution")
    assert (body["clientId"], body["ttlSeconds"], body["kind"]) == expected
    (alert,) = messages(aws, "alerts")
    entries = {e["clientId"]: e for e in json.loads(alert["Message"])["findings"]}
    assert entries["c9"]["quarantine"] == "requested (automatic)"
    assert entries["c8"]["quarantine"] == "never (on never_quarantine)"
    assert entries["c7"]["quarantine"] == "deferred (over max_per_run)"
    assert entries["c9"]["next"][1] == "secure-endpoint quarantine partner --ttl 2h"


def test_the_unattributed_rows_are_never_quarantined():
    settings = pay.QuarantineSettings(topic_arn="arn:aws:sns:us-east-1:1:q", max_per_run=5)
    found = [Finding(client, "probing", 0.0, 9.0, 1) for client in (UNKNOWN_CLIENT, "unknown")]
    found.append(Finding("c1", "probing", 0.0, 1.0, 1))
    assert list(pay.quarantines(found, settings, "t").requested) == ["c1"]


def test_without_payload_monitoring_the_state_has_no_payload_part(aws, reference):
    t = now()
    put_hour(aws["s3"], t, "a", attacker="c9")
    summary = run(t + 5, config(aws), reference, aws["s3"], None)
    assert "payload" not in summary
    assert "payload" not in committed(aws)
    assert keys(aws, "drift/payload/") == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PAYLOAD_MONITORING": "yes"}, "PAYLOAD_MONITORING must be true or false"),
        ({"PAYLOAD_MONITORING": "true"}, "needs ALERT_TOPIC_ARN"),
        ({"CLIENT_NAMES": "[1]"}, "CLIENT_NAMES must be a JSON object"),
        ({"QUARANTINE_TOPIC_ARN": "arn:q", "QUARANTINE": "{}"}, "QUARANTINE must be JSON with"),
        ({"QUARANTINE_TOPIC_ARN": "arn:q",
          "QUARANTINE": '{"ttl_seconds": 5, "never": [], "max_per_run": 1}'}, "ttl_seconds >= 60"),
    ],
)  # fmt: skip
def test_a_bad_payload_environment_names_the_variable(env, message):
    base = {"CAPTURE_BUCKET": "b", "ENDPOINT_PREFIX": PREFIX, "STATE_PREFIX": "drift/"}
    with pytest.raises(ConfigError, match=message):
        Config.from_env(base | env)


def test_the_membership_key_is_read_from_secrets_manager_once(monkeypatch):
    with mock_aws():
        client = boto3.client("secretsmanager", region_name=REGION)
        arn = client.create_secret(Name="membership", SecretString="k" * 40)["ARN"]
        monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
        monkeypatch.setattr(handler, "config", lambda: Config.from_env({
            "CAPTURE_BUCKET": "b", "ENDPOINT_PREFIX": PREFIX, "STATE_PREFIX": "drift/",
            "MEMBERSHIP_KEY_SECRET_ARN": arn}))  # fmt: skip
        handler.membership_key.cache_clear()
        try:
            assert handler.membership_key() == b"k" * 40
            client.put_secret_value(SecretId=arn, SecretString="changed")
            assert handler.membership_key() == b"k" * 40  # read at the cold start only
        finally:
            handler.membership_key.cache_clear()


def test_the_alert_of_a_membership_finding_says_to_confirm_it_with_the_key():
    finding = Finding("c1", "membership", 1_800_000_000.0, 30.0, 120, {"rate": 0.5})
    _, message = pay.alert(
        [finding],
        window_end="2027-01-15T08:00:00Z",
        names={},
        capture_url="s3://b/capture/ep/",
        findings_url="s3://b/drift/findings/x.payload.jsonl",
        quarantine=pay.QuarantineSettings(),
        requested=pay.Quarantines(),
    )
    (entry,) = json.loads(message)["findings"]
    assert entry["next"][0].endswith("--output findings.jsonl --membership-key-file KEY_FILE")
    assert entry["client"] == "c1"  # no name known: the client id
    assert entry["firstSeen"] == "2027-01-15T08:00:00Z"
    assert entry["runbook"] == "docs/runbook.md#payload-membership"


def test_an_alert_of_many_findings_stays_within_sns_and_counts_the_rest():
    evidence = {"what": "x" * 5000, "rate": 0.5}  # cut to MAX_EVIDENCE_CHARS
    findings = [Finding(f"c{i}", "probing", 1_800_000_000.0, 10.0 + i, 50, evidence)
                for i in range(400)]  # fmt: skip
    subject, message = pay.alert(
        findings,
        window_end="2027-01-15T08:00:00Z",
        names={},
        capture_url="s3://b/capture/ep/",
        findings_url="s3://b/drift/findings/x.payload.jsonl",
        quarantine=pay.QuarantineSettings(),
        requested=pay.Quarantines(),
    )
    body = json.loads(message)
    assert len(message.encode()) < 256 * 1024
    assert len(subject) <= 100
    assert body["findingsLeftOut"] > 0
    assert len(body["findings"]) + body["findingsLeftOut"] == 400
    assert body["findings"][0]["clientId"] == "c399"  # the strongest first
    assert set(body["findings"][0]["evidence"]) == {"truncated"}


def test_an_intact_state_of_another_detector_version_starts_over(
    aws, reference, parts, payload_reference
):
    t = now()
    cfg = config(aws)
    put_hour(aws["s3"], t - 3600, "a")
    run(t - 3590, cfg, reference, aws["s3"], parts())
    # what an older library wrote: a valid npz the detector refuses, its digest recorded
    older = PayloadDetector(payload_reference, DetectorConfig(recent=8))
    older.run([Capture("c0", "r1", t - 3600, population(np.random.default_rng(1), 10).tolist(),
                       [0.2] * 10)])  # fmt: skip
    other = older.state_bytes()
    aws["s3"].put_object(Bucket=BUCKET, Key="drift/payload/state-a.npz", Body=other)
    state = committed(aws)
    state["payload"]["sha256"] = pay.sha256(other)
    aws["s3"].put_object(Bucket=BUCKET, Key="drift/state.json", Body=json.dumps(state).encode())
    put_hour(aws["s3"], t, "b")
    run(t + 5, cfg, reference, aws["s3"], parts())
    after = committed(aws)["payload"]
    assert after["key"] == "drift/payload/state-b.npz"
    # afresh: this hour's 300 rows, not the older state's 10 besides
    assert rows_of(payload_reference, read(aws, after["key"]), "c0") == 300

"""The drift monitor's handler against moto S3: report, metrics, then cursor, in that order."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import numpy as np
import pytest
from baseline_dirs import build_baseline, population
from drift_monitor import handler
from drift_monitor.handler import Config, ConfigError, run
from moto import mock_aws

from secure_endpoint.constructs.drift_monitor import (
    FEATURE_DIMENSION,
    FEATURE_DRIFT_METRIC,
    NAMESPACE,
)
from secure_endpoint.runtime.baseline.store import load_baseline
from secure_endpoint.runtime.capture.drift import Reference

BUCKET = "capture-bucket"
PREFIX = "capture/churn/"


def capture_line(client: str, n: int, rows: np.ndarray, at: float) -> str:
    body = [[round(float(r[0]), 2), int(r[1]), int(r[2]), round(float(r[3]), 4)] for r in rows]
    moment = datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({
        "captureData": {
            "endpointInput": {"observedContentType": "application/json", "mode": "INPUT",
                              "data": json.dumps({"instances": body}), "encoding": "JSON"},
            "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                               "data": json.dumps({"predictions": [0.5] * len(body)}),
                               "encoding": "JSON"},
        },
        "eventMetadata": {"eventId": f"e{n}", "inferenceId": f"{client}:r{n}",
                          "inferenceTime": moment},
        "eventVersion": "0",
    })  # fmt: skip


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return Reference.from_baseline(load_baseline(build_baseline(tmp_path_factory.mktemp("d"))))


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


CONFIG = Config.from_env(
    {
        "CAPTURE_BUCKET": BUCKET,
        "ENDPOINT_PREFIX": PREFIX,
        "STATE_PREFIX": "drift/",
        "REFERENCE_HOURS": "0",  # each client is judged from its second run on
    }
)


def put_hour(s3, now: float, name: str, *, shift: float = 0.0, requests: int = 300) -> None:
    rng = np.random.default_rng(len(name))
    lines = [capture_line(f"c{i % 4}", i, population(rng, 4, income_shift=shift), now - 600)
             for i in range(requests)]  # fmt: skip
    hour = datetime.fromtimestamp(now, UTC)
    key = f"{PREFIX}AllTraffic/{hour:%Y/%m/%d/%H}/{name}.jsonl"
    s3.put_object(Bucket=BUCKET, Key=key, Body=("\n".join(lines) + "\n").encode())


def metric_names() -> dict[str, float]:
    """The metrics the run added (and clears them for the next test)."""
    if not handler.metrics.metric_set:
        return {}
    emitted = handler.metrics.serialize_metric_set()
    names = [m["Name"] for m in emitted["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    handler.metrics.clear_metrics()
    values = {name: emitted[name] for name in names}
    return {k: v[0] if isinstance(v, list) else v for k, v in values.items()}


def test_quiet_traffic_writes_the_cursor_and_no_report(s3, reference):
    now = datetime.now(UTC).timestamp()
    put_hour(s3, now, "a")
    summary = run(now + 5, CONFIG, reference, s3)
    assert summary["objects"] == 1
    assert summary["rows"] == 1200
    assert summary["drifting"] == []
    assert summary["violations"] == 0
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="drift/")["Contents"]]
    assert keys == ["drift/state.json"]
    figures = metric_names()
    assert figures["CapturedRows"] == 1200
    assert "DriftingFeatures" not in figures  # nobody had a reference to be judged against yet
    state = json.loads(s3.get_object(Bucket=BUCKET, Key="drift/state.json")["Body"].read())
    assert set(state["references"]["clients"]) == {"c0", "c1", "c2", "c3"}
    # a second run finds nothing new and does not move the cursor
    assert run(now + 10, CONFIG, reference, s3)["objects"] == 0
    metric_names()


def test_the_world_moving_writes_a_finding_and_a_model_monitor_report(s3, reference):
    now = datetime.now(UTC).timestamp()
    put_hour(s3, now - 3600, "a")
    run(now - 3590, CONFIG, reference, s3)  # learns each client's reference
    metric_names()
    put_hour(s3, now, "b", shift=15_000.0)
    summary = run(now + 5, CONFIG, reference, s3)
    assert summary["drifting"] == ["income"]
    assert summary["clients_judged"] == 4
    (finding_key,) = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="drift/findings/")
                      ["Contents"]]  # fmt: skip
    finding = json.loads(s3.get_object(Bucket=BUCKET, Key=finding_key)["Body"].read())
    assert finding["features"] == ["income"]
    assert finding["evidence"]["income"]["clients_moved"] == 4
    (report_key,) = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="drift/reports/")
                     ["Contents"]]  # fmt: skip
    report = json.loads(s3.get_object(Bucket=BUCKET, Key=report_key)["Body"].read())
    assert report["violations"][0]["feature_name"] == "income"
    assert report["violations"][0]["constraint_check_type"] == "baseline_drift_check"
    figures = metric_names()
    assert figures["DriftingFeatures"] == 1
    assert figures["FeaturesOffTraining"] >= 1
    assert figures["ConstraintViolations"] == 0  # drift is not a broken constraint
    assert figures["MaxDriftDistance"] > 0.1


def test_each_feature_drift_is_published_where_the_dashboard_searches(s3, reference, capsys):
    now = datetime.now(UTC).timestamp()
    put_hour(s3, now, "a")
    capsys.readouterr()
    run(now + 5, CONFIG, reference, s3)
    metric_names()
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines()
                 if line.startswith('{"_aws"')]  # fmt: skip
    per_feature = {}
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        names = [m["Name"] for m in directive["Metrics"]]
        if FEATURE_DRIFT_METRIC in names:
            assert directive["Namespace"] == NAMESPACE
            assert directive["Dimensions"] == [[FEATURE_DIMENSION, "service"]]  # the schema
            assert document["service"] == handler.metrics.service
            per_feature[document[FEATURE_DIMENSION]] = document[FEATURE_DRIFT_METRIC]
    assert sorted(per_feature) == sorted(f.name for f in reference.features)
    assert all(0 <= value[0] <= 1 for value in per_feature.values())  # one value a document


def test_a_run_that_fails_before_its_commit_is_read_again(s3, reference, monkeypatch):
    now = datetime.now(UTC).timestamp()
    put_hour(s3, now, "c", shift=15_000.0)
    real = s3.put_object

    def failing(**kwargs):
        if kwargs["Key"].startswith("drift/reports/"):
            raise ConnectionError("S3 went away")
        return real(**kwargs)

    monkeypatch.setattr(s3, "put_object", failing)
    with pytest.raises(ConnectionError):
        run(now + 5, CONFIG, reference, s3)
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="drift/")  # no cursor
    assert metric_names() == {}  # nor figures of a run that did not finish
    monkeypatch.setattr(s3, "put_object", real)
    metric_names()
    assert run(now + 6, CONFIG, reference, s3)["objects"] == 1  # the same object, again
    metric_names()


def test_a_broken_cursor_stops_the_run_rather_than_resetting_it(s3, reference):
    s3.put_object(Bucket=BUCKET, Key="drift/state.json", Body=b'{"cursor": {"version": 9}}')
    with pytest.raises(ValueError, match="not a version 1 cursor"):
        run(datetime.now(UTC).timestamp(), CONFIG, reference, s3)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ENDPOINT_PREFIX": PREFIX, "STATE_PREFIX": "drift/"}, "CAPTURE_BUCKET is not set"),
        ({"CAPTURE_BUCKET": "b", "ENDPOINT_PREFIX": "capture/x", "STATE_PREFIX": "drift/"},
         "ENDPOINT_PREFIX must end with '/'"),
        ({"CAPTURE_BUCKET": "b", "ENDPOINT_PREFIX": PREFIX, "STATE_PREFIX": "drift/",
          "LOOKBACK_HOURS": "three"}, "must be whole numbers"),
    ],
)  # fmt: skip
def test_an_incomplete_environment_names_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_env(env)


def test_the_baseline_is_read_from_the_layer_and_verified(tmp_path):
    folder = build_baseline(tmp_path)
    assert Config.from_env({"CAPTURE_BUCKET": "b", "ENDPOINT_PREFIX": PREFIX,
                            "STATE_PREFIX": "drift/"}).baseline_dir == Path("/opt")  # fmt: skip
    (folder / "reference.json").write_bytes(b"{}")
    with pytest.raises(ValueError, match=r"reference\.json does not match"):
        load_baseline(folder)

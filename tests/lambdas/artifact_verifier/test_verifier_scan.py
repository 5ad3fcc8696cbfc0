"""The scan in the custom resource, against S3 in moto: an archive with the right digest that
would run code when loaded fails the deployment with the member and the global named, and
``ArtifactUnsafe`` is published; a clean one passes as before."""

import hashlib
import io
import json
import os
import pickle
import tarfile
from typing import Any

import pytest
from artifact_verifier import handler, scan
from artifact_verifier.adapters import ArtifactStore
from test_verifier_handler import URL, Context, RecordingResponder, event, metric_lines
from verifier_fixtures import BUCKET, sign_artifact, signing_key

from secure_endpoint.runtime.artifact_scan import Policy, Report

KEY = "models/churn/model.tar.gz"


class RunsACommand:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned",))


def archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


MALICIOUS = archive(
    {"code/inference.py": b"import json\n", "model.joblib": pickle.dumps(RunsACommand())}
)
CLEAN = archive({"model.pkl": pickle.dumps({"weights": [1.0, 2.0], "classes": ("a", "b")})})


@pytest.fixture
def responses(monkeypatch: pytest.MonkeyPatch, s3: Any) -> RecordingResponder:
    recorder = RecordingResponder()
    monkeypatch.setattr(handler, "responder", lambda: recorder)
    monkeypatch.setattr(handler, "store", lambda: ArtifactStore(s3, chunk_bytes=64 * 1024))
    return recorder


def scanned(sha256: str, allowed: list[str] | None = None, **extra: str) -> dict[str, Any]:
    properties = {"Scan": "true", **({"AllowedPickleGlobals": allowed} if allowed else {})}
    return event("Create", sha256, {**properties, **extra})


def scan_metrics(output: str) -> list[dict[str, Any]]:
    return [line for line in metric_lines(output) if line.get("check") == "scan"]


def test_a_malicious_archive_with_the_right_digest_fails_naming_member_and_global(
    s3, responses, capsys
):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=MALICIOUS)
    sha256 = hashlib.sha256(MALICIOUS).hexdigest()
    handler.handler(scanned(sha256), Context())
    ((_, sent),) = responses.sent
    assert sent["Status"] == "FAILED"
    assert sent["Reason"].startswith(f"the model artifact {URL} (sha256 {sha256}) would run code")
    assert "model.joblib @" in sent["Reason"]
    assert "GLOBAL posix.system" in sent["Reason"]
    assert "the model is not created" in sent["Reason"]
    (metric,) = scan_metrics(capsys.readouterr().out)
    assert metric["ArtifactUnsafe"] == 1
    assert metric["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SecureEndpoint/Integrity"
    assert metric["findings"][0]["global"] == "posix.system"
    assert metric["findings"][0]["member"] == "model.joblib"


def test_a_clean_archive_passes_and_publishes_zero(s3, responses, capsys):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=CLEAN)
    handler.handler(scanned(hashlib.sha256(CLEAN).hexdigest()), Context())
    ((_, sent),) = responses.sent
    assert sent["Status"] == "SUCCESS", sent["Reason"]
    assert sent["Data"]["Scan"] == "clean: 1 members, 1 pickles"
    (metric,) = scan_metrics(capsys.readouterr().out)
    assert (metric["ArtifactUnsafe"], metric["findingCount"]) == (0, 0)


def test_an_allowed_global_passes(s3, responses):
    body = archive({"model.pkl": pickle.dumps(Report())})  # a class of this library
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    handler.handler(scanned(hashlib.sha256(body).hexdigest()), Context())
    assert responses.sent[-1][1]["Status"] == "FAILED"
    allowed = ["secure_endpoint.runtime.artifact_scan.findings.Report"]
    handler.handler(scanned(hashlib.sha256(body).hexdigest(), allowed), Context())
    assert responses.sent[-1][1]["Status"] == "SUCCESS", responses.sent[-1][1]["Reason"]


def test_the_digest_is_checked_before_the_scan(s3, responses, capsys):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=MALICIOUS)
    handler.handler(scanned("0" * 64), Context())
    ((_, sent),) = responses.sent
    assert sent["Status"] == "FAILED"
    assert "does not match model_sha256" in sent["Reason"]
    assert scan_metrics(capsys.readouterr().out) == []


def test_without_the_scan_property_nothing_is_scanned(s3, responses):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=MALICIOUS)
    for properties in ({}, {"Scan": "false"}):
        handler.handler(
            event("Create", hashlib.sha256(MALICIOUS).hexdigest(), properties), Context()
        )
        assert responses.sent[-1][1]["Status"] == "SUCCESS"
        assert "Scan" not in responses.sent[-1][1]["Data"]


def test_the_object_with_an_s3_checksum_is_still_scanned(s3, responses):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=MALICIOUS, ChecksumAlgorithm="SHA256")
    handler.handler(scanned(hashlib.sha256(MALICIOUS).hexdigest()), Context())
    assert responses.sent[-1][1]["Status"] == "FAILED"
    assert "posix.system" in responses.sent[-1][1]["Reason"]


def test_a_signed_malicious_archive_is_still_refused(s3, kms, responses):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=MALICIOUS)
    key_arn = signing_key(kms)
    signed = {
        "Signature": sign_artifact(kms, key_arn, MALICIOUS),
        "SigningKeyArn": key_arn,
        "SigningAlgorithm": "ECDSA_SHA_256",
    }
    handler.handler(scanned(hashlib.sha256(MALICIOUS).hexdigest(), **signed), Context())
    assert responses.sent[-1][1]["Status"] == "FAILED"
    assert "would run code" in responses.sent[-1][1]["Reason"]


def test_a_bad_allowlist_property_fails_the_deployment(s3, responses):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=CLEAN)
    handler.handler(scanned(hashlib.sha256(CLEAN).hexdigest(), ["os"]), Context())
    assert responses.sent[-1][1]["Status"] == "FAILED"
    assert "'module.name'" in responses.sent[-1][1]["Reason"]


def test_the_scan_runs_out_of_time_promptly(s3, responses):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=CLEAN)
    context = Context(left_ms=handler.RESERVE_MS - 1)
    handler.handler(scanned(hashlib.sha256(CLEAN).hexdigest()), context)
    assert responses.sent[-1][1]["Status"] == "FAILED"
    assert "ran out of time" in responses.sent[-1][1]["Reason"]


def test_the_chunk_stream_reads_across_chunks():
    stream = scan.ChunkStream([b"ab", b"", b"cde", b"f"])
    assert [stream.read(3), stream.read(1), stream.read(-1), stream.read(5)] == [
        b"abc",
        b"d",
        b"ef",
        b"",
    ]


def test_the_policy_comes_from_the_properties():
    assert scan.policy_of({}) is None
    assert scan.policy_of({"Scan": "false"}) is None
    assert scan.policy_of({"Scan": "true"}) == Policy()
    assert scan.policy_of({"Scan": "true", "AllowedPickleGlobals": ["my.Model"]}) == Policy(
        extra=("my.Model",)
    )
    with pytest.raises(ValueError, match="must be a list"):
        scan.policy_of({"Scan": "true", "AllowedPickleGlobals": "my.Model"})


def test_the_reason_stays_within_what_cloudformation_takes(s3, responses):
    body = archive({f"m{i}.pkl": pickle.dumps(RunsACommand()) for i in range(50)})
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    handler.handler(scanned(hashlib.sha256(body).hexdigest()), Context())
    reason = responses.sent[-1][1]["Reason"]
    assert len(reason) <= 1000
    assert "50 finding(s)" in reason
    assert json.dumps(responses.sent[-1][1])  # serializable


class RunningOut(Context):
    """Plenty of time for the first ``calls`` questions, then less than the reserve."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls = calls

    def get_remaining_time_in_millis(self) -> int:
        self.calls -= 1
        return 600_000 if self.calls >= 0 else handler.RESERVE_MS - 1


def test_a_scan_that_runs_out_of_time_between_chunks_fails_promptly(s3, responses):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=CLEAN)
    # one chunk for the digest, one for the scan: then the scan's own check of the time
    handler.handler(scanned(hashlib.sha256(CLEAN).hexdigest()), RunningOut(calls=2))
    ((_, sent),) = responses.sent
    assert sent["Status"] == "FAILED"
    assert "the scan ran out of time after 1 members" in sent["Reason"]

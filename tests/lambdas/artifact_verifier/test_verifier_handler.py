"""The custom resource handler against S3 in moto; CloudFormation's responses recorded."""

import base64
import hashlib
from typing import Any

import pytest
from artifact_verifier import handler
from artifact_verifier.adapters import ArtifactStore, ObjectAttributes, ObjectRef
from verifier_fixtures import BUCKET

KEY = "models/churn/model.tar.gz"
URL = f"s3://{BUCKET}/{KEY}"
PART = 5 * 1024 * 1024


class Context:
    log_stream_name = "2026/11/29/[$LATEST]abc"

    def __init__(self, left_ms: int = 600_000) -> None:
        self.left_ms = left_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.left_ms


class RecordingResponder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, response_url: str, body: dict[str, Any]) -> None:
        self.sent.append((response_url, body))


@pytest.fixture
def responses(monkeypatch: pytest.MonkeyPatch, s3: Any) -> RecordingResponder:
    recorder = RecordingResponder()
    monkeypatch.setattr(handler, "responder", lambda: recorder)
    monkeypatch.setattr(handler, "store", lambda: ArtifactStore(s3, chunk_bytes=1024 * 1024))
    return recorder


def event(request_type: str, sha256: str, **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
        "RequestId": "req-1",
        "LogicalResourceId": "ArtifactCheck",
        "ResourceType": "Custom::ModelArtifactVerification",
        "ResourceProperties": {"ServiceToken": "arn", "ModelDataUrl": URL, "Sha256": sha256},
        **extra,
    }


def test_a_matching_artifact_passes_with_its_digest_size_and_version(s3, responses):
    body = b"model bytes" * 1000
    version = s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)["VersionId"]
    handler.handler(event("Create", hashlib.sha256(body).hexdigest()), Context())
    ((_, sent),) = responses.sent
    assert sent["Status"] == "SUCCESS"
    assert sent["Data"] == {
        "Sha256": hashlib.sha256(body).hexdigest(),
        "Size": len(body),
        "VersionId": version,
        "Source": "streamed",
    }
    assert sent["PhysicalResourceId"] == f"artifact-verification:{URL}"


def test_a_mismatched_artifact_fails_the_deployment_with_both_digests(s3, responses):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"tampered")
    expected = hashlib.sha256(b"the real model").hexdigest()
    handler.handler(event("Create", expected), Context())
    ((_, sent),) = responses.sent
    assert sent["Status"] == "FAILED"
    assert URL in sent["Reason"]
    assert expected in sent["Reason"]
    assert hashlib.sha256(b"tampered").hexdigest() in sent["Reason"]


def test_an_update_reverifies_and_keeps_the_physical_id(s3, responses):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"v2")
    handler.handler(
        event("Update", "0" * 64, PhysicalResourceId="artifact-verification:old"), Context()
    )
    ((_, sent),) = responses.sent
    assert sent["Status"] == "FAILED"
    assert sent["PhysicalResourceId"] == "artifact-verification:old"


def test_a_multipart_artifact_is_verified_by_streaming(s3, responses):
    parts = [bytes([n]) * PART for n in range(3)]
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=KEY, ChecksumAlgorithm="SHA256")
    done = []
    for number, part in enumerate(parts, start=1):
        uploaded = s3.upload_part(
            Bucket=BUCKET,
            Key=KEY,
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=part,
            ChecksumAlgorithm="SHA256",
        )
        done.append(
            {
                "PartNumber": number,
                "ETag": uploaded["ETag"],
                "ChecksumSHA256": uploaded["ChecksumSHA256"],
            }
        )
    s3.complete_multipart_upload(
        Bucket=BUCKET, Key=KEY, UploadId=upload["UploadId"], MultipartUpload={"Parts": done}
    )
    whole = hashlib.sha256(b"".join(parts)).hexdigest()
    handler.handler(event("Create", whole), Context())
    ((_, sent),) = responses.sent
    assert sent["Status"] == "SUCCESS", sent["Reason"]
    assert sent["Data"]["Source"] == "streamed"
    assert sent["Data"]["Size"] == 3 * PART


def test_a_missing_object_fails_the_deployment(s3, responses):
    handler.handler(event("Create", "0" * 64), Context())
    ((_, sent),) = responses.sent
    assert sent["Status"] == "FAILED"
    assert "NoSuchKey" in sent["Reason"] or "Not Found" in sent["Reason"]


def test_an_artifact_too_large_for_the_time_left_fails_promptly(s3, responses):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"x" * 10)
    handler.handler(event("Create", "0" * 64), Context(left_ms=handler.RESERVE_MS - 1))
    ((_, sent),) = responses.sent
    assert sent["Status"] == "FAILED"
    assert "ran out of time" in sent["Reason"]


def test_delete_does_nothing_and_succeeds(s3, responses):
    handler.handler(event("Delete", "0" * 64, PhysicalResourceId="p"), Context())
    ((_, sent),) = responses.sent
    assert sent["Status"] == "SUCCESS"
    assert sent["Data"] == {}


class FullObjectChecksumStore(ArtifactStore):
    """S3 as it answers for a single-part upload with a SHA-256 (moto omits ChecksumType)."""

    def __init__(self, sha256: str) -> None:
        super().__init__(client=None)
        self.sha256 = sha256

    def attributes(self, ref: ObjectRef) -> ObjectAttributes:
        stored = base64.b64encode(bytes.fromhex(self.sha256)).decode()
        return ObjectAttributes(10, "etag", "v1", stored, "FULL_OBJECT")

    def chunks(self, ref: ObjectRef, attributes: ObjectAttributes):
        raise AssertionError("a full-object checksum must not be streamed")


def test_a_full_object_checksum_short_circuits_the_download():
    sha256 = hashlib.sha256(b"0123456789").hexdigest()
    data = handler.verify_artifact(URL, sha256, FullObjectChecksumStore(sha256), lambda: 600_000)
    assert data["Source"] == "s3-checksum"
    assert data["Sha256"] == sha256

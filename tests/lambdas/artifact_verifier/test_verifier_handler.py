"""The handler against S3 and KMS in moto: the custom resource (CloudFormation's responses
recorded) and the tamper check (its metric line read back)."""

import base64
import hashlib
import json
from typing import Any

import pytest
from artifact_verifier import handler
from artifact_verifier.adapters import (
    ArtifactStore,
    ObjectAttributes,
    ObjectRef,
    SignatureVerifier,
)
from botocore.exceptions import ClientError
from verifier_fixtures import BUCKET, sign_artifact, signing_key

KEY = "models/churn/model.tar.gz"
URL = f"s3://{BUCKET}/{KEY}"
PART = 5 * 1024 * 1024


class Context:
    log_stream_name = "2026/11/29/[$LATEST]abc"
    function_name = "Secured-HostingArtifactVerificationFunction-abc"

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


def event(
    request_type: str, sha256: str, signed: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
        "RequestId": "req-1",
        "LogicalResourceId": "ArtifactCheck",
        "ResourceType": "Custom::ModelArtifactVerification",
        "ResourceProperties": {
            "ServiceToken": "arn",
            "ModelDataUrl": URL,
            "Sha256": sha256,
            **(signed or {}),
        },
        **extra,
    }


def metric_lines(output: str) -> list[dict[str, Any]]:
    """The embedded-metric-format documents the function wrote to stdout."""
    return [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]


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


# --- signatures ------------------------------------------------------------------------------


@pytest.fixture
def kms_verifier(monkeypatch: pytest.MonkeyPatch, kms: Any) -> Any:
    monkeypatch.setattr(handler, "signatures", lambda: SignatureVerifier(kms))
    return kms


def signed_by(key: str, signature: str, algorithm: str = "ECDSA_SHA_256") -> dict[str, str]:
    return {"Signature": signature, "SigningKeyArn": key, "SigningAlgorithm": algorithm}


def test_a_good_signature_passes_and_names_the_key(s3, responses, kms_verifier):
    body = b"the approved model"
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    key = signing_key(kms_verifier)
    signature = sign_artifact(kms_verifier, key, body)
    handler.handler(
        event("Create", hashlib.sha256(body).hexdigest(), signed_by(key, signature)), Context()
    )
    ((_, sent),) = responses.sent
    assert sent["Status"] == "SUCCESS", sent["Reason"]
    assert sent["Data"]["SignedBy"] == key


def test_an_rsa_pss_signature_passes(s3, responses, kms_verifier):
    body = b"the approved model"
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    key = signing_key(kms_verifier, "RSA_3072")
    signature = sign_artifact(kms_verifier, key, body, algorithm="RSASSA_PSS_SHA_256")
    signed = signed_by(key, signature, "RSASSA_PSS_SHA_256")
    handler.handler(event("Create", hashlib.sha256(body).hexdigest(), signed), Context())
    ((_, sent),) = responses.sent
    assert sent["Status"] == "SUCCESS", sent["Reason"]


def test_a_signature_of_another_artifact_is_refused_with_the_message(s3, responses, kms_verifier):
    body = b"the approved model"
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    key = signing_key(kms_verifier)
    signature = sign_artifact(kms_verifier, key, b"a model nobody approved")
    sha256 = hashlib.sha256(body).hexdigest()
    handler.handler(event("Create", sha256, signed_by(key, signature)), Context())
    ((_, sent),) = responses.sent
    assert sent["Status"] == "FAILED"
    assert f"the model artifact {URL} (sha256 {sha256}) is not signed by {key}" in sent["Reason"]
    assert "the model is not created" in sent["Reason"]
    assert "SignedBy" not in sent["Data"]


def test_a_signature_by_another_key_is_refused(s3, responses, kms_verifier):
    body = b"the approved model"
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    trusted, other = signing_key(kms_verifier), signing_key(kms_verifier)
    signature = sign_artifact(kms_verifier, other, body)
    handler.handler(
        event("Create", hashlib.sha256(body).hexdigest(), signed_by(trusted, signature)),
        Context(),
    )
    ((_, sent),) = responses.sent
    assert sent["Status"] == "FAILED"
    assert f"is not signed by {trusted}" in sent["Reason"]


def test_the_digest_is_checked_before_the_signature(s3, responses, kms_verifier):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"tampered")
    key = signing_key(kms_verifier)
    approved = b"the approved model"
    signature = sign_artifact(kms_verifier, key, approved)
    sha256 = hashlib.sha256(approved).hexdigest()
    handler.handler(event("Create", sha256, signed_by(key, signature)), Context())
    ((_, sent),) = responses.sent
    assert sent["Status"] == "FAILED"
    assert "does not match model_sha256" in sent["Reason"]


def test_kms_refusing_the_key_fails_the_deployment_with_its_error(s3, responses, kms_verifier):
    body = b"the approved model"
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    symmetric = kms_verifier.create_key()["KeyMetadata"]["Arn"]
    signature = base64.b64encode(b"s" * 70).decode()
    handler.handler(
        event("Create", hashlib.sha256(body).hexdigest(), signed_by(symmetric, signature)),
        Context(),
    )
    ((_, sent),) = responses.sent
    assert sent["Status"] == "FAILED"
    assert "SIGN_VERIFY" in sent["Reason"]


# --- the tamper check ------------------------------------------------------------------------


def tamper_event(sha256: str, trigger: str = "Scheduled Event") -> dict[str, Any]:
    """What the schedule's input transformer sends (see test_integrity for the template)."""
    return {
        "Mode": "tamper-check",
        "ModelDataUrl": URL,
        "Sha256": sha256,
        "Time": "2026-11-29T10:23:00Z",
        "Trigger": trigger,
    }


def test_a_successful_deploy_check_publishes_no_mismatch(s3, responses, capsys):
    body = b"model bytes"
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    handler.handler(event("Create", hashlib.sha256(body).hexdigest()), Context())
    (line,) = metric_lines(capsys.readouterr().out)
    assert line["ArtifactDigestMismatch"] == 0
    assert line["FunctionName"] == Context.function_name


def test_a_failed_deploy_check_publishes_nothing(s3, responses, capsys):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"tampered")
    handler.handler(event("Create", "0" * 64), Context())
    assert metric_lines(capsys.readouterr().out) == []


def test_the_unchanged_artifact_publishes_zero_at_the_scheduled_time(s3, responses, capsys):
    body = b"model bytes"
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    result = handler.handler(tamper_event(hashlib.sha256(body).hexdigest()), Context())
    assert result == {"mismatch": 0, "source": "streamed"}
    (line,) = metric_lines(capsys.readouterr().out)
    assert line["ArtifactDigestMismatch"] == 0
    assert line["_aws"]["Timestamp"] == 1_795_947_780_000
    assert responses.sent == []  # nothing goes to CloudFormation


def test_a_replaced_artifact_publishes_one_naming_both_digests(s3, responses, capsys):
    approved = b"model bytes"
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=approved)
    version = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"swapped model")["VersionId"]
    sha256 = hashlib.sha256(approved).hexdigest()
    result = handler.handler(tamper_event(sha256, "Object Created"), Context())
    assert result["mismatch"] == 1
    (line,) = metric_lines(capsys.readouterr().out)
    assert line["ArtifactDigestMismatch"] == 1
    assert (line["expectedSha256"], line["actualSha256"]) == (
        sha256,
        hashlib.sha256(b"swapped model").hexdigest(),
    )
    assert line["versionId"] == version


def test_a_deleted_artifact_publishes_one(s3, responses, capsys):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"model bytes")
    s3.delete_object(Bucket=BUCKET, Key=KEY)
    result = handler.handler(tamper_event(hashlib.sha256(b"model bytes").hexdigest()), Context())
    assert result == {"mismatch": 1, "source": "NoSuchKey"}
    (line,) = metric_lines(capsys.readouterr().out)
    assert line["ArtifactDigestMismatch"] == 1


class ThrottledStore(ArtifactStore):
    def __init__(self) -> None:
        super().__init__(client=None)

    def attributes(self, ref: ObjectRef) -> ObjectAttributes:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow"}}, "GetObject")


def test_a_check_that_could_not_read_for_another_reason_fails_without_a_data_point(
    monkeypatch, capsys
):
    monkeypatch.setattr(handler, "store", ThrottledStore)
    with pytest.raises(ClientError, match="SlowDown"):
        handler.handler(tamper_event("0" * 64), Context())
    assert metric_lines(capsys.readouterr().out) == []

"""The model artifact must have the SHA-256 the stack expects: before the model exists, and after.

Two events reach this function:

- **CloudFormation's** (custom resource ``Custom::ModelArtifactVerification``; properties
  ``ModelDataUrl``, ``Sha256`` and, for a signed model, ``Signature``, ``SigningKeyArn`` and
  ``SigningAlgorithm``). On Create and Update, the object's full-object ``ChecksumSHA256``
  stored by S3 is used when there is one; otherwise the object (that version, that ETag) is
  streamed and hashed. A different digest fails the deployment with a message naming the URL,
  the expected and the actual digest. Then a signature, if any, is checked with ``kms:Verify``
  over the digest; an invalid one fails the deployment too. The SageMaker model, which depends
  on this resource, is never created. Delete does nothing. Every outcome is sent to
  CloudFormation (``ResponseURL``); the function stops reading with ``RESERVE_MS`` left, so even
  an artifact too large for its timeout fails the stack promptly instead of leaving it waiting
  an hour. Returned data: ``Sha256``, ``Size``, ``VersionId``, ``Source`` (and ``SignedBy``).
- **The scan** (``Scan`` ``"true"``, with ``AllowedPickleGlobals``): after the digest and the
  signature pass, the object (that version, that ETag) is streamed once more through
  ``secure_endpoint.runtime.artifact_scan`` (``scan.py``); an import outside the allowlist, a
  Keras Lambda layer, a path out of the model directory or a bomb fails the deployment, the
  reason naming the member and the global. ``ArtifactUnsafe`` (0 or 1) is published. Zips
  inside the archive are spooled to ``/tmp``.
- **The tamper check's** (``Mode: tamper-check``, from the schedule or from the bucket's object
  events; ``ModelDataUrl``, ``Sha256``, ``Time``, ``Trigger``). The object is read the same way
  and ``ArtifactDigestMismatch`` (0 or 1) is published as one embedded-metric log line; an
  object that is gone or refused counts as 1, any other error fails the run.

A successful deploy-time check publishes ``ArtifactDigestMismatch`` 0 as well, so that the
alarm on it has a data point from the first deploy.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from functools import cache
from typing import Any

import boto3
from botocore.exceptions import ClientError

from artifact_verifier import scan, tamper, verify
from artifact_verifier.adapters import (
    ArtifactStore,
    CloudFormationResponder,
    ObjectAttributes,
    ObjectRef,
    SignatureVerifier,
)
from secure_endpoint.runtime.artifact_scan import Policy

RESERVE_MS = 20_000
"""Time kept back from the read for the response to CloudFormation."""
_MAX_REASON = 1000

logger = logging.getLogger("artifact-verifier")
logger.setLevel(logging.INFO)


@cache
def store() -> ArtifactStore:
    return ArtifactStore(boto3.client("s3"))


@cache
def signatures() -> SignatureVerifier:
    """Created only for a signed model: the subnets then reach KMS (an interface endpoint)."""
    return SignatureVerifier(boto3.client("kms"))


@cache
def responder() -> CloudFormationResponder:
    return CloudFormationResponder()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any] | None:
    if event.get("Mode") == tamper.MODE:
        return check_for_tampering(event, context)
    _answer_cloudformation(event, context)
    return None


def _answer_cloudformation(event: dict[str, Any], context: Any) -> None:
    properties = event.get("ResourceProperties", {})
    url = str(properties.get("ModelDataUrl", ""))
    physical_id = event.get("PhysicalResourceId") or f"artifact-verification:{url}"
    status, reason, data = "SUCCESS", "", {}
    try:
        if event["RequestType"] in ("Create", "Update"):
            data = verify_artifact(
                url,
                properties.get("Sha256"),
                store(),
                context.get_remaining_time_in_millis,
                verify.expected_signature(properties),
                scan.policy_of(properties),
                context.function_name,
            )
            seen = tamper.Observation(
                url, data["Sha256"], data["Sha256"], data["Size"], data["VersionId"], data["Source"]
            )
            _emit(seen, context.function_name, _now_ms())
    # Whatever failed must reach CloudFormation as FAILED, with its message; an exception
    # escaping here would leave the stack waiting an hour for a response.
    except Exception as error:
        logger.exception("artifact verification failed")
        status, reason = "FAILED", str(error)[:_MAX_REASON]
    logger.info(json.dumps({"status": status, "url": url, **data}))
    responder().send(
        event["ResponseURL"],
        {
            "Status": status,
            "Reason": reason or f"see CloudWatch Logs: {context.log_stream_name}",
            "PhysicalResourceId": physical_id,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": data,
        },
    )


def verify_artifact(
    url: str,
    expected: object,
    artifacts: ArtifactStore,
    time_left_ms: Callable[[], int],
    signature: verify.ExpectedSignature | None = None,
    policy: Policy | None = None,
    function_name: str = "",
) -> dict[str, Any]:
    """Check the object at ``url`` against ``expected`` (and ``signature``), then scan it with
    ``policy`` (when given); the data returned to CloudFormation."""
    sha256 = verify.expected_sha256(expected)
    ref = ObjectRef.from_url(url)
    attributes = artifacts.attributes(ref)
    digest = _digest(ref, attributes, artifacts, time_left_ms)
    verify.check(url, sha256, digest)
    data: dict[str, Any] = {
        "Sha256": digest.sha256,
        "Size": digest.size,
        "VersionId": attributes.version_id or "",
        "Source": digest.source,
    }
    if signature is not None:
        valid = signatures().is_valid(
            signature.key_id, bytes.fromhex(sha256), signature.signature, signature.algorithm
        )
        verify.check_signature(url, sha256, valid, signature.key_id, signature.algorithm)
        data["SignedBy"] = signature.key_id
    if policy is not None:
        chunks = verify.within(artifacts.chunks(ref, attributes), time_left_ms, RESERVE_MS)
        report = scan.scan_chunks(chunks, policy, lambda: time_left_ms() < RESERVE_MS)
        _write(scan.metric_document(url, report, function_name, _now_ms()))
        logger.info(json.dumps({"scan": report.as_dict()}))
        scan.check(url, sha256, report)
        data["Scan"] = f"clean: {report.members} members, {report.pickles} pickles"
    return data


def check_for_tampering(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Re-read the artifact and publish ``ArtifactDigestMismatch``; the observation returned."""
    url = str(event.get("ModelDataUrl", ""))
    expected = verify.expected_sha256(event.get("Sha256"))
    observation = observe(url, expected, store(), context.get_remaining_time_in_millis)
    _emit(observation, context.function_name, tamper.timestamp_ms(event.get("Time"), _now_ms()))
    if observation.mismatch:
        logger.error(json.dumps({"alert": observation.message, "trigger": event.get("Trigger")}))
    return {"mismatch": observation.mismatch, "source": observation.source}


def observe(
    url: str, expected: str, artifacts: ArtifactStore, time_left_ms: Callable[[], int]
) -> tamper.Observation:
    """What is behind ``url`` now. An S3 answer that the object is gone, refused or replaced
    mid-read is an observation (mismatch); any other error is raised and fails the run."""
    ref = ObjectRef.from_url(url)
    try:
        attributes = artifacts.attributes(ref)
        digest = _digest(ref, attributes, artifacts, time_left_ms)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code not in tamper.UNREADABLE_CODES:
            raise
        return tamper.unreadable(url, expected, code)
    return tamper.compared(url, expected, digest, attributes.version_id)


def _digest(
    ref: ObjectRef,
    attributes: ObjectAttributes,
    artifacts: ArtifactStore,
    time_left_ms: Callable[[], int],
) -> verify.Digest:
    stored = verify.full_object_sha256(attributes.checksum_sha256, attributes.checksum_type)
    if stored is not None:
        return verify.Digest(stored, attributes.size, "s3-checksum")
    chunks = verify.within(artifacts.chunks(ref, attributes), time_left_ms, RESERVE_MS)
    return verify.sha256_of_chunks(chunks)


def _emit(observation: tamper.Observation, function_name: str, at_ms: int) -> None:
    """One embedded-metric-format line on stdout, which CloudWatch Logs turns into the metric."""
    _write(tamper.metric_document(observation, function_name, at_ms))


def _write(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()


def _now_ms() -> int:
    return int(time.time() * 1000)

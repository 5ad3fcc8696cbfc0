"""CloudFormation custom resource: the model artifact must have the SHA-256 the stack expects.

Properties: ``ModelDataUrl`` (``s3://bucket/key``) and ``Sha256`` (64 hex digits). On Create and
Update, the object's full-object ``ChecksumSHA256`` stored by S3 is used when there is one;
otherwise the object (that version, that ETag) is streamed and hashed. A different digest fails
the deployment with a message naming the URL, the expected and the actual digest, and the
SageMaker model, which depends on this resource, is never created. Delete does nothing.

Every outcome is sent to CloudFormation (``ResponseURL``); the function stops reading with
``RESERVE_MS`` left, so even an artifact too large for its timeout fails the stack promptly
instead of leaving it waiting an hour. Returned data: ``Sha256``, ``Size``, ``VersionId``,
``Source``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import cache
from typing import Any

import boto3

from artifact_verifier import verify
from artifact_verifier.adapters import (
    ArtifactStore,
    CloudFormationResponder,
    ObjectAttributes,
    ObjectRef,
)

RESERVE_MS = 20_000
"""Time kept back from the read for the response to CloudFormation."""
_MAX_REASON = 1000

logger = logging.getLogger("artifact-verifier")
logger.setLevel(logging.INFO)


@cache
def store() -> ArtifactStore:
    return ArtifactStore(boto3.client("s3"))


@cache
def responder() -> CloudFormationResponder:
    return CloudFormationResponder()


def handler(event: dict[str, Any], context: Any) -> None:
    properties = event.get("ResourceProperties", {})
    url = str(properties.get("ModelDataUrl", ""))
    physical_id = event.get("PhysicalResourceId") or f"artifact-verification:{url}"
    status, reason, data = "SUCCESS", "", {}
    try:
        if event["RequestType"] in ("Create", "Update"):
            data = verify_artifact(
                url, properties.get("Sha256"), store(), context.get_remaining_time_in_millis
            )
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
    url: str, expected: object, artifacts: ArtifactStore, time_left_ms: Callable[[], int]
) -> dict[str, Any]:
    """Check the object at ``url`` against ``expected``; the data returned to CloudFormation."""
    sha256 = verify.expected_sha256(expected)
    ref = ObjectRef.from_url(url)
    attributes = artifacts.attributes(ref)
    digest = _digest(ref, attributes, artifacts, time_left_ms)
    verify.check(url, sha256, digest)
    return {
        "Sha256": digest.sha256,
        "Size": digest.size,
        "VersionId": attributes.version_id or "",
        "Source": digest.source,
    }


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

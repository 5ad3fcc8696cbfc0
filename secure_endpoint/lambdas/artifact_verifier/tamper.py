"""Pure core of the tamper check: after the deploy, does the artifact still have its digest?

The scheduled check (and, when the bucket sends them, S3's object events) re-reads the
artifact and publishes ``ArtifactDigestMismatch``: 0 when the bytes still have the approved
SHA-256, 1 when they differ or can no longer be read as the approved object (deleted, replaced
while being read, or refused). The metric goes out in CloudWatch's embedded metric format: one
JSON log line, extracted by CloudWatch Logs, so the function in the isolated subnets needs no
route to CloudWatch's API. No boto3, no environment, no clock.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from artifact_verifier.verify import Digest

MODE = "tamper-check"
"""The ``Mode`` of the event the schedule (or a bucket event rule) sends."""
NAMESPACE = "SecureEndpoint/Integrity"
METRIC = "ArtifactDigestMismatch"
DIMENSION = "FunctionName"
UNREADABLE_CODES = frozenset(
    {"NoSuchKey", "NoSuchBucket", "NoSuchVersion", "AccessDenied", "PreconditionFailed",
     "403", "404", "412"}
)  # fmt: skip
"""S3 error codes that mean the approved object is no longer what the model's URL serves. A
deleted key answers 403 AccessDenied to a role that may not list the bucket (this one may not);
PreconditionFailed is an object replaced between its attributes and its read."""


@dataclass(frozen=True)
class Observation:
    """What one tamper check found behind ``url``."""

    url: str
    expected: str
    actual: str | None  # the SHA-256 read, or None when the object could not be read
    size: int | None
    version_id: str | None
    source: str  # "s3-checksum", "streamed", or the S3 error code that stopped the read

    @property
    def mismatch(self) -> int:
        """1 when the bytes behind the model are not the approved ones, else 0."""
        return int(self.actual != self.expected)

    @property
    def message(self) -> str:
        if not self.mismatch:
            return f"the model artifact {self.url} still has sha256 {self.expected}"
        if self.actual is None:
            return (
                f"the model artifact {self.url} can no longer be read as the approved object "
                f"({self.source}): deleted, replaced while being read, or its bucket or key "
                f"policy changed; a new instance of the endpoint would not load sha256 "
                f"{self.expected}"
            )
        return (
            f"the model artifact {self.url} changed after the deploy: expected sha256 "
            f"{self.expected}, the object's sha256 is {self.actual} ({self.size} bytes, "
            f"version {self.version_id or 'null'}); a new instance of the endpoint would load it"
        )


def compared(url: str, expected: str, digest: Digest, version_id: str | None) -> Observation:
    return Observation(url, expected, digest.sha256, digest.size, version_id, digest.source)


def unreadable(url: str, expected: str, code: str) -> Observation:
    return Observation(url, expected, None, None, None, code)


def timestamp_ms(event_time: object, now_ms: int) -> int:
    """The metric's timestamp: the scheduled time of the event (``2026-11-29T10:23:00Z``), so
    that each period holds one run however long the read took; ``now_ms`` without one."""
    if isinstance(event_time, str):
        try:
            parsed = datetime.datetime.fromisoformat(event_time.replace("Z", "+00:00"))
        except ValueError:
            return now_ms
        if parsed.tzinfo is not None:
            return int(parsed.timestamp() * 1000)
    return now_ms


def emf(metric: str, value: int, function_name: str, at_ms: int, **fields: Any) -> dict[str, Any]:
    """One count ``metric`` of the integrity namespace, per function, in embedded metric format,
    with ``fields`` beside it for the log reader."""
    return {
        "_aws": {
            "Timestamp": at_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": [{"Name": metric, "Unit": "Count"}],
                }
            ],
        },
        DIMENSION: function_name,
        metric: value,
        **fields,
    }


def metric_document(observation: Observation, function_name: str, at_ms: int) -> dict[str, Any]:
    """``ArtifactDigestMismatch`` as an embedded-metric-format document, with what was found."""
    return emf(
        METRIC,
        observation.mismatch,
        function_name,
        at_ms,
        check=MODE,
        url=observation.url,
        expectedSha256=observation.expected,
        actualSha256=observation.actual or "",
        size=observation.size,
        versionId=observation.version_id or "",
        source=observation.source,
        message=observation.message,
    )

"""The AWS boundaries of the artifact check: the artifact object in S3, read-only; KMS's
``Verify`` of an optional signature; CloudFormation's response URL.

``GetObjectAttributes`` gives the size, ETag, version and stored checksum (with its type);
``GetObject`` of that very version (``VersionId``) and content (``IfMatch`` on the ETag) is read
in ``chunk_bytes`` pieces, so an object replaced in between fails the read rather than being
hashed in its place. Errors are raised, never swallowed.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

CHUNK_BYTES = 8 * 1024 * 1024
"""What one read takes from the response stream: the function's memory holds about one chunk."""


@dataclass(frozen=True)
class ObjectRef:
    bucket: str
    key: str

    @classmethod
    def from_url(cls, url: str) -> ObjectRef:
        """``s3://bucket/key`` -> its bucket and key; ``ValueError`` for anything else."""
        parts = urllib.parse.urlsplit(url)
        key = parts.path.lstrip("/")
        if parts.scheme != "s3" or not parts.netloc or not key or parts.query or parts.fragment:
            raise ValueError(f"the model artifact URL must be s3://bucket/key, got {url!r}")
        return cls(parts.netloc, key)


@dataclass(frozen=True)
class ObjectAttributes:
    size: int
    etag: str
    version_id: str | None
    checksum_sha256: str | None
    checksum_type: str | None


class ArtifactStore:
    """Reads one S3 object's attributes and content; the client is injected."""

    def __init__(self, client: Any, chunk_bytes: int = CHUNK_BYTES) -> None:
        self._client = client
        self._chunk_bytes = chunk_bytes

    def attributes(self, ref: ObjectRef) -> ObjectAttributes:
        response = self._client.get_object_attributes(
            Bucket=ref.bucket, Key=ref.key, ObjectAttributes=["ETag", "Checksum", "ObjectSize"]
        )
        checksum = response.get("Checksum", {})
        return ObjectAttributes(
            size=int(response["ObjectSize"]),
            etag=str(response["ETag"]).strip('"'),
            version_id=response.get("VersionId"),
            checksum_sha256=checksum.get("ChecksumSHA256"),
            checksum_type=checksum.get("ChecksumType"),
        )

    def chunks(self, ref: ObjectRef, attributes: ObjectAttributes) -> Iterator[bytes]:
        """The object's bytes, ``chunk_bytes`` at a time, of exactly the version described."""
        pinned: dict[str, str] = {"IfMatch": f'"{attributes.etag}"'}
        if attributes.version_id not in (None, "null"):
            pinned["VersionId"] = str(attributes.version_id)
        body = self._client.get_object(Bucket=ref.bucket, Key=ref.key, **pinned)["Body"]
        try:
            yield from body.iter_chunks(self._chunk_bytes)
        finally:
            body.close()


class SignatureVerifier:
    """Asks KMS whether a signature of a SHA-256 digest is valid; the client is injected.

    KMS answers an invalid signature with ``KMSInvalidSignatureException`` (some
    implementations with ``SignatureValid: false``): both are ``False`` here. Every other error
    (no permission, a disabled key, a key of the wrong usage or algorithm) is raised."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def is_valid(self, key_id: str, digest: bytes, signature: bytes, algorithm: str) -> bool:
        try:
            response = self._client.verify(
                KeyId=key_id,
                Message=digest,
                MessageType="DIGEST",
                Signature=signature,
                SigningAlgorithm=algorithm,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "KMSInvalidSignatureException":
                return False
            raise
        return response.get("SignatureValid") is True


class CloudFormationResponder:
    """Sends a custom resource's result to CloudFormation's pre-signed ``ResponseURL`` (an S3
    URL, reached through the VPC's S3 gateway endpoint)."""

    def __init__(self, timeout: float = 30.0) -> None:
        self._timeout = timeout

    def send(self, response_url: str, body: dict[str, Any]) -> None:
        if urllib.parse.urlsplit(response_url).scheme != "https":
            raise ValueError(f"the ResponseURL must be https://, got {response_url[:60]!r}")
        data = json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - https only, checked above
            response_url,
            data=data,
            method="PUT",
            headers={"Content-Type": "", "Content-Length": str(len(data))},
        )
        with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
            response.read()

"""Pure core of the artifact check: digests of chunk streams, S3's stored checksums, comparison.

No boto3, no environment, no clock. A signature, when there is one, is of the 32-byte digest
(KMS ``MessageType=DIGEST``). S3 stores ``ChecksumSHA256`` as the base64 of the raw
32-byte digest; only a ``FULL_OBJECT`` checksum is the SHA-256 of the object's bytes. A
``COMPOSITE`` one (a multipart upload: the digest of the parts' digests, written ``<b64>-<parts>``)
is not, so such an object is streamed and hashed instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

FULL_OBJECT = "FULL_OBJECT"
_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ArtifactMismatchError(Exception):
    """The artifact's SHA-256 is not the one expected; the message names both and the URL."""


@dataclass(frozen=True)
class Digest:
    """The SHA-256 (lower-case hex) of ``size`` bytes, and how it was obtained."""

    sha256: str
    size: int
    source: str  # "s3-checksum" (S3's stored full-object checksum) or "streamed"


def expected_sha256(value: object) -> str:
    """The expected digest as 64 lower-case hex digits; ``ValueError`` for anything else."""
    if not isinstance(value, str) or not _HEX_SHA256.match(value.strip().lower()):
        raise ValueError(f"the expected SHA-256 must be 64 hexadecimal digits, got {value!r}")
    return value.strip().lower()


def sha256_of_chunks(chunks: Iterable[bytes]) -> Digest:
    """Hash ``chunks`` in order, one at a time: memory stays at one chunk whatever the size."""
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return Digest(digest.hexdigest(), size, "streamed")


def full_object_sha256(checksum_sha256: str | None, checksum_type: str | None) -> str | None:
    """The object's SHA-256 in hex from S3's stored checksum, or None when S3 holds no
    full-object SHA-256 (no checksum, another algorithm, a composite multipart checksum, or a
    value that is not the base64 of 32 bytes)."""
    if checksum_sha256 is None or checksum_type != FULL_OBJECT:
        return None
    try:
        raw = base64.b64decode(checksum_sha256, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == hashlib.sha256().digest_size else None


def check(url: str, expected: str, actual: Digest) -> None:
    """Raise ``ArtifactMismatchError`` unless ``actual`` is the ``expected`` digest."""
    if actual.sha256 != expected:
        raise ArtifactMismatchError(
            f"the model artifact {url} does not match model_sha256: expected sha256 "
            f"{expected}, the object's sha256 is {actual.sha256} ({actual.size} bytes, "
            f"{actual.source}); the model is not created. Upload the intended artifact or "
            "correct model_sha256."
        )


class OutOfTimeError(Exception):
    """The function would time out before the whole artifact was read."""


def within(
    chunks: Iterable[bytes], time_left_ms: Callable[[], int], reserve_ms: int
) -> Iterator[bytes]:
    """``chunks``, until fewer than ``reserve_ms`` milliseconds are left: then
    ``OutOfTimeError`` (with the bytes read), so that the function still has the time to tell
    CloudFormation rather than leave the stack waiting for a response that never comes."""
    read = 0
    for chunk in chunks:
        if time_left_ms() < reserve_ms:
            raise OutOfTimeError(
                f"the function ran out of time after reading {read} bytes of the artifact: "
                "it is too large to verify within the function's timeout"
            )
        read += len(chunk)
        yield chunk


@dataclass(frozen=True)
class ExpectedSignature:
    """A signature of the artifact's SHA-256 digest, by ``key_id`` with ``algorithm``."""

    signature: bytes
    key_id: str
    algorithm: str


def expected_signature(properties: Mapping[str, object]) -> ExpectedSignature | None:
    """The signature the custom resource's properties ask for (``Signature``, ``SigningKeyArn``,
    ``SigningAlgorithm``), or None when there is none; ``ValueError`` for an incomplete one."""
    signature = properties.get("Signature")
    if signature is None or signature == "":
        return None
    key_id, algorithm = properties.get("SigningKeyArn"), properties.get("SigningAlgorithm")
    if not isinstance(key_id, str) or not key_id or not isinstance(algorithm, str) or not algorithm:
        raise ValueError(
            "a model signature needs SigningKeyArn and SigningAlgorithm, got "
            f"SigningKeyArn={key_id!r}, SigningAlgorithm={algorithm!r}"
        )
    return ExpectedSignature(signature_bytes(signature), key_id, algorithm)


class SignatureMismatchError(Exception):
    """``model_signature`` is not a valid signature of the artifact's digest by the key named."""


def signature_bytes(value: object) -> bytes:
    """The signature from its base64 text (as ``aws kms sign`` prints it); ``ValueError`` for
    anything that is not strict base64 of at least one byte."""
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if not raw:
        raise ValueError(f"the model signature must be base64 text, got {value!r:.80}")
    return raw


def check_signature(url: str, sha256: str, valid: bool, key_id: str, algorithm: str) -> None:
    """Raise ``SignatureMismatchError`` unless KMS found the signature ``valid``."""
    if not valid:
        raise SignatureMismatchError(
            f"the model artifact {url} (sha256 {sha256}) is not signed by {key_id}: kms:Verify "
            f"with {algorithm} over its SHA-256 digest (MessageType DIGEST) refused "
            "model_signature; the model is not created. Sign the digest of the approved "
            "artifact with that key and algorithm, or correct model_signature."
        )

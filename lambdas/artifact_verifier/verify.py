"""Pure core of the artifact check: digests of chunk streams, S3's stored checksums, comparison.

No boto3, no environment, no clock. S3 stores ``ChecksumSHA256`` as the base64 of the raw
32-byte digest; only a ``FULL_OBJECT`` checksum is the SHA-256 of the object's bytes. A
``COMPOSITE`` one (a multipart upload: the digest of the parts' digests, written ``<b64>-<parts>``)
is not, so such an object is streamed and hashed instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
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

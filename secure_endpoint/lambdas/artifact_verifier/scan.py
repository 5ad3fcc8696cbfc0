"""Pure core of the artifact scan: would loading the model run code it should not?

After the digest (and signature) check passes, the same object (that version, that ETag) is
streamed once more through ``secure_endpoint.runtime.artifact_scan``: every pickle's imports
against the allowlist, Keras Lambda layers and custom objects, archive tricks and bombs. A
finding fails the deployment with a message naming the member and the global; the model is never
created. ``ArtifactUnsafe`` (0 or 1) is published as an embedded-metric line. No boto3, no
environment, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from artifact_verifier.tamper import emf
from secure_endpoint.runtime.artifact_scan import Policy, Report, Scanner

METRIC = "ArtifactUnsafe"
SCAN_PROPERTY = "Scan"
ALLOWED_PROPERTY = "AllowedPickleGlobals"


class ArtifactUnsafeError(Exception):
    """The artifact holds something that runs code when loaded; the message names it."""


def policy_of(properties: Mapping[str, object]) -> Policy | None:
    """The policy the custom resource asks for, or None when it asks for no scan (``Scan``
    ``"false"``, or no ``Scan`` at all: a template of a version without the scan).
    ``ValueError`` for a bad ``AllowedPickleGlobals``."""
    if str(properties.get(SCAN_PROPERTY, "false")).lower() != "true":
        return None
    allowed = properties.get(ALLOWED_PROPERTY) or []
    if not isinstance(allowed, list):
        raise ValueError(f"{ALLOWED_PROPERTY} must be a list of module.name, got {allowed!r:.200}")
    return Policy.with_extra(str(entry) for entry in allowed)


class ChunkStream:
    """An iterator of byte chunks as a readable stream (what ``tarfile`` reads)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = b""

    def read(self, size: int = -1, /) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def scan_chunks(
    chunks: Iterable[bytes],
    policy: Policy,
    out_of_time: Callable[[], bool] | None = None,
    tmp_dir: str | None = None,
) -> Report:
    """Scan the archive whose bytes ``chunks`` are, as a stream; ``ScanTimeout`` (which fails
    the deployment) once ``out_of_time()`` says so, even between two chunks (a long pickle, a
    spooled zip)."""
    scanner = Scanner(policy, tmp_dir=tmp_dir, out_of_time=out_of_time)
    scanner.scan_archive(ChunkStream(chunks))
    return scanner.report


def check(url: str, sha256: str, report: Report) -> None:
    """Raise ``ArtifactUnsafeError`` unless ``report`` is clean."""
    if report.clean:
        return
    raise ArtifactUnsafeError(
        f"the model artifact {url} (sha256 {sha256}) would run code when loaded: "
        f"{report.summary()}; the model is not created. Rebuild the model without it, or, "
        "only for a global you trust, allow it with artifact.allowed_pickle_globals."
    )


def metric_document(url: str, report: Report, function_name: str, at_ms: int) -> dict[str, Any]:
    """``ArtifactUnsafe`` (1 when the scan refused the artifact) in embedded metric format."""
    return emf(
        METRIC,
        int(not report.clean),
        function_name,
        at_ms,
        check="scan",
        url=url,
        members=report.members,
        pickles=report.pickles,
        findings=[finding.as_dict() for finding in report.findings[:20]],
        findingCount=len(report.findings),
    )

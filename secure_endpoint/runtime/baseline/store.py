"""A baseline directory: written with a manifest of digests, loaded only when they match.

``write_baseline`` writes ``statistics.json``, ``constraints.json`` and ``reference.json``, then
``manifest.json``: the SHA-256 and size of each file, and, when a key is given, an HMAC-SHA256
over the manifest (its canonical JSON without the ``signature`` member). Each file is written to
a temporary name and renamed, the manifest last: a run that stops half-way leaves files that do
not match the manifest, which ``load_baseline`` refuses. Files are readable by their owner only
(``mkstemp``'s mode 0600): they describe the training data closely.

What each protects against: the digests catch a damaged, truncated, mixed-up or hand-edited file
(an accident). They are no protection against someone who can write the directory or bucket: they
can rewrite the manifest's digests as well. The HMAC is: without the key, a changed file or
manifest does not verify. Keep the key elsewhere than the baseline (a secret, not the bucket) and
pass it where the baseline is read; ``load_baseline`` with a key refuses an unsigned manifest.

Everything is JSON, parsed with ``json`` and checked (``formats.parse_reference``,
``KllSketch.from_json``); nothing is unpickled. ``verify_baseline`` is the pure core (bytes in)
for callers that read the files elsewhere (S3).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secure_endpoint.runtime.baseline import formats
from secure_endpoint.runtime.baseline.kll import KllSketch
from secure_endpoint.runtime.baseline.profile import Profile

STATISTICS = "statistics.json"
CONSTRAINTS = "constraints.json"
REFERENCE = "reference.json"
MANIFEST = "manifest.json"
PAYLOAD = "payload.json"
FILES = (STATISTICS, CONSTRAINTS, REFERENCE)
OPTIONAL_FILES = (PAYLOAD,)
"""Written when built (``payload.json``: the payload detector's reference); listed in the
manifest, and verified, when present."""
MANIFEST_FORMAT = "secure-endpoint/baseline-manifest"
MANIFEST_VERSION = 1
KEY_ENV = "SECURE_ENDPOINT_BASELINE_KEY"
"""The environment variable the command line reads a signing key from (its UTF-8 bytes)."""
MIN_KEY_BYTES = 32
MAX_FILE_BYTES = 256 << 20
"""A baseline file larger than this is refused unread (the defaults write a few MB)."""


class BaselineIntegrityError(ValueError):
    """A baseline whose files do not match its manifest, or whose manifest does not verify."""


@dataclass(frozen=True)
class Baseline:
    """A verified baseline's documents."""

    statistics: dict[str, Any]
    constraints: dict[str, Any]
    reference: dict[str, Any]
    manifest: dict[str, Any]
    signature_verified: bool
    payload: dict[str, Any] | None = None

    @property
    def feature_names(self) -> list[str]:
        return list(self.reference["feature_names"])

    def sketch(self, name: str) -> KllSketch:
        """The KLL sketch of numeric feature ``name``, as ``statistics.json`` records it."""
        for feature in self.statistics["features"]:
            if feature["name"] == name and "numerical_statistics" in feature:
                stats = feature["numerical_statistics"]
                return KllSketch.from_json(
                    stats["distribution"]["kll"]["sketch"],
                    n=stats["common"]["num_present"],
                    minimum=stats["min"],
                    maximum=stats["max"],
                )
        raise KeyError(f"no numeric feature {name!r} in the baseline")


def encode(document: Any, *, indent: int | None = None) -> bytes:
    """JSON as the baseline writes it: no NaN or infinity, UTF-8, a final newline."""
    separators = (",", ": ") if indent else (",", ":")
    text = json.dumps(
        document, allow_nan=False, ensure_ascii=False, indent=indent, separators=separators
    )
    return (text + "\n").encode()


def documents(
    profile: Profile,
    *,
    drift_threshold: float = formats.DEFAULT_DRIFT_THRESHOLD,
    source_format: str,
    file_name: str,
    label_column: str | None,
) -> dict[str, bytes]:
    """The three files of a baseline of ``profile``, encoded."""
    return {
        STATISTICS: encode(formats.statistics(profile)),
        CONSTRAINTS: encode(
            formats.constraints(profile, drift_threshold=drift_threshold), indent=2
        ),
        REFERENCE: encode(
            formats.reference(
                profile, source_format=source_format, file_name=file_name, label_column=label_column
            )
        ),
    }


def _canonical(manifest: Mapping[str, Any]) -> bytes:
    unsigned = {key: value for key, value in manifest.items() if key != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _mac(key: bytes, manifest: Mapping[str, Any]) -> str:
    return hmac.new(key, _canonical(manifest), hashlib.sha256).hexdigest()


def check_key(key: bytes, *, what: str = "a baseline signing key") -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"{what} needs at least {MIN_KEY_BYTES} bytes, got {len(key)}")
    return key


def manifest_of(files: Mapping[str, bytes], key: bytes | None = None) -> dict[str, Any]:
    """The manifest of ``files``: each one's SHA-256 and size; signed when ``key`` is given."""
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "files": {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            for name, data in sorted(files.items())
        },
    }
    if key is not None:
        manifest["signature"] = {
            "algorithm": "HMAC-SHA256",
            "value": _mac(check_key(key), manifest),
        }
    return manifest


def write_baseline(
    directory: Path, files: Mapping[str, bytes], *, key: bytes | None = None
) -> dict[str, Any]:
    """Write ``files`` and their manifest (last) into ``directory`` (created if missing)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = manifest_of(files, key)
    for name, data in [*files.items(), (MANIFEST, encode(manifest, indent=2))]:
        _write_atomically(directory / name, data)
    return manifest


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def verify_baseline(files: Mapping[str, bytes], *, key: bytes | None = None) -> Baseline:
    """The baseline in ``files`` (file name to bytes, ``manifest.json`` among them), refused with
    ``BaselineIntegrityError`` unless every file matches the manifest's digest and, when ``key``
    is given, the manifest's HMAC verifies."""
    if MANIFEST not in files:
        raise BaselineIntegrityError(f"the baseline has no {MANIFEST}: refusing it")
    manifest = _json(MANIFEST, files[MANIFEST])
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise BaselineIntegrityError(f"{MANIFEST} is not a {MANIFEST_FORMAT} document")
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not set(FILES) <= set(listed) <= {*FILES, *OPTIONAL_FILES}:
        raise BaselineIntegrityError(
            f"{MANIFEST} must list {', '.join(FILES)} and optionally {', '.join(OPTIONAL_FILES)}"
        )
    verified = False
    if key is not None:
        signature = manifest.get("signature")
        if not isinstance(signature, dict) or signature.get("algorithm") != "HMAC-SHA256":
            raise BaselineIntegrityError(
                f"{MANIFEST} is not signed, and a signing key was given: refusing it"
            )
        if not hmac.compare_digest(str(signature.get("value", "")), _mac(key, manifest)):
            raise BaselineIntegrityError(
                f"the signature of {MANIFEST} does not verify with the key given: the manifest "
                "was changed, or signed with another key"
            )
        verified = True
    for name in sorted(listed):
        if name not in files:
            raise BaselineIntegrityError(f"the baseline lacks {name}, which {MANIFEST} lists")
        entry = listed[name]
        digest = hashlib.sha256(files[name]).hexdigest()
        expected = str(entry.get("sha256")) if isinstance(entry, dict) else ""
        if not hmac.compare_digest(expected, digest):
            raise BaselineIntegrityError(
                f"{name} does not match its SHA-256 in {MANIFEST} (damaged or changed since the "
                f"baseline was built): expected {expected or None}, found {digest}"
            )
    statistics, constraints = (
        _json(STATISTICS, files[STATISTICS]),
        _json(CONSTRAINTS, files[CONSTRAINTS]),
    )
    try:
        reference = formats.parse_reference(_json(REFERENCE, files[REFERENCE]))
    except ValueError as error:
        raise BaselineIntegrityError(str(error)) from None
    if not isinstance(statistics, dict) or not isinstance(constraints, dict):
        raise BaselineIntegrityError("statistics.json and constraints.json must be JSON objects")
    payload = _json(PAYLOAD, files[PAYLOAD]) if PAYLOAD in listed else None
    if payload is not None and not isinstance(payload, dict):
        raise BaselineIntegrityError(f"{PAYLOAD} must be a JSON object")
    return Baseline(statistics, constraints, reference, manifest, verified, payload)


def _json(name: str, data: bytes) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BaselineIntegrityError(f"{name} is not JSON: {error}") from None


def load_baseline(directory: Path, *, key: bytes | None = None) -> Baseline:
    """Read and verify the baseline in ``directory`` (see ``verify_baseline``)."""
    directory = Path(directory)
    files: dict[str, bytes] = {}
    for name in (MANIFEST, *FILES, *OPTIONAL_FILES):
        path = directory / name
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise BaselineIntegrityError(f"{path} is {size} bytes, over {MAX_FILE_BYTES}")
            files[name] = path.read_bytes()
        except FileNotFoundError:
            continue
        except OSError as error:
            raise BaselineIntegrityError(f"cannot read {path}: {error}") from None
    return verify_baseline(files, key=key)


def read_key(
    path: Path | None,
    environ: Mapping[str, str],
    *,
    variable: str = KEY_ENV,
    what: str = "signing key",
) -> bytes | None:
    """A key (the signing key by default): the bytes of ``path`` (one trailing newline
    dropped), else the UTF-8 of ``$variable``, else None. Refuses a key under 32 bytes, naming
    where it came from."""
    if path is not None:
        try:
            key = Path(path).read_bytes()
        except OSError as error:
            raise ValueError(f"cannot read the {what} file {path}: {error}") from None
        key = key[:-1] if key.endswith(b"\n") else key
        where = str(path)
    else:
        text = environ.get(variable)
        if not text:
            return None
        key, where = text.encode(), f"${variable}"
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(
            f"the {what} ({where}) is {len(key)} bytes; it must be at least {MIN_KEY_BYTES} "
            f"bytes, got {len(key)}"
        )
    return key

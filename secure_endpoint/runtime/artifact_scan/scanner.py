"""Scan a model archive member by member: what each one is (by magic bytes, then by name), and
whether loading it could run code.

The archive (``model.tar.gz``) is read as a stream (``tarfile`` streaming mode): memory stays
bounded whatever its size; a zip inside it (PyTorch ``.pt``, Keras ``.keras``, NumPy ``.npz``)
is spooled to a temporary file, since a zip is read from its end.
"""

from __future__ import annotations

import ast
import json
import posixpath
import re
import struct
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from secure_endpoint.runtime.artifact_scan import decompress
from secure_endpoint.runtime.artifact_scan.findings import (
    Finding,
    Limits,
    Report,
    ScanLimitError,
    ScanTimeout,
)
from secure_endpoint.runtime.artifact_scan.pickles import Walker, looks_like_pickle
from secure_endpoint.runtime.artifact_scan.policy import Policy
from secure_endpoint.runtime.artifact_scan.streams import Readable, Reader, Truncated

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".p", ".sav", ".ckpt", ".dill")
"""Names loaded with pickle (or joblib, or torch.load); their content decides how it is read."""
HEAD_BYTES = 512
NPY_MAGIC = b"\x93NUMPY"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
# A protocol 0 or 1 pickle starts with one of these opcodes (MARK, GLOBAL, EMPTY_LIST/DICT).
_OLD_PICKLE_STARTS = frozenset(b"(c]}")
_TORCH_STORAGE = re.compile(r"(^|/)data/\d+$")
_CONFIG_PATTERNS = (
    (re.compile(rb'"class_name"\s*:\s*"(Lambda|__lambda__)"'), "keras-lambda"),
    (re.compile(rb'"module"\s*:\s*"([^"\\]{1,200})"'), "keras-custom-object"),
)
"""What the byte search of HDF5 and SavedModel files looks for in the Keras config they hold."""
_SEARCH_CHUNK = 1024 * 1024
_SEARCH_OVERLAP = 512
SAVED_MODEL_NAMES = frozenset({"saved_model.pb", "keras_metadata.pb", "saved_model.pbtxt"})

# What a corrupt zip makes the standard library raise, whether reading its directory or an
# entry: a damaged extra field gives IndexError or struct.error, a damaged name
# UnicodeDecodeError. Each is a finding (the archive is refused), never a crash.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
    IndexError,
    KeyError,
    OverflowError,
    struct.error,
    zlib.error,
)


class Scanner:
    """Scans members into one ``Report``; ``tmp_dir`` holds spooled zips (Lambda: ``/tmp``)."""

    def __init__(
        self,
        policy: Policy | None = None,
        limits: Limits | None = None,
        tmp_dir: str | None = None,
        out_of_time: Callable[[], bool] | None = None,
    ) -> None:
        self.policy = policy or Policy()
        self._out_of_time = out_of_time
        self.limits = limits or Limits()
        self.tmp_dir = tmp_dir
        self.report = Report()
        self._total = 0

    def tick(self) -> None:
        """``ScanTimeout`` when the caller's time is up (checked between chunks and opcodes)."""
        if self._out_of_time is not None and self._out_of_time():
            raise ScanTimeout(
                f"the scan ran out of time after {self.report.members} members: the artifact is "
                "too large (or its pickles too long) to scan within the function's timeout"
            )

    def add(self, finding: Finding) -> None:
        self.report.findings.append(finding)

    # -- the archive ------------------------------------------------------------------------
    def scan_archive(self, stream: Readable, name: str = "", depth: int = 0) -> None:
        """A tar (plain or compressed: gzip, bz2, xz) read as a stream."""
        counted = _Counting(stream)
        where = f"{name}!" if name else ""
        try:
            with tarfile.open(fileobj=counted, mode="r|*") as tar:  # type: ignore[call-overload]
                for count, member in enumerate(_members(tar), start=1):
                    if count > self.limits.max_members:
                        self.add(
                            Finding(
                                name or "(archive)",
                                "limit",
                                f"more than {self.limits.max_members} members",
                            )
                        )
                        return
                    path = where + member.name
                    if not self._member_allowed(member, path):
                        continue
                    if not member.isfile():
                        continue
                    if not self._count(path, member.size, counted.read_bytes):
                        return
                    self.report.members += 1
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        self.scan_member(path, Reader(extracted), depth)
        except ScanLimitError as error:
            self.add(Finding(name or "(archive)", "limit", str(error)))
        except (tarfile.TarError, EOFError, OSError, Truncated) as error:
            self.add(
                Finding(
                    name or "(archive)", "archive", f"not a readable tar archive ({error}): refused"
                )
            )
        finally:
            self.report.bytes_read = max(self.report.bytes_read, counted.read_bytes)

    def _member_allowed(self, member: tarfile.TarInfo, path: str) -> bool:
        """Refuse (with a finding) names and links that escape the model directory, devices."""
        name = member.name
        if "\\" in name:
            self.add(Finding(path, "archive", "a path with a backslash: a Windows path, refused"))
            return False
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
            self.add(
                Finding(
                    path,
                    "archive",
                    "an absolute path: extracting it writes outside the model directory",
                )
            )
            return False
        if ".." in name.split("/"):
            self.add(
                Finding(
                    path,
                    "archive",
                    "a path with '..': extracting it writes outside the model directory",
                )
            )
            return False
        if member.issym() or member.islnk():
            base = posixpath.dirname(name) if member.issym() else ""
            target = posixpath.normpath(posixpath.join(base, member.linkname))
            if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
                kind = "symlink" if member.issym() else "hard link"
                self.add(
                    Finding(
                        path,
                        "archive",
                        f"a {kind} to {member.linkname!r}, outside the model directory",
                    )
                )
            return False
        if member.isdev() or member.isfifo():
            self.add(Finding(path, "archive", "a device file or FIFO: refused"))
            return False
        return True

    def _count(self, path: str, size: int, compressed: int) -> bool:
        limits = self.limits
        if size > limits.max_member_bytes:
            self.add(
                Finding(
                    path,
                    "limit",
                    f"{size} bytes, over the member limit of {limits.max_member_bytes}",
                )
            )
            return False
        self._total += size
        if self._total > limits.max_total_bytes:
            self.add(
                Finding(
                    path,
                    "limit",
                    f"the archive holds more than {limits.max_total_bytes} bytes (the total limit)",
                )
            )
            return False
        if self._total > limits.ratio_floor_bytes and self._total > limits.max_ratio * max(
            compressed, 1
        ):
            self.add(
                Finding(
                    path,
                    "limit",
                    f"the archive decompresses over {limits.max_ratio}x: a compression bomb",
                )
            )
            return False
        return True

    # -- one member -------------------------------------------------------------------------
    def scan_member(self, path: str, reader: Reader, depth: int = 0) -> None:
        """Whatever ``path`` is, scanned by its first bytes, then by its name."""
        self.tick()
        if depth > self.limits.max_depth:
            self.add(Finding(path, "limit", f"nested more than {self.limits.max_depth} deep"))
            return
        try:
            self._dispatch(path, reader, depth)
        except ScanLimitError as error:
            self.add(Finding(path, "limit", str(error)))
        except (Truncated, OSError, EOFError, RecursionError, zipfile.BadZipFile) as error:
            # a stream that breaks off (a corrupt compressed member, a short zip entry)
            self.add(Finding(path, "archive", f"an unreadable member ({error}): refused"))

    def _dispatch(self, path: str, reader: Reader, depth: int) -> None:
        head = reader.peek(HEAD_BYTES)
        base = _base_name(path)
        if base.endswith(".safetensors") or _is_safetensors(head):
            return  # a JSON header and raw tensors: nothing in it is run
        if head.startswith(ZIP_MAGICS):
            self._scan_zip(path, reader, depth)
        elif head[257:262] == b"ustar":
            self.scan_archive(reader, path, depth + 1)  # a tar inside (legacy torch.save)
        elif head.startswith(decompress.LZ4_FRAME_MAGIC):
            self.add(
                Finding(
                    path,
                    "unsupported",
                    "lz4-compressed (joblib compress='lz4'?): the "
                    "scan cannot read it, so it is refused; compress with zlib, gzip, "
                    "bz2 or xz instead",
                )
            )
        elif head.startswith(decompress.JOBLIB_ZFILE_MAGIC) and base.endswith(PICKLE_SUFFIXES):
            self.add(
                Finding(
                    path,
                    "unsupported",
                    "joblib's legacy zfile format (joblib < 0.10): "
                    "the scan cannot read it, so it is refused",
                )
            )
        elif (kind := decompress.kind_of(head)) is not None:
            stream = decompress.Decompressing(reader, kind, self.limits)
            self.scan_member(f"{path}!{kind}", Reader(stream), depth + 1)
        elif head.startswith(NPY_MAGIC):
            self._scan_npy(path, reader, depth)
        elif (
            head.startswith(HDF5_MAGIC)
            or base.endswith((".h5", ".hdf5"))
            or base in SAVED_MODEL_NAMES
        ):
            self._search_config(path, reader)
        elif base == "config.json":
            self._scan_keras_config(path, reader)
        elif looks_like_pickle(head):
            self._scan_pickles(path, reader, confident=base.endswith(PICKLE_SUFFIXES), depth=depth)
        elif base.endswith(PICKLE_SUFFIXES):
            self._scan_pickles(path, reader, confident=True, depth=depth)
        elif head[:1] and head[0] in _OLD_PICKLE_STARTS:
            self._probe_old_pickle(path, reader, depth)

    def _nested(self, depth: int) -> Any:
        return lambda path, reader: self.scan_member(path, reader, depth + 1)

    # -- pickles ----------------------------------------------------------------------------
    def _scan_pickles(self, path: str, reader: Reader, *, confident: bool, depth: int = 0) -> None:
        """Every pickle of a run (torch's legacy format writes several, joblib one with array
        data inside): a truncated or malformed one is a finding when ``path`` is surely a
        pickle (its name, or it walked past its first opcodes)."""
        first = True
        while True:
            walker = Walker(
                reader, path, self.policy, self.limits, self.add, self._nested(depth), self.tick
            )
            outcome = walker.walk()
            self.report.pickles += 1
            if outcome.error is not None:
                if confident or not first or outcome.opcodes > 3:
                    self.add(
                        Finding(
                            path,
                            "pickle-corrupt",
                            f"a truncated or malformed pickle "
                            f"({outcome.error}): refused, since a loader runs what "
                            "comes before the error",
                            outcome.error_offset,
                        )
                    )
                elif walker.found == 0:
                    self.report.pickles -= 1  # not a pickle after all
                return
            first = False
            if not looks_like_pickle(reader.peek(2)):
                return

    def _probe_old_pickle(self, path: str, reader: Reader, depth: int) -> None:
        """A member that may be a protocol 0/1 pickle (text-like): it counts as one if it walks
        to its STOP; if not, only denied imports are kept (text files start like this too)."""
        held: list[Finding] = []
        walker = Walker(
            reader, path, self.policy, self.limits, held.append, self._nested(depth), self.tick
        )
        outcome = walker.walk()
        if outcome.stopped:
            self.report.pickles += 1
            self.report.findings.extend(held)
            if looks_like_pickle(reader.peek(2)):
                self._scan_pickles(path, reader, confident=True, depth=depth)
            return
        self.report.findings.extend(
            f for f in held if f.kind == "pickle-global" and f.reason.endswith(": denied")
        )

    # -- zips -------------------------------------------------------------------------------
    def _scan_zip(self, path: str, reader: Reader, depth: int) -> None:
        limits = self.limits
        with tempfile.TemporaryFile(dir=self.tmp_dir) as spool:
            size = _spool(reader, spool, limits.max_member_bytes, self.tick)
            if size is None:
                self.add(Finding(path, "limit", f"a zip over {limits.max_member_bytes} bytes"))
                return
            try:
                archive = zipfile.ZipFile(spool)
            except _ZIP_ERRORS as error:
                self.add(Finding(path, "archive", f"not a readable zip ({error!r}): refused"))
                return
            with archive:
                # not is_dir(): it fails on an empty name, which a damaged directory can hold
                entries = [i for i in archive.infolist() if not i.filename.endswith("/")]
                if len(entries) > limits.max_members:
                    self.add(Finding(path, "limit", f"a zip of {len(entries)} entries"))
                    return
                names = {info.filename for info in entries}
                torch = any(name.endswith("data.pkl") for name in names)
                for info in entries:
                    inner = f"{path}!{info.filename}"
                    if torch and _TORCH_STORAGE.search(info.filename):
                        continue  # a tensor's raw bytes, read as bytes by torch.load
                    if not self._zip_entry_sizes(inner, info):
                        continue
                    self.report.members += 1
                    try:
                        with archive.open(info) as entry:
                            self.scan_member(inner, Reader(entry), depth + 1)
                    except (*_ZIP_ERRORS, RuntimeError) as error:
                        self.add(
                            Finding(
                                inner, "archive", f"an unreadable zip entry ({error!r}): refused"
                            )
                        )

    def _zip_entry_sizes(self, path: str, info: zipfile.ZipInfo) -> bool:
        limits = self.limits
        if info.file_size > limits.max_member_bytes:
            self.add(Finding(path, "limit", f"{info.file_size} bytes, over the member limit"))
            return False
        if info.file_size > limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            self.add(
                Finding(
                    path, "limit", f"{info.file_size} bytes from {info.compress_size}: a zip bomb"
                )
            )
            return False
        self._total += info.file_size
        if self._total > limits.max_total_bytes:
            self.add(Finding(path, "limit", "the archive holds more than the total limit"))
            return False
        return True

    # -- numpy ------------------------------------------------------------------------------
    def _scan_npy(self, path: str, reader: Reader, depth: int) -> None:
        """A ``.npy`` array: its header is a Python literal; an object dtype (``'|O'``) means
        the data is a pickle (``numpy.load(allow_pickle=True)`` unpickles it)."""
        try:
            preamble = reader.read_exact(8)
            major = preamble[6]
            width = 2 if major == 1 else 4
            length = int.from_bytes(reader.read_exact(width), "little")
            if length > 1_000_000:
                raise ValueError(f"a {length}-byte header")
            raw = reader.read_exact(length)
            header = ast.literal_eval(raw.decode("utf-8" if major >= 3 else "latin-1"))
            descr = header["descr"] if isinstance(header, dict) else None
        except (Truncated, ValueError, SyntaxError, KeyError, UnicodeDecodeError,
                MemoryError, RecursionError, IndexError) as error:  # fmt: skip
            self.add(Finding(path, "pickle-corrupt", f"a malformed .npy header ({error})", 0))
            return
        if _has_object(descr):
            self._scan_pickles(path, reader, confident=True, depth=depth)

    # -- keras ------------------------------------------------------------------------------
    def _search_config(self, path: str, reader: Reader) -> None:
        """HDF5 (``.h5``) and SavedModel (``*.pb``) files: a byte search for the Keras config
        they hold (``"class_name": "Lambda"``, a ``"module"`` outside keras). A heuristic: the
        config is not parsed, and a compressed or chunked attribute would not be seen."""
        seen: set[tuple[str, str]] = set()
        tail = b""
        offset = 0  # of ``tail`` in the member
        while chunk := reader.read(_SEARCH_CHUNK):
            self.tick()
            window = tail + chunk
            for pattern, kind in _CONFIG_PATTERNS:
                for match in pattern.finditer(window):
                    value = match.group(1).decode("utf-8", "replace")
                    if (kind, value) in seen or not self._config_refuses(kind, value):
                        continue
                    seen.add((kind, value))
                    self.add(
                        Finding(
                            path,
                            kind,
                            self._config_reason(kind, value, heuristic=True),
                            offset + match.start(),
                        )
                    )
            keep = min(len(window), _SEARCH_OVERLAP)
            offset += len(window) - keep
            tail = window[-keep:]

    def _config_refuses(self, kind: str, value: str) -> bool:
        if kind == "keras-lambda":
            return not self.policy.allows_lambda_layers
        if value == "keras" or value.startswith("keras."):
            return False
        return not any(entry.startswith(value + ".") for entry in self.policy.extra)

    def _config_reason(self, kind: str, value: str, *, heuristic: bool) -> str:
        how = " (found by a byte search, a heuristic)" if heuristic else ""
        if kind == "keras-lambda":
            return (
                f"a Keras {value} layer{how}: its Python code runs when the model is loaded "
                "(allow keras.layers.Lambda only if you trust it)"
            )
        return (
            f"a Keras object of module {value!r}{how}, outside keras: loading imports it "
            "(allow it by module.class_name)"
        )

    def _scan_keras_config(self, path: str, reader: Reader) -> None:
        """``config.json`` (a ``.keras`` zip's): Lambda layers and objects outside keras."""
        data = reader.read(self.limits.max_json_bytes + 1)
        if len(data) > self.limits.max_json_bytes:
            self.add(Finding(path, "limit", f"a config over {self.limits.max_json_bytes} bytes"))
            return
        try:
            config = json.loads(data)
        except (ValueError, RecursionError):
            return  # not JSON: not a Keras config (nothing loads it as one)
        for where, node in _walk(config, "$"):
            class_name = node.get("class_name")
            module = node.get("module")
            if class_name in ("Lambda", "__lambda__") and not self.policy.allows_lambda_layers:
                self.add(
                    Finding(
                        path,
                        "keras-lambda",
                        f"{where}: "
                        + self._config_reason("keras-lambda", str(class_name), heuristic=False),
                    )
                )
            elif isinstance(module, str) and isinstance(class_name, str):
                full = f"{module}.{class_name}"
                if not self.policy.allows_name(full):
                    self.add(
                        Finding(
                            path,
                            "keras-custom-object",
                            f"{where}: a Keras object {full}, outside keras: loading "
                            "imports it (allow it by module.class_name)",
                            global_name=full,
                        )
                    )


def scan_archive(
    stream: Readable,
    policy: Policy | None = None,
    limits: Limits | None = None,
    tmp_dir: str | None = None,
    out_of_time: Callable[[], bool] | None = None,
) -> Report:
    """Scan a ``model.tar.gz`` stream; the report of every member. ``ScanTimeout`` once
    ``out_of_time()`` says so."""
    scanner = Scanner(policy, limits, tmp_dir, out_of_time)
    scanner.scan_archive(stream)
    return scanner.report


def scan_path(
    path: str | Path,
    policy: Policy | None = None,
    limits: Limits | None = None,
    tmp_dir: str | None = None,
) -> Report:
    """Scan a file: a tar archive (any compression) member by member, else as one member."""
    path = Path(path)
    scanner = Scanner(policy, limits, tmp_dir)
    if tarfile.is_tarfile(path):
        with path.open("rb") as stream:
            scanner.scan_archive(stream)
    else:
        with path.open("rb") as stream:
            scanner.report.members += 1
            scanner.scan_member(path.name, Reader(stream))
            scanner.report.bytes_read = stream.tell()
    return scanner.report


class _Counting:
    """A stream that counts the (compressed) bytes read from it."""

    def __init__(self, stream: Readable) -> None:
        self._stream = stream
        self.read_bytes = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self._stream.read(size)
        self.read_bytes += len(data)
        return data


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while (member := tar.next()) is not None:
        yield member


def _spool(reader: Reader, spool: IO[bytes], cap: int, tick: Callable[[], None]) -> int | None:
    size = 0
    while chunk := reader.read(1024 * 1024):
        tick()
        size += len(chunk)
        if size > cap:
            return None
        spool.write(chunk)
    spool.seek(0)
    return size


def _base_name(path: str) -> str:
    """The file name that says what ``path`` is: a decompressed ``model.joblib!zlib`` is a
    ``model.joblib``, ``model.pkl.gz!gzip`` a ``model.pkl``."""
    parts = path.split("!")
    while len(parts) > 1 and parts[-1] in decompress.KINDS:
        parts.pop()
        parts[-1] = re.sub(r"\.(gz|bz2|xz|lzma|z|zlib)$", "", parts[-1], flags=re.IGNORECASE)
    return posixpath.basename(parts[-1]).lower()


def _is_safetensors(head: bytes) -> bool:
    """8 bytes of header length, then a JSON object."""
    if len(head) < 10 or head[8:10] not in (b'{"', b"{}", b"{ "):
        return False
    return 0 < int.from_bytes(head[:8], "little") < 100 * 2**20


def _has_object(descr: Any) -> bool:
    if isinstance(descr, str):
        return descr.lstrip("|<>=").startswith("O")
    if isinstance(descr, list | tuple):
        return any(_has_object(part) for part in descr)
    return False


def _walk(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every dict in a JSON document, with its path (``$.config.layers[2]``)."""
    stack: list[tuple[str, Any]] = [(where, node)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, dict):
            yield where, node
            stack.extend((f"{where}.{key}", value) for key, value in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((f"{where}[{i}]", value) for i, value in reversed(list(enumerate(node))))

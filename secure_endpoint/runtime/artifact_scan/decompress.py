"""Streams that decompress as they are read, within the scan's limits (bombs are refused)."""

from __future__ import annotations

import bz2
import lzma
import zlib
from typing import Any

from secure_endpoint.runtime.artifact_scan.findings import Limits, ScanLimitError
from secure_endpoint.runtime.artifact_scan.streams import Reader, Truncated

INPUT_CHUNK = 256 * 1024
GZIP_MAGIC = b"\x1f\x8b"
BZ2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
LZMA_ALONE_MAGIC = b"]\x00\x00"
LZ4_FRAME_MAGIC = b"\x04\x22\x4d\x18"
JOBLIB_ZFILE_MAGIC = b"ZF"
KINDS = frozenset({"gzip", "bz2", "xz", "lzma", "zlib"})


def kind_of(head: bytes) -> str | None:
    """The compression of a stream starting with ``head``: gzip, bz2, xz, lzma, zlib, or None.
    zlib has no magic number: a valid header whose first bytes also decompress."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(BZ2_MAGIC) and head[3:4].isdigit():
        return "bz2"
    if head.startswith(XZ_MAGIC):
        return "xz"
    if head.startswith(LZMA_ALONE_MAGIC):
        return "lzma"
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        try:
            zlib.decompressobj().decompress(head, 64)
        except zlib.error:
            return None
        return "zlib"
    return None


class Decompressing:
    """``source``'s bytes decompressed (``kind`` as ``kind_of`` names it), ``read`` at a time:
    ``ScanLimitError`` past ``limits.max_member_bytes`` or ``limits.max_ratio``."""

    def __init__(self, source: Reader, kind: str, limits: Limits) -> None:
        self._source = source
        self._kind = kind
        self._limits = limits
        self._engine = self._new()
        self._done = False
        self.produced = 0
        self.consumed = 0

    def _new(self) -> Any:
        if self._kind == "gzip":
            return zlib.decompressobj(31)
        if self._kind == "zlib":
            return zlib.decompressobj()
        if self._kind == "bz2":
            return bz2.BZ2Decompressor()
        return lzma.LZMADecompressor(lzma.FORMAT_XZ if self._kind == "xz" else lzma.FORMAT_ALONE)

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            size = INPUT_CHUNK
        while not self._done:
            try:
                out = self._step(size)
            except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError) as error:
                raise Truncated(f"a corrupt {self._kind} stream ({error})") from None
            if out:
                self._account(len(out))
                return out
        return b""

    def _step(self, size: int) -> bytes:
        engine = self._engine
        if isinstance(engine, type(zlib.decompressobj())):
            data = engine.unconsumed_tail
            if not data:
                data = self._source.read(INPUT_CHUNK)
                self.consumed += len(data)
            if not data:
                self._done = True
                return engine.flush()
            out = engine.decompress(data, size)
            if engine.eof:
                rest = engine.unused_data
                if self._kind == "gzip" and (rest or self._source.peek(1)):
                    # gzip.open reads concatenated members: so does the scan
                    self._engine = self._new()
                    self._pushback(rest)
                else:
                    self._done = True
            return bytes(out)
        if engine.eof:
            self._done = True
            return b""
        data = b"" if not engine.needs_input else self._take()
        if engine.needs_input and not data:
            self._done = True
            return b""
        return bytes(engine.decompress(data, size))

    def _take(self) -> bytes:
        data = self._source.read(INPUT_CHUNK)
        self.consumed += len(data)
        return data

    def _pushback(self, data: bytes) -> None:
        if data:
            self.consumed -= len(data)  # read again through the new member
            self._source = Reader(_Chain(data, self._source))

    def _account(self, n: int) -> None:
        self.produced += n
        limits = self._limits
        if self.produced > limits.max_member_bytes:
            raise ScanLimitError(
                f"decompresses to more than {limits.max_member_bytes} bytes (the member limit)"
            )
        read = max(self.consumed, 1)
        if self.produced > limits.ratio_floor_bytes and self.produced > limits.max_ratio * read:
            raise ScanLimitError(
                f"decompresses {self.produced // read}x ({self.produced} bytes from {read}), "
                f"over the ratio limit of {limits.max_ratio}x: a compression bomb"
            )


class _Chain:
    def __init__(self, first: bytes, rest: Reader) -> None:
        self._first = first
        self._rest = rest

    def read(self, size: int = -1, /) -> bytes:
        if self._first:
            data, self._first = self._first[:size], self._first[size:]
            return data
        return self._rest.read(size)

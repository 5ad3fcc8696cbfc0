"""Readers over member streams: position counting, exact reads, bounded lines, skipping."""

from __future__ import annotations

import lzma
import tarfile
import zipfile
import zlib
from typing import Protocol

SKIP_CHUNK = 1024 * 1024
READ_AHEAD = 64 * 1024


_STREAM_ERRORS = (
    OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, tarfile.TarError
)  # fmt: skip


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Truncated(Exception):
    """The stream ended inside a value."""


class Reader:
    """Sequential reads from ``stream`` (a member of a streamed tar, a zip entry, a decompressor)
    with the position counted from the start, a look-ahead buffer, and ``limit`` bytes at most
    (a nested value inside a pickle is read as a bounded sub-stream)."""

    def __init__(self, stream: Readable, limit: int | None = None, start: int = 0) -> None:
        self._stream = stream
        self._left = limit
        self._buf = b""
        self._off = 0  # what of _buf was consumed
        self.pos = start

    def _raw(self, size: int) -> bytes:
        if self._left is not None:
            size = min(size, self._left)
        if size <= 0:
            return b""
        try:
            data = self._stream.read(size)
        except _STREAM_ERRORS as error:
            # a zip entry, a tar member or a decompressor whose data breaks off or is corrupt
            raise Truncated(f"the data is corrupt ({type(error).__name__}: {error})") from None
        if self._left is not None:
            self._left -= len(data)
        return data

    def _buffered(self) -> int:
        return len(self._buf) - self._off

    def fill(self, at_least: int = 64) -> None:
        """Read ahead a block (the opcode walk reads a byte or a few at a time)."""
        if self._buffered() < at_least:
            self._buf = self._buf[self._off :] + self._raw(max(READ_AHEAD, at_least))
            self._off = 0

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (fewer only at the end)."""
        if size < 0:
            raise ValueError("Reader.read needs a size: the stream may be large")
        off = self._off
        if len(self._buf) - off >= size:  # the common case: small reads from the buffer
            self._off = off + size
            self.pos += size
            return self._buf[off : off + size]
        parts = [self._buf[off:]]
        self._buf, self._off = b"", 0
        wanted = size - len(parts[0])
        while wanted > 0:
            chunk = self._raw(wanted)
            if not chunk:
                break
            parts.append(chunk)
            wanted -= len(chunk)
        data = b"".join(parts)
        self.pos += len(data)
        return data

    def read_exact(self, size: int) -> bytes:
        data = self.read(size)
        if len(data) != size:
            raise Truncated(f"the data ends {size - len(data)} bytes short of a {size}-byte value")
        return data

    def peek(self, size: int) -> bytes:
        """The next ``size`` bytes without consuming them (fewer at the end)."""
        while self._buffered() < size:
            before = self._buffered()
            self._buf = self._buf[self._off :] + self._raw(size - before)
            self._off = 0
            if self._buffered() == before:
                break
        return self._buf[self._off : self._off + size]

    def readline(self, cap: int) -> bytes:
        """One line with its ``\\n``; ``Truncated`` without one within ``cap`` bytes."""
        line = bytearray()
        while len(line) <= cap:
            self.fill()
            end = self._buf.find(b"\n", self._off, self._off + cap + 1 - len(line))
            if end >= 0:
                line += self.read(end + 1 - self._off)
                return bytes(line)
            chunk = self.read(min(self._buffered(), cap + 1 - len(line)))
            if not chunk:
                raise Truncated("the data ends inside a line")
            line += chunk
        raise Truncated(f"a line longer than {cap} bytes")

    def skip(self, size: int) -> None:
        """Consume ``size`` bytes, ``SKIP_CHUNK`` at a time; ``Truncated`` when fewer are left."""
        while size > 0:
            chunk = self.read(min(size, SKIP_CHUNK))
            if not chunk:
                raise Truncated(f"the data ends {size} bytes short of what it declares")
            size -= len(chunk)

    def drain(self) -> int:
        """Consume what is left; the bytes consumed."""
        total = 0
        while chunk := self.read(SKIP_CHUNK):
            total += len(chunk)
        return total

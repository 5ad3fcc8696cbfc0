"""Readers over member streams: position counting, exact reads, bounded lines, skipping."""

from __future__ import annotations

from typing import Protocol

SKIP_CHUNK = 1024 * 1024


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Truncated(Exception):
    """The stream ended inside a value."""


class Reader:
    """Sequential reads from ``stream`` (a member of a streamed tar, a zip entry, a decompressor)
    with the position counted from the start, a one-byte look-ahead, and ``limit`` bytes at most
    (a nested value inside a pickle is read as a bounded sub-stream)."""

    def __init__(self, stream: Readable, limit: int | None = None, start: int = 0) -> None:
        self._stream = stream
        self._left = limit
        self._ahead = b""
        self.pos = start

    def _raw(self, size: int) -> bytes:
        if self._left is not None:
            size = min(size, self._left)
        if size <= 0:
            return b""
        data = self._stream.read(size)
        if self._left is not None:
            self._left -= len(data)
        return data

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (fewer only at the end)."""
        if size < 0:
            raise ValueError("Reader.read needs a size: the stream may be large")
        parts = []
        if self._ahead:
            parts.append(self._ahead[:size])
            self._ahead = self._ahead[size:]
        wanted = size - sum(len(part) for part in parts)
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
        while len(self._ahead) < size:
            chunk = self._raw(size - len(self._ahead))
            if not chunk:
                break
            self._ahead += chunk
        return self._ahead[:size]

    def readline(self, cap: int) -> bytes:
        """One line with its ``\\n``; ``Truncated`` without one within ``cap`` bytes."""
        line = bytearray()
        while len(line) <= cap:
            byte = self.read(1)
            if not byte:
                raise Truncated("the data ends inside a line")
            line += byte
            if byte == b"\n":
                return bytes(line)
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

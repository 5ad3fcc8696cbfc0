"""Where ``secure-endpoint detect`` reads its lines from, and what it says when they hold nothing.

An input is a file of access-log lines, plain or gzip-compressed (recognized by its first two
bytes, whatever its name: CloudWatch Logs exports to S3 are gzip files, often without a ``.gz``),
or ``-`` for standard input (compressed or not, the same way). Only a plain file can be split in
byte ranges and parsed by two processes; the others are read as one stream.

``InputSummary`` counts what one input (or several) held, line by line: records kept, lines that
are not JSON (``unparseable``), JSON lines that are not access-log records (``wrong_shape``) and
records whose request id was read before (``duplicates``). ``nothing_read`` turns a summary with
no record into the one-line reason a user needs.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from secure_endpoint.runtime.anomaly.records import FIELDS

STDIN = "-"
"""The name that stands for standard input."""

GZIP_MAGIC = b"\x1f\x8b"

Source = Path | str


@dataclass(frozen=True)
class InputSummary:
    """What the lines of an input came to; blank lines are not counted."""

    records: int = 0
    unparseable: int = 0
    wrong_shape: int = 0
    duplicates: int = 0

    @property
    def lines_malformed(self) -> int:
        """Lines skipped as not access-log records (unparseable or of the wrong shape)."""
        return self.unparseable + self.wrong_shape

    @property
    def lines(self) -> int:
        """Non-blank lines read."""
        return self.records + self.lines_malformed + self.duplicates

    def __add__(self, other: InputSummary) -> InputSummary:
        return InputSummary(
            self.records + other.records,
            self.unparseable + other.unparseable,
            self.wrong_shape + other.wrong_shape,
            self.duplicates + other.duplicates,
        )

    def describe(self) -> str:
        """``12,345 records; 3 unparseable lines, 1 of the wrong shape, 40 duplicates skipped``."""
        return (
            f"{self.records:,} records; {self.unparseable:,} unparseable lines, "
            f"{self.wrong_shape:,} of the wrong shape, {self.duplicates:,} duplicates skipped"
        )


def nothing_read(what: str, summary: InputSummary) -> str | None:
    """None when ``summary`` holds a record; else why ``what`` (``--logs a.jsonl``) gave none."""
    if summary.records:
        return None
    if not summary.lines:
        return f"{what} holds no line: nothing to score"
    reasons = []
    if summary.unparseable:
        reasons.append(
            f"{summary.unparseable:,} lines are not JSON (a binary or compressed file other "
            "than gzip? an export in another format?)"
        )
    if summary.wrong_shape:
        reasons.append(
            f"{summary.wrong_shape:,} lines are JSON but not access-log records (one object "
            f"per line with {', '.join(FIELDS)}, in the pinned format)"
        )
    if summary.duplicates:
        reasons.append(
            f"{summary.duplicates:,} records repeat request ids read before (the same export "
            "given twice?)"
        )
    return f"{what} holds no access-log record: " + "; ".join(reasons)


def is_stdin(source: Source) -> bool:
    return str(source) == STDIN


def is_gzip(head: bytes) -> bool:
    return head[:2] == GZIP_MAGIC


def splittable(source: Source) -> bool:
    """Whether ``source`` is a plain, uncompressed regular file (which can be cut in ranges)."""
    if is_stdin(source) or not Path(source).is_file():
        return False
    with Path(source).open("rb") as file:
        return not is_gzip(file.read(2))


def name_of(source: Source) -> str:
    return "standard input" if is_stdin(source) else str(source)


@contextmanager
def open_lines(source: Source, stdin: IO[bytes] | None = None) -> Iterator[Iterable[bytes]]:
    """The lines of ``source`` (``-``: ``stdin``), decompressed when it starts as gzip does.

    Reading a corrupt or truncated gzip stream raises ``OSError`` (``gzip.BadGzipFile``),
    ``EOFError`` or ``zlib.error`` while the lines are iterated."""
    if is_stdin(source):
        if stdin is None:
            raise ValueError("reading standard input (-) needs a stdin stream")
        stream = _peekable(stdin)
        if is_gzip(stream.peek(2)[:2]):
            with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
                yield unzipped
        else:
            yield stream
        return
    with Path(source).open("rb") as file:
        if is_gzip(file.peek(2)[:2]):
            with gzip.GzipFile(fileobj=file, mode="rb") as unzipped:
                yield unzipped
        else:
            yield file


def _peekable(stream: IO[bytes]) -> io.BufferedReader:
    if isinstance(stream, io.BufferedReader):
        return stream
    return io.BufferedReader(stream)  # type: ignore[arg-type]


def one_stdin(sources: Sequence[Source]) -> None:
    """Raises ValueError when standard input is named more than once."""
    if sum(map(is_stdin, sources)) > 1:
        raise ValueError("standard input (-) can be read only once: name it for one input")

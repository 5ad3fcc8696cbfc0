"""One scheduled drift run over data capture: which objects, in what order, and the cursor.

A run reads the capture objects that arrived since the last run, by the time S3 stored them
(``LastModified``), not by the hour in their key: an object written late is read by the next
run rather than missed. The cursor (the last time read, and the keys read at that very time,
since several objects can share a second) is written only after the run's report: a run that
fails leaves it where it was, and the next run reads the same objects again. A run reads at most
``max_bytes``; what is left waits for the next one, oldest first.

Keys follow the documented layout ``<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>``; a
run lists only the hour folders from ``lookback_hours`` before the cursor to now, so its cost
does not grow with the bucket.

The storage is behind ``CaptureStore`` (boto3 in the Lambda, a dict in tests); nothing here
calls AWS.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from secure_endpoint.runtime.capture.drift import Reference, Window, WindowReport, iso
from secure_endpoint.runtime.capture.records import Capture, Counts, read_lines

DEFAULT_LOOKBACK_HOURS = 3
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
CURSOR_VERSION = 1


@dataclass(frozen=True)
class CaptureObject:
    key: str
    last_modified: float  # epoch seconds
    size: int


class CaptureStore(Protocol):
    def variants(self, endpoint_prefix: str) -> list[str]:
        """The variant prefixes under ``<prefix>/<endpoint>/`` (each ending in '/')."""
        ...

    def objects(self, prefix: str) -> Iterable[CaptureObject]: ...

    def lines(self, key: str) -> Iterator[bytes]: ...


@dataclass(frozen=True)
class Cursor:
    """Where the last run stopped: objects up to ``last_modified`` are read, and at exactly
    ``last_modified`` those in ``keys``."""

    last_modified: float
    keys: frozenset[str] = frozenset()

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": CURSOR_VERSION,
                "lastModified": self.last_modified,
                "keys": sorted(self.keys),
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes | None, *, start: float) -> Cursor:
        """The stored cursor, or one at ``start`` when there is none. A cursor that cannot be
        read is an error, never silently reset (that would skip or re-read days of data)."""
        if text is None:
            return cls(start)
        document: Any = json.loads(text)
        if not isinstance(document, dict) or document.get("version") != CURSOR_VERSION:
            raise ValueError(f"the drift cursor is not a version {CURSOR_VERSION} cursor")
        last, keys = document.get("lastModified"), document.get("keys")
        if not isinstance(last, int | float) or not isinstance(keys, list):
            raise ValueError("the drift cursor lacks lastModified or keys")
        return cls(float(last), frozenset(str(k) for k in keys))

    def is_new(self, item: CaptureObject) -> bool:
        if item.last_modified > self.last_modified:
            return True
        return item.last_modified == self.last_modified and item.key not in self.keys


def hour_prefixes(variant_prefix: str, since: float, now: float, lookback_hours: int) -> list[str]:
    """The ``yyyy/mm/dd/hh/`` folders of ``variant_prefix`` that may hold new objects."""
    first = datetime.fromtimestamp(since, UTC).replace(minute=0, second=0, microsecond=0)
    first -= timedelta(hours=lookback_hours)
    last = datetime.fromtimestamp(now, UTC)
    prefixes = []
    hour = first
    while hour <= last:
        prefixes.append(f"{variant_prefix}{hour:%Y/%m/%d/%H}/")
        hour += timedelta(hours=1)
    return prefixes


def plan(
    store: CaptureStore,
    endpoint_prefix: str,
    cursor: Cursor,
    now: float,
    *,
    lookback_hours: int = DEFAULT_LOOKBACK_HOURS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[list[CaptureObject], int]:
    """The new objects this run reads, oldest first, at most ``max_bytes`` of them (always at
    least one, so that one large object cannot stall the runs), and how many new objects wait
    for a later run."""
    found: list[CaptureObject] = []
    for variant in store.variants(endpoint_prefix):
        for prefix in hour_prefixes(variant, cursor.last_modified, now, lookback_hours):
            found.extend(item for item in store.objects(prefix) if cursor.is_new(item))
    found.sort(key=lambda item: (item.last_modified, item.key))
    chosen: list[CaptureObject] = []
    total = 0
    for item in found:
        if chosen and total + item.size > max_bytes:
            break
        chosen.append(item)
        total += item.size
    # never stop inside a second: the cursor can only say "all keys at this time up to here"
    while (
        chosen
        and len(chosen) < len(found)
        and (found[len(chosen)].last_modified == chosen[-1].last_modified)
    ):
        chosen.append(found[len(chosen)])
    return chosen, len(found) - len(chosen)


def advance(cursor: Cursor, read: Sequence[CaptureObject]) -> Cursor:
    """The cursor after reading ``read`` (``plan``'s answer, in its order)."""
    if not read:
        return cursor
    last = read[-1].last_modified
    at_last = {item.key for item in read if item.last_modified == last}
    if last == cursor.last_modified:
        at_last |= cursor.keys
    return Cursor(last, frozenset(at_last))


@dataclass(frozen=True)
class RunResult:
    report: WindowReport
    counts: Counts
    objects: int
    cursor: Cursor
    backlog: bool  # objects were left for the next run


def run(
    store: CaptureStore,
    endpoint_prefix: str,
    reference: Reference,
    cursor: Cursor,
    now: float,
    *,
    lookback_hours: int = DEFAULT_LOOKBACK_HOURS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    also: Callable[[Iterator[Capture]], object] | None = None,
) -> RunResult:
    """Read what arrived since ``cursor`` as one window and compare it with the baseline. The
    caller writes the report, then the returned cursor (in that order).

    :param also: another reader of the same captures (the payload detector), called once with
        them as an iterator, oldest object first: the objects are read once, for both. What it
        leaves unread is still read into the window.
    """
    chosen, waiting = plan(
        store, endpoint_prefix, cursor, now, lookback_hours=lookback_hours, max_bytes=max_bytes
    )
    counts = Counts()
    start = chosen[0].last_modified if chosen else now
    window = Window(reference, start, chosen[-1].last_modified if chosen else now)

    def captures() -> Iterator[Capture]:
        for item in chosen:
            for capture in read_lines(store.lines(item.key), counts):
                window.add(capture)
                yield capture

    stream = captures()
    if also is not None:
        also(stream)
    for _ in stream:  # the rest, if any
        pass
    return RunResult(window.report(), counts, len(chosen), advance(cursor, chosen), waiting > 0)


def report_key(reports_prefix: str, result: RunResult) -> str:
    """Where a run's ``constraint_violations.json`` goes: by the time of its last object."""
    return f"{reports_prefix}{iso(result.report.end)}/constraint_violations.json"

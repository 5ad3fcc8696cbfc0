"""Access-log lines (the pinned format of ``secure_endpoint.constructs.access_log``) to columns of
numbers.

A line is well formed when it is a JSON object whose ``requestTimeEpoch`` (milliseconds),
``status`` (100-599), ``responseLength`` and ``responseLatency`` (``-`` for none) are non-negative
integers, written as strings (API Gateway's way) or as numbers, and whose ``sourceIp``,
``clientId`` (``-`` for none) and ``resourcePath`` (the route template the request matched, ``-``
for none) are strings, and whose ``requestId``, when present, is a string or ``null``. Any other
line, and a line without a source address, is counted as malformed and skipped: it never raises.
Malformed lines come in two kinds, counted apart: *unparseable* (not JSON, not UTF-8) and *wrong
shape* (JSON, but not an object with those fields and values). Blank lines are skipped without
being counted. The other fields of the format are not read (nothing the monitor uses is in them:
``integrationLatency`` adds nothing to ``responseLatency``, and gateway logs carry no request size
or input digest).

A reader made with ``deduplicate=True`` keeps the first record of each request id and counts the
others as duplicates (overlapping exports of one log group hold the same requests): a record
without an id (``-``, empty or absent) is never a duplicate.

A request's principal is its OAuth client id when it carried one, else its source address.

Throughput is the point of this module. A line is decoded by msgspec into a struct of the seven
fields and the request id alone (the other keys are skipped, not built into Python objects), the
values exactly as JSON gives them (what ``orjson.loads`` would: strings, numbers, ``null``...; a
repeated key keeps its last value; invalid UTF-8 or a lone surrogate is malformed), about twice as
fast as decoding the whole object. The conversions run a column at a time with ``map`` and
``numpy``, with a per-line fallback only in a chunk that holds a bad line. msgspec is imported by
the first reader, so the monitor's Lambda, which reads aggregates, never needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import islice, repeat
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

NONE = "-"
"""What API Gateway writes where a variable has no value."""

FIELDS = (
    "requestTimeEpoch",
    "status",
    "sourceIp",
    "clientId",
    "resourcePath",
    "responseLength",
    "responseLatency",
)
"""The fields of a record that the monitor reads; the others are not looked at."""

REQUEST_ID = "requestId"
"""The field that identifies a request, read only to drop duplicates; optional."""

_NO_ID: tuple[Any, ...] = (None, NONE, "")

MAX_EPOCH_MS = 10**15
"""Time stamps at or beyond this (year 33658) are malformed, which keeps them inside int64."""

MAX_NUMBER = 10**15
"""Lengths and latencies at or beyond this are malformed."""

CHUNK_LINES = 8192
"""Lines converted together; bounds the memory of the Python objects alive at once."""

_AS_TUPLE = attrgetter(*FIELDS)
_COLUMN_GETTERS = tuple(attrgetter(name) for name in (*FIELDS, REQUEST_ID))
_T, _STATUS, _IP, _CLIENT, _ROUTE, _LENGTH, _LATENCY, _ID = range(len(FIELDS) + 1)
_NUMBERS = (_LENGTH, _LATENCY)
_UNDASH: Callable[[Any, Any], Any] = {NONE: 0}.get  # "-" -> 0, anything else unchanged
_NO_CLIENT = -1
_INVALID = -2
_Row = tuple[Any, ...]
_COLUMNS = (
    "time_ms",
    "status",
    "client",
    "address",
    "route",
    "response_length",
    "response_latency",
)
_Columns = tuple[npt.NDArray[np.int64], ...]


@dataclass(frozen=True)
class Records:
    """Well-formed requests as columns, in the order read.

    ``client``, ``address`` and ``route`` index ``clients``, ``addresses`` and ``routes`` (the
    ``resourcePath`` of each request);
    ``client`` is -1 for a request that carried no client id (its principal is its address).
    A length or latency of ``-`` is 0.
    """

    time_ms: npt.NDArray[np.int64]
    status: npt.NDArray[np.int64]
    client: npt.NDArray[np.int64]
    address: npt.NDArray[np.int64]
    route: npt.NDArray[np.int64]
    response_length: npt.NDArray[np.int64]
    response_latency: npt.NDArray[np.int64]
    clients: tuple[str, ...]
    addresses: tuple[str, ...]
    routes: tuple[str, ...]
    malformed: int

    def __len__(self) -> int:
        return len(self.time_ms)


class _Index:
    """Strings to dense codes in order of first appearance, across chunks.

    ``reserved`` strings get the given (negative) codes; a value that is not a string gets -2.
    """

    def __init__(self, reserved: dict[str, int]) -> None:
        self._codes: dict[Any, int] = dict(reserved)
        self._names: list[str] = []

    def add(self, uniques: Iterable[Any]) -> None:
        codes, names = self._codes, self._names
        for value in uniques:
            if type(value) is str and value not in codes:
                codes[value] = len(names)
                names.append(value)

    def encode(self, values: Sequence[Any]) -> npt.NDArray[np.int64]:
        return np.fromiter(
            map(self._codes.get, values, repeat(_INVALID, len(values))), np.int64, len(values)
        )

    def names(self) -> tuple[str, ...]:
        return tuple(self._names)


class RecordReader:
    """Parses lines chunk by chunk; ``records()`` returns everything read so far.

    ``unparseable``, ``wrong_shape`` and ``duplicates`` count the lines skipped so far, by cause
    (``malformed`` is the first two together); with ``keep_ids``, ``request_ids()`` gives the id
    of each record kept (None for none), so that readers run apart can be de-duplicated together.
    """

    def __init__(
        self,
        chunk_lines: int = CHUNK_LINES,
        *,
        deduplicate: bool = False,
        keep_ids: bool = False,
    ) -> None:
        if chunk_lines < 1:
            raise ValueError(f"chunk_lines must be at least 1, got {chunk_lines}")
        self._chunk_lines = chunk_lines
        self._clients = _Index({NONE: _NO_CLIENT, "": _NO_CLIENT})
        self._addresses = _Index({NONE: _INVALID, "": _INVALID})
        self._routes = _Index({})
        self._parts: list[_Columns] = []
        self._seen: set[str | None] | None = set() if deduplicate else None
        self._ids: list[list[str | None]] | None = [] if keep_ids else None
        self.unparseable = 0
        self.wrong_shape = 0
        self.duplicates = 0

    @property
    def malformed(self) -> int:
        """Lines skipped as unparseable or of the wrong shape so far."""
        return self.unparseable + self.wrong_shape

    def feed(self, lines: Iterable[bytes | str]) -> None:
        """Parse ``lines``: one JSON object each, with or without its line break."""
        decode, errors, shape_error = _decoder()
        lines = iter(lines)
        while batch := list(islice(lines, self._chunk_lines)):
            try:
                rows = list(map(decode, batch))
            except errors:  # rare: one line at a time
                rows = []
                for line in batch:
                    try:
                        rows.append(decode(line))
                    except errors as error:
                        if _blank(line):
                            continue
                        if isinstance(error, shape_error):
                            self.wrong_shape += 1
                        else:
                            self.unparseable += 1
            self._convert(rows)

    def request_ids(self) -> list[str | None]:
        """The request id of each record kept so far, in order (needs ``keep_ids``)."""
        if self._ids is None:
            raise ValueError("request_ids needs a reader made with keep_ids=True")
        return [request for part in self._ids for request in part]

    @property
    def count(self) -> int:
        """Well-formed records read so far."""
        return sum(len(part[0]) for part in self._parts)

    def times_since(self, count: int) -> npt.NDArray[np.int64]:
        """The time stamps of the records read after the first ``count``."""
        times = [part[0] for part in self._parts]
        if not times:
            return np.zeros(0, np.int64)
        return np.concatenate(times)[count:]

    def records(self) -> Records:
        if self._parts:
            columns = [np.concatenate(column) for column in zip(*self._parts, strict=True)]
        else:
            columns = [np.zeros(0, np.int64) for _ in FIELDS]
        time_ms, status, client, address, route, length, latency = columns
        return Records(
            time_ms=time_ms,
            status=status,
            client=client,
            address=address,
            route=route,
            response_length=length,
            response_latency=latency,
            clients=self._clients.names(),
            addresses=self._addresses.names(),
            routes=self._routes.names(),
            malformed=self.malformed,
        )

    def _convert(self, rows: list[Any]) -> None:
        try:
            part = self._columns([list(map(get, rows)) for get in _COLUMN_GETTERS])
        except (ValueError, TypeError, OverflowError):  # a bad value: row by row
            kept = [row for row in rows if _well_formed(_AS_TUPLE(row))]
            self.wrong_shape += len(rows) - len(kept)
            part = self._columns([list(map(get, kept)) for get in _COLUMN_GETTERS])
        self._parts.append(part)

    def _columns(self, columns: list[list[Any]]) -> _Columns:
        """Converts whole columns; raises, having changed nothing, when a value will not convert."""
        n = len(columns[_T])
        time_ms = np.fromiter(map(int, columns[_T]), np.int64, n)
        status = _few_numbers(columns[_STATUS], n)
        numbers = [_few_numbers(columns[i], n) for i in _NUMBERS]
        uniques = [dict.fromkeys(columns[i]) for i in (_CLIENT, _IP, _ROUTE)]  # may raise
        indexes = (self._clients, self._addresses, self._routes)
        for index, distinct in zip(indexes, uniques, strict=True):
            index.add(distinct)
        client = self._clients.encode(columns[_CLIENT])
        address = self._addresses.encode(columns[_IP])
        route = self._routes.encode(columns[_ROUTE])
        ok = (time_ms >= 0) & (time_ms < MAX_EPOCH_MS) & (status >= 100) & (status <= 599)
        for number in numbers:
            ok &= (number >= 0) & (number < MAX_NUMBER)
        ok &= (client != _INVALID) & (address >= 0) & (route >= 0)
        part = (time_ms, status, client, address, route, *numbers)
        ids: list[Any] = columns[_ID]
        self.wrong_shape += n - int(np.count_nonzero(ok))
        if self._seen is not None:
            fresh = first_seen(ids, ok, self._seen)
            if fresh is not None:
                self.duplicates += int(np.count_nonzero(ok & ~fresh))
                ok = fresh
        if not ok.all():
            part = tuple(column[ok] for column in part)
            if self._ids is not None:
                ids = [ids[i] for i in np.flatnonzero(ok).tolist()]
        if self._ids is not None:
            self._ids.append(ids)
        return part


def first_seen(
    ids: Sequence[str | None], keep: npt.NDArray[np.bool_], seen: set[str | None]
) -> npt.NDArray[np.bool_] | None:
    """Which of the rows in ``keep`` hold a request id not in ``seen`` (nor earlier among
    them), adding their ids to ``seen``; a row without an id is always kept. None when that is
    all of ``keep`` (the usual case, decided without a loop in Python)."""
    if keep.all():
        distinct = set(ids)
        if len(distinct) == len(ids) and seen.isdisjoint(distinct):
            seen.update(distinct)
            for none in _NO_ID:
                seen.discard(none)
            return None
    fresh = np.zeros(len(ids), dtype=np.bool_)
    for i in np.flatnonzero(keep).tolist():
        request = ids[i]
        if request in _NO_ID:
            fresh[i] = True
        elif request not in seen:
            seen.add(request)
            fresh[i] = True
    return fresh


@cache
def _decoder() -> tuple[Callable[[Any], Any], tuple[type[Exception], ...], type[Exception]]:
    """Decode one line into a struct of ``FIELDS`` (any JSON value each, all required) and the
    optional ``REQUEST_ID``; the errors that make a line malformed: not JSON, not an object, a
    field missing, a string that is not UTF-8 (msgspec raises ``UnicodeDecodeError`` for it), not
    bytes or text; and the one of them that means JSON of the wrong shape."""
    import msgspec

    line = msgspec.defstruct(
        "AccessLogLine",
        [*((name, Any) for name in FIELDS), (REQUEST_ID, str | None, None)],
        gc=False,
    )
    errors = (msgspec.MsgspecError, UnicodeDecodeError, TypeError)
    return msgspec.json.Decoder(line).decode, errors, msgspec.ValidationError


def _blank(line: bytes | str) -> bool:
    """An empty or whitespace-only line is not a record, and not a malformed one either."""
    return isinstance(line, bytes | str) and not line.strip()


def _few_numbers(values: Sequence[Any], n: int) -> npt.NDArray[np.int64]:
    """Integers of a column with few distinct values (``-`` is 0), each converted once."""
    distinct = dict.fromkeys(values)
    numbers = dict(zip(distinct, map(int, map(_UNDASH, distinct, distinct)), strict=True))
    return np.fromiter(map(numbers.__getitem__, values), np.int64, n)


def _well_formed(row: _Row) -> bool:
    """Whether ``_columns`` accepts this row, one row at a time (the slow path)."""
    try:
        time_ms, status = int(row[_T]), int(row[_STATUS])
        numbers = [int(_UNDASH(row[i], row[i])) for i in _NUMBERS]
    except (ValueError, TypeError, OverflowError):
        return False
    return (
        0 <= time_ms < MAX_EPOCH_MS
        and 100 <= status <= 599
        and all(0 <= number < MAX_NUMBER for number in numbers)
        and all(type(row[i]) is str for i in (_IP, _CLIENT, _ROUTE))
    )


def parse_lines(lines: Iterable[bytes | str], *, chunk_lines: int = CHUNK_LINES) -> Records:
    """Well-formed records of ``lines``, with the count of malformed ones."""
    reader = RecordReader(chunk_lines)
    reader.feed(lines)
    return reader.records()


def merge_records(parts: Sequence[Records]) -> Records:
    """Records parsed apart (each with its own string tables) as one, in order."""
    tables: list[dict[str, int]] = [{}, {}, {}]
    columns: dict[str, list[npt.NDArray[np.int64]]] = {name: [] for name in _COLUMNS}
    for part in parts:
        remaps = [
            np.array([table.setdefault(name, len(table)) for name in names] or [0], np.int64)
            for table, names in zip(
                tables, (part.clients, part.addresses, part.routes), strict=True
            )
        ]
        client = np.where(part.client >= 0, remaps[0][np.maximum(part.client, 0)], _NO_CLIENT)
        columns["client"].append(client)
        columns["address"].append(remaps[1][part.address])
        columns["route"].append(remaps[2][part.route])
        for name in _COLUMNS:
            if name not in ("client", "address", "route"):
                columns[name].append(getattr(part, name))
    merged = {
        name: np.concatenate(values) if values else np.zeros(0, np.int64)
        for name, values in columns.items()
    }
    return Records(
        **merged,
        clients=tuple(tables[0]),
        addresses=tuple(tables[1]),
        routes=tuple(tables[2]),
        malformed=sum(part.malformed for part in parts),
    )


def parse_file(path: Path, *, chunk_lines: int = CHUNK_LINES) -> Records:
    """Well-formed records of a file of access-log lines, with the count of malformed ones."""
    reader = RecordReader(chunk_lines)
    with path.open("rb") as file:
        reader.feed(file)
    return reader.records()

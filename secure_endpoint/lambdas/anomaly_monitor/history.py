"""The monitor's trailing state: which windows to read, and the aggregates kept between runs.

- ``plan``: from the clock and the last processed window, the range to read from Logs Insights
  and the windows to decide (``None``: nothing new, the run is a no-op);
- ``History``: per principal and window aggregates of the last ``keep_seconds`` (what the
  history features and the cumulative rule look back on) and when each (client, address) pair
  was first seen, so that "new address" means new over the whole history, not the query range;
- ``dumps``/``loads``: bytes of our own format (a JSON header and raw little-endian arrays, no
  pickle), verified by SHA-256 against the digest recorded in the run pointer.

Pure: plain data in, plain data out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secure_endpoint.runtime.anomaly.features import AGGREGATES, WindowAggregates, build
from secure_endpoint.runtime.anomaly.insights import Row, aggregates_from_rows

FORMAT = "secure-endpoint-monitor-history"
VERSION = 1
_MAGIC = b"SEHISTORY\x00"
_LENGTH = struct.Struct("<Q")
_NEW_ADDRESSES = AGGREGATES.index("new_addresses")

MALFORMED_QUERY = (
    "filter not ispresent(requestTimeEpoch) or not ispresent(status)\n| stats count(*) as malformed"
)
"""Access-log lines the aggregate queries skip (not JSON, or without the fields they need)."""


class HistoryError(ValueError):
    """History bytes that do not match their digest or are not a history."""


@dataclass(frozen=True)
class Plan:
    """Read ``[read_from, end)``; decide the windows in ``[scored_from, end)``."""

    read_from: int
    scored_from: int
    end: int
    backfill: bool


def plan(
    now: float,
    last_end: int | None,
    *,
    window_seconds: int,
    settle_seconds: int,
    baseline_seconds: int,
    max_catchup_seconds: int,
) -> Plan | None:
    """The windows a run at ``now`` handles: whole windows that ended ``settle_seconds`` ago
    (log delivery), after ``last_end``. Without a previous run (or after a gap) the trailing
    ``baseline_seconds`` are read as history, and only the last window is decided; windows older
    than ``max_catchup_seconds`` are read but not acted on."""
    end = int((now - settle_seconds) // window_seconds) * window_seconds
    if last_end is not None and end <= last_end:
        return None
    earliest = end - baseline_seconds
    if last_end is None or last_end < earliest:
        return Plan(earliest, end - window_seconds, end, backfill=True)
    catchup = end - max(max_catchup_seconds, window_seconds)
    return Plan(last_end, max(last_end, catchup), end, backfill=False)


@dataclass(frozen=True, eq=False)
class History:
    """The aggregates kept between runs and the first-seen time of each (client, address)."""

    aggregates: WindowAggregates
    pairs: Mapping[tuple[str, str], float]

    @classmethod
    def empty(cls, window_seconds: int) -> History:
        return cls(build(window_seconds, [], [], np.zeros(0, np.int64), np.zeros((0, 19)), {}), {})

    def address_principals(self) -> frozenset[str]:
        names, kinds = self.aggregates.names, self.aggregates.is_client
        used = np.unique(self.aggregates.principal).tolist()
        return frozenset(names[i] for i in used if not kinds[i])


def extend(
    history: History,
    client_rows: Iterable[Row],
    address_rows: Iterable[Row],
    pair_rows: Iterable[Row],
    *,
    start: int,
    end: int,
    keep_seconds: int,
) -> History:
    """``history`` with the rows of the queries over ``[start, end)`` added, and what is older
    than ``end - keep_seconds`` dropped. Rows of the history from ``start`` on are replaced."""
    seconds = history.aggregates.window_seconds
    known = history.pairs
    first_seen: dict[tuple[str, str], float] = dict(known)
    fresh: list[Row] = []
    for row in pair_rows:
        key = (row["clientId"], row["sourceIp"])
        seen = float(row["firstSeen"])
        if key in known and known[key] <= seen:
            continue  # not new for the client
        fresh.append(row)
        first_seen[key] = min(seen, first_seen.get(key, np.inf))
    new = aggregates_from_rows(client_rows, address_rows, fresh, seconds)
    # an address principal's own address is new only in its first window ever
    seen_before = history.address_principals()
    if seen_before and len(new):
        row_names = np.array(new.row_names(), dtype=object)
        mask = ~new.is_client[new.principal] & np.isin(row_names, list(seen_before))
        new.values[mask, _NEW_ADDRESSES] = 0.0
    old = history.aggregates.select(history.aggregates.window_start < start)
    horizon = end - keep_seconds
    names: list[str] = []
    kinds: list[bool] = []
    starts: list[npt.NDArray[np.int64]] = []
    values: list[npt.NDArray[np.float64]] = []
    for part in (old, new):
        keep = part.window_start >= horizon
        names += [part.names[i] for i in part.principal[keep].tolist()]
        kinds += part.is_client[part.principal[keep]].tolist()
        starts.append(part.window_start[keep])
        values.append(part.values[keep])
    horizon_ms = horizon * 1000.0
    pairs = {key: seen for key, seen in first_seen.items() if seen >= horizon_ms}
    first_authenticated: dict[str, float] = {}
    for (_, address), seen in pairs.items():
        first_authenticated[address] = min(seen, first_authenticated.get(address, np.inf))
    aggregates = build(
        seconds,
        names,
        kinds,
        np.concatenate(starts),
        np.concatenate(values),
        first_authenticated,
        malformed=new.malformed,
    )
    return History(aggregates, pairs)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dumps(history: History) -> bytes:
    """Deterministic bytes (compressed) of ``history``."""
    a = history.aggregates
    header = {
        "format": FORMAT,
        "version": VERSION,
        "windowSeconds": a.window_seconds,
        "aggregates": list(AGGREGATES),
        "names": list(a.names),
        "isClient": a.is_client.tolist(),
        "rows": len(a),
        "pairs": sorted([c, s, t] for (c, s), t in history.pairs.items()),
    }
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    body = b"".join(
        [
            _LENGTH.pack(len(text)),
            text,
            np.ascontiguousarray(a.principal, "<i8").tobytes(),
            np.ascontiguousarray(a.window_start, "<i8").tobytes(),
            np.ascontiguousarray(a.values, "<f8").tobytes(),
        ]
    )
    return _MAGIC + zlib.compress(body, 6)


def loads(data: bytes, expected_sha256: str) -> History:
    """The history in ``data``, after checking its digest and shape.

    :raises HistoryError: the digest differs or the bytes are not a history of these aggregates.
    """
    if not hmac.compare_digest(sha256(data), expected_sha256.strip().lower()):
        raise HistoryError("history digest mismatch: refusing the stored history")
    try:
        return _parse(data)
    except HistoryError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, struct.error, zlib.error) as error:
        raise HistoryError(f"not a valid history: {error!r}") from None


def _parse(data: bytes) -> History:
    if not data.startswith(_MAGIC):
        raise HistoryError("not a history (bad magic)")
    body = zlib.decompress(data[len(_MAGIC) :])
    (length,) = _LENGTH.unpack_from(body, 0)
    header = json.loads(body[_LENGTH.size : _LENGTH.size + length])
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise HistoryError("unsupported history format")
    if tuple(header["aggregates"]) != AGGREGATES:
        raise HistoryError("the history holds other aggregates: starting over")
    rows, width = int(header["rows"]), len(AGGREGATES)
    offset = _LENGTH.size + length
    sizes = (rows * 8, rows * 8, rows * width * 8)
    if offset + sum(sizes) != len(body):
        raise HistoryError("history arrays are out of bounds")
    principal = np.frombuffer(body, "<i8", rows, offset).astype(np.int64)
    window_start = np.frombuffer(body, "<i8", rows, offset + sizes[0]).astype(np.int64)
    values = np.frombuffer(body, "<f8", rows * width, offset + sizes[0] + sizes[1])
    names = [str(n) for n in header["names"]]
    is_client = [bool(k) for k in header["isClient"]]
    if len(names) != len(is_client) or (rows and not 0 <= principal.min() <= principal.max()):
        raise HistoryError("history principals are inconsistent")
    if rows and principal.max() >= len(names):
        raise HistoryError("history principals are out of range")
    pairs = {(str(c), str(s)): float(t) for c, s, t in header["pairs"]}
    first_authenticated: dict[str, float] = {}
    for (_, address), seen in pairs.items():
        first_authenticated[address] = min(seen, first_authenticated.get(address, np.inf))
    aggregates = build(
        int(header["windowSeconds"]),
        [names[i] for i in principal.tolist()],
        [is_client[i] for i in principal.tolist()],
        window_start,
        values.reshape(rows, width).astype(np.float64),
        first_authenticated,
    )
    return History(aggregates, pairs)

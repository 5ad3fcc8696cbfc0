"""SageMaker data capture, read: one JSON line per request, as the endpoint writes them.

The documented layout (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html)
is ``<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl``, each line::

    {"captureData": {"endpointInput": {"observedContentType", "mode": "INPUT", "data",
                                       "encoding": "JSON" | "CSV" | "BASE64"},
                     "endpointOutput": {... "mode": "OUTPUT" ...}},
     "eventMetadata": {"eventId", "inferenceId", "inferenceTime"}, "eventVersion": "0"}

This project's request template sets ``inferenceId`` to ``client_id:requestId``, so every line is
attributed to the OAuth client that sent it. A BASE64 payload is decoded and then read as its
observed content type (JSON or CSV). A line that is not JSON, lacks the fields, or whose input
cannot be read is counted by reason (``Counts``) and skipped: it never stops the reading.
"""

from __future__ import annotations

import base64
import binascii
import csv
import functools
import io
import itertools
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

_orjson_loads: Callable[[str | bytes], Any] | None
try:  # an optional accelerator (the baseline extra has it): three times json's speed here
    from orjson import JSONDecodeError as _OrjsonError
    from orjson import loads as _orjson_loads
except ModuleNotFoundError:  # pragma: no cover - exercised where orjson is absent
    _orjson_loads = None


def _loads(text: str | bytes) -> Any:
    """``json.loads``, through orjson when it is installed (json again for what orjson refuses
    but json reads, such as ``NaN``: the result never depends on orjson)."""
    if _orjson_loads is not None:
        try:
            return _orjson_loads(text)
        except _OrjsonError:
            pass
    return json.loads(text)


UNKNOWN_CLIENT = "-"
"""The client of a line whose inference id holds no ``client_id:`` part."""


@dataclass(frozen=True)
class Capture:
    """One captured request: who, when, the rows sent and the model's answer."""

    client_id: str
    request_id: str
    time: float  # epoch seconds
    rows: list[list[Any]]
    outputs: list[float]
    matrix: npt.NDArray[np.float64] | None = field(default=None, compare=False, repr=False)
    """The rows as floats, when they are all numbers and of one width (``number_matrix``):
    turned into an array while the parsed values are fresh, once for every reader of the
    capture."""


@dataclass
class Counts:
    """What reading saw: lines read and, by reason, lines skipped."""

    lines: int = 0
    records: int = 0
    rows: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def unreadable(self) -> int:
        return sum(self.skipped.values())

    def merge(self, other: Counts) -> None:
        self.lines += other.lines
        self.records += other.records
        self.rows += other.rows
        self.skipped.update(other.skipped)


class _Skip(Exception):
    """A line that cannot be read, with the reason it is counted under."""


def read_lines(
    lines: Iterable[str | bytes], counts: Counts, *, output_path: str | None = None
) -> Iterator[Capture]:
    """The captures of ``lines`` (capture files' lines, in any order), counting into ``counts``;
    ``output_path`` (dotted keys, such as ``result.scores``) says where in a JSON answer the
    per-row outputs are when they are not in one of the shapes ``_outputs`` knows."""
    for line in lines:
        if not line or line.isspace():  # (isspace stops at the first other character)
            continue
        counts.lines += 1
        try:
            capture = parse_line(line, output_path)
        except _Skip as skip:
            counts.skipped[str(skip)] += 1
            continue
        counts.records += 1
        counts.rows += len(capture.rows)
        yield capture


def parse_line(line: str | bytes, output_path: str | None = None) -> Capture:
    """One capture line; raises ``_Skip`` with the reason when it cannot be read."""
    try:
        event = _loads(line)
    except (ValueError, UnicodeDecodeError):
        raise _Skip("not-json") from None
    if not isinstance(event, dict):
        raise _Skip("not-a-capture")
    data = event.get("captureData")
    metadata = event.get("eventMetadata")
    if not isinstance(data, dict) or not isinstance(metadata, dict):
        raise _Skip("not-a-capture")
    client_id, request_id = _identity(metadata.get("inferenceId"), metadata.get("eventId"))
    time = _time(metadata.get("inferenceTime"))
    rows, matrix = _rows(_payload(data.get("endpointInput")))
    try:
        outputs = _outputs(_payload(data.get("endpointOutput")), output_path)
    except _Skip:
        outputs = []  # the answer is evidence, not what drift is measured on
    return Capture(client_id, request_id, time, rows, outputs, matrix)


def _identity(inference_id: object, event_id: object) -> tuple[str, str]:
    if isinstance(inference_id, str) and ":" in inference_id:
        client, _, request = inference_id.partition(":")
        return client or UNKNOWN_CLIENT, request
    fallback = event_id if isinstance(event_id, str) else ""
    return UNKNOWN_CLIENT, inference_id if isinstance(inference_id, str) else fallback


def _time(value: object) -> float:
    if not isinstance(value, str):
        raise _Skip("no-time")
    try:
        return _epoch(value)
    except ValueError:
        raise _Skip("no-time") from None


@functools.lru_cache(maxsize=4096)
def _epoch(value: str) -> float:
    """An ISO 8601 time as epoch seconds (UTC without a zone); the captures of one second
    share their time string, so most are a cache hit."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _payload(part: object) -> tuple[str, str]:
    """(content type, text) of an ``endpointInput``/``endpointOutput``."""
    if not isinstance(part, dict) or not isinstance(data := part.get("data"), str):
        raise _Skip("no-data")
    encoding = part.get("encoding")
    if encoding == "JSON" or encoding == "CSV":
        return encoding, data  # as SageMaker writes them
    encoding = str(encoding if encoding is not None else "").upper()
    content_type = str(part.get("observedContentType", "")).lower()
    if encoding == "BASE64":
        try:
            data = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _Skip("bad-base64") from None
        kind = "CSV" if "csv" in content_type else "JSON"
    elif encoding in ("JSON", "CSV"):
        kind = encoding
    else:
        raise _Skip("unknown-encoding")
    return kind, data


def _rows(payload: tuple[str, str]) -> tuple[list[list[Any]], npt.NDArray[np.float64] | None]:
    """The rows sent, and their ``number_matrix``."""
    kind, text = payload
    if kind == "CSV":
        rows = [row for row in csv.reader(io.StringIO(text)) if row]
        if not rows:
            raise _Skip("no-rows")
        cells = [[_csv_cell(cell) for cell in row] for row in rows]
        return cells, number_matrix(cells)
    try:
        body = _loads(text)
    except ValueError:
        raise _Skip("bad-json-input") from None
    if isinstance(body, dict):
        body = body.get("instances", body.get("inputs"))
    if not isinstance(body, list) or not body:
        raise _Skip("no-rows")
    if not isinstance(body[0], list):
        body = [body]  # one row
    matrix = number_matrix(body)
    if matrix is None and not all(isinstance(row, list) for row in body):
        raise _Skip("no-rows")
    return body, matrix


def _csv_cell(cell: str) -> Any:
    text = cell.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


def _outputs(payload: tuple[str, str], path: str | None = None) -> list[float]:
    """The model's scores, one number per row, from the answer shapes model servers use:
    ``{"predictions": [...]}`` (or ``outputs``), a bare list, CSV, one object or a list of
    per-row objects with ``probabilities`` or ``scores`` and/or ``label``; ``path`` (dotted keys)
    for another shape. Each row's number: its score; of a list of two class probabilities the
    second (the positive class); of more, ``0.5 + (top - runner-up) / 2`` (0.5 at the boundary
    between the two likeliest classes); of a label alone, 1.0 for a true or positive label."""
    kind, text = payload
    if kind == "CSV":
        values: list[Any] = [_csv_cell(c) for row in csv.reader(io.StringIO(text)) for c in row]
    else:
        try:
            body = _loads(text)
        except ValueError:
            raise _Skip("bad-json-output") from None
        if path:
            for key in path.split("."):
                body = body.get(key) if isinstance(body, dict) else None
        elif isinstance(body, dict):
            if any(key in body for key in _PER_ROW_KEYS):
                body = [body]  # one row's answer
            else:
                body = body.get("predictions", body.get("outputs"))
        if body is None:
            raise _Skip("no-outputs")
        values = body if isinstance(body, list) else [body]
        if all(type(value) is float for value in values):
            return values  # the usual answer: one probability per row
    scores = []
    for value in values:
        score = _score(value)
        if score is not None:
            scores.append(score)
    return scores


_PER_ROW_KEYS = ("probabilities", "scores", "probability", "score", "label", "predicted_label")


def _score(value: Any) -> float | None:
    if isinstance(value, dict):
        for key in _PER_ROW_KEYS[:4]:
            if key in value:
                return _score(value[key])
        for key in _PER_ROW_KEYS[4:]:
            if key in value:
                label = value[key]
                if isinstance(label, bool | int | float):
                    return 1.0 if label and label > 0 else 0.0
                return 1.0 if str(label).lower() in ("1", "true", "yes", "positive") else 0.0
        value = next((v for v in value.values() if isinstance(v, int | float)), None)
    if isinstance(value, list):
        numbers = [
            float(v) for v in value if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        if len(numbers) != len(value) or not numbers:
            return None
        if len(numbers) <= 2:
            return numbers[-1]
        top, second = sorted(numbers, reverse=True)[:2]
        return 0.5 + (top - second) / 2
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def number_matrix(rows: list[list[Any]]) -> npt.NDArray[np.float64] | None:
    """``rows`` as a (row, column) float array when every value is a number (not a boolean)
    and the rows are of one width; else None."""
    try:
        array = np.array(rows)
    except (TypeError, ValueError, OverflowError):
        return None  # rows of different widths, or numbers too large
    if array.ndim != 2 or array.dtype.kind not in "fiu":
        return None  # text, booleans, nulls or nested lists: a value at a time
    return array.astype(np.float64, copy=False)


def numeric_matrix(
    rows: list[list[Any]], positions: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """The numeric features of ``rows`` as floats (NaN where missing or not a number) and where
    a value was of the wrong type (a string, a list, a boolean...)."""
    values = number_matrix(rows)
    if values is not None:
        return _columns(values, positions), np.zeros((len(rows), len(positions)), dtype=bool)
    values = np.full((len(rows), len(positions)), np.nan)
    wrong = np.zeros(values.shape, dtype=bool)
    for i, row in enumerate(rows):
        for j, position in enumerate(positions.tolist()):
            cell = row[position]
            if cell is None:
                continue
            if type(cell) in (int, float):
                values[i, j] = cell
            else:
                wrong[i, j] = True
    return values, wrong


class RowBuffer:
    """Rows of many captures, kept to be turned into arrays at once (``arrays``): a capture's
    own matrix where it has one, else its rows as lists."""

    def __init__(self) -> None:
        self._parts: list[npt.NDArray[np.float64] | list[list[Any]]] = []
        self.rows = 0

    def add_matrix(self, matrix: npt.NDArray[np.float64]) -> None:
        self._parts.append(matrix)
        self.rows += len(matrix)

    def add_rows(self, rows: list[list[Any]]) -> None:
        last = self._parts[-1] if self._parts else None
        if isinstance(last, list):
            last.extend(rows)
        else:
            self._parts.append(list(rows))
        self.rows += len(rows)

    def arrays(
        self, positions: npt.NDArray[np.intp]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """The ``positions`` columns of every row, in order, as ``numeric_matrix`` gives them."""
        values: list[npt.NDArray[np.float64]] = []
        wrong: list[npt.NDArray[np.bool_]] = []
        for listed, run in itertools.groupby(self._parts, key=lambda part: isinstance(part, list)):
            if listed:  # (consecutive lists are one part: ``add_rows`` extends the last)
                for rows in run:
                    found, bad = numeric_matrix(rows, positions)  # type: ignore[arg-type]
                    values.append(found)
                    wrong.append(bad)
            else:  # a run of matrices: stacked once
                stacked = _columns(np.concatenate(list(run)), positions)
                values.append(stacked)
                wrong.append(np.zeros(stacked.shape, dtype=bool))
        if not values:
            return np.zeros((0, len(positions))), np.zeros((0, len(positions)), dtype=bool)
        if len(values) == 1:
            return values[0], wrong[0]
        return np.concatenate(values), np.concatenate(wrong)


def _columns(
    matrix: npt.NDArray[np.float64], positions: npt.NDArray[np.intp]
) -> npt.NDArray[np.float64]:
    """The ``positions`` columns of ``matrix``: itself when they are all of them, in order (no
    copy of every value)."""
    width = matrix.shape[1]
    if len(positions) == width and bool((positions == np.arange(width)).all()):
        return matrix
    return matrix[:, positions]

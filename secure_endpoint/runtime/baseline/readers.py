"""Training data and request bodies as blocks of rows: a float matrix per block, memory bounded.

``open_training`` reads a CSV file with a header (or headerless with ``feature_names``), a Parquet
file (when pyarrow is installed) or JSON Lines of request bodies (``{"instances": [[...], ...]}``
or ``{"inputs": [[...], ...]}``), plain or gzip (recognized by its first bytes). The label column,
when named, is read and dropped. Each ``Block`` holds at most ``block_rows`` rows.

In a block, a cell that is empty, null or ``nan`` is missing (NaN). A cell that is text and not a
number is NaN in ``values`` and kept in ``text`` (the whole column of that block), so that a
String feature can be profiled; an infinite value is an error. ``integer_spelled`` says, per
column, whether every present value of the block was written as an integer (``3``, not ``3.0``
or ``3e0``): Model Monitor's Integral.

CSV goes through numpy's C parser (``np.loadtxt``) a block at a time, empty cells filled in as
``nan`` when the block has no quotes; a block it still refuses (text, a ragged row, quotes numpy
does not take) is read again with the ``csv`` module, a column at a time, which also finds the
line at fault. Blank lines are skipped (so a one-column file cannot hold an empty cell). Fields
may be quoted but must not hold line breaks.

``block_from_payload`` and ``block_from_csv_text`` read one request body (as captured, or sent to
the gateway) with the same rules, for the drift and abuse detectors.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

BLOCK_ROWS = 65536
"""Rows per block: 65,536 rows of 40 features are 21 MB of floats."""
FORMATS = ("csv", "parquet", "jsonl")
_SUFFIXES = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_GZIP_MAGIC = b"\x1f\x8b"
_PANDAS_INDEX = re.compile(r"__index_level_\d+__")
"""The index pandas stores as a column in Parquet: not a feature."""

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class BaselineInputError(ValueError):
    """Input that cannot make (or be read against) a baseline; the message says what and where."""


@dataclass(frozen=True)
class Block:
    """Rows of numbers: ``values[row, column]``, NaN where missing or not a number."""

    values: FloatArray
    integer_spelled: BoolArray
    """Per column: every present number of this block was written as an integer."""
    text: Mapping[int, Sequence[str | None]] = field(default_factory=dict)
    """Per column holding text that is not a number: every cell of the block (None if missing)."""
    row_counts: npt.NDArray[np.int64] | None = None
    """JSON Lines and request bodies: how many rows each record (request) held."""

    @property
    def rows(self) -> int:
        return int(self.values.shape[0])

    @property
    def width(self) -> int:
        return int(self.values.shape[1])


@dataclass(frozen=True)
class TrainingData:
    """A training file's feature names (label dropped) and its blocks, read when iterated."""

    path: Path
    format: str
    names: tuple[str, ...]
    label_column: str | None
    _blocks: Callable[[], Iterator[Block]]

    def __iter__(self) -> Iterator[Block]:
        try:
            yield from self._blocks()
        except (OSError, UnicodeDecodeError, EOFError) as error:  # gzip.BadGzipFile is an OSError
            raise BaselineInputError(
                f"training data {self.path}: cannot read it: {error}"
            ) from None


def open_training(
    path: Path,
    *,
    format: str | None = None,
    feature_names: Sequence[str] | None = None,
    label_column: str | None = None,
    block_rows: int = BLOCK_ROWS,
) -> TrainingData:
    """Check ``path``'s names and shape up front (header, label) and return its blocks to read.

    Raises ``BaselineInputError`` for a missing or unreadable file, an unknown format, a header
    that does not match ``feature_names``, a duplicate or empty name, or an unknown label column.
    """
    path = Path(path)
    if not path.is_file():
        raise BaselineInputError(f"training data {path}: no such file")
    fmt = format or _SUFFIXES.get(_suffix(path))
    if fmt not in FORMATS:
        raise BaselineInputError(
            f"training data {path}: cannot tell its format from the name; "
            f"give --format ({' | '.join(FORMATS)})"
        )
    if feature_names is not None:
        feature_names = _check_names(list(feature_names), "--feature-names")
    if fmt == "csv":
        return _open_csv(path, feature_names, label_column, block_rows)
    if fmt == "parquet":
        return _open_parquet(path, feature_names, label_column, block_rows)
    return _open_jsonl(path, feature_names, label_column, block_rows)


def block_from_payload(payload: Any, width: int | None = None, *, where: str = "body") -> Block:
    """One JSON request body (parsed): ``{"instances": rows}`` or ``{"inputs": rows}``, rows a
    list of lists of numbers (or one list: one row). Checks the width when given."""
    rows = _payload_rows(payload, where)
    block = _rows_block(rows, width if width is not None else len(rows[0]), where, 1)
    return Block(block.values, block.integer_spelled, block.text, np.array([block.rows]))


def block_from_csv_text(text: str, width: int | None = None, *, where: str = "body") -> Block:
    """One ``text/csv`` body: a row per line, no header."""
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        raise BaselineInputError(f"{where}: no rows")
    width = width if width is not None else len(rows[0])
    values, spelled, texts = _csv_columns(rows, width, where, 1)
    return Block(values, spelled, texts, np.array([len(rows)]))


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def _check_names(names: list[str], what: str) -> list[str]:
    names = [name.strip() for name in names]
    if not names or any(not name for name in names):
        raise BaselineInputError(f"{what}: every feature needs a name, got {names}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise BaselineInputError(f"{what}: duplicate names {duplicates}")
    return names


def _label_index(names: list[str], label_column: str | None, path: Path) -> int | None:
    if label_column is None:
        return None
    if label_column not in names:
        raise BaselineInputError(
            f"training data {path}: no column {label_column!r} for --label-column "
            f"(columns: {', '.join(names)})"
        )
    return names.index(label_column)


def _open_text(path: Path) -> IO[str]:
    with path.open("rb") as probe:
        compressed = probe.read(2) == _GZIP_MAGIC
    if compressed:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _open_csv(
    path: Path, feature_names: list[str] | None, label_column: str | None, block_rows: int
) -> TrainingData:
    try:
        with _open_text(path) as stream:
            first = next(csv.reader([stream.readline()]), [])
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile) as error:
        raise BaselineInputError(f"training data {path}: cannot read it: {error}") from None
    if not first:
        raise BaselineInputError(f"training data {path}: empty (no header, no rows)")
    has_header = not all(_is_number(cell) or not cell.strip() for cell in first)
    if has_header:
        header = _check_names(first, f"the header of {path}")
        if feature_names is not None and feature_names != header:
            raise BaselineInputError(
                f"--feature-names ({','.join(feature_names)}) does not match the header of "
                f"{path} ({','.join(header)})"
            )
        names = header
    elif feature_names is None:
        raise BaselineInputError(
            f"training data {path}: its first line is all numbers (no header); "
            "name the columns with --feature-names"
        )
    elif len(feature_names) != len(first):
        raise BaselineInputError(
            f"--feature-names names {len(feature_names)} columns, {path} has {len(first)}"
        )
    else:
        names = feature_names
    label = _label_index(names, label_column, path)
    keep = [i for i in range(len(names)) if i != label]

    def blocks() -> Iterator[Block]:
        with _open_text(path) as stream:
            line = 1
            if has_header:
                stream.readline()
                line = 2
            hint = _CsvHint()
            while lines := list(itertools.islice(stream, block_rows)):
                block = _csv_block(lines, len(names), path, line, hint)
                line += len(lines)
                if label is not None:
                    block = _drop_column(block, label)
                if block.rows:
                    yield block

    return TrainingData(path, "csv", tuple(names[i] for i in keep), label_column, blocks)


@dataclass
class _CsvHint:
    """What the blocks read so far say about the next: fill empty cells first; text columns."""

    fill_first: bool = False
    text_columns: tuple[int, ...] = ()


def _csv_block(lines: list[str], width: int, path: Path, first_line: int, hint: _CsvHint) -> Block:
    where = f"training data {path}"
    block = _numeric_block(lines, width, where, first_line, hint)
    if block is not None:
        return block
    rows = list(csv.reader(lines))
    numbered = [(first_line + i, row) for i, row in enumerate(rows) if row]
    for number, row in numbered:
        if len(row) != width:
            raise BaselineInputError(
                f"{where}: line {number} has {len(row)} fields, not {width} (ragged rows)"
            )
    values, spelled, texts = _csv_columns([row for _, row in numbered], width, where, first_line)
    hint.text_columns = tuple(sorted(texts))
    return Block(values, spelled, texts)


def _numeric_block(
    lines: list[str], width: int, where: str, first_line: int, hint: _CsvHint
) -> Block | None:
    """The block through numpy's parser (empty cells filled as nan if need be; the text columns
    of earlier blocks split out), or None for the ``csv`` module to read it."""
    if hint.text_columns:
        return _mixed_block(lines, width, where, first_line, hint.text_columns)
    parsed = None if hint.fill_first else _numpy_block(lines, width)
    filled_in = False
    if parsed is None and (filled := _fill_empty(lines, "nan")) is not None:
        parsed = _numpy_block(filled, width)
        filled_in = parsed is not None
    if parsed is None and hint.fill_first:
        parsed = _numpy_block(lines, width)
    if parsed is None:
        return None
    hint.fill_first = filled_in
    _check_finite(parsed, where, first_line)
    return Block(parsed, _spelled(lines, width, parsed, range(width), filled_in))


def _spelled(
    lines: list[str], width: int, parsed: FloatArray, columns: Sequence[int], filled_in: bool
) -> BoolArray:
    """Which of ``columns`` (``parsed[:, i]`` is column ``columns[i]``) hold only integers as
    written. Whole columns with missing cells that numpy will not parse as integers are tried
    again with empty cells as 0, then (``nan`` written out) cell by cell."""
    whole_mask = np.all((parsed == np.floor(parsed)) | np.isnan(parsed), axis=0)
    whole = np.asarray(columns, dtype=np.intp)[whole_mask]
    spelled = _int_parsable(lines, width, whole)
    gaps = np.isnan(parsed[:, whole_mask]).any(axis=0)
    retry = whole[~spelled[whole] & gaps]
    if len(retry) and filled_in:
        spelled[retry] = _int_parsable(_fill_empty(lines, "0") or lines, width, retry)[retry]
        retry = retry[~spelled[retry]]
    if len(retry):
        rows = [row for row in csv.reader(lines) if row]
        for j in retry.tolist():
            cells = np.asarray([cell.strip() for row in rows if _present(cell := row[j])])
            spelled[j] = _all_int(cells)
    return spelled


def _present(cell: str) -> bool:
    """A cell that is not empty and not a written-out nan."""
    text = cell.strip()
    if not text:
        return False
    try:
        return not math.isnan(float(text))
    except ValueError:
        return True


def _mixed_block(
    lines: list[str], width: int, where: str, first_line: int, text_columns: tuple[int, ...]
) -> Block | None:
    """Numbers through numpy (``usecols``), the text columns split out; only without quotes,
    and with every row's width checked first (``usecols`` would not)."""
    filled = _fill_empty(lines, "nan")
    if filled is None:
        return None
    present = [line for line in lines if line.strip()]
    if any(line.count(",") != width - 1 for line in present):
        return None  # the csv module names the line
    numeric = [j for j in range(width) if j not in text_columns]
    try:
        parsed = np.loadtxt(
            filled, delimiter=",", dtype=np.float64, ndmin=2, comments=None, usecols=numeric
        )
    except ValueError:
        return None  # text in another column
    if parsed.shape[0] != len(present):
        return None
    _check_finite(parsed, where, first_line)
    values = np.empty((len(present), width))
    values[:, numeric] = parsed
    spelled = _spelled(lines, width, parsed, numeric, True)
    rows = [line.rstrip("\r\n").split(",") for line in present]
    texts: dict[int, list[str | None]] = {}
    for j in text_columns:
        column, _, text = _cells([row[j] for row in rows])
        values[:, j] = column
        if text is not None:
            texts[j] = text
        elif np.all((column == np.floor(column)) | np.isnan(column)):
            spelled[j] = _all_int(np.asarray([row[j].strip() for row in rows if row[j].strip()]))
    return Block(values, spelled, texts)


def _numpy_block(lines: list[str], width: int) -> FloatArray | None:
    """The block through numpy's C parser, or None where it refuses it (or its width is off)."""
    try:
        values = np.loadtxt(
            lines, delimiter=",", dtype=np.float64, ndmin=2, comments=None, quotechar='"'
        )
    except ValueError:
        return None
    return values if values.shape[1] == width else None


def _fill_empty(lines: list[str], filler: str) -> list[str] | None:
    """The lines with ``filler`` in every empty cell, or None when a quote makes that unsafe.
    (A second pass of ",," covers runs of empty cells: each pass fills every other one.)"""
    text = "".join(lines)
    if '"' in text:
        return None
    text = text.replace(",,", f",{filler},")
    if ",," in text:
        text = text.replace(",,", f",{filler},")
    text = text.replace("\n,", f"\n{filler},").replace(",\n", f",{filler}\n")
    if "\r" in text:
        text = text.replace(",\r", f",{filler}\r")
    if text.startswith(","):
        text = filler + text
    if text.endswith(","):
        text += filler
    return text.splitlines(keepends=True)


def _int_parsable(lines: list[str], width: int, columns: npt.NDArray[np.intp]) -> BoolArray:
    """Per column of ``width``, whether numpy parses every cell as an int64 (only ``columns``
    are tried: the whole-valued ones)."""
    result = np.zeros(width, dtype=bool)
    if not len(columns):
        return result
    try:
        np.loadtxt(lines, delimiter=",", dtype=np.int64, usecols=columns.tolist(), comments=None)
        result[columns] = True
    except ValueError:
        for column in columns.tolist():
            try:
                np.loadtxt(lines, delimiter=",", dtype=np.int64, usecols=[column], comments=None)
                result[column] = True
            except ValueError:
                continue
    return result


def _csv_columns(
    rows: list[list[str]], width: int, where: str, first_line: int
) -> tuple[FloatArray, BoolArray, dict[int, list[str | None]]]:
    """Rows of text cells (already width-checked) to floats, a column at a time."""
    for i, row in enumerate(rows):
        if len(row) != width:
            raise BaselineInputError(
                f"{where}: row {first_line + i} has {len(row)} fields, expected {width}"
            )
    values = np.empty((len(rows), width))
    spelled = np.zeros(width, dtype=bool)
    texts: dict[int, list[str | None]] = {}
    for j, cells in enumerate(zip(*rows, strict=True)) if rows else []:
        strings = np.asarray(cells)
        try:
            column = strings.astype(np.float64)
        except ValueError:
            column = None
        if column is None:  # empty cells (as nan, vectorized), else text
            strings = np.strings.strip(strings)
            try:
                column = np.where(strings == "", "nan", strings).astype(np.float64)
            except ValueError:
                column, _, text = _cells(cells)
                if text is not None:
                    texts[j] = text
        present = ~np.isnan(column)
        values[:, j] = column
        if j in texts:
            continue  # text: not integers
        if present.all() and np.all(column == np.floor(column)):
            spelled[j] = _all_int(strings)
        elif np.all((column == np.floor(column)) | ~present):
            spelled[j] = _all_int(np.strings.strip(strings[present]))
    _check_finite(values, where, first_line)
    return values, spelled, texts


def _all_int(strings: npt.NDArray[np.str_]) -> bool:
    try:
        strings.astype(np.int64)
    except (ValueError, OverflowError):
        return False
    return True


def _cells(cells: Sequence[str]) -> tuple[FloatArray, BoolArray, list[str | None] | None]:
    """A column numpy refused: empty cells missing, numbers parsed, the rest text."""
    column = np.empty(len(cells))
    text: list[str | None] = []
    any_text = False
    for i, cell in enumerate(cells):
        stripped = cell.strip()
        if not stripped:
            column[i] = math.nan
            text.append(None)
            continue
        try:
            column[i] = float(stripped)
            text.append(stripped if not math.isnan(column[i]) else None)
        except ValueError:
            column[i] = math.nan
            text.append(stripped)
            any_text = True
    present = ~np.isnan(column)
    return column, present, text if any_text else None


def _check_finite(values: FloatArray, where: str, first_line: int) -> None:
    infinite = np.isinf(values)
    if infinite.any():
        row, column = (int(i) for i in np.argwhere(infinite)[0])
        raise BaselineInputError(
            f"{where}: an infinite value near line {first_line + row}, column {column + 1}: "
            "only finite numbers (or empty cells) make a baseline"
        )


def _drop_column(block: Block, index: int) -> Block:
    texts = {(j if j < index else j - 1): cells for j, cells in block.text.items() if j != index}
    return Block(
        np.delete(block.values, index, axis=1),
        np.delete(block.integer_spelled, index),
        texts,
        block.row_counts,
    )


def _open_parquet(
    path: Path, feature_names: list[str] | None, label_column: str | None, block_rows: int
) -> TrainingData:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        raise BaselineInputError(
            f"training data {path}: Parquet input needs pyarrow, which is not installed: "
            "pip install 'secure-endpoint[parquet]' (or convert it to CSV)"
        ) from None
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as error:
        raise BaselineInputError(f"training data {path}: not a Parquet file: {error}") from None
    columns = [name for name in parquet.schema_arrow.names if not _PANDAS_INDEX.fullmatch(name)]
    names = _check_names(columns, f"the columns of {path}")
    if feature_names is not None and feature_names != names:
        raise BaselineInputError(
            f"--feature-names ({','.join(feature_names)}) does not match the columns of "
            f"{path} ({','.join(names)})"
        )
    label = _label_index(names, label_column, path)
    keep = [name for i, name in enumerate(names) if i != label]

    def blocks() -> Iterator[Block]:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=block_rows, columns=keep):
            values = np.empty((batch.num_rows, len(keep)))
            spelled = np.zeros(len(keep), dtype=bool)
            texts: dict[int, list[str | None]] = {}
            for j in range(len(keep)):
                array = batch.column(j)
                kind = array.type
                if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
                    spelled[j] = True
                    array = array.cast(pa.float64())
                elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
                    cells = array.to_pylist()
                    column, _, text = _cells([cell or "" for cell in cells])
                    values[:, j] = column
                    if text is not None:
                        texts[j] = text
                    continue
                elif not (pa.types.is_floating(kind) or pa.types.is_decimal(kind)):
                    raise BaselineInputError(
                        f"training data {path}: column {keep[j]!r} is {kind}, not numbers or text"
                    )
                values[:, j] = array.cast(pa.float64()).to_numpy(zero_copy_only=False)
            _check_finite(values, f"training data {path}", 1)
            yield Block(values, spelled, texts)

    return TrainingData(path, "parquet", tuple(keep), label_column, blocks)


def _payload_rows(payload: Any, where: str) -> list[list[Any]]:
    if not isinstance(payload, dict):
        raise BaselineInputError(f'{where}: expected an object with "instances" or "inputs"')
    key = "instances" if "instances" in payload else "inputs" if "inputs" in payload else None
    if key is None:
        raise BaselineInputError(f'{where}: expected an object with "instances" or "inputs"')
    rows = payload[key]
    if not isinstance(rows, list) or not rows:
        raise BaselineInputError(f"{where}: {key!r} must be a non-empty list of rows")
    if not isinstance(rows[0], list):
        rows = [rows]  # one row
    if not all(isinstance(row, list) for row in rows):
        raise BaselineInputError(f"{where}: every row of {key!r} must be a list")
    return rows


def _rows_block(rows: list[list[Any]], width: int, where: str, first_row: int) -> Block:
    """Rows of JSON values: numbers, null (missing), text; booleans and nesting are text."""
    for i, row in enumerate(rows):
        if len(row) != width:
            raise BaselineInputError(
                f"{where}: row {first_row + i} has {len(row)} values, expected {width}"
            )
    values = np.empty((len(rows), width))
    spelled = np.zeros(width, dtype=bool)
    texts: dict[int, list[str | None]] = {}
    for j, cells in enumerate(zip(*rows, strict=True)):
        kinds = set(map(type, cells))
        if kinds <= {int, float}:
            try:
                column = np.array(cells, dtype=np.float64)
            except OverflowError:
                raise BaselineInputError(
                    f"{where}: a number too large for a float in column {j + 1}"
                ) from None
            spelled[j] = float not in kinds
        else:
            column = np.empty(len(cells))
            text: list[str | None] = []
            spelled[j] = True
            for i, cell in enumerate(cells):
                if cell is None:
                    column[i] = math.nan
                    text.append(None)
                elif type(cell) in (int, float):
                    try:
                        column[i] = cell
                    except OverflowError:
                        raise BaselineInputError(
                            f"{where}: a number too large for a float in column {j + 1}"
                        ) from None
                    spelled[j] &= type(cell) is int
                    text.append(None if math.isnan(cell) else str(cell))
                else:
                    column[i] = math.nan
                    text.append(cell if isinstance(cell, str) else json.dumps(cell))
            if any(cell is not None and type(cell) not in (int, float) for cell in cells):
                texts[j] = text
        values[:, j] = column
    _check_finite(values, where, first_row)
    return Block(values, spelled, texts)


def _open_jsonl(
    path: Path, feature_names: list[str] | None, label_column: str | None, block_rows: int
) -> TrainingData:
    width = None
    try:
        with _open_text(path) as stream:
            for number, line in enumerate(stream, 1):
                if line.strip():
                    width = len(_payload_rows(_json(line, path, number), f"{path}:{number}")[0])
                    break
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile) as error:
        raise BaselineInputError(f"training data {path}: cannot read it: {error}") from None
    if width is None:
        raise BaselineInputError(f"training data {path}: empty (no JSON lines)")
    if feature_names is not None and len(feature_names) != width:
        raise BaselineInputError(
            f"--feature-names names {len(feature_names)} columns, the rows of {path} have {width}"
        )
    names = feature_names if feature_names is not None else [f"_c{i}" for i in range(width)]
    label = _label_index(names, label_column, path)
    keep = [i for i in range(width) if i != label]

    def blocks() -> Iterator[Block]:
        pending: list[list[Any]] = []
        counts: list[int] = []
        first_row = 1
        with _open_text(path) as stream:
            for number, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                rows = _payload_rows(_json(line, path, number), f"{path}:{number}")
                for i, row in enumerate(rows):
                    if len(row) != width:
                        raise BaselineInputError(
                            f"training data {path}: line {number}, row {i + 1} has {len(row)} "
                            f"values, the first row has {width} (ragged rows)"
                        )
                pending.extend(rows)
                counts.append(len(rows))
                if len(pending) >= block_rows:
                    yield _jsonl_block(pending, counts, width, label, path, first_row)
                    first_row += len(pending)
                    pending, counts = [], []
        if pending:
            yield _jsonl_block(pending, counts, width, label, path, first_row)

    return TrainingData(path, "jsonl", tuple(names[i] for i in keep), label_column, blocks)


def _json(line: str, path: Path, number: int) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as error:
        raise BaselineInputError(
            f"training data {path}: line {number} is not JSON: {error}"
        ) from None


def _jsonl_block(
    rows: list[list[Any]], counts: list[int], width: int, label: int | None, path: Path, first: int
) -> Block:
    block = _rows_block(rows, width, f"training data {path}", first)
    block = Block(block.values, block.integer_spelled, block.text, np.array(counts))
    return _drop_column(block, label) if label is not None else block

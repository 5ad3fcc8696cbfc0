"""Offline replay: access-log files in, one decision per principal and window out.

``detect`` works on aggregates, however they were made (parsed files here, Logs Insights rows in
AWS): it computes the features over the baseline and the scored windows together (so that the
first scored windows have their history), fits the forest on the baseline's windows (or uses a
stored model), scores the rest and decides. Without a baseline it starts cold: the forest is
fitted on the scored windows themselves, and when there are too few of them, only the hard rules
decide; the result says which (``trained_on``).

``detect_files`` and ``write_detections`` are the glue of ``secure-endpoint detect``.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import orjson

from secure_endpoint.runtime.anomaly.decisions import DecisionConfig, Decisions, decide
from secure_endpoint.runtime.anomaly.features import (
    FEATURES,
    HISTORY_SECONDS,
    WINDOW_SECONDS,
    WindowAggregates,
    aggregate,
    covered_windows,
    features,
)
from secure_endpoint.runtime.anomaly.inputs import (
    STDIN,
    InputSummary,
    Source,
    name_of,
    nothing_read,
    one_stdin,
    open_lines,
    splittable,
)
from secure_endpoint.runtime.anomaly.records import (
    RecordReader,
    Records,
    first_seen,
    merge_records,
)
from secure_endpoint.runtime.anomaly.scoring import (
    KINDS,
    ForestConfig,
    Model,
    dumps,
    fit_scored_model,
    loads,
    sha256,
)


@dataclass(frozen=True)
class DetectConfig:
    """Everything ``detect`` needs; the defaults are the monitor's.

    ``warmup_seconds``: baseline windows with less history than this before them are left out of
    the fit (their history features are not yet comparable). A kind of principal with fewer than
    ``forest.min_rows`` windows to fit on is decided by the hard rules only.
    """

    window_seconds: int = WINDOW_SECONDS
    history_seconds: int = HISTORY_SECONDS
    forest: ForestConfig = field(default_factory=ForestConfig)
    decisions: DecisionConfig = field(default_factory=DecisionConfig)
    warmup_seconds: int = 3600

    def __post_init__(self) -> None:
        if self.warmup_seconds < 0:
            raise ValueError(f"warmup_seconds must not be negative, got {self.warmup_seconds}")


@dataclass(frozen=True, eq=False)
class Detections:
    """The scored rows (a subset of the aggregates' rows) and their decisions."""

    aggregates: WindowAggregates
    decisions: Decisions
    model: Model | None
    trained_on: str  # "baseline", "cold-start", "stored model" or "rules only"

    def __len__(self) -> int:
        return len(self.aggregates)

    def rows(self) -> Iterator[dict[str, Any]]:
        """One JSON-ready object per scored window and principal."""
        names = self.aggregates.names
        kinds = self.aggregates.is_client
        d = self.decisions
        for i, (principal, start) in enumerate(
            zip(
                self.aggregates.principal.tolist(),
                self.aggregates.window_start.tolist(),
                strict=True,
            )
        ):
            yield {
                "windowStart": start,
                "principal": names[principal],
                "kind": "client" if kinds[principal] else "address",
                "score": round(float(d.score[i]), 6),
                "anomalous": bool(d.anomalous[i]),
                "action": d.action[i],
                "reasons": d.reasons[i],
            }


FitAndScore = Callable[
    [npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_], ForestConfig, str],
    tuple[Model, npt.NDArray[np.float64] | None],
]
"""(features, is_client, training rows, config, trained_on) -> (model, scores of every row)."""


def fit_and_score(
    X: npt.NDArray[np.float64],
    is_client: npt.NDArray[np.bool_],
    training: npt.NDArray[np.bool_],
    config: ForestConfig,
    trained_on: str,
    jobs: int = 1,
) -> tuple[Model, npt.NDArray[np.float64] | None]:
    """Fit on the training rows (``jobs`` threads building trees), then score every row (None
    when no forest could be fitted); the training rows keep the scores the fit gave them."""
    model, fitted = fit_scored_model(
        X[training], is_client[training], FEATURES, config=config, trained_on=trained_on,
        jobs=jobs,
    )  # fmt: skip
    if not model.fitted:
        return model, None
    scores = np.empty(len(X), dtype=np.float64)
    scores[training] = fitted
    scores[~training] = model.score(X[~training], is_client[~training])
    return model, scores


def detect(
    aggregates: WindowAggregates,
    scored_from: int,
    config: DetectConfig = DetectConfig(),
    model: Model | None = None,
    *,
    fit: FitAndScore = fit_and_score,
) -> Detections:
    """Score the rows whose window starts at or after ``scored_from`` (epoch seconds); the rows
    before are the baseline. A given ``model`` is used as is; else one is fitted (by ``fit``)."""
    X = features(aggregates, config.history_seconds)
    is_client = aggregates.is_client[aggregates.principal]
    scored = aggregates.window_start >= scored_from
    if model is None:
        warm = covered_windows(aggregates, config.history_seconds) * aggregates.window_seconds
        warm_enough = warm >= min(config.warmup_seconds, config.history_seconds)
        training, trained_on = ~scored & warm_enough, "baseline"
        if _too_few(training, is_client, config.forest.min_rows):
            training, trained_on = scored & warm_enough, "cold-start"
            if _too_few(training, is_client, config.forest.min_rows):
                training = scored
        model, scores = fit(X, is_client, training, config.forest, trained_on)
        if not model.fitted:
            trained_on = "rules only"
    else:
        trained_on = "stored model"
        # the history is scored too: a window is flagged only above its principal's own record
        scores = model.score(X, is_client) if model.fitted else None
    fitted = model if model.fitted else None
    decisions = decide(aggregates, X, scores, fitted, config.decisions, decided=scored)
    return Detections(aggregates.select(scored), decisions.select(scored), fitted, trained_on)


def _too_few(rows: npt.NDArray[np.bool_], is_client: npt.NDArray[np.bool_], least: int) -> bool:
    """Too few windows of both kinds to fit either forest."""
    clients = int(np.count_nonzero(rows & is_client))
    return max(clients, int(np.count_nonzero(rows)) - clients) < least


FileSummary = InputSummary
"""What the inputs of one role (``baseline`` or ``logs``) held: records and lines skipped."""


class UsageError(Exception):
    """A bad argument, an unreadable input or an unwritable output of ``secure-endpoint
    detect``: one line on stderr, exit ``code`` (2)."""

    code = 2


class NoRecords(UsageError):
    """An input role read to the end without one access-log record to use: exit 3."""

    code = 3


PARALLEL_BYTES = 64 << 20
"""Inputs smaller than this are parsed in this process alone: a second one would not pay."""

CLAIM_BYTES = 16 << 20
"""With two processes, each takes the next unparsed block of about this many bytes until none is
left, so that neither waits for the other whatever else the machine is doing."""

_READ_BYTES = 1 << 20
_Segment = tuple[str, str, int, int]  # (label, path, first byte, end byte)
_LABELS = ("baseline", "logs")
_claimed: Any = None  # the helper's view of the shared next-block counter


@dataclass(frozen=True, eq=False)
class _Parsed:
    """Records read by one reader (de-duplicated among themselves), the request id of each when
    they must be de-duplicated against other parts, and (label, records, counts) per input read,
    in order."""

    records: Records
    ids: list[str | None] | None
    spans: tuple[tuple[str, int, InputSummary], ...]


def detect_files(
    logs: Source | Sequence[Source],
    baseline: Source | Sequence[Source] | None = None,
    config: DetectConfig = DetectConfig(),
    model: Model | None = None,
    *,
    jobs: int = 1,
    stdin: IO[bytes] | None = None,
) -> tuple[Detections, dict[str, FileSummary]]:
    """Parse the inputs and ``detect`` over the windows of ``logs``.

    Each of ``logs`` and ``baseline`` is one input or several: files, plain or gzip (recognized
    by their first bytes), or ``-`` for ``stdin``. A record whose request id was read before, in
    any input, is skipped and counted as a duplicate (the baseline is read first). Raises
    ``NoRecords`` when the logs, or a baseline given, hold no record to use, before any fitting.

    With ``jobs`` 2 or more and large plain files, a second process imports scikit-learn (when a
    model is to be fitted) and then parses blocks of the input beside this one, each taking the
    next block until none is left, then fits and scores while this one waits: the slow parts of
    the replay run on two cores, with the same result as one process."""
    inputs = [(label, source) for label, sources in (("baseline", baseline), ("logs", logs))
              for source in _as_list(sources)]  # fmt: skip
    try:
        one_stdin([source for _, source in inputs])
    except ValueError as error:
        raise UsageError(str(error)) from None
    parallel = jobs >= 2 and all(splittable(source) for _, source in inputs)
    if parallel:
        segments = [(label, str(path), 0, Path(path).stat().st_size) for label, path in inputs]
        parallel = sum(end for _, _, _, end in segments) >= PARALLEL_BYTES
    if not parallel:
        records, summary, first_ms = _merge([_parse_inputs(inputs, stdin)])
        _check_read(summary, inputs)
        return _detect_parsed(records, first_ms, config, model, fit_and_score), summary
    blocks = _blocks(segments, CLAIM_BYTES)
    context = multiprocessing.get_context("spawn")
    claimed = context.Value("i", 0)
    helper = ProcessPoolExecutor(
        max_workers=1, mp_context=context, initializer=_share, initargs=(claimed,)
    )
    try:
        theirs = helper.submit(_parse_claimed, blocks, model is None)
        parts = _claim_and_parse(blocks, claimed)
        parts.update(theirs.result())
        records, summary, first_ms = _merge([parts[i] for i in range(len(blocks))])
        _check_read(summary, inputs)

        def fit_there(*args: Any) -> tuple[Model, npt.NDArray[np.float64] | None]:
            fitted = helper.submit(_fit_and_score_portable, *args).result()
            helper.shutdown(wait=False)  # its exit overlaps with deciding and writing
            return fitted

        return _detect_parsed(records, first_ms, config, model, fit_there), summary
    finally:
        # Nothing is left for it to do: its exit (about a quarter of a second of tearing down
        # scikit-learn) need not delay the decisions and the writing.
        helper.shutdown(wait=False, cancel_futures=True)


def _as_list(sources: Source | Sequence[Source] | None) -> list[Source]:
    if sources is None:
        return []
    if isinstance(sources, Path | str):
        return [sources]
    return list(sources)


def _check_read(summary: dict[str, FileSummary], inputs: list[tuple[str, Source]]) -> None:
    for label in _LABELS:
        names = [name_of(source) for role, source in inputs if role == label]
        if names:
            problem = nothing_read(f"--{label} {' '.join(names)}", summary[label])
            if problem is not None:
                raise NoRecords(problem)


def _detect_parsed(
    records: Records,
    first_ms: dict[str, int],
    config: DetectConfig,
    model: Model | None,
    fit: FitAndScore,
) -> Detections:
    aggregates = aggregate(records, config.window_seconds)
    if "logs" in first_ms:
        scored_from = first_ms["logs"] // 1000 // config.window_seconds * config.window_seconds
    else:
        scored_from = np.iinfo(np.int64).max
    return detect(aggregates, scored_from, config, model, fit=fit)


def _parse_inputs(inputs: list[tuple[str, Source]], stdin: IO[bytes] | None) -> _Parsed:
    """Read whole inputs one after the other, as streams (plain, gzip or standard input)."""
    reader = RecordReader(deduplicate=True)
    spans = []
    for label, source in inputs:
        before = _counts(reader)
        try:
            with open_lines(source, stdin) as lines:
                reader.feed(lines)
        except (OSError, EOFError, zlib.error) as error:
            reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
            if isinstance(error, EOFError | zlib.error):
                reason = f"corrupt or truncated gzip data ({reason})"
            raise UsageError(f"cannot read {name_of(source)}: {reason}") from None
        after = _counts(reader)
        spans.append((label, after.records - before.records, _minus(after, before)))
    return _Parsed(reader.records(), None, tuple(spans))


def _counts(reader: RecordReader) -> InputSummary:
    return InputSummary(reader.count, reader.unparseable, reader.wrong_shape, reader.duplicates)


def _minus(a: InputSummary, b: InputSummary) -> InputSummary:
    return InputSummary(
        a.records - b.records,
        a.unparseable - b.unparseable,
        a.wrong_shape - b.wrong_shape,
        a.duplicates - b.duplicates,
    )


def _parse_segments(segments: list[_Segment]) -> _Parsed:
    """Parse byte ranges of plain files (each starting at a line), keeping the request ids for
    de-duplication against the other blocks."""
    reader = RecordReader(deduplicate=True, keep_ids=True)
    spans = []
    for label, path, start, end in segments:
        before = _counts(reader)
        with Path(path).open("rb") as file:
            if start == 0 and end >= Path(path).stat().st_size:
                reader.feed(file)
            else:
                file.seek(start)
                reader.feed(_lines_between(file, end - start))
        after = _counts(reader)
        spans.append((label, after.records - before.records, _minus(after, before)))
    return _Parsed(reader.records(), reader.request_ids(), tuple(spans))


def _lines_between(file: IO[bytes], size: int) -> Iterator[bytes]:
    """The lines of the next ``size`` bytes, which end at the end of a line.

    ``readlines`` with a size hint reads whole lines, in C, until they add up to more than the
    hint: about twice as fast as splitting blocks read with ``read``. The hint stays below
    ``size``, so the last line read ends the range (a hint of 0 would read to the end)."""
    while size > 0:
        lines = file.readlines(min(size - 1, _READ_BYTES)) if size > 1 else [file.readline()]
        if not lines or not lines[0]:
            return
        size -= sum(map(len, lines))
        yield from lines


def _blocks(segments: list[_Segment], size: int) -> list[list[_Segment]]:
    """The segments cut into blocks of about ``size`` bytes, each cut just after a newline."""
    blocks: list[list[_Segment]] = []
    current: list[_Segment] = []
    room = size
    for label, path, start, end in segments:
        while end - start > room:
            cut = _next_line(path, start + room)
            if cut > start:
                current.append((label, path, start, min(cut, end)))
            blocks.append(current)
            current, room = [], size
            start = min(cut, end)
        if end > start:
            current.append((label, path, start, end))
            room -= end - start
    if current or not blocks:
        blocks.append(current)
    return blocks


def _next_line(path: str, position: int) -> int:
    """The offset just after the first newline at or after ``position``."""
    with Path(path).open("rb") as file:
        file.seek(position)
        while chunk := file.read(1 << 16):
            newline = chunk.find(b"\n")
            if newline >= 0:
                return position + newline + 1
            position += len(chunk)
    return position


def _claim_and_parse(blocks: list[list[_Segment]], claimed: Any) -> dict[int, _Parsed]:
    """Parse the next unclaimed block until none is left; the parsed blocks by index."""
    parsed: dict[int, _Parsed] = {}
    while True:
        with claimed.get_lock():
            index = claimed.value
            claimed.value = index + 1
        if index >= len(blocks):
            return parsed
        parsed[index] = _parse_segments(blocks[index])


def _share(claimed: Any) -> None:
    """The helper's initializer: keep the shared counter of the next block to parse."""
    global _claimed
    _claimed = claimed


def _parse_claimed(blocks: list[list[_Segment]], import_scikit_learn: bool) -> dict[int, _Parsed]:
    """In the helper: import scikit-learn first when a forest will be fitted (it takes a second
    or more, which this process then spends while the other one parses alone), then parse."""
    if import_scikit_learn:
        import sklearn.ensemble  # noqa: F401
    return _claim_and_parse(blocks, _claimed)


def _merge(
    parts: list[_Parsed],
) -> tuple[Records, dict[str, FileSummary], dict[str, int]]:
    """The parts as one: records de-duplicated across parts (the first one read is kept), the
    counts per label and the first time per label of the records kept."""
    seen: set[str | None] = set()
    kept: list[Records] = []
    summary: dict[str, FileSummary] = {}
    first_ms: dict[str, int] = {}
    for part in parts:
        records, spans = part.records, list(part.spans)
        if part.ids is not None and len(parts) > 1:
            everything = np.ones(len(records), dtype=np.bool_)
            fresh = first_seen(part.ids, everything, seen)
            if fresh is not None:
                records, spans = _select(records, fresh), _fewer(spans, fresh)
        at = 0
        for label, count, counts in spans:
            summary[label] = summary.get(label, FileSummary()) + counts
            if count:
                first = int(records.time_ms[at : at + count].min())
                first_ms[label] = min(first_ms.get(label, first), first)
            at += count
        kept.append(records)
    return merge_records(kept), summary, first_ms


_RECORD_COLUMNS = (
    "time_ms", "status", "client", "address", "route", "response_length", "response_latency",
)  # fmt: skip


def _select(records: Records, keep: npt.NDArray[np.bool_]) -> Records:
    return replace(records, **{name: getattr(records, name)[keep] for name in _RECORD_COLUMNS})


def _fewer(
    spans: list[tuple[str, int, InputSummary]], keep: npt.NDArray[np.bool_]
) -> list[tuple[str, int, InputSummary]]:
    """The spans with the records not kept moved from records to duplicates."""
    fewer, at = [], 0
    for label, count, counts in spans:
        left = int(np.count_nonzero(keep[at : at + count]))
        dropped = count - left
        fewer.append(
            (label, left, replace(counts, records=left, duplicates=counts.duplicates + dropped))
        )
        at += count
    return fewer


def _fit_and_score_portable(
    X: npt.NDArray[np.float64],
    is_client: npt.NDArray[np.bool_],
    training: npt.NDArray[np.bool_],
    config: ForestConfig,
    trained_on: str,
) -> tuple[Model, npt.NDArray[np.float64] | None]:
    """``fit_and_score`` in the helper process, which the other one waits for: both cores build
    trees. The model comes back as arrays only."""
    model, scores = fit_and_score(X, is_client, training, config, trained_on, jobs=2)
    return model.portable(), scores


def write_detections(detections: Detections, out: IO[bytes]) -> int:
    """Write one JSON line per scored window and principal; returns how many."""
    dumps = orjson.dumps
    count = 0
    for row in detections.rows():
        out.write(dumps(row) + b"\n")
        count += 1
    return count


EXIT_OK, EXIT_USAGE, EXIT_NO_RECORDS = 0, UsageError.code, NoRecords.code


def run(args: Any, stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None) -> int:
    """``secure-endpoint detect``: the parsed arguments in, the exit status out (0 when done).

    The output is opened (created or truncated, as a shell's ``>`` does) before any input is
    read, so that an unwritable path fails at once; when the run then fails, an output file it
    created is removed."""
    if args.model is not None and not args.model_sha256:
        raise UsageError("--model needs --model-sha256 (the digest recorded when it was stored)")
    logs, baseline = _as_list(args.logs), _as_list(args.baseline)
    try:
        config = DetectConfig(
            window_seconds=args.window_seconds,
            history_seconds=int(args.history_hours * 3600),
            forest=ForestConfig(random_state=args.random_state, alert_quantile=args.alert_quantile),
            decisions=DecisionConfig(daily_quota=args.daily_quota),
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    jobs = args.jobs if args.jobs is not None else min(2, os.cpu_count() or 1)
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    _refuse_output_among_inputs(args.output, [*baseline, *logs])
    if args.save_model is not None and not args.save_model.parent.is_dir():
        raise UsageError(f"cannot write {args.save_model}: no such directory")
    summary_path = getattr(args, "summary", None)
    if summary_path is not None:
        _refuse_output_among_inputs(str(summary_path), [*baseline, *logs])
        if not summary_path.parent.is_dir():
            raise UsageError(f"cannot write --summary {summary_path}: no such directory")
    out, created = _open_output(args.output, stdout)
    try:
        return _run(args, logs, baseline, config, jobs, out, stdin)
    except BaseException:
        if created is not None:
            out.close()
            created.unlink(missing_ok=True)
        raise
    finally:
        if args.output != STDOUT:
            out.close()


STDOUT = "-"


def _run(
    args: Any,
    logs: list[Source],
    baseline: list[Source],
    config: DetectConfig,
    jobs: int,
    out: IO[bytes],
    stdin: IO[bytes] | None,
) -> int:
    try:
        model = _load_model(args.model, args.model_sha256) if args.model is not None else None
        detections, summary = detect_files(
            logs, baseline or None, config, model, jobs=jobs, stdin=stdin
        )
    except OSError as error:
        raise UsageError(f"cannot read {error.filename}: {error.strerror or error}") from None
    except ValueError as error:  # IntegrityError included
        raise UsageError(str(error)) from None
    for label, sources in (("baseline", baseline), ("logs", logs)):
        if label in summary:
            names = ", ".join(name_of(source) for source in sources)
            _note(f"{names}: {summary[label].describe()}")
    total = sum(summary.values(), InputSummary())
    summary_path: Path | None = getattr(args, "summary", None)
    if total.lines_malformed:
        _note(
            f"warning: {total.lines_malformed:,} lines are no access-log record "
            f"({total.unparseable:,} not JSON, {total.wrong_shape:,} of the wrong shape): "
            "the requests in them are invisible to detection. A value written unescaped into "
            "the log (a quote, a backslash) breaks a line; see the runbook, "
            "unparseable-log-lines"
        )
    _note(_model_note(detections))
    if args.save_model is not None and detections.model is not None:
        data = dumps(detections.model)
        try:
            args.save_model.write_bytes(data)
            Path(f"{args.save_model}.sha256").write_text(sha256(data) + "\n")
        except OSError as error:
            raise UsageError(f"cannot write {error.filename}: {error.strerror}") from None
        _note(f"model stored in {args.save_model} (sha256 {sha256(data)})")
    try:
        written = write_detections(detections, out)
        out.flush()
    except OSError as error:
        raise UsageError(f"cannot write {args.output}: {error.strerror or error}") from None
    decisions = detections.decisions
    principals = len(np.unique(detections.aggregates.principal))
    anomalous, blocks = int(decisions.anomalous.sum()), decisions.action.count("block")
    _note(
        f"wrote {written:,} windows of {principals:,} principals to {args.output}: "
        f"{anomalous:,} anomalous, {blocks:,} with action block; "
        f"{total.lines_malformed:,} lines skipped as no access-log record"
    )
    if summary_path is not None:
        counts = {
            "inputs": {label: _counted(part) for label, part in summary.items()},
            **_counted(total),
            "windows": written,
            "principals": principals,
            "anomalous": anomalous,
            "block": blocks,
            "trainedOn": detections.trained_on,
        }
        try:
            summary_path.write_bytes(orjson.dumps(counts) + b"\n")
        except OSError as error:
            raise UsageError(f"cannot write --summary {summary_path}: {error.strerror}") from None
    return EXIT_OK


def _counted(part: InputSummary) -> dict[str, int]:
    return {
        "records": part.records,
        "unparseable": part.unparseable,
        "wrongShape": part.wrong_shape,
        "linesMalformed": part.lines_malformed,
        "duplicates": part.duplicates,
    }


def _refuse_output_among_inputs(output: str, sources: list[Source]) -> None:
    """Opening the output truncates it: it must not be one of the inputs."""
    if output == STDOUT or not Path(output).exists():
        return
    for source in sources:
        if str(source) != STDIN and Path(source).exists() and Path(output).samefile(source):
            raise UsageError(f"--output {output} is also an input: it would be overwritten")


def _open_output(output: str, stdout: IO[bytes] | None) -> tuple[IO[bytes], Path | None]:
    """The output stream, and its path when this call created the file."""
    if output == STDOUT:
        return (stdout if stdout is not None else sys.stdout.buffer), None
    path = Path(output)
    existed = path.exists()
    try:
        out = path.open("wb")
    except OSError as error:
        raise UsageError(
            f"cannot write --output {output}: {error.strerror or error} "
            "(checked before reading any input)"
        ) from None
    return out, None if existed else path


def _load_model(path: Path, digest: str) -> Model:
    return loads(path.read_bytes(), digest, FEATURES)


def _model_note(detections: Detections) -> str:
    model = detections.model
    if model is None:
        return "rules only: too few windows to fit an isolation forest"
    source = {
        "baseline": "fitted on the baseline",
        "cold-start": "cold start (no usable baseline): fitted on the scored windows themselves",
        "stored model": "a stored model",
    }[detections.trained_on]
    top = 100 * (1 - model.config.alert_quantile)
    parts = []
    for kind, rows, threshold in zip(KINDS, model.training_rows, model.thresholds, strict=True):
        if rows:
            parts.append(f"{_PLURAL[kind]}: {rows:,} windows, threshold {threshold:.4f}")
        else:
            parts.append(f"{_PLURAL[kind]}: too few windows, rules only")
    return f"isolation forests {source} (alert at the top {top:.2g}%); " + "; ".join(parts)


_PLURAL = {"client": "clients", "address": "addresses"}


def _note(message: str) -> None:
    print(f"secure-endpoint: {message}", file=sys.stderr)

"""``secure-endpoint inspect-capture``: SageMaker data capture in, drift findings out."""

from __future__ import annotations

import argparse
import contextlib
import gc
import gzip
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

from secure_endpoint.cli.failures import Failure

EXIT_NOTHING_READ = 3
_EXIT = (
    "exit status: 0 when the findings were written (none is a result too); 2 on a usage error, "
    "an unreadable baseline or an unwritable --output; 3 when the capture holds no record that "
    "could be read"
)


def add_inspect_capture_command(commands: Any) -> None:
    inspect = commands.add_parser(
        "inspect-capture",
        help="compare captured inputs with the training baseline: drift and per-client payload "
        "findings as JSON lines",
        description="Read SageMaker data capture (a directory of <endpoint>/<variant>/yyyy/mm/"
        "dd/hh/*.jsonl files, plain or gzip, or - for lines on stdin), compare each window of "
        "captured inputs with the baseline (secure-endpoint baseline writes it) and write one "
        'finding per drift episode (client_id "*") and per client and kind of payload abuse '
        "(extraction, probing, out_of_distribution, membership). Unreadable lines are counted "
        "on stderr and skipped. Needs "
        "the baseline extra: pip install 'secure-endpoint[baseline]'.",
        epilog=_EXIT,
    )
    inspect.add_argument(
        "--capture",
        required=True,
        help="capture directory, s3://bucket/prefix (the endpoint's capture prefix), or - for "
        "stdin",
    )
    inspect.add_argument("--profile", help="AWS profile for s3:// (default: the credential chain)")
    inspect.add_argument("--baseline", required=True, type=Path, help="the baseline directory")
    inspect.add_argument("--output", required=True, help="findings (JSON lines), - for stdout")
    inspect.add_argument(
        "--reports",
        type=Path,
        help="also write each window's constraint_violations.json under this directory",
    )
    inspect.add_argument(
        "--window-minutes", type=int, default=60, help="drift window length (default: 60)"
    )
    inspect.add_argument(
        "--reference-hours",
        type=float,
        default=6.0,
        help="judge drift client by client against each client's own first hours of capture "
        "(default: 6); 0 compares every window with the training baseline alone, as Model "
        "Monitor does (live traffic that differs from training then drifts all the time)",
    )
    inspect.add_argument(
        "--signing-key-file",
        type=Path,
        help="HMAC key the baseline was signed with (or SECURE_ENDPOINT_BASELINE_KEY)",
    )
    inspect.add_argument(
        "--membership-key-file",
        type=Path,
        help="the key the baseline's membership hashes were made with (or "
        "SECURE_ENDPOINT_MEMBERSHIP_KEY); without it membership probing is not checked",
    )
    inspect.add_argument(
        "--output-path",
        metavar="KEY.KEY",
        help="where the per-row scores are in a JSON answer of another shape than "
        '{"predictions": [...]}, a list, or per-row objects with probabilities/scores/label '
        "(dotted keys, such as result.scores)",
    )
    inspect.add_argument(
        "--no-payload",
        action="store_true",
        help="drift findings only: skip the per-client payload inspection",
    )
    inspect.add_argument(
        "--jobs",
        type=int,
        default=0,
        help="processes: 2 reads and measures drift in one and scores the payloads in the "
        "other (the same findings as 1); default: 2 on a machine of 2 or more cores, else 1",
    )
    inspect.add_argument(
        "--scores",
        type=Path,
        help="also write every client's payload evidence per kind (JSON) to this file",
    )
    inspect.set_defaults(run=_inspect)


def _inspect(args: argparse.Namespace) -> int:
    with _few_collections():
        return _inspect_capture(args)


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    """The garbage collector's young generation collected every 50,000 allocations, not 700,
    and what exists already left out of its scans: reading allocates a few hundred objects a
    line, almost none of them in cycles (a few per cent faster end to end). Restored after."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _inspect_capture(args: argparse.Namespace) -> int:
    try:
        from secure_endpoint.runtime.baseline import store
        from secure_endpoint.runtime.capture import drift, records
        from secure_endpoint.runtime.payload.detector import PayloadDetector
    except ModuleNotFoundError as error:
        raise Failure(
            f"inspect-capture needs the baseline extra ({error.name} is missing): "
            "pip install 'secure-endpoint[baseline]'"
        ) from None
    if not 5 <= args.window_minutes <= 1440:
        raise Failure(f"--window-minutes must be from 5 to 1440, got {args.window_minutes}")
    if not 0 <= args.reference_hours <= 24 * 30:
        raise Failure(f"--reference-hours must be from 0 to 720, got {args.reference_hours}")
    reference_seconds = args.reference_hours * 3600
    try:
        key = store.read_key(args.signing_key_file, os.environ)
        baseline = store.load_baseline(args.baseline, key=key)
        reference = drift.Reference.from_baseline(baseline)
    except ValueError as error:
        raise Failure(f"--baseline {args.baseline}: {error}") from None
    if not reference.features:
        raise Failure(f"--baseline {args.baseline}: no numeric feature to measure drift on")
    if args.jobs not in (0, 1, 2):
        raise Failure(f"--jobs must be 0 (automatic), 1 or 2, got {args.jobs}")
    job = None
    if not args.no_payload:
        from secure_endpoint.cli.baseline import read_membership_key

        job = _PayloadJob(
            baseline=Path(args.baseline),
            signing_key=key,
            membership_key=read_membership_key(args.membership_key_file),
        )
        payload_reference = job.reference(baseline)  # a bad payload.json: refused before reading
    output = _open_output(args.output)
    counts = records.Counts()
    captures: Iterator[Any] = records.read_lines(
        _lines(args.capture, args.profile), counts, output_path=args.output_path
    )
    detector = None
    scorer = None
    if job is not None and _parallel(args.jobs):
        scorer = _Scorer(job, payload_reference)
        captures = _tap(captures, scorer.add)
    elif job is not None:
        detector = PayloadDetector(payload_reference)
        captures = _tap(captures, detector.add)
    try:
        reports = drift.windows(
            captures,
            reference,
            seconds=args.window_minutes * 60,
        )
        findings = (
            list(drift.world_episodes(reports, drift.shifts(reports, reference, reference_seconds)))
            if reference_seconds
            else list(drift.episodes(reports))
        )
        payload_findings: list[dict[str, Any]] = []
        scores: dict[str, Any] = {}
        if scorer is not None:
            payload_findings, scores = scorer.finish()
        elif detector is not None:
            payload_findings = [f.to_json() for f in detector.flush()]
            scores = detector.client_scores()
        for finding in findings:
            output.write(json.dumps(finding) + "\n")
        for payload_finding in sorted(
            payload_findings, key=lambda f: (f["first_seen"], f["client_id"], f["kind"])
        ):
            output.write(json.dumps(payload_finding) + "\n")
    finally:
        if scorer is not None:
            scorer.stop()
        if output is not sys.stdout:
            output.close()
    if args.reports is not None:
        for report in reports:
            found = report.violations(reference)
            if found:
                folder = args.reports / drift.iso(report.start)[:13]
                folder.mkdir(parents=True, exist_ok=True)
                document = {"violations": found}
                (folder / "constraint_violations.json").write_text(json.dumps(document, indent=2))
    if job is not None and args.scores is not None:
        args.scores.write_text(json.dumps(scores, indent=1, sort_keys=True))
    summary = drift.summary(counts, reports) | {
        "findings": len(findings) + len(payload_findings),
        "payload_findings": _by_kind(payload_findings),
    }
    print(json.dumps(summary), file=sys.stderr)
    if counts.records == 0:
        print(f"inspect-capture: no capture record could be read from {args.capture}",
              file=sys.stderr)  # fmt: skip
        return EXIT_NOTHING_READ
    return 0


@dataclass(frozen=True)
class _PayloadJob:
    """What the payload inspection needs, to run here or in a second process."""

    baseline: Path
    signing_key: bytes | None
    membership_key: bytes | None

    def reference(self, baseline: Any = None) -> Any:
        """The payload reference, from ``baseline`` when loaded already (else loaded here)."""
        from secure_endpoint.runtime.baseline import store
        from secure_endpoint.runtime.payload.reference import PayloadReference

        try:
            if baseline is None:
                baseline = store.load_baseline(self.baseline, key=self.signing_key)
            return PayloadReference.from_baseline(baseline, membership_key=self.membership_key)
        except ValueError as error:
            raise Failure(f"--baseline {self.baseline}: {error}") from None


def _parallel(jobs: int) -> bool:
    return jobs == 2 or (jobs == 0 and (os.cpu_count() or 1) >= 2)


_BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_QUEUED_BATCHES = 4
"""Batches read ahead of the scoring process (each an hour of capture, as arrays)."""


class _Scorer:
    """The payload detector in a second process, fed by this one: here the captures are read
    (once, for drift and payloads) and cut into the detector's batches (``BatchIntake``),
    there each batch is scored. The batches, their order and so the findings are those of one
    process."""

    def __init__(self, job: _PayloadJob, reference: Any) -> None:
        import multiprocessing

        from secure_endpoint.runtime.payload.detector import BatchIntake, DetectorConfig

        context = multiprocessing.get_context("spawn")
        # the batches go through files (the page cache), not the queue's pipe: pickling tens of
        # megabytes an hour into a pipe costs both processes more than the copy
        self._folder = tempfile.TemporaryDirectory(prefix="inspect-capture-")
        self._sent = 0
        self._batches: Any = context.Queue(maxsize=_QUEUED_BATCHES)
        self._result: Any = context.Queue()
        self._process = context.Process(
            target=_score_batches, args=(job, self._batches, self._result), daemon=True
        )
        # one BLAS thread there: the other core is this process's, and OpenBLAS's spare
        # threads spin on it (the user's own setting, if any, is kept)
        saved = {name: os.environ.get(name) for name in _BLAS_THREADS}
        os.environ.update({name: value or "1" for name, value in saved.items()})
        try:
            self._process.start()
        finally:
            for name, value in saved.items():
                if value is None:
                    del os.environ[name]
        transform = reference.transform
        self.intake = BatchIntake(transform.width, transform.positions, DetectorConfig())
        self._named = 0

    def add(self, capture: Any) -> None:
        for batch in self.intake.add(capture):
            self._send(batch)

    def finish(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The findings and client scores, once the last batch is scored."""
        for batch in self.intake.close():
            self._send(batch)
        self._send([])  # the clients named since the last batch, if any
        self._wait(self._batches.put, None)
        status, value = self._wait(self._result.get)
        self._process.join()
        if status != "ok":
            raise Failure(f"inspect-capture: the payload inspection failed: {value}")
        found: tuple[list[dict[str, Any]], dict[str, Any]] = value
        return found

    def stop(self) -> None:
        """End the scorer, done or not; batches it will never read are dropped, not waited on
        (at exit, a queue's feeder thread would otherwise wait for a reader forever)."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._batches.cancel_join_thread()
        self._batches.close()
        self._result.close()
        self._folder.cleanup()

    def _send(self, batch: Any) -> None:
        names = self.intake.ids[self._named :]
        self._named = len(self.intake.ids)
        path = Path(self._folder.name) / f"{self._sent:06d}.npz"
        self._sent += 1
        from secure_endpoint.runtime.payload.detector import save_batch

        save_batch(path, batch)
        self._wait(self._batches.put, (names, str(path)))

    def _wait(self, call: Any, *args: Any) -> Any:
        """``call`` (a queue's put or get), a second at a time, while the scorer lives."""
        import queue

        while True:
            try:
                return call(*args, timeout=1)
            except (queue.Full, queue.Empty):
                if not self._process.is_alive():
                    self._failed()

    def _failed(self) -> NoReturn:
        """The scorer is gone: what it said before it ended, if it could."""
        import queue

        try:
            status, value = self._result.get(timeout=1)
        except queue.Empty:
            raise Failure(
                "inspect-capture: the payload process ended unexpectedly (exit code "
                f"{self._process.exitcode}); run with --jobs 1 to see why"
            ) from None
        if status == "ok":
            raise Failure("inspect-capture: the payload process ended before the last batch")
        raise Failure(f"inspect-capture: the payload inspection failed: {value}")


def _score_batches(job: _PayloadJob, batches: Any, result: Any) -> None:
    """The second process of ``--jobs 2``: score each batch handed over, then hand back the
    findings and client scores (or what failed)."""
    try:
        from secure_endpoint.runtime.payload.detector import PayloadDetector, load_batch

        detector = PayloadDetector(job.reference())
        while (item := batches.get()) is not None:
            names, path = item
            detector.score(load_batch(Path(path)), names)
        found = detector.flush()
        result.put(("ok", ([f.to_json() for f in found], detector.client_scores())))
    except Exception as error:  # noqa: BLE001 - handed to the reading process, which reports it
        result.put(("error", f"{type(error).__name__}: {error}"))


def _tap(captures: Iterator[Any], take: Any) -> Iterator[Any]:
    """``captures``, each also handed to ``take`` (one reading feeds drift and payload)."""
    for capture in captures:
        take(capture)
        yield capture


def _by_kind(findings: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for found in findings:
        counts[found["kind"]] = counts.get(found["kind"], 0) + 1
    return counts


def _open_output(name: str) -> IO[str]:
    if name == "-":
        return sys.stdout
    try:
        return open(name, "w", encoding="utf-8")
    except OSError as error:
        raise Failure(f"--output {name}: {error.strerror}") from None


def _lines(source: str, profile: str | None = None) -> Iterator[bytes]:
    """Every line of the capture files under ``source`` (sorted paths; a directory or an
    ``s3://bucket/prefix``), or of stdin."""
    if source == "-":
        yield from sys.stdin.buffer
        return
    if source.startswith("s3://"):
        yield from _s3_lines(source, profile)
        return
    root = Path(source)
    if not root.is_dir():
        raise Failure(f"--capture {source}: not a directory")
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        opener = gzip.open if gzipped else open
        with opener(path, "rb") as handle:
            yield from handle


def _s3_lines(url: str, profile: str | None) -> Iterator[bytes]:
    import boto3

    from secure_endpoint.cli.failures import aws_errors
    from secure_endpoint.runtime.capture.s3 import S3CaptureStore

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise Failure(f"--capture {url}: name a bucket, like s3://bucket/capture/endpoint/")
    with aws_errors(f"cannot read {url}"):
        client = boto3.Session(profile_name=profile).client("s3")
        store = S3CaptureStore(client, bucket)
        for item in sorted(store.objects(prefix), key=lambda o: o.key):
            yield from store.lines(item.key)

"""``secure-endpoint detect``: access logs in, one decision per principal and window out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from secure_endpoint.cli.failures import Failure

_DETECT_EXIT = (
    "exit status: 0 when the detections were written; 2 on a usage error, an unreadable input "
    "or an unwritable --output (checked before any input is read); 3 when the logs, or a "
    "baseline given, hold no access-log record to use (empty, not JSON, JSON of another shape, "
    "or only duplicates): then no detection is written"
)


def add_detect_command(commands: Any) -> None:
    detect = commands.add_parser(
        "detect",
        help="score access logs offline: one JSON line per principal and window",
        description="Replay access-log lines (the pinned format) through the anomaly detector. "
        "Each input is a file, plain or gzip (recognized by its first bytes, as CloudWatch "
        "Logs exports are), or - for standard input. Requests are de-duplicated by request id "
        "across every input (overlapping exports), the baseline read first. Lines that are not "
        "JSON, JSON lines of the wrong shape and duplicates are counted on stderr and skipped; "
        "skipped lines also raise a warning there (their requests are invisible to detection) "
        "and are counted in --summary. "
        "Needs the monitor extra: pip install 'secure-endpoint[monitor]'.",
        epilog=_DETECT_EXIT,
    )
    detect.add_argument(
        "--logs", required=True, nargs="+", type=Path, metavar="FILE",
        help="access-log lines to score: one or more files (plain or gzip), - for stdin",
    )  # fmt: skip
    detect.add_argument(
        "--baseline", nargs="+", type=Path, metavar="FILE",
        help="older access-log lines to fit on, as --logs (default: cold start)",
    )  # fmt: skip
    detect.add_argument("--output", required=True, help="detections (JSON lines), - for stdout")
    detect.add_argument("--window-seconds", type=int, default=300, help="default: 300")
    detect.add_argument(
        "--history-hours", type=float, default=24.0, help="own-history horizon (default: 24)"
    )
    detect.add_argument(
        "--alert-quantile",
        type=float,
        default=0.995,
        help="share of baseline windows below the alert threshold (default: 0.995)",
    )
    detect.add_argument("--random-state", type=int, default=0, help="default: 0")
    detect.add_argument("--daily-quota", type=int, help="requests per client per day to alert on")
    detect.add_argument("--model", type=Path, help="a stored model to score with (no fitting)")
    detect.add_argument("--model-sha256", help="the digest recorded for --model (required with it)")
    detect.add_argument(
        "--save-model", type=Path, help="store the fitted model here, its digest in <path>.sha256"
    )
    detect.add_argument(
        "--summary",
        type=Path,
        metavar="FILE",
        help="also write the run's counts as one JSON object here: records, lines skipped "
        "(unparseable, wrong shape, duplicates) per input and in all, windows, anomalous",
    )
    detect.add_argument(
        "--jobs", type=int, help="processes for large inputs (default: 2, or 1 on one core)"
    )
    detect.set_defaults(run=_detect)


def _detect(args: argparse.Namespace) -> int:
    try:
        from secure_endpoint.runtime.anomaly import detect as replay
    except ModuleNotFoundError as error:
        raise Failure(
            f"detect needs the monitor extra ({error.name} is missing): "
            "pip install 'secure-endpoint[monitor]'"
        ) from None
    stdin = sys.stdin.buffer if "-" in map(str, [*args.logs, *(args.baseline or [])]) else None
    try:
        return replay.run(args, stdin=stdin)
    except replay.UsageError as error:
        raise Failure(str(error), error.code) from None

"""``secure-endpoint baseline``: training data in, a data-quality baseline directory out."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from secure_endpoint.cli.failures import EXIT_OK, Failure

_BASELINE_EXIT = (
    "exit status: 0 when the baseline was written; 2 on a usage error, a missing or unreadable "
    "training file, a header that does not match --feature-names, ragged rows, a column empty "
    "in every row, an infinite value, a bad signing key or an unwritable --output (checked "
    "before the rows are read)"
)


def add_baseline_command(commands: Any) -> None:
    baseline = commands.add_parser(
        "baseline",
        help="build a data-quality baseline of the model's inputs from training data",
        description="Profile training data (CSV with a header, or headerless with "
        '--feature-names; Parquet with pyarrow installed; JSON Lines of {"instances": rows} '
        'or {"inputs": rows}; plain or gzip) and write a baseline directory: statistics.json '
        "and constraints.json in SageMaker Model Monitor's formats, reference.json (quantiles, "
        "categorical sets, one-hot groups, integer positions, row width) and manifest.json "
        "(SHA-256 of each file; an HMAC-SHA256 too with a signing key), and payload.json "
        "(the payload inspector's joint model of the features and, with a membership key, "
        "keyed hashes of the quantized training rows: never the rows). Memory stays bounded "
        "whatever the size of the input. Needs the baseline extra: "
        "pip install 'secure-endpoint[baseline]'.",
        epilog=_BASELINE_EXIT,
    )
    baseline.add_argument("--training", required=True, type=Path, metavar="FILE")
    baseline.add_argument(
        "--format", choices=("csv", "parquet", "jsonl"),
        help="default: from the file name (.csv, .parquet/.pq, .jsonl/.ndjson/.json, maybe .gz)",
    )  # fmt: skip
    baseline.add_argument("--label-column", metavar="NAME", help="a column to leave out")
    baseline.add_argument(
        "--feature-names", metavar="a,b,...",
        help="the columns' names, in order (label included): required for a CSV without a "
        "header; must equal the header when there is one; default for JSON Lines: _c0, _c1, ...",
    )  # fmt: skip
    baseline.add_argument("--output", required=True, type=Path, metavar="DIR")
    baseline.add_argument(
        "--drift-threshold", type=float, default=0.1,
        help="constraints.json's distribution comparison_threshold, in (0, 1] (default: 0.1)",
    )  # fmt: skip
    baseline.add_argument(
        "--signing-key-file", type=Path, metavar="FILE",
        help="sign the manifest with HMAC-SHA256 using this key (32 bytes or more); default: "
        "$SECURE_ENDPOINT_BASELINE_KEY if set, else unsigned",
    )  # fmt: skip
    baseline.add_argument(
        "--membership-key-file", type=Path, metavar="FILE",
        help="hash the quantized training rows with this key (32 bytes or more) into payload.json"
        ", for membership-probing detection; the same key must reach inspect-capture and the "
        "drift monitor (a secret). Default: $SECURE_ENDPOINT_MEMBERSHIP_KEY if set, else no "
        "membership hashes (membership probing is then not detected)",
    )  # fmt: skip
    baseline.set_defaults(run=_baseline)


def read_membership_key(path: Path | None) -> bytes | None:
    """The membership key: the bytes of ``path`` (one trailing newline dropped), else the UTF-8
    of ``$SECURE_ENDPOINT_MEMBERSHIP_KEY``, else None; refuses one under 32 bytes."""
    from secure_endpoint.runtime.baseline.store import read_key
    from secure_endpoint.runtime.payload.reference import MEMBERSHIP_KEY_ENV

    try:
        return read_key(path, os.environ, variable=MEMBERSHIP_KEY_ENV, what="membership key")
    except ValueError as error:
        raise Failure(str(error)) from None


def _baseline(args: argparse.Namespace) -> int:
    try:
        from secure_endpoint.runtime.baseline import profile, readers, store
    except ModuleNotFoundError as error:
        raise Failure(
            f"baseline needs the baseline extra ({error.name} is missing): "
            "pip install 'secure-endpoint[baseline]'"
        ) from None
    if not 0 < args.drift_threshold <= 1:
        raise Failure(f"--drift-threshold must be in (0, 1], got {args.drift_threshold}")
    try:
        key = store.read_key(args.signing_key_file, os.environ)
    except ValueError as error:
        raise Failure(str(error)) from None
    membership_key = read_membership_key(args.membership_key_file)
    names = args.feature_names.split(",") if args.feature_names is not None else None
    try:
        data = readers.open_training(
            args.training, format=args.format, feature_names=names, label_column=args.label_column
        )  # reads the header only
    except readers.BaselineInputError as error:
        raise Failure(str(error)) from None
    created = _check_output(args.output)
    try:
        result = profile.profile_blocks(data.names, data)
    except readers.BaselineInputError as error:
        if created:
            args.output.rmdir()  # made for this run and still empty
        raise Failure(str(error)) from None
    files = store.documents(
        result,
        drift_threshold=args.drift_threshold,
        source_format=data.format,
        file_name=data.path.name,
        label_column=data.label_column,
    )
    from secure_endpoint.runtime.payload.reference import build_payload

    reference = json.loads(files[store.REFERENCE])
    payload = build_payload(reference, data, membership_key=membership_key)  # a second pass
    files[store.PAYLOAD] = store.encode(payload)
    try:
        store.write_baseline(args.output, files, key=key)
    except OSError as error:
        raise Failure(f"--output {args.output}: cannot write the baseline: {error}") from None
    kinds: dict[str, int] = {}
    for feature in result.features:
        kinds[feature.kind] = kinds.get(feature.kind, 0) + 1
    summary = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    print(
        f"baseline of {result.rows} rows x {len(result.names)} features ({summary}; "
        f"{len(result.one_hot_groups)} one-hot groups) written to {args.output}"
        f"{' (signed)' if key else ''}"
        f"{'' if membership_key else '; no membership key: membership probing not detected'}",
        file=sys.stdout,
    )
    return EXIT_OK


def _check_output(directory: Path) -> bool:
    """Check that ``directory`` can be written, creating it; whether it was created."""
    if directory.exists() and not directory.is_dir():
        raise Failure(f"--output {directory}: exists and is not a directory")
    created = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".secure-endpoint-write-check"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise Failure(f"--output {directory}: cannot write there: {error.strerror}") from None
    return created

"""``secure-endpoint scan-artifact``: would loading this model run code? The same scan the
artifact verifier runs before the model exists (``secure_endpoint.runtime.artifact_scan``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from secure_endpoint.cli.failures import EXIT_OK, Failure

EXIT_FINDINGS = 1

_SCAN_EXIT = (
    "exit status: 0 when nothing was found, 1 when something was (each finding on a line, or "
    "in the JSON), 2 on a usage error or an unreadable file"
)


def add_scan_command(commands: Any) -> None:
    scan = commands.add_parser(
        "scan-artifact",
        help="scan a model archive for pickles, Keras layers and archive tricks that run code",
        description="Read a model.tar.gz (or a single model file: .pkl, .joblib, .pt, .npy, "
        ".keras, .h5) without loading it, and report every import its pickles would make "
        "outside the allowlist (scikit-learn, NumPy, SciPy sparse, XGBoost, LightGBM, joblib, "
        "PyTorch tensors and torch.nn modules), Keras Lambda layers and custom objects, paths "
        "out of the model directory, links, devices and tar or zip bombs. The same scan as the "
        "deploy-time check (artifact.allowed_pickle_globals there is --allow here). Nothing "
        "in the file is run; HDF5 and SavedModel files are searched for their Keras config, a "
        "heuristic.",
        epilog=_SCAN_EXIT,
    )
    scan.add_argument("file", type=Path, metavar="FILE", help="the archive or model file")
    scan.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="MODULE.NAME",
        help="also allow this import (or a glob like mypackage.*); repeatable. The deny list "
        "(os, subprocess, builtins.eval, ...) wins over it",
    )
    scan.add_argument("--json", action="store_true", help="print the report as one JSON object")
    scan.set_defaults(run=_scan)


def _scan(args: argparse.Namespace) -> int:
    from secure_endpoint.runtime.artifact_scan import Policy, scan_path

    try:
        policy = Policy.with_extra(args.allow)
    except ValueError as error:
        raise Failure(f"--allow: {error}") from None
    if not args.file.is_file():
        raise Failure(f"{args.file}: no such file")
    try:
        report = scan_path(args.file, policy)
    except OSError as error:
        raise Failure(f"{args.file}: {error.strerror or error}") from None
    if args.json:
        print(json.dumps({"file": str(args.file), **report.as_dict()}, indent=2))
    else:
        for finding in report.findings:
            print(finding)
        found = f"{len(report.findings)} finding(s)" if report.findings else "no finding"
        print(
            f"{args.file}: {found} in {report.members} member(s), {report.pickles} pickle(s)",
            file=sys.stderr,
        )
    return EXIT_OK if report.clean else EXIT_FINDINGS

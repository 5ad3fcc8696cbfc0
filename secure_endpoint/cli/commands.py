"""The ``secure-endpoint`` command: call a deployed SecureEndpoint as one of its API clients, and
replay its access logs through the anomaly detector.

Exit status: 0 on a 2xx answer (``invoke``) or a finished replay (``detect``, malformed lines
skipped and counted), 1 on any other HTTP status or a network failure, 2 on a usage, input or
credential error, 3 when ``detect``'s input holds no access-log record at all. Errors are one line
on stderr, never a traceback.

Response commands act on a deployed stack: ``block``, ``unblock`` and ``blocked`` (the WAF's
auto-block list, see ``secure_endpoint.runtime.blocklist``), ``revoke-client`` and
``rotate-client``. They exit 0 when done or when it already was, 1 when AWS refuses or fails, 2 on
a usage, input, configuration or credential error, and log one JSON audit line to stderr. So do
``quarantine``, ``release`` and ``quarantined`` (a client's API key in the quarantine usage plan
for a while, see ``secure_endpoint.runtime.quarantine``).

``baseline`` profiles training data into a data-quality baseline directory (Model Monitor's
``statistics.json`` and ``constraints.json``, ``reference.json``, a digest manifest; see
``secure_endpoint.runtime.baseline``): exit 0 when written, 2 on a usage or input error.

``smoke`` checks that a deployed stack answers 200, 401, 403, 400 and 429 where each is due
(``secure_endpoint.cli.smoke``): exit 0 when no check failed, 1 when one did, 2 when it could not
start, having sent nothing.

``scan-artifact`` scans a model archive for what would run code when loaded (the deploy-time
check's scan, ``secure_endpoint.runtime.artifact_scan``): exit 0 when clean, 1 with findings, 2 on
a usage error or an unreadable file.

``attack`` runs a red-team strategy against the local model (``--local DIR``, the capture
simulator's output) or a deployed endpoint (``--secret-id``) and reports what stopped it
(``secure_endpoint.cli.attack``): exit 0 when the run ended, stopped or not, 1 when the
endpoint could not be reached, 2 on a usage or input error.
"""

from __future__ import annotations

import argparse
import sys

from secure_endpoint.cli.attack import add_attack_command
from secure_endpoint.cli.baseline import add_baseline_command
from secure_endpoint.cli.detect import add_detect_command
from secure_endpoint.cli.failures import EXIT_HTTP_ERROR, EXIT_OK, EXIT_USAGE, Failure
from secure_endpoint.cli.inspect_capture import add_inspect_capture_command
from secure_endpoint.cli.invoke import add_invoke_command
from secure_endpoint.cli.quarantine_command import add_quarantine_commands
from secure_endpoint.cli.respond import add_response_commands
from secure_endpoint.cli.scan_command import add_scan_command
from secure_endpoint.cli.smoke_command import add_smoke_command

__all__ = ["EXIT_HTTP_ERROR", "EXIT_OK", "EXIT_USAGE", "main"]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except Failure as failure:
        print(f"secure-endpoint: error: {failure}", file=sys.stderr)
        return failure.code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="secure-endpoint",
        description="Call a deployed SecureEndpoint as one of its API clients, replay its "
        "access logs through the anomaly detector, build a baseline of the model's inputs and "
        "compare captured traffic with it, scan model artifacts before they are deployed, and "
        "respond to incidents.",
        epilog="exit status: 0 on success (invoke: a 2xx answer; response commands: also when "
        "it was done already), 1 on another HTTP status, a network failure or an AWS refusal, "
        "2 on a usage, input, configuration or credential error",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_invoke_command(commands)
    add_detect_command(commands)
    add_baseline_command(commands)
    add_inspect_capture_command(commands)
    add_response_commands(commands)
    add_quarantine_commands(commands)
    add_smoke_command(commands)
    add_scan_command(commands)
    add_attack_command(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())

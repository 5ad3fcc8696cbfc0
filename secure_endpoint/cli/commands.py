"""The ``secure-endpoint`` command: call a deployed SecureEndpoint as one of its API clients, and
replay its access logs through the anomaly detector.

Exit status: 0 on a 2xx answer (``invoke``) or a finished replay (``detect``, malformed lines
skipped and counted), 1 on any other HTTP status or a network failure, 2 on a usage, input or
credential error, 3 when ``detect``'s input holds no access-log record at all. Errors are one line
on stderr, never a traceback.

Response commands act on a deployed stack: ``block``, ``unblock`` and ``blocked`` (the WAF's
auto-block list, see ``secure_endpoint.runtime.blocklist``), ``revoke-client`` and
``rotate-client``. They exit 0 when done or when it already was, 1 when AWS refuses or fails, 2 on
a usage, input, configuration or credential error, and log one JSON audit line to stderr.

``smoke`` checks that a deployed stack answers 200, 401, 403, 400 and 429 where each is due
(``secure_endpoint.cli.smoke``): exit 0 when no check failed, 1 when one did, 2 when it could not
start, having sent nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import platformdirs

# boto3 and botocore are imported by the commands that call AWS: `detect` (offline, and timed)
# does not pay their tenth of a second.
from secure_endpoint.cli.client import (
    ClientCredentials,
    InferenceClient,
    NetworkError,
    TokenCache,
    TokenError,
)

EXIT_OK, EXIT_HTTP_ERROR, EXIT_USAGE = 0, 1, 2


class _Failure(Exception):
    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except _Failure as failure:
        print(f"secure-endpoint: error: {failure}", file=sys.stderr)
        return failure.code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="secure-endpoint",
        description="Call a deployed SecureEndpoint as one of its API clients, replay its "
        "access logs through the anomaly detector, and respond to incidents.",
        epilog="exit status: 0 on success (invoke: a 2xx answer; response commands: also when "
        "it was done already), 1 on another HTTP status, a network failure or an AWS refusal, "
        "2 on a usage, input, configuration or credential error",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    invoke = commands.add_parser("invoke", help="send one JSON request to the predict method")
    invoke.add_argument("--secret-id", required=True, help="name or ARN of the client's secret")
    invoke.add_argument("--body", required=True, help="JSON request body file, or - for stdin")
    invoke.add_argument("--region", help="region of the secret (default: from the AWS config)")
    invoke.add_argument("--profile", help="AWS profile (default: the credential chain)")
    invoke.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per HTTP request (default: 30)"
    )
    token = invoke.add_mutually_exclusive_group()
    token.add_argument(
        "--scope",
        help="ask for these scopes (space-separated) instead of the client's; without the "
        "invoke scope the API answers 403 (default: the scopes in the client's secret)",
    )
    token.add_argument(
        "--no-token",
        action="store_true",
        help="send the API key without a bearer token; the API answers 401",
    )
    invoke.add_argument("--insecure-http-for-testing", action="store_true", help=argparse.SUPPRESS)
    invoke.set_defaults(run=_invoke)
    _add_detect_command(commands)
    _add_response_commands(commands)
    _add_smoke_command(commands)
    return parser


def _invoke(args: argparse.Namespace) -> int:
    body = _read_body(args.body)
    if args.insecure_http_for_testing:
        print("secure-endpoint: warning: plain http allowed on loopback (testing)", file=sys.stderr)
    credentials = _credentials(args.secret_id, args.region, args.profile)
    try:
        client = InferenceClient(
            credentials,
            TokenCache(_cache_dir()),
            timeout=args.timeout,
            allow_insecure_http=args.insecure_http_for_testing,
            scope=args.scope,
        )
        response = client.invoke(body, authorize=not args.no_token)
    except (ValueError, TokenError) as error:
        raise _Failure(str(error)) from None
    except NetworkError as error:
        raise _Failure(str(error), EXIT_HTTP_ERROR) from None
    sys.stdout.buffer.write(response.body)
    sys.stdout.flush()
    status = f"HTTP {response.status}"
    if request_id := response.headers.get("x-amzn-requestid"):
        status += f" (request id {request_id})"
    print(status, file=sys.stderr)
    return EXIT_OK if response.ok else EXIT_HTTP_ERROR


def _read_body(source: str) -> bytes:
    name = "stdin" if source == "-" else f"body file {source!r}"
    try:
        body = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
        json.loads(body)
    except OSError as error:
        raise _Failure(f"cannot read {name}: {error.strerror or error}") from None
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise _Failure(f"{name} is not valid JSON: {error}") from None
    return body


def _credentials(secret_id: str, region: str | None, profile: str | None) -> ClientCredentials:
    import boto3
    import botocore.exceptions

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        secrets = session.client("secretsmanager")
        return ClientCredentials.from_secrets_manager(secrets, secret_id)
    except botocore.exceptions.ClientError as error:
        code, message = error.response["Error"].get("Code"), error.response["Error"].get("Message")
        if code == "ResourceNotFoundException":
            raise _Failure(f"secret {secret_id!r} not found in {session.region_name}") from None
        raise _Failure(f"cannot read secret {secret_id!r}: {code}: {message}") from None
    except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError):
        raise _Failure("no AWS credentials found: configure them or pass --profile") from None
    except botocore.exceptions.NoRegionError:
        raise _Failure("no AWS region: pass --region or set AWS_REGION") from None
    except botocore.exceptions.EndpointConnectionError as error:
        raise _Failure(str(error), EXIT_HTTP_ERROR) from None
    except botocore.exceptions.BotoCoreError as error:  # profile not found, expired SSO, ...
        raise _Failure(str(error)) from None
    except ValueError as error:  # the secret lacks a key or is not JSON
        raise _Failure(str(error)) from None


def _cache_dir() -> Path:
    """Where access tokens are cached: this library's per-user cache directory, the one that
    also holds the bundled Lambda code in ``lambda-deps/`` (``~/.cache/secure-endpoint`` on
    Linux, or under ``$XDG_CACHE_HOME``)."""
    return Path(platformdirs.user_cache_dir("secure-endpoint", appauthor=False))


# --- detect: access logs in, one decision per principal and window out ---------------------

_DETECT_EXIT = (
    "exit status: 0 when the detections were written; 2 on a usage error, an unreadable input "
    "or an unwritable --output (checked before any input is read); 3 when the logs, or a "
    "baseline given, hold no access-log record to use (empty, not JSON, JSON of another shape, "
    "or only duplicates): then no detection is written"
)


def _add_detect_command(commands: Any) -> None:
    detect = commands.add_parser(
        "detect",
        help="score access logs offline: one JSON line per principal and window",
        description="Replay access-log lines (the pinned format) through the anomaly detector. "
        "Each input is a file, plain or gzip (recognized by its first bytes, as CloudWatch "
        "Logs exports are), or - for standard input. Requests are de-duplicated by request id "
        "across every input (overlapping exports), the baseline read first. Lines that are not "
        "JSON, JSON lines of the wrong shape and duplicates are counted on stderr and skipped. "
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
        "--jobs", type=int, help="processes for large inputs (default: 2, or 1 on one core)"
    )
    detect.set_defaults(run=_detect)


def _detect(args: argparse.Namespace) -> int:
    try:
        from secure_endpoint.runtime.anomaly import detect as replay
    except ModuleNotFoundError as error:
        raise _Failure(
            f"detect needs the monitor extra ({error.name} is missing): "
            "pip install 'secure-endpoint[monitor]'"
        ) from None
    stdin = sys.stdin.buffer if "-" in map(str, [*args.logs, *(args.baseline or [])]) else None
    try:
        return replay.run(args, stdin=stdin)
    except replay.UsageError as error:
        raise _Failure(str(error), error.code) from None


# --- smoke: the answers a deployed stack gives, one check per line -------------------------


def _add_smoke_command(commands: Any) -> None:
    from secure_endpoint.cli.smoke import (
        DEFAULT_INVOKE_SCOPE,
        MAX_BURST_REQUESTS,
        MIN_BURST_REQUESTS,
    )

    smoke = commands.add_parser(
        "smoke",
        help="check a deployed stack answers 200, 401, 403, 400 and 429 where each is due",
        description="Call the deployed API as one of its clients, through the same code as "
        "invoke, and check one answer per line: 200 with a valid token and body, 401 without "
        "a token, 403 with a token lacking the invoke scope, 400 for a body the schema refuses, "
        "and 429 under a burst beyond the client's usage plan. The burst sends a few hundred "
        "requests: they count against the client's daily quota and the WAF's per-address rate "
        "rule, and the anomaly monitor may well report them.",
        epilog="exit status: 0 when no check failed (a check that cannot run says SKIP and "
        "why), 1 when one failed, 2 when the smoke test could not start (no credentials, no "
        "stack, no client): then nothing was sent",
    )
    smoke.add_argument("--stack", required=True, help="the deployed SecureEndpoint stack")
    smoke.add_argument("--client", help="the API client to call as (default: the only one)")
    smoke.add_argument(
        "--body",
        help="a JSON request the model accepts: a file, or - for stdin "
        "(default: [[0.0, 0.0, 0.0, 0.0]])",
    )
    smoke.add_argument(
        "--invoke-scope",
        default=DEFAULT_INVOKE_SCOPE,
        help=f"the scope the API requires (default: {DEFAULT_INVOKE_SCOPE})",
    )
    smoke.add_argument(
        "--burst-requests",
        type=int,
        help="requests sent at once for the 429 (default: 3 x the usage plan's burst, "
        f"{MIN_BURST_REQUESTS} to {MAX_BURST_REQUESTS})",
    )
    smoke.add_argument(
        "--burst-concurrency", type=int, default=32, help="connections at once (default: 32)"
    )
    smoke.add_argument("--region", help="the stack's region (default: from the AWS config)")
    smoke.add_argument("--profile", help="AWS profile (default: the credential chain)")
    smoke.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per HTTP request (default: 30)"
    )
    smoke.add_argument("--insecure-http-for-testing", action="store_true", help=argparse.SUPPRESS)
    smoke.set_defaults(run=_smoke)


def _smoke(args: argparse.Namespace) -> int:
    import boto3
    import botocore.exceptions

    from secure_endpoint.cli import smoke

    body = smoke.DEFAULT_BODY if args.body is None else _read_body(args.body)
    limits = {
        "--burst-requests": args.burst_requests,
        "--burst-concurrency": args.burst_concurrency,
    }
    for flag, value in limits.items():
        if value is not None and not 1 <= value <= 5000:
            raise _Failure(f"{flag} must be from 1 to 5000, got {value}")
    with _aws_errors("cannot tell who is calling (sts get-caller-identity)"):
        session = boto3.Session(profile_name=args.profile, region_name=args.region)
        try:
            who = str(session.client("sts").get_caller_identity()["Arn"])
        except (
            botocore.exceptions.NoCredentialsError,
            botocore.exceptions.PartialCredentialsError,
        ):
            raise _Failure(
                "no AWS credentials found: configure them (aws configure, aws sso login, or "
                "AWS_PROFILE) or pass --profile; nothing was sent"
            ) from None
    with _aws_errors(f"smoke test of stack {args.stack}"):
        try:
            name, plan = smoke.plan_from_stack(
                session,
                args.stack,
                client=args.client,
                invoke_scope=args.invoke_scope,
                body=body,
                custom_body=args.body is not None,
                burst_requests=args.burst_requests,
                burst_concurrency=args.burst_concurrency,
                timeout=args.timeout,
                allow_insecure_http=args.insecure_http_for_testing,
            )
        except smoke.SmokeError as error:
            raise _Failure(f"{error}; nothing was sent") from None
    print(f"smoke test of {args.stack} as client {name}, by {_short_source(who)}")
    print(f"calling {plan.credentials.api_url}")
    try:
        checks = smoke.run_checks(plan)
    except ValueError as error:  # a URL the client refuses (plain http, no host)
        raise _Failure(f"{error}; nothing was sent") from None
    for line in smoke.report_lines(checks):
        print(line)
    return smoke.exit_code(checks)


# --- response commands: block, unblock, blocked, revoke-client, rotate-client ---------------
#
# Each finds what it acts on in the stack's outputs (--stack), or in explicit flags, which win.
# Each is idempotent (doing it twice says so and exits 0) and leaves one JSON audit line on
# stderr: who (the STS caller ARN), what, and the result.

OUTPUT_TABLE = "AutoBlockTableName"
OUTPUT_IP_SETS = {4: "AutoBlockIpv4SetArn", 6: "AutoBlockIpv6SetArn"}
OUTPUT_ALLOWLIST = "AllowlistIpSetArns"  # a JSON array of IP set ARNs, [] without an allowlist
OUTPUT_CLIENTS = "ApiClients"  # JSON: {name: {"secretArn": ..., "apiKeyId": ..., "clientId": ...}}
_CLIENT_FLAGS = {"apiKeyId": "--api-key-id", "secretArn": "--secret-id"}

DEFAULT_TTL = "1h"
_TTL_PART = re.compile(r"(\d+)([smhd])")
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RESPONSE_EPILOG = (
    "exit status: 0 when done, or when it already was (said so on stdout), 1 when AWS refuses "
    "or fails, 2 on a usage, input, configuration or credential error. One JSON audit line "
    "(who, what, result) goes to stderr."
)
_ROTATION_IN_PROGRESS = re.compile(r"previous rotation|rotation .*(?:in progress|isn't complete)")


def _add_response_commands(commands: Any) -> None:
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--stack", help="the deployed stack, whose outputs name the resources below")
    where.add_argument("--region", help="the stack's region (default: from the AWS config)")
    where.add_argument("--profile", help="AWS profile (default: the credential chain)")
    lists = argparse.ArgumentParser(add_help=False, parents=[where])
    lists.add_argument("--table", help=f"auto-block table name (default: output {OUTPUT_TABLE})")
    for version, output in OUTPUT_IP_SETS.items():
        lists.add_argument(
            f"--ipv{version}-set-arn", help=f"auto-block IPv{version} IP set (default: {output})"
        )

    block = commands.add_parser(
        "block",
        parents=[lists],
        help="block an address in the WAF for a while",
        description="Block ADDRESS (an IP or a CIDR, at most /16 or /48 wide) in the WAF's "
        "auto-block list until the TTL ends. Blocking a blocked address keeps the later "
        "expiry. Addresses inside the allowlist are refused.",
        epilog=_RESPONSE_EPILOG,
    )
    block.add_argument("address", metavar="ADDRESS")
    block.add_argument(
        "--ttl",
        default=DEFAULT_TTL,
        help=f"how long: 90s, 30m, 1h30m, 2d; 1 minute to 30 days (default: {DEFAULT_TTL})",
    )
    block.add_argument("--reason", default="blocked by an operator", help="kept with the block")
    block.add_argument(
        "--allowlist-set-arn",
        action="append",
        help=f"an allowlist IP set, repeatable (default: output {OUTPUT_ALLOWLIST})",
    )
    block.add_argument(
        "--no-allowlist",
        action="store_true",
        help="the web ACL has no allowlist (needed without --stack or --allowlist-set-arn)",
    )
    block.set_defaults(run=_block)

    unblock = commands.add_parser(
        "unblock",
        parents=[lists],
        help="release an auto-blocked address now",
        epilog=_RESPONSE_EPILOG,
    )
    unblock.add_argument("address", metavar="ADDRESS")
    unblock.set_defaults(run=_unblock)

    blocked = commands.add_parser(
        "blocked",
        parents=[lists],
        help="list auto-blocked addresses with their expiry",
        epilog=_RESPONSE_EPILOG,
    )
    blocked.set_defaults(run=_blocked)

    clients = argparse.ArgumentParser(add_help=False, parents=[where])
    clients.add_argument(
        "name", metavar="NAME", help="the API client's name, or its Cognito client id"
    )
    clients.add_argument(
        "--secret-id", help=f"the client's secret (default: from output {OUTPUT_CLIENTS})"
    )
    revoke = commands.add_parser(
        "revoke-client",
        parents=[clients],
        help="disable a client's API key and rotate its secret now",
        description="Disable the client's API key (its requests get 403 at once) and start a "
        "rotation of its secret. The rotation keeps the previous Cognito client secret valid "
        "until the next one: run rotate-client again once this rotation has finished to retire "
        "it. Re-enable the key with: aws apigateway update-api-key --api-key ID "
        "--patch-operations op=replace,path=/enabled,value=true",
        epilog=_RESPONSE_EPILOG,
    )
    revoke.add_argument(
        "--api-key-id", help=f"the client's API key id (default: from output {OUTPUT_CLIENTS})"
    )
    revoke.set_defaults(run=_revoke_client)
    rotate = commands.add_parser(
        "rotate-client",
        parents=[clients],
        help="rotate a client's secret now",
        epilog=_RESPONSE_EPILOG,
    )
    rotate.set_defaults(run=_rotate_client)


def _block(args: argparse.Namespace) -> int:
    from secure_endpoint.runtime.blocklist import BlockRequest

    ttl = _parse_ttl(args.ttl)
    try:
        network = str(BlockRequest(args.address, ttl, args.reason).network)
    except ValueError as error:
        raise _Failure(str(error)) from None
    with _Operation(args, "block", network) as operation:
        block_list = operation.block_list(with_allowlist=True)
        request = BlockRequest(network, ttl, args.reason, source=operation.who)
        result = block_list.block([request])
        if result.refused:
            operation.result("refused", reason="inside the allowlist")
            raise _Failure(f"refusing to block {network}: it overlaps the allowlist")
        entry = (result.blocked or result.extended or result.unchanged)[0]
        until = _when(entry.expires_at)
        if result.blocked:
            print(f"blocked {network} until {until} ({args.ttl})")
            operation.result("blocked", expiresAt=entry.expires_at, reason=args.reason)
        elif result.extended:
            print(f"{network} was already blocked; now blocked until {until}")
            operation.result("extended", expiresAt=entry.expires_at)
        else:
            print(f"{network} is already blocked until {until}; nothing changed")
            operation.result("already-blocked", expiresAt=entry.expires_at)
        if result.repaired:
            print(f"{network} was recorded but missing from the WAF IP set; added it")
    return EXIT_OK


def _unblock(args: argparse.Namespace) -> int:
    from secure_endpoint.runtime.waf_ip_sets import parse_address

    try:
        network = str(parse_address(args.address))
    except ValueError as error:
        raise _Failure(str(error)) from None
    with _Operation(args, "unblock", network) as operation:
        result = operation.block_list().unblock([network])
        if result.unblocked:
            print(f"unblocked {network}")
            operation.result("unblocked")
        else:
            print(f"{network} was not blocked; nothing changed")
            operation.result("not-blocked")
    return EXIT_OK


def _blocked(args: argparse.Namespace) -> int:
    with _Operation(args, "blocked", "auto-block list") as operation:
        block_list = operation.block_list()
        now = time.time()
        entries = block_list.blocked(now)
        drift = block_list.drift(now)
        operation.result("listed", count=len(entries))
    if not entries:
        print("no address is auto-blocked")
    else:
        rows = [("ADDRESS", "EXPIRES IN", "REASON", "SOURCE")]
        rows += [
            (e.address, _duration(e.expires_in(now)), e.reason, _short_source(e.source))
            for e in entries
        ]
        widths = [max(len(row[column]) for row in rows) for column in range(3)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)]
            print("  ".join([*cells, row[3]]))
    notes = (
        (drift.missing, "recorded but not in the WAF IP set yet (the next run or block adds it)"),
        (drift.stale, "expired but still in the WAF IP set (the next run removes it)"),
        (drift.untracked, "in the WAF IP set without a record, never expiring (unblock removes)"),
    )
    for addresses, note in notes:
        if addresses:
            print(f"{note}: {', '.join(sorted(addresses))}")
    return EXIT_OK


def _revoke_client(args: argparse.Namespace) -> int:
    import botocore.exceptions

    with _Operation(args, "revoke-client", args.name) as operation:
        name, found = operation.client(
            args.name, {"apiKeyId": args.api_key_id, "secretArn": args.secret_id}
        )
        key_id, secret_id = found["apiKeyId"], found["secretArn"]
        apigateway = operation.session.client("apigateway")
        try:
            enabled = apigateway.get_api_key(apiKey=key_id)["enabled"]
        except botocore.exceptions.ClientError as error:
            if error.response["Error"].get("Code") == "NotFoundException":
                operation.result("failed", error="API key not found")
                raise _Failure(f"API key {key_id!r} of client {name!r} not found") from None
            raise
        if enabled:
            apigateway.update_api_key(
                apiKey=key_id,
                patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}],
            )
            print(f"disabled the API key {key_id} of client {name}: its requests get 403")
        else:
            print(f"the API key {key_id} of client {name} was already disabled")
        rotation = _rotate(operation.session, secret_id, name)
        operation.result(
            "revoked", apiKey=key_id, keyWasEnabled=bool(enabled), secret=secret_id, **rotation
        )
        print(
            "the previous client secret stays valid in Cognito until the next rotation: run "
            f"rotate-client {name} once this one has finished to retire it"
        )
    return EXIT_OK


def _rotate_client(args: argparse.Namespace) -> int:
    with _Operation(args, "rotate-client", args.name) as operation:
        name, found = operation.client(args.name, {"secretArn": args.secret_id})
        secret_id = found["secretArn"]
        rotation = _rotate(operation.session, secret_id, name)
        operation.result("rotating", secret=secret_id, **rotation)
    return EXIT_OK


def _rotate(session: Any, secret_id: str, name: str) -> dict[str, str]:
    """Start a rotation of ``secret_id`` now; one already under way is left to finish."""
    import botocore.exceptions

    secrets = session.client("secretsmanager")
    try:
        version = secrets.rotate_secret(SecretId=secret_id, RotateImmediately=True)["VersionId"]
    except botocore.exceptions.ClientError as error:
        code, message = error.response["Error"].get("Code"), error.response["Error"].get("Message")
        if code == "ResourceNotFoundException":
            raise _Failure(f"secret {secret_id!r} of client {name!r} not found") from None
        if code == "InvalidRequestException" and _ROTATION_IN_PROGRESS.search(str(message)):
            print(f"a rotation of the secret of client {name} is already under way")
            return {"rotation": "already-in-progress"}
        raise
    print(f"started rotating the secret of client {name} (new version {version})")
    return {"rotation": "started", "version": str(version)}


class _Operation:
    """One response command: its AWS session, its audit line, what the stack outputs say, and
    AWS errors turned into one-line failures."""

    def __init__(self, args: argparse.Namespace, command: str, target: str) -> None:
        self.args = args
        self.command = command
        self.target = target
        self.who = ""
        self._outputs: dict[str, str] | None = None
        self._logged = False

    def __enter__(self) -> _Operation:
        import boto3

        with _aws_errors("cannot tell who is calling (sts get-caller-identity)"):
            self.session = boto3.Session(
                profile_name=self.args.profile, region_name=self.args.region
            )
            self.who = str(self.session.client("sts").get_caller_identity()["Arn"])
        return self

    def __exit__(self, kind: Any, error: BaseException | None, _: Any) -> None:
        if error is None:
            return
        failure = _as_failure(error, f"{self.command} {self.target}")
        if failure is None:
            return  # unexpected: raised as it is
        if not self._logged:
            self.result("failed", error=str(failure))
        if failure is not error:
            raise failure from None

    def result(self, result: str, **detail: Any) -> None:
        """Write the audit line: who did what to which target, and how it ended."""
        self._logged = True
        line = {
            "time": _when(time.time()),
            "who": self.who,
            "command": self.command,
            "target": self.target,
            "result": result,
            **({"stack": self.args.stack} if self.args.stack else {}),
            **detail,
        }
        print(json.dumps(line, sort_keys=False), file=sys.stderr)

    def output(self, key: str, flag: str) -> str:
        import botocore.exceptions

        if self.args.stack is None:
            raise _Failure(f"pass --stack STACK (which has the output {key}) or {flag}")
        if self._outputs is None:
            cloudformation = self.session.client("cloudformation")
            try:
                stacks = cloudformation.describe_stacks(StackName=self.args.stack)["Stacks"]
            except botocore.exceptions.ClientError as error:
                if "does not exist" in str(error.response["Error"].get("Message")):
                    raise _Failure(
                        f"stack {self.args.stack!r} not found in {self.session.region_name}"
                    ) from None
                raise
            self._outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        if key not in self._outputs:
            raise _Failure(
                f"stack {self.args.stack!r} has no output {key}: deploy a version of "
                f"secure-endpoint that writes it, or pass {flag}"
            )
        return self._outputs[key]

    def client(self, name: str, given: dict[str, str | None]) -> tuple[str, dict[str, str]]:
        """The client named ``name``, or whose Cognito client id is ``name`` (the monitor's alerts
        know clients by id): its name, and the ``given`` fields (``apiKeyId``, ``secretArn``),
        each from its option when given, else from the stack's output."""
        if all(given.values()):
            return name, {field: str(value) for field, value in given.items()}
        flags = " and ".join(_CLIENT_FLAGS[field] for field in given)
        clients = _json_output(self.output(OUTPUT_CLIENTS, flags), OUTPUT_CLIENTS, dict)
        if name not in clients:
            by_id = [
                known
                for known, entry in clients.items()
                if isinstance(entry, dict) and entry.get("clientId") == name
            ]
            if len(by_id) != 1:
                known = ", ".join(sorted(clients)) or "none"
                raise _Failure(
                    f"no client {name!r} in stack {self.args.stack!r} (its clients: {known}; "
                    "a client's Cognito client id names it too)"
                )
            print(f"client id {name} is client {by_id[0]}")
            name = by_id[0]
        entry = clients[name] if isinstance(clients[name], dict) else {}
        values = {}
        for field, value in given.items():
            value = value or entry.get(field)
            if not isinstance(value, str) or not value:
                raise _Failure(f"output {OUTPUT_CLIENTS} has no {field} for client {name!r}")
            values[field] = value
        return name, values

    def block_list(self, *, with_allowlist: bool = False) -> Any:
        from secure_endpoint.runtime.blocklist import BlockList, BlockTable, dynamodb_client
        from secure_endpoint.runtime.waf_ip_sets import IpSetRef, IpSetWriter

        table = self.args.table or self.output(OUTPUT_TABLE, "--table")
        arns = {
            version: getattr(self.args, f"ipv{version}_set_arn")
            or self.output(output, f"--ipv{version}-set-arn")
            for version, output in OUTPUT_IP_SETS.items()
        }
        allowlist = self._allowlist() if with_allowlist else []
        protected = [
            address for arn in allowlist for address in self._addresses(IpSetRef.from_arn(arn), arn)
        ]
        forbidden = [IpSetRef.from_arn(arn) for arn in allowlist]
        writers = {
            version: IpSetWriter(
                self._waf(arn),
                IpSetRef.from_arn(arn),
                protected_networks=protected,
                forbidden=forbidden,
            )
            for version, arn in arns.items()
        }
        return BlockList(
            BlockTable(dynamodb_client(self.session), table),
            writers,
            protected_networks=protected,
            max_per_run=1,
        )

    def _allowlist(self) -> list[str]:
        if self.args.allowlist_set_arn:
            return list(self.args.allowlist_set_arn)
        if self.args.no_allowlist:
            return []
        if self.args.stack is None:
            raise _Failure(
                "say which addresses must never be blocked: pass --stack STACK, "
                "--allowlist-set-arn ARN, or --no-allowlist"
            )
        arns = _json_output(
            self.output(OUTPUT_ALLOWLIST, "--allowlist-set-arn"), OUTPUT_ALLOWLIST, list
        )
        if not all(isinstance(arn, str) for arn in arns):
            raise _Failure(f"output {OUTPUT_ALLOWLIST} is not a JSON array of ARNs")
        return [str(arn) for arn in arns]

    def _addresses(self, ref: Any, arn: str) -> list[str]:
        response = self._waf(arn).get_ip_set(Name=ref.name, Scope=ref.scope, Id=ref.id)
        return [str(address) for address in response["IPSet"].get("Addresses", [])]

    def _waf(self, arn: str) -> Any:
        region = arn.split(":")[3] if arn.count(":") >= 5 else None
        return self.session.client("wafv2", region_name=region or self.session.region_name)


def _json_output(value: str, key: str, kind: type) -> Any:
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if not isinstance(parsed, kind):
        raise _Failure(f"output {key} is not a JSON {kind.__name__}: {value[:80]!r}")
    return parsed


@contextlib.contextmanager
def _aws_errors(what: str) -> Iterator[None]:
    try:
        yield
    except Exception as error:  # translated below, or raised as it is
        failure = _as_failure(error, what)
        if failure is None or failure is error:
            raise
        raise failure from None


def _as_failure(error: BaseException, what: str) -> _Failure | None:
    """``error`` as a one-line failure, or None when it is not an expected one."""
    import botocore.exceptions

    if isinstance(error, _Failure):
        return error
    if isinstance(error, botocore.exceptions.ClientError):
        code, message = error.response["Error"].get("Code"), error.response["Error"].get("Message")
        return _Failure(f"{what}: {code}: {message}", EXIT_HTTP_ERROR)
    if isinstance(
        error, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
    ):
        return _Failure("no AWS credentials found: configure them or pass --profile")
    if isinstance(error, botocore.exceptions.NoRegionError):
        return _Failure("no AWS region: pass --region or set AWS_REGION")
    if isinstance(error, botocore.exceptions.EndpointConnectionError):
        return _Failure(str(error), EXIT_HTTP_ERROR)
    if isinstance(error, botocore.exceptions.BotoCoreError):  # profile not found, expired SSO
        return _Failure(str(error))
    if isinstance(error, ValueError):  # a malformed ARN or table name in an output or flag
        return _Failure(str(error))
    return None


def _parse_ttl(text: str) -> timedelta:
    from secure_endpoint.runtime.blocklist import MAX_TTL, MIN_TTL

    parts = _TTL_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise _Failure(f"bad TTL {text!r}: expected a duration like 90s, 30m, 1h30m or 2d")
    ttl = timedelta(seconds=sum(int(n) * _TTL_UNITS[u] for n, u in parts))
    if not MIN_TTL <= ttl <= MAX_TTL:
        raise _Failure(f"bad TTL {text!r}: must be from 1 minute to 30 days")
    return ttl


def _duration(seconds: float) -> str:
    left = max(0, int(seconds))
    days, left = divmod(left, 86400)
    hours, left = divmod(left, 3600)
    minutes, secs = divmod(left, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s"


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _short_source(source: str) -> str:
    """An operator's ARN as its last part (``assumed-role/Admin/alice``); others as they are."""
    return source.rsplit(":", 1)[-1] if source.startswith("arn:") else source


if __name__ == "__main__":
    sys.exit(main())

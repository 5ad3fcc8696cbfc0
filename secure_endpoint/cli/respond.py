"""The response commands: ``block``, ``unblock``, ``blocked`` (the WAF's auto-block list, see
``secure_endpoint.runtime.blocklist``), ``revoke-client`` and ``rotate-client``.

Each finds what it acts on in the endpoint's manifest (``--stack``, and ``--endpoint`` when the
stack holds several endpoints), or in explicit flags, which win. Each is idempotent (doing it
twice says so and exits 0) and leaves one JSON audit line on stderr: who (the STS caller ARN),
what, and the result.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from secure_endpoint.cli.failures import (
    EXIT_OK,
    Failure,
    as_failure,
    aws_errors,
    short_source,
    when,
)
from secure_endpoint.cli.outputs import (
    Manifest,
    ManifestError,
    StackNotFound,
    endpoint_manifest,
)

_CLIENT_FLAGS = {"apiKeyId": "--api-key-id", "secretArn": "--secret-id"}
FROM_MANIFEST = "the endpoint's manifest"

DEFAULT_TTL = "1h"
_TTL_PART = re.compile(r"(\d+)([smhd])")
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
RESPONSE_EPILOG = (
    "exit status: 0 when done, or when it already was (said so on stdout), 1 when AWS refuses "
    "or fails, 2 on a usage, input, configuration or credential error. One JSON audit line "
    "(who, what, result) goes to stderr."
)
_ROTATION_IN_PROGRESS = re.compile(r"previous rotation|rotation .*(?:in progress|isn't complete)")


def where_options() -> argparse.ArgumentParser:
    """The options every response command takes to find the endpoint it acts on."""
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--stack", help="the deployed stack, whose endpoint manifest names the resources below"
    )
    where.add_argument(
        "--endpoint",
        metavar="NAME",
        help="the endpoint, when the stack holds several (its construct path in the stack, or "
        "its id; default: the stack's only one)",
    )
    where.add_argument("--region", help="the stack's region (default: from the AWS config)")
    where.add_argument("--profile", help="AWS profile (default: the credential chain)")
    return where


def add_response_commands(commands: Any) -> None:
    where = where_options()
    lists = argparse.ArgumentParser(add_help=False, parents=[where])
    lists.add_argument("--table", help=f"auto-block table name (default: {FROM_MANIFEST})")
    for version in (4, 6):
        lists.add_argument(
            f"--ipv{version}-set-arn",
            help=f"auto-block IPv{version} IP set (default: {FROM_MANIFEST})",
        )

    block = commands.add_parser(
        "block",
        parents=[lists],
        help="block an address in the WAF for a while",
        description="Block ADDRESS (an IP or a CIDR, at most /16 or /48 wide) in the WAF's "
        "auto-block list until the TTL ends. Blocking a blocked address keeps the later "
        "expiry. Addresses inside the allowlist are refused.",
        epilog=RESPONSE_EPILOG,
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
        help=f"an allowlist IP set, repeatable (default: {FROM_MANIFEST})",
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
        epilog=RESPONSE_EPILOG,
    )
    unblock.add_argument("address", metavar="ADDRESS")
    unblock.set_defaults(run=_unblock)

    blocked = commands.add_parser(
        "blocked",
        parents=[lists],
        help="list auto-blocked addresses with their expiry",
        epilog=RESPONSE_EPILOG,
    )
    blocked.set_defaults(run=_blocked)

    clients = argparse.ArgumentParser(add_help=False, parents=[where])
    clients.add_argument(
        "name", metavar="NAME", help="the API client's name, or its Cognito client id"
    )
    clients.add_argument("--secret-id", help=f"the client's secret (default: from {FROM_MANIFEST})")
    revoke = commands.add_parser(
        "revoke-client",
        parents=[clients],
        help="disable a client's API key and rotate its secret now",
        description="Disable the client's API key (its requests get 403 at once) and start a "
        "rotation of its secret. The rotation keeps the previous Cognito client secret valid "
        "until the next one: run rotate-client again once this rotation has finished to retire "
        "it. Re-enable the key with: aws apigateway update-api-key --api-key ID "
        "--patch-operations op=replace,path=/enabled,value=true",
        epilog=RESPONSE_EPILOG,
    )
    revoke.add_argument(
        "--api-key-id", help=f"the client's API key id (default: from {FROM_MANIFEST})"
    )
    revoke.set_defaults(run=_revoke_client)
    rotate = commands.add_parser(
        "rotate-client",
        parents=[clients],
        help="rotate a client's secret now",
        epilog=RESPONSE_EPILOG,
    )
    rotate.set_defaults(run=_rotate_client)


def _block(args: argparse.Namespace) -> int:
    from secure_endpoint.runtime.blocklist import BlockRequest

    ttl = parse_ttl(args.ttl)
    try:
        network = str(BlockRequest(args.address, ttl, args.reason).network)
    except ValueError as error:
        raise Failure(str(error)) from None
    with Operation(args, "block", network) as operation:
        block_list = operation.block_list(with_allowlist=True)
        request = BlockRequest(network, ttl, args.reason, source=operation.who)
        result = block_list.block([request])
        if result.refused:
            operation.result("refused", reason="inside the allowlist")
            raise Failure(f"refusing to block {network}: it overlaps the allowlist")
        entry = (result.blocked or result.extended or result.unchanged)[0]
        until = when(entry.expires_at)
        if result.blocked:
            said = f"blocked {network} until {until} ({args.ttl})"
            operation.done("blocked", said, expiresAt=entry.expires_at, reason=args.reason)
        elif result.extended:
            said = f"{network} was already blocked; now blocked until {until}"
            operation.done("extended", said, expiresAt=entry.expires_at)
        else:
            said = f"{network} is already blocked until {until}; nothing changed"
            operation.done("already-blocked", said, expiresAt=entry.expires_at)
        if result.repaired:
            print(f"{network} was recorded but missing from the WAF IP set; added it")
    return EXIT_OK


def _unblock(args: argparse.Namespace) -> int:
    from secure_endpoint.runtime.waf_ip_sets import parse_address

    try:
        network = str(parse_address(args.address))
    except ValueError as error:
        raise Failure(str(error)) from None
    with Operation(args, "unblock", network) as operation:
        result = operation.block_list().unblock([network])
        if result.unblocked:
            operation.done("unblocked", f"unblocked {network}")
        else:
            operation.done("not-blocked", f"{network} was not blocked; nothing changed")
    return EXIT_OK


def _blocked(args: argparse.Namespace) -> int:
    with Operation(args, "blocked", "auto-block list") as operation:
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
            (e.address, duration(e.expires_in(now)), e.reason, short_source(e.source))
            for e in entries
        ]
        print_table(rows)
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

    from secure_endpoint.runtime.quarantine import revoked

    with Operation(args, "revoke-client", args.name) as operation:
        name, found = operation.client(
            args.name, {"apiKeyId": args.api_key_id, "secretArn": args.secret_id}
        )
        key_id, secret_id = found["apiKeyId"], found["secretArn"]
        apigateway = operation.session.client("apigateway")
        try:
            key = apigateway.get_api_key(apiKey=key_id)
        except botocore.exceptions.ClientError as error:
            if error.response["Error"].get("Code") == "NotFoundException":
                operation.result("failed", error="API key not found")
                raise Failure(f"API key {key_id!r} of client {name!r} not found") from None
            raise
        enabled = key["enabled"]
        # A quarantine that disabled the key would enable it on release: no longer.
        kept = revoked(str(key.get("description") or ""))
        operations = [{"op": "replace", "path": "/enabled", "value": "false"}] if enabled else []
        operations += [{"op": "replace", "path": "/description", "value": kept}] if kept else []
        if operations:
            apigateway.update_api_key(apiKey=key_id, patchOperations=operations)
        if enabled:
            print(f"disabled the API key {key_id} of client {name}: its requests get 403")
        else:
            print(f"the API key {key_id} of client {name} was already disabled")
        if kept:
            print(f"the quarantine of client {name} will leave its key disabled when it ends")
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
    with Operation(args, "rotate-client", args.name) as operation:
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
            raise Failure(f"secret {secret_id!r} of client {name!r} not found") from None
        if code == "InvalidRequestException" and _ROTATION_IN_PROGRESS.search(str(message)):
            print(f"a rotation of the secret of client {name} is already under way")
            return {"rotation": "already-in-progress"}
        raise
    print(f"started rotating the secret of client {name} (new version {version})")
    return {"rotation": "started", "version": str(version)}


class Operation:
    """One response command: its AWS session, its audit line, what the manifest says, and
    AWS errors turned into one-line failures (the quarantine commands use it too)."""

    def __init__(self, args: argparse.Namespace, command: str, target: str) -> None:
        self.args = args
        self.command = command
        self.target = target
        self.who = ""
        self._manifest: Manifest | None = None
        self._logged = False

    def __enter__(self) -> Operation:
        import boto3

        with aws_errors("cannot tell who is calling (sts get-caller-identity)"):
            self.session = boto3.Session(
                profile_name=self.args.profile, region_name=self.args.region
            )
            self.who = str(self.session.client("sts").get_caller_identity()["Arn"])
        return self

    def __exit__(self, kind: Any, error: BaseException | None, _: Any) -> None:
        if error is None:
            return
        failure = as_failure(error, f"{self.command} {self.target}")
        if failure is None:
            return  # unexpected: raised as it is
        if not self._logged:
            self.result("failed", error=str(failure))
        if failure is not error:
            raise failure from None

    def done(self, result: str, said: str, **detail: Any) -> None:
        """Tell the operator what happened (stdout) and write the audit line."""
        print(said)
        self.result(result, **detail)

    def result(self, result: str, **detail: Any) -> None:
        """Write the audit line: who did what to which target, and how it ended."""
        self._logged = True
        line = {
            "time": when(time.time()),
            "who": self.who,
            "command": self.command,
            "target": self.target,
            "result": result,
            **({"stack": self.args.stack} if self.args.stack else {}),
            **({"endpoint": self._manifest.name} if self._manifest is not None else {}),
            **detail,
        }
        print(json.dumps(line, sort_keys=False), file=sys.stderr)

    def manifest(self, flag: str) -> Manifest:
        """The manifest of the endpoint ``--stack`` (and ``--endpoint``) name; ``flag`` is what
        to pass instead."""
        if self.args.stack is None:
            raise Failure(f"pass --stack STACK (whose endpoint manifest names it) or {flag}")
        if self._manifest is None:
            try:
                self._manifest = endpoint_manifest(
                    self.session, self.args.stack, getattr(self.args, "endpoint", None)
                )
            except StackNotFound as error:
                raise Failure(str(error)) from None
            except ManifestError as error:
                raise Failure(f"{error}; or pass {flag}") from None
        return self._manifest

    def client(self, name: str, given: dict[str, str | None]) -> tuple[str, dict[str, str]]:
        """The client named ``name``, or whose Cognito client id is ``name`` (the monitor's alerts
        know clients by id): its name, and the ``given`` fields (``apiKeyId``, ``secretArn``),
        each from its option when given, else from the endpoint's manifest."""
        if all(given.values()):
            return name, {field: str(value) for field, value in given.items()}
        flags = " and ".join(_CLIENT_FLAGS[field] for field in given)
        found = self.manifest(flags)
        clients = {known: entry.as_json() for known, entry in found.clients.items()}
        if name not in clients:
            by_id = [known for known, entry in clients.items() if entry["clientId"] == name]
            if len(by_id) != 1:
                known = ", ".join(sorted(clients)) or "none"
                raise Failure(
                    f"no client {name!r} in endpoint {found.name!r} of stack {self.args.stack!r} "
                    f"(its clients: {known}; a client's Cognito client id names it too)"
                )
            print(f"client id {name} is client {by_id[0]}")
            name = by_id[0]
        return name, {field: value or clients[name][field] for field, value in given.items()}

    def block_list(self, *, with_allowlist: bool = False) -> Any:
        from secure_endpoint.runtime.blocklist import BlockList, BlockTable, dynamodb_client
        from secure_endpoint.runtime.waf_ip_sets import IpSetRef, IpSetWriter

        table = self.args.table or self.manifest("--table").auto_block_table
        arns = {
            version: getattr(self.args, f"ipv{version}_set_arn")
            or self._ip_set(version, f"--ipv{version}-set-arn")
            for version in (4, 6)
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
            raise Failure(
                "say which addresses must never be blocked: pass --stack STACK, "
                "--allowlist-set-arn ARN, or --no-allowlist"
            )
        return list(self.manifest("--allowlist-set-arn").allowlist)

    def _ip_set(self, version: int, flag: str) -> str:
        found = self.manifest(flag)
        if version not in found.ip_sets:
            raise Failure(
                f"endpoint {found.name!r} of stack {self.args.stack!r} has no auto-block "
                f"IPv{version} IP set (a web ACL of your own: web_acl=...); pass {flag}"
            )
        return found.ip_sets[version]

    def _addresses(self, ref: Any, arn: str) -> list[str]:
        response = self._waf(arn).get_ip_set(Name=ref.name, Scope=ref.scope, Id=ref.id)
        return [str(address) for address in response["IPSet"].get("Addresses", [])]

    def _waf(self, arn: str) -> Any:
        region = arn.split(":")[3] if arn.count(":") >= 5 else None
        return self.session.client("wafv2", region_name=region or self.session.region_name)


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """``rows`` (a header first) in aligned columns, the last one unpadded."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        print("  ".join([*cells, row[-1]]))


def parse_ttl(text: str) -> timedelta:
    """A ``--ttl`` of 1 minute to 30 days (the auto-block's and the quarantine's range)."""
    from secure_endpoint.runtime.blocklist import MAX_TTL, MIN_TTL

    parts = _TTL_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise Failure(f"bad TTL {text!r}: expected a duration like 90s, 30m, 1h30m or 2d")
    ttl = timedelta(seconds=sum(int(n) * _TTL_UNITS[u] for n, u in parts))
    if not MIN_TTL <= ttl <= MAX_TTL:
        raise Failure(f"bad TTL {text!r}: must be from 1 minute to 30 days")
    return ttl


def duration(seconds: float) -> str:
    left = max(0, int(seconds))
    days, left = divmod(left, 86400)
    hours, left = divmod(left, 3600)
    minutes, secs = divmod(left, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s"

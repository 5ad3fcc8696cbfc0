"""The quarantine commands: ``quarantine``, ``release``, ``quarantined``
(``secure_endpoint.runtime.quarantine``).

``quarantine CLIENT`` moves the client's API key from its usage plan(s) to the endpoint's
quarantine usage plan (a small rate and quota) until the TTL ends, or disables the key when told
to (``--disable-key``, or an endpoint without a quarantine plan); ``release CLIENT`` puts it back
in exactly the plans it came from (``release --expired``: every quarantine whose TTL has ended,
what the scheduled sweep does); ``quarantined`` lists them with their expiry. Clients on the
endpoint's ``never_quarantine`` list are refused. Like the other response commands they find what
they act on in the endpoint's manifest (``--stack``, ``--endpoint``) or in explicit flags, are
idempotent, and write one JSON audit line on stderr.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from secure_endpoint.cli.failures import EXIT_OK, Failure, short_source, when
from secure_endpoint.cli.respond import (
    FROM_MANIFEST,
    RESPONSE_EPILOG,
    Operation,
    duration,
    parse_ttl,
    print_table,
    where_options,
)

DEFAULT_TTL = "24h"


def add_quarantine_commands(commands: Any) -> None:
    where = where_options()
    one = argparse.ArgumentParser(add_help=False, parents=[where])
    one.add_argument(
        "--api-key-id", help=f"the client's API key id (default: from {FROM_MANIFEST})"
    )

    quarantine = commands.add_parser(
        "quarantine",
        parents=[one],
        help="move a client's API key to the quarantine usage plan for a while",
        description="Move the API key of CLIENT from its usage plan(s) to the endpoint's "
        "quarantine usage plan (a small rate and quota) until the TTL ends, then back to exactly "
        "the plans it was in. Quarantining a quarantined client keeps the later expiry. Clients "
        "on the endpoint's never_quarantine list are refused. Revoke an attacker with "
        "revoke-client instead.",
        epilog=RESPONSE_EPILOG,
    )
    quarantine.add_argument(
        "name", metavar="CLIENT", help="the API client's name, or its Cognito client id"
    )
    quarantine.add_argument(
        "--ttl",
        default=DEFAULT_TTL,
        help=f"how long: 90s, 30m, 1h30m, 2d; 1 minute to 30 days (default: {DEFAULT_TTL})",
    )
    quarantine.add_argument(
        "--reason", default="quarantined by an operator", help="kept with the quarantine"
    )
    plan = quarantine.add_mutually_exclusive_group()
    plan.add_argument(
        "--quarantine-plan-id",
        help=f"the quarantine usage plan (default: from {FROM_MANIFEST})",
    )
    plan.add_argument(
        "--disable-key",
        action="store_true",
        help="disable the client's API key instead (every request 403) until the TTL ends",
    )
    quarantine.set_defaults(run=_quarantine)

    release = commands.add_parser(
        "release",
        parents=[one],
        help="release a quarantined client now (or every expired quarantine)",
        description="Put the API key of CLIENT back in exactly the usage plans it was in "
        "before its quarantine (or enable it again, if the quarantine disabled it). With "
        "--expired, release every quarantine of the endpoint whose TTL has ended.",
        epilog=RESPONSE_EPILOG,
    )
    release.add_argument(
        "name", metavar="CLIENT", nargs="?", help="the API client's name, or its client id"
    )
    release.add_argument(
        "--expired", action="store_true", help="release every expired quarantine instead"
    )
    release.set_defaults(run=_release)

    listed = commands.add_parser(
        "quarantined",
        parents=[where],
        help="list quarantined clients with their expiry",
        epilog=RESPONSE_EPILOG,
    )
    listed.set_defaults(run=_quarantined)


def _quarantine(args: argparse.Namespace) -> int:
    from secure_endpoint.runtime.quarantine import QuarantineRequest

    ttl = parse_ttl(args.ttl)
    try:
        QuarantineRequest(args.name, ttl, args.reason)
    except ValueError as error:
        raise Failure(str(error)) from None
    with Operation(args, "quarantine", args.name) as operation:
        plan = _plan(operation, args)
        known, quarantine = _one(operation, args, plan)
        request = QuarantineRequest(known.name, ttl, args.reason, source=operation.who)
        result = quarantine.quarantine([request])
        if result.refused:
            operation.result("refused", reason="on the endpoint's never_quarantine list")
            raise Failure(
                f"refusing to quarantine {known.name}: it is on the endpoint's "
                "never_quarantine list"
            )
        entry = (result.quarantined or result.extended or result.unchanged)[0]
        record = entry.record
        until = when(record.until)
        detail = {"expiresAt": record.until, "mode": record.mode, "apiKey": known.api_key_id}
        if result.quarantined:
            where = (
                f"its API key is in the quarantine usage plan {record.plan} instead of "
                f"{', '.join(record.original_plans) or 'no plan'}"
                if record.mode == "plan"
                else "its API key is disabled"
            )
            operation.done(
                "quarantined",
                f"quarantined {known.name} until {until} ({args.ttl}): {where}",
                **detail,
                reason=args.reason,
                plans=list(record.original_plans),
            )
        elif result.extended:
            said = f"{known.name} was already quarantined; now quarantined until {until}"
            operation.done("extended", said, **detail)
        else:
            said = f"{known.name} is already quarantined until {until}; nothing changed"
            operation.done("already-quarantined", said, **detail)
        if result.repaired:
            print(f"{known.name}'s earlier quarantine had not finished moving its key; finished")
    return EXIT_OK


def _release(args: argparse.Namespace) -> int:
    if args.expired == (args.name is not None):
        raise Failure("pass CLIENT, or --expired (and no CLIENT)")
    if args.expired:
        return _release_expired(args)
    with Operation(args, "release", args.name) as operation:
        known, quarantine = _one(operation, args, None)
        result = quarantine.release([known.name])
        lost = result.lost_plans.get(known.name, ())
        if result.released:
            operation.done(
                "released",
                f"released {known.name}: its API key is back in its own usage plan(s)",
                apiKey=known.api_key_id,
                **({"lostPlans": list(lost)} if lost else {}),
            )
        else:
            operation.done("not-quarantined", f"{known.name} was not quarantined; nothing changed")
        if lost:
            print(
                f"could not put {known.name} back in usage plan(s) {', '.join(lost)} (deleted, "
                "or refusing the key): add its key to a plan by hand (aws apigateway "
                "create-usage-plan-key)"
            )
    return EXIT_OK


def _release_expired(args: argparse.Namespace) -> int:
    with Operation(args, "release", "expired quarantines") as operation:
        quarantine = _all(operation)
        result = quarantine.release_expired()
        names = ", ".join(result.released) or "none"
        operation.done(
            "released",
            f"released {len(result.released)} expired quarantine(s): {names}",
            clients=list(result.released),
            **({"lostPlans": dict(result.lost_plans)} if result.lost_plans else {}),
        )
    return EXIT_OK


def _quarantined(args: argparse.Namespace) -> int:
    with Operation(args, "quarantined", "quarantined clients") as operation:
        listing = _all(operation).quarantined()
        operation.result("listed", count=len(listing.active))
    now = time.time()
    if not listing.active:
        print("no client is quarantined")
    else:
        rows = [("CLIENT", "EXPIRES IN", "MODE", "REASON", "SOURCE")]
        rows += [
            (
                e.client.name,
                duration(e.record.expires_in(now)),
                e.record.mode,
                e.record.reason,
                short_source(e.record.source),
            )
            for e in listing.active
        ]
        print_table(rows)
    if listing.expired:
        names = ", ".join(e.client.name for e in listing.expired)
        print(f"expired, not released yet (the next sweep or release --expired does): {names}")
    if listing.untracked:
        print(
            "in the quarantine usage plan without a record (added by hand, never released "
            f"automatically): API keys {', '.join(listing.untracked)}"
        )
    return EXIT_OK


def _plan(operation: Operation, args: argparse.Namespace) -> str | None:
    """The quarantine plan to move keys to; None: disable keys instead."""
    if args.disable_key:
        return None
    if args.quarantine_plan_id:
        return str(args.quarantine_plan_id)
    flags = "--quarantine-plan-id ID, or --disable-key"
    found = operation.manifest(flags).quarantine_plan_id
    if found is None:
        raise Failure(
            f"endpoint {operation.manifest(flags).name!r} of stack {args.stack!r} has no "
            f"quarantine usage plan (QuarantinePlan): pass {flags} to disable the key instead"
        )
    return found


def _one(operation: Operation, args: argparse.Namespace, plan: str | None) -> tuple[Any, Any]:
    """The client ``args.name`` names, and a Quarantine over it alone."""
    from secure_endpoint.runtime.quarantine import ClientRef, Quarantine, apigateway_client

    name, found = operation.client(args.name, {"apiKeyId": args.api_key_id})
    client_id = ""
    never: tuple[str, ...] = ()
    if args.stack is not None:
        manifest = operation.manifest("--api-key-id")
        entry = manifest.clients.get(name)
        client_id = entry.client_id if entry is not None else ""
        never = manifest.never_quarantine
    known = ClientRef(name, client_id, found["apiKeyId"])
    quarantine = Quarantine(
        apigateway_client(operation.session),
        [known],
        quarantine_plan_id=plan,
        never_quarantine=never,
        max_per_run=1,
    )
    return known, quarantine


def _all(operation: Operation) -> Any:
    """A Quarantine over every client of the endpoint's manifest."""
    from secure_endpoint.runtime.quarantine import ClientRef, Quarantine, apigateway_client

    if operation.args.stack is None:
        raise Failure("pass --stack STACK: the endpoint's manifest names its clients")
    manifest = operation.manifest("--stack")
    clients = [
        ClientRef(name, entry.client_id, entry.api_key_id)
        for name, entry in sorted(manifest.clients.items())
    ]
    return Quarantine(
        apigateway_client(operation.session),
        clients,
        quarantine_plan_id=manifest.quarantine_plan_id,
        never_quarantine=manifest.never_quarantine,
        max_per_run=1,
    )

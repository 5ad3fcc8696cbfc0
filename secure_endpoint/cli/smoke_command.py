"""``secure-endpoint smoke``: the answers a deployed stack gives, one check per line
(the checks themselves are ``secure_endpoint.cli.smoke``)."""

from __future__ import annotations

import argparse
from typing import Any

from secure_endpoint.cli.failures import Failure, aws_errors, short_source
from secure_endpoint.cli.invoke import read_body


def add_smoke_command(commands: Any) -> None:
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
    smoke.add_argument(
        "--endpoint",
        metavar="NAME",
        help="the endpoint, when the stack holds several (default: the stack's only one)",
    )
    smoke.add_argument("--client", help="the API client to call as (default: the only one)")
    smoke.add_argument(
        "--body",
        help="a JSON request the model accepts: a file, or - for stdin "
        "(default: [[0.0, 0.0, 0.0, 0.0]])",
    )
    smoke.add_argument(
        "--invoke-scope",
        help="the scope the API requires (default: the one the endpoint's manifest names, "
        f"like {DEFAULT_INVOKE_SCOPE})",
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

    body = smoke.DEFAULT_BODY if args.body is None else read_body(args.body)
    limits = {
        "--burst-requests": args.burst_requests,
        "--burst-concurrency": args.burst_concurrency,
    }
    for flag, value in limits.items():
        if value is not None and not 1 <= value <= 5000:
            raise Failure(f"{flag} must be from 1 to 5000, got {value}")
    with aws_errors("cannot tell who is calling (sts get-caller-identity)"):
        session = boto3.Session(profile_name=args.profile, region_name=args.region)
        try:
            who = str(session.client("sts").get_caller_identity()["Arn"])
        except (
            botocore.exceptions.NoCredentialsError,
            botocore.exceptions.PartialCredentialsError,
        ):
            raise Failure(
                "no AWS credentials found: configure them (aws configure, aws sso login, or "
                "AWS_PROFILE) or pass --profile; nothing was sent"
            ) from None
    with aws_errors(f"smoke test of stack {args.stack}"):
        try:
            name, plan = smoke.plan_from_stack(
                session,
                args.stack,
                client=args.client,
                endpoint=args.endpoint,
                invoke_scope=args.invoke_scope,
                body=body,
                custom_body=args.body is not None,
                burst_requests=args.burst_requests,
                burst_concurrency=args.burst_concurrency,
                timeout=args.timeout,
                allow_insecure_http=args.insecure_http_for_testing,
            )
        except smoke.SmokeError as error:
            raise Failure(f"{error}; nothing was sent") from None
    print(f"smoke test of {args.stack} as client {name}, by {short_source(who)}")
    print(f"calling {plan.credentials.api_url}")
    try:
        checks = smoke.run_checks(plan)
    except ValueError as error:  # a URL the client refuses (plain http, no host)
        raise Failure(f"{error}; nothing was sent") from None
    for line in smoke.report_lines(checks):
        print(line)
    return smoke.exit_code(checks)

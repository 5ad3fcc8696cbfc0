"""``secure-endpoint invoke``: one JSON request to the predict method, as one API client."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import platformdirs

from secure_endpoint.cli.client import (
    ClientCredentials,
    InferenceClient,
    NetworkError,
    TokenCache,
    TokenError,
)
from secure_endpoint.cli.failures import EXIT_HTTP_ERROR, EXIT_OK, Failure


def add_invoke_command(commands: Any) -> None:
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


def _invoke(args: argparse.Namespace) -> int:
    body = read_body(args.body)
    if args.insecure_http_for_testing:
        print("secure-endpoint: warning: plain http allowed on loopback (testing)", file=sys.stderr)
    credentials = read_credentials(args.secret_id, args.region, args.profile)
    try:
        client = InferenceClient(
            credentials,
            TokenCache(token_cache_dir()),
            timeout=args.timeout,
            allow_insecure_http=args.insecure_http_for_testing,
            scope=args.scope,
        )
        response = client.invoke(body, authorize=not args.no_token)
    except (ValueError, TokenError) as error:
        raise Failure(str(error)) from None
    except NetworkError as error:
        raise Failure(str(error), EXIT_HTTP_ERROR) from None
    sys.stdout.buffer.write(response.body)
    sys.stdout.flush()
    status = f"HTTP {response.status}"
    if request_id := response.headers.get("x-amzn-requestid"):
        status += f" (request id {request_id})"
    print(status, file=sys.stderr)
    return EXIT_OK if response.ok else EXIT_HTTP_ERROR


def read_body(source: str) -> bytes:
    name = "stdin" if source == "-" else f"body file {source!r}"
    try:
        body = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
        json.loads(body)
    except OSError as error:
        raise Failure(f"cannot read {name}: {error.strerror or error}") from None
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise Failure(f"{name} is not valid JSON: {error}") from None
    return body


def read_credentials(secret_id: str, region: str | None, profile: str | None) -> ClientCredentials:
    import boto3
    import botocore.exceptions

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        secrets = session.client("secretsmanager")
        return ClientCredentials.from_secrets_manager(secrets, secret_id)
    except botocore.exceptions.ClientError as error:
        code, message = error.response["Error"].get("Code"), error.response["Error"].get("Message")
        if code == "ResourceNotFoundException":
            raise Failure(f"secret {secret_id!r} not found in {session.region_name}") from None
        raise Failure(f"cannot read secret {secret_id!r}: {code}: {message}") from None
    except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError):
        raise Failure("no AWS credentials found: configure them or pass --profile") from None
    except botocore.exceptions.NoRegionError:
        raise Failure("no AWS region: pass --region or set AWS_REGION") from None
    except botocore.exceptions.EndpointConnectionError as error:
        raise Failure(str(error), EXIT_HTTP_ERROR) from None
    except botocore.exceptions.BotoCoreError as error:  # profile not found, expired SSO, ...
        raise Failure(str(error)) from None
    except ValueError as error:  # the secret lacks a key or is not JSON
        raise Failure(str(error)) from None


def token_cache_dir() -> Path:
    """Where access tokens are cached: this library's per-user cache directory, the one that
    also holds the bundled Lambda code in ``lambda-deps/`` (``~/.cache/secure-endpoint`` on
    Linux, or under ``$XDG_CACHE_HOME``)."""
    return Path(platformdirs.user_cache_dir("secure-endpoint", appauthor=False))

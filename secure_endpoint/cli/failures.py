"""What every command shares: exit codes, the one-line failure, AWS errors turned into one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

EXIT_OK, EXIT_HTTP_ERROR, EXIT_USAGE = 0, 1, 2


class Failure(Exception):
    """A command's end, printed as one line (``secure-endpoint: error: ...``) with ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


@contextlib.contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """Turn the expected AWS and botocore errors inside into a ``Failure`` about ``what``."""
    try:
        yield
    except Exception as error:  # translated below, or raised as it is
        failure = as_failure(error, what)
        if failure is None or failure is error:
            raise
        raise failure from None


def as_failure(error: BaseException, what: str) -> Failure | None:
    """``error`` as a one-line failure, or None when it is not an expected one."""
    import botocore.exceptions

    if isinstance(error, Failure):
        return error
    if isinstance(error, botocore.exceptions.ClientError):
        code, message = error.response["Error"].get("Code"), error.response["Error"].get("Message")
        return Failure(f"{what}: {code}: {message}", EXIT_HTTP_ERROR)
    if isinstance(
        error, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
    ):
        return Failure("no AWS credentials found: configure them or pass --profile")
    if isinstance(error, botocore.exceptions.NoRegionError):
        return Failure("no AWS region: pass --region or set AWS_REGION")
    if isinstance(error, botocore.exceptions.EndpointConnectionError):
        return Failure(str(error), EXIT_HTTP_ERROR)
    if isinstance(error, botocore.exceptions.BotoCoreError):  # profile not found, expired SSO
        return Failure(str(error))
    if isinstance(error, ValueError):  # a malformed ARN or table name in a manifest or flag
        return Failure(str(error))
    return None


def when(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def short_source(source: str) -> str:
    """An operator's ARN as its last part (``assumed-role/Admin/alice``); others as they are."""
    return source.rsplit(":", 1)[-1] if source.startswith("arn:") else source

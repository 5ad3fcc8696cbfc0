"""Fake AWS credentials for tests: moto answers, and nothing can reach a real account."""

from __future__ import annotations

from dataclasses import dataclass

import pytest


def use_fake_credentials(monkeypatch: pytest.MonkeyPatch, region: str) -> None:
    """Fake credentials in ``region``, in the environment for the test's duration; no profile."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")


@dataclass(frozen=True)
class FakeLambdaContext:
    """What Powertools reads of a Lambda context, for calling a handler in a test."""

    function_name: str
    memory_limit_in_mb: int = 256
    region: str = "us-east-1"
    aws_request_id: str = "request-1"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:123456789012:function:{self.function_name}"

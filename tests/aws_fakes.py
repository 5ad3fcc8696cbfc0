"""Fake AWS credentials for tests: moto answers, and nothing can reach a real account."""

from __future__ import annotations

import pytest


def use_fake_credentials(monkeypatch: pytest.MonkeyPatch, region: str) -> None:
    """Fake credentials in ``region``, in the environment for the test's duration; no profile."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")

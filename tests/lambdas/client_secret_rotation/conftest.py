"""Fixtures for the client-secret rotation function: fake AWS credentials and moto."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_fakes import use_fake_credentials
from moto import mock_aws


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials in one region, so that nothing can reach a real account."""
    use_fake_credentials(monkeypatch, "us-east-1")


@pytest.fixture
def secretsmanager() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager")

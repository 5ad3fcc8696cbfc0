"""Fixtures for the threat intelligence feed function: feeds served from 127.0.0.1, WAF in moto."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_fakes import use_fake_credentials
from feed_server import FeedServer
from moto import mock_aws


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials in one region, so that nothing can reach a real account."""
    use_fake_credentials(monkeypatch, "us-east-1")


@pytest.fixture
def wafv2() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("wafv2")


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server

"""Fixtures for the artifact verifier: S3 and KMS in moto, fake credentials in one region."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_fakes import use_fake_credentials
from moto import mock_aws
from verifier_fixtures import BUCKET


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials in one region, so that nothing can reach a real account."""
    use_fake_credentials(monkeypatch, "us-east-1")


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


@pytest.fixture
def kms(s3: Any) -> Any:
    """KMS in the same moto account as ``s3``."""
    return boto3.client("kms")

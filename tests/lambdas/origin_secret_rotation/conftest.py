"""Fixtures for the origin secret rotation function: Secrets Manager, WAF and CloudFront in moto."""

from collections.abc import Iterator

import boto3
import pytest
from aws_fakes import use_fake_credentials
from moto import mock_aws
from origin_fixtures import (
    BODIES,
    ORIGINAL,
    RATE_RULE,
    REGION,
    SECRET,
    Aws,
    distribution_config,
    origin_rule,
)


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials in one region, so that nothing can reach a real account."""
    use_fake_credentials(monkeypatch, REGION)


@pytest.fixture
def aws() -> Iterator[Aws]:
    """The origin secret, the regional web ACL accepting it twice, the distribution sending it."""
    with mock_aws():
        secretsmanager = boto3.client("secretsmanager")
        wafv2 = boto3.client("wafv2")
        cloudfront = boto3.client("cloudfront")
        secretsmanager.create_secret(Name=SECRET, SecretString=ORIGINAL)
        summary = wafv2.create_web_acl(
            Name="regional",
            Scope="REGIONAL",
            DefaultAction={"Allow": {}},
            Rules=[origin_rule(ORIGINAL, ORIGINAL), RATE_RULE],
            VisibilityConfig={
                "SampledRequestsEnabled": True,
                "CloudWatchMetricsEnabled": True,
                "MetricName": "regional",
            },
            CustomResponseBodies=BODIES,
            Description="secure-endpoint regional web ACL",
        )["Summary"]
        distribution = cloudfront.create_distribution(
            DistributionConfig=distribution_config(ORIGINAL)
        )["Distribution"]
        yield Aws(
            secretsmanager,
            wafv2,
            cloudfront,
            summary["ARN"],
            summary["Id"],
            distribution["Id"],
        )

"""Test data of the origin secret rotation function, shaped as secure-endpoint builds it.

The regional web ACL's first rule blocks requests whose ``x-origin-verify`` header equals neither
of two values (``tests/test_shield.py`` checks the synthesized rule reads the same); the
distribution's one origin sends that header.
"""

from dataclasses import dataclass
from typing import Any

REGION = "eu-west-1"
RULE = "CloudFrontOriginOnly"
HEADER = "x-origin-verify"
ORIGINAL = "Original0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST"
SECRET = "origin-secret"


def origin_rule(first: str, second: str) -> dict[str, Any]:
    """The origin secret rule as ``WebAclProtection`` builds it (and GetWebACL returns it)."""
    accepted = [
        {
            "ByteMatchStatement": {
                "SearchString": value.encode(),
                "FieldToMatch": {"SingleHeader": {"Name": HEADER}},
                "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
                "PositionalConstraint": "EXACTLY",
            }
        }
        for value in (first, second)
    ]
    return {
        "Name": RULE,
        "Priority": 0,
        "Statement": {"NotStatement": {"Statement": {"OrStatement": {"Statements": accepted}}}},
        "Action": {
            "Block": {"CustomResponse": {"ResponseCode": 403, "CustomResponseBodyKey": "forbidden"}}
        },
        "VisibilityConfig": {
            "SampledRequestsEnabled": True,
            "CloudWatchMetricsEnabled": True,
            "MetricName": RULE,
        },
    }


RATE_RULE: dict[str, Any] = {
    "Name": "RateLimitPerApiKey",
    "Priority": 20,
    "Statement": {
        "RateBasedStatement": {
            "Limit": 3000,
            "EvaluationWindowSec": 300,
            "AggregateKeyType": "CUSTOM_KEYS",
            "CustomKeys": [
                {
                    "Header": {
                        "Name": "x-api-key",
                        "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
                    }
                }
            ],
        }
    },
    "Action": {
        "Block": {"CustomResponse": {"ResponseCode": 429, "CustomResponseBodyKey": "throttled"}}
    },
    "VisibilityConfig": {
        "SampledRequestsEnabled": True,
        "CloudWatchMetricsEnabled": True,
        "MetricName": "RateLimitPerApiKey",
    },
}

BODIES = {
    key: {"ContentType": "APPLICATION_JSON", "Content": f'{{"error":"{key}"}}'}
    for key in ("forbidden", "throttled")
}


def distribution_config(value: str, reference: str = "secure-endpoint") -> dict[str, Any]:
    """A distribution with one custom origin that sends the origin header."""
    return {
        "CallerReference": reference,
        "Comment": "secure-endpoint test distribution",
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "api",
                    "DomainName": f"abc123.execute-api.{REGION}.amazonaws.com",
                    "OriginPath": "/prod",
                    "CustomHeaders": {
                        "Quantity": 1,
                        "Items": [{"HeaderName": HEADER, "HeaderValue": value}],
                    },
                    "CustomOriginConfig": {
                        "HTTPPort": 80,
                        "HTTPSPort": 443,
                        "OriginProtocolPolicy": "https-only",
                        "OriginSslProtocols": {"Quantity": 1, "Items": ["TLSv1.2"]},
                    },
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "api",
            "ViewerProtocolPolicy": "https-only",
            "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
        },
    }


@dataclass
class Aws:
    """moto clients, and the web ACL and distribution secure-endpoint would have deployed."""

    secretsmanager: Any
    wafv2: Any
    cloudfront: Any
    web_acl_arn: str
    web_acl_id: str
    distribution_id: str

    def accepted(self) -> tuple[str, ...]:
        rules = self.wafv2.get_web_acl(Name="regional", Scope="REGIONAL", Id=self.web_acl_id)[
            "WebACL"
        ]["Rules"]
        (rule,) = (r for r in rules if r["Name"] == RULE)
        statements = rule["Statement"]["NotStatement"]["Statement"]["OrStatement"]["Statements"]
        return tuple(s["ByteMatchStatement"]["SearchString"].decode() for s in statements)

    def sent(self) -> str:
        config = self.cloudfront.get_distribution_config(Id=self.distribution_id)
        (origin,) = config["DistributionConfig"]["Origins"]["Items"]
        (header,) = origin["CustomHeaders"]["Items"]
        return str(header["HeaderValue"])

    def web_acl(self) -> dict[str, Any]:
        response = self.wafv2.get_web_acl(Name="regional", Scope="REGIONAL", Id=self.web_acl_id)
        return dict(response["WebACL"])

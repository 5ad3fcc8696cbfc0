"""The WAF and CloudFront adapters against moto, and against botocore's Stubber where moto
cannot tell (Secrets Manager's is shared: see ``tests/runtime/test_secret_rotation.py``).

moto 5.2.5 emulates what the rotation reads and writes: WAF web ACLs with their lock tokens (a
stale token raises WAFOptimisticLockException), CloudFront distributions and their origin
headers. It does not model three things, checked with botocore's ``Stubber`` (which validates
every request and response against the service model shipped with boto3): CloudFront's ETag
(moto accepts any IfMatch and never answers PreconditionFailed), a distribution still
``InProgress`` (moto reports ``Deployed``), and that UpdateWebACL receives every field
GetWebACL returned (moto keeps omitted fields, where WAF resets them).
"""

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from origin_fixtures import (
    BODIES,
    HEADER,
    ORIGINAL,
    RATE_RULE,
    RULE,
    Aws,
    distribution_config,
    origin_rule,
)
from origin_secret_rotation.adapters import DistributionConfig, WebAclRules, retry_lost_updates
from origin_secret_rotation.rotation import WebAclRef, sent_values, with_accepted_values

NEW = "N" * 64
WEB_ACL_ID = "0f0e0d0c-0b0a-4909-8807-060504030201"
REF = WebAclRef("regional", WEB_ACL_ID, "REGIONAL")


def error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


def web_acl_rules(aws: Aws, sleep: Any = None) -> WebAclRules:
    ref = WebAclRef("regional", aws.web_acl_id, "REGIONAL")
    return WebAclRules(aws.wafv2, ref, sleep=sleep or (lambda _: None))


# --- lost updates ------------------------------------------------------------------------------


def test_a_write_that_keeps_losing_the_race_raises_after_five_attempts() -> None:
    attempts: list[int] = []

    def always_stale() -> bool:
        attempts.append(1)
        raise error("WAFOptimisticLockException", "UpdateWebACL")

    delays: list[float] = []
    with pytest.raises(ClientError, match="WAFOptimisticLockException"):
        retry_lost_updates(always_stale, delays.append)
    assert len(attempts) == 5
    assert delays == [0.25, 0.5, 1.0, 2.0]


def test_errors_other_than_a_lost_update_are_raised_at_once() -> None:
    def denied() -> bool:
        raise error("AccessDeniedException", "UpdateWebACL")

    delays: list[float] = []
    with pytest.raises(ClientError, match="AccessDeniedException"):
        retry_lost_updates(denied, delays.append)
    assert delays == []


# --- WAF (moto) -------------------------------------------------------------------------------


def test_web_acl_rules_rewrites_the_origin_rule_and_keeps_the_rest(aws: Aws) -> None:
    rules = web_acl_rules(aws)

    written = rules.update_rules(
        lambda current: with_accepted_values(current, RULE, HEADER, (NEW, ORIGINAL))
    )

    assert written is True
    assert aws.accepted() == (NEW, ORIGINAL)
    web_acl = aws.web_acl()
    assert [rule["Name"] for rule in web_acl["Rules"]] == [RULE, RATE_RULE["Name"]]
    assert web_acl["CustomResponseBodies"] == BODIES
    assert web_acl["Description"] == "secure-endpoint regional web ACL"


def test_web_acl_rules_does_not_write_what_would_not_change(aws: Aws) -> None:
    lock_token = aws.wafv2.get_web_acl(Name="regional", Scope="REGIONAL", Id=aws.web_acl_id)[
        "LockToken"
    ]
    assert web_acl_rules(aws).update_rules(lambda current: current) is False
    assert web_acl_rules(aws).update_rules(lambda current: None) is False
    after = aws.wafv2.get_web_acl(Name="regional", Scope="REGIONAL", Id=aws.web_acl_id)
    assert after["LockToken"] == lock_token


def test_web_acl_rules_recomputes_from_a_fresh_read_when_another_writer_wins(aws: Aws) -> None:
    """Another writer changes the web ACL between our read and our write, once."""
    client = aws.wafv2
    real_get = client.get_web_acl
    raced: list[bool] = []

    def get_then_race(**params: Any) -> Any:
        response = real_get(**params)
        if not raced:
            raced.append(True)
            web_acl = response["WebACL"]
            client.update_web_acl(
                Name="regional",
                Scope="REGIONAL",
                Id=aws.web_acl_id,
                LockToken=response["LockToken"],
                DefaultAction=web_acl["DefaultAction"],
                VisibilityConfig=web_acl["VisibilityConfig"],
                CustomResponseBodies=web_acl["CustomResponseBodies"],
                Rules=[origin_rule(ORIGINAL, ORIGINAL)],  # the other writer dropped a rule
            )
        return response

    client.get_web_acl = get_then_race
    delays: list[float] = []
    rewrites: list[int] = []

    def rewrite(current: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rewrites.append(len(current))
        return with_accepted_values(current, RULE, HEADER, (NEW, ORIGINAL))

    assert web_acl_rules(aws, sleep=delays.append).update_rules(rewrite) is True
    assert delays == [0.25]
    assert rewrites == [2, 1]  # the second attempt saw the other writer's rules
    assert aws.accepted() == (NEW, ORIGINAL)
    assert [rule["Name"] for rule in aws.web_acl()["Rules"]] == [RULE]


def test_web_acl_rules_sends_back_every_field_that_update_takes() -> None:
    """WAF resets what UpdateWebACL omits: the request carries every field GetWebACL gave."""
    client = boto3.client("wafv2")
    web_acl = {
        "Name": "regional",
        "Id": WEB_ACL_ID,
        "ARN": f"arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/regional/{WEB_ACL_ID}",
        "DefaultAction": {"Allow": {}},
        "Description": "secure-endpoint regional web ACL",
        "Rules": [origin_rule(ORIGINAL, ORIGINAL), RATE_RULE],
        "VisibilityConfig": {
            "SampledRequestsEnabled": True,
            "CloudWatchMetricsEnabled": True,
            "MetricName": "regional",
        },
        "Capacity": 60,
        "CustomResponseBodies": BODIES,
        "AssociationConfig": {
            "RequestBody": {"API_GATEWAY": {"DefaultSizeInspectionLimit": "KB_64"}}
        },
        "TokenDomains": ["example.com"],
        "LabelNamespace": "awswaf:111122223333:webacl:regional:",
        "ManagedByFirewallManager": False,
    }
    with Stubber(client) as stub:
        get = {"Name": "regional", "Scope": "REGIONAL", "Id": WEB_ACL_ID}
        stub.add_response("get_web_acl", {"WebACL": web_acl, "LockToken": "lock-1"}, get)
        stub.add_response(
            "update_web_acl",
            {"NextLockToken": "lock-2"},
            {
                **get,
                "LockToken": "lock-1",
                "DefaultAction": web_acl["DefaultAction"],
                "Description": web_acl["Description"],
                "Rules": [origin_rule(NEW, ORIGINAL), RATE_RULE],
                "VisibilityConfig": web_acl["VisibilityConfig"],
                "CustomResponseBodies": BODIES,
                "AssociationConfig": web_acl["AssociationConfig"],
                "TokenDomains": ["example.com"],
            },
        )
        written = WebAclRules(client, REF, sleep=lambda _: None).update_rules(
            lambda current: with_accepted_values(current, RULE, HEADER, (NEW, ORIGINAL))
        )
        stub.assert_no_pending_responses()
    assert written is True


# --- CloudFront (moto and Stubber) ------------------------------------------------------------


def test_distribution_config_reads_and_switches_the_origin_header(aws: Aws) -> None:
    distribution = DistributionConfig(aws.cloudfront, aws.distribution_id)
    config, deployed = distribution.read()
    assert (sent_values(config, HEADER), deployed) == ([ORIGINAL], True)

    written = distribution.update(lambda current: _with_header(current, NEW))

    assert written is True
    assert aws.sent() == NEW
    assert distribution.update(lambda current: current) is False


def _with_header(config: dict[str, Any], value: str) -> dict[str, Any]:
    from origin_secret_rotation.rotation import with_sent_value

    return with_sent_value(config, HEADER, value)


def _stubbed_distribution(status: str, etag: str) -> dict[str, Any]:
    config = distribution_config(ORIGINAL)
    return {
        "Distribution": {
            "Id": "E2EXAMPLE",
            "ARN": "arn:aws:cloudfront::111122223333:distribution/E2EXAMPLE",
            "Status": status,
            "LastModifiedTime": "2026-01-01T00:00:00Z",
            "InProgressInvalidationBatches": 0,
            "DomainName": "d111111abcdef8.cloudfront.net",
            "DistributionConfig": config,
        },
        "ETag": etag,
    }


def test_distribution_config_reports_a_distribution_still_deploying() -> None:
    client = boto3.client("cloudfront")
    with Stubber(client) as stub:
        stub.add_response(
            "get_distribution", _stubbed_distribution("InProgress", "E1"), {"Id": "E2EXAMPLE"}
        )
        _, deployed = DistributionConfig(client, "E2EXAMPLE").read()
    assert deployed is False


def test_distribution_config_rereads_after_a_stale_etag() -> None:
    client = boto3.client("cloudfront")
    first, second = _stubbed_distribution("Deployed", "E1"), _stubbed_distribution("Deployed", "E2")
    new_config = _with_header(second["Distribution"]["DistributionConfig"], NEW)
    with Stubber(client) as stub:
        stub.add_response("get_distribution", first, {"Id": "E2EXAMPLE"})
        stub.add_client_error("update_distribution", "PreconditionFailed", http_status_code=412)
        stub.add_client_error("get_distribution", "Throttling", http_status_code=400)
        stub.add_response("get_distribution", second, {"Id": "E2EXAMPLE"})
        stub.add_response(
            "update_distribution",
            {**second},
            {"Id": "E2EXAMPLE", "IfMatch": "E2", "DistributionConfig": new_config},
        )
        delays: list[float] = []
        written = DistributionConfig(client, "E2EXAMPLE", sleep=delays.append).update(
            lambda current: _with_header(current, NEW)
        )
        stub.assert_no_pending_responses()
    assert written is True
    assert delays == [0.25, 0.25]  # the lost update, then the throttled read

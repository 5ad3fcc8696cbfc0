"""The quarantine responder against moto's API Gateway and SNS: a request from the payload
monitor moves the client's key to the quarantine plan and alerts; a bad request is dropped; a
protected client is refused; the schedule releases an expired quarantine."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from aws_fakes import use_fake_credentials
from drift_monitor import payload as pay
from moto import mock_aws
from quarantine_responder import handler
from quarantine_responder import requests as req
from quarantine_responder.handler import Config, ConfigError, build, respond

from secure_endpoint.runtime.payload.findings import Finding
from secure_endpoint.runtime.quarantine import Quarantine, read_record

REGION = "eu-west-1"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:requests"


@pytest.fixture
def aws(monkeypatch):
    use_fake_credentials(monkeypatch, REGION)
    with mock_aws():
        gateway = boto3.client("apigateway", region_name=REGION)
        api = gateway.create_rest_api(name="inference")["id"]
        stage = [{"apiId": api, "stage": "prod"}]
        clients, plans = {}, {}
        for i, name in enumerate(("partner", "qa")):
            key = gateway.create_api_key(name=name, description=f"secure-endpoint client {name}",
                                         enabled=True)["id"]  # fmt: skip
            plan = gateway.create_usage_plan(name=name, apiStages=stage)["id"]
            gateway.create_usage_plan_key(usagePlanId=plan, keyId=key, keyType="API_KEY")
            clients[f"{i}clientid{name}"] = {"name": name, "apiKeyId": key}
            plans[name] = plan
        throttle = {"rateLimit": 1, "burstLimit": 1}
        quarantine_plan = gateway.create_usage_plan(
            name="quarantine", apiStages=stage, throttle=throttle
        )["id"]
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        alerts = sns.create_topic(Name="alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]  # fmt: skip
        sns.subscribe(TopicArn=alerts, Protocol="sqs", Endpoint=queue_arn)
        cfg = Config.from_env({
            "API_KEY_CLIENTS": json.dumps(clients), "REQUEST_TOPIC_ARN": TOPIC,
            "ALERT_TOPIC_ARN": alerts, "NEVER_QUARANTINE": json.dumps(["qa"]),
            "MAX_PER_RUN": "3", "MAX_TTL_SECONDS": "86400",
            "QUARANTINE_PLAN_ID": quarantine_plan,
        })  # fmt: skip
        yield {"gateway": gateway, "cfg": cfg, "plans": plans, "quarantine_plan": quarantine_plan,
               "clients": clients, "sqs": sqs, "queue": queue, "sns": sns}  # fmt: skip
        handler.metrics.clear_metrics()


def request_record(client_id: str, *, ttl: int = 7200, topic: str = TOPIC, kind: str = "probing",
                   action: str = req.ACTION) -> dict[str, Any]:  # fmt: skip
    """The SNS record of what the drift monitor publishes (``payload.quarantines``)."""
    settings = pay.QuarantineSettings(topic_arn=TOPIC, ttl_seconds=ttl, max_per_run=3)
    finding = Finding(client_id, kind, 1_800_000_000.0, 23.5, 300, {"label_flips": 40})
    (message,) = pay.quarantines([finding], settings, "2026-12-07T12:00:00Z").requested.values()
    return {"EventSource": "aws:sns", "Sns": {
        "TopicArn": topic, "MessageId": f"m-{client_id}", "Message": message,
        "MessageAttributes": {"action": {"Type": "String", "Value": action},
                              "clientId": {"Type": "String", "Value": client_id}}}}  # fmt: skip


def forged_finding() -> dict[str, Any]:
    """A request whose finding is another client's."""
    record = request_record("0clientidpartner")
    body = json.loads(record["Sns"]["Message"])
    body["finding"]["client_id"] = "1clientidqa"
    record["Sns"]["Message"] = json.dumps(body)
    return record


def plans_of(aws, name: str) -> set[str]:
    key = next(c["apiKeyId"] for c in aws["clients"].values() if c["name"] == name)
    return {p["id"] for p in aws["gateway"].get_usage_plans(keyId=key)["items"]}


def alerts(aws) -> list[dict[str, Any]]:
    got = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10)
    return [json.loads(json.loads(m["Body"])["Message"]) for m in got.get("Messages", [])]


def test_a_request_moves_the_key_to_the_quarantine_plan_and_alerts(aws):
    q = build(aws["cfg"], aws["gateway"], aws["sns"])
    outcome = respond({"Records": [request_record("0clientidpartner")]}, aws["cfg"], q)
    assert outcome["quarantined"] == ["partner"]
    assert plans_of(aws, "partner") == {aws["quarantine_plan"]}
    key = aws["clients"]["0clientidpartner"]["apiKeyId"]
    record = read_record(aws["gateway"].get_api_key(apiKey=key)["description"])
    assert record is not None
    assert record.until - record.since == 7200
    assert record.source == "payload monitor"
    (alert,) = alerts(aws)
    assert alert["quarantined"]["client"] == "partner"
    assert alert["detail"]["kind"] == "probing"
    assert alert["detail"]["evidence"] == {"label_flips": 40}  # the finding's, as the monitor saw
    assert alert["source"] == "payload monitor"
    # the same request again (an SNS redelivery) quarantines nothing twice
    again = respond({"Records": [request_record("0clientidpartner")]}, aws["cfg"], q)
    assert again["quarantined"] == []
    assert plans_of(aws, "partner") == {aws["quarantine_plan"]}


def test_a_protected_client_is_refused_and_bad_requests_are_dropped(aws):
    q = build(aws["cfg"], aws["gateway"], aws["sns"])
    event = {"Records": [
        request_record("1clientidqa"),
        request_record("0clientidpartner", topic="arn:aws:sns:eu-west-1:123456789012:other"),
        request_record("0clientidpartner", ttl=30 * 86400),  # over the endpoint's TTL
        request_record("0clientidpartner", action="disable-api-key"),
        {"Sns": {"TopicArn": TOPIC, "Message": "not json",
                 "MessageAttributes": {"action": {"Value": req.ACTION}}}},
        request_record("nobody"),
        forged_finding(),
    ]}  # fmt: skip
    outcome = respond(event, aws["cfg"], q)
    assert outcome["refused"] == ["qa"]
    assert outcome["quarantined"] == []
    assert outcome["unknown"] == ["nobody"]
    assert sorted(outcome["dropped"]) == ["no-finding", "not-json", "other-action",
                                          "other-topic", "ttl-not-allowed"]  # fmt: skip
    assert plans_of(aws, "qa") == {aws["plans"]["qa"]}
    assert plans_of(aws, "partner") == {aws["plans"]["partner"]}


def test_the_schedule_releases_an_expired_quarantine(aws):
    clock = {"now": 1_800_000_000.0}

    def q() -> Quarantine:
        return Quarantine(aws["gateway"], aws["cfg"].clients,
                          quarantine_plan_id=aws["quarantine_plan"], never_quarantine=["qa"],
                          alerts=handler.AlertTopic(aws["sns"], aws["cfg"].alert_topic_arn),
                          clock=lambda: clock["now"])  # fmt: skip

    respond({"Records": [request_record("0clientidpartner", ttl=3600)]}, aws["cfg"], q())
    assert plans_of(aws, "partner") == {aws["quarantine_plan"]}
    scheduled = {"detail-type": "Scheduled Event", "source": "aws.events"}
    assert respond(scheduled, aws["cfg"], q())["released"] == []  # not yet
    clock["now"] += 3601
    assert respond(scheduled, aws["cfg"], q())["released"] == ["partner"]
    assert plans_of(aws, "partner") == {aws["plans"]["partner"]}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "API_KEY_CLIENTS is not set"),
        ({"API_KEY_CLIENTS": "{}", "REQUEST_TOPIC_ARN": TOPIC, "ALERT_TOPIC_ARN": TOPIC,
          "NEVER_QUARANTINE": '"qa"'}, "NEVER_QUARANTINE must be a JSON list"),
        ({"API_KEY_CLIENTS": "[", "REQUEST_TOPIC_ARN": TOPIC, "ALERT_TOPIC_ARN": TOPIC},
         "cannot be read"),
    ],
)  # fmt: skip
def test_an_incomplete_environment_names_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_env(env)

"""With ``disable_api_keys``, the monitor asks the responder to disable the API key of each
client whose action is ``block``: the real adapters in moto, the request topic subscribed by a
queue, each request read back by the responder's own parser (the contract between the two)."""

import json
from dataclasses import replace
from typing import Any

import pytest
from anomaly_monitor import findings as act
from anomaly_monitor.adapters import KeyRequestTopic
from anomaly_monitor.config import Config, ConfigError, Settings
from api_key_responder import messages
from api_key_responder.config import KnownClient
from test_monitor_handler import (
    ATTACKER,
    END,
    SETTINGS,
    START,
    WINDOW,
    Environment,
    access_line,
    flood,
    steady,
)

SPREADERS = {"delta": "203.0.113.4", "echo": "203.0.113.5"}
ON = replace(SETTINGS, disable_api_keys=True, daily_quota=400)


def spread(client: str, home: str, new_addresses: int = 6) -> list[tuple[int, str]]:
    """A client known for hours from one address, then seen from many new ones at once: a
    stolen secret (``address-spread``, a blocking rule)."""
    events = []
    for t in range(START * 1000 + 7_000, (END - WINDOW) * 1000, 60_000):
        events.append((t, access_line(t, home, client)))
    scored = (END - WINDOW) * 1000
    for i in range(new_addresses):
        for j in range(3):
            t = scored + 10_000 + i * 1000 + j * 100
            events.append((t, access_line(t, f"198.18.{ord(client[0])}.{i + 1}", client)))
    return events


class Requests:
    """The request topic, as the monitor sees it, with a queue standing in for the responder."""

    def __init__(self, env: Environment) -> None:
        sns, sqs = env.aws["sns"], env.aws["sqs"]
        self.topic = sns.create_topic(Name="key-requests")["TopicArn"]
        self.queue = sqs.create_queue(QueueName="responder")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
        self.sqs = sqs
        env.adapters = replace(env.adapters, key_requests=KeyRequestTopic(sns, self.topic))

    def received(self) -> list[dict[str, Any]]:
        """What SNS delivered, as the ``Sns`` part of a Lambda record (the same envelope)."""
        out = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return out
            out += [json.loads(m["Body"]) for m in batch]
            for m in batch:
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture
def env(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Environment:
    environment = Environment(aws, monkeypatch)
    environment.put(
        steady(START, END)
        + flood(END - WINDOW, ATTACKER)
        + spread("delta", SPREADERS["delta"])
        + spread("echo", SPREADERS["echo"])
    )
    return environment


def test_each_blocking_client_gets_one_request_and_alert_only_clients_none(
    env: Environment,
) -> None:
    requests = Requests(env)

    result = env.run(settings=ON)

    flagged = {f["principal"]: f for f in result["anomalous"] if f["kind"] == "client"}
    assert flagged["delta"]["action"] == flagged["echo"]["action"] == "block"
    alert_only = {name for name, f in flagged.items() if f["action"] == "alert"}
    assert alert_only >= {"alpha", "bravo", "charlie"}  # over the daily quota: alert only
    assert sorted(result["apiKeyDisableRequested"]) == ["delta", "echo"]
    received = requests.received()
    assert len(received) == 2
    known = {c: KnownClient(c, c, f"key-{c}") for c in ("alpha", "bravo", "delta", "echo")}
    parsed = [messages.parse({"Sns": envelope}, known, requests.topic) for envelope in received]
    assert all(isinstance(p, messages.DisableRequest) for p in parsed)
    assert sorted(p.client.client_id for p in parsed) == ["delta", "echo"]  # type: ignore[union-attr]
    assert {(p.window_start, p.window_end) for p in parsed} == {(END - WINDOW, END)}  # type: ignore[union-attr]
    assert all(any("address-spread" in r for r in p.reasons) for p in parsed)  # type: ignore[union-attr]
    (alert,) = env.alerts()
    assert sorted(alert["apiKeyDisableRequested"]) == ["delta", "echo"]
    assert any("op=replace,path=/enabled,value=true" in line for line in alert["next"])


def test_no_more_requests_than_the_cap_the_rest_named_in_the_alert(env: Environment) -> None:
    requests = Requests(env)

    result = env.run(settings=replace(ON, max_key_disables_per_run=1))

    assert len(result["apiKeyDisableRequested"]) == 1
    assert len(result["apiKeyDisableDeferred"]) == 1
    assert len(requests.received()) == 1
    (alert,) = env.alerts()
    assert alert["apiKeyDisableDeferred"] == result["apiKeyDisableDeferred"]


def test_without_the_option_no_request_is_published(env: Environment) -> None:
    requests = Requests(env)

    result = env.run(settings=replace(ON, disable_api_keys=False))

    assert result["apiKeyDisableRequested"] == []
    assert requests.received() == []
    (alert,) = env.alerts()
    assert "secure-endpoint revoke-client delta" in alert["next"]


def finding(principal: str, action: str, kind: str = "client", score: float = 0.9) -> act.Finding:
    return act.Finding(principal, kind, 1_000_200, score, action, ("rule:address-spread",))


def test_requests_go_to_blocking_clients_only_most_anomalous_first() -> None:
    anomalous = [
        finding("b1", "block", score=1.0),
        finding("192.0.2.1", "block", kind="address"),
        finding("b2", "block", score=0.8),
        finding("a1", "alert", score=0.99),
    ]
    keys = act.key_requests(anomalous, 300, limit=1)
    assert list(keys.messages) == ["b1"]
    assert keys.deferred == ("b2",)
    body = json.loads(keys.messages["b1"])
    assert body == {
        "version": 1,
        "action": "disable-api-key",
        "clientId": "b1",
        "windowStart": 1_000_200,
        "windowEnd": 1_000_500,
        "score": 1.0,
        "reasons": ["rule:address-spread"],
    }


def test_the_settings_refuse_disable_api_keys_without_auto_block() -> None:
    with pytest.raises(ConfigError, match="disable_api_keys needs auto_block"):
        Settings(disable_api_keys=True, auto_block=False)


def test_the_config_needs_the_request_topic_with_the_option() -> None:
    env = {
        "ACCESS_LOG_GROUP": "g",
        "STATE_BUCKET": "b",
        "ALERT_TOPIC_ARN": "t",
        "BLOCK_TABLE_NAME": "tbl",
        "AUTO_BLOCK_SET_ARNS": '{"4": "a", "6": "b"}',
        "MONITOR_SETTINGS": json.dumps({"auto_block": True, "disable_api_keys": True}),
    }
    with pytest.raises(ConfigError, match="API_KEY_REQUEST_TOPIC_ARN"):
        Config.from_env(env)
    parsed = Config.from_env(env | {"API_KEY_REQUEST_TOPIC_ARN": "arn:aws:sns:r:1:k"})
    assert parsed.api_key_request_topic_arn == "arn:aws:sns:r:1:k"

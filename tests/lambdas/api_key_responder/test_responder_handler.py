"""The responder end to end: the real adapters against moto's API Gateway and SNS, the handler
called with SNS-shaped events; it disables known clients' keys only, and never raises for
garbage."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from api_key_responder import handler as responder
from api_key_responder.adapters import AlertTopic, ApiKeys, Disabled
from api_key_responder.config import Config, ConfigError
from aws_fakes import FakeLambdaContext
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from responder_events import REQUEST_TOPIC, moto_clients, request, sns_event

PARTNER_A, PARTNER_B = "4ad7b0e1clientidpartnera", "9c1e55aaclientidpartnerb"


CONTEXT = FakeLambdaContext("api-key-responder")


class Environment:
    def __init__(self, aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
        self.aws = aws
        self.keys = {
            name: aws["apigateway"].create_api_key(name=name, enabled=True)["id"]
            for name in ("partner-a", "partner-b")
        }
        self.alert_topic = aws["sns"].create_topic(Name="alerts")["TopicArn"]
        self.queue = aws["sqs"].create_queue(QueueName="oncall")["QueueUrl"]
        queue_arn = aws["sqs"].get_queue_attributes(
            QueueUrl=self.queue, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        aws["sns"].subscribe(
            TopicArn=self.alert_topic,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        self.config = Config.from_env(
            {
                "API_KEY_CLIENTS": json.dumps(
                    {
                        PARTNER_A: {"name": "partner-a", "apiKeyId": self.keys["partner-a"]},
                        PARTNER_B: {"name": "partner-b", "apiKeyId": self.keys["partner-b"]},
                    }
                ),
                "REQUEST_TOPIC_ARN": REQUEST_TOPIC,
                "ALERT_TOPIC_ARN": self.alert_topic,
            }
        )
        self.adapters = responder.Adapters(
            ApiKeys(aws["apigateway"]), AlertTopic(aws["sns"], self.alert_topic)
        )
        monkeypatch.setattr(responder, "config", lambda: self.config)
        monkeypatch.setattr(responder, "adapters", lambda: self.adapters)

    def enabled(self, name: str) -> bool:
        return bool(self.aws["apigateway"].get_api_key(apiKey=self.keys[name])["enabled"])

    def alerts(self) -> list[dict[str, Any]]:
        messages = (
            self.aws["sqs"]
            .receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            .get("Messages", [])
        )
        return [json.loads(m["Body"]) for m in messages]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Environment]:
    with moto_clients(monkeypatch) as aws:
        yield Environment(aws, monkeypatch)


def value(metric: Any) -> float:
    return float(metric[0] if isinstance(metric, list) else metric)


def emf(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]


def audit(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The audit lines logged (Powertools' structured keys are the records' attributes)."""
    return [vars(r) for r in caplog.records if getattr(r, "audit", None) == "disable-api-key"]


def test_a_known_clients_key_is_disabled_audited_and_alerted(
    env: Environment, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    result = responder.handler(sns_event(request(PARTNER_A)), CONTEXT)

    assert result == {"disabled": ["partner-a"], "alreadyDisabled": [], "dropped": []}
    assert env.enabled("partner-a") is False
    assert env.enabled("partner-b") is True  # only the named client
    (alert,) = env.alerts()
    key_id = env.keys["partner-a"]
    assert alert["disabled"] == {"client": "partner-a", "clientId": PARTNER_A, "apiKeyId": key_id}
    assert alert["reenable"] == (
        f"aws apigateway update-api-key --api-key {key_id} "
        "--patch-operations op=replace,path=/enabled,value=true"
    )
    (line,) = audit(caplog)
    assert line["result"] == "disabled"
    assert line["apiKeyId"] == key_id
    assert line["windowEnd"] == 1_767_225_600
    (document,) = emf(capsys.readouterr().out)
    assert value(document["KeysDisabled"]) == 1
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SecureEndpoint/Anomaly"


def test_a_second_request_for_a_disabled_key_is_a_no_op(
    env: Environment, caplog: pytest.LogCaptureFixture
) -> None:
    responder.handler(sns_event(request(PARTNER_A)), CONTEXT)
    env.alerts()
    updates: list[dict[str, Any]] = []
    env.aws["apigateway"].meta.events.register(
        "before-call.apigateway.UpdateApiKey", lambda **kw: updates.append(kw)
    )

    result = responder.handler(sns_event(request(PARTNER_A)), CONTEXT)

    assert result == {"disabled": [], "alreadyDisabled": ["partner-a"], "dropped": []}
    assert updates == []  # not even a write of the same value
    assert env.enabled("partner-a") is False
    assert env.alerts() == []  # said once, when it happened
    assert audit(caplog)[-1]["result"] == "already-disabled"


class FlakyAlerts:
    """The alert topic, refusing its first ``failures`` publishes as SNS does in an outage (the
    error botocore raises once its own retries are spent)."""

    def __init__(self, real: AlertTopic, failures: int) -> None:
        self.real, self.failures, self.attempts = real, failures, 0

    def publish(self, subject: str, message: str) -> str:
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            raise ClientError(
                {"Error": {"Code": "InternalError", "Message": "try again"}}, "Publish"
            )
        return self.real.publish(subject, message)


def _count_disables(env: Environment) -> list[str]:
    """The key ids of every UpdateApiKey call that sets /enabled, from now on."""
    calls: list[str] = []

    def seen(params: dict[str, Any], **_: Any) -> None:
        if any(op["path"] == "/enabled" for op in params["patchOperations"]):
            calls.append(params["apiKey"])

    events = env.aws["apigateway"].meta.events
    events.register("provide-client-params.apigateway.UpdateApiKey", seen)
    return calls


def test_an_alert_that_failed_to_publish_is_sent_by_the_retry_without_disabling_again(
    env: Environment, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = FlakyAlerts(env.adapters.alerts, failures=1)
    env.adapters = responder.Adapters(env.adapters.keys, flaky)
    disables = _count_disables(env)
    event = sns_event(request(PARTNER_A))

    with pytest.raises(ClientError):  # the invocation fails: Lambda retries the same event
        responder.handler(event, CONTEXT)
    assert env.enabled("partner-a") is False
    assert env.alerts() == []

    result = responder.handler(event, CONTEXT)

    assert result == {"disabled": ["partner-a"], "alreadyDisabled": [], "dropped": []}
    (alert,) = env.alerts()  # delivered exactly once: the failed publish sent nothing
    assert alert["disabled"]["apiKeyId"] == env.keys["partner-a"]
    assert disables == [env.keys["partner-a"]]  # disabled once, by the first attempt
    assert flaky.attempts == 2
    assert [line["result"] for line in audit(caplog)] == ["disabled", "disabled-alert-owed"]

    # a duplicate delivery after that (SNS delivers at least once) says nothing more
    assert responder.handler(event, CONTEXT)["alreadyDisabled"] == ["partner-a"]
    assert env.alerts() == []
    assert disables == [env.keys["partner-a"]]
    assert env.enabled("partner-b") is True


def test_a_key_disabled_by_someone_else_is_left_alone_and_not_alerted(env: Environment) -> None:
    env.aws["apigateway"].update_api_key(
        apiKey=env.keys["partner-a"],
        patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}],
    )
    result = responder.handler(sns_event(request(PARTNER_A)), CONTEXT)

    assert result["alreadyDisabled"] == ["partner-a"]
    assert env.alerts() == []


def test_the_keys_own_description_is_kept_and_a_second_incident_alerts_again(
    env: Environment,
) -> None:
    gateway, key = env.aws["apigateway"], env.keys["partner-a"]
    gateway.update_api_key(
        apiKey=key,
        patchOperations=[{"op": "replace", "path": "/description", "value": "partner A, prod"}],
    )
    responder.handler(sns_event(request(PARTNER_A)), CONTEXT)
    first = gateway.get_api_key(apiKey=key)["description"]
    gateway.update_api_key(  # the operator's re-enable command, from the alert
        apiKey=key, patchOperations=[{"op": "replace", "path": "/enabled", "value": "true"}]
    )

    responder.handler(sns_event(request(PARTNER_A)), CONTEXT)

    assert first == gateway.get_api_key(apiKey=key)["description"]
    assert first == (
        "partner A, prod [secure-endpoint: disabled by the anomaly responder, alert sent]"
    )
    assert len(env.alerts()) == 2
    assert env.enabled("partner-a") is False


def test_it_never_enables_a_key(env: Environment) -> None:
    env.aws["apigateway"].update_api_key(
        apiKey=env.keys["partner-a"],
        patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}],
    )
    responder.handler(sns_event(request(PARTNER_A)), CONTEXT)
    assert env.enabled("partner-a") is False


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (sns_event(request("unknown-client-id")), "unknown client id"),
        (sns_event(request(PARTNER_A), topic=REQUEST_TOPIC + "-other"), "not from the request"),
        (sns_event(request(PARTNER_A), action="alert"), "message attribute action"),
        (sns_event("{not json"), "not JSON"),
        (sns_event([1, 2]), "not a JSON object"),
        (sns_event(request(PARTNER_A, version=2)), "not a version 1"),
        (sns_event(request(PARTNER_A, action="enable-api-key")), "not a version 1"),
        (sns_event(request(PARTNER_A, windowEnd=1)), "windowStart and windowEnd"),
        (sns_event(request(PARTNER_A, windowStart="1")), "windowStart and windowEnd"),
        (sns_event(request(PARTNER_A, score=True)), "score"),
        (sns_event(request(PARTNER_A, reasons="x")), "reasons"),
        (sns_event(request(None)), "no clientId"),
        ({"Records": [{"Sns": "x"}]}, "not an SNS record"),
        ({"Records": ["x"]}, "not an SNS record"),
    ],
)
def test_an_unknown_or_malformed_request_is_logged_and_dropped(
    env: Environment,
    event: dict[str, Any],
    reason: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    result = responder.handler(event, CONTEXT)

    assert result["disabled"] == []
    assert result["alreadyDisabled"] == []
    (dropped,) = result["dropped"]
    assert reason in dropped
    assert env.enabled("partner-a")
    assert env.enabled("partner-b")
    assert env.alerts() == []
    (line,) = audit(caplog)
    assert line["result"] == "dropped"
    assert reason in line["reason"]
    assert value(emf(capsys.readouterr().out)[0]["RequestsDropped"]) == 1


def test_an_event_without_records_does_nothing(env: Environment) -> None:
    for event in ({}, {"Records": None}, {"detail": "x"}):
        assert responder.handler(event, CONTEXT) == {
            "disabled": [],
            "alreadyDisabled": [],
            "dropped": [],
        }


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)


class RecordingKeys:
    """API keys that only record what the responder asks of them."""

    def __init__(self) -> None:
        self.disabled: list[str] = []

    def disable(self, api_key_id: str) -> Disabled:
        self.disabled.append(api_key_id)
        return Disabled.NOW

    def alert_sent(self, api_key_id: str) -> None:
        pass


class RecordingAlerts:
    def __init__(self) -> None:
        self.published: list[str] = []

    def publish(self, subject: str, message: str) -> str:
        self.published.append(subject)
        return "message-id"


def _respond_with_fakes(event: Any) -> tuple[dict[str, Any], RecordingKeys, RecordingAlerts]:
    keys, alerts = RecordingKeys(), RecordingAlerts()
    try:
        adapters = responder.Adapters(keys, alerts)  # type: ignore[arg-type]
        result = responder.respond(event, Config.from_env(_ENV), adapters)
    finally:
        responder.metrics.clear_metrics()
    return result, keys, alerts


def test_a_valid_request_reaches_the_fakes_and_disables_its_key() -> None:
    # the control of the next test: the same fakes, the same client, a request left whole
    result, keys, alerts = _respond_with_fakes(sns_event(request("c")))

    assert result["disabled"] == ["n"]
    assert keys.disabled == ["k"]
    assert len(alerts.published) == 1


_not_an_int = _json.filter(lambda v: not isinstance(v, int) or isinstance(v, bool))
_bad_time = _not_an_int | st.integers(max_value=-1) | st.integers(min_value=2**40)
_SPOILED = {
    "windowStart": _bad_time | st.integers(1_767_225_600, 2**40 - 1),  # at or after the end
    "windowEnd": _bad_time | st.integers(0, 1_767_225_300),  # at or before the start
    "score": st.booleans() | st.text(max_size=8) | st.none() | st.lists(st.integers(), max_size=2)
    | st.just(float("nan")) | st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    "reasons": st.text(max_size=8) | st.integers() | st.none() | st.dictionaries(
        st.text(max_size=4), st.text(max_size=4), max_size=2
    ) | st.lists(st.text(max_size=8), max_size=2).flatmap(
        lambda good: st.lists(_json.filter(lambda v: not isinstance(v, str)), min_size=1,
                              max_size=2).map(lambda bad: good + bad)
    ),
}  # fmt: skip


@st.composite
def _spoiled_request(draw: Any) -> dict[str, Any]:
    """A request for a known client from the request topic, whole but for one or more fields:
    what gets past every check before the last ones."""
    body = request("c")
    for name in draw(st.lists(st.sampled_from(sorted(_SPOILED)), min_size=1, unique=True)):
        body[name] = draw(_SPOILED[name])
    return body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.one_of(
        _spoiled_request(),
        _json,
        st.text(max_size=50),
        st.fixed_dictionaries(
            {
                "version": _json,
                "action": st.sampled_from(["disable-api-key"]) | _json,
                "clientId": st.sampled_from(["unknown", PARTNER_A[:-1]]) | _json,
                "windowStart": _json,
                "windowEnd": _json,
                "score": _json,
                "reasons": _json,
            }
        ),
    ),
    record=_json,
)
def test_garbage_never_raises_and_never_disables_a_key(body: Any, record: Any) -> None:
    event = sns_event(body)
    event["Records"].append(record)

    result, keys, alerts = _respond_with_fakes(event)

    assert keys.disabled == []
    assert alerts.published == []
    assert result["disabled"] == result["alreadyDisabled"] == []
    assert len(result["dropped"]) == 2


_ENV = {
    "API_KEY_CLIENTS": json.dumps({"c": {"name": "n", "apiKeyId": "k"}}),
    "REQUEST_TOPIC_ARN": REQUEST_TOPIC,
    "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"API_KEY_CLIENTS": "{}"}, "non-empty JSON object"),
        ({"API_KEY_CLIENTS": "nope"}, "not JSON"),
        ({"API_KEY_CLIENTS": '{"c": {"name": "n"}}'}, r"API_KEY_CLIENTS\['c'\]"),
        ({"REQUEST_TOPIC_ARN": ""}, "REQUEST_TOPIC_ARN"),
    ],
)
def test_rejects_an_environment_that_does_not_describe_the_clients(
    changes: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Config.from_env(_ENV | changes)

"""Quarantine against moto's API Gateway, end to end.

moto keeps API keys, usage plans and their keys like the service. What it does not do is injected
with botocore event handlers on the client: API Gateway's refusal of a key in two usage plans of
one API stage (``ConflictException``), a crash between two calls, a throttled call. Every call
made is recorded and checked against botocore's service model of API Gateway, and the recorded
operations are what ``test_quarantine_construct`` compares with ``grant_quarantine``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3
import botocore.session
import pytest
from aws_fakes import use_fake_credentials
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator
from moto import mock_aws

from secure_endpoint.runtime.quarantine import (
    APIGATEWAY_CONFIG,
    DISABLE,
    MARKER,
    NONE,
    PENDING,
    PLAN,
    SENT,
    ClientRef,
    Quarantine,
    QuarantineRecord,
    QuarantineRequest,
    apigateway_client,
    clients_from_json,
    read_record,
    requests_from_findings,
    revoked,
    with_record,
    without_record,
)

REGION = "eu-west-1"
START = 1_800_000_000
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
STAGE = "prod"

#: Every API Gateway operation the module calls in these tests: test_quarantine_construct checks
#: that grant_quarantine allows each (and nothing else).
OPERATIONS_CALLED: set[str] = set()


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_credentials(monkeypatch, REGION)


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta.total_seconds()


class Alerts:
    """An alert topic that keeps what it was sent, and can fail."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.fail = 0

    def publish(self, subject: str, message: str) -> str:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("SNS is unreachable")
        self.sent.append((subject, json.loads(message)))
        return f"message-{len(self.sent)}"


class Crash(Exception):
    """The process died here (a Lambda timeout, a killed CLI)."""


@dataclass
class Gateway:
    """The moto API Gateway of one test: an API stage, each client's key in its own plan, a
    quarantine plan on the same stage."""

    client: Any  # what Quarantine uses: hooks, recorded calls
    inspect: Any  # a second client for the test's own reads
    api_id: str
    clients: dict[str, ClientRef]
    plans: dict[str, str]  # client name -> its usage plan id
    quarantine_plan: str
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    clock: Clock = field(default_factory=Clock)
    alerts: Alerts = field(default_factory=Alerts)

    def quarantine(self, **options: Any) -> Quarantine:
        options.setdefault("quarantine_plan_id", self.quarantine_plan)
        options.setdefault("alerts", self.alerts)
        return Quarantine(self.client, self.clients.values(), clock=self.clock, **options)

    def plans_of(self, name: str) -> set[str]:
        key = self.clients[name].api_key_id
        return {p["id"] for p in self.inspect.get_usage_plans(keyId=key)["items"]}

    def key(self, name: str) -> dict[str, Any]:
        response: dict[str, Any] = self.inspect.get_api_key(apiKey=self.clients[name].api_key_id)
        return response

    def record(self, name: str) -> QuarantineRecord | None:
        return read_record(str(self.key(name).get("description") or ""))

    def count(self, operation: str) -> int:
        return sum(1 for called, _ in self.calls if called == operation)

    def crash_on(self, operation: str, times: int = 1) -> None:
        left = {"n": times}

        def die(**_: Any) -> None:
            if left["n"] > 0:
                left["n"] -= 1
                raise Crash(operation)

        self.client.meta.events.register(f"before-call.apigateway.{operation}", die)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    with mock_aws():
        client = apigateway_client(boto3.Session(region_name=REGION))
        inspect = boto3.client("apigateway", region_name=REGION)
        api_id = inspect.create_rest_api(name="inference")["id"]
        stage = [{"apiId": api_id, "stage": STAGE}]
        clients: dict[str, ClientRef] = {}
        plans: dict[str, str] = {}
        for index, name in enumerate(("partner-a", "partner-b", "partner-c", "ops")):
            key_id = inspect.create_api_key(
                name=f"{name}-key", description=f"secure-endpoint client {name}", enabled=True
            )["id"]
            plan_id = inspect.create_usage_plan(
                name=f"{name}-plan",
                apiStages=stage,
                throttle={"rateLimit": 10, "burstLimit": 20},
                quota={"limit": 10_000, "period": "DAY"},
            )["id"]
            inspect.create_usage_plan_key(usagePlanId=plan_id, keyId=key_id, keyType="API_KEY")
            clients[name] = ClientRef(name, f"{index}abcdefghijklmnopqrstuvwxy", key_id)
            plans[name] = plan_id
        quarantine_plan = inspect.create_usage_plan(
            name="quarantine",
            apiStages=stage,
            throttle={"rateLimit": 1, "burstLimit": 1},
            quota={"limit": 100, "period": "DAY"},
        )["id"]
        found = Gateway(client, inspect, api_id, clients, plans, quarantine_plan)
        _record_and_validate(client, found.calls)
        _refuse_two_plans_of_one_stage(client, inspect)
        yield found


_MODEL = botocore.session.get_session().get_service_model("apigateway")


def _record_and_validate(client: Any, calls: list[tuple[str, dict[str, Any]]]) -> None:
    """Record every call, and check its parameters against botocore's service model."""

    def keep(params: dict[str, Any], model: Any, **_: Any) -> None:
        operation = model.name
        report = ParamValidator().validate(params, _MODEL.operation_model(operation).input_shape)
        assert not report.has_errors(), report.generate_report()
        calls.append((operation, dict(params)))
        OPERATIONS_CALLED.add(operation)

    client.meta.events.register("provide-client-params.apigateway", keep)


def _refuse_two_plans_of_one_stage(client: Any, inspect: Any) -> None:
    """API Gateway's rule, which moto lacks: a key cannot be in two usage plans of one stage."""

    def check(params: dict[str, Any], **_: Any) -> None:
        target = inspect.get_usage_plan(usagePlanId=params["usagePlanId"])
        stages = {(s["apiId"], s["stage"]) for s in target.get("apiStages", [])}
        for plan in inspect.get_usage_plans(keyId=params["keyId"])["items"]:
            if plan["id"] == target["id"]:
                raise _client_error("ConflictException", "the key is in this plan already")
            if stages & {(s["apiId"], s["stage"]) for s in plan.get("apiStages", [])}:
                raise _client_error(
                    "ConflictException",
                    f"Usage Plan {target['id']} cannot be added because API Key "
                    f"{params['keyId']} cannot reference multiple Usage Plans with the same "
                    "API Stage",
                )

    client.meta.events.register("before-parameter-build.apigateway.CreateUsagePlanKey", check)


def _client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "CreateUsagePlanKey")


def ask(client: str = "partner-a", ttl: timedelta = HOUR, **options: Any) -> QuarantineRequest:
    options.setdefault("reason", "probing score 0.97")
    return QuarantineRequest(client, ttl, **options)


# --- quarantine -------------------------------------------------------------------------------


def test_quarantine_moves_the_key_to_the_quarantine_plan_and_records_its_plans(
    gateway: Gateway,
) -> None:
    result = gateway.quarantine().quarantine([ask(detail={"kind": "probing"})])

    a = gateway.clients["partner-a"]
    assert [e.client for e in result.quarantined] == [a]
    assert gateway.plans_of("partner-a") == {gateway.quarantine_plan}
    assert gateway.plans_of("partner-b") == {gateway.plans["partner-b"]}
    assert gateway.key("partner-a")["enabled"] is True
    assert gateway.record("partner-a") == QuarantineRecord(
        until=START + 3600,
        since=START,
        mode=PLAN,
        plan=gateway.quarantine_plan,
        original_plans=(gateway.plans["partner-a"],),
        was_enabled=True,
        reason="probing score 0.97",
        source="monitor",
        alert=SENT,
    )
    assert result.alerted == ("partner-a",)
    ((subject, body),) = gateway.alerts.sent
    assert subject == "secure-endpoint: client partner-a quarantined until 2027-01-15T09:00:00Z"
    assert body["quarantined"] == {
        "client": "partner-a",
        "clientId": a.client_id,
        "apiKeyId": a.api_key_id,
    }
    assert body["detail"] == {"kind": "probing"}
    assert body["restores"] == [gateway.plans["partner-a"]]
    assert "secure-endpoint release partner-a" in body["next"][0]
    assert body["runbook"] == "docs/quarantine.md#what-to-do-with-a-quarantined-client"


def test_the_key_leaves_its_plan_before_it_joins_the_quarantine_plan(gateway: Gateway) -> None:
    gateway.quarantine().quarantine([ask()])

    moves = [op for op, _ in gateway.calls if op.endswith("UsagePlanKey")]
    assert moves == ["DeleteUsagePlanKey", "CreateUsagePlanKey"]
    (record_write, *_) = [p for op, p in gateway.calls if op == "UpdateApiKey"]
    first_write = next(i for i, (op, _) in enumerate(gateway.calls) if op == "UpdateApiKey")
    first_move = next(i for i, (op, _) in enumerate(gateway.calls) if op == "DeleteUsagePlanKey")
    assert first_write < first_move  # the record (with its alert owed) comes first
    assert PENDING in record_write["patchOperations"][0]["value"]


def test_a_client_is_found_by_its_cognito_client_id_too(gateway: Gateway) -> None:
    client_id = gateway.clients["partner-b"].client_id

    result = gateway.quarantine().quarantine([ask(client_id)])

    assert [e.client.name for e in result.quarantined] == ["partner-b"]
    assert gateway.plans_of("partner-b") == {gateway.quarantine_plan}


def test_an_unknown_client_is_reported_and_nothing_is_called(gateway: Gateway) -> None:
    result = gateway.quarantine().quarantine([ask("unknown"), ask("*")])

    assert result.unknown == ("unknown", "*")
    assert gateway.calls == []


# --- guard rails ------------------------------------------------------------------------------


@pytest.mark.parametrize("listed", ["ops", "3abcdefghijklmnopqrstuvwxy"])
def test_a_client_on_never_quarantine_is_refused_by_name_or_client_id(
    gateway: Gateway, listed: str
) -> None:
    before = gateway.key("ops")

    result = gateway.quarantine(never_quarantine=[listed]).quarantine([ask("ops")])

    assert result.refused == ("ops",)
    assert result.quarantined == ()
    assert gateway.key("ops")["description"] == before["description"]
    assert gateway.plans_of("ops") == {gateway.plans["ops"]}
    assert [op for op, _ in gateway.calls] == []
    assert gateway.alerts.sent == []


def test_a_client_listed_after_its_quarantine_is_released_by_the_sweep(gateway: Gateway) -> None:
    gateway.quarantine().quarantine([ask("ops", DAY)])
    assert gateway.plans_of("ops") == {gateway.quarantine_plan}

    released, repaired = gateway.quarantine(never_quarantine=["ops"]).reconcile()

    assert (released.released, repaired) == (("ops",), ())
    assert gateway.plans_of("ops") == {gateway.plans["ops"]}
    assert gateway.record("ops") is None


def test_never_quarantine_must_be_a_list_not_a_string(gateway: Gateway) -> None:
    with pytest.raises(TypeError, match="never_quarantine must be a collection"):
        gateway.quarantine(never_quarantine="ops")


def test_at_most_max_per_run_new_quarantines_per_call_the_rest_deferred(gateway: Gateway) -> None:
    quarantine = gateway.quarantine(max_per_run=2)
    quarantine.quarantine([ask("partner-c")])

    result = quarantine.quarantine(
        [ask("partner-a"), ask("partner-b"), ask("partner-c", DAY), ask("ops")]
    )

    assert [e.client.name for e in result.quarantined] == ["partner-a", "partner-b"]
    assert [e.client.name for e in result.extended] == ["partner-c"]  # does not count
    assert result.deferred == ("ops",)
    assert gateway.plans_of("ops") == {gateway.plans["ops"]}
    assert gateway.record("ops") is None


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_max_per_run_must_be_a_positive_integer(gateway: Gateway, bad: Any) -> None:
    with pytest.raises(ValueError, match=f"max_per_run must be at least 1, got {bad!r}"):
        gateway.quarantine(max_per_run=bad)


@pytest.mark.parametrize(
    ("ttl", "reason", "message"),
    [
        (timedelta(seconds=30), "x", "ttl must be from 0:01:00 to 30 days"),
        (timedelta(days=31), "x", "ttl must be from"),
        (HOUR, "", "reason must be 1 to 256 characters"),
        (HOUR, "x" * 257, "reason must be 1 to 256 characters"),
    ],
)
def test_a_request_is_checked_before_anything_is_written(
    ttl: timedelta, reason: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        QuarantineRequest("partner-a", ttl, reason)


# --- idempotency ------------------------------------------------------------------------------


def test_quarantining_twice_writes_nothing_and_alerts_once(gateway: Gateway) -> None:
    quarantine = gateway.quarantine()
    quarantine.quarantine([ask()])
    record = gateway.record("partner-a")
    gateway.calls.clear()

    result = quarantine.quarantine([ask()])

    assert [e.client.name for e in result.unchanged] == ["partner-a"]
    assert result.quarantined == result.extended == ()
    assert gateway.record("partner-a") == record
    assert [op for op, _ in gateway.calls] == ["GetApiKey", "GetUsagePlans"]
    assert len(gateway.alerts.sent) == 1


def test_quarantining_again_for_longer_extends_the_same_stretch(gateway: Gateway) -> None:
    quarantine = gateway.quarantine()
    quarantine.quarantine([ask()])
    gateway.clock.advance(timedelta(minutes=30))

    result = quarantine.quarantine([ask(ttl=DAY, reason="extraction 0.91", source="alice")])

    (entry,) = result.extended
    record = gateway.record("partner-a")
    assert record == entry.record
    assert record is not None
    assert (record.since, record.until) == (START, START + 1800 + 86400)
    assert (record.reason, record.source) == ("extraction 0.91", "alice")
    assert record.original_plans == (gateway.plans["partner-a"],)  # not the quarantine plan
    assert gateway.plans_of("partner-a") == {gateway.quarantine_plan}
    assert len(gateway.alerts.sent) == 1  # one stretch, one alert
    assert str(gateway.key("partner-a")["description"]).count(MARKER) == 1


def test_a_shorter_request_never_shortens_a_quarantine(gateway: Gateway) -> None:
    quarantine = gateway.quarantine()
    quarantine.quarantine([ask(ttl=DAY)])

    result = quarantine.quarantine([ask(ttl=HOUR)])

    assert [e.record.until for e in result.unchanged] == [START + 86400]


def test_a_client_asked_for_twice_in_one_call_counts_once_with_the_longest_ttl(
    gateway: Gateway,
) -> None:
    client_id = gateway.clients["partner-a"].client_id

    result = gateway.quarantine(max_per_run=1).quarantine(
        [ask(ttl=HOUR), ask(client_id, ttl=DAY), ask("partner-b")]
    )

    assert [e.record.until for e in result.quarantined] == [START + 86400]
    assert result.deferred == ("partner-b",)


# --- release and expiry -----------------------------------------------------------------------


def test_release_puts_the_key_back_in_exactly_its_plans_and_the_description_as_it_was(
    gateway: Gateway,
) -> None:
    extra = gateway.inspect.create_usage_plan(
        name="other-api", apiStages=[{"apiId": "otherapi", "stage": STAGE}]
    )["id"]
    key = gateway.clients["partner-a"].api_key_id
    gateway.inspect.create_usage_plan_key(usagePlanId=extra, keyId=key, keyType="API_KEY")
    description = gateway.key("partner-a")["description"]
    quarantine = gateway.quarantine()
    quarantine.quarantine([ask()])
    assert gateway.plans_of("partner-a") == {gateway.quarantine_plan}

    result = quarantine.release(["partner-a"])

    assert result.released == ("partner-a",)
    assert gateway.plans_of("partner-a") == {gateway.plans["partner-a"], extra}
    assert gateway.key("partner-a")["description"] == description
    assert gateway.key("partner-a")["enabled"] is True


def test_releasing_a_client_not_quarantined_changes_nothing(gateway: Gateway) -> None:
    result = gateway.quarantine().release(["partner-a"])

    assert result.not_quarantined == ("partner-a",)
    assert [op for op, _ in gateway.calls] == ["GetApiKey"]


def test_releasing_an_unknown_client_is_refused_before_any_call(gateway: Gateway) -> None:
    with pytest.raises(ValueError, match="no known client 'nobody'"):
        gateway.quarantine().release(["nobody"])
    assert gateway.calls == []


def test_the_ttl_sweep_releases_only_what_has_expired(gateway: Gateway) -> None:
    quarantine = gateway.quarantine()
    quarantine.quarantine([ask("partner-a", HOUR), ask("partner-b", DAY)])

    assert quarantine.release_expired(START + 3599).released == ()
    result = quarantine.release_expired(START + 3600)

    assert result.released == ("partner-a",)
    assert gateway.plans_of("partner-a") == {gateway.plans["partner-a"]}
    assert gateway.record("partner-a") is None
    assert gateway.plans_of("partner-b") == {gateway.quarantine_plan}
    gateway.clock.advance(DAY)
    assert quarantine.release_expired().released == ("partner-b",)
    assert gateway.plans_of("partner-b") == {gateway.plans["partner-b"]}


def test_a_plan_deleted_during_the_quarantine_is_reported_on_release(gateway: Gateway) -> None:
    quarantine = gateway.quarantine()
    quarantine.quarantine([ask()])
    gateway.inspect.delete_usage_plan(usagePlanId=gateway.plans["partner-a"])

    def gone(params: dict[str, Any], **_: Any) -> None:
        if params["usagePlanId"] == gateway.plans["partner-a"]:
            raise ClientError(
                {"Error": {"Code": "NotFoundException", "Message": "Invalid Usage Plan ID"}},
                "CreateUsagePlanKey",
            )

    gateway.client.meta.events.register_first(
        "before-parameter-build.apigateway.CreateUsagePlanKey", gone
    )

    result = quarantine.release(["partner-a"])

    assert result.lost_plans == {"partner-a": (gateway.plans["partner-a"],)}
    assert gateway.record("partner-a") is None
    assert gateway.plans_of("partner-a") == set()


def test_quarantined_lists_active_and_expired_records_and_untracked_keys(
    gateway: Gateway,
) -> None:
    quarantine = gateway.quarantine()
    quarantine.quarantine([ask("partner-a", DAY), ask("partner-b", HOUR)])
    stray = gateway.inspect.create_api_key(name="stray", enabled=True)["id"]
    gateway.inspect.create_usage_plan_key(
        usagePlanId=gateway.quarantine_plan, keyId=stray, keyType="API_KEY"
    )

    listing = quarantine.quarantined(START + 7200)

    assert [e.client.name for e in listing.active] == ["partner-a"]
    assert [e.client.name for e in listing.expired] == ["partner-b"]
    assert listing.untracked == (stray,)


# --- partial failures -------------------------------------------------------------------------


def test_a_crash_between_leaving_and_joining_fails_closed_and_the_retry_completes(
    gateway: Gateway,
) -> None:
    gateway.crash_on("CreateUsagePlanKey")
    with pytest.raises(Crash):
        gateway.quarantine().quarantine([ask()])
    # in no plan: every request of the key gets 403 until the move is finished
    assert gateway.plans_of("partner-a") == set()
    record = gateway.record("partner-a")
    assert record is not None
    assert record.alert == PENDING
    assert record.original_plans == (gateway.plans["partner-a"],)
    assert gateway.alerts.sent == []

    result = gateway.quarantine().quarantine([ask()])

    assert result.repaired == ("partner-a",)
    assert gateway.plans_of("partner-a") == {gateway.quarantine_plan}
    assert len(gateway.alerts.sent) == 1
    record = gateway.record("partner-a")
    assert record is not None
    assert record.alert == SENT
    assert record.original_plans == (gateway.plans["partner-a"],)


def test_reconcile_completes_an_interrupted_quarantine_and_sends_its_alert(
    gateway: Gateway,
) -> None:
    gateway.crash_on("DeleteUsagePlanKey")
    with pytest.raises(Crash):
        gateway.quarantine().quarantine([ask()])
    assert gateway.plans_of("partner-a") == {gateway.plans["partner-a"]}  # not moved yet

    released, repaired = gateway.quarantine().reconcile()

    assert (released.released, repaired) == ((), ("partner-a",))
    assert gateway.plans_of("partner-a") == {gateway.quarantine_plan}
    assert len(gateway.alerts.sent) == 1


def test_an_alert_that_failed_is_sent_by_the_retry_without_moving_again(
    gateway: Gateway,
) -> None:
    gateway.alerts.fail = 1
    with pytest.raises(ConnectionError):
        gateway.quarantine().quarantine([ask()])
    assert gateway.plans_of("partner-a") == {gateway.quarantine_plan}
    record = gateway.record("partner-a")
    assert record is not None
    assert record.alert == PENDING
    gateway.calls.clear()

    result = gateway.quarantine().quarantine([ask()])

    assert result.alerted == ("partner-a",)
    assert result.repaired == ()
    assert len(gateway.alerts.sent) == 1
    assert gateway.count("CreateUsagePlanKey") == gateway.count("DeleteUsagePlanKey") == 0
    record = gateway.record("partner-a")
    assert record is not None
    assert record.alert == SENT


def test_a_crash_during_release_is_finished_by_the_sweep(gateway: Gateway) -> None:
    quarantine = gateway.quarantine()
    quarantine.quarantine([ask(ttl=DAY)])
    gateway.crash_on("CreateUsagePlanKey")

    with pytest.raises(Crash):
        quarantine.release(["partner-a"])
    record = gateway.record("partner-a")
    assert record is not None
    assert record.until == START  # ended first
    assert gateway.plans_of("partner-a") == set()

    assert quarantine.release_expired().released == ("partner-a",)
    assert gateway.plans_of("partner-a") == {gateway.plans["partner-a"]}
    assert gateway.record("partner-a") is None


def test_a_plan_the_key_joined_by_hand_during_its_quarantine_is_restored_too(
    gateway: Gateway,
) -> None:
    quarantine = gateway.quarantine()
    quarantine.quarantine([ask(ttl=DAY)])
    other = gateway.inspect.create_usage_plan(
        name="other-api", apiStages=[{"apiId": "otherapi", "stage": STAGE}]
    )["id"]
    key = gateway.clients["partner-a"].api_key_id
    gateway.inspect.create_usage_plan_key(usagePlanId=other, keyId=key, keyType="API_KEY")

    assert quarantine.reconcile()[1] == ("partner-a",)
    assert gateway.plans_of("partner-a") == {gateway.quarantine_plan}
    record = gateway.record("partner-a")
    assert record is not None
    assert set(record.original_plans) == {gateway.plans["partner-a"], other}

    quarantine.release(["partner-a"])
    assert gateway.plans_of("partner-a") == {gateway.plans["partner-a"], other}


def test_a_new_quarantine_over_an_unreleased_expired_record_keeps_its_plans(
    gateway: Gateway,
) -> None:
    quarantine = gateway.quarantine()
    quarantine.quarantine([ask()])
    gateway.clock.advance(2 * HOUR)  # expired, the sweep has not run

    result = quarantine.quarantine([ask(reason="again")])

    (entry,) = result.quarantined
    assert entry.record.original_plans == (gateway.plans["partner-a"],)
    assert entry.record.since == START + 7200
    assert quarantine.release(["partner-a"]).released == ("partner-a",)
    assert gateway.plans_of("partner-a") == {gateway.plans["partner-a"]}


# --- without a quarantine plan: the key is disabled ---------------------------------------------


def test_without_a_quarantine_plan_the_key_is_disabled_with_its_record_in_one_call(
    gateway: Gateway,
) -> None:
    quarantine = gateway.quarantine(quarantine_plan_id=None)

    result = quarantine.quarantine([ask()])

    (entry,) = result.quarantined
    assert entry.record.mode == DISABLE
    assert gateway.key("partner-a")["enabled"] is False
    assert gateway.plans_of("partner-a") == {gateway.plans["partner-a"]}
    (write, _alert_sent) = [p for op, p in gateway.calls if op == "UpdateApiKey"]
    assert [o["path"] for o in write["patchOperations"]] == ["/description", "/enabled"]

    assert quarantine.release(["partner-a"]).released == ("partner-a",)
    assert gateway.key("partner-a")["enabled"] is True
    assert gateway.key("partner-a")["description"] == "secure-endpoint client partner-a"


def test_a_key_disabled_before_its_quarantine_stays_disabled_after_release(
    gateway: Gateway,
) -> None:
    gateway.inspect.update_api_key(
        apiKey=gateway.clients["partner-a"].api_key_id,
        patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}],
    )
    quarantine = gateway.quarantine(quarantine_plan_id=None, alerts=None)
    quarantine.quarantine([ask()])
    record = gateway.record("partner-a")
    assert record is not None
    assert (record.was_enabled, record.alert) == (False, NONE)

    quarantine.release(["partner-a"])

    assert gateway.key("partner-a")["enabled"] is False


# --- the record, beside the responder's mark ----------------------------------------------------


def test_the_record_is_kept_before_the_responders_mark_which_keeps_it() -> None:
    from api_key_responder.messages import PENDING as RESPONDER_PENDING
    from api_key_responder.messages import marked, unmarked

    record = QuarantineRecord(
        START + 60, START, PLAN, "q1", ("p1",), True, "probing ] [x", "monitor", SENT
    )
    responder = marked("secure-endpoint client a", RESPONDER_PENDING)

    both = with_record(responder, record)

    assert read_record(both) == record
    assert both.endswith(responder[len("secure-endpoint client a") :])
    assert read_record(marked(both, "sent")) == record  # the responder's rewrite keeps it
    assert without_record(both) == responder
    assert unmarked(without_record(both)) == "secure-endpoint client a"


def test_a_revoked_key_keeps_a_disabling_quarantine_from_enabling_it() -> None:
    record = QuarantineRecord(START + 60, START, DISABLE, "", (), True, "r", "monitor", SENT)
    description = with_record("client a", record)

    kept = revoked(description)

    assert kept is not None
    assert read_record(kept) == QuarantineRecord(
        START + 60, START, DISABLE, "", (), False, "r", "monitor", SENT
    )
    assert revoked(kept) is None  # nothing more to change
    assert revoked("client a") is None
    assert (
        revoked(with_record("a", QuarantineRecord(1, 0, PLAN, "q", (), True, "r", "m", SENT)))
        is None
    )


def test_a_marker_edited_by_hand_is_no_record() -> None:
    assert read_record("x" + MARKER + '{"v": 1, "until": 5}]') is None
    assert read_record("x" + MARKER + "not json]") is None
    assert without_record("x" + MARKER + "not json]") == "x" + MARKER + "not json]"


def test_clients_come_from_the_responders_json_shape() -> None:
    assert clients_from_json({"cid": {"name": "a", "apiKeyId": "k"}}) == [
        ClientRef("a", "cid", "k")
    ]
    with pytest.raises(ValueError, match="client 'cid' must be"):
        clients_from_json({"cid": {"name": "a"}})


# --- throttling -------------------------------------------------------------------------------


def test_a_throttled_call_is_retried_by_botocore(gateway: Gateway) -> None:
    assert APIGATEWAY_CONFIG.retries == {"mode": "standard", "total_max_attempts": 8}
    throttled = {"left": 2}

    def throttle(request: Any, **_: Any) -> AWSResponse | None:
        if throttled["left"] == 0:
            return None
        throttled["left"] -= 1
        headers = {"x-amzn-ErrorType": "TooManyRequestsException"}
        return AWSResponse(request.url, 429, headers, _Raw(b'{"message": "Too Many Requests"}'))

    gateway.client.meta.events.register_first("before-send.apigateway.GetUsagePlans", throttle)

    result = gateway.quarantine().quarantine([ask()])

    assert throttled["left"] == 0
    assert [e.client.name for e in result.quarantined] == ["partner-a"]
    assert gateway.plans_of("partner-a") == {gateway.quarantine_plan}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def test_the_emulated_api_gateway_refuses_a_key_in_two_plans_of_one_stage(
    gateway: Gateway,
) -> None:
    """What makes the order of the moves matter (and these tests able to fail)."""
    with pytest.raises(ClientError, match="cannot reference multiple Usage Plans"):
        gateway.client.create_usage_plan_key(
            usagePlanId=gateway.quarantine_plan,
            keyId=gateway.clients["partner-a"].api_key_id,
            keyType="API_KEY",
        )


# --- from payload findings --------------------------------------------------------------------


def test_payload_findings_become_requests_strongest_first() -> None:
    findings = [
        {"client_id": "*", "kind": "drift", "score": 9.0, "evidence": {}},
        {"client_id": "c1", "kind": "probing", "score": 0.7, "evidence": {"flips": 12},
         "first_seen": "2026-12-07T12:00:00Z", "queries": 340},
        {"client_id": "c2", "kind": "extraction", "score": 0.95, "evidence": {}},
        {"client_id": "c3", "kind": "membership", "score": 0.2, "evidence": {}},
    ]  # fmt: skip

    requests = requests_from_findings(findings, DAY, min_score=0.5)

    assert [(r.client, r.ttl, r.reason) for r in requests] == [
        ("c2", DAY, "payload finding: extraction, score 0.95"),
        ("c1", DAY, "payload finding: probing, score 0.7"),
    ]
    assert requests[1].detail == {
        "kind": "probing",
        "score": 0.7,
        "first_seen": "2026-12-07T12:00:00Z",
        "queries": 340,
        "evidence": {"flips": 12},
    }
    assert requests_from_findings(findings, kinds=["membership"]) == [
        QuarantineRequest(
            "c3",
            timedelta(hours=24),
            "payload finding: membership, score 0.2",
            detail={"kind": "membership", "score": 0.2, "evidence": {}},
        )
    ]
    with pytest.raises(ValueError, match=r"kinds must be among .*got \['drift'\]"):
        requests_from_findings(findings, kinds=["drift"])


def test_the_strongest_findings_are_quarantined_first_within_max_per_run(
    gateway: Gateway,
) -> None:
    a, b = gateway.clients["partner-a"], gateway.clients["partner-b"]
    findings = [
        {"client_id": a.client_id, "kind": "probing", "score": 0.6, "evidence": {}},
        {"client_id": b.client_id, "kind": "extraction", "score": 0.9, "evidence": {"cells": 3}},
    ]

    result = gateway.quarantine(max_per_run=1).quarantine(requests_from_findings(findings))

    assert [e.client.name for e in result.quarantined] == ["partner-b"]
    assert result.deferred == ("partner-a",)
    ((_, body),) = gateway.alerts.sent
    assert body["detail"]["evidence"] == {"cells": 3}

"""The monitor end to end: access logs in a moto log group, the real adapters, state in moto S3,
the alert through SNS to a subscribed SQS queue, blocks in moto's WAF IP sets and DynamoDB; the
model fitter (lambdas/anomaly_model_fitter) fitting the model the monitor scores with."""

import json
import random
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import state_access
from anomaly_model_fitter import handler as fitter
from anomaly_monitor import handler as monitor
from anomaly_monitor.adapters import AlertTopic, StateStore, block_list
from anomaly_monitor.config import Config, Settings
from aws_fakes import FakeLambdaContext

from demo.local_insights import LocalInsights, log_group_reader
from secure_endpoint.runtime.anomaly.features import FEATURES
from secure_endpoint.runtime.anomaly.scoring import loads

WINDOW = 300
ALLOWED = "198.51.100.0/24"
ATTACKER = "192.0.2.66"
INSIDER = "198.51.100.9"  # inside the allowlist: never blocked
CLIENTS = {"alpha": "203.0.113.1", "bravo": "203.0.113.2", "charlie": "203.0.113.3"}
END = (int(time.time()) // WINDOW) * WINDOW - WINDOW  # the end of the first scored window
START = END - 6 * 3600
SETTINGS = Settings(
    baseline_seconds=5 * 3600,
    history_seconds=3 * 3600,
    auto_block=True,
    block_ttl_seconds=3600,
    max_blocks_per_run=5,
)


def access_line(t_ms: int, source: str, client: str = "-", status: int = 200) -> str:
    return json.dumps(
        {
            "requestId": f"r{t_ms}",
            "requestTimeEpoch": str(t_ms),
            "sourceIp": source,
            "clientId": client,
            "httpMethod": "POST",
            "resourcePath": "/v1/predict",
            "status": str(status),
            "responseLength": "120",
            "responseLatency": "25",
        }
    )


def steady(start: int, end: int, seed: int = 7) -> list[tuple[int, str]]:
    rng = random.Random(seed)  # noqa: S311 - test traffic, not secrets
    events = []
    for client, address in CLIENTS.items():
        t = start * 1000
        while True:
            t += int(rng.expovariate(1 / 20_000))  # about one request every 20 s
            if t >= end * 1000:
                break
            events.append((t, access_line(t, address, client)))
    return events


def flood(start: int, source: str, count: int = 200) -> list[tuple[int, str]]:
    times = [start * 1000 + 1000 + i * 1000 for i in range(count)]
    return [(t, access_line(t, source, status=401)) for t in times]


CONTEXT = FakeLambdaContext("anomaly-monitor", memory_limit_in_mb=1024)


class Environment:
    """Everything the monitor touches, in moto; ``run(window_end)`` runs it as scheduled."""

    def __init__(self, aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
        self.aws = aws
        self.monkeypatch = monkeypatch
        aws["logs"].create_log_group(logGroupName="access")
        aws["logs"].create_log_stream(logGroupName="access", logStreamName="s")
        aws["s3"].create_bucket(Bucket="monitor-state")
        self.topic = aws["sns"].create_topic(Name="alerts")["TopicArn"]
        queue = aws["sqs"].create_queue(QueueName="oncall")["QueueUrl"]
        self.queue = queue
        queue_arn = aws["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        aws["sns"].subscribe(
            TopicArn=self.topic,
            Protocol="sqs",
            Endpoint=queue_arn["Attributes"]["QueueArn"],
            Attributes={"RawMessageDelivery": "true"},
        )
        self.sets = {}
        for version in (4, 6):
            summary = aws["wafv2"].create_ip_set(
                Name=f"auto-block-v{version}",
                Scope="REGIONAL",
                IPAddressVersion=f"IPV{version}",
                Addresses=[],
            )["Summary"]
            self.sets[version] = summary["ARN"]
        aws["dynamodb"].create_table(
            TableName="auto-block",
            KeySchema=[{"AttributeName": "address", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "address", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.now = float(END + 200)
        self.insights = LocalInsights(log_group_reader(aws["logs"], "access"))
        self.store = StateStore(aws["s3"], "monitor-state")
        self.blocks = block_list(
            aws["dynamodb"],
            aws["wafv2"],
            "auto-block",
            self.sets,
            [ALLOWED],
            SETTINGS.max_blocks_per_run,
            clock=lambda: self.now,
        )
        self.adapters = monitor.Adapters(
            self.store, self.insights, AlertTopic(aws["sns"], self.topic, self.store), self.blocks
        )
        self.config = Config(
            access_log_group="access",
            state_bucket="monitor-state",
            alert_topic_arn=self.topic,
            block_table_name="auto-block",
            auto_block_set_arns=self.sets,
            protected_cidrs=(ALLOWED,),
            settings=SETTINGS,
        )
        monkeypatch.setattr(monitor, "adapters", lambda: self.adapters)
        monkeypatch.setattr(monitor, "config", lambda: self.config)

    def put(self, events: list[tuple[int, str]]) -> None:
        events = sorted(events)
        for i in range(0, len(events), 5000):
            batch = events[i : i + 5000]
            self.aws["logs"].put_log_events(
                logGroupName="access",
                logStreamName="s",
                logEvents=[{"timestamp": t, "message": m} for t, m in batch],
            )

    def run(self, window_end: int = END, settings: Settings | None = None) -> dict[str, Any]:
        """The scheduled run whose window ends at ``window_end`` (its event time is 2 minutes
        and some seconds later, as EventBridge fires it)."""
        self.now = float(window_end + 180)
        if settings is not None:
            self.config = replace(self.config, settings=settings)
        when = datetime.fromtimestamp(self.now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return monitor.handler({"time": when, "source": "aws.events"}, CONTEXT)

    def fit(self, at: float | None = None, settings: Settings | None = None) -> dict[str, Any]:
        """The model fitter's scheduled run at ``at`` (default: the last monitor run's time)."""
        return fitter.run(
            self.now if at is None else at, settings or self.config.settings, self.store
        )

    def prime(self) -> None:
        """The monitor's run of the window before the flood, then the fitter's: the state of a
        deployment that has its first model."""
        first = self.run(END - WINDOW)
        assert first["model"] == "rules only"
        assert self.fit()["status"] == "fitted"

    def alerts(self) -> list[dict[str, Any]]:
        messages = (
            self.aws["sqs"]
            .receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            .get("Messages", [])
        )
        return [json.loads(m["Body"]) for m in messages]

    def addresses(self, version: int = 4) -> set[str]:
        *_, name, set_id = self.sets[version].split("/")
        ip_set = self.aws["wafv2"].get_ip_set(Name=name, Scope="REGIONAL", Id=set_id)["IPSet"]
        return set(ip_set["Addresses"])

    def pointer(self) -> dict[str, Any]:
        pointer = self.store.pointer()
        assert pointer is not None
        return pointer


@pytest.fixture
def env(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Environment:
    environment = Environment(aws, monkeypatch)
    scored = END - WINDOW
    environment.put(
        steady(START, END)
        + flood(scored, ATTACKER)
        + flood(scored, INSIDER)
        + [
            # a line broken by an unescaped quote (as a User-Agent in the format once made it)
            (scored * 1000 + 5, '{"requestId":"r-ua","userAgent":"curl "x"","status":"200"}'),
            (scored * 1000 + 6, '{"status": "200"}'),  # no pinned field: another format
            # a record of the format without a status: skipped, but not unparseable
            (scored * 1000 + 7, f'{{"requestId": "r-7", "requestTimeEpoch": "{scored * 1000}"}}'),
        ]
    )
    return environment


def value(metric: Any) -> float:
    return float(metric[0] if isinstance(metric, list) else metric)


def emf(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]


def test_a_run_reads_the_logs_scores_alerts_and_blocks(
    env: Environment, capsys: pytest.CaptureFixture[str]
) -> None:
    env.prime()
    capsys.readouterr()
    result = env.run()

    assert result["status"] == "done"
    assert result["model"] == "stored model"
    assert result["modelSha256"] == env.store.model_pointer()["sha256"]  # type: ignore[index]
    assert result["readFrom"] == END - WINDOW
    assert result["scoredFrom"] == END - WINDOW
    assert result["malformedLines"] == 3
    assert result["unparseableLines"] == 2
    assert result["blocked"] == [f"{ATTACKER}/32"]
    assert result["refused"] == [f"{INSIDER}/32"]
    assert env.addresses(4) == {f"{ATTACKER}/32"}
    flagged = {f["principal"]: f for f in result["anomalous"]}
    assert flagged[ATTACKER]["action"] == "block"
    assert not {"alpha", "bravo", "charlie"} & set(flagged)

    (alert,) = env.alerts()
    assert alert["windowEnd"] == END
    assert alert["blocked"] == [f"{ATTACKER}/32"]
    assert alert["refusedAllowlisted"] == [f"{INSIDER}/32"]
    finding = next(f for f in alert["findings"] if f["principal"] == ATTACKER)
    assert any(reason.startswith("rule:rejected-flood") for reason in finding["reasons"])

    documents = emf(capsys.readouterr().out)
    run_metrics = next(d for d in documents if "AnomalousPrincipals" in d)
    assert run_metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SecureEndpoint/Anomaly"
    assert value(run_metrics["AnomalousPrincipals"]) == 2
    assert value(run_metrics["MalformedLines"]) == 3
    assert value(run_metrics["UnparseableLogLines"]) == 2
    assert run_metrics["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert "UnparseableLogLines" in {
        m["Name"] for m in run_metrics["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    assert value(run_metrics["Blocked"]) == 1
    per_client = {d["Client"]: value(d["AnomalyScore"]) for d in documents if "Client" in d}
    assert set(per_client) == set(CLIENTS)
    assert all(0 < float(s) < 1 for s in per_client.values())


def test_a_retried_run_for_the_same_window_is_a_no_op(env: Environment) -> None:
    env.prime()
    env.run()
    before = env.pointer()
    env.aws["wafv2"].meta.events.register("before-call.wafv2.UpdateIPSet", _no_update)

    again = env.run()

    assert again == {"status": "skipped", "windowEnd": END}
    assert env.pointer() == before
    assert len(env.alerts()) == 1


def _no_update(**_: Any) -> None:
    raise AssertionError("UpdateIPSet was called by a retried run")


def test_a_block_is_removed_when_its_ttl_has_passed(env: Environment) -> None:
    env.run()
    assert env.addresses(4) == {f"{ATTACKER}/32"}

    later = env.run(END + 2 * 3600)  # the attacker is quiet since

    assert later["expired"] == [f"{ATTACKER}/32"]
    assert env.addresses(4) == set()
    assert env.blocks.blocked(env.now) == []


def test_a_crash_before_the_commit_leaves_the_previous_state_readable(
    env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.run()
    before = env.pointer()

    def crash(pointer: Any) -> None:
        raise RuntimeError("injected: the run stops before its commit")

    with monkeypatch.context() as patch:
        patch.setattr(env.store, "commit", crash)
        with pytest.raises(RuntimeError, match="injected"):
            env.run(END + WINDOW)

    assert env.pointer() == before
    history = env.store.read(before["history"]["key"])
    assert history is not None
    from anomaly_monitor import history as state

    state.loads(history, before["history"]["sha256"])  # still whole and verified
    retried = env.run(END + WINDOW)
    assert retried["status"] == "done"
    assert env.pointer()["lastWindowEnd"] == END + WINDOW


def test_a_crash_after_blocking_is_completed_by_the_retry_without_a_second_alert(
    env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = env.store.commit
    calls = []

    def crash_once(pointer: Any) -> None:
        calls.append(pointer)
        if len(calls) == 1:
            raise RuntimeError("injected")
        real(pointer)

    monkeypatch.setattr(env.store, "commit", crash_once)
    with pytest.raises(RuntimeError):
        env.run()
    retried = env.run()

    assert retried["status"] == "done"
    assert retried["alerted"] is False  # the first attempt's alert went out already
    assert len(env.alerts()) == 1
    assert env.addresses(4) == {f"{ATTACKER}/32"}


def test_a_tampered_model_is_refused_by_the_monitor_and_refitted_by_the_fitter(
    env: Environment,
) -> None:
    env.prime()
    model = env.store.model_pointer()
    assert model is not None
    data = env.store.read(model["key"])
    assert data is not None
    env.store.put(model["key"], data[:-1] + bytes([data[-1] ^ 1]))

    result = env.run()

    assert any("stored model refused" in note for note in result["notes"])
    assert result["model"] == "rules only"
    assert result["blocked"] == [f"{ATTACKER}/32"]  # the hard rules still act
    refit = env.fit(env.now + 60)
    assert refit["status"] == "fitted"
    assert refit["reason"] == "the stored model does not match its digest"
    refitted = env.store.model_pointer()
    assert refitted is not None
    assert refitted["fittedAt"] > model["fittedAt"]
    stored = env.store.read(refitted["key"])
    assert stored is not None
    loads(stored, refitted["sha256"], FEATURES)  # the new model verifies
    again = env.run(END + WINDOW)
    assert again["model"] == "stored model"
    assert again["modelSha256"] == refitted["sha256"]


def test_the_fit_is_deterministic_given_random_state(env: Environment) -> None:
    env.prime()
    first = env.store.model_pointer()
    assert first is not None
    assert env.fit(env.now + 60)["status"] == "fresh"

    refit = env.fit(env.now + SETTINGS.retrain_seconds)

    assert refit["status"] == "fitted"
    assert refit["reason"] == "model is due for refitting"
    assert refit["modelSha256"] == first["sha256"]  # the same baseline, the same bytes


def test_a_cold_start_without_a_baseline_says_so(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = Environment(aws, monkeypatch)
    env.put(steady(END - WINDOW, END) + flood(END - WINDOW, ATTACKER))

    result = env.run()

    assert result["model"] == "rules only"
    assert any(note.startswith("cold start: no model fitted yet") for note in result["notes"])
    assert result["blocked"] == [f"{ATTACKER}/32"]  # the hard rules still act
    assert result["modelSha256"] is None
    skipped = env.fit()  # one window of baseline: too few to fit a forest
    assert skipped["status"] == "skipped"
    assert "too few windows" in skipped["reason"]
    assert env.store.model_pointer() is None


def test_alert_only_by_default_writes_no_block(env: Environment) -> None:
    result = env.run(settings=replace(SETTINGS, auto_block=False))
    assert result["blocked"] == []
    assert env.addresses(4) == set()
    (alert,) = env.alerts()
    assert alert["autoBlock"] is False
    assert f"secure-endpoint block {ATTACKER} --ttl 1h" in alert["next"]


def test_the_fitter_waits_for_the_monitors_first_history(env: Environment) -> None:
    result = env.fit()

    assert result["status"] == "skipped"
    assert result["reason"] == "no model yet; but the monitor has committed no history yet"
    assert env.store.model_pointer() is None


def test_a_fitter_crash_before_its_commit_leaves_the_previous_model_in_use(
    env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.prime()
    before = env.store.model_pointer()
    monitor_pointer = env.pointer()

    def crash(pointer: Any) -> None:
        raise RuntimeError("injected: the fitter stops before its commit")

    changed = replace(SETTINGS, alert_quantile=0.99)
    with monkeypatch.context() as patch:
        patch.setattr(env.store, "commit_model", crash)
        with pytest.raises(RuntimeError, match="injected"):
            env.fit(env.now + 60, changed)

    assert env.store.model_pointer() == before
    assert env.pointer() == monitor_pointer  # the fitter never writes the monitor's state
    result = env.run()
    assert result["model"] == "stored model"
    assert result["modelSha256"] == before["sha256"]  # type: ignore[index]
    retried = env.fit(env.now + 60, changed)
    assert retried["status"] == "fitted"
    assert retried["reason"] == "model settings changed"
    after = env.store.model_pointer()
    assert after is not None
    assert after["alertQuantile"] == 0.99
    assert after["sha256"] != before["sha256"]  # type: ignore[index]


def test_a_model_object_gone_is_refitted(env: Environment) -> None:
    env.prime()
    model = env.store.model_pointer()
    assert model is not None
    env.aws["s3"].delete_object(Bucket="monitor-state", Key=model["key"])

    result = env.run()
    assert result["model"] == "rules only"
    assert any(note.startswith("stored model is gone") for note in result["notes"])
    refit = env.fit(env.now + 60)
    assert refit["status"] == "fitted"
    assert refit["reason"] == "the model object is gone"
    refitted = env.store.model_pointer()
    assert refitted is not None
    assert refitted["baselineEnd"] == END  # the monitor's newest committed window
    assert env.store.read(refitted["key"]) is not None


def test_a_stale_model_is_still_used_with_a_warning(env: Environment) -> None:
    env.prime()

    result = env.run(END + 3 * SETTINGS.retrain_seconds)

    assert result["model"] == "stored model"
    assert any("is the model fitter failing?" in note for note in result["notes"])


def test_each_function_calls_s3_only_where_its_policy_allows(env: Environment) -> None:
    """Every S3 call of a monitor run and a fitter run, recorded: the operations and prefixes of
    ``state_access.S3_ACCESS``, the table tests/test_monitor.py checks the IAM policies against."""
    calls: list[tuple[str, str, str]] = []
    who = ["monitor"]

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((who[0], model.name, str(params.get("Key", ""))))

    env.aws["s3"].meta.events.register("before-parameter-build.s3", record)
    env.run(END - WINDOW)  # the first run: no model yet, a history committed
    who[0] = "fitter"
    assert env.fit()["status"] == "fitted"
    who[0] = "monitor"
    assert env.run()["blocked"] == [f"{ATTACKER}/32"]  # scores, alerts, blocks
    who[0] = "fitter"
    assert env.fit(env.now + 60)["status"] == "fresh"
    assert env.fit(env.now + 60, replace(SETTINGS, alert_quantile=0.99))["status"] == "fitted"
    env.aws["s3"].meta.events.unregister("before-parameter-build.s3", record)

    used: dict[str, set[tuple[str, str]]] = {"monitor": set(), "fitter": set()}
    for function, operation, key in calls:
        assert operation in state_access.ACTIONS, (function, operation, key)
        prefix = next(p for p in state_access.PREFIXES if key.startswith(p))
        used[function].add((state_access.ACTIONS[operation], prefix))
    for function, access in state_access.S3_ACCESS.items():
        allowed = {(action, p) for action, prefixes in access.items() for p in prefixes}
        assert used[function] <= allowed, function
    # the runs above exercise every grant: none is wider than a call needs
    assert used["fitter"] == {
        ("s3:GetObject", "state/"),
        ("s3:GetObject", "model/"),
        ("s3:PutObject", "model/"),
    }
    assert ("s3:PutObject", "model/") not in used["monitor"]
    assert {("s3:GetObject", "model/"), ("s3:PutObject", "alerts/")} <= used["monitor"]

"""The local endpoint: the simulator's model behind the gateway's limits, writing capture files
that the capture reader reads back (a small model, a virtual clock; no sleeping)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from secure_endpoint.cli.client import ClientCredentials, InferenceClient, TokenCache
from secure_endpoint.runtime.capture.records import Counts, read_lines
from secure_endpoint.simulate.capture import population as pop
from secure_endpoint.simulate.capture.model import train
from secure_endpoint.simulate.local_endpoint import (
    LocalEndpoint,
    LocalServer,
    Quarantine,
    RequestModel,
    UsagePlan,
    VirtualClock,
    _check,
    main,
)

START = 1_772_409_600.0  # 2026-03-02T00:00:00Z
KEY = re.compile(
    r"^capture/secure-endpoint-local/AllTraffic/2026/03/02/00/\d{2}-\d{2}-\d{3}-"
    r"[0-9a-f-]{36}\.jsonl$"
)
ROW_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "maxItems": 3,
    "items": {
        "type": "array",
        "minItems": 2,
        "maxItems": 2,
        "items": [{"type": "integer", "minimum": 0, "maximum": 5}, {"type": ["number", "null"]}],
        "additionalItems": False,
    },
}
SCHEMA = {"type": "object", "required": ["instances"], "properties": {"instances": ROW_SCHEMA},
          "additionalProperties": False}  # fmt: skip


@pytest.fixture(scope="module")
def model():
    rows, labels = pop.training_set(seed=3, n=600)
    return train(rows, labels, pop.FEATURE_NAMES, seed=3).ensemble


@pytest.fixture(scope="module")
def rows():
    return pop.training_set(seed=4, n=20)[0]


def _body(rows):
    return json.dumps({"instances": rows.tolist()}).encode()


def _captures(root):
    counts = Counts()
    paths = sorted((root / "capture").rglob("*.jsonl"))
    lines = [line for path in paths for line in path.read_bytes().splitlines()]
    return paths, list(read_lines(lines, counts)), counts


def test_answers_are_the_models_and_the_capture_reads_back_per_client(tmp_path, model, rows):
    clock = VirtualClock(START)
    endpoint = LocalEndpoint(model, tmp_path, clock=clock, object_seconds=60)
    sent = []
    for i in range(6):
        answer = endpoint.invoke(f"client-{i % 2}", _body(rows[i : i + 2]))
        assert answer.status == 200
        sent.append((f"client-{i % 2}", rows[i : i + 2], json.loads(answer.body)["predictions"]))
        clock.advance(25)
    endpoint.flush()
    paths, captures, counts = _captures(tmp_path)
    assert counts.skipped == {}
    assert counts.records == 6
    assert counts.rows == 12
    # an object spans at most a minute of the clock: calls at 0, 25, 50 s; then 75, 100, 125 s
    assert [len(p.read_text().splitlines()) for p in paths] == [3, 3]
    assert all(KEY.match(str(p.relative_to(tmp_path))) for p in paths)
    for capture, (client, sent_rows, predictions) in zip(captures, sent, strict=True):
        assert capture.client_id == client
        assert re.fullmatch(r"[0-9a-f-]{36}", capture.request_id)
        np.testing.assert_allclose(capture.rows, sent_rows)
        assert capture.outputs == predictions
        np.testing.assert_allclose(predictions, model.predict_proba(sent_rows))
    assert [c.time for c in captures] == [START + 25 * i for i in range(6)]
    assert endpoint.stats.rows == {"client-0": 6, "client-1": 6}


def test_csv_is_answered_one_probability_a_line_and_captured_as_csv(tmp_path, model, rows):
    endpoint = LocalEndpoint(model, tmp_path, clock=VirtualClock(START))
    text = "\n".join(",".join(map(repr, row)) for row in rows[:3].tolist()) + "\n"
    answer = endpoint.invoke("c", text.encode(), "text/csv")
    assert answer.status == 200
    assert answer.content_type.startswith("text/csv")
    values = [float(v) for v in answer.body.decode().splitlines()]
    np.testing.assert_allclose(values, model.predict_proba(rows[:3]))
    endpoint.flush()
    _, captures, _ = _captures(tmp_path)
    assert captures[0].outputs == values
    assert len(captures[0].rows) == 3


def test_the_usage_plan_throttles_beyond_the_burst_and_refills_at_the_rate(tmp_path, model, rows):
    clock = VirtualClock(START)
    plan = UsagePlan(rate_per_second=2, burst=3, quota_per_day=None)
    endpoint = LocalEndpoint(model, tmp_path, plan=plan, clock=clock)
    statuses = [endpoint.invoke("c", _body(rows[:1])).status for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    refused = endpoint.invoke("c", _body(rows[:1]))
    assert json.loads(refused.body)["error"] == "throttled"
    assert refused.error == "throttled"
    clock.advance(0.5)  # one token back
    assert [endpoint.invoke("c", _body(rows[:1])).status for _ in range(2)] == [200, 429]
    assert endpoint.invoke("other", _body(rows[:1])).status == 200  # per client
    endpoint.flush()
    assert _captures(tmp_path)[2].records == 5  # refused calls never reach the model


def test_the_quota_refuses_for_the_rest_of_the_day(tmp_path, model, rows):
    clock = VirtualClock(START)
    plan = UsagePlan(rate_per_second=100, burst=100, quota_per_day=4)
    endpoint = LocalEndpoint(model, tmp_path, plan=plan, clock=clock)
    assert [endpoint.invoke("c", _body(rows[:1])).status for _ in range(5)][-2:] == [200, 429]
    assert endpoint.invoke("c", _body(rows[:1])).error == "quota_exceeded"
    clock.advance(86_400)
    assert endpoint.invoke("c", _body(rows[:1])).status == 200


def test_a_quarantined_client_is_held_to_the_quarantine_plan_or_refused(tmp_path, model, rows):
    clock = VirtualClock(START)
    held = Quarantine(plan=UsagePlan(rate_per_second=0.01, burst=1, quota_per_day=1))
    endpoint = LocalEndpoint(model, tmp_path, plan=UsagePlan(), quarantine=held, clock=clock)
    assert endpoint.invoke("c", _body(rows[:1])).status == 200
    endpoint.quarantine("c")
    assert [endpoint.invoke("c", _body(rows[:1])).status for _ in range(2)] == [200, 429]
    assert endpoint.invoke("other", _body(rows[:1])).status == 200
    endpoint.release("c")
    assert endpoint.invoke("c", _body(rows[:1])).status == 200

    disabled = LocalEndpoint(model, tmp_path, quarantine=Quarantine(mode="disable"), clock=clock)
    disabled.quarantine("c")
    answer = disabled.invoke("c", _body(rows[:1]))
    assert (answer.status, answer.error) == (403, "forbidden")


def test_request_validation_answers_400_with_the_validators_detail(tmp_path, model, rows):
    schema = {**SCHEMA, "properties": {"instances": {**ROW_SCHEMA, "maxItems": 100, "items": {
        "type": "array", "minItems": 35, "maxItems": 35,
        "items": [{"type": "number", "minimum": 0, "maximum": 100}] * 35}}}}  # fmt: skip
    endpoint = LocalEndpoint(model, tmp_path, schema=schema, clock=VirtualClock(START),
                             validator="jsonschema")  # fmt: skip
    bad = rows[:1].copy()
    bad[0, 0] = 1000.0
    answer = endpoint.invoke("c", _body(bad))
    assert answer.status == 400
    document = json.loads(answer.body)
    assert document["error"] == "invalid_body"
    assert document["detail"] == "instances/0/0: 1000.0 is greater than the maximum of 100"
    builtin = LocalEndpoint(model, tmp_path, schema=schema, clock=VirtualClock(START))
    refused = json.loads(builtin.invoke("c", _body(bad)).body)["detail"]
    assert refused == document["detail"]  # the same words without jsonschema
    rows_in_range = np.clip(rows[:2], 0, 100)
    assert endpoint.invoke("c", _body(rows_in_range)).status == 200
    assert endpoint.invoke("c", b"not json").error == "invalid_body"
    # CSV is not checked by the gateway; the model reads it
    assert endpoint.invoke("c", b",".join(b"1" for _ in range(35)), "text/csv").status == 200


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        ({"instances": [[1, 2.5]]}, None),
        ({"instances": [[1, None]]}, None),
        ({"instances": [[1.5, 2]]}, "instances/0/0"),
        ({"instances": [[6, 2]]}, "maximum"),
        ({"instances": [[1, "2"]]}, "type"),
        ({"instances": [[1]]}, "fewer"),
        ({"instances": [[1, 2, 3]]}, "more"),
        ({"instances": [[1, 2]] * 4}, "more than 3"),
        ({"instances": []}, "fewer"),
        ({"rows": [[1, 2]]}, "required"),
        ({"instances": [[1, 2]], "x": 1}, "additional"),
        ([[1, 2]], "type"),
    ],
)
def test_the_fallback_check_refuses_what_the_request_model_refuses(body, refused):
    import jsonschema

    found = _check(SCHEMA, body)
    assert (found is None) == (refused is None), found
    if refused is not None:
        assert refused in found
    assert jsonschema.Draft4Validator(SCHEMA).is_valid(body) == (refused is None)
    assert (RequestModel(SCHEMA).error(body) is None) == (refused is None)
    assert (RequestModel(SCHEMA, "jsonschema").error(body) is None) == (refused is None)


def test_rows_the_model_cannot_read_are_its_400_and_not_captured(tmp_path, model, rows):
    endpoint = LocalEndpoint(model, tmp_path, clock=VirtualClock(START))
    for body in (_body(rows[:1, :-1]), b'{"instances": [["a"]]}', b"{}", b'{"instances": [[NaN]]}'):
        answer = endpoint.invoke("c", body)
        assert (answer.status, answer.error) == (400, "invalid_input"), body
    assert endpoint.invoke("c", b"x", "application/xml").status == 415
    endpoint.flush()
    assert not list(tmp_path.rglob("*.jsonl"))


def test_over_http_the_clis_client_gets_answers_and_the_plans_429(tmp_path, model, rows):
    plan = UsagePlan(rate_per_second=0.001, burst=2, quota_per_day=None)
    endpoint = LocalEndpoint(model, tmp_path, plan=plan)
    with LocalServer(endpoint, clients={"partner": "s3cret"}) as server:
        credentials = ClientCredentials(
            secret_id="local", client_id="partner", client_secret="s3cret",
            token_url=f"{server.url}/oauth2/token", api_url=f"{server.url}/predict",
            scope="api/invoke", api_key="key",
        )  # fmt: skip
        client = InferenceClient(credentials, TokenCache(None), allow_insecure_http=True)
        first = client.invoke(_body(rows[:2]))
        assert first.status == 200
        np.testing.assert_allclose(
            json.loads(first.body)["predictions"], model.predict_proba(rows[:2])
        )
        assert client.invoke(_body(rows[:1])).status == 200
        throttled = client.invoke(_body(rows[:1]))
        assert throttled.status == 429
        assert json.loads(throttled.body)["error"] == "throttled"
        assert client.invoke(_body(rows[:1]), authorize=False).status == 401
        import urllib.request

        runtime = urllib.request.Request(  # noqa: S310 - loopback
            f"{server.url}/endpoints/secure-endpoint-local/invocations", data=_body(rows[:1]),
            headers={"Content-Type": "application/json",
                     "X-Amzn-SageMaker-Inference-Id": "direct:42"}, method="POST",
        )  # fmt: skip
        with urllib.request.urlopen(runtime) as response:  # noqa: S310 - loopback
            assert response.status == 200
    _, captures, _ = _captures(tmp_path)
    assert [(c.client_id, len(c.rows)) for c in captures] == [
        ("partner", 2), ("partner", 1), ("direct", 1)
    ]  # fmt: skip
    assert captures[2].request_id == "42"


def test_wrong_client_credentials_get_no_token(tmp_path, model):
    with LocalServer(LocalEndpoint(model, tmp_path), clients={"partner": "s3cret"}) as server:
        credentials = ClientCredentials(
            secret_id="local", client_id="partner", client_secret="wrong",
            token_url=f"{server.url}/oauth2/token", api_url=f"{server.url}/predict",
            scope="api/invoke", api_key="key",
        )  # fmt: skip
        client = InferenceClient(credentials, TokenCache(None), allow_insecure_http=True)
        from secure_endpoint.cli.client import TokenError

        with pytest.raises(TokenError, match="HTTP 400"):
            client.invoke(b"{}")


def test_boto3s_sagemaker_runtime_client_invokes_the_local_endpoint(tmp_path, model, rows):
    import boto3
    import botocore.exceptions

    endpoint = LocalEndpoint(model, tmp_path, endpoint_name="churn", clock=VirtualClock(START))
    with LocalServer(endpoint) as server:
        runtime = boto3.client(
            "sagemaker-runtime", endpoint_url=server.url, region_name="eu-west-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        answer = runtime.invoke_endpoint(
            EndpointName="churn", Body=_body(rows[:2]), ContentType="application/json",
            InferenceId="partner:42",
        )  # fmt: skip
        assert answer["InvokedProductionVariant"] == "AllTraffic"
        np.testing.assert_allclose(
            json.loads(answer["Body"].read())["predictions"], model.predict_proba(rows[:2])
        )
        with pytest.raises(botocore.exceptions.ClientError) as unknown:
            runtime.invoke_endpoint(EndpointName="other", Body=b"[]")
        assert unknown.value.response["Error"]["Code"] == "ValidationError"
        with pytest.raises(botocore.exceptions.ClientError) as unreadable:
            runtime.invoke_endpoint(EndpointName="churn", Body=b"[[1, 2]]",
                                    ContentType="application/json")  # fmt: skip
        assert unreadable.value.response["Error"]["Code"] == "ModelError"
        assert unreadable.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    captures = _captures(tmp_path)[1]
    assert [(c.client_id, c.request_id, len(c.rows)) for c in captures] == [("partner", "42", 2)]


def test_the_module_serves_a_model_directory(tmp_path, model, rows, capsys):
    import urllib.request

    model.save(tmp_path / "model.json")
    answers = []

    def call(server):
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{server.url}/endpoints/secure-endpoint-local/invocations", data=_body(rows[:1]),
            headers={"Content-Type": "application/json"}, method="POST",
        )  # fmt: skip
        with urllib.request.urlopen(request) as response:  # noqa: S310 - loopback
            answers.append(json.loads(response.read())["predictions"])

    assert main(["--local", str(tmp_path), "--port", "0"], ready=call) == 0
    np.testing.assert_allclose(answers[0], model.predict_proba(rows[:1]))
    assert "serving " in capsys.readouterr().out
    assert len(_captures(tmp_path)[1]) == 1

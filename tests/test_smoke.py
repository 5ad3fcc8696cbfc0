"""``secure-endpoint smoke`` against a local stand-in of the API, with the stack's outputs,
secrets and usage plan in moto: every check passes on a faithful API and fails on a broken one."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_fakes import use_fake_credentials
from moto import mock_aws
from secure_api_fake import INVOKE, STATUS, SecureApiFake, serve

from secure_endpoint import manifest
from secure_endpoint.cli import main
from secure_endpoint.cli.smoke import Outcome, SmokePlan, exit_code, report_lines, run_checks

REGION = "eu-west-1"
STACK = "SecureEndpointSample"

Deploy = Callable[..., SecureApiFake]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    use_fake_credentials(monkeypatch, REGION)
    with mock_aws():
        yield


@pytest.fixture
def deploy(aws: None) -> Iterator[Deploy]:
    """``deploy(clients={name: scopes}, **fake_options)``: the fake API serving, and a stack in
    moto whose endpoint manifest names each client's secret and API key (usage plan: burst 5)."""
    servers: list[Any] = []

    def make(clients: dict[str, tuple[str, ...]] | None = None, **options: Any) -> SecureApiFake:
        fake = SecureApiFake(**options)
        server = serve(fake)
        servers.append(server)
        server.__enter__()
        apigateway = boto3.client("apigateway")
        secrets = boto3.client("secretsmanager")
        plan = apigateway.create_usage_plan(
            name="plan", throttle={"burstLimit": fake.burst, "rateLimit": fake.rate}
        )
        clients_found = {}
        for name, scopes in (clients or {"partner-a": (INVOKE,)}).items():
            secret = fake.add_client(name, scopes)
            arn = secrets.create_secret(Name=f"{name}-secret", SecretString=json.dumps(secret))[
                "ARN"
            ]
            key = apigateway.create_api_key(name=name, value=secret["api_key"], enabled=True)
            apigateway.create_usage_plan_key(
                usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY"
            )
            clients_found[name] = manifest.ClientEntry(
                secret_arn=arn, api_key_id=key["id"], client_id=f"{name}-client-id"
            )
        found = manifest.Manifest(
            name="Endpoint",
            api_url=f"{fake.base_url}/prod/v1/predict",
            token_url=f"{fake.base_url}/oauth2/token",
            endpoint_name="model-endpoint",
            invoke_scope=INVOKE,
            clients=clients_found,
            auto_block_table="auto-block",
        )
        template = {
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {manifest.output_key("Endpoint"): {"Value": json.dumps(found.as_json())}},
        }
        boto3.client("cloudformation").create_stack(
            StackName=STACK, TemplateBody=json.dumps(template)
        )
        return fake

    yield make
    for server in servers:
        server.__exit__(None, None, None)


def smoke(*extra: str) -> int:
    return main(
        [
            "smoke",
            "--stack",
            STACK,
            "--burst-concurrency",
            "16",
            "--insecure-http-for-testing",
            *extra,
        ]
    )


def lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_a_faithful_api_passes_every_check(
    deploy: Deploy, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = deploy({"partner-a": (INVOKE, STATUS)})
    assert smoke() == 0
    out = lines(capsys)
    assert out[0].startswith(f"smoke test of {STACK} as client partner-a, by ")
    assert out[1] == f"calling {fake.base_url}/prod/v1/predict"
    assert [line.split("  ")[0] for line in out[2:7]] == ["PASS"] * 5
    assert out[2].startswith("PASS  200 with a valid token and body ")
    assert out[3].endswith("HTTP 401 unauthorized")
    assert out[4].endswith(f"HTTP 403 forbidden (client partner-a asking for {STATUS})")
    assert out[5].endswith("HTTP 400 invalid_body")
    assert (
        "concurrent requests got HTTP 429 throttled (usage plan rate 2.0 rps, burst 5)" in (out[6])
    )
    assert out[7] == "5 passed, 0 failed"
    assert fake.token_requests[:2] == [f"{INVOKE} {STATUS}", STATUS]


def test_the_burst_is_three_times_the_usage_plan_burst_at_least_fifty(
    deploy: Deploy, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = deploy(burst=40, rate=1.0)
    assert smoke() == 0
    (burst,) = [line for line in lines(capsys) if "under a burst" in line]
    assert " of 120 concurrent requests got HTTP 429" in burst
    assert sum(fake.statuses.values()) == 120 + 3  # the burst, the 200, the 401 and the 400


def test_the_403_takes_a_token_of_another_client_without_the_invoke_scope(
    deploy: Deploy, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy({"partner-a": (INVOKE,), "auditor": (STATUS,)})
    assert smoke("--client", "partner-a") == 0
    (check,) = [line for line in lines(capsys) if "lacking the invoke scope" in line]
    assert check.startswith("PASS")
    assert check.endswith(f"HTTP 403 forbidden (client auditor, scopes {STATUS})")


def test_without_a_token_lacking_the_scope_the_403_is_shown_as_not_run(
    deploy: Deploy, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy({"partner-a": (INVOKE,)})
    assert smoke() == 0
    out = lines(capsys)
    (check,) = [line for line in out if "lacking the invoke scope" in line]
    assert check.startswith("SKIP  403 with a token lacking the invoke scope  no client can get ")
    assert "ApiClient(scopes=('invoke', 'status'))" in check
    assert out[-1] == "4 passed, 0 failed, 1 not run"


BROKEN = [
    # (what is broken, fake options, the check that must fail, its detail, the total line)
    ("token not required", {"require_token": False}, "401 without", "got HTTP 200", "3 passed"),
    ("scope not checked", {"check_scope": False}, "403 with a token", "got HTTP 200", "4 passed"),
    ("no validation", {"validate": False}, "400 for a body", "got HTTP 200", "4 passed"),
    ("no throttling", {"throttle": False}, "429 under a burst", "no 429 in 50", "4 passed"),
    (
        "plain-text errors",
        {"json_errors": False},
        "401 without a token",
        "HTTP 401 without the API's JSON error body",
        "1 passed, 4 failed",
    ),
]


@pytest.mark.parametrize(
    ("broken", "options", "check", "detail", "total"), BROKEN, ids=[b[0] for b in BROKEN]
)
def test_a_broken_api_fails_its_check_and_the_smoke_exits_1(
    deploy: Deploy,
    capsys: pytest.CaptureFixture[str],
    broken: str,
    options: dict[str, Any],
    check: str,
    detail: str,
    total: str,
) -> None:
    deploy({"partner-a": (INVOKE, STATUS)}, **options)
    assert smoke() == 1
    out = lines(capsys)
    (line,) = [line for line in out if check in line]
    assert line.startswith("FAIL  ")
    assert detail in line
    assert out[-1].startswith(total)


def test_a_model_that_refuses_the_default_body_asks_for_one(
    deploy: Deploy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake = deploy({"partner-a": (INVOKE, STATUS)}, features=3)
    assert smoke() == 1
    (first,) = [line for line in lines(capsys) if "valid token and body" in line]
    assert first.endswith(
        "got HTTP 400 invalid_input; the model may refuse the default body: pass --body FILE "
        "with a request it accepts"
    )
    body = tmp_path / "body.json"
    body.write_text("[[1.0, 2.0, 3.0]]")
    fake.refill()  # the first run's burst emptied the bucket
    assert smoke("--body", str(body)) == 0


def test_a_check_throttled_by_an_earlier_burst_says_so(
    deploy: Deploy, capsys: pytest.CaptureFixture[str]
) -> None:
    # a bucket that refills once a minute: nothing comes back between the two runs, however slow
    deploy({"partner-a": (INVOKE, STATUS)}, rate=1 / 60)
    assert smoke() == 0
    capsys.readouterr()
    assert smoke() == 1
    (first,) = [line for line in lines(capsys) if "valid token and body" in line]
    assert first.endswith("got HTTP 429 throttled; an earlier burst? retry in a minute")


def test_no_credentials_refuse_politely_and_send_nothing(
    no_aws_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert smoke("--region", REGION) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "secure-endpoint: error: no AWS credentials found: configure them (aws configure, aws sso "
        "login, or AWS_PROFILE) or pass --profile; nothing was sent\n"
    )


def test_a_stack_that_is_not_deployed_refuses_politely(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert smoke() == 2
    assert capsys.readouterr().err == (
        f"secure-endpoint: error: stack '{STACK}' not found in {REGION}: deploy it first (make "
        "deploy), or pass --stack and --region of a deployed one; nothing was sent\n"
    )


def test_several_clients_need_a_choice(deploy: Deploy, capsys: pytest.CaptureFixture[str]) -> None:
    fake = deploy({"partner-a": (INVOKE,), "partner-b": (INVOKE,)})
    assert smoke() == 2
    assert "has clients partner-a, partner-b: pass --client NAME" in capsys.readouterr().err
    assert fake.token_requests == []


def test_a_client_without_the_invoke_scope_cannot_be_the_one_tested(
    deploy: Deploy, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy({"auditor": (STATUS,)})
    assert smoke() == 2
    assert f"client 'auditor' may not request {INVOKE}" in capsys.readouterr().err


def test_the_checks_alone_report_one_line_each_and_a_total() -> None:
    with serve(SecureApiFake(burst=2, rate=0.5)) as fake:
        from secure_endpoint.cli.client import ClientCredentials

        secret = fake.add_client("partner-a", (INVOKE,))
        credentials = ClientCredentials.from_secret_string("arn:secret", json.dumps(secret))
        plan = SmokePlan(
            credentials, burst_requests=20, burst_concurrency=8, allow_insecure_http=True
        )
        checks = run_checks(plan)
    assert [c.outcome for c in checks] == [
        Outcome.PASS,
        Outcome.PASS,
        Outcome.SKIP,
        Outcome.PASS,
        Outcome.PASS,
    ]
    assert exit_code(checks) == 0
    assert report_lines(checks)[-1] == "4 passed, 0 failed, 1 not run"

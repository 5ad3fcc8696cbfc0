"""The quarantine commands of ``secure-endpoint`` against moto, from a deployed stack's manifest.

The stack outputs the endpoint's manifest (with its quarantine usage plan and never_quarantine
list); the API keys and usage plans are created directly, since moto's CloudFormation does not
build those resource types.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aws_fakes import use_fake_credentials
from moto import mock_aws
from test_cli_response import CALLER, MANIFEST_KEY, audit, deploy_stack, errors, manifest_value

from secure_endpoint import manifest
from secure_endpoint.cli import main
from secure_endpoint.runtime.quarantine import read_record

REGION = "eu-west-1"
STACK = "Prod"
PARTNER_A_ID = "3kq0f4vvd8l2c1ot7m0d5gk1f9"


@dataclass
class Deployed:
    apigateway: Any
    keys: dict[str, str]  # client name -> API key id
    plans: dict[str, str]  # client name -> its usage plan id
    quarantine_plan: str

    def plans_of(self, name: str) -> set[str]:
        items = self.apigateway.get_usage_plans(keyId=self.keys[name])["items"]
        return {p["id"] for p in items}

    def key(self, name: str) -> dict[str, Any]:
        response: dict[str, Any] = self.apigateway.get_api_key(apiKey=self.keys[name])
        return response


def deploy(*, with_plan: bool = True, stack: str = STACK) -> Deployed:
    apigateway = boto3.client("apigateway")
    api_id = apigateway.create_rest_api(name="inference")["id"]
    stage = [{"apiId": api_id, "stage": "prod"}]
    keys, plans, clients = {}, {}, {}
    for name, client_id in (("partner-a", PARTNER_A_ID), ("ops", "9opsopsopsopsopsopsopsopso")):
        keys[name] = apigateway.create_api_key(
            name=f"{name}-key", description=f"secure-endpoint client {name}", enabled=True
        )["id"]
        plans[name] = apigateway.create_usage_plan(name=f"{name}-plan", apiStages=stage)["id"]
        apigateway.create_usage_plan_key(
            usagePlanId=plans[name], keyId=keys[name], keyType="API_KEY"
        )
        secret = boto3.client("secretsmanager").create_secret(
            Name=f"{name}-credentials", SecretString="{}"
        )["ARN"]
        clients[name] = manifest.ClientEntry(secret, keys[name], client_id)
    quarantine_plan = apigateway.create_usage_plan(
        name="quarantine",
        apiStages=stage,
        throttle={"rateLimit": 1, "burstLimit": 1},
        quota={"limit": 100, "period": "DAY"},
    )["id"]
    found = manifest.Manifest(
        name="Endpoint",
        api_url="https://api.example.com/v1/predict",
        token_url="https://auth.example.com/oauth2/token",
        endpoint_name="churn",
        invoke_scope="secure-endpoint/invoke",
        clients=clients,
        auto_block_table="<table>",
        quarantine_plan_id=quarantine_plan if with_plan else None,
        never_quarantine=("ops",),
    )
    deploy_stack(stack, {MANIFEST_KEY: manifest_value(found)})
    return Deployed(apigateway, keys, plans, quarantine_plan)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    use_fake_credentials(monkeypatch, REGION)
    with mock_aws():
        yield deploy()


def run(*argv: str) -> int:
    return main(list(argv))


def test_quarantine_moves_the_key_and_logs_who(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("quarantine", "partner-a", "--stack", STACK, "--reason", "probing") == 0

    out, err = capsys.readouterr()
    assert out.startswith("quarantined partner-a until ")
    assert f"quarantine usage plan {aws.quarantine_plan} instead of {aws.plans['partner-a']}" in out
    assert aws.plans_of("partner-a") == {aws.quarantine_plan}
    record = read_record(aws.key("partner-a")["description"])
    assert record is not None
    assert (record.source, record.reason, record.alert) == (CALLER, "probing", "none")
    assert record.until - record.since == 86400  # the default TTL: 24h
    (line,) = audit(err)
    assert (line["who"], line["command"], line["target"], line["result"]) == (
        CALLER,
        "quarantine",
        "partner-a",
        "quarantined",
    )
    assert line["expiresAt"] == record.until
    assert line["plans"] == [aws.plans["partner-a"]]
    assert errors(err) == []


def test_quarantine_takes_a_client_id_and_a_ttl(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("quarantine", PARTNER_A_ID, "--stack", STACK, "--ttl", "2h") == 0

    out, _ = capsys.readouterr()
    assert out.startswith(f"client id {PARTNER_A_ID} is client partner-a\nquarantined partner-a")
    record = read_record(aws.key("partner-a")["description"])
    assert record is not None
    assert record.until - record.since == 7200


def test_quarantining_twice_says_so_and_changes_nothing(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("quarantine", "partner-a", "--stack", STACK) == 0
    description = aws.key("partner-a")["description"]
    capsys.readouterr()

    assert run("quarantine", "partner-a", "--stack", STACK) == 0

    out, err = capsys.readouterr()
    assert "partner-a is already quarantined until" in out
    assert "nothing changed" in out
    assert aws.key("partner-a")["description"] == description
    assert audit(err)[0]["result"] == "already-quarantined"

    assert run("quarantine", "partner-a", "--stack", STACK, "--ttl", "3d") == 0
    out, err = capsys.readouterr()
    assert "now quarantined until" in out
    assert audit(err)[0]["result"] == "extended"


def test_a_client_on_never_quarantine_is_refused(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("quarantine", "ops", "--stack", STACK) == 2

    _, err = capsys.readouterr()
    assert "refusing to quarantine ops: it is on the endpoint's never_quarantine list" in err
    assert audit(err)[0]["result"] == "refused"
    assert aws.plans_of("ops") == {aws.plans["ops"]}
    assert read_record(aws.key("ops")["description"]) is None


def test_release_restores_the_plan_and_says_so(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    description = aws.key("partner-a")["description"]
    assert run("quarantine", "partner-a", "--stack", STACK) == 0
    capsys.readouterr()

    assert run("release", "partner-a", "--stack", STACK) == 0

    out, err = capsys.readouterr()
    assert out == "released partner-a: its API key is back in its own usage plan(s)\n"
    assert aws.plans_of("partner-a") == {aws.plans["partner-a"]}
    assert aws.key("partner-a")["description"] == description
    assert audit(err)[0]["result"] == "released"

    assert run("release", "partner-a", "--stack", STACK) == 0
    out, err = capsys.readouterr()
    assert out == "partner-a was not quarantined; nothing changed\n"
    assert audit(err)[0]["result"] == "not-quarantined"


def test_release_expired_releases_only_the_expired(
    aws: Deployed, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("quarantine", "partner-a", "--stack", STACK, "--ttl", "1h") == 0
    capsys.readouterr()
    assert run("release", "--expired", "--stack", STACK) == 0
    assert capsys.readouterr().out == "released 0 expired quarantine(s): none\n"

    later = time.time() + 3601
    monkeypatch.setattr(time, "time", lambda: later)
    assert run("release", "--expired", "--stack", STACK) == 0

    assert capsys.readouterr().out == "released 1 expired quarantine(s): partner-a\n"
    assert aws.plans_of("partner-a") == {aws.plans["partner-a"]}


@pytest.mark.parametrize("argv", [("release",), ("release", "partner-a", "--expired")])
def test_release_takes_a_client_or_expired(
    aws: Deployed, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    assert run(*argv, "--stack", STACK) == 2
    assert "pass CLIENT, or --expired (and no CLIENT)" in capsys.readouterr().err


def test_quarantined_lists_clients_with_their_expiry(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("quarantined", "--stack", STACK) == 0
    assert capsys.readouterr().out == "no client is quarantined\n"
    assert run("quarantine", "partner-a", "--stack", STACK, "--ttl", "2h", "--reason", "ood") == 0
    capsys.readouterr()

    assert run("quarantined", "--stack", STACK) == 0

    out, err = capsys.readouterr()
    header, row = out.splitlines()
    assert header.split() == ["CLIENT", "EXPIRES", "IN", "MODE", "REASON", "SOURCE"]
    assert row.split()[0] == "partner-a"
    assert row.split()[1] in ("1h", "2h")
    assert row.split()[-3:] == ["plan", "ood", "user/moto"]
    assert audit(err)[0]["count"] == 1


def test_without_a_quarantine_plan_it_asks_for_one_or_disable_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_fake_credentials(monkeypatch, REGION)
    with mock_aws():
        aws = deploy(with_plan=False)
        assert run("quarantine", "partner-a", "--stack", STACK) == 2
        assert "has no quarantine usage plan" in capsys.readouterr().err
        assert aws.plans_of("partner-a") == {aws.plans["partner-a"]}

        assert run("quarantine", "partner-a", "--stack", STACK, "--disable-key") == 0

        assert "its API key is disabled" in capsys.readouterr().out
        assert aws.key("partner-a")["enabled"] is False
        assert run("release", "partner-a", "--stack", STACK) == 0
        assert aws.key("partner-a")["enabled"] is True


def test_flags_work_without_a_stack(aws: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    key = aws.keys["partner-a"]
    argv = ("partner-a", "--api-key-id", key)
    assert run("quarantine", *argv, "--quarantine-plan-id", aws.quarantine_plan) == 0
    assert aws.plans_of("partner-a") == {aws.quarantine_plan}
    assert run("release", *argv) == 0
    assert aws.plans_of("partner-a") == {aws.plans["partner-a"]}


def test_a_bad_ttl_is_refused_before_any_call(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("quarantine", "partner-a", "--stack", STACK, "--ttl", "31d") == 2
    assert "must be from 1 minute to 30 days" in capsys.readouterr().err
    assert aws.plans_of("partner-a") == {aws.plans["partner-a"]}


def test_an_unknown_client_names_the_clients_there_are(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("quarantine", "nobody", "--stack", STACK) == 2
    assert "no client 'nobody'" in capsys.readouterr().err


def test_a_client_revoked_during_a_disabling_quarantine_stays_disabled_after_release(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("quarantine", "partner-a", "--stack", STACK, "--disable-key") == 0
    assert aws.key("partner-a")["enabled"] is False
    capsys.readouterr()

    assert run("revoke-client", "partner-a", "--stack", STACK) == 0
    out, _ = capsys.readouterr()
    assert "will leave its key disabled when it ends" in out

    assert run("release", "partner-a", "--stack", STACK) == 0
    assert aws.key("partner-a")["enabled"] is False
    assert read_record(aws.key("partner-a")["description"]) is None


def test_a_client_revoked_during_a_plan_quarantine_stays_disabled_after_release(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("quarantine", "partner-a", "--stack", STACK) == 0
    assert run("revoke-client", "partner-a", "--stack", STACK) == 0
    capsys.readouterr()

    assert run("release", "partner-a", "--stack", STACK) == 0

    assert aws.key("partner-a")["enabled"] is False
    assert aws.plans_of("partner-a") == {aws.plans["partner-a"]}

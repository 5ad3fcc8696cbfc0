"""The response commands of ``secure-endpoint`` against moto, from a deployed stack's manifest.

The stack is a CloudFormation stack in moto that holds the auto-block table (moto creates it) and
outputs the endpoint's manifest the commands read; the WAF IP sets, the API key and the client's
secret are created directly, since moto's CloudFormation does not build those resource types.

What moto does not emulate: with no rotation function attached it runs no Lambda and simply
promotes the new (empty) version to AWSCURRENT, where Secrets Manager would refuse to rotate a
secret that has no rotation function, and would leave the version AWSPENDING until the function
finishes. It never refuses a second rotation while one is pending either. So these tests check
that a rotation was requested (the version the command printed became a new version of the
secret, ``LastRotatedDate`` is set) and inject the "rotation in progress" refusal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aws_fakes import use_fake_credentials
from moto import mock_aws

from secure_endpoint import manifest
from secure_endpoint.cli import main

REGION = "eu-west-1"
STACK = "Prod"
CALLER = "arn:aws:sts::123456789012:user/moto"  # who moto says is calling


@dataclass
class Deployed:
    """The moto resources of one test, as a deployed SecureEndpoint would have them."""

    waf: Any
    ip_sets: dict[str, dict[str, str]]  # "auto4", "auto6", "allow4", "allow6": Name, Id, ARN
    table: str
    api_key_id: str
    secret_arn: str
    outputs: dict[str, str]

    def in_set(self, which: str = "auto4") -> list[str]:
        return sorted(self.ip_set(which)["IPSet"]["Addresses"])

    def lock_token(self, which: str = "auto4") -> str:
        return str(self.ip_set(which)["LockToken"])

    def ip_set(self, which: str) -> dict[str, Any]:
        ip_set = self.ip_sets[which]
        response: dict[str, Any] = self.waf.get_ip_set(
            Name=ip_set["Name"], Scope="REGIONAL", Id=ip_set["Id"]
        )
        return response

    def records(self) -> dict[str, dict[str, Any]]:
        items = boto3.client("dynamodb").scan(TableName=self.table)["Items"]
        return {item["address"]["S"]: item for item in items}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[Deployed]:
    use_fake_credentials(monkeypatch, REGION)
    with mock_aws():
        waf = boto3.client("wafv2")
        ip_sets = {
            "auto4": create_ip_set(waf, "AutoBlockIpv4", "IPV4", []),
            "auto6": create_ip_set(waf, "AutoBlockIpv6", "IPV6", []),
            "allow4": create_ip_set(waf, "AllowedIpv4", "IPV4", ["198.51.100.0/24"]),
            "allow6": create_ip_set(waf, "AllowedIpv6", "IPV6", ["2001:db8:a::/48"]),
        }
        api_key_id = boto3.client("apigateway").create_api_key(
            name="partner-a-key", description="secure-endpoint client partner-a", enabled=True
        )["id"]
        secret_arn = boto3.client("secretsmanager").create_secret(
            Name="partner-a-credentials", SecretString=json.dumps({"client_id": "abc"})
        )["ARN"]
        found = manifest.Manifest(
            name="Endpoint",
            api_url="https://api.example.com/v1/predict",
            token_url="https://auth.example.com/oauth2/token",
            endpoint_name="churn",
            invoke_scope="secure-endpoint/invoke",
            clients={
                "partner-a": manifest.ClientEntry(secret_arn, api_key_id, PARTNER_A_CLIENT_ID)
            },
            auto_block_table=TABLE_PLACEHOLDER,
            ip_sets={4: ip_sets["auto4"]["ARN"], 6: ip_sets["auto6"]["ARN"]},
            allowlist=(ip_sets["allow4"]["ARN"], ip_sets["allow6"]["ARN"]),
        )
        resolved = deploy_stack(STACK, {MANIFEST_KEY: manifest_value(found)})
        table = manifest.parse(resolved[MANIFEST_KEY]).auto_block_table
        yield Deployed(waf, ip_sets, table, api_key_id, secret_arn, resolved)


PARTNER_A_CLIENT_ID = "3kq0f4vvd8l2c1ot7m0d5gk1f9"
MANIFEST_KEY = manifest.output_key("Endpoint")
TABLE_PLACEHOLDER = "<table>"


def manifest_value(found: manifest.Manifest) -> dict[str, Any]:
    """The manifest as the construct writes it: JSON joined around the table's reference."""
    before, after = json.dumps(found.as_json()).split(TABLE_PLACEHOLDER)
    return {"Fn::Join": ["", [before, {"Ref": "AutoBlockTable"}, after]]}


def create_ip_set(waf: Any, name: str, version: str, addresses: list[str]) -> dict[str, str]:
    summary = waf.create_ip_set(
        Name=name, Scope="REGIONAL", IPAddressVersion=version, Addresses=addresses
    )["Summary"]
    return {key: str(summary[key]) for key in ("Name", "Id", "ARN")}


def deploy_stack(name: str, outputs: dict[str, Any]) -> dict[str, str]:
    """A stack holding an auto-block table like BlockListTable's, with ``outputs``."""
    template = {
        "Resources": {
            "AutoBlockTable": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "KeySchema": [{"AttributeName": "address", "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": "address", "AttributeType": "S"}],
                    "BillingMode": "PAY_PER_REQUEST",
                },
            }
        },
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def run(*argv: str) -> int:
    return main(list(argv))


def audit(err: str) -> list[dict[str, Any]]:
    """The audit lines among what a command wrote to stderr."""
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if not line.startswith("{")]


# --- block ------------------------------------------------------------------------------------


def test_block_puts_the_address_in_the_waf_set_and_the_table_and_logs_who(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("block", "203.0.113.7", "--stack", STACK, "--reason", "credential stuffing") == 0

    out, err = capsys.readouterr()
    assert out.startswith("blocked 203.0.113.7/32 until ")
    assert out.rstrip().endswith("(1h)")
    assert aws.in_set() == ["203.0.113.7/32"]
    record = aws.records()["203.0.113.7/32"]
    assert record["source"] == {"S": CALLER}
    assert record["reason"] == {"S": "credential stuffing"}
    (line,) = audit(err)
    assert line["who"] == CALLER
    assert (line["command"], line["target"], line["result"]) == (
        "block",
        "203.0.113.7/32",
        "blocked",
    )
    assert line["stack"] == STACK
    assert int(record["expiresAt"]["N"]) == line["expiresAt"]
    assert errors(err) == []


def test_block_takes_a_ttl(aws: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("block", "2001:db8::7", "--stack", STACK, "--ttl", "1h30m") == 0

    record = aws.records()["2001:db8::7/128"]
    assert int(record["expiresAt"]["N"]) - int(record["blockedAt"]["N"]) == 5400
    assert aws.in_set("auto6") == ["2001:db8::7/128"]


def test_blocking_twice_says_so_and_writes_nothing(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("block", "203.0.113.7", "--stack", STACK) == 0
    token = aws.lock_token()
    record = aws.records()
    capsys.readouterr()

    assert run("block", "203.0.113.7", "--stack", STACK) == 0

    out, err = capsys.readouterr()
    assert "203.0.113.7/32 is already blocked until" in out
    assert "nothing changed" in out
    assert aws.lock_token() == token  # no UpdateIPSet
    assert aws.records() == record
    assert audit(err)[0]["result"] == "already-blocked"


def test_blocking_for_longer_extends_the_block(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("block", "203.0.113.7", "--stack", STACK) == 0
    capsys.readouterr()

    assert run("block", "203.0.113.7", "--stack", STACK, "--ttl", "3h") == 0

    out, err = capsys.readouterr()
    assert out.startswith("203.0.113.7/32 was already blocked; now blocked until ")
    record = aws.records()["203.0.113.7/32"]
    assert 10800 <= int(record["expiresAt"]["N"]) - int(record["blockedAt"]["N"]) < 10860
    assert audit(err)[0]["result"] == "extended"


def test_an_allowlisted_address_is_refused(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("block", "198.51.100.7", "--stack", STACK) == 2

    err = capsys.readouterr().err
    assert errors(err) == [
        "secure-endpoint: error: refusing to block 198.51.100.7/32: it overlaps the allowlist"
    ]
    assert audit(err)[0]["result"] == "refused"
    assert aws.in_set() == []
    assert aws.records() == {}


def test_explicit_flags_override_the_stack(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    other = boto3.client("dynamodb")
    other.create_table(
        TableName="other-table",
        KeySchema=[{"AttributeName": "address", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "address", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    assert run("block", "203.0.113.7", "--stack", STACK, "--table", "other-table") == 0

    assert aws.records() == {}
    assert [i["address"]["S"] for i in other.scan(TableName="other-table")["Items"]] == [
        "203.0.113.7/32"
    ]


def test_without_a_stack_the_allowlist_must_be_named_or_declared_absent(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    where = [
        "--table",
        aws.table,
        "--ipv4-set-arn",
        aws.ip_sets["auto4"]["ARN"],
        "--ipv6-set-arn",
        aws.ip_sets["auto6"]["ARN"],
    ]

    assert run("block", "198.51.100.7", *where) == 2
    assert "pass --stack STACK, --allowlist-set-arn ARN, or --no-allowlist" in (
        capsys.readouterr().err
    )
    allowlist = ["--allowlist-set-arn", aws.ip_sets["allow4"]["ARN"]]
    assert run("block", "198.51.100.7", *where, *allowlist) == 2
    assert run("block", "203.0.113.7", *where, "--no-allowlist") == 0
    assert aws.in_set() == ["203.0.113.7/32"]


@pytest.mark.parametrize(
    ("ttl", "message"),
    [
        ("5x", "bad TTL '5x': expected a duration like 90s, 30m, 1h30m or 2d"),
        ("1h 30m", "bad TTL '1h 30m': expected a duration like 90s, 30m, 1h30m or 2d"),
        ("1.5h", "bad TTL '1.5h': expected a duration"),
        ("0m", "bad TTL '0m': must be from 1 minute to 30 days"),
        ("30s", "bad TTL '30s': must be from 1 minute to 30 days"),
        ("31d", "bad TTL '31d': must be from 1 minute to 30 days"),
    ],
)
def test_a_bad_ttl_exits_2_before_any_aws_call(
    aws: Deployed, capsys: pytest.CaptureFixture[str], ttl: str, message: str
) -> None:
    assert run("block", "203.0.113.7", "--stack", STACK, "--ttl", ttl) == 2

    err = capsys.readouterr().err
    assert errors(err)[0].startswith(f"secure-endpoint: error: {message}")
    assert audit(err) == []


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("203.0.113.300", "not an IP address or CIDR: '203.0.113.300'"),
        ("example.com", "not an IP address or CIDR: 'example.com'"),
        ("10.0.0.0/8", "'10.0.0.0/8' is wider than /16"),
    ],
)
def test_a_bad_address_exits_2(
    aws: Deployed, capsys: pytest.CaptureFixture[str], address: str, message: str
) -> None:
    assert run("block", address, "--stack", STACK) == 2

    err = capsys.readouterr().err
    assert errors(err)[0].startswith(f"secure-endpoint: error: {message}")
    assert aws.records() == {}


# --- unblock, blocked -------------------------------------------------------------------------


def test_unblock_releases_the_address_and_unblocking_again_says_so(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("block", "203.0.113.7", "--stack", STACK) == 0
    capsys.readouterr()

    assert run("unblock", "203.0.113.7", "--stack", STACK) == 0
    out, err = capsys.readouterr()
    assert out == "unblocked 203.0.113.7/32\n"
    assert audit(err)[0]["result"] == "unblocked"
    assert aws.in_set() == []
    assert aws.records() == {}

    assert run("unblock", "203.0.113.7", "--stack", STACK) == 0
    out, err = capsys.readouterr()
    assert out == "203.0.113.7/32 was not blocked; nothing changed\n"
    assert audit(err)[0]["result"] == "not-blocked"


def test_unblock_rejects_a_bad_address(aws: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("unblock", "not-an-ip", "--stack", STACK) == 2
    assert "not an IP address or CIDR: 'not-an-ip'" in capsys.readouterr().err


def test_blocked_lists_address_expiry_reason_and_source(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    run("block", "203.0.113.7", "--stack", STACK, "--ttl", "2h", "--reason", "scraping")
    run("block", "2001:db8::7", "--stack", STACK, "--ttl", "30m", "--reason", "stuffing")
    capsys.readouterr()

    assert run("blocked", "--stack", STACK) == 0

    out, err = capsys.readouterr()
    header, first, second = out.splitlines()
    assert header.split() == ["ADDRESS", "EXPIRES", "IN", "REASON", "SOURCE"]
    assert first.split()[0] == "2001:db8::7/128"
    assert first.split()[-2:] == ["stuffing", "user/moto"]
    assert second.split()[0] == "203.0.113.7/32"
    assert second.split()[1] in ("1h", "2h")  # "1h 59m", or "2h 0m" within the same second
    assert audit(err)[0]["result"] == "listed"


def test_blocked_says_when_nothing_is_blocked_and_what_the_waf_holds_without_a_record(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    ip_set = aws.ip_set("auto4")
    aws.waf.update_ip_set(
        Name=aws.ip_sets["auto4"]["Name"],
        Scope="REGIONAL",
        Id=aws.ip_sets["auto4"]["Id"],
        Addresses=["192.0.2.0/24"],
        LockToken=ip_set["LockToken"],
    )

    assert run("blocked", "--stack", STACK) == 0

    assert capsys.readouterr().out.splitlines() == [
        "no address is auto-blocked",
        "in the WAF IP set without a record, never expiring (unblock removes): 192.0.2.0/24",
    ]


# --- revoke-client, rotate-client -------------------------------------------------------------


def rotated_versions(secret_arn: str) -> list[str]:
    """The versions rotations created: every version but the one the secret was created with."""
    secret = boto3.client("secretsmanager").describe_secret(SecretId=secret_arn)
    if "LastRotatedDate" not in secret:
        return []
    stages = secret["VersionIdsToStages"]
    return [version for version, labels in stages.items() if "AWSPREVIOUS" not in labels]


def test_revoke_client_disables_the_api_key_and_requests_a_rotation(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("revoke-client", "partner-a", "--stack", STACK) == 0

    out, err = capsys.readouterr()
    assert boto3.client("apigateway").get_api_key(apiKey=aws.api_key_id)["enabled"] is False
    (version,) = rotated_versions(aws.secret_arn)
    assert f"disabled the API key {aws.api_key_id} of client partner-a" in out
    assert f"started rotating the secret of client partner-a (new version {version})" in out
    (line,) = audit(err)
    assert line["who"] == CALLER
    assert (line["command"], line["target"], line["result"]) == (
        "revoke-client",
        "partner-a",
        "revoked",
    )
    assert (line["apiKey"], line["keyWasEnabled"], line["rotation"]) == (
        aws.api_key_id,
        True,
        "started",
    )


def test_revoke_client_takes_the_cognito_client_id_an_alert_names(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("revoke-client", PARTNER_A_CLIENT_ID, "--stack", STACK) == 0

    out, _ = capsys.readouterr()
    assert boto3.client("apigateway").get_api_key(apiKey=aws.api_key_id)["enabled"] is False
    assert out.startswith(f"client id {PARTNER_A_CLIENT_ID} is client partner-a\n")
    assert f"disabled the API key {aws.api_key_id} of client partner-a" in out
    assert run("rotate-client", "4unknownclientid", "--stack", STACK) == 2
    assert "no client '4unknownclientid'" in capsys.readouterr().err


def test_revoking_twice_says_the_key_was_already_disabled(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("revoke-client", "partner-a", "--stack", STACK) == 0
    capsys.readouterr()

    assert run("revoke-client", "partner-a", "--stack", STACK) == 0

    out, err = capsys.readouterr()
    assert f"the API key {aws.api_key_id} of client partner-a was already disabled" in out
    assert audit(err)[0]["keyWasEnabled"] is False


def test_rotate_client_requests_an_immediate_rotation(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("rotate-client", "partner-a", "--stack", STACK) == 0

    out, err = capsys.readouterr()
    (version,) = rotated_versions(aws.secret_arn)
    assert out == f"started rotating the secret of client partner-a (new version {version})\n"
    assert audit(err)[0]["result"] == "rotating"
    assert boto3.client("apigateway").get_api_key(apiKey=aws.api_key_id)["enabled"] is True


def test_a_rotation_already_under_way_is_left_to_finish(
    aws: Deployed, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Secrets Manager refuses a second rotation while one is pending; moto does not."""
    from moto.secretsmanager.exceptions import InvalidRequestException
    from moto.secretsmanager.models import SecretsManagerBackend

    def refuse(*_: Any, **__: Any) -> None:
        raise InvalidRequestException(
            "A previous rotation isn't complete. That rotation will be reattempted."
        )

    monkeypatch.setattr(SecretsManagerBackend, "rotate_secret", refuse)

    assert run("rotate-client", "partner-a", "--stack", STACK) == 0

    out, err = capsys.readouterr()
    assert out == "a rotation of the secret of client partner-a is already under way\n"
    assert audit(err)[0]["rotation"] == "already-in-progress"


def test_an_unknown_client_exits_2_naming_the_known_ones(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("revoke-client", "nobody", "--stack", STACK) == 2

    err = capsys.readouterr().err
    assert errors(err) == [
        "secure-endpoint: error: no client 'nobody' in endpoint 'Endpoint' of stack 'Prod' "
        "(its clients: partner-a; "
        "a client's Cognito client id names it too)"
    ]
    assert audit(err)[0]["result"] == "failed"
    assert boto3.client("apigateway").get_api_key(apiKey=aws.api_key_id)["enabled"] is True
    assert rotated_versions(aws.secret_arn) == []


def test_explicit_ids_need_no_stack(aws: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run(
            "revoke-client",
            "partner-a",
            "--api-key-id",
            aws.api_key_id,
            "--secret-id",
            aws.secret_arn,
        )
        == 0
    )
    assert boto3.client("apigateway").get_api_key(apiKey=aws.api_key_id)["enabled"] is False


def test_an_unknown_api_key_exits_2(aws: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("revoke-client", "partner-a", "--stack", STACK, "--api-key-id", "nokey") == 2
    assert errors(capsys.readouterr().err) == [
        "secure-endpoint: error: API key 'nokey' of client 'partner-a' not found"
    ]


def test_an_unknown_secret_exits_2(aws: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("rotate-client", "partner-a", "--secret-id", "no-such-secret") == 2
    assert errors(capsys.readouterr().err) == [
        "secure-endpoint: error: secret 'no-such-secret' of client 'partner-a' not found"
    ]


# --- finding the resources, failures ----------------------------------------------------------


def test_a_stack_without_a_manifest_exits_2_saying_so_and_naming_the_flag(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy_stack("Old", {"ApiUrl": "https://example.com/v1/predict"})

    assert run("blocked", "--stack", "Old") == 2

    assert errors(capsys.readouterr().err) == [
        "secure-endpoint: error: stack 'Old' has no secure-endpoint manifest (an output "
        "SecureEndpointManifest...): is it a SecureEndpoint stack, deployed with a "
        "secure-endpoint that writes manifests (after 0.1.0)?; or pass --table"
    ]


def test_a_malformed_manifest_exits_2(aws: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    deploy_stack("Odd", {MANIFEST_KEY: "partner-a"})

    assert run("rotate-client", "partner-a", "--stack", "Odd") == 2

    assert "output SecureEndpointManifestEndpoint is not a JSON object" in capsys.readouterr().err


def second_endpoint(aws: Deployed, stack: str) -> None:
    """``stack`` with two endpoints: the fixture's, and ``Other``'s (another client)."""
    first = manifest.parse(aws.outputs[MANIFEST_KEY])
    other = manifest.Manifest(
        name="Service/Other",
        api_url="https://other.example.com/v1/predict",
        token_url=first.token_url,
        endpoint_name="other",
        invoke_scope="secure-endpoint/invoke",
        clients={"partner-b": manifest.ClientEntry("arn:secret-b", "keyb", "clientb")},
        auto_block_table="other-table",
        ip_sets=dict(first.ip_sets),
    )
    deploy_stack(
        stack,
        {
            MANIFEST_KEY: json.dumps(first.as_json()),
            manifest.output_key(other.name): json.dumps(other.as_json()),
        },
    )


def test_a_stack_of_several_endpoints_needs_endpoint_and_lists_their_names(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    second_endpoint(aws, "Two")

    assert run("blocked", "--stack", "Two") == 2

    assert errors(capsys.readouterr().err) == [
        "secure-endpoint: error: stack 'Two' holds several endpoints (Endpoint, Service/Other): "
        "pass --endpoint NAME; or pass --table"
    ]


def test_endpoint_picks_one_of_several_by_its_path_or_its_id(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    second_endpoint(aws, "Two")

    assert run("block", "203.0.113.9", "--stack", "Two", "--endpoint", "Endpoint") == 0
    assert aws.in_set() == ["203.0.113.9/32"]
    assert audit(capsys.readouterr().err)[0]["endpoint"] == "Endpoint"

    # Other's client is not Endpoint's: found by Other's id, not found by Endpoint's
    assert run("rotate-client", "partner-b", "--stack", "Two", "--endpoint", "Endpoint") == 2
    assert "no client 'partner-b' in endpoint 'Endpoint' of stack 'Two'" in (
        capsys.readouterr().err
    )
    # found in Other: the command reached Secrets Manager with Other's secret (absent in moto)
    assert run("rotate-client", "partner-b", "--stack", "Two", "--endpoint", "Other") == 2
    assert "secret 'arn:secret-b' of client 'partner-b' not found" in capsys.readouterr().err


def test_an_unknown_endpoint_exits_2_listing_the_names(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    second_endpoint(aws, "Two")

    assert run("blocked", "--stack", "Two", "--endpoint", "Nope") == 2

    assert errors(capsys.readouterr().err) == [
        "secure-endpoint: error: stack 'Two' has no endpoint 'Nope' (its endpoints: Endpoint, "
        "Service/Other); or pass --table"
    ]


def test_an_unknown_stack_exits_2(aws: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("blocked", "--stack", "Nope") == 2
    assert errors(capsys.readouterr().err) == [
        f"secure-endpoint: error: stack 'Nope' not found in {REGION}"
    ]


def test_without_stack_or_flags_it_says_what_to_pass(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("unblock", "203.0.113.7") == 2
    assert errors(capsys.readouterr().err) == [
        "secure-endpoint: error: pass --stack STACK (whose endpoint manifest names it) or --table"
    ]


def test_an_aws_failure_exits_1_with_one_line_and_is_audited(
    aws: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("block", "203.0.113.7", "--stack", STACK, "--table", "no-such-table") == 1

    err = capsys.readouterr().err
    (message,) = errors(err)
    assert message.startswith("secure-endpoint: error: block 203.0.113.7/32: ResourceNotFound")
    assert "Traceback" not in err
    assert audit(err)[0]["result"] == "failed"


def test_a_bad_ip_set_arn_exits_2(aws: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("blocked", "--stack", STACK, "--ipv4-set-arn", "arn:aws:s3:::bucket") == 2
    assert "not the ARN of a WAF IP set: 'arn:aws:s3:::bucket'" in capsys.readouterr().err


def test_no_credentials_exits_2(
    no_aws_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("blocked", "--stack", STACK, "--region", REGION) == 2
    assert capsys.readouterr().err == (
        "secure-endpoint: error: no AWS credentials found: configure them or pass --profile\n"
    )


def test_each_response_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("block", "unblock", "blocked", "revoke-client", "rotate-client"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert "--stack" in capsys.readouterr().out

"""The auto-block list against moto's DynamoDB and wafv2, end to end.

moto enforces DynamoDB condition expressions and WAF lock tokens like the services. What it
cannot produce (a crash between two writes, a throttled call) is injected with botocore event
handlers on the clients, which answer or fail instead of the service.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3
import pytest
from aws_fakes import use_fake_credentials
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from secure_endpoint.runtime.blocklist import (
    DYNAMODB_CONFIG,
    MIN_EXTENSION,
    PURGE_GRACE,
    BlockEntry,
    BlockList,
    BlockRequest,
    BlockTable,
    Drift,
    UnblockResult,
    dynamodb_client,
)
from secure_endpoint.runtime.waf_ip_sets import IpSetRef, IpSetWriter

REGION = "eu-west-1"
TABLE = "auto-block"
START = 1_800_000_000
HOUR = timedelta(hours=1)
ALLOWED = ("198.51.100.0/24", "2001:db8:a::/48")


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials in one region, so that nothing can reach a real account."""
    use_fake_credentials(monkeypatch, REGION)


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta.total_seconds()


@dataclass
class AutoBlock:
    """The moto resources of one test and the means to build a BlockList over them."""

    waf: Any
    dynamodb: Any
    refs: dict[int, IpSetRef]
    clock: Clock = field(default_factory=Clock)

    def block_list(self, *, max_per_run: int = 10, protected: tuple[str, ...] = ALLOWED) -> Any:
        writers = {
            version: IpSetWriter(self.waf, ref, protected_networks=protected, sleep=lambda _: None)
            for version, ref in self.refs.items()
        }
        return BlockList(
            BlockTable(self.dynamodb, TABLE),
            writers,
            protected_networks=protected,
            max_per_run=max_per_run,
            clock=self.clock,
        )

    def in_set(self, version: int = 4) -> set[str]:
        ref = self.refs[version]
        response = self.waf.get_ip_set(Name=ref.name, Scope=ref.scope, Id=ref.id)
        return set(response["IPSet"]["Addresses"])

    def put_in_set(self, *addresses: str, version: int = 4) -> None:
        ref = self.refs[version]
        response = self.waf.get_ip_set(Name=ref.name, Scope=ref.scope, Id=ref.id)
        self.waf.update_ip_set(
            Name=ref.name,
            Scope=ref.scope,
            Id=ref.id,
            Addresses=[*response["IPSet"]["Addresses"], *addresses],
            LockToken=response["LockToken"],
        )

    def records(self) -> dict[str, dict[str, Any]]:
        items = self.dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"]
        return {
            item["address"]["S"]: {
                name: value.get("S", value.get("N")) for name, value in item.items()
            }
            for item in items
        }


@pytest.fixture
def env() -> Iterator[AutoBlock]:
    with mock_aws():
        waf = boto3.client("wafv2", region_name=REGION)
        dynamodb = dynamodb_client(boto3.Session(region_name=REGION))
        create_table(dynamodb)
        refs = {
            version: IpSetRef.from_arn(
                waf.create_ip_set(
                    Name=f"auto-block-ipv{version}",
                    Scope="REGIONAL",
                    IPAddressVersion=f"IPV{version}",
                    Addresses=[],
                    Description=f"secure-endpoint: IPv{version} auto-blocked addresses",
                )["Summary"]["ARN"]
            )
            for version in (4, 6)
        }
        yield AutoBlock(waf, dynamodb, refs)


def create_table(dynamodb: Any, name: str = TABLE) -> None:
    """The table as BlockListTable declares it."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "address", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "address", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "purgeAt"}
    )


def request(address: str, ttl: timedelta = HOUR, reason: str = "score 0.97") -> BlockRequest:
    return BlockRequest(address, ttl, reason)


class Calls:
    """The parameters of every call of one operation on one client."""

    def __init__(self, client: Any, operation: str) -> None:
        self.params: list[dict[str, Any]] = []
        service = client.meta.service_model.service_name
        client.meta.events.register(f"before-parameter-build.{service}.{operation}", self._keep)

    def _keep(self, params: dict[str, Any], **_: Any) -> None:
        self.params.append(dict(params))

    def __len__(self) -> int:
        return len(self.params)


class Crash(Exception):
    """The process died here (a Lambda timeout, a killed CLI)."""


def crash_on(client: Any, operation: str, *, times: int = 1) -> None:
    """The next ``times`` calls of ``operation`` never happen: the caller dies instead."""
    left = {"n": times}
    service = client.meta.service_model.service_name

    def die(**_: Any) -> None:
        if left["n"] > 0:
            left["n"] -= 1
            raise Crash(operation)

    client.meta.events.register(f"before-call.{service}.{operation}", die)


# --- block ------------------------------------------------------------------------------------


def test_a_blocked_address_is_in_the_ip_set_and_has_a_record(env: AutoBlock) -> None:
    result = env.block_list().block([BlockRequest("203.0.113.7", HOUR, "score 0.97", "monitor")])

    entry = BlockEntry("203.0.113.7/32", START + 3600, START, "score 0.97", "monitor", 4)
    assert result.blocked == (entry,)
    assert env.in_set(4) == {"203.0.113.7/32"}
    assert env.records() == {
        "203.0.113.7/32": {
            "address": "203.0.113.7/32",
            "expiresAt": str(START + 3600),
            "blockedAt": str(START),
            "purgeAt": str(START + 3600 + int(PURGE_GRACE.total_seconds())),
            "reason": "score 0.97",
            "source": "monitor",
            "ipVersion": "4",
        }
    }


def test_ipv6_addresses_go_to_the_ipv6_set_normalized(env: AutoBlock) -> None:
    result = env.block_list().block([request("2001:DB8:0:0::7")])

    assert [e.address for e in result.blocked] == ["2001:db8::7/128"]
    assert env.in_set(6) == {"2001:db8::7/128"}
    assert env.in_set(4) == set()
    assert env.records()["2001:db8::7/128"]["ipVersion"] == "6"


def test_blocking_twice_is_a_no_op_without_a_second_ip_set_update(env: AutoBlock) -> None:
    block_list = env.block_list()
    block_list.block([request("203.0.113.7")])
    updates = Calls(env.waf, "UpdateIPSet")
    writes = Calls(env.dynamodb, "PutItem")

    again = block_list.block([request("203.0.113.7")])

    assert again.blocked == again.extended == ()
    assert [e.address for e in again.unchanged] == ["203.0.113.7/32"]
    assert len(updates) == len(writes) == 0
    assert env.in_set(4) == {"203.0.113.7/32"}


def test_blocking_again_seconds_later_is_still_a_no_op(env: AutoBlock) -> None:
    block_list = env.block_list()
    block_list.block([request("203.0.113.7")])
    env.clock.advance(MIN_EXTENSION - timedelta(seconds=1))
    writes = [Calls(env.dynamodb, operation) for operation in ("PutItem", "UpdateItem")]

    again = block_list.block([request("203.0.113.7")])

    assert [e.expires_at for e in again.unchanged] == [START + 3600]
    assert [len(calls) for calls in writes] == [0, 0]


def test_blocking_again_later_extends_the_ttl_and_keeps_when_the_block_began(
    env: AutoBlock,
) -> None:
    block_list = env.block_list()
    block_list.block([request("203.0.113.7", reason="first")])
    env.clock.advance(timedelta(minutes=30))
    updates = Calls(env.waf, "UpdateIPSet")

    result = block_list.block([request("203.0.113.7", reason="again")])

    (extended,) = result.extended
    assert (extended.expires_at, extended.blocked_at) == (START + 1800 + 3600, START)
    assert env.records()["203.0.113.7/32"]["expiresAt"] == str(START + 5400)
    assert env.records()["203.0.113.7/32"]["reason"] == "again"
    assert len(updates) == 0


def test_a_shorter_ttl_keeps_the_later_expiry(env: AutoBlock) -> None:
    block_list = env.block_list()
    block_list.block([request("203.0.113.7", ttl=timedelta(hours=6), reason="long")])

    result = block_list.block([request("203.0.113.7", ttl=timedelta(minutes=5), reason="short")])

    assert [e.expires_at for e in result.unchanged] == [START + 6 * 3600]
    assert env.records()["203.0.113.7/32"]["expiresAt"] == str(START + 6 * 3600)
    assert env.records()["203.0.113.7/32"]["reason"] == "long"


def test_an_address_asked_for_twice_in_one_call_counts_once_with_the_longest_ttl(
    env: AutoBlock,
) -> None:
    result = env.block_list(max_per_run=1).block(
        [request("203.0.113.7"), request("203.0.113.7/32", ttl=timedelta(hours=2))]
    )

    assert [e.expires_at for e in result.blocked] == [START + 7200]
    assert result.deferred == ()


# --- the allowlist ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address", ["198.51.100.7", "198.51.100.0/25", "198.51.0.0/16", "2001:db8:a:1::1"]
)
def test_an_address_overlapping_the_allowlist_is_never_blocked(
    env: AutoBlock, address: str
) -> None:
    result = env.block_list().block([request(address)])

    assert result.refused == (str(BlockRequest(address, HOUR, "x").network),)
    assert result.blocked == ()
    assert env.in_set(4) == env.in_set(6) == set()
    assert env.records() == {}


def test_the_writers_refusal_is_reported_and_leaves_no_record(env: AutoBlock) -> None:
    """The writers hold a protected network the block list was not told about."""
    writers = {
        4: IpSetWriter(env.waf, env.refs[4], protected_networks=["192.0.2.0/24"]),
        6: IpSetWriter(env.waf, env.refs[6]),
    }
    block_list = BlockList(BlockTable(env.dynamodb, TABLE), writers, clock=env.clock)

    result = block_list.block([request("192.0.2.9"), request("203.0.113.7")])

    assert result.refused == ("192.0.2.9/32",)
    assert [e.address for e in result.blocked] == ["203.0.113.7/32"]
    assert env.in_set(4) == {"203.0.113.7/32"}
    assert set(env.records()) == {"203.0.113.7/32"}


def test_a_record_of_an_address_allowlisted_later_is_released(env: AutoBlock) -> None:
    env.block_list(protected=()).block([request("198.51.100.7")])
    assert env.in_set(4) == {"198.51.100.7/32"}

    result = env.block_list().reconcile()

    assert result.removed == result.expired == {"198.51.100.7/32"}
    assert env.in_set(4) == set()
    assert env.records() == {}


# --- at most N per run ------------------------------------------------------------------------


def test_new_blocks_beyond_max_per_run_are_deferred_in_order(env: AutoBlock) -> None:
    addresses = [f"203.0.113.{n}" for n in range(1, 6)]

    result = env.block_list(max_per_run=2).block([request(a) for a in addresses])

    assert [e.address for e in result.blocked] == ["203.0.113.1/32", "203.0.113.2/32"]
    assert result.deferred == ("203.0.113.3/32", "203.0.113.4/32", "203.0.113.5/32")
    assert env.in_set(4) == {"203.0.113.1/32", "203.0.113.2/32"}
    assert set(env.records()) == {"203.0.113.1/32", "203.0.113.2/32"}


def test_extending_existing_blocks_does_not_use_up_max_per_run(env: AutoBlock) -> None:
    block_list = env.block_list(max_per_run=2)
    block_list.block([request("203.0.113.1"), request("203.0.113.2")])
    env.clock.advance(timedelta(minutes=10))

    result = block_list.block(
        [request("203.0.113.1"), request("203.0.113.2"), request("203.0.113.3")]
    )

    assert len(result.extended) == 2
    assert [e.address for e in result.blocked] == ["203.0.113.3/32"]
    assert result.deferred == ()


# --- expiry -----------------------------------------------------------------------------------


def test_an_expired_block_leaves_the_ip_set_and_the_table(env: AutoBlock) -> None:
    block_list = env.block_list()
    block_list.block([request("203.0.113.7"), request("2001:db8::7", ttl=timedelta(hours=2))])

    env.clock.advance(timedelta(minutes=59))
    assert block_list.expire() == frozenset()
    env.clock.advance(timedelta(minutes=1))
    removed = block_list.expire()

    assert removed == {"203.0.113.7/32"}
    assert env.in_set(4) == set()
    assert env.in_set(6) == {"2001:db8::7/128"}
    assert set(env.records()) == {"2001:db8::7/128"}


def test_expire_takes_the_time_it_is_given(env: AutoBlock) -> None:
    block_list = env.block_list()
    block_list.block([request("203.0.113.7")])

    assert block_list.expire(START + 3600) == {"203.0.113.7/32"}


def test_a_block_extended_while_expiry_runs_stays_blocked(env: AutoBlock) -> None:
    block_list = env.block_list()
    block_list.block([request("203.0.113.7")])
    env.clock.advance(HOUR)
    other = boto3.client("dynamodb", region_name=REGION)

    def extend_first(**_: Any) -> None:
        """Another run extends the record between expire's scan and its delete."""
        other.update_item(
            TableName=TABLE,
            Key={"address": {"S": "203.0.113.7/32"}},
            UpdateExpression="SET expiresAt = :later",
            ExpressionAttributeValues={":later": {"N": str(START + 7200)}},
        )

    env.dynamodb.meta.events.register_first("before-call.dynamodb.DeleteItem", extend_first)

    assert block_list.expire() == frozenset()
    assert env.in_set(4) == {"203.0.113.7/32"}
    assert env.records()["203.0.113.7/32"]["expiresAt"] == str(START + 7200)


# --- unblock ----------------------------------------------------------------------------------


def test_unblock_removes_the_address_from_the_set_and_the_table(env: AutoBlock) -> None:
    block_list = env.block_list()
    block_list.block([request("203.0.113.7"), request("203.0.113.8")])

    result = block_list.unblock(["203.0.113.7"])

    assert result == UnblockResult(unblocked=("203.0.113.7/32",))
    assert env.in_set(4) == {"203.0.113.8/32"}
    assert set(env.records()) == {"203.0.113.8/32"}


def test_unblocking_an_address_that_is_not_blocked_changes_nothing(env: AutoBlock) -> None:
    updates = Calls(env.waf, "UpdateIPSet")

    result = env.block_list().unblock(["203.0.113.7"])

    assert result == UnblockResult(not_blocked=("203.0.113.7/32",))
    assert len(updates) == 0


def test_unblock_removes_an_address_added_by_hand(env: AutoBlock) -> None:
    env.put_in_set("203.0.113.9/32")

    result = env.block_list().unblock(["203.0.113.9"])

    assert result.unblocked == ("203.0.113.9/32",)
    assert env.in_set(4) == set()


def test_unblock_interrupted_before_the_ip_set_is_finished_by_expire(env: AutoBlock) -> None:
    block_list = env.block_list()
    block_list.block([request("203.0.113.7")])
    crash_on(env.waf, "UpdateIPSet")

    with pytest.raises(Crash):
        block_list.unblock(["203.0.113.7"])
    assert env.in_set(4) == {"203.0.113.7/32"}
    assert env.records()["203.0.113.7/32"]["expiresAt"] == str(START)  # ended first

    assert block_list.reconcile().removed == {"203.0.113.7/32"}
    assert env.in_set(4) == set()
    assert env.records() == {}


# --- crash between steps, reconcile -----------------------------------------------------------


def test_a_crash_after_the_record_is_repaired_by_reconcile(env: AutoBlock) -> None:
    block_list = env.block_list()
    crash_on(env.waf, "UpdateIPSet")

    with pytest.raises(Crash):
        block_list.block([request("203.0.113.7")])
    assert set(env.records()) == {"203.0.113.7/32"}
    assert env.in_set(4) == set()

    result = block_list.reconcile()

    assert result.added == {"203.0.113.7/32"}
    assert env.in_set(4) == {"203.0.113.7/32"}


def test_retrying_a_crashed_block_completes_it_once(env: AutoBlock) -> None:
    block_list = env.block_list()
    crash_on(env.waf, "UpdateIPSet")
    with pytest.raises(Crash):
        block_list.block([request("203.0.113.7")])
    updates = Calls(env.waf, "UpdateIPSet")

    retried = block_list.block([request("203.0.113.7")])
    again = block_list.block([request("203.0.113.7")])

    assert retried.repaired == {"203.0.113.7/32"}
    assert [e.address for e in retried.unchanged] == ["203.0.113.7/32"]
    assert again.repaired == frozenset()
    assert len(updates) == 1
    assert env.in_set(4) == {"203.0.113.7/32"}


def test_a_crash_before_the_record_leaves_nothing_behind(env: AutoBlock) -> None:
    crash_on(env.dynamodb, "PutItem")

    with pytest.raises(Crash):
        env.block_list().block([request("203.0.113.7")])

    assert env.records() == {}
    assert env.in_set(4) == set()


def test_reconcile_reports_addresses_without_a_record_and_leaves_them(env: AutoBlock) -> None:
    block_list = env.block_list()
    block_list.block([request("203.0.113.7")])
    env.put_in_set("192.0.2.0/24")
    env.put_in_set("2001:db8:b::/48", version=6)
    updates = Calls(env.waf, "UpdateIPSet")

    result = block_list.reconcile()

    assert result.untracked == {"192.0.2.0/24", "2001:db8:b::/48"}
    assert result.added == result.removed == result.expired == frozenset()
    assert len(updates) == 0
    assert env.in_set(4) == {"192.0.2.0/24", "203.0.113.7/32"}


def test_drift_tells_missing_stale_and_untracked_addresses_apart(env: AutoBlock) -> None:
    block_list = env.block_list()
    crash_on(env.waf, "UpdateIPSet")
    with pytest.raises(Crash):
        block_list.block([request("203.0.113.1")])  # recorded, not in the set
    block_list.block([request("203.0.113.2", ttl=timedelta(minutes=1))])
    env.put_in_set("192.0.2.9/32")
    env.clock.advance(timedelta(minutes=5))

    assert block_list.drift() == Drift(
        missing=frozenset({"203.0.113.1/32"}),
        stale=frozenset({"203.0.113.2/32"}),
        untracked=frozenset({"192.0.2.9/32"}),
    )


# --- listing ----------------------------------------------------------------------------------


def test_blocked_lists_active_entries_soonest_expiry_first(env: AutoBlock) -> None:
    block_list = env.block_list()
    block_list.block(
        [
            request("203.0.113.1", ttl=timedelta(hours=3), reason="third"),
            request("2001:db8::1", ttl=timedelta(hours=1), reason="first"),
            request("203.0.113.2", ttl=timedelta(hours=2), reason="second"),
            request("203.0.113.3", ttl=timedelta(minutes=1), reason="gone"),
        ]
    )
    env.clock.advance(timedelta(minutes=2))

    entries = block_list.blocked()

    assert [(e.address, e.reason) for e in entries] == [
        ("2001:db8::1/128", "first"),
        ("203.0.113.2/32", "second"),
        ("203.0.113.1/32", "third"),
    ]
    assert entries[0].expires_in(env.clock()) == 3600 - 120


# --- throttling -------------------------------------------------------------------------------


def test_a_throttled_dynamodb_call_is_retried_by_botocore(env: AutoBlock) -> None:
    assert DYNAMODB_CONFIG.retries == {"mode": "standard", "total_max_attempts": 8}
    throttled = {"left": 2}

    def throttle(request: Any, **_: Any) -> AWSResponse | None:
        if throttled["left"] == 0:
            return None
        throttled["left"] -= 1
        # moto sees every request sent, whatever answers first: make this one harmless, since
        # DynamoDB does not carry out a throttled request.
        request.headers["X-Amz-Target"] = "DynamoDB_20120810.ListTables"
        request.body = b"{}"
        body = (
            b'{"__type": "com.amazonaws.dynamodb.v20120810#'
            b'ProvisionedThroughputExceededException", "message": "injected"}'
        )
        return AWSResponse(request.url, 400, {}, _Raw(body))

    env.dynamodb.meta.events.register_first("before-send.dynamodb.PutItem", throttle)

    result = env.block_list().block([request("203.0.113.7")])

    assert throttled["left"] == 0
    assert [e.address for e in result.blocked] == ["203.0.113.7/32"]
    assert set(env.records()) == {"203.0.113.7/32"}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "ttl", "reason", "message"),
    [
        ("203.0.113.300", HOUR, "r", "not an IP address or CIDR"),
        ("203.0.113.7/24", HOUR, "r", "host bits set"),
        ("10.0.0.0/8", HOUR, "r", "wider than /16"),
        ("2001:db8::/32", HOUR, "r", "wider than /48"),
        ("203.0.113.7", timedelta(seconds=30), "r", "ttl must be from"),
        ("203.0.113.7", timedelta(days=31), "r", "ttl must be from"),
        ("203.0.113.7", HOUR, "  ", "reason must be 1 to 256 characters"),
        ("203.0.113.7", HOUR, "x" * 257, "reason must be 1 to 256 characters"),
    ],
)
def test_rejects_invalid_requests(address: str, ttl: timedelta, reason: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BlockRequest(address, ttl, reason)


def test_rejects_an_ip_version_without_a_writer_before_writing_anything(env: AutoBlock) -> None:
    writers = {4: IpSetWriter(env.waf, env.refs[4])}
    block_list = BlockList(BlockTable(env.dynamodb, TABLE), writers, clock=env.clock)

    with pytest.raises(ValueError, match="no auto-block IP set for IPv6"):
        block_list.block([request("203.0.113.7"), request("2001:db8::7")])
    assert env.records() == {}


def test_rejects_max_per_run_below_one(env: AutoBlock) -> None:
    with pytest.raises(ValueError, match="max_per_run must be at least 1, got 0"):
        env.block_list(max_per_run=0)


def test_rejects_a_lone_string_of_protected_networks(env: AutoBlock) -> None:
    with pytest.raises(TypeError, match="not a string"):
        BlockList(BlockTable(env.dynamodb, TABLE), {}, protected_networks="10.0.0.0/8")


def test_the_module_runs_without_the_cdk() -> None:
    code = (
        "import secure_endpoint.runtime.blocklist, sys; "
        "assert not any(m.split('.')[0] == 'aws_cdk' for m in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)  # noqa: S603

"""The WAF IP set writer against moto's wafv2, which enforces lock tokens like WAF.

Failures WAF produces and moto cannot (throttling) are injected with a botocore ``before-call``
handler, which answers instead of the service; concurrent writers are real: a second client
changes the set between the writer's GetIPSet and its UpdateIPSet.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_fakes import use_fake_credentials
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from moto import mock_aws

from secure_endpoint.runtime.waf_ip_sets import (
    BASE_DELAY,
    MAX_ADDRESSES,
    IpSetChange,
    IpSetRef,
    IpSetWriter,
    ProtectedIpSetError,
    parse_address,
)

ACCOUNT = "123456789012"
SET_ID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials in one region, so that nothing can reach a real account."""
    use_fake_credentials(monkeypatch, "us-east-1")


@pytest.fixture
def waf() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("wafv2", region_name="us-east-1")


def create_set(
    waf: Any,
    name: str,
    addresses: list[str] | None = None,
    *,
    version: str = "IPV4",
    scope: str = "REGIONAL",
    description: str | None = "addresses blocked automatically",
) -> IpSetRef:
    summary = waf.create_ip_set(
        Name=name,
        Scope=scope,
        IPAddressVersion=version,
        Addresses=addresses or [],
        **({"Description": description} if description else {}),
    )["Summary"]
    return IpSetRef.from_arn(summary["ARN"])


def stored(waf: Any, ref: IpSetRef) -> dict[str, Any]:
    """The set as WAF holds it, read with boto3 directly."""
    ip_set: dict[str, Any] = waf.get_ip_set(Name=ref.name, Scope=ref.scope, Id=ref.id)["IPSet"]
    return ip_set


class Calls:
    """Counts the calls of one operation and keeps their parameters."""

    def __init__(self, client: Any, operation: str) -> None:
        self.params: list[dict[str, Any]] = []
        client.meta.events.register(f"before-parameter-build.wafv2.{operation}", self._record)

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.params.append(dict(params))

    def __len__(self) -> int:
        return len(self.params)


def concurrent_writer(waf: Any, ref: IpSetRef, *, times: int) -> list[str]:
    """Before each of the first ``times`` UpdateIPSet calls of ``waf``, another client adds an
    address to the set, so that the lock token the writer read is stale. Returns those addresses.
    """
    other = boto3.client("wafv2", region_name="us-east-1")
    written: list[str] = []

    def race(**_: Any) -> None:
        if len(written) >= times:
            return
        response = other.get_ip_set(Name=ref.name, Scope=ref.scope, Id=ref.id)
        address = f"198.51.100.{len(written) + 1}/32"
        other.update_ip_set(
            Name=ref.name,
            Scope=ref.scope,
            Id=ref.id,
            Addresses=[*response["IPSet"]["Addresses"], address],
            LockToken=response["LockToken"],
        )
        written.append(address)

    waf.meta.events.register("before-call.wafv2.UpdateIPSet", race)
    return written


def answer_with_error(waf: Any, operation: str, code: str, *, times: int) -> None:
    """The first ``times`` calls of ``operation`` fail with ``code`` without reaching moto."""
    failures = {"left": times}

    def fail(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if failures["left"] == 0:
            return None
        failures["left"] -= 1
        response = AWSResponse("https://wafv2.us-east-1.amazonaws.com/", 400, {}, None)
        return response, {"Error": {"Code": code, "Message": "injected"}}

    waf.meta.events.register(f"before-call.wafv2.{operation}", fail)


def test_an_added_address_is_written_to_the_set(waf: Any) -> None:
    ref = create_set(waf, "auto-block", ["192.0.2.0/24"])

    change = IpSetWriter(waf, ref).add(["203.0.113.7"])

    assert change == IpSetChange(added=frozenset({"203.0.113.7/32"}))
    assert change.changed
    assert sorted(stored(waf, ref)["Addresses"]) == ["192.0.2.0/24", "203.0.113.7/32"]


def test_adding_present_addresses_makes_no_update_call(waf: Any) -> None:
    ref = create_set(waf, "auto-block", ["203.0.113.7/32"])
    updates = Calls(waf, "UpdateIPSet")
    writer = IpSetWriter(waf, ref)

    first = writer.add(["203.0.113.8"])
    second = writer.add(["203.0.113.8/32", "203.0.113.7"])

    assert first.changed
    assert second == IpSetChange()
    assert not second.changed
    assert len(updates) == 1


def test_the_update_keeps_the_description_and_sends_the_lock_token_of_the_read(
    waf: Any,
) -> None:
    ref = create_set(waf, "auto-block")
    reads = waf.get_ip_set(Name=ref.name, Scope=ref.scope, Id=ref.id)
    updates = Calls(waf, "UpdateIPSet")

    IpSetWriter(waf, ref).add(["203.0.113.7"])

    assert updates.params == [
        {
            "Name": "auto-block",
            "Scope": "REGIONAL",
            "Id": ref.id,
            "Addresses": ["203.0.113.7/32"],
            "LockToken": reads["LockToken"],
            "Description": "addresses blocked automatically",
        }
    ]
    assert stored(waf, ref)["Description"] == "addresses blocked automatically"


def test_a_set_without_description_is_updated_without_one(waf: Any) -> None:
    ref = create_set(waf, "auto-block", description=None)
    updates = Calls(waf, "UpdateIPSet")

    IpSetWriter(waf, ref).add(["203.0.113.7"])

    assert "Description" not in updates.params[0]


def test_removes_exact_entries_and_ignores_absent_ones(waf: Any) -> None:
    ref = create_set(waf, "auto-block", ["203.0.113.7/32", "192.0.2.0/24"])

    change = IpSetWriter(waf, ref).remove(["203.0.113.7", "192.0.2.1", "198.51.100.1"])

    assert change == IpSetChange(removed=frozenset({"203.0.113.7/32"}))
    assert stored(waf, ref)["Addresses"] == ["192.0.2.0/24"]


def test_removing_absent_addresses_makes_no_update_call(waf: Any) -> None:
    ref = create_set(waf, "auto-block", ["192.0.2.0/24"])
    updates = Calls(waf, "UpdateIPSet")

    assert not IpSetWriter(waf, ref).remove(["203.0.113.7"]).changed
    assert len(updates) == 0


def test_replace_leaves_exactly_the_given_addresses(waf: Any) -> None:
    ref = create_set(waf, "auto-block", ["192.0.2.0/24", "203.0.113.7/32"])
    writer = IpSetWriter(waf, ref)

    change = writer.replace(["203.0.113.7", "198.51.100.0/24"])

    assert change == IpSetChange(
        added=frozenset({"198.51.100.0/24"}), removed=frozenset({"192.0.2.0/24"})
    )
    assert writer.addresses() == {"203.0.113.7/32", "198.51.100.0/24"}
    assert stored(waf, ref)["Addresses"] == ["198.51.100.0/24", "203.0.113.7/32"]


def test_replace_with_nothing_empties_the_set(waf: Any) -> None:
    ref = create_set(waf, "auto-block", ["192.0.2.0/24"])

    IpSetWriter(waf, ref).replace([])

    assert stored(waf, ref)["Addresses"] == []


def test_ipv6_addresses_are_normalized_to_compressed_cidrs(waf: Any) -> None:
    ref = create_set(
        waf, "auto-block-v6", ["2001:0db8:0000:0000:0000:0000:0000:0001/128"], version="IPV6"
    )
    writer = IpSetWriter(waf, ref)

    change = writer.add(["2001:db8::1", "2001:DB8:ffff::/48"])

    assert change.added == {"2001:db8:ffff::/48"}
    assert writer.addresses() == {"2001:db8::1/128", "2001:db8:ffff::/48"}


def test_a_global_set_is_written_through_us_east_1(waf: Any) -> None:
    ref = create_set(waf, "edge-block", scope="CLOUDFRONT")
    assert ref.scope == "CLOUDFRONT"

    IpSetWriter(waf, ref).add(["203.0.113.7"])

    assert stored(waf, ref)["Addresses"] == ["203.0.113.7/32"]


def test_a_global_set_refuses_a_client_outside_us_east_1() -> None:
    client = boto3.client("wafv2", region_name="eu-west-1")
    with pytest.raises(ValueError, match=r"us-east-1.*'eu-west-1'"):
        IpSetWriter(client, IpSetRef("edge-block", SET_ID, "CLOUDFRONT"))


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("10.0.0.1/8", r"'10.0.0.1/8'.*host bits"),
        ("300.1.2.3", r"not an IP address or CIDR: '300.1.2.3'"),
        ("203.0.113.7 ", r"'203.0.113.7 '"),
        ("", r"not an IP address or CIDR: ''"),
    ],
)
def test_rejects_invalid_addresses_before_any_call(waf: Any, address: str, message: str) -> None:
    ref = create_set(waf, "auto-block")
    reads = Calls(waf, "GetIPSet")

    with pytest.raises(ValueError, match=message):
        IpSetWriter(waf, ref).add(["203.0.113.8", address])
    assert len(reads) == 0


def test_rejects_a_lone_string_that_would_be_read_character_by_character(waf: Any) -> None:
    ref = create_set(waf, "auto-block")
    with pytest.raises(TypeError, match="collection of strings"):
        IpSetWriter(waf, ref).add("1.2.3.4")


@pytest.mark.parametrize(
    ("version", "address", "message"),
    [
        ("IPV4", "2001:db8::1", r"holds IPv4 addresses; got IPv6 '2001:db8::1/128'"),
        ("IPV6", "203.0.113.7", r"holds IPv6 addresses; got IPv4 '203.0.113.7/32'"),
    ],
)
def test_rejects_addresses_of_the_other_ip_version(
    waf: Any, version: str, address: str, message: str
) -> None:
    ref = create_set(waf, "auto-block", version=version)
    updates = Calls(waf, "UpdateIPSet")

    with pytest.raises(ValueError, match=message):
        IpSetWriter(waf, ref).add([address])
    with pytest.raises(ValueError, match=message):
        IpSetWriter(waf, ref).remove([address])
    assert len(updates) == 0


def test_rejects_more_addresses_than_a_set_holds_before_any_call(waf: Any) -> None:
    ref = create_set(waf, "auto-block")
    reads = Calls(waf, "GetIPSet")
    too_many = [f"10.{n // 65536}.{n // 256 % 256}.{n % 256}" for n in range(MAX_ADDRESSES + 1)]

    with pytest.raises(ValueError, match=r"at most 10000 addresses; this write would leave 10001"):
        IpSetWriter(waf, ref).replace(too_many)
    assert len(reads) == 0


def test_rejects_an_add_that_would_overflow_the_set_and_writes_nothing(waf: Any) -> None:
    full = [f"10.0.{n // 256}.{n % 256}/32" for n in range(MAX_ADDRESSES)]
    ref = create_set(waf, "auto-block", full)
    updates = Calls(waf, "UpdateIPSet")

    with pytest.raises(ValueError, match="this write would leave 10001"):
        IpSetWriter(waf, ref).add(["203.0.113.7"])
    assert len(updates) == 0
    assert len(stored(waf, ref)["Addresses"]) == MAX_ADDRESSES


def test_the_allowlist_set_cannot_get_a_writer(waf: Any) -> None:
    allowlist = create_set(waf, "allowlist", ["203.0.113.0/24"])
    same_set_by_arn = IpSetRef.from_arn(
        f"arn:aws:wafv2:us-east-1:{ACCOUNT}:regional/ipset/allowlist/{allowlist.id}"
    )

    with pytest.raises(ProtectedIpSetError, match=r"refusing to write REGIONAL IP set allowlist"):
        IpSetWriter(waf, same_set_by_arn, forbidden=[allowlist])
    assert stored(waf, allowlist)["Addresses"] == ["203.0.113.0/24"]


def test_a_writer_for_another_set_may_be_built_with_the_allowlist_forbidden(waf: Any) -> None:
    allowlist = create_set(waf, "allowlist", ["203.0.113.0/24"])
    block = create_set(waf, "auto-block")

    IpSetWriter(waf, block, forbidden=[allowlist]).add(["192.0.2.1"])

    assert stored(waf, block)["Addresses"] == ["192.0.2.1/32"]


def test_addresses_overlapping_the_allowlist_are_refused_and_the_set_is_unchanged(
    waf: Any,
) -> None:
    ref = create_set(waf, "auto-block", ["192.0.2.1/32"])
    updates = Calls(waf, "UpdateIPSet")
    writer = IpSetWriter(waf, ref, protected_networks=["203.0.113.0/24", "2001:db8::/32"])

    # Inside the allowlist, covering it, and an IPv4-mapped IPv6 form of it.
    change = writer.add(["203.0.113.7", "203.0.0.0/16"])
    change_v6 = IpSetWriter(
        waf, create_set(waf, "auto-block-v6", version="IPV6"), protected_networks=["203.0.113.0/24"]
    ).add(["::ffff:203.0.113.9"])

    assert change == IpSetChange(refused=frozenset({"203.0.113.7/32", "203.0.0.0/16"}))
    assert change_v6.refused == {"::ffff:cb00:7109/128"}
    assert len(updates) == 0
    assert stored(waf, ref)["Addresses"] == ["192.0.2.1/32"]


def test_protected_addresses_are_refused_while_the_others_are_written(waf: Any) -> None:
    ref = create_set(waf, "auto-block", ["192.0.2.1/32"])
    writer = IpSetWriter(waf, ref, protected_networks=["203.0.113.0/24"])

    change = writer.replace(["203.0.113.7", "198.51.100.7"])

    assert change == IpSetChange(
        added=frozenset({"198.51.100.7/32"}),
        removed=frozenset({"192.0.2.1/32"}),
        refused=frozenset({"203.0.113.7/32"}),
    )
    assert stored(waf, ref)["Addresses"] == ["198.51.100.7/32"]


def test_rejects_an_invalid_protected_network(waf: Any) -> None:
    with pytest.raises(ValueError, match=r"'203.0.113.1/24'"):
        IpSetWriter(waf, create_set(waf, "auto-block"), protected_networks=["203.0.113.1/24"])


def test_a_concurrent_change_is_kept_and_the_write_retried(waf: Any) -> None:
    ref = create_set(waf, "auto-block")
    delays: list[float] = []
    updates = Calls(waf, "UpdateIPSet")
    concurrent = concurrent_writer(waf, ref, times=1)

    change = IpSetWriter(waf, ref, sleep=delays.append).add(["203.0.113.7"])

    assert change == IpSetChange(added=frozenset({"203.0.113.7/32"}))
    assert sorted(stored(waf, ref)["Addresses"]) == sorted([*concurrent, "203.0.113.7/32"])
    assert len(updates) == 2
    assert len(delays) == 1
    assert BASE_DELAY / 2 <= delays[0] <= BASE_DELAY


def test_a_write_still_racing_after_max_attempts_raises_the_lock_error(waf: Any) -> None:
    ref = create_set(waf, "auto-block")
    delays: list[float] = []
    concurrent = concurrent_writer(waf, ref, times=3)

    with pytest.raises(ClientError, match="WAFOptimisticLockException"):
        IpSetWriter(waf, ref, max_attempts=3, sleep=delays.append).add(["203.0.113.7"])
    assert len(delays) == 2
    assert BASE_DELAY / 2 <= delays[0] <= BASE_DELAY <= delays[1] <= 2 * BASE_DELAY
    assert sorted(stored(waf, ref)["Addresses"]) == sorted(concurrent)


@pytest.mark.parametrize("code", ["ThrottlingException", "WAFInternalErrorException"])
def test_throttled_reads_and_writes_are_retried(waf: Any, code: str) -> None:
    ref = create_set(waf, "auto-block")
    answer_with_error(waf, "GetIPSet", code, times=1)
    answer_with_error(waf, "UpdateIPSet", code, times=2)
    delays: list[float] = []

    change = IpSetWriter(waf, ref, sleep=delays.append).add(["203.0.113.7"])

    assert change.added == {"203.0.113.7/32"}
    assert len(delays) == 3
    assert stored(waf, ref)["Addresses"] == ["203.0.113.7/32"]


def test_delays_grow_exponentially_up_to_the_cap(waf: Any) -> None:
    ref = create_set(waf, "auto-block")
    answer_with_error(waf, "GetIPSet", "ThrottlingException", times=8)
    delays: list[float] = []

    with pytest.raises(ClientError, match="ThrottlingException"):
        IpSetWriter(waf, ref, max_attempts=8, sleep=delays.append).addresses()
    ceilings = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert len(delays) == len(ceilings)
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling


@pytest.mark.parametrize("code", ["WAFLimitsExceededException", "WAFInvalidParameterException"])
def test_other_errors_are_raised_at_once(waf: Any, code: str) -> None:
    ref = create_set(waf, "auto-block")
    answer_with_error(waf, "UpdateIPSet", code, times=1)
    delays: list[float] = []

    with pytest.raises(ClientError, match=code):
        IpSetWriter(waf, ref, sleep=delays.append).add(["203.0.113.7"])
    assert delays == []


def test_a_missing_set_raises_at_once(waf: Any) -> None:
    delays: list[float] = []
    writer = IpSetWriter(waf, IpSetRef("missing", SET_ID, "REGIONAL"), sleep=delays.append)
    with pytest.raises(ClientError, match="WAFNonexistentItemException"):
        writer.add(["203.0.113.7"])
    assert delays == []


def test_rejects_fewer_than_one_attempt(waf: Any) -> None:
    with pytest.raises(ValueError, match="max_attempts must be at least 1, got 0"):
        IpSetWriter(waf, create_set(waf, "auto-block"), max_attempts=0)


@pytest.mark.parametrize(
    ("arn", "scope"),
    [
        (f"arn:aws:wafv2:eu-west-1:{ACCOUNT}:regional/ipset/auto-block/{SET_ID}", "REGIONAL"),
        (f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/ipset/auto-block/{SET_ID}", "CLOUDFRONT"),
        (f"arn:aws-cn:wafv2:cn-north-1:{ACCOUNT}:regional/ipset/auto-block/{SET_ID}", "REGIONAL"),
    ],
)
def test_a_ref_is_read_from_the_arn_of_either_scope(arn: str, scope: str) -> None:
    assert IpSetRef.from_arn(arn) == IpSetRef("auto-block", SET_ID, scope)


@pytest.mark.parametrize(
    "arn",
    [
        "",
        "auto-block",
        f"arn:aws:wafv2:us-east-1:{ACCOUNT}:regional/webacl/auto-block/{SET_ID}",
        f"arn:aws:wafv2:us-east-1:{ACCOUNT}:regional/ipset/auto-block",
        f"arn:aws:wafv2:us-east-1:{ACCOUNT}:local/ipset/auto-block/{SET_ID}",
        f"arn:aws:waf-regional:us-east-1:{ACCOUNT}:ipset/{SET_ID}",
        f"arn:aws:wafv2:us-east-1:{ACCOUNT}:regional/ipset/auto block/{SET_ID}",
        f"arn:aws:wafv2:us-east-1:{ACCOUNT}:regional/ipset/auto-block/{SET_ID}/extra",
    ],
)
def test_rejects_what_is_not_the_arn_of_an_ip_set(arn: str) -> None:
    with pytest.raises(ValueError, match=rf"not the ARN of a WAF IP set: '{arn}'"):
        IpSetRef.from_arn(arn)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            ("auto-block", SET_ID, "regional"),
            "scope must be REGIONAL or CLOUDFRONT, got 'regional'",
        ),
        (("auto block", SET_ID, "REGIONAL"), "name must be .*got 'auto block'"),
        (("auto-block", "abc", "REGIONAL"), "id must be a lowercase UUID, got 'abc'"),
    ],
)
def test_a_ref_rejects_invalid_fields(fields: tuple[str, str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IpSetRef(*fields)


@pytest.mark.parametrize(
    ("value", "network"),
    [
        ("203.0.113.7", "203.0.113.7/32"),
        ("203.0.113.0/24", "203.0.113.0/24"),
        ("2001:DB8::1", "2001:db8::1/128"),
        ("2001:db8:0:0::/64", "2001:db8::/64"),
    ],
)
def test_parse_address_normalizes(value: str, network: str) -> None:
    assert str(parse_address(value)) == network


def test_importing_the_module_does_not_load_the_cdk() -> None:
    code = (
        "import sys, secure_endpoint.runtime.waf_ip_sets\n"
        "roots = {'aws_cdk', 'jsii', 'constructs'}\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in roots)\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr

"""Parsing, entry validation, the guard and the run's failure policy, with plain data."""

import ipaddress
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from threat_intel_feed.feeds import (
    MAX_SAMPLES,
    NOT_PUBLIC_IPV4,
    NOT_PUBLIC_IPV6,
    FeedFormat,
    FeedReport,
    Guard,
    Outcome,
    ParsedFeed,
    Rejection,
    check_entry,
    is_public,
    parse,
    refusals,
    run_failed,
)

SPAMHAUS_TEXT = """\
; Spamhaus DROP List 2026/01/01 - (c) 2026 The Spamhaus Project SLU
; https://www.spamhaus.org/drop/drop.txt
; Last-Modified: Thu, 01 Jan 2026 05:17:00 GMT
1.10.16.0/20 ; SBL256894
1.19.0.0/16 ; SBL434604
2a06:e480::/29 ; SBL303641
"""
SPAMHAUS_JSON = """\
{"cidr":"1.10.16.0/20","sblid":"SBL256894","rir":"apnic"}
{"cidr":"1.19.0.0/16","sblid":"SBL434604","rir":"apnic"}
{"type":"metadata","timestamp":1767244620,"size":118,"records":2,"copyright":"(c) 2026 The Spamhaus Project SLU","terms":"https://www.spamhaus.org/drop/terms/"}
"""  # noqa: E501 - a line as Spamhaus writes it
TOR = """\
185.220.101.4
185.220.101.5
# a comment
171.25.193.77
"""


def nets(*blocks: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(b) for b in blocks)


def test_parses_the_spamhaus_text_format() -> None:
    feed = parse(SPAMHAUS_TEXT, FeedFormat.SPAMHAUS_TEXT)
    assert feed.ipv4 == nets("1.10.16.0/20", "1.19.0.0/16")
    assert feed.ipv6 == nets("2a06:e480::/29")
    assert feed.rejected == {}
    assert feed.problems == ()


def test_parses_the_spamhaus_json_lines_and_accepts_its_metadata() -> None:
    feed = parse(SPAMHAUS_JSON, FeedFormat.SPAMHAUS_JSON)
    assert feed.addresses(4) == ["1.10.16.0/20", "1.19.0.0/16"]
    assert feed.addresses(6) == []
    assert feed.problems == ()


def test_parses_the_tor_exit_list_as_plain_lines_and_collapses_neighbours() -> None:
    feed = parse(TOR, FeedFormat.PLAIN)
    assert feed.addresses(4) == ["171.25.193.77/32", "185.220.101.4/31"]
    assert feed.entries == 2


def test_plain_lines_may_end_with_a_comment_and_hold_ipv6() -> None:
    feed = parse("2a0b:f4c0::/40  # a host\n\n   45.148.10.12 #x\n", FeedFormat.PLAIN)
    assert feed.addresses(4) == ["45.148.10.12/32"]
    assert feed.addresses(6) == ["2a0b:f4c0::/40"]


def test_dedupes_and_merges_nested_networks() -> None:
    feed = parse("1.10.16.0/20\n1.10.16.0/20\n1.10.17.0/24\n", FeedFormat.PLAIN)
    assert feed.addresses(4) == ["1.10.16.0/20"]


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("not-an-ip", Rejection.MALFORMED),
        ("1.2.3", Rejection.MALFORMED),
        ("01.10.16.0/20", Rejection.MALFORMED),
        ("1.10.16.0/33", Rejection.MALFORMED),
        ("fe80::1%eth0", Rejection.MALFORMED),
        ("<html>", Rejection.MALFORMED),
        ("1.10.16.1/20", Rejection.HOST_BITS),
        ("0.0.0.0/0", Rejection.TOO_WIDE),
        ("4.0.0.0/7", Rejection.TOO_WIDE),
        ("2a00::/15", Rejection.TOO_WIDE),
        ("10.1.2.3", Rejection.NOT_PUBLIC),
        ("127.0.0.1", Rejection.NOT_PUBLIC),
        ("169.254.169.254", Rejection.NOT_PUBLIC),
        ("100.64.0.0/10", Rejection.NOT_PUBLIC),
        ("192.0.2.0/24", Rejection.NOT_PUBLIC),
        ("224.0.0.1", Rejection.NOT_PUBLIC),
        ("255.255.255.255", Rejection.NOT_PUBLIC),
        ("172.0.0.0/8", Rejection.NOT_PUBLIC),  # public itself, but holds 172.16.0.0/12
        ("::1", Rejection.NOT_PUBLIC),
        ("::ffff:1.2.3.4", Rejection.NOT_PUBLIC),
        ("fd12:3456::/32", Rejection.NOT_PUBLIC),
        ("fe80::/64", Rejection.NOT_PUBLIC),
        ("ff02::1", Rejection.NOT_PUBLIC),
        ("2001:db8::/32", Rejection.NOT_PUBLIC),
        ("2002:a00:1::/48", Rejection.NOT_PUBLIC),
        ("2001::1", Rejection.NOT_PUBLIC),
    ],
)
def test_rejects_an_entry_that_is_not_a_public_network(entry: str, reason: Rejection) -> None:
    assert check_entry(entry) == reason


@pytest.mark.parametrize("entry", ["8.0.0.0/8", "1.10.16.0/20", "185.220.101.4", "2a06:e480::/29"])
def test_accepts_public_networks_up_to_the_widest_prefix(entry: str) -> None:
    assert check_entry(entry) == ipaddress.ip_network(entry)


def test_one_bad_line_never_spoils_the_feed_and_every_reject_is_counted() -> None:
    text = "1.10.16.0/20 ; SBL1\n10.0.0.0/8 ; SBL2\ngarbage\n0.0.0.0/1 ; SBL3\n1.19.0.1/16\n"
    feed = parse(text, FeedFormat.SPAMHAUS_TEXT)
    assert feed.addresses(4) == ["1.10.16.0/20"]
    assert feed.rejected == {
        Rejection.NOT_PUBLIC: 1,
        Rejection.MALFORMED: 1,
        Rejection.TOO_WIDE: 1,
        Rejection.HOST_BITS: 1,
    }
    assert feed.rejected_total == 4
    assert feed.rejected_samples == ("10.0.0.0/8", "garbage", "0.0.0.0/1", "1.19.0.1/16")


def test_keeps_a_few_short_samples_of_rejected_entries() -> None:
    feed = parse("\n".join(["x" * 500] * 20), FeedFormat.PLAIN)
    assert feed.rejected == {Rejection.MALFORMED: 20}
    assert len(feed.rejected_samples) == MAX_SAMPLES
    assert all(len(sample) <= 64 for sample in feed.rejected_samples)


def test_spamhaus_json_lines_without_a_cidr_are_malformed() -> None:
    text = '{"cidr": 17}\n[1, 2]\n{"sblid": "SBL1"}\nnot json\n' + SPAMHAUS_JSON
    feed = parse(text, FeedFormat.SPAMHAUS_JSON)
    assert feed.rejected == {Rejection.MALFORMED: 4}
    assert feed.entries == 2
    assert feed.problems == ()


def test_a_spamhaus_json_feed_without_its_metadata_line_is_incomplete() -> None:
    truncated = "\n".join(SPAMHAUS_JSON.splitlines()[:-1])
    feed = parse(truncated, FeedFormat.SPAMHAUS_JSON)
    assert feed.entries == 2
    assert feed.problems
    assert "no metadata line" in feed.problems[0]


def test_a_spamhaus_json_feed_with_fewer_records_than_announced_is_incomplete() -> None:
    text = SPAMHAUS_JSON.replace('"records":2', '"records":1500')
    (problem,) = parse(text, FeedFormat.SPAMHAUS_JSON).problems
    assert problem == "its metadata announces 1500 records, only 2 arrived"


def test_an_html_error_page_yields_no_entries() -> None:
    page = "<html>\n<head><title>503 Service Unavailable</title></head>\n</html>\n"
    for feed_format in FeedFormat:
        assert parse(page, feed_format).entries == 0


def test_the_special_purpose_blocks_are_themselves_not_public() -> None:
    for block in (*NOT_PUBLIC_IPV4, *NOT_PUBLIC_IPV6):
        assert not is_public(block)
    assert not is_public(ipaddress.ip_network("4000::/3"))


ENTRY_LIKE = st.one_of(
    st.ip_addresses().map(str),
    st.builds(
        lambda a, p: f"{a}/{p}",
        st.ip_addresses().map(str),
        st.integers(min_value=-1, max_value=140),
    ),
    st.text(alphabet='0123456789abcdef:./;# %[]{}"\\\n\t', max_size=60),
    st.text(max_size=60),
)
JSON_LINES = st.lists(
    st.one_of(
        st.builds(lambda c: json.dumps({"cidr": c}), ENTRY_LIKE),
        st.builds(json.dumps, st.dictionaries(st.text(max_size=8), st.integers() | st.text())),
        st.just('{"type":"metadata","records":3}'),
        st.just("[" * 2000),
        ENTRY_LIKE,
    ),
    max_size=30,
).map("\n".join)
FEED_TEXT = st.one_of(
    st.text(),
    st.lists(ENTRY_LIKE, max_size=30).map("\n".join),
    JSON_LINES,
)


@given(FEED_TEXT, st.sampled_from(FeedFormat))
def test_any_text_parses_without_raising_into_valid_public_networks_only(
    text: str, feed_format: FeedFormat
) -> None:
    feed = parse(text, feed_format)
    for network in feed.ipv4 + feed.ipv6:
        assert ipaddress.ip_network(str(network), strict=True) == network
        assert network.prefixlen >= (8 if network.version == 4 else 16)
        assert is_public(network)
    assert all(n.version == 4 for n in feed.ipv4)
    assert all(n.version == 6 for n in feed.ipv6)
    assert list(feed.ipv4) == sorted(set(feed.ipv4))
    assert feed.rejected_total >= 0


@given(st.lists(st.ip_addresses(v=4).map(str), max_size=50))
def test_every_public_address_in_a_plain_feed_is_covered_by_the_result(
    addresses: list[str],
) -> None:
    feed = parse("\n".join(addresses), FeedFormat.PLAIN)
    for address in addresses:
        ip = ipaddress.ip_address(address)
        covered = any(ip in network for network in feed.ipv4)
        assert covered == is_public(ipaddress.ip_network(address))


def feed_of(entries: int, v6: int = 0) -> ParsedFeed:
    v4_nets = [ipaddress.IPv4Network((0x01000000 + 2 * i, 32)) for i in range(entries - v6)]
    v6_nets = [ipaddress.IPv6Network((0x2A060000 << 96 | (2 * i), 128)) for i in range(v6)]
    return ParsedFeed(ipv4=tuple(v4_nets), ipv6=tuple(v6_nets))


def test_the_guard_accepts_a_feed_within_its_ratios() -> None:
    assert refusals(feed_of(60), current_entries=100, guard=Guard()) == ()
    assert refusals(feed_of(200), current_entries=100, guard=Guard()) == ()


def test_the_guard_refuses_a_feed_that_shrinks_too_much() -> None:
    (reason,) = refusals(feed_of(49), current_entries=100, guard=Guard())
    assert reason == (
        "it shrinks from 100 to 49 entries (49%); at least 50% of the current entries must remain"
    )


def test_the_guard_refuses_a_feed_that_grows_too_much() -> None:
    (reason,) = refusals(feed_of(301), current_entries=100, guard=Guard(max_ratio=3.0))
    assert reason.startswith("it grows from 100 to 301 entries (301%); at most 300%")


def test_the_guard_refuses_too_few_entries_even_for_empty_ip_sets() -> None:
    (reason,) = refusals(feed_of(5), current_entries=0, guard=Guard(min_entries=10))
    assert reason == "it has 5 valid entries, fewer than the 10 expected (0 rejected)"


def test_the_guard_refuses_an_empty_feed() -> None:
    assert refusals(ParsedFeed(), current_entries=100, guard=Guard())


def test_the_guard_skips_ratios_when_the_ip_sets_are_empty() -> None:
    assert refusals(feed_of(5000), current_entries=0, guard=Guard()) == ()


def test_the_guard_refuses_more_entries_than_an_ip_set_holds() -> None:
    (reason,) = refusals(feed_of(12, v6=5), current_entries=12, guard=Guard(max_per_set=5))
    assert reason == "it has 7 IPv4 entries; an IP set holds at most 5"


def test_the_guard_refuses_an_incomplete_feed() -> None:
    feed = ParsedFeed(ipv4=feed_of(10).ipv4, problems=("truncated",))
    assert refusals(feed, current_entries=10, guard=Guard()) == ("truncated",)


@pytest.mark.parametrize(
    "settings",
    [
        {"min_entries": 0},
        {"min_ratio": 0},
        {"min_ratio": 1.5},
        {"max_ratio": 0.9},
        {"max_per_set": 10_001},
    ],
)
def test_rejects_a_guard_that_cannot_work(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(settings))):
        Guard(**settings)  # type: ignore[arg-type]


def report(outcome: Outcome) -> FeedReport:
    return FeedReport("feed", outcome)


@pytest.mark.parametrize(
    ("outcomes", "failed"),
    [
        ([Outcome.FAILED], True),
        ([Outcome.REFUSED, Outcome.FAILED], True),
        ([Outcome.FAILED, Outcome.UNCHANGED], False),
        ([Outcome.REFUSED, Outcome.UPDATED], False),
        ([Outcome.UNCHANGED], False),
    ],
)
def test_the_run_fails_only_when_no_feed_is_up_to_date(
    outcomes: list[Outcome], failed: bool
) -> None:
    assert run_failed([report(o) for o in outcomes]) is failed


def test_a_report_is_plain_data_for_the_log() -> None:
    done = FeedReport(
        "tor",
        Outcome.UPDATED,
        entries=3,
        added=2,
        removed=1,
        rejected={Rejection.NOT_PUBLIC: 1, Rejection.MALFORMED: 2},
        rejected_samples=("10.0.0.1",),
    )
    assert json.loads(json.dumps(done.as_dict())) == {
        "feed": "tor",
        "outcome": "updated",
        "entries": 3,
        "added": 2,
        "removed": 1,
        "rejected": 3,
        "rejected_by_reason": {"malformed": 2, "not-public": 1},
        "rejected_samples": ["10.0.0.1"],
        "protected": 0,
        "reasons": [],
    }

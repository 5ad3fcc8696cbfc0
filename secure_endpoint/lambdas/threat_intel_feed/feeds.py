"""Parsing, validation and the update guard of IP reputation feeds.

Pure: text in, plain data out; no network, no boto3, no environment, no clock.

Formats (``FeedFormat``):

- ``spamhaus-json``: Spamhaus DROP as JSON lines (``drop_v4.json``, ``drop_v6.json``), one object
  per line, ``{"cidr": "1.10.16.0/20", "sblid": "SBL256894", "rir": "apnic"}``, and last a
  ``{"type": "metadata", ..., "records": 1234}`` line. The format Spamhaus recommends since 2024;
  the metadata line, written last, shows the download is complete.
- ``spamhaus-text``: the legacy Spamhaus text files (``drop.txt``, ``edrop.txt``):
  ``1.10.16.0/20 ; SBL256894`` lines, ``;`` comments.
- ``plain``: one address or CIDR per line, ``#`` comments (whole line or trailing), as the Tor
  Project's bulk exit list (``torbulkexitlist``) and most plain-text lists are written.

Every entry is validated on its own: an entry that is not a CIDR (or an address, taken as /32 or
/128), has host bits set, is wider than /8 (IPv4) or /16 (IPv6), or touches address space that is
not public unicast (private, shared, loopback, link-local, documentation, benchmarking, multicast,
reserved; for IPv6 anything outside 2000::/3, and 6to4, Teredo, ORCHID and documentation ranges)
is rejected and counted by reason. A bad line never spoils the rest of the feed; the guard
decides whether what is left is believable.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_IP_SET_ADDRESSES = 10_000
"""WAF's limit of addresses (CIDRs) in one IP set."""

MIN_PREFIX = {4: 8, 6: 16}
"""The widest prefix accepted per IP version: a /8 is already 16.7 million IPv4 addresses."""

MAX_LINE_CHARS = 1_000
"""Longer lines are rejected unread: no feed entry comes close."""

MAX_SAMPLES = 5
"""Rejected entries kept, as examples, for the report."""

SAMPLE_CHARS = 64

_ENTRY = re.compile(r"[0-9A-Fa-f:.]{2,45}(?:/[0-9]{1,3})?")
"""What an IPv4 or IPv6 address or CIDR can look like, before ``ipaddress`` has the last word.

It keeps out scope ids (``fe80::1%eth0``), whitespace and anything ``ipaddress`` might read
leniently.
"""

NOT_PUBLIC_IPV4 = tuple(
    ipaddress.IPv4Network(block)
    for block in (
        "0.0.0.0/8",  # this network
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation (TEST-NET-1)
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation (TEST-NET-2)
        "203.0.113.0/24",  # documentation (TEST-NET-3)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the limited broadcast address
    )
)
"""IPv4 blocks of the IANA special-purpose registry (RFC 6890 and successors) that no public
client sends from; an entry overlapping any of them is rejected."""

GLOBAL_UNICAST_IPV6 = ipaddress.IPv6Network("2000::/3")
"""The only IPv6 space allocated for public unicast: loopback, IPv4-mapped, NAT64, discard,
unique-local, link-local and multicast addresses all lie outside it."""

NOT_PUBLIC_IPV6 = tuple(
    ipaddress.IPv6Network(block)
    for block in (
        "2001::/23",  # IETF protocol assignments (Teredo, benchmarking, ORCHID)
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4: embeds IPv4 addresses, private ones included
        "3fff::/20",  # documentation (RFC 9637)
    )
)


class FeedFormat(StrEnum):
    SPAMHAUS_JSON = "spamhaus-json"
    SPAMHAUS_TEXT = "spamhaus-text"
    PLAIN = "plain"


class Rejection(StrEnum):
    """Why an entry was left out."""

    MALFORMED = "malformed"
    HOST_BITS = "host-bits"
    TOO_WIDE = "too-wide"
    NOT_PUBLIC = "not-public"


def check_entry(text: str) -> Network | Rejection:
    """``text`` as a public network, or why it cannot be one."""
    if not _ENTRY.fullmatch(text):
        return Rejection.MALFORMED
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            return Rejection.MALFORMED
        return Rejection.HOST_BITS
    if network.prefixlen < MIN_PREFIX[network.version]:
        return Rejection.TOO_WIDE
    if not is_public(network):
        return Rejection.NOT_PUBLIC
    return network


def is_public(network: Network) -> bool:
    """Whether every address of ``network`` is public unicast address space."""
    if isinstance(network, ipaddress.IPv4Network):
        return not any(network.overlaps(block) for block in NOT_PUBLIC_IPV4)
    return network.subnet_of(GLOBAL_UNICAST_IPV6) and not any(
        network.overlaps(block) for block in NOT_PUBLIC_IPV6
    )


@dataclass(frozen=True)
class ParsedFeed:
    """A feed's valid entries, collapsed (adjacent and nested networks merged) and sorted.

    :param problems: what makes the feed as a whole untrustworthy (it looks incomplete); the
        guard refuses a feed with problems.
    """

    ipv4: tuple[ipaddress.IPv4Network, ...] = ()
    ipv6: tuple[ipaddress.IPv6Network, ...] = ()
    rejected: Mapping[Rejection, int] = field(default_factory=dict)
    rejected_samples: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def entries(self) -> int:
        return len(self.ipv4) + len(self.ipv6)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def addresses(self, version: int) -> list[str]:
        """The entries of one IP version, in CIDR notation, as an IP set takes them."""
        return [str(network) for network in (self.ipv4 if version == 4 else self.ipv6)]


class _Collector:
    def __init__(self) -> None:
        self.networks: list[Network] = []
        self.rejected: Counter[Rejection] = Counter()
        self.samples: list[str] = []

    def entry(self, text: str) -> None:
        result = check_entry(text)
        if isinstance(result, Rejection):
            self.reject(result, text)
        else:
            self.networks.append(result)

    def reject(self, reason: Rejection, text: str) -> None:
        self.rejected[reason] += 1
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(text[:SAMPLE_CHARS])

    def result(self, problems: Sequence[str] = ()) -> ParsedFeed:
        v4 = [n for n in self.networks if isinstance(n, ipaddress.IPv4Network)]
        v6 = [n for n in self.networks if isinstance(n, ipaddress.IPv6Network)]
        return ParsedFeed(
            ipv4=tuple(ipaddress.collapse_addresses(v4)),
            ipv6=tuple(ipaddress.collapse_addresses(v6)),
            rejected=dict(self.rejected),
            rejected_samples=tuple(self.samples),
            problems=tuple(problems),
        )


def parse(text: str, feed_format: FeedFormat) -> ParsedFeed:
    """The valid entries of a feed and what was rejected. Never raises, whatever ``text`` is."""
    if feed_format is FeedFormat.SPAMHAUS_JSON:
        return _parse_spamhaus_json(text)
    collector = _Collector()
    comment = ";" if feed_format is FeedFormat.SPAMHAUS_TEXT else "#"
    for line in _lines(text):
        entry = line.split(comment, 1)[0].strip()
        if entry:
            collector.entry(entry)
    return collector.result()


def _lines(text: str) -> Iterator[str]:
    return (line.strip() for line in text.splitlines())


def _parse_spamhaus_json(text: str) -> ParsedFeed:
    collector = _Collector()
    records = 0
    announced: int | None = None
    metadata = False
    for line in _lines(text):
        if not line:
            continue
        item = _json_object(line)
        if item is not None and item.get("type") == "metadata":
            metadata = True
            count = item.get("records")
            announced = count if isinstance(count, int) and not isinstance(count, bool) else None
            continue
        records += 1
        cidr = item.get("cidr") if item is not None else None
        if isinstance(cidr, str):
            collector.entry(cidr.strip())
        else:
            collector.reject(Rejection.MALFORMED, line)
    problems = []
    if not metadata:
        problems.append(
            "it has no metadata line, which Spamhaus writes last: the download is incomplete "
            "or the feed is not in the Spamhaus JSON format"
        )
    elif announced is not None and records < announced:
        problems.append(f"its metadata announces {announced} records, only {records} arrived")
    return collector.result(problems)


def _json_object(line: str) -> dict[str, object] | None:
    if len(line) > MAX_LINE_CHARS:
        return None
    try:
        item = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return item if isinstance(item, dict) else None


@dataclass(frozen=True)
class Guard:
    """When a feed's new content is believable enough to replace what the IP sets hold.

    :param min_entries: fewer valid entries than this and the feed is refused.
    :param min_ratio: the new entries must be at least this share of the current ones
        (0.5: refuse a feed that shrinks by more than half). Not applied to empty IP sets.
    :param max_ratio: the new entries may be at most this multiple of the current ones
        (2.0: refuse a feed that more than doubles). Not applied to empty IP sets.
    :param max_per_set: the most entries one IP set may hold (WAF's limit), per IP version.
    """

    min_entries: int = 1
    min_ratio: float = 0.5
    max_ratio: float = 2.0
    max_per_set: int = MAX_IP_SET_ADDRESSES

    def __post_init__(self) -> None:
        if not 1 <= self.min_entries <= 2 * MAX_IP_SET_ADDRESSES:
            raise ValueError(
                f"min_entries must be from 1 to {2 * MAX_IP_SET_ADDRESSES}, "
                f"got {self.min_entries!r}"
            )
        if not 0 < self.min_ratio <= 1 <= self.max_ratio:
            raise ValueError(
                "min_ratio must be above 0 and at most 1, max_ratio at least 1, "
                f"got min_ratio={self.min_ratio!r}, max_ratio={self.max_ratio!r}"
            )
        if not 1 <= self.max_per_set <= MAX_IP_SET_ADDRESSES:
            raise ValueError(
                f"max_per_set must be from 1 to {MAX_IP_SET_ADDRESSES}, got {self.max_per_set!r}"
            )


def refusals(feed: ParsedFeed, current_entries: int, guard: Guard) -> tuple[str, ...]:
    """Why ``feed`` must not replace IP sets holding ``current_entries``; empty to accept it."""
    reasons = list(feed.problems)
    if feed.entries < guard.min_entries:
        reasons.append(
            f"it has {feed.entries} valid entries, fewer than the {guard.min_entries} expected "
            f"({feed.rejected_total} rejected)"
        )
    for version, count in ((4, len(feed.ipv4)), (6, len(feed.ipv6))):
        if count > guard.max_per_set:
            reasons.append(
                f"it has {count} IPv{version} entries; an IP set holds at most {guard.max_per_set}"
            )
    if current_entries > 0 and feed.entries > 0:
        ratio = feed.entries / current_entries
        if ratio < guard.min_ratio:
            reasons.append(
                f"it shrinks from {current_entries} to {feed.entries} entries ({ratio:.0%}); "
                f"at least {guard.min_ratio:.0%} of the current entries must remain"
            )
        if ratio > guard.max_ratio:
            reasons.append(
                f"it grows from {current_entries} to {feed.entries} entries ({ratio:.0%}); "
                f"at most {guard.max_ratio:.0%} of the current entries is believable"
            )
    return tuple(reasons)


class Outcome(StrEnum):
    UPDATED = "updated"  # the IP sets now hold the feed's entries, which differed
    UNCHANGED = "unchanged"  # the IP sets already held the feed's entries
    REFUSED = "refused"  # the guard refused the feed; the IP sets were left as they were
    FAILED = "failed"  # fetching or writing failed; see the report for what was written


@dataclass(frozen=True)
class FeedReport:
    """What one run did with one feed; counts only, so that it can be logged as it is."""

    feed: str
    outcome: Outcome
    entries: int = 0
    added: int = 0
    removed: int = 0
    rejected: Mapping[Rejection, int] = field(default_factory=dict)
    rejected_samples: tuple[str, ...] = ()
    protected: int = 0
    reasons: tuple[str, ...] = ()

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "feed": self.feed,
            "outcome": self.outcome.value,
            "entries": self.entries,
            "added": self.added,
            "removed": self.removed,
            "rejected": self.rejected_total,
            "rejected_by_reason": {str(k): v for k, v in sorted(self.rejected.items())},
            "rejected_samples": list(self.rejected_samples),
            "protected": self.protected,
            "reasons": list(self.reasons),
        }


def run_failed(reports: Iterable[FeedReport]) -> bool:
    """The run fails, for the dead-letter queue and the Errors alarm, when no feed is current:
    every feed failed or was refused. A partial failure is reported in metrics and logs; the next
    scheduled run tries again, and the other feeds' IP sets are up to date meanwhile."""
    outcomes = [report.outcome for report in reports]
    return bool(outcomes) and all(o in (Outcome.FAILED, Outcome.REFUSED) for o in outcomes)

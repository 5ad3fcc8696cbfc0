"""The auto-block list: addresses blocked by the WAF for a while, then released.

A WAF IP set holds addresses, not expiries. Each blocked address therefore has a record in a
DynamoDB table (see ``secure_endpoint.constructs.blocklist_store.BlockListTable``), and the
auto-block IP
sets (one IPv4, one IPv6) are kept equal to the records that are active:

========== ====== =====================================================================
attribute  type   meaning
========== ====== =====================================================================
address    S      the partition key: the normalized CIDR (``203.0.113.7/32``)
expiresAt  N      epoch seconds after which the address is no longer blocked
blockedAt  N      epoch seconds of the block that started this stretch
purgeAt    N      the table's TTL attribute: ``expiresAt`` + ``PURGE_GRACE``
reason     S      why (``"score 0.93 over threshold 0.80"``, ``"credential stuffing"``)
source     S      who: ``"monitor"``, or the operator's ARN
ipVersion  N      4 or 6: which IP set holds the address
========== ====== =====================================================================

DynamoDB's TTL is only a backstop for records nobody cleaned up, and it deletes on its own
schedule. Were it ``expiresAt`` itself, DynamoDB could delete a record before ``expire`` removed
its address from the IP set, leaving the address blocked for good with nothing to say why. It is
``PURGE_GRACE`` later instead, so a record outlives its expiry long enough to be acted on.

Every write is ordered so that a run stopped between two steps leaves a state the next one
repairs, and every step can be retried:

- ``block``: the record first (a conditional write that keeps the later expiry), then the IP set.
  A record whose address is not in its set yet is added by the next ``block`` of that address or
  the next ``reconcile``. Nothing is rolled back: a rollback after an update whose answer was lost
  would leave an address in the set with no record, blocked for good.
- ``unblock``: the record is marked expired first, then the address leaves the IP set, then the
  record is deleted. A stop after the first step is finished by ``expire``; a stop after the
  second leaves an expired record that ``expire`` deletes.
- ``expire``: the IP sets first, then the records, each deleted only if still expired (a record a
  concurrent ``block`` extended is put back in its set instead).

Addresses inside ``protected_networks`` (the allowlist) are never recorded nor written; the IP set
writers refuse them too. ``block`` starts at most ``max_per_run`` new blocks per call and reports
the rest as deferred, so that one bad run of the monitor cannot block everyone.

Throttled and failed DynamoDB calls are retried by botocore, not here: create the client with
``config=DYNAMODB_CONFIG`` (standard retry mode, ``DYNAMODB_MAX_ATTEMPTS`` attempts with
exponential backoff and jitter), as ``dynamodb_client`` does. WAF calls are retried by the
``IpSetWriter`` (lock tokens). Standard library and boto3 only: never the CDK.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from secure_endpoint.runtime.waf_ip_sets import IpSetWriter, Network, parse_address

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

PURGE_GRACE = timedelta(days=7)
"""How long a record outlives its expiry before DynamoDB's TTL may delete it."""

MIN_TTL = timedelta(minutes=1)
MAX_TTL = timedelta(days=30)
"""The longest a block lasts; what must stay blocked longer belongs in the deny list."""

MIN_EXTENSION = timedelta(minutes=1)
"""An active block is extended only when that moves its expiry at least this much: blocking an
address again at once, or retrying a run a few seconds later, writes nothing."""

DEFAULT_MAX_PER_RUN = 50
"""New blocks one ``block`` call may start, unless the caller says otherwise."""

WIDEST_PREFIX = {4: 16, 6: 48}
"""The widest range one record may block, per IP version (``/16``, ``/48``)."""

MAX_REASON = 256
MAX_SOURCE = 256

DYNAMODB_MAX_ATTEMPTS = 8
DYNAMODB_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": DYNAMODB_MAX_ATTEMPTS},
    connect_timeout=5,
    read_timeout=10,
)
"""botocore's standard retry mode: throttling (``ProvisionedThroughputExceededException``,
``ThrottlingException``, ``RequestLimitExceeded``), 5xx and connection errors are retried with
exponential backoff and jitter, up to ``DYNAMODB_MAX_ATTEMPTS`` attempts in all."""

_CONDITION_FAILED = "ConditionalCheckFailedException"
_MIN_EXTENSION_SECONDS = int(MIN_EXTENSION.total_seconds())
_NAMES = {
    "#address": "address",
    "#expiresAt": "expiresAt",
    "#blockedAt": "blockedAt",
    "#purgeAt": "purgeAt",
    "#reason": "reason",
    "#source": "source",
    "#ipVersion": "ipVersion",
}


def dynamodb_client(session: Any) -> Any:
    """A ``dynamodb`` client of boto3 ``session`` with the retries this module relies on."""
    return session.client("dynamodb", config=DYNAMODB_CONFIG)


@dataclass(frozen=True)
class BlockRequest:
    """Block ``address`` for ``ttl``.

    :param address: an IPv4 or IPv6 address or CIDR, at most ``WIDEST_PREFIX`` wide.
    :param ttl: how long, from ``MIN_TTL`` to ``MAX_TTL``.
    :param reason: why, 1 to ``MAX_REASON`` characters; kept with the record.
    :param source: who asks: ``"monitor"``, an operator's ARN. Default: - ``"monitor"``
    :raises ValueError: any of these is invalid; the message names the value.
    """

    address: str
    ttl: timedelta
    reason: str
    source: str = "monitor"

    def __post_init__(self) -> None:
        network = parse_address(self.address)
        widest = WIDEST_PREFIX[network.version]
        if network.prefixlen < widest:
            raise ValueError(
                f"{self.address!r} is wider than /{widest}, the widest IPv{network.version} "
                "range the auto-block list takes; block narrower ranges or use the deny list"
            )
        if not isinstance(self.ttl, timedelta) or not MIN_TTL <= self.ttl <= MAX_TTL:
            raise ValueError(f"ttl must be from {MIN_TTL} to {MAX_TTL}, got {self.ttl!r}")
        _check_text("reason", self.reason, MAX_REASON)
        _check_text("source", self.source, MAX_SOURCE)

    @property
    def network(self) -> Network:
        return parse_address(self.address)


@dataclass(frozen=True)
class BlockEntry:
    """One record: ``address`` (normalized CIDR) is blocked until ``expires_at`` (epoch seconds)."""

    address: str
    expires_at: int
    blocked_at: int
    reason: str
    source: str
    ip_version: int

    def active(self, now: float) -> bool:
        """Whether the address is meant to be blocked at ``now``."""
        return self.expires_at > now

    def expires_in(self, now: float) -> float:
        """Seconds from ``now`` until the block ends; negative once it has."""
        return self.expires_at - now

    def _item(self, purge_at: int) -> dict[str, Any]:
        return {
            "address": {"S": self.address},
            "expiresAt": {"N": str(self.expires_at)},
            "blockedAt": {"N": str(self.blocked_at)},
            "purgeAt": {"N": str(purge_at)},
            "reason": {"S": self.reason},
            "source": {"S": self.source},
            "ipVersion": {"N": str(self.ip_version)},
        }

    @classmethod
    def _from_item(cls, item: Mapping[str, Any]) -> BlockEntry:
        return cls(
            address=str(item["address"]["S"]),
            expires_at=int(item["expiresAt"]["N"]),
            blocked_at=int(item.get("blockedAt", item["expiresAt"])["N"]),
            reason=str(item.get("reason", {}).get("S", "")),
            source=str(item.get("source", {}).get("S", "")),
            ip_version=int(item.get("ipVersion", {}).get("N", 0))
            or parse_address(str(item["address"]["S"])).version,
        )


@dataclass(frozen=True)
class BlockResult:
    """What ``block`` did, address by address (normalized CIDRs).

    :param blocked: new blocks: recorded and now in their IP set.
    :param extended: already blocked; the expiry moved to the later one asked for.
    :param unchanged: already blocked at least as long (give or take ``MIN_EXTENSION``);
        nothing was written.
    :param refused: inside a protected network: never recorded nor blocked.
    :param deferred: new blocks beyond ``max_per_run``: not blocked by this call.
    :param repaired: recorded earlier but missing from their IP set (an interrupted run), added.
    """

    blocked: tuple[BlockEntry, ...] = ()
    extended: tuple[BlockEntry, ...] = ()
    unchanged: tuple[BlockEntry, ...] = ()
    refused: tuple[str, ...] = ()
    deferred: tuple[str, ...] = ()
    repaired: frozenset[str] = frozenset()


@dataclass(frozen=True)
class UnblockResult:
    """What ``unblock`` did.

    :param unblocked: addresses that were blocked (an active record, or in an IP set) and are not.
    :param not_blocked: addresses that were not blocked; nothing was changed for them.
    """

    unblocked: tuple[str, ...] = ()
    not_blocked: tuple[str, ...] = ()


@dataclass(frozen=True)
class Drift:
    """How the IP sets differ from the records.

    :param missing: active records whose address is not in its IP set.
    :param stale: addresses in an IP set whose record has expired (or is protected).
    :param untracked: addresses in an IP set with no record at all (added by hand): reported,
        never removed automatically.
    """

    missing: frozenset[str] = frozenset()
    stale: frozenset[str] = frozenset()
    untracked: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ReconcileResult:
    """What ``reconcile`` did.

    :param added: active records' addresses that were missing from their IP set, now added.
    :param removed: expired (or protected) addresses taken out of the IP sets.
    :param expired: records deleted because their block had ended (or they are protected).
    :param untracked: addresses in the IP sets with no record (added by hand), left in place.
    """

    added: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()
    expired: frozenset[str] = frozenset()
    untracked: frozenset[str] = frozenset()


class BlockTable:
    """The records, in one DynamoDB table; every write is conditional.

    :param client: a boto3 ``dynamodb`` client, created with ``config=DYNAMODB_CONFIG``.
    :param table_name: the table (``BlockListTable.table_name``).
    :param purge_grace: how long after its expiry a record may be deleted by DynamoDB's TTL.
        Default: - ``PURGE_GRACE``
    """

    def __init__(
        self, client: Any, table_name: str, *, purge_grace: timedelta = PURGE_GRACE
    ) -> None:
        if not isinstance(table_name, str) or not re.fullmatch(r"[\w.-]{3,255}", table_name):
            raise ValueError(f"not a DynamoDB table name: {table_name!r}")
        self._client = client
        self.table_name = table_name
        self._grace = int(purge_grace.total_seconds())

    def get(self, address: str) -> BlockEntry | None:
        response = self._client.get_item(
            TableName=self.table_name, Key=_key(address), ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else BlockEntry._from_item(item)

    def scan(self) -> Iterator[BlockEntry]:
        """Every record, read consistently, page by page."""
        params: dict[str, Any] = {"TableName": self.table_name, "ConsistentRead": True}
        while True:
            response = self._client.scan(**params)
            for item in response.get("Items", []):
                yield BlockEntry._from_item(item)
            if "LastEvaluatedKey" not in response:
                return
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def create(self, entry: BlockEntry, now: int) -> bool:
        """Write ``entry`` unless an active record of its address exists; whether it did."""
        return self._conditional(
            self._client.put_item,
            Item=entry._item(entry.expires_at + self._grace),
            ConditionExpression="attribute_not_exists(#address) OR #expiresAt <= :now",
            ExpressionAttributeNames={"#address": "address", "#expiresAt": "expiresAt"},
            ExpressionAttributeValues={":now": {"N": str(now)}},
        )

    def extend(self, entry: BlockEntry, now: int) -> bool:
        """Move an active record's expiry to ``entry.expires_at`` if that is later, with
        ``entry``'s reason and source; whether it did. ``blockedAt`` is kept."""
        return self._conditional(
            self._client.update_item,
            Key=_key(entry.address),
            UpdateExpression=(
                "SET #expiresAt = :expires, #purgeAt = :purge, #reason = :reason, #source = :source"
            ),
            ConditionExpression="#expiresAt > :now AND #expiresAt < :expires",
            ExpressionAttributeNames=_names("#expiresAt", "#purgeAt", "#reason", "#source"),
            ExpressionAttributeValues={
                ":expires": {"N": str(entry.expires_at)},
                ":purge": {"N": str(entry.expires_at + self._grace)},
                ":reason": {"S": entry.reason},
                ":source": {"S": entry.source},
                ":now": {"N": str(now)},
            },
        )

    def end(self, address: str, now: int) -> bool:
        """Expire an active record at ``now``; whether there was one."""
        return self._conditional(
            self._client.update_item,
            Key=_key(address),
            UpdateExpression="SET #expiresAt = :now, #purgeAt = :purge",
            ConditionExpression="attribute_exists(#address) AND #expiresAt > :now",
            ExpressionAttributeNames=_names("#address", "#expiresAt", "#purgeAt"),
            ExpressionAttributeValues={
                ":now": {"N": str(now)},
                ":purge": {"N": str(now + self._grace)},
            },
        )

    def delete(self, address: str, *, expired_at: int) -> bool:
        """Delete the record if it has expired by ``expired_at``; whether it did (or was gone)."""
        try:
            self._client.delete_item(
                TableName=self.table_name,
                Key=_key(address),
                ConditionExpression="attribute_not_exists(#address) OR #expiresAt <= :now",
                ExpressionAttributeNames=_names("#address", "#expiresAt"),
                ExpressionAttributeValues={":now": {"N": str(expired_at)}},
            )
        except ClientError as error:
            if _error_code(error) == _CONDITION_FAILED:
                return False
            raise
        return True

    def delete_protected(self, address: str) -> None:
        """Delete the record of an address that must never be blocked, whatever its expiry."""
        self._client.delete_item(TableName=self.table_name, Key=_key(address))

    def _conditional(self, call: Callable[..., Any], **params: Any) -> bool:
        try:
            call(TableName=self.table_name, **params)
        except ClientError as error:
            if _error_code(error) == _CONDITION_FAILED:
                return False
            raise
        return True


class BlockList:
    """Blocks addresses in the WAF's auto-block IP sets for a while, with a record of each.

    :param table: where the records are kept.
    :param writers: the auto-block IP set writer of each IP version, ``{4: ..., 6: ...}``; a
        version without one cannot be blocked (``ValueError``).
    :param protected_networks: addresses and CIDRs never to block, nor anything overlapping
        them: the allowlist. Give the writers the same. Default: - none
    :param max_per_run: new blocks one ``block`` call may start; the rest are deferred.
        Default: - ``DEFAULT_MAX_PER_RUN``
    :param clock: the time, in epoch seconds. Default: - ``time.time``
    :raises ValueError: a protected network is invalid, ``max_per_run`` is below 1, or a writer
        is keyed by anything but 4 or 6.
    """

    def __init__(
        self,
        table: BlockTable,
        writers: Mapping[int, IpSetWriter],
        *,
        protected_networks: Iterable[str] = (),
        max_per_run: int = DEFAULT_MAX_PER_RUN,
        clock: Clock = time.time,
    ) -> None:
        if isinstance(protected_networks, str):
            raise TypeError("protected_networks must be a collection of strings, not a string")
        if set(writers) - {4, 6}:
            raise ValueError(f"writers must be keyed by IP version 4 or 6, got {sorted(writers)}")
        if not isinstance(max_per_run, int) or max_per_run < 1:
            raise ValueError(f"max_per_run must be at least 1, got {max_per_run!r}")
        self._table = table
        self._writers = dict(writers)
        self._protected = frozenset(_as_ipv6(parse_address(n)) for n in protected_networks)
        self._max_per_run = max_per_run
        self._clock = clock

    def block(self, requests: Iterable[BlockRequest]) -> BlockResult:
        """Block each request's address until ``now + ttl``, or longer if already so (an
        active block is extended only by ``MIN_EXTENSION`` or more).

        Requests are taken in order: those beyond ``max_per_run`` new blocks are deferred. An
        address asked for twice counts once, with the longest TTL. Safe to call again with the
        same requests after any failure: what was done is not done twice (no ``UpdateIPSet``
        when the set already holds the addresses) and what was not is completed.

        :raises ValueError: an address's IP version has no writer; nothing is written.
        """
        now = self._now()
        wanted = self._merge(list(requests))
        for network in wanted:
            self._writer(network.version)  # before any write
        result = _BlockProgress()
        for network, request in wanted.items():
            address = str(network)
            if self._is_protected(network):
                result.refused.append(address)
                continue
            entry = BlockEntry(
                address=address,
                expires_at=now + math.ceil(request.ttl.total_seconds()),
                blocked_at=now,
                reason=request.reason,
                source=request.source,
                ip_version=network.version,
            )
            self._record(entry, now, result)
        self._write_sets(result)
        outcome = result.freeze()
        logger.info(
            "auto-block: %d blocked, %d extended, %d unchanged, %d refused, %d deferred",
            len(outcome.blocked),
            len(outcome.extended),
            len(outcome.unchanged),
            len(outcome.refused),
            len(outcome.deferred),
            extra={
                "blocked": [e.address for e in outcome.blocked],
                "extended": [e.address for e in outcome.extended],
                "refused": list(outcome.refused),
                "deferred": list(outcome.deferred),
                "repaired": sorted(outcome.repaired),
            },
        )
        return outcome

    def unblock(self, addresses: Iterable[str]) -> UnblockResult:
        """Release ``addresses`` now: their records end, they leave the IP sets.

        An address in an IP set without a record (added by hand) is removed too: it was asked
        for by name. Only exact entries are removed (``10.0.0.1`` leaves ``10.0.0.0/24``).

        :raises ValueError: an address is invalid or its IP version has no writer.
        """
        if isinstance(addresses, str):
            raise TypeError("addresses must be a collection of strings, not a string")
        networks = sorted({parse_address(a) for a in addresses}, key=_as_ipv6)
        for network in networks:
            self._writer(network.version)
        now = self._now()
        ended = {str(n) for n in networks if self._table.end(str(n), now)}
        removed: set[str] = set()
        for version, group in _by_version(str(n) for n in networks).items():
            removed |= self._writer(version).remove(group).removed
        for network in networks:
            self._table.delete(str(network), expired_at=now)
        unblocked = tuple(str(n) for n in networks if str(n) in ended | removed)
        result = UnblockResult(
            unblocked=unblocked,
            not_blocked=tuple(str(n) for n in networks if str(n) not in unblocked),
        )
        logger.info(
            "auto-block: %d unblocked, %d were not blocked",
            len(result.unblocked),
            len(result.not_blocked),
            extra={"unblocked": list(result.unblocked), "not_blocked": list(result.not_blocked)},
        )
        return result

    def expire(self, now: float | None = None) -> frozenset[str]:
        """Release every address whose block has ended by ``now`` (or that is protected): out of
        the IP sets first, then the record. Returns the addresses whose records were deleted."""
        moment = self._now() if now is None else math.floor(now)
        return self._expire(moment)[0]

    def blocked(self, now: float | None = None) -> list[BlockEntry]:
        """The active records, soonest expiry first."""
        moment = self._now() if now is None else now
        active = [e for e in self._table.scan() if e.active(moment)]
        return sorted(active, key=lambda e: (e.expires_at, _as_ipv6(parse_address(e.address))))

    def drift(self, now: float | None = None) -> Drift:
        """How the IP sets differ from the records now (reads only)."""
        moment = self._now() if now is None else int(now)
        records = list(self._table.scan())
        active = {e.address for e in records if not self._is_due(e, moment)}
        known = {e.address for e in records}
        in_sets: set[str] = set()
        for writer in self._writers.values():
            in_sets |= writer.addresses()
        return Drift(
            missing=frozenset(active - in_sets),
            stale=frozenset((known - active) & in_sets),
            untracked=frozenset(in_sets - known),
        )

    def reconcile(self, now: float | None = None) -> ReconcileResult:
        """Make the IP sets hold what the records say is active: expired addresses leave (and
        their records go), missing ones are added; addresses with no record are reported and
        left in place. Run it at the start of every monitor run: it finishes what an
        interrupted ``block``, ``unblock`` or ``expire`` left."""
        moment = self._now() if now is None else math.floor(now)
        expired, removed = self._expire(moment)
        drift = self.drift(moment)
        added: set[str] = set()
        for version, group in _by_version(drift.missing).items():
            change = self._writer(version).add(group)
            added |= change.added
            for address in change.refused:  # the writer's protection is wider than ours
                self._table.delete_protected(address)
        if drift.untracked:
            logger.warning(
                "auto-block: %d addresses in the IP sets have no record; left as they are",
                len(drift.untracked),
                extra={"untracked": sorted(drift.untracked)},
            )
        return ReconcileResult(
            added=frozenset(added), removed=removed, expired=expired, untracked=drift.untracked
        )

    def _expire(self, now: int) -> tuple[frozenset[str], frozenset[str]]:
        due = [entry for entry in self._table.scan() if self._is_due(entry, now)]
        if not due:
            return frozenset(), frozenset()
        removed: set[str] = set()
        for version, group in _by_version(entry.address for entry in due).items():
            removed |= self._writer(version).remove(group).removed
        deleted: set[str] = set()
        revived: list[str] = []
        for entry in due:
            if self._is_protected(parse_address(entry.address)):
                self._table.delete_protected(entry.address)
                deleted.add(entry.address)
            elif self._table.delete(entry.address, expired_at=now):
                deleted.add(entry.address)
            else:  # a concurrent block extended it after the scan: it stays blocked
                revived.append(entry.address)
        for version, group in _by_version(revived).items():
            removed -= self._writer(version).add(group).added
        logger.info(
            "auto-block: %d expired, %d removed from the IP sets",
            len(deleted),
            len(removed),
            extra={"expired": sorted(deleted), "removed": sorted(removed), "revived": revived},
        )
        return frozenset(deleted), frozenset(removed)

    def _record(self, entry: BlockEntry, now: int, result: _BlockProgress) -> None:
        """Write ``entry``'s record (new, extended or left), retrying when a concurrent writer
        changes it between the read and the conditional write."""
        for _ in range(3):
            existing = self._table.get(entry.address)
            if existing is not None and existing.active(now):
                if entry.expires_at - existing.expires_at < _MIN_EXTENSION_SECONDS:
                    result.unchanged.append(existing)
                    return
                if self._table.extend(entry, now):
                    result.extended.append(replace(entry, blocked_at=existing.blocked_at))
                    return
            else:
                if len(result.blocked) >= self._max_per_run:
                    result.deferred.append(entry.address)
                    return
                if self._table.create(entry, now):
                    result.blocked.append(entry)
                    return
        raise RuntimeError(f"the record of {entry.address} kept changing; try again")

    def _write_sets(self, result: _BlockProgress) -> None:
        entries = [*result.blocked, *result.extended, *result.unchanged]
        new = {e.address for e in result.blocked}
        for version, group in _by_version(e.address for e in entries).items():
            change = self._writer(version).add(group)
            result.repaired |= change.added - new
            for address in change.refused:  # the writer's protection is wider than ours
                self._table.delete_protected(address)
                result.refuse(address)

    def _merge(self, requests: list[BlockRequest]) -> dict[Network, BlockRequest]:
        wanted: dict[Network, BlockRequest] = {}
        for request in requests:
            if not isinstance(request, BlockRequest):
                raise TypeError(f"expected BlockRequest, got {request!r}")
            network = request.network
            if network not in wanted or request.ttl > wanted[network].ttl:
                wanted[network] = request
        return wanted

    def _is_due(self, entry: BlockEntry, now: int) -> bool:
        return not entry.active(now) or self._is_protected(parse_address(entry.address))

    def _is_protected(self, network: Network) -> bool:
        mapped = _as_ipv6(network)
        return any(mapped.overlaps(protected) for protected in self._protected)

    def _writer(self, version: int) -> IpSetWriter:
        writer = self._writers.get(version)
        if writer is None:
            raise ValueError(f"no auto-block IP set for IPv{version} addresses was given")
        return writer

    def _now(self) -> int:
        return math.floor(self._clock())


@dataclass
class _BlockProgress:
    blocked: list[BlockEntry] = field(default_factory=list)
    extended: list[BlockEntry] = field(default_factory=list)
    unchanged: list[BlockEntry] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    repaired: set[str] = field(default_factory=set)

    def refuse(self, address: str) -> None:
        for entries in (self.blocked, self.extended, self.unchanged):
            entries[:] = [e for e in entries if e.address != address]
        self.repaired.discard(address)
        self.refused.append(address)

    def freeze(self) -> BlockResult:
        return BlockResult(
            blocked=tuple(self.blocked),
            extended=tuple(self.extended),
            unchanged=tuple(self.unchanged),
            refused=tuple(self.refused),
            deferred=tuple(self.deferred),
            repaired=frozenset(self.repaired),
        )


_IPV4_MAPPED = 0xFFFF << 32  # ::ffff:0:0/96, as the IP set writer compares networks


def _as_ipv6(network: Network) -> ipaddress.IPv6Network:
    if isinstance(network, ipaddress.IPv6Network):
        return network
    return ipaddress.IPv6Network(
        (_IPV4_MAPPED | int(network.network_address), 96 + network.prefixlen)
    )


def _by_version(addresses: Iterable[str]) -> dict[int, list[str]]:
    groups: dict[int, list[str]] = {}
    for address in addresses:
        groups.setdefault(parse_address(address).version, []).append(address)
    return groups


def _key(address: str) -> dict[str, Any]:
    return {"address": {"S": address}}


def _names(*placeholders: str) -> dict[str, str]:
    return {placeholder: _NAMES[placeholder] for placeholder in placeholders}


def _check_text(name: str, value: object, limit: int) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ValueError(f"{name} must be 1 to {limit} characters, got {value!r}")


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))

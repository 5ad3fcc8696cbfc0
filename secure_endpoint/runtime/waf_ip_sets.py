"""Reading and writing the addresses of a WAF (wafv2) IP set, safely under concurrent writers.

WAF has no "add one address" call: ``UpdateIPSet`` replaces the whole address list, guarded by
the ``LockToken`` of the ``GetIPSet`` it was computed from (optimistic locking). Every write here
is therefore GetIPSet, compute the new list, UpdateIPSet with that token; when another writer got
there first (``WAFOptimisticLockException``) or WAF throttles, the whole cycle starts again after
an exponential, jittered delay, at most ``max_attempts`` times. A write that changes nothing is
not made.

Two guards keep an automated writer from locking out the clients the WAF exists to let in:

- an IP set listed as ``forbidden`` (the allowlist) cannot get a writer at all;
- an address overlapping any of the ``protected_networks`` (the allowlist's CIDRs) is never
  added, only reported as refused.

Standard library and boto3 only: this module is bundled into Lambda functions and used by the
command line client, so it never imports the CDK.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from botocore.exceptions import ClientError

logger = logging.getLogger(__name__)

Scope = Literal["REGIONAL", "CLOUDFRONT"]
"""Where an IP set lives: ``REGIONAL`` (API Gateway, ALB, ...) or ``CLOUDFRONT`` (global)."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
"""A parsed address or CIDR range."""

Sleep = Callable[[float], None]
_T = TypeVar("_T")

MAX_ADDRESSES = 10_000
"""WAF's limit of addresses (CIDRs) in one IP set."""

RETRIED_ERRORS = frozenset(
    {
        "WAFOptimisticLockException",  # another writer changed the set since our GetIPSet
        "WAFInternalErrorException",  # "Your request is valid ... Retry your request."
        "ThrottlingException",  # how WAF answers "Rate exceeded"
        "TooManyRequestsException",
        "Throttling",
    }
)
"""Error codes after which the whole Get-then-Update cycle is tried again.

``WAFLimitsExceededException`` is not among them: WAF documents it as a resource quota (such as
the number of addresses in a set), which waiting does not change.
"""

BASE_DELAY = 0.25
"""Seconds before the second attempt; each further attempt waits up to twice as long."""

MAX_DELAY = 8.0
"""The longest wait between two attempts, in seconds."""

_SCOPES: dict[str, Scope] = {"regional": "REGIONAL", "global": "CLOUDFRONT"}
_NAME = r"[\w-]{1,128}"
_ID = r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}"
_ARN = re.compile(
    r"arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:"
    rf"(?P<scope>regional|global)/ipset/(?P<name>{_NAME})/(?P<id>{_ID})"
)
_IPV4_MAPPED = 0xFFFF << 32  # ::ffff:0:0/96, where IPv6 carries IPv4 addresses


@dataclass(frozen=True)
class IpSetRef:
    """Which IP set: what ``GetIPSet`` and ``UpdateIPSet`` need to find it.

    :param name: the IP set's name (1-128 letters, digits, ``_`` or ``-``).
    :param id: the IP set's id, a UUID that WAF assigns.
    :param scope: ``REGIONAL``, or ``CLOUDFRONT`` for a global set (called through us-east-1).
    """

    name: str
    id: str
    scope: Scope

    def __post_init__(self) -> None:
        if self.scope not in _SCOPES.values():
            raise ValueError(f"IP set scope must be REGIONAL or CLOUDFRONT, got {self.scope!r}")
        if not re.fullmatch(_NAME, self.name):
            raise ValueError(
                f"IP set name must be 1-128 letters, digits, '_' or '-', got {self.name!r}"
            )
        if not re.fullmatch(_ID, self.id):
            raise ValueError(f"IP set id must be a lowercase UUID, got {self.id!r}")

    @classmethod
    def from_arn(cls, arn: str) -> IpSetRef:
        """The IP set of an ARN such as CloudFormation's ``Fn::GetAtt <IPSet>.Arn`` gives.

        ``arn:aws:wafv2:<region>:<account>:regional/ipset/<name>/<id>`` is a ``REGIONAL`` set,
        ``arn:aws:wafv2:us-east-1:<account>:global/ipset/<name>/<id>`` a ``CLOUDFRONT`` one.

        :raises ValueError: ``arn`` is not the ARN of a wafv2 IP set.
        """
        match = _ARN.fullmatch(arn.strip()) if isinstance(arn, str) else None
        if match is None:
            raise ValueError(
                f"not the ARN of a WAF IP set: {arn!r}; expected "
                "arn:aws:wafv2:<region>:<account>:regional|global/ipset/<name>/<id>"
            )
        return cls(match["name"], match["id"], _SCOPES[match["scope"]])

    def __str__(self) -> str:
        return f"{self.scope} IP set {self.name} ({self.id})"


@dataclass(frozen=True)
class IpSetChange:
    """What a write did, in normalized CIDR notation (``203.0.113.7/32``).

    :param added: addresses that were not in the set and now are.
    :param removed: addresses that were in the set and no longer are.
    :param refused: requested addresses overlapping a protected network, hence not written.
    """

    added: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()
    refused: frozenset[str] = frozenset()

    @property
    def changed(self) -> bool:
        """Whether the set was written (``UpdateIPSet`` was called and succeeded)."""
        return bool(self.added or self.removed)


class ProtectedIpSetError(ValueError):
    """A writer was asked for an IP set that must never be written (such as the allowlist)."""


def parse_address(value: str) -> Network:
    """``value`` as a network: a bare address becomes a /32 (IPv4) or /128 (IPv6).

    :raises ValueError: ``value`` is not an address or a CIDR, or it has host bits set
        (``10.0.0.1/8``); the message names the value.
    """
    if not isinstance(value, str):
        raise ValueError(f"an IP address or CIDR must be a string, got {value!r}")
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"not an IP address or CIDR: {value!r} ({error})") from None


def _parse_all(values: Iterable[str], what: str) -> frozenset[Network]:
    if isinstance(values, str):  # a lone string would be read character by character
        raise TypeError(f"{what} must be a collection of strings, got the string {values!r}")
    return frozenset(parse_address(value) for value in values)


def _as_ipv6(network: Network) -> ipaddress.IPv6Network:
    """IPv4 networks as their IPv4-mapped IPv6 equivalents, so any two networks compare."""
    if isinstance(network, ipaddress.IPv6Network):
        return network
    return ipaddress.IPv6Network(
        (_IPV4_MAPPED | int(network.network_address), 96 + network.prefixlen)
    )


def _texts(networks: Iterable[Network]) -> frozenset[str]:
    return frozenset(str(network) for network in networks)


def _sorted_texts(networks: Iterable[Network]) -> list[str]:
    return [str(network) for network in sorted(networks, key=_as_ipv6)]


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


Plan = Callable[[frozenset[Network]], frozenset[Network]]
"""The new content of a set, given its current content."""


class IpSetWriter:
    """Reads and writes the addresses of one WAF IP set.

    :param client: a boto3 ``wafv2`` client; a ``CLOUDFRONT`` set needs one in us-east-1.
    :param ref: the IP set to write.
    :param protected_networks: addresses and CIDRs (IPv4 or IPv6) that must never be added,
        nor any address overlapping them, such as the allowlist's. Default: - none
    :param forbidden: IP sets that must never be written, matched by id, such as the allowlist
        set. Default: - none
    :param max_attempts: how many times a write is tried when another writer changed the set in
        the meantime, or WAF throttles or fails internally. Default: - 5
    :param sleep: waits between attempts, in seconds. Default: - ``time.sleep``
    :raises ProtectedIpSetError: ``ref`` is one of ``forbidden``.
    :raises ValueError: a protected network is not a valid CIDR, ``max_attempts`` is below 1,
        or a ``CLOUDFRONT`` set is given a client outside us-east-1.
    """

    def __init__(
        self,
        client: Any,
        ref: IpSetRef,
        *,
        protected_networks: Iterable[str] = (),
        forbidden: Iterable[IpSetRef] = (),
        max_attempts: int = 5,
        sleep: Sleep = time.sleep,
    ) -> None:
        if ref.id in {other.id for other in forbidden}:
            raise ProtectedIpSetError(
                f"refusing to write {ref}: it is listed as never to be written (the allowlist)"
            )
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts!r}")
        region = getattr(getattr(client, "meta", None), "region_name", None)
        if ref.scope == "CLOUDFRONT" and region not in (None, "us-east-1"):
            raise ValueError(f"{ref} must be called through us-east-1; the client is in {region!r}")
        self._client = client
        self.ref = ref
        self._protected = frozenset(
            _as_ipv6(network) for network in _parse_all(protected_networks, "protected_networks")
        )
        self._max_attempts = max_attempts
        self._sleep = sleep

    def addresses(self) -> frozenset[str]:
        """The addresses in the set now, normalized (``203.0.113.7/32``, ``2001:db8::/32``)."""
        return _texts(self._retrying(lambda: self._read()[1]))

    def add(self, addresses: Iterable[str]) -> IpSetChange:
        """Add ``addresses`` (bare IPs or CIDRs); those already in the set are left as they are.

        Addresses overlapping a protected network are not added but reported as refused.

        :raises ValueError: an address is invalid or of the other IP version than the set, or
            the set would hold more than ``MAX_ADDRESSES``; nothing is written.
        """
        requested, refused = self._split_protected(_parse_all(addresses, "addresses"))
        self._check_size(requested)
        return self._write(lambda current: current | requested, requested | refused, refused)

    def remove(self, addresses: Iterable[str]) -> IpSetChange:
        """Remove ``addresses`` (bare IPs or CIDRs); those not in the set are ignored.

        Only exact entries are removed: removing ``10.0.0.1`` leaves ``10.0.0.0/24`` in place.

        :raises ValueError: an address is invalid or of the other IP version than the set.
        """
        requested = _parse_all(addresses, "addresses")
        return self._write(lambda current: current - requested, requested, frozenset())

    def replace(self, addresses: Iterable[str]) -> IpSetChange:
        """Make the set hold exactly ``addresses``, less those overlapping a protected network.

        :raises ValueError: an address is invalid or of the other IP version than the set, or
            there are more than ``MAX_ADDRESSES``; nothing is written.
        """
        wanted, refused = self._split_protected(_parse_all(addresses, "addresses"))
        self._check_size(wanted)
        return self._write(lambda _: wanted, wanted | refused, refused)

    def _split_protected(
        self, networks: frozenset[Network]
    ) -> tuple[frozenset[Network], frozenset[Network]]:
        refused = frozenset(
            network
            for network in networks
            if any(_as_ipv6(network).overlaps(protected) for protected in self._protected)
        )
        if refused:
            logger.warning(
                "%s: refusing %d protected addresses",
                self.ref,
                len(refused),
                extra={"ip_set": self.ref.name, "refused": _sorted_texts(refused)},
            )
        return networks - refused, refused

    def _check_size(self, networks: frozenset[Network]) -> None:
        if len(networks) > MAX_ADDRESSES:
            raise ValueError(
                f"{self.ref} can hold at most {MAX_ADDRESSES} addresses; "
                f"this write would leave {len(networks)}"
            )

    def _write(
        self, plan: Plan, requested: frozenset[Network], refused: frozenset[Network]
    ) -> IpSetChange:
        change = self._retrying(lambda: self._write_once(plan, requested))
        return IpSetChange(change.added, change.removed, _texts(refused))

    def _write_once(self, plan: Plan, requested: frozenset[Network]) -> IpSetChange:
        ip_set, current, lock_token = self._read()
        version = 4 if ip_set["IPAddressVersion"] == "IPV4" else 6
        wrong = [network for network in requested if network.version != version]
        if wrong:
            raise ValueError(
                f"{self.ref} holds IPv{version} addresses; got IPv{wrong[0].version} "
                f"{str(wrong[0])!r}"
            )
        new = plan(current)
        if new == current:
            logger.debug("%s: unchanged", self.ref, extra={"ip_set": self.ref.name})
            return IpSetChange()
        self._check_size(new)
        description = ip_set.get("Description")
        self._client.update_ip_set(
            Name=self.ref.name,
            Scope=self.ref.scope,
            Id=self.ref.id,
            Addresses=_sorted_texts(new),
            LockToken=lock_token,
            # UpdateIPSet replaces every mutable field: leaving Description out would clear it.
            **({"Description": description} if description else {}),
        )
        change = IpSetChange(_texts(new - current), _texts(current - new))
        logger.info(
            "%s: %d added, %d removed, %d in the set",
            self.ref,
            len(change.added),
            len(change.removed),
            len(new),
            extra={
                "ip_set": self.ref.name,
                "added": len(change.added),
                "removed": len(change.removed),
                "size": len(new),
            },
        )
        return change

    def _read(self) -> tuple[dict[str, Any], frozenset[Network], str]:
        response = self._client.get_ip_set(Name=self.ref.name, Scope=self.ref.scope, Id=self.ref.id)
        ip_set: dict[str, Any] = response["IPSet"]
        # WAF stores only valid CIDRs; strict=False merely tolerates a differently written one.
        current = frozenset(
            ipaddress.ip_network(address, strict=False) for address in ip_set.get("Addresses", [])
        )
        return ip_set, current, str(response["LockToken"])

    def _retrying(self, attempt: Callable[[], _T]) -> _T:
        for number in range(1, self._max_attempts + 1):
            try:
                return attempt()
            except ClientError as error:
                code = _error_code(error)
                if code not in RETRIED_ERRORS or number == self._max_attempts:
                    raise
                delay = _backoff(number)
                logger.warning(
                    "%s: %s on attempt %d of %d, trying again in %.2fs",
                    self.ref,
                    code,
                    number,
                    self._max_attempts,
                    delay,
                    extra={"ip_set": self.ref.name, "error": code, "attempt": number},
                )
                self._sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")


def _backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): half fixed, half jitter."""
    ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret

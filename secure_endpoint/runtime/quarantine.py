"""Quarantine: an OAuth client's API key moved to a quarantine usage plan for a while, then back.

A quarantined client keeps working, slowly: its API key leaves its own usage plan(s) for the
quarantine plan (``secure_endpoint.constructs.quarantine.QuarantinePlan``: a small rate and
quota on the same API stage) until the TTL ends; then it goes back to exactly the plans it was
in. Without a quarantine plan the key is disabled instead (every request 403) and enabled again
on release, if it was enabled before. Revocation stays ``revoke-client``.

The state is kept on the API key itself, in its description, as one marker (the responder's
mark, ``api_key_responder.messages``, is kept after it)::

    secure-endpoint client partner-a [secure-endpoint quarantine {"v": 1, "until": 1767229200,
      "since": 1767225600, "mode": "plan", "plan": "q1w2e3", "from": ["a1b2c3"],
      "enabled": true, "reason": "probing 0.97", "by": "monitor", "alert": "pending"}]

``from`` holds the plans to restore, ``plan`` the quarantine plan the key was moved to, ``mode``
``plan`` or ``disable``, ``enabled`` whether the key was enabled before (and is enabled again on
release; ``revoke-client`` clears it, see ``revoked``), ``alert`` whether an
alert is still owed (``pending``), went (``sent``) or was never asked for (``none``). The
description, not tags: it needs only the two actions every key update needs (``apigateway:GET``
and ``apigateway:PATCH`` on the key), a disable and its record are one ``UpdateApiKey`` call, and
moto emulates it, so the tests run the real calls.

Every step is ordered so that a run stopped between two steps leaves a state the next run (or
``reconcile``) completes, and every step can be retried:

- ``quarantine``: the record first (with the alert owed), then the key leaves its plans, then it
  joins the quarantine plan, then the alert, then the record says the alert went. API Gateway
  refuses a key in two usage plans of the same API stage (``ConflictException``), so the key
  cannot join the quarantine plan before it leaves its own; between the two it is in no plan and
  every request gets 403: a stop there fails closed, and the next run finishes the move. In
  ``disable`` mode the record and the disable are one call.
- quarantining a quarantined client extends its expiry (by ``MIN_EXTENSION`` or more, else
  nothing is written), never records a second stretch: ``from`` keeps the plans of the first,
  plus any the key was added to since.
- ``release`` (and the TTL sweep ``release_expired``): the record is ended first (``until`` =
  now), then the key leaves the quarantine plan and joins its plans again, then the marker goes.
  A stop in between leaves an expired record that the next sweep finishes.

Guard rails (those of the auto-block, ``secure_endpoint.runtime.blocklist``): a client on
``never_quarantine`` (by name or Cognito client id) is refused, and released by the next sweep if
it was quarantined before it was listed; one ``quarantine`` call starts at
most ``max_per_run`` new quarantines (extensions do not count) and defers the rest; the TTL is
from ``MIN_TTL`` to ``MAX_TTL``. The alert cannot be lost: it is recorded as owed with the
record, before anything is moved, and marked sent only once published; a retry that finds it
owed sends it (at least once: a stop between the publish and the mark sends it twice).

Throttled and failed API Gateway calls (``TooManyRequestsException``, 5xx, connection errors) are
retried by botocore: create the client with ``config=APIGATEWAY_CONFIG``, as ``apigateway_client``
does. Standard library and boto3 only: never the CDK.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Protocol

from botocore.config import Config
from botocore.exceptions import ClientError

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

MIN_TTL = timedelta(minutes=1)
MAX_TTL = timedelta(days=30)
DEFAULT_TTL = timedelta(hours=24)
MIN_EXTENSION = timedelta(minutes=1)
"""A quarantine is extended only when that moves its expiry at least this much."""
DEFAULT_MAX_PER_RUN = 5
"""New quarantines one ``quarantine`` call may start, unless the caller says otherwise."""
MAX_REASON = 256
MAX_SOURCE = 256
MAX_PLANS = 20
"""The most usage plans one key's record holds (to keep the description short)."""

PLAN, DISABLE = "plan", "disable"
PENDING, SENT, NONE = "pending", "sent", "none"

MARKER = " [secure-endpoint quarantine "
"""What starts the record in an API key's description; the record's JSON and ``]`` follow."""
RESPONDER_MARK = " [secure-endpoint: disabled by the anomaly responder, alert "
"""The API key responder's mark (``api_key_responder.messages.MARK_PREFIX``): it cuts the
description there, so the quarantine record is kept before it."""

APIGATEWAY_MAX_ATTEMPTS = 8
APIGATEWAY_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": APIGATEWAY_MAX_ATTEMPTS},
    connect_timeout=5,
    read_timeout=15,
)
"""botocore's standard retry mode: throttling (``TooManyRequestsException``), 5xx and connection
errors retried with exponential backoff and jitter, ``APIGATEWAY_MAX_ATTEMPTS`` attempts in all."""

_NOT_FOUND = "NotFoundException"
_CONFLICT = "ConflictException"
_KEY_TYPE = "API_KEY"
_MIN_EXTENSION_SECONDS = int(MIN_EXTENSION.total_seconds())


def apigateway_client(session: Any) -> Any:
    """An ``apigateway`` client of boto3 ``session`` with the retries this module relies on."""
    return session.client("apigateway", config=APIGATEWAY_CONFIG)


class Alerter(Protocol):
    """Where a quarantine is told (an SNS topic: ``publish(subject, message)``)."""

    def publish(self, subject: str, message: str) -> str: ...


@dataclass(frozen=True)
class ClientRef:
    """One API client: its name, its Cognito app client id, its API key id."""

    name: str
    client_id: str
    api_key_id: str


def clients_from_json(raw: Mapping[str, Any]) -> list[ClientRef]:
    """Clients from ``{client_id: {"name": ..., "apiKeyId": ...}}`` (the responder's
    ``API_KEY_CLIENTS`` shape).

    :raises ValueError: an entry of another shape; the message names it.
    """
    found = []
    for client_id, entry in raw.items():
        if (
            not isinstance(entry, Mapping)
            or not isinstance(entry.get("name"), str)
            or not isinstance(entry.get("apiKeyId"), str)
            or not entry["apiKeyId"]
        ):
            raise ValueError(f'client {client_id!r} must be {{"name": ..., "apiKeyId": ...}}')
        found.append(ClientRef(str(entry["name"]), str(client_id), str(entry["apiKeyId"])))
    return found


@dataclass(frozen=True)
class QuarantineRequest:
    """Quarantine ``client`` (its name or Cognito client id) for ``ttl``.

    :param client: the client's name or Cognito client id.
    :param ttl: how long, from ``MIN_TTL`` to ``MAX_TTL``.
    :param reason: why, 1 to ``MAX_REASON`` characters; kept in the record.
    :param source: who asks: ``"monitor"``, an operator's ARN. Default: - ``"monitor"``
    :param detail: what the alert says besides (the finding's kind, score, evidence); not kept.
        Default: - nothing
    :raises ValueError: any of these is invalid; the message names the value.
    """

    client: str
    ttl: timedelta
    reason: str
    source: str = "monitor"
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.client, str) or not self.client:
            raise ValueError(f"client must be a client's name or client id, got {self.client!r}")
        if not isinstance(self.ttl, timedelta) or not MIN_TTL <= self.ttl <= MAX_TTL:
            raise ValueError(f"ttl must be from {MIN_TTL} to {MAX_TTL}, got {self.ttl!r}")
        _check_text("reason", self.reason, MAX_REASON)
        _check_text("source", self.source, MAX_SOURCE)


PAYLOAD_KINDS = ("extraction", "probing", "out_of_distribution", "membership")
"""The per-client finding kinds of the payload detector (``runtime.payload.findings``)."""


def requests_from_findings(
    findings: Iterable[Mapping[str, Any]],
    ttl: timedelta = DEFAULT_TTL,
    *,
    kinds: Iterable[str] = PAYLOAD_KINDS,
    min_score: float = 0.0,
    source: str = "monitor",
) -> list[QuarantineRequest]:
    """Quarantine requests for per-client payload findings (their JSON Lines shape:
    ``client_id``, ``kind``, ``score``, ``evidence``, ``first_seen``, ``queries``), strongest
    first, so that ``max_per_run`` keeps the strongest. Drift findings (``client_id`` ``"*"``),
    other kinds and scores below ``min_score`` ask for nothing.

    :raises ValueError: a kind that is not a payload finding kind.
    """
    wanted = set(kinds)
    if wanted - set(PAYLOAD_KINDS):
        raise ValueError(
            f"kinds must be among {list(PAYLOAD_KINDS)}, got {sorted(wanted - set(PAYLOAD_KINDS))}"
        )
    chosen = []
    for finding in findings:
        client, kind, score = finding.get("client_id"), finding.get("kind"), finding.get("score")
        if not isinstance(client, str) or not client or client == "*" or kind not in wanted:
            continue
        if isinstance(score, bool) or not isinstance(score, int | float) or score < min_score:
            continue
        chosen.append((float(score), client, str(kind), finding))
    chosen.sort(key=lambda found: (-found[0], found[1]))
    return [
        QuarantineRequest(
            client,
            ttl,
            f"payload finding: {kind}, score {score:.3g}"[:MAX_REASON],
            source,
            detail={
                "kind": kind,
                "score": score,
                **{k: finding[k] for k in ("first_seen", "queries", "evidence") if k in finding},
            },
        )
        for score, client, kind, finding in chosen
    ]


@dataclass(frozen=True)
class QuarantineRecord:
    """What the key's description says of its quarantine."""

    until: int
    since: int
    mode: str
    plan: str
    original_plans: tuple[str, ...]
    was_enabled: bool
    reason: str
    source: str
    alert: str

    def active(self, now: float) -> bool:
        return self.until > now

    def expires_in(self, now: float) -> float:
        return self.until - now

    def to_json(self) -> dict[str, Any]:
        return {
            "v": 1,
            "until": self.until,
            "since": self.since,
            "mode": self.mode,
            "plan": self.plan,
            "from": list(self.original_plans),
            "enabled": self.was_enabled,
            "reason": self.reason,
            "by": self.source,
            "alert": self.alert,
        }

    @classmethod
    def from_json(cls, data: Any) -> QuarantineRecord | None:
        """The record in ``data``, or None when it is not one (a marker edited by hand)."""
        if not isinstance(data, dict) or data.get("v") != 1:
            return None
        try:
            record = cls(
                until=int(data["until"]),
                since=int(data["since"]),
                mode=str(data["mode"]),
                plan=str(data.get("plan", "")),
                original_plans=tuple(str(p) for p in data.get("from", [])),
                was_enabled=bool(data.get("enabled", True)),
                reason=str(data.get("reason", "")),
                source=str(data.get("by", "")),
                alert=str(data.get("alert", NONE)),
            )
        except (KeyError, TypeError, ValueError):
            return None
        if record.mode not in (PLAN, DISABLE) or (record.mode == PLAN and not record.plan):
            return None
        return record


def read_record(description: str) -> QuarantineRecord | None:
    """The quarantine record in an API key's ``description``; None when it holds none."""
    at = description.find(MARKER)
    if at < 0:
        return None
    try:
        data, end = json.JSONDecoder().raw_decode(description, at + len(MARKER))
    except ValueError:
        return None
    if description[end : end + 1] != "]":
        return None
    return QuarantineRecord.from_json(data)


def without_record(description: str) -> str:
    """``description`` with its quarantine marker (if any) taken out, the rest as it was."""
    at = description.find(MARKER)
    if at < 0:
        return description
    try:
        _, end = json.JSONDecoder().raw_decode(description, at + len(MARKER))
    except ValueError:
        return description
    if description[end : end + 1] != "]":
        return description
    return description[:at] + description[end + 1 :]


def with_record(description: str, record: QuarantineRecord) -> str:
    """``description`` holding ``record`` (replacing any), before the responder's mark."""
    base = without_record(description)
    marker = MARKER + json.dumps(record.to_json(), separators=(",", ":")) + "]"
    at = base.find(RESPONDER_MARK)
    return base + marker if at < 0 else base[:at] + marker + base[at:]


def revoked(description: str) -> str | None:
    """The description a revoked key (``revoke-client``) must get so that the release of its
    quarantine leaves it disabled; None when nothing needs to change (no quarantine, or one
    that will not enable the key)."""
    record = read_record(description)
    if record is None or record.mode != DISABLE or not record.was_enabled:
        return None
    return with_record(description, replace(record, was_enabled=False))


@dataclass(frozen=True)
class QuarantineEntry:
    """A client and its quarantine record."""

    client: ClientRef
    record: QuarantineRecord


@dataclass(frozen=True)
class QuarantineResult:
    """What ``quarantine`` did, client by client (by name).

    :param quarantined: new quarantines: recorded, and the key moved (or disabled).
    :param extended: already quarantined: the expiry moved to the later one asked for.
    :param unchanged: already quarantined at least as long (give or take ``MIN_EXTENSION``).
    :param refused: on ``never_quarantine``: never recorded nor moved.
    :param deferred: new quarantines beyond ``max_per_run``: not quarantined by this call.
    :param unknown: names or client ids of no known client (``"unknown"``, ``"*"``).
    :param repaired: quarantined earlier but not fully moved (an interrupted run): finished.
    :param alerted: clients whose alert went out in this call (new, or owed by an earlier one).
    """

    quarantined: tuple[QuarantineEntry, ...] = ()
    extended: tuple[QuarantineEntry, ...] = ()
    unchanged: tuple[QuarantineEntry, ...] = ()
    refused: tuple[str, ...] = ()
    deferred: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    repaired: tuple[str, ...] = ()
    alerted: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReleaseResult:
    """What ``release`` or ``release_expired`` did.

    :param released: clients whose key is back in its plans (or enabled again), record gone.
    :param not_quarantined: clients that had no quarantine record; nothing changed.
    :param lost_plans: by client, plans that could not be restored (deleted since, or refusing
        the key): the record is gone, the key was put back in the other plans.
    """

    released: tuple[str, ...] = ()
    not_quarantined: tuple[str, ...] = ()
    lost_plans: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Listing:
    """What ``quarantined`` found.

    :param active: quarantined clients, soonest expiry first.
    :param expired: records past their expiry that the next sweep releases.
    :param untracked: API key ids in the quarantine plan with no record (added by hand): they
        stay there until someone moves them.
    """

    active: tuple[QuarantineEntry, ...] = ()
    expired: tuple[QuarantineEntry, ...] = ()
    untracked: tuple[str, ...] = ()


class Quarantine:
    """Quarantines and releases the API keys of known clients.

    :param client: a boto3 ``apigateway`` client, created with ``config=APIGATEWAY_CONFIG``.
    :param clients: the clients it may act on (the endpoint's); others are ``unknown``.
    :param quarantine_plan_id: the quarantine usage plan. Default: - none: keys are disabled
        instead, and enabled again on release
    :param never_quarantine: names or Cognito client ids never to quarantine. Default: - none
    :param max_per_run: new quarantines one ``quarantine`` call may start.
        Default: - ``DEFAULT_MAX_PER_RUN``
    :param alerts: where each new quarantine is told. Default: - nowhere (an operator's command,
        whose audit line says it)
    :param clock: the time, in epoch seconds. Default: - ``time.time``
    :raises ValueError: ``max_per_run`` is below 1, or two clients share a name or a key.
    """

    def __init__(
        self,
        client: Any,
        clients: Iterable[ClientRef],
        *,
        quarantine_plan_id: str | None = None,
        never_quarantine: Iterable[str] = (),
        max_per_run: int = DEFAULT_MAX_PER_RUN,
        alerts: Alerter | None = None,
        clock: Clock | None = None,
    ) -> None:
        if isinstance(never_quarantine, str):
            raise TypeError("never_quarantine must be a collection of strings, not a string")
        if not isinstance(max_per_run, int) or isinstance(max_per_run, bool) or max_per_run < 1:
            raise ValueError(f"max_per_run must be at least 1, got {max_per_run!r}")
        known = list(clients)
        for attribute in ("name", "api_key_id"):
            values = [getattr(c, attribute) for c in known]
            if len(set(values)) != len(values):
                raise ValueError(f"two clients share a {attribute}: {sorted(values)}")
        self._client = client
        self._clients = known
        self._plan = quarantine_plan_id or None
        self._never = frozenset(never_quarantine)
        self._max_per_run = max_per_run
        self._alerts = alerts
        self._clock = clock or _wall_clock

    @property
    def mode(self) -> str:
        """``plan`` with a quarantine plan, else ``disable``."""
        return PLAN if self._plan else DISABLE

    def find(self, name_or_id: str) -> ClientRef | None:
        """The known client of that name, or of that Cognito client id."""
        for known in self._clients:
            if name_or_id in (known.name, known.client_id):
                return known
        return None

    def protected(self, known: ClientRef) -> bool:
        """Whether ``known`` is on ``never_quarantine``."""
        return bool({known.name, known.client_id} & self._never)

    def quarantine(self, requests: Iterable[QuarantineRequest]) -> QuarantineResult:
        """Quarantine each request's client until ``now + ttl``, or longer if already so.

        Requests are taken in order; a client asked for twice counts once, with the longest
        TTL. Safe to call again with the same requests after any failure: what was done is not
        done twice, what was not is completed, an alert owed is sent.
        """
        now = self._now()
        progress = _Progress()
        for known, request in self._merge(list(requests), progress).items():
            if self.protected(known):
                progress.refused.append(known.name)
                logger.warning("quarantine refused: %s is on never_quarantine", known.name)
                continue
            self._quarantine_one(known, request, now, progress)
        result = progress.freeze()
        logger.info(
            "quarantine: %d new, %d extended, %d unchanged, %d refused, %d deferred",
            len(result.quarantined),
            len(result.extended),
            len(result.unchanged),
            len(result.refused),
            len(result.deferred),
            extra={
                "quarantined": [e.client.name for e in result.quarantined],
                "extended": [e.client.name for e in result.extended],
                "refused": list(result.refused),
                "deferred": list(result.deferred),
                "unknown": list(result.unknown),
                "repaired": list(result.repaired),
            },
        )
        return result

    def release(self, names: Iterable[str]) -> ReleaseResult:
        """Release these clients (names or client ids) now: back to their plans, record gone.

        :raises ValueError: a name is of no known client; nothing is written.
        """
        if isinstance(names, str):
            raise TypeError("names must be a collection of strings, not a string")
        targets = []
        for name in names:
            known = self.find(name)
            if known is None:
                raise ValueError(f"no known client {name!r}")
            targets.append(known)
        now = self._now()
        released: list[str] = []
        not_quarantined: list[str] = []
        lost: dict[str, tuple[str, ...]] = {}
        for known in targets:
            key = self._key(known)
            record = read_record(_description(key))
            if record is None:
                not_quarantined.append(known.name)
                continue
            lost_plans = self._release_one(known, key, record, now)
            released.append(known.name)
            if lost_plans:
                lost[known.name] = lost_plans
        return ReleaseResult(tuple(released), tuple(not_quarantined), lost)

    def release_expired(self, now: float | None = None) -> ReleaseResult:
        """Release every known client whose quarantine has ended by ``now``, or that is on
        ``never_quarantine`` (put there since), as the auto-block releases an allowlisted
        address."""
        moment = self._now() if now is None else math.floor(now)
        released: list[str] = []
        lost: dict[str, tuple[str, ...]] = {}
        for known in self._clients:
            key = self._key(known)
            record = read_record(_description(key))
            if record is None or (record.active(moment) and not self.protected(known)):
                continue
            lost_plans = self._release_one(known, key, record, moment)
            released.append(known.name)
            if lost_plans:
                lost[known.name] = lost_plans
        if released:
            logger.info("quarantine: %d expired and released", len(released),
                        extra={"released": released, "lostPlans": lost})  # fmt: skip
        return ReleaseResult(released=tuple(released), lost_plans=lost)

    def reconcile(self, now: float | None = None) -> tuple[ReleaseResult, tuple[str, ...]]:
        """Finish what interrupted runs left: expired quarantines are released, active ones
        completed (the key out of its plans and in the quarantine plan, or disabled) and their
        owed alerts sent. Run it at the start of every scheduled run. Returns the release and
        the clients whose quarantine had to be completed."""
        moment = self._now() if now is None else math.floor(now)
        released = self.release_expired(moment)
        repaired: list[str] = []
        for known in self._clients:
            key = self._key(known)
            record = read_record(_description(key))
            if record is None or not record.active(moment) or self.protected(known):
                continue
            if self._enforce(known, key, record):
                repaired.append(known.name)
            if record.alert == PENDING:
                self._alert(known, record, {})
        return released, tuple(repaired)

    def quarantined(self, now: float | None = None) -> Listing:
        """The known clients' quarantine records (reads only)."""
        moment = self._now() if now is None else now
        active: list[QuarantineEntry] = []
        expired: list[QuarantineEntry] = []
        for known in self._clients:
            record = read_record(_description(self._key(known)))
            if record is not None:
                (active if record.active(moment) else expired).append(
                    QuarantineEntry(known, record)
                )
        untracked: list[str] = []
        if self._plan:
            tracked = {e.client.api_key_id for e in (*active, *expired)}
            untracked = sorted(set(self._plan_keys(self._plan)) - tracked)
        active.sort(key=lambda e: (e.record.until, e.client.name))
        expired.sort(key=lambda e: (e.record.until, e.client.name))
        return Listing(tuple(active), tuple(expired), tuple(untracked))

    # --- one client -----------------------------------------------------------------------

    def _quarantine_one(
        self, known: ClientRef, request: QuarantineRequest, now: int, progress: _Progress
    ) -> None:
        key = self._key(known)
        description = _description(key)
        existing = read_record(description)
        until = now + math.ceil(request.ttl.total_seconds())
        active = existing is not None and existing.active(now)
        mode = existing.mode if existing is not None and active else self.mode
        plans = self._plans_of(known) if mode == PLAN else []
        if existing is not None and active:
            record = existing
            others = _others(plans, existing.plan)
            grown = tuple(sorted(set(existing.original_plans) | set(others)))
            if until - existing.until >= _MIN_EXTENSION_SECONDS or grown != existing.original_plans:
                record = replace(
                    existing,
                    until=max(until, existing.until),
                    original_plans=_bounded(grown),
                    reason=request.reason if until > existing.until else existing.reason,
                    source=request.source if until > existing.until else existing.source,
                )
                self._write(known, description, record)
                description = with_record(description, record)
                key = {**key, "description": description}
            entry = QuarantineEntry(known, record)
            (progress.extended if record.until > existing.until else progress.unchanged).append(
                entry
            )
        else:
            if len(progress.quarantined) >= self._max_per_run:
                progress.deferred.append(known.name)
                return
            record = self._new_record(known, key, existing, plans, until, now, request)
            self._write(known, description, record, disable=record.mode == DISABLE)
            description = with_record(description, record)
            key = {**key, "description": description}
            if record.mode == DISABLE:
                key["enabled"] = False
            progress.quarantined.append(QuarantineEntry(known, record))
        if self._enforce(known, key, record, plans) and existing is not None:
            progress.repaired.append(known.name)
        if record.alert == PENDING:
            self._alert(known, record, request.detail)
            progress.alerted.append(known.name)

    def _new_record(
        self,
        known: ClientRef,
        key: Mapping[str, Any],
        expired: QuarantineRecord | None,
        plans: Sequence[str],
        until: int,
        now: int,
        request: QuarantineRequest,
    ) -> QuarantineRecord:
        """A new stretch. An expired record not released yet (an interrupted sweep) still
        knows the plans to restore and whether the key was enabled: they are kept."""
        mode = PLAN if self._plan else DISABLE
        plan = self._plan or ""
        original = set(_others(plans, plan))
        was_enabled = bool(key.get("enabled", True))
        if expired is not None:
            original |= set(expired.original_plans)
            original -= {expired.plan} if expired.plan else set()
            if expired.mode == DISABLE:
                was_enabled = expired.was_enabled
        return QuarantineRecord(
            until=until,
            since=now,
            mode=mode,
            plan=plan,
            original_plans=_bounded(tuple(sorted(original))),
            was_enabled=was_enabled,
            reason=request.reason,
            source=request.source,
            alert=PENDING if self._alerts is not None else NONE,
        )

    def _enforce(
        self,
        known: ClientRef,
        key: Mapping[str, Any],
        record: QuarantineRecord,
        plans: Sequence[str] | None = None,
    ) -> bool:
        """Make the key what an active ``record`` says; whether anything had to change."""
        if record.mode == DISABLE:
            if not key.get("enabled", True):
                return False
            self._client.update_api_key(
                apiKey=known.api_key_id,
                patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}],
            )
            return True
        current = list(self._plans_of(known) if plans is None else plans)
        others = _others(current, record.plan)
        if set(others) - set(record.original_plans):  # joined by hand since: restored too
            grown = tuple(sorted(set(record.original_plans) | set(others)))
            self._write(known, _description(key), replace(record, original_plans=_bounded(grown)))
        changed = False
        for plan_id in others:  # leave first: see the module docstring
            self._leave(plan_id, known.api_key_id)
            changed = True
        if record.plan not in current:
            self._join(record.plan, known.api_key_id)
            changed = True
        return changed

    def _release_one(
        self, known: ClientRef, key: Mapping[str, Any], record: QuarantineRecord, now: int
    ) -> tuple[str, ...]:
        description = _description(key)
        if record.mode == DISABLE:
            operations = [_describe(without_record(description))]
            if record.was_enabled:
                operations.append({"op": "replace", "path": "/enabled", "value": "true"})
            self._client.update_api_key(apiKey=known.api_key_id, patchOperations=operations)
            logger.info("quarantine released: %s (key enabled: %s)", known.name,
                        record.was_enabled)  # fmt: skip
            return ()
        if record.active(now):  # ended first: a stop below leaves what the sweep finishes
            ended = replace(record, until=now)
            self._write(known, description, ended)
            description = with_record(description, ended)
        current = self._plans_of(known)
        if record.plan in current:
            self._leave(record.plan, known.api_key_id)
        lost: list[str] = []
        for plan_id in record.original_plans:
            if plan_id in current:
                continue
            try:
                self._join(plan_id, known.api_key_id)
            except ClientError as error:
                if _error_code(error) not in (_NOT_FOUND, _CONFLICT):
                    raise
                logger.warning(
                    "quarantine release: %s cannot go back to usage plan %s: %s",
                    known.name,
                    plan_id,
                    _error_code(error),
                )
                lost.append(plan_id)
        self._client.update_api_key(
            apiKey=known.api_key_id, patchOperations=[_describe(without_record(description))]
        )
        logger.info("quarantine released: %s", known.name, extra={"lostPlans": lost})
        return tuple(lost)

    def _alert(self, known: ClientRef, record: QuarantineRecord, detail: Mapping[str, Any]) -> None:
        """Send the alert ``record`` owes, then record that it went."""
        if self._alerts is None:
            logger.warning("quarantine of %s owes an alert, but no alert topic was given",
                           known.name)  # fmt: skip
            return
        self._alerts.publish(*quarantine_alert(known, record, detail))
        description = _description(self._key(known))
        current = read_record(description) or record
        self._write(known, description, replace(current, alert=SENT))

    # --- API Gateway ----------------------------------------------------------------------

    def _key(self, known: ClientRef) -> dict[str, Any]:
        response: dict[str, Any] = self._client.get_api_key(apiKey=known.api_key_id)
        return response

    def _write(
        self,
        known: ClientRef,
        description: str,
        record: QuarantineRecord,
        *,
        disable: bool = False,
    ) -> None:
        operations = [_describe(with_record(description, record))]
        if disable:
            operations.append({"op": "replace", "path": "/enabled", "value": "false"})
        self._client.update_api_key(apiKey=known.api_key_id, patchOperations=operations)

    def _plans_of(self, known: ClientRef) -> list[str]:
        """The usage plans the key is in now."""
        plans: list[str] = []
        params: dict[str, Any] = {"keyId": known.api_key_id, "limit": 500}
        while True:
            response = self._client.get_usage_plans(**params)
            plans += [str(p["id"]) for p in response.get("items", [])]
            position = response.get("position")
            if not position:
                return sorted(set(plans))
            params["position"] = position

    def _plan_keys(self, plan_id: str) -> list[str]:
        keys: list[str] = []
        params: dict[str, Any] = {"usagePlanId": plan_id, "limit": 500}
        while True:
            response = self._client.get_usage_plan_keys(**params)
            keys += [str(k["id"]) for k in response.get("items", [])]
            position = response.get("position")
            if not position:
                return keys
            params["position"] = position

    def _leave(self, plan_id: str, api_key_id: str) -> None:
        try:
            self._client.delete_usage_plan_key(usagePlanId=plan_id, keyId=api_key_id)
        except ClientError as error:
            if _error_code(error) != _NOT_FOUND:  # gone already (a retried call): fine
                raise

    def _join(self, plan_id: str, api_key_id: str) -> None:
        self._client.create_usage_plan_key(usagePlanId=plan_id, keyId=api_key_id, keyType=_KEY_TYPE)

    def _merge(
        self, requests: list[QuarantineRequest], progress: _Progress
    ) -> dict[ClientRef, QuarantineRequest]:
        wanted: dict[ClientRef, QuarantineRequest] = {}
        for request in requests:
            if not isinstance(request, QuarantineRequest):
                raise TypeError(f"expected QuarantineRequest, got {request!r}")
            known = self.find(request.client)
            if known is None:
                progress.unknown.append(request.client)
                continue
            if known not in wanted or request.ttl > wanted[known].ttl:
                wanted[known] = request
        return wanted

    def _now(self) -> int:
        return math.floor(self._clock())


def quarantine_alert(
    known: ClientRef, record: QuarantineRecord, detail: Mapping[str, Any]
) -> tuple[str, str]:
    """The subject and body of the alert saying a client was quarantined."""
    effect = (
        f"its API key is in the quarantine usage plan {record.plan} (a small rate and quota) "
        "instead of its own"
        if record.mode == PLAN
        else "its API key is disabled: every request gets 403"
    )
    body = {
        "quarantined": {
            "client": known.name,
            "clientId": known.client_id,
            "apiKeyId": known.api_key_id,
        },
        "until": _iso(record.until),
        "since": _iso(record.since),
        "mode": record.mode,
        "reason": record.reason,
        "source": record.source,
        **({"detail": dict(detail)} if detail else {}),
        "effect": effect + f", until {_iso(record.until)}; then it is released on its own",
        "restores": list(record.original_plans),
        "next": [
            f"secure-endpoint release {known.name}  # a false positive: let it back now",
            f"secure-endpoint quarantine {known.name} --ttl 7d  # keep it there longer",
            f"secure-endpoint revoke-client {known.name}  # an attacker: cut it off",
        ],
        "runbook": "docs/quarantine.md#what-to-do-with-a-quarantined-client",
    }
    subject = f"secure-endpoint: client {known.name} quarantined until {_iso(record.until)}"
    return subject[:100], json.dumps(body, indent=1, default=str)


@dataclass
class _Progress:
    quarantined: list[QuarantineEntry] = field(default_factory=list)
    extended: list[QuarantineEntry] = field(default_factory=list)
    unchanged: list[QuarantineEntry] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    alerted: list[str] = field(default_factory=list)

    def freeze(self) -> QuarantineResult:
        return QuarantineResult(
            quarantined=tuple(self.quarantined),
            extended=tuple(self.extended),
            unchanged=tuple(self.unchanged),
            refused=tuple(self.refused),
            deferred=tuple(self.deferred),
            unknown=tuple(self.unknown),
            repaired=tuple(self.repaired),
            alerted=tuple(self.alerted),
        )


def _wall_clock() -> float:
    return time.time()


def _others(plans: Iterable[str], quarantine_plan: str) -> list[str]:
    return sorted(p for p in plans if p != quarantine_plan)


def _bounded(plans: tuple[str, ...]) -> tuple[str, ...]:
    if len(plans) > MAX_PLANS:
        raise ValueError(
            f"the key is in {len(plans)} usage plans; a quarantine record holds at most "
            f"{MAX_PLANS}: {list(plans)}"
        )
    return plans


def _description(key: Mapping[str, Any]) -> str:
    return str(key.get("description") or "")


def _describe(description: str) -> dict[str, str]:
    return {"op": "replace", "path": "/description", "value": description}


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _check_text(name: str, value: object, limit: int) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ValueError(f"{name} must be 1 to {limit} characters, got {value!r}")


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))

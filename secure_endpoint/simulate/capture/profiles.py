"""Who sends what: the profile registry, the legitimate profiles, and the population drift.

A profile is a ``Client`` subclass registered under its truth label (``legit:...``; the attack
kinds of the next issue will be ``attack:...``). The simulator builds each client once, with its
own random generator (seeded from the run's seed and the client's position, so a client's
traffic does not depend on which other clients exist), then asks it hour by hour for the
requests it sends in that hour (``Client.hour``). What a client may see is in ``Context``.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from secure_endpoint.simulate.capture import population as pop
from secure_endpoint.simulate.capture.layout import Payload
from secure_endpoint.simulate.capture.model import Floats, Trained

DriftKind = Literal["gradual", "step"]


@dataclass(frozen=True)
class DriftSpec:
    """A population drift of ``features`` (their scores move by ``magnitude`` standard
    deviations) from ``start_hour`` to ``end_hour`` after the run's start. ``step``: at full
    magnitude over the whole window; ``gradual``: a linear ramp from 0 at ``start_hour`` to
    full at the window's middle, then full until ``end_hour``. None after ``end_hour``."""

    features: tuple[str, ...]
    kind: DriftKind
    start_hour: float
    end_hour: float
    magnitude: float = 1.0

    def __post_init__(self) -> None:
        for name in self.features:
            if name not in pop.INDEX:
                raise ValueError(f"drift feature {name!r} is not one of the simulator's features")
            if pop.FEATURES[pop.INDEX[name]].kind == "onehot":
                raise ValueError(
                    f"drift feature {name!r} is in the one-hot region group; drift applies to "
                    "numeric, count and binary features"
                )
        if not self.features:
            raise ValueError("a drift needs at least one feature")
        if self.kind not in ("gradual", "step"):
            raise ValueError(f"drift kind must be 'gradual' or 'step', got {self.kind!r}")
        if not 0 <= self.start_hour < self.end_hour:
            raise ValueError(
                f"drift window must have 0 <= start < end, got {self.start_hour}-{self.end_hour}"
            )
        if not (np.isfinite(self.magnitude) and self.magnitude != 0):
            raise ValueError(f"drift magnitude must be finite and non-zero, got {self.magnitude}")

    @property
    def full_hour(self) -> float:
        """When the drift reaches its full magnitude."""
        if self.kind == "step":
            return self.start_hour
        return (self.start_hour + self.end_hour) / 2

    def level(self, hours: Floats) -> Floats:
        """The score shift at ``hours`` after the run's start."""
        inside = (hours >= self.start_hour) & (hours < self.end_hour)
        if self.kind == "step":
            ramp = np.ones_like(hours)
        else:
            ramp = np.clip((hours - self.start_hour) / (self.full_hour - self.start_hour), 0, 1)
        result: Floats = np.where(inside, self.magnitude * ramp, 0.0)
        return result


@dataclass(frozen=True)
class Drift:
    specs: tuple[DriftSpec, ...]
    start: int

    def shift(self, times: Floats) -> dict[int, Floats]:
        """Per drifted column, each row's score shift (rows at epoch seconds ``times``)."""
        hours = (times - self.start) / 3600.0
        out: dict[int, Floats] = {}
        for spec in self.specs:
            level = spec.level(hours)
            for name in spec.features:
                index = pop.INDEX[name]
                out[index] = out.get(index, 0.0) + level
        return out

    @staticmethod
    def drifted(shift: dict[int, Floats], n: int) -> npt.NDArray[np.bool_]:
        flags = np.zeros(n, dtype=bool)
        for level in shift.values():
            flags |= level != 0
        return flags


@dataclass(frozen=True)
class QueryBudget:
    """The usage plan every client is held to (SecureEndpoint's default ``ApiClient``): a
    profile meant to stay under the gateway's limits paces itself inside it."""

    rate_per_second: float = 10.0
    burst: int = 20
    quota_per_day: int = 10_000


@dataclass(frozen=True)
class Sent:
    """A request already answered: what a replay re-sends, byte for byte."""

    inference_id: str | None
    request: Payload
    response: Payload
    drifted: bool


@dataclass
class Context:
    """What a client may use to decide what to send.

    ``model`` answers as the endpoint does (an adaptive attacker queries it for the answers to
    its own requests); ``training_rows`` are the rows the model was fitted on (a membership
    prober draws from them; nothing else may); ``budget`` is the usage plan; ``history`` holds
    legitimate requests of earlier hours (bounded)."""

    start: int
    end: int
    model: Trained
    training_rows: Floats
    drift: Drift
    volume: float = 1.0
    budget: QueryBudget = field(default_factory=QueryBudget)
    history: deque[Sent] = field(default_factory=lambda: deque(maxlen=5_000))

    def __post_init__(self) -> None:
        self.train_std = self.training_rows.std(axis=0)


@dataclass
class Request:
    """One request a client sends. Either ``rows`` (the simulator writes the body in the
    client's content type and the model answers) or ``body`` and ``response`` (sent and
    answered exactly so: replays)."""

    time: float
    content_type: str
    rows: Floats | None = None
    body: str | None = None
    response: Payload | None = None
    drifted: bool = False
    replay_of: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """More ground truth for this request (an attacker's step, say), copied to truth.jsonl."""


class Client:
    """A client of the endpoint. Subclasses set ``profile`` and implement ``hour``."""

    profile: ClassVar[str]
    legitimate: ClassVar[bool] = True
    direct: ClassVar[bool] = False
    """Calls SageMaker directly, not through the API: no inference id."""

    def __init__(self, client_id: str, rng: np.random.Generator, context: Context) -> None:
        self.client_id = client_id
        self.rng = rng

    def hour(self, t0: float, context: Context) -> list[Request]:
        """The requests sent in ``[t0, t0 + 3600)``, in any order."""
        raise NotImplementedError

    def parameters(self) -> dict[str, Any]:
        """This client's parameters, for scenario.json."""
        return {}


PROFILES: dict[str, type[Client]] = {}
"""Registered profiles by truth label."""


def register(cls: type[Client]) -> type[Client]:
    """Register a ``Client`` subclass under its ``profile`` label."""
    if cls.profile in PROFILES:
        raise ValueError(f"profile {cls.profile!r} is registered already")
    PROFILES[cls.profile] = cls
    return cls


# --- helpers --------------------------------------------------------------------------------------

_TIME_ZONES = (-8.0, -5.0, -3.0, 0.0, 1.0, 2.0, 5.5, 8.0, 9.0)
_CONTENT_TYPES = ("application/json", "text/csv", "application/octet-stream")


def _rows_for(
    rng: np.random.Generator,
    sub: pop.SubPopulation,
    times: Floats,
    sizes: npt.NDArray[np.int64],
    context: Context,
    content_type: str,
) -> list[Request]:
    """Requests at ``times`` of ``sizes`` rows each from ``sub``, drifting as the world does."""
    if len(times) == 0:
        return []
    row_times = np.repeat(times, sizes)
    shift = context.drift.shift(row_times)
    rows = pop.sample(rng, len(row_times), sub, shift)
    drifted = Drift.drifted(shift, len(row_times))
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return [
        Request(float(t), content_type, rows[a:b], drifted=bool(drifted[a:b].any()))
        for t, a, b in zip(times.tolist(), bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
    ]


def _jittered(rows: Floats, copies: int, rng: np.random.Generator, scale: Floats) -> Floats:
    """``copies`` of ``rows`` with a tiny noise (``scale`` per column) on non-integer columns,
    kept in each feature's range."""
    out = np.tile(rows, (copies, 1))
    noisy = np.array([not f.integer and f.decimals > 0 for f in pop.FEATURES])
    noise = rng.normal(0.0, 1.0, out.shape) * scale
    out[:, noisy] += noise[:, noisy]
    lo = np.array([max(f.lo, 0.0) if f.kind == "lognormal" else f.lo for f in pop.FEATURES])
    hi = np.array([f.hi for f in pop.FEATURES])
    return pop.round_rows(np.clip(out, lo, hi))


# --- legitimate profiles --------------------------------------------------------------------------


@register
class Interactive(Client):
    """An application serving people: a business-hours rhythm in its own time zone (a quiet
    weekend), mostly single rows with some small batches, its own sub-population."""

    profile = "legit:interactive"

    def __init__(self, client_id: str, rng: np.random.Generator, context: Context) -> None:
        super().__init__(client_id, rng, context)
        self.sub = pop.SubPopulation.draw(rng)
        self.peak = float(rng.lognormal(np.log(18), 0.6)) * context.volume
        self.tz = float(rng.choice(_TIME_ZONES))
        self.single = float(rng.uniform(0.35, 0.85))
        self.mean_rows = float(rng.uniform(3, 20))
        self.content_type = str(rng.choice(_CONTENT_TYPES, p=[0.7, 0.2, 0.1]))

    def hour(self, t0: float, context: Context) -> list[Request]:
        local = time.gmtime(t0 + 1800 + self.tz * 3600)
        weight = 0.06 + np.exp(-(((local.tm_hour + 0.5 - 14.0) / 3.2) ** 2))
        if local.tm_wday >= 5:
            weight *= 0.3
        n = int(self.rng.poisson(self.peak * weight))
        times = np.sort(t0 + self.rng.random(n) * 3600)
        sizes = np.where(
            self.rng.random(n) < self.single,
            1,
            np.minimum(1 + self.rng.geometric(1 / self.mean_rows, n), 100),
        ).astype(np.int64)
        return _rows_for(self.rng, self.sub, times, sizes, context, self.content_type)

    def parameters(self) -> dict[str, Any]:
        return {"peakPerHour": round(self.peak, 2), "utcOffset": self.tz,
                "contentType": self.content_type}  # fmt: skip


@register
class Heavy(Client):
    """A heavy interactive user near the daily quota: ``share`` (50 to 90%) of the usage plan's
    daily quota a day, spread over a flatter business-hours rhythm than an interactive
    client's (an application that serves people around the world from one key), mostly single
    rows, its own sub-population; never more than 95% of the quota in a UTC day."""

    profile = "legit:heavy"

    def __init__(self, client_id: str, rng: np.random.Generator, context: Context) -> None:
        super().__init__(client_id, rng, context)
        self.sub = pop.SubPopulation.draw(rng)
        self.share = float(rng.uniform(0.5, 0.9))
        self.tz = float(rng.choice(_TIME_ZONES))
        self.single = float(rng.uniform(0.7, 0.95))
        self.mean_rows = float(rng.uniform(2, 6))
        self.content_type = str(rng.choice(_CONTENT_TYPES[:2], p=[0.85, 0.15]))
        hours = np.arange(24) + 0.5
        self.weights = 0.3 + np.exp(-(((hours - 14.0) / 4.0) ** 2))
        self.cap = int(0.95 * context.budget.quota_per_day)
        self.by_day: dict[int, int] = {}

    def hour(self, t0: float, context: Context) -> list[Request]:
        local = time.gmtime(t0 + 1800 + self.tz * 3600)
        daily = self.share * context.budget.quota_per_day
        mean = daily * self.weights[local.tm_hour] / self.weights.sum()
        day = int(t0 // 86_400)
        n = min(int(self.rng.poisson(mean)), self.cap - self.by_day.get(day, 0))
        self.by_day[day] = self.by_day.get(day, 0) + n
        times = np.sort(t0 + self.rng.random(n) * 3600)
        sizes = np.where(
            self.rng.random(n) < self.single,
            1,
            np.minimum(1 + self.rng.geometric(1 / self.mean_rows, n), 20),
        ).astype(np.int64)
        return _rows_for(self.rng, self.sub, times, sizes, context, self.content_type)

    def parameters(self) -> dict[str, Any]:
        return {"quotaShare": round(self.share, 3), "utcOffset": self.tz,
                "contentType": self.content_type}  # fmt: skip


@register
class Batch(Client):
    """A scheduled job: at fixed UTC hours, a run of large batches a few seconds apart, from a
    near-representative sub-population."""

    profile = "legit:batch"
    _SCHEDULES = ((2,), (1, 13), (0, 6, 12, 18), (4,), (22,))

    def __init__(self, client_id: str, rng: np.random.Generator, context: Context) -> None:
        super().__init__(client_id, rng, context)
        # A batch scores a representative slice of the whole book (near the training mix).
        self.sub = pop.SubPopulation.draw(rng, spread=0.1, scale=(0.95, 1.0), concentration=200)
        self.hours = self._SCHEDULES[int(rng.integers(len(self._SCHEDULES)))]
        self.minute = int(rng.integers(0, 40))
        self.requests = int(rng.integers(8, 30))
        self.rows = int(rng.integers(100, 500))
        self.gap = float(rng.uniform(4, 15))
        self.content_type = str(rng.choice(_CONTENT_TYPES[:2]))

    def hour(self, t0: float, context: Context) -> list[Request]:
        if time.gmtime(t0).tm_hour not in self.hours:
            return []
        gaps = self.gap * (1 + 0.2 * self.rng.standard_normal(self.requests)).clip(0.5)
        times = t0 + self.minute * 60 + np.cumsum(gaps)
        sizes = np.full(self.requests, self.rows, dtype=np.int64)
        sizes[-1] = int(self.rng.integers(1, self.rows + 1))  # the remainder of the job
        return _rows_for(self.rng, self.sub, times, sizes, context, self.content_type)

    def parameters(self) -> dict[str, Any]:
        return {"utcHours": list(self.hours), "minute": self.minute, "requests": self.requests,
                "rows": self.rows, "contentType": self.content_type}  # fmt: skip


@register
class Periodic(Client):
    """A machine integration: the same few rows every ``period`` seconds (off by up to 3%), day
    and night, with a tiny jitter (0.2% of a feature's spread) on the non-integer columns."""

    profile = "legit:periodic"
    JITTER = 0.002
    _PERIODS = (60.0, 120.0, 300.0, 600.0, 900.0)

    def __init__(self, client_id: str, rng: np.random.Generator, context: Context) -> None:
        super().__init__(client_id, rng, context)
        self.period = float(rng.choice(self._PERIODS))
        self.rows = pop.sample(rng, int(rng.integers(1, 6)), pop.SubPopulation.draw(rng))
        self.next = context.start + float(rng.uniform(0, self.period))
        self.content_type = str(rng.choice(_CONTENT_TYPES[:2], p=[0.8, 0.2]))

    def hour(self, t0: float, context: Context) -> list[Request]:
        times = []
        while self.next < t0 + 3600:
            times.append(self.next)
            self.next += self.period * (1 + float(self.rng.uniform(-0.03, 0.03)))
        k, n = len(times), len(self.rows)
        rows = _jittered(self.rows, k, self.rng, self.JITTER * context.train_std)
        return [
            Request(t, self.content_type, rows[i * n : (i + 1) * n]) for i, t in enumerate(times)
        ]

    def parameters(self) -> dict[str, Any]:
        return {"periodSeconds": self.period, "rows": len(self.rows),
                "contentType": self.content_type}  # fmt: skip


@register
class Jittery(Periodic):
    """A periodic integration whose rows carry measurement noise: the same few records every
    ``period`` seconds with a jitter of 1-5% of each non-integer feature's spread (ten times
    the plain periodic client's or more): near duplicates of its own earlier rows."""

    profile = "legit:jittery"

    def __init__(self, client_id: str, rng: np.random.Generator, context: Context) -> None:
        super().__init__(client_id, rng, context)
        self.JITTER = float(rng.uniform(0.01, 0.05))

    def parameters(self) -> dict[str, Any]:
        return super().parameters() | {"jitter": round(self.JITTER, 4)}


@register
class Updating(Client):
    """A book of accounts re-scored every few hours as they change: each pass moves two to five
    of the fractional features of every account a little (a random walk of 2-8% of their
    spread), so each row is a near duplicate of the account's last one, with a few features
    changed and its answer moved a little."""

    profile = "legit:updating"

    def __init__(self, client_id: str, rng: np.random.Generator, context: Context) -> None:
        super().__init__(client_id, rng, context)
        self.book = pop.sample(rng, int(rng.integers(40, 250)), pop.SubPopulation.draw(rng))
        fractional = [i for i, f in enumerate(pop.FEATURES) if not f.integer and f.decimals]
        self.moving = rng.choice(fractional, int(rng.integers(2, 6)), replace=False)
        self.step = float(rng.uniform(0.02, 0.08))
        self.every = int(rng.choice((2, 3, 4, 6)))
        self.offset = int(rng.integers(0, self.every))
        self.content_type = str(rng.choice(_CONTENT_TYPES[:2]))

    def hour(self, t0: float, context: Context) -> list[Request]:
        if (int(t0 // 3600) + self.offset) % self.every:
            return []
        walk = self.rng.normal(0, 1, (len(self.book), len(self.moving)))
        self.book[:, self.moving] += walk * self.step * context.train_std[self.moving]
        lo = np.array([max(f.lo, 0.0) if f.kind == "lognormal" else f.lo for f in pop.FEATURES])
        hi = np.array([f.hi for f in pop.FEATURES])
        self.book = pop.round_rows(np.clip(self.book, lo, hi))
        start = t0 + float(self.rng.uniform(0, 1800))
        chunks = np.array_split(self.book, max(1, len(self.book) // 25))
        return [
            Request(start + 5.0 * i, self.content_type, chunk.copy())
            for i, chunk in enumerate(chunks)
        ]

    def parameters(self) -> dict[str, Any]:
        return {"accounts": len(self.book), "moving": [pop.FEATURES[i].name for i in self.moving],
                "step": round(self.step, 3), "everyHours": self.every,
                "contentType": self.content_type}  # fmt: skip


@register
class Replay(Client):
    """QA replaying production: once a day at a fixed hour, a burst of exact repeats of earlier
    legitimate requests (same content type, same bytes, so the same answers)."""

    profile = "legit:replay"

    def __init__(self, client_id: str, rng: np.random.Generator, context: Context) -> None:
        super().__init__(client_id, rng, context)
        self.at_hour = int(rng.integers(9, 17))
        self.count = int(rng.integers(50, 200))
        self.rate = float(rng.uniform(1, 4))

    def hour(self, t0: float, context: Context) -> list[Request]:
        if time.gmtime(t0).tm_hour != self.at_hour or not context.history:
            return []
        history = list(context.history)
        picks = self.rng.choice(len(history), size=min(self.count, len(history)), replace=False)
        times = t0 + float(self.rng.uniform(0, 600)) + np.arange(len(picks)) / self.rate
        return [
            Request(
                t,
                history[i].request.content_type,
                body=history[i].request.body,
                response=history[i].response,
                drifted=history[i].drifted,
                replay_of=history[i].inference_id,
            )
            for t, i in zip(times.tolist(), picks.tolist(), strict=True)
        ]

    def parameters(self) -> dict[str, Any]:
        return {"utcHour": self.at_hour, "count": self.count, "perSecond": round(self.rate, 2)}


@register
class Canary(Client):
    """A health check that calls SageMaker directly (not through the API, so its captured lines
    carry no inference id): one fixed row every five minutes."""

    profile = "legit:canary"
    direct = True

    def __init__(self, client_id: str, rng: np.random.Generator, context: Context) -> None:
        super().__init__(client_id, rng, context)
        self.row = pop.sample(rng, 1, pop.SubPopulation.training())
        self.offset = float(rng.uniform(0, 300))

    def hour(self, t0: float, context: Context) -> list[Request]:
        times = t0 + self.offset + 300.0 * np.arange(12)
        return [Request(t, "application/json", self.row) for t in times.tolist()]

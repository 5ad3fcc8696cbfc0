"""Attacker profiles: the red-team strategies (``secure_endpoint.redteam``) sent at a normal
client's pace, inside the usage plan, so that gateway logs alone cannot tell them apart.

One profile per finding kind, the strategy drawn from the client's generator
(``attack:extraction``, ``attack:probing``, ``attack:out_of_distribution``,
``attack:membership``), and one per strategy for a benchmark that wants each of them
(``attack:extraction:marginal``, ``attack:probing:hopskipjump``, ...). Each attacker:

- starts at a random hour of the first half of the run and then sends around the clock, a
  Poisson number of requests an hour (``per_hour``, 15 to 60: an interactive client's peak), at
  most ``daily_cap`` a UTC day (a quarter of the quota at most), never two within
  ``1 / rate_per_second`` of the plan;
- sends one strategy batch a request (1 to 5 rows, as the client's ``rows_per_request``) and
  learns each answer from ``Context.model.predict_proba`` before its next query, as an adaptive
  attacker does;
- knows what ``Knowledge.from_simulator`` gives (the documented features, natural rows drawn
  from the population, and for membership probing candidate rows of ``Context.training_rows``);
- marks every request in truth.jsonl: ``attack`` (the finding kind), ``strategy``
  (``<kind>:<name>``), ``query`` (the index of the request's first row among the attacker's
  queries) and ``detail`` (the strategy's step: phase, target, corruption, member).

An out-of-distribution attacker's rows may hold what the simulator's row format cannot write
(a fraction in a count), so it writes its own body (each value in its shortest form) and
answer; its truth line's ``rows`` is its row count all the same.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, ClassVar

import numpy as np

from secure_endpoint.redteam.strategies import Knowledge, Strategy, make
from secure_endpoint.simulate.capture.layout import Payload
from secure_endpoint.simulate.capture.model import Floats
from secure_endpoint.simulate.capture.profiles import Client, Context, Request, register

STRATEGY_KIND = {
    "extraction": "extraction",
    "probing": "boundary",
    "out_of_distribution": "ood",
    "membership": "membership",
}
"""The strategy kind behind each attack profile's finding kind."""
NAMES = {
    "extraction": ("marginal", "uniform", "synthetic", "active"),
    "probing": ("hopskipjump", "coordinate"),
    "out_of_distribution": ("impossible", "onehot", "extreme"),
    "membership": ("exact", "perturbed"),
}
"""The strategies each attack profile draws from."""


def _value(v: float) -> str:
    return f"{v:.0f}" if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))


def _csv(rows: Floats) -> list[str]:
    return [",".join(_value(v) for v in row) for row in rows.tolist()]


class Attacker(Client):
    """An attacker of ``attack`` (a finding kind) with one of ``NAMES[attack]``, or ``fixed``."""

    legitimate = False
    attack: ClassVar[str]
    fixed: ClassVar[str | None] = None
    own_body: ClassVar[bool] = False
    """Write the request body and answer here (values the row format cannot write)."""

    def __init__(self, client_id: str, rng: np.random.Generator, context: Context) -> None:
        super().__init__(client_id, rng, context)
        names = NAMES[self.attack]
        self.name = self.fixed or str(names[int(rng.integers(len(names)))])
        self.key = f"{STRATEGY_KIND[self.attack]}:{self.name}"
        hours = max(1, int((context.end - context.start) // 3600))
        start_hour = int(rng.integers(0, max(1, hours // 2)))
        self.start = context.start + 3600.0 * start_hour + float(rng.uniform(0, 3600))
        self.per_hour = float(rng.uniform(15, 60))
        self.rows_per_request = int(rng.choice((1, 1, 1, 2, 5)))
        budget = context.budget
        self.daily_cap = int(min(budget.quota_per_day // 4, 2 * 24 * self.per_hour))
        self.gap = 1.0 / budget.rate_per_second
        self.content_type = str(rng.choice(("application/json", "text/csv"), p=[0.8, 0.2]))
        knowledge = Knowledge.from_simulator(
            rng,
            training_rows=context.training_rows if self.attack == "membership" else None,
            holdout_rows=0,
        )
        self.params = self._params(rng)
        self.strategy: Strategy = make(
            self.key, knowledge, np.random.default_rng(int(rng.integers(2**62))),
            max_queries=10**9, batch=self.rows_per_request, **self.params,
        )  # fmt: skip
        self.by_day: Counter[int] = Counter()
        self.last = -np.inf

    def _params(self, rng: np.random.Generator) -> dict[str, Any]:
        """Strategy parameters drawn for this client."""
        if self.attack == "out_of_distribution":
            return {
                "features": int(rng.integers(1, 4)),
                "mix": round(float(rng.uniform(0, 0.3)), 2),
            }
        if self.attack == "membership":
            params: dict[str, Any] = {"member_fraction": round(float(rng.uniform(0.4, 0.9)), 2)}
            if self.name == "perturbed":
                params["copies"] = int(rng.integers(2, 7))
            return params
        return {}

    def hour(self, t0: float, context: Context) -> list[Request]:
        begin = max(t0, self.start)
        if begin >= t0 + 3600 or self.strategy.done():
            return []
        day = int(t0 // 86_400)  # the UTC day
        n = min(int(self.rng.poisson(self.per_hour * (t0 + 3600 - begin) / 3600)),
                self.daily_cap - self.by_day[day])  # fmt: skip
        times = np.sort(begin + self.rng.random(max(n, 0)) * (t0 + 3600 - begin))
        requests = []
        for t in times.tolist():
            t = max(t, self.last + self.gap)
            if t >= t0 + 3600 or self.strategy.done():
                break
            requests.append(self._request(t, context))
            self.last = t
        self.by_day[day] += len(requests)
        return requests

    def _request(self, t: float, context: Context) -> Request:
        strategy = self.strategy
        rows = strategy.next_queries()
        extra: dict[str, Any] = {
            "attack": self.attack,
            "strategy": self.key,
            "query": strategy.queries,
            "detail": dict(strategy.step),
        }
        answers = context.model.predict_proba(rows)
        strategy.observe(rows, answers)
        if not self.own_body:
            return Request(t, self.content_type, rows, extra=extra)
        extra["rows"] = len(rows)
        lines = _csv(rows)
        if self.content_type == "text/csv":
            body = "\n".join(lines) + "\n"
            response = Payload("text/csv; charset=utf-8", "\n".join(map(repr, answers.tolist())))
        else:
            body = '{"instances":[' + ",".join(f"[{line}]" for line in lines) + "]}"
            response = Payload("application/json", json.dumps({"predictions": answers.tolist()}))
        return Request(t, self.content_type, body=body, response=response, extra=extra)

    def parameters(self) -> dict[str, Any]:
        return {"strategy": self.key, "startEpoch": round(self.start, 3),
                "perHour": round(self.per_hour, 2), "rowsPerRequest": self.rows_per_request,
                "dailyCap": self.daily_cap, "contentType": self.content_type,
                "strategyParameters": self.params}  # fmt: skip


def _profile(attack: str, name: str | None) -> type[Attacker]:
    label = f"attack:{attack}" + (f":{name}" if name else "")
    which = f"the {name} strategy" if name else f"one of {', '.join(NAMES[attack])}"
    doc = f"An attacker of kind {attack} with {which}."
    cls = type(
        f"Attack_{attack}_{name or 'any'}", (Attacker,),
        {"profile": label, "attack": attack, "fixed": name, "own_body": attack ==
         "out_of_distribution", "__doc__": doc, "__module__": __name__},
    )  # fmt: skip
    register(cls)
    return cls


ATTACKERS: dict[str, type[Attacker]] = {
    cls.profile: cls
    for attack, names in NAMES.items()
    for cls in [_profile(attack, None), *(_profile(attack, name) for name in names)]
}
"""Every attacker profile by label (also in ``profiles.PROFILES``)."""

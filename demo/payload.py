"""Step 4 of the demo: payload abuse, caught in what clients send.

The capture simulator's model is served by ``secure_endpoint.simulate.local_endpoint`` (an
emulation of the SageMaker runtime that writes real data-capture files) behind the gateway's
limits: the default API client's usage plan, the request model compiled from the baseline
(``InputConstraints.from_baseline``), and quarantine. On one simulated clock, for a few hours:

- legitimate clients of the simulator's profiles (interactive, heavy, batch, periodic, replay)
  send what they always send;
- red-team attackers (``secure_endpoint.redteam`` strategies, as ``secure-endpoint attack`` runs
  them, each at a pace well inside its usage plan) query the model: extraction (features drawn
  from their marginals at a typical client's pace; active learning), a decision-based boundary
  search, out-of-bounds rows, replays of training rows;
- every ``CHECK_MINUTES`` the payload inspector (``PayloadDetector``, what ``inspect-capture``
  and the scheduled function run) reads the new capture objects; a flagged client is
  quarantined at once (the opt-in automatic response: its key moved to a small usage plan).

The report plots each client's payload score over time with the findings (true and false
positives) marked, and each extraction's surrogate agreement against its queries with the
moment it was flagged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from demo.console import Say, require

NEEDS = (
    ("sklearn", "the capture simulator's model and the attackers' surrogates (simulate extra)"),
    ("jsonschema", "checking bodies against the request model as API Gateway does"),
)
HOURS = 6.0
QUICK_HOURS = 3.0
CHECK_MINUTES = 10
START = 1_772_409_600  # 2026-03-02T00:00:00Z, a Monday, as the simulator
TRAINING_ROWS = 10_000
LEGIT = {"legit:interactive": 24, "legit:heavy": 2, "legit:batch": 2, "legit:periodic": 4,
         "legit:replay": 1}  # fmt: skip


@dataclass(frozen=True)
class AttackerSpec:
    """One attacker: its strategy, seconds between requests, when it starts (hours), how many
    rows it sends at most."""

    key: str
    interval: float
    start_hour: float
    queries: int


ATTACKERS = (
    AttackerSpec("extraction:marginal", 20.0, 0.5, 2_000),
    AttackerSpec("extraction:active", 6.0, 1.0, 2_000),
    AttackerSpec("boundary:hopskipjump", 3.0, 1.25, 2_000),
    AttackerSpec("membership:exact", 8.0, 0.75, 1_000),
    AttackerSpec("ood:impossible", 30.0, 1.5, 200),
)


@dataclass
class ClientTrack:
    client_id: str
    profile: str
    legitimate: bool
    scores: list[float] = field(default_factory=list)
    """The client's highest payload score (decimal digits) at each check."""
    findings: list[dict[str, Any]] = field(default_factory=list)
    quarantined_at: float | None = None
    statuses: dict[int, int] = field(default_factory=dict)


@dataclass
class AttackResult:
    client_id: str
    key: str
    interval: float
    start_hour: float
    queries: int
    requests: int
    stopped: dict[str, Any]
    report: dict[str, Any]
    first_finding: dict[str, Any] | None
    agreement_at_flag: float | None = None
    unimpeded: list[list[float]] = field(default_factory=list)
    """An extraction's agreement curve had nothing stopped it (the same strategy against the
    model directly, uncounted)."""


@dataclass
class PayloadResult:
    hours: float
    check_hours: list[float]
    clients: list[ClientTrack]
    attacks: list[AttackResult]
    threshold: float
    captured_rows: int
    legit_refused: dict[str, int]
    legit_rows: int

    @property
    def false_positives(self) -> list[ClientTrack]:
        return [c for c in self.clients if c.legitimate and c.findings]

    def console_lines(self) -> list[str]:
        legit = [c for c in self.clients if c.legitimate]
        lines = [
            f"{len(legit)} legitimate clients and {len(self.attacks)} attackers for "
            f"{self.hours:g} simulated hours; {self.captured_rows:,} rows captured",
        ]
        for attack in self.attacks:
            lines.append(f"{attack.key:22} {_attack_line(attack)}")
        fp = self.false_positives
        lines.append(
            f"legitimate clients flagged: {len(fp)} of {len(legit)}"
            + (f" ({', '.join(sorted({c.profile for c in fp}))})" if fp else "")
        )
        return lines


def _attack_line(attack: AttackResult) -> str:
    first = attack.first_finding
    stopped = attack.stopped
    if first is None:
        found = "not flagged"
    else:
        found = (f"flagged ({first['kind']}) after {first['queries']} queries, "
                 f"{first['minutes']:.0f} min in")  # fmt: skip
        if attack.agreement_at_flag is not None:
            found += f", when its copy agreed {100 * attack.agreement_at_flag:.0f} %"
    reason = stopped["reason"]
    ended = (
        f"stopped: {reason} after {stopped['afterQueries']} queries"
        if reason != "not stopped"
        else f"not stopped ({attack.queries} queries)"
    )
    return f"{found}; {ended}"


def run(work: Path, say: Say, *, seed: int = 7, hours: float = HOURS) -> PayloadResult:
    require(NEEDS)
    from secure_endpoint.cli.attack import ensure_baseline, membership_key, request_schema
    from secure_endpoint.simulate.capture import population as pop
    from secure_endpoint.simulate.capture.model import train

    out = work / "payload-sim"
    out.mkdir(parents=True, exist_ok=True)
    say(f"training the model and its baseline; {hours:g} h of traffic through the local endpoint")
    rows, labels = pop.training_set(seed, TRAINING_ROWS)
    pop.write_training_csv(out / "training.csv", rows, labels)
    trained = train(rows, labels, pop.FEATURE_NAMES, seed=seed)
    trained.ensemble.save(out / "model.json")
    baseline = ensure_baseline(out)
    schema = request_schema(baseline, "instances")
    return _World(out, trained, rows, baseline, membership_key(baseline), schema, seed,
                  hours).run()  # fmt: skip


class _World:
    def __init__(
        self, out: Path, trained: Any, training: Any, baseline: Path, key: Path | None,
        schema: dict[str, Any], seed: int, hours: float,
    ) -> None:  # fmt: skip
        from secure_endpoint.cli.attack import Attacker, LocalTransport, make_strategy
        from secure_endpoint.cli.baseline import read_membership_key
        from secure_endpoint.redteam.strategies import Knowledge
        from secure_endpoint.runtime.baseline.store import load_baseline
        from secure_endpoint.runtime.payload.detector import PayloadDetector
        from secure_endpoint.runtime.payload.reference import PayloadReference
        from secure_endpoint.simulate.capture.profiles import PROFILES, Context, Drift
        from secure_endpoint.simulate.local_endpoint import (
            LocalEndpoint,
            Quarantine,
            UsagePlan,
            VirtualClock,
        )

        self.hours = hours
        self.end = START + int(hours * 3600)
        self.model = _Fast(trained)
        self.clock = VirtualClock(START)
        self.endpoint = LocalEndpoint(
            self.model, out, endpoint_name="secure-endpoint-demo", plan=UsagePlan(),
            schema=schema, quarantine=Quarantine(mode="plan"), clock=self.clock,
            object_seconds=300,
        )  # fmt: skip
        reference = PayloadReference.from_baseline(
            load_baseline(baseline), membership_key=read_membership_key(key)
        )
        self.detector = PayloadDetector(reference)
        self.context = Context(start=START, end=self.end, model=trained, training_rows=training,
                               drift=Drift((), START))  # fmt: skip
        ids = np.random.default_rng([seed, 2])
        alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))
        self.legit: list[Any] = []
        self.tracks: dict[str, ClientTrack] = {}
        for position, (name, count) in enumerate(sorted(LEGIT.items())):
            for k in range(count):
                client_id = "".join(ids.choice(alphabet, 26).tolist())
                rng = np.random.default_rng([seed, 1, position, k])
                client = PROFILES[name](client_id, rng, self.context)
                self.legit.append(client)
                self.tracks[client_id] = ClientTrack(client_id, name, True)
        self.attackers: list[tuple[AttackerSpec, Any, float]] = []
        self.next_at: dict[str, float] = {}
        for i, spec in enumerate(ATTACKERS):
            if spec.start_hour >= hours:
                continue
            rng = np.random.default_rng([seed, 10, i])
            knowledge = Knowledge.from_simulator(rng, training_rows=training)
            strategy = make_strategy(spec.key, knowledge, rng, queries=spec.queries, batch=1,
                                     judge=self.model.predict_proba)  # fmt: skip
            client_id = f"rt-{spec.key.replace(':', '-')}"[:26]  # a Cognito id is 26
            transport = LocalTransport(self.endpoint, client_id, "instances")
            attacker = Attacker(strategy, transport, rate=1 / spec.interval, clock=self.clock,
                                adapt=not spec.key.startswith("ood:"))  # fmt: skip
            self.attackers.append((spec, attacker, START + spec.start_hour * 3600))
            self.next_at[client_id] = START + spec.start_hour * 3600
            self.tracks[client_id] = ClientTrack(client_id, f"attack:{spec.key}", False)
        self.check_hours: list[float] = []
        self.seen: set[Path] = set()
        self.captured_rows = 0
        self.legit_refused: dict[str, int] = {}
        self.legit_rows = 0

    def run(self) -> PayloadResult:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):  # small surrogates: one thread beats a contended pool
            for t0 in range(START, self.end, 3600):
                self._hour(t0)
            self._check(float(self.end))
            return self._result()

    # --- one simulated hour ----------------------------------------------------------------

    def _hour(self, t0: int) -> None:
        end = min(t0 + 3600, self.end)
        requests = sorted(
            ((r.time, n, c, r) for n, c in enumerate(self.legit)
             for r in c.hour(float(t0), self.context) if t0 <= r.time < end),
            key=lambda item: (item[0], item[1]),
        )  # fmt: skip
        checks = [*(float(t) for t in range(t0 + CHECK_MINUTES * 60, end, CHECK_MINUTES * 60)),
                  float(end)]  # fmt: skip
        at = 0
        for check in checks:
            while True:
                legit_time = requests[at][0] if at < len(requests) else float("inf")
                attacker, attack_time = self._next_attacker()
                moment = min(legit_time, attack_time)
                if moment >= check:
                    break
                self.clock.now = max(self.clock.now, moment)
                if legit_time <= attack_time:
                    _, _, client, request = requests[at]
                    self._legit(client, request)
                    at += 1
                else:
                    self._attack(attacker)
            self.clock.now = max(self.clock.now, check)
            if check < self.end:
                self._check(check)

    def _next_attacker(self) -> tuple[Any, float]:
        best, when = None, float("inf")
        for _, attacker, _ in self.attackers:
            client = attacker.transport.client
            at = self.next_at.get(client)
            if at is not None and at < when:
                best, when = attacker, at
        return best, when

    def _attack(self, attacker: Any) -> None:
        client = attacker.transport.client
        wait = attacker.step()
        if wait is None:
            self.next_at.pop(client, None)
        else:
            self.next_at[client] = self.clock.now + wait

    def _legit(self, client: Any, request: Any) -> None:
        from secure_endpoint.simulate.capture.layout import Payload
        from secure_endpoint.simulate.capture.profiles import Sent

        content_type = request.content_type
        if content_type == "application/octet-stream":
            content_type = "application/json"  # the API takes JSON: the client sends it so
        if request.rows is not None:
            rows = request.rows.tolist()
            if content_type == "text/csv":
                body = "".join(",".join(map(repr, row)) + "\n" for row in rows)
            else:
                body = json.dumps({"instances": _whole(rows)}, separators=(",", ":"))
            self.legit_rows += len(rows)
        else:
            body = str(request.body)
        if client.direct:
            answer = self.endpoint.invoke_endpoint(body.encode(), content_type)
        else:
            answer = self.endpoint.invoke(client.client_id, body.encode(), content_type)
            track = self.tracks[client.client_id]
            track.statuses[answer.status] = track.statuses.get(answer.status, 0) + 1
        if not answer.ok:
            name = answer.error or str(answer.status)
            self.legit_refused[name] = self.legit_refused.get(name, 0) + 1
        elif request.rows is not None and request.replay_of is None:
            response = Payload(answer.content_type, answer.body.decode())
            self.context.history.append(
                Sent(None, Payload(content_type, body), response, request.drifted)
            )

    # --- the inspector ---------------------------------------------------------------------

    def _check(self, now: float) -> None:
        from secure_endpoint.runtime.capture.records import Counts, read_lines

        self.endpoint.flush()
        paths = sorted(p for p in self.endpoint.capture_dir.rglob("*.jsonl") if p not in self.seen)
        self.seen.update(paths)
        counts = Counts()
        lines = (line for path in paths for line in path.open("rb"))
        found = self.detector.run(read_lines(lines, counts))
        self.captured_rows += counts.rows
        for finding in found:
            track = self.tracks.get(finding.client_id)
            if track is None:
                continue
            track.findings.append(finding.to_json() | {"epoch": finding.first_seen})
            if track.quarantined_at is None:
                self.endpoint.quarantine(finding.client_id)
                track.quarantined_at = now
        scores = self.detector.client_scores()
        self.check_hours.append((now - START) / 3600)
        for client_id, track in self.tracks.items():
            entry = scores.get(client_id, {})
            track.scores.append(max(entry.values(), default=0.0))

    # --- the results -----------------------------------------------------------------------

    def _result(self) -> PayloadResult:
        attacks = []
        for spec, attacker, started in self.attackers:
            client = attacker.transport.client
            outcome = attacker.finish(client in self.endpoint.quarantined)
            track = self.tracks[client]
            first = min(track.findings, key=lambda f: f["queries"], default=None)
            result = AttackResult(
                client, spec.key, spec.interval, spec.start_hour, outcome.rows_answered,
                outcome.requests, outcome.stopped, attacker.strategy.report(),
                None if first is None else {
                    "kind": first["kind"], "queries": first["queries"],
                    "minutes": (first["epoch"] - started) / 60, "score": first["score"],
                },
            )  # fmt: skip
            if spec.key.startswith("extraction:"):
                if first is not None:
                    result.agreement_at_flag = _agreement_after(attacker.strategy,
                                                                first["queries"])  # fmt: skip
                result.unimpeded = _unimpeded(spec, self.model, len(attacks))
            attacks.append(result)
        return PayloadResult(
            hours=self.hours, check_hours=self.check_hours, clients=list(self.tracks.values()),
            attacks=attacks, threshold=self.detector.config.threshold,
            captured_rows=self.captured_rows, legit_refused=self.legit_refused,
            legit_rows=self.legit_rows,
        )  # fmt: skip


class _Fast:
    """The trained model, scored by scikit-learn (compiled: a request's rows in a tenth of the
    numpy ensemble's time; the same answers, as the simulator's tests check)."""

    def __init__(self, trained: Any) -> None:
        self.trained = trained
        self.feature_names = trained.ensemble.feature_names

    def predict_proba(self, rows: Any) -> Any:
        return self.trained.predict_proba(np.asarray(rows, dtype=np.float64))


def _whole(rows: list[list[float]]) -> list[list[float | int]]:
    return [[int(v) if float(v).is_integer() else v for v in row] for row in rows]


def _agreement_after(strategy: Any, queries: int) -> float | None:
    """The share of holdout rows on which a surrogate fitted on the first ``queries`` answers
    agrees with the model: what the attacker had copied when it was flagged."""
    from secure_endpoint.redteam.strategies import Surrogate

    holdout, judge = strategy.knowledge.holdout, strategy.judge
    if holdout is None or judge is None:
        return None
    rows, answers = strategy.seen()
    copy = Surrogate(strategy.surrogate.seed)  # as the strategy fits its own: the curve's points
    copy.fit(rows[:queries], answers[:queries])
    threshold = strategy.knowledge.threshold
    truth = np.asarray(judge(holdout)) >= threshold
    return float(((copy.proba(holdout) >= threshold) == truth).mean())


def _unimpeded(spec: AttackerSpec, model: Any, index: int) -> list[list[float]]:
    """The agreement curve of the same strategy against the model itself (nothing to stop it)."""
    from secure_endpoint.cli.attack import make_strategy
    from secure_endpoint.redteam.strategies import Knowledge, run

    rng = np.random.default_rng([99, index])
    knowledge = Knowledge.from_simulator(rng)
    strategy = make_strategy(spec.key, knowledge, rng, queries=spec.queries, batch=1,
                             judge=model.predict_proba)  # fmt: skip
    curve: list[list[float]] = run(strategy, model.predict_proba).get("curve", [])
    return curve


# --- the report ------------------------------------------------------------------------------


def markdown(result: PayloadResult) -> list[str]:
    legit = [c for c in result.clients if c.legitimate]
    fp = result.false_positives
    refused = ", ".join(f"{n} {code}" for code, n in sorted(result.legit_refused.items()))
    lines = [
        "## Payload abuse: caught in what clients send",
        "",
        f"The simulator's model behind the local endpoint (real capture files, the default "
        f"client's usage plan, the request model from the baseline), {len(legit)} legitimate "
        f"clients and {len(result.attacks)} red-team attackers (`secure-endpoint attack`'s "
        f"strategies) for {result.hours:g} simulated hours. Every {CHECK_MINUTES} minutes the "
        "payload inspector read the new capture; a flagged client was quarantined at once "
        "(its key moved to a small usage plan).",
        "",
        "| attacker | pace | first finding | its copy then | what stopped it |",
        "|---|---|---|---|---|",
    ]
    for attack in result.attacks:
        first = attack.first_finding
        found = "not flagged"
        if first is not None:
            found = f"{first['kind']} after {first['queries']} queries ({first['minutes']:.0f} min)"
        copy = "-" if attack.agreement_at_flag is None else (
            f"agreed {100 * attack.agreement_at_flag:.0f} %")  # fmt: skip
        stopped = attack.stopped
        ended = (f"{stopped['reason']} after {stopped['afterQueries']} queries"
                 if stopped["reason"] != "not stopped" else "not stopped")  # fmt: skip
        lines.append(f"| `{attack.key}` | 1 per {attack.interval:g} s | {found} | {copy} | "
                     f"{ended} |")  # fmt: skip
    lines += [
        "",
        f"Legitimate clients flagged: {len(fp)} of {len(legit)}"
        + (f" ({', '.join(c.profile for c in fp)})" if fp else "")
        + f". The gateway refused {sum(result.legit_refused.values())} legitimate requests "
        f"({refused or 'none'}) of {result.legit_rows:,} legitimate rows.",
        "",
        "`payload_scores.png`: each client's highest payload score at each check (decimal "
        "digits of evidence, `PayloadDetector.client_scores`), the threshold dashed, findings "
        "marked. A score is the evidence alone: a finding also needs the effect to be large "
        "(a rate well above the population's, a joint likelihood short of the population's by "
        "a margin), so a line may pass the threshold without a finding. "
        "`extraction.png`: each extraction's surrogate agreement with the model against its "
        "queries, where it was flagged, and (dashed) where it would have gone unimpeded.",
        "",
    ]
    return lines


COLORS = ("#d62728", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def plot(result: PayloadResult, out: Path) -> list[Path]:
    """``payload_scores.png`` and ``extraction.png`` into ``out``."""
    from demo.plots import figure

    paths = [out / "payload_scores.png", out / "extraction.png"]
    fig, axes = figure(11, 4.8)
    hours = np.asarray(result.check_hours)
    colors = {}
    for client in result.clients:
        scores = np.maximum(np.asarray(client.scores), 0.1)
        if client.legitimate:
            axes.plot(hours, scores, color="#2ca02c", lw=0.8, alpha=0.45)
            continue
        color = COLORS[len(colors) % len(COLORS)]
        colors[client.client_id] = color
        axes.plot(hours, scores, color=color, lw=2, label=client.profile)
    for client in result.clients:
        for finding in client.findings:
            hour = (finding["epoch"] - START) / 3600
            value = max(np.interp(hour, hours, np.maximum(client.scores, 0.1)), result.threshold)
            if client.legitimate:
                axes.scatter([hour], [value], marker="o", s=70, facecolors="none",
                             edgecolors="#000000", zorder=4)  # fmt: skip
            else:
                axes.scatter([hour], [value], marker="X", s=80, color=colors[client.client_id],
                             edgecolors="#000000", zorder=4)  # fmt: skip
    axes.axhline(result.threshold, color="#000000", ls="--", lw=1)
    axes.plot([], [], color="#2ca02c", lw=0.8, label="legitimate clients")
    axes.scatter([], [], marker="X", color="#777777", label="finding: attacker (true positive)")
    axes.scatter([], [], marker="o", facecolors="none", edgecolors="#000000",
                 label="finding: legitimate (false positive)")  # fmt: skip
    axes.set_yscale("log")
    axes.set_xlabel("simulated hours")
    axes.set_ylabel("payload score (decimal digits, log scale)")
    axes.set_title("Each client's payload score at each check (evidence alone; a finding also "
                   "needs a large effect); dashed: the threshold")  # fmt: skip
    axes.legend(loc="upper left", fontsize=8, frameon=False)
    axes.grid(alpha=0.3)
    fig.savefig(paths[0])

    fig, axes = figure(11, 4.6)
    for i, attack in enumerate(a for a in result.attacks if a.key.startswith("extraction:")):
        color = COLORS[i % len(COLORS)]
        points = [list(p) for p in attack.report.get("curve") or [[0, 0]]]
        if attack.first_finding is not None and attack.agreement_at_flag is not None:
            flagged_at = attack.first_finding["queries"]
            points = [p for p in points if p[0] != flagged_at]
            points.append([flagged_at, attack.agreement_at_flag])  # on the line it is drawn on
        curve = np.asarray(sorted(points), dtype=float)
        fate = "flagged, then quarantined" if attack.first_finding else "never flagged"
        axes.plot(curve[:, 0], 100 * curve[:, 1], color=color, lw=2, marker=".",
                  label=f"{attack.key} ({fate})")  # fmt: skip
        if attack.unimpeded:
            free = np.asarray(attack.unimpeded, dtype=float)
            axes.plot(free[:, 0], 100 * free[:, 1], color=color, lw=1, ls="--",
                      label=f"{attack.key}, had nothing stopped it")  # fmt: skip
        first = attack.first_finding
        if first is not None and attack.agreement_at_flag is not None:
            q, a = first["queries"], 100 * attack.agreement_at_flag
            axes.scatter([q], [a], marker="X", s=110, color=color, edgecolors="#000000",
                         zorder=4)  # fmt: skip
            axes.annotate(f"flagged after {q} queries,\nwhen its copy agreed {a:.0f} %",
                          (q, a), textcoords="offset points", xytext=(12, -28 - 26 * i),
                          fontsize=8, arrowprops={"arrowstyle": "-", "lw": 0.6})  # fmt: skip
    constant = next((a.report.get("constantAgreement") for a in result.attacks
                     if "constantAgreement" in a.report), None)  # fmt: skip
    if constant is not None:
        axes.axhline(100 * constant, color="#999999", ls=":", lw=1,
                     label="always the majority label")  # fmt: skip
    axes.set_xscale("log")
    axes.set_xlabel("the attacker's queries (log scale)")
    axes.set_ylabel("surrogate agrees with the model (% of held-out rows)")
    axes.set_title("Extraction: how good the stolen copy was when the client was flagged")
    axes.legend(loc="lower right", fontsize=8, frameon=False)
    axes.grid(alpha=0.3)
    fig.savefig(paths[1])
    return paths

"""``secure-endpoint attack``: a red-team strategy (``secure_endpoint.redteam``) run against the
local model or a deployed endpoint, and what stopped it.

Targets:

- ``--local DIR``: the capture simulator's output (``model.json``, ``training.csv``; ``python -m
  secure_endpoint.simulate.capture --out DIR``), served in process by
  ``secure_endpoint.simulate.local_endpoint`` with the gateway's limits (the default API
  client's usage plan, the request model compiled from the baseline, quarantine) on a simulated
  clock that starts after the capture already in ``DIR``. The attack's capture is written into
  ``DIR/capture`` beside the simulated clients'; ``inspect-capture`` then runs over it all and
  the report gives this client's first finding (after how many of its queries, and when).
- ``--secret-id ID``: a deployed endpoint, as that API client (OAuth client credentials and its
  API key, through ``secure_endpoint.cli.client``), on the real clock, paced at ``--rate``
  (inside the client's usage plan). A 429 ``throttled`` is retried after an exponential backoff
  (1, 2, 4 ... seconds, ``--max-retries`` times in a row); a 429 ``quota_exceeded``, a 400, a
  401 or a 403 ends the run. The deployed monitors' findings are theirs to report: see the
  payload alarm, or run ``inspect-capture --capture s3://...`` afterwards.

The report (JSON, ``--output`` or stdout): rows and requests sent, the answers by status, what
stopped the run (``stopped.reason``: ``not stopped``, ``invalid_body``, ``throttled``,
``quota_exceeded``, ``quarantined``, ``forbidden``, ``unauthorized``, ``network``, or the API's
error code), after how many rows and when, and the strategy's own report (an extraction's
surrogate agreement against queries, a boundary search's queries to flip, ...).

Exit status: 0 when the run ended (stopped or not: both are results), 2 on a usage or input
error, 1 when the target could not be reached at all.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from secure_endpoint.cli.failures import EXIT_HTTP_ERROR, EXIT_OK, Failure

if TYPE_CHECKING:
    import numpy as np

    from secure_endpoint.redteam.strategies import Knowledge, Strategy
    from secure_endpoint.simulate.local_endpoint import LocalEndpoint

KINDS = ("extraction", "boundary", "ood", "membership")
DEFAULT_STRATEGY = {
    "extraction": "marginal",
    "boundary": "hopskipjump",
    "ood": "impossible",
    "membership": "exact",
}
NOT_STOPPED = "not stopped"
BODY_FORMATS = ("rows", "instances", "inputs")
_EXIT = (
    "exit status: 0 when the run ended (stopped by the endpoint or not: both are results); 1 "
    "when the endpoint could not be reached at all; 2 on a usage or input error"
)


def add_attack_command(commands: Any) -> None:
    attack = commands.add_parser(
        "attack",
        help="run a red-team attack (extraction, boundary search, out-of-distribution, "
        "membership) against the local model or a deployed endpoint; report what stopped it",
        description="Run a red-team strategy (secure_endpoint.redteam) as one API client against "
        "the local model (--local: the capture simulator's output, behind an emulation of the "
        "gateway's usage plan, request model and quarantine, on a simulated clock) or a "
        "deployed endpoint (--secret-id), and report what stopped it, with the strategy's own "
        "report. Needs numpy and scikit-learn: pip install 'secure-endpoint[simulate]'.",
        epilog=_EXIT,
    )
    attack.add_argument("--kind", required=True, choices=KINDS)
    attack.add_argument(
        "--strategy",
        help="the strategy of that kind (extraction: marginal, uniform, synthetic, active; "
        "boundary: hopskipjump, coordinate; ood: impossible, onehot, extreme; membership: "
        "exact, perturbed). Default: the first",
    )
    attack.add_argument(
        "--queries", type=int, default=1000, help="rows to send at most (default: 1000)"
    )
    attack.add_argument(
        "--batch", type=int, default=1, help="rows per request (default: 1, as a person would)"
    )
    attack.add_argument("--seed", type=int, default=1)
    attack.add_argument("--output", default="-", help="the report (JSON), - for stdout")
    attack.add_argument(
        "--body-format",
        choices=BODY_FORMATS,
        default="rows",
        help="request shape: bare rows (SecureEndpoint's default), {instances: rows} or "
        "{inputs: rows} (default: rows)",
    )
    target = attack.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--local", type=Path, metavar="DIR", help="the capture simulator's output directory"
    )
    target.add_argument("--secret-id", help="a deployed endpoint, as this API client's secret")
    attack.add_argument(
        "--knowledge",
        type=Path,
        metavar="CSV",
        help="natural rows the attacker has (a header of the feature names); needed with "
        "--secret-id. Default with --local: the simulator's documented features and population",
    )
    attack.add_argument(
        "--label-column", help="a column of --knowledge and --candidates to leave out"
    )
    attack.add_argument(
        "--candidates",
        type=Path,
        metavar="CSV",
        help="rows believed to be training rows (membership, with --secret-id). Default with "
        "--local: rows of DIR/training.csv",
    )
    attack.add_argument(
        "--rate",
        type=float,
        help="requests per second (default: 1; with --local on the simulated clock)",
    )
    attack.add_argument(
        "--max-retries",
        type=int,
        default=5,
        help="429 throttled answers in a row to back off from before giving up (default: 5)",
    )
    attack.add_argument(
        "--on-400",
        choices=("learn", "stop"),
        help="a 400 naming the bound a value broke: learn the bound, clip and send again "
        "(an adaptive attacker), or stop. Default: stop for ood (its rows are meant to be "
        "out of bounds), learn for the others",
    )
    local = attack.add_argument_group("with --local")
    local.add_argument(
        "--plan",
        default="10,20,10000",
        metavar="RATE,BURST,QUOTA",
        help="the client's usage plan (default: 10,20,10000, the default API client's); "
        "'none' for no limit",
    )
    local.add_argument(
        "--no-validation",
        action="store_true",
        help="no request model at the gateway (default: InputConstraints.from_baseline)",
    )
    local.add_argument(
        "--quarantine-on-finding",
        choices=("plan", "disable"),
        help="quarantine the client as soon as the payload inspector flags it (checked every "
        "--inspect-every requests): move it to a small usage plan, or disable its key",
    )
    local.add_argument("--inspect-every", type=int, default=25, help=argparse.SUPPRESS)
    local.add_argument(
        "--no-inspect", action="store_true", help="skip inspect-capture after the run"
    )
    remote = attack.add_argument_group("with --secret-id")
    remote.add_argument("--region", help="region of the secret (default: from the AWS config)")
    remote.add_argument("--profile", help="AWS profile (default: the credential chain)")
    remote.add_argument("--holdout-rows", type=int, default=200, help=argparse.SUPPRESS)
    remote.add_argument("--insecure-http-for-testing", action="store_true", help=argparse.SUPPRESS)
    attack.set_defaults(run=_attack)


# --- the run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One answer: its status, the API's error code, the probabilities of a 2xx."""

    status: int
    error: str | None = None
    probabilities: list[float] | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and self.probabilities is not None


class Transport(Protocol):
    """Sends one request of ``rows`` as the attacking client."""

    def send(self, rows: list[list[float]]) -> Reply: ...


class Monitor(Protocol):
    """What watches the capture during a local run: this client's findings so far."""

    def check(self) -> list[dict[str, Any]]: ...


def oracle(transport: Transport) -> Callable[[Any], Any]:
    """``transport`` as the red-team API's ``Oracle``: rows to probabilities, or
    ``redteam.strategies.Stopped`` with the API's error code and status (no backoff: that is
    ``Attacker``'s)."""
    import numpy as np

    from secure_endpoint.redteam.strategies import Stopped

    def ask(rows: Any) -> Any:
        reply = transport.send(np.asarray(rows, dtype=np.float64).tolist())
        if not reply.ok:
            raise Stopped(reply.error or f"http_{reply.status}", reply.status or None,
                          reply.detail)  # fmt: skip
        return np.asarray(reply.probabilities, dtype=np.float64)

    return ask


def body(rows: list[list[float]], body_format: str) -> bytes:
    """The request: whole numbers written as integers (as a client writes counts and flags;
    the request model's ``integer`` positions refuse ``62.0``)."""
    whole = [[int(v) if float(v).is_integer() else v for v in row] for row in rows]
    document: Any = whole if body_format == "rows" else {body_format: whole}
    return json.dumps(document, separators=(",", ":")).encode()


def parse_reply(status: int, content: bytes, rows: int) -> Reply:
    """The probabilities of a 2xx (``{"predictions": [...]}``, a list, one a CSV line, or
    per-row objects with ``probabilities``/``scores``: the positive class's), or the error."""
    try:
        document: Any = json.loads(content)
    except ValueError:
        document = None
        if 200 <= status < 300:
            try:
                values = [float(v) for v in content.decode().split()]
            except (ValueError, UnicodeDecodeError):
                return Reply(status, "unreadable_answer", None, content[:200].decode("replace"))
            document = values
    if not 200 <= status < 300:
        error = document.get("error") if isinstance(document, dict) else None
        detail = document.get("detail", "") if isinstance(document, dict) else ""
        return Reply(status, str(error or f"http_{status}"), None, str(detail))
    if isinstance(document, dict):
        document = document.get("predictions", document.get("outputs", document))
    if not isinstance(document, list):
        document = [document]
    values = []
    for item in document:
        value = item
        if isinstance(value, dict):
            value = value.get("probabilities", value.get("scores", value.get("score")))
        if isinstance(value, list) and value:
            value = value[-1]
        if not isinstance(value, int | float) or isinstance(value, bool):
            return Reply(status, "unreadable_answer", None, str(item)[:200])
        values.append(float(value))
    if len(values) != rows:
        return Reply(status, "unreadable_answer", None, f"{len(values)} answers to {rows} rows")
    return Reply(status, None, values)


@dataclass
class Outcome:
    """What happened, as the report says it."""

    started: float
    requests: int = 0
    rows_sent: int = 0
    rows_answered: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    retries: int = 0
    waited: float = 0.0
    repairs: int = 0
    """Requests sent again after a 400 taught a bound."""
    learnt: dict[str, list[float | None]] = field(default_factory=dict)
    stopped: dict[str, Any] = field(default_factory=dict)
    timeline: list[tuple[float, int, int]] = field(default_factory=list)
    """(time, status, rows answered so far) per request."""
    findings: list[dict[str, Any]] = field(default_factory=list)


_STOPS = {400: "invalid_body", 401: "unauthorized", 403: "forbidden"}


class Attacker:
    """One attacking client, a request at a time (``step``), so that a caller can pace it on
    any clock and interleave it with other clients (the demo does).

    A 429 ``throttled`` is backed off (1, 2, 4 ... seconds, ``max_retries`` times in a row)
    and the same rows sent again. With ``adapt``, a 400 whose detail names a position and the
    bound it broke (the request model's "0/13: 0.84 is greater than the maximum of 0.77")
    teaches the attacker that bound: the rows are clipped to what it learnt and sent again (at
    most ``max_repairs`` times in a run), and the strategy is told the answers to the clipped
    rows. Anything else that is not a 2xx ends the run."""

    def __init__(
        self,
        strategy: Strategy,
        transport: Transport,
        *,
        rate: float,
        clock: Callable[[], float],
        max_retries: int = 5,
        adapt: bool = True,
        max_repairs: int = 100,
    ) -> None:
        import numpy as np

        self.strategy, self.transport, self.clock = strategy, transport, clock
        self.gap = 1.0 / rate
        self.max_retries, self.adapt, self.max_repairs = max_retries, adapt, max_repairs
        self.outcome = Outcome(started=clock())
        self.reason: str | None = None
        self.last: Reply | None = None
        width = strategy.knowledge.width
        self.low, self.high = np.full(width, -np.inf), np.full(width, np.inf)
        self._rows: Any = None
        self._sending: Any = None
        self._throttled = 0

    @property
    def over(self) -> bool:
        return self.reason is not None or (self._rows is None and self.strategy.done())

    def step(self) -> float | None:
        """Send one request; the seconds to wait before the next, or None when it is over."""
        import numpy as np

        if self.over:
            return None
        outcome, strategy = self.outcome, self.strategy
        if self._rows is None:
            rows = strategy.next_queries()
            if not len(rows):
                return None
            self._rows, self._sending = rows, np.clip(rows, self.low, self.high)
        rows = self._rows
        reply = self.transport.send(self._sending.tolist())
        outcome.requests += 1
        outcome.rows_sent += len(rows)
        outcome.answers[reply.status] += 1
        self.last = reply
        if reply.ok:
            assert reply.probabilities is not None
            self._throttled = 0
            self._rows = None
            strategy.observe(rows, np.asarray(reply.probabilities))
            outcome.rows_answered += len(rows)
        outcome.timeline.append((self.clock(), reply.status, outcome.rows_answered))
        if reply.ok:
            return self.gap
        if (
            reply.status == 429
            and reply.error != "quota_exceeded"
            and self._throttled < self.max_retries
        ):
            wait = 2.0**self._throttled
            self._throttled += 1
            outcome.retries += 1
            outcome.waited += wait
            return wait
        if self._learn(reply):
            return self.gap
        self.reason = _STOPS.get(reply.status, reply.error or f"http_{reply.status}")
        if reply.status == 429:
            self.reason = reply.error or "throttled"
        return None

    def _learn(self, reply: Reply) -> bool:
        """Clip the pending rows to the bound a 400 names; False when there is none to learn."""
        import numpy as np

        if reply.status != 400 or not self.adapt or self.outcome.repairs >= self.max_repairs:
            return False
        learnt = _bound(reply.detail, self._sending)
        if learnt is None:
            return False
        column, side, value = learnt
        whole = bool(np.all(np.mod(self._sending[:, column], 1) == 0))
        if side == "max":
            self.high[column] = min(self.high[column], np.floor(value) if whole else value)
        else:
            self.low[column] = max(self.low[column], np.ceil(value) if whole else value)
        repaired = np.clip(self._rows, self.low, self.high)
        if np.array_equal(repaired, self._sending):
            return False
        self.outcome.repairs += 1
        self._sending = repaired
        return True

    def finish(self, quarantined: bool = False) -> Outcome:
        """The outcome, with what stopped it (``quarantined`` when the client was)."""
        import numpy as np

        outcome, reason, last, now = self.outcome, self.reason, self.last, self.clock()
        if reason is not None and quarantined:
            reason = "quarantined"
        names = self.strategy.knowledge.names
        low, high = self.low, self.high
        outcome.learnt = {
            names[j]: [None if np.isinf(low[j]) else float(low[j]),
                       None if np.isinf(high[j]) else float(high[j])]
            for j in range(len(names)) if np.isfinite(low[j]) or np.isfinite(high[j])
        }  # fmt: skip
        stopped = reason is not None and last is not None
        outcome.stopped = {
            "reason": reason or NOT_STOPPED,
            "status": last.status if stopped and last is not None else None,
            "error": last.error if stopped and last is not None else None,
            "detail": last.detail if stopped and last is not None else "",
            "afterQueries": outcome.rows_answered,
            "afterRequests": outcome.requests,
            "at": _iso(now),
            "seconds": round(now - outcome.started, 1),
        }
        return outcome


def execute(
    strategy: Strategy,
    transport: Transport,
    *,
    rate: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    max_retries: int = 5,
    adapt: bool = True,
    max_repairs: int = 100,
    monitor: Monitor | None = None,
    inspect_every: int = 25,
    on_finding: Callable[[dict[str, Any]], None] | None = None,
    quarantined: Callable[[], bool] = lambda: False,
) -> Outcome:
    """Loop ``strategy`` through ``transport`` (an ``Attacker``), one request every ``1 /
    rate`` seconds of ``clock``, until it is done or the endpoint stops it; with a
    ``monitor``, check it every ``inspect_every`` requests and tell ``on_finding`` the
    first finding."""
    attacker = Attacker(strategy, transport, rate=rate, clock=clock, max_retries=max_retries,
                        adapt=adapt, max_repairs=max_repairs)  # fmt: skip
    outcome = attacker.outcome
    while (wait := attacker.step()) is not None:
        last = attacker.last
        checking = monitor is not None and outcome.requests % inspect_every == 0
        if checking and monitor is not None and last is not None and last.ok:
            _watch(monitor, outcome, on_finding)
        sleep(wait)
    if monitor is not None:
        _watch(monitor, outcome, on_finding)
    return attacker.finish(quarantined())


_BOUND = re.compile(
    r"(?:^|/)(\d+): (-?[0-9.eE+-]+) is (greater|less) than the (maximum|minimum) of "
    r"(-?[0-9.eE+-]+)"
)
_GATEWAY_BOUND = re.compile(
    r"(greater|less) than the required (maximum|minimum) \((?:maximum|minimum): "
    r"(-?[0-9.eE+-]+), found: (-?[0-9.eE+-]+)\)"
)
"""API Gateway's words (``$context.error.validationErrorString``): "numeric instance is greater
than the required maximum (maximum: 12, found: 40)", without the position."""


def _bound(detail: str, sent: Any) -> tuple[int, str, float] | None:
    """(column, "max" or "min", bound) of a request model's range message about the rows
    ``sent``, else None. The local endpoint's message names the position; API Gateway's names
    only the value found, so the column is the one holding it (when only one does)."""
    import numpy as np

    width = sent.shape[1]
    found = _BOUND.search(detail)
    if found is not None:
        column, side, bound = int(found.group(1)), found.group(4), found.group(5)
    else:
        found = _GATEWAY_BOUND.search(detail)
        if found is None:
            return None
        side, bound = found.group(2), found.group(3)
        try:
            value = float(found.group(4))
        except ValueError:
            return None
        columns = np.flatnonzero((sent == value).any(axis=0))
        if len(columns) != 1:
            return None
        column = int(columns[0])
    try:
        limit = float(bound)
    except ValueError:
        return None
    if not 0 <= column < width:
        return None
    return column, "max" if side == "maximum" else "min", limit


def _watch(
    monitor: Monitor, outcome: Outcome, on_finding: Callable[[dict[str, Any]], None] | None
) -> None:
    new = monitor.check()
    first = not outcome.findings
    outcome.findings.extend(new)
    if new and first and on_finding is not None:
        on_finding(new[0])


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the command -----------------------------------------------------------------------------


def _attack(args: argparse.Namespace) -> int:
    try:
        import numpy as np

        from secure_endpoint.redteam import strategies
    except ModuleNotFoundError as error:
        raise Failure(
            f"attack needs numpy and scikit-learn ({error.name} is missing): "
            "pip install 'secure-endpoint[simulate]'"
        ) from None
    if args.queries < 1:
        raise Failure(f"--queries must be >= 1, got {args.queries}")
    if not 1 <= args.batch <= 1000:
        raise Failure(f"--batch must be from 1 to 1000, got {args.batch}")
    rate = 1.0 if args.rate is None else args.rate
    if not 0 < rate <= 1000:
        raise Failure(f"--rate must be in (0, 1000] requests per second, got {args.rate}")
    if args.max_retries < 0:
        raise Failure(f"--max-retries must be >= 0, got {args.max_retries}")
    name = args.strategy or DEFAULT_STRATEGY[args.kind]
    key = name if ":" in name else f"{args.kind}:{name}"
    if key not in strategies.STRATEGIES or not key.startswith(f"{args.kind}:"):
        known = sorted(k.split(":", 1)[1] for k in strategies.STRATEGIES if
                       k.startswith(f"{args.kind}:"))  # fmt: skip
        raise Failure(f"--strategy {name!r} is not a {args.kind} strategy; known: {known}")
    if args.secret_id is not None:
        local_only = [flag for flag, given in (
            ("--plan", args.plan != "10,20,10000"), ("--no-validation", args.no_validation),
            ("--quarantine-on-finding", args.quarantine_on_finding is not None),
            ("--no-inspect", args.no_inspect)) if given]  # fmt: skip
        if local_only:
            raise Failure(f"{', '.join(local_only)}: only with --local (a deployed endpoint's "
                          "usage plan, request model and quarantine are its own)")  # fmt: skip
    rng = np.random.default_rng(args.seed)
    args.adapt = (args.on_400 or ("stop" if args.kind == "ood" else "learn")) == "learn"
    with _one_thread():
        if args.local is not None:
            report = _run_local(args, key, rate, rng)
        else:
            report = _run_remote(args, key, rate, rng)
    text = json.dumps(report, indent=1) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        try:
            Path(args.output).write_text(text)
        except OSError as error:
            raise Failure(f"--output {args.output}: {error.strerror}") from None
    return EXIT_OK


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """The surrogates are small: one BLAS/OpenMP thread fits them faster than a pool that
    competes for a busy machine's cores (threadpoolctl comes with scikit-learn)."""
    try:
        from threadpoolctl import threadpool_limits
    except ModuleNotFoundError:  # pragma: no cover - scikit-learn brings it
        yield
        return
    with threadpool_limits(1):
        yield


def make_strategy(
    key: str,
    knowledge: Knowledge,
    rng: np.random.Generator,
    *,
    queries: int,
    batch: int,
    judge: Callable[[Any], Any] | None,
) -> Strategy:
    from secure_endpoint.redteam import strategies

    params: dict[str, Any] = {"max_queries": queries, "batch": batch}
    if key.startswith("extraction:"):
        params["judge"] = judge
    try:
        return strategies.make(key, knowledge, rng, **params)
    except ValueError as error:
        raise Failure(str(error)) from None


def _read_rows(path: Path, label: str | None) -> tuple[list[str], Any]:
    import numpy as np

    try:
        with path.open() as handle:
            header = handle.readline().strip().split(",")
        data = np.genfromtxt(path, delimiter=",", skip_header=1, ndmin=2)
    except (OSError, ValueError) as error:
        raise Failure(f"cannot read {path}: {error}") from None
    if label is not None:
        if label not in header:
            raise Failure(f"{path}: no column {label!r} (--label-column)")
        keep = [i for i, name in enumerate(header) if name != label]
        header, data = [header[i] for i in keep], data[:, keep]
    if data.shape[1] != len(header) or not np.isfinite(data).all():
        raise Failure(f"{path}: expected numbers in the {len(header)} columns of its header")
    return header, data


# --- local -----------------------------------------------------------------------------------


def _run_local(
    args: argparse.Namespace, key: str, rate: float, rng: np.random.Generator
) -> dict[str, Any]:
    from secure_endpoint.simulate.capture.model import TreeEnsemble
    from secure_endpoint.simulate.local_endpoint import LocalEndpoint, Quarantine, VirtualClock

    out: Path = args.local
    if not (out / "model.json").is_file():
        raise Failure(f"--local {out}: no model.json (python -m secure_endpoint.simulate.capture "
                      f"--out {out} writes one)")  # fmt: skip
    try:
        model = TreeEnsemble.load(out / "model.json")
    except (OSError, ValueError, KeyError) as error:
        raise Failure(f"--local {out}: model.json cannot be read: {error}") from None
    scenario = _scenario(out)
    baseline = ensure_baseline(out)
    knowledge = _local_knowledge(args, out, model, rng)
    plan = _plan(args.plan)
    clock = VirtualClock(_start_after(out, scenario))
    client = f"redteam-{args.kind}-{uuid.uuid4().hex[:8]}"  # a new client each run
    schema = None if args.no_validation else request_schema(baseline, args.body_format)
    endpoint = LocalEndpoint(
        model, out, endpoint_name=scenario.get("endpointName", "secure-endpoint-sim"),
        variant_name=scenario.get("variantName", "AllTraffic"), plan=plan, schema=schema,
        quarantine=Quarantine(mode=args.quarantine_on_finding or "plan"), clock=clock,
    )  # fmt: skip
    strategy = make_strategy(key, knowledge, rng, queries=args.queries, batch=args.batch,
                             judge=model.predict_proba)  # fmt: skip
    monitor = None
    if args.quarantine_on_finding:
        monitor = LiveMonitor(endpoint, baseline, client)

    def quarantine(finding: dict[str, Any]) -> None:
        endpoint.quarantine(client)

    outcome = execute(
        strategy, LocalTransport(endpoint, client, args.body_format), rate=rate, clock=clock,
        sleep=clock.sleep, max_retries=args.max_retries, adapt=args.adapt, monitor=monitor,
        inspect_every=max(1, args.inspect_every),
        on_finding=quarantine if args.quarantine_on_finding else None,
        quarantined=lambda: client in endpoint.quarantined,
    )  # fmt: skip
    endpoint.flush()
    report = _report(key, client, f"local:{out}", "simulated", strategy, outcome)
    report["usagePlan"] = None if plan is None else {
        "ratePerSecond": plan.rate_per_second, "burst": plan.burst,
        "quotaPerDay": plan.quota_per_day,
    }  # fmt: skip
    report["requestValidation"] = schema is not None
    report["capture"] = str(endpoint.capture_dir)
    if client in endpoint.quarantined:
        report["quarantined"] = {"at": _iso(endpoint.quarantined[client]),
                                 "mode": endpoint.quarantine_policy.mode}  # fmt: skip
    findings = outcome.findings
    if not args.no_inspect:
        findings = inspect(out / "capture", baseline, client)
    report["findings"] = findings
    report["firstFinding"] = first_finding(findings, outcome.started)
    return report


class LocalTransport:
    """Through an in-process ``LocalEndpoint`` as ``client``."""

    def __init__(self, endpoint: LocalEndpoint, client: str, body_format: str = "rows") -> None:
        self.endpoint, self.client, self.body_format = endpoint, client, body_format

    def send(self, rows: list[list[float]]) -> Reply:
        answer = self.endpoint.invoke(self.client, body(rows, self.body_format))
        return parse_reply(answer.status, answer.body, len(rows))


def _scenario(out: Path) -> dict[str, Any]:
    path = out / "scenario.json"
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise Failure(f"--local {out}: scenario.json cannot be read: {error}") from None
    parameters = document.get("parameters", {}) if isinstance(document, dict) else {}
    return parameters if isinstance(parameters, dict) else {}


def _start_after(out: Path, scenario: dict[str, Any]) -> float:
    """A minute after the latest capture object's hour under ``out/capture`` (or the scenario's
    end, or now), so that the attack's capture follows what is there."""
    latest = 0.0
    end = scenario.get("end")
    if isinstance(end, str):
        latest = datetime.fromisoformat(end.replace("Z", "+00:00")).timestamp()
    for hour in (out / "capture").glob("*/*/*/*/*/*"):
        parts = hour.parts[-4:]
        if all(part.isdigit() for part in parts):
            year, month, day, hour_of_day = map(int, parts)
            stamp = datetime(year, month, day, hour_of_day, tzinfo=UTC).timestamp() + 3600
            latest = max(latest, stamp)
    return latest + 60 if latest else time.time()


MEMBERSHIP_KEY = "membership.key"
"""The local run's membership key (``DIR/membership.key``, 0600): made with the baseline, so
that the inspector can recognise replayed training rows."""


def ensure_baseline(out: Path) -> Path:
    """``out/baseline``, built from ``out/training.csv`` (with the membership hashes of a key
    made for it, ``out/membership.key``) when it is not there yet."""
    import os
    import secrets

    baseline = out / "baseline"
    if (baseline / "statistics.json").is_file():
        return baseline
    training = out / "training.csv"
    if not training.is_file():
        raise Failure(f"--local {out}: no baseline/ and no training.csv to build it from")
    from secure_endpoint.cli.commands import main

    key = out / MEMBERSHIP_KEY
    if not key.exists():
        descriptor = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_hex(32).encode())
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(["baseline", "--training", str(training), "--label-column", "label",
                     "--output", str(baseline), "--membership-key-file", str(key)])  # fmt: skip
    if code != 0:
        raise Failure(f"secure-endpoint baseline failed on {training} (exit {code})")
    return baseline


def membership_key(baseline: Path) -> Path | None:
    """The local membership key beside ``baseline``, if there is one."""
    key = baseline.parent / MEMBERSHIP_KEY
    return key if key.is_file() else None


def request_schema(baseline: Path, body_format: str) -> dict[str, Any]:
    """The API's request model for ``baseline`` (``InputConstraints.from_baseline``)."""
    from secure_endpoint.constructs.input_constraints import InputConstraints, InputFormat

    try:
        constraints = InputConstraints.from_baseline(
            baseline, input_format=InputFormat(body_format), max_rows=1000
        )
    except ValueError as error:
        raise Failure(f"{baseline}: {error}") from None
    return constraints.json_schema()


def _local_knowledge(
    args: argparse.Namespace, out: Path, model: Any, rng: np.random.Generator
) -> Knowledge:
    from secure_endpoint.redteam.strategies import Knowledge
    from secure_endpoint.simulate.capture import population as pop

    training = None
    if (out / "training.csv").is_file():
        _, training = _read_rows(out / "training.csv", "label")
    if args.knowledge is not None:
        names, rows = _read_rows(args.knowledge, args.label_column)
        knowledge = Knowledge.from_rows(names, rows, rng)
    elif tuple(model.feature_names) == pop.FEATURE_NAMES:
        knowledge = Knowledge.from_simulator(rng, training_rows=training)
    else:
        raise Failure(f"--local {out}: the model is not the simulator's; pass --knowledge")
    return _with_candidates(args, knowledge, training, rng)


def _with_candidates(
    args: argparse.Namespace, knowledge: Knowledge, default: Any, rng: np.random.Generator
) -> Knowledge:
    import dataclasses

    if args.kind != "membership" or (knowledge.candidates is not None and args.candidates is None):
        return knowledge
    rows = default
    if args.candidates is not None:
        _, rows = _read_rows(args.candidates, args.label_column)
    if rows is None:
        raise Failure("--kind membership needs --candidates (rows believed to be training rows)")
    take = rng.choice(len(rows), size=min(200, len(rows)), replace=False)
    non_members = knowledge.holdout if knowledge.holdout is not None else knowledge.marginals
    return dataclasses.replace(knowledge, candidates=rows[take], non_members=non_members[:200])


def _plan(text: str) -> Any:
    from secure_endpoint.simulate.local_endpoint import UsagePlan

    if text == "none":
        return None
    try:
        rate, burst, quota = text.split(",")
        return UsagePlan(float(rate), int(burst), int(quota) if quota else None)
    except ValueError as error:
        raise Failure(f"--plan {text!r}: expected RATE,BURST,QUOTA like 10,20,10000 ({error})"
                      ) from None  # fmt: skip


def inspect(capture: Path, baseline: Path, client: str) -> list[dict[str, Any]]:
    """``inspect-capture`` over ``capture``: ``client``'s findings."""
    import tempfile

    from secure_endpoint.cli.commands import main

    if not capture.is_dir() or not any(capture.rglob("*.jsonl")):
        return []  # nothing reached the model
    with tempfile.TemporaryDirectory() as work:
        output = Path(work) / "findings.jsonl"
        key = membership_key(baseline)
        keyed = ["--membership-key-file", str(key)] if key is not None else []
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            code = main(["inspect-capture", "--capture", str(capture), "--baseline",
                         str(baseline), "--output", str(output), *keyed])  # fmt: skip
        if code != 0 or not output.is_file():
            raise Failure(f"inspect-capture failed on {capture} (exit {code})")
        lines = output.read_text().splitlines()
    return [f for f in map(json.loads, lines) if f.get("client_id") == client]


def first_finding(findings: list[dict[str, Any]], started: float) -> dict[str, Any] | None:
    """The earliest of ``findings`` (by the client's queries when it was raised), with the
    seconds from the attack's start."""
    if not findings:
        return None
    first = min(findings, key=lambda f: (f.get("queries") or 0, str(f.get("first_seen"))))
    seen = first.get("first_seen")
    seconds = None
    if isinstance(seen, str):
        moment = datetime.fromisoformat(seen.replace("Z", "+00:00")).timestamp()
        seconds = round(moment - started, 1)
    elif isinstance(seen, int | float):
        seconds = round(float(seen) - started, 1)
    return {"kind": first.get("kind"), "queries": first.get("queries"), "firstSeen": seen,
            "secondsAfterStart": seconds, "score": first.get("score")}  # fmt: skip


class LiveMonitor:
    """The payload detector over the capture as it is written (``--quarantine-on-finding``):
    the capture in ``DIR`` before the attack first, then each new object."""

    def __init__(self, endpoint: LocalEndpoint, baseline: Path, client: str) -> None:
        try:
            from secure_endpoint.runtime.payload.detector import DetectorConfig, PayloadDetector
            from secure_endpoint.runtime.payload.reference import PayloadReference
        except ModuleNotFoundError as error:
            raise Failure(f"--quarantine-on-finding needs the payload detector ({error.name} "
                          "is missing in this version)") from None  # fmt: skip
        from secure_endpoint.cli.baseline import read_membership_key
        from secure_endpoint.runtime.baseline import store

        key = read_membership_key(membership_key(baseline))
        reference = PayloadReference.from_baseline(store.load_baseline(baseline),
                                                   membership_key=key)  # fmt: skip
        self.detector = PayloadDetector(reference, DetectorConfig())
        self.endpoint, self.client = endpoint, client
        self.seen: set[Path] = set()

    def _new_captures(self) -> Iterable[Any]:
        from secure_endpoint.runtime.capture.records import Counts, read_lines

        self.endpoint.flush()
        paths = sorted(p for p in self.endpoint.capture_dir.rglob("*.jsonl") if p not in self.seen)
        self.seen.update(paths)
        lines = (line for path in paths for line in path.open("rb"))
        return read_lines(lines, Counts())

    def check(self) -> list[dict[str, Any]]:
        found = self.detector.run(self._new_captures())
        return [f.to_json() for f in found if f.client_id == self.client]


# --- remote ----------------------------------------------------------------------------------


class ClientTransport:
    """Through the deployed API with ``InferenceClient`` (token cached, a 401 refreshed once)."""

    def __init__(self, client: Any, body_format: str = "rows") -> None:
        self.client, self.body_format = client, body_format

    def send(self, rows: list[list[float]]) -> Reply:
        from secure_endpoint.cli.client import NetworkError, TokenError

        try:
            response = self.client.invoke(body(rows, self.body_format))
        except NetworkError as error:
            return Reply(0, "network", None, str(error))
        except TokenError as error:
            return Reply(401, "unauthorized", None, str(error))
        return parse_reply(response.status, response.body, len(rows))


def _run_remote(
    args: argparse.Namespace, key: str, rate: float, rng: np.random.Generator
) -> dict[str, Any]:
    from secure_endpoint.cli.client import InferenceClient, TokenCache
    from secure_endpoint.cli.invoke import read_credentials, token_cache_dir

    if args.knowledge is None:
        raise Failure("--secret-id needs --knowledge: natural rows of the model's features")
    credentials = read_credentials(args.secret_id, args.region, args.profile)
    try:
        client = InferenceClient(credentials, TokenCache(token_cache_dir()),
                                 allow_insecure_http=args.insecure_http_for_testing)  # fmt: skip
    except ValueError as error:
        raise Failure(str(error)) from None
    return run_remote(args, key, rate, rng, client)


def run_remote(
    args: argparse.Namespace,
    key: str,
    rate: float,
    rng: np.random.Generator,
    client: Any,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """The attack through ``client`` (an ``InferenceClient``); its report."""

    from secure_endpoint.redteam.strategies import Knowledge

    names, rows = _read_rows(args.knowledge, args.label_column)
    knowledge = Knowledge.from_rows(names, rows, rng, holdout_rows=args.holdout_rows)
    knowledge = _with_candidates(args, knowledge, None, rng)
    transport = ClientTransport(client, args.body_format)
    truth = None
    if key.startswith("extraction:") and knowledge.holdout is not None:
        truth = _holdout_answers(transport, knowledge.holdout, args.max_retries, sleep)
    answered = truth

    def judge(rows: Any) -> Any:
        """The target's answers to the holdout rows, asked once before the attack."""
        assert answered is not None
        if len(rows) != len(answered):
            raise ValueError(f"the judge knows {len(answered)} holdout rows, not {len(rows)}")
        return answered

    strategy = make_strategy(key, knowledge, rng, queries=args.queries, batch=args.batch,
                             judge=judge if truth is not None else None)  # fmt: skip
    outcome = execute(strategy, transport, rate=rate, clock=clock, sleep=sleep,
                      max_retries=args.max_retries, adapt=args.adapt)  # fmt: skip
    if outcome.rows_answered == 0 and outcome.stopped["reason"] == "network":
        raise Failure(outcome.stopped["detail"], EXIT_HTTP_ERROR)
    report = _report(key, client.credentials.client_id, credentials_url(client), "real",
                     strategy, outcome)  # fmt: skip
    report["holdoutQueries"] = 0 if truth is None else len(truth)
    report["firstFinding"] = None
    report["findings"] = "the deployed payload monitor's: its alarm, or secure-endpoint " \
        "inspect-capture --capture s3://<capture bucket>/capture/ --baseline DIR"  # fmt: skip
    return report


def _holdout_answers(
    transport: Transport, holdout: Any, max_retries: int, sleep: Callable[[float], None]
) -> Any:
    """The target's answers to the holdout rows (requests of 100 rows, 429s backed off): what
    the surrogate's agreement is measured against. Refused: the run does not start."""
    import numpy as np

    answers: list[float] = []
    for start in range(0, len(holdout), 100):
        chunk = holdout[start : start + 100].tolist()
        reply = transport.send(chunk)
        for retry in range(max_retries):
            if reply.status != 429 or reply.error == "quota_exceeded":
                break
            sleep(2.0**retry)
            reply = transport.send(chunk)
        if not reply.ok:
            code = EXIT_HTTP_ERROR if reply.status in (0, 429) or reply.status >= 500 else 2
            raise Failure(f"the holdout rows (to measure the copy's agreement on) were "
                          f"refused: HTTP {reply.status} {reply.error}: {reply.detail}",
                          code)  # fmt: skip
        assert reply.probabilities is not None
        answers.extend(reply.probabilities)
    return np.asarray(answers)


def credentials_url(client: Any) -> str:
    return str(client.credentials.api_url)


def _report(
    key: str, client: str, target: str, clock: str, strategy: Strategy, outcome: Outcome
) -> dict[str, Any]:
    return {
        "strategy": key,
        "target": target,
        "client_id": client,
        "clock": clock,
        "started": _iso(outcome.started),
        "queries": {"rowsSent": outcome.rows_sent, "rowsAnswered": outcome.rows_answered,
                    "requests": outcome.requests},
        "answers": {str(status): n for status, n in sorted(outcome.answers.items())},
        "backoff": {"retries": outcome.retries, "waitedSeconds": round(outcome.waited, 1)},
        "repairs": {"requests": outcome.repairs, "learntBounds": outcome.learnt},
        "stopped": outcome.stopped,
        "report": strategy.report(),
    }  # fmt: skip

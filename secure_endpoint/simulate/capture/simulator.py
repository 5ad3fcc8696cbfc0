"""The run: train the model, build the clients, then hour by hour collect their requests, answer
them, and write that hour's capture objects and ground truth (memory bounded by one hour).

    python -m secure_endpoint.simulate.capture --out DIR [--seed 7] [--hours 48]
        [--drift FEATURES:KIND:START-END[:MAGNITUDE] ... | --drift none]
        [--clients PROFILE=N ...] [--malformed-rate 0.005] [--training-rows 20000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from secure_endpoint.simulate.capture import attacks as _attacks  # noqa: F401 - registers attack:*
from secure_endpoint.simulate.capture import population as pop
from secure_endpoint.simulate.capture.layout import (
    CAPTURE_PREFIX,
    CSV_CONTENT_TYPES,
    JSON_CONTENT_TYPES,
    ObjectWriter,
    Payload,
    capture_line,
    encoding,
    inference_id,
    iso_time,
    object_key,
)
from secure_endpoint.simulate.capture.model import TreeEnsemble, train
from secure_endpoint.simulate.capture.profiles import (
    PROFILES,
    Client,
    Context,
    Drift,
    DriftKind,
    DriftSpec,
    Request,
    Sent,
)

START = 1_772_409_600  # 2026-03-02T00:00:00Z, a Monday
DEFAULT_CLIENTS: Mapping[str, int] = {
    "legit:interactive": 30,
    "legit:batch": 3,
    "legit:periodic": 6,
    "legit:replay": 1,
    "legit:canary": 1,
}
MALFORMED_KINDS = ("truncated", "wrong_width", "string", "nan")
"""``truncated``: the capture line is cut short (not JSON); the others are valid lines whose
payload is: a row one value short or long, a value that is a string, a NaN."""
_ERROR = Payload("application/json", '{"error":"could not parse the input"}')


def default_drift(hours: float) -> tuple[DriftSpec, ...]:
    """A gradual drift of the spending features over 40-85% of the run and a step change of
    the utilization over 60-80%."""
    return (
        DriftSpec(("avg_transaction_amount", "monthly_spend"), "gradual", 0.4 * hours,
                  0.85 * hours, 1.0),
        DriftSpec(("utilization_ratio",), "step", 0.6 * hours, 0.8 * hours, 1.0),
    )  # fmt: skip


def parse_drift(text: str) -> DriftSpec:
    """``FEATURE[,FEATURE...]:gradual|step:START-END[:MAGNITUDE]`` (hours after the start)."""
    parts = text.split(":")
    if len(parts) not in (3, 4) or "-" not in parts[2]:
        raise ValueError(
            f"--drift {text!r}: expected FEATURES:gradual|step:START-END[:MAGNITUDE], like "
            "'income,credit_limit:gradual:20-40:1.5'"
        )
    start, end = parts[2].split("-", 1)
    try:
        window = float(start), float(end)
        magnitude = float(parts[3]) if len(parts) == 4 else 1.0
    except ValueError:
        raise ValueError(f"--drift {text!r}: the window and magnitude must be numbers") from None
    kind: DriftKind
    if parts[1] == "gradual":
        kind = "gradual"
    elif parts[1] == "step":
        kind = "step"
    else:
        raise ValueError(f"--drift {text!r}: kind must be 'gradual' or 'step', got {parts[1]!r}")
    return DriftSpec(tuple(parts[0].split(",")), kind, window[0], window[1], magnitude)


@dataclass(frozen=True)
class Config:
    out: Path
    seed: int = 7
    hours: float = 48.0
    start: int = START
    """Epoch seconds of the first hour (on an hour boundary)."""
    clients: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CLIENTS))
    """Clients per registered profile."""
    drift: tuple[DriftSpec, ...] | None = None
    """Default: - ``default_drift(hours)``; ``()`` for none."""
    malformed_rate: float = 0.005
    training_rows: int = 20_000
    volume: float = 1.0
    """Scales the interactive clients' request rates."""
    endpoint_name: str = "secure-endpoint-sim"
    variant_name: str = "AllTraffic"
    prefix: str = CAPTURE_PREFIX
    json_content_types: tuple[str, ...] = JSON_CONTENT_TYPES
    csv_content_types: tuple[str, ...] = CSV_CONTENT_TYPES
    """The endpoint's ``CaptureContentTypeHeader``: other content types are captured BASE64."""
    object_minutes: int = 10
    """Each hour is written as objects of this many minutes."""

    def __post_init__(self) -> None:
        if not 0 < self.hours <= 24 * 31:
            raise ValueError(f"hours must be in (0, 744], got {self.hours}")
        if self.start % 3600:
            raise ValueError(f"start must be on an hour boundary, got {self.start}")
        unknown = sorted(set(self.clients) - set(PROFILES))
        if unknown:
            raise ValueError(f"unknown profiles {unknown}; registered: {sorted(PROFILES)}")
        if any(n < 0 for n in self.clients.values()):
            raise ValueError(f"client counts must be >= 0, got {dict(self.clients)}")
        if not 0 <= self.malformed_rate <= 0.5:
            raise ValueError(f"malformed_rate must be in [0, 0.5], got {self.malformed_rate}")
        if self.training_rows < 100:
            raise ValueError(f"training_rows must be >= 100, got {self.training_rows}")
        if not 0 < self.volume <= 100:
            raise ValueError(f"volume must be in (0, 100], got {self.volume}")
        if self.object_minutes not in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60):
            raise ValueError(f"object_minutes must divide 60, got {self.object_minutes}")
        for spec in self.drifts:
            if spec.end_hour > self.hours:
                raise ValueError(
                    f"drift of {spec.features} ends at hour {spec.end_hour}, after the run's "
                    f"{self.hours} hours"
                )

    @property
    def drifts(self) -> tuple[DriftSpec, ...]:
        return default_drift(self.hours) if self.drift is None else self.drift

    @property
    def end(self) -> int:
        return self.start + int(self.hours * 3600)


@dataclass
class Summary:
    requests: int = 0
    rows: int = 0
    lines: int = 0
    objects: int = 0
    by_profile: Counter[str] = field(default_factory=Counter)
    malformed: Counter[str] = field(default_factory=Counter)
    encodings: Counter[str] = field(default_factory=Counter)


class _Ids:
    """Seeded identifiers: Cognito-like client ids and UUIDs (request, event, object ids)."""

    _ALPHABET = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def client(self) -> str:
        return "".join(self.rng.choice(self._ALPHABET, 26).tolist())

    def uuid(self) -> str:
        return str(uuid.UUID(bytes=self.rng.bytes(16), version=4))


def _body(rows: np.ndarray[Any, np.dtype[np.float64]], content_type: str) -> list[str]:
    """The lines (CSV) or rows (JSON, each in brackets) of a request body, to assemble."""
    lines = list(pop.csv_lines(rows))
    return lines if content_type == "text/csv" else [f"[{line}]" for line in lines]


def _assemble(parts: list[str], content_type: str) -> str:
    if content_type == "text/csv":
        return "\n".join(parts) + "\n"
    return '{"instances":[' + ",".join(parts) + "]}"


def _response(probabilities: list[float], content_type: str) -> Payload:
    if content_type == "text/csv":
        return Payload("text/csv; charset=utf-8", "\n".join(map(repr, probabilities)))
    return Payload("application/json", json.dumps({"predictions": probabilities}))


def _malform(parts: list[str], kind: str, rng: np.random.Generator, csv: bool) -> list[str]:
    """Break one row of a body: a value dropped or added, a string, or a NaN."""
    i = int(rng.integers(len(parts)))
    row = parts[i] if csv else parts[i][1:-1]
    values = row.split(",")
    if kind == "wrong_width":
        values = values[:-1] if rng.random() < 0.5 else [*values, "0"]
    else:
        j = int(rng.integers(len(values)))
        values[j] = ("n/a" if csv else '"n/a"') if kind == "string" else ("nan" if csv else "NaN")
    joined = ",".join(values)
    return [*parts[:i], joined if csv else f"[{joined}]", *parts[i + 1 :]]


class _Run:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.ids = _Ids(np.random.default_rng([config.seed, 2]))
        self.faults = np.random.default_rng([config.seed, 3])
        self.summary = Summary()

    def clients(self, context: Context) -> list[Client]:
        built: list[Client] = []
        for position, (name, count) in enumerate(sorted(self.config.clients.items())):
            for k in range(count):
                rng = np.random.default_rng([self.config.seed, 1, position, k])
                built.append(PROFILES[name](self.ids.client(), rng, context))
        return built

    def hour(
        self, t0: int, clients: list[Client], context: Context
    ) -> list[tuple[Client, Request]]:
        end = min(t0 + 3600, self.config.end)
        sent = [(c, r) for c in clients for r in c.hour(float(t0), context) if t0 <= r.time < end]
        sent.sort(key=lambda pair: pair[1].time)
        return sent

    def lines(
        self, sent: list[tuple[Client, Request]], context: Context, truth: TextIO
    ) -> Iterator[tuple[float, str]]:
        """Each request's capture line (with its time); writes its truth line."""
        answered = [r.rows for _, r in sent if r.rows is not None]
        probabilities = (
            context.model.predict_proba(np.concatenate(answered)).tolist() if answered else []
        )
        at = 0
        config = self.config
        for client, request in sent:
            request_id, event_id = self.ids.uuid(), self.ids.uuid()
            ident = None if client.direct else inference_id(client.client_id, request_id)
            malformed = None
            if request.rows is not None:
                n = len(request.rows)
                csv = request.content_type == "text/csv"
                parts = _body(request.rows, request.content_type)
                if config.malformed_rate and self.faults.random() < config.malformed_rate:
                    malformed = MALFORMED_KINDS[int(self.faults.integers(len(MALFORMED_KINDS)))]
                if malformed not in (None, "truncated"):
                    parts = _malform(parts, str(malformed), self.faults, csv)
                body = _assemble(parts, request.content_type)
                answer = probabilities[at : at + n]
                at += n
                response = (
                    _ERROR
                    if malformed not in (None, "truncated")
                    else _response(answer, "text/csv" if csv else "application/json")
                )
            else:
                assert request.body is not None
                assert request.response is not None
                n = 0
                body, response = request.body, request.response
            payload = Payload(request.content_type, body)
            line = capture_line(
                request=payload, response=response, event_id=event_id, inference=ident,
                epoch=request.time, json_types=config.json_content_types,
                csv_types=config.csv_content_types,
            )  # fmt: skip
            if malformed == "truncated":
                line = line[: int(self.faults.integers(10, len(line) - 1))]
            how = encoding(request.content_type, config.json_content_types,
                           config.csv_content_types)  # fmt: skip
            record = {
                "eventId": event_id,
                "inferenceId": ident,
                "time": iso_time(request.time),
                "epoch": round(request.time, 3),
                "client_id": None if client.direct else client.client_id,
                "profile": client.profile,
                "legitimate": client.legitimate,
                "rows": n,
                "contentType": request.content_type,
                "encoding": how,
                "drifted": request.drifted,
                "malformed": malformed,
                "replay_of": request.replay_of,
                "payloadSha256": hashlib.sha256(body.encode()).hexdigest(),
                **request.extra,
            }
            summary = self.summary
            summary.requests += 1
            summary.rows += n
            summary.by_profile[client.profile] += 1
            summary.encodings[how] += 1
            if malformed:
                summary.malformed[malformed] += 1
            if client.legitimate and malformed is None and request.replay_of is None:
                context.history.append(Sent(ident, payload, response, request.drifted))
            yield request.time, line
            truth.write(json.dumps(record, separators=(",", ":")) + "\n")

    def write_hour(
        self, t0: int, sent: list[tuple[Client, Request]], context: Context, writer: ObjectWriter,
        truth: TextIO,
    ) -> None:  # fmt: skip
        config = self.config
        slice_seconds = config.object_minutes * 60
        group: list[str] = []
        group_slice = -1
        first = 0.0
        for epoch, line in self.lines(sent, context, truth):
            at_slice = int(epoch - t0) // slice_seconds
            if at_slice != group_slice and group:
                self._flush(writer, first, group)
                group = []
            if not group:
                group_slice, first = at_slice, epoch
            group.append(line)
        if group:
            self._flush(writer, first, group)

    def _flush(self, writer: ObjectWriter, first: float, lines: list[str]) -> None:
        config = self.config
        key = object_key(config.prefix, config.endpoint_name, config.variant_name, first,
                         self.ids.uuid())  # fmt: skip
        writer.write(key, lines)


def generate(config: Config) -> Summary:
    """Write ``training.csv``, ``model.json``, ``capture/...``, ``truth.jsonl`` and
    ``scenario.json`` into ``config.out``."""
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    rows, labels = pop.training_set(config.seed, config.training_rows)
    pop.write_training_csv(out / "training.csv", rows, labels)
    trained = train(rows, labels, pop.FEATURE_NAMES, seed=config.seed)
    model_sha256 = trained.ensemble.save(out / "model.json")
    context = Context(
        start=config.start, end=config.end, model=trained, training_rows=rows,
        drift=Drift(config.drifts, config.start), volume=config.volume,
    )  # fmt: skip
    run = _Run(config)
    clients = run.clients(context)
    writer = ObjectWriter(out)
    with (out / "truth.jsonl").open("w") as truth:
        for t0 in range(config.start, config.end, 3600):
            run.write_hour(t0, run.hour(t0, clients, context), context, writer, truth)
    run.summary.lines, run.summary.objects = writer.lines, writer.objects
    scenario = {
        "parameters": {
            "seed": config.seed, "hours": config.hours, "start": iso_time(config.start),
            "end": iso_time(config.end), "malformedRate": config.malformed_rate,
            "trainingRows": config.training_rows, "volume": config.volume,
            "endpointName": config.endpoint_name, "variantName": config.variant_name,
            "prefix": config.prefix, "jsonContentTypes": list(config.json_content_types),
            "csvContentTypes": list(config.csv_content_types),
        },
        "captureRoot": f"{config.prefix}/{config.endpoint_name}/{config.variant_name}",
        "features": list(pop.FEATURE_NAMES),
        "label": pop.LABEL,
        "model": {"file": "model.json", "sha256": model_sha256},
        "drift": [
            {
                "features": list(spec.features), "kind": spec.kind, "magnitude": spec.magnitude,
                "start": iso_time(config.start + spec.start_hour * 3600),
                "full": iso_time(config.start + spec.full_hour * 3600),
                "end": iso_time(config.start + spec.end_hour * 3600),
                "startHour": spec.start_hour, "fullHour": spec.full_hour,
                "endHour": spec.end_hour,
            }
            for spec in config.drifts
        ],
        "clients": [
            {"client_id": None if c.direct else c.client_id, "profile": c.profile,
             "legitimate": c.legitimate, **c.parameters()}
            for c in clients
        ],
        "counts": {
            "requests": run.summary.requests, "rows": run.summary.rows,
            "lines": run.summary.lines, "objects": run.summary.objects,
            "byProfile": dict(sorted(run.summary.by_profile.items())),
            "malformed": dict(sorted(run.summary.malformed.items())),
            "encodings": dict(sorted(run.summary.encodings.items())),
        },
    }  # fmt: skip
    (out / "scenario.json").write_text(json.dumps(scenario, indent=1) + "\n")
    return run.summary


def load_model(out: Path) -> TreeEnsemble:
    """The model a run wrote (JSON, scored with numpy)."""
    return TreeEnsemble.load(out / "model.json")


def _clients(values: list[str]) -> dict[str, int]:
    counts = dict(DEFAULT_CLIENTS)
    for value in values:
        name, _, count = value.partition("=")
        if not count.isdigit():
            raise argparse.ArgumentTypeError(f"--clients {value!r}: expected PROFILE=N")
        counts[name] = int(count)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m secure_endpoint.simulate.capture",
        description="SageMaker data-capture traffic against a small trained model, with the "
        "training CSV and the ground truth beside it.",
    )
    parser.add_argument("--out", type=Path, required=True, help="directory to write into")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--hours", type=float, default=48.0, help="simulated period (default 48)")
    parser.add_argument(
        "--drift", action="append", default=None, metavar="FEATURES:KIND:START-END[:MAGNITUDE]",
        help="a population drift (repeatable; hours after the start; magnitude in standard "
        "deviations of the features' scores); 'none' for none. Default: a gradual drift of "
        "avg_transaction_amount and monthly_spend over 40-85%% of the run and a step change of "
        "utilization_ratio over 60-80%%",
    )  # fmt: skip
    parser.add_argument(
        "--clients", action="append", default=[], metavar="PROFILE=N",
        help=f"clients of a profile (repeatable; profiles: {', '.join(sorted(PROFILES))})",
    )  # fmt: skip
    parser.add_argument("--malformed-rate", type=float, default=0.005)
    parser.add_argument("--training-rows", type=int, default=20_000)
    parser.add_argument("--volume", type=float, default=1.0, help="scales interactive rates")
    args = parser.parse_args(argv)
    try:
        drift = None
        if args.drift is not None:
            drift = () if args.drift == ["none"] else tuple(parse_drift(d) for d in args.drift)
        config = Config(
            args.out, seed=args.seed, hours=args.hours, clients=_clients(args.clients),
            drift=drift, malformed_rate=args.malformed_rate, training_rows=args.training_rows,
            volume=args.volume,
        )  # fmt: skip
    except (ValueError, argparse.ArgumentTypeError) as error:
        parser.error(str(error))
    started = time.perf_counter()
    summary = generate(config)
    elapsed = time.perf_counter() - started
    print(
        f"wrote {args.out} in {elapsed:.1f} s (seed {args.seed}, {args.hours:g} h): "
        f"{summary.requests:,} requests, {summary.rows:,} rows, {summary.objects:,} objects"
    )
    for profile, count in sorted(summary.by_profile.items()):
        print(f"  {profile:22} {count:>9,} requests")
    print(f"  encodings {dict(summary.encodings)}; malformed {dict(summary.malformed)}")
    for spec in config.drifts:
        print(f"  drift {spec.kind:8} {','.join(spec.features)}: hours {spec.start_hour:g}-"
              f"{spec.end_hour:g} (full at {spec.full_hour:g}), {spec.magnitude:g} sd")  # fmt: skip

"""Step 3 of the demo: the model-aware layer, on simulated data capture.

The capture simulator (``secure_endpoint.simulate.capture``) trains a small model and writes a
day and a half of SageMaker data capture with a population drift in it; then, as a user would:

1. ``secure-endpoint baseline`` builds the training baseline (Model Monitor's formats);
2. ``InputConstraints.from_baseline`` compiles it into the API's request model, which is run
   here, as API Gateway runs it (a JSON Schema draft 4 validator), on training rows and on rows
   a broken or hostile client sends: the 400s the gateway would answer;
3. the drift check (``inspect-capture``'s core) judges each hour client by client, and the
   report plots each feature's distance from training with the hours the world moved.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from demo.console import Say, require

NEEDS = (
    ("sklearn", "the capture simulator's model (the simulate extra)"),
    ("jsonschema", "checking bodies against the request model as API Gateway does"),
)
HOURS = 36.0
QUICK_HOURS = 12.0
"""``--quick`` and the tests: the reference hours and a few judged ones."""
REFERENCE_HOURS = 6


@dataclass(frozen=True)
class Refusal:
    what: str
    body: str
    accepted: bool
    detail: str


@dataclass
class ModelInputsResult:
    features: int
    training_rows_accepted: int
    training_rows_checked: int
    refusals: list[Refusal]
    hours: list[float]
    distances: dict[str, list[float]]
    world: list[list[str]]
    truth: list[dict[str, Any]]
    episodes: list[dict[str, Any]]
    captured_rows: int
    skipped: dict[str, int] = field(default_factory=dict)

    def console_lines(self) -> list[str]:
        refused = sum(1 for r in self.refusals if not r.accepted)
        lines = [
            f"baseline of {self.features} features; the compiled request model accepts "
            f"{self.training_rows_accepted} of {self.training_rows_checked} training rows and "
            f"refuses {refused} of the {len(self.refusals)} bad bodies with 400 invalid_body",
            f"{self.captured_rows:,} captured rows judged hour by hour; unreadable lines "
            f"skipped: {sum(self.skipped.values())}",
        ]
        for episode in self.episodes:
            lines.append(
                f"drift: {', '.join(episode['features'])} from {episode['first_seen']} to "
                f"{episode['last_seen']} ({episode['windows']} h)"
            )
        truth = "; ".join(
            f"{', '.join(d['features'])} {d['kind']} from hour {d['startHour']:.1f} to "
            f"{d['endHour']:.1f}"
            for d in self.truth
        )
        lines.append(f"simulated drift (ground truth): {truth or 'none'}")
        return lines


def run(work: Path, say: Say, *, seed: int = 7, hours: float = HOURS) -> ModelInputsResult:
    require(NEEDS)
    from secure_endpoint.cli import main as cli
    from secure_endpoint.simulate.capture.simulator import Config, generate

    out = work / "capture-sim"
    say(f"simulating {hours:.0f} h of data capture (a small model, its clients, a drift)")
    with contextlib.redirect_stdout(io.StringIO()):
        generate(Config(out=out, seed=seed, hours=hours))
        code = cli(["baseline", "--training", str(out / "training.csv"), "--label-column",
                    "label", "--output", str(out / "baseline")])  # fmt: skip
    if code != 0:
        raise RuntimeError("secure-endpoint baseline failed on the simulator's training data")
    scenario = json.loads((out / "scenario.json").read_text())
    accepted, checked, refusals = _gateway(out)
    result = _drift(out, scenario)
    result.training_rows_accepted, result.training_rows_checked = accepted, checked
    result.refusals = refusals
    return result


def _gateway(out: Path) -> tuple[int, int, list[Refusal]]:
    """The compiled request model on training rows and on bad bodies."""
    import jsonschema

    from secure_endpoint.constructs.input_constraints import InputConstraints

    schema = InputConstraints.from_baseline(out / "baseline", max_rows=100).json_schema()
    validator = jsonschema.Draft4Validator(schema)
    rows = np.genfromtxt(out / "training.csv", delimiter=",", skip_header=1)[:500, :-1]
    names = (out / "training.csv").read_text().split("\n", 1)[0].split(",")[:-1]
    integer = {i for i, f in enumerate(schema["items"]["items"]) if f.get("type") == "integer"}
    good = [[int(v) if i in integer else float(v) for i, v in enumerate(row)] for row in rows]
    accepted = sum(1 for row in good if validator.is_valid([row]))
    first = good[0]
    widest = max(range(len(names)), key=lambda i: schema["items"]["items"][i].get("maximum", 0))
    too_big = list(first)
    too_big[widest] = schema["items"]["items"][widest]["maximum"] * 10 + 1
    stringy = list(first)
    stringy[1] = "NaN"
    cases = [
        ("a training row", [first]),
        (f"{names[widest]} ten times its training maximum", [too_big]),
        ("a row one value short", [first[:-1]]),
        ("a row one value long", [[*first, 0]]),
        ('"NaN" as a string', [stringy]),
        ("101 rows (more than the request model's 100)", [first] * 101),
        ("another shape", {"instances": [first]}),
    ]
    refusals = []
    for what, body in cases:
        errors = sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.path])
        detail = _why(errors[0]) if errors else ""
        shown = json.dumps(body)
        refusals.append(
            Refusal(what, shown if len(shown) < 70 else shown[:67] + "...", not errors, detail)
        )
    return accepted, len(good), refusals


def _why(error: Any) -> str:
    """What rule a body broke, and where, without echoing the body."""
    where = "/".join(str(part) for part in error.path) or "the body"
    value = json.dumps(error.validator_value)
    return f"{where}: {error.validator} {value if len(value) < 40 else value[:37] + '...'}"


def _drift(out: Path, scenario: dict[str, Any]) -> ModelInputsResult:
    from datetime import datetime

    from secure_endpoint.runtime.baseline.store import load_baseline
    from secure_endpoint.runtime.capture.drift import (
        Reference,
        shifts,
        windows,
        world_episodes,
    )
    from secure_endpoint.runtime.capture.records import Counts, read_lines

    reference = Reference.from_baseline(load_baseline(out / "baseline"))
    counts = Counts()
    files = sorted((out / "capture").rglob("*.jsonl"))
    reports = windows(
        read_lines((line for path in files for line in path.open("rb")), counts), reference
    )
    moved = shifts(reports, reference, REFERENCE_HOURS * 3600)
    origin = datetime.fromisoformat(
        scenario["parameters"]["start"].replace("Z", "+00:00")
    ).timestamp()
    distances: dict[str, list[float]] = {f.name: [] for f in reference.features}
    for report in reports:
        for feature in report.features:
            distances[feature.name].append(feature.linf)
    return ModelInputsResult(
        features=len(reference.features),
        training_rows_accepted=0,
        training_rows_checked=0,
        refusals=[],
        hours=[(r.start - origin) / 3600 for r in reports],
        distances=distances,
        world=[[s.name for s in window if s.world] for window in moved],
        truth=list(scenario["drift"]),
        episodes=list(world_episodes(reports, moved)),
        captured_rows=counts.rows,
        skipped=dict(counts.skipped),
    )


def markdown(result: ModelInputsResult) -> list[str]:
    """The report's section on the model-aware layer."""
    lines = [
        "## The model-aware layer: input constraints and drift",
        "",
        "The capture simulator trained a small model and wrote SageMaker data capture for its "
        f"clients; `secure-endpoint baseline` built the baseline ({result.features} features) "
        "from its training CSV.",
        "",
        "**At the gateway.** `InputConstraints.from_baseline` compiled the baseline into the "
        f"API's request model. It accepts {result.training_rows_accepted} of "
        f"{result.training_rows_checked} training rows, and API Gateway would answer these "
        "bodies:",
        "",
        "| body | answer | why |",
        "|---|---|---|",
    ]
    for refusal in result.refusals:
        answer = "passed to the model" if refusal.accepted else "400 invalid_body"
        lines.append(f"| {refusal.what} | {answer} | {refusal.detail or '-'} |")
    lines += [
        "",
        "**Drift.** Each hour of capture was judged client by client, each client against its "
        f"own first {REFERENCE_HOURS} hours. `drift.png`: each drifted feature's distance from "
        "the training data (which live traffic never matches exactly), the simulated drift "
        "shaded, and the hours in which enough clients moved together marked.",
        "",
    ]
    for episode in result.episodes:
        lines.append(
            f"- finding: `{', '.join(episode['features'])}` from {episode['first_seen']} to "
            f"{episode['last_seen']} ({episode['windows']} hours, score {episode['score']})"
        )
    if not result.episodes:
        lines.append("- no drift finding")
    lines.append("")
    return lines


def plot(result: ModelInputsResult, path: Path) -> None:
    """Each drifted feature's hourly distance from training; truth shaded; findings marked."""
    from demo.plots import figure

    fig, axes = figure(11, 4.6)
    drifted = sorted({f for d in result.truth for f in d["features"]})
    others = [f for f in result.distances if f not in drifted]
    hours = np.asarray(result.hours)
    if others:
        typical = np.median(np.asarray([result.distances[f] for f in others]), axis=0)
        axes.plot(hours, typical, color="#999999", lw=1.5, label="other features (median)")
    for name in drifted:
        values = np.asarray(result.distances.get(name, []))
        (line,) = axes.plot(hours, values, lw=2, label=name)
        flagged = [i for i, names in enumerate(result.world) if name in names]
        axes.scatter(hours[flagged], values[flagged], color=line.get_color(), s=40, zorder=3)
    for drift in result.truth:
        axes.axvspan(drift["startHour"], drift["endHour"], color="#d62728", alpha=0.08)
    axes.axvspan(hours[0] if len(hours) else 0, REFERENCE_HOURS, color="#000000", alpha=0.05)
    axes.set_xlabel("hours of capture (grey: the clients' reference hours; red: simulated drift)")
    axes.set_ylabel("L-inf distance from training")
    axes.set_title("Drift per feature; dots: hours in which enough clients moved together")
    axes.legend(loc="upper left", fontsize=9, frameon=False)
    axes.grid(alpha=0.3)
    fig.savefig(path)

"""Step 3 of the demo: ``report.md`` and its plots, from the synth summary and the loop.

The detection table scores the monitor's verdicts in the loop and the static threshold baseline
with ``benchmarks/detection.py``'s ``evaluate`` (the same labels and rules as the benchmark).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from demo import plots
from demo.loop import LOG_GROUP, REGION, STATE_BUCKET, LoopResult

if TYPE_CHECKING:
    from benchmarks.detection import Evaluation
    from demo.model_inputs import ModelInputsResult
    from demo.payload import PayloadResult

MONITOR = "monitor (in the loop)"
THRESHOLD = "static threshold (WAF Security Automations style)"
DEPLOY = "make deploy"


class Summary(Protocol):
    """What step 1 returns (``demo.synth_summary.SynthSummary``)."""

    def markdown(self) -> str: ...


def evaluations(result: LoopResult) -> dict[str, Evaluation]:
    """The monitor's verdicts and the threshold baseline's, against the simulator's truth."""
    from benchmarks.detection import baseline_verdicts, evaluate

    return {
        MONITOR: evaluate(result.truth, result.log, result.verdicts()),
        THRESHOLD: evaluate(result.truth, result.log, baseline_verdicts(result.truth, result.log)),
    }


def write(
    out: Path,
    result: LoopResult,
    summary: Summary | None,
    *,
    synth_note: str = "",
    model_inputs: ModelInputsResult | None = None,
    payload: PayloadResult | None = None,
) -> list[Path]:
    """``out/report.md``, the plots and the monitor's output; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    scored = evaluations(result)
    images = plots.write_all(result, scored, out)
    if model_inputs is not None:
        from demo import model_inputs as step

        step.plot(model_inputs, out / "drift.png")
        images.append(out / "drift.png")
    if payload is not None:
        from demo import payload as act

        images += act.plot(payload, out)
    output = out / "monitor-output.jsonl"
    output.write_text("".join(run.output for run in result.all_runs()), encoding="utf-8")
    report = out / "report.md"
    report.write_text(
        markdown(result, scored, summary, synth_note, model_inputs, payload), encoding="utf-8"
    )
    return [report, *images, output]


def markdown(
    result: LoopResult,
    scored: dict[str, Evaluation],
    summary: Summary | None,
    synth_note: str = "",
    model_inputs: ModelInputsResult | None = None,
    payload: PayloadResult | None = None,
) -> str:
    from demo import model_inputs as step
    from demo import payload as act

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# secure-endpoint: the demo report",
        "",
        f"Written by `make demo` on {when}, offline: no AWS account was used. Step 1 synthesizes "
        "the sample app; step 2 runs the anomaly monitor's real code against a local AWS emulator "
        "(moto) fed with simulated traffic; step 3 runs the model-aware layer on simulated data "
        "capture; step 4 runs red-team attacks on a local model server that writes real data "
        "capture, with the payload inspector and quarantine; step 5 wrote this report.",
        "",
        "## 1. The sample app, synthesized and checked",
        "",
        _nested(summary.markdown()) if summary is not None else f"_Not run: {synth_note}_",
        "",
        *_loop_section(result),
        *_detection_section(result, scored),
        *(step.markdown(model_inputs) if model_inputs is not None else []),
        *(act.markdown(payload) if payload is not None else []),
        *_limits(result),
        "## Deploy it",
        "",
        f"`{DEPLOY}` deploys the sample app to the account and region of your AWS credentials "
        "(it refuses politely without them); `make smoke` then calls the deployed API.",
        "",
    ]
    return "\n".join(parts)


def _nested(markdown: str) -> str:
    """Step 1's markdown under this report's section: its headings one level down."""
    lines, fenced = [], False
    for line in markdown.strip().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        lines.append(f"#{line}" if line.startswith("#") and not fenced else line)
    return "\n".join(lines)


def _loop_section(result: LoopResult) -> list[str]:
    options = result.options
    truth = result.truth
    counts = truth.counts.get("evaluated", {})
    lines = [
        "## 2. The security loop, in a local AWS emulator",
        "",
        "> **Logs Insights is emulated locally.** moto stores log events but cannot run Logs "
        "Insights `stats` queries, so `demo.local_insights` answers the monitor's "
        f"{result.insights_queries} queries over the events read back from the moto log group "
        "(with `FilterLogEvents`), as Logs Insights computes them. Everything else is the "
        "monitor's own code: `lambdas/anomaly_monitor/handler.py`'s `run` with its real adapters "
        "(state store, alert topic, block list writing the WAF IP sets and the DynamoDB table).",
        "",
        f"In moto ({REGION}, in the demo's own process; nothing is left running):",
        "",
        "| resource | name |",
        "| --- | --- |",
        *(f"| {what} | `{name}` |" for what, name in result.resources),
        "",
        f"**Traffic** (`secure_endpoint.simulate`, seed {options.seed}, "
        f"{options.clients} clients): "
        f"{options.baseline_hours:g} h of clean baseline, then {options.hours:g} h with seven "
        f"attacks and a legitimate surge; {result.log_events:,} access-log lines written to "
        f"`{LOG_GROUP}` in {result.batches} `PutLogEvents` calls. The simulator records which "
        "principal did what and when (the ground truth used below).",
        "",
        "| kind | requests in the evaluated period |",
        "| --- | ---: |",
        *(f"| {kind} | {n:,} |" for kind, n in counts.items()),
        "",
        "![Traffic](traffic.png)",
        "",
        "**What the monitor did**",
        "",
        *_bullets(result.console_lines()),
        "",
        "![Anomaly scores per client](scores.png)",
        "",
        "A client's window is flagged when its score reaches the threshold and beats the "
        "client's own record so far, or when a hard rule hits (the score is then 1.0); the "
        "thresholds come from the model read back from the state bucket.",
        "",
        *_blocks_table(result),
        "![Blocked addresses over time](blocks.png)",
        "",
        *_first_alert(result),
        *_metrics(result),
    ]
    return lines


def _bullets(lines: list[str]) -> list[str]:
    """Console lines (a continuation starts with two spaces) as Markdown bullets."""
    out: list[str] = []
    for line in lines:
        if line.startswith("  ") and out:
            out[-1] += " " + line.strip()
        else:
            out.append(f"- {line}")
    return out


def _blocks_table(result: LoopResult) -> list[str]:
    first: dict[str, int] = {}
    reason: dict[str, str] = {}
    ends: dict[str, int] = {}
    released: dict[str, int] = {}
    for run in result.all_runs():
        for address in run.blocked:
            first.setdefault(address, run.now)
        for record in run.records:
            reason.setdefault(record["address"], record["reason"].split("; ")[0])
            ends[record["address"]] = int(record["expiresAt"])
        for address in run.result.get("expired", []):
            released[address] = run.now
    origin = result.evaluated_start

    def at(moment: int | None) -> str:
        return "-" if moment is None else f"+{(moment - origin) / 3600:.2f} h"

    lines = [
        "Each address's block, as read back from the WAF IP sets and the block table after each "
        "run (times in hours from the start of the evaluated period; a block that a later run "
        "flags again is extended):",
        "",
        "| address | simulated as | blocked at | block ends (TTL) | released by the run at | "
        "first reason |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for address in sorted(first, key=lambda a: (first[a], a)):
        lines.append(
            f"| `{address}` | {result.kind_of(address)} | {at(first[address])} | "
            f"{at(ends.get(address))} | {at(released.get(address))} | {reason.get(address, '')} |"
        )
    for address in result.refused():
        lines.append(
            f"| `{address}` | {result.kind_of(address)} | never: inside the allowlist "
            f"`{', '.join(result.allowlist)}` | - | - | flagged, block refused |"
        )
    return [*lines, ""]


def _first_alert(result: LoopResult) -> list[str]:
    alerts = result.alerts()
    alert = next((a for a in alerts if a.get("blocked")), alerts[0] if alerts else None)
    if alert is None:
        return []
    shown: dict[str, Any] = dict(alert)
    shown["findings"] = alert.get("findings", [])[:3]
    return [
        f"**An alert**, as the on-call queue received it ({len(alerts)} in all; findings cut to "
        "three here):",
        "",
        "```json",
        json.dumps(shown, indent=1),
        "```",
        "",
    ]


def _metrics(result: LoopResult) -> list[str]:
    totals: dict[str, float] = {}
    highest: dict[str, float] = {}
    for run in result.all_runs():
        for document in run.metrics:
            if "Client" in document:
                continue
            for definition in document["_aws"]["CloudWatchMetrics"]:
                for metric in definition["Metrics"]:
                    name = metric["Name"]
                    value = document[name]
                    total = float(sum(value) if isinstance(value, list) else value)
                    totals[name] = totals.get(name, 0.0) + total
                    highest[name] = max(highest.get(name, total), total)
    rows = [f"| {name} | {totals[name]:,.4g} | {highest[name]:,.4g} |" for name in sorted(totals)]
    return [
        "**Metrics** the monitor wrote: CloudWatch embedded metric format on its standard output, "
        f"namespace `SecureEndpoint/Anomaly`, over its {len(result.all_runs())} runs (and an "
        "`AnomalyScore` per client, plotted above). Every line it printed is in "
        "`monitor-output.jsonl`.",
        "",
        "| metric | sum over the runs | highest in one run |",
        "| --- | ---: | ---: |",
        *rows,
        "",
    ]


def _percent(value: float) -> str:
    return "-" if value != value else f"{100 * value:.1f}%"


def _detection_section(result: LoopResult, scored: dict[str, Evaluation]) -> list[str]:
    from secure_endpoint.simulate.traffic import ATTACK_KINDS, LEGIT_KINDS

    names = list(scored)
    head = "| attack | principals | " + " | ".join(
        f"{name}: caught (principals flagged) | window recall | delay" for name in names
    )
    lines = [
        "## 3. Detection, against a static threshold",
        "",
        "The monitor's verdict on every (window, principal) of the evaluated period, from its "
        "runs above, against the static threshold of `benchmarks/baseline.py` (per address: over "
        "100 requests in 5 minutes, or 50 client errors in a minute, as AWS WAF Security "
        "Automations does), both scored by `benchmarks/detection.py` against the simulator's "
        "truth. An attack is caught when at least 80% of its principals are flagged at least once; "
        "the delay is the median time from its start to the end of the first flagged window.",
        "",
        head + " |",
        "| --- | ---: |" + " --- | ---: | ---: |" * len(names),
    ]
    first = scored[names[0]]
    for kind in ATTACK_KINDS:
        cells = [kind.removeprefix("attack:"), str(first.kinds[kind].principals)]
        for name in names:
            r = scored[name].kinds[kind]
            delay = "-" if r.delay_minutes is None else f"{r.delay_minutes:.0f} min"
            cells += [
                f"{'yes' if r.caught else '**no**'} ({r.flagged_principals}/{r.principals})",
                _percent(r.window_share),
                delay,
            ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "| legitimate | windows | " + " | ".join(f"{n}: windows flagged" for n in names) + " |",
        "| --- | ---: |" + " ---: |" * len(names),
    ]
    for kind in ("legit (all)", *LEGIT_KINDS):
        cells = [kind.removeprefix("legit:"), f"{first.kinds[kind].windows:,}"]
        for name in names:
            r = scored[name].kinds[kind]
            cells.append(f"{r.flagged_windows:,} ({_percent(r.window_share)})")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        *(f"- {name}: {scored[name].verdict()}" for name in names),
        "",
        "![Detection against the threshold baseline](detection.png)",
        "",
        "One small simulated run: these numbers move with the seed and the traffic's size. "
        "`make bench` runs the full detection benchmark (24 h, 300 clients).",
        "",
    ]
    return lines


def _limits(result: LoopResult) -> list[str]:
    return [
        "## What this demo does not show",
        "",
        "- Logs Insights itself (emulated, see above), nor API Gateway, Cognito, the WAF's own "
        "rules or SageMaker serving requests: the access-log lines are simulated, in the format "
        "the API writes them.",
        "- The traffic does not react to the blocks: a blocked address's requests still appear "
        "in the log as the simulator made them (in AWS the WAF would refuse them).",
        "- The metrics are read from what the monitor printed (EMF); nothing turns them into "
        "CloudWatch metrics or alarms here.",
        f"- Blocks last {result.options.block_ttl_seconds / 3600:g} h here (the construct's "
        "default is 1 h), so that some end during the loop and the rest when the clock is moved "
        "past the TTL; the monitor runs once per 5-minute window, faster than real time.",
        f"- The monitor's state bucket (`{STATE_BUCKET}`) holds its model, its history and the "
        "alert markers; the SageMaker model artifacts bucket is not involved in the loop.",
        "",
    ]

"""``python -m demo`` (what ``make demo`` runs after setting up): the three steps in order.

1. the sample app synthesized with all five cdk-nag packs and cfn-lint, and summarised
   (``demo.synth_summary``);
2. the security loop: the anomaly monitor's real code against moto, in this process
   (``demo.loop``);
3. the model-aware layer on simulated data capture: baseline, the gateway's request model,
   drift (``demo.model_inputs``);
4. payload abuse: the local model server writing real capture, legitimate clients and the
   red-team attacks, the payload inspector and quarantine (``demo.payload``);
5. the report, ``demo-report/report.md`` and its plots (``demo.report``).

Exit status: 0 when every step ran, 2 for a bad environment or a failed check (``DemoError``:
the message says what to do).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demo import loop, model_inputs, payload, plots
from demo.console import INDENT, DemoError, Say, require

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Options:
    out: Path = ROOT / "demo-report"
    cdk_out: Path = ROOT / "cdk.out"  # the usual place: the report stays small
    skip_synth: bool = False
    loop: loop.LoopOptions = field(default_factory=loop.LoopOptions)
    capture_hours: float = model_inputs.HOURS  # the simulated data capture of step 3
    payload_hours: float = payload.HOURS  # the payload act of step 4


@dataclass(frozen=True)
class Outcome:
    summary: Any  # demo.synth_summary.SynthSummary, or None when step 1 did not run
    loop: loop.LoopResult
    files: list[Path]
    seconds: float
    payload: Any = None  # demo.payload.PayloadResult of step 4


def run(options: Options, say: Say = print) -> Outcome:
    """Every step; ``say`` prints a line."""
    require(
        (*loop.NEEDS, *plots.NEEDS, *model_inputs.NEEDS, *payload.NEEDS)
    )  # before the slow first step, not after it
    started = time.perf_counter()
    say("secure-endpoint demo: the whole security loop, locally (no AWS account needed)")
    summary, note = _step_one(options, say)

    say("[2/5] The security loop against a local AWS emulator (moto, in this process)")
    step = time.perf_counter()
    with loop.scratch() as work:
        result = loop.run(options.loop, Path(work), say)
    for line in result.console_lines():
        say(f"{INDENT}{line}")
    say(f"{INDENT}done in {time.perf_counter() - step:.1f} s")

    say("[3/5] The model-aware layer: a training baseline, input constraints, drift")
    step = time.perf_counter()
    with loop.scratch() as work:
        inputs = model_inputs.run(
            Path(work), lambda line: say(f"{INDENT}{line}"), hours=options.capture_hours
        )
    for line in inputs.console_lines():
        say(f"{INDENT}{line}")
    say(f"{INDENT}done in {time.perf_counter() - step:.1f} s")

    say("[4/5] Payload abuse: red-team attacks on the local model, the inspector, quarantine")
    step = time.perf_counter()
    with loop.scratch() as work:
        abuse = payload.run(
            Path(work), lambda line: say(f"{INDENT}{line}"), hours=options.payload_hours
        )
    for line in abuse.console_lines():
        say(f"{INDENT}{line}")
    say(f"{INDENT}done in {time.perf_counter() - step:.1f} s")

    from demo import report

    say("[5/5] The report and its plots")
    step = time.perf_counter()
    files = report.write(
        options.out, result, summary, synth_note=note, model_inputs=inputs, payload=abuse
    )
    shown = ", ".join(path.name for path in files[1:])
    say(f"{INDENT}{_relative(files[0])} with {shown}; done in {time.perf_counter() - step:.1f} s")
    seconds = time.perf_counter() - started
    say("")
    say(f"Report: {_relative(files[0])}   (the demo took {seconds:.0f} s)")
    say(f"Deploy to your own AWS account: {report.DEPLOY}")
    return Outcome(summary, result, files, seconds, abuse)


def _step_one(options: Options, say: Say) -> tuple[Any, str]:
    if options.skip_synth:
        note = "skipped (--skip-synth)"
        say(f"[1/5] Synth summary: {note}")
        return None, note
    from demo import synth_summary  # imports the CDK: only when this step runs

    say("[1/5] Synthesize the sample app with all five cdk-nag packs and cfn-lint")
    step = time.perf_counter()
    summary = synth_summary.run(
        options.out, cdk_out=options.cdk_out, say=lambda line: say(f"{INDENT}{line}")
    )
    for line in summary.console_lines():
        say(f"{INDENT}{line}")
    say(f"{INDENT}done in {time.perf_counter() - step:.1f} s")
    return summary, ""


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Options.out, help="report directory")
    parser.add_argument("--skip-synth", action="store_true", help="skip step 1 (fast)")
    parser.add_argument(
        "--quick", action="store_true", help="small traffic (1 h evaluated, 12 clients)"
    )
    parser.add_argument("--seed", type=int, default=loop.LoopOptions.seed)
    args = parser.parse_args(argv)
    base = loop.QUICK if args.quick else loop.LoopOptions()
    options = Options(
        out=args.out,
        skip_synth=args.skip_synth,
        capture_hours=model_inputs.QUICK_HOURS if args.quick else model_inputs.HOURS,
        payload_hours=payload.QUICK_HOURS if args.quick else payload.HOURS,
        loop=loop.LoopOptions(
            hours=base.hours,
            baseline_hours=base.baseline_hours,
            clients=base.clients,
            seed=args.seed,
            block_ttl_seconds=base.block_ttl_seconds,
        ),
    )
    try:
        run(options)
    except DemoError as error:
        print(f"\ndemo: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

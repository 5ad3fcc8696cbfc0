"""The gateway's request model on the capture simulator's requests: what it lets through and what
it turns away, by kind of request, and how fast it is checked.

Simulates 24 h of capture (with its population drift and malformed requests), builds the
baseline from the run's training CSV, compiles ``InputConstraints.from_baseline`` (10% margin)
and runs every captured JSON request body through the compiled model with a JSON Schema draft 4
validator, as API Gateway would before SageMaker sees it. Prints, per kind of request (from the
simulator's ground truth), how many were accepted and refused; nothing is asserted.

    python benchmarks/gateway_constraints.py [--hours 24] [--margin 0.1]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

import jsonschema

from secure_endpoint.cli import main as cli
from secure_endpoint.constructs.input_constraints import InputConstraints, InputFormat
from secure_endpoint.simulate.capture.simulator import Config, generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--margin", type=float, default=0.1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "sim"
        with contextlib.redirect_stdout(io.StringIO()):
            generate(Config(out=out, seed=5, hours=args.hours))
            cli(["baseline", "--training", str(out / "training.csv"), "--label-column", "label",
                 "--output", str(out / "baseline")])  # fmt: skip
        constraints = InputConstraints.from_baseline(
            out / "baseline", margin=args.margin, input_format=InputFormat.INSTANCES
        )
        validator = jsonschema.Draft4Validator(constraints.json_schema())
        truth = {}
        for line in (out / "truth.jsonl").open():
            record = json.loads(line)
            kind = record["malformed"] or ("drifted" if record["drifted"] else record["profile"])
            truth[record["eventId"]] = kind
        tally: Counter[tuple[str, bool]] = Counter()
        checked, csv_bodies, started = 0, 0, time.process_time()
        for path in sorted((out / "capture").rglob("*.jsonl")):
            for line in path.open():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # a cut capture line: no body to check
                part = event["captureData"]["endpointInput"]
                data = part["data"]
                if part["encoding"] == "BASE64":
                    data = base64.b64decode(data).decode()
                kind = truth.get(event["eventMetadata"]["eventId"], "?")
                if "csv" in part.get("observedContentType", ""):
                    csv_bodies += 1  # text/csv: the WAF checks its characters, not this model
                    continue
                try:
                    body = json.loads(data)
                except ValueError:
                    tally[(kind, False)] += 1  # not JSON: API Gateway refuses it too
                    continue
                if isinstance(body, list):
                    body = {"instances": body}
                tally[(kind, validator.is_valid(body))] += 1
                checked += 1
        seconds = time.process_time() - started
    kinds = sorted({kind for kind, _ in tally})
    print(f"{args.hours:.0f} h of simulated capture, margin {args.margin:.0%}:")
    print(f"  {'request kind':24} {'accepted':>9} {'refused':>8}")
    for kind in kinds:
        print(f"  {kind:24} {tally[(kind, True)]:9,d} {tally[(kind, False)]:8,d}")
    print(
        f"checked {checked:,} JSON bodies in {seconds:.1f} s CPU ({checked / seconds:,.0f} per s);"
    )
    print(f"{csv_bodies:,} text/csv bodies left to the WAF's character check")


if __name__ == "__main__":
    main()

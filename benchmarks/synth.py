"""Synth time of the sample app (all five nag packs) against a bare stack with one REST API.

Each runs in a fresh interpreter, as ``cdk synth`` runs the app, five times, interleaved with the
other; the median is printed. Bundled Lambda dependencies and resolved framework images are
cached after the first run, as on a developer machine; the figure without the image cache (every
synth importing the SageMaker SDK) is printed too.

    .venv/bin/python benchmarks/synth.py
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BARE = """
from aws_cdk import App, Stack
from aws_cdk import aws_apigateway as apigw
app = App()
stack = Stack(app, "Bare")
api = apigw.RestApi(stack, "Api")
api.root.add_method("GET", apigw.MockIntegration())
app.synth()
"""
RUNS = 5


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_cpu(command: list[str], **extra_env: str) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the Python process and its node kernel)."""
    with tempfile.TemporaryDirectory() as outdir:
        env = {**os.environ, "CDK_OUTDIR": outdir,
               "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", **extra_env}  # fmt: skip
        cpu, start = _children_cpu(), time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)  # noqa: S603
        return time.perf_counter() - start, _children_cpu() - cpu


def timed(command: list[str], **extra_env: str) -> float:
    return timed_cpu(command, **extra_env)[0]


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    python = sys.executable
    timed([python, "app.py"])  # warm the bundling cache
    runs: dict[str, list[tuple[float, float]]] = {
        "bare": [], "sample": [], "bare_nv": [], "sample_nv": []
    }  # fmt: skip
    for _ in range(RUNS):  # interleaved, so that a busy moment weighs on all alike
        runs["bare"].append(timed_cpu([python, "-c", BARE]))
        runs["sample"].append(timed_cpu([python, "app.py"]))
        # CDK's built-in CloudFormation validation off: what the rest of each synth costs
        runs["bare_nv"].append(timed_cpu([python, "-c", BARE], CDK_VALIDATION="false"))
        runs["sample_nv"].append(timed_cpu([python, "app.py"], CDK_VALIDATION="false"))
    wall = {name: [run[0] for run in pairs] for name, pairs in runs.items()}
    cpu = {name: [run[1] for run in pairs] for name, pairs in runs.items()}
    bare, sample = statistics.median(wall["bare"]), statistics.median(wall["sample"])
    bare_cpu, sample_cpu = statistics.median(cpu["bare"]), statistics.median(cpu["sample"])
    uncached = statistics.median(
        timed([python, "app.py"], SECURE_ENDPOINT_IMAGE_CACHE="off") for _ in range(RUNS)
    )
    print(f"median of {RUNS} interleaved runs (min-max)")
    print(f"bare stack with one REST API: {_spread(wall['bare'])} wall, {_spread(cpu['bare'])} CPU")
    print(f"sample app, five nag packs:   {_spread(wall['sample'])} wall, "
          f"{_spread(cpu['sample'])} CPU")  # fmt: skip
    print(f"ratio:                        {sample / bare:6.2f}x wall (target: at most 1.5x)")
    # CPU time is steadier than wall time on a shared machine; it also counts the threads
    # node compiles CDK's built-in CloudFormation validator (WebAssembly) with, in both.
    pairs = zip(cpu["bare"], cpu["sample"], strict=True)
    per_pair = ", ".join(f"{app_cpu / bare_run:.2f}" for bare_run, app_cpu in pairs)
    print(f"CPU ratio:                    {sample_cpu / bare_cpu:6.2f}x (per pair: {per_pair})")
    bare_nv, sample_nv = statistics.median(cpu["bare_nv"]), statistics.median(cpu["sample_nv"])
    print(f"CPU without CDK's built-in validation: bare {bare_nv:.2f} s, sample {sample_nv:.2f} s;")
    print(f"  the validation itself: bare {bare_cpu - bare_nv:.2f} s, sample "
          f"{sample_cpu - sample_nv:.2f} s")  # fmt: skip
    print(f"sample app, no image cache:   {uncached:6.2f} s ({uncached / bare:.2f}x)")


if __name__ == "__main__":
    main()

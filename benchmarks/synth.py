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


def main() -> None:
    python = sys.executable
    timed([python, "app.py"])  # warm the bundling cache
    bares, samples = [], []
    for _ in range(RUNS):  # interleaved, so that a busy moment weighs on both alike
        bares.append(timed_cpu([python, "-c", BARE]))
        samples.append(timed_cpu([python, "app.py"]))
    bare, sample = (statistics.median(run[0] for run in runs) for runs in (bares, samples))
    bare_cpu, sample_cpu = (statistics.median(run[1] for run in runs) for runs in (bares, samples))
    uncached = statistics.median(
        timed([python, "app.py"], SECURE_ENDPOINT_IMAGE_CACHE="off") for _ in range(RUNS)
    )
    print(f"bare stack with one REST API: {bare:6.2f} s (median of {RUNS})")
    print(f"sample app, five nag packs:   {sample:6.2f} s (median of {RUNS})")
    print(f"ratio:                        {sample / bare:6.2f}x (target: at most 1.5x)")
    # CPU time is steadier than wall time on a shared machine; it also counts the threads
    # node compiles CDK's built-in CloudFormation validator (WebAssembly) with, in both.
    print(f"CPU, bare / sample app:       {bare_cpu:6.2f} s / {sample_cpu:.2f} s "
          f"({sample_cpu / bare_cpu:.2f}x)")  # fmt: skip
    print(f"sample app, no image cache:   {uncached:6.2f} s ({uncached / bare:.2f}x)")


if __name__ == "__main__":
    main()

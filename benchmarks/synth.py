"""Synth time of the sample app (all five nag packs) against a bare stack with one REST API.

Each runs in a fresh interpreter, as ``cdk synth`` runs the app, five times, interleaved with the
other; the median is printed. Bundled Lambda dependencies and resolved framework images are
cached after the first run, as on a developer machine; the figure without the image cache (every
synth importing the SageMaker SDK) is printed too.

    .venv/bin/python benchmarks/synth.py
"""

from __future__ import annotations

import os
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


def timed(command: list[str], **extra_env: str) -> float:
    with tempfile.TemporaryDirectory() as outdir:
        env = {**os.environ, "CDK_OUTDIR": outdir,
               "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", **extra_env}  # fmt: skip
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)  # noqa: S603
        return time.perf_counter() - start


def main() -> None:
    python = sys.executable
    timed([python, "app.py"])  # warm the bundling cache
    bares, samples = [], []
    for _ in range(RUNS):  # interleaved, so that a busy moment weighs on both alike
        bares.append(timed([python, "-c", BARE]))
        samples.append(timed([python, "app.py"]))
    bare, sample = statistics.median(bares), statistics.median(samples)
    uncached = statistics.median(
        timed([python, "app.py"], SECURE_ENDPOINT_IMAGE_CACHE="off") for _ in range(RUNS)
    )
    print(f"bare stack with one REST API: {bare:6.2f} s (median of {RUNS})")
    print(f"sample app, five nag packs:   {sample:6.2f} s (median of {RUNS})")
    print(f"ratio:                        {sample / bare:6.2f}x (target: at most 2x)")
    print(f"sample app, no image cache:   {uncached:6.2f} s ({uncached / bare:.2f}x)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A CDK app of your own that uses secure-endpoint as an installed library: one stack, one
endpoint, every cdk-nag pack of the library checking it at synth.

    pip install secure-endpoint        # or a wheel, a path, a git URL: see README.md
    cdk synth -c model_data_url=s3://<bucket>/model.tar.gz -c model_sha256=<64 hex>
"""

from __future__ import annotations

from typing import Any

from aws_cdk import App, Stack
from constructs import Construct

from secure_endpoint import ApiClient, HostingOptions, SecureEndpoint, compliance

# Placeholders that synthesize; pass your model's with -c (or write them here).
MODEL_DATA_URL = "s3://my-models/churn/model.tar.gz"
MODEL_SHA256 = "0" * 64


class InferenceStack(Stack):
    """Composes one SecureEndpoint; nothing else."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model_data_url: str,
        model_sha256: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.endpoint = SecureEndpoint(
            self,
            "Endpoint",
            model_data_url=model_data_url,
            model_sha256=model_sha256,
            hosting=HostingOptions(framework="sklearn", framework_version="1.2-1"),
            clients=[ApiClient("partner-a", rate_limit=50, burst_limit=100, quota_per_day=100_000)],
        )


def main() -> None:
    app = App()
    InferenceStack(
        app,
        "MyInference",
        model_data_url=str(app.node.try_get_context("model_data_url") or MODEL_DATA_URL),
        model_sha256=str(app.node.try_get_context("model_sha256") or MODEL_SHA256),
    )
    compliance.add_packs(app)
    app.synth()


if __name__ == "__main__":
    main()

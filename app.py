#!/usr/bin/env python3
"""The sample app: one stack with one SecureEndpoint, checked by every cdk-nag pack.

The only place that reads context or the environment. Every setting has a default that
synthesizes; deploy with your own model:

    cdk deploy -c model_data_url=s3://my-bucket/model.tar.gz -c model_sha256=<64 hex>

Let the anomaly monitor block addresses and disable blocking clients' API keys:

    cdk deploy -c auto_block=true -c disable_api_keys=true

Require the model's signature (README, "Model integrity"):

    cdk deploy ... -c model_signature=<base64> -c model_signing_key_arn=arn:aws:kms:...

Refuse rows unlike the training data at the gateway (README, "Input constraints"):

    cdk deploy ... -c input_baseline=baseline/   # statistics.json + constraints.json
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_cdk import Annotations, App, Environment, Stack
from aws_cdk import aws_kms as kms
from constructs import Construct

from secure_endpoint import (
    SPAMHAUS_DROP,
    SPAMHAUS_DROP_V6,
    TOR_EXIT_NODES,
    ApiClient,
    ArtifactOptions,
    DataCaptureOptions,
    HostingOptions,
    InputConstraints,
    MonitorOptions,
    SecureEndpoint,
    WafOptions,
    compliance,
)

SAMPLE_MODEL_URL = "s3://secure-endpoint-sample-models/sklearn/model.tar.gz"
SAMPLE_MODEL_SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
# The ready-made feeds ``-c threat_intel_feeds='["spamhaus-drop","tor-exit-nodes"]'`` names.
_FEEDS = {feed.name: feed for feed in (SPAMHAUS_DROP, SPAMHAUS_DROP_V6, TOR_EXIT_NODES)}
SHIELD_SAMPLE_REGION = "eu-west-1"
SAMPLE_CLIENTS = [{"name": "partner-a", "rate_limit": 50, "burst_limit": 100,
                   "quota_per_day": 100_000}]  # fmt: skip
SMOKE_CLIENT = {"name": "smoke-no-invoke", "scopes": ["smoke"], "rate_limit": 1,
                "burst_limit": 2, "quota_per_day": 100}  # fmt: skip
"""With ``-c smoke_client=true``: a client that may not invoke (its only scope is another), whose
token ``make smoke`` uses to show the 403; small limits, and it can be left out again."""


def _context(app: App, name: str, default: Any = None) -> Any:
    """A context value; JSON strings (as ``-c name='[...]'`` gives them) are decoded."""
    value = app.node.try_get_context(name)
    if value is None:
        return default
    if isinstance(value, str) and (value[:1] in ("[", "{") or value in ("true", "false")):
        return json.loads(value)
    return value


class SampleStack(Stack):
    """Composes a SecureEndpoint from the app's settings; nothing else."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: dict[str, Any],
                 signing_key_arn: str | None = None, **kwargs: Any) -> None:  # fmt: skip
        super().__init__(scope, construct_id, **kwargs)
        artifact = dict(settings.get("artifact", {}))
        if signing_key_arn:
            artifact["signing_key"] = kms.Key.from_key_arn(self, "ModelSigningKey", signing_key_arn)
        settings = settings | {"artifact": ArtifactOptions(**artifact)}
        self.endpoint = SecureEndpoint(self, "Endpoint", **settings)
        if settings["model_data_url"] == SAMPLE_MODEL_URL:
            Annotations.of(self).add_warning_v2(
                "secure-endpoint:sample-model",
                "The sample model URL is a placeholder: deploy with "
                "-c model_data_url=s3://... -c model_sha256=<digest> of your own artifact.",
            )


def _feeds(names: list[str]) -> list[Any]:
    unknown = [name for name in names if name not in _FEEDS]
    if unknown:
        raise ValueError(
            f"threat_intel_feeds names unknown feeds {unknown}; the sample app knows "
            f"{sorted(_FEEDS)}"
        )
    return [_FEEDS[name] for name in names]


def build(app: App) -> SampleStack:
    """The sample stack, from ``app``'s context."""
    image_uri = _context(app, "image_uri")
    capture = _context(app, "data_capture", False)
    settings: dict[str, Any] = {
        "model_data_url": _context(app, "model_data_url", SAMPLE_MODEL_URL),
        "model_sha256": _context(app, "model_sha256", SAMPLE_MODEL_SHA256),
        "clients": [
            ApiClient(**c)
            for c in [
                *_context(app, "clients", SAMPLE_CLIENTS),
                *([SMOKE_CLIENT] if bool(_context(app, "smoke_client", False)) else []),
            ]
        ],
        "allowed_cidrs": _context(app, "allowed_cidrs", []),
        "waf": WafOptions(
            denied_cidrs=_context(app, "denied_cidrs", []),
            blocked_countries=_context(app, "blocked_countries", []),
            allowed_countries=_context(app, "allowed_countries", []),
            rule_overrides=_context(app, "waf_rule_overrides", {}),
            threat_intel_feeds=_feeds(_context(app, "threat_intel_feeds", [])),
        ),
        "data_capture": DataCaptureOptions() if capture else None,
        "cloud_watch_role": bool(_context(app, "cloud_watch_role", False)),
        "anomaly_monitor": bool(_context(app, "anomaly_monitor", True)),
        "auto_block": bool(_context(app, "auto_block", False)),
    }
    artifact: dict[str, Any] = {}
    for name in ("model_signature", "model_signing_algorithm"):
        if _context(app, name):
            artifact[name.replace("model_", "")] = _context(app, name)
    if bool(_context(app, "artifact_bucket_events", False)):
        artifact["bucket_events"] = True
    settings["artifact"] = artifact
    if bool(_context(app, "disable_api_keys", False)):
        # a strong action, warned at synth; needs -c auto_block=true
        settings["monitor_options"] = MonitorOptions(disable_api_keys=True)
    capacity = {
        "instance_type": _context(app, "instance_type", "ml.m5.large"),
        "instance_count": int(_context(app, "instance_count", 1)),
        "max_instance_count": int(_context(app, "max_instance_count", 4)),
    }
    if image_uri:
        settings["hosting"] = HostingOptions(
            image_uri=image_uri,
            allow_mutable_image_tag=bool(_context(app, "allow_mutable_image_tag", False)),
            **capacity,
        )
    else:
        settings["hosting"] = HostingOptions(
            framework=_context(app, "framework", "sklearn"),
            framework_version=_context(app, "framework_version", "1.2-1"),
            **capacity,
        )
    if _context(app, "input_baseline"):
        settings["input_constraints"] = InputConstraints.from_baseline(
            _context(app, "input_baseline")
        )
    region = _context(app, "region") or os.environ.get("CDK_DEFAULT_REGION")
    account = _context(app, "account") or os.environ.get("CDK_DEFAULT_ACCOUNT")
    shield = bool(_context(app, "shield_advanced", False))
    if shield:
        from secure_endpoint import ShieldOptions  # the opt-in part loads only when used

        settings["shield"] = ShieldOptions()
    defaulted_region = shield and not region
    if defaulted_region:
        # Shield's CloudFront web ACL goes to us-east-1, wired to a stack of a known region.
        region = SHIELD_SAMPLE_REGION
    env = Environment(account=account, region=region) if region or account else None
    stack = SampleStack(app, _context(app, "stack_name", "SecureEndpointSample"),
                        settings=settings, env=env,
                        signing_key_arn=_context(app, "model_signing_key_arn"))  # fmt: skip
    if defaulted_region:
        Annotations.of(stack).add_warning_v2(
            "secure-endpoint:sample-region",
            f"shield_advanced needs a concrete region and none was given: the sample uses "
            f"{SHIELD_SAMPLE_REGION}. Pass -c region=<yours> (or set CDK_DEFAULT_REGION).",
        )
    return stack


def main() -> None:
    app = App()
    build(app)
    compliance.add_packs(app)
    app.synth()


if __name__ == "__main__":
    main()

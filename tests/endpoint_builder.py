"""One way for tests to synthesize a SecureEndpoint in a stack of its own, bundling skipped."""

from __future__ import annotations

from typing import Any

from aws_cdk import App, Environment, Stack
from aws_cdk.assertions import Template

from secure_endpoint import HostingOptions, SecureEndpoint

DIGEST = "0123456789abcdef" * 4
SKLEARN = {"framework": "sklearn", "framework_version": "1.2-1"}
"""The framework image of every test endpoint: ``HostingOptions(**SKLEARN, ...)``."""
MODEL = {
    "model_data_url": "s3://models/churn/model.tar.gz",
    "model_sha256": DIGEST,
    "hosting": HostingOptions(**SKLEARN),
}
"""The props every test endpoint needs: a model and its framework image."""


def synth_endpoint(
    stack_name: str, env: Environment | None = None, **props: Any
) -> tuple[App, Stack, SecureEndpoint]:
    """A SecureEndpoint ``Endpoint`` of ``MODEL | props`` in a new app's stack ``stack_name``."""
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, stack_name, env=env)
    return app, stack, SecureEndpoint(stack, "Endpoint", **(MODEL | props))


def as_built(app: App, stack: Stack, endpoint: SecureEndpoint) -> dict[str, Any]:
    """A module fixture's view of a synthesized endpoint: the app, stack, endpoint and template."""
    return {
        "app": app,
        "stack": stack,
        "endpoint": endpoint,
        "template": Template.from_stack(stack),
    }

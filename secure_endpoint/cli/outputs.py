"""A deployed stack's endpoint manifests (``secure_endpoint.manifest``), as the commands read
them: ``--stack S`` and, when the stack holds several endpoints, ``--endpoint NAME``."""

from __future__ import annotations

from typing import Any

from secure_endpoint import manifest
from secure_endpoint.manifest import Manifest, ManifestError


class StackNotFound(Exception):
    """No stack of that name in the session's region."""


def stack_outputs(session: Any, stack: str) -> dict[str, str]:
    """The outputs of ``stack``, key to value.

    :raises StackNotFound: when the stack does not exist in the session's region.
    """
    import botocore.exceptions

    cloudformation = session.client("cloudformation")
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except botocore.exceptions.ClientError as error:
        if "does not exist" in str(error.response["Error"].get("Message")):
            raise StackNotFound(f"stack {stack!r} not found in {session.region_name}") from None
        raise
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def endpoint_manifest(session: Any, stack: str, endpoint: str | None) -> Manifest:
    """The manifest of ``endpoint`` in ``stack`` (or of its only endpoint).

    :raises StackNotFound: no such stack.
    :raises ManifestError: no manifest, a malformed one, or several and none named.
    """
    return manifest.select(manifest.from_outputs(stack_outputs(session, stack)), stack, endpoint)


__all__ = ["Manifest", "ManifestError", "StackNotFound", "endpoint_manifest", "stack_outputs"]

"""The discovery manifest: one versioned JSON stack output per SecureEndpoint.

Everything an operator's tool needs to find a deployed endpoint's parts (the response commands,
``secure-endpoint smoke``, the demo) is in one output per endpoint, so that a stack may hold
several endpoints without their outputs colliding. The construct writes it
(``SecureEndpoint``), the command line reads it (``secure_endpoint.cli``). No CDK import: the
reader runs where only boto3 is installed.

The output key is ``SecureEndpointManifest`` followed by the endpoint's construct path inside
its stack, letters and digits only (``Service/Churn`` -> ``SecureEndpointManifestServiceChurn``).
Its value, schema 1::

    {"schema": 1,
     "name": "Service/Churn",               # the construct path inside the stack
     "apiUrl": "https://.../v1/predict",
     "tokenUrl": "https://.../oauth2/token",
     "endpointName": "...",                 # the SageMaker endpoint
     "invokeScope": "secure-endpoint/invoke",
     "clients": {"partner-a": {"secretArn": "...", "apiKeyId": "...", "clientId": "..."}},
     "autoBlockTable": "...",
     "ipSets": {"4": "arn:...", "6": "arn:..."},   # the auto-block IP sets
     "allowlist": ["arn:...", ...],                # [] without an allowlist
     "quarantinePlanId": "...",             # optional: the quarantine usage plan
     "neverQuarantine": ["ops", ...]}       # optional: clients never quarantined

A reader accepts any schema it knows (only 1 so far) and ignores keys it does not know: a later
schema only adds keys, or changes the number.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SCHEMA = 1
OUTPUT_PREFIX = "SecureEndpointManifest"
_NOT_ALPHANUMERIC = re.compile(r"[^A-Za-z0-9]")
_MAX_OUTPUT_KEY = 255  # CloudFormation's limit on an output's logical id


class ManifestError(ValueError):
    """A stack's manifests are missing, malformed, or do not say which endpoint is meant."""


@dataclass(frozen=True)
class ClientEntry:
    """One API client: its credentials' secret, its API key and its Cognito app client id."""

    secret_arn: str
    api_key_id: str
    client_id: str

    def as_json(self) -> dict[str, str]:
        return {"secretArn": self.secret_arn, "apiKeyId": self.api_key_id,
                "clientId": self.client_id}  # fmt: skip


@dataclass(frozen=True)
class Manifest:
    """What one deployed SecureEndpoint tells its operators' tools."""

    name: str
    api_url: str
    token_url: str
    endpoint_name: str
    invoke_scope: str
    clients: Mapping[str, ClientEntry]
    auto_block_table: str
    ip_sets: Mapping[int, str] = field(default_factory=dict)
    allowlist: tuple[str, ...] = ()
    quarantine_plan_id: str | None = None
    """The quarantine usage plan (``constructs.quarantine.QuarantinePlan``), if there is one."""
    never_quarantine: tuple[str, ...] = ()
    """Client names or Cognito client ids that ``secure-endpoint quarantine`` refuses."""

    def as_json(self) -> dict[str, Any]:
        """The output's value before ``json.dumps`` (the construct serializes it with
        ``Stack.to_json_string``, which resolves the tokens inside)."""
        return {
            "schema": SCHEMA,
            "name": self.name,
            "apiUrl": self.api_url,
            "tokenUrl": self.token_url,
            "endpointName": self.endpoint_name,
            "invokeScope": self.invoke_scope,
            "clients": {name: entry.as_json() for name, entry in self.clients.items()},
            "autoBlockTable": self.auto_block_table,
            "ipSets": {str(version): arn for version, arn in self.ip_sets.items()},
            "allowlist": list(self.allowlist),
            **({"quarantinePlanId": self.quarantine_plan_id} if self.quarantine_plan_id else {}),
            **({"neverQuarantine": list(self.never_quarantine)} if self.never_quarantine else {}),
        }


def output_key(name: str) -> str:
    """The output key of the manifest of the endpoint at construct path ``name`` in its stack."""
    key = OUTPUT_PREFIX + _NOT_ALPHANUMERIC.sub("", name)
    if len(key) > _MAX_OUTPUT_KEY:
        raise ValueError(
            f"the construct path {name!r} makes a manifest output key of {len(key)} characters; "
            f"CloudFormation allows {_MAX_OUTPUT_KEY}: give the endpoint a shorter path"
        )
    return key


def parse(value: str, key: str = "manifest") -> Manifest:
    """The manifest in an output's ``value``.

    :raises ManifestError: not JSON, an unknown schema, or a field of the wrong shape; the
        message names the output ``key`` and the field.
    """
    try:
        data = json.loads(value)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ManifestError(f"output {key} is not a JSON object: {value[:80]!r}")
    schema = data.get("schema")
    if schema != SCHEMA:
        raise ManifestError(
            f"output {key} has manifest schema {schema!r}; this secure-endpoint reads schema "
            f"{SCHEMA}: use the secure-endpoint version that deployed the stack"
        )

    def text(name: str, where: Mapping[str, Any] = data, what: str = "") -> str:
        found = where.get(name)
        if not isinstance(found, str) or not found:
            raise ManifestError(f"output {key} has no {name}{what}")
        return found

    clients = data.get("clients")
    if not isinstance(clients, dict) or not all(isinstance(c, dict) for c in clients.values()):
        raise ManifestError(f"output {key}: clients is not a JSON object of objects")
    ip_sets = data.get("ipSets", {})
    if not isinstance(ip_sets, dict) or not set(ip_sets) <= {"4", "6"}:
        raise ManifestError(f"output {key}: ipSets must map '4' and '6' to IP set ARNs")
    allowlist = data.get("allowlist", [])
    if not isinstance(allowlist, list) or not all(isinstance(a, str) for a in allowlist):
        raise ManifestError(f"output {key}: allowlist is not a JSON array of ARNs")
    quarantine_plan = data.get("quarantinePlanId")
    if quarantine_plan is not None and not (isinstance(quarantine_plan, str) and quarantine_plan):
        raise ManifestError(f"output {key}: quarantinePlanId is not a usage plan id")
    never = data.get("neverQuarantine", [])
    if not isinstance(never, list) or not all(isinstance(n, str) and n for n in never):
        raise ManifestError(f"output {key}: neverQuarantine is not a JSON array of client names")
    return Manifest(
        name=text("name"),
        api_url=text("apiUrl"),
        token_url=text("tokenUrl"),
        endpoint_name=text("endpointName"),
        invoke_scope=text("invokeScope"),
        clients={
            name: ClientEntry(
                secret_arn=text("secretArn", entry, f" for client {name!r}"),
                api_key_id=text("apiKeyId", entry, f" for client {name!r}"),
                client_id=text("clientId", entry, f" for client {name!r}"),
            )
            for name, entry in clients.items()
        },
        auto_block_table=text("autoBlockTable"),
        ip_sets={int(version): text(version, ip_sets, " in ipSets") for version in ip_sets},
        allowlist=tuple(allowlist),
        quarantine_plan_id=quarantine_plan,
        never_quarantine=tuple(never),
    )


def from_outputs(outputs: Mapping[str, str]) -> dict[str, Manifest]:
    """Every manifest among a stack's ``outputs`` (output key to value), by endpoint name.

    :raises ManifestError: a manifest output that does not parse.
    """
    manifests = {}
    for key in sorted(outputs):
        if key.startswith(OUTPUT_PREFIX):
            manifest = parse(outputs[key], key)
            manifests[manifest.name] = manifest
    return manifests


def select(manifests: Mapping[str, Manifest], stack: str, endpoint: str | None) -> Manifest:
    """The manifest of ``endpoint`` (a name, or the last part of one), or the only one.

    :raises ManifestError: the stack has none, several and none is named, or none by that name;
        the message lists the names there are.
    """
    names = ", ".join(sorted(manifests)) or "none"
    if not manifests:
        raise ManifestError(
            f"stack {stack!r} has no secure-endpoint manifest (an output {OUTPUT_PREFIX}...): "
            "is it a SecureEndpoint stack, deployed with a secure-endpoint that writes manifests "
            "(after 0.1.0)?"
        )
    if endpoint is None:
        if len(manifests) > 1:
            raise ManifestError(
                f"stack {stack!r} holds several endpoints ({names}): pass --endpoint NAME"
            )
        return next(iter(manifests.values()))
    if endpoint in manifests:
        return manifests[endpoint]
    by_id = [m for name, m in manifests.items() if name.rsplit("/", 1)[-1] == endpoint]
    if len(by_id) == 1:
        return by_id[0]
    raise ManifestError(f"stack {stack!r} has no endpoint {endpoint!r} (its endpoints: {names})")

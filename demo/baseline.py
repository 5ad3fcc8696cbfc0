"""The security baseline (``STANDARD.md``) as the synthesized templates show it.

Pure: plain template dicts (stack name -> template) in, ``Protection`` values out; no CDK, no AWS,
no files. Each protection is derived from the resources that implement it, so a template without
one gets a ``✗`` naming what is missing rather than a claim.

The checks live by theme in ``controls_access``, ``controls_traffic`` and
``controls_operations``; they read the templates through ``template_index`` and return the
``Protection`` of ``protection``. This module runs them in the baseline's order, and adds the
two controls the scans show (6 and 18).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping

from demo import controls_access as access
from demo import controls_operations as operations
from demo import controls_traffic as traffic
from demo.protection import Protection, Status, Template, protection
from demo.template_index import Index, api_methods, resources_of

__all__ = [
    "Protection",
    "Status",
    "Template",
    "resources_by_service",
    "scan_protections",
    "stack_resource_count",
    "template_protections",
]

_CDK_METADATA = "AWS::CDK::Metadata"  # the CDK's version report, not a resource of the app


def stack_resource_count(template: Template) -> int:
    """The resources of one template, without the CDK's metadata resource."""
    return sum(1 for _, r in resources_of(template) if r.get("Type") != _CDK_METADATA)


def resources_by_service(templates: Mapping[str, Template]) -> dict[str, int]:
    """``AWS::<Service>::<Type>`` counts by service (``Custom::*`` as Custom), most first."""
    counts: Counter[str] = Counter()
    for template in templates.values():
        for _, resource in resources_of(template):
            kind = str(resource.get("Type", ""))
            if kind == _CDK_METADATA:
                continue
            parts = kind.split("::")
            counts["Custom" if parts[0] == "Custom" else parts[1] if len(parts) > 1 else kind] += 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def template_protections(templates: Mapping[str, Template]) -> list[Protection]:
    """Each protection of the baseline the templates can show, derived from them."""
    ix = Index(templates)
    checks: list[Callable[[Index], Protection]] = [
        access.authentication,
        access.tls,
        access.encryption_at_rest,
        traffic.rate_limits,
        traffic.burst_limits,
        traffic.input_validation,
        operations.logging,
        traffic.gateway_controls,
        access.least_privilege,
        traffic.ddos,
        traffic.shield,
        access.secrets,
        traffic.clear_responses,
        operations.anomaly_detection,
        operations.isolation,
        operations.integrity,
        operations.incident_response,
        traffic.threat_intelligence,
    ]
    return [check(ix) for check in checks]


_COMPLIANCE_PACKS = ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")


def scan_protections(
    open_findings: Mapping[str, int],
    acknowledged: int,
    lint_errors: int,
    lint_warnings: int,
    templates: Mapping[str, Template],
) -> list[Protection]:
    """Controls 6 and 18: from the scans (open cdk-nag findings per pack, cfn-lint counts) and,
    for data capture, the templates."""
    missing = []
    if not open_findings:
        missing.append("no cdk-nag pack ran")
    total_open = sum(open_findings.values())
    if total_open:
        missing.append(f"{total_open} open cdk-nag findings")
    if lint_errors:
        missing.append(f"{lint_errors} cfn-lint errors")
    scanning = protection(
        6,
        "vulnerability scanning",
        missing,
        f"cdk-nag {len(open_findings)} packs: 0 open, {acknowledged} acknowledged with a reason; "
        f"cfn-lint: 0 errors, {lint_warnings} warnings",
    )
    absent = [p for p in _COMPLIANCE_PACKS if p not in open_findings]
    failing = [p for p in _COMPLIANCE_PACKS if open_findings.get(p)]
    compliance_missing = []
    if absent:
        compliance_missing.append(f"packs not run: {', '.join(absent)}")
    if failing:
        compliance_missing.append(f"open findings in {', '.join(failing)}")
    ix = Index(templates)
    capturing = [
        c
        for c in ix.of("AWS::SageMaker::EndpointConfig")
        if (c.props.get("DataCaptureConfig") or {}).get("EnableCapture")
    ]
    attributable = any(
        "X-Amzn-SageMaker-Inference-Id" in json.dumps(m.props.get("Integration") or {})
        for m in api_methods(ix)
    )
    capture = ("data capture on" if capturing else "data capture opt-in (off)") + (
        ", each record names its OAuth client" if attributable else ""
    )
    compliance_line = protection(
        18,
        "compliance",
        compliance_missing,
        f"{', '.join(_COMPLIANCE_PACKS)} clean; {capture}",
    )
    return [scanning, compliance_line]

"""secure-endpoint: AWS CDK constructs that put a SageMaker endpoint on the internet safely.

Names are re-exported lazily so that the ``secure-endpoint`` command line client starts without
loading the CDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from secure_endpoint.constructs.api_key_responder import ApiKeyResponder
    from secure_endpoint.constructs.blocklist_store import BlockListTable
    from secure_endpoint.constructs.edge import WafOptions
    from secure_endpoint.constructs.endpoint import SecureEndpoint
    from secure_endpoint.constructs.identity import MachineUserPool
    from secure_endpoint.constructs.input_constraints import (
        FeatureConstraint,
        FeatureOverride,
        InputConstraints,
        InputFormat,
    )
    from secure_endpoint.constructs.keys import EncryptionKey
    from secure_endpoint.constructs.monitor import AnomalyMonitor, MonitorOptions
    from secure_endpoint.constructs.network import IsolatedNetwork
    from secure_endpoint.constructs.options import (
        ApiClient,
        ArtifactOptions,
        CustomDomain,
        DataCaptureOptions,
        HostingOptions,
        TlsPolicy,
    )
    from secure_endpoint.constructs.quarantine import QuarantinePlan
    from secure_endpoint.constructs.response_hardening import ResponseHardening
    from secure_endpoint.constructs.shield import (
        AutomaticMitigation,
        EmergencyContact,
        ShieldAdvancedEdge,
        ShieldOptions,
    )
    from secure_endpoint.constructs.threat_intel import (
        SPAMHAUS_DROP,
        SPAMHAUS_DROP_V6,
        TOR_EXIT_NODES,
        FeedFormat,
        ThreatIntelFeed,
        ThreatIntelFeeds,
    )

__all__ = [
    "SPAMHAUS_DROP",
    "SPAMHAUS_DROP_V6",
    "TOR_EXIT_NODES",
    "AnomalyMonitor",
    "ApiClient",
    "ApiKeyResponder",
    "ArtifactOptions",
    "AutomaticMitigation",
    "BlockListTable",
    "CustomDomain",
    "DataCaptureOptions",
    "EmergencyContact",
    "EncryptionKey",
    "FeatureConstraint",
    "FeatureOverride",
    "FeedFormat",
    "HostingOptions",
    "InputConstraints",
    "InputFormat",
    "IsolatedNetwork",
    "MachineUserPool",
    "MonitorOptions",
    "QuarantinePlan",
    "ResponseHardening",
    "SecureEndpoint",
    "ShieldAdvancedEdge",
    "ShieldOptions",
    "ThreatIntelFeed",
    "ThreatIntelFeeds",
    "TlsPolicy",
    "WafOptions",
]

_HOMES = {
    "SecureEndpoint": "secure_endpoint.constructs.endpoint",
    "EncryptionKey": "secure_endpoint.constructs.keys",
    "IsolatedNetwork": "secure_endpoint.constructs.network",
    "MachineUserPool": "secure_endpoint.constructs.identity",
    "InputConstraints": "secure_endpoint.constructs.input_constraints",
    "InputFormat": "secure_endpoint.constructs.input_constraints",
    "FeatureOverride": "secure_endpoint.constructs.input_constraints",
    "FeatureConstraint": "secure_endpoint.constructs.input_constraints",
    "AnomalyMonitor": "secure_endpoint.constructs.monitor",
    "MonitorOptions": "secure_endpoint.constructs.monitor",
    "ApiKeyResponder": "secure_endpoint.constructs.api_key_responder",
    "BlockListTable": "secure_endpoint.constructs.blocklist_store",
    "QuarantinePlan": "secure_endpoint.constructs.quarantine",
    "ApiClient": "secure_endpoint.constructs.options",
    "CustomDomain": "secure_endpoint.constructs.options",
    "DataCaptureOptions": "secure_endpoint.constructs.options",
    "TlsPolicy": "secure_endpoint.constructs.options",
    "HostingOptions": "secure_endpoint.constructs.options",
    "ArtifactOptions": "secure_endpoint.constructs.options",
    "ResponseHardening": "secure_endpoint.constructs.response_hardening",
    "WafOptions": "secure_endpoint.constructs.edge",
    "ThreatIntelFeeds": "secure_endpoint.constructs.threat_intel",
    "ShieldAdvancedEdge": "secure_endpoint.constructs.shield",
    "ShieldOptions": "secure_endpoint.constructs.shield",
    "EmergencyContact": "secure_endpoint.constructs.shield",
    "AutomaticMitigation": "secure_endpoint.constructs.shield",
    "ThreatIntelFeed": "secure_endpoint.constructs.threat_intel",
    "FeedFormat": "secure_endpoint.constructs.threat_intel",
    "SPAMHAUS_DROP": "secure_endpoint.constructs.threat_intel",
    "SPAMHAUS_DROP_V6": "secure_endpoint.constructs.threat_intel",
    "TOR_EXIT_NODES": "secure_endpoint.constructs.threat_intel",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'secure_endpoint' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)

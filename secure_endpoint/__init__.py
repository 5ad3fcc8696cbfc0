"""secure-endpoint: AWS CDK constructs that put a SageMaker endpoint on the internet safely.

Names are re-exported lazily so that the ``secure-endpoint`` command line client starts without
loading the CDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from secure_endpoint.api_key_responder import ApiKeyResponder
    from secure_endpoint.endpoint import SecureEndpoint
    from secure_endpoint.monitor import AnomalyMonitor, MonitorOptions
    from secure_endpoint.options import ApiClient, DataCaptureOptions, TlsPolicy
    from secure_endpoint.shield import (
        AutomaticMitigation,
        EmergencyContact,
        ShieldAdvancedEdge,
        ShieldOptions,
    )
    from secure_endpoint.threat_intel import (
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
    "AutomaticMitigation",
    "DataCaptureOptions",
    "EmergencyContact",
    "FeedFormat",
    "MonitorOptions",
    "SecureEndpoint",
    "ShieldAdvancedEdge",
    "ShieldOptions",
    "ThreatIntelFeed",
    "ThreatIntelFeeds",
    "TlsPolicy",
]

_HOMES = {
    "SecureEndpoint": "secure_endpoint.endpoint",
    "AnomalyMonitor": "secure_endpoint.monitor",
    "MonitorOptions": "secure_endpoint.monitor",
    "ApiKeyResponder": "secure_endpoint.api_key_responder",
    "ApiClient": "secure_endpoint.options",
    "DataCaptureOptions": "secure_endpoint.options",
    "TlsPolicy": "secure_endpoint.options",
    "ThreatIntelFeeds": "secure_endpoint.threat_intel",
    "ShieldAdvancedEdge": "secure_endpoint.shield",
    "ShieldOptions": "secure_endpoint.shield",
    "EmergencyContact": "secure_endpoint.shield",
    "AutomaticMitigation": "secure_endpoint.shield",
    "ThreatIntelFeed": "secure_endpoint.threat_intel",
    "FeedFormat": "secure_endpoint.threat_intel",
    "SPAMHAUS_DROP": "secure_endpoint.threat_intel",
    "SPAMHAUS_DROP_V6": "secure_endpoint.threat_intel",
    "TOR_EXIT_NODES": "secure_endpoint.threat_intel",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'secure_endpoint' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)

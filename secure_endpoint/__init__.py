"""secure-endpoint: AWS CDK constructs that put a SageMaker endpoint on the internet safely.

Names are re-exported lazily so that the ``secure-endpoint`` command line client starts without
loading the CDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from secure_endpoint.endpoint import SecureEndpoint
    from secure_endpoint.options import ApiClient, DataCaptureOptions, TlsPolicy

__all__ = ["ApiClient", "DataCaptureOptions", "SecureEndpoint", "TlsPolicy"]

_HOMES = {
    "SecureEndpoint": "secure_endpoint.endpoint",
    "ApiClient": "secure_endpoint.options",
    "DataCaptureOptions": "secure_endpoint.options",
    "TlsPolicy": "secure_endpoint.options",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'secure_endpoint' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)

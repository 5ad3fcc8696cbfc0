"""SageMaker data-capture traffic against a real small model (``python -m
secure_endpoint.simulate.capture``).

Needs numpy and scikit-learn: ``pip install 'secure-endpoint[simulate]'``.
"""

from __future__ import annotations

try:
    import numpy  # noqa: F401
    import sklearn  # noqa: F401
except ImportError as missing:  # pragma: no cover - exercised by a test with the modules hidden
    raise ImportError(
        "secure_endpoint.simulate.capture needs numpy and scikit-learn "
        f"({missing.name} is missing): pip install 'secure-endpoint[simulate]'"
    ) from missing

"""The Powertools set-up of the handlers that publish metrics: one service name, read once.

Each construct names its function's service (``POWERTOOLS_SERVICE_NAME``, unique to the
endpoint: ``constructs._building.service_name``) and its metrics, alarms and anomaly detectors
use that name as their ``service`` dimension; so the handler's ``Logger``, ``Metrics``,
``Tracer`` and every ``EphemeralMetrics`` it adds must all publish under it. ``tools`` builds
the three with it; without the variable (tests, local runs) they use the handler's default.

Only the Lambda handlers import this module: it needs ``aws-lambda-powertools``, which their
``requirements.txt`` pin and the library itself does not depend on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics

SERVICE_NAME_ENV = "POWERTOOLS_SERVICE_NAME"


def service_name(default: str, environ: Mapping[str, str] = os.environ) -> str:
    """The service the construct named in ``environ``; ``default`` where it named none."""
    return environ.get(SERVICE_NAME_ENV) or default


def tools(default_service: str, namespace: str) -> tuple[Logger, Metrics, Tracer]:
    """A handler's ``Logger``, ``Metrics`` (in ``namespace``) and ``Tracer``, all under
    ``service_name(default_service)``; called once, at import (the cold start)."""
    service = service_name(default_service)
    return (
        Logger(service=service),
        Metrics(namespace=namespace, service=service),
        Tracer(service=service),
    )


def ephemeral(metrics: Metrics) -> EphemeralMetrics:
    """Metrics flushed apart from ``metrics`` (one EMF document per client or feed, with its
    own dimension), in the same namespace and under the same service."""
    return EphemeralMetrics(namespace=metrics.namespace, service=metrics.service)

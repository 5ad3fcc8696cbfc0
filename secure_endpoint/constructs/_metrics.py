"""The one way this library's ``metric_*`` helpers build a metric, as CDK's L2 constructs do.

Every ``metric_*`` method takes ``cloudwatch.MetricOptions`` fields as keyword arguments
(``period``, ``statistic``, ``label``, ``unit``, ``color``, ``account``, ``region``,
``dimensions_map``, ...) over its own defaults, and returns a ``cloudwatch.Metric``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from aws_cdk import aws_cloudwatch as cloudwatch

#: The keyword arguments ``metric_*`` methods accept: ``cloudwatch.MetricOptions``'s fields.
METRIC_OPTIONS = frozenset(
    name
    for name in inspect.signature(cloudwatch.MetricOptions.__init__).parameters
    if name != "self"
)


def metric(
    namespace: str,
    metric_name: str,
    dimensions_map: Mapping[str, str],
    options: Mapping[str, Any],
    **defaults: Any,
) -> cloudwatch.Metric:
    """``namespace``/``metric_name`` with ``dimensions_map`` and ``defaults`` (period,
    statistic), each overridden by what ``options`` gives (``None`` keeps the default)."""
    settings = {"dimensions_map": dict(dimensions_map), **defaults, **checked(options)}
    return cloudwatch.Metric(namespace=namespace, metric_name=metric_name, **settings)


def checked(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` without its ``None`` values; anything but a ``MetricOptions`` field is an
    error that names it."""
    unknown = sorted(set(options) - METRIC_OPTIONS)
    if unknown:
        raise ValueError(
            f"metric options must be cloudwatch.MetricOptions fields {sorted(METRIC_OPTIONS)}, "
            f"got {', '.join(unknown)}"
        )
    return {name: value for name, value in options.items() if value is not None}

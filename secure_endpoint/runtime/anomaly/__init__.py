"""Anomaly detection over the API's access logs: per principal and window, no CDK, no AWS calls.

- ``records``: access-log lines (the pinned format) to columns, malformed lines counted;
- ``features``: per principal and window aggregates (locally, or from Logs Insights rows through
  ``insights``) and the feature matrix;
- ``scoring``: the Isolation Forest, fitted with scikit-learn, stored and scored as numpy arrays;
- ``decisions``: thresholds, hard rules, actions and the reasons given in every alert;
- ``detect``: the offline replay behind ``secure-endpoint detect``.

Needs the ``monitor`` extra (numpy, orjson; scikit-learn to fit): ``pip install
secure-endpoint[monitor]``.
"""

from secure_endpoint.runtime.anomaly.features import (
    AGGREGATES,
    FEATURES,
    HISTORY_SECONDS,
    WINDOW_SECONDS,
    WindowAggregates,
)

__all__ = ["AGGREGATES", "FEATURES", "HISTORY_SECONDS", "WINDOW_SECONDS", "WindowAggregates"]

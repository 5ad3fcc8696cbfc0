"""Every handler that publishes metrics publishes them, and logs, under the service its construct
names in ``POWERTOOLS_SERVICE_NAME`` (unique to its endpoint), and under its default service
where that is not set (tests, local runs).

The service is read when the handler is imported (as at a cold start), so each case imports the
handler in a fresh interpreter with the variable set, emits what the handler emits (its run-level
``Metrics`` and, where it has them, its per-client or per-feed ``EphemeralMetrics``) and reads
the embedded-metric-format documents Powertools prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from anomaly_model_fitter import handler as fitter_handler
from anomaly_monitor import handler as monitor_handler
from api_key_responder import handler as responder_handler
from threat_intel_feed import handler as feed_handler

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "anomaly-monitor-Models-Churn-AnomalyMonitor-BB2632A9"

# What each handler emits, called as its own code calls it; then the run-level flush.
EMITS = {
    "anomaly_monitor": (
        "from anomaly_monitor.findings import Summary\n"
        "from anomaly_monitor.config import Settings\n"
        "handler._emit(Summary(client_scores={'crm': 0.7}), Settings(), (0, 0), 0, 0, 0, 0)\n"
    ),
    "anomaly_model_fitter": "handler._skipped('a probe', None)\n",
    "api_key_responder": (
        "handler.metrics.add_metric(name='KeysDisabled', unit=MetricUnit.Count, value=1)\n"
    ),
    "drift_monitor": (  # the payload metrics, per kind and per client (EphemeralMetrics)
        "from drift_monitor.payload import Tally\n"
        "scores = type('D', (), {'client_scores': lambda self: {'crm': {'probing': 9.5}}})()\n"
        "handler._publish_payload(Tally(rows=4), scores)\n"
        "handler.metrics.add_metric(name='CapturedRows', unit=MetricUnit.Count, value=4)\n"
    ),
    "quarantine_responder": (
        "handler.metrics.add_metric(name='ClientsQuarantined', unit=MetricUnit.Count, value=1)\n"
    ),
    "threat_intel_feed": (
        "from threat_intel_feed.feeds import FeedReport, Outcome\n"
        "handler.report_feed(FeedReport('tor-exit-nodes', Outcome.UPDATED, entries=3))\n"
        "handler.metrics.add_metric(name='FeedsUpdated', unit=MetricUnit.Count, value=1)\n"
    ),
}
PROBE = (
    "import importlib, sys\n"
    "from aws_lambda_powertools.metrics import MetricUnit\n"
    "handler = importlib.import_module(sys.argv[1] + '.handler')\n"
    "{emit}"
    "handler.metrics.flush_metrics()\n"
)


def run_handler(package: str, service: str | None) -> list[dict[str, Any]]:
    """The JSON lines (EMF documents and log lines) the handler prints, imported afresh."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_")}
    env |= {
        "PYTHONPATH": os.pathsep.join([str(ROOT / "secure_endpoint" / "lambdas"), str(ROOT)]),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    if service is not None:
        env["POWERTOOLS_SERVICE_NAME"] = service
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", PROBE.format(emit=EMITS[package]), package],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("package", sorted(EMITS))
def test_metrics_and_logs_carry_the_service_the_construct_names(package: str) -> None:
    lines = run_handler(package, SERVICE)
    documents = [line for line in lines if "_aws" in line]
    assert documents, lines
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert all("service" in dimensions for dimensions in directive["Dimensions"]), directive
        assert document["service"] == SERVICE, document
    logs = [line for line in lines if "_aws" not in line]
    assert all(line["service"] == SERVICE for line in logs), logs


def test_the_per_client_and_per_feed_metrics_are_among_them() -> None:
    monitor = [d for d in run_handler("anomaly_monitor", SERVICE) if "AnomalyScore" in d]
    assert [(d["Client"], d["service"]) for d in monitor] == [("crm", SERVICE)]
    feed = [d for d in run_handler("threat_intel_feed", SERVICE) if "Feed" in d]
    assert [(d["Feed"], d["service"]) for d in feed] == [("tor-exit-nodes", SERVICE)]
    payload = run_handler("drift_monitor", SERVICE)
    assert [(d["Client"], d["service"]) for d in payload if "PayloadScore" in d] == [
        ("crm", SERVICE)
    ]
    kinds = sorted(d["Kind"] for d in payload if "PayloadFindings" in d)
    assert kinds == ["extraction", "membership", "out_of_distribution", "probing"]


def test_without_the_variable_the_default_service() -> None:
    (document,) = [d for d in run_handler("api_key_responder", None) if "_aws" in d]
    assert document["service"] == "api-key-responder"
    # and so in this process, which has no POWERTOOLS_SERVICE_NAME
    assert "POWERTOOLS_SERVICE_NAME" not in os.environ
    for handler, default in (
        (monitor_handler, "anomaly-monitor"),
        (fitter_handler, "anomaly-model-fitter"),
        (responder_handler, "api-key-responder"),
        (feed_handler, "threat-intel-feed"),
    ):
        assert default == handler.DEFAULT_SERVICE
        assert handler.metrics.service == default

"""The handlers' Powertools set-up: the service the construct names, else the handler's."""

import json

import pytest
from aws_lambda_powertools.metrics import MetricUnit

from secure_endpoint.runtime import powertools

SERVICE = "anomaly-monitor-Models-Churn-AnomalyMonitor-BB2632A9"


def test_the_service_is_the_one_the_construct_names_else_the_default():
    assert powertools.service_name("fallback", {"POWERTOOLS_SERVICE_NAME": SERVICE}) == SERVICE
    assert powertools.service_name("fallback", {}) == "fallback"
    assert powertools.service_name("fallback", {"POWERTOOLS_SERVICE_NAME": ""}) == "fallback"


def test_logger_metrics_and_tracer_share_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", SERVICE)
    logger, metrics, tracer = powertools.tools("fallback", "SecureEndpoint/Probe")
    assert logger.service == SERVICE
    assert (metrics.namespace, metrics.service) == ("SecureEndpoint/Probe", SERVICE)
    assert tracer.service == SERVICE


def test_the_default_where_the_construct_named_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    logger, metrics, _ = powertools.tools("fallback", "SecureEndpoint/Probe")
    assert (logger.service, metrics.service) == ("fallback", "fallback")


def test_ephemeral_metrics_publish_in_the_same_namespace_under_the_same_service(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", SERVICE)
    _, metrics, _ = powertools.tools("fallback", "SecureEndpoint/Probe")
    per_client = powertools.ephemeral(metrics)
    per_client.add_dimension(name="Client", value="crm")
    per_client.add_metric(name="AnomalyScore", unit=MetricUnit.NoUnit, value=0.7)
    capsys.readouterr()
    per_client.flush_metrics()
    (document,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "SecureEndpoint/Probe"
    assert directive["Dimensions"] == [["Client", "service"]]
    assert (document["Client"], document["service"]) == ("crm", SERVICE)

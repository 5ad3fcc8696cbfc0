"""Baseline checks of running and watching the endpoint: logging (7), anomaly detection (13),
model isolation (14), model integrity (15) and incident response (16)."""

from __future__ import annotations

import json
import re

from demo.protection import Protection, Status, listed, plural, protection
from demo.template_index import Index, Resource, ref, scheduled_functions


def logging(ix: Index) -> Protection:
    missing: list[str] = []
    stages = ix.of("AWS::ApiGateway::Stage")
    if not stages:
        missing.append("no API stage")
    for stage in stages:
        setting = stage.props.get("AccessLogSetting") or {}
        group = ix.resolve(stage, setting.get("DestinationArn"))
        if group is None or not str(setting.get("Format", "")).lstrip().startswith("{"):
            missing.append(f"stage {stage.logical_id} has no JSON access log")
        if stage.props.get("TracingEnabled") is not True:
            missing.append(f"stage {stage.logical_id} has X-Ray tracing off")
    acls = ix.of("AWS::WAFv2::WebACL")
    logged = {
        (c.stack, ref(c.props.get("ResourceArn")))
        for c in ix.of("AWS::WAFv2::LoggingConfiguration")
    }
    unlogged = [a.logical_id for a in acls if (a.stack, a.logical_id) not in logged]
    if not acls:
        missing.append("no WAF web ACL")
    if unlogged:
        missing.append(f"web ACL without logs: {listed(unlogged)}")
    groups = ix.of("AWS::Logs::LogGroup")
    if not groups:
        missing.append("no log group")
    bare = [g.logical_id for g in groups if not g.props.get("KmsKeyId")]
    forever = [g.logical_id for g in groups if not g.props.get("RetentionInDays")]
    if bare:
        missing.append(f"log groups without the KMS key: {listed(bare)}")
    if forever:
        missing.append(f"log groups without retention: {listed(forever)}")
    retention = sorted(
        {int(g.props["RetentionInDays"]) for g in groups if g.props.get("RetentionInDays")}
    )
    dashboards = len(ix.of("AWS::CloudWatch::Dashboard"))
    if not dashboards:
        missing.append("no dashboard")
    redacted = sorted(
        {
            str((field.get("SingleHeader") or {}).get("Name"))
            for c in ix.of("AWS::WAFv2::LoggingConfiguration")
            for field in c.props.get("RedactedFields", [])
            if "SingleHeader" in field
        }
    )
    return protection(
        7,
        "logging and monitoring",
        missing,
        f"JSON access logs and X-Ray on {len(stages)} stage{plural(len(stages))}; WAF logs "
        f"{len(acls)}/{len(acls)} web ACLs (redacted: {listed(redacted)}); "
        f"{len(groups)}/{len(groups)} log groups KMS-encrypted, kept "
        f"{listed([f'{d} d' for d in retention])}; {dashboards} dashboard{plural(dashboards)}",
    )


def anomaly_detection(ix: Index) -> Protection:
    missing: list[str] = []
    detectors = ix.of("AWS::CloudWatch::AnomalyDetector")
    bands = [a for a in ix.of("AWS::CloudWatch::Alarm") if a.props.get("ThresholdMetricId")]
    if not bands:
        missing.append("no anomaly-band alarm")
    silent = [a.logical_id for a in bands if not a.props.get("AlarmActions")]
    if silent:
        missing.append(f"anomaly alarms that notify no one: {listed(silent)}")
    monitors = [(name, when) for name, when in scheduled_functions(ix) if "anomaly" in name]
    if not monitors:
        missing.append("no scheduled anomaly monitor function")
    return protection(
        13,
        "anomaly detection with alerts",
        missing,
        f"{len(bands)} anomaly-band alarm{plural(len(bands))} on {len(detectors)} detector"
        f"{plural(len(detectors))}, alerting SNS; "
        f"{listed([f'{name} {when}' for name, when in monitors])}",
    )


def isolation(ix: Index) -> Protection:
    missing: list[str] = []
    models = ix.of("AWS::SageMaker::Model")
    if not models:
        missing.append("no SageMaker model")
    subnets: set[str] = set()
    for model in models:
        if model.props.get("EnableNetworkIsolation") is not True:
            missing.append(f"network isolation off on {model.logical_id}")
        vpc = model.props.get("VpcConfig") or {}
        if not vpc.get("Subnets"):
            missing.append(f"{model.logical_id} runs outside a VPC")
        subnets |= {json.dumps(s, sort_keys=True) for s in vpc.get("Subnets", [])}
    gateways = ix.of(
        "AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EgressOnlyInternetGateway"
    )
    public = [
        s.logical_id
        for s in ix.of("AWS::EC2::Subnet")
        if s.props.get("MapPublicIpOnLaunch") is True
    ]
    if public:
        missing.append(f"public subnets {listed(public)}")
    endpoints = len(ix.of("AWS::EC2::VPCEndpoint"))
    egress = (
        "no internet or NAT gateway in the stack"
        if not gateways
        else f"{len(gateways)} internet/NAT gateway{plural(len(gateways))} in the stack"
    )
    return protection(
        14,
        "model isolation",
        missing,
        f"network isolation on {len(models)}/{len(models)} models, in "
        f"{len(subnets)} private subnet{plural(len(subnets))}; {egress}; {endpoints} VPC endpoints",
    )


_TAMPER_WORDS = re.compile(r"tamper|digest|artifact|integrity", re.IGNORECASE)


def _alarm_metrics(alarm: Resource) -> list[tuple[str, str]]:
    """(namespace, metric name) of every metric an alarm watches, math alarms included."""
    metrics = [(alarm.props.get("Namespace"), alarm.props.get("MetricName"))]
    for query in alarm.props.get("Metrics", []):
        metric = (query.get("MetricStat") or {}).get("Metric") or {}
        metrics.append((metric.get("Namespace"), metric.get("MetricName")))
    return [(str(ns), str(name)) for ns, name in metrics if ns and name]


def _tamper_alarms(ix: Index) -> list[tuple[Resource, str]]:
    """Alarms on the artifact's own integrity metric (not on an AWS/* service metric such as
    the checking function's errors), or that say they watch for tampering; with the metric."""
    found = []
    for alarm in ix.of("AWS::CloudWatch::Alarm"):
        own = [
            name
            for namespace, name in _alarm_metrics(alarm)
            if not namespace.startswith("AWS/") and _TAMPER_WORDS.search(f"{namespace} {name}")
        ]
        if own or "tamper" in str(alarm.props.get("AlarmDescription", "")).lower():
            found.append((alarm, own[0] if own else alarm.logical_id))
    return found


def integrity(ix: Index) -> Protection:
    missing: list[str] = []
    checks = [r for r in ix.resources if r.type.startswith("Custom::") and r.props.get("Sha256")]
    if not checks:
        missing.append("no SHA-256 check of the model artifact")
    check_ids = {(c.stack, c.logical_id) for c in checks}
    models = ix.of("AWS::SageMaker::Model")
    unchecked = [
        m.logical_id for m in models if not any((m.stack, d) in check_ids for d in m.depends_on)
    ]
    if checks and unchecked:
        missing.append(f"models created without waiting for the check: {listed(unchecked)}")
    checkers = {
        (c.stack, ref(c.props.get("ServiceToken")))
        for c in checks
        if ref(c.props.get("ServiceToken"))
    }
    rechecks = sorted(
        {
            str(rule.props.get("ScheduleExpression"))
            for rule in ix.of("AWS::Events::Rule")
            if rule.props.get("ScheduleExpression")
            and any(
                (rule.stack, ref(t.get("Arn"))) in checkers for t in rule.props.get("Targets", [])
            )
        }
    )
    tamper = _tamper_alarms(ix)
    if not tamper:
        missing.append("tamper alarm on the artifact")
    verified = (
        f"SHA-256 verified by {listed(sorted({c.type for c in checks}))} before "
        f"{len(models) - len(unchecked)}/{len(models)} models exist"
    )
    if rechecks:
        verified += f", re-checked {listed(rechecks)}"
    if checks and missing:  # say what is there as well as what is not
        return Protection(15, "model and data integrity", Status.MISSING,
                          f"{verified}; missing: {'; '.join(missing)}")  # fmt: skip
    return protection(
        15,
        "model and data integrity",
        missing,
        f"{verified}; tamper alarm on {listed([metric for _, metric in tamper])}",
    )


_MANIFEST_PREFIX = "SecureEndpointManifest"  # secure_endpoint.manifest.OUTPUT_PREFIX


def incident_response(ix: Index) -> Protection:
    missing: list[str] = []
    topics = ix.of("AWS::SNS::Topic")
    if not topics:
        missing.append("no SNS topic for alerts")
    alarms = ix.of("AWS::CloudWatch::Alarm")
    silent = [a.logical_id for a in alarms if not a.props.get("AlarmActions")]
    if silent:
        missing.append(f"alarms that notify no one: {listed(silent)}")
    no_runbook = [
        a.logical_id
        for a in alarms
        if "runbook" not in str(a.props.get("AlarmDescription", "")).lower()
    ]
    if no_runbook:
        missing.append(f"alarms without a runbook link: {listed(no_runbook)}")
    if not alarms:
        missing.append("no alarm")
    expiring = [
        t
        for t in ix.of("AWS::DynamoDB::Table")
        if (t.props.get("TimeToLiveSpecification") or {}).get("Enabled")
    ]
    if not any(o.startswith(_MANIFEST_PREFIX) for o in ix.outputs()):
        missing.append(f"the endpoint manifest the response commands read ({_MANIFEST_PREFIX}...)")
    block = "auto-block list with expiry (DynamoDB TTL)" if expiring else "no expiring block list"
    return protection(
        16,
        "incident response",
        missing,
        f"{len(alarms)}/{len(alarms)} alarms notify {len(topics)} SNS topic{plural(len(topics))} "
        f"and link the runbook; {block}; block/revoke/rotate commands find their targets in "
        "the endpoint's manifest output",
    )

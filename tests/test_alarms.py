"""Anomaly detectors and alarms, the alert topic and the dashboard, through SecureEndpoint."""

import json

import pytest
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template
from test_endpoint import synth

from secure_endpoint import SPAMHAUS_DROP, WafOptions
from secure_endpoint.constructs.alarms import EndpointAlarms

pytestmark = pytest.mark.synth

BAND_ALARMS = {
    "ApiRequests": ("AWS/ApiGateway", "Count", "Sum", "LessThanLowerOrGreaterThanUpperThreshold"),
    "Api4xx": ("AWS/ApiGateway", "4XXError", "Sum", "GreaterThanUpperThreshold"),
    "Api5xx": ("AWS/ApiGateway", "5XXError", "Sum", "GreaterThanUpperThreshold"),
    "ApiLatency": ("AWS/ApiGateway", "Latency", "p90", "GreaterThanUpperThreshold"),
    "Invocations": (
        "AWS/SageMaker",
        "Invocations",
        "Sum",
        "LessThanLowerOrGreaterThanUpperThreshold",
    ),
    "ModelLatency": ("AWS/SageMaker", "ModelLatency", "p99", "GreaterThanUpperThreshold"),
    "WafBlocked": ("AWS/WAFV2", "BlockedRequests", "Sum", "GreaterThanUpperThreshold"),
}


@pytest.fixture(scope="module")
def built():
    _, stack, endpoint = synth(
        alarm_emails=["oncall@example.com"],
        waf=WafOptions(threat_intel_feeds=[SPAMHAUS_DROP]),
        runbook_url="https://wiki.example.com/runbook",
    )
    return stack, endpoint, Template.from_stack(stack)


def resource(stack, construct):
    return Template.from_stack(stack).to_json()["Resources"][
        stack.get_logical_id(construct.node.default_child)
    ]


@pytest.mark.parametrize("name", sorted(BAND_ALARMS))
def test_each_band_alarm_watches_its_own_detector(built, name):
    stack, endpoint, template = built
    namespace, metric_name, stat, operator = BAND_ALARMS[name]
    alarm = template.to_json()["Resources"][
        stack.get_logical_id(endpoint.alarms.alarms[name].node.default_child)
    ]
    props = alarm["Properties"]
    assert props["ComparisonOperator"] == operator
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (3, 2)
    assert props["TreatMissingData"] == "notBreaching"
    band = next(m for m in props["Metrics"] if "Expression" in m)
    assert band["Expression"] == "ANOMALY_DETECTION_BAND(m0, 3)"
    assert props["ThresholdMetricId"] == band["Id"]
    (watched,) = [m for m in props["Metrics"] if "MetricStat" in m]
    stat_props = watched["MetricStat"]
    assert (stat_props["Metric"]["Namespace"], stat_props["Metric"]["MetricName"]) == (
        namespace,
        metric_name,
    )
    assert (stat_props["Stat"], stat_props["Period"]) == (stat, 300)
    detector_id = stack.get_logical_id(
        endpoint.alarms.node.find_child(f"{name}Detector")  # the CfnAnomalyDetector itself
    )
    detector = template.to_json()["Resources"][detector_id]["Properties"]
    assert (detector["Namespace"], detector["MetricName"], detector["Stat"]) == (
        namespace,
        metric_name,
        stat,
    )
    assert {d["Name"]: d["Value"] for d in detector.get("Dimensions", [])} == {
        d["Name"]: d["Value"] for d in stat_props["Metric"].get("Dimensions", [])
    }
    assert detector_id in alarm["DependsOn"]


def test_every_alarm_notifies_the_topic_and_links_the_runbook(built):
    stack, endpoint, template = built
    topic = {"Ref": stack.get_logical_id(endpoint.alarm_topic.node.default_child)}
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    assert len(alarms) == len(endpoint.alarms.alarms) >= len(BAND_ALARMS) + 5
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [topic], name
        assert props["OKActions"] == [topic], name
        assert "Runbook: https://wiki.example.com/runbook#" in props["AlarmDescription"], name


def test_the_5xx_share_alarm_divides_errors_by_requests(built):
    stack, endpoint, _ = built
    props = resource(stack, endpoint.alarms.alarms["Api5xxRate"])["Properties"]
    expression = next(m for m in props["Metrics"] if "Expression" in m)
    assert expression["Expression"] == "IF(requests > 0, errors / requests, 0)"
    assert (props["Threshold"], props["ComparisonOperator"]) == (0.05, "GreaterThanThreshold")


def test_functions_and_dead_letter_queues_are_watched(built):
    _, endpoint, _ = built
    assert {
        "ClientSecretRotationErrors",
        "ClientSecretRotationDeadLetters",
        "ThreatIntelErrors",
        "ThreatIntelDeadLetters",
        "ArtifactCheckErrors",
        "ArtifactCheckDeadLetters",
    } <= set(endpoint.alarms.alarms)


def test_the_artifact_alarm_fires_on_a_changed_artifact_or_silent_checks(built):
    stack, endpoint, _ = built
    verification = endpoint.hosting.artifact_verification
    alarm = resource(stack, endpoint.alarms.alarms["ModelArtifactChanged"])
    props = alarm["Properties"]
    function = {"Ref": stack.get_logical_id(verification.function.node.default_child)}
    assert (props["Namespace"], props["MetricName"], props["Dimensions"]) == (
        "SecureEndpoint/Integrity",
        "ArtifactDigestMismatch",
        [{"Name": "FunctionName", "Value": function}],
    )
    assert (props["Statistic"], props["Period"], props["EvaluationPeriods"]) == ("Maximum", 3600, 1)
    assert (props["Threshold"], props["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert props["TreatMissingData"] == "breaching"
    topic = {"Ref": stack.get_logical_id(endpoint.alarm_topic.node.default_child)}
    assert props["AlarmActions"] == props["OKActions"] == [topic]
    assert props["AlarmDescription"].endswith(
        "Runbook: https://wiki.example.com/runbook#model-artifact-changed"
    )
    # The deploy-time check publishes the first data point before the alarm exists.
    check = stack.get_logical_id(verification.resource.node.default_child)
    assert check in alarm["DependsOn"]


def test_a_refused_unsafe_artifact_pages_through_its_own_alarm(built):
    stack, endpoint, _ = built
    verification = endpoint.hosting.artifact_verification
    props = resource(stack, endpoint.alarms.alarms["ModelArtifactUnsafe"])["Properties"]
    function = {"Ref": stack.get_logical_id(verification.function.node.default_child)}
    assert (props["Namespace"], props["MetricName"], props["Dimensions"]) == (
        "SecureEndpoint/Integrity",
        "ArtifactUnsafe",
        [{"Name": "FunctionName", "Value": function}],
    )
    assert (props["Statistic"], props["Period"], props["Threshold"]) == ("Maximum", 300, 0)
    assert props["TreatMissingData"] == "notBreaching"  # published by deploys only
    topic = {"Ref": stack.get_logical_id(endpoint.alarm_topic.node.default_child)}
    assert props["AlarmActions"] == [topic]
    assert props["AlarmDescription"].endswith(
        "Runbook: https://wiki.example.com/runbook#artifact-unsafe"
    )


def test_the_topic_is_encrypted_tls_only_and_mails_on_call(built):
    stack, endpoint, template = built
    key = {"Fn::GetAtt": [stack.get_logical_id(endpoint.key.node.default_child), "Arn"]}
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": key})
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"}
    )
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_cloudwatch_alarms_may_use_the_key_for_the_topic(built):
    stack, endpoint, _ = built
    policy = resource(stack, endpoint.key)["Properties"]["KeyPolicy"]["Statement"]
    (statement,) = [s for s in policy if s.get("Sid") == "AllowCloudWatchAlarmsOfThisAccount"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    }


def test_the_dashboard_shows_traffic_errors_latency_throttles_and_waf_blocks(built):
    _, _, template = built
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for title in (
        "Traffic",
        "Errors by class",
        "Latency percentiles",
        "Throttled and refused answers",
        "WAF blocks by rule",
        "Top addresses by requests",
        "Alarms",
    ):
        assert title in body, title


@pytest.mark.parametrize(
    ("props", "match"),
    [
        ({"email_addresses": "a@b.c"}, "email_addresses must be a list"),
        ({"email_addresses": ["not-an-address"]}, "email_addresses must hold addresses"),
        ({"std_devs": 0.5}, r"std_devs must be a number from 1 to 10, got 0\.5"),
        ({"server_error_rate": 0}, "server_error_rate must be a share above 0"),
        ({"runbook_url": " "}, "runbook_url must be a non-empty string"),
    ],
)
def test_rejects_bad_props(built, props, match):
    stack, endpoint, _ = built
    with pytest.raises(ValueError, match=match):
        EndpointAlarms(
            stack,
            f"Bad{len(stack.node.children)}",
            api=endpoint.api,
            hosting=endpoint.hosting,
            key=endpoint.key,
            **props,
        )


def test_alarm_names_and_runbook_sections_are_checked(built):
    stack, endpoint, _ = built
    queue = sqs.Queue(stack, "SomeQueue")
    with pytest.raises(ValueError, match="an alarm named 'Api5xx' exists already"):
        endpoint.alarms.add_threshold_alarm(
            "Api5xx", queue.metric_approximate_age_of_oldest_message(), threshold=1,
            description="x", runbook_section="x",
        )  # fmt: skip
    with pytest.raises(ValueError, match="runbook_section must be lowercase"):
        endpoint.alarms.add_threshold_alarm(
            "New", queue.metric_approximate_age_of_oldest_message(), threshold=1,
            description="x", runbook_section="Not An Anchor",
        )  # fmt: skip


def test_every_runbook_section_an_alarm_names_exists(built):
    import re
    from pathlib import Path

    _, _, template = built
    runbook = (Path(__file__).parent.parent / "docs" / "runbook.md").read_text()
    anchors = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', runbook))
    sections = {
        alarm["Properties"]["AlarmDescription"].rsplit("#", 1)[1]
        for alarm in template.find_resources("AWS::CloudWatch::Alarm").values()
    }
    assert sections <= anchors

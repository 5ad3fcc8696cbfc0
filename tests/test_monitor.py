"""The anomaly monitor construct: the hardened function in the VPC, its state bucket, grants,
schedule, alarms and dashboard widgets (through SecureEndpoint), nag and cfn-lint."""

import json

import pytest
from anomaly_monitor.config import Config
from aws_cdk import Duration
from aws_cdk.assertions import Match, Template
from endpoint_builder import as_built, synth_endpoint
from template_checks import cfn_lint

from secure_endpoint import ApiClient, MonitorOptions, compliance
from secure_endpoint.constructs import bundling

HANDLER = "anomaly_monitor.handler.handler"


def synth(**props):
    defaults = {
        "clients": [ApiClient("partner-a")],
        "allowed_cidrs": ["203.0.113.0/24"],
        "auto_block": True,
        "monitor_options": MonitorOptions(block_ttl=Duration.hours(2), max_blocks_per_run=7),
    }
    return synth_endpoint("Monitored", **(defaults | props))


@pytest.fixture(scope="module")
def built():
    return as_built(*synth())


@pytest.fixture(scope="module")
def template(built):
    return built["template"]


@pytest.fixture(scope="module")
def function(template):
    (function,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": HANDLER}}
    ).values()
    return function["Properties"]


def test_no_nag_finding_with_auto_block(built):
    assert compliance.findings(built["app"]) == []


def test_cfn_lint_reports_nothing(template):
    assert cfn_lint(template, "us-east-1") == []


def test_the_function_is_hardened_and_runs_in_the_isolated_subnets(function, built):
    # the Python that compiled the bundle's bytecode (bundling.BYTECODE_PACKAGES), 3.12 or newer
    assert function["Runtime"] == f"python{bundling.BYTECODE_PYTHON_VERSION}"
    assert int(function["Runtime"].removeprefix("python3.")) >= 12
    assert function["MemorySize"] == 1024
    assert function["Timeout"] == 300
    assert "ReservedConcurrentExecutions" not in function  # opt-in: reserved_concurrency
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert "TargetArn" in function["DeadLetterConfig"]
    endpoint, stack = built["endpoint"], built["stack"]
    key = stack.get_logical_id(endpoint.key.node.default_child)
    assert function["KmsKeyArn"] == {"Fn::GetAtt": [key, "Arn"]}
    isolated = [stack.resolve(subnet.subnet_id) for subnet in endpoint.vpc.isolated_subnets]
    assert len(isolated) == 2
    assert function["VpcConfig"]["SubnetIds"] == isolated
    assert endpoint.monitor_function is endpoint.monitor.function


def test_the_environment_carries_the_settings_the_function_reads(function, built):
    env = built["stack"].resolve(function["Environment"]["Variables"])
    settings = json.loads(_literal(env["MONITOR_SETTINGS"]))
    assert settings["auto_block"] is True
    assert settings["block_ttl_seconds"] == 7200
    assert settings["max_blocks_per_run"] == 7
    assert settings["window_seconds"] == 300
    assert json.loads(_literal(env["PROTECTED_CIDRS"])) == ["203.0.113.0/24"]
    # the function's own parser takes what the construct writes
    parsed = Config.from_env(
        {
            "ACCESS_LOG_GROUP": "g",
            "STATE_BUCKET": "b",
            "ALERT_TOPIC_ARN": "t",
            "BLOCK_TABLE_NAME": "tbl",
            "AUTO_BLOCK_SET_ARNS": '{"4": "a", "6": "b"}',
            "MONITOR_SETTINGS": json.dumps(settings),
        }
    )
    assert parsed.settings.block_ttl_seconds == 7200


def _literal(value):
    """A ``Fn::Join`` of literal parts (to_json_string of literals) as its string."""
    if isinstance(value, str):
        return value
    return "".join(part for part in value["Fn::Join"][1] if isinstance(part, str))


def test_it_runs_every_five_minutes_with_a_dead_letter_queue(template):
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(5 minutes)",
            "Targets": [
                Match.object_like(
                    {"DeadLetterConfig": Match.any_value(), "RetryPolicy": Match.any_value()}
                )
            ],
        },
    )


def test_the_state_bucket_is_kms_encrypted_versioned_logged_and_writable_by_the_monitor_only(
    template, built
):
    monitor = built["endpoint"].monitor
    stack = built["stack"]
    bucket_id = stack.get_logical_id(monitor.state_bucket.node.default_child)
    bucket = template.to_json()["Resources"][bucket_id]["Properties"]
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "LoggingConfiguration" in bucket
    assert bucket["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    (policy,) = template.find_resources(
        "AWS::S3::BucketPolicy", {"Properties": {"Bucket": {"Ref": bucket_id}}}
    ).values()
    deny = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "OnlyTheMonitorWritesState"
    ]
    assert deny[0]["Effect"] == "Deny"
    role_id = stack.get_logical_id(monitor.role.node.default_child)
    assert deny[0]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == {
        "Fn::GetAtt": [role_id, "Arn"]
    }


def test_the_role_queries_only_the_access_log_group_and_writes_only_the_auto_block_sets(
    template, built
):
    stack = built["stack"]
    monitor = built["endpoint"].monitor
    grants = stack.resolve(monitor.role.grants_policy.document.to_json())
    statements = grants["Statement"]
    start = next(s for s in statements if s["Action"] == "logs:StartQuery")
    log_group = built["endpoint"].access_log_group
    assert start["Resource"] == stack.resolve(log_group.log_group_arn)
    waf = next(s for s in statements if "wafv2:UpdateIPSet" in s["Action"])
    assert waf["Resource"] == [
        stack.resolve(ip_set.attr_arn) for ip_set in built["endpoint"].auto_block_ip_sets
    ]


def test_the_vpc_gets_the_endpoints_the_monitor_needs(template):
    services = [
        json.dumps(e["Properties"]["ServiceName"])
        for e in template.find_resources("AWS::EC2::VPCEndpoint").values()
    ]
    for name in ("logs", "sns", "wafv2", "dynamodb", "s3"):
        assert any(f".{name}" in s for s in services), name


def test_alarms_watch_its_anomaly_metric_errors_and_dead_letters(template):
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    descriptions = [a["Properties"]["AlarmDescription"] for a in alarms.values()]
    assert any(
        "anomalous clients or addresses" in d and "#anomaly-monitor" in d for d in descriptions
    )
    assert any(d.startswith("the anomaly monitor failed") for d in descriptions)
    assert any("A failed run of the anomaly monitor" in d for d in descriptions)
    template.has_resource_properties(
        "AWS::CloudWatch::AnomalyDetector",
        {"MetricName": "AnomalousPrincipals", "Namespace": "SecureEndpoint/Anomaly"},
    )


def test_the_dashboard_shows_top_anomalous_clients_and_blocked_addresses(template, built):
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(built["stack"].resolve(dashboard["Properties"]["DashboardBody"]))
    assert "Top anomalous clients and addresses" in body
    assert "Blocked addresses" in body


def test_without_the_monitor_there_is_no_function_and_no_extra_endpoint():
    _, stack, endpoint = synth(anomaly_monitor=False, auto_block=False, monitor_options=None)
    template = Template.from_stack(stack)
    assert endpoint.monitor is None
    assert not template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": HANDLER}}
    )


# Invalid monitor props: tests/test_bad_props.py.

"""The anomaly monitor construct: the hardened function in the VPC, its state bucket, grants,
schedule, alarms and dashboard widgets (through SecureEndpoint). Nag and cfn-lint:
test_compliance_matrix.py."""

import fnmatch
import json

import pytest
from anomaly_model_fitter.handler import Config as FitterConfig
from anomaly_monitor import adapters
from anomaly_monitor.config import Config
from aws_cdk import Duration
from aws_cdk.assertions import Match, Template
from configurations import once
from endpoint_builder import as_built, synth_endpoint
from state_access import PREFIXES, S3_ACCESS

from secure_endpoint import ApiClient, MonitorOptions
from secure_endpoint.constructs import bundling

pytestmark = pytest.mark.synth

HANDLER = "anomaly_monitor.handler.handler"
FITTER_HANDLER = "anomaly_model_fitter.handler.handler"


def synth(**props):
    defaults = {
        "clients": [ApiClient("partner-a")],
        "allowed_cidrs": ["203.0.113.0/24"],
        "auto_block": True,
        "monitor_options": MonitorOptions(block_ttl=Duration.hours(2), max_blocks_per_run=7),
    }
    return synth_endpoint("Monitored", **(defaults | props))


def configuration():
    """The configuration of this module (and a row of the compliance matrix)."""
    return as_built(*synth())


@pytest.fixture(scope="module")
def built():
    return once(configuration)


@pytest.fixture(scope="module")
def template(built):
    return built["template"]


@pytest.fixture(scope="module")
def function(template):
    (function,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": HANDLER}}
    ).values()
    return function["Properties"]


@pytest.fixture(scope="module")
def fitter(template):
    (fitter,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": FITTER_HANDLER}}
    ).values()
    return fitter


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


def test_the_function_publishes_under_a_service_of_its_own_that_its_metrics_name(function, built):
    monitor = built["endpoint"].monitor
    # the monitor's path, stable across synths: two endpoints never mix their numbers
    service = "anomaly-monitor-Monitored-Endpoint-AnomalyMonitor-0C0321EF"
    assert monitor.service_name == service
    assert function["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == service
    for metric in (
        monitor.metric_anomalous_principals(),
        monitor.metric_max_address_score(),
        monitor.metric_active_blocks(),
    ):
        assert metric.dimensions == {"service": service}, metric.metric_name
    assert monitor.metric_client_score("partner-a").dimensions == {
        "service": service,
        "Client": "partner-a",
    }


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


def test_alarms_watch_its_anomaly_metric_errors_and_dead_letters(template, built):
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    descriptions = [a["Properties"]["AlarmDescription"] for a in alarms.values()]
    assert any(
        "anomalous clients or addresses" in d and "#anomaly-monitor" in d for d in descriptions
    )
    assert any(d.startswith("the anomaly monitor failed") for d in descriptions)
    assert any("A failed run of the anomaly monitor" in d for d in descriptions)
    template.has_resource_properties(
        "AWS::CloudWatch::AnomalyDetector",
        {
            "MetricName": "AnomalousPrincipals",
            "Namespace": "SecureEndpoint/Anomaly",
            "Dimensions": [{"Name": "service", "Value": built["endpoint"].monitor.service_name}],
        },
    )


def test_an_unparseable_access_log_line_alarms_at_once(template):
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    (alarm,) = [
        a["Properties"]
        for a in alarms.values()
        if a["Properties"].get("MetricName") == "UnparseableLogLines"
    ]
    assert alarm["Namespace"] == "SecureEndpoint/Anomaly"
    service = "anomaly-monitor-Monitored-Endpoint-AnomalyMonitor-0C0321EF"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": service}]
    assert (alarm["Statistic"], alarm["Period"]) == ("Sum", 300)  # the monitor's schedule
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert (alarm["Threshold"], alarm["EvaluationPeriods"]) == (0, 1)
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmDescription"].endswith("#unparseable-log-lines")
    assert "cannot parse" in alarm["AlarmDescription"]
    # to the alert topic, as every other alarm
    (anomalous,) = [
        a["Properties"]
        for a in alarms.values()
        if a["Properties"]["AlarmDescription"].endswith("#anomaly-monitor")
    ]
    assert alarm["AlarmActions"] == alarm["OKActions"] == anomalous["AlarmActions"]
    assert len(alarm["AlarmActions"]) == 1


def test_the_dashboard_shows_top_anomalous_clients_and_blocked_addresses(template, built):
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(built["stack"].resolve(dashboard["Properties"]["DashboardBody"]))
    assert "Top anomalous clients and addresses" in body
    assert "Blocked addresses" in body


def test_without_the_monitor_there_is_no_function_and_no_extra_endpoint():
    _, stack, endpoint = synth(anomaly_monitor=False, auto_block=False, monitor_options=None)
    template = Template.from_stack(stack)
    assert endpoint.monitor is None
    for handler in (HANDLER, FITTER_HANDLER):
        assert not template.find_resources(
            "AWS::Lambda::Function", {"Properties": {"Handler": handler}}
        )


# --- the model fitter ----------------------------------------------------------------------


def test_the_fitter_is_hardened_like_the_monitor_in_the_isolated_subnets(fitter, function, built):
    props = fitter["Properties"]
    assert props["Runtime"] == function["Runtime"] == f"python{bundling.BYTECODE_PYTHON_VERSION}"
    assert props["MemorySize"] == 1024
    assert props["Timeout"] == 300
    assert props["TracingConfig"] == {"Mode": "Active"}
    endpoint, stack = built["endpoint"], built["stack"]
    monitor = endpoint.monitor
    key = stack.get_logical_id(endpoint.key.node.default_child)
    assert props["KmsKeyArn"] == {"Fn::GetAtt": [key, "Arn"]}
    queue = stack.get_logical_id(monitor.fitter_dead_letter_queue.node.default_child)
    assert props["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [queue, "Arn"]}}
    assert props["VpcConfig"]["SubnetIds"] == function["VpcConfig"]["SubnetIds"]
    group = stack.get_logical_id(monitor.fitter_security_group.node.default_child)
    assert props["VpcConfig"]["SecurityGroupIds"] == [{"Fn::GetAtt": [group, "GroupId"]}]
    logs = stack.get_logical_id(monitor.fitter_log_group.node.default_child)
    assert props["LoggingConfig"]["LogGroup"] == {"Ref": logs}
    log_group = built["template"].to_json()["Resources"][logs]["Properties"]
    assert log_group["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
    assert log_group["RetentionInDays"] == 365
    # created after its grants and after the VPC endpoints it reaches S3 through
    depends = fitter["DependsOn"]
    grants = stack.get_logical_id(monitor.fitter_role.grants_policy.node.default_child)
    assert grants in depends
    s3_endpoint = stack.get_logical_id(endpoint.network.s3_endpoint.node.default_child)
    assert s3_endpoint in depends


def test_the_fitters_security_group_lets_only_https_out(template, built):
    monitor = built["endpoint"].monitor
    group_id = built["stack"].get_logical_id(monitor.fitter_security_group.node.default_child)
    group = template.to_json()["Resources"][group_id]["Properties"]
    assert "SecurityGroupIngress" not in group
    assert group["SecurityGroupEgress"] == [
        {
            "CidrIp": "0.0.0.0/0",
            "Description": "HTTPS to the S3 gateway endpoint",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]


def test_the_fitter_runs_hourly_with_the_monitors_settings(fitter, function, template, built):
    stack = built["stack"]
    env = stack.resolve(fitter["Properties"]["Environment"]["Variables"])
    monitor_env = stack.resolve(function["Environment"]["Variables"])
    assert env["MONITOR_SETTINGS"] == monitor_env["MONITOR_SETTINGS"]
    assert env["STATE_BUCKET"] == monitor_env["STATE_BUCKET"]
    # its own service, after the monitor's path: the monitor's metrics are not mixed with it
    assert env["POWERTOOLS_SERVICE_NAME"] == (
        "anomaly-model-fitter-Monitored-Endpoint-AnomalyMonitor-0C0321EF"
    )
    assert env["POWERTOOLS_SERVICE_NAME"] == built["endpoint"].monitor.fitter_service_name
    parsed = FitterConfig.from_env(
        {"STATE_BUCKET": "b", "MONITOR_SETTINGS": _literal(env["MONITOR_SETTINGS"])}
    )
    assert parsed.settings.retrain_seconds == 86_400
    monitor = built["endpoint"].monitor
    rule_id = stack.get_logical_id(monitor.fitter_rule.node.default_child)
    rule = template.to_json()["Resources"][rule_id]["Properties"]
    assert rule["ScheduleExpression"] == "rate(1 hour)"
    (target,) = rule["Targets"]
    fitter_id = stack.get_logical_id(monitor.fitter.node.default_child)
    assert target["Arn"] == {"Fn::GetAtt": [fitter_id, "Arn"]}
    queue = stack.get_logical_id(monitor.fitter_dead_letter_queue.node.default_child)
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue, "Arn"]}}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 2}


BUCKET = "arn:aws:s3:::state"


def _arns(value, bucket_id):
    """Resource ARNs of a resolved statement, the state bucket's GetAtt written as BUCKET."""
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        if v == {"Fn::GetAtt": [bucket_id, "Arn"]}:
            out.append(BUCKET)
        elif isinstance(v, dict) and "Fn::Join" in v:
            parts = v["Fn::Join"][1]
            out.append(
                "".join(
                    BUCKET
                    if p == {"Fn::GetAtt": [bucket_id, "Arn"]}
                    else p
                    if isinstance(p, str)
                    else "<other>"
                    for p in parts
                )
            )
        else:
            out.append(json.dumps(v))
    return out


def _allows(statements, bucket_id, action, arn):
    """Whether an Allow statement of ``statements`` grants ``action`` on ``arn``."""
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        if s["Effect"] != "Allow" or not any(fnmatch.fnmatchcase(action, a) for a in actions):
            continue
        if any(fnmatch.fnmatchcase(arn, r) for r in _arns(s["Resource"], bucket_id)):
            return True
    return False


def _grants(built, role):
    stack = built["stack"]
    bucket_id = stack.get_logical_id(built["endpoint"].monitor.state_bucket.node.default_child)
    statements = stack.resolve(role.grants_policy.document.to_json())["Statement"]
    return statements, bucket_id


# The objects each function reads and writes (the keys of lambdas/anomaly_monitor/adapters.py).
HISTORY = f"{adapters.HISTORY_PREFIX}1700000000-0123456789abcdef.bin"
MODEL = f"{adapters.MODEL_PREFIX}{'ab' * 32}.bin"
ALERT = f"{adapters.ALERT_PREFIX}1700000000.json"


def _example_keys(prefix):
    return {
        "state/": (adapters.POINTER_KEY, HISTORY),
        "alerts/": (ALERT,),
        "model/": (adapters.MODEL_POINTER_KEY, MODEL),
    }[prefix]


@pytest.mark.parametrize("function", ["monitor", "fitter"])
def test_each_role_may_call_s3_exactly_where_its_handler_does(built, function):
    # S3_ACCESS is what the handlers call (recorded by test_monitor_handler.py in moto)
    monitor = built["endpoint"].monitor
    role = monitor.role if function == "monitor" else monitor.fitter_role
    statements, bucket = _grants(built, role)
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        allowed = S3_ACCESS[function].get(action, ())
        for prefix in PREFIXES:
            for key in _example_keys(prefix):
                granted = _allows(statements, bucket, action, f"{BUCKET}/{key}")
                assert granted == (prefix in allowed), (function, action, key)
    # a missing key (no model yet, no alert marker) must read as 404, not 403
    assert _allows(statements, bucket, "s3:ListBucket", BUCKET)


def test_the_fitter_writes_only_the_model_and_the_monitor_never_does(built):
    monitor = built["endpoint"].monitor
    fitter, bucket = _grants(built, monitor.fitter_role)
    own, _ = _grants(built, monitor.role)
    for key in (adapters.MODEL_POINTER_KEY, MODEL):
        assert _allows(fitter, bucket, "s3:PutObject", f"{BUCKET}/{key}")
        assert not _allows(own, bucket, "s3:PutObject", f"{BUCKET}/{key}")
    for key in (adapters.POINTER_KEY, HISTORY, ALERT):
        assert not _allows(fitter, bucket, "s3:PutObject", f"{BUCKET}/{key}")


def test_the_bucket_policy_lets_one_role_write_each_prefix(template, built):
    monitor, stack = built["endpoint"].monitor, built["stack"]
    bucket_id = stack.get_logical_id(monitor.state_bucket.node.default_child)
    (policy,) = template.find_resources(
        "AWS::S3::BucketPolicy", {"Properties": {"Bucket": {"Ref": bucket_id}}}
    ).values()
    by_sid = {s.get("Sid"): s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    state, models = by_sid["OnlyTheMonitorWritesState"], by_sid["OnlyTheFitterWritesModels"]
    writes = ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"]
    for deny in (state, models):
        assert deny["Effect"] == "Deny"
        assert deny["Principal"] == {"AWS": "*"}
        assert deny["Action"] == writes
    assert _arns(state["NotResource"], bucket_id) == [f"{BUCKET}/{adapters.MODEL_PREFIX}*"]
    assert _arns(models["Resource"], bucket_id) == [f"{BUCKET}/{adapters.MODEL_PREFIX}*"]
    role = stack.get_logical_id(monitor.role.node.default_child)
    fitter_role = stack.get_logical_id(monitor.fitter_role.node.default_child)
    assert state["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": [role, "Arn"]}}
    }
    assert models["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": [fitter_role, "Arn"]}}
    }


def test_alarms_watch_the_fitters_errors_and_dead_letters(template, built):
    alarms = built["endpoint"].alarms.alarms
    stack = built["stack"]
    fitter = built["endpoint"].monitor.fitter
    errors = template.to_json()["Resources"][
        stack.get_logical_id(alarms["AnomalyModelFitterErrors"].node.default_child)
    ]["Properties"]
    assert errors["AlarmDescription"].startswith("the anomaly model fitter failed")
    assert errors["MetricName"] == "Errors"
    assert errors["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": stack.get_logical_id(fitter.node.default_child)}}
    ]
    dead = template.to_json()["Resources"][
        stack.get_logical_id(alarms["AnomalyModelFitterDeadLetters"].node.default_child)
    ]["Properties"]
    assert "the anomaly model fitter" in dead["AlarmDescription"]
    queue = stack.get_logical_id(fitter.dead_letter_queue.node.default_child)
    assert dead["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}
    ]


# Invalid monitor props: tests/test_bad_props.py.

"""``MonitorOptions(disable_api_keys=True)`` through SecureEndpoint: the request topic only the
monitor may publish to, the responder outside the VPC subscribed with a filter and a dead-letter
queue, its role held to the clients' API keys. Nag and cfn-lint: test_compliance_matrix.py."""

import json
from pathlib import Path

import pytest
from api_key_responder.config import Config
from aws_cdk import App, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Annotations, Match, Template
from configurations import once
from constructs import Construct
from endpoint_builder import as_built, synth_endpoint

from secure_endpoint import ApiClient, MonitorOptions
from secure_endpoint.constructs import bundling
from secure_endpoint.constructs.api_key_responder import ApiKeyResponder

pytestmark = pytest.mark.synth

HANDLER = "api_key_responder.handler.handler"
CLIENTS = [ApiClient("partner-a"), ApiClient("partner-b")]


def synth(**props):
    defaults = {
        "clients": CLIENTS,
        "auto_block": True,
        "monitor_options": MonitorOptions(disable_api_keys=True, max_key_disables_per_run=2),
    }
    return synth_endpoint("Responding", **(defaults | props))


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
def responder(built):
    responder = built["endpoint"].monitor.responder
    assert responder is not None
    return responder


@pytest.fixture(scope="module")
def function(template):
    (function,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": HANDLER}}
    ).values()
    return function["Properties"]


def test_the_option_is_warned_at_synth_as_a_strong_action(built):
    warnings = Annotations.from_stack(built["stack"]).find_warning(
        "*", Match.string_like_regexp("disable-api-keys")
    )
    (warning,) = warnings
    assert "locks that partner out" in warning.entry.data


def test_the_responder_is_hardened_outside_the_vpc(function, responder, built):
    assert function["Runtime"] == "python3.14"
    assert function["MemorySize"] == 256
    assert function["Timeout"] == 60
    assert "ReservedConcurrentExecutions" not in function  # opt-in: reserved_concurrency
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert "KmsKeyArn" in function
    assert "VpcConfig" not in function
    stack = built["stack"]
    assert function["DeadLetterConfig"]["TargetArn"] == stack.resolve(
        responder.dead_letter_queue.queue_arn
    )
    log_config = stack.resolve(function["LoggingConfig"])
    assert log_config["LogGroup"] == stack.resolve(responder.log_group.log_group_name)


def test_the_bundle_ships_the_runtime_its_powertools_set_up_lives_in(function):
    def asset_key(**options):
        stack = Stack(App(context={"aws:cdk:bundling-stacks": []}), "Keys")
        code = bundling.lambda_code("api_key_responder", Path("unused-cache"), **options)
        return code.bind(stack).s3_location.object_key

    # the key CDK derives from the bundle's hash, which covers secure_endpoint/runtime
    assert function["Code"]["S3Key"] == asset_key(include_runtime=True)
    assert function["Code"]["S3Key"] != asset_key()


def test_the_environment_maps_each_cognito_client_id_to_its_api_key(function, built):
    stack, endpoint = built["stack"], built["endpoint"]
    env = function["Environment"]["Variables"]
    clients = stack.resolve(env["API_KEY_CLIENTS"])
    rendered = json.dumps(clients)
    for client in CLIENTS:
        client_id = stack.resolve(endpoint.identity.app_clients[client.name].user_pool_client_id)
        key_id = stack.resolve(endpoint.api.api_keys[client.name].key_id)
        assert json.dumps(client_id) in rendered
        assert json.dumps(key_id) in rendered
    # its own service, after its path: another endpoint's responder publishes apart
    service = "api-key-responder-Responding-Endpoint-AnomalyMonitor-ApiKeyResponder-14A53573"
    responder = endpoint.monitor.responder
    assert responder.service_name == service
    assert env["POWERTOOLS_SERVICE_NAME"] == service
    assert responder.metric_keys_disabled().dimensions == {"service": service}
    # the function's own parser takes the shape the construct writes
    literal = {"id-a": {"name": "partner-a", "apiKeyId": "k1"}}
    parsed = Config.from_env(
        {"API_KEY_CLIENTS": json.dumps(literal), "REQUEST_TOPIC_ARN": "t", "ALERT_TOPIC_ARN": "a"}
    )
    assert parsed.clients["id-a"].api_key_id == "k1"
    responder = endpoint.monitor.responder
    assert stack.resolve(env["REQUEST_TOPIC_ARN"]) == stack.resolve(responder.topic.topic_arn)


def test_the_role_may_read_and_disable_exactly_the_clients_api_keys(responder, built):
    stack, endpoint = built["stack"], built["endpoint"]
    statements = stack.resolve(responder.role.grants_policy.document.to_json())["Statement"]
    (keys,) = [s for s in statements if "apigateway:PATCH" in s["Action"]]
    assert keys["Action"] == ["apigateway:GET", "apigateway:PATCH"]
    expected = [
        {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":apigateway:",
                    {"Ref": "AWS::Region"},
                    "::/apikeys/",
                    stack.resolve(endpoint.api.api_keys[name].key_id),
                ],
            ]
        }
        for name in ("partner-a", "partner-b")
    ]
    assert keys["Resource"] == expected
    actions = {a for s in statements for a in _list(s["Action"])}
    assert not {a for a in actions if a.startswith("apigateway:")} - {
        "apigateway:GET",
        "apigateway:PATCH",
    }
    assert all("*" not in a for a in actions)


def _list(value):
    return value if isinstance(value, list) else [value]


def test_only_the_monitor_may_publish_requests(template, responder, built):
    stack, monitor = built["stack"], built["endpoint"].monitor
    template.has_resource_properties(
        "AWS::SNS::Topic",
        {"KmsMasterKeyId": Match.any_value(), "DisplayName": Match.string_like_regexp("disable")},
    )
    (policy,) = [
        p["Properties"]
        for p in template.find_resources("AWS::SNS::TopicPolicy").values()
        if p["Properties"]["Topics"] == [stack.resolve(responder.topic.topic_arn)]
    ]
    deny = next(
        s for s in policy["PolicyDocument"]["Statement"] if s.get("Sid") == "OnlyTheMonitorRequests"
    )
    assert deny["Effect"] == "Deny"
    assert deny["Action"] == "sns:Publish"
    assert deny["Principal"] == {"AWS": "*"}
    assert deny["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": stack.resolve(monitor.role.role_arn)}
    }
    monitor_statements = stack.resolve(monitor.role.grants_policy.document.to_json())["Statement"]
    assert {
        "Action": "sns:Publish",
        "Effect": "Allow",
        "Resource": stack.resolve(responder.topic.topic_arn),
    } in monitor_statements


def test_the_responder_is_subscribed_with_a_filter_and_a_dead_letter_queue(
    template, responder, built
):
    stack = built["stack"]
    template.has_resource_properties(
        "AWS::SNS::Subscription",
        {
            "Protocol": "lambda",
            "TopicArn": stack.resolve(responder.topic.topic_arn),
            "Endpoint": stack.resolve(responder.function.function_arn),
            "FilterPolicy": {"action": ["disable-api-key"]},
            "RedrivePolicy": {
                "deadLetterTargetArn": stack.resolve(responder.dead_letter_queue.queue_arn)
            },
        },
    )


def test_the_monitor_knows_where_to_send_requests(template, responder, built):
    stack = built["stack"]
    (monitor,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "anomaly_monitor.handler.handler"}}
    ).values()
    env = monitor["Properties"]["Environment"]["Variables"]
    assert env["API_KEY_REQUEST_TOPIC_ARN"] == stack.resolve(responder.topic.topic_arn)
    settings = json.loads(env["MONITOR_SETTINGS"])
    assert settings["disable_api_keys"] is True
    assert settings["max_key_disables_per_run"] == 2


def test_two_responders_in_one_stack_publish_apart():
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, "Two")
    key, alerts = kms.Key(stack, "Key"), sns.Topic(stack, "Alerts")
    pool = cognito.UserPool(stack, "Pool")
    responders = []
    for name in ("First", "Second"):
        scope = Construct(stack, name)
        responders.append(
            ApiKeyResponder(
                scope,
                "Responder",
                api_keys={"a": apigw.ApiKey(scope, "ApiKey")},
                app_clients={"a": pool.add_client(f"{name}Client")},
                requester=iam.Role(
                    scope, "Requester", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com")
                ),
                key=key,
                alert_topic=alerts,
            )
        )
    functions = Template.from_stack(stack).find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": HANDLER}}
    )
    services = {
        logical_id: f["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        for logical_id, f in functions.items()
    }
    first, second = responders
    assert first.service_name != second.service_name
    for responder in responders:
        assert services[stack.get_logical_id(responder.function.node.default_child)] == (
            responder.service_name
        )
        assert responder.metric_keys_disabled().dimensions == {"service": responder.service_name}


def test_alarms_watch_the_responder_errors_and_dead_letters(built):
    alarms = built["endpoint"].alarms.alarms
    assert {"ApiKeyResponderErrors", "ApiKeyResponderDeadLetters"} <= set(alarms)


def test_off_by_default_no_responder_and_no_topic_for_it():
    _, stack, endpoint = synth(monitor_options=None)
    assert endpoint.monitor.responder is None
    template = Template.from_stack(stack)
    assert not template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": HANDLER}}
    )
    assert not template.find_resources(
        "AWS::SNS::Subscription", {"Properties": {"Protocol": "lambda"}}
    )


def test_rejects_disable_api_keys_without_auto_block():
    with pytest.raises(
        ValueError, match=r"monitor_options.disable_api_keys=True needs auto_block=True"
    ):
        synth(auto_block=False)


def test_rejects_a_bad_cap():
    with pytest.raises(ValueError, match="max_key_disables_per_run"):
        synth(monitor_options=MonitorOptions(disable_api_keys=True, max_key_disables_per_run=0))

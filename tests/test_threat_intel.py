"""The threat intelligence construct: IP sets, the scheduled function, its grants. Nag and
cfn-lint: test_compliance_matrix.py."""

import pytest
from aws_cdk import App, Duration, Environment, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Capture, Match, Template
from configurations import once
from threat_intel_feed import feeds as function_feeds
from threat_intel_feed import handler as feed_function
from threat_intel_feed.config import Config

from secure_endpoint.constructs.keys import EncryptionKey
from secure_endpoint.constructs.threat_intel import (
    METRICS_NAMESPACE,
    SERVICE,
    SPAMHAUS_DROP,
    SPAMHAUS_DROP_V6,
    TOR_EXIT_NODES,
    FeedFormat,
    ThreatIntelFeed,
    ThreatIntelFeeds,
)

pytestmark = pytest.mark.synth

FEEDS = [SPAMHAUS_DROP, TOR_EXIT_NODES]


def synth(env=None, **props):
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, "Intel", env=env)
    key = EncryptionKey(stack, "Key").key
    intel = ThreatIntelFeeds(stack, "ThreatIntel", **({"feeds": FEEDS, "key": key} | props))
    return app, stack, intel


def configuration():
    """The configuration of this module (and a row of the compliance matrix)."""
    app, stack, intel = synth(protected_cidrs=["203.0.113.0/24", "2001:db8::/32"])
    return {"app": app, "stack": stack, "intel": intel, "template": Template.from_stack(stack)}


def in_a_concrete_environment():
    """A row of the compliance matrix: a stack with a concrete account and region."""
    return synth(env=Environment(account="123456789012", region="eu-west-1"))


@pytest.fixture(scope="module")
def built():
    return once(configuration)


@pytest.fixture(scope="module")
def template(built):
    return built["template"]


@pytest.fixture(scope="module")
def function(template):
    (function,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "threat_intel_feed.handler.handler"}}
    ).values()
    return function


def logical_id(built, construct):
    return built["stack"].get_logical_id(construct.node.default_child or construct)


def key_id(built):
    return logical_id(built, built["stack"].node.find_child("Key").key)


def test_each_feed_gets_an_empty_ipv4_and_ipv6_set(built, template):
    ip_sets = template.find_resources("AWS::WAFv2::IPSet")
    assert len(ip_sets) == 4
    for version in (4, 6):
        for feed in FEEDS:
            template.has_resource_properties(
                "AWS::WAFv2::IPSet",
                {
                    "Scope": "REGIONAL",
                    "IPAddressVersion": f"IPV{version}",
                    "Addresses": [],
                    "Description": Match.string_like_regexp(f"IPv{version} .* {feed.name} feed"),
                },
            )
    intel = built["intel"]
    assert [built["stack"].get_logical_id(s) for s in intel.ip_sets] == list(ip_sets)
    assert [s.ip_address_version for s in intel.ip_sets_by_feed["tor-exit-nodes"]] == [
        "IPV4",
        "IPV6",
    ]


def test_the_function_runs_hardened_outside_any_vpc(built, function):
    props = function["Properties"]
    assert props["Runtime"] == "python3.14"
    assert (props["MemorySize"], props["Timeout"]) == (256, 300)
    assert "ReservedConcurrentExecutions" not in props  # opt-in: reserved_concurrency
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert "VpcConfig" not in props
    assert props["KmsKeyArn"] == {"Fn::GetAtt": [key_id(built), "Arn"]}
    intel = built["intel"]
    assert props["DeadLetterConfig"] == {
        "TargetArn": {"Fn::GetAtt": [logical_id(built, intel.dead_letter_queue), "Arn"]}
    }
    assert props["LoggingConfig"] == {"LogGroup": {"Ref": logical_id(built, intel.log_group)}}


def test_a_failed_run_is_not_retried_and_a_late_one_is_dropped(template):
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 3600, "Qualifier": "$LATEST"},
    )


def test_the_environment_is_the_configuration_the_function_reads(built, function):
    variables = function["Properties"]["Environment"]["Variables"]
    parts = variables["THREAT_INTEL_FEEDS"]["Fn::Join"][1]
    arn_of = {}
    for part in parts:
        if isinstance(part, dict):
            ip_set = part["Fn::GetAtt"][0]
            arn_of[ip_set] = (
                f"arn:aws:wafv2:us-east-1:123456789012:regional/ipset/{ip_set}/"
                f"{len(arn_of):08d}-0000-4000-8000-000000000000"
            )
    rendered = "".join(p if isinstance(p, str) else arn_of[p["Fn::GetAtt"][0]] for p in parts)
    config = Config.from_env(
        {"THREAT_INTEL_FEEDS": rendered, "PROTECTED_CIDRS": variables["PROTECTED_CIDRS"]}
    )
    stack = built["stack"]
    ip_sets = built["intel"].ip_sets_by_feed
    assert [(f.name, f.url, f.format.value, f.guard.min_entries) for f in config.feeds] == [
        ("spamhaus-drop", SPAMHAUS_DROP.url, "spamhaus-json", 100),
        ("tor-exit-nodes", TOR_EXIT_NODES.url, "plain", 100),
    ]
    for feed in config.feeds:
        v4, v6 = (stack.get_logical_id(s) for s in ip_sets[feed.name])
        assert (feed.ipv4_set_arn, feed.ipv6_set_arn) == (arn_of[v4], arn_of[v6])
    assert config.protected_cidrs == ("203.0.113.0/24", "2001:db8::/32")


def test_the_formats_are_those_the_function_parses():
    assert {f.value for f in FeedFormat} == {f.value for f in function_feeds.FeedFormat}


def test_the_function_may_read_and_update_exactly_its_ip_sets(built, template):
    resources = Capture()
    template.has_resource_properties(
        "AWS::IAM::ManagedPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": ["wafv2:GetIPSet", "wafv2:UpdateIPSet"],
                            "Effect": "Allow",
                            "Resource": resources,
                        }
                    ]
                )
            }
        },
    )
    granted = [r["Fn::GetAtt"] for r in resources.as_array()]
    ip_sets = template.find_resources("AWS::WAFv2::IPSet")
    assert granted == [[ip_set, "Arn"] for ip_set in ip_sets]


def test_no_statement_grants_a_wildcard_but_tracing(template):
    statements = [
        statement
        for policy in template.find_resources("AWS::IAM::ManagedPolicy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert not template.find_resources("AWS::IAM::Policy")
    wildcards = [s["Action"] for s in statements if s["Resource"] == "*"]
    assert wildcards == [["xray:PutTraceSegments", "xray:PutTelemetryRecords"]]
    actions = [
        a
        for s in statements
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert not [a for a in actions if a == "*" or a.endswith(":*")]


def test_the_function_can_send_failed_runs_to_its_encrypted_queue(built, template):
    template.has_resource_properties(
        "AWS::IAM::ManagedPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                            "Effect": "Allow",
                            "Resource": {"Fn::GetAtt": [key_id(built), "Arn"]},
                        }
                    ]
                )
            }
        },
    )


def test_the_schedule_runs_the_function_hourly_with_a_dead_letter_queue(built, template):
    intel = built["intel"]
    queue = logical_id(built, intel.dead_letter_queue)
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(1 hour)",
            "State": "ENABLED",
            "Targets": [
                Match.object_like(
                    {
                        "Arn": {"Fn::GetAtt": [logical_id(built, intel.function), "Arn"]},
                        "DeadLetterConfig": {"Arn": {"Fn::GetAtt": [queue, "Arn"]}},
                        "RetryPolicy": {
                            "MaximumEventAgeInSeconds": 3600,
                            "MaximumRetryAttempts": 2,
                        },
                    }
                )
            ],
        },
    )
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "sqs:SendMessage",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Condition": {
                                    "ArnEquals": {
                                        "aws:SourceArn": {
                                            "Fn::GetAtt": [logical_id(built, intel.rule), "Arn"]
                                        }
                                    }
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


def test_eventbridge_may_use_the_key_for_dead_letters_of_this_accounts_rules(template):
    (key,) = template.find_resources("AWS::KMS::Key").values()
    (statement,) = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    assert statement["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
    assert statement["Condition"]["StringEquals"] == {
        "aws:SourceAccount": {"Ref": "AWS::AccountId"}
    }
    assert "aws:SourceArn" in statement["Condition"]["ArnLike"]


def test_the_dead_letter_queue_is_encrypted_and_refuses_plain_http(built, template):
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {"KmsMasterKeyId": Match.any_value(), "MessageRetentionPeriod": 1_209_600},
    )
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
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


def test_the_log_group_is_encrypted_and_retained(template):
    (group,) = template.find_resources("AWS::Logs::LogGroup").values()
    assert "KmsKeyId" in group["Properties"]
    assert group["Properties"]["RetentionInDays"] == 365


def test_a_longer_schedule_and_a_shorter_retention():
    _, stack, _ = synth(schedule=Duration.hours(6), log_retention=logs.RetentionDays.THREE_MONTHS)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(6 hours)"})
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig", {"MaximumEventAgeInSeconds": 21600}
    )
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 90})


def test_cloudfront_ip_sets_in_us_east_1():
    _, stack, _ = synth(
        env=Environment(account="123456789012", region="us-east-1"), waf_scope="CLOUDFRONT"
    )
    ip_sets = Template.from_stack(stack).find_resources("AWS::WAFv2::IPSet")
    assert {s["Properties"]["Scope"] for s in ip_sets.values()} == {"CLOUDFRONT"}


def test_metrics_are_those_the_function_emits(built, function):
    intel = built["intel"]
    assert (SERVICE, METRICS_NAMESPACE) == (feed_function.DEFAULT_SERVICE, feed_function.NAMESPACE)
    # the service the function publishes under: its path, stable across synths, told to it
    service = "threat-intel-feed-Intel-ThreatIntel-AD246063"
    assert intel.service_name == service
    assert function["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == service
    failed = intel.metric_failed_feeds()
    assert (failed.namespace, failed.metric_name) == (METRICS_NAMESPACE, "FeedsFailed")
    assert failed.dimensions == {"service": service}
    assert failed.period.to_minutes() == 60
    assert intel.metric_refused_feeds().metric_name == "FeedsRefused"
    added = intel.metric_added_addresses("tor-exit-nodes", period=Duration.days(1))
    assert added.dimensions == {"service": service, "Feed": "tor-exit-nodes"}
    assert added.period.to_days() == 1
    assert intel.metric_removed_addresses("spamhaus-drop").metric_name == "Removed"


def test_two_feeds_constructs_in_one_stack_publish_and_watch_apart():
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, "Intel")
    key = EncryptionKey(stack, "Key").key
    first = ThreatIntelFeeds(stack, "First", feeds=FEEDS, key=key)
    second = ThreatIntelFeeds(stack, "Second", feeds=[TOR_EXIT_NODES], key=key)
    assert first.service_name != second.service_name
    functions = Template.from_stack(stack).find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "threat_intel_feed.handler.handler"}}
    )
    services = {
        logical_id: f["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        for logical_id, f in functions.items()
    }
    for intel in (first, second):
        own = stack.get_logical_id(intel.function.node.default_child)
        assert services[own] == intel.service_name
        assert intel.metric_failed_feeds().dimensions == {"service": intel.service_name}
        added = intel.metric_added_addresses("tor-exit-nodes")
        assert added.dimensions == {"service": intel.service_name, "Feed": "tor-exit-nodes"}


def test_a_feed_metric_names_a_feed_of_the_construct(built):
    with pytest.raises(
        ValueError, match=r"feed must be one of \['spamhaus-drop', 'tor-exit-nodes'\]"
    ):
        built["intel"].metric_added_addresses("spamhaus-edrop")


def test_a_brought_key_is_used_not_recreated():
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, "Brought")
    key = kms.Key(stack, "MyKey", enable_key_rotation=True)
    ThreatIntelFeeds(stack, "ThreatIntel", feeds=[SPAMHAUS_DROP_V6], key=key)
    Template.from_stack(stack).resource_count_is("AWS::KMS::Key", 1)


def feed(**changes):
    return ThreatIntelFeed(**({"name": "custom", "url": "https://example.com/list.txt"} | changes))


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"feeds": []}, r"feeds must hold 1 to 5 feeds \(two IP sets each\), got 0"),
        ({"feeds": [feed(name=f"f{n}") for n in range(6)]}, "feeds must hold 1 to 5 feeds"),
        ({"feeds": SPAMHAUS_DROP}, "feeds must be a list of ThreatIntelFeed"),
        ({"feeds": ["https://example.com"]}, "feeds must hold ThreatIntelFeed objects"),
        ({"feeds": [feed(), feed()]}, "two feeds named 'custom'"),
        ({"feeds": [feed(name="Spamhaus")]}, r"feeds\['Spamhaus'\].name must be 1-32 lowercase"),
        ({"feeds": [feed(name="x" * 33)]}, "name must be 1-32 lowercase"),
        ({"feeds": [feed(name="drop-")]}, "name must be 1-32 lowercase"),
        (
            {"feeds": [feed(url="http://example.com/list")]},
            r"feeds\['custom'\].url must be an https://",
        ),
        ({"feeds": [feed(url="https://user:pw@example.com/l")]}, "no credentials"),
        ({"feeds": [feed(url="https://example.com/a b")]}, "url must be an https://"),
        ({"feeds": [feed(url="https:///list")]}, "url must be an https://"),
        ({"feeds": [feed(url="https://example.com/" + "a" * 600)]}, "at most 512 characters"),
        ({"feeds": [feed(format="plain")]}, r"format must be a FeedFormat \(SPAMHAUS_JSON"),
        ({"feeds": [feed(min_entries=0)]}, "min_entries must be a whole number from 1 to 20000"),
        ({"feeds": [feed(min_ratio=0)]}, "min_ratio must be above 0 and at most 1"),
        ({"feeds": [feed(min_ratio=1.5)]}, "min_ratio must be above 0 and at most 1"),
        ({"feeds": [feed(max_ratio=0.5)]}, "max_ratio must be a number from 1 to 100"),
        ({"feeds": [feed(min_interval=3600)]}, "min_interval must be a Duration"),
        (
            {"feeds": [feed(name=f"f{n}", url="https://e.com/" + "a" * 480) for n in range(5)]},
            "of the function's environment, which holds 4096 in all",
        ),
        ({"schedule": Duration.minutes(10)}, "schedule must be whole minutes from 15 minutes"),
        ({"schedule": Duration.days(2)}, "schedule must be whole minutes from 15 minutes to 1 day"),
        ({"schedule": Duration.seconds(1000)}, "schedule must be whole minutes"),
        ({"schedule": 60}, "schedule must be a Duration"),
        (
            {"schedule": Duration.minutes(30)},
            "schedule .30 minutes. is shorter than feed 'spamhaus-drop' allows",
        ),
        ({"waf_scope": "GLOBAL"}, "waf_scope must be 'REGIONAL' or 'CLOUDFRONT', got 'GLOBAL'"),
        ({"waf_scope": "CLOUDFRONT"}, "waf_scope='CLOUDFRONT' needs a stack in us-east-1"),
        ({"protected_cidrs": ["10.0.0.1/8"]}, "protected_cidrs must hold CIDR blocks"),
    ],
)
def test_rejects_invalid_props_at_synth_time(props, message):
    with pytest.raises(ValueError, match=message):
        synth(**props)


def test_a_feed_without_a_provider_limit_may_refresh_every_15_minutes():
    _, stack, _ = synth(feeds=[TOR_EXIT_NODES], schedule=Duration.minutes(15))
    Template.from_stack(stack).has_resource_properties(
        "AWS::Events::Rule", {"ScheduleExpression": "rate(15 minutes)"}
    )

"""The compliance matrix: every configuration the tests build, under every nag pack and cfn-lint.

Rows are configurations: each construct alone as its test module builds it, SecureEndpoint's
variants, the Shield variants, two endpoints in one stack, the multi-stack example and the sample
app with its defaults and with each context switch on. Columns are the five packs
(``compliance.PACKS``, the ones ``cdk synth`` runs) and cfn-lint. A cell holds when nothing is
left unacknowledged; when it fails it prints each finding (rule, resource path).

Each configuration is built once per session (``configurations.once``, shared with the module
that builds it) and each pack runs once per configuration; a row's acknowledgements are checked
too: none at a Stack or App, no reason too short or shared by unrelated rules.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cfnlint.api
import pytest
from aws_cdk import Acknowledgment, App, Stack, Stage, Validations
from aws_cdk import aws_sns as sns
from configurations import once
from constructs import IConstruct
from endpoint_builder import MODEL
from test_app import EVERY_SWITCH

from secure_endpoint import ApiClient, SecureEndpoint, compliance

pytestmark = pytest.mark.synth

LINT = "cfn-lint"
ANY_REGION = ("us-east-1", "eu-west-1")
CLI_REGION = ("us-east-1",)  # where `make cfn-lint` checks the sample app's templates
ALL_PARTITIONS = ("us-east-1", "eu-west-1", "ap-northeast-1", "cn-north-1")
ACKNOWLEDGED = "aws:cdk:acknowledged-rules"
MIN_REASON = 40  # what compliance.acknowledge demands
NAG_RULE = re.compile(
    rf"^Annotation::(?P<pack>{'|'.join(map(re.escape, compliance.PACKS))})"
    r"-(?P<rule>[A-Za-z0-9]+)(?:\[.*\])?$"
)
# The same check under another pack's name: one reason may cover both.
SAME_CHECK = [{"L1", "LambdaLatestVersion"}]


def two_endpoints_in_one_stack() -> tuple[App, Stack]:
    """Two SecureEndpoints side by side, each with what it creates by default."""
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, "TwoEndpoints")
    for name in ("Churn", "Fraud"):
        SecureEndpoint(stack, name, clients=[ApiClient(f"{name.lower()}-client")], **MODEL)
    return app, stack


@dataclass(frozen=True)
class Row:
    """A configuration: how to build it, where cfn-lint checks its environment-agnostic stacks
    (a stack of a concrete region is checked in that region) and, when it holds stand-ins that
    are not under test (mock APIs), the construct paths whose findings count."""

    name: str
    build: Callable[[], Any]
    regions: tuple[str, ...] = ANY_REGION
    under: tuple[str, ...] = ()


def of(module: str, function: str = "configuration", *args: Any) -> Callable[[], Any]:
    """The builder ``module.function(*args)``, built once per session."""
    return lambda: once(getattr(importlib.import_module(module), function), *args)


ROWS = [
    Row("api-key-responder", of("test_api_key_responder")),
    Row("blocklist-store", of("test_blocklist_store"), ("us-east-1",)),
    # the REST API there is a bare stand-in for the endpoint's (not under test)
    Row(
        "quarantine-plan",
        of("test_quarantine_construct"),
        under=("Quarantine/Plan/", "Quarantine/Operator/"),
    ),
    Row("anomaly-monitor", of("test_monitor"), ("us-east-1",)),
    Row("artifact-integrity", of("test_integrity")),
    Row("isolated-network", of("test_network"), ALL_PARTITIONS),
    Row("hosting-with-and-without-capture", of("test_hosting"), ALL_PARTITIONS),
    Row("hosting-s3-prefix-list", of("test_hosting", "with_the_s3_prefix_list"), ALL_PARTITIONS),
    Row("threat-intel", of("test_threat_intel")),
    Row("threat-intel-concrete-env", of("test_threat_intel", "in_a_concrete_environment")),
    Row("web-acl", of("test_edge"), ("us-east-1",), ("Edge/Waf/", "Brought/Waf/")),
    Row("web-acl-lists", of("test_edge_lists"), ("eu-west-1",), ("Lists/Waf/", "Front/Waf/")),
    Row("shield-edge", of("test_shield")),
    Row("shield-edge-one-stack", of("test_shield", "one_stack_configuration")),
    Row("endpoint", of("test_endpoint")),
    Row("endpoint-data-capture", of("test_endpoint", "with_data_capture")),
    Row("endpoint-concrete-env", of("test_endpoint", "in_a_concrete_environment")),
    Row("endpoint-threat-intel-feeds", of("test_endpoint", "with_threat_intel_feeds")),
    Row("endpoint-signed-model", of("test_endpoint", "signed_model")),
    Row("endpoint-reserved-concurrency", of("test_endpoint", "with_reserved_concurrency")),
    Row("endpoint-shield", of("test_endpoint_shield")),
    Row("endpoint-removal-destroy", of("test_removal_policy", "with_destroy")),
    Row("endpoint-csv-input", of("test_input_constraints", "csv_configuration")),
    Row("endpoint-response-hardening", of("test_response_hardening")),
    Row("endpoint-drift-monitor", of("test_drift_monitor")),
    Row("two-endpoints-one-stack", lambda: once(two_endpoints_in_one_stack)),
    Row("multi-stack-example", of("test_endpoint_composition"), ("eu-west-1",)),
    Row("sample-app", of("test_app"), CLI_REGION),
    *(
        Row(f"sample-app-{switch}", of("test_app", "configuration", switch), CLI_REGION)
        for switch in sorted(EVERY_SWITCH)
    ),
]
BY_NAME = {row.name: row for row in ROWS}
assert len(BY_NAME) == len(ROWS), "row names must differ"


def app_of(built: Any) -> App:
    """The app of what a builder returns: a dict with an ``app``, or a tuple that starts with it."""
    app = built["app"] if isinstance(built, dict) else built[0]
    assert App.is_app(app), f"a builder returned {built!r}, not an app first"
    return app


@functools.cache
def app_for(row: str) -> App:
    return app_of(BY_NAME[row].build())


@functools.cache
def nag(row: str, pack: str) -> tuple[str, ...]:
    """The pack's unacknowledged findings in the row's app, as 'rule path' lines."""
    report = compliance.PACKS[pack]().validate_scope(app_for(row))
    under = BY_NAME[row].under
    return tuple(
        sorted(
            f"{violation.rule_name} {resource.construct_path}"
            for violation in report.violations
            for resource in violation.violating_resources
            if not under or resource.construct_path.startswith(under)
        )
    )


@functools.cache
def lint(row: str) -> tuple[str, ...]:
    """cfn-lint's errors and warnings on every template of the row's app, as CI reports them."""
    lines = []
    for stack in app_for(row).synth().stacks:
        region = stack.environment.region
        regions = BY_NAME[row].regions if region == "unknown-region" else (region,)
        for match in cfnlint.api.lint(json.dumps(stack.template), regions=list(regions)):
            lines.append(f"{stack.stack_name}: {match}")
    return tuple(lines)


@pytest.mark.parametrize("column", [*compliance.PACKS, LINT])
@pytest.mark.parametrize("row", list(BY_NAME))
def test_nothing_is_left_unacknowledged(row: str, column: str) -> None:
    found = lint(row) if column == LINT else nag(row, column)
    assert not found, f"{row} under {column}:\n" + "\n".join(found)


def acknowledgements(scope: IConstruct) -> list[tuple[IConstruct, str, str, str]]:
    """Every cdk-nag acknowledgement under ``scope``: (construct, pack, rule, reason). The
    CDK's own (``CloudFormation-Validate::...``, on its VPC and stacks) are not ours."""
    found = []
    for construct in scope.node.find_all():
        for entry in construct.node.metadata:
            if entry.type != ACKNOWLEDGED:
                continue
            for rule_id, reason in entry.data.items():
                if rule_id.startswith("CloudFormation-Validate::"):
                    continue
                match = NAG_RULE.match(rule_id)
                assert match, f"{construct.node.path}: {rule_id!r} names no rule of the five packs"
                found.append((construct, match["pack"], match["rule"], reason))
    return found


def same_check(rules: set[str]) -> bool:
    return len(rules) == 1 or any(rules <= family for family in SAME_CHECK)


def acknowledgement_problems(scope: IConstruct) -> list[str]:
    """What is wrong with the acknowledgements under ``scope``: one at a Stack or App, a reason
    too short to say why, or one reason given for unrelated rules (a generic string)."""
    acks = acknowledgements(scope)
    problems = [
        f"acknowledged at a Stack or App: {c.node.path}: {pack}-{rule}"
        for c, pack, rule, _ in acks
        if App.is_app(c) or Stage.is_stage(c) or Stack.is_stack(c)
    ]
    problems += [
        f"reason too short to say why: {c.node.path}: {pack}-{rule}: {reason!r}"
        for c, pack, rule, reason in acks
        if len(reason.strip()) < MIN_REASON
    ]
    rules_of: defaultdict[str, set[str]] = defaultdict(set)
    for _, _, rule, reason in acks:
        rules_of[reason].add(rule)
    problems += [
        f"one reason for unrelated rules {sorted(rules)}: {reason[:80]!r}"
        for reason, rules in rules_of.items()
        if not same_check(rules)
    ]
    return sorted(problems)


@pytest.mark.parametrize("row", list(BY_NAME))
def test_every_acknowledgement_is_on_its_resource_with_a_reason_of_its_own(row: str) -> None:
    problems = acknowledgement_problems(app_for(row))
    assert not problems, f"{row}:\n" + "\n".join(problems)


def test_the_walk_finds_the_acknowledgements_a_construct_makes():
    found = {
        (c.node.path, pack, rule) for c, pack, rule, _ in acknowledgements(app_for("endpoint"))
    }
    assert (
        "Secured/Endpoint/AutoBlockList/Table",
        "HIPAA.Security",
        "DynamoDBInBackupPlan",
    ) in found
    assert len({pack for _, pack, _ in found}) == len(compliance.PACKS)


def test_the_check_refuses_stack_wide_short_and_shared_reasons():
    app = App()
    stack = Stack(app, "Bad")
    generic = "Not needed for this sample application, it is only a demonstration."
    Validations.of(stack).acknowledge(
        Acknowledgment(id="Annotation::AwsSolutions-S1", reason=generic)
    )
    topic = sns.Topic(stack, "Topic")
    Validations.of(topic).acknowledge(
        Acknowledgment(id="Annotation::AwsSolutions-SNS3", reason=generic),
        Acknowledgment(id="Annotation::HIPAA.Security-SNSEncryptedKMS", reason="fine"),
    )
    assert acknowledgement_problems(app) == [
        "acknowledged at a Stack or App: Bad: AwsSolutions-S1",
        f"one reason for unrelated rules ['S1', 'SNS3']: {generic!r}",
        "reason too short to say why: Bad/Topic: HIPAA.Security-SNSEncryptedKMS: 'fine'",
    ]

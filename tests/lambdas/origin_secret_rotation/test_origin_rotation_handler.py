"""The rotation function end to end: Secrets Manager, WAF and CloudFront in moto."""

import io
import json
import uuid
from dataclasses import replace
from typing import Any

import pytest
from aws_fakes import FakeLambdaContext
from origin_fixtures import HEADER, ORIGINAL, RULE, SECRET, Aws
from origin_secret_rotation import handler as rotation_function
from origin_secret_rotation.adapters import DistributionConfig, WebAclRules
from origin_secret_rotation.handler import Adapters, Config
from origin_secret_rotation.rotation import WebAclRef

from secure_endpoint.runtime.secret_rotation import RotationError, SecretStore, Step

BUILD_ADAPTERS = rotation_function.adapters  # the real one; the `adapters` fixture replaces it


CONTEXT = FakeLambdaContext("origin-secret-rotation", region="eu-west-1")


class SlowDistribution(DistributionConfig):
    """CloudFront as it is for minutes after an update: still deploying (moto never is)."""

    def read(self) -> tuple[dict[str, Any], bool]:
        config, _ = super().read()
        return config, False


@pytest.fixture(autouse=True)
def adapters(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Adapters:
    built = Adapters(
        SecretStore(aws.secretsmanager),
        WebAclRules(aws.wafv2, WebAclRef("regional", aws.web_acl_id, "REGIONAL")),
        DistributionConfig(aws.cloudfront, aws.distribution_id),
        RULE,
        HEADER,
    )
    monkeypatch.setattr(rotation_function, "adapters", lambda: built)
    return built


def start_rotation(aws: Aws) -> str:
    """Do what RotateSecret does before it invokes the function: stage a new version AWSPENDING.

    moto invokes rotation functions only through Docker. It enables rotation and stages the new
    version before it looks the function up, so a function it does not know leaves the secret as
    Secrets Manager leaves it for createSecret, and then raises ResourceNotFoundException.
    """
    token = str(uuid.uuid4())
    with pytest.raises(aws.secretsmanager.exceptions.ResourceNotFoundException):
        aws.secretsmanager.rotate_secret(
            SecretId=SECRET,
            ClientRequestToken=token,
            RotationLambdaARN=CONTEXT.invoked_function_arn,
            RotationRules={"AutomaticallyAfterDays": 30},
        )
    return token


def invoke(step: Step, token: str) -> None:
    event = {"SecretId": SECRET, "ClientRequestToken": token, "Step": step.value}
    rotation_function.handler(event, CONTEXT)


def rotate(aws: Aws) -> str:
    token = start_rotation(aws)
    for step in Step:
        invoke(step, token)
    return token


def current(aws: Aws) -> str:
    value = aws.secretsmanager.get_secret_value(SecretId=SECRET, VersionStage="AWSCURRENT")
    return str(value["SecretString"])


def state(aws: Aws) -> tuple[Any, ...]:
    versions = aws.secretsmanager.describe_secret(SecretId=SECRET)["VersionIdsToStages"]
    return versions, aws.accepted(), aws.sent()


def test_a_rotation_switches_cloudfront_and_keeps_the_old_value_accepted(aws: Aws) -> None:
    rotate(aws)
    first = current(aws)
    assert first != ORIGINAL
    assert len(first) == 64
    assert aws.sent() == first
    assert aws.accepted() == (first, ORIGINAL)


def test_the_next_rotation_drops_the_value_before_the_previous_one(aws: Aws) -> None:
    first_token = rotate(aws)
    first = current(aws)
    second_token = rotate(aws)
    second = current(aws)
    assert second not in (ORIGINAL, first)
    assert aws.sent() == second
    assert aws.accepted() == (second, first)
    versions = aws.secretsmanager.describe_secret(SecretId=SECRET)["VersionIdsToStages"]
    assert versions[first_token] == ["AWSPREVIOUS"]
    assert versions[second_token] == ["AWSCURRENT"]


def test_every_moment_of_a_rotation_accepts_what_cloudfront_sends(aws: Aws) -> None:
    token = start_rotation(aws)
    for step in Step:
        invoke(step, token)
        assert aws.sent() in aws.accepted(), step


def test_set_accepts_the_pending_value_before_cloudfront_sends_it(
    aws: Aws, adapters: Adapters, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = start_rotation(aws)
    invoke(Step.CREATE, token)
    pending = adapters.secrets.pending_value(SECRET, token)
    seen: list[tuple[tuple[str, ...], str]] = []
    real_update = adapters.distribution.update

    def update_seeing_the_web_acl(rewrite: Any) -> bool:
        seen.append((aws.accepted(), aws.sent()))
        return real_update(rewrite)

    monkeypatch.setattr(adapters.distribution, "update", update_seeing_the_web_acl)
    invoke(Step.SET, token)
    assert seen == [((pending, ORIGINAL), ORIGINAL)]
    assert aws.sent() == pending


@pytest.mark.parametrize("step", list(Step))
def test_each_step_run_twice_ends_as_if_run_once(aws: Aws, step: Step) -> None:
    rotate(aws)
    token = start_rotation(aws)
    for earlier in list(Step)[: list(Step).index(step)]:
        invoke(earlier, token)

    invoke(step, token)
    once = state(aws)
    invoke(step, token)

    assert state(aws) == once


def test_a_token_already_current_changes_nothing(aws: Aws) -> None:
    token = rotate(aws)
    before = state(aws)
    for step in Step:
        invoke(step, token)
    assert state(aws) == before


def test_set_waits_while_cloudfront_still_deploys_the_previous_switch(
    aws: Aws, adapters: Adapters, monkeypatch: pytest.MonkeyPatch
) -> None:
    rotate(aws)
    before = state(aws)[1:]
    slow = replace(adapters, distribution=SlowDistribution(aws.cloudfront, aws.distribution_id))
    monkeypatch.setattr(rotation_function, "adapters", lambda: slow)
    token = start_rotation(aws)
    invoke(Step.CREATE, token)
    with pytest.raises(RotationError, match="still deploying an earlier change"):
        invoke(Step.SET, token)
    assert state(aws)[1:] == before


def test_test_fails_when_cloudfront_was_reset_to_another_value(aws: Aws) -> None:
    token = start_rotation(aws)
    invoke(Step.CREATE, token)
    invoke(Step.SET, token)
    config = aws.cloudfront.get_distribution_config(Id=aws.distribution_id)
    distribution = config["DistributionConfig"]
    distribution["Origins"]["Items"][0]["CustomHeaders"]["Items"][0]["HeaderValue"] = ORIGINAL
    aws.cloudfront.update_distribution(
        Id=aws.distribution_id, IfMatch=config["ETag"], DistributionConfig=distribution
    )
    with pytest.raises(RotationError, match="the distribution does not send the AWSPENDING"):
        invoke(Step.TEST, token)


def test_refuses_a_token_that_is_not_staged(aws: Aws) -> None:
    start_rotation(aws)
    before = state(aws)
    with pytest.raises(RotationError, match="is not staged for rotation"):
        invoke(Step.SET, str(uuid.uuid4()))
    assert state(aws) == before


def test_refuses_a_pending_value_that_is_not_an_origin_secret(aws: Aws) -> None:
    token = start_rotation(aws)
    aws.secretsmanager.put_secret_value(
        SecretId=SECRET,
        ClientRequestToken=token,
        SecretString="short",
        VersionStages=["AWSPENDING"],
    )
    with pytest.raises(RotationError, match=r"\(AWSPENDING\) is not an origin secret"):
        invoke(Step.SET, token)
    assert aws.accepted() == (ORIGINAL, ORIGINAL)


def test_logs_the_steps_but_never_a_secret_value(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    output = io.StringIO()
    monkeypatch.setattr(rotation_function.logger.registered_handler, "stream", output)
    rotate(aws)
    logs = [json.loads(line) for line in output.getvalue().splitlines()]
    assert [log["step"] for log in logs if log["message"] == "rotation step done"] == [
        step.value for step in Step
    ]
    text = json.dumps(logs)
    for value in (ORIGINAL, current(aws)):
        assert value not in text


def test_the_adapters_are_built_once_from_the_environment(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEB_ACL_ARN", aws.web_acl_arn)
    monkeypatch.setenv("ORIGIN_SECRET_RULE", RULE)
    monkeypatch.setenv("ORIGIN_VERIFY_HEADER", HEADER)
    monkeypatch.setenv("DISTRIBUTION_ID", aws.distribution_id)
    BUILD_ADAPTERS.cache_clear()
    built = BUILD_ADAPTERS()
    assert BUILD_ADAPTERS() is built
    assert built.web_acl.ref == WebAclRef("regional", aws.web_acl_id, "REGIONAL")
    assert built.distribution.distribution_id == aws.distribution_id
    assert (built.rule_name, built.header) == (RULE, HEADER)
    BUILD_ADAPTERS.cache_clear()


def test_the_configuration_names_what_the_environment_lacks() -> None:
    with pytest.raises(RotationError, match="lacks ORIGIN_SECRET_RULE, DISTRIBUTION_ID"):
        Config.from_env({"WEB_ACL_ARN": "x", "ORIGIN_VERIFY_HEADER": HEADER})

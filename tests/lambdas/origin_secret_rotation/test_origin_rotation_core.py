"""The pure decisions particular to the origin secret, with plain data.

The protocol they run in is tested in ``tests/runtime/test_secret_rotation.py``.
"""

import copy
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st
from origin_fixtures import HEADER, RATE_RULE, RULE, distribution_config, origin_rule
from origin_secret_rotation.rotation import (
    SetPlan,
    WebAclRef,
    accepted_values,
    check_origin_secret,
    check_pending_in_use,
    plan_set,
    sent_values,
    with_accepted_values,
    with_sent_value,
)

from secure_endpoint.runtime.secret_rotation import RotationError

SECRET = "origin-secret"
OLD, CURRENT, PENDING = ("o" * 64, "c" * 64, "p" * 64)
ALPHANUMERIC = string.ascii_letters + string.digits


# --- the secret value -------------------------------------------------------------------------


@given(st.text(alphabet=ALPHANUMERIC, min_size=64, max_size=64))
def test_accepts_64_letters_and_digits(value: str) -> None:
    assert check_origin_secret(SECRET, "AWSPENDING", value) == value


@pytest.mark.parametrize(
    "value",
    [None, "", "a" * 63, "a" * 65, "a" * 63 + "!", "a" * 63 + " ", '{"value": "' + "a" * 50 + '"}'],
)
def test_refuses_anything_else_without_echoing_it(value: str | None) -> None:
    with pytest.raises(RotationError) as raised:
        check_origin_secret(SECRET, "AWSPENDING", value)
    assert str(raised.value) == (
        "secret 'origin-secret' (AWSPENDING) is not an origin secret: "
        "expected 64 letters and digits"
    )


def test_reads_the_web_acl_of_an_arn() -> None:
    arn = (
        "arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/"
        "Api-Waf-1A2B/0f0e0d0c-0b0a-4909-8807-060504030201"
    )
    assert WebAclRef.from_arn(arn) == WebAclRef(
        "Api-Waf-1A2B", "0f0e0d0c-0b0a-4909-8807-060504030201", "REGIONAL"
    )
    with pytest.raises(RotationError, match="not the ARN of a WAF web ACL"):
        WebAclRef.from_arn(arn.replace("webacl", "ipset"))


# --- the web ACL's origin secret rule ---------------------------------------------------------


def test_reads_the_two_accepted_values_in_rule_order() -> None:
    rules = [origin_rule(CURRENT, OLD), RATE_RULE]
    assert accepted_values(rules, RULE, HEADER) == (CURRENT, OLD)


def test_reads_the_header_name_case_insensitively() -> None:
    assert accepted_values([origin_rule(CURRENT, OLD)], RULE, "X-Origin-Verify") == (CURRENT, OLD)


def test_rewrites_only_the_two_search_strings_and_leaves_its_input_alone() -> None:
    rules = [origin_rule(CURRENT, OLD), RATE_RULE]
    before = copy.deepcopy(rules)

    rewritten = with_accepted_values(rules, RULE, HEADER, (PENDING, CURRENT))

    assert rewritten == [origin_rule(PENDING, CURRENT), RATE_RULE]
    assert rules == before


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda rule: rule.update(Name="Other"), "has 0 rules named 'CloudFrontOriginOnly'"),
        (
            lambda rule: rule["Statement"].update(
                {"OrStatement": rule["Statement"].pop("NotStatement")["Statement"]["OrStatement"]}
            ),
            "is not NOT",
        ),
        (
            lambda rule: rule["Statement"]["NotStatement"]["Statement"]["OrStatement"][
                "Statements"
            ][0]["ByteMatchStatement"].update(PositionalConstraint="CONTAINS"),
            "is not NOT",
        ),
        (
            lambda rule: rule["Statement"]["NotStatement"]["Statement"]["OrStatement"][
                "Statements"
            ][1]["ByteMatchStatement"].update(FieldToMatch={"SingleHeader": {"Name": "x-api-key"}}),
            "is not NOT",
        ),
        (
            lambda rule: rule["Statement"]["NotStatement"]["Statement"]["OrStatement"][
                "Statements"
            ][0]["ByteMatchStatement"].update(
                TextTransformations=[{"Priority": 0, "Type": "LOWERCASE"}]
            ),
            "is not NOT",
        ),
        (
            lambda rule: rule["Statement"]["NotStatement"]["Statement"]["OrStatement"][
                "Statements"
            ].pop(),
            "accepts 1 values; expected 2",
        ),
    ],
)
def test_refuses_a_rule_it_does_not_understand(change, problem) -> None:  # type: ignore[no-untyped-def]
    rule = origin_rule(CURRENT, OLD)
    change(rule)
    with pytest.raises(RotationError, match=problem):
        accepted_values([rule], RULE, HEADER)
    with pytest.raises(RotationError, match=problem):
        with_accepted_values([rule], RULE, HEADER, (PENDING, CURRENT))


def test_refuses_two_rules_of_the_same_name() -> None:
    with pytest.raises(RotationError, match="has 2 rules named"):
        accepted_values([origin_rule(CURRENT, OLD)] * 2, RULE, HEADER)


# --- the distribution's origin header ---------------------------------------------------------


def test_reads_and_rewrites_the_header_of_every_origin_that_sends_it() -> None:
    config = distribution_config(CURRENT)
    other = copy.deepcopy(config["Origins"]["Items"][0])
    other.update(Id="other", CustomHeaders={"Quantity": 0, "Items": []})
    config["Origins"]["Items"].append(other)
    before = copy.deepcopy(config)

    rewritten = with_sent_value(config, "X-ORIGIN-VERIFY", PENDING)

    assert sent_values(config, HEADER) == [CURRENT]
    assert sent_values(rewritten, HEADER) == [PENDING]
    assert rewritten["Origins"]["Items"][1] == other
    assert config == before


def test_refuses_a_distribution_that_sends_no_origin_header() -> None:
    config = distribution_config(CURRENT)
    config["Origins"]["Items"][0]["CustomHeaders"] = {"Quantity": 0}
    with pytest.raises(RotationError, match="no origin of the distribution sends"):
        sent_values(config, HEADER)


# --- setSecret and testSecret -----------------------------------------------------------------


def test_set_accepts_pending_beside_what_cloudfront_sends_then_sends_pending() -> None:
    plan = plan_set(pending=PENDING, accepted=(CURRENT, OLD), sent=[CURRENT], deployed=True)
    assert plan == SetPlan(accepted=(PENDING, CURRENT), send=PENDING)


def test_set_keeps_what_cloudfront_sends_even_when_it_is_not_current() -> None:
    # A deploy between setSecret and finishSecret resets the distribution to the old value.
    plan = plan_set(pending=PENDING, accepted=(OLD, OLD), sent=[OLD], deployed=True)
    assert plan == SetPlan(accepted=(PENDING, OLD), send=PENDING)


def test_set_refuses_to_drop_a_value_while_cloudfront_is_deploying() -> None:
    with pytest.raises(RotationError, match="still deploying an earlier change"):
        plan_set(pending=PENDING, accepted=(CURRENT, OLD), sent=[CURRENT], deployed=False)


def test_set_after_a_crash_between_both_writes_only_switches_the_distribution() -> None:
    plan = plan_set(pending=PENDING, accepted=(PENDING, CURRENT), sent=[CURRENT], deployed=True)
    assert plan == SetPlan(accepted=None, send=PENDING)


def test_set_done_already_has_nothing_left_to_do_even_while_deploying() -> None:
    plan = plan_set(pending=PENDING, accepted=(PENDING, CURRENT), sent=[PENDING], deployed=False)
    assert plan == SetPlan(accepted=None, send=None)


def test_set_restores_pending_in_a_web_acl_reset_after_the_distribution_switched() -> None:
    plan = plan_set(pending=PENDING, accepted=(CURRENT, CURRENT), sent=[PENDING], deployed=False)
    assert plan == SetPlan(accepted=(PENDING, CURRENT), send=None)


def test_set_refuses_origins_that_disagree() -> None:
    with pytest.raises(RotationError, match="send 2 different origin secrets"):
        plan_set(pending=PENDING, accepted=(CURRENT, OLD), sent=[CURRENT, OLD], deployed=True)


def test_test_passes_when_both_hold_pending() -> None:
    check_pending_in_use(SECRET, PENDING, (PENDING, CURRENT), [PENDING])


@pytest.mark.parametrize(
    ("accepted", "sent", "problem"),
    [
        ((CURRENT, OLD), [PENDING], "the web ACL does not accept"),
        ((PENDING, CURRENT), [CURRENT], "the distribution does not send"),
    ],
)
def test_test_fails_naming_what_lacks_pending(
    accepted: tuple[str, str], sent: list[str], problem: str
) -> None:
    with pytest.raises(RotationError, match=f"{problem} the AWSPENDING value of secret"):
        check_pending_in_use(SECRET, PENDING, accepted, sent)

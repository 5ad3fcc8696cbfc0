"""The prop checks hosting adds to _validation, without a synth."""

import pytest
from aws_cdk import Aws

from secure_endpoint import _validation as check

TOKEN = Aws.REGION  # an unresolved token, known only at deploy time


@pytest.mark.parametrize("name", ["AllTraffic", "blue", "v2-canary", "a", "A" * 63, "a--b"])
def test_variant_name_accepts_sagemaker_variant_names(name):
    check.variant_name("variant_name", name)


@pytest.mark.parametrize("name", ["", "-blue", "blue-", "blue_green", "a b", "A" * 64, None])
def test_variant_name_rejects_what_sagemaker_refuses(name):
    with pytest.raises(ValueError, match=r"variant_name must be 1-63 letters, digits or hyphens"):
        check.variant_name("variant_name", name)


def test_variant_name_lets_tokens_through():
    check.variant_name("variant_name", TOKEN)


@pytest.mark.parametrize("value", ["s3://bucket/model.tar.gz", "s3://b/a[1]/m.tar.gz", TOKEN])
def test_iam_literal_accepts_values_without_wildcards(value):
    check.iam_literal("model_data_url", value)


@pytest.mark.parametrize("value", ["s3://bucket/*.tar.gz", "s3://bucket/model?.tar.gz"])
def test_iam_literal_rejects_iam_wildcards(value):
    with pytest.raises(ValueError, match=r"model_data_url must not contain '\*' or '\?'"):
        check.iam_literal("model_data_url", value)


def test_subnet_spread_accepts_two_zones():
    check.subnet_spread("vpc_subnets", ["subnet-1", "subnet-2"], ["eu-west-1a", "eu-west-1b"])


def test_subnet_spread_rejects_a_single_subnet():
    with pytest.raises(ValueError, match=r"vpc_subnets must select at least two subnets.*1 sub"):
        check.subnet_spread("vpc_subnets", ["subnet-1"], ["eu-west-1a"])


def test_subnet_spread_rejects_subnets_in_one_zone():
    with pytest.raises(ValueError, match=r"at least two Availability Zones.*\['eu-west-1a'\]"):
        check.subnet_spread("vpc_subnets", ["subnet-1", "subnet-2"], ["eu-west-1a"] * 2)


def test_subnet_spread_does_not_count_unknown_zones_against_the_rule():
    check.subnet_spread("vpc_subnets", ["subnet-1", "subnet-2"], [TOKEN, TOKEN])

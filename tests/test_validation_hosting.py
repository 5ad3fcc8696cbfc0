"""The prop checks hosting adds to _validation, without a synth."""

import pytest
from aws_cdk import Aws

from secure_endpoint.constructs import _validation as check

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


SIGNATURE = "MEUCIQ" + "A" * 90


def test_every_signing_algorithm_offered_is_one_kms_knows():
    import botocore.session

    model = botocore.session.get_session().get_service_model("kms")
    known = set(model.shape_for("SigningAlgorithmSpec").enum)
    assert set(check.SHA256_SIGNING_ALGORITHMS) <= known
    assert all(name.endswith("_SHA_256") for name in check.SHA256_SIGNING_ALGORITHMS)


@pytest.mark.parametrize(
    ("signature", "key_given", "algorithm"),
    [
        (None, False, None),
        (SIGNATURE, True, None),
        (SIGNATURE, True, "RSASSA_PSS_SHA_256"),
        (TOKEN, True, "RSASSA_PKCS1_V1_5_SHA_256"),
    ],
)
def test_model_signature_accepts_a_signature_with_its_key(signature, key_given, algorithm):
    check.model_signature(signature, key_given, algorithm)


@pytest.mark.parametrize(
    ("signature", "key_given", "algorithm", "message"),
    [
        (SIGNATURE, False, None, "model_signature needs model_signing_key"),
        (None, True, None, "model_signing_key is given without model_signature"),
        (None, False, "ECDSA_SHA_256", "model_signing_algorithm applies to model_signature"),
        (SIGNATURE, True, "SM2DSA", "model_signing_algorithm must be one of ECDSA_SHA_256"),
        (SIGNATURE, True, "ecdsa_sha_256", r"got 'ecdsa_sha_256'"),
        ("c2ln", True, None, r"8 to 1024 bytes once decoded, got 'c2ln'"),
        ("A" * 2000, True, None, "model_signature must be the base64 text"),
        ("not base64!", True, None, "model_signature must be the base64 text"),
    ],
)
def test_model_signature_rejects_what_kms_cannot_verify(signature, key_given, algorithm, message):
    with pytest.raises(ValueError, match=message):
        check.model_signature(signature, key_given, algorithm)


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [("ECC_NIST_P256", "ECDSA_SHA_256"), ("RSA_4096", "RSASSA_PSS_SHA_256")],
)
def test_signing_key_accepts_a_key_the_algorithm_signs_with(spec, algorithm):
    check.signing_key("model_signing_key", "SIGN_VERIFY", spec, algorithm)


@pytest.mark.parametrize(
    ("usage", "spec", "algorithm"),
    [
        ("ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT", "ECDSA_SHA_256"),
        ("SIGN_VERIFY", "ECC_NIST_P384", "ECDSA_SHA_256"),
        ("SIGN_VERIFY", "ECC_NIST_P256", "RSASSA_PSS_SHA_256"),
    ],
)
def test_signing_key_rejects_a_key_the_algorithm_cannot_use(usage, spec, algorithm):
    with pytest.raises(ValueError, match=f"got KeyUsage {usage} and KeySpec {spec}"):
        check.signing_key("model_signing_key", usage, spec, algorithm)


@pytest.mark.parametrize("seconds", [900, 3600, 21_600, 86_400])
def test_check_interval_accepts_whole_minutes_from_15_minutes_to_a_day(seconds):
    check.check_interval("artifact_check_interval", seconds)


@pytest.mark.parametrize("seconds", [60, 899, 930.5, 86_460])
def test_check_interval_rejects_the_rest(seconds):
    with pytest.raises(ValueError, match="whole minutes from 15 minutes to 1 day"):
        check.check_interval("artifact_check_interval", seconds)

"""Prop checks, without a synth: each bad value gets a ValueError naming prop, value and rule."""

import pytest
from aws_cdk import Token

from secure_endpoint.constructs import _validation as check
from secure_endpoint.constructs.options import ApiClient, DataCaptureOptions

DIGEST = "a" * 64


def test_splits_an_s3_url_into_bucket_and_key():
    assert check.s3_url("model_data_url", "s3://models-1/a/b/model.tar.gz") == (
        "models-1",
        "a/b/model.tar.gz",
    )


@pytest.mark.parametrize(
    "url",
    ["https://bucket/key", "s3://bucket/", "s3://bucket", "s3://B/key", "bucket/key", ""],
)
def test_rejects_non_s3_model_urls(url):
    with pytest.raises(ValueError, match=r"model_data_url must be an S3 object URL.*got"):
        check.s3_url("model_data_url", url)


@pytest.mark.parametrize("digest", ["A" * 64, "a" * 63, "a" * 65, "g" * 64, "", "sha256:" + DIGEST])
def test_rejects_malformed_digests(digest):
    with pytest.raises(ValueError, match="model_sha256 must be a SHA-256 digest"):
        check.sha256_hex("model_sha256", digest)


def test_lets_unresolved_tokens_through():
    check.sha256_hex("model_sha256", Token.as_string({"Ref": "Digest"}))


@pytest.mark.parametrize("value", ["m5.large", "ml.m5", "ML.M5.LARGE", "ml..large"])
def test_rejects_instance_types_without_the_ml_prefix(value):
    with pytest.raises(ValueError, match="instance_type must be a SageMaker instance type"):
        check.instance_type("instance_type", value, encrypted_volume=True)


@pytest.mark.parametrize("value", ["ml.g5.xlarge", "ml.m5d.large", "ml.p4d.24xlarge"])
def test_refuses_nvme_instance_types_that_cannot_take_a_kms_key(value):
    with pytest.raises(ValueError, match=r"NVMe instance storage.*EBS-only"):
        check.instance_type("instance_type", value, encrypted_volume=True)


def test_accepts_ebs_only_instance_types():
    check.instance_type("instance_type", "ml.m5.large", encrypted_volume=True)


@pytest.mark.parametrize(("initial", "maximum"), [(0, 1), (1, 0), (-1, 4)])
def test_rejects_counts_below_one(initial, maximum):
    with pytest.raises(ValueError, match="must be a whole number from 1"):
        check.instance_counts(initial, maximum)


def test_rejects_a_maximum_below_the_initial_count():
    with pytest.raises(ValueError, match=r"max_instance_count \(2\) must be at least"):
        check.instance_counts(3, 2)


def test_rejects_no_clients():
    with pytest.raises(ValueError, match="clients must name at least one client"):
        check.unique_names("clients", [])


def test_rejects_duplicate_clients():
    with pytest.raises(ValueError, match="two clients named 'a'"):
        check.unique_names("clients", ["a", "b", "a"])


def test_a_client_burst_defaults_to_twice_its_rate():
    assert ApiClient("partner", rate_limit=25).burst == 50


def test_rejects_burst_below_rate():
    with pytest.raises(ValueError, match=r"clients\[p\]\.burst_limit \(5\) must be at least"):
        ApiClient("p", rate_limit=10, burst_limit=5)


@pytest.mark.parametrize(
    ("kwargs", "prop"),
    [
        ({"rate_limit": 0}, "rate_limit"),
        ({"rate_limit": 20_000}, "rate_limit"),
        ({"burst_limit": 6000, "rate_limit": 10}, "burst_limit"),
        ({"quota_per_day": 0}, "quota_per_day"),
        ({"quota_per_day": 2.5}, "quota_per_day"),
    ],
)
def test_rejects_client_limits_out_of_range(kwargs, prop):
    with pytest.raises(ValueError, match=rf"clients\[p\]\.{prop} must be"):
        ApiClient("p", **kwargs)


@pytest.mark.parametrize("name", ["Partner", "-a", "a_b", "", "x" * 65])
def test_rejects_bad_client_names(name):
    with pytest.raises(ValueError, match=r"ApiClient\.name must be"):
        ApiClient(name)


@pytest.mark.parametrize("cidr", ["10.0.0.1/8", "300.0.0.0/8", "2001:db8::/129", "example.com"])
def test_rejects_malformed_cidrs(cidr):
    with pytest.raises(ValueError, match=rf"allowed_cidrs must hold CIDR blocks.*{cidr}"):
        check.cidrs("allowed_cidrs", [cidr])


def test_rejects_a_single_cidr_string():
    with pytest.raises(ValueError, match="must be a list of CIDR blocks"):
        check.cidrs("allowed_cidrs", "10.0.0.0/8")


def test_parses_ipv4_and_ipv6_cidrs():
    nets = check.cidrs("allowed_cidrs", ["203.0.113.0/24", "2001:db8::/32"])
    assert [n.version for n in nets] == [4, 6]


@pytest.mark.parametrize(
    ("image_uri", "framework", "version"),
    [
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/m:1", "sklearn", "1.2-1"),
        (None, None, None),
        (None, "sklearn", None),
    ],
)
def test_requires_exactly_one_of_image_and_framework(image_uri, framework, version):
    with pytest.raises(ValueError, match="give either image_uri"):
        check.image_choice(image_uri, framework, version)


def test_rejects_non_ecr_images():
    with pytest.raises(ValueError, match="image_uri must be an ECR image"):
        check.image_choice("docker.io/library/python:3", None, None)


@pytest.mark.parametrize("path", ["v1/predict", "/", "/v1/{id}", "/v1//x y"])
def test_rejects_bad_api_paths(path):
    with pytest.raises(ValueError, match="path must"):
        check.api_path("path", path)


def test_data_capture_sampling_is_a_percentage():
    with pytest.raises(ValueError, match=r"data_capture.sampling_percentage must be .* 1 to 100"):
        DataCaptureOptions(sampling_percentage=0)


@pytest.mark.parametrize("name", ["API.example.com", "localhost", "-a.example.com"])
def test_rejects_bad_domain_names(name):
    with pytest.raises(ValueError, match=r"custom_domain\.domain_name must be"):
        check.domain_name("custom_domain.domain_name", name)

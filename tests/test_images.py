"""ContainerImage: URIs brought by the user and SageMaker framework images resolved offline."""

import json

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template
from sagemaker.core import image_uris

from secure_endpoint.constructs import images
from secure_endpoint.constructs.images import ContainerImage

pytestmark = pytest.mark.synth

URI = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/model@sha256:" + "ab" * 32
# Regions of every partition the SDK serves, including the special cases of retrieve.
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "il-central-1", "cn-north-1"]
IMAGES = [
    ("sklearn", "1.2-1", "ml.m5.large", "inference"),
    ("xgboost", "1.7-1", "ml.c5.xlarge", "inference"),
    ("pytorch", "2.6", "ml.p3.2xlarge", "inference"),
    ("tensorflow", "2.16", "ml.m5.xlarge", "inference"),
    ("tensorflow", "2.16", "ml.c7g.xlarge", "inference_graviton"),
]


def sdk_uri(framework, version, instance_type, scope, region):
    py_versions = image_uris.list_py_versions(framework, version, scope)
    return image_uris.retrieve(
        framework,
        region,
        version=version,
        py_version=py_versions[-1] if py_versions else None,
        instance_type=instance_type,
        image_scope=scope,
    )


def regional_stack(region):
    return Stack(App(), "Regional", env=Environment(account="111122223333", region=region))


def policy_statements(stack):
    (policy,) = Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()
    return stack.resolve(policy["Properties"]["PolicyDocument"]["Statement"])


@pytest.fixture(scope="module")
def agnostic():
    """An environment-agnostic stack binding two flavours of one framework version."""
    stack = Stack(App(), "Agnostic")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    cpu = ContainerImage.from_framework("pytorch", "2.6", instance_type="ml.m5.large")
    gpu = ContainerImage.from_framework("pytorch", "2.6", instance_type="ml.g4dn.xlarge")
    bound = {"cpu": cpu.bind(stack), "gpu": gpu.bind(stack)}
    cpu.grant_pull(role, scope=stack)
    return stack, bound, Template.from_stack(stack)


def test_from_uri_binds_the_uri_itself():
    stack = Stack(App(), "Uri")
    assert ContainerImage.from_uri(URI).bind(stack) == URI


def test_from_uri_grants_pull_on_its_repository_only():
    stack = Stack(App(), "Uri")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    ContainerImage.from_uri(URI).grant_pull(role, scope=stack)
    statements = policy_statements(stack)
    repository_arn = {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":ecr:eu-west-1:123456789012:repository/team/model",
            ],
        ]
    }
    assert statements == [
        {
            "Action": [
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
            ],
            "Effect": "Allow",
            "Resource": repository_arn,
        },
        {"Action": "ecr:GetAuthorizationToken", "Effect": "Allow", "Resource": "*"},
    ]


@pytest.mark.parametrize(
    "uri",
    [
        "docker.io/library/python:3.12",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/repo",
        "",
    ],
)
def test_from_uri_rejects_what_is_not_an_ecr_image(uri):
    with pytest.raises(ValueError, match=r"image_uri must be an ECR image like"):
        ContainerImage.from_uri(uri)


def test_from_uri_rejects_an_unresolved_token():
    stack = Stack(App(), "Token")
    repository = ecr.Repository(stack, "Repo")
    with pytest.raises(ValueError, match=r"image_uri must be a plain ECR image URI.*from_ecr"):
        ContainerImage.from_uri(repository.repository_uri_for_digest("sha256:" + "0" * 64))


def test_from_ecr_repository_binds_the_digest_and_grants_pull_on_that_repository():
    stack = Stack(App(), "Repository")
    repository = ecr.Repository(stack, "Repo")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    image = ContainerImage.from_ecr_repository(repository, "sha256:" + "0" * 64)
    assert stack.resolve(image.bind(stack)) == stack.resolve(
        repository.repository_uri_for_digest("sha256:" + "0" * 64)
    )
    image.grant_pull(role, scope=stack)
    repository_id = stack.resolve(stack.get_logical_id(repository.node.default_child))
    pull = policy_statements(stack)[0]
    assert pull["Resource"] == {"Fn::GetAtt": [repository_id, "Arn"]}
    assert "ecr:BatchGetImage" in pull["Action"]


def test_from_ecr_repository_needs_a_tag_or_digest():
    stack = Stack(App(), "Repository")
    with pytest.raises(ValueError, match=r"tag_or_digest must name an image"):
        ContainerImage.from_ecr_repository(ecr.Repository(stack, "Repo"), "")


@pytest.mark.parametrize(("framework", "version", "instance_type", "scope"), IMAGES)
@pytest.mark.parametrize("region", REGIONS)
def test_a_regional_stack_gets_the_uri_the_sdk_retrieves(
    framework, version, instance_type, scope, region
):
    image = ContainerImage.from_framework(framework, version, instance_type=instance_type)
    uri = image.bind(regional_stack(region))
    assert uri == sdk_uri(framework, version, instance_type, scope, region)


def test_the_instance_type_decides_cpu_gpu_or_graviton():
    stack = regional_stack("eu-west-1")

    def tag(instance_type):
        image = ContainerImage.from_framework("pytorch", "2.6", instance_type=instance_type)
        return image.bind(stack).split("/", 1)[1]

    assert tag("ml.m5.large") == "pytorch-inference:2.6-cpu-py312"
    assert tag("ml.g4dn.xlarge") == "pytorch-inference:2.6-gpu-py312"
    assert tag("ml.c7g.xlarge").startswith("pytorch-inference-arm64:2.6-cpu-py312")


def test_an_env_agnostic_stack_finds_the_uri_in_one_mapping_per_framework_version(agnostic):
    stack, bound, template = agnostic
    mappings = template.to_json()["Mappings"]
    assert len(mappings) == 1
    ((mapping_id, mapping),) = mappings.items()
    for flavour in ("cpu", "gpu"):
        find = stack.resolve(bound[flavour])
        assert find["Fn::FindInMap"][0] == mapping_id
        assert find["Fn::FindInMap"][1] == {"Ref": "AWS::Region"}
        key = find["Fn::FindInMap"][2]
        for region in REGIONS:
            assert mapping[region][key] == sdk_uri(
                "pytorch",
                "2.6",
                "ml.m5.large" if flavour == "cpu" else "ml.g4dn.xlarge",
                "inference",
                region,
            )


def test_the_mapping_holds_every_region_the_sdk_knows_for_the_image(agnostic):
    _, _, template = agnostic
    (mapping,) = template.to_json()["Mappings"].values()
    config = image_uris.config_for_framework("pytorch")["inference"]
    registries = config["versions"][config["version_aliases"]["2.6"]]["registries"]
    assert set(mapping) == set(registries)
    assert len(mapping) > 30


def test_pulling_a_framework_image_is_scoped_to_its_repository_in_the_registry_of_the_region(
    agnostic,
):
    stack, bound, template = agnostic
    (policy,) = template.find_resources("AWS::IAM::Policy").values()
    pull = policy["Properties"]["PolicyDocument"]["Statement"][0]
    account = {"Fn::Select": [0, {"Fn::Split": [".", stack.resolve(bound["cpu"])]}]}
    assert pull["Resource"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":ecr:",
                {"Ref": "AWS::Region"},
                ":",
                account,
                ":repository/pytorch-inference",
            ],
        ]
    }


def test_pulling_in_a_regional_stack_names_the_registry_account():
    stack = regional_stack("eu-west-1")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    image = ContainerImage.from_framework("sklearn", "1.2-1", instance_type="ml.m5.large")
    image.grant_pull(role, scope=stack)
    account = image.bind(stack).split(".")[0]
    assert policy_statements(stack)[0]["Resource"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                f":ecr:eu-west-1:{account}:repository/sagemaker-scikit-learn",
            ],
        ]
    }


def test_a_region_without_the_image_is_refused_in_a_regional_stack():
    image = ContainerImage.from_framework("sklearn", "1.2-1", instance_type="ml.m5.large")
    with pytest.raises(ValueError, match=r"knows no sklearn 1.2-1 image in region 'xx-none-1'"):
        image.bind(regional_stack("xx-none-1"))


def test_when_deriving_disagrees_with_the_sdk_every_region_is_retrieved(monkeypatch):
    monkeypatch.setenv(images.IMAGE_CACHE_ENV, "off")
    images._resolve_cached.cache_clear()
    monkeypatch.setattr(images, "_derive_uris", lambda reference, registries, hosts: {})
    try:
        image = ContainerImage.from_framework("xgboost", "1.7-1", instance_type="ml.m5.large")
        for region in REGIONS:
            assert image.bind(regional_stack(region)) == sdk_uri(
                "xgboost", "1.7-1", "ml.m5.large", "inference", region
            )
    finally:
        images._resolve_cached.cache_clear()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("caffe", "1.0", "ml.m5.large"), r"framework must be one of 'pytorch'.*got 'caffe'"),
        (
            ("pytorch", "9.9", "ml.m5.large"),
            r"framework_version must be a pytorch version with a SageMaker CPU serving image, "
            r"one of '2\.6\.0', '2\.6', '2\.5\.1', .* and \d+ older .*; got '9\.9'",
        ),
        (
            ("xgboost", "1.7-1", "ml.c7g.large"),
            r"framework_version must be a xgboost version with a SageMaker Graviton serving "
            r"image, one of '1\.5-1', '1\.3-1'; got '1\.7-1'",
        ),
        (("sklearn", 1.2, "ml.m5.large"), r"framework_version must be a string"),
        (
            ("sklearn", "1.2-1", "ml.g4dn.xlarge"),
            r"instance_type='ml.g4dn.xlarge' has no sklearn 1.2-1 GPU serving image",
        ),
        (("sklearn", "1.2-1", "m5.large"), r"instance_type must be a SageMaker instance type"),
        (("pytorch", "2.6", "ml.inf2.xlarge"), r"instance_type='ml.inf2.xlarge' is an AWS Inf"),
    ],
)
def test_from_framework_rejects_what_the_sdk_does_not_know(args, match):
    framework, version, instance_type = args
    with pytest.raises(ValueError, match=match):
        ContainerImage.from_framework(framework, version, instance_type=instance_type)


def test_from_framework_rejects_an_unknown_python_version():
    with pytest.raises(ValueError, match=r"py_version must be one of 'py3' for sklearn 1.2-1"):
        ContainerImage.from_framework(
            "sklearn", "1.2-1", instance_type="ml.m5.large", py_version="py27"
        )


def test_a_python_version_can_be_chosen():
    image = ContainerImage.from_framework(
        "pytorch", "2.1", instance_type="ml.m5.large", py_version="py310"
    )
    assert image.bind(regional_stack("us-east-1")).endswith(":2.1-cpu-py310")


def resolve_sklearn():
    return ContainerImage.from_framework("sklearn", "1.2-1", instance_type="ml.m5.large")


def forbid_the_sdk(monkeypatch):
    def refuse(*args):
        raise AssertionError("the SDK was asked although the cache holds the image")

    monkeypatch.setattr(images, "_resolve_cached", refuse)


def test_a_resolved_image_is_read_back_from_the_disk_cache_without_the_sdk(monkeypatch, tmp_path):
    monkeypatch.setenv(images.IMAGE_CACHE_ENV, str(tmp_path))
    first = resolve_sklearn().bind(regional_stack("eu-west-1"))
    assert len(list(tmp_path.glob("*.json"))) == 1
    assert not list(tmp_path.glob("*.tmp"))
    forbid_the_sdk(monkeypatch)
    assert resolve_sklearn().bind(regional_stack("eu-west-1")) == first


@pytest.mark.parametrize(
    "content", ["", "{", "[]", '{"uris": {}}', '{"framework": "sklearn", "uris": {"a": 1}}']
)
def test_a_malformed_cache_file_is_resolved_again_and_replaced(monkeypatch, tmp_path, content):
    monkeypatch.setenv(images.IMAGE_CACHE_ENV, str(tmp_path))
    expected = resolve_sklearn().bind(regional_stack("eu-west-1"))
    (cached,) = tmp_path.glob("*.json")
    cached.write_text(content)
    assert resolve_sklearn().bind(regional_stack("eu-west-1")) == expected
    forbid_the_sdk(monkeypatch)
    assert resolve_sklearn().bind(regional_stack("eu-west-1")) == expected


def test_another_sdk_version_does_not_read_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv(images.IMAGE_CACHE_ENV, str(tmp_path))
    resolve_sklearn()
    real_version = images.importlib.metadata.version
    monkeypatch.setattr(
        images.importlib.metadata,
        "version",
        lambda name: "0.0.1" if name == "sagemaker-core" else real_version(name),
    )
    resolve_sklearn()
    assert len(list(tmp_path.glob("*.json"))) == 2


def test_refused_versions_are_not_cached(monkeypatch, tmp_path):
    monkeypatch.setenv(images.IMAGE_CACHE_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="framework_version"):
        ContainerImage.from_framework("sklearn", "0.0-0", instance_type="ml.m5.large")
    assert not list(tmp_path.iterdir())


def test_an_unwritable_cache_still_resolves(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(images.IMAGE_CACHE_ENV, str(blocker / "cache"))
    assert resolve_sklearn().bind(regional_stack("eu-west-1")).startswith("141502667606.dkr.ecr")


@pytest.mark.parametrize(
    ("uri", "match"),
    [
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/model:v1",
            r"image_uri names its image by tag \('team/model:v1'\).*allow_mutable_image_tag",
        ),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/model@sha256:abc",
            r"image_uri must end in a digest like '@sha256:<64 lowercase hex>', got 'sha256:abc'",
        ),
    ],
)
def test_an_image_uri_must_be_pinned_by_digest(uri, match):
    with pytest.raises(ValueError, match=match):
        ContainerImage.from_uri(uri)


def test_a_tag_is_accepted_only_when_allowed_and_then_warned():
    from aws_cdk.assertions import Annotations, Match

    stack = regional_stack("eu-west-1")
    uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/model:v1"
    assert ContainerImage.from_uri(uri, allow_mutable_tag=True).bind(stack) == uri
    Annotations.from_stack(stack).has_warning("*", Match.string_like_regexp("named by a tag"))


def test_a_digest_binds_without_a_warning():
    from aws_cdk.assertions import Annotations, Match

    stack = regional_stack("eu-west-1")
    ContainerImage.from_uri(URI).bind(stack)
    Annotations.from_stack(stack).has_no_warning("*", Match.string_like_regexp("named by a tag"))


def test_a_repository_tag_needs_the_same_opt_in():
    stack = Stack(App(), "Tagged")
    repository = ecr.Repository(stack, "Repo")
    with pytest.raises(ValueError, match=r"tag_or_digest names its image by tag \(':v1'\)"):
        ContainerImage.from_ecr_repository(repository, "v1")
    with pytest.raises(ValueError, match=r"tag_or_digest must end in a digest"):
        ContainerImage.from_ecr_repository(repository, "sha256:nothex")
    image = ContainerImage.from_ecr_repository(repository, "v1", allow_mutable_tag=True)
    assert "v1" in json.dumps(stack.resolve(image.bind(stack)))

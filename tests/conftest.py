"""Shared test set-up."""

import pytest

from secure_endpoint.constructs.images import IMAGE_CACHE_ENV


@pytest.fixture(autouse=True, scope="session")
def _image_cache_in_a_temporary_directory(tmp_path_factory):
    """Framework images resolved by the tests are cached away from the working tree."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(IMAGE_CACHE_ENV, str(tmp_path_factory.mktemp("image-uris")))
        yield


@pytest.fixture
def no_aws_credentials(monkeypatch, tmp_path):
    """No credentials anywhere boto3 looks: environment, files, container and instance roles."""
    for name in (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

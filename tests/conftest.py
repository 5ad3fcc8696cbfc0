"""Shared test set-up."""

import re
import sys
from typing import Any

import botocore.loaders
import botocore.session
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


@pytest.fixture(autouse=True, scope="session")
def _one_botocore_loader():
    """Every botocore session of the run shares one data loader (per data path), so that the
    service models and endpoints.json are parsed once, not again for each new session: without
    it, parsing them was about a third of a moto test's time. The loader only caches what it
    read from botocore's data files, which botocore treats as read-only."""
    loaders: dict[object, botocore.loaders.Loader] = {}
    create = botocore.session.create_loader

    def shared(search_path_string=None):
        if search_path_string not in loaders:
            loaders[search_path_string] = create(search_path_string)
        return loaders[search_path_string]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", shared)
        yield


# --- the `synth` marker, kept honest ---------------------------------------------------------
# `make test-fast` leaves out the tests marked `synth` (they build CDK constructs). A test that
# builds a CDK App without the marker fails, saying so, in every run (CI's full run included), so
# that a new synth test cannot slip into the fast subset unnoticed.
_RUNNING: dict[str, object] = {"test": None, "synth": True}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # before the test's fixtures: a module fixture's App belongs to the first test that needs it
    _RUNNING.update(test=item.nodeid, synth=item.get_closest_marker("synth") is not None)


def pytest_collection_finish(session):
    aws_cdk = sys.modules.get("aws_cdk")  # imported by the modules collected, if any builds
    if aws_cdk is None or getattr(aws_cdk.App.__init__, "_synth_guard", False):
        return
    build = aws_cdk.App.__init__

    def guarded(self, *args, **kwargs):
        if not _RUNNING["synth"]:
            pytest.fail(
                f"{_RUNNING['test']} builds a CDK App but is not marked synth: add "
                "`pytestmark = pytest.mark.synth` to its module (or @pytest.mark.synth to it)",
                pytrace=False,
            )
        build(self, *args, **kwargs)

    guarded._synth_guard = True  # type: ignore[attr-defined]
    aws_cdk.App.__init__ = guarded


_TOKEN = re.compile(r"\$\{Token\[[^\]]*\]\}")


def pytest_make_parametrize_id(config: Any, val: object, argname: str) -> str | None:
    """A CDK token in a test id reads ``TOKEN``: its number depends on what ran before, and
    pytest-xdist's workers must collect the same ids."""
    if isinstance(val, str) and "${Token[" in val:
        return _TOKEN.sub("TOKEN", val)
    return None

"""Shared test set-up."""

import pytest

from secure_endpoint.images import IMAGE_CACHE_ENV


@pytest.fixture(autouse=True, scope="session")
def _image_cache_in_a_temporary_directory(tmp_path_factory):
    """Framework images resolved by the tests are cached away from the working tree."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(IMAGE_CACHE_ENV, str(tmp_path_factory.mktemp("image-uris")))
        yield

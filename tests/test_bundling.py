"""Local bundling: real pip for the Lambda platform once, then the cache."""

import subprocess

import pytest

from secure_endpoint import bundling
from secure_endpoint.bundling import PipLocalBundling, dependencies_key


def test_the_cache_key_follows_the_requirements():
    assert dependencies_key(b"a==1\n") != dependencies_key(b"a==2\n")
    assert dependencies_key(b"a==1\n") == dependencies_key(b"a==1\n")


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    out = tmp_path_factory.mktemp("bundle")
    assert PipLocalBundling("client_secret_rotation", cache).try_bundle(str(out))
    return cache, out


def test_bundles_the_package_with_its_linux_dependencies_and_no_bytecode(bundled):
    _, out = bundled
    assert (out / "client_secret_rotation" / "handler.py").is_file()
    assert (out / "aws_lambda_powertools" / "__init__.py").is_file()
    assert not (out / "client_secret_rotation" / "requirements.txt").exists()
    assert not list(out.rglob("*.pyc"))
    assert not (out / ".ok").exists()


def test_a_second_bundle_reuses_the_cache_without_pip(bundled, tmp_path, monkeypatch):
    cache, _ = bundled

    def no_pip(*args, **kwargs):
        raise AssertionError("pip ran although the dependencies were cached")

    monkeypatch.setattr(bundling.subprocess, "run", no_pip)
    assert PipLocalBundling("client_secret_rotation", cache).try_bundle(str(tmp_path))
    assert (tmp_path / "aws_lambda_powertools").is_dir()


def test_a_failed_install_says_what_failed_and_leaves_no_cache(tmp_path, monkeypatch):
    def failing_pip(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "no index")

    monkeypatch.setattr(bundling.subprocess, "run", failing_pip)
    with pytest.raises(
        RuntimeError, match=r"(?s)lambdas/client_secret_rotation.*pip exit 1.*no index"
    ):
        PipLocalBundling("client_secret_rotation", tmp_path / "c").try_bundle(str(tmp_path / "o"))
    assert not list((tmp_path / "c").glob("*/.ok"))

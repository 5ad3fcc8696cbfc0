"""Where bundled Lambda code is cached: the prop, else SECURE_ENDPOINT_CACHE_DIR, else per user."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from endpoint_builder import MODEL

from secure_endpoint import ApiClient, SecureEndpoint
from secure_endpoint.cli import invoke
from secure_endpoint.constructs import bundling
from secure_endpoint.constructs.bundling import CACHE_DIR_ENV, resolve_cache_dir

pytestmark = pytest.mark.synth

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="XDG directories are Linux's")


@pytest.fixture
def user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user cache directory of the test's own, and no SECURE_ENDPOINT_CACHE_DIR."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    return tmp_path / "xdg"


@linux_only
def test_the_default_is_lambda_deps_in_the_users_cache_directory(user_cache: Path) -> None:
    assert resolve_cache_dir() == user_cache / "secure-endpoint" / "lambda-deps"
    assert resolve_cache_dir(None) == user_cache / "secure-endpoint" / "lambda-deps"


@linux_only
def test_the_default_without_xdg_is_under_the_home_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_cache_dir() == tmp_path / "home" / ".cache" / "secure-endpoint" / "lambda-deps"


def test_the_environment_variable_overrides_the_default(
    user_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "shared"))
    assert resolve_cache_dir() == tmp_path / "shared"


def test_the_prop_wins_over_the_environment_variable(
    user_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "shared"))
    assert resolve_cache_dir(tmp_path / "mine") == tmp_path / "mine"
    assert resolve_cache_dir(str(tmp_path / "mine")) == tmp_path / "mine"


@linux_only
def test_an_empty_environment_variable_counts_as_unset(
    user_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, "  ")
    assert resolve_cache_dir() == user_cache / "secure-endpoint" / "lambda-deps"


def test_a_tilde_is_the_home_directory(
    user_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv(CACHE_DIR_ENV, "~/lambda-cache")
    assert resolve_cache_dir() == tmp_path / "home" / "lambda-cache"
    assert resolve_cache_dir("~/mine") == tmp_path / "home" / "mine"


@linux_only
def test_the_cli_keeps_its_tokens_beside_the_bundling_cache(user_cache: Path) -> None:
    assert invoke.token_cache_dir() == user_cache / "secure-endpoint"
    assert resolve_cache_dir().parent == invoke.token_cache_dir()


@pytest.fixture
def bundling_caches(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The cache directory of every Lambda bundler made from now on, in order."""
    seen: list[Path] = []
    original = bundling.PipLocalBundling.__init__

    def recording(self: Any, package: str, cache_dir: Path, **options: Any) -> None:
        seen.append(cache_dir)
        original(self, package, cache_dir, **options)

    monkeypatch.setattr(bundling.PipLocalBundling, "__init__", recording)
    return seen


def _endpoint(**props: Any) -> None:
    stack = Stack(App(context={"aws:cdk:bundling-stacks": []}), "Cache")
    SecureEndpoint(stack, "Endpoint", clients=[ApiClient("partner-a")], **(MODEL | props))


def test_every_function_of_an_endpoint_is_cached_where_the_environment_says(
    bundling_caches: list[Path], user_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "shared"))
    _endpoint(anomaly_monitor=True, auto_block=True)
    # the verifier, the client secret's rotation, the monitor (and whatever else is bundled)
    assert len(bundling_caches) >= 3
    assert set(bundling_caches) == {tmp_path / "shared"}


def test_every_function_of_an_endpoint_is_cached_where_the_prop_says(
    bundling_caches: list[Path], user_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "shared"))
    _endpoint(anomaly_monitor=True, bundling_cache_dir=tmp_path / "mine")
    assert len(bundling_caches) >= 3
    assert set(bundling_caches) == {tmp_path / "mine"}


# --- a cache shared by the synths of several apps ------------------------------------------


def _dependencies_target(cache: Path) -> Path:
    source = bundling.LAMBDAS_DIR / "client_secret_rotation"
    lock = (source / "requirements.lock").read_bytes()
    return cache / bundling.dependencies_key(lock)


def test_an_install_finished_first_by_another_synth_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    target = _dependencies_target(cache)

    def racing_install(self: Any, lock: Path, staging: Path) -> None:
        # meanwhile another app's synth installs the same lock and moves it in first
        target.mkdir(parents=True)
        (target / "theirs.txt").write_text("the other synth's install")
        (target / ".ok").touch()
        (staging / "ours.txt").write_text("this synth's install")

    monkeypatch.setattr(bundling.PipLocalBundling, "_install", racing_install)
    got = bundling.PipLocalBundling("client_secret_rotation", cache)._dependencies()
    assert got == target
    assert sorted(p.name for p in target.iterdir()) == [".ok", "theirs.txt"]
    assert sorted(p.name for p in cache.iterdir()) == [target.name]  # no staging left


def test_each_install_stages_in_a_directory_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    target = _dependencies_target(cache)
    stagings: list[Path] = []

    def install(self: Any, lock: Path, staging: Path) -> None:
        assert staging.parent == cache
        assert not any(staging.iterdir())  # nobody else's files
        stagings.append(staging)
        (staging / "ours.txt").write_text("this synth's install")

    monkeypatch.setattr(bundling.PipLocalBundling, "_install", install)
    # the fixed name that two synths at once used to share, half written by one of them
    (cache / f"{target.name}.partial").mkdir(parents=True)
    (cache / f"{target.name}.partial" / "half.txt").write_text("another synth, still at work")
    assert bundling.PipLocalBundling("client_secret_rotation", cache)._dependencies() == target
    (staging,) = stagings
    assert staging != cache / f"{target.name}.partial"
    assert (cache / f"{target.name}.partial" / "half.txt").exists()  # left alone
    assert sorted(p.name for p in target.iterdir()) == [".ok", "ours.txt"]
    assert not staging.exists()


def test_a_failed_install_leaves_neither_cache_nor_staging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"

    def failing_install(self: Any, lock: Path, staging: Path) -> None:
        (staging / "half.txt").write_text("interrupted")
        raise RuntimeError("pip exit 1: no index")

    monkeypatch.setattr(bundling.PipLocalBundling, "_install", failing_install)
    with pytest.raises(RuntimeError, match="no index"):
        bundling.PipLocalBundling("client_secret_rotation", cache)._dependencies()
    assert list(cache.iterdir()) == []

"""``make deploy`` refuses, having run nothing, without credentials, a region, a model or a
bootstrapped environment; otherwise it runs the pinned CDK CLI with approval for broadening."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_fakes import use_fake_credentials
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
MODEL = ["-c", "model_data_url=s3://my-models/model.tar.gz", "-c", f"model_sha256={'a' * 64}"]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_script", ROOT / "scripts" / "deploy.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


deploy = _load()


class Runner:
    """Records the command instead of running the CDK CLI."""

    def __init__(self, code: int = 0) -> None:
        self.code = code
        self.calls: list[tuple[list[str], dict[str, Any]]] = []

    def __call__(self, command: list[str], **kwargs: Any) -> int:
        self.calls.append((command, kwargs))
        return self.code


@pytest.fixture
def no_aws_config(no_aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials and no region."""
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def aws(no_aws_config: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    use_fake_credentials(monkeypatch, REGION)
    with mock_aws():
        yield


@pytest.fixture
def bootstrapped(aws: None) -> None:
    boto3.client("ssm").put_parameter(
        Name="/cdk-bootstrap/hnb659fds/version", Value="29", Type="String"
    )


def test_without_credentials_it_says_how_to_configure_them_and_runs_nothing(
    no_aws_config: None, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = Runner()
    assert deploy.main(MODEL, run=runner) == 2
    err = capsys.readouterr().err
    assert err.startswith("make deploy: no AWS credentials found. Configure them with ")
    assert "`aws sso login --profile NAME`" in err
    assert err.rstrip().endswith("Nothing was deployed.")
    assert runner.calls == []


def test_without_a_region_it_refuses(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    runner = Runner()
    assert deploy.main(MODEL, run=runner) == 2
    assert "no AWS region is configured: set AWS_REGION" in capsys.readouterr().err
    assert runner.calls == []


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["-c", "model_data_url=s3://my-models/model.tar.gz"],
        ["-c", f"model_data_url={deploy._sample_model_url()}", "-c", f"model_sha256={'a' * 64}"],
    ],
    ids=["no model", "no digest", "the sample placeholder"],
)
def test_the_placeholder_model_is_refused(
    bootstrapped: None, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    runner = Runner()
    assert deploy.main(args, run=runner) == 2
    err = capsys.readouterr().err
    assert "the sample app's model is a placeholder" in err
    assert "-c model_sha256=<sha256sum of the file>" in err
    assert runner.calls == []


def test_an_environment_without_the_bootstrap_stack_is_refused(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = Runner()
    assert deploy.main(MODEL, run=runner) == 2
    err = capsys.readouterr().err
    assert f"account 123456789012 is not bootstrapped for the CDK in {REGION}" in err
    assert f"cdk bootstrap aws://123456789012/{REGION}" in err
    assert runner.calls == []


def test_it_deploys_every_stack_asking_before_any_broadening(
    bootstrapped: None, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = Runner(code=0)
    assert deploy.main(MODEL, run=runner) == 0
    ((command, options),) = runner.calls
    assert command == [
        str(ROOT / "node_modules/.bin/cdk"),
        "deploy",
        "--all",
        "--require-approval",
        "broadening",
        *MODEL,
    ]
    assert options["cwd"] == ROOT
    assert options["env"]["CDK_DISABLE_CLI_TELEMETRY"] == "true"
    out = capsys.readouterr().out
    assert out.startswith(
        f"Deploying the sample app to account 123456789012 in {REGION} as arn:aws:sts::"
    )


def test_the_cli_exit_code_is_the_deploys(bootstrapped: None) -> None:
    assert deploy.main(MODEL, run=Runner(code=1)) == 1


def test_context_comes_from_the_options_in_every_spelling(tmp_path: Path) -> None:
    (tmp_path / "cdk.json").write_text(json.dumps({"context": {"model_sha256": "from-cdk-json"}}))
    (tmp_path / "cdk.context.json").write_text(json.dumps({"region": "from-context-file"}))
    context = deploy.given_context(
        ["-c", "model_data_url=s3://b/m.tar.gz", "--context=a=1", "-cb=2", "--context", "c=3"],
        tmp_path,
    )
    assert context == {
        "model_sha256": "from-cdk-json",
        "region": "from-context-file",
        "model_data_url": "s3://b/m.tar.gz",
        "a": "1",
        "b": "2",
        "c": "3",
    }

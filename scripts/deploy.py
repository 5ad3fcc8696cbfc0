"""``make deploy``: deploy the sample app to the account of the current AWS credentials.

    make deploy CDK_ARGS='-c model_data_url=s3://BUCKET/model.tar.gz -c model_sha256=<hex>'

Refuses, having deployed nothing, without credentials or a region, with the sample app's
placeholder model, and in an environment the CDK has not bootstrapped. Otherwise it says which
account, region and identity it deploys with, then runs the pinned CDK CLI:

    cdk deploy --all --require-approval broadening <CDK_ARGS>

``--require-approval broadening`` stops for a yes before any change that widens IAM permissions
or security-group access; without a terminal to ask on, the CLI refuses rather than assume yes.
Every cdk-nag pack runs during the synth that precedes the deploy: an open finding stops it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions

ROOT = Path(__file__).resolve().parents[1]
CDK = ROOT / "node_modules" / ".bin" / "cdk"
BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/{qualifier}/version"
DEFAULT_QUALIFIER = "hnb659fds"
NOTHING_DEPLOYED = "Nothing was deployed."


class Refusal(Exception):
    """A reason not to deploy; the message says what to do."""


def main(
    argv: Sequence[str] | None = None,
    *,
    session: Any = None,
    run: Callable[..., int] = subprocess.call,
) -> int:
    """Check, then deploy. ``argv`` goes to ``cdk deploy`` as it is (``-c name=value``, ...)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        session = session or boto3.Session()
        account, arn = caller(session)
        region = session.region_name
        if not region:
            raise Refusal(
                "no AWS region is configured: set AWS_REGION (or run `aws configure set region "
                f"eu-west-1`, or use a profile that has one). {NOTHING_DEPLOYED}"
            )
        context = given_context(args, ROOT)
        check_model(context, _sample_model_url())
        check_bootstrapped(session, str(context.get("@aws-cdk/core:bootstrapQualifier") or ""))
    except Refusal as refusal:
        print(f"make deploy: {refusal}", file=sys.stderr)
        return 2
    command = [str(CDK), "deploy", "--all", "--require-approval", "broadening", *args]
    print(f"Deploying the sample app to account {account} in {region} as {arn}.")
    print(
        "It runs a SageMaker endpoint, VPC interface endpoints and a WAF by the hour: "
        "`node_modules/.bin/cdk destroy --all` when done (the Cognito user pool is retained)."
    )
    print("$ " + " ".join(["cdk", *command[1:]]), flush=True)
    env = {
        **os.environ,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }
    return run(command, cwd=ROOT, env=env)


def caller(session: Any) -> tuple[str, str]:
    """The account and ARN of the credentials, as STS sees them.

    :raises Refusal: no credentials, or credentials AWS refuses.
    """
    try:
        identity = session.client("sts").get_caller_identity()
    except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError):
        raise Refusal(
            "no AWS credentials found. Configure them with `aws configure` (access keys), or "
            "`aws sso login --profile NAME` and `export AWS_PROFILE=NAME`, or the AWS_* "
            f"environment variables; then run make deploy again. {NOTHING_DEPLOYED}"
        ) from None
    except botocore.exceptions.ClientError as error:
        code = error.response["Error"].get("Code")
        message = error.response["Error"].get("Message")
        raise Refusal(
            f"AWS refused the credentials ({code}: {message}): refresh them (an expired SSO "
            f"session needs `aws sso login`). {NOTHING_DEPLOYED}"
        ) from None
    except botocore.exceptions.BotoCoreError as error:  # a missing profile, no network, ...
        raise Refusal(f"cannot check the credentials: {error}. {NOTHING_DEPLOYED}") from None
    return str(identity["Account"]), str(identity["Arn"])


def given_context(args: Sequence[str], root: Path) -> dict[str, Any]:
    """The context the CDK CLI will use: cdk.json, then cdk.context.json, then ``-c`` options."""
    context: dict[str, Any] = {}
    for name in ("cdk.json", "cdk.context.json"):
        path = root / name
        if path.is_file():
            data = json.loads(path.read_text())
            context.update(data.get("context", {}) if name == "cdk.json" else data)
    pending = iter(args)
    for arg in pending:
        value = None
        if arg in ("-c", "--context"):
            value = next(pending, "")
        elif arg.startswith("--context="):
            value = arg.removeprefix("--context=")
        elif arg.startswith("-c") and len(arg) > 2:
            value = arg[2:]
        if value and "=" in value:
            key, _, item = value.partition("=")
            context[key] = item
    return context


def check_model(context: dict[str, Any], sample_url: str) -> None:
    """Refuse the sample app's placeholder model: it does not exist, and its stack would fail
    halfway through and roll back, keeping the retained user pool."""
    url, digest = context.get("model_data_url"), context.get("model_sha256")
    if not url or url == sample_url or not digest:
        raise Refusal(
            "the sample app's model is a placeholder: give your own artifact and its SHA-256, "
            "make deploy CDK_ARGS='-c model_data_url=s3://BUCKET/model.tar.gz "
            "-c model_sha256=<sha256sum of the file>' (the stack verifies the digest before the "
            f"model exists). {NOTHING_DEPLOYED}"
        )


def check_bootstrapped(session: Any, qualifier: str = "") -> None:
    """Refuse an environment without the CDK's bootstrap stack (roles and asset storage)."""
    name = BOOTSTRAP_VERSION_PARAMETER.format(qualifier=qualifier or DEFAULT_QUALIFIER)
    try:
        session.client("ssm").get_parameter(Name=name)
    except botocore.exceptions.ClientError as error:
        if error.response["Error"].get("Code") != "ParameterNotFound":
            return  # not allowed to look: the CDK CLI checks again and says so
        account = session.client("sts").get_caller_identity()["Account"]
        raise Refusal(
            f"account {account} is not bootstrapped for the CDK in {session.region_name} (no "
            f"{name}). Bootstrapping creates the deployment roles and an asset bucket; review "
            f"and run: node_modules/.bin/cdk bootstrap aws://{account}/{session.region_name}. "
            f"{NOTHING_DEPLOYED}"
        ) from None


def _sample_model_url() -> str:
    spec = importlib.util.spec_from_file_location("_secure_endpoint_sample_app", ROOT / "app.py")
    if spec is None or spec.loader is None:
        raise Refusal(f"cannot read the sample app {ROOT / 'app.py'}. {NOTHING_DEPLOYED}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.SAMPLE_MODEL_URL)


if __name__ == "__main__":
    sys.exit(main())

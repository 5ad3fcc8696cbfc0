"""ArtifactVerification as ModelHosting creates it: the custom resource the model waits for, its
function and a role held to the one artifact object, the signature check, the tamper check's
rules and metric. Synthesized once; nag and cfn-lint: test_compliance_matrix.py."""

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import pytest
from artifact_verifier import handler as verifier_handler
from artifact_verifier import tamper
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Annotations, Match, Template
from configurations import once
from moto import mock_aws

from secure_endpoint.constructs import integrity
from secure_endpoint.constructs.bundling import RUNTIME, PipLocalBundling
from secure_endpoint.constructs.hosting import ModelHosting
from secure_endpoint.constructs.images import ContainerImage
from secure_endpoint.constructs.integrity import ArtifactVerification
from secure_endpoint.constructs.keys import EncryptionKey
from secure_endpoint.constructs.network import IsolatedNetwork

pytestmark = pytest.mark.synth

CDK_CONTEXT = json.loads((Path(__file__).parent.parent / "cdk.json").read_text())["context"]
BUCKET = "model-artifacts-bucket"
OBJECT = "models/churn/model.tar.gz"
MODEL_URL = f"s3://{BUCKET}/{OBJECT}"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
OBJECT_ARN = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":s3:::{BUCKET}/{OBJECT}"]]}
# An ECDSA P-256 signature's length (DER, 71 bytes) in base64; KMS checks it at deploy time.
SIGNATURE = "MEUCIQ" + "A" * 90


def build(app, stack_id, **props):
    stack = Stack(app, stack_id)
    key = EncryptionKey(stack, "Key").key
    network = IsolatedNetwork(stack, "Network", key=key)
    hosting = ModelHosting(
        stack,
        "Hosting",
        model_data_url=MODEL_URL,
        model_sha256=SHA256,
        image=ContainerImage.from_framework("sklearn", "1.2-1", instance_type="ml.m5.large"),
        instance_type="ml.m5.large",
        instance_count=1,
        max_instance_count=2,
        vpc=network.vpc,
        vpc_subnets=network.isolated_subnets,
        key=key,
        **props,
    )
    return stack, hosting


def configuration():
    """The configuration of this module (and a row of the compliance matrix)."""
    app = App(context=CDK_CONTEXT)
    plain = build(app, "Plain")
    artifact_key_stack = Stack(app, "ArtifactKey")
    artifact_key = kms.Key(artifact_key_stack, "ArtifactKey", enable_key_rotation=True)
    signing_key = kms.Key(
        artifact_key_stack,
        "SigningKey",
        key_spec=kms.KeySpec.ECC_NIST_P256,
        key_usage=kms.KeyUsage.SIGN_VERIFY,
    )
    with_key = build(
        app,
        "WithKey",
        model_data_key=artifact_key,
        s3_prefix_list=ec2.PrefixList.from_prefix_list_id(artifact_key_stack, "S3", "pl-63a5400a"),
        model_signature=SIGNATURE,
        model_signing_key=signing_key,
        artifact_check_interval=Duration.minutes(30),
        artifact_bucket_events=True,
        allowed_pickle_globals=["mycompany.models.*", "mycompany.features.Scaler"],
    )
    no_scan = build(app, "NoScan", artifact_scan=False)
    return app, plain, with_key, signing_key, no_scan


@pytest.fixture(scope="module")
def app():
    return once(configuration)


@pytest.fixture(scope="module")
def plain(app):
    stack, hosting = app[1]
    return stack, hosting, Template.from_stack(stack)


@pytest.fixture(scope="module")
def with_key(app):
    stack, hosting = app[2]
    return stack, hosting, Template.from_stack(stack)


@pytest.fixture(scope="module")
def no_scan(app):
    stack, hosting = app[4]
    return stack, hosting, Template.from_stack(stack)


def logical_id(stack, construct):
    return stack.resolve(stack.get_logical_id(construct.node.default_child))


def verifier_statements(stack, hosting, template):
    role = hosting.artifact_verification.function.role
    policies = template.find_resources(
        "AWS::IAM::ManagedPolicy", {"Properties": {"Roles": [{"Ref": logical_id(stack, role)}]}}
    )
    ((_, policy),) = policies.items()
    return policy["Properties"]["PolicyDocument"]["Statement"]


def test_the_custom_resource_carries_the_url_and_the_digest(plain):
    stack, hosting, template = plain
    function_id = logical_id(stack, hosting.artifact_verification.function)
    template.has_resource_properties(
        integrity.RESOURCE_TYPE,
        {
            "ServiceToken": {"Fn::GetAtt": [function_id, "Arn"]},
            "ModelDataUrl": MODEL_URL,
            "Sha256": SHA256,
            "ServiceTimeout": "960",
        },
    )


def test_the_model_depends_on_the_check(plain):
    stack, hosting, template = plain
    (model,) = template.find_resources("AWS::SageMaker::Model").values()
    assert logical_id(stack, hosting.artifact_verification.resource) in model["DependsOn"]


def test_the_function_is_pinned_hardened_and_in_the_isolated_subnets(plain):
    stack, hosting, template = plain
    isolated = [
        {"Ref": name}
        for name, subnet in template.find_resources("AWS::EC2::Subnet").items()
        if {"Key": "aws-cdk:subnet-type", "Value": "Isolated"} in subnet["Properties"]["Tags"]
    ]
    assert len(isolated) == 2
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "artifact_verifier.handler.handler",
            "Runtime": RUNTIME.name,
            "MemorySize": integrity.MEMORY_MB,
            "Timeout": 900,
            "ReservedConcurrentExecutions": Match.absent(),  # opt-in: reserved_concurrency
            "TracingConfig": {"Mode": "Active"},
            "DeadLetterConfig": {"TargetArn": Match.any_value()},
            "VpcConfig": {
                "SecurityGroupIds": [
                    {"Fn::GetAtt": [logical_id(stack, hosting.security_group), "GroupId"]}
                ],
                "SubnetIds": isolated,
            },
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": logical_id(stack, hosting.artifact_verification.function)},
            "MaximumRetryAttempts": 0,
        },
    )


def test_the_role_may_read_exactly_the_artifact_object(plain):
    statements = verifier_statements(*plain)
    s3 = [s for s in statements if any(a.startswith("s3:") for a in s["Action"])]
    (statement,) = s3
    assert sorted(statement["Action"]) == [
        "s3:GetObject",
        "s3:GetObjectAttributes",
        "s3:GetObjectVersion",
        "s3:GetObjectVersionAttributes",
    ]
    assert statement["Resource"] == OBJECT_ARN
    assert "Condition" not in statement


def test_without_an_artifact_key_the_role_has_no_decrypt_beyond_its_queue(plain):
    stack, hosting, template = plain
    statements = verifier_statements(stack, hosting, template)
    decrypting = [s for s in statements if "kms:Decrypt" in s["Action"]]
    (only,) = decrypting  # the dead-letter queue's key, for failed sends
    assert sorted(only["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_with_an_artifact_key_the_role_may_decrypt_with_it(with_key):
    stack, hosting, template = with_key
    statements = verifier_statements(stack, hosting, template)
    assert any(
        s["Action"] == "kms:Decrypt" and "ArtifactKey" in json.dumps(s["Resource"])
        for s in statements
    )


def test_with_a_prefix_list_the_check_waits_for_the_s3_egress_rule(with_key):
    stack, hosting, template = with_key
    (check,) = template.find_resources(integrity.RESOURCE_TYPE).values()
    egress = hosting.node.find_child("S3Egress")
    assert stack.resolve(stack.get_logical_id(egress)) in check["DependsOn"]


def test_the_largest_streamed_artifact_is_stated():
    assert 50 * 10**9 < integrity.MAX_STREAMED_BYTES < 100 * 10**9


@pytest.fixture(scope="module")
def scratch():
    """A stack to build checks in that fail validation (each under its own id)."""
    stack = Stack(App(context=CDK_CONTEXT), "Bad")
    key = EncryptionKey(stack, "Key").key
    network = IsolatedNetwork(stack, "Network", key=key)
    sg = ec2.SecurityGroup(stack, "Sg", vpc=network.vpc)
    props = {
        "model_data_url": MODEL_URL,
        "model_sha256": SHA256,
        "key": key,
        "vpc": network.vpc,
        "vpc_subnets": network.isolated_subnets,
        "security_group": sg,
    }
    return stack, props


def checking(scratch, **props):
    stack, defaults = scratch
    return ArtifactVerification(stack, f"Check{len(stack.node.children)}", **(defaults | props))


def test_rejects_a_digest_that_is_not_sha256(scratch):
    with pytest.raises(ValueError, match="model_sha256 must be a SHA-256 digest"):
        checking(scratch, model_sha256="abc")


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"model_signature": SIGNATURE}, "model_signature needs model_signing_key"),
        ({"signing_key": "ECC_NIST_P256"}, "model_signing_key is given without model_signature"),
        (
            {"model_signing_algorithm": "ECDSA_SHA_256"},
            "model_signing_algorithm applies to model_signature, which is not given",
        ),
        (
            {"model_signature": SIGNATURE, "signing_key": "ECC_NIST_P256",
             "model_signing_algorithm": "ECDSA_SHA_384"},
            "model_signing_algorithm must be one of ECDSA_SHA_256, RSASSA_PSS_SHA_256, "
            r"RSASSA_PKCS1_V1_5_SHA_256 \(the KMS algorithms that sign a SHA-256 digest\), "
            "got 'ECDSA_SHA_384'",
        ),
        (
            {"model_signature": "not base64!", "signing_key": "ECC_NIST_P256"},
            "model_signature must be the base64 text of a KMS signature",
        ),
        (
            {"model_signature": SIGNATURE, "signing_key": "RSA_2048"},
            "model_signing_key must be a KMS key with KeyUsage SIGN_VERIFY and a key spec that "
            r"ECDSA_SHA_256 signs with \(ECC_NIST_P256, ECC_SECG_P256K1\), got KeyUsage "
            "SIGN_VERIFY and KeySpec RSA_2048",
        ),
        (
            {"model_signature": SIGNATURE, "signing_key": None},
            "got KeyUsage ENCRYPT_DECRYPT and KeySpec SYMMETRIC_DEFAULT",
        ),
        (
            {"artifact_check_interval": Duration.minutes(10)},
            "artifact_check_interval must be whole minutes from 15 minutes to 1 day, got 600",
        ),
        ({"artifact_check_interval": Duration.days(2)}, "got 172800 seconds"),
        ({"artifact_check_interval": 3600}, "artifact_check_interval must be a Duration"),
        ({"artifact_bucket_events": "yes"}, "artifact_bucket_events must be True or False"),
    ],
)  # fmt: skip
def test_rejects_signature_and_tamper_check_props(scratch, props, message):
    stack, _ = scratch
    if "signing_key" in props:
        spec = props.pop("signing_key")
        props["model_signing_key"] = kms.Key(
            stack,
            f"Signing{len(stack.node.children)}",
            **(
                {"key_spec": getattr(kms.KeySpec, spec), "key_usage": kms.KeyUsage.SIGN_VERIFY}
                if spec
                else {}
            ),
        )
    with pytest.raises(ValueError, match=message):
        checking(scratch, **props)


def test_a_brought_signing_key_is_left_to_kms(scratch):
    stack, _ = scratch
    brought = kms.Key.from_key_arn(
        stack, "Brought", "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234"
    )
    check = checking(scratch, model_signature=SIGNATURE, model_signing_key=brought)
    Template.from_stack(stack).has_resource_properties(
        integrity.RESOURCE_TYPE,
        {"ServiceToken": {"Fn::GetAtt": [logical_id(stack, check.function), "Arn"]},
         "SigningKeyArn": brought.key_arn},
    )  # fmt: skip


# --- signatures --------------------------------------------------------------------------------


def test_without_a_signature_the_check_asks_kms_nothing(plain):
    stack, hosting, template = plain
    (check,) = template.find_resources(integrity.RESOURCE_TYPE).values()
    assert not {"Signature", "SigningKeyArn", "SigningAlgorithm"} & set(check["Properties"])
    statements = verifier_statements(stack, hosting, template)
    assert not [s for s in statements if "kms:Verify" in json.dumps(s["Action"])]


def test_the_signature_reaches_the_check_with_its_key_and_the_default_algorithm(app, with_key):
    stack, _, template = with_key
    signing_key = app[3]
    template.has_resource_properties(
        integrity.RESOURCE_TYPE,
        {
            "Signature": SIGNATURE,
            "SigningKeyArn": stack.resolve(signing_key.key_arn),
            "SigningAlgorithm": "ECDSA_SHA_256",
        },
    )


def test_the_role_may_verify_with_the_signing_key_and_nothing_else(app, with_key):
    stack, hosting, template = with_key
    signing_key = stack.resolve(app[3].key_arn)
    statements = verifier_statements(stack, hosting, template)
    with_signing_key = [s for s in statements if s["Resource"] == signing_key]
    assert with_signing_key == [
        {"Action": "kms:Verify", "Effect": "Allow", "Resource": signing_key}
    ]
    assert all("kms:Sign" not in json.dumps(s["Action"]) for s in statements)


def test_with_a_prefix_list_a_signed_check_may_reach_kms_in_the_vpc(with_key):
    stack, hosting, template = with_key
    (vpc,) = template.find_resources("AWS::EC2::VPC")
    egress = hosting.node.find_child("KmsEgress")
    template.has_resource_properties(
        "AWS::EC2::SecurityGroupEgress",
        {
            "GroupId": {"Fn::GetAtt": [logical_id(stack, hosting.security_group), "GroupId"]},
            "CidrIp": {"Fn::GetAtt": [vpc, "CidrBlock"]},
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
        },
    )
    (check,) = template.find_resources(integrity.RESOURCE_TYPE).values()
    assert stack.resolve(stack.get_logical_id(egress)) in check["DependsOn"]


# --- the tamper check --------------------------------------------------------------------------


def rules(template):
    return template.find_resources("AWS::Events::Rule")


def schedule(template):
    (rule,) = [r for r in rules(template).values() if "ScheduleExpression" in r["Properties"]]
    return rule["Properties"]


def test_the_schedule_runs_the_same_function_hourly_with_a_dead_letter_queue(plain):
    stack, hosting, template = plain
    verification = hosting.artifact_verification
    props = schedule(template)
    assert props["ScheduleExpression"] == "rate(1 hour)"
    (target,) = props["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [logical_id(stack, verification.function), "Arn"]}
    assert target["DeadLetterConfig"] == {
        "Arn": {"Fn::GetAtt": [logical_id(stack, verification.dead_letter_queue), "Arn"]}
    }
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 2}


def test_the_scheduled_event_runs_the_tamper_check(plain, monkeypatch, capsys):
    """The rule's input template, filled as EventBridge fills it, drives the handler against S3
    in moto: the template and the handler agree on the event."""
    _, _, template = plain
    transformer = schedule(template)["Targets"][0]["InputTransformer"]
    assert transformer["InputPathsMap"] == {"time": "$.time", "detail-type": "$.detail-type"}
    delivered = json.loads(
        transformer["InputTemplate"]
        .replace("<time>", '"2026-11-29T10:23:00Z"')
        .replace("<detail-type>", '"Scheduled Event"')
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key=OBJECT, Body=b"test")  # sha256("test") == SHA256
        assert hashlib.sha256(b"test").hexdigest() == SHA256
        monkeypatch.setattr(verifier_handler, "store", lambda: verifier_handler.ArtifactStore(s3))

        class Context:
            function_name = "verifier"

            def get_remaining_time_in_millis(self):
                return 600_000

        assert verifier_handler.handler(delivered, Context())["mismatch"] == 0
        s3.put_object(Bucket=BUCKET, Key=OBJECT, Body=b"swapped")
        assert verifier_handler.handler(delivered, Context())["mismatch"] == 1
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert [line[tamper.METRIC] for line in lines] == [0, 1]


def test_without_bucket_events_only_the_schedule_runs_the_check(plain):
    _, _, template = plain
    assert len(rules(template)) == 1


def test_bucket_events_of_the_object_run_the_check_too(with_key):
    stack, hosting, template = with_key
    verification = hosting.artifact_verification
    (events_rule,) = [r for r in rules(template).values() if "EventPattern" in r["Properties"]]
    props = events_rule["Properties"]
    assert props["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created", "Object Deleted"],
        "detail": {"bucket": {"name": [BUCKET]}, "object": {"key": [OBJECT]}},
    }
    (target,) = props["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [logical_id(stack, verification.function), "Arn"]}
    assert target["InputTransformer"] == schedule(template)["Targets"][0]["InputTransformer"]


def test_object_events_match_a_key_as_s3_may_encode_it():
    assert integrity._keys("models/m.tar.gz") == ["models/m.tar.gz"]
    assert integrity._keys("models/red flower+1.tar.gz") == [
        "models/red flower+1.tar.gz",
        "models/red+flower%2B1.tar.gz",
    ]


def test_the_interval_sets_the_schedule_and_the_metric_period(with_key):
    _, hosting, template = with_key
    assert schedule(template)["ScheduleExpression"] == "rate(30 minutes)"
    metric = hosting.artifact_verification.metric_digest_mismatch()
    assert metric.period.to_seconds() == 1800


def test_the_metric_is_the_one_the_function_publishes(plain):
    stack, hosting, _ = plain
    verification = hosting.artifact_verification
    metric = verification.metric_digest_mismatch()
    assert (metric.namespace, metric.metric_name, metric.statistic) == (
        tamper.NAMESPACE,
        tamper.METRIC,
        "Maximum",
    )
    assert stack.resolve(metric.dimensions) == {
        tamper.DIMENSION: {"Ref": logical_id(stack, verification.function)}
    }
    assert integrity.TAMPER_CHECK_MODE == tamper.MODE


def test_the_check_scans_the_archive_by_default(plain):
    stack, hosting, template = plain
    template.has_resource_properties(
        integrity.RESOURCE_TYPE,
        {"ModelDataUrl": MODEL_URL, "Scan": "true", "AllowedPickleGlobals": Match.absent()},
    )
    assert hosting.artifact_verification.scans is True
    assert (
        Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("not scanned"))
        == []
    )


def test_allowed_pickle_globals_reach_the_check(with_key):
    _, _, template = with_key
    template.has_resource_properties(
        integrity.RESOURCE_TYPE,
        {
            "Scan": "true",
            "AllowedPickleGlobals": ["mycompany.models.*", "mycompany.features.Scaler"],
        },
    )


def test_turning_the_scan_off_is_warned_of(no_scan):
    stack, hosting, template = no_scan
    template.has_resource_properties(integrity.RESOURCE_TYPE, {"Scan": "false"})
    warnings = Annotations.from_stack(stack).find_warning(
        f"/{stack.node.path}/{hosting.node.id}/ArtifactVerification",
        Match.string_like_regexp(r"The model artifact is not scanned \(artifact scan=False\)"),
    )
    assert len(warnings) == 1


def test_the_function_has_the_tmp_space_to_spool_zips(plain):
    stack, hosting, template = plain
    function_id = logical_id(stack, hosting.artifact_verification.function)
    function = template.find_resources("AWS::Lambda::Function")[function_id]["Properties"]
    assert function["EphemeralStorage"] == {"Size": 10240}


def test_the_function_ships_the_scanner(monkeypatch, tmp_path):
    calls = []
    real = integrity.lambda_code

    def recording(package, cache_dir, **options):
        calls.append((package, options))
        return real(package, cache_dir, **options)

    monkeypatch.setattr(integrity, "lambda_code", recording)
    build(App(context={"aws:cdk:bundling-stacks": []}), "Shipped")
    assert (integrity.VERIFIER_PACKAGE, {"include_runtime": True}) in calls
    archive = PipLocalBundling(
        integrity.VERIFIER_PACKAGE, tmp_path, include_runtime=True
    )._archive()
    names = zipfile.ZipFile(archive).namelist()
    assert "artifact_verifier/scan.py" in names
    assert "secure_endpoint/runtime/artifact_scan/scanner.py" in names
    # The bundle alone imports its handler and scans, without the CDK or this checkout.
    task = tmp_path / "task"
    zipfile.ZipFile(archive).extractall(task)
    code = (
        "import io, sys, tarfile\n"
        "from artifact_verifier import handler, scan\n"
        "import secure_endpoint\n"
        "data = b'cos\\nsystem\\n(tR.'\n"
        "buffer = io.BytesIO()\n"
        "with tarfile.open(fileobj=buffer, mode='w:gz') as tar:\n"
        "    info = tarfile.TarInfo('model.pkl'); info.size = len(data)\n"
        "    tar.addfile(info, io.BytesIO(data))\n"
        "report = scan.scan_chunks([buffer.getvalue()], scan.policy_of({'Scan': 'true'}))\n"
        "print(secure_endpoint.__file__)\n"
        "print(report.findings[0].global_name)\n"
        "assert not {'aws_cdk', 'jsii'} & {m.split('.')[0] for m in sys.modules}\n"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=task,
        env={**os.environ, "PYTHONPATH": str(task)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [str(task / "secure_endpoint" / "__init__.py"), "os.system"]


def test_the_unsafe_artifact_metric_names_the_function(plain):
    stack, hosting, _ = plain
    metric = hosting.artifact_verification.metric_unsafe_artifact()
    assert (metric.namespace, metric.metric_name, metric.statistic) == (
        "SecureEndpoint/Integrity",
        "ArtifactUnsafe",
        "Maximum",
    )
    assert stack.resolve(metric.dimensions["FunctionName"]) == {
        "Ref": logical_id(stack, hosting.artifact_verification.function)
    }


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"artifact_scan": "yes"}, r"artifact_scan must be True or False, got 'yes'"),
        ({"allowed_pickle_globals": "numpy.*"}, r"allowed_pickle_globals must be a list"),
        ({"allowed_pickle_globals": ["os"]}, r"allowed_pickle_globals\[0\] must be 'module.name'"),
        ({"allowed_pickle_globals": ["os.system"]}, r"never allows .*posix|never allows .*os"),
        (
            {"artifact_scan": False, "allowed_pickle_globals": ["a.b"]},
            r"applies to artifact_scan, which is False",
        ),
    ],
)
def test_bad_scan_props_fail_fast(props, message):
    with pytest.raises(ValueError, match=message):
        build(App(context={"aws:cdk:bundling-stacks": []}), "Bad", **props)


def test_secure_endpoint_passes_the_scan_options_to_the_check():
    from endpoint_builder import synth_endpoint

    from secure_endpoint import ApiClient, ArtifactOptions

    options = ArtifactOptions(scan=False)
    _, stack, endpoint = synth_endpoint(
        "NoScanEndpoint", clients=[ApiClient("partner")], anomaly_monitor=False, artifact=options
    )
    Template.from_stack(stack).has_resource_properties(integrity.RESOURCE_TYPE, {"Scan": "false"})
    assert endpoint.hosting.artifact_verification.scans is False
    warnings = Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp(r"The model artifact is not scanned")
    )
    assert len(warnings) == 1
    allowed = ArtifactOptions(allowed_pickle_globals=["mycompany.*"])
    assert allowed.allowed_pickle_globals == ("mycompany.*",)

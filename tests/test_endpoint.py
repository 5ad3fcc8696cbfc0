"""The composed SecureEndpoint: wiring and invariants over every resource. Nag and cfn-lint:
test_compliance_matrix.py (the variants built here are rows of it)."""

import json
import re

import pytest
from aws_cdk import App, Duration, Environment, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Capture, Match, Template
from configurations import once
from endpoint_builder import DIGEST, SKLEARN, synth_endpoint
from template_checks import assert_rotation_invocations_are_scoped

from secure_endpoint import (
    ApiClient,
    ArtifactOptions,
    DataCaptureOptions,
    HostingOptions,
    MonitorOptions,
    SecureEndpoint,
    WafOptions,
    manifest,
)

pytestmark = pytest.mark.synth

CLIENTS = [ApiClient("partner-a", rate_limit=50, burst_limit=100, quota_per_day=100_000)]


def synth(env=None, **props):
    defaults = {"clients": CLIENTS, "allowed_cidrs": ["203.0.113.0/24"]}
    return synth_endpoint("Secured", env, **(defaults | props))


def configuration():
    """The configuration of this module (and a row of the compliance matrix)."""
    app, stack, endpoint = synth()
    return app, Template.from_stack(stack), endpoint


@pytest.fixture(scope="module")
def built():
    return once(configuration)


@pytest.fixture(scope="module")
def template(built):
    return built[1]


def with_data_capture():
    """A row of the compliance matrix: capture on, at 20 percent."""
    return synth(data_capture=DataCaptureOptions(sampling_percentage=20))


def in_a_concrete_environment():
    """A row of the compliance matrix: a stack with a concrete account and region."""
    return synth(env=Environment(account="123456789012", region="eu-west-1"))


def test_every_log_group_is_encrypted_and_retained(template):
    groups = template.find_resources("AWS::Logs::LogGroup")
    assert len(groups) >= 4  # access, WAF, flow and rotation logs
    for name, group in groups.items():
        assert "KmsKeyId" in group["Properties"], name
        assert group["Properties"].get("RetentionInDays", 0) >= 365, name


def test_every_key_rotates(template):
    keys = template.find_resources("AWS::KMS::Key")
    assert keys
    for key in keys.values():
        assert key["Properties"]["EnableKeyRotation"] is True


def test_no_iam_policy_grants_a_wildcard_action(template):
    documents = [
        p["Properties"]["PolicyDocument"]
        for t in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        for p in template.find_resources(t).values()
    ]
    for role in template.find_resources("AWS::IAM::Role").values():
        documents += [p["PolicyDocument"] for p in role["Properties"].get("Policies", [])]
    actions = [
        action
        for document in documents
        for statement in document["Statement"]
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    ]
    assert actions
    assert not [a for a in actions if a == "*" or a.endswith(":*")]


def test_every_method_is_authorized_with_a_scope_and_an_api_key(template):
    methods = template.find_resources("AWS::ApiGateway::Method")
    assert methods
    for method in methods.values():
        props = method["Properties"]
        assert props["AuthorizationType"] == "COGNITO_USER_POOLS"
        assert props["AuthorizationScopes"]
        assert props["ApiKeyRequired"] is True


def test_the_api_invokes_the_endpoint_the_stack_creates(template):
    endpoint = Capture()
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "Integration": Match.object_like(
                {
                    "Uri": {
                        "Fn::Join": [
                            "",
                            Match.array_with([{"Fn::GetAtt": [endpoint, "EndpointName"]}]),
                        ]
                    }
                }
            )
        },
    )
    assert template.find_resources("AWS::SageMaker::Endpoint").keys() == {endpoint.as_string()}


def test_the_web_acl_protects_the_api_stage(template):
    (stage,) = template.find_resources("AWS::ApiGateway::Stage")
    (association,) = template.find_resources("AWS::WAFv2::WebACLAssociation").values()
    assert {"Ref": stage} in association["Properties"]["ResourceArn"]["Fn::Join"][1]


def test_each_client_secret_is_keyed_rotated_and_feeds_its_api_key(built):
    _, template, endpoint = built
    secret = Capture()
    template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {
            "KmsKeyId": {"Fn::GetAtt": [logical_id(endpoint.key), "Arn"]},
            "GenerateSecretString": Match.object_like({"GenerateStringKey": "api_key"}),
        },
    )
    template.has_resource_properties(
        "AWS::SecretsManager::RotationSchedule",
        {
            "SecretId": {"Ref": secret},
            "RotationRules": {"ScheduleExpression": "rate(30 days)"},
            "RotationLambdaARN": Match.any_value(),
        },
    )
    (api_key,) = template.find_resources("AWS::ApiGateway::ApiKey").values()
    value = json.dumps(api_key["Properties"]["Value"])
    assert "{{resolve:secretsmanager:" in value
    assert secret.as_string() in value
    assert ":SecretString:api_key::}}" in value


def test_the_secret_template_holds_no_credential_in_clear(built):
    _, template, endpoint = built
    (secret,) = template.find_resources("AWS::SecretsManager::Secret").values()
    properties = secret["Properties"]
    assert "SecretString" not in properties  # generated by Secrets Manager, never a literal
    generate = properties["GenerateSecretString"]
    assert generate["GenerateStringKey"] == "api_key"  # the API key is generated into it
    assert generate["PasswordLength"] >= 32
    assert generate["ExcludePunctuation"] is True  # API Gateway takes [A-Za-z0-9] keys
    parts = generate["SecretStringTemplate"]["Fn::Join"][1]
    tokens = [part for part in parts if not isinstance(part, str)]
    document = json.loads(
        "".join(part if isinstance(part, str) else f"<{tokens.index(part)}>" for part in parts)
    )
    (client,) = template.find_resources(
        "AWS::Cognito::UserPoolClient", {"Properties": {"ClientName": "partner-a"}}
    )

    def reference(name):
        assert re.fullmatch(r"<\d+>", document[name]), f"{name} is a literal: {document[name]!r}"
        return tokens[int(document[name][1:-1])]

    # the credentials are CloudFormation references, resolved at deploy time
    assert reference("client_secret") == {"Fn::GetAtt": [client, "ClientSecret"]}
    assert reference("client_id") == {"Ref": client}
    assert reference("user_pool_id") == {"Ref": logical_id(endpoint.user_pool)}
    # and every literal value is one of the public coordinates, nothing else
    assert set(document) == {
        "client_name", "client_id", "client_secret", "user_pool_id", "token_url", "api_url",
        "scope",
    }  # fmt: skip
    assert document["client_name"] == "partner-a"
    assert document["scope"] == "secure-endpoint/invoke"
    assert document["token_url"].startswith("https://<")
    assert document["token_url"].endswith(".amazoncognito.com/oauth2/token")
    assert document["api_url"].startswith("https://<")
    assert document["api_url"].endswith("/v1/predict")


def logical_id(construct):
    child = getattr(construct.node, "default_child", None) or construct
    return Stack.of(construct).get_logical_id(child)


def _rotation_function(template):
    (function,) = template.find_resources(
        "AWS::Lambda::Function",
        {"Properties": {"Handler": "client_secret_rotation.handler.handler"}},
    ).values()
    return function


def test_the_rotation_lambda_runs_hardened_outside_the_vpc(built):
    # A user pool with a domain (the token URL's) is incompatible with PrivateLink: no VPC
    # endpoint reaches Cognito's API, so the rotation runs where Cognito answers.
    _, template, endpoint = built
    props = _rotation_function(template)["Properties"]
    assert "VpcConfig" not in props
    assert props["Runtime"] == "python3.14"
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["KmsKeyArn"] == {"Fn::GetAtt": [logical_id(endpoint.key), "Arn"]}
    assert props["Environment"]["Variables"]["USER_POOL_ID"] == {
        "Ref": logical_id(endpoint.identity.user_pool)
    }
    assert "TargetArn" in props["DeadLetterConfig"]
    role_id = props["Role"]["Fn::GetAtt"][0]
    role = template.to_json()["Resources"][role_id]["Properties"]
    assert role.get("ManagedPolicyArns", []) == []


def test_the_rotation_role_may_change_only_this_pools_client_secrets(built):
    _, template, endpoint = built
    role_id = _rotation_function(template)["Properties"]["Role"]["Fn::GetAtt"][0]
    cognito = [
        statement
        for policy in template.find_resources("AWS::IAM::ManagedPolicy").values()
        if {"Ref": role_id} in policy["Properties"].get("Roles", [])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(str(a).startswith("cognito-idp:") for a in _as_list(statement["Action"]))
    ]
    assert cognito == [
        {
            "Action": [
                "cognito-idp:AddUserPoolClientSecret",
                "cognito-idp:ListUserPoolClientSecrets",
                "cognito-idp:DeleteUserPoolClientSecret",
            ],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [logical_id(endpoint.identity.user_pool), "Arn"]},
        }
    ]


def _as_list(value):
    return value if isinstance(value, list) else [value]


def test_the_vpc_has_no_endpoint_that_nothing_in_it_calls(template):
    services = {
        props["ServiceName"]["Fn::Join"][1][-1]
        for props in (
            r["Properties"] for r in template.find_resources("AWS::EC2::VPCEndpoint").values()
        )
    }
    assert services == {".s3", ".dynamodb", ".logs", ".sns", ".wafv2"}


def test_outputs_name_the_api_the_token_endpoint_and_the_secrets(template):
    outputs = template.to_json()["Outputs"]
    names = " ".join(outputs)
    assert "ApiUrl" in names
    assert "TokenUrl" in names
    assert "SecretArn" in names


def test_a_brought_key_and_vpc_are_used_not_recreated():
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, "Brought")
    key = kms.Key(stack, "MyKey", enable_key_rotation=True)
    vpc = ec2.Vpc(
        stack,
        "MyVpc",
        max_azs=2,
        nat_gateways=0,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="iso", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        ],
    )
    SecureEndpoint(
        stack,
        "Endpoint",
        model_data_url="s3://models/m.tar.gz",
        model_sha256=DIGEST,
        hosting=HostingOptions(
            image_uri="123456789012.dkr.ecr.eu-west-1.amazonaws.com/model@sha256:" + "a" * 64
        ),
        clients=CLIENTS,
        encryption_key=key,
        vpc=vpc,
        add_vpc_endpoints=True,  # the bare VPC has none; the check is tested in composition
    )
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::KMS::Key", 1)
    template.resource_count_is("AWS::EC2::VPC", 1)
    services = {
        json.dumps(e["Properties"]["ServiceName"])
        for e in template.find_resources("AWS::EC2::VPCEndpoint").values()
    }
    assert {s.rsplit(".", 1)[-1].strip('"]}') for s in services} == {
        "logs", "sns", "wafv2", "s3", "dynamodb",
    }  # fmt: skip


# Invalid props: tests/test_bad_props.py.


def test_waf_and_scaling_limits_are_reachable_from_the_endpoint():
    _, stack, _ = synth(
        waf=WafOptions(rate_limit_per_ip=500, max_body_bytes=16_384),
        hosting=HostingOptions(**SKLEARN, target_invocations_per_instance=120),
    )
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::WAFv2::WebACL",
        {"Rules": Match.array_with([Match.object_like({"Name": "RateLimitPerIp", "Statement": {
            "RateBasedStatement": Match.object_like({"Limit": 500})}})])},
    )  # fmt: skip
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {"TargetTrackingScalingPolicyConfiguration": Match.object_like({"TargetValue": 120})},
    )


def rule(template, name):
    (acl,) = template.find_resources("AWS::WAFv2::WebACL").values()
    (found,) = [r for r in acl["Properties"]["Rules"] if r["Name"] == name]
    return found


def test_the_api_key_rate_limit_follows_the_most_generous_usage_plan():
    clients = [ApiClient("slow", rate_limit=1), ApiClient("fast", rate_limit=50, burst_limit=100)]
    _, stack, _ = synth(clients=clients)
    statement = rule(Template.from_stack(stack), "RateLimitPerApiKey")["Statement"]
    assert statement["RateBasedStatement"]["Limit"] == 50 * 300 + 100


def test_the_deny_and_auto_block_lists_are_exposed_and_grantable(template, built):
    endpoint = built[2]
    assert [s.ip_address_version for s in endpoint.deny_ip_sets] == ["IPV4", "IPV6"]
    assert [s.ip_address_version for s in endpoint.auto_block_ip_sets] == ["IPV4", "IPV6"]
    assert endpoint.deny_ip_sets == endpoint.edge.deny_ip_sets


def test_waf_lists_and_overrides_reach_the_web_acl():
    _, stack, endpoint = synth(
        waf=WafOptions(
            denied_cidrs=["198.51.100.0/24"],
            blocked_countries=["KP"],
            rate_limit_per_api_key=20_000,
            rule_overrides={"AWSManagedRulesCommonRuleSet": {"NoUserAgent_HEADER": "COUNT"}},
        )
    )
    template = Template.from_stack(stack)
    assert stack.resolve(endpoint.deny_ip_sets[0].addresses) == ["198.51.100.0/24"]
    assert rule(template, "GeoRestriction")["Statement"] == {
        "GeoMatchStatement": {"CountryCodes": ["KP"]}
    }
    assert (
        rule(template, "RateLimitPerApiKey")["Statement"]["RateBasedStatement"]["Limit"] == 20_000
    )


def with_threat_intel_feeds():
    """Two feeds blocked by the web ACL (and a row of the compliance matrix)."""
    from secure_endpoint import SPAMHAUS_DROP, TOR_EXIT_NODES

    return synth(waf=WafOptions(threat_intel_feeds=[SPAMHAUS_DROP, TOR_EXIT_NODES]))


def test_threat_intel_feeds_are_blocked_by_the_web_acl():
    _, stack, endpoint = once(with_threat_intel_feeds)
    template = Template.from_stack(stack)
    statements = rule(template, "BlockedIpSets")["Statement"]["OrStatement"]["Statements"]
    arns = [s["IPSetReferenceStatement"]["Arn"] for s in statements]
    assert arns == [stack.resolve(s.attr_arn) for s in endpoint.threat_intel.ip_sets]
    assert len(arns) == 4


def test_the_rotation_role_may_encrypt_messages_for_its_dead_letter_queue(built):
    _, template, endpoint = built
    stack = Stack.of(endpoint)
    key_arn = stack.resolve(endpoint.key.key_arn)
    statements = [
        statement
        for policy in template.find_resources("AWS::IAM::ManagedPolicy").values()
        if "Rotation" in json.dumps(policy["Properties"].get("Roles", []))
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert {"Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Effect": "Allow",
            "Resource": key_arn} in statements  # fmt: skip


def test_the_rate_window_sets_both_rules_and_the_derived_key_limit():
    _, stack, _ = synth(waf=WafOptions(rate_window=Duration.minutes(1)))
    template = Template.from_stack(stack)
    per_ip = rule(template, "RateLimitPerIp")["Statement"]["RateBasedStatement"]
    per_key = rule(template, "RateLimitPerApiKey")["Statement"]["RateBasedStatement"]
    assert per_ip["EvaluationWindowSec"] == per_key["EvaluationWindowSec"] == 60
    assert per_key["Limit"] == 50 * 60 + 100


def test_the_response_commands_find_the_endpoint_by_its_manifest(built):
    _, template, endpoint = built
    stack = Stack.of(endpoint)
    outputs = template.to_json()["Outputs"]
    assert [key for key in outputs if key.startswith("SecureEndpointManifest")] == [
        "SecureEndpointManifestEndpoint"
    ]
    value = outputs["SecureEndpointManifestEndpoint"]["Value"]
    # The value is a JSON object joined from the resources' references: rendered with the
    # references as placeholders, it parses, and each field names its resource.
    text = "".join(
        part if isinstance(part, str) else f"<{stack_ref(part)}>" for part in value["Fn::Join"][1]
    )
    found = manifest.parse(text)
    assert found.name == "Endpoint"
    assert found.invoke_scope == "secure-endpoint/invoke"
    assert found.ip_sets == {
        4: f"<{stack.get_logical_id(endpoint.auto_block_ip_sets[0])}.Arn>",
        6: f"<{stack.get_logical_id(endpoint.auto_block_ip_sets[1])}.Arn>",
    }
    assert (
        found.auto_block_table
        == f"<{stack.get_logical_id(endpoint.block_list.table.node.default_child)}>"
    )
    (client,) = found.clients.values()
    assert client.api_key_id == (
        f"<{stack.get_logical_id(endpoint.api.api_keys['partner-a'].node.default_child)}>"
    )
    app_client = endpoint.identity.app_clients["partner-a"].node.default_child
    assert client.client_id == f"<{stack.get_logical_id(app_client)}>"  # alerts name clients by id
    # allowed_cidrs holds IPv4 ranges only: one IP set
    (allowed,) = endpoint.edge.allowed_ip_sets
    assert found.allowlist == (f"<{stack.get_logical_id(allowed)}.Arn>",)


def stack_ref(part):
    """``{"Ref": X}`` as ``X``, ``{"Fn::GetAtt": [X, A]}`` as ``X.A``."""
    if "Ref" in part:
        return part["Ref"]
    return ".".join(part["Fn::GetAtt"])


@pytest.mark.parametrize("env", [None, Environment(region="eu-west-1")])
def test_key_policy_statement_ids_are_unique_with_every_option_on(env):
    from secure_endpoint import SPAMHAUS_DROP
    from secure_endpoint.constructs.monitor import MonitorOptions

    _, stack, _ = synth(
        env=env,
        waf=WafOptions(threat_intel_feeds=[SPAMHAUS_DROP]),
        auto_block=True,
        monitor_options=MonitorOptions(disable_api_keys=True),
    )
    for key in Template.from_stack(stack).find_resources("AWS::KMS::Key").values():
        sids = [s["Sid"] for s in key["Properties"]["KeyPolicy"]["Statement"] if "Sid" in s]
        assert len(sids) == len(set(sids)), sids


def test_a_model_data_key_lets_the_artifact_check_decrypt_with_it():
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, "Keyed")
    artifact_key = kms.Key(stack, "ArtifactKey", enable_key_rotation=True)
    SecureEndpoint(
        stack, "Endpoint", model_data_url="s3://models/churn/model.tar.gz", model_sha256=DIGEST,
        hosting=HostingOptions(**SKLEARN), clients=CLIENTS,
        artifact=ArtifactOptions(data_key=artifact_key),
    )  # fmt: skip
    key_arn = stack.resolve(artifact_key.key_arn)
    statements = [
        statement
        for policy in Template.from_stack(stack).find_resources("AWS::IAM::ManagedPolicy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Resource"] == key_arn
    ]
    assert statements
    assert all(s["Action"] == "kms:Decrypt" for s in statements)


def signed_model():
    """A model signed with an RSA key (and a row of the compliance matrix)."""
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, "Signed")
    signing_key = kms.Key(
        stack, "SigningKey", key_spec=kms.KeySpec.RSA_3072, key_usage=kms.KeyUsage.SIGN_VERIFY
    )
    endpoint = SecureEndpoint(
        stack, "Endpoint", model_data_url="s3://models/churn/model.tar.gz", model_sha256=DIGEST,
        hosting=HostingOptions(**SKLEARN), clients=CLIENTS,
        artifact=ArtifactOptions(signature="A" * 512, signing_key=signing_key,
                                 signing_algorithm="RSASSA_PSS_SHA_256", bucket_events=True),
    )  # fmt: skip
    return app, stack, endpoint


def test_a_signed_model_gets_a_kms_endpoint_the_check_waits_for():
    _, stack, endpoint = once(signed_model)
    template = Template.from_stack(stack)
    assert endpoint.network is not None
    kms_endpoint = endpoint.network.interface_endpoints["kms"]
    template.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {"ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".kms"]]},
         "PrivateDnsEnabled": True},
    )  # fmt: skip
    check = template.to_json()["Resources"][
        stack.get_logical_id(endpoint.hosting.artifact_verification.resource.node.default_child)
    ]
    assert stack.get_logical_id(kms_endpoint.node.default_child) in check["DependsOn"]
    assert check["Properties"]["SigningAlgorithm"] == "RSASSA_PSS_SHA_256"


def _reservations(template):
    return {
        props["Handler"]: props.get("ReservedConcurrentExecutions")
        for props in (
            r["Properties"] for r in template.find_resources("AWS::Lambda::Function").values()
        )
        if "Handler" in props and not props["Handler"].startswith("__entrypoint__")
    }


def test_no_function_reserves_concurrency_by_default(template):
    # An account whose concurrency quota is still 10 refuses any reservation (Lambda keeps 100
    # unreserved): a first deploy there must not fail on function creation.
    reservations = _reservations(template)
    assert "client_secret_rotation.handler.handler" in reservations
    assert set(reservations.values()) == {None}


def with_reserved_concurrency():
    """Every function reserving concurrency (and a row of the compliance matrix)."""
    return synth(
        reserved_concurrency=True,
        auto_block=True,
        monitor_options=MonitorOptions(disable_api_keys=True),
    )


def test_reserved_concurrency_reserves_each_function_and_says_the_quota_it_needs():
    app, stack, _ = once(with_reserved_concurrency)
    template = Template.from_stack(stack)
    reservations = {k: v for k, v in _reservations(template).items() if v is not None}
    assert reservations == {
        "client_secret_rotation.handler.handler": 2,
        "artifact_verifier.handler.handler": 2,
        "anomaly_monitor.handler.handler": 1,
        "anomaly_model_fitter.handler.handler": 1,
        "api_key_responder.handler.handler": 1,
    }
    infos = [
        a.entry.data
        for a in app.synth().get_stack_by_name(stack.stack_name).messages
        if a.entry.type == "aws:cdk:info"
    ]
    assert any("reserves 7 concurrent executions" in i and "at least 107" in i for i in infos)


def _depends_on(resources, name):
    """Everything ``name`` depends on, directly (DependsOn or a Ref/GetAtt) or through others."""
    seen, todo = set(), [name]
    while todo:
        resource = resources[todo.pop()]
        direct = resource.get("DependsOn", [])
        direct = [direct] if isinstance(direct, str) else list(direct)
        text = json.dumps(resource.get("Properties", {}))
        direct += [other for other in resources if f'"{other}"' in text]
        for other in direct:
            if other not in seen and other in resources:
                seen.add(other)
                todo.append(other)
    return seen


def test_every_vpc_function_and_model_comes_after_the_vpc_endpoints(template):
    # On delete the artifact check must still reach S3 (and CloudFormation's pre-signed S3
    # URL) through the gateway endpoint: nothing may remove the route first.
    resources = template.to_json()["Resources"]
    endpoints = set(template.find_resources("AWS::EC2::VPCEndpoint"))
    assert len(endpoints) == 5
    in_vpc = [
        name
        for name, r in resources.items()
        if r["Type"] in ("AWS::Lambda::Function", "AWS::SageMaker::Model")
        and "VpcConfig" in r.get("Properties", {})
    ]
    assert len(in_vpc) == 4  # artifact check, anomaly monitor, its model fitter, model
    for name in in_vpc:
        assert endpoints <= _depends_on(resources, name), name
    (check,) = template.find_resources("Custom::ModelArtifactVerification")
    assert endpoints <= _depends_on(resources, check)


def test_secrets_manager_may_invoke_the_rotation_only_for_these_clients_secrets(template):
    assert_rotation_invocations_are_scoped(template)


def test_each_clients_secret_gets_its_own_scoped_rotation_permission():
    _, stack, _ = synth(clients=[ApiClient("partner-a"), ApiClient("partner-b")])
    template = Template.from_stack(stack)
    assert len(template.find_resources("AWS::SecretsManager::RotationSchedule")) == 2
    assert_rotation_invocations_are_scoped(template)

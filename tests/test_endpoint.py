"""The composed SecureEndpoint: wiring, invariants over every resource, nag and cfn-lint."""

import json
import re

import pytest
from aws_cdk import App, Duration, Environment, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Capture, Match, Template
from endpoint_builder import DIGEST, synth_endpoint
from template_checks import cfn_lint

from secure_endpoint import ApiClient, DataCaptureOptions, SecureEndpoint, compliance, manifest

CLIENTS = [ApiClient("partner-a", rate_limit=50, burst_limit=100, quota_per_day=100_000)]


def synth(env=None, **props):
    defaults = {"clients": CLIENTS, "allowed_cidrs": ["203.0.113.0/24"]}
    return synth_endpoint("Secured", env, **(defaults | props))


@pytest.fixture(scope="module")
def built():
    app, stack, endpoint = synth()
    return app, Template.from_stack(stack), endpoint


@pytest.fixture(scope="module")
def template(built):
    return built[1]


def test_no_nag_finding_under_any_of_the_five_packs(built):
    assert compliance.findings(built[0]) == []


def test_no_nag_finding_with_data_capture():
    app, _, _ = synth(data_capture=DataCaptureOptions(sampling_percentage=20))
    assert compliance.findings(app) == []


def test_no_nag_finding_in_a_stack_with_a_concrete_region_and_account():
    app, _, _ = synth(env=Environment(account="123456789012", region="eu-west-1"))
    assert compliance.findings(app) == []


def test_cfn_lint_reports_nothing(template):
    assert cfn_lint(template, "us-east-1", "eu-west-1") == []


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


def test_the_rotation_lambda_runs_hardened_in_the_vpc(built):
    _, template, endpoint = built
    isolated = [{"Ref": logical_id(subnet)} for subnet in endpoint.vpc.isolated_subnets]
    assert len(isolated) == 2
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "client_secret_rotation.handler.handler",
            "Runtime": "python3.14",
            "TracingConfig": {"Mode": "Active"},
            "ReservedConcurrentExecutions": 2,
            "VpcConfig": Match.object_like({"SubnetIds": isolated}),
            "DeadLetterConfig": Match.any_value(),
            "KmsKeyArn": {"Fn::GetAtt": [logical_id(endpoint.key), "Arn"]},
            "Environment": {"Variables": Match.object_like({"USER_POOL_ID": Match.any_value()})},
        },
    )


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
        image_uri="123456789012.dkr.ecr.eu-west-1.amazonaws.com/model@sha256:" + "a" * 64,
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
        "secretsmanager", "cognito-idp", "logs", "sns", "wafv2", "s3", "dynamodb",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"model_data_url": "https://x/y"}, "model_data_url must be an S3 object URL"),
        ({"model_sha256": "abc"}, "model_sha256 must be a SHA-256 digest"),
        ({"clients": []}, "clients must name at least one client"),
        ({"clients": [ApiClient("a"), ApiClient("a")]}, "two clients named 'a'"),
        ({"allowed_cidrs": ["10.0.0.300/32"]}, "allowed_cidrs must hold CIDR blocks"),
        ({"denied_cidrs": ["10.0.0.1/8"]}, "denied_cidrs must hold CIDR blocks"),
        (
            {"denied_cidrs": ["203.0.113.128/25"]},
            "allowed_cidrs entry '203.0.113.0/24' overlaps denied_cidrs",
        ),
        ({"blocked_countries": ["de"]}, "blocked_countries must hold ISO 3166"),
        ({"waf_rate_limit_per_api_key": 1}, "rate_limit_per_api_key must be a whole number"),
        ({"image_uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/m:1"}, "not both"),
        ({"instance_type": "m5.large"}, "instance_type must be a SageMaker instance type"),
        ({"instance_type": "ml.g5.xlarge"}, "NVMe instance storage"),
        ({"instance_count": 0}, "instance_count must be a whole number from 1"),
        ({"instance_count": 3, "max_instance_count": 2}, r"max_instance_count \(2\)"),
        ({"framework_version": "0.0-nope"}, "framework_version"),
        ({"vpc_subnets": ec2.SubnetSelection()}, "give vpc as well"),
        ({"model_signature": "MEUCIQ" + "A" * 90}, "model_signature needs model_signing_key"),
        ({"model_signing_algorithm": "ECDSA_SHA_256"}, "model_signing_algorithm applies to"),
    ],
)
def test_rejects_invalid_props_at_synth_time(props, message):
    with pytest.raises(ValueError, match=message):
        synth(**props)


def test_waf_and_scaling_limits_are_reachable_from_the_endpoint():
    _, stack, _ = synth(waf_rate_limit_per_ip=500, max_body_bytes=16_384,
                        target_invocations_per_instance=120)  # fmt: skip
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


def test_rejects_a_body_limit_waf_cannot_inspect():
    with pytest.raises(ValueError, match="max_body_bytes"):
        synth(max_body_bytes=100_000)


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
        denied_cidrs=["198.51.100.0/24"],
        blocked_countries=["KP"],
        waf_rate_limit_per_api_key=5000,
        waf_rule_overrides={"AWSManagedRulesCommonRuleSet": {"NoUserAgent_HEADER": "COUNT"}},
    )
    template = Template.from_stack(stack)
    assert stack.resolve(endpoint.deny_ip_sets[0].addresses) == ["198.51.100.0/24"]
    assert rule(template, "GeoRestriction")["Statement"] == {
        "GeoMatchStatement": {"CountryCodes": ["KP"]}
    }
    assert rule(template, "RateLimitPerApiKey")["Statement"]["RateBasedStatement"]["Limit"] == 5000


def test_threat_intel_feeds_are_blocked_by_the_web_acl_and_stay_nag_clean():
    from secure_endpoint import SPAMHAUS_DROP, TOR_EXIT_NODES

    app, stack, endpoint = synth(threat_intel_feeds=[SPAMHAUS_DROP, TOR_EXIT_NODES])
    template = Template.from_stack(stack)
    statements = rule(template, "BlockedIpSets")["Statement"]["OrStatement"]["Statements"]
    arns = [s["IPSetReferenceStatement"]["Arn"] for s in statements]
    assert arns == [stack.resolve(s.attr_arn) for s in endpoint.threat_intel.ip_sets]
    assert len(arns) == 4
    assert compliance.findings(app) == []


def test_threat_intel_feeds_cannot_feed_a_brought_web_acl():
    from aws_cdk import aws_wafv2 as wafv2

    from secure_endpoint import SPAMHAUS_DROP

    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, "Own")
    acl = wafv2.CfnWebACL(
        stack,
        "Acl",
        scope="REGIONAL",
        default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
        visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True, sampled_requests_enabled=True, metric_name="Own"
        ),
    )
    with pytest.raises(ValueError, match="threat_intel_feeds cannot be combined with web_acl"):
        SecureEndpoint(
            stack,
            "Endpoint",
            model_data_url="s3://models/churn/model.tar.gz",
            model_sha256=DIGEST,
            framework="sklearn",
            framework_version="1.2-1",
            clients=CLIENTS,
            threat_intel_feeds=[SPAMHAUS_DROP],
            web_acl=acl,
        )


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
    _, stack, _ = synth(waf_rate_window=Duration.minutes(1))
    template = Template.from_stack(stack)
    per_ip = rule(template, "RateLimitPerIp")["Statement"]["RateBasedStatement"]
    per_key = rule(template, "RateLimitPerApiKey")["Statement"]["RateBasedStatement"]
    assert per_ip["EvaluationWindowSec"] == per_key["EvaluationWindowSec"] == 60
    assert per_key["Limit"] == 50 * 60 + 100


def test_a_rate_window_waf_does_not_offer_is_refused():
    with pytest.raises(ValueError, match=r"rate_window must be one of 1 min, 2 min, 5 min, 10 min"):
        synth(waf_rate_window=Duration.seconds(90))


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
        threat_intel_feeds=[SPAMHAUS_DROP],
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
        framework="sklearn", framework_version="1.2-1", clients=CLIENTS,
        model_data_key=artifact_key,
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


def test_a_signed_model_gets_a_kms_endpoint_the_check_waits_for():
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, "Signed")
    signing_key = kms.Key(
        stack, "SigningKey", key_spec=kms.KeySpec.RSA_3072, key_usage=kms.KeyUsage.SIGN_VERIFY
    )
    endpoint = SecureEndpoint(
        stack, "Endpoint", model_data_url="s3://models/churn/model.tar.gz", model_sha256=DIGEST,
        framework="sklearn", framework_version="1.2-1", clients=CLIENTS,
        model_signature="A" * 512, model_signing_key=signing_key,
        model_signing_algorithm="RSASSA_PSS_SHA_256", artifact_bucket_events=True,
    )  # fmt: skip
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
    assert compliance.findings(app) == []

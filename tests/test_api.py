"""The REST API and its OAuth identity, synthesized once around a stand-in endpoint."""

import json

import airspeed
import pytest
from aws_cdk import App, Aws, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Capture, Match, Template

from secure_endpoint import compliance
from secure_endpoint.constructs.access_log import ACCESS_LOG_FIELDS
from secure_endpoint.constructs.api import InferenceApi
from secure_endpoint.constructs.identity import OAuthIdentity
from secure_endpoint.constructs.keys import EncryptionKey
from secure_endpoint.constructs.options import ApiClient, CustomDomain, TlsPolicy

pytestmark = pytest.mark.synth

CLIENTS = [
    ApiClient("partner-a", rate_limit=50, burst_limit=100, quota_per_day=100_000),
    ApiClient("partner-b", rate_limit=5, quota_per_day=1_000, scopes=("invoke", "explain")),
]


class StandInEndpoint:
    endpoint_name = "model-endpoint"

    def grant_api_invoke(self, grantee):
        arn = f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:endpoint/model-endpoint"
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["sagemaker:InvokeEndpoint"], resource_arns=[arn]
        )


def build(**api_props):
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, "ApiStack")
    key = EncryptionKey(stack, "Key").key
    identity = OAuthIdentity(stack, "Identity", clients=CLIENTS)
    api = InferenceApi(
        stack,
        "Api",
        endpoint=StandInEndpoint(),
        user_pool=identity.user_pool,
        invoke_scope=identity.invoke_scope,
        key=key,
        **api_props,
    )
    for client in CLIENTS:
        api.add_client(client, f"{client.name}-key-value-from-a-secret-0123456789")
    return app, stack, api, identity


@pytest.fixture(scope="module")
def built():
    app, stack, api, identity = build()
    return app, Template.from_stack(stack), api, identity


@pytest.fixture(scope="module")
def template(built):
    return built[1]


def methods(template):
    return {
        k: v
        for k, v in template.find_resources("AWS::ApiGateway::Method").items()
        if v["Properties"]["HttpMethod"] != "OPTIONS"
    }


def test_the_api_is_regional_with_an_enhanced_tls_policy_in_strict_mode(template):
    template.has_resource_properties(
        "AWS::ApiGateway::RestApi",
        {
            "EndpointConfiguration": {"Types": ["REGIONAL"]},
            "SecurityPolicy": "SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09",
            "EndpointAccessMode": "STRICT",
            "ApiKeySourceType": "HEADER",
        },
    )


def test_tls13_only_is_an_option():
    _, stack, _, _ = build(tls_policy=TlsPolicy.TLS13_ONLY)
    Template.from_stack(stack).has_resource_properties(
        "AWS::ApiGateway::RestApi", {"SecurityPolicy": "SecurityPolicy_TLS13_1_3_2025_09"}
    )


def test_every_method_requires_the_invoke_scope_and_an_api_key(template):
    authorizer = Capture()
    found = methods(template)
    assert found, "the API has no method"
    for method in found.values():
        props = method["Properties"]
        assert props["AuthorizationType"] == "COGNITO_USER_POOLS"
        assert props["AuthorizationScopes"] == ["secure-endpoint/invoke"]
        assert props["ApiKeyRequired"] is True
    template.has_resource_properties(
        "AWS::ApiGateway::Method", {"HttpMethod": "POST", "AuthorizerId": {"Ref": authorizer}}
    )
    template.has_resource_properties(
        "AWS::ApiGateway::Authorizer",
        {
            "Type": "COGNITO_USER_POOLS",
            "ProviderARNs": [{"Fn::GetAtt": [Match.any_value(), "Arn"]}],
        },
    )
    assert authorizer.as_string() in template.find_resources("AWS::ApiGateway::Authorizer")


def test_predict_is_a_direct_sagemaker_integration_with_its_own_role(template):
    role = Capture()
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "Integration": Match.object_like(
                {
                    "Type": "AWS",
                    "IntegrationHttpMethod": "POST",
                    "PassthroughBehavior": "NEVER",
                    "Credentials": {"Fn::GetAtt": [role, "Arn"]},
                    "Uri": {
                        "Fn::Join": [
                            "",
                            Match.array_with(
                                [":runtime.sagemaker:path/endpoints/model-endpoint/invocations"]
                            ),
                        ]
                    },
                }
            ),
        },
    )
    assert template.find_resources("AWS::Lambda::Function") == {}
    policies = template.find_resources(
        "AWS::IAM::ManagedPolicy", {"Properties": {"Roles": [{"Ref": role.as_string()}]}}
    )
    (policy,) = policies.values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "sagemaker:InvokeEndpoint"
    assert "endpoint/model-endpoint" in json.dumps(statement["Resource"])


def test_the_inference_id_names_the_client_and_the_request(template):
    integration = methods(template)
    (method,) = [m for m in integration.values() if m["Properties"]["HttpMethod"] == "POST"]
    request_template = method["Properties"]["Integration"]["RequestTemplates"]["application/json"]
    assert "X-Amzn-SageMaker-Inference-Id" in request_template
    assert '"$context.authorizer.claims.client_id"' in request_template
    assert '"$clientId:$requestId"' in request_template
    assert request_template.rstrip().endswith("$input.body")


def render_inference_id(request_template, client_id, request_id):
    """Render the request template as API Gateway does; return (body, inference id header)."""
    context = {
        "context": {
            "authorizer": {"claims": {"client_id": client_id}},
            "requestId": request_id,
            "requestOverride": {"header": {}},
        },
        "input": {"body": '{"instances": [[1, 2]]}'},
    }
    # airspeed-ext (dev extra): LocalStack's AWS-dialect Velocity engine.
    body = airspeed.Template(request_template).merge(context)
    return body, context["context"]["requestOverride"]["header"]["X-Amzn-SageMaker-Inference-Id"]


REQUEST_ID = "c0ffee00-1234-4abc-8def-0123456789ab"  # API Gateway's 36-character form


@pytest.mark.parametrize(
    ("client_id", "expected"),
    [
        ("4k8v0n6q2r5t7w9y1b3d5f7h9j", f"4k8v0n6q2r5t7w9y1b3d5f7h9j:{REQUEST_ID}"),  # Cognito's 26
        ("c" * 60, f"{'c' * 27}:{REQUEST_ID}"),  # a brought pool's longer id: cut to fit
        ("c" * 27, f"{'c' * 27}:{REQUEST_ID}"),  # exactly 64
    ],
)
def test_the_inference_id_fits_sagemakers_64_characters(template, client_id, expected):
    (method,) = [m for m in methods(template).values() if m["Properties"]["HttpMethod"] == "POST"]
    request_template = method["Properties"]["Integration"]["RequestTemplates"]["application/json"]
    body, inference_id = render_inference_id(request_template, client_id, REQUEST_ID)
    assert inference_id == expected
    assert len(inference_id) <= 64
    assert body == '{"instances": [[1, 2]]}'


def test_a_request_id_too_long_alone_is_cut_to_64(template):
    (method,) = [m for m in methods(template).values() if m["Properties"]["HttpMethod"] == "POST"]
    request_template = method["Properties"]["Integration"]["RequestTemplates"]["application/json"]
    _, inference_id = render_inference_id(request_template, "client", "r" * 80)
    assert inference_id == "r" * 64


@pytest.mark.parametrize(
    ("pattern", "status", "code"),
    [
        (r"2\d{2}", "200", None),
        ("400", "400", "invalid_input"),
        ("424", "502", "model_error"),
        ("429|503", "503", "unavailable"),
        (None, "500", "internal_error"),
    ],
)
def test_sagemaker_errors_map_to_clean_statuses(template, pattern, status, code):
    (method,) = [m for m in methods(template).values() if m["Properties"]["HttpMethod"] == "POST"]
    responses = method["Properties"]["Integration"]["IntegrationResponses"]
    (response,) = [r for r in responses if r.get("SelectionPattern") == pattern]
    assert response["StatusCode"] == status
    if code is not None:
        body = json.loads(response["ResponseTemplates"]["application/json"])
        assert body["error"] == code
        assert set(body) == {"error", "message", "requestId"}


def test_the_body_is_validated_against_the_schema_and_the_content_type_is_required(template):
    validator = Capture()
    model = Capture()
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "RequestValidatorId": {"Ref": validator},
            "RequestModels": {"application/json": {"Ref": model}},
            "RequestParameters": {"method.request.header.Content-Type": True},
        },
    )
    template.has_resource_properties(
        "AWS::ApiGateway::RequestValidator",
        {"ValidateRequestBody": True, "ValidateRequestParameters": True},
    )
    models = template.find_resources("AWS::ApiGateway::Model")
    schema = models[model.as_string()]["Properties"]["Schema"]
    assert schema["type"] == "array"
    assert schema["items"]["items"]["type"] == "number"


@pytest.mark.parametrize(
    ("response_type", "status"),
    [
        ("UNAUTHORIZED", "401"),
        ("ACCESS_DENIED", "403"),
        ("BAD_REQUEST_BODY", "400"),
        ("BAD_REQUEST_PARAMETERS", "400"),
        ("THROTTLED", "429"),
        ("QUOTA_EXCEEDED", "429"),
        ("MISSING_AUTHENTICATION_TOKEN", "404"),
        ("UNSUPPORTED_MEDIA_TYPE", "415"),
        ("DEFAULT_4XX", "400"),
        ("DEFAULT_5XX", "500"),
    ],
)
def test_gateway_errors_are_small_json_bodies(template, response_type, status):
    found = template.find_resources(
        "AWS::ApiGateway::GatewayResponse", {"Properties": {"ResponseType": response_type}}
    )
    (response,) = found.values()
    props = response["Properties"]
    assert props["StatusCode"] == status
    body = json.loads(props["ResponseTemplates"]["application/json"])
    assert body["requestId"] == "$context.requestId"
    if response_type == "BAD_REQUEST_BODY":  # what the request model refused, for the caller
        assert set(body) == {"error", "message", "requestId", "detail"}
        assert body["detail"] == "$context.error.validationErrorString"
    else:
        assert set(body) == {"error", "message", "requestId"}
    assert props["ResponseParameters"]["gatewayresponse.header.Cache-Control"] == "'no-store'"


def test_each_client_has_its_own_usage_plan_and_key(template):
    for client in CLIENTS:
        plan_id = Capture()
        template.has_resource_properties(
            "AWS::ApiGateway::UsagePlan",
            {
                "Throttle": {"RateLimit": client.rate_limit, "BurstLimit": client.burst},
                "Quota": {"Limit": client.quota_per_day, "Period": "DAY"},
                "ApiStages": [Match.object_like({"Stage": Match.any_value()})],
                "Description": f"secure-endpoint client {client.name}",
            },
        )
        template.has_resource_properties(
            "AWS::ApiGateway::UsagePlanKey", {"UsagePlanId": {"Ref": plan_id}, "KeyType": "API_KEY"}
        )
        template.has_resource_properties(
            "AWS::ApiGateway::ApiKey",
            {"Value": f"{client.name}-key-value-from-a-secret-0123456789", "Enabled": True},
        )


def test_the_stage_logs_json_in_the_pinned_format_to_an_encrypted_log_group(template):
    log_group = Capture()
    stage = template.find_resources("AWS::ApiGateway::Stage")
    (props,) = [s["Properties"] for s in stage.values()]
    access = props["AccessLogSetting"]
    assert json.loads(access["Format"]) == ACCESS_LOG_FIELDS
    assert list(json.loads(access["Format"])) == [
        "requestId", "requestTimeEpoch", "sourceIp", "clientId", "apiKeyId", "httpMethod",
        "resourcePath", "status", "responseLength", "responseLatency", "integrationLatency",
        "errorType", "wafResponseCode", "tlsVersion",
    ]  # fmt: skip
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "AccessLogSetting": {
                "DestinationArn": {"Fn::GetAtt": [log_group, "Arn"]},
                "Format": Match.any_value(),
            },
            "TracingEnabled": True,
            "MethodSettings": [
                Match.object_like(
                    {"LoggingLevel": "ERROR", "DataTraceEnabled": False, "ThrottlingRateLimit": 100}
                )
            ],
        },
    )
    groups = template.find_resources("AWS::Logs::LogGroup")
    assert "KmsKeyId" in groups[log_group.as_string()]["Properties"]
    assert groups[log_group.as_string()]["Properties"]["RetentionInDays"] == 365


def test_no_account_wide_cloudwatch_role_unless_asked(template):
    assert template.find_resources("AWS::ApiGateway::Account") == {}


def test_user_pool_has_no_self_sign_up_and_a_client_credentials_client_per_client(template):
    template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {"AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True}, "MfaConfiguration": "ON"},
    )
    for client in CLIENTS:
        template.has_resource_properties(
            "AWS::Cognito::UserPoolClient",
            {
                "ClientName": client.name,
                "GenerateSecret": True,
                "AllowedOAuthFlows": ["client_credentials"],
                "AllowedOAuthFlowsUserPoolClient": True,
                "AccessTokenValidity": 15,
                "TokenValidityUnits": Match.object_like({"AccessToken": "minutes"}),
                "EnableTokenRevocation": True,
            },
        )
    (partner_b,) = template.find_resources(
        "AWS::Cognito::UserPoolClient", {"Properties": {"ClientName": "partner-b"}}
    ).values()
    scopes = [json.dumps(s) for s in partner_b["Properties"]["AllowedOAuthScopes"]]
    assert len(scopes) == 2
    assert '"/invoke"' in scopes[0]
    assert '"/explain"' in scopes[1]
    template.has_resource_properties(
        "AWS::Cognito::UserPoolResourceServer",
        {
            "Identifier": "secure-endpoint",
            "Scopes": Match.array_with([Match.object_like({"ScopeName": "invoke"})]),
        },
    )
    template.has_resource_properties(
        "AWS::Cognito::UserPoolDomain", {"Domain": Match.string_like_regexp("^[a-z0-9-]+$")}
    )


def test_token_url_points_at_the_cognito_domain(built):
    _, _, _, identity = built
    assert identity.token_url.endswith("/oauth2/token")
    assert identity.scopes_of(CLIENTS[1]) == ["secure-endpoint/invoke", "secure-endpoint/explain"]


def custom_domain(with_truststore):
    stack = Stack(App(), "CertStack")
    certificate = acm.Certificate.from_certificate_arn(
        stack, "Cert", "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
    )
    if not with_truststore:
        return CustomDomain("api.example.com", certificate)
    truststore = s3.Bucket.from_bucket_name(stack, "Trust", "truststore-bucket")
    return CustomDomain("api.example.com", certificate, truststore, "ca.pem")


def test_custom_domain_uses_the_same_policy_and_disables_execute_api():
    _, stack, api, _ = build(custom_domain=custom_domain(with_truststore=False))
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::ApiGateway::RestApi", {"DisableExecuteApiEndpoint": True}
    )
    template.has_resource_properties(
        "AWS::ApiGateway::DomainName",
        {
            "DomainName": "api.example.com",
            "SecurityPolicy": "SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09",
            "EndpointAccessMode": "STRICT",
        },
    )
    template.resource_count_is("AWS::ApiGateway::BasePathMapping", 1)
    assert api.api_url == "https://api.example.com/v1/predict"


def test_mutual_tls_falls_back_to_the_strongest_policy_it_allows_with_a_warning():
    _app, stack, _, _ = build(custom_domain=custom_domain(with_truststore=True))
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::ApiGateway::DomainName",
        {
            "SecurityPolicy": "TLS_1_2",
            "MutualTlsAuthentication": {"TruststoreUri": "s3://truststore-bucket/ca.pem"},
        },
    )
    warnings = Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp("Mutual TLS")
    )
    assert len(warnings) == 1


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"path": "predict"}, "path must start with '/'"),
        ({"throttling_rate_limit": 0}, "throttling_rate_limit must be"),
        ({"throttling_burst_limit": 10}, r"throttling_burst_limit \(10\) must be at least"),
    ],
)
def test_rejects_bad_api_props(props, message):
    with pytest.raises(ValueError, match=message):
        build(**props)


def test_rejects_a_brought_user_pool_without_its_domain(built):
    _, _, _, identity = built
    app = App()
    stack = Stack(app, "Brought")
    with pytest.raises(ValueError, match="user_pool and user_pool_domain go together"):
        OAuthIdentity(stack, "Identity", clients=CLIENTS, user_pool=identity.user_pool)


def test_rejects_token_validity_out_of_range():
    from aws_cdk import Duration

    app = App()
    stack = Stack(app, "Validity")
    with pytest.raises(ValueError, match=r"access_token_validity \(minutes\) must be"):
        OAuthIdentity(stack, "Identity", clients=CLIENTS, access_token_validity=Duration.days(2))


def test_nag_is_clean_apart_from_the_web_acl_this_stack_leaves_out(built):
    app = built[0]
    remaining = [f for f in compliance.findings(app) if "WAF" not in f and "APIG3" not in f]
    assert remaining == []

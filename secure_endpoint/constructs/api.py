"""The public REST API: OAuth scopes, API keys and usage plans, validation, clean errors, logs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from aws_cdk import Annotations, Duration, Names
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from secure_endpoint import compliance
from secure_endpoint.constructs import _metrics as metrics
from secure_endpoint.constructs import _validation as check
from secure_endpoint.constructs._iam import ManagedPolicyRole
from secure_endpoint.constructs.access_log import access_log_format
from secure_endpoint.constructs.options import ApiClient, CustomDomain, TlsPolicy
from secure_endpoint.constructs.response_hardening import ResponseHardening


class InvocableEndpoint(Protocol):
    """What the API needs of a SageMaker endpoint: its name and a way to be allowed to call it."""

    @property
    def endpoint_name(self) -> str: ...

    def grant_api_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let API Gateway's integration role (``grantee``) invoke the endpoint."""
        ...


JSON, CSV = "application/json", "text/csv"
"""The body types the inference method may take (one of them, ``request_content_type``)."""

DEFAULT_REQUEST_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    title="InferenceRequest",
    description="Rows of numeric features, as the SageMaker framework containers read JSON.",
    type=apigw.JsonSchemaType.ARRAY,
    min_items=1,
    max_items=1000,
    items=apigw.JsonSchema(
        type=apigw.JsonSchemaType.ARRAY,
        min_items=1,
        max_items=10_000,
        items=apigw.JsonSchema(type=apigw.JsonSchemaType.NUMBER),
    ),
)

# Headers every response carries, errors included.
_SECURITY_HEADERS = {
    "Cache-Control": "'no-store'",
    "X-Content-Type-Options": "'nosniff'",
    "Strict-Transport-Security": "'max-age=31536000; includeSubDomains'",
}

# API Gateway's own error responses: (response type, status, error code, message).
_GATEWAY_ERRORS: tuple[tuple[apigw.ResponseType, str, str, str], ...] = (
    (apigw.ResponseType.UNAUTHORIZED, "401", "unauthorized", "A valid bearer token is required."),
    (apigw.ResponseType.EXPIRED_TOKEN, "401", "unauthorized", "The bearer token has expired."),
    (apigw.ResponseType.ACCESS_DENIED, "403", "forbidden", "The token lacks the required scope."),
    (apigw.ResponseType.INVALID_API_KEY, "403", "forbidden", "A valid x-api-key is required."),
    (apigw.ResponseType.WAF_FILTERED, "403", "forbidden", "The request was blocked."),
    (
        apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
        "404",
        "not_found",
        "No such resource or method.",
    ),
    (
        apigw.ResponseType.BAD_REQUEST_BODY,
        "400",
        "invalid_body",
        "The request body does not match the input schema.",
    ),
    (
        apigw.ResponseType.BAD_REQUEST_PARAMETERS,
        "400",
        "invalid_parameters",
        "A required header or parameter is missing or invalid.",
    ),
    (
        apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE,
        "415",
        "unsupported_media_type",
        "Send Content-Type: {content_type}.",
    ),
    (apigw.ResponseType.REQUEST_TOO_LARGE, "413", "too_large", "The request body is too large."),
    (apigw.ResponseType.THROTTLED, "429", "throttled", "Rate limit exceeded; retry later."),
    (apigw.ResponseType.QUOTA_EXCEEDED, "429", "quota_exceeded", "Daily quota exceeded."),
    (apigw.ResponseType.DEFAULT_4_XX, "400", "bad_request", "The request was not accepted."),
    (apigw.ResponseType.DEFAULT_5_XX, "500", "internal_error", "Internal error; retry later."),
)

# SageMaker InvokeEndpoint status -> (selection pattern, our status, error code, message).
_MODEL_ERRORS: tuple[tuple[str, str, str, str], ...] = (
    ("400", "400", "invalid_input", "The model rejected the input."),
    ("424", "502", "model_error", "The model failed to process the request."),
    ("429|503", "503", "unavailable", "The model is not ready; retry later."),
)


#: SageMaker's limit on ``X-Amzn-SageMaker-Inference-Id`` (InvokeEndpoint ``InferenceId``:
#: length 1-64, pattern ``\A\S[\p{Print}]*\z``).
INFERENCE_ID_MAX_LENGTH = 64

#: The integration request template. It sets the inference id, which attributes every captured
#: payload to an OAuth client, to ``client_id:requestId``. A Cognito client id is 26 characters and
#: a request id 36, so the id is 63 today; a longer client id (a brought user pool's) or request id
#: would exceed SageMaker's 64 and fail every invoke, so the client id is cut to what fits (the
#: request id stays whole: it is what makes the id unique, and the capture reader splits on the
#: first ``:``). If the request id alone is too long, it is cut to 64 and the client id dropped.
INFERENCE_ID_REQUEST_TEMPLATE = (
    # One line of directives, then the body: nothing but the body reaches the model.
    '#set($clientId = "$context.authorizer.claims.client_id")'
    '#set($requestId = "$context.requestId")'
    f"#set($room = {INFERENCE_ID_MAX_LENGTH - 1} - $requestId.length())"
    "#if($room < 1)"
    f"#set($inferenceId = $requestId.substring(0, {INFERENCE_ID_MAX_LENGTH}))"
    "#else"
    "#if($clientId.length() > $room)#set($clientId = $clientId.substring(0, $room))#end"
    '#set($inferenceId = "$clientId:$requestId")'
    "#end"
    "#set($context.requestOverride.header.X-Amzn-SageMaker-Inference-Id = $inferenceId)\n"
    "$input.body"
)


def error_body(code: str, message: str, detail: str | None = None) -> str:
    """The JSON error body of every non-2xx response: no internals, the request id for support,
    and a ``detail`` where one helps the caller fix the request."""
    body = {"error": code, "message": message, "requestId": "$context.requestId"}
    if detail is not None:
        body["detail"] = detail
    return json.dumps(body, separators=(",", ":"))


# What the request model refused, in API Gateway's words (e.g. "numeric instance is greater
# than the required maximum (maximum: 12, found: 40)"): only the caller's own request is in it.
VALIDATION_DETAIL = "$context.error.validationErrorString"
# The gateway responses whose body carries a ``detail``, by response type.
_DETAILS = {"BAD_REQUEST_BODY": VALIDATION_DETAIL}


class InferenceApi(Construct):
    """A regional REST API in front of a SageMaker endpoint, with no Lambda in the request path.

    ``POST <path>`` requires a Cognito access token carrying the invoke scope *and* an API key
    bound to the client's usage plan; the body is validated against a JSON Schema before it
    reaches the model; every error is a small JSON body; access logs are JSON, encrypted and
    retained.

    :param endpoint: the SageMaker endpoint to invoke.
    :param user_pool: the pool whose access tokens the API accepts.
    :param invoke_scope: the full scope (``identifier/name``) every method requires.
    :param key: the KMS key for the access-log group.
    :param path: the inference resource path. Default: - '/v1/predict'
    :param stage_name: Default: - 'prod'
    :param request_schema: JSON Schema (draft 4) of the request body.
        Default: - 1-1000 rows of 1-10000 numbers (``DEFAULT_REQUEST_SCHEMA``)
    :param request_content_type: the one body type the method takes: 'application/json' (checked
        against ``request_schema``) or 'text/csv' (passed to the model as it is: API Gateway has
        no schema for it; the WAF checks it, see ``InputFormat.CSV``).
        Default: - 'application/json'
    :param throttling_rate_limit: stage-wide steady requests per second, over all clients.
        Default: - 100
    :param throttling_burst_limit: stage-wide burst. Default: - 200
    :param tls_policy: the enhanced TLS security policy. Default: - ``TlsPolicy.TLS13_1_2``
    :param custom_domain: serve on a custom domain and disable the execute-api endpoint.
        Default: - the execute-api endpoint only
    :param log_retention: access-log retention. Default: - one year
    :param integration_timeout: how long to wait for the model, 50 ms to 29 s.
        Default: - 29 seconds
    :param cloud_watch_role: create the account-wide ``AWS::ApiGateway::Account`` role that
        execution logging needs (it overwrites any other stack's setting). Default: - false;
        the account must already have one
    :param response_hardening: round, truncate or cut to labels what the model answers, in the
        success response's mapping template (the model and its capture are untouched; a
        response of a shape it does not know becomes a 500). Default: - the model's answer as
        it is
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: InvocableEndpoint,
        user_pool: cognito.IUserPool,
        invoke_scope: str,
        key: kms.IKey,
        path: str = "/v1/predict",
        stage_name: str = "prod",
        request_schema: apigw.JsonSchema | None = None,
        request_content_type: str = JSON,
        throttling_rate_limit: float = 100.0,
        throttling_burst_limit: int = 200,
        tls_policy: TlsPolicy = TlsPolicy.TLS13_1_2,
        custom_domain: CustomDomain | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        integration_timeout: Duration | None = None,
        cloud_watch_role: bool = False,
        response_hardening: ResponseHardening | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        segments = check.api_path("path", path)
        if response_hardening is not None:
            check.instance_of(
                "response_hardening",
                response_hardening,
                ResponseHardening,
                "a ResponseHardening, like ResponseHardening(probability_decimals=2), or None",
            )
        self.response_hardening = response_hardening
        if request_content_type not in (JSON, CSV):
            raise ValueError(
                f"request_content_type must be {JSON!r} or {CSV!r}, got {request_content_type!r}"
            )
        if request_content_type == CSV and request_schema is not None:
            raise ValueError("request_schema applies to JSON bodies; a text/csv body has none")
        self.request_content_type = request_content_type
        check.number_range("throttling_rate_limit", throttling_rate_limit, 1, check.MAX_RATE_LIMIT)
        check.int_range("throttling_burst_limit", throttling_burst_limit, 1, check.MAX_BURST_LIMIT)
        if throttling_burst_limit < throttling_rate_limit:
            raise ValueError(
                f"throttling_burst_limit ({throttling_burst_limit}) must be at least "
                f"throttling_rate_limit ({throttling_rate_limit:g})"
            )
        timeout = integration_timeout or Duration.seconds(29)
        check.int_range("integration_timeout (ms)", int(timeout.to_milliseconds()), 50, 29_000)
        self.path = "/" + "/".join(segments)
        self.api_keys: dict[str, apigw.ApiKey] = {}
        """Each client's API key, by client name (filled by ``add_client``)."""
        self.usage_plans: dict[str, apigw.UsagePlan] = {}
        """Each client's own usage plan, by client name (filled by ``add_client``)."""
        self.custom_domain = custom_domain

        self.access_log_group = logs.LogGroup(
            self, "AccessLogs", encryption_key=key, retention=log_retention
        )
        self.rest_api = apigw.RestApi(
            self,
            "Api",
            # API Gateway's metrics are dimensioned by the API's name: one of its own per API, or
            # two endpoints in an account would share (and alarm on) each other's numbers.
            rest_api_name=Names.unique_resource_name(self, max_length=128),
            description="secure-endpoint: OAuth-protected SageMaker inference",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            api_key_source_type=apigw.ApiKeySourceType.HEADER,
            disable_execute_api_endpoint=custom_domain is not None,
            cloud_watch_role=cloud_watch_role,
            fail_on_warnings=True,
            deploy_options=apigw.StageOptions(
                stage_name=stage_name,
                access_log_destination=apigw.LogGroupLogDestination(self.access_log_group),
                access_log_format=apigw.AccessLogFormat.custom(access_log_format()),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                tracing_enabled=True,
                metrics_enabled=True,
                throttling_rate_limit=throttling_rate_limit,
                throttling_burst_limit=throttling_burst_limit,
            ),
        )
        cfn_api = self.rest_api.node.default_child
        assert isinstance(cfn_api, apigw.CfnRestApi)
        cfn_api.security_policy = tls_policy.value
        cfn_api.endpoint_access_mode = "STRICT"
        if cloud_watch_role:
            role = self.rest_api.node.try_find_child("CloudWatchRole")
            assert role is not None
            compliance.acknowledge(
                role,
                "The account's one API Gateway CloudWatch role (AWS::ApiGateway::Account, per "
                "account and Region) writes the access and execution logs of every REST API "
                "there, into log groups API Gateway names and creates itself; "
                "AmazonAPIGatewayPushToCloudWatchLogs is the policy AWS documents and keeps "
                "current for it, and a copy would hold the same account-wide log-group "
                "wildcards.",
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]",
            )
        else:
            Annotations.of(self).add_info(
                "Execution logging (ERROR) needs the account's API Gateway CloudWatch role. "
                "If this account has none, deploy once with cloud_watch_role=True or run "
                "'aws apigateway update-account' (see the README)."
            )
        self._acknowledge_stage()
        self._add_gateway_responses()
        self.authorizer = apigw.CognitoUserPoolsAuthorizer(
            self, "Authorizer", cognito_user_pools=[user_pool]
        )
        self.invoke_scope = invoke_scope
        self.method = self._add_predict_method(
            segments,
            endpoint,
            None if request_content_type == CSV else request_schema or DEFAULT_REQUEST_SCHEMA,
            timeout,
        )
        self.domain = self._add_custom_domain(custom_domain, tls_policy) if custom_domain else None

    @property
    def stage(self) -> apigw.Stage:
        return self.rest_api.deployment_stage

    @property
    def api_url(self) -> str:
        """The full URL of the inference method."""
        if self.custom_domain is not None:
            return f"https://{self.custom_domain.domain_name}{self.path}"
        return self.rest_api.url_for_path(self.path)

    def add_client(self, client: ApiClient, api_key_value: str) -> apigw.UsagePlan:
        """Give ``client`` an API key with ``api_key_value`` bound to its own usage plan."""
        api_key = apigw.ApiKey(
            self,
            f"{client.name}ApiKey",
            description=f"secure-endpoint client {client.name}",
            value=api_key_value,
            enabled=True,
        )
        plan = self.rest_api.add_usage_plan(
            f"{client.name}UsagePlan",
            description=f"secure-endpoint client {client.name}",
            throttle=apigw.ThrottleSettings(rate_limit=client.rate_limit, burst_limit=client.burst),
            quota=apigw.QuotaSettings(limit=client.quota_per_day, period=apigw.Period.DAY),
            api_stages=[apigw.UsagePlanPerApiStage(api=self.rest_api, stage=self.stage)],
        )
        plan.add_api_key(api_key)
        self.api_keys[client.name] = api_key
        self.usage_plans[client.name] = plan
        return plan

    def metric_count(self, **options: Any) -> cloudwatch.Metric:
        """Requests to the stage (API Gateway's ``Count``).

        :param options: ``cloudwatch.MetricOptions`` fields (``period``, ``statistic``,
            ``label``, ...). Default: - SampleCount per five minutes
        """
        return self.stage.metric_count(**metrics.checked(options))

    def metric_client_error(self, **options: Any) -> cloudwatch.Metric:
        """Requests answered 4XX (API Gateway's ``4XXError``).

        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Sum per five minutes
        """
        return self.stage.metric_client_error(**metrics.checked(options))

    def metric_server_error(self, **options: Any) -> cloudwatch.Metric:
        """Requests answered 5XX (API Gateway's ``5XXError``).

        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Sum per five minutes
        """
        return self.stage.metric_server_error(**metrics.checked(options))

    def metric_latency(self, **options: Any) -> cloudwatch.Metric:
        """Time from request to response, in milliseconds (API Gateway's ``Latency``).

        :param options: ``cloudwatch.MetricOptions`` fields. Default: - Average per five minutes
        """
        return self.stage.metric_latency(**metrics.checked(options))

    def _add_predict_method(
        self,
        segments: Sequence[str],
        endpoint: InvocableEndpoint,
        schema: apigw.JsonSchema | None,
        timeout: Duration,
    ) -> apigw.Method:
        body_type = self.request_content_type
        role = ManagedPolicyRole(
            self,
            "IntegrationRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="API Gateway invokes exactly one SageMaker endpoint",
        )
        endpoint.grant_api_invoke(role)
        error_model = self.rest_api.add_model(
            "ErrorModel",
            content_type="application/json",
            schema=apigw.JsonSchema(
                schema=apigw.JsonSchemaVersion.DRAFT4,
                title="Error",
                type=apigw.JsonSchemaType.OBJECT,
                properties={
                    "error": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING),
                    "message": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING),
                    "requestId": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING),
                },
            ),
        )
        request_models = (
            {
                JSON: self.rest_api.add_model(
                    "RequestModel", content_type="application/json", schema=schema
                )
            }
            if schema is not None
            else None
        )
        validator = self.rest_api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        header_map = {f"method.response.header.{h}": v for h, v in _SECURITY_HEADERS.items()}
        integration = apigw.AwsIntegration(
            service="runtime.sagemaker",
            path=f"endpoints/{endpoint.endpoint_name}/invocations",
            integration_http_method="POST",
            options=apigw.IntegrationOptions(
                credentials_role=role,
                timeout=timeout,
                passthrough_behavior=apigw.PassthroughBehavior.NEVER,
                request_parameters={
                    "integration.request.header.Content-Type": f"'{body_type}'",
                    "integration.request.header.Accept": "'application/json'",
                },
                # The inference id attributes every captured payload to an OAuth client.
                request_templates={body_type: INFERENCE_ID_REQUEST_TEMPLATE},
                integration_responses=[
                    apigw.IntegrationResponse(
                        status_code="200",
                        selection_pattern=r"2\d{2}",
                        response_parameters=header_map,
                        # One template: API Gateway applies it whatever the Accept header says.
                        response_templates=(
                            {"application/json": self.response_hardening.response_template()}
                            if self.response_hardening is not None
                            else None
                        ),
                    ),
                    *(
                        apigw.IntegrationResponse(
                            status_code=status,
                            selection_pattern=pattern,
                            response_parameters=header_map,
                            response_templates={"application/json": error_body(code, message)},
                        )
                        for pattern, status, code, message in _MODEL_ERRORS
                    ),
                    apigw.IntegrationResponse(
                        status_code="500",
                        response_parameters=header_map,
                        response_templates={
                            "application/json": error_body(
                                "internal_error", "Internal error; retry later."
                            )
                        },
                    ),
                ],
            ),
        )
        resource = self.rest_api.root.resource_for_path("/".join(segments))
        declared_headers = {f"method.response.header.{h}": True for h in _SECURITY_HEADERS}
        statuses = ["200", *(s for _, s, _, _ in _MODEL_ERRORS), "500"]
        return resource.add_method(
            "POST",
            integration,
            authorizer=self.authorizer,
            authorization_type=apigw.AuthorizationType.COGNITO,
            authorization_scopes=[self.invoke_scope],
            api_key_required=True,
            request_validator=validator,
            request_models=request_models,
            request_parameters={"method.request.header.Content-Type": True},
            method_responses=[
                apigw.MethodResponse(
                    status_code=status,
                    response_parameters=declared_headers,
                    response_models={
                        "application/json": apigw.Model.EMPTY_MODEL
                        if status == "200"
                        else error_model
                    },
                )
                for status in statuses
            ],
        )

    def _add_gateway_responses(self) -> None:
        for response_type, status, code, message in _GATEWAY_ERRORS:
            self.rest_api.add_gateway_response(
                response_type.response_type,
                type=response_type,
                status_code=status,
                response_headers=_SECURITY_HEADERS,
                templates={
                    "application/json": error_body(
                        code,
                        message.format(content_type=self.request_content_type),
                        _DETAILS.get(response_type.response_type),
                    )
                },
            )

    def _add_custom_domain(self, domain: CustomDomain, tls_policy: TlsPolicy) -> apigw.DomainName:
        if domain.truststore_bucket is not None and domain.truststore_key is not None:
            # API Gateway refuses mutual TLS on enhanced policies: TLS_1_2 is the strongest it
            # takes with a truststore (TLS 1.2+, no endpoint access mode).
            Annotations.of(self).add_warning_v2(
                "secure-endpoint:mtls-legacy-tls-policy",
                "Mutual TLS needs the TLS_1_2 security policy on the custom domain (API Gateway "
                f"refuses it with enhanced policies), so {tls_policy.name} does not apply there.",
            )
            extra: dict[str, object] = {
                "security_policy": apigw.SecurityPolicy.TLS_1_2,
                "mtls": apigw.MTLSConfig(
                    bucket=domain.truststore_bucket, key=domain.truststore_key
                ),
            }
        else:
            extra = {
                "security_policy": apigw.SecurityPolicy(
                    tls_policy.value.removeprefix("SecurityPolicy_")
                ),
                "endpoint_access_mode": apigw.EndpointAccessMode.STRICT,
            }
        resource = apigw.DomainName(
            self,
            "Domain",
            domain_name=domain.domain_name,
            certificate=domain.certificate,
            endpoint_type=apigw.EndpointType.REGIONAL,
            **extra,  # type: ignore[arg-type]
        )
        resource.add_base_path_mapping(self.rest_api, stage=self.stage)
        return resource

    def _acknowledge_stage(self) -> None:
        stage = self.rest_api.deployment_stage
        compliance.acknowledge(
            stage,
            "Inference responses are per request and per client: a cache would serve one "
            "client's prediction to another and let repeated queries bypass usage-plan limits; "
            "POST methods are never cached anyway.",
            "HIPAA.Security-APIGWCacheEnabledAndEncrypted",
            "NIST.800.53.R5-APIGWCacheEnabledAndEncrypted",
            "PCI.DSS.321-APIGWCacheEnabledAndEncrypted",
        )
        compliance.acknowledge(
            stage,
            "The only backend is a SigV4-signed AWS service integration to the SageMaker "
            "runtime over TLS; API Gateway client certificates authenticate to HTTP backends "
            "and have nothing to authenticate to here.",
            "HIPAA.Security-APIGWSSLEnabled",
            "NIST.800.53.R5-APIGWSSLEnabled",
            "PCI.DSS.321-APIGWSSLEnabled",
        )

"""Every bad prop gets a clear error, before anything is built; self-defeating values a warning.

Each case is ``props -> (the prop as users write it, a pattern of the message)``: the message
must name the prop, the value received and what is allowed. The props are made inside the test,
so an option class that refuses its fields at creation counts as failing fast too. Nothing is
synthesized: an error must come before SecureEndpoint builds any construct.
"""

# ruff: noqa: E501 (the table reads best one case a line or two)
from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_wafv2 as wafv2
from aws_cdk.assertions import Annotations, Match
from endpoint_builder import DIGEST, SKLEARN, synth_endpoint

from secure_endpoint import (
    ApiClient,
    ArtifactOptions,
    CustomDomain,
    DataCaptureOptions,
    EmergencyContact,
    FeatureConstraint,
    HostingOptions,
    InputConstraints,
    MonitorOptions,
    ResponseHardening,
    SecureEndpoint,
    ShieldOptions,
    WafOptions,
)
from secure_endpoint.constructs._props import check_props

pytestmark = pytest.mark.synth

CLIENTS = [ApiClient("partner-a", rate_limit=50, burst_limit=100)]
BASE: dict[str, Any] = {
    "model_data_url": "s3://models/churn/model.tar.gz",
    "model_sha256": DIGEST,
    "clients": CLIENTS,
    "hosting": HostingOptions(**SKLEARN),
}
ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/model"
NaN = math.nan


def _stack() -> Stack:
    return Stack(App(context={"aws:cdk:bundling-stacks": []}), "Bad")


def _acl(stack: Stack) -> wafv2.CfnWebACL:
    return wafv2.CfnWebACL(
        stack,
        "Acl",
        scope="REGIONAL",
        default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
        visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True, sampled_requests_enabled=True, metric_name="Own"
        ),
    )


Props = Callable[[Stack], dict[str, Any]]


def case(prop: str, pattern: str, make: Props, id: str) -> Any:
    return pytest.param(make, prop, pattern, id=id)


# fmt: off
CASES = [
    # The listed ones (issue #12, part 4).
    case("clients[partner-b].scopes", r"must be a list of scope names.*got 'invoke'",
         lambda s: {"clients": [ApiClient("partner-b", scopes="invoke")]}, "scopes-a-string"),
    case("waf.rate_limit_per_api_key", r"whole number from 10 to .*got 0",
         lambda s: {"waf": WafOptions(rate_limit_per_api_key=0)}, "per-key-limit-zero"),
    case("rotation_interval", r"from 1 day to 365 days.*got 5 hours",
         lambda s: {"rotation_interval": Duration.hours(5)}, "rotation-under-a-day"),
    case("rotation_interval", r"whole days.*got 1 day 12 hours",
         lambda s: {"rotation_interval": Duration.hours(36)}, "rotation-not-whole-days"),
    case("tls_policy", r"one of TlsPolicy.TLS13_1_2, TlsPolicy.TLS13_ONLY, got 'TLS_1_0'",
         lambda s: {"tls_policy": "TLS_1_0"}, "tls-policy-a-string"),
    case("response_hardening", r"must be a ResponseHardening, like .*, got 2",
         lambda s: {"response_hardening": 2}, "hardening-a-number"),
    case("response_hardening.probability_decimals", r"from 0 to 6, got 8",
         lambda s: {"response_hardening": ResponseHardening(probability_decimals=8)},
         "hardening-decimals"),
    case("response_hardening.top_k", r"from 1 to 1000, got 0",
         lambda s: {"response_hardening": ResponseHardening(top_k=0)}, "hardening-top-k"),
    case("response_hardening.label_only", r"True or False, got 'yes'",
         lambda s: {"response_hardening": ResponseHardening(label_only="yes")},
         "hardening-label-only"),
    case("response_hardening.label_threshold", r"strictly between 0 and 1, got 0",
         lambda s: {"response_hardening": ResponseHardening(label_only=True, label_threshold=0)},
         "hardening-threshold"),
    case("clients", r"must be a list of ApiClient.*put it in a list",
         lambda s: {"clients": ApiClient("partner-a")}, "clients-not-a-list"),
    case("clients", r"must hold ApiClient values.*got \{'name': 'partner-a'\}",
         lambda s: {"clients": [{"name": "partner-a"}]}, "clients-dicts"),
    case("log_retention", r"one of RetentionDays\..*got 365",
         lambda s: {"log_retention": 365}, "log-retention-an-int"),
    case("waf.rate_limit_per_ip", r"whole number from 10 to 2000000000, got 5",
         lambda s: {"waf": WafOptions(rate_limit_per_ip=5)}, "per-ip-limit"),
    case("waf.rate_window", r"one of 1 min, 2 min, 5 min, 10 min.*got 90 seconds",
         lambda s: {"waf": WafOptions(rate_window=Duration.seconds(90))}, "rate-window"),
    case("alarm_emails", r"addresses like 'oncall@example.com', got 'oncall'",
         lambda s: {"alarm_emails": ["oncall"]}, "alarm-email"),
    case("alarm_emails", r"must be a list like \['oncall@example.com'\], got 'a@example.com'",
         lambda s: {"alarm_emails": "a@example.com"}, "alarm-emails-a-string"),
    case("waf.managed_rule_groups", r"start with 'AWSManagedRules'.*got 'Common'",
         lambda s: {"waf": WafOptions(managed_rule_groups=["Common"])}, "managed-groups"),
    case("waf.managed_rule_groups", r"must be a list .*got 'AWSManagedRulesCommonRuleSet'",
         lambda s: {"waf": WafOptions(managed_rule_groups="AWSManagedRulesCommonRuleSet")},
         "managed-groups-a-string"),
    case("waf.rule_overrides", r"names rule group 'AWSManagedRulesSQLiRuleSet', which the web ACL",
         lambda s: {"waf": WafOptions(rule_overrides={"AWSManagedRulesSQLiRuleSet": {"*": "COUNT"}})},
         "overrides-unused-group"),
    case("waf.rule_overrides", r"\['NoUserAgent_HEADER'\] must be one of 'COUNT', 'BLOCK', got 'ALLOW'",
         lambda s: {"waf": WafOptions(rule_overrides={
             "AWSManagedRulesCommonRuleSet": {"NoUserAgent_HEADER": "ALLOW"}})},
         "overrides-action"),
    case("hosting.instance_type", r"'ml.gx9.large' is not of a SageMaker real-time hosting instance family",
         lambda s: {"hosting": HostingOptions(**SKLEARN, instance_type="ml.gx9.large")},
         "instance-family-unknown"),
    case("hosting.instance_type", r"'ml.m5.huge' is not a SageMaker hosting size of the m5 family",
         lambda s: {"hosting": HostingOptions(**SKLEARN, instance_type="ml.m5.huge")},
         "instance-size-unknown"),
    # The core props.
    case("model_data_url", r"S3 object URL.*got 'https://x/y'",
         lambda s: {"model_data_url": "https://x/y"}, "model-url"),
    case("model_data_url", r"must not contain '\*'",
         lambda s: {"model_data_url": "s3://models/*.tar.gz"}, "model-url-wildcard"),
    case("model_sha256", r"64 lowercase hexadecimal characters, got 'abc'",
         lambda s: {"model_sha256": "abc"}, "digest"),
    case("model_sha256", r"got 42", lambda s: {"model_sha256": 42}, "digest-an-int"),
    case("clients", r"at least one client, got an empty list", lambda s: {"clients": []},
         "clients-empty"),
    case("clients", r"two clients named 'a'",
         lambda s: {"clients": [ApiClient("a"), ApiClient("a")]}, "clients-duplicate"),
    case("clients", r"must be a list like .*got None", lambda s: {"clients": None}, "clients-none"),
    case("hosting", r"must be a HostingOptions.*got \{'framework': 'sklearn'",
         lambda s: {"hosting": dict(SKLEARN)}, "hosting-a-dict"),
    # ApiClient.
    case("ApiClient.name", r"lowercase letters.*got 'Partner A'",
         lambda s: {"clients": [ApiClient("Partner A")]}, "client-name"),
    case("clients[a].rate_limit", r"number from 0.1 to 10000, got nan",
         lambda s: {"clients": [ApiClient("a", rate_limit=NaN)]}, "client-rate-nan"),
    case("clients[a].rate_limit", r"got True", lambda s: {"clients": [ApiClient("a", rate_limit=True)]},
         "client-rate-bool"),
    case("clients[a].burst_limit", r"\(5\) must be at least its rate_limit \(10\)",
         lambda s: {"clients": [ApiClient("a", burst_limit=5)]}, "client-burst-below-rate"),
    case("clients[a].burst_limit", r"whole number from 1 to 5000, got 20.5",
         lambda s: {"clients": [ApiClient("a", burst_limit=20.5)]}, "client-burst-float"),
    case("clients[a].quota_per_day", r"got -1",
         lambda s: {"clients": [ApiClient("a", quota_per_day=-1)]}, "client-quota"),
    case("clients[a].scopes", r"OAuth scope name .*got 'in voke'",
         lambda s: {"clients": [ApiClient("a", scopes=["in voke"])]}, "client-scope-space"),
    case("clients[a].scopes", r"got 7", lambda s: {"clients": [ApiClient("a", scopes=7)]},
         "client-scopes-an-int"),
    # hosting=HostingOptions.
    case("hosting.image_uri", r"give either hosting.image_uri, or hosting.framework",
         lambda s: {"hosting": HostingOptions()}, "hosting-no-image"),
    case("hosting.image_uri", r"not both",
         lambda s: {"hosting": HostingOptions(**SKLEARN, image_uri=f"{ECR}:1")}, "hosting-both"),
    case("hosting.image_uri", r"ECR image like .*got 'docker.io/python:3'",
         lambda s: {"hosting": HostingOptions(image_uri="docker.io/python:3")}, "hosting-not-ecr"),
    case("hosting.framework", r"string like 'sklearn'.*got 3",
         lambda s: {"hosting": HostingOptions(framework=3, framework_version="1.2-1")},
         "hosting-framework-an-int"),
    case("hosting.framework_version", r"string like 'sklearn' or '1.2-1', got 1.2",
         lambda s: {"hosting": HostingOptions(framework="sklearn", framework_version=1.2)},
         "hosting-version-a-float"),
    case("hosting.allow_mutable_image_tag", r"True or False, got 'yes'",
         lambda s: {"hosting": HostingOptions(image_uri=f"{ECR}:1", allow_mutable_image_tag="yes")},
         "hosting-mutable-tag"),
    case("hosting.instance_type", r"starting with 'ml.'.*got 'm5.large'",
         lambda s: {"hosting": HostingOptions(**SKLEARN, instance_type="m5.large")},
         "instance-type-prefix"),
    case("hosting.instance_type", r"'ml.g5.xlarge' has NVMe instance storage",
         lambda s: {"hosting": HostingOptions(**SKLEARN, instance_type="ml.g5.xlarge")},
         "instance-type-nvme"),
    case("hosting.instance_count", r"whole number from 1 to 1000, got 0",
         lambda s: {"hosting": HostingOptions(**SKLEARN, instance_count=0)}, "instance-count-0"),
    case("hosting.instance_count", r"got True",
         lambda s: {"hosting": HostingOptions(**SKLEARN, instance_count=True)},
         "instance-count-bool"),
    case("hosting.max_instance_count", r"whole number from 1 to 1000, got 0",
         lambda s: {"hosting": HostingOptions(**SKLEARN, max_instance_count=0)},
         "max-instance-count-0"),
    case("hosting.max_instance_count", r"\(2\) must be at least hosting.instance_count \(3\)",
         lambda s: {"hosting": HostingOptions(**SKLEARN, instance_count=3, max_instance_count=2)},
         "max-below-count"),
    case("hosting.target_invocations_per_instance", r"from 1 to 100000, got -5",
         lambda s: {"hosting": HostingOptions(**SKLEARN, target_invocations_per_instance=-5)},
         "target-invocations"),
    case("hosting.instance_count", r"literal number, got a token",
         lambda s: {"hosting": HostingOptions(**SKLEARN, instance_count=Token.as_number({"Ref": "N"}))},
         "instance-count-token"),
    # artifact=ArtifactOptions.
    case("artifact.signature", r"needs artifact.signing_key",
         lambda s: {"artifact": ArtifactOptions(signature="MEUCIQ" + "A" * 90)}, "signature-no-key"),
    case("artifact.signing_algorithm", r"applies to artifact.signature, which is not given",
         lambda s: {"artifact": ArtifactOptions(signing_algorithm="ECDSA_SHA_256")},
         "algorithm-no-signature"),
    case("artifact.signing_algorithm", r"one of ECDSA_SHA_256, .*got 'SHA1'",
         lambda s: {"artifact": ArtifactOptions(
             signature="A" * 96, signing_key=kms.Key(s, "K"), signing_algorithm="SHA1")},
         "algorithm-unknown"),
    case("artifact.signature", r"base64 text of a KMS signature.*got 'not base64!'",
         lambda s: {"artifact": ArtifactOptions(signature="not base64!", signing_key=kms.Key(s, "K"))},
         "signature-not-base64"),
    case("artifact.signing_key", r"a KMS key \(kms.IKey\), not its ARN, got 'arn:aws:kms",
         lambda s: {"artifact": ArtifactOptions(
             signature="A" * 96, signing_key="arn:aws:kms:eu-west-1:123456789012:key/k")},
         "signing-key-an-arn"),
    case("artifact.data_key", r"not its ARN, got 'alias/models'",
         lambda s: {"artifact": ArtifactOptions(data_key="alias/models")}, "data-key-a-string"),
    case("artifact.check_interval", r"from 15 minutes to 1 day.*got 5 minutes",
         lambda s: {"artifact": ArtifactOptions(check_interval=Duration.minutes(5))},
         "check-interval-short"),
    case("artifact.check_interval", r"a Duration like Duration.hours\(1\), got 3600",
         lambda s: {"artifact": ArtifactOptions(check_interval=3600)}, "check-interval-an-int"),
    case("artifact.bucket_events", r"True or False, got 1",
         lambda s: {"artifact": ArtifactOptions(bucket_events=1)}, "bucket-events-an-int"),
    case("artifact.scan", r"True or False, got 'no'",
         lambda s: {"artifact": ArtifactOptions(scan="no")}, "scan-a-string"),
    case("artifact.allowed_pickle_globals", r"a list like \['mypackage.models.Churn'.*got 'numpy.\*'",
         lambda s: {"artifact": ArtifactOptions(allowed_pickle_globals="numpy.*")}, "allowed-globals-a-string"),
    case("artifact.allowed_pickle_globals[1]", r"'module.name' or a glob under a module .*got 'os'",
         lambda s: {"artifact": ArtifactOptions(allowed_pickle_globals=["my.Model", "os"])}, "allowed-global-no-dot"),
    case("artifact.allowed_pickle_globals[0]", r"'builtins.eval', which the scan never allows",
         lambda s: {"artifact": ArtifactOptions(allowed_pickle_globals=["builtins.eval"])}, "allowed-global-denied"),
    case("artifact.allowed_pickle_globals", r"applies to artifact.scan, which is False",
         lambda s: {"artifact": ArtifactOptions(scan=False, allowed_pickle_globals=["my.Model"])},
         "allowed-globals-without-scan"),
    case("artifact", r"an ArtifactOptions or None, got \{\}", lambda s: {"artifact": {}},
         "artifact-a-dict"),
    # The API, identity and network.
    case("allowed_cidrs", r"CIDR blocks like .*got '10.0.0.300/32'",
         lambda s: {"allowed_cidrs": ["10.0.0.300/32"]}, "allowed-cidr"),
    case("allowed_cidrs", r"the string '203.0.113.0/24'",
         lambda s: {"allowed_cidrs": "203.0.113.0/24"}, "allowed-cidrs-a-string"),
    case("allowed_cidrs", r"as strings like .*got 5", lambda s: {"allowed_cidrs": [5]},
         "allowed-cidr-an-int"),
    case("vpc_subnets", r"give vpc as well", lambda s: {"vpc_subnets": ec2.SubnetSelection()},
         "subnets-without-vpc"),
    case("vpc", r"an ec2.IVpc.*got 'vpc-123'", lambda s: {"vpc": "vpc-123"}, "vpc-an-id"),
    case("vpc_subnets", r"an ec2.SubnetSelection.*got \['subnet-1'\]",
         lambda s: {"vpc": ec2.Vpc(s, "V"), "vpc_subnets": ["subnet-1"]}, "subnets-a-list"),
    case("add_vpc_endpoints", r"give vpc as well", lambda s: {"add_vpc_endpoints": True},
         "add-endpoints-without-vpc"),
    case("add_vpc_endpoints", r"True or False, got 'yes'",
         lambda s: {"vpc": ec2.Vpc(s, "V"), "add_vpc_endpoints": "yes"}, "add-endpoints-a-string"),
    case("user_pool_domain", r"a Cognito user pool domain .*got 'auth.example.com'",
         lambda s: {"user_pool": cognito.UserPool(s, "P"), "user_pool_domain": "auth.example.com"},
         "user-pool-domain-a-string"),
    case("encryption_key", r"a KMS key .*got 'arn:aws:kms",
         lambda s: {"encryption_key": "arn:aws:kms:eu-west-1:123456789012:key/k"}, "key-an-arn"),
    case("user_pool", r"a Cognito user pool .*got 'eu-west-1_abc'",
         lambda s: {"user_pool": "eu-west-1_abc"}, "user-pool-an-id"),
    case("user_pool_domain", r"user_pool and user_pool_domain go together",
         lambda s: {"user_pool": cognito.UserPool(s, "P")},
         "user-pool-without-domain"),
    case("path", r"must start with '/'.*got 'v1/predict'", lambda s: {"path": "v1/predict"},
         "path-relative"),
    case("path", r"segments of letters.*got '/v1/\{model\}'", lambda s: {"path": "/v1/{model}"},
         "path-parameter"),
    case("request_schema", r"an apigw.JsonSchema or None, got \{'type': 'object'\}",
         lambda s: {"request_schema": {"type": "object"}}, "schema-a-dict"),
    case("input_constraints", r"an InputConstraints \(InputConstraints.from_baseline\(directory\)\) "
         r"or None, got 'baseline/'", lambda s: {"input_constraints": "baseline/"},
         "input-constraints-a-path"),
    case("input_constraints", r"request_schema and input_constraints both give the request model",
         lambda s: {"request_schema": apigw.JsonSchema(type=apigw.JsonSchemaType.ARRAY),
                    "input_constraints": InputConstraints(
                        features=(FeatureConstraint("a", "Fractional", 0, 1),))},
         "input-constraints-and-schema"),
    case("drift_baseline", r"drift_baseline needs data_capture=DataCaptureOptions",
         lambda s: {"drift_baseline": "baseline/"}, "drift-without-capture"),
    case("drift_baseline", r"must be a baseline directory holding manifest.json.*missing",
         lambda s: {"drift_baseline": "/nonexistent/baseline", "data_capture":
                    DataCaptureOptions()}, "drift-baseline-missing"),
    case("drift_baseline", r"a directory path \(a str or Path\), got 5",
         lambda s: {"drift_baseline": 5, "data_capture": DataCaptureOptions()},
         "drift-baseline-an-int"),
    case("custom_domain", r"a CustomDomain or None, got 'api.example.com'",
         lambda s: {"custom_domain": "api.example.com"}, "custom-domain-a-string"),
    case("custom_domain.domain_name", r"fully qualified domain name.*got 'API'",
         lambda s: {"custom_domain": CustomDomain(domain_name="API", certificate=acm.Certificate(
             s, "C", domain_name="api.example.com"))}, "custom-domain-name"),
    case("custom_domain.certificate", r"an ACM certificate .*got 'arn:aws:acm",
         lambda s: {"custom_domain": CustomDomain(domain_name="api.example.com",
                                                  certificate="arn:aws:acm:eu-west-1:1:certificate/c")},
         "custom-domain-certificate-an-arn"),
    case("custom_domain.truststore_bucket", r"an s3.IBucket, got 'my-bucket'",
         lambda s: {"custom_domain": CustomDomain(domain_name="api.example.com", certificate=acm.Certificate(
             s, "C", domain_name="api.example.com"), truststore_bucket="my-bucket", truststore_key="ca.pem")},
         "truststore-bucket-a-name"),
    case("custom_domain.truststore_key", r"go together",
         lambda s: {"custom_domain": CustomDomain(domain_name="api.example.com", certificate=acm.Certificate(
             s, "C", domain_name="api.example.com"), truststore_key="ca.pem")}, "truststore-alone"),
    case("data_capture.sampling_percentage", r"from 1 to 100, got 0",
         lambda s: {"data_capture": DataCaptureOptions(sampling_percentage=0)}, "capture-share"),
    case("data_capture.expiration_days", r"got 1.5",
         lambda s: {"data_capture": DataCaptureOptions(expiration_days=1.5)}, "capture-days"),
    case("data_capture", r"a DataCaptureOptions or None, got True", lambda s: {"data_capture": True},
         "capture-a-bool"),
    case("access_token_validity", r"from 5 minutes to 1 day.*got 1 minute",
         lambda s: {"access_token_validity": Duration.minutes(1)}, "token-validity-short"),
    case("access_token_validity", r"whole minutes.*got 5 minutes 30 seconds",
         lambda s: {"access_token_validity": Duration.seconds(330)}, "token-validity-seconds"),
    case("access_token_validity", r"a Duration like .*got 15",
         lambda s: {"access_token_validity": 15}, "token-validity-an-int"),
    case("rotation_interval", r"got 400 days", lambda s: {"rotation_interval": Duration.days(400)},
         "rotation-too-long"),
    case("throttling_rate_limit", r"number from 1 to 10000, got nan",
         lambda s: {"throttling_rate_limit": NaN}, "stage-rate-nan"),
    case("throttling_rate_limit", r"got -1", lambda s: {"throttling_rate_limit": -1},
         "stage-rate-negative"),
    case("throttling_burst_limit", r"whole number from 1 to 5000, got True",
         lambda s: {"throttling_burst_limit": True}, "stage-burst-bool"),
    case("throttling_burst_limit", r"\(50\) must be at least throttling_rate_limit \(100\)",
         lambda s: {"throttling_burst_limit": 50}, "stage-burst-below-rate"),
    case("cloud_watch_role", r"True or False, got 'false'", lambda s: {"cloud_watch_role": "false"},
         "cloud-watch-role"),
    case("reserved_concurrency", r"True or False, got 1", lambda s: {"reserved_concurrency": 1},
         "reserved-concurrency"),
    case("removal_policy", r"one of RemovalPolicy.RETAIN, RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE, RemovalPolicy.DESTROY, got 'destroy'",
         lambda s: {"removal_policy": "destroy"}, "removal-policy-a-string"),
    case("removal_policy", r"got <RemovalPolicy.SNAPSHOT: 'SNAPSHOT'> \(KMS keys, S3 buckets, log groups and user pools cannot be snapshotted\)",
         lambda s: {"removal_policy": RemovalPolicy.SNAPSHOT}, "removal-policy-snapshot"),
    # waf=WafOptions, web_acl.
    case("waf.denied_cidrs", r"CIDR blocks like .*got '10.0.0.1/8'",
         lambda s: {"waf": WafOptions(denied_cidrs=["10.0.0.1/8"])}, "denied-cidr"),
    case("waf.denied_cidrs", r"allowed_cidrs entry '203.0.113.0/24' overlaps waf.denied_cidrs",
         lambda s: {"allowed_cidrs": ["203.0.113.0/24"],
                    "waf": WafOptions(denied_cidrs=["203.0.113.128/25"])}, "denied-overlaps"),
    case("waf.blocked_countries", r"ISO 3166 .*got 'de'",
         lambda s: {"waf": WafOptions(blocked_countries=["de"])}, "country-lowercase"),
    case("waf.allowed_countries", r"list of country codes like \['KP'\], got 'DE'",
         lambda s: {"waf": WafOptions(allowed_countries="DE")}, "countries-a-string"),
    case("waf.allowed_countries", r"give waf.blocked_countries or waf.allowed_countries, not both",
         lambda s: {"waf": WafOptions(blocked_countries=["KP"], allowed_countries=["DE"])},
         "countries-both"),
    case("waf.rate_limit_per_api_key", r"got 2.5",
         lambda s: {"waf": WafOptions(rate_limit_per_api_key=2.5)}, "per-key-float"),
    case("waf.rate_window", r"a Duration, like Duration.minutes\(5\), got 300",
         lambda s: {"waf": WafOptions(rate_window=300)}, "rate-window-an-int"),
    case("waf.max_body_bytes", r"from 1 to 65536, got 100000",
         lambda s: {"waf": WafOptions(max_body_bytes=100_000)}, "body-too-large"),
    case("waf.threat_intel_feeds", r"must hold ThreatIntelFeed objects, got 'spamhaus-drop'",
         lambda s: {"waf": WafOptions(threat_intel_feeds=["spamhaus-drop"])}, "feeds-names"),
    case("waf.threat_intel_feeds", r"must be a list like .*got 'spamhaus-drop'",
         lambda s: {"waf": WafOptions(threat_intel_feeds="spamhaus-drop")}, "feeds-a-string"),
    case("waf", r"a WafOptions or None, got \{'rate_limit_per_ip': 500\}",
         lambda s: {"waf": {"rate_limit_per_ip": 500}}, "waf-a-dict"),
    case("web_acl", r"waf configures the web ACL built here and cannot be combined with web_acl",
         lambda s: {"waf": WafOptions(), "web_acl": _acl(s)}, "waf-with-web-acl"),
    case("web_acl", r"a wafv2.CfnWebACL of scope REGIONAL or None, got 'arn:aws:wafv2",
         lambda s: {"web_acl": "arn:aws:wafv2:eu-west-1:1:regional/webacl/x/y"}, "web-acl-an-arn"),
    # shield=ShieldOptions.
    case("shield", r"shield cannot be combined with web_acl",
         lambda s: {"shield": ShieldOptions(), "web_acl": _acl(s)}, "shield-with-web-acl"),
    case("shield", r"a ShieldOptions, like ShieldOptions\(\), got True", lambda s: {"shield": True},
         "shield-a-bool"),
    case("shield.health_error_rate", r"between 0 and 1 .*got 5",
         lambda s: {"shield": ShieldOptions(health_error_rate=5)}, "shield-error-rate"),
    case("shield.domain_names", r"must be a list like \['api.example.com'\], got 'api.example.com'",
         lambda s: {"shield": ShieldOptions(domain_names="api.example.com")}, "shield-names-a-string"),
    case("shield.domain_names", r"and shield.certificate go together",
         lambda s: {"shield": ShieldOptions(domain_names=["api.example.com"])}, "shield-names-alone"),
    case("shield.certificate", r"an ACM certificate \(ICertificate\), got 'arn:aws:acm",
         lambda s: {"shield": ShieldOptions(domain_names=["api.example.com"],
                                            certificate="arn:aws:acm:us-east-1:1:certificate/c")},
         "shield-certificate-an-arn"),
    case("shield.viewer_security_policy", r"TLS_V1_2_2021, TLS_V1_2_2025 or TLS_V1_3_2025",
         lambda s: {"shield": ShieldOptions(viewer_security_policy=cloudfront.SecurityPolicyProtocol.TLS_V1_2016)},
         "shield-viewer-policy-old"),
    case("shield.emergency_contacts", r"must be a list of EmergencyContact",
         lambda s: {"shield": ShieldOptions(emergency_contacts=EmergencyContact("a@example.com"))},
         "shield-contact-not-a-list"),
    case("shield.price_class", r"one of PriceClass\..*got 'all'",
         lambda s: {"shield": ShieldOptions(price_class="all")}, "shield-price-class"),
    case("shield.automatic_mitigation", r"AutomaticMitigation \(BLOCK, COUNT or DISABLED\), got 'BLOCK'",
         lambda s: {"shield": ShieldOptions(automatic_mitigation="BLOCK")}, "shield-mitigation"),
    case("emergency_contacts[].email", r"email address .*got 'soc'",
         lambda s: {"shield": ShieldOptions(emergency_contacts=[EmergencyContact("soc")])},
         "shield-contact-email"),
    # Alarms.
    case("alarm_subscriptions[]", r"an SNS subscription .*got 'arn:aws:sqs",
         lambda s: {"alarm_subscriptions": ["arn:aws:sqs:eu-west-1:1:q"]}, "subscription-an-arn"),
    case("runbook_url", r"non-empty string .*got ''", lambda s: {"runbook_url": ""}, "runbook-empty"),
    # The anomaly monitor.
    case("anomaly_monitor", r"True or False, got 'no'", lambda s: {"anomaly_monitor": "no"},
         "monitor-a-string"),
    case("auto_block", r"True or False, got 1", lambda s: {"auto_block": 1}, "auto-block-an-int"),
    case("anomaly_monitor", r"set anomaly_monitor=True as well",
         lambda s: {"anomaly_monitor": False, "auto_block": True}, "auto-block-without-monitor"),
    case("auto_block", r"auto_block cannot be combined with web_acl",
         lambda s: {"auto_block": True, "web_acl": _acl(s)}, "auto-block-with-web-acl"),
    case("monitor_options.disable_api_keys", r"=True needs auto_block=True",
         lambda s: {"monitor_options": MonitorOptions(disable_api_keys=True)}, "disable-keys-alone"),
    case("monitor_options", r"a MonitorOptions or None, got \{\}", lambda s: {"monitor_options": {}},
         "monitor-options-a-dict"),
    case("monitor_options.schedule", r"whole minutes from 5 minutes to 1 hour, got 2 minutes",
         lambda s: {"monitor_options": MonitorOptions(schedule=Duration.minutes(2))}, "schedule"),
    case("monitor_options.baseline", r"whole number of schedule windows",
         lambda s: {"monitor_options": MonitorOptions(baseline=Duration.minutes(7 * 60 + 7))},
         "baseline-windows"),
    case("monitor_options.max_blocks_per_run", r"from 1 to 100, got 0",
         lambda s: {"monitor_options": MonitorOptions(max_blocks_per_run=0)}, "max-blocks"),
    case("monitor_options.alert_quantile", r"from 0.9 to below 1, got 0.5",
         lambda s: {"monitor_options": MonitorOptions(alert_quantile=0.5)}, "quantile"),
    case("monitor_options.alert_quantile", r"got nan",
         lambda s: {"monitor_options": MonitorOptions(alert_quantile=NaN)}, "quantile-nan"),
    case("monitor_options.history", r"whole minutes from 5 minutes to 7 days, got 1 minute",
         lambda s: {"monitor_options": MonitorOptions(history=Duration.minutes(1))}, "history"),
    case("monitor_options.retrain_every", r"from 1 hour to 7 days, got 30 minutes",
         lambda s: {"monitor_options": MonitorOptions(retrain_every=Duration.minutes(30))},
         "retrain"),
    case("monitor_options.block_ttl", r"from 1 minute to 30 days, got 30 seconds",
         lambda s: {"monitor_options": MonitorOptions(block_ttl=Duration.seconds(30))}, "block-ttl"),
    case("monitor_options.max_key_disables_per_run", r"from 1 to 100, got 0",
         lambda s: {"monitor_options": MonitorOptions(max_key_disables_per_run=0)}, "max-disables"),
    case("monitor_options.daily_quota", r"got 0",
         lambda s: {"monitor_options": MonitorOptions(daily_quota=0)}, "daily-quota"),
    case("monitor_options.random_state", r"got -1",
         lambda s: {"monitor_options": MonitorOptions(random_state=-1)}, "random-state"),
    case("monitor_options.disable_api_keys", r"True or False, got 'yes'",
         lambda s: {"monitor_options": MonitorOptions(disable_api_keys="yes")}, "disable-keys-a-string"),
    case("bundling_cache_dir", r"a directory \(a Path\) or None, got 5",
         lambda s: {"bundling_cache_dir": 5}, "cache-dir-an-int"),
]
# fmt: on


@pytest.mark.parametrize(("make", "prop", "pattern"), CASES)
def test_a_bad_prop_fails_fast_naming_the_prop(make: Props, prop: str, pattern: str) -> None:
    stack = _stack()
    with pytest.raises(ValueError, match=re.escape(prop)) as error:
        SecureEndpoint(stack, "Endpoint", **(BASE | make(stack)))
    message = str(error.value)
    assert prop in message
    assert re.search(pattern, message), message
    assert stack.node.try_find_child("Endpoint") is None  # nothing was built


def test_every_prop_of_the_endpoint_and_its_option_classes_has_a_bad_case() -> None:
    covered = " ".join(param.values[1] for param in CASES)
    own = [
        name
        for name, parameter in inspect.signature(SecureEndpoint.__init__).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    fields = [
        f"{prefix}.{name}"
        for prefix, kind in (
            ("hosting", HostingOptions),
            ("artifact", ArtifactOptions),
            ("waf", WafOptions),
            ("monitor_options", MonitorOptions),
            ("data_capture", DataCaptureOptions),
            ("shield", ShieldOptions),
            ("custom_domain", CustomDomain),
            ("response_hardening", ResponseHardening),
            ("clients[a]", ApiClient),
        )
        for name in kind.__dataclass_fields__
        if (prefix, name) != ("clients[a]", "name")  # ApiClient.name, below
    ]
    missing = [name for name in [*own, *fields] if name not in covered]
    assert missing == []


# Legal values that defeat their purpose: a synth warning, by id.
# fmt: off
WARNINGS = [
    pytest.param({"allowed_cidrs": ["10.0.0.0/8", "192.168.1.0/24"]}, "allowlist-private-only",
                 r"allowed_cidrs holds only private .*10.0.0.0/8", id="allowlist-private"),
    pytest.param({"allowed_cidrs": ["0.0.0.0/0"]}, "allowlist-everything",
                 r"allowed_cidrs holds 0.0.0.0/0", id="allowlist-everything-v4"),
    pytest.param({"allowed_cidrs": ["203.0.113.0/24", "::/0"]}, "allowlist-everything",
                 r"allowed_cidrs holds ::/0", id="allowlist-everything-v6"),
    pytest.param({"throttling_rate_limit": 20, "throttling_burst_limit": 40},
                 "stage-throttle-below-plan",
                 r"throttling_rate_limit=20/throttling_burst_limit=40 .*clients\[partner-a\]",
                 id="stage-below-plan"),
    pytest.param({"waf": WafOptions(rate_limit_per_api_key=5000)}, "waf-key-limit-below-plan",
                 r"waf.rate_limit_per_api_key=5000 is below .*clients\[partner-a\].*\(15100",
                 id="per-key-below-plan"),
]
# fmt: on


def _all_props(props: dict[str, Any]) -> dict[str, Any]:
    """``BASE | props`` with every other prop at its default, as ``SecureEndpoint`` sees them."""
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(SecureEndpoint.__init__).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        and parameter.default is not inspect.Parameter.empty
    }
    return defaults | BASE | props


@pytest.mark.parametrize(("props", "warning_id", "pattern"), WARNINGS)
def test_a_self_defeating_value_is_warned_of(props, warning_id, pattern) -> None:
    warnings = check_props(_all_props(props)).warnings
    assert [w for w, _ in warnings] == [f"secure-endpoint:{warning_id}"]
    assert re.search(pattern, warnings[0][1]), warnings[0][1]


def test_sound_props_raise_no_warning() -> None:
    props = {"allowed_cidrs": ["203.0.113.0/24"], "waf": WafOptions(rate_limit_per_api_key=20_000)}
    assert check_props(_all_props(props)).warnings == []


def test_the_warnings_reach_the_synth_annotations() -> None:
    _, stack, _ = synth_endpoint(
        "Warned", **(BASE | {"allowed_cidrs": ["10.0.0.0/8"], "throttling_rate_limit": 20,
                             "throttling_burst_limit": 40})
    )  # fmt: skip
    annotations = Annotations.from_stack(stack)
    for pattern in ("allowed_cidrs holds only private.*", "throttling_rate_limit=20/.*"):
        found = annotations.find_warning("/Warned/Endpoint", Match.string_like_regexp(pattern))
        assert len(found) == 1, pattern


def test_a_per_key_limit_of_zero_is_refused_not_replaced_by_the_default() -> None:
    with pytest.raises(ValueError, match=r"waf\.rate_limit_per_api_key"):
        WafOptions(rate_limit_per_api_key=0)
    assert WafOptions().rate_limit_per_api_key is None  # the default follows the plans


def test_option_classes_hold_tuples_not_the_lists_given() -> None:
    cidrs = ["198.51.100.0/24"]
    waf = WafOptions(denied_cidrs=cidrs)
    cidrs.append("192.0.2.0/24")
    assert waf.denied_cidrs == ("198.51.100.0/24",)
    assert ApiClient("a", scopes=["invoke"]).scopes == ("invoke",)
    assert HostingOptions(**SKLEARN, instance_count=3).max_instance_count == 6


def test_a_bundling_cache_dir_may_be_a_string() -> None:
    assert check_props(_all_props({"bundling_cache_dir": "/tmp/deps"})).bundling_cache_dir == Path(
        "/tmp/deps"
    )

"""CDK's conventions, held by every construct: grantee-first grants, typed metric helpers."""

import importlib
import inspect
import pkgutil

import pytest
from aws_cdk import Duration, Environment
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Annotations, Match
from endpoint_builder import as_built, synth_endpoint

import secure_endpoint.constructs
from secure_endpoint import SPAMHAUS_DROP, ApiClient, MonitorOptions, ShieldOptions, WafOptions
from secure_endpoint.constructs._metrics import METRIC_OPTIONS

pytestmark = pytest.mark.synth

CLIENT = ApiClient(name="partner-a", rate_limit=10, burst_limit=20, quota_per_day=1000)


def construct_classes():
    """Every class defined in a module of ``secure_endpoint.constructs``."""
    for info in pkgutil.iter_modules(secure_endpoint.constructs.__path__):
        module = importlib.import_module(f"secure_endpoint.constructs.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__:
                yield cls


def methods(prefix):
    return [
        (f"{cls.__name__}.{name}", function)
        for cls in construct_classes()
        for name, function in vars(cls).items()
        if name.startswith(prefix) and callable(function)
    ]


GRANTS = methods("grant_")
METRICS = methods("metric")


def test_the_convention_checks_see_the_methods():
    names = {name for name, _ in GRANTS}
    assert {"ClientCredentials.grant_read", "ContainerImage.grant_pull"} <= names
    assert {"AnomalyMonitor.metric_client_score", "InferenceApi.metric_count"} <= {
        name for name, _ in METRICS
    }


@pytest.mark.parametrize(("name", "method"), GRANTS, ids=[name for name, _ in GRANTS])
def test_every_grant_takes_the_grantee_first(name, method):
    parameters = list(inspect.signature(method).parameters.values())[1:]
    assert parameters[0].name == "grantee", name
    assert parameters[0].annotation in ("iam.IGrantable", iam.IGrantable), name


@pytest.mark.parametrize(("name", "method"), METRICS, ids=[name for name, _ in METRICS])
def test_every_metric_helper_takes_metric_options_and_returns_a_metric(name, method):
    signature = inspect.signature(method)
    kinds = {p.name: p.kind for p in signature.parameters.values()}
    assert kinds.get("options") is inspect.Parameter.VAR_KEYWORD, name
    assert signature.return_annotation in ("cloudwatch.Metric", cloudwatch.Metric), name


@pytest.fixture(scope="module")
def built():
    return as_built(
        *synth_endpoint(
            "Conventions",
            env=Environment(account="111122223333", region="eu-west-1"),
            clients=[CLIENT],
            shield=ShieldOptions(),
            waf=WafOptions(threat_intel_feeds=[SPAMHAUS_DROP]),
            auto_block=True,
            monitor_options=MonitorOptions(disable_api_keys=True),
        )
    )


def every_metric(endpoint):
    """Each metric helper of the endpoint's parts, called with the options given."""
    feed = SPAMHAUS_DROP.name
    return {
        "api.count": lambda **o: endpoint.api.metric_count(**o),
        "api.client_error": lambda **o: endpoint.api.metric_client_error(**o),
        "api.server_error": lambda **o: endpoint.api.metric_server_error(**o),
        "api.latency": lambda **o: endpoint.api.metric_latency(**o),
        "hosting.metric": lambda **o: endpoint.hosting.metric("Invocations", **o),
        "hosting.invocations": lambda **o: endpoint.hosting.metric_invocations(**o),
        "hosting.model_latency": lambda **o: endpoint.hosting.metric_model_latency(**o),
        "hosting.invocation_errors": lambda **o: endpoint.hosting.metric_invocation_errors(**o),
        "edge.blocked": lambda **o: endpoint.edge.metric_blocked_requests(**o),
        "integrity.mismatch": lambda **o: (
            endpoint.hosting.artifact_verification.metric_digest_mismatch(**o)
        ),
        "monitor.principals": lambda **o: endpoint.monitor.metric_anomalous_principals(**o),
        "monitor.max_score": lambda **o: endpoint.monitor.metric_max_address_score(**o),
        "monitor.client": lambda **o: endpoint.monitor.metric_client_score("partner-a", **o),
        "monitor.blocks": lambda **o: endpoint.monitor.metric_active_blocks(**o),
        "responder.disabled": lambda **o: endpoint.monitor.responder.metric_keys_disabled(**o),
        "intel.failed": lambda **o: endpoint.threat_intel.metric_failed_feeds(**o),
        "intel.refused": lambda **o: endpoint.threat_intel.metric_refused_feeds(**o),
        "intel.added": lambda **o: endpoint.threat_intel.metric_added_addresses(feed, **o),
        "intel.removed": lambda **o: endpoint.threat_intel.metric_removed_addresses(feed, **o),
        "shield.origin_errors": lambda **o: endpoint.shield.metric_origin_error_rate(**o),
    }


def test_every_metric_helper_applies_the_options_given(built):
    for name, metric in every_metric(built["endpoint"]).items():
        given = metric(period=Duration.minutes(3), statistic="p42", label=f"the {name}")
        assert isinstance(given, cloudwatch.Metric), name
        assert given.period.to_seconds() == 180, name
        assert given.statistic == "p42", name
        assert given.label == f"the {name}", name


def test_options_of_none_keep_each_metrics_defaults(built):
    for name, metric in every_metric(built["endpoint"]).items():
        default = metric()
        kept = metric(period=None, statistic=None)
        assert (kept.period.to_seconds(), kept.statistic) == (
            default.period.to_seconds(),
            default.statistic,
        ), name


def test_the_defaults_are_each_metrics_own(built):
    endpoint = built["endpoint"]
    assert endpoint.edge.metric_blocked_requests().statistic == "Sum"
    assert endpoint.edge.metric_blocked_requests().period.to_minutes() == 5
    assert endpoint.hosting.metric_model_latency().statistic == "p99"
    assert endpoint.hosting.metric("ModelLatency").statistic == "Average"
    origin = endpoint.shield.metric_origin_error_rate()
    assert (origin.statistic, origin.period.to_minutes()) == ("Average", 1)
    assert origin.metric_name == "5XXError"
    assert endpoint.monitor.metric_client_score("partner-a").dimensions == {
        "service": endpoint.monitor.service_name,
        "Client": "partner-a",
    }


def test_a_metric_option_that_does_not_exist_is_refused_by_name(built):
    for metric in every_metric(built["endpoint"]).values():
        with pytest.raises(ValueError, match=r"MetricOptions fields .* got perod"):
            metric(perod=Duration.minutes(1))
    assert {"period", "statistic", "label", "unit", "color"} <= METRIC_OPTIONS


def test_credentials_are_granted_grantee_first(built):
    endpoint = built["endpoint"]
    role = iam.Role(built["stack"], "Reader", assumed_by=iam.AccountRootPrincipal())
    grant = endpoint.credentials.grant_read(role, "partner-a")
    assert grant.success
    with pytest.raises(ValueError, match=r"grantee first.*grant_read\(role, 'partner-a'\)"):
        endpoint.credentials.grant_read("partner-a", role)
    with pytest.raises(ValueError, match=r"one of the clients \['partner-a'\], got 'nobody'"):
        endpoint.credentials.grant_read(role, "nobody")


def direct_invoke_warnings(stack):
    return Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp("secure-endpoint:direct-invoke|bypassing the API's WAF")
    )


def test_the_apis_own_invoke_grant_warns_of_nothing(built):
    assert direct_invoke_warnings(built["stack"]) == []


def test_granting_invoke_directly_warns_that_it_bypasses_the_api(built):
    stack = built["stack"]
    role = iam.Role(stack, "BatchJob", assumed_by=iam.ServicePrincipal("batch.amazonaws.com"))
    grant = built["endpoint"].hosting.grant_invoke(role)
    assert grant.success
    (statement,) = grant.principal_statements
    assert statement.actions == ["sagemaker:InvokeEndpoint"]
    (warning,) = direct_invoke_warnings(stack)
    assert warning.id == "/Conventions/Endpoint/Hosting"
    message = str(warning.entry.data)
    assert "Conventions/BatchJob" in message
    assert "WAF rules, OAuth scopes, usage plans" in message

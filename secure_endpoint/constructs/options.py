"""Value types taken by the constructs: small, frozen and validated on creation."""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from aws_cdk import Duration
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from secure_endpoint.constructs import _validation as check


@dataclass(frozen=True)
class ApiClient:
    """One machine client of the API: its OAuth app client, API key and usage plan.

    :param name: lowercase letters, digits and hyphens (1-64); used in resource ids and names.
    :param rate_limit: steady-state requests per second. Default: - 10
    :param burst_limit: token-bucket burst, at least ``rate_limit``. Default: - 2 x rate_limit
    :param quota_per_day: requests per day. Default: - 10,000
    :param scopes: OAuth scopes the client may request, a subset of the API's scopes.
        Default: - the API's invoke scope only
    """

    name: str
    rate_limit: float = 10.0
    burst_limit: int | None = None
    quota_per_day: int = 10_000
    scopes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        check.client_name(self.name)
        check.rate_limit(self.name, self.rate_limit)
        burst = self.burst_limit
        if burst is None:
            burst = max(1, int(self.rate_limit * 2))
            object.__setattr__(self, "burst_limit", burst)
        check.burst_limit(self.name, self.rate_limit, burst)
        check.quota_per_day(self.name, self.quota_per_day)
        if isinstance(self.scopes, str) or not isinstance(self.scopes, Sequence | AbstractSet):
            raise ValueError(
                f"clients[{self.name}].scopes must be a list of scope names like ['invoke'], "
                f"got {self.scopes!r}"
            )
        object.__setattr__(self, "scopes", tuple(self.scopes))
        for scope in self.scopes:
            check.scope_name(f"clients[{self.name}].scopes", scope)

    @property
    def burst(self) -> int:
        """The burst limit, resolved (never None after construction)."""
        assert self.burst_limit is not None
        return self.burst_limit


class TlsPolicy(enum.Enum):
    """Enhanced API Gateway security policies (endpoint access mode STRICT).

    ``TLS13_1_2`` accepts TLS 1.2 and 1.3 with forward-secret, post-quantum-ready ciphers only;
    ``TLS13_ONLY`` refuses anything below TLS 1.3.
    """

    TLS13_1_2 = "SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09"
    TLS13_ONLY = "SecurityPolicy_TLS13_1_3_2025_09"


@dataclass(frozen=True)
class DataCaptureOptions:
    """SageMaker data capture of requests and responses, attributable to the OAuth client.

    :param sampling_percentage: share of requests captured, 1-100. Default: - 100
    :param expiration_days: captured objects are deleted after this many days. Default: - 90
    """

    sampling_percentage: int = 100
    expiration_days: int = 90

    def __post_init__(self) -> None:
        check.int_range("data_capture.sampling_percentage", self.sampling_percentage, 1, 100)
        check.int_range("data_capture.expiration_days", self.expiration_days, 1, 3650)


@dataclass(frozen=True)
class CustomDomain:
    """A custom domain for the API, with the same TLS policy and optional mutual TLS.

    When given, the default ``execute-api`` endpoint is disabled, so clients cannot bypass the
    domain (and its mutual TLS).

    :param domain_name: the fully qualified name, like 'api.example.com'.
    :param certificate: an ACM certificate for that name in the stack's region.
    :param truststore_bucket: bucket of the PEM bundle of client CAs, enabling mutual TLS.
        Default: - no mutual TLS
    :param truststore_key: object key of that bundle (required with ``truststore_bucket``).
        Default: - no mutual TLS
    """

    domain_name: str
    certificate: acm.ICertificate
    truststore_bucket: s3.IBucket | None = None
    truststore_key: str | None = None

    def __post_init__(self) -> None:
        check.resource(
            "custom_domain.certificate",
            self.certificate,
            "certificate_arn",
            "an ACM certificate (acm.ICertificate) of the stack's region",
        )
        if self.truststore_bucket is not None:
            check.resource(
                "custom_domain.truststore_bucket",
                self.truststore_bucket,
                "bucket_name",
                "an s3.IBucket",
            )
        if self.truststore_key is not None and not (
            isinstance(self.truststore_key, str) and self.truststore_key
        ):
            raise ValueError(
                "custom_domain.truststore_key must be the object key of a PEM bundle like "
                f"'truststore.pem', got {self.truststore_key!r}"
            )
        if (self.truststore_bucket is None) != (self.truststore_key is None):
            raise ValueError(
                "custom_domain.truststore_bucket and custom_domain.truststore_key go together "
                f"(got truststore_key={self.truststore_key!r})"
            )
        check.domain_name("custom_domain.domain_name", self.domain_name)


DEFAULT_INSTANCE_TYPE = "ml.m5.large"


@dataclass(frozen=True, kw_only=True)
class HostingOptions:
    """The model's container and capacity: ``SecureEndpoint(hosting=HostingOptions(...))``.

    Give either ``image_uri``, or ``framework`` with ``framework_version``.

    :param framework: a SageMaker framework container, like 'sklearn' (with
        ``framework_version``). Default: - none; give ``image_uri`` instead
    :param framework_version: like '1.2-1'. Default: - none
    :param image_uri: an ECR image instead of a framework container, by digest
        (``repo@sha256:<64 hex>``). Default: - none
    :param allow_mutable_image_tag: accept an ``image_uri`` with a tag, which can be moved to
        other bytes after review (a synth warning). Default: - false
    :param instance_type: a SageMaker hosting instance type without NVMe instance storage.
        Default: - 'ml.m5.large'
    :param instance_count: instances at deploy and the autoscaling minimum, 1-1000.
        Default: - 1
    :param max_instance_count: the autoscaling ceiling, which caps what a flood can cost,
        at least ``instance_count``. Default: - 2 x instance_count
    :param target_invocations_per_instance: autoscaling target, invocations per instance per
        minute, 1-100,000. Default: - 300
    """

    framework: str | None = None
    framework_version: str | None = None
    image_uri: str | None = None
    allow_mutable_image_tag: bool = False
    instance_type: str = DEFAULT_INSTANCE_TYPE
    instance_count: int = 1
    max_instance_count: int | None = None
    target_invocations_per_instance: int = 300

    def __post_init__(self) -> None:
        check.image_choice(
            self.image_uri, self.framework, self.framework_version, prefix="hosting."
        )
        check.boolean("hosting.allow_mutable_image_tag", self.allow_mutable_image_tag)
        check.instance_type("hosting.instance_type", self.instance_type, encrypted_volume=True)
        check.known_instance_type("hosting.instance_type", self.instance_type)
        check.int_range("hosting.instance_count", self.instance_count, 1, 1000)
        if self.max_instance_count is None:
            object.__setattr__(self, "max_instance_count", 2 * self.instance_count)
        check.int_range("hosting.max_instance_count", self.maximum, 1, 1000)
        if self.maximum < self.instance_count:
            raise ValueError(
                f"hosting.max_instance_count ({self.maximum}) must be at least "
                f"hosting.instance_count ({self.instance_count})"
            )
        check.int_range(
            "hosting.target_invocations_per_instance",
            self.target_invocations_per_instance,
            1,
            100_000,
        )

    @property
    def maximum(self) -> int:
        """The autoscaling ceiling, resolved (never None after construction)."""
        assert self.max_instance_count is not None
        return self.max_instance_count


@dataclass(frozen=True, kw_only=True)
class ArtifactOptions:
    """How the model artifact is read and kept checked: ``SecureEndpoint(artifact=...)``.

    :param data_key: the KMS key the artifact is encrypted with (SSE-KMS); the check of the
        artifact's digest before the model exists may decrypt with it.
        Default: - none; the artifact is encrypted with SSE-S3
    :param signature: the base64 signature of the artifact's SHA-256 digest by
        ``signing_key`` (``aws kms sign --message-type DIGEST``, see docs/props.md), checked
        with ``kms:Verify`` before the model is created; a KMS interface endpoint is added to a
        VPC created here (a brought VPC must have one). Default: - none
    :param signing_key: the asymmetric SIGN_VERIFY KMS key that signed it, given with
        ``signature``; the check may use ``kms:Verify`` with it, nothing else. Default: - none
    :param signing_algorithm: ``ECDSA_SHA_256``, ``RSASSA_PSS_SHA_256`` or
        ``RSASSA_PKCS1_V1_5_SHA_256``. Default: - ``ECDSA_SHA_256``
    :param check_interval: how often the artifact is re-hashed after the deploy; the
        ``ModelArtifactChanged`` alarm fires when the bytes differ, the object is gone, or the
        checks stop. Whole minutes from 15 minutes to 1 day. Default: - 1 hour
    :param bucket_events: the artifact's bucket sends events to EventBridge (turn it on for
        the bucket): also re-check within a minute of the object being written or deleted.
        Default: - false; the schedule alone
    :param scan: after its digest (and signature) pass, scan ``model.tar.gz`` for what would run
        code when the model is loaded (pickle imports outside the allowlist, Keras Lambda
        layers, paths out of the model directory) and fail the deployment on a finding
        (docs/model-integrity.md). Turning it off is a warned opt-out. Default: - true
    :param allowed_pickle_globals: further imports a model's pickles may make (and Keras
        custom objects it may hold), ``module.name`` or a glob like ``'mypackage.*'``; the deny
        list (``os``, ``subprocess``, ``builtins.eval``, ...) wins over every entry.
        Default: - none beyond the built-in allowlist (scikit-learn, NumPy, SciPy sparse,
        XGBoost, LightGBM, joblib, PyTorch tensors and ``torch.nn`` modules)
    """

    data_key: kms.IKey | None = None
    signature: str | None = None
    signing_key: kms.IKey | None = None
    signing_algorithm: str | None = None
    check_interval: Duration | None = None
    bucket_events: bool = False
    scan: bool = True
    allowed_pickle_globals: Sequence[str] = ()

    def __post_init__(self) -> None:
        for prop, key in (
            ("artifact.data_key", self.data_key),
            ("artifact.signing_key", self.signing_key),
        ):
            if key is not None:
                check.resource(prop, key, "key_arn", "a KMS key (kms.IKey), not its ARN")
        if self.signature is not None and not isinstance(self.signature, str):
            raise ValueError(
                f"artifact.signature must be the base64 text of a KMS signature, got "
                f"{self.signature!r:.100}"
            )
        if self.signing_algorithm is not None and not isinstance(self.signing_algorithm, str):
            raise ValueError(
                "artifact.signing_algorithm must be a string like 'ECDSA_SHA_256', got "
                f"{self.signing_algorithm!r}"
            )
        check.model_signature(
            self.signature,
            self.signing_key is not None,
            self.signing_algorithm,
            names=("artifact.signature", "artifact.signing_key", "artifact.signing_algorithm"),
        )
        if self.check_interval is not None:
            seconds = check.duration(
                "artifact.check_interval",
                self.check_interval,
                900,
                86_400,
                "Duration.hours(1)",
            )
            if not math.isnan(seconds):
                check.check_interval("artifact.check_interval", seconds)
        check.boolean("artifact.bucket_events", self.bucket_events)
        check.boolean("artifact.scan", self.scan)
        allowed = check.pickle_globals(
            "artifact.allowed_pickle_globals", self.allowed_pickle_globals
        )
        object.__setattr__(self, "allowed_pickle_globals", allowed)
        if allowed and not self.scan:
            raise ValueError(
                f"artifact.allowed_pickle_globals ({list(allowed)!r:.100}) applies to "
                "artifact.scan, which is False"
            )

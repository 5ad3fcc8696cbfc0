"""Value types taken by the constructs: small, frozen and validated on creation."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from aws_cdk import aws_certificatemanager as acm
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
        if (self.truststore_bucket is None) != (self.truststore_key is None):
            raise ValueError(
                "custom_domain.truststore_bucket and custom_domain.truststore_key go together "
                f"(got truststore_key={self.truststore_key!r})"
            )
        check.domain_name("custom_domain.domain_name", self.domain_name)

"""Pure checks of construct props.

Each check raises ``ValueError`` naming the prop, the value received and what is allowed, and lets
unresolved CDK tokens through (they are only known at deploy time). No CDK construct is built here,
so every rule is unit-tested without a synth.
"""

from __future__ import annotations

import base64
import binascii
import enum
import functools
import ipaddress
import math
import re
from collections.abc import Iterable, Mapping, Sequence

from aws_cdk import Token

_S3_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>.+)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CLIENT_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_SCOPE_NAME = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]{1,256}$")
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")
_IMAGE_URI = re.compile(
    r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/[a-z0-9._/-]+[:@].+$"
)

# API Gateway account-level ceilings (default quotas): a usage plan cannot exceed them.
MAX_RATE_LIMIT = 10_000.0
MAX_BURST_LIMIT = 5_000
MAX_QUOTA_PER_DAY = 1_000_000_000

# Instance families whose instance storage is NVMe SSD: SageMaker encrypts it with a hardware key
# and rejects a KmsKeyId on endpoint configs that use them (ValidationException at deploy time).
NVME_INSTANCE_FAMILIES = frozenset(
    {
        "c5d", "c6id", "g4dn", "g5", "g6", "g6e", "gr6", "m5d", "m6id", "p3dn", "p4d",
        "p4de", "p5", "p5e", "p5en", "r5d", "r6id", "trn1", "trn1n", "x2iedn",
    }
)  # fmt: skip


def is_token(value: object) -> bool:
    """True when ``value`` is an unresolved CDK token, which no synth-time check can read."""
    return isinstance(value, str) and Token.is_unresolved(value)


def is_number_token(value: object) -> bool:
    """True when ``value`` is an unresolved number token (a float; NaN and infinities, which
    jsii cannot carry, are never tokens)."""
    return isinstance(value, float) and math.isfinite(value) and Token.is_unresolved(value)


def s3_url(prop: str, value: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into bucket and key, refusing anything else."""
    match = _S3_URL.match(value) if isinstance(value, str) else None
    if match is None or match.group("key").endswith("/"):
        raise ValueError(
            f"{prop} must be an S3 object URL like 's3://my-bucket/models/model.tar.gz', "
            f"got {value!r}"
        )
    return match.group("bucket"), match.group("key")


def sha256_hex(prop: str, value: str) -> None:
    if is_token(value):
        return
    if not isinstance(value, str) or not _SHA256.match(value):
        raise ValueError(
            f"{prop} must be a SHA-256 digest: 64 lowercase hexadecimal characters, got {value!r}"
        )


def instance_type(prop: str, value: str, *, encrypted_volume: bool) -> None:
    if is_token(value):
        return
    if not isinstance(value, str) or not _INSTANCE_TYPE.match(value):
        raise ValueError(
            f"{prop} must be a SageMaker instance type like 'ml.m5.large' (starting with 'ml.'), "
            f"got {value!r}"
        )
    family = value.split(".")[1]
    if encrypted_volume and family in NVME_INSTANCE_FAMILIES:
        raise ValueError(
            f"{prop}={value!r} has NVMe instance storage, which SageMaker encrypts with a hardware "
            "key and which cannot take the KMS key this construct puts on every endpoint volume. "
            "Choose an EBS-only instance type, such as 'ml.m5.large', 'ml.c5.xlarge' or "
            "'ml.p3.2xlarge'"
        )


def instance_counts(initial: int, maximum: int) -> None:
    int_range("instance_count", initial, 1, 1000)
    int_range("max_instance_count", maximum, 1, 1000)
    if maximum < initial:
        raise ValueError(
            f"max_instance_count ({maximum}) must be at least instance_count ({initial})"
        )


def _literal(prop: str, value: object) -> None:
    """Numbers are checked and computed with at synth: a token (a CfnParameter) is refused."""
    if is_number_token(value):
        raise ValueError(
            f"{prop} must be a literal number, got a token: it is checked and computed with at "
            "synth time (decide the value in app.py)"
        )


def int_range(prop: str, value: int, low: int, high: int) -> None:
    _literal(prop, value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{prop} must be a whole number from {low} to {high}, got {value!r}")


def number_range(prop: str, value: float, low: float, high: float) -> None:
    _literal(prop, value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f"{prop} must be a number from {low:g} to {high:g}, got {value!r}")


def client_name(value: str) -> None:
    if not isinstance(value, str) or not _CLIENT_NAME.match(value):
        raise ValueError(
            "ApiClient.name must be 1-64 lowercase letters, digits or hyphens, starting and "
            f"ending with a letter or digit, got {value!r}"
        )


def rate_limit(client: str, value: float) -> None:
    number_range(f"clients[{client}].rate_limit", value, 0.1, MAX_RATE_LIMIT)


def burst_limit(client: str, rate: float, value: int) -> None:
    int_range(f"clients[{client}].burst_limit", value, 1, MAX_BURST_LIMIT)
    if value < rate:
        raise ValueError(
            f"clients[{client}].burst_limit ({value}) must be at least its rate_limit ({rate:g}): "
            "a bucket smaller than one second of steady traffic throttles legitimate clients"
        )


def quota_per_day(client: str, value: int) -> None:
    int_range(f"clients[{client}].quota_per_day", value, 1, MAX_QUOTA_PER_DAY)


def scope_name(prop: str, value: str) -> None:
    if not isinstance(value, str) or not _SCOPE_NAME.match(value) or "/" in value:
        raise ValueError(
            f"{prop} must be an OAuth scope name of printable ASCII without spaces, quotes, "
            f"backslashes or '/', got {value!r}"
        )


def unique_names(prop: str, names: Sequence[str]) -> None:
    if not names:
        raise ValueError(f"{prop} must name at least one client, got an empty list")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{prop} has two clients named {name!r}; names must be unique")
        seen.add(name)


def cidrs(prop: str, values: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Parse CIDR blocks (host bits must be zero), refusing anything else."""
    if isinstance(values, str):
        raise ValueError(f"{prop} must be a list of CIDR blocks, got the string {values!r}")
    if not isinstance(values, Iterable):
        raise ValueError(
            f"{prop} must be a list of CIDR blocks like ['203.0.113.0/24'], got {values!r}"
        )
    networks = []
    for value in values:
        if not isinstance(value, str):
            raise ValueError(
                f"{prop} must hold CIDR blocks as strings like '203.0.113.0/24', got {value!r}"
            )
        try:
            networks.append(ipaddress.ip_network(value, strict=True))
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"{prop} must hold CIDR blocks like '203.0.113.0/24' or '2001:db8::/32', "
                f"got {value!r} ({error})"
            ) from None
    return networks


def disjoint_cidrs(
    allow_prop: str,
    allowed: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network],
    deny_prop: str,
    denied: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> None:
    """Refuse a block that is both allowed and denied: which list wins would be a surprise."""
    for allow in allowed:
        for deny in denied:
            if allow.version == deny.version and allow.overlaps(deny):
                raise ValueError(
                    f"{allow_prop} entry '{allow}' overlaps {deny_prop} entry '{deny}'; an "
                    "address must be either allowed or denied: remove it from one list"
                )


def image_choice(
    image_uri: str | None,
    framework: str | None,
    framework_version: str | None,
    *,
    prefix: str = "",
) -> None:
    """Either an image URI, or a framework with its version; ``prefix`` names their group."""
    uri_prop, framework_prop, version_prop = (
        f"{prefix}{name}" for name in ("image_uri", "framework", "framework_version")
    )
    for prop, value in ((framework_prop, framework), (version_prop, framework_version)):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{prop} must be a string like 'sklearn' or '1.2-1', got {value!r}")
    if image_uri is not None and (framework is not None or framework_version is not None):
        raise ValueError(
            f"give either {uri_prop} or {framework_prop} with {version_prop}, not both "
            f"(got {uri_prop}={image_uri!r}, {framework_prop}={framework!r})"
        )
    if image_uri is None and (framework is None or framework_version is None):
        raise ValueError(
            f"give either {uri_prop}, or {framework_prop} and {version_prop} (for example "
            f"framework='sklearn', framework_version='1.2-1'); got {framework_prop}={framework!r}, "
            f"{version_prop}={framework_version!r}"
        )
    if (
        image_uri is not None
        and not is_token(image_uri)
        and (not isinstance(image_uri, str) or not _IMAGE_URI.match(image_uri))
    ):
        raise ValueError(
            f"{uri_prop} must be an ECR image like "
            "'123456789012.dkr.ecr.eu-west-1.amazonaws.com/repo@sha256:<digest>', "
            f"got {image_uri!r}"
        )


def api_path(prop: str, value: str) -> list[str]:
    """Split a resource path like '/v1/predict' into segments, refusing path parameters."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError(f"{prop} must start with '/', like '/v1/predict', got {value!r}")
    segments = [s for s in value.strip("/").split("/") if s]
    if not segments or not all(_PATH_SEGMENT.match(s) for s in segments):
        raise ValueError(
            f"{prop} must be one or more segments of letters, digits, '.', '_' or '-' "
            f"separated by '/', like '/v1/predict', got {value!r}"
        )
    return segments


_DOMAIN_NAME = re.compile(r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def domain_name(prop: str, value: str) -> None:
    if is_token(value):
        return
    if not isinstance(value, str) or not _DOMAIN_NAME.match(value):
        raise ValueError(
            f"{prop} must be a lowercase fully qualified domain name like 'api.example.com', "
            f"got {value!r}"
        )


# AWS WAF limits (AWS::WAFv2::WebACL and its logging destination).
WAF_RATE_LIMIT_MIN = 10
WAF_RATE_LIMIT_MAX = 2_000_000_000
WAF_RATE_WINDOWS_SEC = (60, 120, 300, 600)
# Body inspection limits API Gateway can forward to a REGIONAL web ACL, smallest first.
WAF_BODY_INSPECTION_LIMITS = (
    (16_384, "KB_16"),
    (32_768, "KB_32"),
    (49_152, "KB_48"),
    (65_536, "KB_64"),
)
WAF_LOG_GROUP_PREFIX = "aws-waf-logs-"
LOG_GROUP_NAME_MAX = 512
_LOG_GROUP_NAME = re.compile(r"^[A-Za-z0-9._/#-]+$")
_AWS_MANAGED_RULE_GROUP = re.compile(r"^AWSManagedRules[A-Za-z0-9]{1,113}$")
# AWS managed rule groups that cannot run without ManagedRuleGroupConfigs (login or sign-up
# paths, client-side action settings), which a name alone cannot provide.
WAF_GROUPS_NEEDING_CONFIG = frozenset(
    {"AWSManagedRulesATPRuleSet", "AWSManagedRulesACFPRuleSet", "AWSManagedRulesAntiDDoSRuleSet"}
)


def waf_rate_limit(prop: str, value: int) -> None:
    if is_number_token(value):
        return
    int_range(prop, value, WAF_RATE_LIMIT_MIN, WAF_RATE_LIMIT_MAX)


def waf_rate_window(prop: str, seconds: float) -> int:
    """The evaluation window in whole seconds, one of the windows WAF rate rules accept."""
    if seconds not in WAF_RATE_WINDOWS_SEC:
        allowed = ", ".join(f"{s // 60} min" for s in WAF_RATE_WINDOWS_SEC)
        raise ValueError(
            f"{prop} must be one of {allowed} (evaluation windows of "
            f"{'/'.join(map(str, WAF_RATE_WINDOWS_SEC))} seconds), got {seconds:g} seconds"
        )
    return int(seconds)


def waf_body_inspection_limit(prop: str, max_body_bytes: int) -> str:
    """The smallest API Gateway body inspection limit that covers ``max_body_bytes``."""
    int_range(prop, max_body_bytes, 1, WAF_BODY_INSPECTION_LIMITS[-1][0])
    return next(name for size, name in WAF_BODY_INSPECTION_LIMITS if max_body_bytes <= size)


def waf_managed_rule_groups(prop: str, names: Sequence[str], max_count: int) -> list[str]:
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ValueError(
            f"{prop} must be a list of AWS managed rule group names like "
            f"['AWSManagedRulesCommonRuleSet'], got {names!r}"
        )
    if len(names) > max_count:
        raise ValueError(f"{prop} may name at most {max_count} rule groups, got {len(names)}")
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str) or not _AWS_MANAGED_RULE_GROUP.match(name):
            raise ValueError(
                f"{prop} must hold AWS managed rule group names, which start with "
                f"'AWSManagedRules' followed by letters or digits, got {name!r}"
            )
        if name in WAF_GROUPS_NEEDING_CONFIG:
            raise ValueError(
                f"{prop} names {name!r}, which needs ManagedRuleGroupConfigs that a name alone "
                "cannot give; add it to a web ACL of your own and pass that as web_acl"
            )
        if name in seen:
            raise ValueError(f"{prop} names {name!r} twice; each rule group may appear once")
        seen.add(name)
    return list(names)


WAF_OVERRIDE_ACTIONS = ("COUNT", "BLOCK")
#: The key of ``managed_rule_overrides`` that sets a whole rule group to count.
WAF_WHOLE_GROUP = "*"
_WAF_RULE_NAME = re.compile(r"^[\w-]{1,128}$")


def waf_rule_overrides(
    prop: str, overrides: Mapping[str, Mapping[str, str]], groups: Sequence[str]
) -> dict[str, dict[str, str]]:
    """``{group: {rule or '*': 'COUNT'|'BLOCK'}}`` for groups the web ACL uses."""
    if not isinstance(overrides, Mapping):
        raise ValueError(
            f"{prop} must map rule group names to {{rule name: action}}, like "
            f"{{'AWSManagedRulesCommonRuleSet': {{'NoUserAgent_HEADER': 'COUNT'}}}}, "
            f"got {overrides!r}"
        )
    checked: dict[str, dict[str, str]] = {}
    for group, rules in overrides.items():
        if group not in groups:
            raise ValueError(
                f"{prop} names rule group {group!r}, which the web ACL does not use; "
                f"it uses {list(groups)}"
            )
        if not isinstance(rules, Mapping) or not rules:
            raise ValueError(
                f"{prop}[{group!r}] must map rule names (or {WAF_WHOLE_GROUP!r} for the whole "
                f"group) to an action, got {rules!r}"
            )
        for rule, action in rules.items():
            if rule != WAF_WHOLE_GROUP and not (
                isinstance(rule, str) and _WAF_RULE_NAME.match(rule)
            ):
                raise ValueError(
                    f"{prop}[{group!r}] names rule {rule!r}; rule names are 1-128 letters, "
                    f"digits, '_' or '-', or {WAF_WHOLE_GROUP!r} for the whole group"
                )
            allowed = ("COUNT",) if rule == WAF_WHOLE_GROUP else WAF_OVERRIDE_ACTIONS
            if action not in allowed:
                raise ValueError(
                    f"{prop}[{group!r}][{rule!r}] must be one of {', '.join(map(repr, allowed))}, "
                    f"got {action!r}"
                )
        checked[group] = dict(rules)
    return checked


@functools.cache
def _waf_country_codes() -> frozenset[str]:
    import botocore.session

    model = botocore.session.get_session().get_service_model("wafv2")
    return frozenset(model.shape_for("CountryCode").enum)


def country_codes(prop: str, values: Sequence[str]) -> list[str]:
    """ISO 3166 alpha-2 codes that AWS WAF geo match statements accept (from botocore's model)."""
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ValueError(f"{prop} must be a list of country codes like ['KP'], got {values!r}")
    codes = list(values)
    known = _waf_country_codes() if codes else frozenset()
    for code in codes:
        if not isinstance(code, str) or code not in known:
            raise ValueError(
                f"{prop} must hold ISO 3166 alpha-2 country codes that AWS WAF knows, in "
                f"capitals like 'DE' or 'KP', got {code!r}"
            )
    if len(set(codes)) != len(codes):
        raise ValueError(f"{prop} names a country twice: {codes}")
    return codes


def waf_log_group_name(value: str) -> None:
    if is_token(value):
        return
    if (
        not isinstance(value, str)
        or not value.startswith(WAF_LOG_GROUP_PREFIX)
        or len(value) > LOG_GROUP_NAME_MAX
        or not _LOG_GROUP_NAME.match(value)
    ):
        raise ValueError(
            f"a WAF log group name must start with {WAF_LOG_GROUP_PREFIX!r}, have at most "
            f"{LOG_GROUP_NAME_MAX} characters of letters, digits and '._/#-', got {value!r}"
        )


_VARIANT_NAME = re.compile(r"^[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62}$")


def variant_name(prop: str, value: str) -> None:
    """A SageMaker production variant name: letters, digits and inner hyphens, 1-63."""
    if is_token(value):
        return
    if not isinstance(value, str) or not _VARIANT_NAME.match(value):
        raise ValueError(
            f"{prop} must be 1-63 letters, digits or hyphens, starting and ending with a letter "
            f"or digit, like 'AllTraffic', got {value!r}"
        )


def iam_literal(prop: str, value: str) -> None:
    """Refuse '*' and '?' where a value becomes part of an IAM resource ARN: they would widen it."""
    if is_token(value):
        return
    if not isinstance(value, str) or "*" in value or "?" in value:
        raise ValueError(
            f"{prop} must not contain '*' or '?': it names the one resource an IAM policy "
            f"allows, where those characters are wildcards, got {value!r}"
        )


def subnet_spread(prop: str, subnet_ids: Sequence[str], zones: Sequence[str]) -> None:
    """At least two subnets in at least two Availability Zones, as SageMaker hosting requires.

    Zones that are unresolved tokens (imported VPCs) are not counted against the rule.
    """
    if len(subnet_ids) < 2:
        raise ValueError(
            f"{prop} must select at least two subnets in different Availability Zones for "
            f"SageMaker hosting, got {len(subnet_ids)} subnet(s): {list(subnet_ids)!r}"
        )
    known = [zone for zone in zones if not is_token(zone)]
    if len(known) == len(zones) and len(set(known)) < 2:
        raise ValueError(
            f"{prop} must select subnets in at least two Availability Zones for SageMaker "
            f"hosting, got subnets only in {sorted(set(known))!r}"
        )


# KMS signing algorithms that sign a SHA-256 digest (``MessageType=DIGEST``), with the key specs
# each works with. The others hash with SHA-384 or SHA-512 (a 32-byte digest is not theirs), sign
# only raw messages or an external mu (ML-DSA, Ed25519), or need SM3 (SM2DSA).
SHA256_SIGNING_ALGORITHMS: Mapping[str, frozenset[str]] = {
    "ECDSA_SHA_256": frozenset({"ECC_NIST_P256", "ECC_SECG_P256K1"}),
    "RSASSA_PSS_SHA_256": frozenset({"RSA_2048", "RSA_3072", "RSA_4096"}),
    "RSASSA_PKCS1_V1_5_SHA_256": frozenset({"RSA_2048", "RSA_3072", "RSA_4096"}),
}
_SIGNATURE_BYTES = (8, 1024)


def model_signature(
    signature: str | None,
    key_given: bool,
    algorithm: str | None,
    *,
    names: tuple[str, str, str] = (
        "model_signature",
        "model_signing_key",
        "model_signing_algorithm",
    ),
) -> None:
    """``model_signature`` and ``model_signing_key`` come together; ``model_signing_algorithm``
    only with them. A signature is the base64 of a KMS signature; the algorithm one that signs
    a SHA-256 digest. ``names`` are the three props as the caller's users write them."""
    sig_prop, key_prop, alg_prop = names
    if signature is not None and not key_given:
        raise ValueError(
            f"{sig_prop} needs {key_prop}, the KMS key (KeyUsage SIGN_VERIFY) that "
            f"signed the artifact's SHA-256 digest, got {key_prop}=None"
        )
    if signature is None and key_given:
        raise ValueError(
            f"{key_prop} is given without {sig_prop}: give the base64 signature of "
            "the artifact's SHA-256 digest by that key as well, or drop the key"
        )
    if signature is None and algorithm is not None:
        raise ValueError(
            f"{alg_prop} applies to {sig_prop}, which is not given, got {alg_prop}={algorithm!r}"
        )
    if algorithm is not None and algorithm not in SHA256_SIGNING_ALGORITHMS:
        raise ValueError(
            f"{alg_prop} must be one of "
            f"{', '.join(SHA256_SIGNING_ALGORITHMS)} (the KMS algorithms that sign a SHA-256 "
            f"digest), got {algorithm!r}"
        )
    if signature is None or is_token(signature):
        return
    low, high = _SIGNATURE_BYTES
    try:
        size = len(base64.b64decode(signature, validate=True)) if isinstance(signature, str) else 0
    except (binascii.Error, ValueError):
        size = 0
    if not low <= size <= high:
        raise ValueError(
            f"{sig_prop} must be the base64 text of a KMS signature (what `aws kms sign "
            f"--output text --query Signature` prints), {low} to {high} bytes once decoded, got "
            f"{signature!r:.100}"
        )


def signing_key(prop: str, key_usage: str, key_spec: str, algorithm: str) -> None:
    """A key created in the app must be an asymmetric SIGN_VERIFY key ``algorithm`` works with."""
    if is_token(key_usage) or is_token(key_spec):
        return
    specs = SHA256_SIGNING_ALGORITHMS[algorithm]
    if key_usage != "SIGN_VERIFY" or key_spec not in specs:
        raise ValueError(
            f"{prop} must be a KMS key with KeyUsage SIGN_VERIFY and a key spec that "
            f"{algorithm} signs with ({', '.join(sorted(specs))}), got KeyUsage {key_usage} "
            f"and KeySpec {key_spec}"
        )


def check_interval(prop: str, seconds: float) -> None:
    """Whole minutes from 15 minutes (the check function's timeout) to a day."""
    if not seconds % 60 == 0 or not 900 <= seconds <= 86_400:
        raise ValueError(
            f"{prop} must be whole minutes from 15 minutes to 1 day, got {seconds:g} seconds"
        )


def boolean(prop: str, value: object) -> None:
    """True or False, nothing that merely looks like one (1, 'yes', None)."""
    if not isinstance(value, bool):
        raise ValueError(f"{prop} must be True or False, got {value!r}")


def instance_of(prop: str, value: object, kind: type | tuple[type, ...], example: str) -> None:
    """``value`` is a ``kind`` (``example`` shows the user one)."""
    if not isinstance(value, kind):
        raise ValueError(f"{prop} must be {example}, got {value!r}")


def sequence(prop: str, values: object, example: str) -> tuple[object, ...]:
    """A list or tuple (never a string or a single item), as a tuple."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise ValueError(f"{prop} must be a list like {example}, got {values!r}")
    return tuple(values)


def duration(prop: str, value: object, low_sec: float, high_sec: float, example: str) -> float:
    """A ``Duration`` from ``low_sec`` to ``high_sec`` seconds; its seconds (tokens unchecked)."""
    from aws_cdk import Duration

    if not isinstance(value, Duration):
        raise ValueError(f"{prop} must be a Duration like {example}, got {value!r}")
    if Token.is_unresolved(value.to_string()):
        return float("nan")
    seconds = value.to_seconds(integral=False)
    if not low_sec <= seconds <= high_sec:
        raise ValueError(
            f"{prop} must be from {human_seconds(low_sec)} to {human_seconds(high_sec)}, "
            f"like {example}, "
            f"got {value.to_human_string()}"
        )
    return seconds


def human_seconds(seconds: float) -> str:
    """Like '15 minutes' or '1 day'."""
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"


def enum_member(prop: str, value: object, kind: type[enum.Enum]) -> None:
    """A member of the enum ``kind``, named in the message when it is not."""
    if not isinstance(value, kind):
        members = ", ".join(f"{kind.__name__}.{m}" for m in kind.__members__)
        raise ValueError(f"{prop} must be one of {members}, got {value!r}")


@functools.cache
def _sagemaker_instance_types() -> frozenset[str]:
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return frozenset(model.shape_for("ProductionVariantInstanceType").enum)


def known_instance_type(prop: str, value: str) -> None:
    """An instance type SageMaker hosting knows (botocore's model lists them)."""
    known = _sagemaker_instance_types()
    if is_token(value) or value in known:
        return
    import botocore

    family = value.split(".")[1]
    same_family = sorted(t for t in known if t.split(".")[1] == family)
    if same_family:
        raise ValueError(
            f"{prop}={value!r} is not a SageMaker hosting size of the {family} family; it has "
            f"{', '.join(same_family)}"
        )
    families = sorted({t.split(".")[1] for t in known})
    raise ValueError(
        f"{prop}={value!r} is not of a SageMaker real-time hosting instance family (as botocore "
        f"{botocore.__version__} lists them; a newer family needs a newer botocore): "
        f"{', '.join(families)}"
    )


_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


def allowlist_warnings(
    prop: str, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> list[tuple[str, str]]:
    """``(id, message)`` of what is legal in an allowlist but defeats it."""
    warnings: list[tuple[str, str]] = []
    everything = [str(n) for n in networks if n.prefixlen == 0]
    if everything:
        warnings.append(
            (
                "allowlist-everything",
                f"{prop} holds {', '.join(everything)}, which allows every address of its "
                "family: the allowlist restricts nothing; leave allowed_cidrs out, or list the "
                "callers' addresses",
            )
        )
    if networks and all(
        any(n.version == p.version and n.subnet_of(p) for p in _PRIVATE_NETWORKS)  # type: ignore[arg-type]
        for n in networks
    ):
        warnings.append(
            (
                "allowlist-private-only",
                f"{prop} holds only private (RFC 1918 / ULA) ranges {[str(n) for n in networks]}, "
                "but a regional API is reached over the internet from public addresses: the "
                "WAF would block every caller",
            )
        )
    return warnings


def resource(prop: str, value: object, attribute: str, example: str) -> None:
    """A CDK resource interface, known by an attribute every implementation has (jsii
    interfaces are protocols that ``isinstance`` cannot check), like ``key_arn`` of ``IKey``."""
    if isinstance(value, str | bytes | int | float | Mapping) or not hasattr(value, attribute):
        raise ValueError(f"{prop} must be {example}, got {value!r:.120}")


def pickle_globals(prop: str, values: object) -> tuple[str, ...]:
    """Allowlist entries for the artifact scan: ``module.name`` or a glob under a module
    (``mypackage.*``), none on the deny list (which no entry can lift)."""
    from secure_endpoint.runtime.artifact_scan import policy

    entries = sequence(prop, values, "['mypackage.models.Churn', 'mypackage.*']")
    for index, entry in enumerate(entries):
        try:
            policy.check_entry(entry)
        except ValueError:
            raise ValueError(
                f"{prop}[{index}] must be 'module.name' or a glob under a module like "
                f"'mypackage.*', got {entry!r}"
            ) from None
        assert isinstance(entry, str)
        module, _, name = entry.rpartition(".")
        denied = policy.denial(module, name)
        if denied is not None and "*" not in entry:
            raise ValueError(
                f"{prop}[{index}] is {entry!r}, which the scan never allows ({denied}); "
                "a model that needs it cannot be loaded safely"
            )
    return tuple(str(entry) for entry in entries)

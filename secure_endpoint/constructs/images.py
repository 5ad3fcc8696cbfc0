"""Container images for SageMaker models: a URI the user brings, or a SageMaker framework image.

Framework images are resolved with the SageMaker SDK's bundled image catalogue
(``sagemaker.core.image_uris``), offline. A stack with a concrete region gets the URI itself;
an environment-agnostic stack gets one ``CfnMapping`` per framework and version, holding the URI
for every region the SDK knows for it, and ``Fn::FindInMap`` on ``AWS::Region``.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import hashlib
import importlib.metadata
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Annotations, Aws, CfnMapping, Fn, Stack, Token
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

from secure_endpoint.constructs import _validation as check

#: Frameworks whose SageMaker serving images need only a version and an instance type.
FRAMEWORKS = ("pytorch", "sklearn", "tensorflow", "xgboost")

_ECR_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.(?P<suffix>[a-z0-9.]+)/"
    r"(?P<repository>[a-z0-9._/-]+)(?P<reference>[:@].+)$"
)
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_PULL_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
)
_MAX_LISTED_VERSIONS = 12
_REFERENCE_REGION = "us-east-1"
# Holds the image mappings of a stack, so that their logical ids carry a path hash.
_MAPPINGS_SCOPE = "SecureEndpointImages"
#: Where resolved framework images are kept between synths, keyed by the SDK and botocore
#: versions that resolved them (importing the SDK costs more than a second per synth).
IMAGE_CACHE_ENV = "SECURE_ENDPOINT_IMAGE_CACHE"
_DEFAULT_IMAGE_CACHE = Path(".cache") / "image-uris"


class ContainerImage(abc.ABC):
    """The image of a SageMaker model's primary container.

    Build one with ``from_uri``, ``from_ecr_repository`` or ``from_framework``; the construct
    that uses it calls ``bind`` for the URI and ``grant_pull`` for its execution role.
    """

    @staticmethod
    def from_uri(uri: str, *, allow_mutable_tag: bool = False) -> ContainerImage:
        """An image in Amazon ECR, by URI with its digest (``repo@sha256:...``).

        :param uri: like ``123456789012.dkr.ecr.eu-west-1.amazonaws.com/repo@sha256:<digest>``.
            It must be a plain string: the repository it names is what ``grant_pull`` scopes
            to. For a repository defined in CDK, use ``from_ecr_repository``.
        :param allow_mutable_tag: accept a tag (``repo:v1``), which anyone who may push to the
            repository can move to other bytes; a synth warning says so. Default: - ``False``:
            a digest is required
        """
        if check.is_token(uri):
            raise ValueError(
                "image_uri must be a plain ECR image URI, not an unresolved token: the pull "
                "permission is scoped to the repository it names. For a repository defined in "
                "CDK use ContainerImage.from_ecr_repository(repository, tag_or_digest), "
                f"got {uri!r}"
            )
        check.image_choice(uri, None, None)
        _require_digest("image_uri", uri.split("/", 1)[1], allow_mutable_tag)
        return _UriImage(uri, mutable=allow_mutable_tag and "@sha256:" not in uri)

    @staticmethod
    def from_ecr_repository(
        repository: ecr.IRepository, tag_or_digest: str, *, allow_mutable_tag: bool = False
    ) -> ContainerImage:
        """An image in an ECR repository defined or imported in CDK.

        :param repository: the repository; the model's role gets pull access to it alone.
        :param tag_or_digest: a digest (``sha256:<64 hex>``); a tag only with
            ``allow_mutable_tag``.
        :param allow_mutable_tag: accept a tag, which can be moved to other bytes; a synth
            warning says so. Default: - ``False``
        """
        if not isinstance(tag_or_digest, str) or not tag_or_digest:
            raise ValueError(
                "tag_or_digest must name an image, like 'sha256:<digest>' or 'v1.2.0', "
                f"got {tag_or_digest!r}"
            )
        is_digest = tag_or_digest.startswith("sha256:")
        _require_digest(
            "tag_or_digest", f"@{tag_or_digest}" if is_digest else f":{tag_or_digest}",
            allow_mutable_tag,
        )  # fmt: skip
        return _RepositoryImage(repository, tag_or_digest, mutable=not is_digest)

    @staticmethod
    def from_framework(
        framework: str, version: str, *, instance_type: str, py_version: str | None = None
    ) -> ContainerImage:
        """A SageMaker framework serving image, resolved offline by the SageMaker SDK.

        The instance type decides the image flavour: CPU, GPU (``ml.g*``, ``ml.p*``) or Graviton
        (``ml.c7g`` and the like).

        :param framework: one of ``FRAMEWORKS``: 'pytorch', 'sklearn', 'tensorflow', 'xgboost'.
        :param version: a framework version the SDK knows, such as '1.2-1' for sklearn.
        :param instance_type: the SageMaker instance type the model will run on.
        :param py_version: the Python version of the image, such as 'py312'.
            Default: - the newest Python the image is built for
        """
        spec = _resolve(framework, version, instance_type, py_version)
        return _FrameworkImage(spec)

    @abc.abstractmethod
    def bind(self, scope: IConstruct) -> str:
        """The image URI, valid in the stack that holds ``scope``."""

    @abc.abstractmethod
    def grant_pull(self, grantee: iam.IGrantable, *, scope: IConstruct) -> iam.Grant:
        """Let ``grantee`` pull this image (and get the ECR token, which has no resource).

        :param grantee: the principal, such as the model's execution role.
        :param scope: a construct of the stack that uses the image (as for ``bind``): the
            repository's ARN is formed in that stack.
        """


def _grant_pull(grantee: iam.IGrantable, repository_arn: str) -> iam.Grant:
    pull = iam.Grant.add_to_principal(
        grantee=grantee, actions=list(_PULL_ACTIONS), resource_arns=[repository_arn]
    )
    token = iam.Grant.add_to_principal(
        grantee=grantee, actions=["ecr:GetAuthorizationToken"], resource_arns=["*"]
    )
    return pull.combine(token)


def _require_digest(prop: str, reference: str, allow_mutable_tag: bool) -> None:
    """Refuse an image named by tag unless allowed; a digest must be a whole SHA-256."""
    if "@" in reference:
        digest = reference.rsplit("@", 1)[1]
        if not _DIGEST.match(digest):
            raise ValueError(
                f"{prop} must end in a digest like '@sha256:<64 lowercase hex>', got {digest!r}"
            )
        return
    if not allow_mutable_tag:
        raise ValueError(
            f"{prop} names its image by tag ({reference!r}); a tag can be moved to other bytes "
            "after review, so give the digest ('repo@sha256:<64 hex>', see `aws ecr "
            "describe-images`), or pass allow_mutable_image_tag=True to accept the risk (warned)"
        )


def _warn_mutable(scope: IConstruct) -> None:
    Annotations.of(scope).add_warning_v2(
        "secure-endpoint:mutable-image-tag",
        "The model image is named by a tag, which anyone who may push to its repository can "
        "move to other bytes: the endpoint would run them at its next deployment or scaling. "
        "Name it by digest (repo@sha256:...).",
    )


class _UriImage(ContainerImage):
    def __init__(self, uri: str, *, mutable: bool = False) -> None:
        match = _ECR_URI.match(uri)
        assert match is not None, "image_choice accepted a URI the ECR pattern refuses"
        self._uri = uri
        self._mutable = mutable
        self._account = match.group("account")
        self._region = match.group("region")
        self._repository = match.group("repository")

    def bind(self, scope: IConstruct) -> str:
        if self._mutable:
            _warn_mutable(scope)
        return self._uri

    def grant_pull(self, grantee: iam.IGrantable, *, scope: IConstruct) -> iam.Grant:
        arn = Stack.of(scope).format_arn(
            service="ecr",
            resource="repository",
            resource_name=self._repository,
            region=self._region,
            account=self._account,
        )
        return _grant_pull(grantee, arn)


class _RepositoryImage(ContainerImage):
    def __init__(
        self, repository: ecr.IRepository, tag_or_digest: str, *, mutable: bool = False
    ) -> None:
        self._repository = repository
        self._tag_or_digest = tag_or_digest
        self._mutable = mutable

    def bind(self, scope: IConstruct) -> str:
        if self._mutable:
            _warn_mutable(scope)
        return self._repository.repository_uri_for_tag_or_digest(self._tag_or_digest)

    def grant_pull(self, grantee: iam.IGrantable, *, scope: IConstruct) -> iam.Grant:
        return self._repository.grant_pull(grantee)


@dataclass(frozen=True)
class _FrameworkSpec:
    """A framework image resolved for every region the SDK knows it in."""

    framework: str
    version: str
    repository: str
    """The repository name, the same in every region."""
    uris: Mapping[str, str]
    """Region -> image URI."""

    def to_json(self) -> str:
        return json.dumps(
            {
                "framework": self.framework,
                "version": self.version,
                "repository": self.repository,
                "uris": dict(self.uris),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> _FrameworkSpec:
        """The spec ``to_json`` wrote; ``ValueError``/``KeyError``/``TypeError`` if malformed."""
        data = json.loads(text)
        uris = data["uris"]
        if not (isinstance(uris, dict) and uris) or not all(
            isinstance(value, str) for value in [*uris, *uris.values()]
        ):
            raise ValueError("uris must map region names to image URIs")
        framework, version, repository = data["framework"], data["version"], data["repository"]
        if not all(isinstance(value, str) for value in (framework, version, repository)):
            raise TypeError("framework, version and repository must be strings")
        return cls(framework=framework, version=version, repository=repository, uris=uris)

    @property
    def variant(self) -> str:
        """A mapping key for this image among the framework version's other flavours."""
        tag_and_repo = next(iter(self.uris.values())).split("/", 1)[1]
        return re.sub(r"[^A-Za-z0-9]", "", tag_and_repo)


class _FrameworkImage(ContainerImage):
    def __init__(self, spec: _FrameworkSpec) -> None:
        self._spec = spec
        self._mapped: list[tuple[Stack, CfnMapping]] = []  # bind and grant_pull map it once

    def bind(self, scope: IConstruct) -> str:
        stack = Stack.of(scope)
        if not Token.is_unresolved(stack.region):
            uri = self._spec.uris.get(stack.region)
            if uri is None:
                raise ValueError(
                    f"the SageMaker SDK knows no {self._spec.framework} "
                    f"{self._spec.version} image in region {stack.region!r}; it has them in "
                    f"{', '.join(sorted(self._spec.uris))}"
                )
            return uri
        return self._mapping(stack).find_in_map(Aws.REGION, self._spec.variant)

    def grant_pull(self, grantee: iam.IGrantable, *, scope: IConstruct) -> iam.Grant:
        uri = self.bind(scope)
        # The registry account is the URI's first label, in every region.
        account = Fn.select(0, Fn.split(".", uri)) if Token.is_unresolved(uri) else uri[:12]
        arn = Stack.of(scope).format_arn(
            service="ecr",
            resource="repository",
            resource_name=self._spec.repository,
            account=account,
        )
        return _grant_pull(grantee, arn)

    def _mapping(self, stack: Stack) -> CfnMapping:
        # Each call to the CDK is a round trip to its node process: the mapping is filled in one
        # call where it is new, and this image's values are added only once per stack.
        for mapped_stack, mapped in self._mapped:
            if mapped_stack is stack:
                return mapped
        holder = stack.node.try_find_child(_MAPPINGS_SCOPE)
        if not isinstance(holder, Construct):
            holder = Construct(stack, _MAPPINGS_SCOPE)
        mapping_id = f"{self._spec.framework}-{self._spec.version}"
        variant = self._spec.variant
        mapping = holder.node.try_find_child(mapping_id)
        if isinstance(mapping, CfnMapping):  # another flavour of this framework version
            for region, uri in self._spec.uris.items():
                mapping.set_value(region, variant, uri)
        else:
            mapping = CfnMapping(
                holder,
                mapping_id,
                mapping={region: {variant: uri} for region, uri in self._spec.uris.items()},
            )
        self._mapped.append((stack, mapping))
        return mapping


def _resolve(
    framework: str, version: str, instance_type: str, py_version: str | None
) -> _FrameworkSpec:
    if framework not in FRAMEWORKS:
        raise ValueError(
            f"framework must be one of {', '.join(map(repr, FRAMEWORKS))}, got {framework!r}"
        )
    check.instance_type("instance_type", instance_type, encrypted_volume=False)
    if _is_neuron(instance_type):
        raise ValueError(
            f"instance_type={instance_type!r} is an AWS Inferentia or Trainium instance, which "
            "needs a Neuron image: use ContainerImage.from_uri with a Neuron serving image"
        )
    if not isinstance(version, str):
        raise ValueError(f"framework_version must be a string like '1.2-1', got {version!r}")
    if py_version is not None and not isinstance(py_version, str):
        raise ValueError(f"py_version must be a string like 'py312', got {py_version!r}")
    return _resolve_on_disk(framework, version, instance_type, py_version)


def _image_cache_dir() -> Path | None:
    """The image cache directory, or None when ``SECURE_ENDPOINT_IMAGE_CACHE`` is 'off'."""
    configured = os.environ.get(IMAGE_CACHE_ENV, "")
    if configured.lower() == "off":
        return None
    return Path(configured) if configured else _DEFAULT_IMAGE_CACHE


def _cache_key(framework: str, version: str, instance_type: str, py_version: str | None) -> str:
    """What a resolution depends on: its inputs and the SDK and botocore that resolve it."""
    inputs = [
        importlib.metadata.version("sagemaker-core"),
        importlib.metadata.version("botocore"),
        framework,
        version,
        instance_type,
        py_version,
    ]
    return hashlib.sha256(json.dumps(inputs).encode()).hexdigest()[:32]


def _resolve_on_disk(
    framework: str, version: str, instance_type: str, py_version: str | None
) -> _FrameworkSpec:
    """``_resolve_cached``, remembered on disk; only successful resolutions are kept.

    A missing, unreadable or malformed cache file means resolving again with the SDK; the file
    is replaced atomically, so concurrent synths never read half of one.
    """
    directory = _image_cache_dir()
    if directory is None:
        return _resolve_cached(framework, version, instance_type, py_version)
    path = directory / f"{_cache_key(framework, version, instance_type, py_version)}.json"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        cached = _FrameworkSpec.from_json(path.read_text(encoding="utf-8"))
        if (cached.framework, cached.version) == (framework, version):
            return cached
    spec = _resolve_cached(framework, version, instance_type, py_version)
    with contextlib.suppress(OSError):  # a read-only checkout still synthesizes
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=directory, suffix=".tmp", delete=False
        ) as handle:
            handle.write(spec.to_json())
        os.replace(handle.name, path)
    return spec


def _is_neuron(instance_type: str) -> bool:
    """True for AWS Inferentia and Trainium instance types (``ml.inf2.xlarge``, ``ml.trn1...``)."""
    family = instance_type.split(".")[1] if instance_type.count(".") == 2 else ""
    return family.startswith(("inf", "trn"))


@functools.lru_cache(maxsize=64)
def _resolve_cached(
    framework: str, version: str, instance_type: str, py_version: str | None
) -> _FrameworkSpec:
    # Imported here: loading the SDK costs over a second, and only framework images need it.
    from sagemaker.core import fw_utils, image_uris

    family = instance_type.split(".")[1]
    graviton = family in fw_utils.GRAVITON_ALLOWED_TARGET_INSTANCE_FAMILY
    scope = "inference_graviton" if graviton else "inference"
    flavour = "Graviton" if graviton else "GPU" if family[0] in "gp" else "CPU"

    versions = image_uris.list_versions(framework, scope)
    if version not in versions:
        raise ValueError(
            f"framework_version must be a {framework} version with a SageMaker {flavour} "
            f"serving image, one of {_versions_listing(versions)}; got {version!r}"
        )
    py_versions = image_uris.list_py_versions(framework, version, scope)
    if py_version is None:
        py_version = py_versions[-1] if py_versions else None
    elif py_version not in py_versions:
        raise ValueError(
            f"py_version must be one of {', '.join(map(repr, py_versions)) or 'None'} for "
            f"{framework} {version}, got {py_version!r}"
        )

    registries = _registries(image_uris.config_for_framework(framework), scope, version, py_version)
    reference_region = _REFERENCE_REGION if _REFERENCE_REGION in registries else min(registries)

    def retrieve(region: str) -> str:
        uri: str = image_uris.retrieve(
            framework,
            region,
            version=version,
            py_version=py_version,
            instance_type=instance_type,
            image_scope=scope,
        )
        return uri

    try:
        reference = retrieve(reference_region)
    except ValueError as error:
        raise ValueError(
            f"instance_type={instance_type!r} has no {framework} {version} {flavour} serving "
            f"image: {error}"
        ) from None

    hosts = _ecr_hosts(registries)
    uris = _derive_uris(reference, registries, hosts)
    if uris.get(reference_region) != reference:
        # The SDK changed how it builds URIs: ask it for every region (slow, but right).
        uris = {region: retrieve(region) for region in hosts}
    return _FrameworkSpec(
        framework=framework,
        version=version,
        repository=reference.split("/", 1)[1].split(":", 1)[0],
        uris=uris,
    )


def _registries(
    config: Mapping[str, Any], scope: str, version: str, py_version: str | None
) -> dict[str, str]:
    """The region -> registry account table of one image, found the way ``retrieve`` does."""
    scoped = config.get(scope, config)
    version = scoped.get("version_aliases", {}).get(version, version)
    version_config = scoped["versions"][version]
    version_config = version_config.get(py_version) or version_config
    return dict(version_config["registries"])


def _ecr_hosts(regions: Iterable[str]) -> dict[str, str]:
    """The ECR host name of each region that the installed botocore knows, in region order."""
    import botocore.loaders
    import botocore.regions

    resolver = botocore.regions.EndpointResolver(
        botocore.loaders.create_loader().load_data("endpoints")
    )
    hosts = {}
    for region in sorted(regions):
        endpoint = resolver.construct_endpoint("ecr", region)
        if not endpoint and region == "il-central-1":  # as the SDK does
            endpoint = {"hostname": f"ecr.{region}.amazonaws.com"}
        if endpoint:
            hosts[region] = str(endpoint["hostname"])
    return hosts


def _derive_uris(
    reference: str, registries: Mapping[str, str], hosts: Mapping[str, str]
) -> dict[str, str]:
    """Every region's URI of an image, from its URI in one region and its registry table.

    ``retrieve`` builds ``<registry account>.dkr.<ECR host>/<repository>:<tag>``: only the
    account and the host differ between regions. Regions without a known host are left out.
    """
    path = reference.split("/", 1)[1]
    return {region: f"{registries[region]}.dkr.{host}/{path}" for region, host in hosts.items()}


def _natural_key(version: str) -> tuple[int | str, ...]:
    """'2.10.1' after '2.9', '2.6.0' after '2.6': digits compare as numbers."""
    parts = re.split(r"(\d+)", version)
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts))


def _versions_listing(versions: list[str]) -> str:
    newest_first = sorted(versions, key=_natural_key, reverse=True)
    shown = ", ".join(map(repr, newest_first[:_MAX_LISTED_VERSIONS]))
    hidden = len(newest_first) - _MAX_LISTED_VERSIONS
    if hidden > 0:
        return (
            f"{shown} and {hidden} older (newest first; "
            "sagemaker.core.image_uris.list_versions lists all)"
        )
    return shown

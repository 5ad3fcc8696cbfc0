"""The three AWS boundaries of the rotation: Secrets Manager, WAF and CloudFront.

Clients are injected. Throttling is retried with a fixed backoff (``BACKOFF``); a write guarded
by optimistic locking (WAF's ``LockToken``, CloudFront's ``ETag``) that loses to another writer
is computed again from a fresh read, after the same backoff. Every other error is raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from origin_secret_rotation.rotation import PENDING, SECRET_LENGTH, SecretMetadata, WebAclRef

Sleep = Callable[[float], None]

THROTTLING = frozenset({"ThrottlingException", "TooManyRequestsException", "Throttling"})
#: Another writer changed the web ACL (WAF) or the distribution (CloudFront) since our read.
LOST_UPDATE = frozenset({"WAFOptimisticLockException", "PreconditionFailed"})
BACKOFF = (0.25, 0.5, 1.0, 2.0)

#: GetWebACL fields that UpdateWebACL never takes back (it names the web ACL by these instead).
_WEB_ACL_IDENTITY = frozenset({"Name", "Scope", "Id", "LockToken"})


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def call_with_backoff(method: Callable[..., Any], sleep: Sleep, **params: Any) -> Any:
    """``method(**params)``, tried again after each delay of ``BACKOFF`` while AWS throttles it."""
    for delay in BACKOFF:
        try:
            return method(**params)
        except ClientError as error:
            if error_code(error) not in THROTTLING:
                raise
        sleep(delay)
    return method(**params)


def retry_lost_updates(attempt: Callable[[], bool], sleep: Sleep) -> bool:
    """``attempt()`` (read, compute, write), run again while another writer wins the race."""
    for delay in BACKOFF:
        try:
            return attempt()
        except ClientError as error:
            if error_code(error) not in LOST_UPDATE:
                raise
        sleep(delay)
    return attempt()


class SecretStore:
    """Secrets Manager: the versions, stages and values of the secret being rotated."""

    def __init__(self, client: Any, *, sleep: Sleep = time.sleep) -> None:
        self._client = client
        self._sleep = sleep

    def describe(self, secret_id: str) -> SecretMetadata:
        response = call_with_backoff(self._client.describe_secret, self._sleep, SecretId=secret_id)
        return SecretMetadata(
            rotation_enabled=bool(response.get("RotationEnabled", False)),
            versions=response.get("VersionIdsToStages", {}),
        )

    def pending_value(self, secret_id: str, token: str) -> str | None:
        """The AWSPENDING value of version ``token``, or None when that version has none."""
        try:
            response = call_with_backoff(
                self._client.get_secret_value,
                self._sleep,
                SecretId=secret_id,
                VersionId=token,
                VersionStage=PENDING,
            )
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return None
            raise
        value: str | None = response.get("SecretString")
        return value

    def random_value(self) -> str:
        """A new value from Secrets Manager's generator: letters and digits, at least one each."""
        response = call_with_backoff(
            self._client.get_random_password,
            self._sleep,
            PasswordLength=SECRET_LENGTH,
            ExcludePunctuation=True,
            IncludeSpace=False,
            RequireEachIncludedType=True,
        )
        return str(response["RandomPassword"])

    def put_pending(self, secret_id: str, token: str, value: str) -> None:
        call_with_backoff(
            self._client.put_secret_value,
            self._sleep,
            SecretId=secret_id,
            ClientRequestToken=token,
            SecretString=value,
            VersionStages=[PENDING],
        )

    def move_stage(
        self, secret_id: str, stage: str, *, to_version: str | None, from_version: str | None
    ) -> None:
        """Attach ``stage`` to ``to_version`` and detach it from ``from_version`` (or None)."""
        versions = {"MoveToVersionId": to_version, "RemoveFromVersionId": from_version}
        call_with_backoff(
            self._client.update_secret_version_stage,
            self._sleep,
            SecretId=secret_id,
            VersionStage=stage,
            **{key: value for key, value in versions.items() if value},
        )


class WebAclRules:
    """WAF: the rules of one web ACL, rewritten under its lock token.

    ``UpdateWebACL`` replaces the whole web ACL: every field it takes is sent back as
    ``GetWebACL`` returned it (the set of fields is the client's own service model, so a field
    WAF adds later is carried along, not reset), with the rules replaced.
    """

    def __init__(self, client: Any, ref: WebAclRef, *, sleep: Sleep = time.sleep) -> None:
        self._client = client
        self.ref = ref
        self._sleep = sleep
        update = client.meta.service_model.operation_model("UpdateWebACL")
        self._carried = frozenset(update.input_shape.members) - _WEB_ACL_IDENTITY

    def rules(self) -> list[dict[str, Any]]:
        web_acl, _ = self._read()
        return list(web_acl.get("Rules", []))

    def update_rules(
        self, rewrite: Callable[[list[dict[str, Any]]], list[dict[str, Any]] | None]
    ) -> bool:
        """Replace the rules with ``rewrite(rules)``; no write when it returns None or the same.

        :returns: whether the web ACL was written.
        """

        def attempt() -> bool:
            web_acl, lock_token = self._read()
            rules = list(web_acl.get("Rules", []))
            rewritten = rewrite(rules)
            if rewritten is None or rewritten == rules:
                return False
            carried = {
                field: value
                for field, value in web_acl.items()
                if field in self._carried and value is not None
            }
            call_with_backoff(
                self._client.update_web_acl,
                self._sleep,
                **{
                    **carried,
                    "Rules": rewritten,
                    "Name": self.ref.name,
                    "Scope": self.ref.scope,
                    "Id": self.ref.id,
                    "LockToken": lock_token,
                },
            )
            return True

        return retry_lost_updates(attempt, self._sleep)

    def _read(self) -> tuple[dict[str, Any], str]:
        response = call_with_backoff(
            self._client.get_web_acl,
            self._sleep,
            Name=self.ref.name,
            Scope=self.ref.scope,
            Id=self.ref.id,
        )
        return dict(response["WebACL"]), str(response["LockToken"])


class DistributionConfig:
    """CloudFront: one distribution's configuration, rewritten under its ETag."""

    def __init__(self, client: Any, distribution_id: str, *, sleep: Sleep = time.sleep) -> None:
        self._client = client
        self.distribution_id = distribution_id
        self._sleep = sleep

    def read(self) -> tuple[dict[str, Any], bool]:
        """The configuration, and whether the distribution has finished deploying it."""
        distribution, _ = self._read()
        return dict(distribution["DistributionConfig"]), distribution["Status"] == "Deployed"

    def update(self, rewrite: Callable[[dict[str, Any]], dict[str, Any]]) -> bool:
        """Replace the configuration with ``rewrite(config)``; no write when it is the same.

        :returns: whether the distribution was written.
        """

        def attempt() -> bool:
            distribution, etag = self._read()
            config = dict(distribution["DistributionConfig"])
            rewritten = rewrite(config)
            if rewritten == config:
                return False
            call_with_backoff(
                self._client.update_distribution,
                self._sleep,
                Id=self.distribution_id,
                IfMatch=etag,
                DistributionConfig=rewritten,
            )
            return True

        return retry_lost_updates(attempt, self._sleep)

    def _read(self) -> tuple[dict[str, Any], str]:
        response = call_with_backoff(
            self._client.get_distribution, self._sleep, Id=self.distribution_id
        )
        return dict(response["Distribution"]), str(response["ETag"])

"""The WAF and CloudFront boundaries of the rotation; Secrets Manager's is ``SecretStore``
(``secure_endpoint.runtime.secret_rotation``).

Clients are injected. Throttling is retried with a fixed backoff (``BACKOFF``); a write guarded
by optimistic locking (WAF's ``LockToken``, CloudFront's ``ETag``) that loses to another writer
is computed again from a fresh read, after the same backoff. Every other error is raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from origin_secret_rotation.rotation import WebAclRef
from secure_endpoint.runtime.secret_rotation import BACKOFF, Sleep, call_with_backoff, error_code

#: Another writer changed the web ACL (WAF) or the distribution (CloudFront) since our read.
LOST_UPDATE = frozenset({"WAFOptimisticLockException", "PreconditionFailed"})

#: GetWebACL fields that UpdateWebACL never takes back (it names the web ACL by these instead).
_WEB_ACL_IDENTITY = frozenset({"Name", "Scope", "Id", "LockToken"})


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

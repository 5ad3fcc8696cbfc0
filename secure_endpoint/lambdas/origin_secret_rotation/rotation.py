"""The decisions of the rotation steps that are particular to the CloudFront origin secret.

Pure: plain data in, plain data out; no boto3, no environment, no clock.

The secret is a plain string (no JSON): 64 letters and digits. CloudFront sends it to the origin
in a custom header; the regional web ACL's origin secret rule blocks every request whose header
equals neither of the rule's two accepted values. Rotation without downtime, step by step:

- ``createSecret``: a new random value is stored as AWSPENDING (nothing else changes);
- ``setSecret``: the web ACL accepts {pending, what CloudFront sends now}; only then is the
  distribution's origin header set to pending. CloudFront deploys the change to its edges over
  minutes, during which some send the old value and some the new one: both pass;
- ``testSecret``: the web ACL accepts pending and the distribution sends pending;
- ``finishSecret``: AWSCURRENT moves to pending. The old value stays accepted until the next
  rotation's ``setSecret`` replaces it, which it does only once the distribution has finished
  deploying (status ``Deployed``), so that no edge still sends it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from secure_endpoint.runtime.secret_rotation import PENDING, RotationError

SECRET_LENGTH = 64
_SECRET = re.compile(rf"[A-Za-z0-9]{{{SECRET_LENGTH}}}")
_WEB_ACL_ARN = re.compile(
    r"arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:"
    r"(?P<scope>regional|global)/webacl/(?P<name>[\w-]{1,128})/(?P<id>[0-9a-f-]{36})"
)

Rule = Mapping[str, Any]
"""A web ACL rule as ``GetWebACL`` returns it."""


@dataclass(frozen=True)
class WebAclRef:
    """The web ACL whose origin secret rule rotation rewrites: what ``GetWebACL`` needs."""

    name: str
    id: str
    scope: str

    @classmethod
    def from_arn(cls, arn: str) -> WebAclRef:
        match = _WEB_ACL_ARN.fullmatch(arn)
        if match is None:
            raise RotationError(
                f"not the ARN of a WAF web ACL: {arn!r}; expected "
                "arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>"
            )
        scope = "REGIONAL" if match["scope"] == "regional" else "CLOUDFRONT"
        return cls(match["name"], match["id"], scope)


def check_origin_secret(secret_id: str, stage: str, value: str | None) -> str:
    """``value`` if it is 64 letters and digits; the error names secret and stage, not value."""
    if not isinstance(value, str) or not _SECRET.fullmatch(value):
        raise RotationError(
            f"secret {secret_id!r} ({stage}) is not an origin secret: expected "
            f"{SECRET_LENGTH} letters and digits"
        )
    return value


# --- the regional web ACL's origin secret rule ------------------------------------------------


def accepted_values(rules: Sequence[Rule], rule_name: str, header: str) -> tuple[str, str]:
    """The two values the origin secret rule accepts in ``header``, in rule order.

    The rule is the one secure-endpoint builds: ``NOT (header == a OR header == b)``, each an
    exact byte match without text transformation. Anything else is refused rather than guessed
    at, so that rotation never rewrites a rule it does not understand.
    """
    statements = _byte_matches(rules, rule_name, header)
    first, second = (_search_string(s) for s in statements)
    return first, second


def with_accepted_values(
    rules: Sequence[Rule], rule_name: str, header: str, values: tuple[str, str]
) -> list[dict[str, Any]]:
    """A copy of ``rules`` whose origin secret rule accepts ``values``; other rules untouched."""
    rewritten = copy.deepcopy([dict(rule) for rule in rules])
    for statement, value in zip(_byte_matches(rewritten, rule_name, header), values, strict=True):
        statement["SearchString"] = value.encode()
    return rewritten


def _byte_matches(rules: Sequence[Rule], rule_name: str, header: str) -> list[dict[str, Any]]:
    matching = [rule for rule in rules if rule.get("Name") == rule_name]
    if len(matching) != 1:
        raise RotationError(
            f"the web ACL has {len(matching)} rules named {rule_name!r}; expected exactly one"
        )
    shape = f"NOT (OR of two EXACTLY byte matches on header {header!r})"
    try:
        alternatives = matching[0]["Statement"]["NotStatement"]["Statement"]["OrStatement"][
            "Statements"
        ]
        statements = [alternative["ByteMatchStatement"] for alternative in alternatives]
    except (KeyError, TypeError):
        raise RotationError(f"rule {rule_name!r} is not {shape}") from None
    for statement in statements:
        field = statement.get("FieldToMatch", {}).get("SingleHeader", {}).get("Name", "")
        transformations = [t.get("Type") for t in statement.get("TextTransformations", [])]
        if (
            field.lower() != header.lower()
            or statement.get("PositionalConstraint") != "EXACTLY"
            or set(transformations) - {"NONE"}
        ):
            raise RotationError(f"rule {rule_name!r} is not {shape}")
    if len(statements) != 2:
        raise RotationError(
            f"rule {rule_name!r} accepts {len(statements)} values; expected 2 (current, previous)"
        )
    return statements


def _search_string(statement: Mapping[str, Any]) -> str:
    value = statement.get("SearchString", b"")
    return value.decode() if isinstance(value, bytes) else str(value)


# --- the distribution's origin custom header --------------------------------------------------


def sent_values(config: Mapping[str, Any], header: str) -> list[str]:
    """What the distribution sends in ``header``: one value per origin carrying the header."""
    values = [
        str(item["HeaderValue"])
        for origin in config.get("Origins", {}).get("Items", [])
        for item in origin.get("CustomHeaders", {}).get("Items", []) or []
        if str(item.get("HeaderName", "")).lower() == header.lower()
    ]
    if not values:
        raise RotationError(f"no origin of the distribution sends the {header!r} header")
    return values


def with_sent_value(config: Mapping[str, Any], header: str, value: str) -> dict[str, Any]:
    """A copy of the distribution config whose origins send ``value`` in ``header``."""
    rewritten = copy.deepcopy(dict(config))
    for origin in rewritten.get("Origins", {}).get("Items", []):
        for item in origin.get("CustomHeaders", {}).get("Items", []) or []:
            if str(item.get("HeaderName", "")).lower() == header.lower():
                item["HeaderValue"] = value
    return rewritten


# --- the steps --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetPlan:
    """What setSecret still has to do, in this order.

    :param accepted: the web ACL's new accepted values (pending first), or None to leave it.
    :param send: the distribution's new header value, or None to leave it.
    """

    accepted: tuple[str, str] | None
    send: str | None


def plan_set(
    *, pending: str, accepted: tuple[str, str], sent: Sequence[str], deployed: bool
) -> SetPlan:
    """Accept pending beside what CloudFront sends now, then send pending.

    :param accepted: what the web ACL accepts now.
    :param sent: what the distribution's origins send now (its configuration).
    :param deployed: whether the distribution has finished deploying its configuration; while
        it has not, some edges may still send an earlier value, which only the web ACL's
        current values tell, so no accepted value may be dropped.
    """
    sending = set(sent)
    if sending == {pending}:
        # An earlier attempt already switched the distribution; the web ACL must accept it.
        if pending in accepted:
            return SetPlan(accepted=None, send=None)
        return SetPlan(accepted=(pending, accepted[0]), send=None)
    if not deployed:
        raise RotationError(
            "the distribution is still deploying an earlier change, so its edges may send a "
            "value other than its configuration's; retry setSecret once its status is Deployed"
        )
    if len(sending) != 1:
        raise RotationError(
            f"the distribution's origins send {len(sending)} different origin secrets; "
            "expected one (was the distribution edited by hand?)"
        )
    (current,) = sending
    target = (pending, current)
    return SetPlan(accepted=None if accepted == target else target, send=pending)


def check_pending_in_use(
    secret_id: str, pending: str, accepted: tuple[str, str], sent: Sequence[str]
) -> None:
    """testSecret: the web ACL accepts pending and the distribution sends it."""
    if pending not in accepted:
        raise RotationError(
            f"the web ACL does not accept the {PENDING} value of secret {secret_id!r}"
        )
    if set(sent) != {pending}:
        raise RotationError(
            f"the distribution does not send the {PENDING} value of secret {secret_id!r}"
        )

"""The quarantine usage plan: where a suspected client's API key goes for a while.

``QuarantinePlan`` adds one usage plan to the REST API's stage with a small rate, burst and daily
quota, and no API key of its own. ``secure_endpoint.runtime.quarantine`` (the ``quarantine`` and
``release`` commands, and the opt-in automatic response) moves a client's key out of its own
plan(s) into this one until the quarantine's TTL ends, then back; ``grant_quarantine`` gives a
principal exactly the API Gateway calls that takes, on the named keys and plans only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from constructs import Construct

from secure_endpoint.constructs import _validation as check

DEFAULT_RATE_LIMIT = 1.0
DEFAULT_BURST_LIMIT = 1
DEFAULT_QUOTA_PER_DAY = 100

# What runtime/quarantine.py calls, as API Gateway's management API authorizes it: the HTTP verb
# of each call on the resource path it calls (``arn:<partition>:apigateway:<region>::<path>``).
READ_KEY, UPDATE_KEY = "apigateway:GET", "apigateway:PATCH"  # GetApiKey, UpdateApiKey
LIST_PLANS = "apigateway:GET"  # GetUsagePlans (keyId=...) and GetUsagePlanKeys
JOIN_PLAN = "apigateway:POST"  # CreateUsagePlanKey
LEAVE_PLAN = "apigateway:DELETE"  # DeleteUsagePlanKey
_CLIENT = re.compile(r"^[\w+-]{1,128}$")  # a client's name, or a Cognito client id


class QuarantinePlan(Construct):
    """A usage plan on the API's stage for quarantined clients: a small rate and quota.

    :param rest_api: the REST API whose clients may be quarantined.
    :param stage: the stage the clients' usage plans cover (``InferenceApi.stage``).
    :param rate_limit: steady requests per second of a quarantined client, 0.1 to 10,000.
        Default: - 1
    :param burst_limit: its burst, a whole number at least ``rate_limit``. Default: - 1
    :param quota_per_day: its requests per day, 1 to 1,000,000,000. Default: - 100
    :param never_quarantine: client names (or Cognito client ids) never to quarantine: they go
        into the endpoint's manifest and the automatic response's configuration; the commands
        and the response refuse them. Default: - none
    :raises ValueError: a limit out of range, a burst below the rate, or a name that is no
        client name; the message names the prop, the value and what is allowed.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        rest_api: apigw.IRestApi,
        stage: apigw.Stage,
        rate_limit: float = DEFAULT_RATE_LIMIT,
        burst_limit: int = DEFAULT_BURST_LIMIT,
        quota_per_day: int = DEFAULT_QUOTA_PER_DAY,
        never_quarantine: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        check.number_range("QuarantinePlan.rate_limit", rate_limit, 0.1, check.MAX_RATE_LIMIT)
        check.int_range("QuarantinePlan.burst_limit", burst_limit, 1, check.MAX_BURST_LIMIT)
        if burst_limit < rate_limit:
            raise ValueError(
                f"QuarantinePlan.burst_limit ({burst_limit}) must be at least its rate_limit "
                f"({rate_limit:g}): a smaller bucket refuses even the steady rate"
            )
        check.int_range("QuarantinePlan.quota_per_day", quota_per_day, 1, check.MAX_QUOTA_PER_DAY)
        self.never_quarantine = _names(never_quarantine)
        """Client names or Cognito client ids never to quarantine."""
        self.rate_limit, self.burst_limit, self.quota_per_day = (
            rate_limit,
            burst_limit,
            quota_per_day,
        )
        self.usage_plan = apigw.UsagePlan(
            self,
            "UsagePlan",
            description=(
                "secure-endpoint quarantine: API keys of suspected clients, for a while "
                "(secure-endpoint quarantined)"
            ),
            throttle=apigw.ThrottleSettings(rate_limit=rate_limit, burst_limit=burst_limit),
            quota=apigw.QuotaSettings(limit=quota_per_day, period=apigw.Period.DAY),
            api_stages=[apigw.UsagePlanPerApiStage(api=rest_api, stage=stage)],
        )

    @property
    def usage_plan_id(self) -> str:
        """The plan's id: the manifest's ``quarantinePlanId``, and the runtime's
        ``Quarantine(quarantine_plan_id=...)``."""
        return self.usage_plan.usage_plan_id

    def grant_quarantine(
        self,
        grantee: iam.IGrantable,
        *,
        api_keys: Mapping[str, apigw.IApiKey],
        usage_plans: Mapping[str, apigw.IUsagePlan],
    ) -> iam.Grant:
        """Let ``grantee`` quarantine and release the clients of ``api_keys``: read and update
        each key (``apigateway:GET``, ``apigateway:PATCH`` on ``/apikeys/<id>``), find the
        plans a key is in (``GET /usageplans``) and the keys in this plan
        (``GET /usageplans/<this>/keys``), add a key to this plan or its own
        (``POST /usageplans/<plan>/keys``) and take it out of either
        (``DELETE /usageplans/<plan>/keys/<key>``). Nothing else: no other key, no other plan.

        :param api_keys: each client's API key, by client name (``InferenceApi.api_keys``).
        :param usage_plans: each client's own usage plan, by the same names
            (``InferenceApi.usage_plans``).
        :raises ValueError: the two do not name the same clients, at least one.
        """
        if not api_keys or set(api_keys) != set(usage_plans):
            raise ValueError(
                "api_keys and usage_plans must name the same clients, at least one, got "
                f"api_keys for {sorted(api_keys)} and usage_plans for {sorted(usage_plans)}"
            )
        names = sorted(api_keys)
        base = _arn_base(self)
        plans = {name: usage_plans[name].usage_plan_id for name in names}
        keys = {name: api_keys[name].key_id for name in names}
        here = self.usage_plan_id
        key_arns = [f"{base}/apikeys/{keys[n]}" for n in names]
        plan_keys = [f"{base}/usageplans/{p}/keys" for p in [here, *(plans[n] for n in names)]]
        memberships = [
            f"{base}/usageplans/{plan}/keys/{keys[n]}" for n in names for plan in (here, plans[n])
        ]
        grants = [
            iam.Grant.add_to_principal(
                grantee=grantee, actions=[READ_KEY, UPDATE_KEY], resource_arns=key_arns
            ),
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=[LIST_PLANS],
                resource_arns=[f"{base}/usageplans", f"{base}/usageplans/{here}/keys"],
            ),
            iam.Grant.add_to_principal(
                grantee=grantee, actions=[JOIN_PLAN], resource_arns=plan_keys
            ),
            iam.Grant.add_to_principal(
                grantee=grantee, actions=[LEAVE_PLAN], resource_arns=memberships
            ),
        ]
        combined = grants[0]
        for grant in grants[1:]:
            combined = combined.combine(grant)
        return combined


def _arn_base(scope: Construct) -> str:
    """``arn:<partition>:apigateway:<region>:`` then ``:``: API Gateway's management resources
    have no account in their ARN (the account is the caller's)."""
    stack = Stack.of(scope)
    return f"arn:{stack.partition}:apigateway:{stack.region}::"


def _names(values: Sequence[str]) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ValueError(
            "QuarantinePlan.never_quarantine must be a list of client names like ['ops'], "
            f"got {values!r}"
        )
    for value in values:
        if check.is_token(value):  # a brought client's id, known at deploy time
            continue
        if not isinstance(value, str) or not _CLIENT.match(value):
            raise ValueError(
                "QuarantinePlan.never_quarantine holds client names or Cognito client ids "
                f"(1-128 letters, digits, '_', '+' or '-'), got {value!r} in {list(values)!r}"
            )
    if len(set(values)) != len(values):
        raise ValueError(f"QuarantinePlan.never_quarantine names a client twice: {list(values)!r}")
    return tuple(values)

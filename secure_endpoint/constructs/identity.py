"""OAuth 2.0 client-credentials identity: a Cognito user pool, its scopes and one app client per
API client."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Duration, Names, RemovalPolicy, Stack, Token
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from secure_endpoint import compliance
from secure_endpoint.constructs import _validation as check
from secure_endpoint.constructs.options import ApiClient

_RESERVED_IN_DOMAIN = re.compile(r"aws|amazon|cognito")


class OAuthIdentity(Construct):
    """Machine-to-machine OAuth 2.0 for the API.

    A user pool without self sign-up (or the one brought), a resource server with the API's
    scopes, a Cognito domain for the token endpoint, and one confidential app client per
    ``ApiClient`` that may only use the client-credentials grant.

    :param clients: the API's machine clients (at least one, unique names).
    :param user_pool: a pool to use instead of creating one; it must not allow self sign-up.
        Default: - a new pool, retained on stack deletion
    :param user_pool_domain: the domain of a brought pool (required with ``user_pool``): a
        ``UserPoolDomain``, or any ``IUserPoolDomain`` (``UserPoolDomain.from_domain_name``),
        then taken as a Cognito prefix domain unless its name holds a dot (a custom domain).
        Default: - a Cognito domain with a prefix unique to this construct
    :param resource_server_identifier: the prefix of every scope.
        Default: - 'secure-endpoint' in a pool of its own; in a brought pool, which other
        endpoints may share, 'secure-endpoint-' and a suffix unique to this construct

    The app clients and the resource server are created in this construct's scope, never in the
    pool's: a pool brought from another stack is only referred to, so that stack does not come
    to depend on this one, and several endpoints can share one pool.
    :param invoke_scope: the scope every inference method requires. Default: - 'invoke'
    :param access_token_validity: lifetime of an access token, 5 minutes to 1 day.
        Default: - 15 minutes
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        clients: Sequence[ApiClient],
        user_pool: cognito.IUserPool | None = None,
        user_pool_domain: cognito.IUserPoolDomain | None = None,
        resource_server_identifier: str | None = None,
        invoke_scope: str = "invoke",
        access_token_validity: Duration | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        check.unique_names("clients", [c.name for c in clients])
        check.scope_name("invoke_scope", invoke_scope)
        validity = access_token_validity or Duration.minutes(15)
        check.int_range("access_token_validity (minutes)", int(validity.to_minutes()), 5, 1440)
        if (user_pool is None) != (user_pool_domain is None):
            raise ValueError(
                "user_pool and user_pool_domain go together: a brought pool needs its domain for "
                f"the token endpoint (got user_pool={user_pool!r}, "
                f"user_pool_domain={user_pool_domain!r})"
            )
        scope_names = {invoke_scope, *(s for c in clients for s in c.scopes)}
        if resource_server_identifier is None:
            resource_server_identifier = (
                "secure-endpoint" if user_pool is None else self._shared_pool_identifier()
            )

        self._own_pool = user_pool is None
        self.user_pool: cognito.IUserPool = user_pool or self._create_user_pool()
        self.resource_server = cognito.UserPoolResourceServer(
            self,
            "ResourceServer",
            user_pool=self.user_pool,
            identifier=resource_server_identifier,
            scopes=[self._scope(name) for name in sorted(scope_names)],
        )
        self.domain: cognito.IUserPoolDomain = user_pool_domain or cognito.UserPoolDomain(
            self,
            "Domain",
            user_pool=self.user_pool,
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=self._domain_prefix()),
        )
        self.resource_server_identifier = resource_server_identifier
        self.invoke_scope = f"{resource_server_identifier}/{invoke_scope}"
        self.token_url = f"{_base_url(self, self.domain)}/oauth2/token"
        self.app_clients: dict[str, cognito.UserPoolClient] = {
            client.name: self._create_app_client(client, invoke_scope, validity)
            for client in clients
        }

    def scopes_of(self, client: ApiClient) -> list[str]:
        """The full scope names (``identifier/name``) that ``client`` may request."""
        names = client.scopes or (self.invoke_scope.split("/", 1)[1],)
        return [f"{self.resource_server_identifier}/{n}" for n in names]

    def _create_user_pool(self) -> cognito.UserPool:
        return MachineUserPool(self, "UserPool")

    def _domain_prefix(self) -> str:
        """A Cognito domain prefix unique to this construct (Cognito prefixes are global)."""
        raw = Names.unique_resource_name(self, max_length=50, separator="-").lower()
        prefix = _RESERVED_IN_DOMAIN.sub("x", re.sub(r"[^a-z0-9-]", "-", raw)).strip("-")
        return prefix

    def _shared_pool_identifier(self) -> str:
        """A resource server identifier unique to this construct: a pool's identifiers must be
        unique, and a brought pool may serve several endpoints."""
        suffix = Names.unique_resource_name(self, max_length=200, separator="-").lower()
        return f"secure-endpoint-{suffix}"

    def _create_app_client(
        self, client: ApiClient, invoke_scope: str, validity: Duration
    ) -> cognito.UserPoolClient:
        names = client.scopes or (invoke_scope,)
        # The pool's own clients stay its children (their construct ids, and so their client
        # ids, are kept); a brought pool's are this construct's: created in the pool's scope
        # they would land in the pool's stack, which would then depend on this one.
        return cognito.UserPoolClient(
            self.user_pool if self._own_pool else self,  # type: ignore[arg-type]
            f"{client.name}Client",
            user_pool=self.user_pool,
            user_pool_client_name=client.name,
            generate_secret=True,
            auth_flows=cognito.AuthFlow(),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(client_credentials=True),
                scopes=[
                    cognito.OAuthScope.resource_server(self.resource_server, self._scope(n))
                    for n in names
                ],
            ),
            access_token_validity=validity,
            id_token_validity=validity,
            refresh_token_validity=Duration.minutes(60),
            enable_token_revocation=True,
            prevent_user_existence_errors=True,
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
        )

    def _scope(self, name: str) -> cognito.ResourceServerScope:
        return cognito.ResourceServerScope(scope_name=name, scope_description=f"{name} the model")


class MachineUserPool(cognito.UserPool):
    """A user pool for machine clients only, hardened as ``SecureEndpoint`` creates its own.

    No self sign-up and no account recovery; MFA (OTP) and a 16-character password policy in
    case a user is ever added; deletion protection, retained on stack deletion. Build it in a
    shared stack to give several endpoints one pool (``user_pool=``, with its domain as
    ``user_pool_domain=``): examples/multi_stack does.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(
            scope,
            construct_id,
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(username=True),
            account_recovery=cognito.AccountRecovery.NONE,
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=16,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
                temp_password_validity=Duration.days(1),
            ),
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        compliance.acknowledge(
            self,
            "Threat protection scores interactive user sign-ins; this pool has no users (self "
            "sign-up off, client-credentials app clients only), so there is nothing for it to "
            "score and the Plus plan it needs would only add cost.",
            "AwsSolutions-COG8",
        )


def _base_url(scope: Construct, domain: cognito.IUserPoolDomain) -> str:
    """The https origin of ``domain``: a ``UserPoolDomain`` knows it; another
    ``IUserPoolDomain`` is a Cognito prefix domain unless its name holds a dot."""
    if isinstance(domain, cognito.UserPoolDomain):
        return domain.base_url()
    name = domain.domain_name
    if not Token.is_unresolved(name) and "." in name:
        return f"https://{name}"
    return f"https://{name}.auth.{Stack.of(scope).region}.amazoncognito.com"

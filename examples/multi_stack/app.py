#!/usr/bin/env python3
"""Several endpoints next to a platform team's own resources.

- ``SharedStack``: what a platform owns once for many services: a VPC with isolated subnets, a
  KMS key whose policy lets endpoints of other stacks use it, and a Cognito user pool with its
  domain (the token URL).
- ``ModelsStack``: two ``SecureEndpoint``s (two models) on the shared VPC, key and pool. Each
  writes its own manifest output (``secure-endpoint block --stack Models --endpoint Churn``).
- ``StandaloneStack``: environment-agnostic (no account or region), one endpoint that creates
  its own key, pool and VPC.

Every cdk-nag pack of the library checks all three at synth.

    pip install secure-endpoint
    cdk synth -c model_data_url=s3://<bucket>/model.tar.gz -c model_sha256=<64 hex>
"""

from __future__ import annotations

from typing import Any

from aws_cdk import App, Environment, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from constructs import Construct

from secure_endpoint import (
    ApiClient,
    EncryptionKey,
    HostingOptions,
    IsolatedNetwork,
    MachineUserPool,
    SecureEndpoint,
    compliance,
)

# Placeholders that synthesize; pass your model's with -c (or write them here).
MODEL_DATA_URL = "s3://my-models/churn/model.tar.gz"
MODEL_SHA256 = "0" * 64
SKLEARN = HostingOptions(framework="sklearn", framework_version="1.2-1")
# Cognito domain prefixes are global: pick your own.
DOMAIN_PREFIX = "example-platform-models"


class SharedStack(Stack):
    """The platform's VPC, key and user pool, for endpoints in other stacks."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # The key's policy is written here, by its owner: endpoints of other stacks grant their
        # roles in their own policies and need these service statements (docs/bring-your-own.md).
        self.key: kms.IKey = EncryptionKey(self, "Key", for_other_stacks=True).key
        # Isolated subnets with flow logs; the endpoints add the VPC endpoints they need.
        self.vpc: ec2.IVpc = IsolatedNetwork(self, "Network", key=self.key).vpc
        # No users, no sign-up, MFA and deletion protection: the pool SecureEndpoint would
        # create, here shared by the endpoints of other stacks.
        self.user_pool = MachineUserPool(self, "Machines")
        self.domain = self.user_pool.add_domain(
            "Domain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=DOMAIN_PREFIX)
        )


class ModelsStack(Stack):
    """Two models, each behind its own SecureEndpoint, on the shared resources."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        shared: SharedStack,
        model_data_url: str,
        model_sha256: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        brought: dict[str, Any] = {
            "vpc": shared.vpc,
            "encryption_key": shared.key,
            "user_pool": shared.user_pool,
            # The domain by its name, not shared.domain: its token URL goes into the stack's
            # outputs, which should not re-export the shared stack's export (cfn-lint W6001).
            "user_pool_domain": cognito.UserPoolDomain.from_domain_name(
                self, "MachinesDomain", DOMAIN_PREFIX
            ),
        }
        self.churn = SecureEndpoint(
            self,
            "Churn",
            model_data_url=model_data_url,
            model_sha256=model_sha256,
            hosting=SKLEARN,
            clients=[ApiClient("crm", rate_limit=50, burst_limit=100, quota_per_day=100_000)],
            add_vpc_endpoints=True,  # once per VPC: the second endpoint finds them
            **brought,
        )
        self.fraud = SecureEndpoint(
            self,
            "Fraud",
            model_data_url=model_data_url,
            model_sha256=model_sha256,
            hosting=SKLEARN,
            clients=[ApiClient("payments", rate_limit=20, burst_limit=40, quota_per_day=50_000)],
            add_vpc_endpoints=True,
            **brought,
        )


class StandaloneStack(Stack):
    """One endpoint that creates everything it needs; no account or region given."""

    def __init__(
        self, scope: Construct, construct_id: str, *, model_data_url: str, model_sha256: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.endpoint = SecureEndpoint(
            self,
            "Endpoint",
            model_data_url=model_data_url,
            model_sha256=model_sha256,
            hosting=SKLEARN,
            clients=[ApiClient("partner-a", rate_limit=50, burst_limit=100, quota_per_day=100_000)],
        )


def build(app: App) -> tuple[SharedStack, ModelsStack, StandaloneStack]:
    """The example's three stacks in ``app`` (the tests build them the same way)."""
    model_data_url = str(app.node.try_get_context("model_data_url") or MODEL_DATA_URL)
    model_sha256 = str(app.node.try_get_context("model_sha256") or MODEL_SHA256)
    # A region of your own (-c region=...). An account too, in a real app (-c account=...): CDK
    # then looks the Availability Zones up and writes them into the templates.
    account = app.node.try_get_context("account")
    env = Environment(
        account=str(account) if account else None,
        region=str(app.node.try_get_context("region") or "eu-west-1"),
    )
    shared = SharedStack(app, "Shared", env=env)
    models = ModelsStack(
        app,
        "Models",
        shared=shared,
        model_data_url=model_data_url,
        model_sha256=model_sha256,
        env=env,
    )
    standalone = StandaloneStack(
        app, "Standalone", model_data_url=model_data_url, model_sha256=model_sha256
    )
    return shared, models, standalone


def main() -> None:
    app = App()
    build(app)
    compliance.add_packs(app)
    app.synth()


if __name__ == "__main__":
    main()

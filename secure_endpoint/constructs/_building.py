"""Private builders for the parts every construct of this library makes the same way.

Buckets (encrypted with the project key, TLS only, private, versioned, with an SSE-S3 bucket of
their server access logs), the hardened Lambda function (its role, dead-letter queue, key grant
and invoke-config acknowledgement) and key-policy statements for AWS services. Each builder
creates its resources in the caller's scope under the id it is given, so construct paths (and
logical ids) are the caller's own; each acknowledgement stays on its one resource, with a reason
that names its owner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Annotations, Aws, CfnResource, Duration, Names, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from secure_endpoint import compliance
from secure_endpoint.constructs._iam import ManagedPolicyRole
from secure_endpoint.constructs.bundling import RUNTIME

_DEAD_LETTER_RETENTION = Duration.days(14)
UNRESERVED_MINIMUM = 100
"""What Lambda keeps of an account's concurrency for functions without a reservation."""
_VPC_ACCESS_POLICY = "service-role/AWSLambdaVPCAccessExecutionRole"
SERVICE_NAME_MAX = 96
"""The longest Powertools service name ``service_name`` builds: well within the 255 characters
CloudFormation allows an alarm's or anomaly detector's dimension value (CloudWatch takes 1,024),
and short enough to read in a dashboard, a log line and the function's 4 KB environment."""

# --- buckets ---------------------------------------------------------------------------------


def access_log_bucket(scope: Construct, construct_id: str, *, expiration: Duration) -> s3.Bucket:
    """The bucket of another bucket's server access logs: SSE-S3, TLS 1.2 only, private,
    owner-enforced, versioned, objects expired after ``expiration`` (old versions and
    incomplete uploads after a day). Acknowledges, on this bucket only, the KMS default
    encryption rules: S3 delivers access logs only to SSE-S3 buckets."""
    bucket = s3.Bucket(
        scope,
        construct_id,
        # S3 delivers server access logs only to buckets whose default encryption is SSE-S3.
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=True,
        lifecycle_rules=[expiring_versions(expiration)],
    )
    compliance.acknowledge(
        bucket,
        "S3 delivers server access logs only to target buckets whose default encryption "
        "is SSE-S3 (AES-256); SSE-KMS default encryption is not supported for log "
        "delivery, so this access-log bucket is encrypted with S3-managed keys.",
        "HIPAA.Security-S3DefaultEncryptionKMS",
        "NIST.800.53.R5-S3DefaultEncryptionKMS",
        "PCI.DSS.321-S3DefaultEncryptionKMS",
    )
    return bucket


def encrypted_bucket(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    access_logs: s3.IBucket,
    access_logs_prefix: str,
    lifecycle_rules: list[s3.LifecycleRule],
    object_ownership: s3.ObjectOwnership = s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
) -> s3.Bucket:
    """A bucket encrypted with ``key`` (bucket key on), TLS 1.2 only, private, versioned, its
    server access logs in ``access_logs`` under ``access_logs_prefix``.

    :param object_ownership: Default: - BUCKET_OWNER_ENFORCED (ACLs off)
    """
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=object_ownership,
        versioned=True,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=access_logs_prefix,
        lifecycle_rules=lifecycle_rules,
    )


def expiring_versions(expiration: Duration) -> s3.LifecycleRule:
    """Objects expire after ``expiration``; old versions and incomplete uploads after a day."""
    return s3.LifecycleRule(
        expiration=expiration,
        noncurrent_version_expiration=Duration.days(1),
        abort_incomplete_multipart_upload_after=Duration.days(1),
    )


def acknowledge_no_replication(bucket: s3.IBucket, reason: str) -> None:
    """Acknowledge the replication rules on ``bucket`` alone: ``reason`` says why its data
    needs no copy in a second Region."""
    compliance.acknowledge(
        bucket,
        reason,
        "HIPAA.Security-S3BucketReplicationEnabled",
        "NIST.800.53.R5-S3BucketReplicationEnabled",
        "PCI.DSS.321-S3BucketReplicationEnabled",
    )


# --- the hardened Lambda function --------------------------------------------------------------


def lambda_role(
    scope: Construct, construct_id: str, *, description: str, in_vpc: bool = False
) -> ManagedPolicyRole:
    """A Lambda execution role whose grants go to a managed policy.

    :param in_vpc: attach AWSLambdaVPCAccessExecutionRole (the network-interface actions a
        function in a VPC needs) and acknowledge its wildcard on this role. Default: - False
    """
    role = ManagedPolicyRole(
        scope,
        construct_id,
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=description,
        managed_policies=(
            [iam.ManagedPolicy.from_aws_managed_policy_name(_VPC_ACCESS_POLICY)] if in_vpc else None
        ),
    )
    if in_vpc:
        compliance.acknowledge(
            role,
            "AWSLambdaVPCAccessExecutionRole grants only the EC2 network-interface actions a "
            "Lambda needs to run in the VPC; those actions do not support resource-level "
            "scoping, so a customer policy would hold the same wildcard.",
            f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{_VPC_ACCESS_POLICY}]",
        )
    return role


def dead_letter_queue(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    owner: str,
    failures: str = "runs",
) -> sqs.Queue:
    """A function's dead-letter queue: encrypted with ``key``, TLS only, kept 14 days.

    Acknowledges, on this queue, that it has no redrive policy of its own.

    :param owner: what the queue collects failures of, as the reason names it
        ('the anomaly monitor').
    :param failures: what fails, in the plural. Default: - 'runs'
    """
    queue = sqs.Queue(
        scope,
        construct_id,
        retention_period=_DEAD_LETTER_RETENTION,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
    )
    compliance.acknowledge(
        queue,
        f"This queue is itself the dead-letter queue of {owner}: a redrive policy would only "
        f"move the same failed {failures} to yet another queue.",
        "Serverless-SQSRedrivePolicy",
    )
    return queue


def allow_dead_letter_sends(key: kms.IKey, role: iam.IRole) -> None:
    """Let ``role`` encrypt messages with ``key``: Lambda sends failed events to the dead-letter
    queue with the function's role, and SQS (like SNS for an encrypted topic) needs a data key
    of the queue's key for each one. These two actions, not a CDK grant's GenerateDataKey*."""
    key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")


def service_name(owner: Construct, kind: str) -> str:
    """A Powertools service name for a function of ``owner``: ``<kind>-<owner's path>-<hash>``,
    like ``anomaly-monitor-Models-Churn-AnomalyMonitor-BB2632A9``.

    The function gets it as ``POWERTOOLS_SERVICE_NAME``, and it is the ``service`` dimension
    of everything it publishes, so the owner's metrics, alarms and anomaly detectors must use
    it too. It is unique per owner in an account and Region (the path, stack name included, and
    its hash: two endpoints never mix their metrics or share an anomaly detector) and stable
    across synths (renaming the stack or a construct on the path renames the metrics); at most
    ``SERVICE_NAME_MAX`` characters, ASCII letters, digits and '-'.
    """
    suffix = Names.unique_resource_name(
        owner, max_length=SERVICE_NAME_MAX - len(kind) - 1, separator="-"
    )
    return f"{kind}-{suffix}"


def hardened_function(
    scope: Construct,
    construct_id: str,
    *,
    package: str,
    code: lambda_.Code,
    description: str,
    role: iam.IRole,
    key: kms.IKey,
    log_group: logs.ILogGroup,
    dead_letter_queue: sqs.IQueue,
    memory_size: int,
    timeout: Duration,
    environment: Mapping[str, str],
    reserved_concurrent_executions: int | None = None,
    runtime: lambda_.Runtime = RUNTIME,
    **options: Any,
) -> lambda_.Function:
    """A function of ``package`` (handler ``<package>.handler.handler``) on ``RUNTIME``: pinned
    memory and timeout, X-Ray, a dead-letter queue, its environment
    encrypted with ``key``, its own log group. ``options`` are further ``lambda_.Function``
    properties (VPC, retries).

    :param reserved_concurrent_executions: the function's reserved concurrency (the account must
        keep 100 unreserved). Default: - none; the account's unreserved pool
    :param runtime: Default: - ``bundling.RUNTIME``
    """
    function = lambda_.Function(
        scope,
        construct_id,
        description=description,
        runtime=runtime,
        handler=f"{package}.handler.handler",
        code=code,
        role=role,
        memory_size=memory_size,
        timeout=timeout,
        tracing=lambda_.Tracing.ACTIVE,
        reserved_concurrent_executions=reserved_concurrent_executions,
        dead_letter_queue=dead_letter_queue,
        environment=dict(environment),
        environment_encryption=key,
        log_group=log_group,
        **options,
    )
    if reserved_concurrent_executions is None:
        compliance.acknowledge(
            function,
            f"{description}: reserved concurrency is opt-in (reserved_concurrency=True). Lambda "
            f"keeps {UNRESERVED_MINIMUM} of an account's concurrency unreserved, so any "
            "reservation fails function creation in accounts whose quota is still 10; without "
            "one the function shares the unreserved pool, invoked only by its own trigger.",
            "HIPAA.Security-LambdaConcurrency",
            "NIST.800.53.R5-LambdaConcurrency",
        )
    return function


@dataclass(frozen=True)
class ScheduledFunction:
    """What ``scheduled_function_in_vpc`` builds."""

    log_group: logs.LogGroup
    dead_letter_queue: sqs.Queue
    role: ManagedPolicyRole
    security_group: ec2.SecurityGroup
    function: lambda_.Function
    rule: events.Rule


def scheduled_function_in_vpc(
    scope: Construct,
    *,
    name: str,
    key: kms.IKey,
    vpc: ec2.IVpc,
    vpc_subnets: ec2.SubnetSelection,
    log_retention: logs.RetentionDays,
    schedule: Duration,
    **function: Any,
) -> ScheduledFunction:
    """A hardened function in ``vpc_subnets`` run every ``schedule``, under ``scope``: its log
    group (``Logs``), dead-letter queue (``DeadLetters``), role (``Role``, VPC access), a security
    group with no inbound and HTTPS out only (``SecurityGroup``: the subnets have no internet
    route, so what it reaches is S3 through the gateway endpoint), the function (``Function``:
    one retry, runs older than the schedule dropped, the next one does their work) and its
    schedule (``Schedule``: two retries, then the dead-letter queue).

    :param name: what it is, as descriptions and reasons name it ('drift monitor').
    :param function: the rest of ``hardened_function``'s properties (package, code,
        description, runtime, memory_size, timeout, environment, ...).
    """
    log_group = logs.LogGroup(scope, "Logs", encryption_key=key, retention=log_retention)
    queue = dead_letter_queue(scope, "DeadLetters", key=key, owner=f"the {name}")
    role = lambda_role(scope, "Role", description=f"Runs the secure-endpoint {name}", in_vpc=True)
    group = ec2.SecurityGroup(
        scope,
        "SecurityGroup",
        vpc=vpc,
        description=f"{name[0].upper()}{name[1:]}: no inbound; HTTPS out to the S3 gateway "
        "endpoint",
        allow_all_outbound=False,
    )
    # S3's gateway endpoint is addressed by the service's public ranges; the subnets have no
    # internet route, so S3 (through the gateway endpoint) is all this reaches.
    group.add_egress_rule(
        ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to the S3 gateway endpoint"
    )
    max_age = Duration.seconds(schedule.to_seconds())
    made = hardened_function(
        scope,
        "Function",
        role=role,
        key=key,
        log_group=log_group,
        dead_letter_queue=queue,
        vpc=vpc,
        vpc_subnets=vpc_subnets,
        security_groups=[group],
        retry_attempts=1,
        max_event_age=max_age,
        **function,
    )
    rule = events.Rule(
        scope,
        "Schedule",
        description=f"Runs the secure-endpoint {name}",
        schedule=events.Schedule.rate(schedule),
        targets=[
            targets.LambdaFunction(
                made, dead_letter_queue=queue, retry_attempts=2, max_event_age=max_age
            )
        ],
    )
    return ScheduledFunction(log_group, queue, role, group, made, rule)


def note_reservations(scope: Construct) -> int:
    """Sum the reserved concurrency of every function under ``scope`` and say, as an info
    annotation on ``scope``, the account concurrency quota a deploy then needs: Lambda refuses a
    reservation that leaves fewer than ``UNRESERVED_MINIMUM`` executions unreserved."""
    total = 0
    for child in scope.node.find_all():
        if isinstance(child, lambda_.CfnFunction):
            reserved = child.reserved_concurrent_executions
            if isinstance(reserved, int):
                total += reserved
    Annotations.of(scope).add_info(
        f"reserved_concurrency reserves {total} concurrent executions. Lambda keeps "
        f"{UNRESERVED_MINIMUM} of the account's concurrency unreserved, so this Region's "
        f"'Concurrent executions' quota must be at least {UNRESERVED_MINIMUM + total} plus "
        "what other functions reserve (new accounts may start at 10; raise it in Service Quotas "
        "before deploying)."
    )
    return total


@dataclass(frozen=True)
class RequestResponder:
    """What ``request_responder`` builds."""

    topic: sns.Topic
    log_group: logs.LogGroup
    dead_letter_queue: sqs.Queue
    role: ManagedPolicyRole
    function: lambda_.Function
    subscription: sns.Subscription
    service_name: str


def request_responder(
    scope: Construct,
    *,
    package: str,
    code: lambda_.Code,
    service: str,
    owner: str,
    action: str,
    requester: iam.IRole,
    key: kms.IKey,
    alert_topic: sns.ITopic,
    api_keys: Mapping[str, apigw.IApiKey],
    app_clients: Mapping[str, cognito.IUserPoolClient],
    topic_name: str,
    role_description: str,
    function_description: str,
    outside_vpc: str,
    traced: str,
    environment: Mapping[str, str],
    log_retention: logs.RetentionDays,
    reserved_concurrency: bool,
    memory_size: int,
    timeout: Duration,
) -> RequestResponder:
    """A topic of requests that only ``requester`` may publish (KMS, TLS only) and the hardened
    function, outside any VPC, subscribed to the requests whose ``action`` attribute is
    ``action``, under ``scope``: ``Requests``, ``Logs``, ``DeadLetters``, ``Role`` (which may
    publish to ``alert_topic``), ``Function``. For the parts that act on API Gateway's management
    API, which has no VPC endpoint, for a monitor inside the isolated VPC. The caller adds its
    own grants to ``role``; the function depends on them all.

    :param service: the start of the Powertools service name (``service_name``), the
        function's ``POWERTOOLS_SERVICE_NAME``.
    :param owner: what the dead-letter queue collects failures of ('the quarantine responder').
    :param api_keys: each client's API key, by client name.
    :param app_clients: each client's Cognito app client, by the same names: the function
        gets each one's name and API key id by client id (``API_KEY_CLIENTS``).
    :param topic_name: the request topic's display name.
    :param outside_vpc: why the function runs outside the VPC (the LambdaInsideVPC
        acknowledgements' reason).
    :param traced: what the role's statements name besides X-Ray's wildcard (in the IAM5
        acknowledgement's reason).
    :param environment: the function's further variables.
    """
    stack = Stack.of(scope)
    topic = sns.Topic(scope, "Requests", display_name=topic_name, master_key=key, enforce_ssl=True)
    # only the requester asks: a grant on another principal cannot open the topic to it
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="OnlyTheMonitorRequests",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={"ArnNotEquals": {"aws:PrincipalArn": requester.role_arn}},
        )
    )
    # the requester already may use the key (GenerateDataKey, Decrypt) for its own queue
    iam.Grant.add_to_principal(
        grantee=requester, actions=["sns:Publish"], resource_arns=[topic.topic_arn]
    )
    log_group = logs.LogGroup(scope, "Logs", encryption_key=key, retention=log_retention)
    queue = dead_letter_queue(scope, "DeadLetters", key=key, owner=owner, failures="requests")
    role = lambda_role(scope, "Role", description=role_description)
    log_group.grant_write(role)
    # the same two actions let SNS take a data key for the encrypted alert topic
    allow_dead_letter_sends(key, role)
    iam.Grant.add_to_principal(
        grantee=role, actions=["sns:Publish"], resource_arns=[alert_topic.topic_arn]
    )
    name = service_name(scope, service)
    function = hardened_function(
        scope,
        "Function",
        package=package,
        code=code,
        description=function_description,
        role=role,
        key=key,
        log_group=log_group,
        dead_letter_queue=queue,
        reserved_concurrent_executions=1 if reserved_concurrency else None,
        memory_size=memory_size,
        timeout=timeout,
        # requests are idempotent: retried twice, then left in the dead-letter queue; one
        # older than the monitor's next hour is dropped there
        retry_attempts=2,
        max_event_age=Duration.hours(1),
        environment={
            "API_KEY_CLIENTS": stack.to_json_string(
                {
                    app_clients[n].user_pool_client_id: {"name": n, "apiKeyId": api_keys[n].key_id}
                    for n in sorted(api_keys)
                }
            ),
            "REQUEST_TOPIC_ARN": topic.topic_arn,
            "ALERT_TOPIC_ARN": alert_topic.topic_arn,
            "POWERTOOLS_SERVICE_NAME": name,
            **environment,
        },
    )
    # a request SNS cannot deliver lands in the same dead-letter queue as a failed run
    subscription = topic.add_subscription(
        subscriptions.LambdaSubscription(
            function,
            filter_policy={"action": sns.SubscriptionFilter.string_filter(allowlist=[action])},
            dead_letter_queue=queue,
        )
    )
    allow_topic_dead_letters(key)
    compliance.acknowledge(
        function,
        outside_vpc,
        "HIPAA.Security-LambdaInsideVPC",
        "NIST.800.53.R5-LambdaInsideVPC",
        "PCI.DSS.321-LambdaInsideVPC",
    )
    acknowledge_invoke_config(function, failure="request")
    compliance.acknowledge(
        role,
        "Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which "
        f"support no resource-level permissions; every other statement names its resource "
        f"({traced}).",
        "AwsSolutions-IAM5[Resource::*]",
    )
    depend_on_grants(function, role)
    return RequestResponder(topic, log_group, queue, role, function, subscription, name)


def acknowledge_invoke_config(function: lambda_.Function, failure: str = "run") -> None:
    """Acknowledge, on ``function``'s EventInvokeConfig, that it has no on-failure destination:
    its dead-letter queue already takes every failed ``failure``. Default failure: - 'run'"""
    invoke_config = function.node.try_find_child("EventInvokeConfig")
    assert invoke_config is not None
    compliance.acknowledge(
        invoke_config,
        f"A failed {failure} already goes to the function's dead-letter queue "
        "(DeadLetterConfig, which the HIPAA, NIST and PCI packs require); an on-failure "
        f"destination to that queue would deliver every failed {failure} twice.",
        "Serverless-LambdaAsyncFailureDestination",
    )


def depend_on_grants(function: lambda_.Function, role: ManagedPolicyRole) -> None:
    """Make ``function`` depend on the managed policy holding ``role``'s grants instead of on
    the role: the role's GetAtt already orders them (cfn-lint W3005); what matters is that the
    grants exist before the function runs."""
    cfn_function = function.node.default_child
    assert isinstance(cfn_function, lambda_.CfnFunction)
    assert role.grants_policy is not None
    grants = role.grants_policy.node.default_child
    assert isinstance(grants, iam.CfnManagedPolicy)
    ids = [Stack.of(function).get_logical_id(grants)]
    setattr(function, _DEPENDS_ON, ids)
    cfn_function.add_override("DependsOn", ids)


# The attribute of a Function naming what ``depend_on_grants`` wrote into its DependsOn.
_DEPENDS_ON = "_secure_endpoint_depends_on"


def depend_on(resource: CfnResource, targets: Sequence[CfnResource]) -> None:
    """Make ``resource`` depend on each of ``targets`` (in its stack), keeping what
    ``depend_on_grants`` wrote (on the L2 function that owns ``resource``): that override
    replaces CDK's DependsOn, so it is rewritten with the targets added."""
    owner = resource.node.scope
    ids: list[str] | None = getattr(owner, _DEPENDS_ON, None)
    if ids is None:
        for target in targets:
            resource.node.add_dependency(target)
        return
    stack = Stack.of(resource)
    ids = ids + [i for i in (stack.get_logical_id(t) for t in targets) if i not in ids]
    setattr(owner, _DEPENDS_ON, ids)
    resource.add_override("DependsOn", ids)


# --- key policies ------------------------------------------------------------------------------


# The attribute of a key naming the statements ``allow_service_to_use_key`` added to it.
_KEY_SIDS = "_secure_endpoint_statement_ids"


def allow_service_to_use_key(
    key: kms.IKey,
    *,
    sid: str,
    service: str,
    actions: list[str],
    conditions: Mapping[str, Any] | None = None,
) -> None:
    """Add a statement ``sid`` to ``key``'s policy that lets the service principal ``service``
    use ``actions`` under ``conditions``, once: a policy's statement ids must be unique, so a
    second call with the same ``sid`` (another part needing the same grant) adds nothing. A
    brought key that cannot take a statement (imported) is left alone; its owner must then
    allow the same."""
    if not isinstance(key, kms.Key):
        return  # an imported key, or another stack's referred to by ARN: its owner allows it
    added: set[str] = getattr(key, _KEY_SIDS, set())
    if sid in added:
        return
    setattr(key, _KEY_SIDS, added | {sid})
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal(service)],
            actions=actions,
            resources=["*"],
            conditions=dict(conditions) if conditions is not None else None,
        ),
        allow_no_op=True,
    )


def allow_dead_letter_deliveries(
    key: kms.IKey, *, sid: str, service: str, account: str, source_arn: str
) -> None:
    """Let ``service`` put what it cannot deliver into dead-letter queues encrypted with ``key``
    (``kms:GenerateDataKey`` and ``kms:Decrypt``), for sources of ``account`` whose ARN is like
    ``source_arn``: statement ``sid`` of the key's policy."""
    allow_service_to_use_key(
        key,
        sid=sid,
        service=service,
        actions=["kms:GenerateDataKey", "kms:Decrypt"],
        conditions={
            "StringEquals": {"aws:SourceAccount": account},
            "ArnLike": {"aws:SourceArn": source_arn},
        },
    )


def allow_topic_dead_letters(key: kms.IKey) -> None:
    """Let SNS topics of this account put the messages they could not deliver into dead-letter
    queues encrypted with ``key``; by pattern: a topic encrypted with the key itself cannot be
    named without making the key depend on it."""
    stack = Stack.of(key)
    allow_dead_letter_deliveries(
        key,
        sid="AllowSnsTopicsOfThisAccountToUseDeadLetterQueues",
        service="sns.amazonaws.com",
        account=stack.account,
        source_arn=stack.format_arn(service="sns", resource="*"),
    )


def allow_rule_dead_letters(key: kms.IKey) -> None:
    """Let EventBridge rules of this account and region put the events they could not deliver
    into dead-letter queues encrypted with ``key``: one statement, however many rules."""
    allow_dead_letter_deliveries(
        key,
        sid="AllowEventBridgeRulesOfThisAccountToUseDeadLetterQueues",
        service="events.amazonaws.com",
        account=Aws.ACCOUNT_ID,
        source_arn=f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:rule/*",
    )

"""Step 2 of the demo: the security loop, in moto inside this process.

1. Creates what the anomaly monitor touches, as ``SecureEndpoint`` deploys it: a KMS key, the
   API's access log group, the monitor's SSE-KMS state bucket (where its model, history and
   alert markers live), the alert topic with an on-call SQS queue subscribed, the WAF auto-block
   IP sets (IPv4, IPv6) and the allowlist IP set, the DynamoDB table of block records.
2. Simulates traffic with ``secure_endpoint.simulate`` (a clean baseline, then a period with seven
   kinds of attack and a legitimate surge; the simulator records which principal did what, when)
   and writes it into the access log group with ``PutLogEvents``.
3. Runs the monitor's real ``run`` (``lambdas/anomaly_monitor/handler.py``) once per 5-minute
   window, in order, and the model fitter's (``lambdas/anomaly_model_fitter/handler.py``) on its
   hourly schedule and once after the monitor's first run (as the runbook says to after the first
   deploy: the monitor's first run decides with the hard rules alone), with their real adapters
   (state store, alert topic, block list with the WAF IP set writers and the DynamoDB table) and
   auto-block on. One boundary is emulated: moto
   cannot run Logs Insights ``stats`` queries, so ``demo.local_insights`` answers the
   monitor's queries over the events read back from the moto log group.
4. After each run reads back what the monitor did: the alerts from the queue, the metrics it
   printed (EMF), the WAF IP sets and the block records. Then it moves the clock past the blocks'
   TTL and runs once more: the blocks expire and the addresses leave the IP sets.

Fake credentials are set in this process's environment only inside the mock, and every client
is made from a session holding them, so nothing can reach a real account.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from demo.console import INDENT, DemoError, Progress, Say, require

if TYPE_CHECKING:
    from demo.local_insights import Reader

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "lambdas"):  # the monitor's package, as its tests import it
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

REGION = "eu-west-1"
WINDOW = 300
SETTLE = 180
"""A scheduled run fires this long after its window ends (the monitor waits 120 s for logs)."""
NAME = "secure-endpoint-demo"
LOG_GROUP = f"/aws/apigateway/{NAME}/access"
LOG_STREAM = "prod"
STATE_BUCKET = f"{NAME}-monitor-state"
TABLE = f"{NAME}-auto-block"
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
"""PutLogEvents' limits: events and bytes per call (each event counts its UTF-8 bytes + 26)."""

NEEDS = (
    ("moto", "the local AWS emulator"),
    ("boto3", "the AWS SDK"),
    ("aws_lambda_powertools", "the monitor's logging and metrics"),
    ("sklearn", "the model fitter's Isolation Forest"),
    ("orjson", "the monitor's log parsing"),
)


@dataclass(frozen=True)
class LoopOptions:
    """How much traffic to simulate and how long blocks last."""

    hours: float = 3.0
    """The evaluated period (attacks happen in it); one monitor run per 5 minutes of it."""
    baseline_hours: float = 3.0
    """Clean history before it, that the first run reads and the model fitter fits on."""
    clients: int = 30
    seed: int = 7
    block_ttl_seconds: int = 7200
    """Longer than the construct's default (1 h), so that some blocks end inside the loop and
    others only when the clock is moved past the TTL at the end."""

    def __post_init__(self) -> None:
        for name in ("hours", "baseline_hours"):
            seconds = getattr(self, name) * 3600
            if seconds < WINDOW or seconds % WINDOW:
                raise ValueError(
                    f"{name} must be whole 5-minute windows, got {getattr(self, name)}"
                )
        if self.block_ttl_seconds % WINDOW:
            raise ValueError("block_ttl_seconds must be whole 5-minute windows")
        if self.hours + self.baseline_hours > 12 * 24:
            raise ValueError("CloudWatch Logs takes events of the last 14 days only")


QUICK = LoopOptions(hours=1.0, baseline_hours=2.0, clients=12)
"""Small traffic for the tests (``--quick``)."""


@dataclass(frozen=True)
class RunRecord:
    """One run of the monitor and what could be read back after it."""

    window_end: int
    now: int
    result: dict[str, Any]
    metrics: list[dict[str, Any]]
    client_scores: dict[str, float]
    alerts: list[dict[str, Any]]
    ip_sets: dict[int, list[str]]
    records: list[dict[str, Any]]
    seconds: float
    output: str
    """What the monitor printed: its JSON log lines and EMF metric documents."""

    @property
    def blocked(self) -> list[str]:
        return sorted(self.ip_sets[4] + self.ip_sets[6])


@dataclass(frozen=True)
class ModelInfo:
    key: str
    sha256: str
    size: int
    trained_on: str
    training_rows: tuple[int, int]
    thresholds: tuple[float, float]


@dataclass
class LoopResult:
    """Everything the report needs: the traffic and its truth, and every run."""

    options: LoopOptions
    truth: Any  # secure_endpoint.simulate.traffic.Truth
    log: Any  # benchmarks.detection.Log of the evaluated period
    baseline_log: Any  # and of the baseline
    allowlist: tuple[str, ...]
    allowlisted_attacker: str
    resources: list[tuple[str, str]]
    runs: list[RunRecord] = field(default_factory=list)
    expiry: RunRecord | None = None
    fits: list[dict[str, Any]] = field(default_factory=list)
    """What each run of the model fitter returned."""
    model: ModelInfo | None = None
    log_events: int = 0
    batches: int = 0
    insights_queries: int = 0
    seconds: float = 0.0

    @property
    def evaluated_start(self) -> int:
        return int(self.truth.periods["evaluated"]["start"])

    @property
    def evaluated_end(self) -> int:
        return int(self.truth.periods["evaluated"]["end"])

    def alerts(self) -> list[dict[str, Any]]:
        return [alert for run in self.all_runs() for alert in run.alerts]

    def all_runs(self) -> list[RunRecord]:
        return self.runs + ([self.expiry] if self.expiry is not None else [])

    def ever_blocked(self) -> list[str]:
        return sorted({address for run in self.all_runs() for address in run.blocked})

    def refused(self) -> list[str]:
        return sorted({a for run in self.all_runs() for a in run.result.get("refused", [])})

    def expired(self) -> list[str]:
        return sorted({a for run in self.all_runs() for a in run.result.get("expired", [])})

    def kind_of(self, principal: str) -> str:
        """What the simulator made ``principal`` (an address may come as a CIDR): its attack if
        it attacked, else its legitimate kind; ``unknown`` if the truth does not know it."""
        name = principal.removesuffix("/32").removesuffix("/128")
        kinds = {str(kind) for kind, _, _ in self.truth.segments.get(name, ())}
        attacks = sorted(k for k in kinds if k.startswith("attack:"))
        return attacks[0] if attacks else (sorted(kinds)[0] if kinds else "unknown")

    def console_lines(self) -> list[str]:
        """What the loop did, in a few lines."""
        alerts = self.alerts()
        blocked = self.ever_blocked()
        kinds = Counter(self.kind_of(a).removeprefix("attack:") for a in blocked)
        shown = ", ".join(f"{kind} {n}" for kind, n in kinds.most_common())
        documents = sum(len(run.metrics) for run in self.all_runs())
        scored = max((len(run.client_scores) for run in self.runs), default=0)
        expiry = self.expiry
        released_late = expiry.result.get("expired", []) if expiry is not None else []
        released_early = len(self.expired()) - len(released_late)
        lines = [
            f"monitor: {len(self.runs)} scheduled runs (one per 5-minute window), the real handler "
            "and adapters",
        ]
        if self.model is not None:
            fitted = sum(1 for fit in self.fits if fit["status"] == "fitted")
            lines += [
                f"model: Isolation Forests fitted on the baseline ({self.model.training_rows[0]} "
                f"client, {self.model.training_rows[1]} address windows) by the model fitter",
                f"  ({len(self.fits)} runs, {fitted} fitted; the monitor scores with numpy alone),",
                f"  stored in s3://{STATE_BUCKET}/{self.model.key[:14]}... "
                f"({self.model.size / 1024:.0f} KiB), read back and verified",
            ]
        lines += [
            f"alerts: {len(alerts)} published to SNS, read back from the subscribed queue "
            f"({sum(len(a.get('findings', [])) for a in alerts)} findings)",
            f"metrics: {documents} EMF documents (SecureEndpoint/Anomaly), an AnomalyScore per "
            f"active client each run (up to {scored})",
            f"blocked: {len(blocked)} addresses in the WAF auto-block IP sets ({shown});",
            f"  refused: {', '.join(self.refused()) or 'none'} (allowlisted)",
        ]
        if expiry is not None:
            left = len(expiry.blocked)
            lines += [
                f"TTL expiry: {released_early} blocks ended during the loop; the clock moved "
                f"{self.options.block_ttl_seconds / 3600:g} h past the last window,",
                f"  one more run released {len(released_late)}: {left} left in the IP sets",
            ]
        return lines

    def verdicts(self) -> dict[tuple[int, str], tuple[float, bool]]:
        """The monitor's verdict on each (window, principal) it decided: the run's findings
        (each run decides one window), and the per-client scores it emitted for the rest."""
        out: dict[tuple[int, str], tuple[float, bool]] = {}
        for run in self.runs:
            window = run.window_end - WINDOW
            for client, score in run.client_scores.items():
                out[(window, client)] = (score, False)
            for finding in run.result["anomalous"]:
                out[(int(finding["windowStart"]), finding["principal"])] = (
                    float(finding["score"]),
                    True,
                )
        return out


def run(
    options: LoopOptions, work: Path, say: Say, *, clock: Callable[[], float] = time.time
) -> LoopResult:
    """The whole loop; ``work``: a scratch directory (the simulated traffic files)."""
    require(NEEDS)
    started = time.perf_counter()
    from benchmarks.detection import read_log
    from secure_endpoint.simulate.traffic import EVAL_START, Config, generate

    # the benchmark's own period moved by whole days to end before now (CloudWatch Logs takes
    # events of the last 14 days only): the same traffic, and so the same report, every time
    hours = int(options.hours * 3600)
    days = (int(clock()) - WINDOW - EVAL_START - hours) // 86_400
    start = EVAL_START + days * 86_400
    end = start + hours
    config = Config(
        work / "traffic",
        hours=options.hours,
        baseline_hours=options.baseline_hours,
        clients=options.clients,
        seed=options.seed,
        start=start,
    )
    truth = generate(config)
    log = read_log(config.out / "access.jsonl")
    baseline_log = read_log(config.out / "baseline.jsonl")
    say(
        f"{INDENT}traffic: {options.baseline_hours:g} h of baseline, then {options.hours:g} h with "
        f"attacks; {options.clients} clients, {len(baseline_log.time_ms) + len(log.time_ms):,} "
        f"requests (secure_endpoint.simulate, seed {options.seed})"
    )
    flood = next(a for a in truth.attacks if a["kind"] == "attack:flood")
    insider = str(flood["principals"][0])
    allowlist = (_slash24(insider),)
    say(f"{INDENT}allowlist: {allowlist[0]}, a partner's range; the demo puts one flood address")
    say(f"{INDENT}  ({insider}) inside it: it must be flagged, never blocked")
    with _emulated_aws() as session:
        env = _Environment(session, allowlist, options)
        result = LoopResult(
            options=options,
            truth=truth,
            log=log,
            baseline_log=baseline_log,
            allowlist=allowlist,
            allowlisted_attacker=f"{insider}/32",
            resources=env.resources,
        )
        names = [name for name, _ in env.resources]
        say(f"{INDENT}moto, in this process ({REGION}): created {', '.join(names[:3])},")
        say(f"{INDENT}  {', '.join(names[3:])}")
        result.log_events, result.batches = env.write_logs(
            [config.out / "baseline.jsonl", config.out / "access.jsonl"]
        )
        say(f"{INDENT}Logs Insights is emulated locally: moto cannot run its stats queries, so")
        say(f"{INDENT}  demo.local_insights answers them over the events read from moto")
        ends = list(range(start + WINDOW, end + WINDOW, WINDOW))
        with Progress("monitor runs", len(ends), "windows") as bar:
            for number, window_end in enumerate(ends):
                result.runs.append(env.run(window_end))
                if number == 0 or window_end % 3600 == 0:
                    result.fits.append(env.fit())
                bar.advance()
            later = end + options.block_ttl_seconds + WINDOW
            result.expiry = env.run(later)
        result.model = env.model()
        result.insights_queries = env.insights.queries
    result.seconds = time.perf_counter() - started
    return result


def _slash24(address: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) around ``address``: a partner's range."""
    prefix = 24 if ipaddress.ip_address(address).version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


_AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


@contextlib.contextmanager
def _emulated_aws() -> Iterator[Any]:
    """moto in this process, fake credentials in the environment only meanwhile, and a session
    holding them (no profile, no configuration file is read)."""
    import boto3
    from moto import mock_aws

    saved = {name: os.environ.get(name) for name in _AWS_VARIABLES}
    fake = {
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_SESSION_TOKEN": "demo",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(fake)
    try:
        with mock_aws():
            yield boto3.session.Session(
                aws_access_key_id=fake["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=fake["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=fake["AWS_SESSION_TOKEN"],
                region_name=REGION,
            )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _Environment:
    """The resources in moto, the monitor's adapters over them, and what is read back."""

    def __init__(self, session: Any, allowlist: Sequence[str], options: LoopOptions) -> None:
        from anomaly_model_fitter import handler as fitter
        from anomaly_monitor import handler as monitor
        from anomaly_monitor.adapters import AlertTopic, StateStore, block_list, clients
        from anomaly_monitor.config import Settings

        from demo.local_insights import LocalInsights, log_group_reader

        self.monitor = monitor
        self.fitter = fitter
        self.aws = clients(session)  # the monitor's own clients (its retry configuration)
        self.sqs = session.client("sqs")
        kms = session.client("kms")
        key = kms.create_key(Description=f"{NAME}: logs, state, topic, table")["KeyMetadata"]
        kms.create_alias(AliasName=f"alias/{NAME}", TargetKeyId=key["KeyId"])
        logs = self.aws["logs"]
        logs.create_log_group(logGroupName=LOG_GROUP, kmsKeyId=key["Arn"])
        logs.put_retention_policy(logGroupName=LOG_GROUP, retentionInDays=30)
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=LOG_STREAM)
        s3 = self.aws["s3"]
        s3.create_bucket(
            Bucket=STATE_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        s3.put_bucket_encryption(
            Bucket=STATE_BUCKET,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": key["Arn"],
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
        s3.put_bucket_versioning(Bucket=STATE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        sns = self.aws["sns"]
        self.topic = sns.create_topic(
            Name=f"{NAME}-alerts", Attributes={"KmsMasterKeyId": key["Arn"]}
        )["TopicArn"]
        self.queue = self.sqs.create_queue(QueueName=f"{NAME}-oncall")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(
            TopicArn=self.topic,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        waf = self.aws["wafv2"]
        self.sets: dict[int, tuple[str, str, str]] = {}
        for version in (4, 6):
            summary = waf.create_ip_set(
                Name=f"{NAME}-auto-block-v{version}",
                Scope="REGIONAL",
                IPAddressVersion=f"IPV{version}",
                Addresses=[],
                Description="addresses the anomaly monitor blocks for a while",
            )["Summary"]
            self.sets[version] = (summary["Name"], summary["Id"], summary["ARN"])
        waf.create_ip_set(
            Name=f"{NAME}-allowlist-v4",
            Scope="REGIONAL",
            IPAddressVersion="IPV4",
            Addresses=list(allowlist),
            Description="never blocked (the monitor gets the same CIDRs as PROTECTED_CIDRS)",
        )
        dynamodb = self.aws["dynamodb"]
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "address", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "address", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key["Arn"]},
        )
        dynamodb.update_time_to_live(
            TableName=TABLE,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "purgeAt"},
        )
        self.resources = [
            ("KMS key", f"alias/{NAME}"),
            ("access log group", LOG_GROUP),
            ("state bucket (SSE-KMS)", STATE_BUCKET),
            ("alert topic", f"{NAME}-alerts"),
            ("on-call queue (subscribed)", f"{NAME}-oncall"),
            ("WAF IP sets", f"{NAME}-auto-block-v4, -v6, -allowlist-v4"),
            ("block table", TABLE),
        ]

        self.now = 0
        self.settings = Settings(
            baseline_seconds=int(options.baseline_hours * 3600),
            auto_block=True,
            block_ttl_seconds=options.block_ttl_seconds,
            top_clients=100,
        )
        self.store = StateStore(s3, STATE_BUCKET)
        self.insights = LocalInsights(_last_range(log_group_reader(logs, LOG_GROUP)))
        self.blocks = block_list(
            dynamodb,
            waf,
            TABLE,
            {version: arn for version, (_, _, arn) in self.sets.items()},
            allowlist,
            self.settings.max_blocks_per_run,
            clock=lambda: float(self.now),
        )
        self.adapters = monitor.Adapters(
            self.store, self.insights, AlertTopic(sns, self.topic, self.store), self.blocks
        )

    def write_logs(self, files: Sequence[Path]) -> tuple[int, int]:
        """Every line of ``files`` as a log event stamped with its request time, in batches
        within PutLogEvents' limits; returns (events, calls)."""
        batches: list[list[dict[str, Any]]] = [[]]
        size = 0
        events = 0
        for path in files:
            with path.open(encoding="utf-8") as lines:
                for text in lines:
                    message = text.rstrip("\n")
                    stamp = int(json.loads(message)["requestTimeEpoch"])
                    cost = len(message.encode()) + EVENT_OVERHEAD
                    if len(batches[-1]) == MAX_BATCH_EVENTS or size + cost > MAX_BATCH_BYTES:
                        batches.append([])
                        size = 0
                    batches[-1].append({"timestamp": stamp, "message": message})
                    size += cost
                    events += 1
        logs = self.aws["logs"]
        with Progress("writing access logs", len(batches), "PutLogEvents calls") as bar:
            for batch in batches:
                response = logs.put_log_events(
                    logGroupName=LOG_GROUP, logStreamName=LOG_STREAM, logEvents=batch
                )
                if "rejectedLogEventsInfo" in response:
                    rejected = response["rejectedLogEventsInfo"]
                    raise DemoError(f"CloudWatch Logs (moto) rejected events: {rejected}")
                bar.advance()
        return events, len(batches)

    def run(self, window_end: int) -> RunRecord:
        """The scheduled run of the window ending at ``window_end``, and what it left. What the
        monitor prints (JSON logs, EMF metrics) is kept, away from the console."""
        self.now = window_end + SETTLE
        started = time.perf_counter()
        buffer = io.StringIO()
        handler = self.monitor.logger.registered_handler
        previous = handler.setStream(buffer)  # type: ignore[attr-defined]
        try:
            with contextlib.redirect_stdout(buffer):
                result = self.monitor.run(float(self.now), self.settings, self.adapters)
                self.monitor.metrics.flush_metrics()
        finally:
            handler.setStream(previous)  # type: ignore[attr-defined]
        seconds = time.perf_counter() - started
        printed = buffer.getvalue()
        documents = [json.loads(line) for line in printed.splitlines() if line.startswith("{")]
        metrics = [d for d in documents if "_aws" in d]
        scores = {d["Client"]: _value(d["AnomalyScore"]) for d in metrics if "Client" in d}
        return RunRecord(
            window_end=window_end,
            now=self.now,
            result=result,
            metrics=metrics,
            client_scores=scores,
            alerts=self._alerts(),
            ip_sets={version: self._addresses(version) for version in self.sets},
            records=[
                {"address": e.address, "expiresAt": e.expires_at, "reason": e.reason}
                for e in self.blocks.blocked(self.now)
            ],
            seconds=seconds,
            output=printed,
        )

    def fit(self) -> dict[str, Any]:
        """The model fitter's scheduled run at the time of the last monitor run (what it prints
        is kept away from the console)."""
        buffer = io.StringIO()
        handler = self.fitter.logger.registered_handler
        previous = handler.setStream(buffer)  # type: ignore[attr-defined]
        try:
            with contextlib.redirect_stdout(buffer):
                result: dict[str, Any] = self.fitter.run(float(self.now), self.settings, self.store)
                self.fitter.metrics.flush_metrics()
        finally:
            handler.setStream(previous)  # type: ignore[attr-defined]
        return result

    def _alerts(self) -> list[dict[str, Any]]:
        """Every message waiting in the on-call queue (the alerts the topic delivered)."""
        out: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                return out
            for message in messages:
                out.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])

    def _addresses(self, version: int) -> list[str]:
        name, set_id, _ = self.sets[version]
        ip_set = self.aws["wafv2"].get_ip_set(Name=name, Scope="REGIONAL", Id=set_id)["IPSet"]
        return sorted(ip_set["Addresses"])

    def model(self) -> ModelInfo | None:
        """The model the fitter stored in the monitor's bucket, read back and verified."""
        from secure_endpoint.runtime.anomaly.features import FEATURES
        from secure_endpoint.runtime.anomaly.scoring import loads

        ref = self.store.model_pointer()
        if not ref:
            return None
        data = self.store.read(ref["key"])
        if data is None:
            return None
        model = loads(data, ref["sha256"], FEATURES)
        return ModelInfo(
            key=ref["key"],
            sha256=ref["sha256"],
            size=len(data),
            trained_on=model.trained_on,
            training_rows=(int(model.training_rows[0]), int(model.training_rows[1])),
            thresholds=(float(model.thresholds[0]), float(model.thresholds[1])),
        )


def _last_range(read: Reader) -> Reader:
    """``read``, answering a range asked again at once from memory: a run asks three queries
    over the same range, and the log group does not change once the runs start."""
    last: list[Any] = [None, []]

    def remembered(start: int, end: int) -> list[bytes | str]:
        if last[0] != (start, end):
            last[:] = [(start, end), list(read(start, end))]
        return list(last[1])

    return remembered


def _value(metric: Any) -> float:
    return float(metric[0] if isinstance(metric, list) else metric)


def scratch() -> tempfile.TemporaryDirectory[str]:
    """A scratch directory for the simulated traffic files (removed afterwards)."""
    return tempfile.TemporaryDirectory(prefix="secure-endpoint-demo-")

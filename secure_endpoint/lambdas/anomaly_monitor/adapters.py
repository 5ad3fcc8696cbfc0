"""The monitor's AWS boundaries: Logs Insights, its state bucket, the alert topic, the block list,
the topic of requests to disable API keys.

Every client is made with botocore's standard retry mode (throttling, 5xx and connection errors
retried with exponential backoff and jitter). Logs Insights also refuses a query when too many
run at once (``LimitExceededException``, which botocore does not retry): ``InsightsRunner``
retries it with its own backoff. WAF writes go through ``IpSetWriter`` (lock tokens, retried on
``WAFOptimisticLockException``). Errors are raised, never swallowed: a failed run reaches the
dead-letter queue and the next run starts over from the last committed state.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from secure_endpoint.runtime.anomaly.insights import result_row
from secure_endpoint.runtime.blocklist import BlockList, BlockTable, dynamodb_client
from secure_endpoint.runtime.waf_ip_sets import IpSetRef, IpSetWriter

CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 8}, connect_timeout=5, read_timeout=20
)
POINTER_KEY = "state/pointer.json"
"""The monitor's commit: the last window processed and the history object. The monitor alone
writes it."""
HISTORY_PREFIX = "state/history/"
MODEL_PREFIX = "model/"
MODEL_POINTER_KEY = "model/current.json"
"""The model fitter's commit: the model object the monitor scores with (key, digest, when it
was fitted, on which settings). The fitter alone writes it and ``model/``."""
ALERT_PREFIX = "alerts/"

Sleep = Callable[[float], None]
Clock = Callable[[], float]


class QueryError(RuntimeError):
    """A Logs Insights query failed, was cancelled, timed out or could not start."""


class InsightsRunner:
    """``insights.RunQuery`` over one log group: StartQuery, then GetQueryResults until done.

    :param client: a boto3 ``logs`` client (``CLIENT_CONFIG``).
    :param log_group: the access log group's name.
    :param deadline_seconds: how long one query may take before it is stopped.
    :param max_start_attempts: tries of StartQuery while Logs Insights is at its concurrency
        limit (``LimitExceededException``), with exponential backoff.
    """

    def __init__(
        self,
        client: Any,
        log_group: str,
        *,
        deadline_seconds: float = 120.0,
        max_start_attempts: int = 6,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        self._client = client
        self._log_group = log_group
        self._deadline = deadline_seconds
        self._attempts = max_start_attempts
        self._sleep = sleep
        self._clock = clock
        self.queries = 0

    def __call__(self, query: str, start: int, end: int) -> Sequence[Mapping[str, str]]:
        query_id = self._start(query, start, end)
        self.queries += 1
        give_up = self._clock() + self._deadline
        wait = 0.25
        while True:
            response = self._client.get_query_results(queryId=query_id)
            status = response["status"]
            if status == "Complete":
                return [result_row(fields) for fields in response.get("results", [])]
            if status in ("Failed", "Cancelled", "Timeout", "Unknown"):
                raise QueryError(f"Logs Insights query {query_id} ended {status}")
            if self._clock() > give_up:
                self._stop(query_id)
                raise QueryError(
                    f"Logs Insights query {query_id} still {status} after {self._deadline:g} s"
                )
            self._sleep(wait)
            wait = min(wait * 2, 5.0)

    def _start(self, query: str, start: int, end: int) -> str:
        wait = 1.0
        for attempt in range(1, self._attempts + 1):
            try:
                response = self._client.start_query(
                    logGroupName=self._log_group,
                    startTime=int(start),
                    endTime=int(end),
                    queryString=query,
                    limit=10_000,
                )
                return str(response["queryId"])
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                if code not in ("LimitExceededException", "ThrottlingException"):
                    raise
                if attempt == self._attempts:
                    raise QueryError(
                        f"Logs Insights refused the query {attempt} times ({code})"
                    ) from error
                self._sleep(wait)
                wait = min(wait * 2, 16.0)
        raise AssertionError("unreachable")

    def _stop(self, query_id: str) -> None:
        # it may have finished meanwhile; the run fails either way
        with contextlib.suppress(ClientError):
            self._client.stop_query(queryId=query_id)


@dataclass(frozen=True)
class Stored:
    """An object read back with the digest the pointer recorded for it."""

    key: str
    sha256: str
    data: bytes


class StateStore:
    """The monitor's bucket. Objects are written under new keys, then a pointer names them:
    the pointer is the commit, so a run that stops before it leaves the previous state whole.
    Two pointers, each with one writer: ``POINTER_KEY`` (the monitor's history) and
    ``MODEL_POINTER_KEY`` (the model fitter's model).

    :param client: a boto3 ``s3`` client (``CLIENT_CONFIG``); SSE-KMS is the bucket's default.
    :param bucket: the bucket's name.
    """

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def pointer(self) -> dict[str, Any] | None:
        return self._json(POINTER_KEY)

    def model_pointer(self) -> dict[str, Any] | None:
        """The fitter's last committed model reference, or None before its first fit."""
        return self._json(MODEL_POINTER_KEY)

    def _json(self, key: str) -> dict[str, Any] | None:
        data = self._get(key)
        if data is None:
            return None
        value = json.loads(data)
        if not isinstance(value, dict):
            raise ValueError(f"s3://{self.bucket}/{key} is not a JSON object")
        return value

    def read(self, key: str) -> bytes | None:
        """An object's bytes, or None when it is gone (expired by the lifecycle rule)."""
        return self._get(key)

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def commit(self, pointer: Mapping[str, Any]) -> None:
        self._put_json(POINTER_KEY, pointer)

    def commit_model(self, pointer: Mapping[str, Any]) -> None:
        """Name a model already written under ``MODEL_PREFIX`` (the model fitter's commit)."""
        self._put_json(MODEL_POINTER_KEY, pointer)

    def _put_json(self, key: str, value: Mapping[str, Any]) -> None:
        self.put(key, json.dumps(value, sort_keys=True, indent=1).encode(), "application/json")

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def _get(self, key: str) -> bytes | None:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return bytes(response["Body"].read())


class AlertTopic:
    """Publishes the run's alert once per window: a marker object records that it went out, so
    a retried run does not repeat it (only a stop between Publish and the marker can)."""

    def __init__(self, client: Any, topic_arn: str, store: StateStore) -> None:
        self._client = client
        self.topic_arn = topic_arn
        self._store = store

    def publish_once(self, window_end: int, subject: str, message: str) -> bool:
        """Whether it published (False: this window's alert went out already)."""
        marker = f"{ALERT_PREFIX}{window_end}.json"
        if self._store.exists(marker):
            return False
        response = self._client.publish(
            TopicArn=self.topic_arn,
            Subject=subject,
            Message=message,
            MessageAttributes={"windowEnd": {"DataType": "Number", "StringValue": str(window_end)}},
        )
        self._store.put(
            marker,
            json.dumps({"messageId": response["MessageId"]}).encode(),
            "application/json",
        )
        return True


class KeyRequestTopic:
    """Requests to disable clients' API keys, one message each, for the responder outside the
    VPC (API Gateway's management API has no VPC endpoint). The message attribute ``action``
    is what the responder's subscription filters on."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self.topic_arn = topic_arn

    def request(self, client_id: str, message: str, action: str) -> str:
        response = self._client.publish(
            TopicArn=self.topic_arn,
            Message=message,
            MessageAttributes={
                "action": {"DataType": "String", "StringValue": action},
                "clientId": {"DataType": "String", "StringValue": client_id},
            },
        )
        return str(response["MessageId"])


def block_list(
    dynamodb: Any,
    wafv2: Any,
    table_name: str,
    set_arns: Mapping[int, str],
    protected: Sequence[str],
    max_per_run: int,
    clock: Clock = time.time,
) -> BlockList:
    """The auto-block list of the endpoint, never writing an address inside ``protected``."""
    writers = {
        version: IpSetWriter(wafv2, IpSetRef.from_arn(arn), protected_networks=tuple(protected))
        for version, arn in set_arns.items()
    }
    return BlockList(
        BlockTable(dynamodb, table_name),
        writers,
        protected_networks=tuple(protected),
        max_per_run=max_per_run,
        clock=clock,
    )


def clients(session: Any) -> dict[str, Any]:
    """The boto3 clients of the monitor, with explicit retries."""
    return {
        "logs": session.client("logs", config=CLIENT_CONFIG),
        "s3": session.client("s3", config=CLIENT_CONFIG),
        "sns": session.client("sns", config=CLIENT_CONFIG),
        "wafv2": session.client("wafv2", config=CLIENT_CONFIG),
        "dynamodb": dynamodb_client(session),
    }

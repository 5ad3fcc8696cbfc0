"""The scheduled drift runs: which capture objects each run reads, and the cursor after it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import boto3
import numpy as np
import pytest
from baseline_dirs import population
from moto import mock_aws
from test_capture_drift import baseline, line  # noqa: F401 (the fixture)

from secure_endpoint.runtime.capture.runs import (
    CaptureObject,
    Cursor,
    advance,
    hour_prefixes,
    plan,
    report_key,
    run,
)
from secure_endpoint.runtime.capture.s3 import S3CaptureStore

ENDPOINT = "capture/churn-endpoint/"
T0 = datetime(2026, 12, 1, 10, tzinfo=UTC).timestamp()


class DictStore:
    """Capture objects in memory: key -> (LastModified, lines)."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[float, list[str]]] = {}
        self.fail_on: str | None = None

    def put(self, hour: int, name: str, modified: float, lines: list[str]) -> str:
        key = f"{ENDPOINT}AllTraffic/2026/12/01/{hour:02d}/{name}.jsonl"
        self.items[key] = (modified, lines)
        return key

    def variants(self, endpoint_prefix: str) -> list[str]:
        return sorted({k[: k.index("/", len(endpoint_prefix)) + 1] for k in self.items})

    def objects(self, prefix: str) -> Iterable[CaptureObject]:
        for key, (modified, lines) in self.items.items():
            if key.startswith(prefix):
                yield CaptureObject(key, modified, sum(len(x) for x in lines))

    def lines(self, key: str) -> Iterator[bytes]:
        if key == self.fail_on:
            raise ConnectionError("S3 went away")
        for text in self.items[key][1]:
            yield text.encode()


def requests(n: int, at: float, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [line(f"c{i % 3}", i, population(rng, 4), at=at + i) for i in range(n)]


def test_a_run_reads_what_arrived_since_the_cursor_oldest_first():
    store = DictStore()
    old = store.put(9, "a", T0 - 600, requests(2, T0 - 700))
    new1 = store.put(10, "b", T0 + 60, requests(2, T0))
    new2 = store.put(10, "c", T0 + 30, requests(2, T0))
    chosen, waiting = plan(store, ENDPOINT, Cursor(T0), T0 + 3600)
    assert [o.key for o in chosen] == [new2, new1]
    assert waiting == 0
    assert old not in [o.key for o in chosen]


def test_an_object_written_late_into_an_old_hour_is_read_by_the_next_run():
    store = DictStore()
    store.put(10, "b", T0 + 60, requests(1, T0))
    cursor = advance(Cursor(T0), plan(store, ENDPOINT, Cursor(T0), T0 + 600)[0])
    late = store.put(8, "late", T0 + 900, requests(1, T0 - 7000))  # key hour 08, stored at 10:15
    chosen, _ = plan(store, ENDPOINT, cursor, T0 + 1200)
    assert [o.key for o in chosen] == [late]
    assert hour_prefixes("v/", T0 + 60, T0 + 1200, 3)[0] == "v/2026/12/01/07/"


def test_a_run_is_bounded_and_never_splits_a_second():
    store = DictStore()
    keys = [store.put(10, f"o{i}", T0 + 10 + (i // 2), requests(3, T0, i)) for i in range(6)]
    size = sum(len(x) for x in store.items[keys[0]][1])
    chosen, waiting = plan(store, ENDPOINT, Cursor(T0), T0 + 600, max_bytes=int(size * 2.5))
    # two objects fit (o0 and o1, both stored at +10); o2 (at +11) waits
    assert [o.key for o in chosen] == keys[:2]
    assert waiting == 4
    cursor = advance(Cursor(T0), chosen)
    assert cursor == Cursor(T0 + 10, frozenset(keys[:2]))
    chosen, _ = plan(store, ENDPOINT, cursor, T0 + 600, max_bytes=int(size * 0.5))
    assert [o.key for o in chosen] == keys[2:4]  # at least one, and its second's twin


def test_the_cursor_round_trips_and_a_broken_one_is_an_error():
    cursor = Cursor(T0 + 5, frozenset({"a", "b"}))
    assert Cursor.from_json(cursor.to_json(), start=0) == cursor
    assert Cursor.from_json(None, start=T0) == Cursor(T0)
    with pytest.raises(ValueError, match="not a version 1 cursor"):
        Cursor.from_json('{"lastModified": 3}', start=0)


def test_a_failed_run_leaves_the_cursor_where_it_was(baseline):  # noqa: F811
    store = DictStore()
    store.put(10, "a", T0 + 10, requests(50, T0))
    store.fail_on = store.put(10, "b", T0 + 20, requests(50, T0))
    cursor = Cursor(T0)
    with pytest.raises(ConnectionError):
        run(store, ENDPOINT, baseline, cursor, T0 + 600)
    store.fail_on = None
    result = run(store, ENDPOINT, baseline, cursor, T0 + 600)  # the same objects, again
    assert result.objects == 2
    assert result.counts.records == 100
    assert result.report.rows == 400
    assert result.cursor.last_modified == T0 + 20
    assert not result.backlog
    assert report_key("drift/reports/", result).startswith("drift/reports/2026-12-01T10:00:20Z")


@mock_aws
def test_the_s3_store_lists_variants_and_streams_lines(baseline):  # noqa: F811
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="capture")
    body = "\n".join(requests(30, T0)) + "\n"
    hour = datetime.now(UTC)  # moto stores objects now: write them in this hour's folder
    for variant in ("AllTraffic", "Shadow"):
        s3.put_object(Bucket="capture", Key=f"{ENDPOINT}{variant}/{hour:%Y/%m/%d/%H}/x.jsonl",
                      Body=body.encode())  # fmt: skip
    store = S3CaptureStore(s3, "capture")
    assert store.variants(ENDPOINT) == [f"{ENDPOINT}AllTraffic/", f"{ENDPOINT}Shadow/"]
    now = hour.timestamp()
    result = run(store, ENDPOINT, baseline, Cursor(now - 3600), now + 60)
    assert result.objects == 2
    assert result.counts.records == 60
    assert json.loads(result.cursor.to_json())["keys"]

"""Drift of captured traffic from a real baseline (built by ``secure-endpoint baseline``), on
capture lines in SageMaker's documented format, with look-alikes that must stay quiet."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from baseline_dirs import build_baseline, population

from secure_endpoint.cli import main
from secure_endpoint.runtime.baseline.store import load_baseline
from secure_endpoint.runtime.capture.drift import (
    Reference,
    References,
    episodes,
    ks_critical,
    shifts,
    windows,
    world_episodes,
)
from secure_endpoint.runtime.capture.records import Counts, parse_line, read_lines

START = datetime(2026, 12, 1, tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return Reference.from_baseline(load_baseline(build_baseline(tmp_path_factory.mktemp("d"))))


def line(client: str, n: int, rows: np.ndarray, *, at: float, encoding: str = "JSON") -> str:
    body = [[round(float(r[0]), 2), int(r[1]), int(r[2]), round(float(r[3]), 4)] for r in rows]
    if encoding == "CSV":
        data = "\n".join(",".join(str(v) for v in row) for row in body)
        kind = "text/csv"
    else:
        data, kind = json.dumps({"instances": body}), "application/json"
    if encoding == "BASE64":
        data = base64.b64encode(data.encode()).decode()
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": kind,
                    "mode": "INPUT",
                    "data": data,
                    "encoding": encoding,
                },
                "endpointOutput": {
                    "observedContentType": "application/json",
                    "mode": "OUTPUT",
                    "data": json.dumps({"predictions": [0.25] * len(body)}),
                    "encoding": "JSON",
                },
            },
            "eventMetadata": {
                "eventId": f"e-{client}-{n}",
                "inferenceId": f"{client}:req-{n}",
                "inferenceTime": datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z"),
            },
            "eventVersion": "0",
        }
    )


def traffic(
    hours: int,
    *,
    seed: int = 7,
    drift_hours: range = range(0),
    shifted_client: str | None = None,
    per_hour: int = 400,
) -> list[str]:
    """Five clients, each request 1-8 rows; in ``drift_hours`` every client's incomes rise by
    half a training std (the world moves); ``shifted_client`` always sends richer rows."""
    rng = np.random.default_rng(seed)
    out = []
    for hour in range(hours):
        for n in range(per_hour):
            client = f"client{n % 5}"
            shift = 12_000.0 if hour in drift_hours else 0.0
            if client == shifted_client:
                shift += 60_000.0
            rows = population(rng, int(rng.integers(1, 9)), income_shift=shift)
            at = START + hour * 3600 + n * 3600 / per_hour
            out.append(line(client, hour * per_hour + n, rows, at=at))
    return out


def run(reference: Reference, lines: list[str]) -> tuple[Counts, list[Any]]:
    counts = Counts()
    return counts, windows(read_lines(lines, counts), reference)


def test_traffic_like_training_raises_no_drift(baseline):
    counts, reports = run(baseline, traffic(6))
    assert counts.unreadable == 0
    assert len(reports) == 6
    assert all(r.judged for r in reports)
    assert [f.name for r in reports for f in r.drifted] == []
    assert list(episodes(reports)) == []


def test_a_moving_world_is_one_episode_naming_the_feature(baseline):
    _, reports = run(baseline, traffic(8, drift_hours=range(3, 6)))
    assert [bool(r.drifted) for r in reports] == [False] * 3 + [True] * 3 + [False] * 2
    (episode,) = episodes(reports)
    assert episode["kind"] == "drift"
    assert episode["client_id"] == "*"
    assert episode["features"] == ["income"]
    assert episode["first_seen"] == "2026-12-01T03:00:00Z"
    assert episode["windows"] == 3
    assert episode["score"] > 0.1
    assert episode["evidence"]["income"]["clients_moved"] == 5  # every client moved: the world


def test_one_client_moving_alone_is_named_as_such(baseline):
    _, reports = run(baseline, traffic(3, shifted_client="client2"))
    drifting = [f for r in reports for f in r.drifted]
    assert {f.name for f in drifting} == {"income"}
    for feature in drifting:
        assert feature.clients_moved == 1
        assert feature.clients[0]["client_id"] == "client2"
        assert feature.clients[0]["row_share"] == pytest.approx(0.2, abs=0.05)


def test_a_small_window_is_not_called_drift_by_noise(baseline):
    # 40 requests in an hour: the KS critical value is far above the 0.1 threshold
    _, reports = run(baseline, traffic(2, per_hour=12, seed=3))
    assert all(not r.drifted for r in reports)
    assert ks_critical(20_000, 60) > 0.2


def test_encodings_give_the_same_rows(baseline):
    rows = population(np.random.default_rng(5), 3)
    parsed = [parse_line(line("c", 1, rows, at=START, encoding=e)).rows
              for e in ("JSON", "CSV", "BASE64")]  # fmt: skip
    assert parsed[0] == parsed[1] == parsed[2]
    capture = parse_line(line("c", 1, rows, at=START))
    assert (capture.client_id, capture.request_id, capture.time) == ("c", "req-1", START)
    assert capture.outputs == [0.25, 0.25, 0.25]


def test_malformed_lines_are_counted_by_reason_and_skipped(baseline):
    good = traffic(1, per_hour=100)
    bad_base64 = json.loads(good[0])
    bad_base64["captureData"]["endpointInput"].update(encoding="BASE64", data="@@not base64@@")
    no_rows = json.loads(good[1])
    no_rows["captureData"]["endpointInput"]["data"] = json.dumps({"instances": []})
    no_time = {"captureData": {}, "eventMetadata": {"inferenceTime": "yesterday"}}
    broken = ['{"captureData": ', "[1, 2]", json.dumps(bad_base64), json.dumps(no_rows)]
    lines = [*good[2:], *broken, json.dumps(no_time)]
    counts, reports = run(baseline, lines)
    assert counts.records == 98
    assert dict(counts.skipped) == {"not-json": 1, "not-a-capture": 1, "bad-base64": 1,
                                    "no-rows": 1, "no-time": 1}  # fmt: skip
    assert sum(r.records for r in reports) == 98


def test_wrong_types_and_widths_become_model_monitor_violations(baseline):
    lines = traffic(1, per_hour=200)
    for n in range(20):  # strings where numbers belong, and short rows
        event = json.loads(lines[n])
        rows = json.loads(event["captureData"]["endpointInput"]["data"])["instances"]
        rows[0][1] = "forty"
        if n % 2:
            rows.append([1.0, 2])
        event["captureData"]["endpointInput"]["data"] = json.dumps({"instances": rows})
        lines[n] = json.dumps(event)
    _, (report,) = run(baseline, lines)
    found = report.violations(baseline)
    checks = {(v["feature_name"], v["constraint_check_type"]) for v in found}
    assert ("age", "data_type_check") in checks
    assert ("*", "missing_column_check") in checks
    for entry in found:
        assert set(entry) == {"feature_name", "constraint_check_type", "description"}


def test_memory_does_not_grow_with_rows(baseline):
    from secure_endpoint.runtime.capture.drift import Window

    window = Window(baseline, START, START + 3600)
    rng = np.random.default_rng(11)
    sizes = []
    for n in range(60):
        for capture in read_lines([line("c", n, population(rng, 500), at=START)], Counts()):
            window.add(capture)
        window.settle()  # sketches what it holds (the reading left the window)
        assert window._buffer.rows < 1_000
        sizes.append(sum(s.retained for s in window._sketches))
    window.report()
    assert window.rows == 30_000
    # the sketches keep a small, slowly (logarithmically) growing share of what they saw
    assert sizes[-1] < 0.2 * 4 * window.rows
    assert max(sizes[30:]) <= 1.3 * max(sizes[:30])
    assert window._buffer.rows == 0
    with pytest.raises(RuntimeError, match="reported"):
        window.add(capture)


def test_inspect_capture_writes_findings_and_violations(baseline, tmp_path):
    capture_dir = tmp_path / "capture" / "endpoint" / "AllTraffic" / "2026" / "12" / "01"
    lines = traffic(6, drift_hours=range(2, 4))
    for hour in range(6):
        folder = capture_dir / f"{hour:02d}"
        folder.mkdir(parents=True)
        (folder / "part.jsonl").write_text("\n".join(lines[hour * 400 : (hour + 1) * 400]) + "\n")
    (capture_dir / "00" / "broken.jsonl").write_text("not json\n")
    baseline_dir = _baseline_dir(tmp_path)
    out = tmp_path / "findings.jsonl"
    code = main(["inspect-capture", "--capture", str(tmp_path / "capture"),
                 "--baseline", str(baseline_dir), "--output", str(out),
                 "--reports", str(tmp_path / "reports"), "--reference-hours", "0"])  # fmt: skip
    assert code == 0
    (finding,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert finding["features"] == ["income"]
    assert finding["first_seen"] == "2026-12-01T02:00:00Z"
    violations = json.loads((tmp_path / "reports" / "2026-12-01T02" / "constraint_violations.json")
                            .read_text())  # fmt: skip
    assert {v["constraint_check_type"] for v in violations["violations"]} == {
        "baseline_drift_check"
    }


def _baseline_dir(tmp_path: Path) -> Path:
    return build_baseline(tmp_path)


def mixed_traffic(hours: int, *, drift_from: int | None = None, seed: int = 9) -> list[str]:
    """Six interactive clients, each with its own sub-population (a fixed income offset), a
    periodic integration re-sending one row, and a batch client with a far richer population at
    hours 3, 9, 15, ...; from ``drift_from`` on, every interactive client's incomes rise by a
    half a training standard deviation (the world moves)."""
    rng = np.random.default_rng(seed)
    fixed = population(rng, 1)
    out, n = [], 0
    for hour in range(hours):
        at = START + hour * 3600
        world = 8_000.0 if drift_from is not None and hour >= drift_from else 0.0
        for client in range(6):
            own = (client - 2.5) * 4_000.0
            for i in range(40):
                rows = population(rng, 3, income_shift=own + world)
                out.append(line(f"user{client}", n, rows, at=at + i * 60 + client))
                n += 1
        for i in range(60):
            out.append(line("periodic", n, fixed + rng.normal(0, 0.001, fixed.shape), at=at + i))
            n += 1
        if hour % 6 == 3:
            for i in range(20):
                rows = population(rng, 50, income_shift=40_000.0)
                out.append(line("batch", n, rows, at=at + 1800 + i))
                n += 1
    return out


def test_judged_client_by_client_a_changing_mix_is_not_drift(baseline):
    _, reports = run(baseline, mixed_traffic(18))
    assert [f.name for r in reports for f in r.drifted]  # against training alone: always drift
    moved = shifts(reports, baseline, 6 * 3600)
    assert [f.name for w in moved for f in w if f.world] == []
    assert list(world_episodes(reports, moved)) == []


def test_judged_client_by_client_the_world_moving_is_one_episode(baseline):
    _, reports = run(baseline, mixed_traffic(18, drift_from=10))
    moved = shifts(reports, baseline, 6 * 3600)
    flagged = [(i, f.name) for i, w in enumerate(moved) for f in w if f.world]
    assert {name for _, name in flagged} == {"income"}
    assert min(i for i, _ in flagged) == 10
    (episode,) = world_episodes(reports, moved)
    assert episode["features"] == ["income"]
    assert episode["first_seen"] == "2026-12-01T10:00:00Z"
    evidence = episode["evidence"]["income"]
    assert evidence["direction"] == "up"
    assert evidence["clients_moved"] >= 5  # the six interactive clients, not the others
    assert evidence["clients_judged"] in (7, 8)  # the batch client judged in its hours only


def test_clients_gone_for_long_are_forgotten_and_learn_anew_when_back(baseline):
    _, reports = run(baseline, traffic(4))
    names = [f.name for f in baseline.features]
    references = References(3600, names, forget_seconds=1.5 * 3600)
    references.learn(reports[0])
    assert set(references.clients) == {f"client{i}" for i in range(5)}
    first = references.clients["client0"]
    two = {name: m for name, m in reports[2].moments.items() if name in ("client0", "client1")}
    references.learn(replace(reports[2], moments=two))  # hour 2: two clients call
    assert set(references.clients) == {"client0", "client1"}  # the others: unseen for 2 hours
    assert references.clients["client0"] == first  # its reference was complete: unchanged
    assert references.seen["client0"] == reports[2].end
    again = References.from_json(references.to_json(), names)
    assert again.seen == references.seen
    assert set(again.clients) == set(references.clients)
    references.learn(reports[3])  # the others come back: each starts a new reference
    assert references.clients["client3"][0] == reports[3].start
    assert references.clients["client0"] == first


def test_past_the_cap_the_least_recently_seen_clients_go_first(baseline):
    _, reports = run(baseline, traffic(1))
    (report,) = reports
    references = References(3600, [f.name for f in baseline.features], max_clients=3)
    for hour, name in enumerate(sorted(report.moments)):
        one = {name: report.moments[name]}
        references.learn(replace(report, moments=one, end=report.end + hour))
    assert sorted(references.clients) == ["client2", "client3", "client4"]
    assert references.forget(report.end + 4) == []


def test_references_saved_before_clients_were_forgotten_still_load(baseline):
    _, reports = run(baseline, traffic(1))
    names = [f.name for f in baseline.features]
    references = References(3600, names)
    references.learn(reports[0])
    document = json.loads(references.to_json())
    for entry in document["clients"].values():
        del entry["seen"]
    loaded = References.from_json(json.dumps(document), names)
    assert loaded.seen == dict.fromkeys(references.clients, reports[0].start)


def test_inspect_capture_reads_the_capture_from_s3(tmp_path, monkeypatch):
    import boto3
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    baseline_dir = _baseline_dir(tmp_path)
    lines = traffic(4, drift_hours=range(2, 4))
    out = tmp_path / "findings.jsonl"
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="capture")
        for hour in range(4):
            body = "\n".join(lines[hour * 400 : (hour + 1) * 400]) + "\n"
            key = f"capture/ep/AllTraffic/2026/12/01/{hour:02d}/part.jsonl"
            s3.put_object(Bucket="capture", Key=key, Body=body.encode())
        code = main(["inspect-capture", "--capture", "s3://capture/capture/ep/",
                     "--baseline", str(baseline_dir), "--output", str(out),
                     "--reference-hours", "0"])  # fmt: skip
    assert code == 0
    (finding,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert finding["features"] == ["income"]
    assert finding["first_seen"] == "2026-12-01T02:00:00Z"

"""The payload-detection benchmark's scoring on a hand-made run: findings against the truth."""

import json

import pytest

from benchmarks.payload_detection import (
    ClientTruth,
    read_truth,
    score,
    summarize,
    volume_baseline,
)

T0 = 1_772_409_600.0  # 2026-03-02T00:00:00Z


def _clients():
    return {
        "ext": ClientTruth("ext", "attack:extraction:marginal", False, "extraction:marginal",
                           [T0 + 60 * i for i in range(100)], [2] * 100),
        "probe": ClientTruth("probe", "attack:probing:hopskipjump", False,
                             "boundary:hopskipjump", [T0 + 3600 + i for i in range(50)], [1] * 50),
        "ood": ClientTruth("ood", "attack:out_of_distribution", False, "ood:onehot",
                           [T0 + 10 * i for i in range(30)], [1] * 30),
        "heavy": ClientTruth("heavy", "legit:heavy", True, None,
                             [T0 + i for i in range(400)], [1] * 400),
        "alice": ClientTruth("alice", "legit:interactive", True, None, [T0, T0 + 5], [3, 4]),
        "bob": ClientTruth("bob", "legit:interactive", True, None, [T0 + 9], [1]),
        "unknown": ClientTruth("unknown", "legit:canary", True, None, [T0 + 300], [1]),
    }  # fmt: skip


FINDINGS = [
    {"client_id": "*", "kind": "drift", "first_seen": "2026-03-02T00:00:00Z"},
    # Found at its 31st request (minute 30): 31 requests of 2 rows sent by then.
    {"client_id": "ext", "kind": "extraction", "first_seen": "2026-03-02T00:30:00Z",
     "score": 9.0, "queries": 62, "evidence": {}},
    {"client_id": "ext", "kind": "out_of_distribution", "first_seen": "2026-03-02T02:00:00Z",
     "score": 4.0, "queries": 200, "evidence": {}},
    # The prober is named with the wrong kind: caught, not of its kind.
    {"client_id": "probe", "kind": "extraction", "first_seen": "2026-03-02T01:00:19Z",
     "score": 5.0, "queries": 20, "evidence": {}},
    {"client_id": "alice", "kind": "membership", "first_seen": "2026-03-02T00:00:05Z",
     "score": 3.0, "queries": 7, "evidence": {}},
    {"client_id": "somebody-else", "kind": "probing", "first_seen": "2026-03-02T00:00:05Z"},
]  # fmt: skip


def test_an_attacker_is_caught_at_its_first_finding_with_the_rows_it_had_sent():
    detections = score(FINDINGS, _clients())
    ext = detections["ext"]
    assert ext.caught
    assert ext.right_kind
    assert ext.kinds == ("extraction", "out_of_distribution")
    assert ext.hours == pytest.approx(0.5)
    assert ext.queries == 62
    probe = detections["probe"]
    assert probe.caught
    assert not probe.right_kind
    assert probe.hours == pytest.approx(19 / 3600)
    assert probe.queries == 20
    assert not detections["ood"].caught
    assert detections["ood"].queries is None


def test_legitimate_clients_flagged_are_counted_per_type():
    summary = summarize(score(FINDINGS, _clients()))
    assert [d.client.client_id for d in summary.by_legit["legit:interactive"] if d.caught] == [
        "alice"
    ]
    assert summary.flagged_share() == pytest.approx(1 / 4)
    assert sorted(summary.by_kind) == ["extraction", "out_of_distribution", "probing"]
    assert summary.median_queries() == pytest.approx(41.0)
    assert summary.targets() == {
        "every kind caught": False,
        "<= 1% legitimate flagged": False,
        "median detection within 500 queries": True,
    }


def test_every_kind_caught_needs_every_attacker_of_every_kind():
    clients = _clients()
    findings = [
        {"client_id": c, "kind": "probing", "first_seen": "2026-03-02T03:00:00Z"}
        for c in ("ext", "probe", "ood")
    ]
    assert (
        summarize(score(findings, clients)).targets()["every kind caught"] is False
    )  # no membership
    clients["member"] = ClientTruth("member", "attack:membership:exact", False,
                                    "membership:exact", [T0], [1])  # fmt: skip
    findings.append({"client_id": "member", "kind": "membership",
                     "first_seen": "2026-03-02T00:00:00Z"})  # fmt: skip
    targets = summarize(score(findings, clients)).targets()
    assert targets["every kind caught"] is True
    assert targets["<= 1% legitimate flagged"] is True


def test_the_volume_baseline_flags_clients_past_the_legitimate_p99():
    threshold, detections = volume_baseline(_clients())
    assert threshold == pytest.approx(400 - 0.03 * (400 - 2))  # numpy's linear p99 of 4 counts
    assert [c for c, d in detections.items() if d.caught] == ["heavy"]
    heavy = detections["heavy"]
    assert heavy.hours == pytest.approx(388 / 3600)  # its 389th request passes 388.06
    assert heavy.queries == 389


def test_read_truth_names_the_canary_unknown(tmp_path):
    scenario = {"clients": [
        {"client_id": "abc", "profile": "attack:membership:exact", "legitimate": False,
         "strategy": "membership:exact"},
        {"client_id": None, "profile": "legit:canary", "legitimate": True},
    ]}  # fmt: skip
    (tmp_path / "scenario.json").write_text(json.dumps(scenario))
    (tmp_path / "truth.jsonl").write_text(
        '{"client_id": "abc", "epoch": 10.5, "rows": 3}\n'
        '{"client_id": null, "epoch": 11.0, "rows": 1}\n'
        '{"client_id": "abc", "epoch": 12.0, "rows": 2}\n'
    )
    clients = read_truth(tmp_path)
    assert clients["abc"].epochs == [10.5, 12.0]
    assert clients["abc"].rows == [3, 2]
    assert clients["abc"].kind == "membership"
    assert clients["unknown"].profile == "legit:canary"
    assert clients["abc"].rows_until(11.0) == 3

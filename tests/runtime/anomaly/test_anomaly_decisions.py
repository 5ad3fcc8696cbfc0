"""Hard rules, thresholds, blocking and the reasons given in every alert."""

from __future__ import annotations

import numpy as np
import pytest
from anomaly_traffic import START, line

from secure_endpoint.runtime.anomaly.decisions import DecisionConfig, decide, explain, hard_rules
from secure_endpoint.runtime.anomaly.features import WindowAggregates, aggregate, features
from secure_endpoint.runtime.anomaly.records import parse_lines
from secure_endpoint.runtime.anomaly.scoring import ForestConfig, fit_model

T = START * 1000


def aggregates(lines: list[bytes]) -> WindowAggregates:
    return aggregate(parse_lines(lines), 300)


def rows_hit(agg: WindowAggregates, rule: str, config: DecisionConfig | None = None) -> set:
    hit = hard_rules(agg, config or DecisionConfig())[rule]
    keys = list(zip(agg.row_names(), agg.window_start.tolist(), strict=True))
    return {key for key, h in zip(keys, hit.tolist(), strict=True) if h}


def test_an_address_flooding_without_a_token_hits_rejected_flood() -> None:
    flood = [
        line(requestTimeEpoch=T + i * 100, sourceIp="192.0.2.66", status=401) for i in range(150)
    ]
    calm = [
        line(requestTimeEpoch=T + i * 3000, sourceIp="192.0.2.7", status=403) for i in range(60)
    ]
    agg = aggregates(sorted(flood + calm))

    assert rows_hit(agg, "rejected-flood") == {("192.0.2.66", START)}


def test_many_requests_for_no_route_hit_path_scan() -> None:
    # the access log holds the matched route only: every path without one is "-", and a 404
    scan = [
        line(requestTimeEpoch=T + i, sourceIp="192.0.2.5", resourcePath="-", status=404)
        for i in range(12)
    ]
    assert rows_hit(aggregates(scan), "path-scan") == {("192.0.2.5", START)}


def test_path_scan_needs_scan_paths_requests_for_no_route() -> None:
    scan = [
        line(requestTimeEpoch=T + i, sourceIp="192.0.2.5", resourcePath="-", status=404)
        for i in range(9)
    ]
    assert rows_hit(aggregates(scan), "path-scan") == set()


def test_an_address_seen_with_a_client_id_is_not_a_path_scan() -> None:
    # a client's own address retrying a wrong URL (no route: no authorizer, no client id)
    own = [line(requestTimeEpoch=T, clientId="c", sourceIp="192.0.2.5")]
    retries = [
        line(requestTimeEpoch=T + 1000 + i, sourceIp="192.0.2.5", resourcePath="-", status=404)
        for i in range(12)
    ]
    assert rows_hit(aggregates(own + retries), "path-scan") == set()


def test_new_addresses_of_a_known_client_hit_address_spread() -> None:
    own = [
        line(requestTimeEpoch=T + i * 60_000, clientId="c", sourceIp="192.0.2.1") for i in range(70)
    ]
    later = T + 70 * 60_000
    stolen = [
        line(requestTimeEpoch=later + i, clientId="c", sourceIp=f"198.51.100.{i}") for i in range(6)
    ]
    agg = aggregates(own + stolen)

    window = (later // 1000) // 300 * 300
    assert rows_hit(agg, "address-spread") == {("c", window)}
    # a client seen for less than spread_known_seconds: its first addresses are not news
    assert rows_hit(agg, "address-spread", DecisionConfig(spread_known_seconds=10**6)) == set()


def test_a_quiet_unknown_address_whose_requests_all_fail_hits_unknown_address() -> None:
    agg = aggregates(
        [
            line(requestTimeEpoch=T, clientId="c", sourceIp="192.0.2.1"),
            line(requestTimeEpoch=T + 1000, sourceIp="192.0.2.1", status=401),  # known
            line(requestTimeEpoch=T + 2000, sourceIp="192.0.2.2", status=401),  # unknown
            line(requestTimeEpoch=T + 3000, sourceIp="192.0.2.3", status=200),  # answered
        ]
    )
    assert rows_hit(agg, "unknown-address") == {("192.0.2.2", START)}
    config = DecisionConfig(flag_unknown_addresses=False)
    assert rows_hit(agg, "unknown-address", config) == set()


def _hourly(client: str, per_hour: list[int]) -> list[bytes]:
    out = []
    for hour, count in enumerate(per_hour):
        for i in range(count):
            out.append(
                line(
                    requestTimeEpoch=T + hour * 3_600_000 + i * 3_600_000 // count, clientId=client
                )
            )
    return out


def test_a_client_far_over_its_own_record_hits_cumulative_volume() -> None:
    usual = [40] * 36  # a day and a half at 40 requests an hour
    agg = aggregates(_hourly("c", [*usual, 2000, 2000]) + _hourly("d", [*usual, 40, 40]))

    hits = rows_hit(agg, "cumulative-volume")
    assert hits
    assert {name for name, _ in hits} == {"c"}
    assert min(start for _, start in hits) >= START + 36 * 3600


def test_a_daily_quota_is_checked_only_when_given() -> None:
    agg = aggregates(_hourly("c", [30, 30]))
    assert rows_hit(agg, "daily-quota") == set()
    hits = rows_hit(agg, "daily-quota", DecisionConfig(daily_quota=40))
    assert min(start for _, start in hits) == START + 4800  # the 41st request


def _scored(lines: list[bytes]) -> tuple[WindowAggregates, np.ndarray]:
    agg = aggregates(lines)
    return agg, features(agg)


def test_blocks_after_two_anomalous_windows_or_a_blocking_rule() -> None:
    probe = [
        line(requestTimeEpoch=T + w * 300_000, sourceIp="192.0.2.9", status=401) for w in range(3)
    ]
    flood = [
        line(requestTimeEpoch=T + i * 50, sourceIp="192.0.2.66", status=401) for i in range(200)
    ]
    agg, X = _scored(sorted(probe + flood))
    scores = np.zeros(len(agg))

    d = decide(agg, X, scores, None, DecisionConfig())

    actions = dict(
        zip(zip(agg.row_names(), agg.window_start.tolist(), strict=True), d.action, strict=True)
    )
    assert actions[("192.0.2.66", START)] == "block"
    # the probing address: alone and quiet for a day only in its first window
    assert actions[("192.0.2.9", START)] == "alert"
    assert actions[("192.0.2.9", START + 300)] == "none"
    assert all(reasons for reasons, a in zip(d.reasons, d.anomalous, strict=True) if a)
    assert d.score[agg.row_names().index("192.0.2.66")] == 1.0


def test_the_score_flags_only_above_the_kind_threshold_and_the_principal_record() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    lines = [line(requestTimeEpoch=T + i * 300_000, clientId=f"c{i % 4}") for i in range(400)]
    agg = aggregates(lines)
    model = fit_model(X, np.ones(400, bool), ("x", "y", "z"), config=ForestConfig(n_estimators=10))
    scores = np.full(len(agg), model.thresholds[0] + 0.01)
    scores[:5] = 0.0

    flagged = decide(agg, X, scores, model).anomalous
    no_record = decide(agg, X, scores, model, DecisionConfig(own_record_margin=None)).anomalous

    # each principal is flagged once at that score: after that it is its own record
    assert no_record[5:].all()
    assert flagged.sum() == 4


def test_explanations_name_the_features_furthest_from_usual() -> None:
    reasons = explain(
        np.array([np.log1p(900.0), 0.5, 0.0]),
        np.array([np.log1p(9.0), 0.0, 0.0]),
        np.array([0.5, 0.05, 1.0]),
        ("log_requests", "share_401", "share_403"),
    )
    assert reasons == [
        "share_401 0.5 vs usual 0 (z +10.0)",
        "requests 900 vs usual 9 (z +9.0)",
    ]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"rejected_per_second": 0}, "rejected_per_second must be positive"),
        ({"block_after": 0}, "block_after must be at least 1"),
        ({"block_after": 5, "block_lookback_windows": 4}, "block_lookback_windows"),
        ({"daily_quota": 0}, "daily_quota must be at least 1"),
        ({"cumulative_hours": 0}, "cumulative_hours must be positive"),
    ],
)
def test_rejects_bad_limits(config: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DecisionConfig(**config)  # type: ignore[arg-type]

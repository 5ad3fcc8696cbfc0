"""Aggregates per principal and window, and the features made of them."""

from __future__ import annotations

import numpy as np
import pytest
from anomaly_traffic import START, line, traffic

from secure_endpoint.runtime.anomaly.features import FEATURES, aggregate, features
from secure_endpoint.runtime.anomaly.records import parse_lines

T = START * 1000


def at(seconds: float) -> int:
    return T + int(seconds * 1000)


def test_aggregates_one_row_per_principal_and_window() -> None:
    records = parse_lines(
        [
            line(requestTimeEpoch=at(1), clientId="a", sourceIp="192.0.2.1", responseLength=100),
            line(requestTimeEpoch=at(1.5), clientId="a", sourceIp="192.0.2.2", status=429),
            line(requestTimeEpoch=at(12), clientId="a", sourceIp="192.0.2.1", status=503),
            line(requestTimeEpoch=at(301), clientId="a", sourceIp="192.0.2.3", resourcePath="/x"),
            line(requestTimeEpoch=at(2), clientId="-", sourceIp="192.0.2.9", status=401),
            line(
                requestTimeEpoch=at(3),
                clientId="-",
                sourceIp="192.0.2.9",
                status=404,
                resourcePath="-",
            ),
        ]
    )

    rows = aggregate(records, 300).as_dict()

    assert set(rows) == {("a", START), ("a", START + 300), ("192.0.2.9", START)}
    first = rows[("a", START)]
    assert first["requests"] == 3
    assert (first["first_ms"], first["last_ms"]) == (1000, 12000)
    assert (first["seconds"], first["tens"]) == (2, 2)
    assert (first["status_429"], first["status_4xx"], first["status_5xx"]) == (1, 1, 1)
    assert (first["addresses"], first["new_addresses"], first["paths"]) == (2, 2, 1)
    assert first["answered"] == 1
    assert first["bytes_sum"] == 100 + 120 + 120
    assert first["latency_sum"] == 25  # only the answered request
    later = rows[("a", START + 300)]
    assert (later["addresses"], later["new_addresses"], later["paths"]) == (1, 1, 1)
    address = rows[("192.0.2.9", START)]
    assert (address["status_401"], address["status_404"], address["status_4xx"]) == (1, 1, 2)
    assert (address["paths"], address["new_addresses"]) == (2, 1)


def test_an_address_seen_with_a_client_id_is_known_from_then_on() -> None:
    records = parse_lines(
        [
            line(requestTimeEpoch=at(10), clientId="-", sourceIp="192.0.2.1", status=401),
            line(requestTimeEpoch=at(400), clientId="a", sourceIp="192.0.2.1"),
            line(requestTimeEpoch=at(700), clientId="-", sourceIp="192.0.2.1", status=401),
            line(requestTimeEpoch=at(20), clientId="-", sourceIp="192.0.2.2", status=401),
        ]
    )
    agg = aggregate(records, 300)
    X = features(agg)
    known = dict(
        zip(
            zip(agg.row_names(), agg.window_start.tolist(), strict=True),
            X[:, FEATURES.index("known_address")].tolist(),
            strict=True,
        )
    )

    assert known[("192.0.2.1", START)] == 0.0
    assert known[("192.0.2.1", START + 600)] == 1.0
    assert known[("192.0.2.2", START)] == 0.0
    assert known[("a", START + 300)] == 1.0


def _regularity(times: list[float]) -> tuple[float, float]:
    agg = aggregate(parse_lines([line(requestTimeEpoch=at(s), clientId="a") for s in times]), 300)
    X = features(agg)
    return (
        X[0, FEATURES.index("regularity_1s")],
        X[0, FEATURES.index("regularity_10s")],
    )


def test_evenly_spread_requests_are_regular_and_clumped_ones_bursty() -> None:
    even_1s, even_10s = _regularity([10.0 * i for i in range(29)])
    clumped_1s, clumped_10s = _regularity([0.0] * 14 + [290.0] * 15)

    assert even_10s == pytest.approx(1.0)
    assert even_1s == pytest.approx(1.0)
    assert clumped_10s < -0.9  # two slots of the 30 its span could have used
    assert clumped_1s < -0.9


def test_history_features_look_back_on_the_principal_only() -> None:
    lines = [line(requestTimeEpoch=at(300 * w + 5), clientId="steady") for w in range(24)]
    lines.append(line(requestTimeEpoch=at(300 * 23 + 7), clientId="new"))
    agg = aggregate(parse_lines(sorted(lines)), 300)
    X = features(agg, history_seconds=3600)
    row = {
        (name, start): X[i]
        for i, (name, start) in enumerate(
            zip(agg.row_names(), agg.window_start.tolist(), strict=True)
        )
    }

    steady = row[("steady", START + 300 * 23)]
    new = row[("new", START + 300 * 23)]
    assert steady[FEATURES.index("history_duty")] == 1.0
    assert steady[FEATURES.index("volume_vs_history")] == pytest.approx(0.0, abs=1e-12)
    assert steady[FEATURES.index("history_volume_cv")] == pytest.approx(0.0, abs=1e-6)
    assert new[FEATURES.index("history_duty")] == 0.0
    assert new[FEATURES.index("volume_vs_history")] == pytest.approx(np.log(2))


def test_features_are_finite_and_named() -> None:
    X = features(aggregate(parse_lines(traffic(hours=2, clients=5, flood_at=1)), 300))
    assert X.shape[1] == len(FEATURES)
    assert np.isfinite(X).all()


def test_no_records_make_no_rows() -> None:
    agg = aggregate(parse_lines([]), 300)
    assert len(agg) == 0
    assert features(agg).shape == (0, len(FEATURES))


@pytest.mark.parametrize("seconds", [0, 5, 305])
def test_rejects_a_window_that_is_not_a_multiple_of_10_seconds(seconds: int) -> None:
    with pytest.raises(ValueError, match=f"multiple of 10 seconds, got {seconds}"):
        aggregate(parse_lines([]), seconds)


def test_rejects_a_history_shorter_than_a_window() -> None:
    agg = aggregate(parse_lines([line()]), 300)
    with pytest.raises(ValueError, match=r"at least one window \(300\), got 60"):
        features(agg, history_seconds=60)

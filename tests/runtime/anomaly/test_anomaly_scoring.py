"""The exported forest scores exactly as scikit-learn; stored models are checked before use."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from secure_endpoint.runtime.anomaly import scoring
from secure_endpoint.runtime.anomaly.features import FEATURES
from secure_endpoint.runtime.anomaly.scoring import (
    Forest,
    ForestConfig,
    IntegrityError,
    dumps,
    fit_model,
    loads,
    sha256,
)

NAMES = ("a", "b", "c", "d")


def data(rows: int = 600, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, len(NAMES)))
    X[:, 1] = np.round(X[:, 1])  # ties and repeated thresholds
    X[:5] += 8  # a few outliers
    return X


@pytest.mark.parametrize(("max_samples", "max_features"), [(256, 1.0), (64, 0.5), (600, 1.0)])
def test_numpy_scores_equal_scikit_learn_scores(max_samples: int, max_features: float) -> None:
    X, Y = data(), data(300, seed=1) * 1.5
    Y[0, 0], Y[1, 3] = np.inf, -np.inf
    estimator = IsolationForest(
        n_estimators=50, max_samples=max_samples, max_features=max_features, random_state=3
    ).fit(X)

    forest = Forest.from_sklearn(estimator)

    np.testing.assert_array_equal(forest.numpy_score(Y), -estimator.score_samples(Y))
    np.testing.assert_array_equal(forest.numpy_score(X), -estimator.score_samples(X))
    np.testing.assert_array_equal(forest.score(Y), forest.numpy_score(Y))


def test_fitting_is_deterministic_given_the_random_state() -> None:
    X, clients = data(), np.ones(600, dtype=bool)
    config = ForestConfig(n_estimators=20, random_state=7)

    first = dumps(fit_model(X, clients, NAMES, config=config))
    again = dumps(fit_model(X, clients, NAMES, config=config))
    other = dumps(
        fit_model(X, clients, NAMES, config=ForestConfig(n_estimators=20, random_state=8))
    )

    assert first == again
    assert sha256(first) == sha256(again) != sha256(other)


def test_threads_building_the_trees_change_nothing() -> None:
    X, clients = data(2000), np.ones(2000, dtype=bool)
    config = ForestConfig(n_estimators=40, max_samples=512, random_state=7)

    one = fit_model(X, clients, NAMES, config=config)
    two = fit_model(X, clients, NAMES, config=config, jobs=2)

    assert dumps(two) == dumps(one)
    np.testing.assert_array_equal(two.score(X, clients), one.score(X, clients))


def test_each_kind_of_principal_gets_its_forest_and_threshold() -> None:
    X = data(800)
    clients = np.arange(800) % 4 != 0
    model = fit_model(X, clients, NAMES, config=ForestConfig(n_estimators=20, alert_quantile=0.99))

    assert model.training_rows == (600, 200)
    scores = model.score(X, clients)
    for kind, rows in enumerate((clients, ~clients)):
        flagged = np.mean(scores[rows] >= model.thresholds[kind])
        assert 0.005 <= flagged <= 0.02  # the top 1% of its own windows
    assert model.threshold(clients).tolist() == [
        model.thresholds[0] if c else model.thresholds[1] for c in clients
    ]


def test_a_kind_with_too_few_windows_gets_no_forest_and_scores_zero() -> None:
    X = data(300)
    clients = np.arange(300) >= 10
    model = fit_model(X, clients, NAMES, config=ForestConfig(n_estimators=10, min_rows=50))

    assert model.forests[1] is None
    assert model.thresholds[1] == float("inf")
    assert model.training_rows == (290, 0)
    assert (model.score(X, clients)[~clients] == 0).all()


def test_a_stored_model_round_trips_with_its_digest() -> None:
    model = fit_model(data(), np.arange(600) % 3 > 0, NAMES, config=ForestConfig(n_estimators=15))
    blob = dumps(model)

    loaded = loads(blob, sha256(blob), NAMES)

    X = data(100, seed=9)
    clients = np.arange(100) % 2 == 0
    np.testing.assert_array_equal(loaded.score(X, clients), model.score(X, clients))
    assert loaded.thresholds == model.thresholds
    assert dumps(loaded) == blob
    assert b"pickle" not in blob


def test_refuses_tampered_bytes() -> None:
    blob = bytearray(dumps(fit_model(data(), np.ones(600, bool), NAMES)))
    digest = sha256(bytes(blob))
    blob[-3] ^= 0x40

    with pytest.raises(IntegrityError, match="digest mismatch"):
        loads(bytes(blob), digest, NAMES)


def test_refuses_a_model_of_other_features() -> None:
    blob = dumps(fit_model(data(), np.ones(600, bool), NAMES))
    with pytest.raises(IntegrityError, match="other features"):
        loads(blob, sha256(blob), FEATURES)


def _rewritten(blob: bytes, edit: object) -> bytes:
    """The bytes with one node array edited in place; the digest is then recomputed, as a
    writer of the bucket could: validation, not the digest, must refuse them."""
    magic = len(scoring._MAGIC)
    (length,) = struct.unpack_from("<Q", blob, magic)
    start = magic + 8
    header = json.loads(blob[start : start + length])
    offset = start + length
    out = bytearray(blob)
    for name, dtype, size in header["arrays"]:
        if name == "client.left":
            left = np.frombuffer(blob, dtype=dtype, count=size // 4, offset=offset).copy()
            edit(left)  # type: ignore[operator]
            out[offset : offset + size] = left.tobytes()
        offset += size
    return bytes(out)


def _loop(left: np.ndarray) -> None:
    inner = np.flatnonzero(left >= 0)
    left[inner[1]] = 0  # a child pointing back at the root


def _out_of_range(left: np.ndarray) -> None:
    left[0] = 10**6


@pytest.mark.parametrize("edit", [_loop, _out_of_range])
def test_refuses_a_forest_that_could_loop_or_read_out_of_bounds(edit: object) -> None:
    blob = _rewritten(dumps(fit_model(data(), np.ones(600, bool), NAMES)), edit)
    with pytest.raises(IntegrityError, match="child index"):
        loads(blob, sha256(blob), NAMES)


@pytest.mark.parametrize(
    "blob", [b"", b"not a model", scoring._MAGIC + struct.pack("<Q", 10**9), scoring._MAGIC]
)
def test_refuses_bytes_that_are_not_a_model(blob: bytes) -> None:
    with pytest.raises(IntegrityError):
        loads(blob, sha256(blob), NAMES)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"n_estimators": 0}, "n_estimators must be at least 1, got 0"),
        ({"max_samples": 1}, "max_samples must be at least 2, got 1"),
        ({"max_features": 0.0}, r"max_features must be in \(0, 1\], got 0.0"),
        ({"alert_quantile": 0.5}, r"alert_quantile must be in \[0.9, 1\)"),
        ({"min_rows": 1}, "min_rows must be at least 2, got 1"),
    ],
)
def test_rejects_bad_hyper_parameters(config: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ForestConfig(**config)  # type: ignore[arg-type]


def test_scoring_checks_the_number_of_features() -> None:
    model = fit_model(data(), np.ones(600, bool), NAMES, config=ForestConfig(n_estimators=5))
    forest = model.forests[0]
    assert forest is not None
    with pytest.raises(ValueError, match="expected a matrix of 4 features, got shape"):
        forest.score(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="must not be NaN"):
        forest.numpy_score(np.full((3, 4), np.nan))


def awkward(seed: int) -> np.ndarray:
    """Ties, duplicated rows and a constant feature: where a careless export would differ."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(400, len(NAMES)))
    X[:, 0] = 3.0  # constant: never split on
    X[:, 2] = rng.integers(0, 3, size=len(X))  # three values: many ties
    X[200:300] = X[100:200]  # duplicated rows
    X[:, 3] = np.round(X[:, 3], 1)
    return X


@pytest.mark.parametrize("seed", range(6))
def test_numpy_scores_equal_scikit_learn_on_ties_duplicates_and_constant_features(
    seed: int,
) -> None:
    X = awkward(seed)
    Y = np.vstack([awkward(seed + 100), X[:50], np.full((3, len(NAMES)), 3.0)])
    estimator = IsolationForest(
        n_estimators=40, max_samples=128, max_features=0.75 if seed % 2 else 1.0,
        random_state=seed,
    ).fit(X)  # fmt: skip

    forest = Forest.from_sklearn(estimator)
    loaded = loads(dumps_forest(forest), sha256(dumps_forest(forest)), NAMES).forests[0]

    assert loaded is not None
    for rows in (X, Y):
        expected = estimator.score_samples(rows)
        np.testing.assert_array_equal(forest.numpy_score(rows), -expected)
        np.testing.assert_array_equal(loaded.numpy_score(rows), -expected)  # stored, reloaded
        # decision_function is score_samples shifted by offset_ (-0.5 with contamination auto)
        np.testing.assert_array_equal(
            -loaded.numpy_score(rows) - estimator.offset_, estimator.decision_function(rows)
        )


def dumps_forest(forest: Forest) -> bytes:
    """A model holding ``forest`` for clients only, as the fitter stores it."""
    model = scoring.Model(
        forests=(forest, None),
        thresholds=(0.6, float("inf")),
        training_rows=(400, 0),
        feature_names=NAMES,
        reference_median=np.zeros((2, len(NAMES))),
        reference_scale=np.ones((2, len(NAMES))),
        trained_on="baseline",
        config=ForestConfig(),
    )
    return dumps(model)

"""The capture simulator's feature space, training set and model (small, fast inputs)."""

import importlib
import json
import sys

import numpy as np
import pytest

from secure_endpoint.simulate.capture import population as pop
from secure_endpoint.simulate.capture.model import FORMAT, TreeEnsemble, train


@pytest.fixture(scope="module")
def training():
    return pop.training_set(seed=3, n=4000)


@pytest.fixture(scope="module")
def trained(training):
    rows, labels = training
    return train(rows, labels, pop.FEATURE_NAMES, seed=3)


def test_the_feature_space_has_a_few_dozen_columns_of_every_kind():
    kinds = [f.kind for f in pop.FEATURES]
    assert 30 <= len(pop.FEATURES) <= 40
    assert {"normal", "lognormal", "bounded", "count", "binary", "onehot"} == set(kinds)
    assert [n for n in pop.FEATURE_NAMES if n.startswith("region_")] == [
        "region_eu", "region_us", "region_apac", "region_latam", "region_mea"
    ]  # fmt: skip
    assert len(set(pop.FEATURE_NAMES)) == len(pop.FEATURE_NAMES)


def test_the_training_set_is_deterministic_for_a_seed(training):
    rows, labels = pop.training_set(seed=3, n=4000)
    assert np.array_equal(rows, training[0])
    assert np.array_equal(labels, training[1])
    assert not np.array_equal(pop.training_set(seed=4, n=4000)[0], rows)


def test_features_keep_their_types_and_bounds(training):
    rows, _ = training
    for i, feature in enumerate(pop.FEATURES):
        column = rows[:, i]
        if feature.integer:
            assert np.array_equal(column, np.round(column)), feature.name
        if feature.kind in ("binary", "onehot"):
            assert set(np.unique(column)) <= {0.0, 1.0}, feature.name
        if feature.kind in ("bounded", "normal"):
            assert column.min() >= feature.lo, feature.name
            assert column.max() <= feature.hi, feature.name
        if feature.kind in ("lognormal", "count"):
            assert column.min() >= 0, feature.name
    onehot = rows[:, list(pop.REGION_COLUMNS)]
    assert np.array_equal(onehot.sum(axis=1), np.ones(len(rows)))  # exactly one region each


def test_skewed_features_are_skewed_and_latent_factors_correlate_features(training):
    rows, _ = training
    income = rows[:, pop.INDEX["income"]]
    assert income.mean() > 1.1 * np.median(income)  # log-normal: a long right tail
    corr = np.corrcoef(rows[:, pop.INDEX["income"]], rows[:, pop.INDEX["credit_limit"]])[0, 1]
    assert corr > 0.4
    corr = np.corrcoef(rows[:, pop.INDEX["credit_score"]],
                       rows[:, pop.INDEX["utilization_ratio"]])[0, 1]  # fmt: skip
    assert corr < -0.4


def test_the_label_is_balanced_enough_and_learnable(training, trained):
    _, labels = training
    assert 0.15 < labels.mean() < 0.45
    test_rows, test_labels = pop.training_set(seed=99, n=4000)
    scores = trained.predict_proba(test_rows)
    # AUC by ranks (Mann-Whitney): the model learned the nonlinear label
    ranks = scores.argsort().argsort() + 1
    positives = test_labels == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    auc = (ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    assert auc > 0.8


def test_a_sub_population_is_a_shifted_region_of_the_training_space():
    rng = np.random.default_rng(1)
    sub = pop.SubPopulation.draw(rng)
    rows = pop.sample(rng, 3000, sub)
    train_rows, _ = pop.training_set(seed=3, n=3000)
    region = rows[:, list(pop.REGION_COLUMNS)].mean(axis=0)
    assert np.abs(region - sub.region_weights).max() < 0.05
    shifted = np.abs(rows.mean(axis=0) - train_rows.mean(axis=0)) / train_rows.std(axis=0)
    assert shifted.max() > 0.3  # not the whole training distribution


def test_a_shift_moves_only_the_named_feature():
    sub = pop.SubPopulation.training()
    index = pop.INDEX["utilization_ratio"]
    base = pop.sample(np.random.default_rng(5), 4000, sub)
    moved = pop.sample(np.random.default_rng(5), 4000, sub, {index: np.full(4000, 1.0)})
    assert moved[:, index].mean() > base[:, index].mean() + 0.1
    assert moved[:, index].max() <= 1.0  # bounded stays bounded
    others = [i for i in range(len(pop.FEATURES)) if i != index]
    assert np.array_equal(moved[:, others], base[:, others])


def test_the_training_csv_has_the_header_and_round_trips(tmp_path, training):
    rows, labels = training
    path = tmp_path / "training.csv"
    pop.write_training_csv(path, rows[:50], labels[:50])
    lines = path.read_text().splitlines()
    assert lines[0].split(",") == [*pop.FEATURE_NAMES, "label"]
    first = lines[1].split(",")
    assert first[pop.INDEX["num_logins_7d"]].isdigit()  # integers without a decimal point
    assert first[pop.INDEX["region_eu"]] in ("0", "1")
    back_rows, back_labels = pop.read_training_csv(path)
    assert np.array_equal(back_rows, rows[:50])
    assert np.array_equal(back_labels, labels[:50])


def test_the_exported_ensemble_scores_as_scikit_learn_does(trained):
    rows, _ = pop.training_set(seed=11, n=2000)
    expected = trained.estimator.predict_proba(rows)[:, 1]
    assert np.abs(trained.ensemble.predict_proba(rows) - expected).max() < 1e-12
    assert np.abs(trained.ensemble.decision_function(rows)
                  - trained.estimator.decision_function(rows)).max() < 1e-9  # fmt: skip


def test_the_model_file_is_json_and_loads_to_the_same_scores(tmp_path, trained):
    path = tmp_path / "model.json"
    digest = trained.ensemble.save(path)
    assert len(digest) == 64
    data = json.loads(path.read_text())
    assert data["format"] == FORMAT
    assert data["featureNames"] == list(pop.FEATURE_NAMES)
    assert len(data["trees"]) == 60
    rows, _ = pop.training_set(seed=12, n=500)
    loaded = TreeEnsemble.load(path)
    assert np.array_equal(loaded.predict_proba(rows), trained.ensemble.predict_proba(rows))


def test_a_model_file_of_another_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="model format 'pickle' is not"):
        TreeEnsemble.from_json({"format": "pickle", "trees": []})


def test_without_scikit_learn_the_import_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.delitem(sys.modules, "secure_endpoint.simulate.capture", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'secure-endpoint\[simulate\]'"):
        importlib.import_module("secure_endpoint.simulate.capture")

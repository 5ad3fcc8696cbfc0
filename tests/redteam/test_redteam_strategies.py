"""The red-team strategies against the capture simulator's model: each makes progress (a
surrogate that agrees more as it queries, a flip found, out-of-bounds rows, training rows
replayed), the step-wise protocol, refusals and determinism."""

import json

import numpy as np
import pytest

from secure_endpoint.redteam import STRATEGIES, FeatureInfo, Knowledge, Stopped, run
from secure_endpoint.redteam.strategies import make
from secure_endpoint.simulate.capture import population as pop
from secure_endpoint.simulate.capture.model import train


@pytest.fixture(scope="module")
def world():
    rows, labels = pop.training_set(11, 4_000)
    model = train(rows, labels, pop.FEATURE_NAMES, seed=11)
    knowledge = Knowledge.from_simulator(
        np.random.default_rng(1), training_rows=rows, holdout_rows=600
    )
    return rows, model, knowledge


def attack(world, key, queries, seed=3, **params):
    _, model, knowledge = world
    strategy = make(key, knowledge, np.random.default_rng(seed), max_queries=queries, **params)
    return strategy, run(strategy, model.predict_proba)


def test_the_registry_has_every_strategy_the_issue_names():
    assert set(STRATEGIES) == {
        "extraction:marginal", "extraction:uniform", "extraction:synthetic",
        "extraction:active", "boundary:hopskipjump", "boundary:coordinate",
        "ood:impossible", "ood:onehot", "ood:extreme", "membership:exact",
        "membership:perturbed",
    }  # fmt: skip
    for key, cls in STRATEGIES.items():
        assert key == f"{cls.kind}:{cls.name}"


@pytest.mark.parametrize("name", ["marginal", "uniform", "synthetic", "active"])
def test_an_extractors_surrogate_agrees_more_with_the_target_as_it_queries(world, name):
    _, model, _ = world
    _, report = attack(world, f"extraction:{name}", 600, judge=model.predict_proba)
    curve = dict((q, a) for q, a in report["curve"])
    assert report["queries"] == 600
    assert sorted(curve) == [10, 25, 50, 100, 200, 300, 500, 600]
    assert curve[600] > curve[10] + 0.05
    assert report["agreement"] > report["constantAgreement"] + 0.05
    assert report["agreement"] == curve[600]
    json.dumps(report, allow_nan=False)


def test_the_marginal_extractor_samples_each_feature_independently(world):
    _, _, knowledge = world
    strategy, _ = attack(world, "extraction:marginal", 2_000)
    sent, _ = strategy.seen()
    natural = knowledge.marginals
    income, limit = pop.INDEX["income"], pop.INDEX["credit_limit"]
    # The marginals match, the joint structure (income and credit limit correlate) does not.
    assert abs(np.median(sent[:, income]) / np.median(natural[:, income]) - 1) < 0.1
    assert np.corrcoef(natural[:, income], natural[:, limit])[0, 1] > 0.3
    assert abs(np.corrcoef(sent[:, income], sent[:, limit])[0, 1]) < 0.1
    regions = sent[:, list(pop.REGION_COLUMNS)]
    assert (regions.sum(axis=1) == 1).all()


def test_hopskipjump_finds_a_row_of_the_other_label_close_to_its_target(world):
    strategy, report = attack(world, "boundary:hopskipjump", 1_500)
    assert report["flipped"] >= 1
    assert report["firstFlipAt"] is not None
    assert report["firstFlipAt"] <= 1_500
    assert all(q <= 400 for q in report["queriesToFlip"])
    first = strategy.targets[0]
    assert first.distance is not None
    assert first.distance < 0.5


def test_a_coordinate_search_changes_one_feature_at_a_time_until_the_label_flips(world):
    _, model, knowledge = world
    strategy = make("boundary:coordinate", knowledge, np.random.default_rng(3), max_queries=300)
    sent = []
    while not strategy.done():
        rows = strategy.next_queries()
        answers = model.predict_proba(rows)
        sent.append((rows[0], answers[0], dict(strategy.step)))
        strategy.observe(rows, answers)
    report = strategy.report()
    assert report["flipped"] >= 2
    assert report["epsilon"] is None  # any flip counts; the report stays strict JSON
    json.dumps(report, allow_nan=False)
    target = knowledge.seed_rows[0]
    first_flip = report["queriesToFlip"][0]
    # Every probe of the first target differs from the current point in one feature.
    changed = [int((row != target).sum()) for row, _, _ in sent[1:first_flip]]
    assert min(changed) == 1
    assert {step["phase"] for _, _, step in sent[1:first_flip]} == {"coordinate"}
    labels = [p >= 0.5 for _, p, _ in sent[:first_flip]]
    assert labels[-1] != labels[0]


def _outside(knowledge, rows):
    below = rows < knowledge.lo
    above = rows > knowledge.hi
    fractional = knowledge.integer & (rows != np.round(rows))
    return (below | above | fractional).any(axis=1)


def test_impossible_rows_are_outside_the_documented_bounds_or_types(world):
    _, _, knowledge = world
    strategy = make("ood:impossible", knowledge, np.random.default_rng(5), max_queries=400)
    sent = []
    while not strategy.done():
        rows = strategy.next_queries()
        sent.append(rows)
        strategy.observe(rows, np.full(len(rows), 0.5))
    sent_rows = np.concatenate(sent)
    assert len(sent_rows) == 400
    assert _outside(knowledge, sent_rows).all()
    counts = pop.INDEX["num_logins_7d"]
    assert (sent_rows[:, counts] < 0).any() or (sent_rows[:, counts] % 1 != 0).any()
    assert set(strategy.report()["corruptions"]) == {
        "above_max", "below_min", "negative_count", "fractional"
    }  # fmt: skip


def test_onehot_rows_break_the_region_group(world):
    _, model, knowledge = world
    strategy = make("ood:onehot", knowledge, np.random.default_rng(6), max_queries=200)
    groups = []
    while not strategy.done():
        rows = strategy.next_queries()
        groups.append(rows[:, list(pop.REGION_COLUMNS)])
        strategy.observe(rows, model.predict_proba(rows))
    region = np.concatenate(groups)
    valid = (np.isin(region, (0, 1)).all(axis=1)) & (region.sum(axis=1) == 1)
    assert not valid.any()
    assert set(strategy.report()["corruptions"]) == {"none_set", "two_set", "not_binary",
                                                      "negative"}  # fmt: skip


def test_extreme_rows_stay_in_bounds_but_far_from_the_population(world):
    _, model, knowledge = world
    strategy = make("ood:extreme", knowledge, np.random.default_rng(7), max_queries=200)
    sent = []
    while not strategy.done():
        rows = strategy.next_queries()
        sent.append(rows)
        strategy.observe(rows, model.predict_proba(rows))
    rows = np.concatenate(sent)
    assert not _outside(knowledge, rows).any()
    far = (rows > knowledge.marginals.max(axis=0)) | (rows == knowledge.hi) | (rows == knowledge.lo)
    assert (far[:, knowledge.continuous].sum(axis=1) >= 2).all()


def test_a_natural_mix_leaves_that_share_of_rows_untouched(world):
    _, _, knowledge = world
    strategy = make("ood:impossible", knowledge, np.random.default_rng(8), max_queries=1_000,
                    mix=0.3)  # fmt: skip
    run(strategy, lambda rows: np.full(len(rows), 0.2))
    assert 0.25 < strategy.report()["corruptions"]["none"] / 1_000 < 0.35


def _training_set(rows):
    return {tuple(np.round(r, 6)) for r in rows.tolist()}


def test_exact_membership_probes_replay_training_rows_among_non_members(world):
    training, model, knowledge = world
    members = _training_set(training)
    strategy = make("membership:exact", knowledge, np.random.default_rng(9), max_queries=400,
                    member_fraction=0.6)  # fmt: skip
    flags, sent = [], []
    while not strategy.done():
        rows = strategy.next_queries()
        flags.append(strategy.step["member"])
        sent.append(rows[0])
        strategy.observe(rows, model.predict_proba(rows))
    is_training = [tuple(np.round(r, 6)) in members for r in np.array(sent).tolist()]
    assert is_training == flags
    assert 0.5 < np.mean(flags) < 0.7
    report = strategy.report()
    assert report["members"] == sum(flags)
    assert 0 <= report["confidenceAuc"] <= 1
    assert 0.5 <= report["accuracy"] <= 1


def test_perturbed_membership_probes_are_tiny_moves_of_training_rows(world):
    training, model, knowledge = world
    strategy = make("membership:perturbed", knowledge, np.random.default_rng(10),
                    max_queries=300, member_fraction=1.0, copies=3)  # fmt: skip
    sent = []
    while not strategy.done():
        rows = strategy.next_queries()
        sent.append(rows)
        strategy.observe(rows, model.predict_proba(rows))
    rows = np.concatenate(sent)
    assert knowledge.candidates is not None
    nearest = np.array([knowledge.distance(row, knowledge.candidates).min() for row in rows])
    assert (nearest > 0).mean() > 0.9
    assert (nearest < 0.01).all()
    exact = _training_set(training)
    assert sum(tuple(np.round(r, 6)) in exact for r in rows.tolist()) < 0.1 * len(rows)
    # Each picked row is sent ``copies`` times, each copy a different tiny move.
    assert len({tuple(r) for r in rows[:3].tolist()}) == 3


def test_a_strategy_is_deterministic_given_its_generator(world):
    for key in STRATEGIES:
        _, first = attack(world, key, 120, seed=21)
        _, second = attack(world, key, 120, seed=21)
        assert first == second, key
        json.dumps(first, allow_nan=False)  # what secure-endpoint attack prints


def test_a_refusal_stops_the_run_and_says_why(world):
    _, model, knowledge = world
    calls = []

    def oracle(rows):
        calls.append(len(rows))
        if len(calls) > 30:
            raise Stopped("throttled", 429, "Too Many Requests")
        return model.predict_proba(rows)

    strategy = make("extraction:marginal", knowledge, np.random.default_rng(1), max_queries=100)
    report = run(strategy, oracle)
    assert report["stopped"] == {"reason": "throttled", "status": 429,
                                 "detail": "Too Many Requests", "queries": 30}  # fmt: skip
    assert report["queries"] == 30


def test_observe_refuses_rows_it_did_not_propose(world):
    _, _, knowledge = world
    strategy = make("extraction:uniform", knowledge, np.random.default_rng(1), batch=3)
    rows = strategy.next_queries()
    assert rows.shape == (3, knowledge.width)
    with pytest.raises(ValueError, match=r"expects the rows next_queries\(\) gave"):
        strategy.observe(rows[:1], np.zeros(1))
    with pytest.raises(ValueError, match="3 rows but 2 answers"):
        strategy.observe(rows, np.zeros(2))


def test_a_strategy_stops_at_max_queries_even_mid_batch(world):
    _, model, knowledge = world
    strategy = make("boundary:hopskipjump", knowledge, np.random.default_rng(2), max_queries=57)
    run(strategy, model.predict_proba)
    assert strategy.queries == 57
    assert strategy.done()
    assert strategy.next_queries().shape == (0, knowledge.width)


def test_an_unknown_strategy_is_refused_with_the_known_ones(world):
    _, _, knowledge = world
    with pytest.raises(ValueError, match=r"unknown strategy 'boundary:zoo'; known: .*coordinate"):
        make("boundary:zoo", knowledge, np.random.default_rng(0))


def test_membership_needs_candidate_rows():
    k = Knowledge.from_simulator(np.random.default_rng(0), holdout_rows=0)
    with pytest.raises(ValueError, match="no candidate training rows"):
        make("membership:exact", k, np.random.default_rng(0))


def test_knowledge_from_rows_infers_kinds_bounds_and_one_hot_groups():
    rng = np.random.default_rng(0)
    n = 300
    region = rng.integers(0, 3, n)
    rows = np.column_stack([
        np.round(rng.normal(50, 10, n), 2), rng.poisson(3, n), rng.integers(0, 2, n),
        *(region == r for r in range(3)),
    ]).astype(float)  # fmt: skip
    names = ["amount", "count", "flag", "region_a", "region_b", "region_c"]
    k = Knowledge.from_rows(names, rows, np.random.default_rng(1), seed_rows=4, holdout_rows=50)
    assert [f.kind for f in k.features] == ["numeric", "integer", "binary", "onehot", "onehot",
                                            "onehot"]  # fmt: skip
    assert k.features[0].decimals == 2
    assert k.features[1].lo == rows[:, 1].min()
    assert k.features[1].hi == rows[:, 1].max()
    assert list(k.groups) == ["region"]
    assert k.groups["region"].tolist() == [3, 4, 5]
    assert k.seed_rows.shape == (4, 6)
    assert k.holdout is not None
    assert len(k.holdout) == 50
    assert len(k.marginals) == n - 54


def test_knowledge_refuses_rows_of_the_wrong_width():
    with pytest.raises(ValueError, match=r"seed_rows: expected a non-empty \(n, 2\) array"):
        Knowledge((FeatureInfo("a"), FeatureInfo("b")), np.zeros((3, 3)), np.zeros((5, 2)))

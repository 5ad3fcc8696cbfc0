"""The output-hardening benchmark's attack: exact answers give an exact copy, labels do not."""

import numpy as np

from benchmarks.response_hardening import FEATURES, SETTINGS, copy_agreement, target


def test_exact_probabilities_give_an_exact_copy_from_d_plus_one_queries():
    model = target(np.random.default_rng(0))
    agreement = copy_agreement(model, SETTINGS["exact"], FEATURES + 1, np.random.default_rng(1))
    assert agreement == 1.0


def test_rounded_and_label_only_answers_give_a_worse_copy_for_the_same_queries():
    model = target(np.random.default_rng(0))
    exact, two, labels = (
        copy_agreement(model, SETTINGS[name], 20, np.random.default_rng(2))
        for name in ("exact", "2 decimals", "label only")
    )
    assert exact == 1.0
    assert two < exact
    assert labels < 0.95

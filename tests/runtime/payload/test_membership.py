"""The membership check: a row hits when any of its grid hashes is a training row's; the
bucket filter in front of the search never hides one."""

from __future__ import annotations

import numpy as np
import pytest

from secure_endpoint.runtime.payload.reference import Membership, MembershipHasher

KEY = b"a-membership-key-of-32-bytes-at-least"


@pytest.mark.parametrize("training", [0, 1, 1_000, 40_000])
def test_hits_are_exactly_the_rows_sharing_a_hash_with_training(training):
    rng = np.random.default_rng(training)
    hasher = MembershipHasher(KEY, 6)
    rows = rng.normal(size=(training, 6))
    known = np.unique(hasher.hashes(rows).ravel()) if training else np.zeros(0, np.uint64)
    membership = Membership(known, 0.0, training)
    queries = np.concatenate([rows[: min(training, 300)], rng.normal(size=(2_000, 6))])
    if training:  # near-exact copies: a tiny step keeps most of them in their cells
        queries = np.concatenate(
            [queries, rows[:300] + rng.normal(0, 1e-4, (min(training, 300), 6))]
        )
    hashes = hasher.hashes(queries)
    expected = np.isin(hashes, known).any(axis=1)
    found = membership.hits(hashes)
    np.testing.assert_array_equal(found, expected)
    assert found[: min(training, 300)].all()  # every training row finds itself
    if training >= 1_000:
        assert found[-300:].mean() > 0.95

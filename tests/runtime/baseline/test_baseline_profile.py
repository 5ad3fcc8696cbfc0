"""The profiler: exact statistics, types from the spelling, one-hot groups, merging shards."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secure_endpoint.runtime.baseline.profile import Profile, Profiler, profile_blocks
from secure_endpoint.runtime.baseline.readers import BaselineInputError, Block, block_from_csv_text


def block(values, spelled=None) -> Block:
    array = np.asarray(values, dtype=np.float64)
    if spelled is None:
        spelled = np.all((array == np.floor(array)) | np.isnan(array), axis=0)
    return Block(array, np.asarray(spelled, dtype=bool))


def profile_of(names, *blocks_, **kwargs) -> Profile:
    return profile_blocks(names, blocks_, **kwargs)


def kinds(profile: Profile) -> dict[str, tuple[str, str]]:
    return {f.name: (f.inferred_type, f.kind) for f in profile.features}


def test_statistics_are_exact_on_small_data():
    rng = np.random.default_rng(5)
    data = rng.normal(10, 3, size=(1000, 3))
    data[::7, 1] = np.nan
    profile = profile_of(["a", "b", "c"], *(block(part) for part in np.array_split(data, 6)))
    for j, feature in enumerate(profile.features):
        column = data[:, j][~np.isnan(data[:, j])]
        assert feature.num_present == feature.numbers == len(column)
        assert feature.num_missing == 1000 - len(column)
        assert feature.mean == pytest.approx(column.mean(), rel=1e-12)
        assert feature.sum == pytest.approx(column.sum(), rel=1e-12)
        assert feature.std_dev == pytest.approx(column.std(), rel=1e-10)
        assert (feature.min, feature.max) == (column.min(), column.max())
    assert profile.features[1].num_missing == 143


def test_moments_stay_exact_far_from_zero():
    """Chan's merge, not a running sum of squares: a large offset keeps the variance."""
    rng = np.random.default_rng(2)
    data = 1e9 + rng.normal(size=(20_000, 1))
    profile = profile_of(["x"], *(block(part) for part in np.array_split(data, 10)))
    assert profile.features[0].std_dev == pytest.approx(data.std(), rel=1e-6)


def test_merged_shards_equal_one_profile():
    rng = np.random.default_rng(9)
    data = np.column_stack([rng.normal(size=5000), rng.integers(0, 4, size=5000)])
    names = ["x", "n"]
    whole = profile_of(names, block(data), k=64)
    left, right = Profiler(names, k=64), Profiler(names, k=64, seed=1)
    left.update(block(data[:1234]))
    right.update(block(data[1234:]))
    left.merge(right)
    merged = left.finish()
    for a, b in zip(whole.features, merged.features, strict=True):
        assert (a.num_present, a.min, a.max, a.inferred_type) == (
            b.num_present,
            b.min,
            b.max,
            b.inferred_type,
        )
        assert a.mean == pytest.approx(b.mean, rel=1e-12)
        assert a.std_dev == pytest.approx(b.std_dev, rel=1e-12)
    unique, counts = np.unique(data[:, 1], return_counts=True)
    assert merged.features[1].values == dict(zip(unique.tolist(), counts.tolist(), strict=True))
    assert merged.features[1].values == whole.features[1].values


def onehot(choices: np.ndarray, width: int) -> np.ndarray:
    return np.eye(width)[choices]


def test_recognizes_one_hot_groups_by_prefix_and_by_sum():
    rng = np.random.default_rng(4)
    n = 2000
    color = onehot(rng.integers(0, 3, size=n), 3)
    shape = onehot(rng.integers(0, 2, size=n), 2)
    unnamed = onehot(rng.integers(0, 4, size=n), 4)
    data = np.column_stack([rng.normal(size=n), color, shape, unnamed])
    names = ["x", "color_red", "color_green", "color_blue", "shape=round", "shape=square"]
    names += ["p", "q", "r", "s"]
    profile = profile_of(names, block(data))
    groups = [(g.name, g.indices, g.detected_by) for g in profile.one_hot_groups]
    assert groups == [
        ("color", (1, 2, 3), "prefix"),
        ("shape", (4, 5), "prefix"),
        ("p..s", (6, 7, 8, 9), "sum"),
    ]
    assert {f.name: f.one_hot_group for f in profile.features}["q"] == "p..s"
    assert kinds(profile)["color_blue"] == ("Integral", "one_hot")


def test_a_category_absent_from_training_stays_in_its_prefix_group():
    rng = np.random.default_rng(4)
    color = onehot(rng.integers(0, 2, size=500), 3)  # color_blue is never 1
    profile = profile_of(["color_red", "color_green", "color_blue"], block(color))
    assert [g.indices for g in profile.one_hot_groups] == [(0, 1, 2)]


def test_binary_features_that_are_not_one_hot():
    """Hard cases: 0/1 columns sharing a prefix that are 1 together, that miss a row, or that
    leave a row without a 1; a lone 0/1 column."""
    rng = np.random.default_rng(8)
    n = 1000
    both = rng.integers(0, 2, size=(n, 2))  # independent: sometimes 1 together
    exclusive = onehot(rng.integers(0, 3, size=n), 3)
    exclusive[::10] = 0  # every tenth row has no 1
    gappy = onehot(rng.integers(0, 2, size=n), 2)
    gappy[5, 0] = np.nan  # a missing value
    alone = rng.integers(0, 2, size=(n, 1))
    data = np.column_stack([both, exclusive, gappy, alone])
    names = ["is_a", "is_b", "pet_cat", "pet_dog", "pet_fish", "tag_x", "tag_y", "vip"]
    profile = profile_of(names, block(data))
    assert profile.one_hot_groups == ()
    assert {kind for _, kind in kinds(profile).values()} == {"binary"}


def test_integer_features_and_a_float_column_of_whole_numbers():
    text = "\n".join(f"{i % 7},{i % 7}.0,{(i % 7) / 2},{i % 2}.0,-{i}" for i in range(200))
    parsed = block_from_csv_text(text)
    profile = profile_of(["count", "whole_float", "half", "flag_float", "negative"], parsed)
    assert kinds(profile) == {
        "count": ("Integral", "integral"),
        "whole_float": ("Fractional", "fractional"),
        "half": ("Fractional", "fractional"),
        "flag_float": ("Fractional", "binary"),
        "negative": ("Integral", "integral"),
    }
    whole_float = profile.features[1]
    assert whole_float.whole_valued
    assert not profile.features[2].whole_valued
    assert whole_float.values == {float(v): c for v, c in enumerate([29, 29, 29, 29, 28, 28, 28])}


def test_a_column_written_as_integers_in_one_block_and_floats_in_another_is_fractional():
    first = block_from_csv_text("1\n2\n3")
    second = block_from_csv_text("4.0\n5\n")
    assert kinds(profile_of(["n"], first, second)) == {"n": ("Fractional", "fractional")}


def test_text_makes_a_string_feature_with_counts():
    parsed = block_from_csv_text("red,1\nblue,2\nred,\n7,3\n,4")
    profile = profile_of(["color", "n"], parsed)
    color = profile.features[0]
    assert (color.inferred_type, color.kind) == ("String", "string")
    assert color.text_values == {"red": 2, "blue": 1, "7": 1}
    assert (color.num_present, color.num_missing, color.numbers) == (4, 1, 1)
    assert color.distinct_count == 3
    assert (color.sketch, color.min, color.mean, color.values) == (None, None, None, None)
    assert profile.features[1].num_missing == 1


def test_distinct_values_are_dropped_past_the_cap():
    profile = profile_of(["x", "few"], block(np.column_stack([np.arange(100), np.arange(100) % 3])))
    assert profile.features[0].values is None
    assert profile.features[0].distinct_count is None
    assert profile.features[1].values == {0.0: 34, 1.0: 33, 2.0: 33}


def test_refuses_a_column_empty_in_every_row_and_no_rows():
    data = np.column_stack([np.arange(5.0), np.full(5, np.nan)])
    with pytest.raises(BaselineInputError, match=r"column\(s\) 'gone' empty in every one of the 5"):
        profile_of(["x", "gone"], block(data))
    with pytest.raises(BaselineInputError, match="no rows"):
        profile_of(["x"])


def test_records_rows_per_request_from_request_bodies():
    profiler = Profiler(["a", "b"])
    for rows in (1, 1, 3):
        values = np.ones((rows, 2))
        profiler.update(Block(values, np.ones(2, dtype=bool), row_counts=np.array([rows])))
    assert profiler.finish().record_rows == {1: 2, 3: 1}


def test_counts_the_rows_with_no_missing_cell():
    parsed = block_from_csv_text("1,a\n,b\n3,\n4,c\n")
    assert profile_of(["n", "s"], parsed).complete_rows == 2


@settings(max_examples=50, deadline=None)
@given(
    st.integers(2, 200),
    st.lists(st.integers(1, 199), max_size=4),
    st.integers(0, 2**32 - 1),
)
def test_any_split_into_blocks_and_shards_gives_the_same_profile(rows, cuts, seed):
    rng = np.random.default_rng(seed)
    data = np.column_stack(
        [
            rng.normal(size=rows),
            rng.integers(0, 3, size=rows),
            onehot(rng.integers(0, 2, size=rows), 2),
        ]
    )
    data[rng.random(rows) < 0.1, 0] = np.nan
    data[0, 0] = 0.5  # never an empty column
    names = ["x", "n", "c_a", "c_b"]
    whole = profile_of(names, block(data), k=16)
    edges = sorted({0, rows, *(c for c in cuts if c < rows)})
    parts = [data[a:b] for a, b in itertools.pairwise(edges)]
    shards = [Profiler(names, k=16, seed=i) for i in range(len(parts))]
    for shard, part in zip(shards, parts, strict=True):
        shard.update(block(part))
    merged = shards[0]
    for shard in shards[1:]:
        merged.merge(shard)
    split = merged.finish()
    assert split.rows == whole.rows == rows
    assert [g.indices for g in split.one_hot_groups] == [g.indices for g in whole.one_hot_groups]
    for a, b in zip(whole.features, split.features, strict=True):
        assert (a.inferred_type, a.kind, a.num_present, a.min, a.max, a.values) == (
            b.inferred_type,
            b.kind,
            b.num_present,
            b.min,
            b.max,
            b.values,
        )
        if a.mean is not None:
            assert b.mean == pytest.approx(a.mean, rel=1e-9, abs=1e-12)
            assert b.std_dev == pytest.approx(a.std_dev, rel=1e-9, abs=1e-12)
        if a.sketch is not None:
            assert b.sketch is not None
            assert b.sketch.n == a.sketch.n

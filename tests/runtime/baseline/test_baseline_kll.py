"""The KLL sketch: its rank error within the published bound, after merging too; serialization."""

from __future__ import annotations

import json

import numpy as np
import pytest

from secure_endpoint.runtime.baseline.kll import KllSketch, normalized_rank_error

ROWS = 100_000


def true_cdf(values: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.sort(values), points, side="right") / len(values)


def worst_rank_error(sketch: KllSketch, values: np.ndarray) -> float:
    points = np.quantile(values, np.linspace(0, 1, 1001))
    return float(np.abs(sketch.cdf(points) - true_cdf(values, points)).max())


@pytest.fixture(scope="module")
def values() -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.concatenate([rng.lognormal(size=ROWS // 2), rng.normal(-5, 0.1, size=ROWS // 2)])


@pytest.mark.parametrize("k", [64, 200, 2048])
def test_rank_error_stays_within_the_bound_on_100k_rows(values, k):
    sketch = KllSketch(k)
    for block in np.array_split(values, 13):
        sketch.update(block)
    assert sketch.n == ROWS
    assert sketch.retained < ROWS / 10
    assert worst_rank_error(sketch, values) <= normalized_rank_error(k)


@pytest.mark.parametrize("k", [64, 200, 2048])
def test_rank_error_stays_within_the_bound_after_merging_shards(values, k):
    shuffled = np.random.default_rng(1).permutation(values)
    shards = []
    for i, shard in enumerate(np.array_split(shuffled, 8)):
        sketch = KllSketch(k, seed=i)
        for block in np.array_split(shard, 5):
            sketch.update(block)
        shards.append(sketch)
    merged = KllSketch(k)
    for shard in shards:
        merged.merge(shard)
    assert merged.n == ROWS
    assert (merged.min, merged.max) == (values.min(), values.max())
    assert worst_rank_error(merged, values) <= normalized_rank_error(k)


def test_small_blocks_and_one_block_give_the_same_guarantee(values):
    sketch = KllSketch(200)
    for block in np.array_split(values, 2000):
        sketch.update(block)
    assert worst_rank_error(sketch, values) <= normalized_rank_error(200)


def test_memory_does_not_grow_with_the_stream():
    sketch = KllSketch(200)
    rng = np.random.default_rng(0)
    sizes = []
    for _ in range(40):
        sketch.update(rng.normal(size=25_000))
        sizes.append(sketch.retained)
    assert sketch.n == 1_000_000
    assert max(sizes[10:]) < 200 / (1 - 0.64) + 2 * len(sketch.levels)


def test_few_items_are_kept_exactly():
    sketch = KllSketch(200)
    sketch.update([3.0, 1.0, 2.0, np.nan])
    assert sketch.n == 3
    assert sketch.cdf([0.5, 1, 2.5, 3]).tolist() == [0, 1 / 3, 2 / 3, 1]
    assert sketch.quantiles([0, 0.5, 1]).tolist() == [1, 2, 3]


def test_quantiles_invert_the_cdf(values):
    sketch = KllSketch(2048)
    sketch.update(values)
    probabilities = np.linspace(0.01, 0.99, 99)
    estimated = sketch.quantiles(probabilities)
    assert np.all(np.diff(estimated) >= 0)
    assert np.abs(true_cdf(values, estimated) - probabilities).max() <= normalized_rank_error(2048)


def test_serializes_as_model_monitor_sketch_and_back(values):
    sketch = KllSketch(200)
    sketch.update(values[:20_000])
    document = json.loads(json.dumps(sketch.to_json()))
    assert document["parameters"] == {"c": 0.64, "k": 200}
    assert all(isinstance(level, list) for level in document["data"])
    again = KllSketch.from_json(document, n=sketch.n, minimum=sketch.min, maximum=sketch.max)
    points = np.linspace(values.min(), values.max(), 50)
    assert again.cdf(points).tolist() == sketch.cdf(points).tolist()
    again.update(values[20_000:])
    assert worst_rank_error(again, values) <= normalized_rank_error(200)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("parameters"), "needs parameters"),
        (lambda d: d.update(data="x"), "1 to 61 levels"),
        (lambda d: d["data"][0].append("1"), "list of numbers"),
        (lambda d: d["data"][0].append(1.0), "stands for"),
        (lambda d: d["data"][-1].__setitem__(0, 1e9), "outside its"),
    ],
)
def test_from_json_refuses_a_sketch_that_does_not_add_up(change, message):
    sketch = KllSketch(64)
    sketch.update(np.arange(1000.0))
    document = sketch.to_json()
    change(document)
    with pytest.raises(ValueError, match=message):
        KllSketch.from_json(document, n=1000, minimum=0, maximum=999)


def test_refuses_to_merge_other_parameters_and_infinite_values():
    with pytest.raises(ValueError, match="other parameters"):
        KllSketch(64).merge(KllSketch(128))
    with pytest.raises(ValueError, match="finite"):
        KllSketch(64).update([1.0, np.inf])
    with pytest.raises(ValueError, match="k must be"):
        KllSketch(4)
    with pytest.raises(ValueError, match="no quantiles"):
        KllSketch(64).quantiles([0.5])


def test_quantiles_and_cdf_follow_every_update_and_merge():
    """The sorted items are kept between questions, never past a change of the sketch."""
    sketch = KllSketch(k=64)
    sketch.update(np.arange(100.0))
    assert sketch.cdf([49.0]).tolist() == [0.5]
    assert sketch.quantiles([1.0]).tolist() == [99.0]
    sketch.update(np.arange(100.0, 200.0))
    assert sketch.cdf([49.0]).tolist() == [0.25]
    other = KllSketch(k=64)
    other.update(np.full(200, 1000.0))
    sketch.merge(other)
    assert sketch.quantiles([1.0]).tolist() == [1000.0]
    assert sketch.cdf([199.0]).tolist() == [0.5]

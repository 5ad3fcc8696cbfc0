"""The payload detector on a small world: legitimate clients of several kinds (own
sub-populations, a periodic integration re-sending its rows with a jitter, a batch job) and one
attacker per kind. Every attacker is found with its kind, no legitimate client is, and a run
split in two through the saved state finds the same."""

from __future__ import annotations

import math

import numpy as np
import pytest

from secure_endpoint.cli.commands import main
from secure_endpoint.runtime.baseline import store
from secure_endpoint.runtime.capture.records import Capture
from secure_endpoint.runtime.payload import detector as detector_module
from secure_endpoint.runtime.payload.detector import (
    DetectorConfig,
    PayloadDetector,
    rate_digits,
    shapiro_francia,
)
from secure_endpoint.runtime.payload.reference import PayloadReference
from secure_endpoint.simulate.capture import population as pop

KEY = b"m" * 32
START = 1_767_225_600.0
WEIGHTS = np.random.default_rng(5).normal(0, 1, len(pop.FEATURES))


def answer(reference: PayloadReference, rows: np.ndarray) -> np.ndarray:
    """A fixed model: a logistic of the rows' normal scores."""
    z = reference.transform.normal_scores(rows[:, reference.transform.positions])
    return 1 / (1 + np.exp(-(z @ WEIGHTS[: z.shape[1]]) / 2))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("payload")
    rows, labels = pop.training_set(seed=3, n=6000)
    pop.write_training_csv(folder / "training.csv", rows, labels)
    key_file = folder / "key"
    key_file.write_bytes(KEY)
    code = main(["baseline", "--training", str(folder / "training.csv"), "--label-column",
                 "label", "--output", str(folder / "baseline"),
                 "--membership-key-file", str(key_file)])  # fmt: skip
    assert code == 0
    reference = PayloadReference.from_baseline(
        store.load_baseline(folder / "baseline"), membership_key=KEY
    )
    return reference, rows


def captures_of(reference, client, rows, start, gap, per_request=1):
    out = []
    for i in range(0, len(rows), per_request):
        chunk = rows[i : i + per_request]
        probabilities = answer(reference, chunk).tolist()
        out.append(Capture(client, f"r{i}", start + i * gap, chunk.tolist(), probabilities))
    return out


def traffic(world, seed=11):
    reference, training = world
    rng = np.random.default_rng(seed)
    captures, truth = [], {}
    for i in range(20):
        sub = pop.SubPopulation.draw(rng)
        captures += captures_of(reference, f"legit-{i}", pop.sample(rng, 300, sub), START, 60.0)
        truth[f"legit-{i}"] = None
    fixed = pop.sample(rng, 3, pop.SubPopulation.draw(rng))
    jitter = 0.002 * training.std(axis=0) * (~np.array([f.integer for f in pop.FEATURES]))
    resent = np.tile(fixed, (150, 1)) + rng.normal(0, 1, (450, fixed.shape[1])) * jitter
    captures += captures_of(reference, "periodic", pop.round_rows(resent), START, 30.0, 3)
    truth["periodic"] = None
    batch = pop.sample(rng, 3000, pop.SubPopulation.training())
    captures += captures_of(reference, "batch", batch, START + 3600, 1.0, 250)
    truth["batch"] = None
    # attackers
    marginal = np.column_stack([rng.choice(training[:, j], 300) for j in range(training.shape[1])])
    captures += captures_of(reference, "marginal", marginal, START, 60.0)
    truth["marginal"] = "extraction"
    impossible = pop.sample(rng, 200, pop.SubPopulation.training())
    impossible[:, 0] = rng.uniform(200, 400, 200)  # age beyond any training row
    captures += captures_of(reference, "impossible", impossible, START, 60.0)
    truth["impossible"] = "out_of_distribution"
    members = np.vstack([training[rng.choice(len(training), 150)],
                         pop.sample(rng, 150, pop.SubPopulation.training())])  # fmt: skip
    captures += captures_of(reference, "member", members[rng.permutation(300)], START, 60.0)
    truth["member"] = "membership"
    captures += captures_of(reference, "prober", boundary_walks(reference, rng), START, 20.0)
    truth["prober"] = "probing"
    captures.sort(key=lambda c: c.time)
    return captures, truth


def boundary_walks(reference, rng):
    """Binary searches between pairs of rows with different answers, as a decision-based
    adversarial search does: shrinking steps, the label flipping back and forth."""
    queries = []
    base = pop.sample(rng, 400, pop.SubPopulation.training())
    labels = answer(reference, base) >= 0.5
    positives, negatives = base[labels], base[~labels]
    for k in range(12):
        a, b = positives[k], negatives[k]
        for _ in range(25):
            middle = (a + b) / 2
            queries.append(middle)
            if answer(reference, middle[None])[0] >= 0.5:
                a = middle
            else:
                b = middle
    return np.array(queries)


def by_client(findings):
    return {(f.client_id, f.kind): f for f in findings}


def test_every_attacker_is_found_with_its_kind_and_no_legitimate_client(world):
    reference, _ = world
    captures, truth = traffic(world)
    findings = PayloadDetector(reference).run(captures)
    found = by_client(findings)
    flagged = {client for client, _ in found}
    legitimate = {c for c, kind in truth.items() if kind is None}
    assert flagged & legitimate == set()
    for client, kind in truth.items():
        if kind is not None:
            assert (client, kind) in found, (client, kind, sorted(found))
    ood = found[("impossible", "out_of_distribution")]
    assert ood.evidence["violating_rows"] == ood.evidence["rows"] > 0  # every row violates
    assert ood.queries <= 20  # every row violates: found after a handful
    member = found[("member", "membership")]
    assert 0.3 < member.evidence["rate"] < 0.7  # half of its rows were training rows
    extraction = found[("marginal", "extraction")]
    assert extraction.evidence["mean_joint_llr"] < extraction.evidence["population_median_llr"]
    assert extraction.queries <= 100
    assert found[("prober", "probing")].evidence["label_flips"] >= 10
    for finding in findings:
        document = finding.to_json()
        assert set(document) == {"client_id", "kind", "first_seen", "score", "queries",
                                 "evidence"}  # fmt: skip
        assert document["first_seen"].endswith("Z")
        assert document["score"] >= DetectorConfig().threshold


def test_a_run_split_through_the_saved_state_finds_the_same(world):
    reference, _ = world
    captures, _ = traffic(world, seed=12)
    whole = PayloadDetector(reference).run(captures)
    half = len(captures) // 2
    first = PayloadDetector(reference)
    early = first.run(captures[:half])
    resumed = PayloadDetector.from_state_bytes(reference, first.state_bytes())
    late = resumed.run(captures[half:])
    assert {(f.client_id, f.kind) for f in early + late} == {(f.client_id, f.kind) for f in whole}
    assert resumed.total.shape[0] >= len(resumed.ids)
    # a finding is raised once per client and kind, not again in a later run
    again = resumed.run(captures)
    assert not {(f.client_id, f.kind) for f in again} & {(f.client_id, f.kind) for f in whole}


def test_state_of_another_shape_is_refused(world):
    reference, _ = world
    detector = PayloadDetector(reference)
    detector.run(traffic(world)[0][:200])
    data = detector.state_bytes()
    with pytest.raises(ValueError, match="start afresh"):
        PayloadDetector.from_state_bytes(reference, data, DetectorConfig(recent=32))
    with pytest.raises(ValueError, match="cannot be read"):
        PayloadDetector.from_state_bytes(reference, b"not an npz")


def test_rows_of_the_wrong_width_and_missing_answers_are_counted_never_fatal(world):
    reference, _ = world
    detector = PayloadDetector(reference)
    width = reference.transform.width
    rng = np.random.default_rng(1)
    garbage = (
        [Capture("odd", f"r{i}", START + i, [[1.0] * (width + 1)], []) for i in range(40)]
        + [  # a string among real values: a distinct row of the wrong type each time
            Capture(
                "typed",
                f"s{i}",
                START + i,
                [["text", *pop.sample(rng, 1, pop.SubPopulation.training())[0, 1:].tolist()]],
                [math.nan],
            )
            for i in range(40)
        ]
    )
    findings = detector.run(garbage)
    assert [(f.client_id, f.kind) for f in findings] == [("typed", "out_of_distribution")]
    assert findings[0].evidence["violating_rows"] == findings[0].evidence["distinct_rows_checked"]
    # forty rows of the wrong width are forty rows, one distinct (their values are unreadable)
    odd = detector.index["odd"]
    assert detector.total[odd, 0] == 40
    assert detector.total[odd, detector_module.DISTINCT] == 1
    assert detector.total[odd, detector_module.OOD] == 1


def test_a_client_re_sending_one_odd_row_is_one_odd_row(world):
    """A periodic integration whose record happens to be jointly implausible (or out of range)
    re-sends it all day: the evidence is one row, not hundreds."""
    reference, training = world
    rng = np.random.default_rng(4)
    odd = np.column_stack([rng.choice(training[:, j], 1) for j in range(training.shape[1])])
    odd[0, 0] = 300.0  # out of range as well
    population = [
        c
        for i in range(10)
        for c in captures_of(reference, f"legit-{i}",
                             pop.sample(rng, 100, pop.SubPopulation.draw(rng)), START, 60.0)
    ]  # fmt: skip
    resent = captures_of(reference, "periodic", np.repeat(odd, 500, axis=0), START, 10.0)
    findings = PayloadDetector(reference).run(sorted(population + resent, key=lambda c: c.time))
    assert findings == []


def test_rate_digits_is_a_chernoff_bound_of_the_binomial_tail():
    # P(Binomial(100, 0.01) >= 10) is about 7.6e-8; the bound is looser (smaller digits)
    digits = rate_digits(np.array([10.0]), np.array([100.0]), 0.01)[0]
    assert 5.0 < digits < 7.2
    assert rate_digits(np.array([1.0]), np.array([100.0]), 0.01)[0] == 0.0


def test_shapiro_francia_tells_a_normal_sample_from_a_bimodal_one():
    rng = np.random.default_rng(0)
    _, normal = shapiro_francia(rng.normal(size=200))
    two_modes = np.concatenate([rng.normal(0, 0.05, 100), rng.normal(3, 0.05, 100)])
    _, bimodal = shapiro_francia(two_modes)
    assert normal < 2.5
    assert bimodal > 6


def test_a_record_re_sent_with_a_jitter_is_not_a_boundary_search(world):
    """An integration re-sending a record that sits at the decision boundary, with a
    measurement jitter of a few percent: near duplicates, answers moving and flipping, all
    around one place. A boundary search walks away from where it started; this does not."""
    reference, training = world
    rng = np.random.default_rng(8)
    base = pop.sample(rng, 400, pop.SubPopulation.training())
    p = answer(reference, base)
    record = base[np.argmin(np.abs(p - 0.5))][None, :]  # the row nearest the boundary
    spread = training.std(axis=0) * ~np.array([f.integer for f in pop.FEATURES])
    resent = np.repeat(record, 300, axis=0) + rng.normal(0, 0.03, (300, record.shape[1])) * spread
    population = [
        c
        for i in range(10)
        for c in captures_of(reference, f"legit-{i}",
                             pop.sample(rng, 100, pop.SubPopulation.draw(rng)), START, 60.0)
    ]  # fmt: skip
    jittery = captures_of(reference, "jittery", pop.round_rows(resent), START, 60.0)
    walker = captures_of(reference, "walker", boundary_walks(reference, rng)[:150], START, 60.0)
    findings = PayloadDetector(reference).run(
        sorted(population + jittery + walker, key=lambda c: c.time)
    )
    flagged = {(f.client_id, f.kind) for f in findings}
    assert ("walker", "probing") in flagged
    legitimate = {"jittery"} | {f"legit-{i}" for i in range(10)}
    assert not {client for client, _ in flagged} & legitimate


def mixed_volumes(reference, rng):
    """Clients of every volume a batch: a row every half hour, bursts of 12, 400 rows an hour
    (more than ``sample_rows``), a boundary search and a record re-sent: enough rows for full
    rings and reservoirs."""
    captures = []
    walk = boundary_walks(reference, rng)[:120]
    for i in range(12):
        rows = pop.sample(rng, 120, pop.SubPopulation.draw(rng))
        if i == 0:
            rows = walk
        if i == 1:
            rows = np.repeat(rows[:1], 120, axis=0)
        gap, per_request = (1800.0, 1) if i < 6 else (300.0, 12)
        captures += captures_of(reference, f"c{i}", rows, START + 60 * i, gap, per_request)
    heavy = pop.sample(rng, 1200, pop.SubPopulation.draw(rng))
    captures += captures_of(reference, "heavy", heavy, START, 9.0, 4)
    captures.sort(key=lambda c: c.time)
    return captures


def test_clients_are_judged_the_same_whatever_the_groups_they_are_assessed_in(world, monkeypatch):
    """Clients whose samples are of one size are assessed together: groups of one client each
    count, remember and find the same, to the bit."""
    reference, _ = world
    captures = mixed_volumes(reference, np.random.default_rng(9))
    together = PayloadDetector(reference)
    found_together = together.run(captures)
    monkeypatch.setattr(detector_module, "_GROUP_CELLS", 1)
    alone = PayloadDetector(reference)
    found_alone = alone.run(captures)
    assert [f.to_json() for f in found_together] == [f.to_json() for f in found_alone]
    assert together.ids == alone.ids
    for name in detector_module._STATE_ARRAYS:
        assert np.array_equal(getattr(together, name), getattr(alone, name), equal_nan=True), name
    slot = together.index
    assert together.total[slot["c0"], detector_module.NEAR] > 3  # the walk's steps counted
    assert together.total[slot["heavy"], detector_module.ASSESSED] < 1200  # sampled
    assert together.total[slot["heavy"], detector_module.ROWS] == 1200


def test_each_client_keeps_its_last_rows_and_a_uniform_reservoir_of_the_rest(world):
    """The ring holds a client's last ``recent`` rows in order, the reservoir rows of its
    history at the places it records, and the distance ring one distance per new query."""
    reference, _ = world
    rng = np.random.default_rng(4)
    rows = pop.sample(rng, 150, pop.SubPopulation.draw(rng))
    captures = captures_of(reference, "c", rows, START, 200.0, 7)  # bursts of 7, 18 an hour
    detector = PayloadDetector(reference)
    detector.run(captures)
    transform = reference.transform
    half = detector_module._half(
        transform.normal_scores(rows[:, transform.positions]).astype(np.float32)
    )
    slot, capacity = detector.index["c"], detector.config.recent
    assert detector.remembered[slot] == 150
    assert detector.filled[slot].tolist() == [capacity, capacity]
    assert np.array_equal(detector.recent[slot, 0], half[-capacity:])
    places = detector.reservoir_index[slot]
    assert len(set(places.tolist())) == capacity
    assert places.max() < 150
    assert np.array_equal(detector.recent[slot, 1], half[places])
    novel = detector.total[slot, detector_module.NOVEL]
    assert detector.distance_count[slot] == novel > 100

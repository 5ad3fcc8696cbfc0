"""The simulator's attacker profiles and heavy users: they run the red-team strategies inside the
usage plan at a normal client's pace, from a random hour, with their ground truth in
truth.jsonl; deterministic for a seed (one small 30-hour run per module)."""

import base64
import json
from collections import Counter, defaultdict
from datetime import datetime

import numpy as np
import pytest

from secure_endpoint.simulate.capture import population as pop
from secure_endpoint.simulate.capture.attacks import ATTACKERS, NAMES
from secure_endpoint.simulate.capture.profiles import PROFILES, QueryBudget
from secure_endpoint.simulate.capture.simulator import (
    DEFAULT_CLIENTS,
    Config,
    generate,
    load_model,
)

HOURS = 30
ATTACKS = {"attack:extraction:marginal": 1, "attack:extraction:active": 1,
           "attack:probing:hopskipjump": 1, "attack:probing:coordinate": 1,
           "attack:out_of_distribution:impossible": 1, "attack:out_of_distribution:onehot": 1,
           "attack:membership:exact": 1, "attack:membership:perturbed": 1,
           "attack:extraction": 2}  # fmt: skip
CLIENTS = {"legit:interactive": 6, "legit:periodic": 2, "legit:heavy": 1, **ATTACKS}


def _generate(out, seed=4):
    config = Config(out, seed=seed, hours=HOURS, clients=CLIENTS, malformed_rate=0.0,
                    training_rows=2_000, drift=())  # fmt: skip
    generate(config)
    truth = [json.loads(line) for line in (out / "truth.jsonl").read_text().splitlines()]
    scenario = json.loads((out / "scenario.json").read_text())
    return truth, scenario


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("attacks")
    truth, scenario = _generate(out)
    lines = {}
    for path in sorted((out / "capture").rglob("*.jsonl")):
        for raw in path.read_text().splitlines():
            record = json.loads(raw)
            lines[record["eventMetadata"]["eventId"]] = record
    return out, truth, scenario, lines


def test_every_kind_and_strategy_has_a_registered_profile():
    kinds = {"extraction", "probing", "out_of_distribution", "membership"}
    assert set(NAMES) == kinds
    for kind, names in NAMES.items():
        assert f"attack:{kind}" in PROFILES
        for name in names:
            assert PROFILES[f"attack:{kind}:{name}"] is ATTACKERS[f"attack:{kind}:{name}"]
            assert not ATTACKERS[f"attack:{kind}:{name}"].legitimate
    assert PROFILES["legit:heavy"].legitimate


def test_the_default_clients_are_unchanged():
    assert dict(DEFAULT_CLIENTS) == {"legit:interactive": 30, "legit:batch": 3,
                                     "legit:periodic": 6, "legit:replay": 1,
                                     "legit:canary": 1}  # fmt: skip


def _by_client(truth):
    out = defaultdict(list)
    for record in truth:
        out[record["client_id"]].append(record)
    return out


def test_attackers_stay_inside_the_usage_plan_at_a_normal_clients_volume(run):
    _, truth, scenario, _ = run
    budget = QueryBudget()
    by_client = _by_client(truth)
    legit_max = max(len(v) for v in by_client.values() if v[0]["legitimate"])
    for client in scenario["clients"]:
        if client["legitimate"]:
            continue
        sent = by_client[client["client_id"]]
        epochs = np.array([r["epoch"] for r in sent])
        days = Counter(int(e // 86_400) for e in epochs)
        assert max(days.values()) <= budget.quota_per_day // 4
        assert max(days.values()) <= client["dailyCap"]
        assert np.diff(epochs).min() >= 1 / budget.rate_per_second - 1e-3
        assert len(sent) < legit_max  # the heavy user sends more
        hours = (epochs.max() - client["startEpoch"]) / 3600
        assert len(sent) <= 1.5 * client["perHour"] * hours + 30
        assert all(r["rows"] <= client["rowsPerRequest"] for r in sent)


def test_attackers_start_at_their_own_hour_and_mark_each_request(run):
    _, truth, scenario, _ = run
    by_client = _by_client(truth)
    starts = set()
    for client in scenario["clients"]:
        if client["legitimate"]:
            continue
        sent = by_client[client["client_id"]]
        assert sent[0]["epoch"] >= client["startEpoch"]
        starts.add(int(client["startEpoch"] // 3600))
        queries = [r["query"] for r in sent]
        assert queries[0] == 0
        # Each request's first query index follows the rows sent before it.
        assert queries == np.concatenate([[0], np.cumsum([r["rows"] for r in sent])[:-1]]).tolist()
        assert {r["strategy"] for r in sent} == {client["strategy"]}
        assert {r["attack"] for r in sent} == {client["profile"].split(":")[1]}
        assert all(isinstance(r["detail"], dict) for r in sent)
    assert len(starts) > 3


def test_the_heavy_user_is_legitimate_and_near_but_under_the_quota(run):
    _, truth, scenario, _ = run
    heavy = [c for c in scenario["clients"] if c["profile"] == "legit:heavy"]
    assert len(heavy) == 1
    sent = _by_client(truth)[heavy[0]["client_id"]]
    first_day = [r for r in sent if r["epoch"] < scenario_start(scenario) + 86_400]
    quota = QueryBudget().quota_per_day
    assert 0.4 * quota < len(first_day) <= 0.95 * quota
    assert all(r["legitimate"] for r in sent)


def scenario_start(scenario):
    start = scenario["parameters"]["start"].replace("Z", "+00:00")
    return datetime.fromisoformat(start).timestamp()


def _rows(record):
    data = record["captureData"]["endpointInput"]
    text = base64.b64decode(data["data"]).decode() if data["encoding"] == "BASE64" else data["data"]
    if data["observedContentType"] == "text/csv":
        return np.array([[float(v) for v in line.split(",")] for line in text.splitlines()])
    return np.array(json.loads(text)["instances"], dtype=float)


def _answers(record):
    data = record["captureData"]["endpointOutput"]
    if data["observedContentType"].startswith("text/csv"):
        return np.array([float(v) for v in data["data"].splitlines()])
    return np.array(json.loads(data["data"])["predictions"])


def test_out_of_distribution_attackers_capture_impossible_and_invalid_rows(run):
    out, truth, _, lines = run
    model = load_model(out)
    lo = np.array([0 if f.kind in ("lognormal", "count") else f.lo for f in pop.FEATURES])
    hi = np.array([f.hi for f in pop.FEATURES])
    integer = np.array([f.integer for f in pop.FEATURES])
    regions = list(pop.REGION_COLUMNS)
    for strategy in ("ood:impossible", "ood:onehot"):
        sent = [r for r in truth if r.get("strategy") == strategy]
        assert len(sent) > 100
        rows = np.concatenate([_rows(lines[r["eventId"]]) for r in sent])
        assert len(rows) == sum(r["rows"] for r in sent)
        if strategy == "ood:impossible":
            bad = (rows < lo) | (rows > hi) | (integer & (rows % 1 != 0))
            flagged = bad.any(axis=1)
        else:
            group = rows[:, regions]
            flagged = ~(np.isin(group, (0, 1)).all(axis=1) & (group.sum(axis=1) == 1))
        corrupted = np.repeat([r["detail"]["corruption"] != "none" for r in sent],
                              [r["rows"] for r in sent])  # fmt: skip
        assert (flagged == corrupted).all()
        assert corrupted.mean() > 0.6
        # Their own bodies are answered by the model all the same.
        answers = np.concatenate([_answers(lines[r["eventId"]]) for r in sent])
        assert np.allclose(answers, model.predict_proba(rows), atol=1e-9)


def test_exact_membership_rows_are_training_rows_where_the_truth_says_so(run):
    out, truth, _, lines = run
    rows, _ = pop.read_training_csv(out / "training.csv")
    training = {tuple(r) for r in rows.tolist()}
    sent = [r for r in truth if r.get("strategy") == "membership:exact"]
    assert len(sent) > 100
    for record in sent:
        replayed = _rows(lines[record["eventId"]])
        member = record["detail"]["member"]
        members = member if isinstance(member, list) else [member] * len(replayed)
        assert [tuple(r) in training for r in replayed.tolist()] == members
    flags = [m for r in sent for m in np.atleast_1d(r["detail"]["member"]).tolist()]
    assert 0.2 < np.mean(flags) < 1


def test_probing_attackers_send_chains_of_near_duplicates(run):
    _, truth, _, lines = run
    for strategy in ("boundary:hopskipjump", "boundary:coordinate"):
        sent = [r for r in truth if r.get("strategy") == strategy]
        rows = np.concatenate([_rows(lines[r["eventId"]]) for r in sent])
        changed = (np.diff(rows, axis=0) != 0).sum(axis=1)
        if strategy == "boundary:coordinate":
            assert np.median(changed) <= 2
        phases = Counter(r["detail"]["phase"] for r in sent)
        assert set(phases) >= ({"binary", "gradient"} if "hop" in strategy else {"coordinate"})


def test_attack_runs_are_deterministic_for_a_seed(run, tmp_path):
    _, truth, _, _ = run
    again, _ = _generate(tmp_path / "again")
    assert [r["payloadSha256"] for r in again] == [r["payloadSha256"] for r in truth]
    other, _ = _generate(tmp_path / "other", seed=5)
    assert [r["payloadSha256"] for r in other] != [r["payloadSha256"] for r in truth]

"""The traffic simulator, the threshold baseline and the detection scoring (small, fast inputs)."""

import json
import re

import numpy as np
import pytest

from benchmarks.baseline import threshold_scores
from benchmarks.detection import (
    baseline_verdicts,
    evaluate,
    mann_whitney_auc,
    read_log,
    roc_auc,
    run,
)
from secure_endpoint.constructs.access_log import ACCESS_LOG_FIELDS
from secure_endpoint.simulate.traffic import (
    ATTACK_KINDS,
    KINDS,
    LEGIT_KINDS,
    OUTCOMES,
    Config,
    Truth,
    ensure,
    generate,
)

SMALL = {"hours": 1.5, "baseline_hours": 1.5, "clients": 30, "seed": 3}
T0 = 1_772_409_600  # an epoch-aligned window start


@pytest.fixture(scope="module")
def traffic(tmp_path_factory):
    out = tmp_path_factory.mktemp("traffic")
    return out, generate(Config(out, **SMALL))


_PARSED: dict = {}


def _records(path):
    """The parsed lines of a file (parsed once per module: the files do not change)."""
    if path not in _PARSED:
        with path.open() as lines:
            _PARSED[path] = [json.loads(line) for line in lines]
    return _PARSED[path]


def _principal(record):
    return record["sourceIp"] if record["clientId"] == "-" else record["clientId"]


def _kinds_in(path, truth):
    return {
        truth.label(_principal(r), int(r["requestTimeEpoch"]) // 1000 // 300 * 300)
        for r in _records(path)
    }


# --- the simulator --------------------------------------------------------------------------------


def test_the_simulator_is_deterministic_by_seed(tmp_path):
    tiny = {"hours": 1.0, "baseline_hours": 1.0, "clients": 10}
    for name, seed in (("first", 5), ("again", 5), ("other", 6)):
        generate(Config(tmp_path / name, seed=seed, **tiny))
    for name in ("baseline.jsonl", "access.jsonl", "truth.json"):
        first = (tmp_path / "first" / name).read_bytes()
        assert (tmp_path / "again" / name).read_bytes() == first
        assert (tmp_path / "other" / name).read_bytes() != first


def test_traffic_is_generated_again_only_for_other_parameters(tmp_path):
    tiny = Config(tmp_path, hours=0.5, baseline_hours=0.5, clients=5, seed=1)
    assert ensure(tiny)[1]
    assert not ensure(tiny)[1]
    assert ensure(Config(tmp_path, hours=0.5, baseline_hours=0.5, clients=5, seed=2))[1]
    assert ensure(Config(tmp_path, hours=0.5, baseline_hours=0.5, clients=5, seed=2), again=True)[1]


def test_the_period_can_start_at_another_window_boundary(tmp_path):
    later = T0 + 7 * 86_400 + 300
    truth = generate(Config(tmp_path, hours=1.0, baseline_hours=0.5, clients=5, start=later))

    periods = {name: (p["start"], p["end"]) for name, p in truth.periods.items()}
    assert periods == {"baseline": (later - 1800, later), "evaluated": (later, later + 3600)}
    assert truth.parameters["start"] == later
    assert all(later <= a["start"] < later + 3600 for a in truth.attacks)
    times = [int(r["requestTimeEpoch"]) for r in _records(tmp_path / "access.jsonl")]
    assert later * 1000 <= min(times) <= max(times) < (later + 3600) * 1000
    assert "start" not in Config(tmp_path).parameters()  # the default keeps the cache key
    with pytest.raises(ValueError, match="start must be on a window boundary"):
        Config(tmp_path, start=later + 1)


@pytest.mark.parametrize("name", ["baseline.jsonl", "access.jsonl"])
def test_every_line_has_exactly_the_pinned_keys_with_string_values(traffic, name):
    out, _ = traffic
    records = _records(out / name)
    assert records
    for record in records:
        assert list(record) == list(ACCESS_LOG_FIELDS)
        assert all(isinstance(value, str) and value for value in record.values())


@pytest.mark.parametrize("name", ["baseline.jsonl", "access.jsonl"])
def test_lines_are_in_time_order_inside_their_period(traffic, name):
    out, truth = traffic
    period = truth.periods["baseline" if name == "baseline.jsonl" else "evaluated"]
    times = [int(r["requestTimeEpoch"]) for r in _records(out / name)]
    assert times == sorted(times)
    assert period["start"] * 1000 <= times[0]
    assert times[-1] < period["end"] * 1000
    assert len(times) == period["lines"]


def test_answers_are_the_ones_the_api_gives(traffic):
    out, _ = traffic
    answers = {(o.status, o.error_type, o.waf) for o in OUTCOMES.values()}
    records = _records(out / "access.jsonl") + _records(out / "baseline.jsonl")
    for r in records:
        status = int(r["status"])
        assert (status, r["errorType"], r["wafResponseCode"]) in answers
        # requests rejected before the authorizer carry neither a client id nor an API key id
        rejected_early = status in (401, 404) or r["errorType"] in (
            "INVALID_API_KEY", "WAF_FILTERED", "ACCESS_DENIED",
        )  # fmt: skip
        assert (r["clientId"] == "-") == rejected_early, r
        assert (r["apiKeyId"] == "-") == rejected_early, r
        assert (r["integrationLatency"] == "-") == (r["errorType"] != "-" and status != 504), r
        assert r["resourcePath"] in ("/v1/predict", "-"), r  # a route of the API, or none
        predict = (r["httpMethod"], r["resourcePath"]) == ("POST", "/v1/predict")
        if r["errorType"] != "WAF_FILTERED":  # the WAF answers before any route is matched
            assert (status == 404) == (not predict), r
        assert r["tlsVersion"] in ("TLSv1.2", "TLSv1.3")
        assert int(r["responseLength"]) > 0
        assert int(r["responseLatency"]) >= 0
    assert {"200", "400", "401", "403", "404", "429", "503"} <= {r["status"] for r in records}
    assert len({r["requestId"] for r in records}) == len(records)


def test_ids_look_like_cognito_client_ids_and_api_key_ids(traffic):
    out, _ = traffic
    records = _records(out / "access.jsonl")
    clients = {r["clientId"] for r in records} - {"-"}
    keys = {r["apiKeyId"] for r in records} - {"-"}
    assert clients
    assert all(re.fullmatch(r"[a-z0-9]{26}", c) for c in clients)
    assert keys
    assert all(re.fullmatch(r"[a-z0-9]{10}", k) for k in keys)
    assert all(re.fullmatch(r"[0-9a-f-]{36}", r["requestId"]) for r in records)


def test_every_attack_and_legit_kind_is_in_the_truth_and_in_the_logs(traffic):
    out, truth = traffic
    assert {a["kind"] for a in truth.attacks} == set(ATTACK_KINDS)
    assert set(truth.counts["evaluated"]) == set(KINDS)
    assert {k for segments in truth.segments.values() for k, _, _ in segments} == set(KINDS)
    assert _kinds_in(out / "access.jsonl", truth) == set(KINDS)  # every line is labelled


def test_the_baseline_period_has_no_attacks(traffic):
    out, truth = traffic
    kinds = _kinds_in(out / "baseline.jsonl", truth)
    assert {"legit:diurnal", "legit:periodic"} <= kinds <= set(LEGIT_KINDS) - {"legit:surge"}
    assert all(a["start"] >= truth.periods["evaluated"]["start"] for a in truth.attacks)
    assert not set(truth.counts["baseline"]) & set(ATTACK_KINDS)


def test_a_spread_out_probe_and_a_stolen_secret_stay_low_per_address(traffic):
    out, truth = traffic
    attacks = {a["kind"]: a for a in truth.attacks}
    probe = set(attacks["attack:distributed-probe"]["principals"])
    victim = attacks["attack:stolen-secret"]["principals"][0]
    records = _records(out / "access.jsonl")
    per_probe: dict[str, int] = {}
    addresses = set()
    for r in records:
        if r["sourceIp"] in probe:
            per_probe[r["sourceIp"]] = per_probe.get(r["sourceIp"], 0) + 1
        if r["clientId"] == victim:
            addresses.add(r["sourceIp"])
    assert len(per_probe) == len(probe) >= 60
    assert max(per_probe.values()) <= 4
    assert len(addresses) > 20


def test_truth_labels_prefer_the_attack_then_the_surge(tmp_path):
    truth = Truth(300, 1, {}, [])
    truth.add("c", "legit:diurnal", T0, T0 + 3600)
    truth.add("c", "legit:surge", T0 + 600, T0 + 1200)
    truth.add("c", "attack:extraction", T0 + 1100, T0 + 3600)
    assert truth.label("c", T0) == "legit:diurnal"
    assert truth.label("c", T0 + 600) == "legit:surge"
    assert truth.label("c", T0 + 900) == "attack:extraction"  # overlaps the attack's start
    assert truth.label("other", T0) is None
    path = tmp_path / "truth.json"
    path.write_text(json.dumps(truth.to_json()))
    assert Truth.load(path).label("c", T0 + 900) == "attack:extraction"


# --- the threshold baseline -----------------------------------------------------------------------


def _score(rows):
    """rows: (seconds after T0, address, principal, status)."""
    t, address, principal, status = zip(*rows, strict=True)
    return threshold_scores(
        [(T0 + s) * 1000 for s in t], address, principal, status, window_seconds=300
    ).as_dict()


def test_threshold_flags_more_than_100_requests_in_5_minutes():
    flagged = _score([(i * 2.9, "1.1.1.1", "c1", 200) for i in range(101)])
    quiet = _score([(i * 2.9, "1.1.1.1", "c1", 200) for i in range(100)])
    assert flagged[(T0, "c1")] == (pytest.approx(1.0), True)
    assert quiet[(T0, "c1")][1] is False


def test_threshold_windows_are_aligned_to_the_epoch():
    # 120 requests in 5 minutes, but 60 on each side of a window boundary
    scores = _score([(240 + i, "1.1.1.1", "c1", 200) for i in range(120)])
    assert scores == {
        (T0, "c1"): (pytest.approx(60 / 101), False),
        (T0 + 300, "c1"): (pytest.approx(60 / 101), False),
    }


def test_threshold_flags_50_client_errors_in_a_minute():
    assert _score([(i, "2.2.2.2", "2.2.2.2", 401) for i in range(50)])[(T0, "2.2.2.2")][1]
    assert not _score([(i, "2.2.2.2", "2.2.2.2", 401) for i in range(49)])[(T0, "2.2.2.2")][1]
    spread = _score([(i * 2, "2.2.2.2", "2.2.2.2", 403) for i in range(50)])  # 30 + 20
    assert not spread[(T0, "2.2.2.2")][1]
    server_errors = _score([(i, "2.2.2.2", "2.2.2.2", 503) for i in range(60)])
    assert not server_errors[(T0, "2.2.2.2")][1]


def test_threshold_flags_every_principal_behind_a_flagged_address():
    rows = [(i, "3.3.3.3", "3.3.3.3", 401) for i in range(55)]  # an expired token, retried
    rows += [(100, "3.3.3.3", "client", 200), (100, "4.4.4.4", "other", 200)]
    scores = _score(rows)
    assert scores[(T0, "3.3.3.3")][1]
    assert scores[(T0, "client")][1]
    assert not scores[(T0, "other")][1]


def test_threshold_misses_a_client_spread_over_many_addresses():
    rows = [(i, f"5.5.5.{i % 40}", "stolen", 200) for i in range(200)]
    assert _score(rows)[(T0, "stolen")] == (pytest.approx(5 / 101), False)


# --- the scoring of a detector --------------------------------------------------------------------


def test_mann_whitney_auc_counts_ties_half():
    assert mann_whitney_auc([3, 4], [1, 2]) == 1.0
    assert mann_whitney_auc([1], [1, 1]) == 0.5
    positive, negative = [0.2, 0.5, 0.5, 0.9], [0.1, 0.5, 0.3]
    pairs = [(p > n) + 0.5 * (p == n) for p in positive for n in negative]
    assert mann_whitney_auc(positive, negative) == pytest.approx(np.mean(pairs))
    assert roc_auc(positive, negative) == pytest.approx(np.mean(pairs))
    assert roc_auc([], negative) is None


def _oracle(truth):
    """A stub detector that knows the truth: flags exactly the attack windows."""

    def detect(access, baseline, output):
        log = read_log(access)
        rows = set(zip((log.time_ms // 300_000 * 300).tolist(), log.principal, strict=True))
        with output.open("w") as out:
            for start, principal in sorted(rows):
                attack = truth.label(principal, start).startswith("attack:")
                row = {"windowStart": start, "principal": principal, "score": float(attack)}
                out.write(json.dumps({**row, "anomalous": attack, "reasons": []}) + "\n")

    return detect


def test_a_detector_that_knows_the_truth_catches_everything_and_flags_nothing_legit(traffic):
    out, truth = traffic
    evaluation = run(Config(out, **SMALL), _oracle(truth))["secure-endpoint detect"]
    assert evaluation.unscored == evaluation.unlabelled == 0
    for kind in ATTACK_KINDS:
        result = evaluation.kinds[kind]
        assert result.caught, kind
        assert result.window_share == result.auc == 1.0, kind
    for kind in ("legit (all)", *LEGIT_KINDS):
        assert evaluation.kinds[kind].flagged_windows == 0, kind


def test_rows_without_a_verdict_count_as_not_flagged(traffic):
    out, truth = traffic
    log = read_log(out / "access.jsonl")
    evaluation = evaluate(truth, log, {})
    assert evaluation.unscored == evaluation.rows > 0
    assert not any(r.caught for r in evaluation.kinds.values())
    assert evaluation.kinds["attack:flood"].auc == 0.5


def test_the_threshold_baseline_catches_the_loud_attacks_only(traffic):
    out, truth = traffic
    log = read_log(out / "access.jsonl")
    kinds = evaluate(truth, log, baseline_verdicts(truth, log)).kinds
    loud = ("attack:flood", "attack:credential-stuffing", "attack:path-scan", "attack:extraction")
    assert all(kinds[k].caught for k in loud)
    quiet = ("attack:distributed-probe", "attack:stolen-secret", "attack:stealthy-extraction")
    assert not any(kinds[k].caught for k in quiet)
    assert kinds["legit:batch"].flagged_principals > 0  # batch jobs are flagged

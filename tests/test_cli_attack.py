"""``secure-endpoint attack``: each kind end to end against the local model (a one-hour
simulation of a small model), the stop reasons (400, 429 throttled and quota, quarantine), and
the deployed path through the CLI's client against the local HTTP server (no AWS)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from secure_endpoint.cli import main
from secure_endpoint.cli.attack import (
    LocalTransport,
    _bound,
    body,
    execute,
    oracle,
    parse_reply,
    run_remote,
)
from secure_endpoint.cli.client import ClientCredentials, InferenceClient, TokenCache
from secure_endpoint.redteam import strategies
from secure_endpoint.runtime.capture.records import Counts, read_lines
from secure_endpoint.simulate.capture import population as pop
from secure_endpoint.simulate.capture.model import TreeEnsemble
from secure_endpoint.simulate.capture.simulator import Config, generate
from secure_endpoint.simulate.local_endpoint import (
    LocalEndpoint,
    LocalServer,
    Quarantine,
    UsagePlan,
    VirtualClock,
)

START = 1_772_409_600.0


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    clients = {"legit:interactive": 8, "legit:batch": 1, "legit:periodic": 2}
    generate(Config(out, seed=3, hours=2, clients=clients, drift=(), training_rows=3000,
                    malformed_rate=0))  # fmt: skip
    return out


def _attack(sim, tmp_path, *extra):
    output = tmp_path / "report.json"
    code = main(["attack", "--local", str(sim), "--output", str(output), *extra])
    assert code == 0
    return json.loads(output.read_text())


def _attack_capture(sim, client):
    lines = [line for path in sorted((sim / "capture").rglob("*.jsonl"))
             for line in path.read_bytes().splitlines()]  # fmt: skip
    counts = Counts()
    captures = [c for c in read_lines(lines, counts) if c.client_id == client]
    assert counts.skipped == {}
    return captures


def test_extraction_reports_the_surrogates_agreement_against_queries(sim, tmp_path):
    report = _attack(sim, tmp_path, "--kind", "extraction", "--queries", "120")
    assert report["strategy"] == "extraction:marginal"
    assert report["stopped"]["reason"] == "not stopped"
    assert report["queries"]["rowsAnswered"] == 120
    curve = report["report"]["curve"]
    assert [q for q, _ in curve] == [10, 25, 50, 100, 120]
    assert all(0 <= a <= 1 for _, a in curve)
    assert report["report"]["agreement"] == curve[-1][1]
    # its rows are in the capture, attributed to its client, in the simulator's layout
    captures = _attack_capture(sim, report["client_id"])
    assert sum(len(c.rows) for c in captures) == 120
    assert report["capture"].endswith("capture/secure-endpoint-sim/AllTraffic")
    assert min(c.time for c in captures) >= START + 2 * 3600  # after the simulated hours
    assert report["requestValidation"] is True
    # inspect-capture over the capture: this client flagged, after so many of its queries
    first = report["firstFinding"]
    assert first["kind"] == "extraction"
    assert 20 <= first["queries"] <= 120
    assert first["secondsAfterStart"] == pytest.approx(first["queries"] - 1, abs=2)  # 1 a second
    assert {f["client_id"] for f in report["findings"]} == {report["client_id"]}


def test_a_boundary_search_reports_the_queries_it_needed_to_flip(sim, tmp_path):
    report = _attack(sim, tmp_path, "--kind", "boundary", "--strategy", "coordinate",
                     "--queries", "200")  # fmt: skip
    inner = report["report"]
    assert inner["strategy"] == "boundary:coordinate"
    assert inner["targets"] >= 1
    assert inner["flipped"] == len(inner["queriesToFlip"])
    assert report["queries"]["rowsAnswered"] == inner["queries"]


def test_out_of_bounds_rows_are_stopped_by_the_request_model_at_the_first_one(sim, tmp_path):
    report = _attack(sim, tmp_path, "--kind", "ood", "--queries", "50")
    stopped = report["stopped"]
    assert stopped["reason"] == "invalid_body"
    assert stopped["status"] == 400
    assert "than the" in stopped["detail"]  # the bound it broke
    assert stopped["afterQueries"] == 0
    assert report["answers"] == {"400": 1}
    assert _attack_capture(sim, report["client_id"]) == []  # refused rows never reach the model


def test_without_the_request_model_out_of_bounds_rows_reach_the_model(sim, tmp_path):
    report = _attack(sim, tmp_path, "--kind", "ood", "--queries", "30", "--no-validation")
    assert report["stopped"]["reason"] == "not stopped"
    assert report["requestValidation"] is False
    assert sum(report["report"]["corruptions"].values()) == 30
    assert len(_attack_capture(sim, report["client_id"])) == 30


def test_membership_replays_training_rows(sim, tmp_path):
    report = _attack(sim, tmp_path, "--kind", "membership", "--queries", "200", "--batch", "5")
    inner = report["report"]
    assert inner["members"] + inner["nonMembers"] == report["queries"]["rowsAnswered"]
    assert report["queries"]["requests"] >= 40
    training = np.genfromtxt(sim / "training.csv", delimiter=",", skip_header=1)[:, :-1]
    sent = np.array([row for c in _attack_capture(sim, report["client_id"]) for row in c.rows])
    replayed = (np.abs(sent[:, None, :] - training[None, :, :]).max(axis=2) == 0).any(axis=1)
    assert replayed.sum() == inner["members"]
    # the baseline was built with a membership key made for the run: the replays are seen
    assert (sim / "membership.key").stat().st_mode & 0o777 == 0o600
    assert "membership" in {f["kind"] for f in report["findings"]}


def test_a_client_quarantined_when_flagged_is_stopped_by_its_disabled_key(sim, tmp_path):
    report = _attack(sim, tmp_path, "--kind", "extraction", "--strategy", "uniform",
                     "--queries", "300", "--quarantine-on-finding", "disable")  # fmt: skip
    assert report["stopped"]["reason"] == "quarantined"
    assert report["stopped"]["status"] == 403
    assert report["quarantined"]["mode"] == "disable"
    # checked every 25 requests: stopped within 25 requests of the finding
    assert report["firstFinding"]["queries"] <= report["stopped"]["afterQueries"]
    assert report["stopped"]["afterRequests"] <= report["firstFinding"]["queries"] + 26


def test_a_quota_stops_the_run_when_it_is_spent(sim, tmp_path):
    report = _attack(sim, tmp_path, "--kind", "extraction", "--queries", "50", "--plan",
                     "10,20,12")  # fmt: skip
    assert report["stopped"]["reason"] == "quota_exceeded"
    assert report["stopped"]["status"] == 429
    assert report["queries"]["rowsAnswered"] <= 12
    assert report["answers"]["429"] == 1


def test_throttling_is_backed_off_and_retried(sim, tmp_path):
    report = _attack(sim, tmp_path, "--kind", "extraction", "--queries", "20", "--rate", "50",
                     "--plan", "2,2,")  # fmt: skip
    assert report["stopped"]["reason"] == "not stopped"
    assert report["queries"]["rowsAnswered"] == 20
    assert report["backoff"]["retries"] >= 5
    assert report["answers"]["429"] == report["backoff"]["retries"]


def test_throttling_stops_the_run_when_retries_are_spent(sim, tmp_path):
    report = _attack(sim, tmp_path, "--kind", "extraction", "--queries", "20", "--rate", "50",
                     "--plan", "2,2,", "--max-retries", "0")  # fmt: skip
    assert report["stopped"]["reason"] == "throttled"
    # the burst of 2 spent (a 400 that taught a bound spends a token too), the third refused
    assert report["stopped"]["afterRequests"] == 3
    assert report["answers"]["429"] == 1


def test_an_unknown_strategy_is_a_usage_error(sim, tmp_path, capsys):
    code = main(["attack", "--local", str(sim), "--kind", "ood", "--strategy", "marginal"])
    assert code == 2
    assert "not a ood strategy; known: ['extreme', 'impossible', 'onehot']" in (
        capsys.readouterr().err
    )


def test_a_model_directory_without_capture_is_attacked_from_now(sim, tmp_path):
    bare = tmp_path / "model"
    bare.mkdir()
    for name in ("model.json", "training.csv"):
        (bare / name).write_bytes((sim / name).read_bytes())
    report = _attack(bare, tmp_path, "--kind", "ood", "--queries", "5")
    assert report["stopped"]["reason"] == "invalid_body"
    assert report["findings"] == []
    assert report["firstFinding"] is None
    assert (bare / "baseline" / "statistics.json").is_file()
    assert not (bare / "capture").exists()  # the gateway refused all: nothing captured


def test_local_options_with_a_deployed_endpoint_are_a_usage_error(tmp_path, capsys):
    code = main(["attack", "--secret-id", "x", "--kind", "ood", "--no-validation", "--plan",
                 "1,1,1"])  # fmt: skip
    assert code == 2
    assert "--plan, --no-validation: only with --local" in capsys.readouterr().err


def test_a_directory_without_a_model_is_a_usage_error(tmp_path, capsys):
    assert main(["attack", "--local", str(tmp_path), "--kind", "ood"]) == 2
    assert "no model.json" in capsys.readouterr().err


# --- the runner with a quarantine and with a 400 it can learn from ------------------------------


@pytest.fixture(scope="module")
def model(sim):
    return TreeEnsemble.load(sim / "model.json")


def _strategy(key, queries=200, **params):
    rng = np.random.default_rng(0)
    knowledge = strategies.Knowledge.from_simulator(rng)
    return strategies.make(key, knowledge, rng, max_queries=queries, **params)


class _FlagAfter:
    """A monitor that flags the client once it has sent ``rows`` rows."""

    def __init__(self, endpoint, client, rows):
        self.endpoint, self.client, self.rows = endpoint, client, rows

    def check(self):
        if self.endpoint.stats.rows[self.client] >= self.rows:
            return [{"client_id": self.client, "kind": "extraction", "queries": self.rows}]
        return []


@pytest.mark.parametrize(("mode", "status"), [("disable", 403), ("plan", 429)])
def test_a_client_quarantined_on_its_finding_is_stopped_and_the_report_says_so(
    tmp_path, model, mode, status
):
    clock = VirtualClock(START)
    endpoint = LocalEndpoint(model, tmp_path, plan=UsagePlan(), clock=clock,
                             quarantine=Quarantine(mode=mode))  # fmt: skip
    flagged = []
    outcome = execute(
        _strategy("extraction:uniform"), LocalTransport(endpoint, "eve"), rate=1, clock=clock,
        sleep=clock.sleep, monitor=_FlagAfter(endpoint, "eve", 40), inspect_every=10,
        on_finding=lambda finding: (flagged.append(finding), endpoint.quarantine("eve")),
        quarantined=lambda: "eve" in endpoint.quarantined,
    )  # fmt: skip
    assert len(flagged) == 1
    assert outcome.stopped["reason"] == "quarantined"
    assert outcome.stopped["status"] == status
    # flagged at 40 rows (checked every 10 requests); the quarantine plan lets a few more by
    assert 40 <= outcome.rows_answered <= 40 + (0 if mode == "disable" else 50)
    assert outcome.findings[0]["queries"] == 40


def test_a_400_that_names_a_bound_is_learnt_and_the_rows_clipped(tmp_path, model):
    schema = {"type": "array", "items": {"type": "array", "items": [
        {"type": "number", "maximum": 50} if i == 0 else {} for i in range(35)]}}  # fmt: skip
    clock = VirtualClock(START)
    endpoint = LocalEndpoint(model, tmp_path, schema=schema, clock=clock)
    outcome = execute(_strategy("extraction:marginal", 40), LocalTransport(endpoint, "eve"),
                      rate=1, clock=clock, sleep=clock.sleep)  # fmt: skip
    assert outcome.stopped["reason"] == "not stopped"
    assert outcome.rows_answered == 40
    assert outcome.learnt == {"age": [None, 50.0]}
    assert outcome.repairs == 1
    endpoint.flush()
    captured = [row for c in _attack_capture(tmp_path, "eve") for row in c.rows]
    assert max(row[0] for row in captured) == 50

    stubborn = LocalEndpoint(model, tmp_path, schema=schema, clock=clock)
    outcome = execute(_strategy("extraction:marginal", 40), LocalTransport(stubborn, "eve"),
                      rate=1, clock=clock, sleep=clock.sleep, adapt=False)  # fmt: skip
    assert outcome.stopped["reason"] == "invalid_body"


# --- the deployed path, against the local HTTP server -----------------------------------------


def _args(tmp_path, **overrides):
    rows = pop.training_set(seed=9, n=400)[0]
    knowledge = tmp_path / "natural.csv"
    knowledge.write_text(",".join(pop.FEATURE_NAMES) + "\n" + "\n".join(
        ",".join(map(repr, row)) for row in rows.tolist()) + "\n")  # fmt: skip
    values = {"knowledge": knowledge, "label_column": None, "holdout_rows": 100,
              "queries": 30, "batch": 1, "max_retries": 5, "adapt": True, "kind": "extraction",
              "candidates": None, "body_format": "rows"}  # fmt: skip
    return argparse.Namespace(**(values | overrides))


@pytest.fixture
def served(tmp_path, model):
    clock = VirtualClock(START)
    plan = UsagePlan(rate_per_second=1, burst=2, quota_per_day=25)
    endpoint = LocalEndpoint(model, tmp_path / "capture-root", clock=clock, plan=plan)
    with LocalServer(endpoint, clients={"partner": "s3cret"}) as server:
        credentials = ClientCredentials(
            secret_id="local", client_id="partner", client_secret="s3cret",
            token_url=f"{server.url}/oauth2/token", api_url=f"{server.url}/predict",
            scope="api/invoke", api_key="key",
        )  # fmt: skip
        client = InferenceClient(credentials, TokenCache(None), allow_insecure_http=True)
        yield endpoint, clock, client


def test_through_the_client_429s_are_backed_off_until_the_quota_stops_it(tmp_path, served):
    endpoint, clock, client = served
    rng = np.random.default_rng(0)
    report = run_remote(_args(tmp_path), "extraction:marginal", 10.0, rng, client,
                        sleep=clock.sleep, clock=clock)  # fmt: skip
    assert report["target"].endswith("/predict")
    assert report["clock"] == "real"
    assert report["holdoutQueries"] == 100  # the agreement's rows: one request of 100
    assert report["backoff"]["retries"] >= 1
    assert report["stopped"]["reason"] == "quota_exceeded"
    # 25 a day: the holdout request and 24 of the attack's
    assert report["queries"]["rowsAnswered"] == 24
    assert report["report"]["curve"][0] == [10, report["report"]["curve"][0][1]]
    assert endpoint.stats.statuses["partner"][200] == 25


def test_through_the_client_a_disabled_key_is_a_403_stop(tmp_path, served):
    endpoint, clock, client = served
    endpoint.quarantine_policy = Quarantine(mode="disable")
    endpoint.quarantine("partner")
    rng = np.random.default_rng(0)
    report = run_remote(_args(tmp_path, kind="boundary"), "boundary:hopskipjump", 1.0, rng,
                        client, sleep=clock.sleep, clock=clock)  # fmt: skip
    assert report["stopped"]["reason"] == "forbidden"
    assert report["stopped"]["status"] == 403
    assert report["queries"]["rowsAnswered"] == 0


def test_replies_in_the_shapes_endpoints_answer_are_read():
    assert parse_reply(200, b'{"predictions": [0.25, 0.5]}', 2).probabilities == [0.25, 0.5]
    assert parse_reply(200, b"[0.25]", 1).probabilities == [0.25]
    assert parse_reply(200, b"0.25\n0.75", 2).probabilities == [0.25, 0.75]
    per_row = b'[{"probabilities": [0.8, 0.2], "label": 0}]'
    assert parse_reply(200, per_row, 1).probabilities == [0.2]
    assert parse_reply(200, b"[0.25]", 2).error == "unreadable_answer"
    refused = parse_reply(429, b'{"error": "quota_exceeded", "message": "x"}', 1)
    assert (refused.error, refused.ok) == ("quota_exceeded", False)
    assert body([[1.0, 0.5]], "rows") == b"[[1,0.5]]"
    assert body([[1.0, 0.5]], "instances") == b'{"instances":[[1,0.5]]}'


def test_the_bound_a_400_names_is_read_from_the_local_and_the_gateways_words():
    sent = np.array([[1.0, 40.0, 3.0], [2.0, 5.0, 3.0]])
    local = "instances/0/1: 40.0 is greater than the maximum of 12.5"
    assert _bound(local, sent) == (1, "max", 12.5)
    assert _bound("0/2: -1 is less than the minimum of 0", sent) == (2, "min", 0.0)
    gateway = "[numeric instance is greater than the required maximum (maximum: 12, found: 40)]"
    assert _bound(gateway, sent) == (1, "max", 12.0)
    ambiguous = "[numeric instance is less than the required minimum (minimum: 4, found: 3)]"
    assert _bound(ambiguous, np.array([[3.0, 3.0, 9.0]])) is None  # two columns hold 3
    assert _bound("0/7: 1 is greater than the maximum of 0", sent) is None  # no such column
    assert _bound("instance type (string) does not match", sent) is None


def test_the_local_endpoint_is_an_oracle_for_the_red_team_api(tmp_path, model):
    clock = VirtualClock(START)
    plan = UsagePlan(rate_per_second=1, burst=3, quota_per_day=None)
    endpoint = LocalEndpoint(model, tmp_path, clock=clock, plan=plan)
    ask = oracle(LocalTransport(endpoint, "eve", "instances"))
    rows = pop.training_set(seed=2, n=3)[0]
    np.testing.assert_allclose(ask(rows[:2]), model.predict_proba(rows[:2]))
    report = strategies.run(_strategy("boundary:coordinate", 30), ask)  # the clock stands still
    assert report["stopped"] == {"reason": "throttled", "status": 429, "detail": "",
                                 "queries": 2}  # fmt: skip

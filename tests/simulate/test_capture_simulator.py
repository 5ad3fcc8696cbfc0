"""The capture simulator's output: the documented capture layout, the clients' properties, the
drift, the malformed lines, determinism (one moderate 2-day run per module)."""

import base64
import hashlib
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from secure_endpoint.simulate.capture import population as pop
from secure_endpoint.simulate.capture.layout import (
    CAPTURE_PREFIX,
    INFERENCE_ID_MAX_LENGTH,
    inference_id,
)
from secure_endpoint.simulate.capture.profiles import DriftSpec
from secure_endpoint.simulate.capture.simulator import Config, generate, main, parse_drift

CLIENTS = {"legit:interactive": 24, "legit:batch": 2, "legit:periodic": 3, "legit:replay": 1,
           "legit:canary": 1}  # fmt: skip
MALFORMED_RATE = 0.02

# The capture line per SageMaker's documentation (model-monitor-data-capture-endpoint.html: the
# S3 path s3://{destination-bucket-prefix}/{endpoint-name}/{variant-name}/yyyy/mm/dd/hh/
# filename.jsonl and the sample lines; model-monitor-model-quality-merge.html: inferenceId in
# eventMetadata when the caller sets one; API_DataCaptureConfig: BASE64 for content types not
# listed in CaptureContentTypeHeader).
SIDE_KEYS = {"observedContentType", "mode", "data", "encoding"}
ENCODINGS = {"JSON", "CSV", "BASE64"}
METADATA_KEYS = {"eventId", "inferenceTime"}  # and inferenceId when the caller set one
KEY = re.compile(
    r"^capture/secure-endpoint-sim/AllTraffic/(\d{4})/(\d{2})/(\d{2})/(\d{2})/"
    r"\d{2}-\d{2}-\d{3}-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.jsonl$"
)
TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):\d{2}:\d{2}Z$")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("capture")
    config = Config(out, seed=5, hours=48, clients=CLIENTS, malformed_rate=MALFORMED_RATE,
                    training_rows=3000, volume=0.5)  # fmt: skip
    summary = generate(config)
    lines = {}  # eventId -> (key, raw line, parsed or None)
    for path in sorted((out / "capture").rglob("*.jsonl")):
        key = str(path.relative_to(out))
        for raw in path.read_text().splitlines():
            try:
                record = json.loads(raw)
            except ValueError:
                record = None
            lines[len(lines)] = (key, raw, record)
    truth = [json.loads(t) for t in (out / "truth.jsonl").read_text().splitlines()]
    scenario = json.loads((out / "scenario.json").read_text())
    by_event = {r["eventMetadata"]["eventId"]: r for _, _, r in lines.values() if r}
    return {"out": out, "config": config, "summary": summary, "lines": list(lines.values()),
            "truth": truth, "scenario": scenario, "by_event": by_event}  # fmt: skip


def _payload(side):
    data = side["data"]
    return base64.b64decode(data).decode() if side["encoding"] == "BASE64" else data


def _rows(text, content_type):
    if content_type == "text/csv":
        return np.array([[float(v) for v in line.split(",")] for line in text.strip().split("\n")])
    return np.array(json.loads(text)["instances"], dtype=float)


def _good(run):
    """(truth, rows) of every well-formed request with rows, parsed from the capture data."""
    for t in run["truth"]:
        if t["malformed"] is None:
            record = run["by_event"][t["eventId"]]
            side = record["captureData"]["endpointInput"]
            yield t, _rows(_payload(side), side["observedContentType"])


def test_every_object_key_follows_the_documented_layout(run):
    keys = {key for key, _, _ in run["lines"]}
    assert keys
    for key in keys:
        assert KEY.match(key), key
    assert CAPTURE_PREFIX == "capture"


def test_every_capture_line_has_the_documented_fields(run):
    parsed = [(key, r) for key, _, r in run["lines"] if r is not None]
    assert len(parsed) > 5000
    for key, record in parsed:
        assert set(record) == {"captureData", "eventMetadata", "eventVersion"}
        assert record["eventVersion"] == "0"
        capture = record["captureData"]
        assert set(capture) == {"endpointInput", "endpointOutput"}
        for side, mode in (("endpointInput", "INPUT"), ("endpointOutput", "OUTPUT")):
            assert set(capture[side]) == SIDE_KEYS
            assert capture[side]["mode"] == mode
            assert capture[side]["encoding"] in ENCODINGS
            assert isinstance(capture[side]["data"], str)
        metadata = record["eventMetadata"]
        assert set(metadata) - {"inferenceId"} == METADATA_KEYS
        assert re.fullmatch(UUID, metadata["eventId"])
        when = TIME.match(metadata["inferenceTime"])
        assert when, metadata["inferenceTime"]
        assert when.groups() == KEY.match(key).groups()  # each line in its hour's directory


def test_inference_ids_are_client_id_colon_request_id_within_64_characters(run):
    truth = {t["eventId"]: t for t in run["truth"]}
    with_id = 0
    for record in run["by_event"].values():
        metadata = record["eventMetadata"]
        t = truth[metadata["eventId"]]
        if t["profile"] == "legit:canary":
            assert "inferenceId" not in metadata  # direct calls carry none
            continue
        ident = metadata["inferenceId"]
        assert len(ident) <= INFERENCE_ID_MAX_LENGTH
        assert re.fullmatch(r"[a-z0-9]{26}:" + UUID, ident), ident
        assert ident.split(":", 1)[0] == t["client_id"]
        with_id += 1
    assert with_id > 5000


def test_the_inference_id_cut_matches_the_request_template():
    request = "c" * 36
    assert inference_id("a" * 26, request) == "a" * 26 + ":" + request
    assert len(inference_id("a" * 60, request)) == 64
    assert inference_id("a" * 60, request) == "a" * 27 + ":" + request
    assert inference_id("a" * 26, "r" * 80) == "r" * 64


def test_the_layout_constants_are_the_constructs_own():
    from secure_endpoint.constructs.api import INFERENCE_ID_MAX_LENGTH as api_limit
    from secure_endpoint.constructs.hosting import CAPTURE_PREFIX as hosting_prefix

    assert (hosting_prefix, api_limit) == (CAPTURE_PREFIX, INFERENCE_ID_MAX_LENGTH)


def test_every_payload_matches_its_truth_and_base64_decodes_to_it(run):
    encodings = defaultdict(int)
    for t in run["truth"]:
        if t["malformed"] == "truncated":
            continue
        side = run["by_event"][t["eventId"]]["captureData"]["endpointInput"]
        assert side["encoding"] == t["encoding"]
        assert hashlib.sha256(_payload(side).encode()).hexdigest() == t["payloadSha256"]
        encodings[side["encoding"]] += 1
    assert min(encodings[e] for e in ENCODINGS) > 50
    octet = [t for t in run["truth"] if t["contentType"] == "application/octet-stream"]
    assert octet
    assert {t["encoding"] for t in octet} == {"BASE64"}


def test_outputs_are_the_models_probabilities_in_the_container_shape(run):
    from secure_endpoint.simulate.capture.simulator import load_model

    model = load_model(run["out"])
    checked = 0
    for t, rows in _good(run):
        side = run["by_event"][t["eventId"]]["captureData"]["endpointOutput"]
        if side["observedContentType"].startswith("text/csv"):
            answer = [float(v) for v in side["data"].split("\n")]
        else:
            answer = json.loads(side["data"])["predictions"]
        assert len(answer) == len(rows)
        assert np.allclose(answer, model.predict_proba(rows), atol=1e-12)
        checked += 1
        if checked == 400:
            break
    assert checked == 400


def test_malformed_lines_are_present_at_the_requested_rate(run):
    truth = run["truth"]
    malformed = [t for t in truth if t["malformed"]]
    eligible = [t for t in truth if t["replay_of"] is None]
    expected = MALFORMED_RATE * len(eligible)
    assert abs(len(malformed) - expected) < 4 * np.sqrt(expected)
    assert {t["malformed"] for t in malformed} == {"truncated", "wrong_width", "string", "nan"}
    unparsed = sum(r is None for _, _, r in run["lines"])
    assert unparsed == sum(t["malformed"] == "truncated" for t in truth)
    for t in malformed:
        if t["malformed"] == "truncated":
            continue
        side = run["by_event"][t["eventId"]]["captureData"]["endpointInput"]
        text = _payload(side)
        csv = side["observedContentType"] == "text/csv"
        rows = ([line.split(",") for line in text.strip().split("\n")] if csv
                else [r for r in json.loads(text)["instances"]])  # fmt: skip
        widths = {len(r) for r in rows}
        values = [v for r in rows for v in r]
        if t["malformed"] == "wrong_width":
            assert widths & {len(pop.FEATURES) - 1, len(pop.FEATURES) + 1}
        elif t["malformed"] == "string":
            assert "n/a" in values
        else:
            assert any(isinstance(v, float) and np.isnan(v) for v in values) or "nan" in values


def _ks(a, b):
    grid = np.sort(np.concatenate([a, b]))
    cdf = lambda x: np.searchsorted(np.sort(x), grid, side="right") / len(x)  # noqa: E731
    return float(np.abs(cdf(a) - cdf(b)).max())


def test_the_drifted_features_move_in_their_window_and_not_outside_it(run):
    training, _ = pop.read_training_csv(run["out"] / "training.csv")
    start = run["config"].start
    rows, hours = [], []
    for t, r in _good(run):
        if t["profile"] in ("legit:interactive", "legit:batch"):  # the population (no re-sends)
            rows.append(r)
            hours.append(np.full(len(r), (t["epoch"] - start) / 3600))
    data, at = np.concatenate(rows), np.concatenate(hours)
    for spec in run["config"].drifts:
        full = (at >= spec.full_hour) & (at < spec.end_hour)
        before = at < spec.start_hour
        untouched = pop.INDEX["num_logins_7d"]
        # a few clients' mix moves every feature a little; the drifted ones move far more
        background = _ks(data[full, untouched], training[:, untouched])
        for name in spec.features:
            j = pop.INDEX[name]
            moved = _ks(data[full, j], training[:, j])
            assert moved > 0.2, name
            assert moved > background + 0.1, name
            assert _ks(data[before, j], training[:, j]) < 0.15, name


def test_requests_are_marked_drifted_only_inside_a_drift_window(run):
    start = run["config"].start
    drifted = [t for t in run["truth"] if t["drifted"] and t["replay_of"] is None]
    assert drifted
    for t in drifted:
        hour = (t["epoch"] - start) / 3600
        assert any(s.start_hour <= hour < s.end_hour for s in run["config"].drifts)
        assert t["profile"] in ("legit:interactive", "legit:batch")
    windows = run["scenario"]["drift"]
    assert [w["features"] for w in windows] == [list(s.features) for s in run["config"].drifts]


def _by_client(run, profile):
    found = defaultdict(list)
    for t in run["truth"]:
        if t["profile"] == profile:
            found[t["client_id"]].append(t)
    return found


def test_batch_clients_send_large_batches_at_their_scheduled_hours(run):
    schedule = {c["client_id"]: c for c in run["scenario"]["clients"]
                if c["profile"] == "legit:batch"}  # fmt: skip
    for client, requests in _by_client(run, "legit:batch").items():
        hours = {int(t["time"][11:13]) for t in requests}
        assert hours <= set(schedule[client]["utcHours"])
        full = [t["rows"] for t in requests if t["malformed"] is None]
        assert max(full) == schedule[client]["rows"] >= 100


def test_periodic_clients_resend_near_identical_rows_on_their_schedule(run):
    std = pop.read_training_csv(run["out"] / "training.csv")[0].std(axis=0)
    integer = np.array([f.integer or f.decimals == 0 for f in pop.FEATURES])
    periods = {c["client_id"]: c["periodSeconds"] for c in run["scenario"]["clients"]
               if c["profile"] == "legit:periodic"}  # fmt: skip
    sent = defaultdict(list)
    for t, rows in _good(run):
        if t["profile"] == "legit:periodic":
            sent[t["client_id"]].append((t["epoch"], rows))
    assert len(sent) == CLIENTS["legit:periodic"]
    for client, requests in sent.items():
        first = requests[0][1]
        for _, rows in requests:
            assert rows.shape == first.shape
            assert np.array_equal(rows[:, integer], first[:, integer])
            assert (np.abs(rows - first) / std).max() < 0.03
        assert any(not np.array_equal(rows, first) for _, rows in requests)  # jitter, not copies
        gaps = np.diff([epoch for epoch, _ in requests])
        gaps = gaps[gaps < 1.5 * periods[client]]  # a malformed request leaves a double gap
        assert np.all(np.abs(gaps / periods[client] - 1) < 0.035)


def test_replays_are_exact_repeats_of_earlier_requests(run):
    by_inference = {r["eventMetadata"].get("inferenceId"): r for r in run["by_event"].values()}
    replays = [t for t in run["truth"] if t["replay_of"]]
    assert len(replays) >= 50
    for t in replays:
        replay = run["by_event"][t["eventId"]]
        original = by_inference[t["replay_of"]]
        assert replay["captureData"] == original["captureData"]
        assert original["eventMetadata"]["inferenceTime"] < replay["eventMetadata"]["inferenceTime"]


def test_interactive_clients_follow_a_daily_rhythm_and_stay_in_their_usage_plan(run):
    per_hour = np.zeros(24)
    for requests in _by_client(run, "legit:interactive").values():
        for t in requests:
            per_hour[int(t["time"][11:13])] += 1
    assert per_hour.max() > 3 * per_hour.min()
    per_day = defaultdict(int)
    for t in run["truth"]:
        per_day[(t["client_id"], t["time"][:10])] += 1
    assert max(per_day.values()) <= 10_000  # the default usage plan's daily quota


def test_a_run_is_deterministic_for_a_seed(tmp_path):
    small = {"hours": 3, "clients": {"legit:interactive": 3, "legit:periodic": 1},
             "training_rows": 500, "malformed_rate": 0.05}  # fmt: skip
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(Config(first, seed=1, **small))
    generate(Config(second, seed=1, **small))
    generate(Config(other, seed=2, **small))

    def files(root: Path):
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    assert files(first) == files(second)
    assert files(first)["truth.jsonl"] != files(other)["truth.jsonl"]


def test_the_command_writes_the_files_and_says_what_it_did(tmp_path, capsys):
    main(["--out", str(tmp_path), "--hours", "2", "--training-rows", "300", "--seed", "3",
          "--clients", "legit:interactive=2", "--clients", "legit:batch=0",
          "--drift", "income:step:0.5-1.5:2"])  # fmt: skip
    printed = capsys.readouterr().out
    assert "drift step     income: hours 0.5-1.5" in printed
    for name in ("training.csv", "model.json", "truth.jsonl", "scenario.json"):
        assert (tmp_path / name).is_file()
    assert list((tmp_path / "capture").rglob("*.jsonl"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("income", "expected FEATURES:gradual"),
        ("income:slow:1-2", "kind must be 'gradual' or 'step'"),
        ("income:step:a-2", "must be numbers"),
        ("region_eu:step:1-2", "one-hot region group"),
        ("salary:step:1-2", "'salary' is not one of"),
        ("income:step:3-2", "0 <= start < end"),
    ],
)
def test_a_bad_drift_is_refused_with_what_is_allowed(text, message):
    with pytest.raises(ValueError, match=message):
        parse_drift(text)


def test_a_bad_config_is_refused_naming_the_value(tmp_path):
    with pytest.raises(ValueError, match=r"unknown profiles \['attack:teleport'\]"):
        Config(tmp_path, clients={"attack:teleport": 1})
    with pytest.raises(ValueError, match=r"ends at hour 30, after the run.s 24"):
        Config(tmp_path, hours=24, drift=(DriftSpec(("income",), "step", 10, 30),))
    with pytest.raises(ValueError, match="malformed_rate must be in"):
        Config(tmp_path, malformed_rate=0.9)
    with pytest.raises(ValueError, match="start must be on an hour boundary"):
        Config(tmp_path, start=1_772_409_601)

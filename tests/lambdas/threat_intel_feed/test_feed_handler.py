"""The function end to end: feeds served from 127.0.0.1, the real adapters, WAF IP sets in moto."""

import io
import json
import os
import socket
from typing import Any

import pytest
from aws_fakes import FakeLambdaContext
from feed_server import FeedServer
from threat_intel_feed import handler as feed_function
from threat_intel_feed.adapters import FeedFetcher, ip_set_writer
from threat_intel_feed.handler import Adapters, NoFeedUpdatedError

BUILD_ADAPTERS = feed_function.adapters  # the real one; the `function` fixture replaces it
TOR = [f"185.220.101.{n}" for n in range(1, 40, 2)]  # 20 addresses, none adjacent
DROP = ["1.10.16.0/20", "1.19.0.0/16", "2.56.192.0/22", "5.134.128.0/19", "31.40.156.0/22"]
DROP_V6 = ["2a06:e480::/29", "2a0b:f4c0::/29"]


def tor_text(addresses: list[str]) -> str:
    return "# Tor exit nodes\n" + "".join(f"{a}\n" for a in addresses)


def drop_json(v4: list[str], v6: list[str] = DROP_V6) -> str:
    lines = [
        json.dumps({"cidr": c, "sblid": f"SBL{i}", "rir": "ripencc"}) for i, c in enumerate(v4)
    ]
    lines += [json.dumps({"cidr": c, "sblid": "SBL9"}) for c in v6]
    lines.append(json.dumps({"type": "metadata", "timestamp": 1767244620, "records": len(lines)}))
    return "\n".join(lines) + "\n"


CONTEXT = FakeLambdaContext("threat-intel-feed")


class Function:
    """Two feeds, four IP sets in moto, the feeds on a local server: one call runs the function."""

    def __init__(self, wafv2: Any, server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
        self.wafv2 = wafv2
        self.server = server
        self.arns: dict[tuple[str, int], str] = {}
        feeds = []
        for name, path, feed_format in (
            ("tor-exit-nodes", "/torbulkexitlist", "plain"),
            ("spamhaus-drop", "/drop/drop_v4.json", "spamhaus-json"),
        ):
            for version in (4, 6):
                summary = wafv2.create_ip_set(
                    Name=f"{name}-v{version}",
                    Scope="REGIONAL",
                    IPAddressVersion=f"IPV{version}",
                    Addresses=[],
                    Description=f"secure-endpoint: {name}",
                )["Summary"]
                self.arns[name, version] = summary["ARN"]
            feeds.append(
                {
                    "name": name,
                    "url": server.url(path),
                    "format": feed_format,
                    "ipv4_set_arn": self.arns[name, 4],
                    "ipv6_set_arn": self.arns[name, 6],
                }
            )
        monkeypatch.setenv("THREAT_INTEL_FEEDS", json.dumps(feeds))
        monkeypatch.setenv("PROTECTED_CIDRS", json.dumps(["185.220.101.37/32"]))
        feed_function.config.cache_clear()
        monkeypatch.setattr(feed_function, "adapters", self.adapters)
        self.logs = io.StringIO()
        monkeypatch.setattr(feed_function.logger.registered_handler, "stream", self.logs)

    def adapters(self) -> Adapters:
        """The real adapters, with a fetch deadline short enough for a test."""
        protected = feed_function.config().protected_cidrs
        return Adapters(
            FeedFetcher(timeout=0.5), lambda arn: ip_set_writer(self.wafv2, arn, protected)
        )

    def serve(self, tor: str | None = None, drop: str | None = None, **route: Any) -> None:
        if tor is not None:
            self.server.serve("/torbulkexitlist", tor, **route)
        if drop is not None:
            self.server.serve("/drop/drop_v4.json", drop, **route)

    def __call__(self) -> dict[str, dict[str, Any]]:
        result = feed_function.handler({"source": "aws.scheduler"}, CONTEXT)
        return {report["feed"]: report for report in result["feeds"]}

    def addresses(self, name: str, version: int) -> set[str]:
        arn = self.arns[name, version]
        *_, set_name, set_id = arn.split("/")
        ip_set = self.wafv2.get_ip_set(Name=set_name, Scope="REGIONAL", Id=set_id)["IPSet"]
        return set(ip_set["Addresses"])

    def state(self) -> dict[tuple[str, int], set[str]]:
        return {key: self.addresses(*key) for key in self.arns}

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.logs.getvalue().splitlines()]


@pytest.fixture
def function(wafv2: Any, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> Function:
    run = Function(wafv2, feed_server, monkeypatch)
    run.serve(tor=tor_text(TOR), drop=drop_json(DROP))
    return run


def emf(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]


def test_the_first_run_fills_the_ip_sets(function: Function) -> None:
    reports = function()
    assert function.addresses("tor-exit-nodes", 4) == {f"{a}/32" for a in TOR} - {
        "185.220.101.37/32"
    }
    assert function.addresses("tor-exit-nodes", 6) == set()
    assert function.addresses("spamhaus-drop", 4) == set(DROP)
    assert {a.lower() for a in function.addresses("spamhaus-drop", 6)} == set(DROP_V6)
    assert reports["tor-exit-nodes"] == {
        "feed": "tor-exit-nodes",
        "outcome": "updated",
        "entries": 20,
        "added": 19,
        "removed": 0,
        "rejected": 0,
        "rejected_by_reason": {},
        "rejected_samples": [],
        "protected": 1,
        "reasons": [],
    }
    assert reports["spamhaus-drop"]["added"] == 7


def test_a_second_run_reports_what_was_added_and_removed(function: Function) -> None:
    function()
    function.serve(tor=tor_text([*TOR[:-3], "171.25.193.76", "171.25.193.77"]))

    reports = function()

    assert reports["tor-exit-nodes"]["outcome"] == "updated"
    assert (reports["tor-exit-nodes"]["added"], reports["tor-exit-nodes"]["removed"]) == (1, 2)
    assert "171.25.193.76/31" in function.addresses("tor-exit-nodes", 4)
    assert "185.220.101.39/32" not in function.addresses("tor-exit-nodes", 4)
    assert reports["spamhaus-drop"]["outcome"] == "unchanged"


def test_an_unchanged_feed_does_not_write(function: Function) -> None:
    function()
    function.wafv2.meta.events.register("before-call.wafv2.UpdateIPSet", _no_update)
    reports = function()
    assert {r["outcome"] for r in reports.values()} == {"unchanged"}


def _no_update(**_: Any) -> None:
    raise AssertionError("UpdateIPSet was called for an unchanged feed")


def test_bad_entries_are_rejected_and_counted_the_rest_applied(function: Function) -> None:
    function.serve(tor=tor_text([*TOR, "10.0.0.1", "not-an-address", "0.0.0.0/0"]))
    report = function()["tor-exit-nodes"]
    assert report["outcome"] == "updated"
    assert report["rejected"] == 3
    assert report["rejected_by_reason"] == {"malformed": 1, "not-public": 1, "too-wide": 1}
    assert "10.0.0.1/32" not in function.addresses("tor-exit-nodes", 4)


def test_a_feed_that_shrinks_absurdly_is_refused_and_its_set_kept(function: Function) -> None:
    function()
    before = function.state()
    function.serve(tor=tor_text(TOR[:4]))

    reports = function()

    assert reports["tor-exit-nodes"]["outcome"] == "refused"
    assert reports["tor-exit-nodes"]["reasons"] == [
        "it shrinks from 19 to 4 entries (21%); at least 50% of the current entries must remain"
    ]
    assert function.state() == before


def test_a_feed_that_grows_absurdly_is_refused(function: Function) -> None:
    function()
    before = function.state()
    function.serve(tor=tor_text([f"185.221.{n}.{m}" for n in range(4) for m in range(1, 41, 2)]))
    assert function()["tor-exit-nodes"]["outcome"] == "refused"
    assert function.state() == before


def _refused_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/torbulkexitlist"


@pytest.mark.parametrize(
    ("broken", "outcome", "reason"),
    [
        ({"tor": "gone", "status": 404}, "failed", "answered HTTP 404"),
        ({"tor": "busy", "status": 503}, "failed", "answered HTTP 503"),
        ({"tor": tor_text(TOR), "delay": 1.5}, "failed", "could not be fetched"),
        ({"tor": "1" * (5 * 1024 * 1024)}, "failed", "at most 4194304 are read"),
        ({"tor": "<html><body>Rate limited</body></html>\n"}, "refused", "0 valid entries"),
        ({"drop": drop_json(DROP)[:200]}, "refused", "no metadata line"),
        ({"drop": "1.10.16.0/20 ; SBL1\n"}, "refused", "no metadata line"),
    ],
)
def test_a_broken_fetch_leaves_the_previous_set_intact(
    function: Function, broken: dict[str, Any], outcome: str, reason: str
) -> None:
    function()
    before = function.state()
    function.serve(**broken)

    reports = function()

    (report,) = [r for r in reports.values() if r["outcome"] not in ("unchanged", "updated")]
    assert report["outcome"] == outcome
    assert reason in " ".join(report["reasons"])
    assert function.state() == before


def test_a_refused_connection_leaves_the_previous_set_intact(
    function: Function, monkeypatch: pytest.MonkeyPatch
) -> None:
    function()
    before = function.state()
    config = json.loads(os.environ["THREAT_INTEL_FEEDS"])
    config[0]["url"] = _refused_port()
    monkeypatch.setenv("THREAT_INTEL_FEEDS", json.dumps(config))
    feed_function.config.cache_clear()

    report = function()["tor-exit-nodes"]

    assert report["outcome"] == "failed"
    assert "could not be fetched" in report["reasons"][0]
    assert function.state() == before


def test_the_run_fails_when_no_feed_is_up_to_date_and_keeps_every_set(
    function: Function, capsys: pytest.CaptureFixture[str]
) -> None:
    function()
    before = function.state()
    function.serve(tor="", drop="", status=500)
    capsys.readouterr()

    with pytest.raises(NoFeedUpdatedError, match=r"tor-exit-nodes failed: .* answered HTTP 500"):
        function()

    assert function.state() == before
    (run,) = [m for m in emf(capsys.readouterr().out) if "FeedsFailed" in m]
    assert (run["FeedsFailed"], run["FeedsUpdated"]) == ([2], [0])


def test_a_write_that_fails_is_reported_and_the_other_feeds_still_run(
    function: Function,
) -> None:
    function.wafv2.delete_ip_set(
        Name="tor-exit-nodes-v6",
        Scope="REGIONAL",
        Id=function.arns["tor-exit-nodes", 6].rsplit("/", 1)[1],
        LockToken=function.wafv2.get_ip_set(
            Name="tor-exit-nodes-v6",
            Scope="REGIONAL",
            Id=function.arns["tor-exit-nodes", 6].rsplit("/", 1)[1],
        )["LockToken"],
    )
    reports = function()
    assert reports["tor-exit-nodes"]["outcome"] == "failed"
    assert "reading the IP sets failed" in reports["tor-exit-nodes"]["reasons"][0]
    assert function.addresses("tor-exit-nodes", 4) == set()
    assert reports["spamhaus-drop"]["outcome"] == "updated"


def test_each_run_logs_one_line_per_feed(function: Function) -> None:
    function()
    function.serve(tor="", status=404)
    function()
    lines = [line for line in function.log_lines() if line["message"] == "feed refreshed"]
    assert [(line["feed"], line["outcome"], line["level"]) for line in lines] == [
        ("tor-exit-nodes", "updated", "INFO"),
        ("spamhaus-drop", "updated", "INFO"),
        ("tor-exit-nodes", "failed", "WARNING"),
        ("spamhaus-drop", "unchanged", "INFO"),
    ]
    assert lines[0]["added"] == 19
    assert lines[0]["function_request_id"] == "request-1"


def test_each_run_emits_per_feed_and_per_run_metrics(
    function: Function, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    function()
    documents = emf(capsys.readouterr().out)
    per_feed = {d["Feed"]: d for d in documents if "Feed" in d}
    assert per_feed.keys() == {"tor-exit-nodes", "spamhaus-drop"}
    tor = per_feed["tor-exit-nodes"]
    assert (tor["Entries"], tor["Added"], tor["Removed"], tor["Protected"]) == (
        [20],
        [19],
        [0],
        [1],
    )
    assert (tor["Refused"], tor["Failed"]) == ([0], [0])
    directive = tor["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "SecureEndpoint/ThreatIntel"
    assert directive["Dimensions"] == [["Feed", "service"]]
    (run,) = [d for d in documents if "FeedsUpdated" in d]
    assert (run["FeedsUpdated"], run["FeedsFailed"]) == ([2], [0])
    assert run["service"] == "threat-intel-feed"


def test_the_adapters_are_built_once_from_the_environment(function: Function) -> None:
    BUILD_ADAPTERS.cache_clear()
    built = BUILD_ADAPTERS()
    assert BUILD_ADAPTERS() is built
    writer = built.writer(function.arns["spamhaus-drop", 4])
    assert writer.ref.name == "spamhaus-drop-v4"
    BUILD_ADAPTERS.cache_clear()

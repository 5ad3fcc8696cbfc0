"""Per-client payload detection on the capture simulator's traffic: every attack kind and strategy
caught or not, time and queries to detection, legitimate clients flagged per type, beside a
per-client volume threshold.

One run simulates ``--hours`` of capture: the default legitimate clients (interactive, batch,
periodic, replay, canary), ``--heavy`` heavy users near the daily quota, ``--look-alikes``
jittery periodic integrations and updating books each (``legit:jittery``, ``legit:updating``),
and ``--per-strategy`` attackers of each red-team strategy (``attack:<kind>:<strategy>``, each
from a random hour of the first half of the run at 15-60 requests an hour, inside the usage
plan). Then, as subprocesses, ``secure-endpoint baseline`` on the run's training.csv (with
``--membership-key-file`` when the command has it) and ``secure-endpoint inspect-capture``
over the capture; the findings are scored against truth.jsonl and scenario.json:

- an attacker is *caught* when a payload finding names it (``right kind``: one of its own
  kind); time to detection is the first finding's ``first_seen`` minus its first request,
  queries before detection the rows it had sent by then (truth.jsonl);
- a legitimate client is *flagged* when any payload finding names it (the canary's lines carry
  no inference id: it is ``unknown``);
- the volume baseline flags a client once its request count passes the 99th percentile of the
  legitimate clients' whole-run counts (what a gateway-log threshold could see).

Prints the figures and the issue's target line (every kind caught, <= 1 % of legitimate clients
flagged, median detection within 500 queries); asserts nothing. Until inspect-capture writes
payload findings, every attacker counts as missed.

    python benchmarks/payload_detection.py [--hours 72] [--seed 7] [--seeds 1] [--heavy 4]
        [--per-strategy 3] [--interactive 30] [--look-alikes 3] [--keep DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

KINDS = ("extraction", "probing", "out_of_distribution", "membership")
UNKNOWN = "unknown"
"""What the inspector calls a line without an inference id (the canary's)."""


@dataclass
class ClientTruth:
    """One client of the run: who it is and when it sent how many rows."""

    client_id: str
    profile: str
    legitimate: bool
    strategy: str | None = None
    epochs: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """The attack kind (``attack:<kind>[:<strategy>]``) or the legitimate profile."""
        return self.profile.split(":")[1] if not self.legitimate else self.profile

    def rows_until(self, epoch: float) -> int:
        """Rows sent up to ``epoch`` (to the second, as ``first_seen`` is written)."""
        times = np.asarray(self.epochs)
        return int(np.asarray(self.rows)[times < epoch + 1].sum())

    def requests_until_count(self, count: float) -> float | None:
        """When this client's request count first passed ``count`` (None if it never did)."""
        if len(self.epochs) <= count:
            return None
        return sorted(self.epochs)[int(np.floor(count))]


def read_truth(out: Path) -> dict[str, ClientTruth]:
    """The clients of a simulator run, by the client id the inspector would name them with."""
    scenario = json.loads((out / "scenario.json").read_text())
    clients: dict[str, ClientTruth] = {}
    for client in scenario["clients"]:
        key = client["client_id"] or UNKNOWN
        clients[key] = ClientTruth(key, client["profile"], client["legitimate"],
                                   client.get("strategy"))  # fmt: skip
    with (out / "truth.jsonl").open() as lines:
        for line in lines:
            record = json.loads(line)
            client = clients[record["client_id"] or UNKNOWN]
            client.epochs.append(float(record["epoch"]))
            client.rows.append(int(record["rows"]))
    return clients


def read_findings(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@dataclass
class Detection:
    """How one client fared: caught (any kind), caught by a finding of its own kind, when."""

    client: ClientTruth
    caught: bool = False
    right_kind: bool = False
    kinds: tuple[str, ...] = ()
    hours: float | None = None
    """First finding's first_seen minus the client's first request."""
    queries: int | None = None
    """Rows the client had sent by then."""


def score(findings: Iterable[Mapping[str, Any]], clients: Mapping[str, ClientTruth]
          ) -> dict[str, Detection]:  # fmt: skip
    """Each client's detection from the payload findings (drift findings, ``client_id`` "*",
    and findings naming no client of the run are left out)."""
    first: dict[str, float] = {}
    kinds: dict[str, set[str]] = defaultdict(set)
    for finding in findings:
        client_id = finding.get("client_id")
        if not isinstance(client_id, str) or client_id not in clients:
            continue
        if finding.get("kind") not in KINDS:
            continue
        seen = _epoch(str(finding["first_seen"]))
        first[client_id] = min(first.get(client_id, seen), seen)
        kinds[client_id].add(str(finding["kind"]))
    out = {}
    for client_id, client in clients.items():
        detection = Detection(client)
        if client_id in first and client.epochs:
            detection.caught = True
            detection.kinds = tuple(sorted(kinds[client_id]))
            detection.right_kind = client.kind in kinds[client_id]
            detection.hours = (first[client_id] - min(client.epochs)) / 3600
            detection.queries = client.rows_until(first[client_id])
        out[client_id] = detection
    return out


def volume_baseline(clients: Mapping[str, ClientTruth], percentile: float = 99.0
                    ) -> tuple[float, dict[str, Detection]]:  # fmt: skip
    """Flag each client once its request count passes the ``percentile`` of the legitimate
    clients' whole-run request counts."""
    counts = [len(c.epochs) for c in clients.values() if c.legitimate]
    threshold = float(np.percentile(counts, percentile)) if counts else 0.0
    out = {}
    for client_id, client in clients.items():
        detection = Detection(client)
        when = client.requests_until_count(threshold)
        if when is not None:
            detection.caught = detection.right_kind = True
            detection.hours = (when - min(client.epochs)) / 3600
            detection.queries = client.rows_until(when)
        out[client_id] = detection
    return threshold, out


@dataclass
class Summary:
    by_kind: dict[str, list[Detection]]
    by_strategy: dict[str, list[Detection]]
    by_legit: dict[str, list[Detection]]

    @property
    def attackers(self) -> list[Detection]:
        return [d for ds in self.by_kind.values() for d in ds]

    @property
    def legitimate(self) -> list[Detection]:
        return [d for ds in self.by_legit.values() for d in ds]

    def flagged_share(self) -> float:
        legit = self.legitimate
        return sum(d.caught for d in legit) / len(legit) if legit else 0.0

    def median_queries(self) -> float | None:
        queries = [d.queries for d in self.attackers if d.queries is not None]
        return float(np.median(queries)) if queries else None

    def targets(self) -> dict[str, bool]:
        median = self.median_queries()
        return {
            "every kind caught": all(ds and all(d.caught for d in ds)
                                     for ds in self.by_kind.values()) and
                                 set(self.by_kind) >= set(KINDS),
            "<= 1% legitimate flagged": self.flagged_share() <= 0.01,
            "median detection within 500 queries": median is not None and median <= 500,
        }  # fmt: skip


def summarize(detections: Mapping[str, Detection]) -> Summary:
    by_kind: dict[str, list[Detection]] = defaultdict(list)
    by_strategy: dict[str, list[Detection]] = defaultdict(list)
    by_legit: dict[str, list[Detection]] = defaultdict(list)
    for detection in detections.values():
        client = detection.client
        if client.legitimate:
            by_legit[client.profile].append(detection)
        elif client.epochs:  # an attacker that never started is not scored
            by_kind[client.kind].append(detection)
            by_strategy[client.strategy or client.profile].append(detection)
    return Summary(dict(by_kind), dict(by_strategy), dict(by_legit))


def _median(values: list[float]) -> str:
    return f"{np.median(values):8.1f}" if values else f"{'-':>8}"


def _attack_rows(groups: Mapping[str, list[Detection]], width: int) -> list[str]:
    lines = []
    for name in sorted(groups):
        ds = groups[name]
        caught = [d for d in ds if d.caught]
        hours = [d.hours for d in caught if d.hours is not None]
        queries = [float(d.queries) for d in caught if d.queries is not None]
        lines.append(
            f"  {name:{width}} {len(caught):>3}/{len(ds):<3} {sum(d.right_kind for d in ds):>5} "
            f"{_median(hours)} {_median(queries)} "
            + (f"{max(queries):8.0f}" if queries else f"{'-':>8}")
            + f"  {', '.join(sorted({k for d in ds for k in d.kinds}))}"
        )
    return lines


def report(summary: Summary, title: str) -> list[str]:
    width = max([len(k) for k in summary.by_strategy] + [len(k) for k in summary.by_legit] + [20])
    head = (f"  {'':{width}} {'caught':>7} {'right':>5} {'hours':>8} {'queries':>8} "
            f"{'max q':>8}  finding kinds")  # fmt: skip
    lines = [f"\n{title}", "  attack kinds (median over the caught: hours and queries to the"
             " first finding)", head]  # fmt: skip
    lines += _attack_rows(summary.by_kind, width)
    lines += ["  strategies", *_attack_rows(summary.by_strategy, width)]
    lines.append("  legitimate clients flagged")
    for name in sorted(summary.by_legit):
        ds = summary.by_legit[name]
        flagged = sum(d.caught for d in ds)
        kinds = sorted({k for d in ds for k in d.kinds})
        lines.append(f"  {name:{width}} {flagged:>3}/{len(ds):<3} {100 * flagged / len(ds):6.1f} %"
                     f"  {', '.join(kinds)}")  # fmt: skip
    legit = summary.legitimate
    lines.append(f"  {'all legitimate':{width}} {sum(d.caught for d in legit):>3}/{len(legit):<3} "
                 f"{100 * summary.flagged_share():6.1f} %")  # fmt: skip
    median = summary.median_queries()
    lines.append("  targets: " + "; ".join(
        f"{name}: {'yes' if ok else 'NO'}" for name, ok in summary.targets().items()
    ) + f" (median queries {'-' if median is None else f'{median:.0f}'})")  # fmt: skip
    return lines


# --- the run --------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from secure_endpoint.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(  # noqa: S603 - our own CLI with our own arguments
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False,
        env=os.environ.copy(),
    )  # fmt: skip


def clients_for(
    heavy: int, per_strategy: int, interactive: int, look_alikes: int = 3
) -> dict[str, int]:
    from secure_endpoint.simulate.capture.attacks import NAMES
    from secure_endpoint.simulate.capture.simulator import DEFAULT_CLIENTS

    clients = {**DEFAULT_CLIENTS, "legit:interactive": interactive, "legit:heavy": heavy,
               "legit:jittery": look_alikes, "legit:updating": look_alikes}  # fmt: skip
    for kind, names in NAMES.items():
        for name in names:
            clients[f"attack:{kind}:{name}"] = per_strategy
    return clients


def simulate_and_inspect(out: Path, *, hours: float, seed: int, clients: Mapping[str, int]
                         ) -> tuple[Path, dict[str, float]]:  # fmt: skip
    """Simulate, baseline, inspect; the findings file and the seconds each step took."""
    from secure_endpoint.simulate.capture.simulator import Config, generate

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    generate(Config(out, seed=seed, hours=hours, clients=clients))
    seconds["simulate"] = time.perf_counter() - started
    key_args: list[str] = []
    help_text = _cli("baseline", "--help").stdout
    if "--membership-key-file" in help_text:
        key = out / "membership.key"
        key.write_bytes(secrets.token_bytes(32))
        key.chmod(0o600)
        key_args = ["--membership-key-file", str(key)]
    else:
        print("  (baseline has no --membership-key-file: membership probing goes unchecked)")
    started = time.perf_counter()
    done = _cli("baseline", "--training", str(out / "training.csv"), "--label-column", "label",
                "--output", str(out / "baseline"), *key_args)  # fmt: skip
    seconds["baseline"] = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"secure-endpoint baseline failed ({done.returncode}): {done.stderr}")
    findings = out / "findings.jsonl"
    started = time.perf_counter()
    inspect_help = _cli("inspect-capture", "--help").stdout
    done = _cli("inspect-capture", "--capture", str(out / "capture"), "--baseline",
                str(out / "baseline"), "--output", str(findings),
                *(key_args if "--membership-key-file" in inspect_help else []))  # fmt: skip
    seconds["inspect-capture"] = time.perf_counter() - started
    if done.returncode != 0:
        print(f"  (inspect-capture failed ({done.returncode}): {done.stderr.strip()[-400:]})")
    return findings, seconds


def volumes(clients: Mapping[str, ClientTruth], hours: float) -> list[str]:
    """Median requests and rows a day per group, from each client's first request on."""
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for client in clients.values():
        if not client.epochs:
            continue
        active = max(min(hours, (max(client.epochs) - min(client.epochs)) / 3600 + 1), 1) / 24
        group = client.profile if client.legitimate else f"attack:{client.kind}"
        groups[group].append((len(client.epochs) / active, sum(client.rows) / active))
    lines = ["\nvolume a day while active (median over the clients of a group; truth.jsonl counts "
             "no rows for a replay's re-sent bodies)",
             f"  {'':28} {'clients':>7} {'requests':>9} {'rows':>9}"]  # fmt: skip
    for name in sorted(groups):
        per = np.array(groups[name])
        lines.append(f"  {name:28} {len(per):7d} {np.median(per[:, 0]):9.0f} "
                     f"{np.median(per[:, 1]):9.0f}")  # fmt: skip
    return lines


def _pooled(runs: list[dict[str, Detection]]) -> dict[str, Detection]:
    return {f"{n}:{client_id}": d for n, run in enumerate(runs) for client_id, d in run.items()}


def as_json(summary: Summary) -> dict[str, Any]:
    """The figures of a summary, for plots and comparisons."""

    def group(ds: list[Detection]) -> dict[str, Any]:
        caught = [d for d in ds if d.caught]
        return {
            "clients": len(ds), "caught": len(caught),
            "rightKind": sum(d.right_kind for d in ds),
            "hours": [round(d.hours, 3) for d in caught if d.hours is not None],
            "queries": [d.queries for d in caught if d.queries is not None],
        }  # fmt: skip

    return {
        "kinds": {k: group(v) for k, v in sorted(summary.by_kind.items())},
        "strategies": {k: group(v) for k, v in sorted(summary.by_strategy.items())},
        "legitimate": {k: group(v) for k, v in sorted(summary.by_legit.items())},
        "legitimateFlaggedShare": summary.flagged_share(),
        "medianQueries": summary.median_queries(),
        "targets": summary.targets(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=72.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--seeds", type=int, default=1,
                        help="runs (seeds --seed, --seed + 1, ...), pooled")  # fmt: skip
    parser.add_argument("--heavy", type=int, default=4, help="heavy users (default 4)")
    parser.add_argument("--per-strategy", type=int, default=3,
                        help="attackers of each strategy (default 3)")  # fmt: skip
    parser.add_argument("--interactive", type=int, default=30,
                        help="interactive clients (default 30, the simulator's)")  # fmt: skip
    parser.add_argument("--look-alikes", type=int, default=3,
                        help="jittery periodic and updating clients each (default 3)")  # fmt: skip
    parser.add_argument("--keep", type=Path, help="write the runs under here and keep them")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    clients = clients_for(args.heavy, args.per_strategy, args.interactive, args.look_alikes)
    detected: list[dict[str, Detection]] = []
    by_volume: list[dict[str, Detection]] = []
    thresholds = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.seed, args.seed + args.seeds):
            out = (args.keep or Path(folder)) / f"run-{seed}"
            findings_path, seconds = simulate_and_inspect(out, hours=args.hours, seed=seed,
                                                          clients=clients)  # fmt: skip
            truth = read_truth(out)
            findings = read_findings(findings_path)
            payload = [f for f in findings if f.get("client_id") != "*"]
            legit_n = sum(c.legitimate for c in truth.values())
            print(f"{args.hours:g} h, seed {seed}: {legit_n} legitimate clients, "
                  f"{len(truth) - legit_n} attackers; {len(payload)} payload findings, "
                  f"{len(findings) - len(payload)} drift findings; "
                  + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()))  # fmt: skip
            if seed == args.seed:
                for line in volumes(truth, args.hours):
                    print(line)
            detected.append(score(findings, truth))
            threshold, volume = volume_baseline(truth)
            thresholds.append(threshold)
            by_volume.append(volume)
    runs = f" ({args.seeds} runs pooled)" if args.seeds > 1 else ""
    inspected = summarize(_pooled(detected))
    for line in report(inspected, f"inspect-capture{runs}"):
        print(line)
    volumed = summarize(_pooled(by_volume))
    shown = ", ".join(f"{t:.0f}" for t in thresholds)
    for line in report(volumed, f"volume baseline (more than {shown} requests, the legitimate "
                       f"p99){runs}"):  # fmt: skip
        print(line)
    if args.json:
        figures = {"inspectCapture": as_json(inspected), "volumeBaseline": as_json(volumed),
                   "volumeThresholds": thresholds, "arguments": {k: str(v) for k, v in
                                                                 vars(args).items()}}  # fmt: skip
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()

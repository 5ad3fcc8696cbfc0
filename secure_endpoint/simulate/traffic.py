"""Realistic API Gateway access logs for the anomaly monitor, with the ground truth beside them.

Writes ``baseline.jsonl`` (clean history to fit on), ``access.jsonl`` (the evaluated period, with
attacks and a legitimate surge) and ``truth.json`` (which principal did what, and when). Every line
has exactly the pinned keys of ``secure_endpoint.constructs.access_log.ACCESS_LOG_FIELDS``, every
value a string, ``-`` where API Gateway has none. Deterministic given the seed. Requests still
carry a user agent and a raw path in the model (they decide nothing the log shows, and drawing
them keeps the seeded traffic what it was), but the pinned format holds neither: a client writes
them, so they stay in the WAF logs.

    python -m secure_endpoint.simulate.traffic --out .cache/traffic [--hours 24]
        [--baseline-hours 24]
        [--clients 300] [--seed 7]

The request path modelled is the one SecureEndpoint builds: the WAF (reputation lists, managed
rules, 1000 requests per address per 5 minutes, then 429), API Gateway (an API key, then a Cognito
token with the invoke scope; requests rejected there carry no client id), request validation, and
the SageMaker integration (POST /v1/predict is the only method; anything else is a 404).

A principal is the OAuth client id when a request carried one, else the source address. Legitimate
populations (kinds are the truth labels):

- legit:diurnal: most clients, a business-hours load in their own time zone (a lognormal spread
  of volumes, bursty sessions), one to three egress addresses, varied payloads, a few errors
  (expired tokens, invalid bodies, model errors); one in twenty runs without a fixed egress and
  rotates over 8-30 addresses; a few are onboarded during the evaluated period;
- legit:batch: mostly idle, then a scheduled job every 6, 12 or 24 hours at 0.3-2 requests/s
  for 10-60 minutes with large payloads (100-800 rows) and some throttling (429);
- legit:periodic: machine integrations polling day and night every 10 s to 5 minutes (a few busy
  ones every 1.5-2.5 s), each gap off by 1-20% (a timer, or a loop sleeping after work of varying
  length), with the same payload (1 to 500 rows) and so a fixed-size response each time; a few
  are onboarded during the evaluated period;
- legit:dead-key-retry: misconfigured clients retrying with a revoked API key (403
  INVALID_API_KEY, so no client id), day and night, with a short backoff;
- legit:surge: half of the diurnal clients sending three to six times their usual load for two
  hours in the evaluated period (a launch), which must not be flagged.

A model incident (ten minutes of 503s and timeouts for everyone) happens in each period.

Attacks, all in the evaluated period only (times are fractions of the period, so that short
periods keep them all):

- attack:flood: four addresses at 8-15 requests/s without a token for 20 minutes (401, then the
  WAF's 429 once an address passes 1000 requests in 5 minutes);
- attack:credential-stuffing: six addresses trying forged tokens and guessed API keys at 40-90
  requests/minute each for 45 minutes (401, 403);
- attack:path-scan: two addresses walking a word list of paths at 150-300 requests/minute for
  15 minutes (404, WAF 403 for the exploit paths);
- attack:extraction: an existing client that starts querying the largest payloads at a steady
  0.8 requests/s from one of its addresses, day and night, beside its usual traffic;
- attack:stealthy-extraction: a new client querying 200-row payloads every 20 s on average
  (jittered), day and night: under every rate limit, like a periodic integration;
- attack:stolen-secret: an existing client's secret and API key used from 40 residential
  addresses at 45 requests per 5 minutes in all, beside the client's own traffic, for 4 hours;
- attack:distributed-probe: 1.3 addresses per client (at least 60), each sending one to four
  unauthenticated requests within 90 s at a random time (401, 403, 404, reputation-list blocks).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from secure_endpoint.constructs.access_log import ACCESS_LOG_FIELDS

EVAL_START = 1_772_409_600  # 2026-03-02T00:00:00Z, a Monday
STAGE = "prod"
PREDICT_PATH = "/v1/predict"
WAF_RATE_LIMIT_PER_IP = 1000  # SecureEndpoint's default, per address per 5 minutes
WAF_RATE_WINDOW_MS = 300_000

LEGIT_KINDS = (
    "legit:diurnal",
    "legit:batch",
    "legit:periodic",
    "legit:surge",
    "legit:dead-key-retry",
)
ATTACK_KINDS = (
    "attack:flood",
    "attack:credential-stuffing",
    "attack:path-scan",
    "attack:extraction",
    "attack:stealthy-extraction",
    "attack:stolen-secret",
    "attack:distributed-probe",
)
KINDS = LEGIT_KINDS + ATTACK_KINDS


def window_seconds() -> int:
    """The anomaly core's window length (seconds, aligned to the epoch); 300 until it says."""
    try:
        from secure_endpoint.runtime import anomaly
    except ImportError:
        return 300
    return int(getattr(anomaly, "WINDOW_SECONDS", 300))


# --- what API Gateway answers ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    status: int
    error_type: str  # $context.error.responseType
    waf: str  # $context.wafResponseCode
    identified: bool  # the authorizer and the API key passed: clientId and apiKeyId are logged
    integrated: bool  # SageMaker was called: integrationLatency is logged
    body: int  # response length of an error body (0: from the payload)


# The JSON error bodies of api.py and edge.py: {"error", "message", "requestId"} (~60 + message).
OUTCOMES: dict[str, _Outcome] = {
    "OK": _Outcome(200, "-", "WAF_ALLOW", True, True, 0),
    "MODEL_INVALID": _Outcome(400, "-", "WAF_ALLOW", True, True, 112),
    "MODEL_ERROR": _Outcome(502, "-", "WAF_ALLOW", True, True, 115),
    "UNAVAILABLE": _Outcome(503, "-", "WAF_ALLOW", True, True, 111),
    "INTERNAL": _Outcome(500, "-", "WAF_ALLOW", True, True, 110),
    "TIMEOUT": _Outcome(504, "INTEGRATION_TIMEOUT", "WAF_ALLOW", True, True, 107),
    "BAD_BODY": _Outcome(400, "BAD_REQUEST_BODY", "WAF_ALLOW", True, False, 126),
    "THROTTLED": _Outcome(429, "THROTTLED", "WAF_ALLOW", True, False, 108),
    "QUOTA": _Outcome(429, "QUOTA_EXCEEDED", "WAF_ALLOW", True, False, 103),
    "UNAUTHORIZED": _Outcome(401, "UNAUTHORIZED", "WAF_ALLOW", False, False, 111),
    "EXPIRED": _Outcome(401, "EXPIRED_TOKEN", "WAF_ALLOW", False, False, 109),
    "ACCESS_DENIED": _Outcome(403, "ACCESS_DENIED", "WAF_ALLOW", False, False, 113),
    "INVALID_KEY": _Outcome(403, "INVALID_API_KEY", "WAF_ALLOW", False, False, 110),
    "NOT_FOUND": _Outcome(404, "MISSING_AUTHENTICATION_TOKEN", "WAF_ALLOW", False, False, 105),
    "WAF_BLOCK": _Outcome(403, "WAF_FILTERED", "WAF_BLOCK", False, False, 102),
    "WAF_RATE": _Outcome(429, "WAF_FILTERED", "WAF_BLOCK", False, False, 105),
}
_OUTCOME_NAMES = tuple(OUTCOMES)
CODE = {name: code for code, name in enumerate(_OUTCOME_NAMES)}

# (method, resourcePath, path without the stage): the API has POST /v1/predict only.
_SCAN_PATHS = (
    "/", "/v1", "/v2/predict", "/v1/predict/", "/v1/models", "/v1/models/latest", "/v1/invoke",
    "/invocations", "/ping", "/health", "/healthz", "/status", "/metrics", "/api", "/api/v1",
    "/api/predict", "/swagger.json", "/openapi.json", "/docs", "/redoc", "/graphql", "/admin",
    "/login", "/robots.txt", "/favicon.ico", "/server-status", "/actuator/health",
    "/actuator/env", "/console", "/debug", "/config.json", "/.well-known/security.txt",
    "/predict", "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/model",
    "/sagemaker", "/backup.zip", "/test", "/.git/config", "/.env", "/.aws/credentials",
    "/wp-login.php", "/wp-admin/", "/phpmyadmin/", "/cgi-bin/luci", "/etc/passwd",
    "/v1/predict/../../etc/passwd", "/index.php?s=/index/think/app/invokefunction",
    "/shell?cd+/tmp", "/boaform/admin/formLogin", "/HNAP1/", "/solr/admin/info/system",
    "/owa/auth/logon.aspx", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
)  # fmt: skip
_EXPLOIT = frozenset(
    p
    for p in _SCAN_PATHS
    if p.startswith(("/.", "/wp", "/php", "/cgi", "/etc"))
    or any(s in p for s in ("..", "?", "shell", "boaform", "HNAP", "solr", "owa", "phpunit"))
)
ROUTES: tuple[tuple[str, str, str], ...] = (
    ("POST", PREDICT_PATH, PREDICT_PATH),
    ("GET", "-", PREDICT_PATH),
    *((method, "-", p) for p in _SCAN_PATHS for method in ("GET", "POST")),
    ("HEAD", "-", "/"),
    ("OPTIONS", "-", PREDICT_PATH),
)
R_PREDICT, R_GET_PREDICT = 0, 1
_R_SCAN = np.arange(2, 2 + 2 * len(_SCAN_PATHS))
_R_SCAN_EXPLOIT = np.array(
    [2 + 2 * i + m for i, p in enumerate(_SCAN_PATHS) if p in _EXPLOIT for m in (0, 1)]
)

_LEGIT_AGENTS = (
    "python-requests/2.32.3", "python-requests/2.31.0", "secure-endpoint/0.1.0",
    "Boto3/1.35.99 md/Botocore#1.35.99 ua/2.0 os/linux#6.1 lang/python#3.12.8",
    "okhttp/4.12.0", "Java-http-client/21.0.5", "Apache-HttpClient/4.5.14 (Java/17.0.13)",
    "Go-http-client/2.0", "axios/1.7.9", "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
    "Dart/3.5 (dart:io)", "curl/8.5.0", "PostmanRuntime/7.43.0", "RestSharp/112.1.0.0",
    "aiohttp/3.11.11 Python/3.12", "httpx/0.28.1",
)  # fmt: skip
_BROWSER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
)
_SCANNER_AGENTS = (
    "Mozilla/5.0 (compatible; Nuclei - Open-source project (github.com/projectdiscovery/nuclei))",
    "Mozilla/5.0 zgrab/0.x",
    "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
    "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
    "Mozilla/5.0 (compatible; Odin; https://docs.getodin.com/)",
    "-",
    "python-requests/2.25.1",
    "Go-http-client/1.1",
    "curl/7.68.0",
    'sqlmap/1.8 (https://sqlmap.org) "test"',
)
_PUBLIC_FIRST_OCTETS = np.array(
    [3, 5, 13, 18, 20, 23, 31, 34, 35, 37, 38, 44, 45, 46, 47, 50, 51, 52, 54, 62, 64, 66, 68,
     70, 74, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 98, 99,
     101, 103, 104, 107, 108, 109, 110, 112, 114, 116, 118, 121, 122, 123, 124, 125, 128, 130,
     131, 134, 136, 137, 138, 139, 141, 142, 143, 144, 146, 147, 149, 151, 152, 154, 155, 156,
     157, 158, 159, 160, 161, 162, 163, 164, 165, 166, 167, 168, 170, 171, 173, 174, 175, 176,
     177, 178, 179, 180, 181, 183, 185, 186, 187, 188, 189, 190, 191, 193, 194, 195, 196, 197,
     199, 200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211, 212, 213, 216, 217, 218,
     219, 220, 221, 222, 223]
)  # fmt: skip
_ALNUM = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)
_BYTES_PER_ROW = 18.5  # one prediction in the JSON response, on average
_RESPONSE_OVERHEAD = 16  # {"predictions":[]}


# --- the log being built --------------------------------------------------------------------------


class _Tables:
    """String tables (addresses, client ids, API key ids, user agents), unique and seeded."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.ips: list[str] = []
        self.clients: list[str] = []
        self.keys: list[str] = []
        self.agents: list[str] = [*_LEGIT_AGENTS, *_BROWSER_AGENTS, *_SCANNER_AGENTS]
        self._seen: set[str] = set()

    def new_ips(self, n: int, *, v6_share: float = 0.0) -> np.ndarray:
        first = len(self.ips)
        while len(self.ips) < first + n:
            if self.rng.random() < v6_share:
                prefix = (0x2A02, 0x2600, 0x2A01, 0x2001)[int(self.rng.integers(0, 4))]
                rest = int.from_bytes(self.rng.bytes(14), "big")
                ip = str(ipaddress.IPv6Address(prefix << 112 | rest))
            else:
                octets = self.rng.integers(1, 255, 3)
                head = int(self.rng.choice(_PUBLIC_FIRST_OCTETS))
                ip = f"{head}.{octets[0]}.{octets[1]}.{octets[2]}"
            if ip not in self._seen:
                self._seen.add(ip)
                self.ips.append(ip)
        return np.arange(first, first + n, dtype=np.int32)

    def _ids(self, table: list[str], n: int, length: int) -> np.ndarray:
        first = len(table)
        while len(table) < first + n:
            ident = self.rng.choice(_ALNUM, length).tobytes().decode()
            if ident not in self._seen:
                self._seen.add(ident)
                table.append(ident)
        return np.arange(first, first + n, dtype=np.int32)

    def new_clients(self, n: int) -> np.ndarray:
        """Cognito app client ids: 26 lowercase letters and digits."""
        return self._ids(self.clients, n, 26)

    def new_keys(self, n: int) -> np.ndarray:
        """API Gateway API key ids: 10 lowercase letters and digits."""
        return self._ids(self.keys, n, 10)

    def agent(self, name: str) -> int:
        return self.agents.index(name)


_COLUMNS = ("t", "ip", "client", "key", "agent", "route", "outcome", "rows", "tls", "length",
            "kind")  # fmt: skip


@dataclass
class _Log:
    """Requests as columns of integers, appended per population, sorted once at the end."""

    parts: list[dict[str, np.ndarray]] = field(default_factory=list)

    def add(self, t_ms: np.ndarray, **columns: Any) -> None:
        n = len(t_ms)
        if n == 0:
            return
        defaults = {
            "client": -1,
            "key": -1,
            "route": R_PREDICT,
            "rows": 0,
            "tls": 0,
            "length": -1,
            "outcome": CODE["OK"],
        }
        part = {"t": np.asarray(t_ms, dtype=np.int64)}
        for name in _COLUMNS[1:]:
            value = columns.get(name, defaults.get(name))
            if value is None:
                raise TypeError(f"column {name} is required")
            part[name] = np.broadcast_to(np.asarray(value, dtype=np.int64), (n,)).copy()
        self.parts.append(part)

    def columns(self) -> dict[str, np.ndarray]:
        merged = {name: np.concatenate([p[name] for p in self.parts]) for name in _COLUMNS}
        order = np.argsort(merged["t"], kind="stable")
        return {name: values[order] for name, values in merged.items()}


# --- ground truth ---------------------------------------------------------------------------------


@dataclass
class Truth:
    """Which principal behaved how, when: segments ``[kind, start, end)`` in epoch seconds."""

    window_seconds: int
    seed: int
    periods: dict[str, dict[str, int]]
    attacks: list[dict[str, Any]]
    segments: dict[str, list[list[Any]]] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    parameters: dict[str, float] = field(default_factory=dict)

    def add(self, principal: str, kind: str, start: float, end: float) -> None:
        self.segments.setdefault(principal, []).append([kind, int(start), int(np.ceil(end))])

    def label(self, principal: str, window_start: int) -> str | None:
        """The kind of a principal's window: an attack wins over the surge, which wins over the
        principal's usual kind; None for a principal the truth does not know."""
        end = window_start + self.window_seconds
        found = [k for k, s, e in self.segments.get(principal, ()) if s < end and e > window_start]
        if not found:
            return None
        return str(min(found, key=lambda k: (not k.startswith("attack:"), k != "legit:surge")))

    def to_json(self) -> dict[str, Any]:
        return {
            "windowSeconds": self.window_seconds,
            "seed": self.seed,
            "parameters": self.parameters,
            "periods": self.periods,
            "kinds": list(KINDS),
            "counts": self.counts,
            "attacks": self.attacks,
            "segments": self.segments,
        }

    @classmethod
    def load(cls, path: Path) -> Truth:
        data = json.loads(Path(path).read_text())
        return cls(
            window_seconds=data["windowSeconds"],
            seed=data["seed"],
            periods=data["periods"],
            attacks=data["attacks"],
            segments=data["segments"],
            counts=data["counts"],
            parameters=data["parameters"],
        )


# --- populations ----------------------------------------------------------------------------------


@dataclass
class Config:
    out: Path
    hours: float = 24.0
    baseline_hours: float = 24.0
    clients: int = 300
    seed: int = 7
    start: int = EVAL_START
    """When the evaluated period starts (epoch seconds, on a window boundary); the demo puts it
    just before now, as CloudWatch Logs takes only events of the last 14 days."""

    def __post_init__(self) -> None:
        if self.start % window_seconds():
            raise ValueError(f"start must be on a window boundary, got {self.start}")

    def parameters(self) -> dict[str, float]:
        return {
            "hours": self.hours,
            "baselineHours": self.baseline_hours,
            "clients": self.clients,
            "seed": self.seed,
        } | ({} if self.start == EVAL_START else {"start": self.start})

    @property
    def t0(self) -> int:
        return self.start

    @property
    def t1(self) -> int:
        return self.start + int(self.hours * 3600)

    @property
    def b0(self) -> int:
        return self.start - int(self.baseline_hours * 3600)

    def at(self, fraction: float) -> int:
        """A time in the evaluated period, a fraction into it, on a whole minute."""
        return self.t0 + int(fraction * self.hours * 60) * 60

    def span(self, hours: float, fraction: float) -> int:
        """A duration in seconds: ``hours``, at most ``fraction`` of the evaluated period."""
        return int(min(hours, fraction * self.hours) * 60) * 60


def _outcomes(rng: np.random.Generator, n: int, probabilities: dict[str, float]) -> np.ndarray:
    """Outcome codes: each named outcome with its probability, OK otherwise."""
    codes = np.full(n, CODE["OK"], dtype=np.int64)
    u = rng.random(n)
    low = 0.0
    for name, p in probabilities.items():
        codes[(u >= low) & (u < low + p)] = CODE[name]
        low += p
    return codes


def _poisson_times(rng: np.random.Generator, start: float, end: float, rate: float) -> np.ndarray:
    """A Poisson process of ``rate`` per second over [start, end), in milliseconds."""
    n = rng.poisson(max(end - start, 0) * rate)
    return np.sort(rng.uniform(start, end, n) * 1000).astype(np.int64)


def _steady_times(
    rng: np.random.Generator, start: float, end: float, interval: float, jitter: float
) -> np.ndarray:
    """Requests every ``interval`` seconds, each gap off by up to ``jitter`` of it."""
    n = int((end - start) / interval * 1.2) + 2
    gaps = interval * (1 + jitter * rng.uniform(-1, 1, n))
    t = start + rng.uniform(0, interval) + np.cumsum(gaps)
    return (t[t < end] * 1000).astype(np.int64)


def _rows_length(rng: np.random.Generator, rows: np.ndarray) -> np.ndarray:
    """The JSON response length of ``rows`` predictions (their digits vary)."""
    noise = rng.normal(0, 0.9, len(rows)) * np.sqrt(rows)
    length: np.ndarray = (_RESPONSE_OVERHEAD + rows * _BYTES_PER_ROW + noise).astype(np.int64)
    return length


@dataclass
class _Client:
    kind: str
    client: int
    key: int
    ips: np.ndarray
    agent: int
    tls: int
    start: int  # first second it exists (onboarded)


class _Simulator:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.tables = _Tables(np.random.default_rng([config.seed, 0]))
        self.log = _Log()
        self.truth = Truth(
            window_seconds=window_seconds(),
            seed=config.seed,
            periods={
                "baseline": {"start": config.b0, "end": config.t0},
                "evaluated": {"start": config.t0, "end": config.t1},
            },
            attacks=[],
            parameters=config.parameters(),
        )
        self._stream = 0
        self.kind_code = {kind: code for code, kind in enumerate(KINDS)}

    def rng(self) -> np.random.Generator:
        """A generator of its own for each population, so that one's draws never shift another's."""
        self._stream += 1
        return np.random.default_rng([self.config.seed, self._stream])

    def new_client(
        self, kind: str, rng: np.random.Generator, *, n_ips: int = 1, start: int | None = None
    ) -> _Client:
        agent = self.tables.agent(_LEGIT_AGENTS[int(rng.integers(0, len(_LEGIT_AGENTS)))])
        return _Client(
            kind=kind,
            client=int(self.tables.new_clients(1)[0]),
            key=int(self.tables.new_keys(1)[0]),
            ips=self.tables.new_ips(n_ips, v6_share=0.06),
            agent=agent,
            tls=int(rng.random() < 0.15),  # TLSv1.2 for some older stacks
            start=self.config.b0 if start is None else start,
        )

    def remember(
        self,
        client: _Client,
        kind: str | None = None,
        start: int | None = None,
        end: int | None = None,
    ) -> None:
        kind = kind or client.kind
        start = client.start if start is None else start
        end = self.config.t1 if end is None else end
        self.truth.add(self.tables.clients[client.client], kind, start, end)
        for ip in client.ips:  # requests it sends that are rejected before the authorizer
            self.truth.add(self.tables.ips[ip], kind, start, end)

    def add(
        self,
        client: _Client,
        t: np.ndarray,
        rng: np.random.Generator,
        *,
        kind: str | None = None,
        ip_weights: np.ndarray | None = None,
        **columns: Any,
    ) -> None:
        if len(client.ips) == 1:
            ips: Any = client.ips[0]
        else:
            ips = rng.choice(client.ips, len(t), p=ip_weights)
        columns.setdefault("agent", client.agent)
        columns.setdefault("tls", client.tls)
        codes = columns.pop("kind_codes", self.kind_code[kind or client.kind])
        self.log.add(t, ip=ips, client=client.client, key=client.key, kind=codes, **columns)

    # legitimate ---------------------------------------------------------------------------------

    def diurnal(self, n: int, n_new: int) -> list[_Client]:
        config, rng = self.config, self.rng()
        minutes = np.arange(config.b0, config.t1, 60)
        clients = []
        for i in range(n + n_new):
            new = i >= n
            start = config.at(rng.uniform(0.1, 0.6)) if new else config.b0
            n_ips = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
            if rng.random() < 0.05:  # serverless, no fixed egress: a rotating pool of addresses
                n_ips = int(rng.integers(8, 31))
            clients.append(self.new_client("legit:diurnal", rng, n_ips=n_ips, start=start))
        m = len(clients)
        peak_rate = np.clip(rng.lognormal(np.log(0.8), 1.1, m), 0.02, 20.0)  # per minute at peak
        tz = rng.choice([-8, -6, -5, -3, 0, 1, 2, 3, 5.5, 8, 9, 10], m)
        peak_hour = rng.normal(14, 1.5, m)
        width = rng.uniform(2.5, 4.5, m)
        hour = ((minutes[None, :] / 3600 + tz[:, None]) % 24) - peak_hour[:, None]
        hour = (hour + 12) % 24 - 12
        load = 0.04 + 0.96 * np.exp(-0.5 * (hour / width[:, None]) ** 2)
        mean = peak_rate[:, None] * load
        # bursty sessions: a gamma multiplier per 5 minutes (mean 1)
        blocks = rng.gamma(0.6, 1 / 0.6, (m, (len(minutes) + 4) // 5))
        mean *= np.repeat(blocks, 5, axis=1)[:, : len(minutes)]
        starts = np.array([c.start for c in clients])
        mean[minutes[None, :] < starts[:, None]] = 0
        self._diurnal_mean = (clients, minutes, mean)
        return clients

    def emit_diurnal(self, surge: dict[int, float], surge_span: tuple[int, int]) -> None:
        clients, minutes, mean = self._diurnal_mean
        rng = self.rng()
        in_surge = (minutes >= surge_span[0]) & (minutes < surge_span[1])
        for i, factor in surge.items():
            mean[i, in_surge] *= factor
        np.minimum(mean, 120, out=mean)  # no legitimate client runs into the WAF's rate limit
        counts = rng.poisson(mean)
        median_rows = np.clip(rng.lognormal(np.log(4), 1.2, len(clients)), 1, 800)
        error_scale = rng.lognormal(0, 1, len(clients))
        for i, client in enumerate(clients):
            t = np.repeat(minutes, counts[i]) * 1000 + rng.integers(0, 60_000, counts[i].sum())
            t.sort()
            rows = np.clip(np.round(median_rows[i] * rng.lognormal(0, 0.6, len(t))), 1, 1000)
            e = error_scale[i]
            outcome = _outcomes(
                rng,
                len(t),
                {
                    "EXPIRED": 0.002 * e,
                    "BAD_BODY": 0.003 * e,
                    "MODEL_INVALID": 0.001 * e,
                    "MODEL_ERROR": 0.0003,
                    "INTERNAL": 0.0001,
                    "THROTTLED": 0.0005 * e,
                },
            )
            weights = np.array(
                [0.7, 0.2, 0.1][: len(client.ips)]
                if len(client.ips) <= 3
                else [1.0] * len(client.ips)
            )
            surging = i in surge
            kind = np.full(len(t), self.kind_code["legit:diurnal"])
            if surging:
                t_s = t // 1000
                kind[(t_s >= surge_span[0]) & (t_s < surge_span[1])] = self.kind_code["legit:surge"]
            self.add(
                client,
                t,
                rng,
                rows=rows,
                outcome=outcome,
                ip_weights=weights / weights.sum(),
                kind_codes=kind,
            )
            self.remember(client)
            if surging:
                self.remember(client, "legit:surge", *surge_span)

    def batch(self, n: int) -> None:
        config, rng = self.config, self.rng()
        phases = rng.permutation(np.linspace(0.05, 0.85, max(n, 1)))
        for i in range(n):
            client = self.new_client("legit:batch", rng)
            every = float(rng.choice([6, 12, 24], p=[0.1, 0.3, 0.6])) * 3600
            first = config.t0 + phases[i] * min(config.hours * 3600, every)
            k0 = int(np.floor((config.b0 - first) / every))
            duration = rng.uniform(10, 60) * 60
            rate = rng.uniform(0.3, 2.0)
            rows = float(rng.uniform(100, 800))
            for k in range(k0, k0 + int((config.t1 - config.b0) / every) + 3):
                start = first + k * every
                if start + duration <= config.b0 or start >= config.t1:
                    continue
                t = _poisson_times(
                    rng,
                    max(start, config.b0),
                    min(start + duration, config.t1),
                    rate * rng.uniform(0.85, 1.15),
                )
                r = np.clip(np.round(rows * rng.lognormal(0, 0.2, len(t))), 1, 1000)
                outcome = _outcomes(
                    rng,
                    len(t),
                    {
                        "THROTTLED": 0.015,
                        "BAD_BODY": 0.0005,
                        "MODEL_ERROR": 0.0005,
                    },
                )
                self.add(client, t, rng, rows=r, outcome=outcome)
            self.remember(client)

    def periodic(self, n: int, n_busy: int, n_new: int) -> None:
        config, rng = self.config, self.rng()
        for i in range(n + n_new):
            new = i >= n
            start = config.at(rng.uniform(0.1, 0.6)) if new else config.b0
            client = self.new_client("legit:periodic", rng, start=start)
            if i < n_busy:
                period, rows = float(rng.uniform(1.5, 2.5)), int(rng.choice([1, 2, 5]))
            else:
                period = float(rng.choice([10, 15, 20, 30, 60, 60, 120, 300]))
                rows = int(rng.choice([1, 1, 2, 5, 10, 20, 50, 100, 200, 500]))  # a page a poll
            # a timer (cron: 1%) or a loop that sleeps after work of varying length (up to 20%)
            jitter = float(rng.choice([0.01, 0.02, 0.05, 0.1, 0.2]))
            t = _steady_times(rng, start, config.t1, period, jitter)
            t = t[rng.random(len(t)) > 0.003]  # a missed poll now and then
            length = _rows_length(rng, np.array([rows]))[0]  # the same payload every time
            outcome = _outcomes(rng, len(t), {"EXPIRED": 0.0003, "MODEL_ERROR": 0.0002})
            self.add(client, t, rng, rows=rows, outcome=outcome, length=length)
            self.remember(client)

    def dead_key(self, n: int) -> None:
        config, rng = self.config, self.rng()
        for _ in range(n):
            client = self.new_client("legit:dead-key-retry", rng)
            attempts = _steady_times(rng, config.b0, config.t1, rng.uniform(15, 120), 0.3)
            tries = rng.integers(1, 4, len(attempts))  # the first try, then backoff of 1 s, 2 s
            offsets = np.array([0, 1000, 3000])
            t = np.concatenate([attempts[tries > k] + offsets[k] for k in range(3)])
            t = np.sort(t[t < config.t1 * 1000])
            self.add(client, t, rng, outcome=CODE["INVALID_KEY"])
            for ip in client.ips:  # its requests never get as far as its client id
                self.truth.add(self.tables.ips[ip], client.kind, client.start, config.t1)

    # attacks ----------------------------------------------------------------------------------

    def attack(
        self, kind: str, principals: list[str], start: float, end: float, **parameters: Any
    ) -> None:
        self.truth.attacks.append(
            {
                "kind": kind,
                "start": int(start),
                "end": int(np.ceil(end)),
                "principals": principals,
                "parameters": parameters,
            }
        )

    def anonymous(self, kind: str, ips: np.ndarray, t: np.ndarray, **columns: Any) -> None:
        self.log.add(t, ip=ips, kind=self.kind_code[kind], **columns)

    def flood(self) -> None:
        config, rng = self.config, self.rng()
        start, duration = config.at(0.40), config.span(20 / 60, 0.1)
        ips = self.tables.new_ips(4)
        agent = self.tables.agent("Go-http-client/1.1")
        for ip in ips:
            t = _poisson_times(rng, start, start + duration, rng.uniform(8, 15))
            self.anonymous("attack:flood", ip, t, outcome=CODE["UNAUTHORIZED"], agent=agent, tls=1)
            self.truth.add(self.tables.ips[ip], "attack:flood", start, start + duration)
        self.attack(
            "attack:flood",
            [self.tables.ips[i] for i in ips],
            start,
            start + duration,
            addresses=4,
            requests_per_second="8-15",
            credentials="none",
        )

    def credential_stuffing(self) -> None:
        config, rng = self.config, self.rng()
        start, duration = config.at(0.15), config.span(0.75, 0.1)
        ips = self.tables.new_ips(6)
        browsers = np.array([self.tables.agent(a) for a in _BROWSER_AGENTS])
        for ip in ips:
            t = _poisson_times(rng, start, start + duration, rng.uniform(40, 90) / 60)
            outcome = rng.choice(
                [CODE["UNAUTHORIZED"], CODE["INVALID_KEY"], CODE["ACCESS_DENIED"]],
                len(t),
                p=[0.6, 0.35, 0.05],
            )
            self.anonymous(
                "attack:credential-stuffing",
                ip,
                t,
                outcome=outcome,
                agent=rng.choice(browsers, len(t)),
            )
            self.truth.add(
                self.tables.ips[ip], "attack:credential-stuffing", start, start + duration
            )
        self.attack(
            "attack:credential-stuffing",
            [self.tables.ips[i] for i in ips],
            start,
            start + duration,
            addresses=6,
            requests_per_minute="40-90",
        )

    def path_scan(self) -> None:
        config, rng = self.config, self.rng()
        start, duration = config.at(0.55), config.span(0.25, 0.08)
        ips = self.tables.new_ips(2)
        exploit = set(_R_SCAN_EXPLOIT.tolist())
        for n, ip in enumerate(ips):
            t = _poisson_times(rng, start, start + duration, rng.uniform(150, 300) / 60)
            route = rng.choice(_R_SCAN, len(t))
            route[rng.random(len(t)) < 0.05] = R_PREDICT
            outcome = np.where(np.isin(route, list(exploit)), CODE["WAF_BLOCK"], CODE["NOT_FOUND"])
            outcome[route == R_PREDICT] = CODE["UNAUTHORIZED"]
            agent = self.tables.agent(_SCANNER_AGENTS[n])
            self.anonymous("attack:path-scan", ip, t, outcome=outcome, route=route, agent=agent)
            self.truth.add(self.tables.ips[ip], "attack:path-scan", start, start + duration)
        self.attack(
            "attack:path-scan",
            [self.tables.ips[i] for i in ips],
            start,
            start + duration,
            addresses=2,
            requests_per_minute="150-300",
            paths=len(_SCAN_PATHS),
        )

    def extraction(self, client: _Client) -> None:
        config, rng = self.config, self.rng()
        start = config.at(0.20)
        end = min(start + 10 * 3600, config.t1)
        t = _steady_times(rng, start, end, 1.25, 0.2)
        rows = rng.integers(900, 1001, len(t))
        agent = self.tables.agent("python-requests/2.31.0")
        outcome = _outcomes(rng, len(t), {"THROTTLED": 0.001, "MODEL_ERROR": 0.0003})
        one_machine = replace(client, ips=client.ips[:1])
        self.add(
            one_machine, t, rng, kind="attack:extraction", rows=rows, outcome=outcome, agent=agent
        )
        self.remember(client, "attack:extraction", start, end)
        principal = self.tables.clients[client.client]
        self.attack(
            "attack:extraction",
            [principal],
            start,
            end,
            requests_per_second=0.8,
            rows="900-1000",
            client="an existing diurnal client, own address",
        )

    def stealthy_extraction(self) -> None:
        config, rng = self.config, self.rng()
        start, end = config.t0, config.t1
        client = self.new_client("attack:stealthy-extraction", rng, start=start)
        t = _steady_times(rng, start, end, 20.0, 0.4)
        self.add(client, t, rng, rows=200, agent=self.tables.agent("python-requests/2.32.3"), tls=0)
        self.remember(client)
        self.attack(
            "attack:stealthy-extraction",
            [self.tables.clients[client.client]],
            start,
            end,
            mean_interval_seconds=20,
            jitter="40%",
            rows=200,
            client="a new client, like a periodic integration",
        )

    def stolen_secret(self, victim: _Client) -> None:
        config, rng = self.config, self.rng()
        start, duration = config.at(0.60), config.span(4, 0.3)
        ips = self.tables.new_ips(40)
        weights = 1 / np.arange(1, 41) ** 0.5
        t = _poisson_times(rng, start, start + duration, 45 / 300)
        rows = np.clip(np.round(rng.lognormal(np.log(20), 1, len(t))), 1, 1000)
        agent = self.tables.agent("python-requests/2.25.1")
        self.log.add(
            t,
            ip=rng.choice(ips, len(t), p=weights / weights.sum()),
            client=victim.client,
            key=victim.key,
            rows=rows,
            agent=agent,
            tls=1,
            kind=self.kind_code["attack:stolen-secret"],
        )
        principal = self.tables.clients[victim.client]
        self.truth.add(principal, "attack:stolen-secret", start, start + duration)
        self.attack(
            "attack:stolen-secret",
            [principal],
            start,
            start + duration,
            addresses=40,
            requests_per_5_minutes=45,
            client="an existing diurnal client, its own traffic going on",
        )

    def distributed_probe(self) -> None:
        config, rng = self.config, self.rng()
        n = max(60, round(1.3 * config.clients))
        ips = self.tables.new_ips(n, v6_share=0.1)
        first = config.at(0.05) + rng.uniform(0, 0.9 * config.hours * 3600, n)
        per_ip = 1 + rng.binomial(3, 0.4, n)
        owner = np.repeat(np.arange(n), per_ip)
        t = ((first[owner] + rng.uniform(0, 90, len(owner))) * 1000).astype(np.int64)
        t[np.r_[0, np.cumsum(per_ip)[:-1]]] = (first * 1000).astype(np.int64)
        what = rng.choice(4, len(t), p=[0.5, 0.15, 0.2, 0.15])
        outcome = np.choose(
            what, [CODE["UNAUTHORIZED"], CODE["NOT_FOUND"], CODE["INVALID_KEY"], CODE["WAF_BLOCK"]]
        )
        route = np.where(what == 1, rng.choice([R_GET_PREDICT, 2], len(t)), R_PREDICT)
        listed = rng.random(n) < 0.2  # on a reputation list: every request blocked
        outcome[listed[owner]] = CODE["WAF_BLOCK"]
        agents = np.array([self.tables.agent(a) for a in _SCANNER_AGENTS + _BROWSER_AGENTS])
        agent = rng.choice(agents, n)[owner]
        self.anonymous(
            "attack:distributed-probe",
            ips[owner],
            t,
            outcome=outcome,
            route=route,
            agent=agent,
            tls=rng.integers(0, 2, len(t)),
        )
        last = np.maximum.reduceat(t, np.r_[0, np.cumsum(per_ip)[:-1]]) / 1000 + 1
        for i, ip in enumerate(ips):
            self.truth.add(self.tables.ips[ip], "attack:distributed-probe", first[i], last[i])
        self.attack(
            "attack:distributed-probe",
            [self.tables.ips[i] for i in ips],
            float(first.min()),
            float(last.max()),
            addresses=n,
            requests_per_address="1-4 within 90 s",
            reputation_listed="20%",
        )

    # the gateway ------------------------------------------------------------------------------

    def incidents(self, columns: dict[str, np.ndarray]) -> None:
        """Ten minutes of model trouble in each period: 503s and a few timeouts for everyone."""
        rng = self.rng()
        config = self.config
        for lo, hi in ((config.b0, config.t0), (config.t0, config.t1)):
            start = (lo + int((hi - lo) * 0.33)) * 1000
            hit = (columns["t"] >= start) & (columns["t"] < start + 600_000)
            hit &= columns["outcome"] == CODE["OK"]
            u = rng.random(len(hit))
            columns["outcome"][hit & (u < 0.25)] = CODE["UNAVAILABLE"]
            columns["outcome"][hit & (u >= 0.25) & (u < 0.28)] = CODE["TIMEOUT"]

    def waf_rate_limit(self, columns: dict[str, np.ndarray]) -> None:
        """The WAF's 429 for an address over 1000 requests in the trailing 5 minutes."""
        t = columns["t"] - columns["t"][0]
        span = int(t[-1]) + WAF_RATE_WINDOW_MS + 1
        keys = columns["ip"] * span + t
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        inside = (
            np.arange(len(keys))
            - np.searchsorted(sorted_keys, sorted_keys - WAF_RATE_WINDOW_MS, "right")
            + 1
        )
        over = order[inside > WAF_RATE_LIMIT_PER_IP]
        blockable = columns["outcome"][over] != CODE["WAF_BLOCK"]
        columns["outcome"][over[blockable]] = CODE["WAF_RATE"]

    def run(self) -> tuple[dict[str, np.ndarray], Truth]:
        config = self.config
        n = config.clients
        n_batch = max(2, round(0.08 * n))
        n_periodic = max(3, round(0.12 * n))
        n_busy = max(2, round(0.007 * n))
        n_dead = max(2, round(0.03 * n))
        n_diurnal = max(6, n - n_batch - n_periodic - n_dead)
        n_new = max(1, round(0.01 * n))
        diurnal = self.diurnal(n_diurnal, n_new)
        old = [i for i, c in enumerate(diurnal) if c.start == config.b0]
        rng = self.rng()
        _, _, mean = self._diurnal_mean
        daily = mean.mean(axis=1)
        # the extractor: an ordinary client; the victim: a moderate one behind one address
        extractor = old[int(np.argsort(np.abs(daily[old] - np.median(daily[old])))[0])]
        moderate = [i for i in old if i != extractor and len(diurnal[i].ips) == 1]
        victim = moderate[
            int(np.argsort(np.abs(daily[moderate] - np.quantile(daily[old], 0.75)))[0])
        ]
        others = [i for i in old if i not in (extractor, victim)]
        surging = rng.choice(others, len(others) // 2, replace=False)
        surge = {int(i): float(rng.uniform(3, 6)) for i in surging}
        start = config.at(0.70)
        self.emit_diurnal(surge, (start, start + config.span(2, 0.2)))
        self.batch(n_batch)
        self.periodic(n_periodic, n_busy, max(1, n_new // 2 + 1))
        self.dead_key(n_dead)
        self.flood()
        self.credential_stuffing()
        self.path_scan()
        self.extraction(diurnal[extractor])
        self.stealthy_extraction()
        self.stolen_secret(diurnal[victim])
        self.distributed_probe()
        columns = self.log.columns()
        keep = (columns["t"] >= config.b0 * 1000) & (columns["t"] < config.t1 * 1000)
        columns = {name: values[keep] for name, values in columns.items()}
        self.incidents(columns)
        self.waf_rate_limit(columns)
        return columns, self.truth


# --- writing --------------------------------------------------------------------------------------


def _quoted(strings: list[str]) -> np.ndarray:
    return np.array([json.dumps(s) for s in strings], dtype=object)


def _request_ids(rng: np.random.Generator, n: int) -> list[str]:
    """UUIDs, as API Gateway's request ids are."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16)
    hexed = np.frombuffer(raw.tobytes().hex().encode(), dtype="S1").reshape(n, 32)
    out = np.full((n, 38), b"-", dtype="S1")
    out[:, 0] = out[:, 37] = b'"'
    for a, b, at in ((0, 8, 1), (8, 12, 10), (12, 16, 15), (16, 20, 20), (20, 32, 25)):
        out[:, at : at + b - a] = hexed[:, a:b]
    return out.view("S38").ravel().astype(str).tolist()


def _lines(
    columns: dict[str, np.ndarray],
    tables: _Tables,
    rng: np.random.Generator,
) -> Iterator[str]:
    fields = tuple(ACCESS_LOG_FIELDS)
    template = "{" + ",".join(f'"{name}":%s' for name in fields) + "}\n"
    outcome = columns["outcome"]
    status = np.array([o.status for o in OUTCOMES.values()])[outcome]
    identified = np.array([o.identified for o in OUTCOMES.values()])[outcome]
    integrated = np.array([o.integrated for o in OUTCOMES.values()])[outcome]
    body = np.array([o.body for o in OUTCOMES.values()])[outcome]
    n = len(outcome)
    rows = np.maximum(columns["rows"], 1)
    length = np.where(columns["length"] >= 0, columns["length"], _rows_length(rng, rows))
    length = np.where(status == 200, length, body)
    integration = np.round(6 + 0.012 * rows + rng.lognormal(np.log(14), 0.45, n)).astype(np.int64)
    integration[outcome == CODE["TIMEOUT"]] = 29_000
    overhead = np.round(rng.lognormal(np.log(4), 0.5, n)).astype(np.int64)
    overhead += (rng.random(n) < 0.02) * rng.integers(20, 80, n)  # authorizer cache misses
    latency = np.where(integrated, integration + overhead, overhead)
    latency[np.isin(outcome, [CODE["WAF_BLOCK"], CODE["WAF_RATE"]])] //= 3
    dash = '"-"'
    client = np.where(identified & (columns["client"] >= 0), columns["client"], -1)
    key = np.where(identified & (columns["key"] >= 0), columns["key"], -1)
    methods, resources, _paths = zip(*ROUTES, strict=True)
    by_name: dict[str, Any] = {
        "requestId": _request_ids(rng, n),
        "requestTimeEpoch": [f'"{v}"' for v in columns["t"].tolist()],
        "sourceIp": _quoted(tables.ips)[columns["ip"]],
        "clientId": np.append(_quoted(tables.clients), dash)[client],
        "apiKeyId": np.append(_quoted(tables.keys), dash)[key],
        "httpMethod": _quoted(list(methods))[columns["route"]],
        "resourcePath": _quoted(list(resources))[columns["route"]],
        "status": [f'"{v}"' for v in status.tolist()],
        "responseLength": [f'"{v}"' for v in length.tolist()],
        "responseLatency": [f'"{v}"' for v in latency.tolist()],
        "integrationLatency": np.where(
            integrated, np.array([f'"{v}"' for v in integration.tolist()], dtype=object), dash
        ),
        "errorType": _quoted([o.error_type for o in OUTCOMES.values()])[outcome],
        "wafResponseCode": _quoted([o.waf for o in OUTCOMES.values()])[outcome],
        "tlsVersion": _quoted(["TLSv1.3", "TLSv1.2"])[columns["tls"]],
    }
    values = [list(by_name[name]) for name in fields]
    chunk = 50_000
    for lo in range(0, n, chunk):
        yield "".join(
            template % row for row in zip(*(v[lo : lo + chunk] for v in values), strict=True)
        )


def generate(config: Config) -> Truth:
    """Write ``baseline.jsonl``, ``access.jsonl`` and ``truth.json`` into ``config.out``."""
    simulator = _Simulator(config)
    columns, truth = simulator.run()
    config.out.mkdir(parents=True, exist_ok=True)
    split = int(np.searchsorted(columns["t"], config.t0 * 1000))
    rng = np.random.default_rng([config.seed, 1_000])
    for name, lo, hi in (("baseline", 0, split), ("evaluated", split, len(columns["t"]))):
        part = {k: v[lo:hi] for k, v in columns.items()}
        path = config.out / ("baseline.jsonl" if name == "baseline" else "access.jsonl")
        with path.open("w") as out:
            for text in _lines(part, simulator.tables, rng):
                out.write(text)
        kinds, counts = np.unique(part["kind"], return_counts=True)
        truth.periods[name]["lines"] = int(hi - lo)
        truth.counts[name] = {KINDS[k]: int(c) for k, c in zip(kinds, counts, strict=True)}
    (config.out / "truth.json").write_text(json.dumps(truth.to_json(), indent=1) + "\n")
    return truth


def ensure(config: Config, *, again: bool = False) -> tuple[Truth, bool]:
    """The traffic in ``config.out``, generated unless it is there already, made with the same
    parameters by this version of the simulator; and whether it was generated now."""
    truth_path = config.out / "truth.json"
    files = [truth_path, config.out / "baseline.jsonl", config.out / "access.jsonl"]
    if not again and all(path.exists() for path in files):
        fresh = truth_path.stat().st_mtime >= Path(__file__).stat().st_mtime
        if fresh and Truth.load(truth_path).parameters == config.parameters():
            return Truth.load(truth_path), False
    return generate(config), True


def principals_by_kind(truth: Truth) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for principal, segments in truth.segments.items():
        for kind, _, _ in segments:
            found[kind].add(principal)
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="directory to write into")
    parser.add_argument("--hours", type=float, default=24.0, help="evaluated period (default 24)")
    parser.add_argument("--baseline-hours", type=float, default=24.0, help="history (default 24)")
    parser.add_argument("--clients", type=int, default=300, help="legitimate clients (default 300)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    truth = generate(Config(args.out, args.hours, args.baseline_hours, args.clients, args.seed))
    elapsed = time.perf_counter() - started
    print(
        f"wrote {args.out} in {elapsed:.1f} s (seed {args.seed}, window {truth.window_seconds} s)"
    )
    for name, file in (("baseline", "baseline.jsonl"), ("evaluated", "access.jsonl")):
        size = (args.out / file).stat().st_size / 1e6
        period = truth.periods[name]
        hours = (period["end"] - period["start"]) / 3600
        print(f"  {file:15} {period['lines']:>10,} lines {size:8.1f} MB  {hours:g} h")
    principals = principals_by_kind(truth)
    print(f"  {'kind':28} {'client ids':>10} {'addresses':>10} {'baseline lines':>15} "
          f"{'evaluated lines':>16}")  # fmt: skip
    for kind in KINDS:
        addresses = sum(":" in p or "." in p for p in principals[kind])
        clients = len(principals[kind]) - addresses
        base = truth.counts["baseline"].get(kind, 0)
        evaluated = truth.counts["evaluated"].get(kind, 0)
        print(f"  {kind:28} {clients:>10,} {addresses:>10,} {base:>15,} {evaluated:>16,}")


if __name__ == "__main__":
    main()

"""Small, deterministic access logs in the pinned format for the anomaly tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from secure_endpoint.constructs.access_log import ACCESS_LOG_FIELDS

START = 1_772_409_600  # 2026-03-02T00:00:00Z, on a window boundary
_REQUESTS = itertools.count()


def record(**values: Any) -> dict[str, str]:
    """One request as API Gateway logs it: every pinned field a string, ``-`` where unset; each
    call a request id of its own (a UUID, as API Gateway's are) unless one is given."""
    line = {name: "-" for name in ACCESS_LOG_FIELDS}
    line |= {
        "requestId": f"0b6a4c1e-1c2d-4e5f-8a9b-{next(_REQUESTS):012x}",
        "requestTimeEpoch": str(START * 1000),
        "sourceIp": "198.51.100.7",
        "httpMethod": "POST",
        "resourcePath": "/v1/predict",
        "status": "200",
        "responseLength": "120",
        "responseLatency": "25",
        "integrationLatency": "20",
        "tlsVersion": "TLSv1.3",
    }
    line |= {key: str(value) for key, value in values.items()}
    return line


def line(**values: Any) -> bytes:
    return orjson.dumps(record(**values))


def traffic(
    *,
    hours: float = 6.0,
    clients: int = 12,
    seed: int = 1,
    start: int = START,
    flood_at: float | None = None,
) -> list[bytes]:
    """Clients at their own steady-ish rates from their own address, with a few expired tokens;
    ``flood_at`` (hours after ``start``): one address floods without a token for 10 minutes."""
    rng = np.random.default_rng(seed)
    lines: list[tuple[int, bytes]] = []
    end = start + int(hours * 3600)
    for c in range(clients):
        client = f"client{c:02d}abcdefghijklmnopqr"[:26]
        address = f"203.0.113.{c + 1}"
        rate = float(rng.uniform(0.01, 0.2))  # per second
        n = int(rng.poisson(rate * (end - start)))
        times = np.sort(rng.uniform(start, end, n) * 1000).astype(np.int64)
        for t in times.tolist():
            expired = rng.random() < 0.01
            lines.append(
                (
                    t,
                    line(
                        requestTimeEpoch=t,
                        sourceIp=address,
                        clientId="-" if expired else client,
                        status=401 if expired else 200,
                        responseLength=int(rng.integers(80, 400)),
                        responseLatency=int(rng.integers(10, 60)),
                    ),
                )
            )
    if flood_at is not None:
        first = start + int(flood_at * 3600)
        for t in np.sort(rng.uniform(first, first + 600, 6000) * 1000).astype(np.int64).tolist():
            lines.append((t, line(requestTimeEpoch=t, sourceIp="192.0.2.66", status=401)))
    lines.sort(key=lambda pair: pair[0])
    return [text for _, text in lines]


def write(path: Path, lines: Iterable[bytes]) -> Path:
    path.write_bytes(b"".join(text + b"\n" for text in lines))
    return path

"""The data-capture layout SageMaker writes: object keys, capture lines, payload encodings.

See the package docstring for the documentation it follows. Pure functions of their inputs
except ``ObjectWriter``, which writes one hour's objects and keeps nothing of them after.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CAPTURE_PREFIX = "capture"
"""The prefix SecureEndpoint's hosting gives the capture destination
(``secure_endpoint.constructs.hosting.CAPTURE_PREFIX``; a test keeps them equal)."""

INFERENCE_ID_MAX_LENGTH = 64
"""SageMaker's limit on ``InferenceId`` (``secure_endpoint.constructs.api``; a test keeps them
equal)."""

JSON_CONTENT_TYPES = ("application/json",)
CSV_CONTENT_TYPES = ("text/csv",)


def inference_id(client_id: str, request_id: str) -> str:
    """``client_id:requestId`` as the API's request template builds it
    (``INFERENCE_ID_REQUEST_TEMPLATE``): the client id is cut so that the id fits 64
    characters; a request id that leaves no room is cut to 64 alone."""
    room = INFERENCE_ID_MAX_LENGTH - 1 - len(request_id)
    if room < 1:
        return request_id[:INFERENCE_ID_MAX_LENGTH]
    return f"{client_id[:room]}:{request_id}"


def encoding(
    content_type: str,
    json_types: tuple[str, ...] = JSON_CONTENT_TYPES,
    csv_types: tuple[str, ...] = CSV_CONTENT_TYPES,
) -> str:
    """How SageMaker captures a payload of ``content_type``: ``JSON`` or ``CSV`` when its media
    type is in the endpoint's ``CaptureContentTypeHeader`` lists, else ``BASE64``."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in json_types:
        return "JSON"
    if media in csv_types:
        return "CSV"
    return "BASE64"


def captured(body: str, how: str) -> str:
    """The ``data`` field for a payload captured with encoding ``how``."""
    return base64.b64encode(body.encode()).decode() if how == "BASE64" else body


def iso_time(epoch: float) -> str:
    """``inferenceTime``: ISO 8601 in UTC to the second, as the documented examples show."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))


@dataclass(frozen=True)
class Payload:
    content_type: str
    body: str


def capture_line(
    *,
    request: Payload,
    response: Payload,
    event_id: str,
    inference: str | None,
    epoch: float,
    json_types: tuple[str, ...] = JSON_CONTENT_TYPES,
    csv_types: tuple[str, ...] = CSV_CONTENT_TYPES,
) -> str:
    """One capture line (no newline). ``inference`` is None for a call without an inference
    id (``eventMetadata`` then has none)."""
    sides: dict[str, Any] = {}
    for side, mode, payload in (
        ("endpointInput", "INPUT", request),
        ("endpointOutput", "OUTPUT", response),
    ):
        how = encoding(payload.content_type, json_types, csv_types)
        sides[side] = {
            "observedContentType": payload.content_type,
            "mode": mode,
            "data": captured(payload.body, how),
            "encoding": how,
        }
    metadata: dict[str, str] = {"eventId": event_id}
    if inference is not None:
        metadata["inferenceId"] = inference
    metadata["inferenceTime"] = iso_time(epoch)
    record = {"captureData": sides, "eventMetadata": metadata, "eventVersion": "0"}
    return json.dumps(record, separators=(",", ":"))


def object_key(prefix: str, endpoint: str, variant: str, epoch: float, unique: str) -> str:
    """``<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm>-<ss>-<mmm>-<uuid>.jsonl``: the hour
    directory of ``epoch`` and a name of its minute, second and millisecond and a UUID."""
    whole = int(epoch)
    millis = min(int((epoch - whole) * 1000), 999)
    hour = time.strftime("%Y/%m/%d/%H", time.gmtime(whole))
    minute_second = time.strftime("%M-%S", time.gmtime(whole))
    return f"{prefix}/{endpoint}/{variant}/{hour}/{minute_second}-{millis:03d}-{unique}.jsonl"


class ObjectWriter:
    """Writes capture objects under ``root``: one call, one object."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = 0
        self.lines = 0

    def write(self, key: str, lines: Iterable[str]) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as out:
            for line in lines:
                out.write(line + "\n")
                self.lines += 1
        self.objects += 1

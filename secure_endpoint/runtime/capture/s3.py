"""``CaptureStore`` on S3 (boto3): the only part of the drift runs that calls AWS."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from secure_endpoint.runtime.capture.runs import CaptureObject

_CHUNK = 1024 * 1024


class S3CaptureStore:
    """Capture objects of ``bucket``, listed and streamed with ``client`` (an S3 client)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._s3 = client
        self._bucket = bucket

    def variants(self, endpoint_prefix: str) -> list[str]:
        paginator = self._s3.get_paginator("list_objects_v2")
        found: list[str] = []
        for page in paginator.paginate(Bucket=self._bucket, Prefix=endpoint_prefix, Delimiter="/"):
            found.extend(entry["Prefix"] for entry in page.get("CommonPrefixes", []))
        return sorted(found)

    def objects(self, prefix: str) -> Iterable[CaptureObject]:
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                yield CaptureObject(
                    entry["Key"], entry["LastModified"].timestamp(), int(entry["Size"])
                )

    def lines(self, key: str) -> Iterator[bytes]:
        body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"]
        try:
            yield from body.iter_lines(chunk_size=_CHUNK)
        finally:
            body.close()

"""How fast the artifact check hashes: ``python benchmarks/artifact_sha256.py [MB]``.

Hashes ``MB`` megabytes (default 200) in 8 MiB chunks with the function's own core, first from
memory (the CPU bound), then streamed from S3 in moto through the function's adapter (botocore's
response parsing and chunking, without a real network). In AWS the S3 GetObject stream, about
80-100 MB/s per connection, is the slower of the two;
``secure_endpoint.constructs.integrity`` states the largest artifact the check can stream within
its timeout from that rate.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lambdas"))

import boto3
from artifact_verifier import verify
from artifact_verifier.adapters import CHUNK_BYTES, ArtifactStore, ObjectRef
from moto import mock_aws

TIMEOUT_SECONDS = 15 * 60 - 20


def rate(megabytes: float, seconds: float) -> str:
    per_second = megabytes / seconds
    return (
        f"{per_second:,.0f} MB/s; {TIMEOUT_SECONDS} s of reading at this rate: "
        f"{per_second * TIMEOUT_SECONDS / 1000:,.0f} GB"
    )


def main(megabytes: int) -> None:
    data = os.urandom(megabytes * 10**6)
    chunks = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]
    start = time.perf_counter()
    in_memory = verify.sha256_of_chunks(chunks)
    print(f"hashing in memory, {megabytes} MB: {rate(megabytes, time.perf_counter() - start)}")

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ[name] = "benchmark"
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="benchmark-artifacts")
        client.put_object(Bucket="benchmark-artifacts", Key="model.tar.gz", Body=data)
        store = ArtifactStore(client)
        ref = ObjectRef("benchmark-artifacts", "model.tar.gz")
        start = time.perf_counter()
        streamed = verify.sha256_of_chunks(store.chunks(ref, store.attributes(ref)))
        elapsed = time.perf_counter() - start
    assert streamed.sha256 == in_memory.sha256
    print(f"streamed from S3 (moto), {megabytes} MB: {rate(megabytes, elapsed)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)

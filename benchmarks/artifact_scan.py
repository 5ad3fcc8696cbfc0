"""How fast the artifact scan reads: ``python benchmarks/artifact_scan.py [MB]``.

Builds three ``model.tar.gz`` in memory and scans each with the verifier's own core
(``secure_endpoint.runtime.artifact_scan``), from memory, so the figure is the CPU bound (gunzip,
tar, the opcode walk) without S3's stream:

- a joblib dump of ``MB`` megabytes of float arrays (the arrays are read past, as joblib reads
  them), with a small fitted scikit-learn model;
- a PyTorch-style zip of ``MB`` megabytes of tensor storage (spooled to a temporary file);
- a pickle of many small objects (opcode-heavy: the walk's worst case per byte).

``secure_endpoint.constructs.integrity.SCAN_MB_PER_SECOND`` is a conservative rate taken from
these figures; in AWS the second S3 read (80-100 MB/s) is usually the slower part.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import joblib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from secure_endpoint.runtime.artifact_scan import scan_archive


def tar_gz(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def measure(label: str, archive: bytes, unpacked: int) -> None:
    start = time.perf_counter()
    report = scan_archive(io.BytesIO(archive))
    seconds = time.perf_counter() - start
    assert report.clean, report.summary()
    print(
        f"{label}: {len(archive) / 1e6:,.0f} MB compressed ({unpacked / 1e6:,.0f} MB unpacked) "
        f"in {seconds:.2f} s: {len(archive) / 1e6 / seconds:,.0f} MB/s compressed, "
        f"{unpacked / 1e6 / seconds:,.0f} MB/s unpacked; {report.pickles} pickle(s)"
    )


def main(megabytes: int) -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.random(megabytes * 10**6 // 8 // 4) for _ in range(4)]
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "model.joblib"
        joblib.dump({"arrays": arrays, "names": np.array(["a", "b"], dtype=object)}, path)
        data = path.read_bytes()
    measure("joblib, float arrays", tar_gz("model.joblib", data), len(data))

    storage = rng.random(megabytes * 10**6 // 8).tobytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("model/data.pkl", pickle.dumps({"w": 1}, protocol=2))
        archive.writestr("model/data/0", storage)
    data = buffer.getvalue()
    measure("torch-style zip", tar_gz("model.pt", data), len(data))

    objects = [(i, float(i), f"feature_{i % 100}") for i in range(megabytes * 10_000)]
    data = pickle.dumps(objects, protocol=4)
    opcodes = sum(1 for _ in pickletools.genops(data))
    start = time.perf_counter()
    measure("pickle of small objects", tar_gz("model.pkl", data), len(data))
    print(
        f"  {opcodes / (time.perf_counter() - start) / 1e6:.2f} M opcodes/s ({opcodes:,} opcodes)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)

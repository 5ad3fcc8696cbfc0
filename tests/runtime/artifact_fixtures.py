"""Crafted model artifacts for the scan tests: a few opcodes by hand, tar and zip builders."""

from __future__ import annotations

import io
import os
import struct
import tarfile
import zipfile
from typing import Any

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


class RunsACommand:
    """What a malicious pickle holds: loading it calls os.system."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned",))


def op_global(module: str, name: str) -> bytes:
    """GLOBAL (protocol 0+): ``c<module>\\n<name>\\n``."""
    return b"c" + f"{module}\n{name}\n".encode()


def op_unicode(text: str) -> bytes:
    """BINUNICODE (protocol 1+)."""
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def op_short_unicode(text: str) -> bytes:
    """SHORT_BINUNICODE (protocol 4)."""
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data


def torch_state_dict_pickle(storage_class: str = "FloatStorage", extra: bytes = b"") -> bytes:
    """``data.pkl`` as ``torch.save(model.state_dict())`` writes it (protocol 2): an
    OrderedDict of one tensor rebuilt from a persistent-id storage."""
    storage = (
        b"(" + op_unicode("storage") + op_global("torch", storage_class) + op_unicode("0")
        + op_unicode("cpu") + b"K\x04" + b"tQ"
    )  # fmt: skip
    tensor = (
        op_global("torch._utils", "_rebuild_tensor_v2") + b"(" + storage + b"K\x00"
        + b"K\x02K\x02\x86" + b"K\x02K\x01\x86" + b"\x89" + op_global("collections", "OrderedDict")
        + b")R" + b"tR"
    )  # fmt: skip
    return (
        b"\x80\x02" + op_global("collections", "OrderedDict") + b")Rq\x00"
        + b"(" + op_unicode("fc.weight") + tensor + b"u" + extra + b"."
    )  # fmt: skip


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def torch_zip(data_pkl: bytes) -> bytes:
    """The zip layout of ``torch.save`` (since 1.6): ``<name>/data.pkl``, raw storages under
    ``<name>/data/``, ``version`` and ``byteorder``."""
    return zip_bytes(
        {
            "model/data.pkl": data_pkl,
            "model/byteorder": b"little",
            # raw float32 bytes that happen to start like a pickle: never unpickled by torch
            "model/data/0": b"\x80\x02\x00\x00" + b"\x00" * 12,
            "model/version": b"3\n",
            "model/.data/serialization_id": b"1234567890",
        }
    )


def tar_gz(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tar_with(infos: list[tarfile.TarInfo], files: dict[str, bytes] | None = None) -> bytes:
    """A tar.gz of special members (links, devices) and ``files``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for info in infos:
            archive.addfile(info)
        for name, data in (files or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def keras_config(*layers: dict[str, Any]) -> dict[str, Any]:
    """A Keras 3 ``config.json`` of a Sequential model of ``layers``."""
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "sequential", "layers": list(layers)},
        "registered_name": None,
    }


DENSE = {
    "module": "keras.layers",
    "class_name": "Dense",
    "config": {"units": 1, "activation": "relu"},
    "registered_name": None,
}
LAMBDA = {
    "module": "keras.layers",
    "class_name": "Lambda",
    "config": {"function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA"}}},
    "registered_name": None,
}
CUSTOM = {
    "module": "my_layers",
    "class_name": "Scaler",
    "config": {},
    "registered_name": "Custom>Scaler",
}

"""The artifact scan against crafted malicious and benign files of each format it reads.

Benign cases are what the frameworks write (a fitted scikit-learn pipeline pickled with every
protocol, joblib dumps with every compressor, NumPy files); PyTorch and Keras files are laid out
by hand, since neither framework is installed here.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import pickle
import tarfile
import zlib
from pathlib import Path

import joblib
import numpy as np
import pytest
from artifact_fixtures import (
    CUSTOM,
    DENSE,
    HDF5_MAGIC,
    LAMBDA,
    RunsACommand,
    keras_config,
    op_global,
    op_short_unicode,
    op_unicode,
    tar_gz,
    tar_with,
    torch_state_dict_pickle,
    torch_zip,
    zip_bytes,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from secure_endpoint.runtime.artifact_scan import (
    Finding,
    Limits,
    Policy,
    Report,
    check_entry,
    scan_archive,
    scan_path,
)

EVIL = pickle.dumps(RunsACommand(), protocol=4)


@pytest.fixture(scope="module")
def pipeline():
    rng = np.random.RandomState(0)
    features = rng.rand(80, 4)
    labels = (features[:, 0] > 0.5).astype(int)
    return make_pipeline(
        StandardScaler(), RandomForestClassifier(n_estimators=3, random_state=0)
    ).fit(features, labels)


def scan(members: dict[str, bytes], **options) -> Report:
    return scan_archive(io.BytesIO(tar_gz(members)), **options)


def only(report: Report) -> Finding:
    assert len(report.findings) == 1, report.findings
    return report.findings[0]


# -- benign: what the frameworks write ---------------------------------------------------------
@pytest.mark.parametrize("protocol", range(6))
def test_a_fitted_sklearn_pipeline_is_clean_in_every_protocol(pipeline, protocol):
    report = scan({"model.pkl": pickle.dumps(pipeline, protocol=protocol)})
    assert report.findings == []
    assert (report.members, report.pickles) == (1, 1)


@pytest.mark.parametrize(
    "compress", [0, 3, ("zlib", 3), ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)]
)
def test_a_joblib_dump_is_clean_with_every_stdlib_compressor(pipeline, tmp_path, compress):
    path = tmp_path / "model.joblib"
    joblib.dump(
        {"model": pipeline, "classes": np.array(["no", "yes"], dtype=object)},
        path,
        compress=compress,
    )
    report = scan({"model.joblib": path.read_bytes()})
    assert report.findings == []
    assert report.pickles == 1


def test_joblib_arrays_of_every_kind_are_read_past(tmp_path):
    path = tmp_path / "arrays.joblib"
    arrays = {
        "floats": np.ones((3, 5)),
        "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "strings": np.array(["ab", "c"]),
        "records": np.zeros(4, dtype=[("a", "f4"), ("b", "i2")]),
        "objects": np.array([1, None, "x"], dtype=object),
        "empty": np.zeros((0, 3)),
        "scalar": np.array(3.5),
    }
    joblib.dump(arrays, path)
    assert scan_path(path).findings == []


def test_a_real_one_hot_encoder_and_logistic_regression_are_clean():
    encoder = OneHotEncoder().fit(np.array([["a"], ["b"]]))
    regression = LogisticRegression().fit(np.arange(10.0).reshape(-1, 1), [0] * 5 + [1] * 5)
    assert scan({"a.pkl": pickle.dumps(encoder), "b.pkl": pickle.dumps(regression)}).clean


def test_a_torch_state_dict_zip_is_clean():
    report = scan({"model.pth": torch_zip(torch_state_dict_pickle())})
    assert report.findings == []
    assert report.pickles == 1  # data.pkl; the raw storage that starts like a pickle is skipped


def test_numpy_files_without_objects_are_clean(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(10.0))
    np.savez(tmp_path / "b.npz", x=np.arange(3), y=np.ones((2, 2)))
    report = scan(
        {"a.npy": (tmp_path / "a.npy").read_bytes(), "b.npz": (tmp_path / "b.npz").read_bytes()}
    )
    assert report.findings == []
    assert report.pickles == 0


def test_other_files_are_not_taken_for_pickles():
    safetensors_header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})
    header = safetensors_header.encode().ljust(0x0380)  # its length starts with b"\x80\x03"
    report = scan(
        {
            "code/inference.py": b"import os\nimport json\n\ndef model_fn(d):\n    return d\n",
            "code/requirements.txt": b"(none)\n",
            "model.safetensors": len(header).to_bytes(8, "little") + header + b"\x00" * 4,
            "weights.bin": b"\x80\x02\xff\xfe" + bytes(range(256)) * 4,
            "config.json": json.dumps({"architectures": ["Bert"], "hidden_size": 8}).encode(),
            "model.onnx": b"\x08\x07\x12\x07pytorch",
        }
    )
    assert report.findings == []


# -- malicious pickles, each format ---------------------------------------------------------
@pytest.mark.parametrize("protocol", range(6))
def test_a_pickle_that_calls_os_system_is_refused_in_every_protocol(protocol):
    finding = only(scan({"model.pkl": pickle.dumps(RunsACommand(), protocol=protocol)}))
    assert finding.member == "model.pkl"
    assert finding.kind == "pickle-global"
    assert finding.global_name in ("posix.system", "os.system")
    assert finding.opcode == ("STACK_GLOBAL" if protocol >= 4 else "GLOBAL")
    assert finding.reason.endswith("denied")
    assert finding.offset == pickle.dumps(RunsACommand(), protocol=protocol).index(
        b"\x93" if protocol >= 4 else b"cposix"
    )


def test_an_import_outside_the_allowlist_is_refused_and_can_be_allowed():
    payload = b"\x80\x02" + op_global("mycompany.models", "Churn") + b")\x81."
    finding = only(scan({"model.pkl": payload}))
    assert finding.global_name == "mycompany.models.Churn"
    assert "not in the allowlist" in finding.reason
    assert scan({"model.pkl": payload}, policy=Policy.with_extra(["mycompany.*"])).clean


@pytest.mark.parametrize("compress", [3, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)])
def test_a_malicious_compressed_joblib_dump_is_refused(tmp_path, compress):
    path = tmp_path / "model.joblib"
    joblib.dump({"weights": np.ones(1000), "hook": RunsACommand()}, path, compress=compress)
    finding = only(scan({"model.joblib": path.read_bytes()}))
    assert finding.member.startswith("model.joblib!")
    assert finding.global_name == "posix.system"


def test_a_call_hidden_after_a_joblib_array_is_refused(tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump([np.arange(1000.0), RunsACommand()], path)
    finding = only(scan({"model.joblib": path.read_bytes()}))
    assert finding.global_name == "posix.system"
    assert finding.offset > 8000  # found after the array's 8,000 bytes, not before them


def test_lz4_and_legacy_zfile_joblib_are_refused_as_unreadable():
    report = scan(
        {
            "a.joblib": b"\x04\x22\x4d\x18" + b"\x00" * 20,
            "b.joblib": b"ZF0x1f   " + zlib.compress(EVIL),
        }
    )
    assert [(f.member, f.kind) for f in report.findings] == [
        ("a.joblib", "unsupported"),
        ("b.joblib", "unsupported"),
    ]


def test_a_torch_zip_with_a_malicious_data_pkl_is_refused():
    data = torch_state_dict_pickle(
        extra=b"0" + op_global("builtins", "exec") + op_unicode("1") + b"\x85R"
    )
    finding = only(scan({"model.pt": torch_zip(data)}))
    assert finding.member == "model.pt!model/data.pkl"
    assert finding.global_name == "builtins.exec"


def test_a_torch_storage_class_outside_torch_is_refused():
    finding = only(
        scan({"model.pt": torch_zip(torch_state_dict_pickle("FloatStorage.__globals__"))})
    )
    assert "special attribute __globals__" in finding.reason


def test_a_legacy_torch_tar_with_a_malicious_pickle_is_refused():
    legacy = tar_gz({"sys_info": pickle.dumps({"little_endian": True}), "pickle": EVIL}, mode="w")
    finding = only(scan({"model.pth": legacy}))
    assert finding.member == "model.pth!pickle"


def test_a_legacy_torch_file_of_several_pickles_is_scanned_to_the_last_one():
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    legacy = (
        magic + pickle.dumps(1001, protocol=2) + pickle.dumps({}, protocol=2) + EVIL + b"\x00raw"
    )
    assert only(scan({"model.pt": legacy})).global_name == "posix.system"


def test_a_numpy_object_array_is_scanned_as_the_pickle_it_holds(tmp_path):
    np.save(tmp_path / "a.npy", np.array([RunsACommand()], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "b.npz", ok=np.arange(3), bad=np.array([RunsACommand()], dtype=object))
    report = scan(
        {"a.npy": (tmp_path / "a.npy").read_bytes(), "b.npz": (tmp_path / "b.npz").read_bytes()}
    )
    assert [(f.member, f.global_name) for f in report.findings] == [
        ("a.npy", "posix.system"),
        ("b.npz!bad.npy", "posix.system"),
    ]


def test_a_benign_numpy_object_array_is_clean(tmp_path):
    np.save(tmp_path / "a.npy", np.array(["a", None, 3], dtype=object), allow_pickle=True)
    report = scan_path(tmp_path / "a.npy")
    assert report.findings == []
    assert report.pickles == 1


# -- Keras and TensorFlow -------------------------------------------------------------------
def keras_file(*layers) -> bytes:
    return zip_bytes(
        {
            "metadata.json": json.dumps({"keras_version": "3.6.0"}).encode(),
            "config.json": json.dumps(keras_config(*layers)).encode(),
            "model.weights.h5": HDF5_MAGIC + b"\x00" * 64,
        }
    )


def test_a_keras_file_of_builtin_layers_is_clean():
    assert scan({"model.keras": keras_file(DENSE, DENSE)}).findings == []


def test_a_keras_lambda_layer_is_refused_with_its_place():
    report = scan({"model.keras": keras_file(DENSE, LAMBDA)})
    kinds = [(f.member, f.kind) for f in report.findings]
    assert kinds == [
        ("model.keras!config.json", "keras-lambda"),
        ("model.keras!config.json", "keras-lambda"),
    ]
    assert report.findings[0].reason.startswith("$.config.layers[1]: a Keras Lambda layer")
    assert "__lambda__" in report.findings[1].reason
    assert scan(
        {"model.keras": keras_file(LAMBDA)}, policy=Policy.with_extra(["keras.layers.Lambda"])
    ).clean


def test_a_keras_custom_object_is_refused_unless_allowed():
    finding = only(scan({"model.keras": keras_file(DENSE, CUSTOM)}))
    assert (finding.kind, finding.global_name) == ("keras-custom-object", "my_layers.Scaler")
    assert scan(
        {"model.keras": keras_file(CUSTOM)}, policy=Policy.with_extra(["my_layers.Scaler"])
    ).clean


def h5(config: dict) -> bytes:
    """An HDF5 file whose attribute ``model_config`` holds the JSON (as Keras 2 writes it)."""
    return (
        HDF5_MAGIC
        + b"\x00" * 300
        + b"model_config\x00"
        + json.dumps(config).encode()
        + b"\x00" * 100
    )


def test_an_hdf5_model_with_a_lambda_layer_is_refused_by_a_byte_search():
    data = h5(
        {
            "class_name": "Sequential",
            "config": {"layers": [{"class_name": "Dense"}, {"class_name": "Lambda"}]},
        }
    )
    finding = only(scan({"model.h5": data}))
    assert finding.kind == "keras-lambda"
    assert "heuristic" in finding.reason
    assert finding.offset == data.index(b'"class_name": "Lambda"')


def test_an_hdf5_model_of_builtin_layers_is_clean():
    assert scan(
        {
            "model.h5": h5(
                {"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense"}]}}
            )
        }
    ).clean


def test_a_lambda_pattern_split_across_read_chunks_is_found():
    data = HDF5_MAGIC + b"\x00" * (1024 * 1024 - 20) + b'{"class_name": "Lambda"}' + b"\x00" * 10
    assert only(scan({"weights.h5": data})).offset == data.index(b'"class_name"')


def test_a_saved_model_with_a_lambda_layer_is_refused():
    metadata = b"\x12\x05layer" + json.dumps({"class_name": "Lambda", "config": {}}).encode()
    report = scan(
        {
            "1/keras_metadata.pb": metadata,
            "1/saved_model.pb": b"\x08\x01\x12\x00graph",
            "1/variables/variables.index": b"\x00",
        }
    )
    assert [(f.member, f.kind) for f in report.findings] == [
        ("1/keras_metadata.pb", "keras-lambda")
    ]


# -- evasions -------------------------------------------------------------------------------
def test_stack_global_through_the_memo_is_resolved():
    payload = (
        b"\x80\x04" + op_short_unicode("posix") + b"\x94" + op_short_unicode("padding") + b"0"
        + b"h\x00" + op_short_unicode("system") + b"\x93" + op_short_unicode("id") + b"\x85R."
    )  # fmt: skip
    finding = only(scan({"model.pkl": payload}))
    assert (finding.opcode, finding.global_name, finding.offset) == (
        "STACK_GLOBAL",
        "posix.system",
        payload.index(b"\x93"),
    )


def test_stack_global_of_a_computed_name_is_refused():
    computed = op_global("builtins", "str") + op_short_unicode("os") + b"\x85R"
    payload = b"\x80\x04" + computed + op_short_unicode("system") + b"\x93" + b")R."
    report = scan({"model.pkl": payload})
    assert [f.global_name for f in report.findings] == [None]
    assert "not a string known before loading" in report.findings[0].reason


@pytest.mark.parametrize(
    ("payload", "opcode", "name"),
    [
        (b"cos\nsystem\n(S'id'\ntR.", "GLOBAL", "os.system"),
        (b"(S'id'\nios\nsystem\n.", "INST", "os.system"),
        (b"c__builtin__\neval\n(S'1'\ntR.", "GLOBAL", "__builtin__.eval"),
        (
            b"\x80\x02cbuiltins\ngetattr\n(cbuiltins\nobject\nS'x'\ntR.",
            "GLOBAL",
            "builtins.getattr",
        ),
        (b"\x80\x02csklearn\nbase.os.system\n)R.", "GLOBAL", "sklearn.base.os.system"),
        (b"\x80\x02cnumpy\nload\n)R.", "GLOBAL", "numpy.load"),
        (b"\x80\x02cnumpy.testing\nassert_equal\n)R.", "GLOBAL", "numpy.testing.assert_equal"),
        (b"\x80\x02ctorch.serialization\nload\n)R.", "GLOBAL", "torch.serialization.load"),
    ],
    ids=[
        "protocol-0-global",
        "inst",
        "py2-builtin",
        "getattr",
        "attribute-walk",
        "numpy-load",
        "numpy-testing",
        "torch-load",
    ],
)
def test_denied_imports_are_refused_however_they_are_written(payload, opcode, name):
    finding = only(
        scan({"model.pkl": payload}, policy=Policy.with_extra(["numpy.*", "sklearn.*", "torch.*"]))
    )
    assert (finding.opcode, finding.global_name) == (opcode, name)
    assert finding.reason.endswith("denied")


def test_an_extension_code_is_refused():
    assert only(scan({"model.pkl": b"\x80\x02\x82\x01)R."})).opcode == "EXT1"


def test_a_pickle_nested_in_bytes_is_scanned():
    outer = pickle.dumps({"blob": EVIL}, protocol=4)
    finding = only(scan({"model.pkl": outer}))
    assert finding.member.startswith("model.pkl!bytes@")
    assert finding.global_name == "posix.system"


def test_a_pickle_nested_in_a_protocol_2_latin1_string_is_scanned():
    outer = pickle.dumps({"blob": EVIL}, protocol=2)  # bytes as _codecs.encode(str, 'latin1')
    assert only(scan({"model.pkl": outer})).member.startswith("model.pkl!bytes@")


def test_a_large_nested_pickle_is_scanned_as_a_stream(monkeypatch):
    from secure_endpoint.runtime.artifact_scan import pickles

    monkeypatch.setattr(pickles, "MAX_INLINE", 16)
    outer = pickle.dumps([EVIL, b"x" * 100, "after"], protocol=4)
    finding = only(scan({"model.pkl": outer}))
    assert finding.member.startswith("model.pkl!bytes@")


def test_a_renamed_pickle_is_found_by_its_first_bytes():
    assert only(scan({"weights.txt": EVIL})).member == "weights.txt"


def test_a_renamed_protocol_0_pickle_is_found_when_it_walks_to_its_stop():
    assert only(scan({"notes.txt": b"cos\nsystem\n(S'id'\ntR."})).global_name == "os.system"


def test_a_pickle_in_a_zip_in_a_zip_is_found():
    inner = zip_bytes({"inner/model.pkl": EVIL})
    finding = only(scan({"bundle.zip": zip_bytes({"nested.zip": inner, "readme.md": b"hi"})}))
    assert finding.member == "bundle.zip!nested.zip!inner/model.pkl"


def test_a_gzip_inside_the_archive_is_scanned_including_concatenated_members():
    data = gzip.compress(pickle.dumps([1, 2])) + gzip.compress(EVIL)
    assert only(scan({"model.pkl.gz": data})).member == "model.pkl.gz!gzip"


def test_a_truncated_pickle_is_a_finding_not_a_crash():
    finding = only(scan({"model.pkl": EVIL[:-10].replace(b"posix", b"numpy")}))
    assert finding.kind in ("pickle-corrupt", "pickle-global")
    report = scan({"model.pkl": pickle.dumps(list(range(100)))[:50]})
    assert [f.kind for f in report.findings] == ["pickle-corrupt"]
    assert "ends" in report.findings[0].reason


def test_garbage_named_like_a_pickle_is_refused_as_corrupt():
    assert only(scan({"model.pkl": b"\x80\x05\xff\xff"})).kind == "pickle-corrupt"


# -- the archive itself ---------------------------------------------------------------------
def link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize(
    ("info", "reason"),
    [
        (link("evil", "/etc/passwd", tarfile.SYMTYPE), "a symlink to '/etc/passwd'"),
        (link("a/evil", "../../x", tarfile.SYMTYPE), "a symlink to '../../x'"),
        (link("evil", "../x", tarfile.LNKTYPE), "a hard link to '../x'"),
        (tarfile.TarInfo("../escape.pkl"), "a path with '..'"),
        (tarfile.TarInfo("/etc/cron.d/x"), "an absolute path"),
        (link("dev", "", tarfile.CHRTYPE), "a device file"),
        (link("fifo", "", tarfile.FIFOTYPE), "FIFO"),
    ],
    ids=["symlink-absolute", "symlink-up", "hardlink-up", "dotdot", "absolute", "device", "fifo"],
)
def test_members_that_escape_the_model_directory_are_refused(info, reason):
    finding = only(scan_archive(io.BytesIO(tar_with([info]))))
    assert finding.kind == "archive"
    assert reason in finding.reason


def test_links_inside_the_model_directory_are_fine():
    infos = [
        link("latest.pkl", "v1/model.pkl", tarfile.SYMTYPE),
        link("copy.pkl", "v1/model.pkl", tarfile.LNKTYPE),
    ]
    assert scan_archive(io.BytesIO(tar_with(infos, {"v1/model.pkl": pickle.dumps([1])}))).clean


def test_too_many_members_is_a_limit():
    report = scan({f"m{i}.txt": b"x" for i in range(5)}, limits=Limits(max_members=3))
    assert [f.kind for f in report.findings] == ["limit"]


def test_a_member_over_the_size_limit_is_refused():
    report = scan({"big.bin": b"\x00" * 5000}, limits=Limits(max_member_bytes=4096))
    assert [(f.member, f.kind) for f in report.findings] == [("big.bin", "limit")]


def test_a_tar_bomb_is_refused_by_its_ratio():
    limits = Limits(ratio_floor_bytes=1024 * 1024, max_ratio=20)
    report = scan({"zeros.bin": b"\x00" * (8 * 1024 * 1024)}, limits=limits)
    assert [f.kind for f in report.findings] == ["limit"]
    assert "compression bomb" in report.findings[0].reason


@pytest.mark.parametrize(
    "compress",
    [gzip.compress, bz2.compress, lzma.compress, zlib.compress],
    ids=["gzip", "bz2", "xz", "zlib"],
)
def test_a_compressed_member_bomb_is_refused(compress):
    limits = Limits(ratio_floor_bytes=1024 * 1024, max_ratio=20)
    payload = pickle.dumps(b"\x00" * (8 * 1024 * 1024 + 1), protocol=4)  # read to its end
    report = scan({"model.pkl.z": compress(payload)}, limits=limits)
    assert [f.kind for f in report.findings] == ["limit"]


def test_a_zip_bomb_entry_is_refused():
    limits = Limits(ratio_floor_bytes=1024 * 1024, max_ratio=20)
    report = scan(
        {"model.pt": zip_bytes({"model/data.pkl": b"\x00" * (4 * 1024 * 1024)})}, limits=limits
    )
    assert [(f.member, f.kind) for f in report.findings] == [("model.pt!model/data.pkl", "limit")]


def test_deep_nesting_is_a_limit():
    data = EVIL
    for _ in range(6):
        data = zip_bytes({"x.zip": data})
    assert [f.kind for f in scan({"a.zip": data}).findings] == ["limit"]


def test_a_file_that_is_not_a_tar_is_refused():
    assert only(scan_archive(io.BytesIO(b"not a tar at all" * 100))).kind == "archive"


def test_scan_path_reads_a_single_pickle_or_an_archive(tmp_path: Path):
    (tmp_path / "model.pkl").write_bytes(EVIL)
    (tmp_path / "model.tar.gz").write_bytes(tar_gz({"model.pkl": EVIL}))
    assert only(scan_path(tmp_path / "model.pkl")).member == "model.pkl"
    assert only(scan_path(tmp_path / "model.tar.gz")).member == "model.pkl"


# -- the policy -----------------------------------------------------------------------------
def test_the_deny_list_wins_over_any_allowlist_entry():
    policy = Policy.with_extra(["os.*", "builtins.*", "subprocess.Popen"])
    for module, name in (("os", "system"), ("builtins", "eval"), ("subprocess", "Popen")):
        assert not policy.verdict(module, name).allowed


def test_the_default_allowlist_takes_what_models_hold():
    policy = Policy()
    for module, name in (
        ("sklearn.tree._tree", "Tree"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.random._pickle", "__randomstate_ctor"), ("torch._utils", "_rebuild_tensor_v2"),
        ("torch", "BFloat16Storage"), ("collections", "OrderedDict"),
        ("xgboost.sklearn", "XGBClassifier"),
        ("scipy.sparse._csr", "csr_matrix"), ("copyreg", "_reconstructor"), ("__builtin__", "set"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"), ("_codecs", "encode"),
    ):  # fmt: skip
        assert policy.verdict(module, name).allowed, (module, name)


@pytest.mark.parametrize(
    "entry", ["", "os", "*", "*.*", "*.system", "a b.c", "mod.", ".mod", 5, None]
)
def test_a_bad_allowlist_entry_is_refused(entry):
    with pytest.raises(ValueError, match=r"module\.name"):
        check_entry(entry)


# -- corrupt input: findings, never a crash -------------------------------------------------
def seeds() -> dict[str, bytes]:
    buffer = io.BytesIO()
    joblib.dump({"a": np.arange(10.0), "o": np.array(["x", None], dtype=object)}, buffer)
    compressed = io.BytesIO()
    joblib.dump({"a": np.arange(10.0)}, compressed, compress=3)
    return {
        "a.pkl": pickle.dumps({"x": [1, 2, (3, 4)], "y": b"\x80\x04abc"}, protocol=4),
        "b.pkl": pickle.dumps({"x": [1, 2, (3, 4)]}, protocol=0),
        "c.joblib": buffer.getvalue(),
        "d.joblib": compressed.getvalue(),
        "m.pt": torch_zip(torch_state_dict_pickle()),
        "k.keras": zip_bytes({"config.json": json.dumps(keras_config(DENSE)).encode()}),
        "x.pkl.gz": gzip.compress(pickle.dumps([1] * 10)),
        "n.npy": NPY_OBJECTS,
    }


NPY_OBJECTS = (
    b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    + b" " * 57
    + b"\n"
    + pickle.dumps(np.array([None], dtype=object))[:-1]
    + b"."
)
SEEDS = seeds()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(SEEDS)),
    edits=st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 255), st.booleans()), max_size=6
    ),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
)
# found by CI: a damaged extra field in a zip's directory made zipfile raise IndexError
@example(name="m.pt", edits=[(3560, 0, False)], cut=None)
def test_a_corrupted_member_gives_findings_not_a_crash(name, edits, cut):
    data = bytearray(SEEDS[name])
    for where, value, insert in edits:
        index = where % (len(data) + 1)
        if insert:
            data.insert(index, value)
        elif index < len(data):
            data[index] = value
    if cut is not None:
        del data[cut % (len(data) + 1) :]
    report = scan({name: bytes(data)})
    assert all(isinstance(finding, Finding) for finding in report.findings)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_under_any_name_give_findings_not_a_crash(data):
    for name in ("model.pkl", "model.pt", "weights.h5", "config.json", "a.npy", "x"):
        scan({name: data})


def test_a_corrupt_compressed_joblib_is_refused_as_unreadable(tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump({"w": np.arange(100.0)}, path, compress=("gzip", 3))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (finding,) = scan({"model.joblib": bytes(data)}).findings
    assert (finding.member, finding.kind) == ("model.joblib!gzip", "pickle-corrupt")
    assert "corrupt" in finding.reason or "malformed" in finding.reason


def test_the_scan_stops_when_the_caller_is_out_of_time_even_inside_a_long_pickle():
    from secure_endpoint.runtime.artifact_scan import Scanner, ScanTimeout
    from secure_endpoint.runtime.artifact_scan.streams import Reader

    calls = []

    def out_of_time() -> bool:
        calls.append(1)
        return len(calls) > 3

    long_pickle = pickle.dumps(list(range(300_000)), protocol=4)  # far more than 65,536 opcodes
    data = tar_gz({"model.pt": zip_bytes({"model/data.pkl": long_pickle})})
    with pytest.raises(ScanTimeout, match="ran out of time after 2 members"):
        scan_archive(io.BytesIO(data), out_of_time=out_of_time)
    assert len(calls) == 4  # the member, the spooled zip, its entry, then inside the walk
    scanner = Scanner(out_of_time=lambda: False)
    scanner.scan_member("model.pkl", Reader(io.BytesIO(long_pickle)))
    assert scanner.report.clean


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("numpy.lib._datasource", "open"),
        ("sklearn.datasets", "fetch_openml"),
        ("scipy.sparse", "load_npz"),
        ("xgboost.tracker", "RabitTracker"),
        ("xgboost.dask", "DaskXGBClassifier"),
        ("numpy._core", "_ufunc_reconstruct"),
    ],
)
def test_functions_of_allowed_packages_that_reach_files_or_the_network_are_denied(module, name):
    verdict = Policy().verdict(module, name)
    assert (verdict.allowed, verdict.denied) == (False, True)


def test_a_windows_path_is_refused():
    (finding,) = scan({"models\\..\\..\\x.pkl": b"x"}).findings
    assert "backslash" in finding.reason


def test_the_memo_numbers_memoize_like_pickle_when_put_and_memoize_are_mixed():
    payload = (
        b"\x80\x04" + op_short_unicode("numpy") + b"q\x05"  # BINPUT 5: one key
        + op_short_unicode("posix") + b"\x94"  # MEMOIZE: pickle stores it at 1 (one key so far)
        + b"h\x01" + op_short_unicode("system") + b"\x93" + b")R."
    )  # fmt: skip
    assert only(scan({"model.pkl": payload})).global_name == "posix.system"
    # the same numbering, harmless, as pickle itself resolves it
    harmless = payload.replace(b"\x05posix", b"\x08builtins").replace(b"\x06system", b"\x03set")
    assert pickle.loads(harmless) == set()  # noqa: S301 - crafted here, builds an empty set


def test_a_memoized_string_past_the_memo_budget_is_refused_not_resolved(monkeypatch):
    from secure_endpoint.runtime.artifact_scan import pickles

    monkeypatch.setattr(pickles, "MAX_MEMO_TEXT", 8)
    payload = (
        b"\x80\x04" + op_short_unicode("sklearn") + b"\x94" + op_short_unicode("tree") + b"\x94"
        + b"h\x00h\x01" + b"\x93)R."
    )  # fmt: skip
    finding = only(scan({"model.pkl": payload}))
    assert "not a string known before loading" in finding.reason


def test_a_pickle_of_many_small_objects_is_clean():
    objects = [(i, float(i), f"feature_{i % 100}") for i in range(100_000)]
    report = scan({"model.pkl": pickle.dumps(objects, protocol=4)})
    assert report.findings == []

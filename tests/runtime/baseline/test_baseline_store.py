"""The baseline directory: digests and the optional HMAC, and what is refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from secure_endpoint.runtime.baseline import store
from secure_endpoint.runtime.baseline.profile import profile_blocks
from secure_endpoint.runtime.baseline.readers import Block

KEY = b"k" * 32


@pytest.fixture
def files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    values = np.column_stack([rng.normal(size=500), rng.integers(0, 3, size=500)])
    block = Block(values, np.array([False, True]))
    profile = profile_blocks(["x", "n"], [block], k=64)
    return store.documents(profile, source_format="csv", file_name="t.csv", label_column=None)


def test_a_written_baseline_loads(tmp_path, files):
    manifest = store.write_baseline(tmp_path / "b", files)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [
        "constraints.json",
        "manifest.json",
        "reference.json",
        "statistics.json",
    ]
    assert (
        manifest["files"]["statistics.json"]["sha256"]
        == hashlib.sha256(files["statistics.json"]).hexdigest()
    )
    assert "signature" not in manifest
    assert {(p.stat().st_mode & 0o777) for p in (tmp_path / "b").iterdir()} == {0o600}
    baseline = store.load_baseline(tmp_path / "b")
    assert baseline.feature_names == ["x", "n"]
    assert not baseline.signature_verified
    assert baseline.sketch("x").n == 500
    with pytest.raises(KeyError, match="no numeric feature 'y'"):
        baseline.sketch("y")


@pytest.mark.parametrize("name", ["statistics.json", "constraints.json", "reference.json"])
def test_refuses_a_changed_file_naming_it(tmp_path, files, name):
    store.write_baseline(tmp_path, files)
    path = tmp_path / name
    path.write_bytes(path.read_bytes().replace(b'"x"', b'"z"', 1))
    with pytest.raises(store.BaselineIntegrityError, match=f"{name} does not match its SHA-256"):
        store.load_baseline(tmp_path)


def test_refuses_a_missing_file_or_manifest(tmp_path, files):
    store.write_baseline(tmp_path, files)
    (tmp_path / "reference.json").unlink()
    with pytest.raises(store.BaselineIntegrityError, match=r"lacks reference\.json"):
        store.load_baseline(tmp_path)
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(store.BaselineIntegrityError, match=r"no manifest\.json"):
        store.load_baseline(tmp_path)


def test_a_rewritten_manifest_fools_the_digests_but_not_the_hmac(tmp_path, files):
    store.write_baseline(tmp_path, files, key=KEY)
    assert store.load_baseline(tmp_path, key=KEY).signature_verified
    forged = dict(files, **{"constraints.json": files["constraints.json"].replace(b"0.1", b"0.9")})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["files"] = store.manifest_of(forged)["files"]  # the signature is kept
    (tmp_path / "constraints.json").write_bytes(forged["constraints.json"])
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert not store.load_baseline(tmp_path).signature_verified  # digests alone: accepted
    with pytest.raises(store.BaselineIntegrityError, match=r"signature of manifest\.json does not"):
        store.load_baseline(tmp_path, key=KEY)


def test_refuses_another_key_and_an_unsigned_manifest_when_a_key_is_given(tmp_path, files):
    store.write_baseline(tmp_path / "signed", files, key=KEY)
    with pytest.raises(store.BaselineIntegrityError, match="does not verify"):
        store.load_baseline(tmp_path / "signed", key=b"o" * 32)
    store.write_baseline(tmp_path / "plain", files)
    with pytest.raises(store.BaselineIntegrityError, match="not signed, and a signing key"):
        store.load_baseline(tmp_path / "plain", key=KEY)


def test_the_signature_covers_the_manifest_not_its_layout(tmp_path, files):
    store.write_baseline(tmp_path, files, key=KEY)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps(manifest, indent=7, sort_keys=True))
    assert store.load_baseline(tmp_path, key=KEY).signature_verified


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (b"[]", "not a secure-endpoint/baseline-manifest"),
        (b"{", "manifest.json is not JSON"),
        (
            json.dumps({"format": store.MANIFEST_FORMAT, "files": {}}).encode(),
            "must list statistics.json",
        ),
    ],
)
def test_refuses_a_malformed_manifest(files, manifest, message):
    with pytest.raises(store.BaselineIntegrityError, match=message):
        store.verify_baseline({**files, "manifest.json": manifest})


def test_refuses_a_reference_that_matches_its_digest_but_not_its_format(files):
    reference = json.loads(files["reference.json"])
    reference["version"] = 99
    changed = {**files, "reference.json": json.dumps(reference).encode()}
    manifest = store.encode(store.manifest_of(changed))
    with pytest.raises(store.BaselineIntegrityError, match="version 99"):
        store.verify_baseline({**changed, "manifest.json": manifest})


def test_keys_come_from_a_file_or_the_environment_and_must_be_long(tmp_path):
    path = tmp_path / "key"
    path.write_bytes(KEY + b"\n")
    assert store.read_key(path, {}) == KEY
    assert store.read_key(None, {store.KEY_ENV: "e" * 40}) == b"e" * 40
    assert store.read_key(None, {}) is None
    with pytest.raises(ValueError, match="at least 32 bytes, got 5"):
        store.read_key(None, {store.KEY_ENV: "short"})
    with pytest.raises(ValueError, match="cannot read the signing key file"):
        store.read_key(tmp_path / "missing", {})


def test_the_files_hold_no_nan_and_no_pickle(files):
    for name, data in files.items():
        assert b"NaN" not in data
        assert not data.startswith(b"\x80"), name
        json.loads(data)


def test_a_half_written_baseline_is_refused(tmp_path, files, monkeypatch):
    store.write_baseline(tmp_path, files)
    rng = np.random.default_rng(1)
    block = Block(rng.normal(size=(50, 2)), np.zeros(2, dtype=bool))
    newer = store.documents(
        profile_blocks(["x", "n"], [block], k=64),
        source_format="csv",
        file_name="t.csv",
        label_column=None,
    )
    real_replace = store.os.replace

    def stop_at_manifest(source: str, target: Path) -> None:
        if Path(target).name == "manifest.json":
            raise KeyboardInterrupt
        real_replace(source, target)

    monkeypatch.setattr(store.os, "replace", stop_at_manifest)
    with pytest.raises(KeyboardInterrupt):
        store.write_baseline(tmp_path, newer)
    monkeypatch.undo()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    with pytest.raises(store.BaselineIntegrityError, match="does not match its SHA-256"):
        store.load_baseline(tmp_path)

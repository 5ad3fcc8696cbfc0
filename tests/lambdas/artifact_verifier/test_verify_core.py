"""The pure core: streamed digests, S3's stored checksums, the mismatch message."""

import base64
import hashlib

import pytest
from artifact_verifier import verify

DATA = bytes(range(256)) * 1000
SHA256 = hashlib.sha256(DATA).hexdigest()
URL = "s3://model-artifacts/models/churn/model.tar.gz"


def b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def test_chunked_streaming_equals_hashlib_over_the_whole():
    chunks = [DATA[i : i + 777] for i in range(0, len(DATA), 777)]
    assert verify.sha256_of_chunks(chunks) == verify.Digest(SHA256, len(DATA), "streamed")


def test_an_empty_stream_is_the_digest_of_nothing():
    assert verify.sha256_of_chunks([]).sha256 == hashlib.sha256(b"").hexdigest()


def test_a_matching_digest_passes():
    verify.check(URL, SHA256, verify.Digest(SHA256, len(DATA), "streamed"))


def test_a_mismatch_names_the_url_the_expected_and_the_actual_digest():
    expected = "0" * 64
    with pytest.raises(verify.ArtifactMismatchError) as raised:
        verify.check(URL, expected, verify.Digest(SHA256, len(DATA), "streamed"))
    message = str(raised.value)
    assert URL in message
    assert f"expected sha256 {expected}" in message
    assert f"the object's sha256 is {SHA256}" in message


def test_the_expected_digest_is_normalized_to_lower_case():
    assert verify.expected_sha256(SHA256.upper()) == SHA256


@pytest.mark.parametrize("value", [None, "", "abc", "g" * 64, SHA256 + "0", 42])
def test_rejects_an_expected_digest_that_is_not_64_hex_digits(value):
    with pytest.raises(ValueError, match="64 hexadecimal digits"):
        verify.expected_sha256(value)


def test_a_full_object_checksum_is_the_objects_sha256():
    assert verify.full_object_sha256(b64(SHA256), "FULL_OBJECT") == SHA256


def test_a_composite_checksum_is_ignored():
    assert verify.full_object_sha256(b64(SHA256) + "-3", "COMPOSITE") is None
    assert verify.full_object_sha256(b64(SHA256), "COMPOSITE") is None


def test_a_checksum_without_a_type_is_ignored():
    assert verify.full_object_sha256(b64(SHA256), None) is None


@pytest.mark.parametrize("value", [None, "not base64!", base64.b64encode(b"short").decode()])
def test_a_missing_or_malformed_checksum_is_ignored(value):
    assert verify.full_object_sha256(value, "FULL_OBJECT") is None


def test_reading_stops_with_the_bytes_read_when_time_runs_out():
    left = iter([60_000, 60_000, 1_000])
    chunks = verify.within([b"a" * 10, b"b" * 10, b"c" * 10], lambda: next(left), 20_000)
    with pytest.raises(verify.OutOfTimeError, match="after reading 20 bytes"):
        verify.sha256_of_chunks(chunks)


def test_reading_in_time_yields_every_chunk():
    chunks = verify.within([b"a", b"b"], lambda: 60_000, 20_000)
    assert verify.sha256_of_chunks(chunks).sha256 == hashlib.sha256(b"ab").hexdigest()


KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_a_signature_is_read_from_its_base64_text():
    assert verify.signature_bytes(base64.b64encode(b"\x30\x45sig").decode()) == b"\x30\x45sig"


@pytest.mark.parametrize("value", [None, "", "not base64!", 42, "YWJ"])
def test_rejects_a_signature_that_is_not_base64(value):
    with pytest.raises(ValueError, match="the model signature must be base64 text"):
        verify.signature_bytes(value)


def test_without_a_signature_property_nothing_is_expected():
    assert verify.expected_signature({"ModelDataUrl": URL, "Sha256": SHA256}) is None


def test_the_signature_properties_become_one_expected_signature():
    expected = verify.expected_signature(
        {"Signature": b64(SHA256), "SigningKeyArn": KEY_ARN, "SigningAlgorithm": "ECDSA_SHA_256"}
    )
    assert expected == verify.ExpectedSignature(bytes.fromhex(SHA256), KEY_ARN, "ECDSA_SHA_256")


def test_rejects_a_signature_without_its_key_or_algorithm():
    with pytest.raises(ValueError, match="needs SigningKeyArn and SigningAlgorithm"):
        verify.expected_signature({"Signature": b64(SHA256), "SigningAlgorithm": "ECDSA_SHA_256"})


def test_a_valid_signature_passes():
    verify.check_signature(URL, SHA256, True, KEY_ARN, "ECDSA_SHA_256")


def test_an_invalid_signature_names_the_url_the_digest_the_key_and_the_algorithm():
    with pytest.raises(verify.SignatureMismatchError) as raised:
        verify.check_signature(URL, SHA256, False, KEY_ARN, "RSASSA_PSS_SHA_256")
    message = str(raised.value)
    assert f"the model artifact {URL} (sha256 {SHA256}) is not signed by {KEY_ARN}" in message
    assert "RSASSA_PSS_SHA_256" in message
    assert "MessageType DIGEST" in message
    assert "the model is not created" in message

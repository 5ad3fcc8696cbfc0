"""The adapters against moto: S3 attributes, pinned streaming in chunks; KMS's Verify."""

import base64
import hashlib

import pytest
from artifact_verifier.adapters import ArtifactStore, ObjectRef, SignatureVerifier
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from verifier_fixtures import BUCKET, sign_artifact, signing_key

REF = ObjectRef(BUCKET, "models/m.tar.gz")


def test_url_parsing():
    assert ObjectRef.from_url("s3://b/a/b.tar.gz") == ObjectRef("b", "a/b.tar.gz")


@pytest.mark.parametrize("url", ["https://b/k", "s3://b", "s3://b/", "s3:///k", "s3://b/k?x=1"])
def test_rejects_urls_that_are_not_s3_objects(url):
    with pytest.raises(ValueError, match=r"s3://bucket/key"):
        ObjectRef.from_url(url)


def test_streams_the_object_in_chunks_of_the_size_asked(s3):
    body = b"z" * 2500
    s3.put_object(Bucket=BUCKET, Key=REF.key, Body=body)
    store = ArtifactStore(s3, chunk_bytes=1000)
    attributes = store.attributes(REF)
    assert attributes.size == 2500
    chunks = list(store.chunks(REF, attributes))
    assert [len(c) for c in chunks] == [1000, 1000, 500]
    assert hashlib.sha256(b"".join(chunks)).hexdigest() == hashlib.sha256(body).hexdigest()


def test_reads_the_version_described_not_a_newer_one(s3):
    s3.put_object(Bucket=BUCKET, Key=REF.key, Body=b"first")
    store = ArtifactStore(s3)
    attributes = store.attributes(REF)
    s3.put_object(Bucket=BUCKET, Key=REF.key, Body=b"second")
    assert b"".join(store.chunks(REF, attributes)) == b"first"


def test_a_replaced_object_in_an_unversioned_bucket_fails_the_read(s3):
    s3.create_bucket(Bucket="plain-bucket")
    ref = ObjectRef("plain-bucket", "m.tar.gz")
    s3.put_object(Bucket=ref.bucket, Key=ref.key, Body=b"first")
    store = ArtifactStore(s3)
    attributes = store.attributes(ref)
    s3.put_object(Bucket=ref.bucket, Key=ref.key, Body=b"second")
    with pytest.raises(ClientError, match="PreconditionFailed"):
        list(store.chunks(ref, attributes))


DIGEST = hashlib.sha256(b"the approved model").digest()


def test_kms_finds_a_signature_of_the_digest_valid(kms):
    key = signing_key(kms)
    signature = base64.b64decode(sign_artifact(kms, key, b"the approved model"))
    assert SignatureVerifier(kms).is_valid(key, DIGEST, signature, "ECDSA_SHA_256") is True


def test_a_signature_of_another_digest_is_invalid(kms):
    key = signing_key(kms, "RSA_2048")
    signature = base64.b64decode(
        sign_artifact(kms, key, b"another model", algorithm="RSASSA_PSS_SHA_256")
    )
    assert SignatureVerifier(kms).is_valid(key, DIGEST, signature, "RSASSA_PSS_SHA_256") is False


def test_the_digest_is_sent_as_a_digest(kms):
    key = signing_key(kms)
    sent = {}
    kms.meta.events.register(
        "provide-client-params.kms.Verify", lambda params, **_: sent.update(params)
    )
    SignatureVerifier(kms).is_valid(key, DIGEST, b"sig", "ECDSA_SHA_256")
    assert (sent["MessageType"], sent["Message"], sent["KeyId"]) == ("DIGEST", DIGEST, key)


def test_kms_refusing_the_signature_is_an_invalid_signature(kms):
    with Stubber(kms) as stub:
        stub.add_client_error(
            "verify", service_error_code="KMSInvalidSignatureException", http_status_code=400
        )
        assert SignatureVerifier(kms).is_valid("k", DIGEST, b"sig", "ECDSA_SHA_256") is False


def test_other_kms_errors_are_raised(kms):
    symmetric = kms.create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError, match="SIGN_VERIFY"):
        SignatureVerifier(kms).is_valid(symmetric, DIGEST, b"sig", "ECDSA_SHA_256")

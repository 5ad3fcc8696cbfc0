"""The pure core of the tamper check: what counts as a change, the metric line, its timestamp."""

import json

import pytest
from artifact_verifier import tamper, verify

URL = "s3://model-artifacts/models/churn/model.tar.gz"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
OTHER = "0" * 64
NOW_MS = 1_796_000_000_000


def test_the_approved_bytes_are_no_mismatch():
    seen = tamper.compared(URL, SHA256, verify.Digest(SHA256, 10, "streamed"), "v1")
    assert seen.mismatch == 0
    assert seen.message == f"the model artifact {URL} still has sha256 {SHA256}"


def test_other_bytes_are_a_mismatch_naming_both_digests_and_the_version():
    seen = tamper.compared(URL, SHA256, verify.Digest(OTHER, 8, "s3-checksum"), "v2")
    assert seen.mismatch == 1
    assert f"expected sha256 {SHA256}, the object's sha256 is {OTHER}" in seen.message
    assert "version v2" in seen.message


def test_an_object_that_cannot_be_read_is_a_mismatch_naming_the_error():
    seen = tamper.unreadable(URL, SHA256, "AccessDenied")
    assert seen.mismatch == 1
    assert "(AccessDenied)" in seen.message
    assert "can no longer be read as the approved object" in seen.message


def test_a_deleted_object_answered_as_access_denied_counts_as_unreadable():
    assert {"AccessDenied", "NoSuchKey", "PreconditionFailed"} <= tamper.UNREADABLE_CODES
    assert "SlowDown" not in tamper.UNREADABLE_CODES


def test_the_metric_line_is_embedded_metric_format():
    seen = tamper.compared(URL, SHA256, verify.Digest(OTHER, 8, "streamed"), "v2")
    document = json.loads(json.dumps(tamper.metric_document(seen, "verifier-fn", NOW_MS)))
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert document["_aws"]["Timestamp"] == NOW_MS
    assert directive == {
        "Namespace": "SecureEndpoint/Integrity",
        "Dimensions": [["FunctionName"]],
        "Metrics": [{"Name": "ArtifactDigestMismatch", "Unit": "Count"}],
    }
    # Every dimension and metric the directive names is a top-level member of the document.
    assert document["FunctionName"] == "verifier-fn"
    assert document["ArtifactDigestMismatch"] == 1
    assert (document["expectedSha256"], document["actualSha256"]) == (SHA256, OTHER)


def test_the_metric_is_timed_at_the_scheduled_time():
    assert tamper.timestamp_ms("2026-11-29T10:23:00Z", NOW_MS) == 1_795_947_780_000


@pytest.mark.parametrize("value", [None, "", "yesterday", "2026-11-29T10:23:00", 42])
def test_without_a_zoned_scheduled_time_the_metric_is_timed_now(value):
    assert tamper.timestamp_ms(value, NOW_MS) == NOW_MS

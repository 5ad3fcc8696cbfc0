"""``secure-endpoint attack`` against a deployed endpoint, as one API client, inside its usage
plan: needs AWS credentials and a deployed stack.

Set ``SECURE_ENDPOINT_SECRET_ID`` (an API client's secret) and ``SECURE_ENDPOINT_KNOWLEDGE``
(a CSV of natural rows of the model's features, a header of their names; ``label`` left out
when present); region and credentials come from the AWS config. It sends 30 rows a second apart.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import pytest

from secure_endpoint.cli import main

pytestmark = pytest.mark.integration

SECRET_ID = os.environ.get("SECURE_ENDPOINT_SECRET_ID", "")
KNOWLEDGE = os.environ.get("SECURE_ENDPOINT_KNOWLEDGE", "")


@pytest.fixture(scope="module")
def knowledge() -> Path:
    if not SECRET_ID:
        pytest.skip("SECURE_ENDPOINT_SECRET_ID is not set: no deployed API client to call")
    if not KNOWLEDGE:
        pytest.skip("SECURE_ENDPOINT_KNOWLEDGE is not set: no natural rows to attack with")
    if boto3.Session().get_credentials() is None:
        pytest.skip("boto3 finds no AWS credentials to read the client's secret with")
    return Path(KNOWLEDGE)


def test_an_extraction_through_the_client_reports_its_copys_agreement(
    knowledge: Path, tmp_path: Path
) -> None:
    output = tmp_path / "report.json"
    header = knowledge.read_text().split("\n", 1)[0].split(",")
    label = ["--label-column", "label"] if "label" in header else []
    code = main(["attack", "--secret-id", SECRET_ID, "--knowledge", str(knowledge), *label,
                 "--kind", "extraction", "--queries", "30", "--rate", "1",
                 "--output", str(output)])  # fmt: skip
    assert code == 0
    report = json.loads(output.read_text())
    assert report["clock"] == "real"
    assert report["queries"]["rowsSent"] >= 1
    stopped = report["stopped"]
    # a fresh client inside its plan is not stopped; a quarantined or throttled one says why
    assert stopped["reason"] in ("not stopped", "throttled", "quota_exceeded", "forbidden",
                                 "invalid_body")  # fmt: skip
    if stopped["reason"] == "not stopped":
        assert report["queries"]["rowsAnswered"] == 30
        assert 0 <= report["report"]["agreement"] <= 1

"""Names shared by the artifact verifier tests."""

BUCKET = "model-artifacts"

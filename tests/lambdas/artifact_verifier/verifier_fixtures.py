"""Names and helpers shared by the artifact verifier tests."""

import base64
import hashlib
from typing import Any

BUCKET = "model-artifacts"


def signing_key(kms: Any, key_spec: str = "ECC_NIST_P256") -> str:
    """A new asymmetric signing key in moto's KMS; its ARN."""
    return kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec=key_spec)["KeyMetadata"]["Arn"]


def sign_artifact(kms: Any, key_id: str, body: bytes, algorithm: str = "ECDSA_SHA_256") -> str:
    """What a release pipeline runs (the README's Python signing command): the base64 signature
    of the artifact's SHA-256 digest, ``MessageType=DIGEST``."""
    digest = hashlib.sha256(body).digest()
    signature = kms.sign(
        KeyId=key_id, Message=digest, MessageType="DIGEST", SigningAlgorithm=algorithm
    )["Signature"]
    return base64.b64encode(signature).decode()

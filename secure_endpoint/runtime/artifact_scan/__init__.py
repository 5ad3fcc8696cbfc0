"""Refuse model artifacts that would run code when loaded, without loading them.

``scan_archive(stream)`` reads a ``model.tar.gz`` as a stream and reports, for every member, the
imports its pickles would make outside the allowlist (``policy.Policy``), Keras ``Lambda``
layers and custom objects, and archive tricks (paths out of the model directory, links, devices,
bombs). Standard library only: the artifact verifier Lambda and the ``scan-artifact`` command
share it. See docs/model-integrity.md for what it sees and what it cannot.
"""

from secure_endpoint.runtime.artifact_scan.findings import Finding, Limits, Report, ScanTimeout
from secure_endpoint.runtime.artifact_scan.policy import DEFAULT_ALLOWED, Policy, check_entry
from secure_endpoint.runtime.artifact_scan.scanner import Scanner, scan_archive, scan_path

__all__ = [
    "DEFAULT_ALLOWED",
    "Finding",
    "Limits",
    "Policy",
    "Report",
    "ScanTimeout",
    "Scanner",
    "check_entry",
    "scan_archive",
    "scan_path",
]

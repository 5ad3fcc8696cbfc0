"""What a scan reports: findings (each one a reason to refuse the artifact), and the limits that
bound a scan's work."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ScanLimitError(Exception):
    """The archive is over a limit of the scan (``Limits``): refused, not scanned further."""


class ScanTimeout(Exception):
    """The scan's caller ran out of time: the whole scan stops (no verdict, not a finding)."""


@dataclass(frozen=True)
class Finding:
    """One reason to refuse an artifact.

    ``member`` is the path inside the archive; a member inside a member (a file in a zip, a
    pickle in a compressed stream, bytes inside a pickle) is written ``outer!inner``.
    ``offset`` is the byte offset in that member's (decompressed) bytes, when there is one.
    ``kind``: ``pickle-global`` (an import outside the allowlist), ``pickle-corrupt`` (a
    truncated or malformed pickle), ``keras-lambda``, ``keras-custom-object``, ``archive``
    (path, link or device refused), ``limit`` (a tar-bomb limit), ``unsupported`` (a format the
    scan cannot read, like lz4).
    """

    member: str
    kind: str
    reason: str
    offset: int | None = None
    opcode: str | None = None
    global_name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "member": self.member,
            "kind": self.kind,
            "offset": self.offset,
            "opcode": self.opcode,
            "global": self.global_name,
            "reason": self.reason,
        }

    def __str__(self) -> str:
        where = self.member + (f" @{self.offset}" if self.offset is not None else "")
        what = " ".join(part for part in (self.opcode, self.global_name) if part)
        return f"{where}: {what + ': ' if what else ''}{self.reason}"


@dataclass(frozen=True)
class Limits:
    """Bounds on one scan's work, against tar and zip bombs.

    :param max_members: members of the archive, and entries of each zip inside it.
    :param max_member_bytes: the (decompressed) size of one member or zip entry.
    :param max_total_bytes: the decompressed bytes of the whole archive.
    :param max_ratio: decompressed bytes per compressed byte, checked once more than
        ``ratio_floor_bytes`` were decompressed (model weights compress 1-3x; 100x is a bomb).
    :param max_depth: archives and compressed streams nested in one another.
    :param max_pickle_ops: opcodes of one pickle.
    :param max_json_bytes: a Keras ``config.json`` (parsed in memory).
    """

    max_members: int = 10_000
    max_member_bytes: int = 8 * 2**30
    max_total_bytes: int = 16 * 2**30
    max_ratio: int = 100
    ratio_floor_bytes: int = 256 * 2**20
    max_depth: int = 4
    max_pickle_ops: int = 50_000_000
    max_json_bytes: int = 64 * 2**20


@dataclass
class Report:
    """The findings of one scan, in the order they were found, and what was read."""

    findings: list[Finding] = field(default_factory=list)
    members: int = 0
    pickles: int = 0
    bytes_read: int = 0

    @property
    def clean(self) -> bool:
        return not self.findings

    def summary(self, limit: int = 3) -> str:
        """One line naming the first ``limit`` findings (for a CloudFormation reason)."""
        if self.clean:
            return f"no finding in {self.members} members ({self.pickles} pickles)"
        shown = "; ".join(str(finding) for finding in self.findings[:limit])
        more = len(self.findings) - limit
        return f"{len(self.findings)} finding(s): {shown}" + (
            f"; and {more} more" if more > 0 else ""
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "members": self.members,
            "pickles": self.pickles,
            "bytesRead": self.bytes_read,
            "findings": [finding.as_dict() for finding in self.findings],
        }

"""What a baseline check returns: a ``Protection`` line with its status and evidence, and the
small text helpers the checks write their evidence with."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Template = Mapping[str, Any]


class Status(enum.Enum):
    """Whether the synthesized stack implements a protection."""

    ON = "✓"
    MISSING = "✗"
    OPT_IN = "\u2013"  # an en dash: off by default, one setting away


@dataclass(frozen=True)
class Protection:
    """One line of the baseline (``/work/shared/STANDARD.md``) and what the templates show."""

    control: int
    name: str
    status: Status
    evidence: str

    @property
    def mark(self) -> str:
        return self.status.value


def protection(control: int, name: str, missing: Sequence[str], evidence: str) -> Protection:
    if missing:
        return Protection(control, name, Status.MISSING, "missing: " + "; ".join(missing))
    return Protection(control, name, Status.ON, evidence)


def number(value: Any) -> str:
    return f"{value:,g}" if isinstance(value, int | float) else str(value)


def plural(count: int) -> str:
    return "" if count == 1 else "s"


def listed(items: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")

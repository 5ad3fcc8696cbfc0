"""What the demo prints: one line per step, a progress bar for the long ones, clear errors.

The bar is a dozen lines here rather than a dependency: it redraws itself with a carriage return
only on a terminal; elsewhere (CI logs, a pipe) it prints its final line once.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TextIO

Say = Callable[[str], None]

INDENT = "      "


class DemoError(RuntimeError):
    """A bad environment or input: the message tells the user what to do."""


def require(modules: Iterable[tuple[str, str]]) -> None:
    """Fail early, with what to run, when a module the demo needs is missing.

    :param modules: (importable name, what it is for) pairs.
    :raises DemoError: naming every missing module.
    """
    missing = [f"{name} ({why})" for name, why in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise DemoError(
            f"missing Python packages: {', '.join(missing)}. Run `make setup` (it installs "
            "`.[dev]`, which pulls the `demo` extra), or `make demo`, which sets up first."
        )


class Progress:
    """A bar for ``total`` steps of ``unit``: ``with Progress(...) as bar: bar.advance()``."""

    def __init__(
        self, label: str, total: int, unit: str, *, stream: TextIO | None = None, width: int = 28
    ) -> None:
        self.label, self.total, self.unit, self.width = label, max(total, 1), unit, width
        self.stream = stream or sys.stdout
        self.done = 0
        self._tty = self.stream.isatty()
        self._started = time.perf_counter()

    def __enter__(self) -> Progress:
        self._draw()
        return self

    def advance(self, steps: int = 1) -> None:
        self.done = min(self.total, self.done + steps)
        self._draw()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._tty:
            self.stream.write("\r\033[K")
        if kind is None:
            elapsed = time.perf_counter() - self._started
            self.stream.write(f"{self._line()} in {elapsed:.1f} s\n")
        self.stream.flush()

    def _line(self) -> str:
        filled = round(self.width * self.done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        return f"{INDENT}{self.label:22} [{bar}] {self.done}/{self.total} {self.unit}"

    def _draw(self) -> None:
        if not self._tty:
            return
        elapsed = time.perf_counter() - self._started
        eta = ""
        if 0 < self.done < self.total:
            eta = f"  about {elapsed / self.done * (self.total - self.done):.0f} s left"
        self.stream.write(f"\r\033[K{self._line()}{eta}")
        self.stream.flush()

"""Each configuration a test module builds, built once per test session.

A test module keeps the function that builds its configuration (a construct alone, the sample
app, an endpoint variant) and gets the result through ``once``; the compliance matrix
(test_compliance_matrix.py) gets the same object the same way, so a session that runs both
synthesizes each configuration once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


@functools.cache
def _built(build: Callable[..., object], *args: Any) -> object:
    return build(*args)


def once(build: Callable[..., T], *args: Any) -> T:
    """What ``build(*args)`` returns, built on the session's first call and kept."""
    return _built(build, *args)  # type: ignore[return-value]

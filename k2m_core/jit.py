"""numba's compiler for the few loops that run on every frame (camera fit, rotations): they
are small and sequential, where numpy pays its per-call cost hundreds of times a frame.

Compiled once and cached on disk (beside the module, or under NUMBA_CACHE_DIR where that is
read-only). Without numba the functions run as plain Python: the same results, slowly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

try:
    from numba import njit as _njit
except ImportError:  # pragma: no cover - numba is a declared dependency
    _njit = None


def jit(function: F) -> F:
    """numba.njit(cache=True, nogil=True), or the function itself without numba."""
    if _njit is None:
        return function
    return _njit(cache=True, nogil=True)(function)  # type: ignore[no-any-return]

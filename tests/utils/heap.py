"""How much memory the process's C heap holds, for tests of memory that must stay flat."""

from __future__ import annotations

import ctypes

import pytest


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def live_heap_bytes() -> int:
    """Bytes glibc's malloc has handed out and not had back (mallinfo2's uordblks): what
    native libraries hold, without the freed memory resident figures also count."""
    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        pytest.skip("needs glibc 2.33 or later (mallinfo2)")
    mallinfo2.restype = _MallInfo2
    return int(mallinfo2().uordblks)

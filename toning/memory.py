"""Peak resident memory, per stage of a refresh (Linux; elsewhere nothing is measured).

The kernel keeps a process's peak resident set (VmHWM) and lets the process reset it to its
current size (writing 5 to /proc/self/clear_refs), so each stage's peak is its own. A child's
peak (dbt's) comes with its exit status (`os.wait4`).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import re
import resource
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_PEAK = re.compile(r"^VmHWM:\s+(\d+) kB$", re.MULTILINE)


def reset_peak() -> None:
    """Start measuring this process's peak afresh (from its current size)."""
    with contextlib.suppress(OSError):  # not Linux, or /proc is not writable here
        _CLEAR_REFS.write_text("5")


def peak_bytes() -> int | None:
    """This process's peak resident memory since the last reset_peak(), in bytes."""
    try:
        found = _PEAK.search(_STATUS.read_text())
    except OSError:
        return None
    return int(found[1]) * 1024 if found else None


def child_peak_bytes(usage: resource.struct_rusage) -> int:
    """A finished child's peak resident memory, from its rusage (kilobytes on Linux)."""
    return usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def give_back() -> None:
    """Return freed memory to the system. Python and the C libraries under it keep freed blocks
    for reuse; a refresh about to wait on a big child (dbt) has no use for them, and they would
    count in its stage's peak. glibc's malloc_trim does it; elsewhere only the collection runs."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)

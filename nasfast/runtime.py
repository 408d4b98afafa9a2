"""Process-wide settings that make nasfast's CPU work faster, applied by the ``nasfast`` command.

``keep_freed_memory``: glibc's malloc hands blocks above a size threshold (128 KiB at start, raised
dynamically up to 32 MiB) straight back to the OS when freed, and trims the heap top, so the next
tensor of that size is mapped afresh and pays a page fault per 4 KiB page on first touch. A GATES
training step (batch 512, NB101) allocates and frees activations of 0.2-2 MiB in varying order: on
the 2-core VM, in a fresh process, it took 400-1,900 minor page faults per step and a median of
16.9-19.9 ms; with the thresholds raised, 3-8 faults and 16.0-17.0 ms (best times alike either way:
the faults' cost moves with the host's load). ``benchmarks/bench_gates.py`` prints both. This is the
standard advice for PyTorch on CPU (tcmalloc or jemalloc preloaded do the same); the price is that
up to ``trim`` bytes of freed memory stay with the process instead of going back to the OS.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# mallopt parameter numbers from glibc's <malloc.h>
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3

#: NASFAST_MALLOC=default leaves malloc as it is (the ``nasfast`` command then skips the call);
#: NASFAST_MALLOC=keep makes ``import nasfast`` apply ``keep_freed_memory`` (library use, and the
#: command's spawned workers, which inherit the variable from it)
ENV_OPT_OUT = "NASFAST_MALLOC"

_applied = False


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim: int = 1 << 30, top_pad: int = 64 << 20) -> bool:
    """Raise glibc malloc's mmap and trim thresholds for this process, so freed tensor memory is
    reused instead of being unmapped and faulted in again. Returns True when applied; False on a
    system without glibc's ``mallopt`` (macOS, Windows, musl), where nothing changes. Safe to call
    more than once. Allocations made before the call keep where they live. The default threshold,
    32 MiB, is the ceiling glibc itself raises its dynamic one to on 64-bit systems; it covers the
    training step's blocks (0.2-2 MiB)."""
    for name, value in (("mmap_threshold", mmap_threshold), ("trim", trim), ("top_pad", top_pad)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
            raise ValueError(f"keep_freed_memory: {name} must be an int in [0, 2**31), got {value!r}")
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # mallopt returns 1 on success, 0 for a value it refuses
    ok = all(mallopt(param, value) == 1 for param, value in (
        (_M_MMAP_THRESHOLD, mmap_threshold), (_M_TRIM_THRESHOLD, trim), (_M_TOP_PAD, top_pad)))
    global _applied
    _applied = _applied or ok
    return ok


def kept() -> bool:
    """Whether ``keep_freed_memory`` has been applied in this process."""
    return _applied


def _env_setting() -> str:
    return os.environ.get(ENV_OPT_OUT, "").strip().lower()


def apply_env_setting() -> None:
    """Run by ``import nasfast``: apply the setting when NASFAST_MALLOC=keep."""
    if _env_setting() == "keep":
        keep_freed_memory()


def apply_cli_defaults() -> None:
    """What the ``nasfast`` command sets before it runs anything (unless NASFAST_MALLOC=default).
    It also sets NASFAST_MALLOC=keep, so that the processes it spawns (``--workers``) keep freed
    memory too: they import nasfast before they run anything."""
    if _env_setting() != "default":
        keep_freed_memory()
        os.environ[ENV_OPT_OUT] = "keep"

"""An exclusive lock on an output that a command appends to (``nasfast proxies --out``, a ``nasfast
reproduce`` directory), so that a second run on the same output is refused instead of appending the
same rows to it a second time (two header lines, every row twice).

The lock is an ``fcntl.flock`` on a lock file beside the output (``<file>.lock``, ``<dir>/.lock``),
held for the block and released when it ends or the process dies, as ``nasfast search`` locks its
run directory (``nasfast.search.runner.claim_run_directory``). It holds the holder's pid, for the
message. Unlike the search's, the lock file is removed when the block ends, so that a finished
output holds only its results (a killed run leaves it; the next run takes it over): a run that
locked a file just removed sees that the file is gone or replaced and locks the new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

LOCK_SUFFIX = ".lock"  # beside a file: <file>.lock
DIRECTORY_LOCK = ".lock"  # inside a directory, the name ``nasfast search`` uses


class OutputInUse(FileExistsError):
    """Another process holds the lock of an output. A ``FileExistsError``, so that the CLI reports it
    as one line, like the other ways an output that is already taken is refused."""


def lock_path(out: str | os.PathLike) -> Path:
    """The lock file of output ``out``: ``<out>/.lock`` for a directory, ``<out>.lock`` for a file.
    Named from the resolved path, so a run reaching the same output through a symlink takes the
    same lock."""
    out = Path(out).resolve()
    return out / DIRECTORY_LOCK if out.is_dir() else out.with_name(out.name + LOCK_SUFFIX)


@contextlib.contextmanager
def hold_output(out: str | os.PathLike, what: str = "output") -> Iterator[Path]:
    """Hold the exclusive lock of output ``out`` (a file, or an existing directory) for the block;
    ``OutputInUse`` naming ``out`` and the holder's pid when another process holds it. The lock
    file's directory must exist (create the output's directory first)."""
    out = Path(out)
    lock = lock_path(out)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by worker processes (PEP 446)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise OutputInUse(f"{what} {out} is in use by another process (pid {holder}, lock {lock}); wait for "
                              "it to finish, or choose another --out") from None
        # the previous holder removes the file before it unlocks: a lock on a file no longer at `lock`
        # would not keep out a run that creates a new one
        try:
            current = os.stat(lock)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(os.fstat(fd), current):
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # only for the message above
        yield lock
    finally:
        with contextlib.suppress(FileNotFoundError):
            # while still locked, see the module docstring; only our own file: if someone removed it
            # and another run created a new one, that run's lock stays
            if os.path.samestat(os.fstat(fd), os.stat(lock)):
                os.unlink(lock)
        os.close(fd)  # releases the lock


def repeated_header(path: str | os.PathLike, line: int) -> ValueError:
    """The error for a header line found again below the first one: two runs once appended to the file
    at the same time (before the lock), or files were concatenated."""
    return ValueError(f"{path}:{line}: the header line again (two runs appended to this file at once, or files "
                      "were concatenated); remove the repeated header and the duplicate rows, or choose another "
                      "--out")

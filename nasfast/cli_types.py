"""argparse value types shared by the subcommands (a bad value is a usage error, exit 2, that names
the option, rather than a traceback from deep inside torch or numpy)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def _int_at_least(text: str, minimum: int, wanted: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (``--threads``, ``--limit``, ...)."""
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """An integer >= 0 (``--seed``)."""
    return _int_at_least(text, 0, "a non-negative integer")


def output_file(text: str) -> Path:
    """A file path that can be written (``--out`` of a command that works first and writes last):
    refused at once, not after the work, when it is a directory, when a part of its parent path
    is a file, or when the nearest existing parent directory is not writable."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; give a file path")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text}: directory {parent} is not writable")
    return path

"""Run the ``nasfast`` console entry point in a subprocess, as a user would (tests only)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def subprocess_env() -> dict[str, str]:
    """The current environment with the checkout importable, so tests work before installation."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def nasfast(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """``python -m nasfast *args``; with ``check``, a non-zero exit fails the test with its stderr."""
    proc = subprocess.run([sys.executable, "-m", "nasfast", *args], check=False, env=subprocess_env(), cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"nasfast {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc

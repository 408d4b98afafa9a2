"""Benchmark data shipped inside the package (see PROVENANCE.md beside this file)."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent


def data_path(*parts: str) -> Path:
    """Path of a bundled file, e.g. ``data_path("nb201", "nb201_12ep_nats.npz")``."""
    path = DATA_DIR.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"bundled data file {path} is missing; reinstall nasfast")
    return path

"""Argument checks shared across packages (kept free of torch so that light modules can use them)."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_seed(seed: Any, name: str = "seed") -> int:
    """``seed`` as an int; a ValueError (naming it ``name``) for what numpy would refuse later
    (negative) or silently truncate (1.5)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {seed!r}")
    return int(seed)

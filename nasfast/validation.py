"""Argument checks shared across packages (kept free of torch so that light modules can use them)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def check_seed(seed: Any, name: str = "seed") -> int:
    """``seed`` as an int; a ValueError (naming it ``name``) for what numpy would refuse later
    (negative) or silently truncate (1.5)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (an integral float such as 3.0 is taken); a ValueError
    naming it ``name`` for a bool, None, a string, NaN, inf or 2.5, where ``int()`` would raise
    something bare, or silently truncate."""
    ok = (not isinstance(value, bool) and isinstance(value, numbers.Real)
          and (isinstance(value, numbers.Integral) or float(value).is_integer()) and value >= minimum)
    if not ok:
        wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return int(value)

"""Search spaces: parse, validate, encode, mutate, sample, hash. One module per space:
``nasfast.spaces.nb201``, ``nasfast.spaces.nb101``, ``nasfast.spaces.darts``."""

from typing import Any

import numpy as np


def check_generator(rng: Any, where: str) -> np.random.Generator:
    """``rng`` itself if it is a numpy ``Generator``; else a TypeError that says what to pass.

    An int is refused rather than taken as a seed: ``sample(5)`` reads as "five archs" as easily as
    "seed 5", and guessing wrong would be silent.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError(f"{where} takes a numpy Generator, e.g. np.random.default_rng(0), "
                    f"got {type(rng).__name__}: {rng!r:.60}"
                    + ("; for n archs call it n times" if isinstance(rng, (int, np.integer)) else ""))

"""``resolve_device``: a torch device from what a user typed, or an error that says what is wrong."""

from __future__ import annotations

from typing import Any


def resolve_device(device: Any) -> Any:
    """``torch.device(device)``, checked to be usable here: an unknown name or a CUDA device on a torch
    without CUDA (or with fewer GPUs) is a ``ValueError`` naming the problem, not a failure deep
    inside the first op that touches it."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda' or 'cuda:N' ({err})") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: this torch ({torch.__version__}) has no usable CUDA "
                             "(a CPU build, or no GPU visible); use 'cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
    return dev

"""The images super-net training sees: the bundled CIFAR-10 subset, split once and for all.

The reference trains on CIFAR-10's 50,000 training images split in half (``train_portion 0.5``): one half trains
the weights, the other feeds the landmark loss (``landmark_use_valid``), and the super-net accuracies behind the
S-KdT come from held-out images (REFERENCES A4.1, A4.3, A4.5). Full CIFAR-10 is not available here; the package
ships 2,000 training and 2,000 test images (200 per class each, ``nasfast/data/images``, PROVENANCE.md), stored
class by class. The fixed split:

- **weights**: of each class's 200 training images, the first 160 in file order -> 1,600 images (3.2 % of the
  reference's 25,000);
- **landmark**: the other 40 of each class -> 400 images (1.6 % of the reference's 25,000);
- **evaluation**: the 2,000 test images (200 per class), never trained on; ``evaluation_per_class`` takes the
  first k of each class instead, to make evaluation cheaper.

Images are normalised with the CIFAR-10 statistics of ``nasfast.proxies.data``. Training batches (weights and
landmark) are augmented as the reference's CIFAR pipeline does (random crop with 4 px zero padding, horizontal
flip); evaluation images are not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from nasfast.proxies.data import bundled_images, get_dataset

WEIGHTS_PER_CLASS = 160
LANDMARK_PER_CLASS = 40


@dataclass(frozen=True)
class SupernetData:
    """Normalised images ``(n, 3, 32, 32)`` float32 and labels ``(n,)`` int64 of the three parts."""

    weights_x: torch.Tensor
    weights_y: torch.Tensor
    landmark_x: torch.Tensor
    landmark_y: torch.Tensor
    eval_x: torch.Tensor
    eval_y: torch.Tensor

    def describe(self) -> str:
        return (f"weights {len(self.weights_y)} / landmark {len(self.landmark_y)} / "
                f"evaluation {len(self.eval_y)} images (bundled CIFAR-10 subset)")

    def to(self, device: torch.device | str) -> SupernetData:
        """The same split on ``device``."""
        return SupernetData(*(t.to(device) for t in (self.weights_x, self.weights_y, self.landmark_x,
                                                      self.landmark_y, self.eval_x, self.eval_y)))


def _normalise(images: np.ndarray) -> torch.Tensor:
    ds = get_dataset("cifar10")
    x = torch.from_numpy(images).permute(0, 3, 1, 2).to(torch.float32) / 255.0
    return (x - torch.tensor(ds.mean).view(1, 3, 1, 1)) / torch.tensor(ds.std).view(1, 3, 1, 1)


def _per_class(labels: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Indices of the images at positions start..stop-1 within each class, in file order."""
    out = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < stop:
            raise ValueError(f"class {c} has {len(idx)} bundled images, the split needs {stop}")
        out.append(idx[start:stop])
    return np.concatenate(out)


def bundled_split(weights_per_class: int = WEIGHTS_PER_CLASS, landmark_per_class: int = LANDMARK_PER_CLASS,
                  evaluation_per_class: int | None = None) -> SupernetData:
    """The fixed split of the module docstring (defaults 1,600 / 400 / 2,000 images).

    Other sizes (tests, quick runs) take the first ``weights_per_class`` images of each class for the weights and
    the landmark images from position ``WEIGHTS_PER_CLASS`` on (earlier only if they would not fit), so a smaller
    split is a subset of the default one and the two parts never overlap.
    """
    for name, v in (("weights_per_class", weights_per_class), ("landmark_per_class", landmark_per_class)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if weights_per_class + landmark_per_class > 200:
        raise ValueError(f"weights_per_class + landmark_per_class = {weights_per_class + landmark_per_class} "
                         f"exceeds the 200 bundled training images per class")
    train_x, train_y = bundled_images("train")
    test_x, test_y = bundled_images("test")
    w = _per_class(train_y, 0, weights_per_class)
    lm_start = max(weights_per_class, min(WEIGHTS_PER_CLASS, 200 - landmark_per_class))
    lm = _per_class(train_y, lm_start, lm_start + landmark_per_class)
    ev = np.arange(len(test_y)) if evaluation_per_class is None else _per_class(test_y, 0, evaluation_per_class)
    return SupernetData(_normalise(train_x[w]), torch.from_numpy(train_y[w]),
                        _normalise(train_x[lm]), torch.from_numpy(train_y[lm]),
                        _normalise(test_x[ev]), torch.from_numpy(test_y[ev]))


def augment(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop with ``pad`` px of black padding and a horizontal flip, one draw per image of the normalised
    batch ``x`` (torchvision's ``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip`` before normalising).
    ``generator`` is a CPU generator whatever ``x``'s device, so a run draws the same crops on any device."""
    n, c, h, w = x.shape
    ds = get_dataset("cifar10")
    black = (-torch.tensor(ds.mean) / torch.tensor(ds.std)).view(1, 3, 1, 1).to(x)  # a zero pixel, normalised
    padded = F.pad(x - black, (pad,) * 4) + black
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator).to(x.device)
    flips = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    rows = offsets[:, :1] + torch.arange(h, device=x.device)  # (n, h) source rows of each crop
    cols = offsets[:, 1:] + torch.arange(w, device=x.device)
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    return padded[torch.arange(n, device=x.device)[:, None, None, None], torch.arange(c, device=x.device)[:, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]

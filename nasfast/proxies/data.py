"""The mini-batch the data proxies look at.

As the reference's NB201 runs (REFERENCES A5.1): one batch of 64 training images, shuffled and
augmented (random crop with padding 4, horizontal flip), seed 42, normalised with the CIFAR-10
statistics the reference uses (also for CIFAR-100); ImageNet16-120 gets its own statistics, 16 px and
padding 2. Two deviations, both forced or chosen for comparability:
- the images are the bundled CIFAR-10 subset (``nasfast/data/images``); CIFAR-100 and
  ImageNet16-120 images are not available, so those "datasets" are these images (down-sampled to
  16 px for ImageNet16-120, area interpolation) with CIFAR-10 labels under a 100/120-class head;
- every architecture sees the same batch (the reference draws a fresh batch per architecture).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from nasfast.data import data_path


@dataclass(frozen=True)
class ProxyDataset:
    name: str
    num_classes: int
    size: int
    pad: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


_CIFAR_MEAN, _CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)  # the reference's values
DATASETS: dict[str, ProxyDataset] = {d.name: d for d in (
    ProxyDataset("cifar10", 10, 32, 4, _CIFAR_MEAN, _CIFAR_STD),
    ProxyDataset("cifar100", 100, 32, 4, _CIFAR_MEAN, _CIFAR_STD),
    ProxyDataset("ImageNet16-120", 120, 16, 2, tuple(v / 255 for v in (122.68, 116.66, 104.01)),
                 tuple(v / 255 for v in (63.22, 61.26, 65.09))),
)}
IMAGES_FILE = ("images", "cifar10_jpeg_subset_200perclass.npz")


def get_dataset(name: str) -> ProxyDataset:
    if name not in DATASETS:
        raise ValueError(f"unknown proxy dataset {name!r}; choose from {sorted(DATASETS)}")
    return DATASETS[name]


def bundled_images(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """The bundled CIFAR-10 images ``(n, 32, 32, 3)`` uint8 and labels ``(n,)``."""
    _check_split(split)
    with np.load(data_path(*IMAGES_FILE), allow_pickle=False) as z:
        return z[f"{split}_x"], z[f"{split}_y"].astype(np.int64)


def num_bundled_images(split: str = "train") -> int:
    """How many bundled images ``split`` holds, read from its labels alone (no image is decoded)."""
    _check_split(split)
    with np.load(data_path(*IMAGES_FILE), allow_pickle=False) as z:
        return len(z[f"{split}_y"])


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def proxy_batch(dataset: str = "cifar10", batch_size: int = 64, seed: int = 42) -> tuple[torch.Tensor, torch.Tensor]:
    """One shuffled, augmented, normalised batch: images ``(batch_size, 3, S, S)`` float32, labels int64."""
    ds = get_dataset(dataset)
    images, labels = bundled_images("train")
    if not 1 <= batch_size <= len(images):
        raise ValueError(f"batch_size must be in 1..{len(images)}, got {batch_size}")
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(images))[:batch_size]
    x = torch.from_numpy(images[pick]).permute(0, 3, 1, 2).to(torch.float32) / 255.0
    if ds.size != x.shape[-1]:
        x = F.interpolate(x, size=(ds.size, ds.size), mode="area")
    padded = F.pad(x, (ds.pad,) * 4)
    offsets = rng.integers(0, 2 * ds.pad + 1, size=(batch_size, 2))
    flips = rng.random(batch_size) < 0.5
    out = torch.empty_like(x)
    for i, ((dy, dx), flip) in enumerate(zip(offsets, flips)):
        crop = padded[i, :, dy:dy + ds.size, dx:dx + ds.size]
        out[i] = crop.flip(-1) if flip else crop
    mean = torch.tensor(ds.mean).view(1, 3, 1, 1)
    std = torch.tensor(ds.std).view(1, 3, 1, 1)
    return (out - mean) / std, torch.from_numpy(labels[pick])

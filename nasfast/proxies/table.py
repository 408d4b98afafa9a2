"""Proxy tables: proxies of many NB201 architectures, each row appended to a CSV as it completes.

A run is resumable: the CSV keeps every finished architecture and a JSON file beside it
(``<out>.json``) keeps the configuration; running the same command again computes only what is
missing, and refuses to mix rows made under a different configuration. While a run writes, it holds
``<out>.lock`` (``nasfast.output_lock``): a second run on the same CSV is refused, not interleaved.

Each architecture's initial weights come from its own seed (``arch_seed(init_seed, index)``), so a
value does not depend on which other architectures shared its batch or on the order of the run
(exactly in float64; in float32 the batch's shapes can move the rounding, by up to ~2 % for fisher
and grasp, benchmarks/RESULTS.md).
"""

from __future__ import annotations

import csv
import gzip
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from nasfast.device import resolve_device
from nasfast.models.nb201 import nb201_weights
from nasfast.output_lock import hold_output, repeated_header
from nasfast.proxies.data import get_dataset, num_bundled_images, proxy_batch
from nasfast.proxies.definitions import check_proxy_names
from nasfast.proxies.nb201_batched import nb201_proxies_batched
from nasfast.spaces import nb201 as space
from nasfast.validation import check_seed


@dataclass(frozen=True)
class TableConfig:
    dataset: str = "cifar10"
    proxies: tuple[str, ...] = ("synflow", "snip", "jacob_cov")
    batch_size: int = 64
    data_seed: int = 42
    init_seed: int = 0
    channels: int = 16
    cells: int = 5
    dtype: str = "float32"
    space: str = "nb201"

    def __post_init__(self) -> None:
        get_dataset(self.dataset)
        check_proxy_names(list(self.proxies))
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        for name in ("batch_size", "channels", "cells"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("data_seed", "init_seed"):
            check_seed(getattr(self, name), name)
        # checked here, before the settings record is written (a refused run must not lock --out)
        images = num_bundled_images("train")
        if not 2 <= self.batch_size <= images:
            raise ValueError(f"batch_size must be in 2..{images} (the bundled CIFAR-10 images), got {self.batch_size}")


def arch_seed(init_seed: int, index: int) -> int:
    """The torch seed of one architecture's initial weights."""
    return int(np.random.SeedSequence([int(init_seed), int(index)]).generate_state(1)[0])


def priority_order(seed: int = 0) -> np.ndarray:
    """All 15,625 NB201 indices: NASLib's 725-arch proxy subset first (so the cross-check is possible
    early), then the rest in a seeded random order (so any prefix of a run is a random sample)."""
    from nasfast.tabular.bundled import npz_array

    first = np.asarray(npz_array(("nb201", "nb201_zc_naslib_725.npz"), "c10_index"), dtype=np.int64)
    rest = np.setdiff1d(np.arange(space.NUM_ARCHS), first)
    return np.concatenate([first, np.random.default_rng(seed).permutation(rest)])


def fixed_sample(n: int = 1000, seed: int = 0) -> np.ndarray:
    """A fixed random sample of ``n`` NB201 indices (the fisher / grasp sample), sorted.

    Samples of different ``n`` are unrelated, not nested: ``fixed_sample(14)`` shares only a few
    indices with ``fixed_sample(12)`` (kept so, since the shipped fisher / grasp table was made with
    this draw). For a set that grows, take prefixes of ``priority_order()`` or list the indices."""
    if not 1 <= n <= space.NUM_ARCHS:
        raise ValueError(f"sample size must be 1..{space.NUM_ARCHS} (the NB201 space), got {n}")
    return np.sort(np.random.default_rng(seed).choice(space.NUM_ARCHS, size=n, replace=False))


def _check_meta(out: Path, config: TableConfig) -> None:
    meta = out.with_name(out.name + ".json")
    want = asdict(config)
    want["proxies"] = list(config.proxies)
    if meta.exists() and _has_rows(out):
        have = json.loads(meta.read_text())
        for key, value in want.items():
            if have.get(key) != value:
                raise ValueError(f"{out} was made with {key}={have.get(key)!r}, this run asks {key}={value!r}; "
                                 "use another --out or the same settings")
    elif not meta.exists() and out.exists() and out.stat().st_size:
        raise ValueError(f"{out} exists without its settings record {meta.name}, so which settings made its rows "
                         "is unknown; use another --out, or move the CSV together with its .json")
    else:  # a new table, or one whose earlier run wrote no row: these settings are its own
        if out.exists():
            out.write_bytes(b"")  # at most the header of the earlier settings' columns
        meta.write_text(json.dumps(want, indent=1) + "\n")


def _has_rows(out: Path) -> bool:
    """Whether the CSV ``out`` holds at least one complete row below its header."""
    if not out.exists():
        return False
    with open(out, "rb") as f:
        return f.read(1 << 16).count(b"\n") > 1 or out.stat().st_size > 1 << 16


def read_table(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A proxy CSV as columns: ``index`` (int64), ``arch`` (str) and one float64 array per proxy.
    A value that does not parse is a ``ValueError`` naming ``path:line``."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        reader = csv.reader(f)
        rows = [(reader.line_num, r) for r in reader]
    if not rows:
        raise ValueError(f"{path} is empty")
    header = rows[0][1]
    body = [(n, r) for n, r in rows[1:] if len(r) == len(header)]  # a shorter row: one torn by a killed run
    cols: dict[str, list] = {name: [] for name in header}
    for n, r in body:
        if r == header:
            raise repeated_header(path, n)
        for name, v in zip(header, r):
            if name == "arch":
                cols[name].append(v)
                continue
            try:
                cols[name].append(int(v) if name == "index" else float(v) if v else np.nan)
            except ValueError:
                raise ValueError(f"{path}:{n}: {name} {v!r} is not {'an integer' if name == 'index' else 'a number'}"
                                 ) from None
    return {name: np.array(values, dtype=np.int64 if name == "index" else object if name == "arch" else np.float64)
            for name, values in cols.items()}


BUNDLED_TABLES = ("nb201_cifar10", "nb201_cifar100", "nb201_ImageNet16-120", "nb201_cifar10_fisher_grasp",
                  "nb201_cifar10_data_free")


def bundled_files(name: str) -> tuple[Path, Path]:
    """Where the shipped table ``name`` and its settings live (``nasfast/data/proxies/<name>.csv.gz``,
    ``<name>.json``); they may not exist yet."""
    from nasfast.data import DATA_DIR

    if name not in BUNDLED_TABLES:
        raise ValueError(f"unknown bundled proxy table {name!r}; expected one of {list(BUNDLED_TABLES)}")
    return DATA_DIR / "proxies" / f"{name}.csv.gz", DATA_DIR / "proxies" / f"{name}.json"


def bundled_table(name: str) -> dict[str, np.ndarray]:
    """A proxy table shipped in the package (settings beside it, provenance in PROVENANCE.md).
    Tables may be partial: see their ``index``."""
    from nasfast.data import data_path

    table, _ = bundled_files(name)
    return read_table(data_path("proxies", table.name))


def bundled_settings(name: str) -> dict:
    from nasfast.data import data_path

    _, settings = bundled_files(name)
    return json.loads(data_path("proxies", settings.name).read_text())


def _drop_partial_last_line(path: Path) -> None:
    """A run killed mid-write can leave half a row; cut it so the next row starts on its own line."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


class _ChunkEvaluator:
    """The proxies of a few NB201 indices under one ``TableConfig`` (the data batch made once)."""

    def __init__(self, config: TableConfig, device: str | torch.device) -> None:
        self.config, self.device = config, device
        self.num_classes = get_dataset(config.dataset).num_classes
        self.dtype = getattr(torch, config.dtype)
        x, y = proxy_batch(config.dataset, config.batch_size, config.data_seed)
        self.x, self.y = x.to(device=device, dtype=self.dtype), y.to(device)

    def __call__(self, chunk: list[int]) -> list[list[str]]:
        c = self.config
        # weights drawn on the CPU (no modules built), stacked there and moved to the device per layer
        nets = [nb201_weights(i, self.num_classes, channels=c.channels, cells=c.cells, seed=arch_seed(c.init_seed, i))
                for i in chunk]
        values = nb201_proxies_batched(nets, c.proxies, self.x, self.y, dtype=self.dtype)
        return [[str(i), str(space.from_index(i)),
                 *(repr(float(values[p][k])) if np.isfinite(values[p][k]) else "" for p in c.proxies)]
                for k, i in enumerate(chunk)]


_WORKER: _ChunkEvaluator | None = None  # one per worker process


def _worker_init(config: TableConfig, device: str, threads: int) -> None:
    global _WORKER
    torch.set_num_threads(threads)
    _WORKER = _ChunkEvaluator(config, device)


def _worker_rows(chunk: list[int]) -> list[list[str]]:
    assert _WORKER is not None
    return _WORKER(chunk)


def run_nb201_table(indices: Sequence[int], config: TableConfig, out: str | os.PathLike, *,
                    arch_batch: int = 1, progress: bool = True, device: str | torch.device = "cpu",
                    workers: int = 1) -> int:
    """Compute ``config.proxies`` for the NB201 archs ``indices`` into the CSV ``out``.

    Returns how many architectures this call computed (0 when everything was already there).
    ``device``: where the networks run (initial weights are drawn on the CPU, so a value does not
    depend on the device beyond floating-point rounding). ``workers`` > 1: that many processes
    share the archs, each with this process's torch threads divided among them (at least 1); rows
    are still written in ``indices`` order, each as soon as it and those before it are done.
    ``OutputInUse`` when another run holds ``out`` (its ``<out>.lock``)."""
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"{out} is a directory; --out names the CSV file to write")
    if out.suffix == ".gz":  # rows are appended and a torn last line cut byte-wise: plain text only
        raise ValueError(f"{out}: proxy tables are written as plain CSV (each row appended as it completes); "
                         "drop the .gz and gzip the table when it is done, as the shipped tables are")
    device = resolve_device(device)
    indices = [int(i) for i in indices]
    bad = [i for i in indices if not 0 <= i < space.NUM_ARCHS]
    if bad:
        raise ValueError(f"NB201 index {bad[0]} out of range 0..{space.NUM_ARCHS - 1}")
    if arch_batch < 1:
        raise ValueError(f"arch_batch must be >= 1, got {arch_batch}")
    if isinstance(workers, bool) or int(workers) != workers or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with hold_output(out, "proxy table"):  # held until the last row: a second run would append the same rows
        return _run_locked(indices, config, out, arch_batch, progress, device, workers)


def _run_locked(indices: list[int], config: TableConfig, out: Path, arch_batch: int, progress: bool,
                device: str | torch.device, workers: int) -> int:
    """``run_nb201_table`` once it holds the lock of ``out``."""
    _check_meta(out, config)
    header = ["index", "arch", *config.proxies]
    done: set[int] = set()
    if out.exists() and out.stat().st_size:
        _drop_partial_last_line(out)
        with open(out, newline="") as f:
            reader = csv.reader(f)
            lines = [(reader.line_num, r) for r in reader]
        if lines[0][1] != header:
            raise ValueError(f"{out} has columns {lines[0][1]}, expected {header}")
        for n, r in lines[1:]:
            if len(r) != len(header):
                continue
            if r == header:
                raise repeated_header(out, n)
            try:
                done.add(int(r[0]))
            except ValueError:
                raise ValueError(f"{out}:{n}: index {r[0]!r} is not an integer") from None
    todo = list(dict.fromkeys(i for i in indices if i not in done))
    if not todo:
        return 0
    chunks = [todo[k:k + arch_batch] for k in range(0, len(todo), arch_batch)]
    pool = None
    if workers > 1 and len(chunks) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: a forked child of a process whose OpenMP pool is running can hang
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init,
                                   initargs=(config, str(device), max(1, torch.get_num_threads() // workers)))
        results = pool.map(_worker_rows, chunks)
    else:
        results = map(_ChunkEvaluator(config, device), chunks)
    from tqdm.auto import tqdm

    new_file = not out.exists() or not out.stat().st_size
    try:
        with open(out, "a", newline="") as f, tqdm(total=len(todo), desc=f"proxies {config.dataset}", unit="arch",
                                                   disable=None if progress else True) as bar:  # None: tty only
            writer = csv.writer(f)
            if new_file:
                writer.writerow(header)
            for rows in results:
                writer.writerows(rows)
                f.flush()
                bar.update(len(rows))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return len(todo)

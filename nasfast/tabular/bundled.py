"""The benchmark tables shipped in ``nasfast/data`` (see ``nasfast/data/PROVENANCE.md``).

Each bundled column is declared once here: its canonical parts, unit, the ``.npz`` file and key it
comes from (the key is also accepted as an alias), and an optional conversion.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, overload

import numpy as np

from nasfast.data import data_path
from nasfast.tabular.benchmark import Benchmark, Loader
from nasfast.tabular.columns import ColumnInfo
from nasfast.tabular.keys import BytesKeys, HashKeys, NB201Keys

PROVENANCE = "nasfast/data/PROVENANCE.md"

C10V, C10, C100, IN16 = "cifar10-valid", "cifar10", "cifar100", "ImageNet16-120"
_TAG_DATASET = {"c10v": C10V, "c10": C10, "c100": C100, "in16": IN16}
#: NASLib's zero-cost proxies, in the order of the files' ``proxies`` arrays.
ZC_PROXIES: tuple[str, ...] = (
    "flops", "params", "synflow", "grasp", "fisher", "grad_norm", "l2_norm", "plain", "nwot", "epe_nas", "jacov", "snip",
)

NB201_MAIN = ("nb201", "nb201_200ep_nats_tss.npz")
NB201_12EP = ("nb201", "nb201_12ep_nats.npz")
NB201_ALT = ("nb201", "nb201_200ep_alt_versions.npz")
NB201_NASWOT = ("nb201", "nb201_zc_naswot_v1_all.npz")
NB201_ZC = ("nb201", "nb201_zc_naslib_725.npz")
NB201_SUPERNET = ("nb201", "nb201_supernet_oneshot_fewshot.npz")
NB201_CURVES = ("nb201", "nb201_curves_200ep_c10v_sample200.npz")
NB201_SPLITS = ("nb201", "nb201_data_splits.npz")
NB101_MAIN = ("nb101", "nb101_subset_30k.npz")
NB301_ZC = ("nb301", "nb301_zc_naslib.npz")


@functools.cache
def npz_array(file: tuple[str, str], key: str) -> np.ndarray:
    """One array of a bundled file, read once (``allow_pickle=False``: the files hold no objects)."""
    with np.load(data_path(*file), allow_pickle=False) as z:
        if key not in z.files:
            raise KeyError(f"{file[1]} has no array {key!r}; it has {z.files}")
        arr = z[key]
    arr.setflags(write=False)
    return arr


def _raw(file: tuple[str, str], key: str, scale: float = 1.0) -> Loader:
    if scale == 1.0:
        return lambda: npz_array(file, key)
    return lambda: npz_array(file, key) * scale


class _Columns:
    """Accumulates (info, loader) pairs, raw-key aliases and per-seed loaders of one table."""

    def __init__(self) -> None:
        self.columns: list[tuple[ColumnInfo, Loader]] = []
        self.aliases: dict[str, str] = {}
        self.seeds: dict[str, Loader] = {}

    def add(self, info: ColumnInfo, loader: Loader, raw: str | None = None, seeds: Loader | None = None) -> None:
        self.columns.append((info, loader))
        if raw is not None and raw != info.name:
            if raw in self.aliases:
                raise ValueError(f"alias {raw!r} declared twice")
            self.aliases[raw] = info.name
        if seeds is not None:
            self.seeds[info.name] = seeds


# ---- NAS-Bench-201 / NATS-Bench-TSS ------------------------------------------------------------

def _nb201_columns() -> _Columns:
    c = _Columns()
    acc = "percent"
    # 200-epoch schedule (hp=200), last epoch, seed mean. (tag, split, has per-seed array, description)
    main = [
        ("c10v", "valid", True, "CIFAR-10 x-valid (25k held-out train images), trained on 25k"),
        ("c10v", "test", False, "CIFAR-10 original test set (10k), trained on 25k"),
        ("c10", "test", False, "CIFAR-10 original test set (10k), trained on all 50k"),
        ("c100", "valid", True, "CIFAR-100 x-valid (5k of the test set)"),
        ("c100", "test", False, "CIFAR-100 x-test (the other 5k of the test set)"),
        ("c100", "oritest", True, "CIFAR-100 whole test set (10k)"),
        ("in16", "valid", True, "ImageNet16-120 x-valid (3k of the test set)"),
        ("in16", "test", False, "ImageNet16-120 x-test (the other 3k)"),
        ("in16", "oritest", True, "ImageNet16-120 whole test set (6k)"),
    ]
    for tag, split, has_seeds, text in main:
        raw = f"{tag}_{split}_acc"
        info = ColumnInfo(_TAG_DATASET[tag], "acc", split, 200, unit=acc, description=f"{text}, 200 ep, seed mean")
        seeds = _raw(NB201_MAIN, raw + "_seeds") if has_seeds else None
        c.add(info, _raw(NB201_MAIN, raw), raw, seeds)
    # 12-epoch schedule (hp=12), final epoch only (epochs 1..11 are not in the data).
    for tag, split in (("c10v", "valid"), ("c10", "test"), ("c100", "valid"), ("c100", "test"),
                      ("in16", "valid"), ("in16", "test")):
        raw = f"{tag}_{split}_acc_12ep"
        info = ColumnInfo(_TAG_DATASET[tag], "acc", split, 12, unit=acc, description="12-epoch schedule, final epoch, seed mean")
        c.add(info, _raw(NB201_12EP, raw), raw)
    c.add(ColumnInfo(None, "n_seeds", None, 200, description="training runs (seeds) behind each 200-epoch mean"),
          _raw(NB201_MAIN, "n_seeds"), "n_seeds")
    for tag in ("c10v", "c100", "in16"):
        ds = _TAG_DATASET[tag]
        c.add(ColumnInfo(ds, "train_time", None, 200, unit="s", description="total training time of the 200-epoch run"),
              _raw(NB201_MAIN, f"{tag}_train_time_total"), f"{tag}_train_time_total")
    c.add(ColumnInfo(C10V, "train_time", None, 12, unit="s", description="cost of the 12-epoch schedule (= 12 x time per epoch)"),
          _raw(NB201_12EP, "c10v_train_time_12ep"), "c10v_train_time_12ep")
    c.add(ColumnInfo(C10V, "train_time_per_epoch", None, 200, unit="s", description="mean training time per epoch"),
          _raw(NB201_MAIN, "c10v_train_time_per_epoch"), "c10v_train_time_per_epoch")
    for tag in ("c10v", "c100", "in16"):
        ds = _TAG_DATASET[tag]
        c.add(ColumnInfo(ds, "params_mb", unit="MB", description="parameter count (millions)"),
              _raw(NB201_MAIN, f"{tag}_params_mb"), f"{tag}_params_mb")
    for tag in ("c10v", "c100", "in16"):
        ds = _TAG_DATASET[tag]
        c.add(ColumnInfo(ds, "latency", unit="s", description="NATS latency field (identical across seeds)"),
              _raw(NB201_MAIN, f"{tag}_latency"), f"{tag}_latency")
    extra = [("loss", "train", "c10v_train_loss", ""), ("acc", "train", "c10v_train_acc", acc),
             ("loss", "valid", "c10v_valid_loss", ""), ("loss", "test", "c10v_test_loss", ""),
             ("eval_time", "valid", "c10v_valid_eval_time_total", "s"),
             ("eval_time", "test", "c10v_test_eval_time_total", "s")]
    for metric, split, raw, unit in extra:
        c.add(ColumnInfo(C10V, metric, split, 200, unit=unit, description="200 ep, seed mean"), _raw(NB201_MAIN, raw), raw)
    # Zero-cost score for every arch: NASWOT v1 (= jacob_cov), on CIFAR-10 batches of 256.
    c.add(ColumnInfo(C10, "naswot_v1", description="NASWOT v1 / jacob_cov score; NaN for the 341 archs with no input-output path"),
          _raw(NB201_NASWOT, "naswot_v1_score"), "naswot_v1_score")
    # Older NB201 releases, for cross-checks only.
    alt = [(C10V, "valid", "v1.1", "v11_c10v_valid_acc"), (C10V, "test", "v1.1", "v11_c10v_test_acc"),
           (C10, "test", "v1.1", "v11_c10_test_acc"), (C10, "test", "v1.0", "robot_c10_test_acc"),
           (C100, "test", "v1.0", "robot_c100_test_acc"), (IN16, "test", "v1.0", "robot_in16_test_acc")]
    for ds, split, version, raw in alt:
        c.add(ColumnInfo(ds, "acc", split, 200, version, unit=acc, description=f"NB201 API {version} data (cross-check only)"),
              _raw(NB201_ALT, raw), raw)
    c.add(ColumnInfo(C10V, "params_mb", version="v1.1", unit="MB", description="parameter count in NB201 v1.1 data"),
          _raw(NB201_ALT, "v11_params_mb"), "v11_params_mb")
    # The NASWOT file's own params_mb column is identical to v11_params_mb (max |diff| 0), so share it.
    c.aliases["params_mb"] = c.aliases["v11_params_mb"]
    c.add(ColumnInfo(C10, "acc", "test", 200, "v1.1-2dp", unit=acc, description="ground truth of the Few-Shot NAS files (2 decimals)"),
          _raw(NB201_SUPERNET, "gt_c10_test_acc_2dp"), "gt_c10_test_acc_2dp")
    for kind in ("oneshot", "fewshot"):
        c.add(ColumnInfo(C10, f"{kind}_supernet_acc", unit=acc, description=f"accuracy with weights inherited from a {kind} super-net"),
              _raw(NB201_SUPERNET, f"{kind}_supernet_acc"), f"{kind}_supernet_acc")
    # NAS-Bench-Suite-Zero proxies on a 725-arch subset (724 for ImageNet16-120): NaN elsewhere.
    for tag in ("c10", "c100", "in16"):
        ds = _TAG_DATASET[tag]
        c.add(ColumnInfo(ds, "naslib_acc", unit=acc,
                         description="NASLib's accuracy label of the zero-cost subset (single seed, test-like split); NaN outside it"),
              _scatter_zc(tag, "val_accuracy"), f"{tag}_val_accuracy")
        for proxy in ZC_PROXIES:
            c.add(ColumnInfo(ds, f"zc_{proxy}", description="NAS-Bench-Suite-Zero proxy; NaN outside its subset "
                             "and where NASLib stored a failure marker (-inf, -1e8)"),
                  _scatter_zc(tag, proxy, failures_as_nan=True), f"{tag}_{proxy}")
        for proxy in ZC_PROXIES:
            c.add(ColumnInfo(ds, f"zc_{proxy}_time", unit="s", description="time to compute the proxy; NaN outside the subset"),
                  _scatter_zc(tag, f"{proxy}_time"), f"{tag}_{proxy}_time")
    return c


#: what NAS-Bench-Suite-Zero stores where a proxy failed: -1e8 (jacov, epe_nas) and -inf (nwot of
#: the cell with no input->output path); as values they would wreck a mean or a regression
ZC_FAILURE_MARKER = -1e8


def _scatter_zc(tag: str, key: str, failures_as_nan: bool = False) -> Loader:
    def load() -> np.ndarray:
        out = np.full(15625, np.nan)
        values = npz_array(NB201_ZC, f"{tag}_{key}").astype(np.float64)
        if failures_as_nan:
            values = np.where(np.isfinite(values) & (values != ZC_FAILURE_MARKER), values, np.nan)
        out[npz_array(NB201_ZC, f"{tag}_index")] = values
        return out

    return load


def _nb201_archs() -> list[Any]:
    from nasfast.spaces import nb201

    return nb201.all_archs()


def _load_nb201() -> Benchmark:
    from nasfast.spaces import nb201

    cols = _nb201_columns()
    keys = NB201Keys(nb201._code_to_index(), "nb201")  # rows are NB201 indices
    return Benchmark("nb201", "nb201", nb201.NUM_ARCHS, keys, cols.columns, aliases=cols.aliases, seeds=cols.seeds,
                     archs=_nb201_archs, default_epochs=200, provenance=PROVENANCE)


def nb201_curves() -> dict[str, np.ndarray]:
    """Per-epoch cifar10-valid curves of NB201 archs 0..199 (200-epoch schedule, seed mean).

    Keys: ``index`` (200,), ``c10v_valid_acc_curve`` and ``c10v_train_acc_curve`` (200 archs, 200
    epochs; column e is the accuracy after epoch e+1, percent), ``zc_*`` proxies of those archs.
    Rows are sorted by NB201 index (the file stores them in another order), so row i is arch i.
    """
    with np.load(data_path(*NB201_CURVES), allow_pickle=False) as z:
        order = np.argsort(z["index"], kind="stable")
        return {k: z[k][order] for k in z.files}


def nb201_data_split(name: str) -> np.ndarray:
    """An NB201 data-split index list (int32), e.g. ``cifar10_trainset_valid``: the 25k CIFAR-10
    training images that form cifar10-valid's x-valid split. Names: see ``PROVENANCE.md``."""
    return npz_array(NB201_SPLITS, name)


# ---- NAS-Bench-101 (30k subset) ---------------------------------------------------------------

class LazyArchs(Sequence[Any]):
    """A read-only sequence that builds the arch of a row on first access (NB101 ``Spec``
    construction validates the graph, ~0.3 ms each: too slow to do for 30k rows up front)."""

    def __init__(self, size: int, build: Callable[[int], Any]) -> None:
        self._items: list[Any] = [None] * size
        self._build = build

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, i: int) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> list[Any]: ...
    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        item = self._items[i]
        if item is None:
            item = self._items[i] = self._build(i % len(self._items))
        return item


def _nb101_archs() -> Sequence[Any]:
    from nasfast.spaces import nb101

    # The stored labels are nb101's own (-3 padding after the output), so rows go in unchanged.
    adjacency = npz_array(NB101_MAIN, "adjacency")
    ops = npz_array(NB101_MAIN, "ops")
    return LazyArchs(len(ops), lambda i: nb101.Spec(adjacency[i], ops[i]))


def _load_nb101() -> Benchmark:
    c = _Columns()
    for ep in (4, 12, 36, 108):
        c.add(ColumnInfo(C10, "acc", "valid", ep, unit="percent",
                         description=f"validation accuracy after {ep} epochs (stored as a fraction, x100 here), one "
                                     "value per arch (behaves like the best of NB101's 3 repeats: PROVENANCE.md)"),
              _raw(NB101_MAIN, f"valid_acc_{ep}ep", 100.0), f"valid_acc_{ep}ep")
    c.add(ColumnInfo(C10, "params", unit="count", description="trainable parameters"),
          _raw(NB101_MAIN, "trainable_parameters"), "trainable_parameters")
    c.add(ColumnInfo(C10, "train_time", None, 108, unit="s", description="training time of the 108-epoch run"),
          _raw(NB101_MAIN, "train_time_108ep"), "train_time_108ep")
    keys = HashKeys(npz_array(NB101_MAIN, "key").tolist(), "nb101 (30k subset)", "nb101")
    return Benchmark("nb101", "nb101", len(keys.keys), keys, c.columns, aliases=c.aliases,
                     archs=_nb101_archs, default_epochs=108, provenance=PROVENANCE)


# ---- NAS-Bench-301 (DARTS space; surrogate predictions, 725 genotypes) -----------------------

def _nb301_archs() -> list[Any]:
    from nasfast.spaces import darts

    return [darts.from_compact(g) for g in npz_array(NB301_ZC, "genotype")]


def _load_nb301() -> Benchmark:
    c = _Columns()
    c.add(ColumnInfo(C10, "surrogate_acc", unit="percent",
                     description="NAS-Bench-301 SURROGATE prediction of CIFAR-10 validation accuracy (not a trained value)"),
          _raw(NB301_ZC, "val_accuracy"), "val_accuracy")
    for proxy in ZC_PROXIES:
        c.add(ColumnInfo(C10, f"zc_{proxy}", description="NAS-Bench-Suite-Zero proxy"), _raw(NB301_ZC, proxy), proxy)
    for proxy in ZC_PROXIES:
        c.add(ColumnInfo(C10, f"zc_{proxy}_time", unit="s", description="time to compute the proxy"),
              _raw(NB301_ZC, f"{proxy}_time"), f"{proxy}_time")
    keys = BytesKeys(npz_array(NB301_ZC, "genotype"), "nb301 (725 genotypes)", "darts")
    return Benchmark("nb301", "darts", len(keys.keys), keys, c.columns, aliases=c.aliases,
                     archs=_nb301_archs, provenance=PROVENANCE)


_LOADERS: dict[str, Callable[[], Benchmark]] = {"nb201": _load_nb201, "nb101": _load_nb101, "nb301": _load_nb301}
_NAME_ALIASES = {"nasbench201": "nb201", "nas-bench-201": "nb201", "nats-tss": "nb201", "natsbench-tss": "nb201",
                 "nasbench101": "nb101", "nas-bench-101": "nb101", "nasbench301": "nb301", "nas-bench-301": "nb301",
                 "darts": "nb301"}


def benchmark_names() -> list[str]:
    return list(_LOADERS)


@functools.cache
def _load_cached(name: str) -> Benchmark:
    return _LOADERS[name]()


def load(name: str) -> Benchmark:
    """A bundled benchmark: ``"nb201"`` (all 15,625 cells, NATS-Bench-TSS data), ``"nb101"`` (a
    30,001-arch subset of NAS-Bench-101) or ``"nb301"`` (725 DARTS genotypes; accuracies are
    NAS-Bench-301 surrogate predictions). Cached: every call with one name returns one object."""
    if not isinstance(name, str):
        raise TypeError(f"benchmark name must be a string (one of {benchmark_names()}), got {name!r}")
    key = name.strip().lower()
    key = _NAME_ALIASES.get(key, key)
    if key not in _LOADERS:
        raise ValueError(f"unknown benchmark {name!r}; bundled: {benchmark_names()}")
    return _load_cached(key)

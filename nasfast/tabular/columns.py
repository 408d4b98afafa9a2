"""Column names of benchmark tables, and choosing one from (dataset, metric, split, epochs).

A canonical name is built from its parts::

    {dataset}/{metric}[/{split}][/{epochs}ep][@{version}]

e.g. ``cifar10-valid/acc/valid/200ep``, ``cifar100/acc/oritest/200ep``, ``cifar10-valid/params_mb``,
``cifar10/acc/test/200ep@v1.1``. Parts a quantity does not have are left out (a parameter count
has no split and no epochs). A few columns belong to no dataset (``n_seeds/200ep``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: The four NB201 datasets. ``cifar10-valid`` is CIFAR-10 trained on the 25k train half, so that the
#: other 25k training images are its ``valid`` split; ``cifar10`` is trained on all 50k and has
#: only a ``test`` split.
DATASETS: tuple[str, ...] = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")

_DATASET_ALIASES: dict[str, str] = {
    "cifar10-valid": "cifar10-valid",
    "c10v": "cifar10-valid",
    "cifar10": "cifar10",
    "c10": "cifar10",
    "cifar100": "cifar100",
    "c100": "cifar100",
    "imagenet16-120": "ImageNet16-120",
    "imagenet16": "ImageNet16-120",
    "imagenet": "ImageNet16-120",
    "in16": "ImageNet16-120",
    "in16-120": "ImageNet16-120",
}

_SPLIT_ALIASES: dict[str, str] = {
    "valid": "valid",
    "val": "valid",
    "x-valid": "valid",
    "xvalid": "valid",
    "test": "test",
    "x-test": "test",
    "xtest": "test",
    "oritest": "oritest",
    "ori-test": "oritest",
    "train": "train",
}

_METRIC_ALIASES: dict[str, str] = {"accuracy": "acc", "acc": "acc", "params": "params"}


def canonical_dataset(name: str) -> str:
    """``'in16'`` -> ``'ImageNet16-120'``; unknown names raise ``ValueError`` listing the known ones."""
    key = name.strip().lower()
    if key not in _DATASET_ALIASES:
        raise ValueError(f"unknown dataset {name!r}; expected one of {list(DATASETS)} (or c10v, c10, c100, in16)")
    return _DATASET_ALIASES[key]


def canonical_split(name: str) -> str:
    key = name.strip().lower()
    return _SPLIT_ALIASES.get(key, key)


def canonical_epochs(epochs: int | str | None) -> int | None:
    """``200``, ``"200"`` and ``"200ep"`` all mean 200."""
    if epochs is None:
        return None
    if isinstance(epochs, str):
        text = epochs.strip().lower().removesuffix("ep")
        if not text.isdigit():
            raise ValueError(f"epochs must be an int or like '200ep', got {epochs!r}")
        return int(text)
    return int(epochs)


@dataclass(frozen=True)
class ColumnInfo:
    """What one column holds. ``name`` is derived from the other fields unless given."""

    dataset: str | None
    metric: str
    split: str | None = None
    epochs: int | None = None
    version: str | None = None
    unit: str = ""
    description: str = ""
    name: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", make_name(self.dataset, self.metric, self.split, self.epochs, self.version))


def make_name(
    dataset: str | None,
    metric: str,
    split: str | None = None,
    epochs: int | None = None,
    version: str | None = None,
) -> str:
    parts = [p for p in (dataset, metric, split) if p]
    if epochs is not None:
        parts.append(f"{epochs}ep")
    name = "/".join(parts)
    return f"{name}@{version}" if version else name


def parse_name(name: str) -> ColumnInfo:
    """Best-effort reading of a column name (used for users' CSV headers).

    ``'cifar100/acc/valid/200ep'`` gives its four parts; a name that does not start with a known
    dataset is kept whole as the metric (``'my_score'`` -> metric ``'my_score'``, no dataset).
    """
    body, _, version = name.partition("@")
    parts = body.split("/")
    try:
        dataset = canonical_dataset(parts[0]) if len(parts) > 1 else None
    except ValueError:
        dataset = None
    if dataset is None:
        return ColumnInfo(dataset=None, metric=name, name=name)
    rest = parts[1:]
    epochs = None
    if len(rest) > 1 and rest[-1].lower().endswith("ep") and rest[-1][:-2].isdigit():
        epochs = int(rest[-1][:-2])
        rest = rest[:-1]
    metric = rest[0] if rest else ""
    split = canonical_split("/".join(rest[1:])) if len(rest) > 1 else None
    return ColumnInfo(dataset, metric, split, epochs, version or None, name=name)


def resolve_column(
    infos: Iterable[ColumnInfo],
    dataset: str,
    metric: str = "acc",
    split: str | None = None,
    epochs: int | str | None = None,
    version: str | None = None,
    default_epochs: int | None = None,
) -> str:
    """The one column matching the request; ``ValueError`` listing the candidates otherwise.

    Rules (documented on ``Benchmark.resolve``): ``epochs=None`` means the table's full budget
    (``default_epochs``) or a quantity without epochs; ``version=None`` means the main release;
    ``cifar10`` with ``split='valid'`` falls back to ``cifar10-valid`` (cifar10 has no valid
    split); ``cifar10`` with no split matches both CIFAR-10 datasets.

    Mind the pair this makes for CIFAR-10: ``split='valid'`` is ``cifar10-valid`` (trained on 25k
    images) while ``split='test'`` is ``cifar10`` (trained on 50k), two different training runs.
    RANK-NOSH's and arch2vec's reporting rule uses that pair on purpose; ProxyBO's convention is
    ``cifar10-valid`` for both (its test error near 9 % rather than 6 %, notes/nb201-baselines.md).
    Ask for ``dataset='cifar10-valid'`` to keep both in one run.
    """
    infos = list(infos)
    ds = canonical_dataset(dataset)
    metric_c = _METRIC_ALIASES.get(metric.strip().lower(), metric.strip())
    split_c = canonical_split(split) if split is not None else None
    if split_c == "oritest" and ds in ("cifar10", "cifar10-valid"):
        split_c = "test"  # CIFAR-10's test split is the whole original test set already
    ep = canonical_epochs(epochs)

    def matches(info: ColumnInfo, datasets: tuple[str, ...]) -> bool:
        if info.dataset not in datasets or info.metric.lower() != metric_c.lower():
            return False
        if info.version != version:
            return False
        if split_c is not None and info.split != split_c:
            return False
        if ep is None:
            return info.epochs is None or default_epochs is None or info.epochs == default_epochs
        return info.epochs == ep

    datasets: tuple[str, ...] = (ds,)
    if ds == "cifar10" and split_c is None:
        datasets = ("cifar10", "cifar10-valid")
    found = [i.name for i in infos if matches(i, datasets)]
    if not found and ds == "cifar10" and split_c is not None:
        # NB201's cifar10 has no valid split: CIFAR-10 x-valid numbers live under cifar10-valid.
        found = [i.name for i in infos if matches(i, ("cifar10-valid",))]
    if len(found) == 1:
        return found[0]
    request = f"dataset={dataset!r}, metric={metric!r}, split={split!r}, epochs={epochs!r}, version={version!r}"
    if not found:
        near = sorted(i.name for i in infos if i.dataset in datasets or i.dataset == "cifar10-valid" and ds == "cifar10")
        raise ValueError(f"no column matches {request}; columns of this dataset: {near[:40]}")
    raise ValueError(f"{request} is ambiguous; choose one of {sorted(found)} (pass split=/epochs=, or use the name)")

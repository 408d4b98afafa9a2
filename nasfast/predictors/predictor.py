"""``GATESPredictor``: fit a ranking predictor on (architecture, accuracy) data, score new ones."""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasfast.device import resolve_device
from nasfast.predictors import network
from nasfast.predictors.encoding import Encoded, batch_size, take, to_device
from nasfast.predictors.network import PredictorNet
from nasfast.predictors.train import Progress, train
from nasfast.validation import check_positive_int, check_seed

_FORMAT = "nasfast.GATESPredictor/1"


class GATESPredictor:
    """A GATES (or baseline) architecture predictor trained with a learning-to-rank loss.

    Args:
        space: "nb101", "nb201" or "darts".
        encoder: "gates" (REFERENCES A1.2-A1.4), or a baseline of the paper's encoder table:
            "mlp", "gcn", "gcn_global" (``nasfast.predictors.baselines``).
        loss: "hinge" (paper default, margin 0.1), "bce", "comparator" (pairwise comparator head,
            scored by win rate against fixed references), "listmle", "regression" (MSE on sigmoid).
        device: where the network lives ("cpu", "cuda", ...).
        **config: overrides of ``network.DEFAULTS[space]`` and ``network.COMMON`` (e.g.
            ``layers=(64, 64)``, ``epochs=50``, ``batch_size=128``, ``plus_I=True``).

    Architectures: NB101 ``Spec`` objects or an ``(adjacency, ops)`` pair of arrays (B x N x N,
    B x N, our labels, raw or pruned: they are pruned before encoding); NB201 ``NB201Arch`` /
    arch strings / benchmark indices, or a (B, 6) array of op indices; DARTS ``Genotype`` objects
    or a (B, 2, 8, 2) compact array.

    Example:
        >>> import numpy as np
        >>> from nasfast import GATESPredictor, tabular
        >>> b = tabular.load("nb201")
        >>> acc = b.column("cifar10-valid/acc/valid/200ep")
        >>> idx = np.arange(0, 15625, 50)
        >>> p = GATESPredictor("nb201", layers=(32, 32), mlp_hidden=(32,), epochs=2).fit(idx, acc[idx])
        >>> p.score(np.arange(10)).shape
        (10,)
    """

    def __init__(self, space: str, encoder: str = "gates", loss: str = "hinge", *,
                 device: str | torch.device = "cpu", **config: Any) -> None:
        self.space, self.encoder, self.loss = space, encoder, loss
        self.config = network.resolve_config(space, encoder, loss, config)
        self.device = resolve_device(device)
        self.history: list[float] = []
        self._trained = False
        self.net = self._build(int(self.config["seed"]))

    def _build(self, seed: int) -> PredictorNet:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return PredictorNet(self.space, self.encoder, self.loss, self.config).to(self.device)

    def encode(self, archs: Any) -> Encoded:
        """The network's input tensors for ``archs`` (on the CPU). A list of texts is read as
        ``nasfast score --archs`` reads its lines (NB201 strings or indices, DARTS genotype text or
        compact JSON, NB101 ``{"matrix": ..., "ops": ...}`` JSON), so the API takes what the CLI takes."""
        if isinstance(archs, (list, tuple)) and archs and all(isinstance(a, str) for a in archs):
            from nasfast.predictors import scoring

            rows = []
            for i, text in enumerate(archs):
                try:
                    rows.append(scoring._parse_arch(self.space, text.strip()))
                except (ValueError, TypeError, KeyError) as err:
                    raise ValueError(f"archs[{i}]: invalid {self.space} architecture {text[:120]!r}: {err}") from None
            archs = scoring._stack(self.space, rows)
        return network.encode(self.space, self.encoder, archs)

    def fit(self, archs: Any, accuracies: Any, epochs: int | None = None, seed: int | None = None,
            progress: Progress = None, warm_start: bool = False) -> GATESPredictor:
        """Train on ``archs`` with true ``accuracies`` (higher = better; any scale for the ranking
        losses; for "regression" they are divided by ``acc_scale``, "auto" = 100 when some
        accuracy exceeds 1, since the loss compares them with a sigmoid).

        A fresh network is initialised from ``seed`` (default ``config["seed"]``) unless
        ``warm_start``. ``progress``: True for a progress bar, or a callable(epoch, mean loss).
        Returns self; ``history`` holds the mean loss per epoch.
        """
        seed = int(self.config["seed"]) if seed is None else check_seed(seed)
        epochs = check_positive_int(self.config["epochs"] if epochs is None else epochs, "epochs")
        acc = np.asarray(accuracies.detach().cpu() if isinstance(accuracies, torch.Tensor) else accuracies,
                         dtype=np.float64).reshape(-1)
        enc = self.encode(archs)
        if batch_size(enc) != len(acc):
            raise ValueError(f"got {batch_size(enc)} architectures but {len(acc)} accuracies")
        bad = np.flatnonzero(~np.isfinite(acc))
        if bad.size:
            raise ValueError(f"accuracies contain {bad.size} NaN/inf value(s), the first at index {bad[0]}; "
                             "drop those architectures before fitting")
        if len(acc) < 2:
            raise ValueError(f"need at least 2 architectures to fit, got {len(acc)}")
        if self.loss != "regression":  # a ranking loss learns from archs that differ by more than the threshold
            spread, thr = float(acc.max() - acc.min()), float(self.config["compare_threshold"])
            if not spread > thr:
                raise ValueError(f"no training pair: the accuracies span {spread:.3g}, not more than "
                                 f"compare_threshold {thr:g} (all equal?), so the {self.loss} loss has nothing to rank")
        if self.loss == "regression":
            acc = acc / self._acc_scale(acc)
        # a fit that fails part-way leaves the predictor as it was (not "fitted" with a fresh net)
        before = (copy.deepcopy(self.net) if warm_start else self.net, self._trained, self.history)
        try:
            self._fit(enc, acc, seed, epochs, progress, warm_start)
        except BaseException:  # Ctrl-C too: an interrupted fit must not leave half-trained weights
            self.net, self._trained, self.history = before
            raise
        if self.loss == "regression":
            self._warn_if_saturated(to_device(enc, self.device), acc)
        return self

    def _fit(self, enc: Encoded, acc: np.ndarray, seed: int, epochs: int, progress: Progress,
             warm_start: bool) -> None:
        if not warm_start:
            self.net = self._build(seed)
        self._trained = True  # from the first epoch on, so that a progress callback may score
        cfg = self.config
        with torch.random.fork_rng(devices=[] if self.device.type == "cpu" else [self.device]):
            torch.manual_seed(seed)
            if self.loss == "comparator":
                refs = _references(acc, int(cfg["num_references"]), cfg["reference_choice"], seed)
                self.net.set_references(take(enc, np.sort(refs)))
            self.history = train(
                self.net, to_device(enc, self.device), acc, loss=self.loss, epochs=epochs,
                batch_size=int(cfg["batch_size"]), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]),
                margin=float(cfg["margin"]), max_compare_ratio=float(cfg["max_compare_ratio"]),
                compare_threshold=float(cfg["compare_threshold"]), pair_choice=cfg["pair_choice"],
                list_length=int(cfg["list_length"]), listmle_reduction=cfg["listmle_reduction"],
                score_per=cfg["score_per"], seed=seed, progress=progress)

    #: regression scores beyond this are in sigmoid's flat tail (gradient < 5e-5): training has stalled
    SATURATED_SCORE = 10.0

    @torch.no_grad()
    def _warn_if_saturated(self, enc: Encoded, acc: np.ndarray) -> None:
        """Warn when a regression fit ended with most training scores in sigmoid's flat tail.

        With the paper's Adam (lr 1e-3) the first steps push every score up together toward the
        labels' logit (~2.3 for 91 %) and momentum carries them far past it; once sigmoid(s) is ~1
        for every arch its gradient vanishes and the loss stays at mean((1 - acc)^2) for good. It
        happened in 11 of the 15 NB101 reproduction runs (reproductions/gates-nb101.md); those runs
        rank the archs by noise in a flat tail."""
        self.net.eval()
        s = torch.cat([self.net.score(take(enc, slice(k, k + 4096)), None)
                       for k in range(0, batch_size(enc), 4096)]).double().cpu().numpy()
        frac = float(np.mean(np.abs(s) > self.SATURATED_SCORE))
        if frac > 0.5:
            warnings.warn(
                f"regression fit saturated: {frac:.0%} of the training architectures score |s| > "
                f"{self.SATURATED_SCORE:g}, where sigmoid's gradient is below 5e-5, so training stalled "
                f"(final loss {self.history[-1]:.3g}; a constant at the mean label would give "
                f"{float(np.var(acc)):.3g}). Adam's first steps overshot the labels' logit; the scores carry "
                "little ranking information. Try another seed, a lower lr, or a ranking loss.",
                RuntimeWarning, stacklevel=4)  # past fit() and no_grad's wrapper, at fit's caller

    def _acc_scale(self, acc: np.ndarray) -> float:
        scale = self.config["acc_scale"]
        if scale == "auto":
            return 100.0 if acc.max() > 1.0 else 1.0
        return float(scale)

    @torch.no_grad()
    def score(self, archs: Any, chunk_size: int = 16384, micro_batch: int = 4096) -> np.ndarray:
        """Scores (float64, higher = better) of ``archs``, computed ``chunk_size`` archs at a time.

        The network always sees micro-batches of exactly ``micro_batch`` archs at positions that
        are multiples of it (the last one padded by repetition), and ``chunk_size`` is rounded up
        to a multiple of it: float32 BLAS may round a row differently with the batch shape, and
        this makes the scores bit-identical for every ``chunk_size``. The defaults were the fastest
        on 2 CPU threads (423,624 NB101 specs in 2.4 s; benchmarks/RESULTS.md).
        """
        if chunk_size < 1 or micro_batch < 1:
            raise ValueError(f"chunk_size and micro_batch must be positive, got {chunk_size}, {micro_batch}")
        if not self.fitted:
            warnings.warn("GATESPredictor.score() before fit(): these are the untrained network's scores "
                          "(call fit(), or load() a trained model)", RuntimeWarning,
                          stacklevel=3)  # past no_grad's wrapper, at the caller
        chunk_size = -(-chunk_size // micro_batch) * micro_batch
        self.net.eval()
        if self.loss == "comparator" and batch_size(self.net.references()) == 0:
            raise ValueError("a comparator scores an arch by its win rate against training archs, and this one "
                             "has none yet: fit() it first (or load() a trained model)")
        ref_emb = self.net.embed(self.net.references()) if self.loss == "comparator" else None
        n, pieces = _raw_pieces(self.space, archs, chunk_size)
        scores_of_pieces = []
        for start, piece in pieces:  # encoded a chunk at a time: its temporaries stay in cache
            try:
                enc = self.encode(piece)
            except ValueError as exc:
                if start == 0:
                    raise
                raise ValueError(f"{exc} (numbered within the chunk that starts at arch {start})") from exc
            for s in range(0, batch_size(enc), chunk_size):
                m = min(chunk_size, batch_size(enc) - s)
                idx = np.concatenate([np.arange(s, s + m), np.full(-(-m // micro_batch) * micro_batch - m, s + m - 1)])
                chunk = to_device(take(enc, idx), self.device)
                scores = [self.net.score(take(chunk, slice(k, k + micro_batch)), ref_emb)
                          for k in range(0, len(idx), micro_batch)]
                scores_of_pieces.append(torch.cat(scores)[:m].double().cpu().numpy())
        out = np.concatenate(scores_of_pieces) if scores_of_pieces else np.empty(0, dtype=np.float64)
        if n is not None and len(out) != n:  # pragma: no cover - a slicing bug, never a user error
            raise AssertionError(f"scored {len(out)} archs, expected {n}")
        return out

    @property
    def fitted(self) -> bool:
        """Whether the network has been trained: by ``fit`` (true from its first epoch on, so that a
        progress callback may score), or before the ``save`` that ``load`` read."""
        return self._trained

    def to(self, device: str | torch.device) -> GATESPredictor:
        self.device = resolve_device(device)
        self.net.to(self.device)
        return self

    def save(self, path: str | os.PathLike) -> None:
        """State dict + config, loadable with ``torch.load(weights_only=True)``."""
        target = Path(path)  # torch's own message for these reads "[enforce fail at inline_container.cc]"
        if target.is_dir():
            raise IsADirectoryError(f"cannot save the predictor to {target}: it is a directory; give a file path")
        if not target.parent.is_dir():
            raise FileNotFoundError(f"cannot save the predictor to {target}: no directory {target.parent}")
        torch.save({"format": _FORMAT, "space": self.space, "encoder": self.encoder, "loss": self.loss,
                    "config": self.config, "history": list(self.history),
                    "state_dict": {k: v.cpu() for k, v in self.net.state_dict().items()}}, path)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> GATESPredictor:
        name = repr(os.fspath(path))
        try:
            damaged = _damaged_zip_member(path)
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as err:  # a truncated or foreign file fails in zipfile, pickle or struct
            raise ValueError(f"{name} is not a readable saved GATESPredictor: torch.load failed "
                             f"with {type(err).__name__} (a truncated or foreign file?)") from err
        if damaged is not None:  # torch.load does not check the CRCs: damaged weights would load silently
            raise ValueError(f"{name} is damaged: its member {damaged!r} fails its checksum; save the model again")
        if not isinstance(blob, dict) or blob.get("format") != _FORMAT:
            found = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
            raise ValueError(f"{name} is not a saved GATESPredictor (format {_FORMAT}; found {found!r})")
        missing = [k for k in ("space", "encoder", "loss", "config", "history", "state_dict") if k not in blob]
        if missing:
            raise ValueError(f"{name} is an incomplete saved GATESPredictor: no {', '.join(missing)}")
        self = cls(blob["space"], blob["encoder"], blob["loss"], device=device, **blob["config"])
        try:
            self.net.load_state_dict(blob["state_dict"])
        except RuntimeError as err:  # torch's message lists every mismatched tensor over many lines
            first = str(err).strip().splitlines()[1:2] or [str(err)]
            raise ValueError(f"{name}: its weights do not fit the network its config describes ({first[0].strip()})"
                             ) from None
        self.net.to(self.device)
        self.history = list(blob["history"])
        self._trained = bool(self.history)
        return self

    def __repr__(self) -> str:
        return f"GATESPredictor(space={self.space!r}, encoder={self.encoder!r}, loss={self.loss!r})"


def _raw_pieces(space: str, archs: Any, size: int) -> tuple[int | None, Any]:
    """(count, (start, piece) for pieces of at most ``size`` archs) for the large-array inputs (an NB101 ``(adjacency,
    ops)`` batch, an NB201 index or op-index array, a (B, 2, 8, 2) DARTS array); anything else is
    one piece (count None: known after encoding)."""
    if space == "nb101" and isinstance(archs, tuple) and len(archs) == 2 and getattr(archs[1], "ndim", 0) == 2:
        n = len(archs[1])
        return n, ((s, (archs[0][s:s + size], archs[1][s:s + size])) for s in range(0, n, size))
    if isinstance(archs, (np.ndarray, torch.Tensor)) and (
            (space == "nb201" and archs.ndim >= 1) or (space == "darts" and archs.ndim == 4)):
        n = len(archs)
        return n, ((s, archs[s:s + size]) for s in range(0, n, size))
    return None, iter([(0, archs)])


def _references(acc: np.ndarray, n: int, choice: str, seed: int) -> np.ndarray:
    """Sorted indices of the comparator's fixed references among the training archs: ``n`` at random,
    or the ``n`` best ("top"; ties to the lower index). Win rates against random references saturate
    at 1 for every good arch, so a search that wants the very best (RANK-NOSH's proposal) asks for
    the top ones, against which the good archs still differ."""
    if choice == "random":
        refs = np.random.default_rng(seed).permutation(len(acc))[:n]
    elif choice == "top":
        refs = np.lexsort((np.arange(len(acc)), -acc))[:n]
    else:
        raise ValueError(f"reference_choice must be 'random' or 'top', got {choice!r}")
    return np.sort(refs)


def _damaged_zip_member(path: str | os.PathLike) -> str | None:
    """The first member of a torch zip archive whose CRC-32 does not match (None when all do, or when
    the file is not a zip, which ``torch.load`` then reports)."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        return archive.testzip()

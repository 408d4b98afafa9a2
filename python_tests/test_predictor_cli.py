"""``nasfast train-predictor`` and ``nasfast score`` (run in-process through ``cli.main``), and the
streaming helpers behind them (``nasfast.predictors.scoring``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from nasfast import predictor_commands
from nasfast.cli import main
from nasfast.predictors import encoding, network, scoring
from nasfast.spaces import darts, nb101, nb201


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([*argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def read_top(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def nb201_table(path: Path, n: int, seed: int = 0) -> Path:
    """A user CSV of ``n`` NB201 archs with made-up accuracies (training on a few hundred rows keeps
    the tests fast; the bundled table would score 15k held-out rows)."""
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["arch", "my_acc"])
        for i in rng.choice(nb201.NUM_ARCHS, n, replace=False):
            w.writerow([str(nb201.from_index(int(i))), f"{rng.random():.4f}"])
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    out = {"nb201": d / "nb201.pt", "darts": d / "darts.pt"}
    assert main(["train-predictor", "--space", "nb201", "--table", str(nb201_table(d / "t.csv", 300)), "--epochs",
                 "2", "--out", str(out["nb201"]), "--no-progress"]) == 0
    assert main(["train-predictor", "--space", "darts", "--epochs", "1", "--out", str(out["darts"]),
                 "--no-progress"]) == 0
    return out


def test_train_predictor_reports(tmp_path, capsys):
    code, out, _ = run(capsys, "train-predictor", "--space", "darts", "--table", "nb301", "--epochs", "1",
                       "--train-size", "100", "--seed", "3", "--out", str(tmp_path / "m.pt"), "--no-progress")
    assert code == 0
    assert "100 of 725 rows of nb301 (cifar10/surrogate_acc)" in out
    assert "train size:          100" in out and "training time:" in out
    assert "held-out Kendall tau:" in out and "other 625 rows" in out
    assert (tmp_path / "m.pt").is_file()


def test_train_predictor_on_user_csv(tmp_path, capsys):
    table = nb201_table(tmp_path / "mine.csv", 60)
    code, out, _ = run(capsys, "train-predictor", "--space", "nb201", "--table", str(table), "--epochs", "1",
                       "--out", str(tmp_path / "m.pt"), "--no-progress")
    assert code == 0 and "60 of 60 rows of mine (my_acc)" in out


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_score_sample_top_k(models, tmp_path, capsys, space):
    top = tmp_path / "top.csv"
    code, out, _ = run(capsys, "score", "--space", space, "--model", str(models[space]), "--sample", "3000",
                       "--top", "25", "--chunk-size", "700", "--micro-batch", "512", "--out", str(top), "--no-progress")
    assert code == 0
    assert "archs/s" in out and "peak RSS" in out
    rows = read_top(top)
    assert len(rows) == 25 and [int(r["rank"]) for r in rows] == list(range(1, 26))
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    if space == "nb201":
        keys = nb201.canonical_hash([r["arch"] for r in rows])
    else:
        keys = scoring.darts_key(np.stack([darts.parse(r["arch"]).to_compact() for r in rows])).tolist()
    assert len(set(keys)) == len(keys)
    # the same seed gives the same top K whatever the chunk size
    again = tmp_path / "again.csv"
    assert main(["score", "--space", space, "--model", str(models[space]), "--sample", "3000", "--top", "25",
                 "--chunk-size", "3000", "--micro-batch", "512", "--out", str(again), "--no-progress"]) == 0
    assert [r["arch"] for r in read_top(again)] == [r["arch"] for r in rows]


def test_score_archs_file(models, tmp_path, capsys):
    archs = tmp_path / "archs.txt"
    lines = ["# candidates", str(nb201.from_index(5)), str(nb201.from_index(5)), "5", "", "17",
             str(nb201.from_index(300)), str(nb201.from_index(9000))]
    archs.write_text("\n".join(lines) + "\n")
    top = tmp_path / "top.csv"
    code, out, _ = run(capsys, "score", "--space", "nb201", "--model", str(models["nb201"]), "--archs", str(archs),
                       "--top", "10", "--out", str(top), "--no-progress")
    assert code == 0 and "candidates:          6 (4 unique" in out
    rows = read_top(top)
    assert len(rows) == 4
    # the output CSV is a valid --archs input, and scores agree with GATESPredictor.score
    code, _, _ = run(capsys, "score", "--space", "nb201", "--model", str(models["nb201"]), "--archs", str(top),
                     "--top", "10", "--out", str(tmp_path / "again.csv"), "--no-progress")
    again = read_top(tmp_path / "again.csv")
    assert code == 0 and [r["arch"] for r in again] == [r["arch"] for r in rows]
    np.testing.assert_allclose([float(r["score"]) for r in again], [float(r["score"]) for r in rows], rtol=1e-6)
    from nasfast.predictors import GATESPredictor

    direct = GATESPredictor.load(models["nb201"]).score([r["arch"] for r in rows])
    np.testing.assert_allclose(direct, [float(r["score"]) for r in rows], rtol=1e-6)


@pytest.mark.parametrize("argv, message", [
    (["--space", "nb201", "--model", "{missing}", "--sample", "10"], "no such file"),
    (["--space", "darts", "--model", "{nb201}", "--sample", "10"], "trained on space 'nb201', not --space darts"),
    (["--space", "nb201", "--model", "{nb201}", "--archs", "{bad}"], "bad.txt:2: invalid nb201 architecture"),
    (["--space", "nb201", "--model", "{nb201}", "--sample", "10", "--top", "0"], "--top must be positive"),
    (["--space", "nb201", "--model", "{nb201}", "--sample", "10", "--chunk-size", "37", "--micro-batch", "64"],
     "--micro-batch 64 is above --chunk-size 37"),
    (["--space", "nb201", "--model", "{nb201}", "--archs", "{empty}"], "empty.txt: no architectures in the file"),
    (["--space", "nb201", "--model", "{nb201}", "--archs", "{header}"], "header.csv: no architectures in the file"),
    (["--space", "nb201", "--model", "{nb201}", "--archs", "{binary}"], "binary.txt: not UTF-8 text"),
])
def test_score_errors(models, tmp_path, capsys, argv, message):
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{nb201.from_index(1)}\n|nope~0|\n")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "header.csv").write_text("arch\n")
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00junk\n")
    fill = {"{missing}": str(tmp_path / "none.pt"), "{nb201}": str(models["nb201"]), "{bad}": str(bad),
            **{f"{{{n}}}": str(tmp_path / f) for n, f in (("empty", "empty.txt"), ("header", "header.csv"),
                                                         ("binary", "binary.txt"))}}
    code, _, err = run(capsys, "score", *[fill.get(a, a) for a in argv], "--out", str(tmp_path / "o.csv"),
                       "--no-progress")
    assert code == 2 and message in err and err.startswith("nasfast score: error:")


def test_bad_space_and_table(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["score", "--space", "nb999", "--model", "m.pt", "--sample", "1", "--out", "o.csv"])
    assert exc.value.code == 2 and "invalid choice: 'nb999'" in capsys.readouterr().err
    code, _, err = run(capsys, "train-predictor", "--space", "nb101", "--table", "nb201", "--out",
                       str(tmp_path / "m.pt"))
    assert code == 2 and "holds nb201 archs, not --space nb101" in err
    code, _, err = run(capsys, "train-predictor", "--space", "nb201", "--table", str(tmp_path / "x.csv"),
                       "--out", str(tmp_path / "m.pt"))
    assert code == 2 and "no such file" in err


def test_a_bad_out_or_seed_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    """--out is a file path that can be written, checked when the options are parsed (training and
    scoring come before the write, and used to be thrown away by a late OSError)."""
    from nasfast.predictors import GATESPredictor

    def no_work(*args, **kwargs):
        raise AssertionError("trained or scored before refusing the options")
    monkeypatch.setattr(GATESPredictor, "fit", no_work)
    monkeypatch.setattr(GATESPredictor, "load", no_work)
    (tmp_path / "afile").write_text("x")
    cases = [(["train-predictor", "--space", "nb201", "--out", str(tmp_path)], "is a directory; give a file path"),
             (["train-predictor", "--space", "nb201", "--out", str(tmp_path / "afile" / "m.pt")], "is a file, not a"),
             (["train-predictor", "--space", "nb201", "--seed", "-1", "--out", str(tmp_path / "m.pt")],
              "--seed: expected a non-negative integer, got -1"),
             (["score", "--space", "nb201", "--model", "m.pt", "--sample", "3", "--out", str(tmp_path)],
              "is a directory"),
             (["score", "--space", "nb201", "--model", "m.pt", "--sample", "3", "--seed", "-3", "--out", "o.csv"],
              "--seed: expected a non-negative integer, got -3")]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2 and message in capsys.readouterr().err, argv


def test_score_csv_without_a_header_keeps_its_first_candidate_and_ignores_a_bom(models, tmp_path, capsys):
    rows = [str(nb201.from_index(i)) for i in (5, 300, 9000)]
    for name, text, charset in (("plain.csv", "\n".join(rows) + "\n", "utf-8"),
                                ("bom.csv", "arch,note\n" + "".join(f"{r},x\n" for r in rows), "utf-8-sig")):
        (tmp_path / name).write_text(text, encoding=charset)
        code, out, _ = run(capsys, "score", "--space", "nb201", "--model", str(models["nb201"]), "--archs",
                           str(tmp_path / name), "--top", "10", "--out", str(tmp_path / "o.csv"), "--no-progress")
        assert code == 0 and "candidates:          3 (3 unique" in out, name
        assert sorted(r["arch"] for r in read_top(tmp_path / "o.csv")) == sorted(rows)


def test_score_stream_breaks_ties_by_candidate_order_whatever_the_chunking():
    class Constant:  # every candidate ties
        space = "nb201"

        def score(self, archs, chunk_size=0, micro_batch=0):
            return np.zeros(len(archs))

    first = None
    for chunk in (5000, 1000, 64):
        result = scoring.score_stream(Constant(), scoring.sampled_batches("nb201", 5000, chunk, 0), 5, progress=False)
        first = result.archs if first is None else first
        assert result.archs == first, chunk
    # the earliest distinct candidates, in order
    ops = next(scoring.sampled_batches("nb201", 5000, 5000, 0))
    keys, expected = set(), []
    for row in ops:
        key = nb201.canonical_hash([nb201.from_ops(row)])[0]
        if key not in keys:
            keys.add(key)
            expected.append(str(nb201.from_ops(row)))
        if len(expected) == 5:
            break
    assert first == expected


def test_train_predictor_names_hash_only_nb101_rows(tmp_path, capsys):
    rng = np.random.default_rng(0)
    table = tmp_path / "u101.csv"
    with open(table, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["arch", "acc"])
        specs = {}
        while len(specs) < 30:
            spec = nb101.sample(rng)
            specs.setdefault(spec.fingerprint(), spec)
        for i, spec in enumerate(specs.values()):
            arch = spec.fingerprint() if i == 5 else json.dumps(
                {"matrix": spec.adjacency.astype(int).tolist(), "ops": [int(o) for o in spec.ops]})
            w.writerow([arch, f"{0.8 + i / 1000:.4f}"])
    code, _, err = run(capsys, "train-predictor", "--space", "nb101", "--table", str(table), "--epochs", "1",
                       "--out", str(tmp_path / "m.pt"), "--no-progress")
    assert code == 2 and "1 row(s), the first row 6" in err


# ---- the helpers ----------------------------------------------------------------------------------

def test_choices_match_network():
    assert predictor_commands.ENCODERS == network.ENCODERS
    assert predictor_commands.LOSSES == network.LOSSES


def test_samplers_give_valid_archs():
    rng = np.random.default_rng(0)
    comp = scoring.sample_darts(rng, 500)
    for g in comp[:100]:
        darts.from_compact(g)
    assert encoding.darts_compact(comp).shape == (500, 2, 8, 2)
    adj, ops = scoring.sample_nb101(rng, 300)
    for a, o in zip(adj[:50], ops[:50]):
        spec = nb101.Spec(a, o)
        assert np.array_equal(spec.padded(7)[0], a) and np.array_equal(spec.padded(7)[1], o)  # already pruned
    assert scoring.sample_nb201(rng, 10).shape == (10, 6)


def test_darts_key_is_edge_order_invariant_and_exact():
    rng = np.random.default_rng(1)
    comp = scoring.sample_darts(rng, 5000)
    swapped = comp.copy()
    swapped[:, :, 0::2], swapped[:, :, 1::2] = comp[:, :, 1::2], comp[:, :, 0::2]
    assert (scoring.darts_key(swapped) == scoring.darts_key(comp)).all()
    canon = {tuple(tuple(sorted(map(tuple, cell[2 * k:2 * k + 2]))) for cell in g for k in range(4)) for g in comp}
    assert len(np.unique(scoring.darts_key(comp, isomorphism=False))) == len(canon)
    assert scoring.darts_key(comp).max() < 2**60


def _relabel(cell: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Intermediate node k of a (8, 2) cell becomes node perm[k]: its edges move, and so do reads of it."""
    inv = np.argsort(perm)
    rows = (2 * inv[:, None] + np.arange(2)).reshape(-1)
    src = cell[rows, 0]
    return np.stack([np.where(src >= 2, perm[np.maximum(src - 2, 0)] + 2, src), cell[rows, 1]], axis=-1)


def test_darts_key_merges_relabelled_intermediate_nodes_and_only_those(models):
    """Relabelling a cell's intermediate nodes (keeping each node's reads below it) is the same network:
    one key, and GATES gives it the same score. The key equals a brute-force least code over all 24
    relabellings, so it merges nothing else."""
    import itertools

    from nasfast.predictors import GATESPredictor

    rng = np.random.default_rng(4)
    comp = scoring.sample_darts(rng, 400).astype(np.int64)
    perms = [np.array(p) for p in itertools.permutations(range(4))]
    keys = scoring.darts_key(comp)
    relabelled, want = [], []
    for i, g in enumerate(comp):
        for cell in range(2):
            for perm in perms:
                r = _relabel(g[cell], perm)
                if (r[:, 0] <= np.repeat(np.arange(4), 2) + 1).all():
                    h = g.copy()
                    h[cell] = r
                    relabelled.append(h)
                    want.append(keys[i])
    relabelled = np.stack(relabelled)
    assert len(relabelled) > 2 * len(comp)  # more than the identities
    assert (scoring.darts_key(relabelled) == np.array(want)).all()
    assert (scoring.darts_key(relabelled, isomorphism=False) != np.array(want)).any()  # the old key split them
    # brute force: each cell's least code over the valid relabellings
    for g, k in zip(comp[:100], keys[:100]):
        codes = [min(int(scoring._darts_cell_code(_relabel(g[c], p)[None])[0]) for p in perms
                     if (_relabel(g[c], p)[:, 0] <= np.repeat(np.arange(4), 2) + 1).all()) for c in range(2)]
        assert k == codes[0] * scoring._DARTS_CELL_RADIX + codes[1]
    p = GATESPredictor.load(models["darts"])
    same = [darts.from_compact(h) for h in relabelled[:200]]
    orig = [darts.from_compact(comp[np.flatnonzero(keys == k)[0]]) for k in want[:200]]
    np.testing.assert_allclose(p.score(same), p.score(orig), rtol=0, atol=1e-6)


def test_darts_compact_vectorised_check_names_the_bad_genotype():
    comp = scoring.sample_darts(np.random.default_rng(2), 4)
    comp[2, 1, 6, 0] = comp[2, 1, 7, 0]
    with pytest.raises(ValueError, match="reduce node 5 reads node .* twice"):
        encoding.darts_compact(comp)


def test_uint64_set():
    s = scoring.UInt64Set(capacity=8)
    assert s.add_new(np.array([3, 3, 0, 9])).tolist() == [True, False, True, True]
    assert s.add_new(np.array([9, 4])).tolist() == [False, True]
    keys = np.random.default_rng(3).integers(0, 2**60, 20000)
    assert s.add_new(keys).sum() == len(np.unique(keys)) and len(s) == 4 + len(np.unique(keys))
    assert not s.add_new(keys).any()


def test_nb201_twins_score_alike_whichever_comes_first(models, tmp_path, capsys):
    """Isomorphic NB201 cells are one candidate (the first one kept); it is scored as its class's
    representative, so the score written does not depend on which twin came first."""
    from nasfast.predictors.scoring import nb201_class_of_code

    classes = nb201_class_of_code()
    big = np.flatnonzero(np.bincount(classes) >= 2)
    pairs = [np.flatnonzero(classes == c)[[0, 1]] for c in big]  # two members of each class with twins
    texts = {order: [str(nb201.from_code(int(p[k]))) for p in pairs for k in order] for order in ((0, 1), (1, 0))}
    scores = {}
    for order, lines in texts.items():
        path = tmp_path / f"twins{order[0]}.txt"
        path.write_text("\n".join(lines) + "\n")
        out = tmp_path / f"top{order[0]}.csv"
        code, _, _ = run(capsys, "score", "--space", "nb201", "--model", str(models["nb201"]), "--archs", str(path),
                         "--top", "1000", "--out", str(out), "--no-progress")
        assert code == 0
        rows = read_top(out)
        assert len(rows) == len(pairs)  # one per class
        scores[order] = sorted(float(r["score"]) for r in rows)
    assert scores[(0, 1)] == scores[(1, 0)]


def test_the_api_takes_the_texts_the_cli_takes(models):
    """GATESPredictor.score reads a list of texts as `nasfast score --archs` reads its lines."""
    import json

    from nasfast.predictors import GATESPredictor

    p = GATESPredictor.load(models["nb201"])
    arch = nb201.from_index(7294)
    assert p.score(["7294", str(arch)]).tolist() == [p.score([arch])[0]] * 2
    q = GATESPredictor.load(models["darts"])
    g = darts.sample(np.random.default_rng(0))
    assert q.score([str(g), json.dumps(g.to_compact().tolist())]).tolist() == [q.score([g])[0]] * 2
    with pytest.raises(ValueError, match=r"archs\[1\]: invalid nb201 architecture '\|bad~0\|'"):
        p.score([str(arch), "|bad~0|"])


def test_darts_dedup_is_sized_for_a_known_count(monkeypatch):
    """With the count known (--sample) the seen-set never grows: a grow rehashes the whole table."""
    def no_grow(self):
        raise AssertionError("the seen-set grew")
    monkeypatch.setattr(scoring.UInt64Set, "_grow", no_grow)
    dedup = scoring._dedup("darts", 20_000)
    rng = np.random.default_rng(0)
    for _ in range(4):
        assert dedup.new(scoring.sample_darts(rng, 5_000)).all()
    assert len(dedup.seen) == 20_000
    with pytest.raises(AssertionError, match="grew"):
        scoring._dedup("darts").new(scoring.sample_darts(rng, 70_000))  # the default size must grow

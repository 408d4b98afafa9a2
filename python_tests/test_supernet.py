"""Landmark-regularised SPOS super-net (nasfast.supernet; REFERENCES A4): the super-net against the stand-alone
NB201 network (float64, same weights), the one-pass pair against two passes, the regulariser, the lambda
schedules, the landmark and pair samplers, the split, the search, and a tiny end-to-end run."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nasfast.models.nb201 import NB201Network, has_input_output_path
from nasfast.search.base import Result
from nasfast.spaces import nb201
from nasfast.supernet import (
    Landmarks,
    NB201SuperNet,
    SposEvolution,
    SupernetTrainer,
    TrainConfig,
    bundled_split,
    evaluate_ranking,
    evaluation_pool,
    ground_truth_accuracy,
    hamming_distance,
    landmark_coefficient,
    ranking_regulariser,
    sample_pair,
    search_supernet,
    select_landmarks,
)
from nasfast.supernet.data import augment

pytestmark = pytest.mark.usefixtures("one_thread")

FULL = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
HOLE = "|none~0|+|nor_conv_3x3~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|"
DEAD = "|skip_connect~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|none~2|"  # node 3 has no input
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def images(n=6, seed=0, size=16):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 3, size, size, dtype=torch.float64, generator=g),
            torch.randint(0, 10, (n,), generator=g))


def supernet64(channels_last=True, seed=0):
    torch.manual_seed(seed)
    net = NB201SuperNet(channels=4, cells=2, channels_last=channels_last).double()
    with torch.no_grad():  # non-trivial affine BN outside the cells (the stand-alone net's cell BN has none)
        for name, p in net.named_parameters():
            if ".bn." in name and not name.startswith("stages") or name.startswith("top_bn"):
                p.copy_(torch.rand_like(p) + 0.5 if name.endswith("weight") else torch.randn_like(p))
    return net


def standalone_copy(net: NB201SuperNet, arch) -> NB201Network:
    """The stand-alone network of ``arch`` carrying the super-net's weights (cell convs keep their own random
    bias: batch-statistics BN cancels it)."""
    arch = nb201.as_arch(arch)
    ref = NB201Network(arch, channels=net.channels, cells=net.cells).double().train()
    with torch.no_grad():
        ref.stem[0].weight.copy_(net.stem.conv.weight)
        ref.stem[1].weight.copy_(net.stem.bn.weight)
        ref.stem[1].bias.copy_(net.stem.bn.bias)
        for s, stage in enumerate((ref.stage1, ref.stage2, ref.stage3)):
            for i, cell in enumerate(stage):
                for key, op in cell.ops.items():
                    if hasattr(op, "conv"):
                        kind = "conv1x1" if op.conv.kernel_size == (1, 1) else "conv3x3"
                        op.conv.weight.copy_(net.stages[s][i].edges[int(key)][kind].conv.weight)
        for red, sup in zip((ref.reduction1, ref.reduction2), net.reductions):
            for part in ("conv_a", "conv_b"):
                getattr(red, part).conv.weight.copy_(getattr(sup, part).conv.weight)
                getattr(red, part).bn.weight.copy_(getattr(sup, part).bn.weight)
                getattr(red, part).bn.bias.copy_(getattr(sup, part).bn.bias)
            red.shortcut_conv.weight.copy_(sup.shortcut.weight)
        ref.top_bn.weight.copy_(net.top_bn.weight)
        ref.top_bn.bias.copy_(net.top_bn.bias)
        ref.classifier.weight.copy_(net.classifier.weight)
        ref.classifier.bias.copy_(net.classifier.bias)
    return ref


# ---- the super-net ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("arch", [FULL, HOLE, DEAD, 6111])
def test_supernet_equals_standalone_network(arch, channels_last):
    net = supernet64(channels_last)
    x, _ = images()
    ref = standalone_copy(net, arch)
    torch.testing.assert_close(net(x, arch), ref(x), rtol=0, atol=1e-10)


def test_none_contributes_exactly_zero():
    net = supernet64()
    x, y = images()
    x.requires_grad_(True)
    out = net(x, ALL_NONE)
    # every cell outputs zeros, so the logits are the same for every image and the input gets no gradient
    assert torch.equal(out, out[:1].expand_as(out))
    F.cross_entropy(out, y).backward()
    assert x.grad is None or torch.count_nonzero(x.grad) == 0
    # one cell, only edge 3 <- 0 not none: node 3 is that op's output, exactly
    cell, h = net.stages[0][0], torch.randn(2, 4, 8, 8, dtype=torch.float64)
    only_skip = [(0,), (0,), (0,), (1,), (0,), (0,)]
    assert torch.equal(cell(h, only_skip), h)
    only_pool = [(0,), (0,), (0,), (4,), (0,), (0,)]
    torch.testing.assert_close(cell(h, only_pool), F.avg_pool2d(h, 3, 1, 1, count_include_pad=False))


def test_gradients_reach_only_the_active_ops():
    net = supernet64()
    x, y = images()
    F.cross_entropy(net(x, HOLE), y).backward()
    with_grad = {n for n, p in net.named_parameters() if p.grad is not None}
    assert with_grad == net.active_parameter_names(HOLE)
    # HOLE uses conv3x3 on edges 1 and 5 and conv1x1 on edge 4 of every cell, nothing else of the edges
    used = {(n.split(".")[4], n.split(".")[5]) for n in with_grad if n.startswith("stages")}
    assert used == {("1", "conv3x3"), ("5", "conv3x3"), ("4", "conv1x1")}


@pytest.mark.parametrize("archs", [[FULL, HOLE], [HOLE, HOLE], [FULL, DEAD, HOLE, FULL]])
def test_forward_many_equals_separate_passes(archs):
    net = supernet64()
    x, y = images()
    out = net.forward_many(x, archs)
    assert out.shape == (6, len(archs), 10)
    sum(F.cross_entropy(out[:, b], y) for b in range(len(archs))).backward()
    grads = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
    net.zero_grad(set_to_none=True)
    for b, a in enumerate(archs):
        single = net(x, a)
        torch.testing.assert_close(out[:, b], single, rtol=0, atol=1e-12)
        F.cross_entropy(single, y).backward()
    for n, p in net.named_parameters():
        if p.grad is None:
            assert n not in grads
        else:
            torch.testing.assert_close(grads[n], p.grad, rtol=1e-9, atol=1e-12)


def test_supernet_rejects_bad_inputs():
    net = NB201SuperNet(channels=2, cells=1)
    with pytest.raises(ValueError, match=r"images \(N, 3, H, W\)"):
        net(torch.zeros(2, 1, 8, 8), FULL)
    with pytest.raises(ValueError, match="6 op indices"):
        net(torch.zeros(2, 3, 8, 8), (1, 2, 3))
    with pytest.raises(ValueError, match="channels must be a positive int"):
        NB201SuperNet(channels=0)


# ---- regulariser, schedule, samplers ----------------------------------------------------------------------------

def test_hinge_regulariser_value_and_gradient():
    li = torch.tensor(2.0, requires_grad=True)  # worse landmark
    lj = torch.tensor(1.0, requires_grad=True)  # better landmark, already the lower loss: nothing to correct
    r = ranking_regulariser(li, lj)
    r.backward()
    assert r.item() == 0.0 and li.grad.item() == 0.0 and lj.grad.item() == 0.0
    li, lj = torch.tensor(1.0, requires_grad=True), torch.tensor(1.5, requires_grad=True)
    r = ranking_regulariser(li, lj)  # A4.1 mae_relu: max(0, L_j - L_i), no margin
    r.backward()
    assert r.item() == pytest.approx(0.5) and li.grad.item() == -1.0 and lj.grad.item() == 1.0
    assert ranking_regulariser(torch.tensor(1.0), torch.tensor(0.95), margin=0.1).item() == pytest.approx(0.05)


def test_softplus_and_logistic_regularisers():
    li, lj = torch.tensor(1.0), torch.tensor(1.3)
    d = 0.3
    assert ranking_regulariser(li, lj, "softplus", beta=5).item() == pytest.approx(math.log1p(math.exp(5 * d)) / 5)
    sig = 1 / (1 + math.exp(-d))
    assert ranking_regulariser(li, lj, "logistic").item() == pytest.approx(-math.log(1 - sig))
    with pytest.raises(ValueError, match="unknown landmark regulariser 'rank'"):
        ranking_regulariser(li, lj, "rank")


def test_paper_schedule_is_zero_in_warmup_and_reaches_lambda_max():
    kw = dict(epochs=400, warmup_epochs=150, lambda_max=10.0, schedule="paper")
    assert [landmark_coefficient(e, **kw) for e in (0, 75, 149)] == [0.0, 0.0, 0.0]
    vals = [landmark_coefficient(e, **kw) for e in range(150, 400)]
    assert 0 < vals[0] < 1e-3 and np.all(np.diff(vals) > 0)
    assert vals[-1] == pytest.approx(10.0, abs=1e-12)
    assert landmark_coefficient(399, step=9, steps_per_epoch=10, **kw) == pytest.approx(10.0, abs=1e-12)
    assert landmark_coefficient(399, step=4, steps_per_epoch=10, **kw) < 10.0


def test_reference_schedule_never_reaches_lambda_max():
    # A4.2 / E.5: NB201, 400 epochs, 150 warm-up -> lambda_max * (1 - cos(0.625 pi)) / 2 ~ 0.691 lambda_max
    kw = dict(epochs=400, warmup_epochs=150, lambda_max=10.0, schedule="reference")
    assert landmark_coefficient(149, **kw) == 0.0
    assert landmark_coefficient(399, **kw) == pytest.approx(10 * 0.5 * (1 - math.cos(0.625 * math.pi)))
    assert landmark_coefficient(399, **kw) == pytest.approx(6.913, abs=1e-3)
    assert landmark_coefficient(150, **kw) == pytest.approx(10 * 0.5 * (1 - math.cos(math.pi / 400)))


def test_schedule_rejects_bad_inputs():
    with pytest.raises(ValueError, match="unknown lambda schedule 'cosine'"):
        landmark_coefficient(1, epochs=4, warmup_epochs=1, schedule="cosine")
    with pytest.raises(ValueError, match="epoch 4 is outside 0..3"):
        landmark_coefficient(4, epochs=4, warmup_epochs=1)
    with pytest.raises(ValueError, match="warmup_epochs < epochs"):
        landmark_coefficient(0, epochs=4, warmup_epochs=4)


@pytest.mark.parametrize("sampler,expected", [("reference", {(0, 1): 0.25, (0, 2): 0.25, (1, 2): 0.5}),
                                              ("uniform", {(0, 1): 1 / 3, (0, 2): 1 / 3, (1, 2): 1 / 3})])
def test_pair_samplers(sampler, expected):
    rng = np.random.default_rng(0)
    draws = [sample_pair(3, rng, sampler) for _ in range(6000)]
    for pair, p in expected.items():
        assert draws.count(pair) / len(draws) == pytest.approx(p, abs=0.025)
    assert all(i < j for i, j in draws)
    with pytest.raises(ValueError, match="unknown pair sampler 'biased'"):
        sample_pair(3, rng, "biased")
    with pytest.raises(ValueError, match="num_landmarks >= 2"):
        sample_pair(1, rng)


# ---- landmarks ----------------------------------------------------------------------------------------------------

def test_random_landmarks_are_sorted_worst_first_with_table_accuracy():
    lm = select_landmarks(12, seed=3)
    assert len(set(lm.archs)) == 12 and np.all(np.diff(lm.accuracies) >= 0)
    np.testing.assert_array_equal(lm.accuracies, ground_truth_accuracy(lm.archs))
    assert ground_truth_accuracy([6111])[0] == pytest.approx(91.6067, abs=1e-3)  # the NB201 c10-valid optimum
    more = lm.extended([6111, lm.archs[0]])
    assert len(more) == 13 and more.archs[-1] == nb201.from_index(6111)


@pytest.mark.parametrize("distance", [1, 2, 3])
def test_hamming_landmarks_keep_pairwise_distance(distance):
    lm = select_landmarks(10, method="hamming", distance=distance, seed=distance)
    assert min(hamming_distance(a, b) for a, b in combinations(lm.archs, 2)) > distance


def test_hamming_root_mode_measures_from_the_root():
    lm = select_landmarks(10, method="hamming", distance=5, hamming_mode="root", seed=0)
    assert any(all(hamming_distance(r, o) == 6 for o in lm.archs if o != r) for r in lm.archs)


def test_landmark_selection_rejects_bad_inputs():
    with pytest.raises(ValueError, match="Hamming distance threshold must be an int in 0..5.*got 6"):
        select_landmarks(5, method="hamming", distance=6)
    with pytest.raises(ValueError, match="at most 5 NB201 archs, asked for num=6"):
        select_landmarks(6, method="hamming", distance=5)
    with pytest.raises(ValueError, match="unknown landmark selection method 'fixed'"):
        select_landmarks(5, method="fixed")
    with pytest.raises(ValueError, match="num landmarks must be an int >= 2"):
        select_landmarks(1)
    with pytest.raises(ValueError, match="sorted by accuracy"):
        Landmarks((nb201.from_index(1), nb201.from_index(2)), np.array([2.0, 1.0]))


def test_landmarks_refuse_non_finite_accuracies():
    # argsort puts NaN last: an arch of unknown accuracy would become the best landmark
    with pytest.raises(ValueError, match=r"finite, got nan for arch 2 "):
        Landmarks.of([1, 2, 3], [50.0, float("nan"), 60.0])
    with pytest.raises(ValueError, match=r"finite, got nan for arch 2 "):
        Landmarks((nb201.from_index(1), nb201.from_index(2)), np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"finite, got inf for arch 3 "):
        Landmarks.of([1, 2], [50.0, 60.0]).extended([3], [float("inf")])


# ---- data, evaluation, search ---------------------------------------------------------------------------------------

def test_bundled_split_is_fixed_and_disjoint():
    d = bundled_split()
    assert (len(d.weights_y), len(d.landmark_y), len(d.eval_y)) == (1600, 400, 2000)
    assert torch.equal(torch.bincount(d.landmark_y), torch.full((10,), 40))
    small = bundled_split(3, 2, 1)
    assert torch.equal(small.weights_x[:3], d.weights_x[:3]) and torch.equal(small.landmark_x[:2], d.landmark_x[:2])
    flat_w, flat_l = d.weights_x.flatten(1), d.landmark_x.flatten(1)
    assert not any(bool((flat_w == row).all(1).any()) for row in flat_l[:40])
    with pytest.raises(ValueError, match="exceeds the 200 bundled training images"):
        bundled_split(180, 40)


def test_evaluation_pool_excludes_landmarks():
    lm = select_landmarks(5, seed=0)
    pool = evaluation_pool(200, exclude=lm.archs, seed=0)
    assert len(set(pool)) == 200 and not set(pool) & set(lm.archs)
    with pytest.raises(ValueError, match="evaluation pool size must be in 2..15625"):
        evaluation_pool(1)


def test_spos_evolution_breeds_from_the_best_without_repeats():
    def fitness(arch):
        return float(arch.op_indices.count(3))

    def run(seed):
        ea = SposEvolution(nb201, seed, population=12, select=3, mutation=5, crossover=5)
        gens = []
        for _ in range(4):
            reqs = ea.ask(12)
            gens.append([fitness(r.arch) for r in reqs])
            for r in reqs:
                ea.tell(r, Result(valid_acc=fitness(r.arch)))
        return ea, gens

    ea, gens = run(0)
    archs = [r.arch for r, _ in ea.history]
    assert len(set(archs)) == len(archs) == 48
    assert np.mean(gens[-1]) > np.mean(gens[0])  # children of the top-3 carry more conv3x3 than random archs
    assert [r.arch for r, _ in run(0)[0].history] == archs
    with pytest.raises(ValueError, match="exceeds population"):
        SposEvolution(nb201, 0, population=10, mutation=6, crossover=5)


# ---- end to end -----------------------------------------------------------------------------------------------------

def test_tiny_training_run_decreases_loss_and_reports_skdt():
    data = bundled_split(5, 2, 4)  # 50 weight / 20 landmark / 40 evaluation images
    lm = select_landmarks(3, seed=0)
    rng = np.random.default_rng(5)
    archs = [a for a in (nb201.sample(rng) for _ in range(12)) if has_input_output_path(a.op_indices)][:6]

    def mean_loss(net):
        with torch.no_grad():
            return np.mean([F.cross_entropy(net(data.weights_x, a), data.weights_y).item() for a in archs])

    cfg = TrainConfig(channels=4, cells=1, epochs=2, warmup_epochs=1, batch_size=10, lr=0.1, augment=False)
    trainer = SupernetTrainer(cfg, data, lm, eval_archs=archs, eval_every=2)
    before = mean_loss(trainer.supernet)
    hist = trainer.train()
    assert mean_loss(trainer.supernet) < before - 0.02
    assert [h["epoch"] for h in hist] == [0, 1] and [h["steps"] for h in hist] == [5, 5]
    assert hist[0]["lambda"] == 0.0 and hist[0]["rank_loss"] == 0.0  # warm-up: no regulariser
    assert hist[1]["lambda"] == pytest.approx(10 * 0.5 * (1 - math.cos(math.pi / 2)))  # reference: t = 1 / 2
    assert "skdt" not in hist[0] and -1.0 <= hist[1]["skdt"] <= 1.0 and np.isfinite(hist[1]["kdt"])
    res = evaluate_ranking(trainer.supernet, archs, data.eval_x, data.eval_y, batch_size=20)
    assert res.supernet_acc.shape == (6,) and np.all((0 <= res.supernet_acc) & (res.supernet_acc <= 100))
    found = search_supernet(trainer.supernet, data.eval_x, data.eval_y, population=4, generations=2, select=2,
                            mutation=1, crossover=1, top_k=3, batch_size=20)
    assert len(found.top) == 3 and len(set(found.evaluated)) == 8
    np.testing.assert_array_equal(found.top_true_acc, ground_truth_accuracy(found.top))
    assert np.all(np.diff(found.top_supernet_acc) <= 0)
    with pytest.raises(RuntimeError, match="already finished its 2 epochs"):
        trainer.train_epoch()


def test_train_config_names_bad_values():
    with pytest.raises(ValueError, match="unknown lambda schedule 'linear'"):
        TrainConfig(schedule="linear")
    with pytest.raises(ValueError, match="unknown pair sampler 'all'"):
        TrainConfig(pair_sampler="all")
    with pytest.raises(ValueError, match="warmup_epochs < epochs, got 5 and 5"):
        TrainConfig(epochs=5, warmup_epochs=5)
    with pytest.raises(ValueError, match="eval_every > 0 needs eval_archs"):
        SupernetTrainer(TrainConfig(channels=2, cells=1, epochs=1, warmup_epochs=0), bundled_split(1, 1, 1),
                        eval_every=1)


@pytest.mark.parametrize("field,value", [("landmark_batch_size", -1), ("landmark_batch_size", 0),
                                         ("landmark_batch_size", 2.5), ("softplus_beta", 0.0),
                                         ("softplus_beta", -5.0), ("softplus_beta", float("nan")),
                                         ("softplus_beta", float("inf"))])
def test_train_config_checks_landmark_batch_and_softplus_beta(field, value):
    # a negative landmark batch hung the first regularised step; beta <= 0 failed only after the warm-up
    with pytest.raises(ValueError, match=rf"TrainConfig\.{field} must be .*, got {value!r}"):
        TrainConfig(**{field: value})
    TrainConfig(landmark_batch_size=None, softplus_beta=0.5)
    TrainConfig(landmark_batch_size=1, softplus_beta=1)


def test_inactive_ops_keep_weight_decay_and_momentum():
    # the reference's PyTorch 1.x zero_grad() zeroed gradients: an op used once keeps decaying and coasting
    cfg = TrainConfig(channels=4, cells=1, epochs=1, warmup_epochs=0, batch_size=16)
    data = bundled_split(2, 1, 1)
    trainer = SupernetTrainer(cfg, data)
    x, y = data.weights_x[:16], data.weights_y[:16]
    trainer.train_step(x, y, 0.0, arch=(3,) * 6)  # conv3x3 on every edge
    w = trainer.supernet.stages[0][0].edges[0]["conv3x3"].conv.weight
    before = w.detach().clone()
    buf = trainer.optimizer.state[w]["momentum_buffer"].clone()
    trainer.train_step(x, y, 0.0, arch=(2,) * 6)  # conv1x1 on every edge: conv3x3 gets a zero gradient
    assert w.grad is not None and torch.count_nonzero(w.grad) == 0
    expected = before - cfg.lr * (cfg.momentum * buf + cfg.weight_decay * before)
    torch.testing.assert_close(w.detach(), expected, rtol=1e-5, atol=1e-7)
    assert not torch.equal(w.detach(), before)


def test_batched_pair_training_matches_two_passes():
    data = bundled_split(2, 2, 1)
    lm = select_landmarks(4, seed=1)
    states = []
    for batched in (False, True):
        cfg = TrainConfig(channels=2, cells=1, epochs=2, warmup_epochs=0, batch_size=10, batched_pair=batched,
                          pair_sampler="uniform", schedule="paper", landmark_use_valid=False, seed=3)
        trainer = SupernetTrainer(cfg, data, lm)
        hist = trainer.train()
        assert all(h["lambda"] > 0 for h in hist)
        states.append(trainer.supernet.state_dict())
    for name, value in states[0].items():
        torch.testing.assert_close(states[1][name], value, rtol=1e-4, atol=1e-5)


def test_augment_crops_with_black_padding_and_flips():
    x = bundled_split(1, 1, 1).weights_x[:6]
    out = augment(x, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)  # the same draws, in the same order
    offsets, flips = torch.randint(0, 9, (6, 2), generator=g), torch.rand(6, generator=g) < 0.5
    black = out.new_tensor([-0.4914 / 0.2023, -0.4822 / 0.1994, -0.4465 / 0.2010]).view(3, 1, 1)
    padded = torch.nn.functional.pad(x - black, (4,) * 4) + black
    for i in range(6):
        crop = padded[i, :, offsets[i, 0]:offsets[i, 0] + 32, offsets[i, 1]:offsets[i, 1] + 32]
        torch.testing.assert_close(out[i], crop.flip(-1) if flips[i] else crop, rtol=0, atol=1e-6)


def test_fig2_pipeline_adds_the_searched_archs_as_landmarks():
    from nasfast.supernet import landmark_pipeline

    data = bundled_split(3, 2, 2)
    lm = select_landmarks(3, seed=1)
    cfg = TrainConfig(channels=4, cells=1, epochs=2, warmup_epochs=0, batch_size=10, augment=False)
    search = {"population": 4, "generations": 2, "select": 2, "mutation": 1, "crossover": 1, "batch_size": 20}
    res = landmark_pipeline(cfg, data, lm, iterations=2, add_top_k=2, search=search)
    assert len(res.trainer.history) == 2 and len(res.added) == 1 and res.final_search is not None
    assert res.landmarks_per_iteration == [3, 3 + len(res.added[0])]
    landmark_strs = {str(a) for a in res.trainer.landmarks.archs}
    assert set(res.added[0]) <= landmark_strs and len(landmark_strs) == 3 + len(res.added[0])
    acc = dict(zip((str(a) for a in res.trainer.landmarks.archs), res.trainer.landmarks.accuracies))
    np.testing.assert_allclose([acc[a] for a in res.added[0]], ground_truth_accuracy(list(res.added[0])))
    with pytest.raises(ValueError, match="equal parts"):
        landmark_pipeline(TrainConfig(channels=4, cells=1, epochs=3, warmup_epochs=0), data, lm, iterations=2)


def test_pipeline_refuses_top_k_in_search():
    from nasfast.supernet import landmark_pipeline

    # add_top_k sets every search's top_k, the final one too: a top_k in search would be silently replaced
    cfg = TrainConfig(channels=2, cells=1, epochs=2, warmup_epochs=0, batch_size=10, augment=False)
    search = {"top_k": 6, "population": 4, "generations": 1, "select": 2, "mutation": 1, "crossover": 1}
    with pytest.raises(ValueError, match="top_k=6.*pass add_top_k instead"):
        landmark_pipeline(cfg, bundled_split(1, 1, 1), select_landmarks(3, seed=1), add_top_k=2, search=search)

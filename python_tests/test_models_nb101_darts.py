"""NAS-Bench-101 and DARTS networks: parameter counts against the benchmark / paper, shapes, gradients,
input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from known_genotypes import DARTS_V2
from torch import nn

from nasfast.models.darts import DARTS_OPS, darts_network, make_op
from nasfast.models.nb101 import compute_vertex_channels, nb101_network
from nasfast.spaces import darts
from nasfast.spaces.nb101 import Spec
from nasfast.tabular import load

# Rows of the bundled 30k NB101 table, picked once for coverage: the 2-, 3-, 4-, 5- and 6-vertex cells
# (first of each), the smallest and largest networks, the first with 4 vertices concatenated at the
# output, the first with 3 concatenated *plus* an input->output edge, the first with 4 max-pools, the
# first with 5 conv1x1, then 9 rows drawn with default_rng(2024).
NB101_ROWS = [6992, 16569, 167, 188, 23, 3044, 1847, 42, 33, 6, 496,
              2769, 6428, 7244, 9282, 9528, 20270, 23983, 27259, 27461]


# all three ops, an input -> output edge, two max-pool vertices; with an odd width (stem_channels=9)
# the output splits 5 + 4, so vertex 2 (5 channels) is cut to 4 on its way into vertex 4
NB101_MIXED = Spec([[0, 1, 1, 0, 0, 0, 1],
                    [0, 0, 0, 1, 0, 0, 0],
                    [0, 0, 0, 1, 1, 0, 0],
                    [0, 0, 0, 0, 0, 0, 1],
                    [0, 0, 0, 0, 0, 1, 0],
                    [0, 0, 0, 0, 0, 0, 1],
                    [0, 0, 0, 0, 0, 0, 0]], [-1, 0, 1, 2, 0, 2, -2])


pytestmark = pytest.mark.usefixtures("one_thread")


def n_trainable(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def forward_backward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = net(x)
    (out * torch.randn_like(out)).sum().backward()
    return out


def assert_conv_grads(net: nn.Module, skip: tuple[str, ...] = ()) -> None:
    convs = [(name, m) for name, m in net.named_modules() if isinstance(m, nn.Conv2d)]
    assert convs
    for name, m in convs:
        if name.startswith(skip):
            continue
        assert m.weight.grad is not None, name
        assert m.weight.grad.abs().sum() > 0, name


# ---- NAS-Bench-101 ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def nb101():
    return load("nb101")


def test_nb101_parameter_counts_match_benchmark(nb101):
    archs = nb101.archs()
    expected = nb101.column("trainable_parameters")[NB101_ROWS]
    # shapes only: the meta device skips allocation and initialisation (~10x faster than CPU)
    with torch.device("meta"):
        got = [n_trainable(nb101_network(archs[i])) for i in NB101_ROWS]
    assert got == expected.astype(np.int64).tolist()


def test_nb101_two_vertex_cell_by_hand():
    # input -> output only: every cell is a 1x1 conv-BN-ReLU projection
    stem = 3 * 9 * 128 + 2 * 128
    stacks = [3 * (128 * 128 + 256),
              (128 * 256 + 512) + 2 * (256 * 256 + 512),
              (256 * 512 + 1024) + 2 * (512 * 512 + 1024)]
    with torch.device("meta"):
        net = nb101_network(Spec([[0, 1], [0, 0]], [-1, -2]))
    assert n_trainable(net) == stem + sum(stacks) + 512 * 10 + 10 == 882570


def test_nb101_spec_is_pruned():
    # vertex 2 reaches neither way to the output: the benchmark drops it before building
    raw = Spec([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]], [-1, 0, 0, -2])
    pruned = Spec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [-1, 0, -2])
    with torch.device("meta"):
        assert n_trainable(nb101_network(raw)) == n_trainable(nb101_network(pruned))


def test_nb101_vertex_channels():
    # 128 split over the 3 vertices feeding the output (2, 3, 4): 43, 43, 42; vertex 1 feeds only
    # vertices 3 and 4 and takes the wider of them
    m = np.zeros((6, 6), dtype=int)
    for i, j in [(0, 1), (0, 2), (1, 3), (1, 4), (2, 5), (3, 5), (4, 5)]:
        m[i, j] = 1
    assert compute_vertex_channels(64, 128, m) == [64, 43, 43, 43, 42, 128]
    assert compute_vertex_channels(64, 128, np.array([[0, 1], [0, 0]])) == [64, 128]


@pytest.mark.parametrize("spec", [NB101_MIXED, Spec([[0, 1], [0, 0]], [-1, -2])], ids=["mixed", "two-vertex"])
def test_nb101_output_and_gradients(spec):
    torch.manual_seed(0)
    net = nb101_network(spec, num_classes=7, stem_channels=9)
    out = forward_backward(net, torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 7)
    assert_conv_grads(net)
    if spec is NB101_MIXED:
        assert net.cells[0].widths == [9, 5, 5, 5, 4, 4, 9]


def test_nb101_default_size_forward():
    net = nb101_network(NB101_MIXED).eval()
    with torch.no_grad():
        assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.momentum == pytest.approx(0.003) and m.eps == 1e-5 for m in bns)


def test_nb101_without_bn_and_odd_size():
    net = nb101_network(NB101_MIXED, stem_channels=8, use_bn=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert net(torch.randn(2, 3, 15, 15)).shape == (2, 10)  # 15 -> 8 -> 4, TF 'same' pooling


@pytest.mark.parametrize("kwargs, match", [
    ({"spec": "not a spec"}, "spec must be"),
    ({"num_classes": 0}, "num_classes"),
    ({"num_classes": 2.5}, "num_classes"),
    ({"stem_channels": True}, "stem_channels"),
    ({"stem_channels": 1}, "stem_channels=1"),  # NB101_MIXED concatenates 2 vertices
    ({"num_stacks": 0}, "num_stacks"),
    ({"cells_per_stack": -1}, "cells_per_stack"),
    ({"use_bn": 1}, "use_bn"),
    ({"bn_momentum": 1.5}, "bn_momentum"),
    ({"bn_eps": 0.0}, "bn_eps"),
    ({"bn_eps": float("nan")}, "bn_eps"),
])
def test_nb101_bad_inputs(kwargs, match):
    kwargs = {"spec": NB101_MIXED, **kwargs}
    with pytest.raises(ValueError, match=match):
        nb101_network(**kwargs)


def test_nb101_bad_input_shape():
    net = nb101_network(NB101_MIXED, stem_channels=4)
    with pytest.raises(ValueError, match=r"\(2, 1, 8, 8\)"):
        net(torch.randn(2, 1, 8, 8))


# ---- DARTS --------------------------------------------------------------------------------------

def test_darts_v2_parameter_count():
    with torch.device("meta"):
        net = darts_network(darts.parse(DARTS_V2), C=36, layers=20, num_classes=10)
    count = n_trainable(net)
    print(f"DARTS-V2, C=36, 20 layers: {count} parameters")
    assert 3_250_000 <= count <= 3_400_000  # Liu et al. 2019, Table 1: 3.3M
    assert count == 3_349_342  # "param size = 3.349342MB" as DARTS's train.py logs it
    with torch.device("meta"):
        aux = darts_network(darts.parse(DARTS_V2), C=36, layers=20, auxiliary=True)
    # DARTS's count_parameters_in_MB leaves the auxiliary head out
    assert sum(p.numel() for k, p in aux.named_parameters() if "auxiliary" not in k) == count


@pytest.mark.parametrize("seed", [0, 1])
def test_darts_random_genotype_output_and_gradients(seed):
    torch.manual_seed(seed)
    genotype = darts.sample(np.random.default_rng(seed))
    net = darts_network(genotype, C=16, layers=8, num_classes=10)
    assert len(net.cells) == 8 and [c.reduction for c in net.cells].count(True) == 2
    assert net.cells[2].reduction and net.cells[5].reduction
    out = forward_backward(net, torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    # a cell whose edges never read its input 0 leaves that preprocessing unused, as in DARTS
    unused = tuple(f"cells.{i}.pre0." for i, c in enumerate(net.cells) if 0 not in c.inputs)
    assert_conv_grads(net, skip=unused)


def test_darts_auxiliary_and_drop_path():
    torch.manual_seed(0)
    net = darts_network(darts.parse(DARTS_V2), C=8, layers=5, num_classes=3, auxiliary=True, drop_path_prob=0.3)
    x = torch.randn(2, 3, 32, 32)
    logits, aux = net(x)
    assert logits.shape == aux.shape == (2, 3)
    assert net.eval()(x).shape == (2, 3)


@pytest.mark.parametrize("op", DARTS_OPS)
@pytest.mark.parametrize("stride", [1, 2])
def test_darts_every_op_shape(op, stride):
    y = make_op(op, 6, stride)(torch.randn(2, 6, 8, 8))
    assert y.shape == (2, 6, 8 // stride, 8 // stride)
    if op == "none":
        assert not y.any()


def test_darts_ops_cover_genotype_ops():
    assert set(darts.OPS) | {"none"} == set(DARTS_OPS)


@pytest.mark.parametrize("kwargs, match", [
    ({"genotype": DARTS_V2}, "genotype must be"),
    ({"C": 0}, "C must be"),
    ({"C": 16.0}, "C must be"),
    ({"layers": False}, "layers must be"),
    ({"num_classes": -3}, "num_classes must be"),
    ({"drop_path_prob": 1.0}, "drop_path_prob"),
    ({"auxiliary": "yes"}, "auxiliary"),
    ({"auxiliary": True, "layers": 1}, "layers >= 2"),
])
def test_darts_bad_inputs(kwargs, match):
    kwargs = {"genotype": darts.parse(DARTS_V2), **kwargs}
    with pytest.raises(ValueError, match=match):
        darts_network(**kwargs)


@pytest.mark.parametrize("args, match", [(("conv_7x1_1x7", 4, 1), "conv_7x1_1x7"), (("max_pool_3x3", 4, 3), "stride")])
def test_darts_bad_op(args, match):
    with pytest.raises(ValueError, match=match):
        make_op(*args)

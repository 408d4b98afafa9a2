"""DARTS / NB-301 space: genotype validation, the DARTS text form, NASLib's compact form, sampling."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from known_genotypes import DARTS_V2

from nasfast.data import data_path
from nasfast.spaces import darts
from nasfast.spaces.darts import OPS, Genotype

BAD = (ValueError, TypeError)


@pytest.fixture(scope="module")
def nb301():
    with np.load(data_path("nb301", "nb301_zc_naslib.npz")) as z:
        return {k: z[k] for k in ("ops", "genotype", "genotype_json", "b_genotype")}


def cell_text(edges) -> str:
    return "[" + ", ".join(f"('{op}', {src})" for op, src in edges) + "]"


def genotype_text(normal, reduce, nc="range(2, 6)", rc="range(2, 6)") -> str:
    return f"Genotype(normal={cell_text(normal)}, normal_concat={nc}, reduce={cell_text(reduce)}, reduce_concat={rc})"


# ---- bundled data -------------------------------------------------------------------------------

def test_op_order_matches_bundled_data(nb301):
    assert tuple(nb301["ops"]) == OPS


def test_bundled_genotypes_round_trip(nb301):
    for compact, js in zip(nb301["genotype"], nb301["genotype_json"]):
        g = darts.from_compact(compact)
        readable = json.loads(str(js))
        assert g == Genotype(normal=readable["normal"], reduce=readable["reduce"])
        assert darts.parse(str(g)) == g
        assert np.array_equal(g.to_compact(), compact)
    for compact in nb301["b_genotype"]:
        g = darts.from_compact(compact)
        assert darts.parse(str(g)) == g and np.array_equal(g.to_compact(), compact)


# ---- the text form ------------------------------------------------------------------------------

def test_parse_darts_v2_and_print_darts_form():
    g = darts.parse(DARTS_V2)
    assert g.normal[7] == ("dil_conv_3x3", 2) and g.reduce[0] == ("max_pool_3x3", 0)
    assert g.normal_concat == g.reduce_concat == (2, 3, 4, 5)
    text = str(g)
    assert text.startswith("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1),")
    assert text.endswith("('max_pool_3x3', 1)], reduce_concat=range(2, 6))")
    assert text.replace("range(2, 6)", "[2, 3, 4, 5]") == DARTS_V2
    assert repr(g) == text


def test_parse_accepts_python_spellings():
    g = darts.parse(DARTS_V2)
    reordered = (f'Genotype(\n  reduce={cell_text(g.reduce)}, reduce_concat=range(2, 6,),\n'
                 f'  normal={cell_text(g.normal).replace(chr(39), chr(34))}, normal_concat=[2, 3, 4, 5,],\n)')
    assert darts.parse(reordered) == g
    assert darts.parse(DARTS_V2.replace("('skip_connect', 0)", "('skip_connect', 0,)")) == g


@pytest.mark.parametrize("text, message", [
    ("", "position 0: expected 'Genotype', found the end"),
    ("__import__('os').system('true')", "expected 'Genotype', found a name '__import__'"),
    (DARTS_V2.replace("'dil_conv_3x3'", "'none'"), "unknown DARTS op 'none'"),
    (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"), r"normal edge 7 \(node 5\) reads node 5, expected 0..4"),
    (DARTS_V2.replace("('sep_conv_3x3', 1), ('sep_conv_3x3', 0)", "('sep_conv_3x3', 1), ('sep_conv_3x3', 1)", 1),
     "normal node 3 reads node 1 twice"),
    (DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3, 4]"), r"normal_concat is \[2, 3, 4\]"),
    (DARTS_V2.replace(", reduce_concat=[2, 3, 4, 5]", ""), r"missing \['reduce_concat'\]"),
    (DARTS_V2.replace("reduce_concat", "normal_concat"), "'normal_concat' given twice"),
    (DARTS_V2.replace("normal=", "norm="), "unknown Genotype field 'norm'"),
    (DARTS_V2 + ")", r"unexpected '\)' after the Genotype"),
    (DARTS_V2.replace("('sep_conv_3x3', 0), ", "", 1), "normal cell has 7 edges, expected 8"),
    (DARTS_V2.replace("[2, 3, 4, 5]", "range(2 6)", 1), "expected ',', found an integer 6"),
    (DARTS_V2.replace("('skip_connect', 0)", "('skip_connect', 01)", 1), "unexpected character '0'"),
    (DARTS_V2.replace("'", "", 1), "position 18: expected a quoted op name, found a name 'sep_conv_3x3'"),
    (DARTS_V2[:-1], "expected '\\)', found the end"),
    (DARTS_V2.replace("[2, 3, 4, 5]", "range(2, 1000000000000)", 1), r"range\(2, 1000000000000\) is not range\(2, 6\)"),
])
def test_parse_errors_name_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        darts.parse(text)


def test_parse_rejects_non_strings():
    with pytest.raises(TypeError):
        darts.parse(b"Genotype()")
    with pytest.raises(TypeError):
        darts.parse(None)


# ---- the Genotype and compact form --------------------------------------------------------------

def test_genotype_validation_messages():
    g = darts.parse(DARTS_V2)
    with pytest.raises(TypeError, match="op must be an op name"):
        Genotype(normal=[(src, op) for op, src in g.normal], reduce=g.reduce)
    with pytest.raises(TypeError, match="input must be an int"):
        Genotype(normal=[(op, True) for op, _ in g.normal], reduce=g.reduce)
    with pytest.raises(TypeError):
        Genotype(normal="sep_conv_3x3", reduce=g.reduce)
    with pytest.raises(ValueError, match="reduce node 3 reads node 2 twice"):
        Genotype(normal=g.normal, reduce=[*g.reduce[:2], ("skip_connect", 2), ("max_pool_3x3", 2), *g.reduce[4:]])
    with pytest.raises(AttributeError):
        g.normal = g.reduce
    assert pickle.loads(pickle.dumps(g)) == g and hash(g) == hash(darts.parse(DARTS_V2))


def test_compact_errors():
    good = darts.parse(DARTS_V2).to_compact()
    assert darts.from_compact(torch.from_numpy(good)) == darts.from_compact(good.tolist())
    bad = good.copy()
    bad[1, 3, 1] = 7
    with pytest.raises(ValueError, match="reduce edge 3 has op index 7, expected 0..6"):
        darts.from_compact(bad)
    bad = good.copy()
    bad[0, 6, 0] = 5
    with pytest.raises(ValueError, match="normal edge 6 .* reads node 5"):
        darts.from_compact(bad)
    with pytest.raises(ValueError, match=r"shape \(2, 8, 2\)"):
        darts.from_compact(good[:, :7])
    with pytest.raises(ValueError, match="non-integer"):
        darts.from_compact(good.astype(float) + 0.5)
    with pytest.raises(TypeError):
        darts.from_compact(good.astype(str))


# ---- sampling and mutation ----------------------------------------------------------------------

def test_sample_is_valid_seeded_and_covers_the_space():
    rng = np.random.default_rng(0)
    gs = [darts.sample(rng) for _ in range(500)]
    assert darts.sample(np.random.default_rng(3)) == darts.sample(np.random.default_rng(3))
    compact = np.stack([g.to_compact() for g in gs])
    assert set(compact[..., 1].ravel()) == set(range(7))
    for node in range(4):
        assert set(compact[:, :, 2 * node: 2 * node + 2, 0].ravel()) == set(range(node + 2))


def test_mutate_changes_exactly_one_field():
    rng = np.random.default_rng(1)
    g = darts.sample(rng)
    kinds = set()
    for _ in range(500):
        child = darts.mutate(g, rng)
        diff = np.argwhere(child.to_compact() != g.to_compact())
        assert len(diff) == 1
        kinds.add(int(diff[0][2]))
        g = child
    assert kinds == {0, 1}  # both inputs and ops get mutated
    with pytest.raises(TypeError):
        darts.mutate(DARTS_V2, rng)


# ---- property tests -----------------------------------------------------------------------------

@st.composite
def cells(draw):
    edges = []
    for node in range(4):
        srcs = draw(st.lists(st.integers(0, node + 1), min_size=2, max_size=2, unique=True))
        edges += [(draw(st.sampled_from(OPS)), s) for s in srcs]
    return edges


@settings(max_examples=1000, deadline=None)
@given(cells(), cells())
def test_valid_genotypes_round_trip(normal, reduce):
    g = Genotype(normal=normal, reduce=reduce)
    assert darts.parse(genotype_text(normal, reduce)) == g
    assert darts.parse(str(g)) == g
    assert darts.from_compact(g.to_compact()) == g


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=60))
def test_random_text_is_rejected(text):
    with pytest.raises(ValueError):
        darts.parse(text)


VOCAB = ["Genotype", "(", ")", "[", "]", ",", "=", "normal", "reduce", "normal_concat", "reduce_concat",
         "range", "0", "1", "2", "5", "6", "'sep_conv_3x3'", "'none'", "'skip_connect'", " ", "\n"]


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(VOCAB), max_size=80))
def test_token_soup_never_crashes_or_passes_silently(tokens):
    text = "".join(tokens)
    try:
        g = darts.parse(text)
    except ValueError:
        return
    assert darts.parse(str(g)) == g and darts.from_compact(g.to_compact()) == g


NEAR_MISSES = ["bad_op", "out_of_range", "negative", "duplicate", "drop_edge", "extra_edge", "concat",
               "missing_field", "unknown_field", "truncate", "swap_pair"]


@settings(max_examples=1000, deadline=None)
@given(cells(), cells(), st.sampled_from(NEAR_MISSES), st.data())
def test_near_miss_text_is_rejected(normal, reduce, kind, data):
    cell = data.draw(st.sampled_from([normal, reduce]))
    e = data.draw(st.integers(0, 7))
    nc = rc = "range(2, 6)"
    if kind == "bad_op":
        cell[e] = (data.draw(st.sampled_from(["none", "conv_3x3", "sep_conv_7x7", "SEP_CONV_3X3", ""])), cell[e][1])
    elif kind == "out_of_range":
        cell[e] = (cell[e][0], data.draw(st.integers(e // 2 + 2, 99)))
    elif kind == "negative":
        cell[e] = (cell[e][0], data.draw(st.integers(-9, -1)))
    elif kind == "duplicate":
        cell[e] = (cell[e][0], cell[e ^ 1][1])
    elif kind == "drop_edge":
        del cell[e]
    elif kind == "extra_edge":
        cell.insert(e, cell[e])
    elif kind == "concat":
        nc = data.draw(st.sampled_from(["range(2, 5)", "range(1, 6)", "[2, 3, 4]", "[2, 3, 4, 5, 6]",
                                        "[5, 4, 3, 2]", "[]", "range(6)", "2"]))
    text = genotype_text(normal, reduce, nc, rc)
    if kind == "missing_field":
        text = text.replace(data.draw(st.sampled_from([", normal_concat=range(2, 6)", ", reduce_concat=range(2, 6)"])), "")
    elif kind == "unknown_field":
        text = text.replace("reduce=", "reduction=")
    elif kind == "truncate":
        text = text[: data.draw(st.integers(0, len(text) - 1))]
    elif kind == "swap_pair":  # (input, op) instead of (op, input)
        text = text.replace(f"('{cell[e][0]}', {cell[e][1]})", f"({cell[e][1]}, '{cell[e][0]}')")
    with pytest.raises(ValueError):
        darts.parse(text)


@settings(max_examples=1000, deadline=None)
@given(cells(), cells(), st.data())
def test_one_character_edits_fail_or_change_nothing(normal, reduce, data):
    g = Genotype(normal=normal, reduce=reduce)
    text = str(g)
    pos = data.draw(st.integers(0, len(text) - 1))
    if data.draw(st.booleans()):
        edited = text[:pos] + text[pos + 1:]
    else:
        edited = text[:pos] + data.draw(st.sampled_from(list("0123456789_,()[]=' \"-ax"))) + text[pos:]
    try:
        parsed = darts.parse(edited)
    except ValueError:
        return
    assert parsed == g  # only edits that change nothing (whitespace, a trailing comma) may parse


garbage = st.one_of(
    st.lists(st.lists(st.lists(st.integers(-3, 9), max_size=3), max_size=9), max_size=3),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=4),
    st.builds(lambda v: np.full((2, 8, 2), v), st.one_of(st.integers(-2, 8), st.floats(allow_nan=True))),
    st.builds(lambda a: np.array(a, dtype=np.uint64).reshape(-1), st.lists(st.integers(0, 2**64 - 1), max_size=32)),
    st.text(max_size=4), st.none(), st.integers(),
)


@settings(max_examples=1000, deadline=None)
@given(garbage)
def test_compact_garbage_never_crashes_or_passes_silently(value):
    try:
        g = darts.from_compact(value)
    except BAD:
        return
    assert np.array_equal(g.to_compact(), np.asarray(value))


@settings(max_examples=1000, deadline=None)
@given(cells(), cells(), st.sampled_from(["op", "input", "duplicate", "shape", "float"]), st.data())
def test_compact_near_misses_are_rejected(normal, reduce, kind, data):
    arr = Genotype(normal=normal, reduce=reduce).to_compact().astype(np.int64)
    c, e = data.draw(st.integers(0, 1)), data.draw(st.integers(0, 7))
    if kind == "op":
        arr[c, e, 1] = data.draw(st.sampled_from([-1, 7, 8, 100]))
    elif kind == "input":
        arr[c, e, 0] = data.draw(st.sampled_from([-1, e // 2 + 2, 9]))
    elif kind == "duplicate":
        arr[c, e, 0] = arr[c, e ^ 1, 0]
    elif kind == "shape":
        arr = data.draw(st.sampled_from([arr[:, :7], arr[:1], arr[..., :1], arr.reshape(4, 4, 2), arr[None]]))
    else:
        arr = arr.astype(float)
        arr[c, e, data.draw(st.integers(0, 1))] = data.draw(st.sampled_from([np.nan, np.inf, 0.5, -0.25]))
    with pytest.raises(BAD):
        darts.from_compact(arr)


def test_canonical_compact_orders_each_nodes_edges_and_keeps_the_rest():
    rng = np.random.default_rng(0)
    batch = np.stack([darts.sample(rng).to_compact() for _ in range(50)])
    canon = darts.canonical_compact(batch)
    assert canon.shape == batch.shape and canon.dtype == batch.dtype
    pairs = canon.reshape(50, 2, 4, 2, 2)
    key = pairs[..., 0] * 16 + pairs[..., 1]
    assert (key[..., 0] <= key[..., 1]).all()
    # the same two edges per node, and idempotent
    before = batch.reshape(50, 2, 4, 2, 2)
    assert all(sorted(map(tuple, before[i, c, n])) == sorted(map(tuple, pairs[i, c, n]))
               for i in range(50) for c in range(2) for n in range(4))
    assert (darts.canonical_compact(canon) == canon).all()
    assert all(darts.from_compact(c).to_compact().tolist() == c.tolist() for c in canon)  # still valid genotypes

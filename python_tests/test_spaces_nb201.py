"""NB201 space: parse/print exactly as NAS-Bench-201, index <-> string, encoding, mutation, classes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nas_201_api import NASBench201API

from nasfast.spaces import nb201

ALL = nb201.all_archs()
STRINGS = [str(s) for s in nb201._index_strings()]


def test_parse_equals_str2lists_for_all_15625():
    agree = 0
    for arch, text in zip(ALL, STRINGS):
        ref = NASBench201API.str2lists(text)
        ours = [tuple((arch.ops[k], src) for k, (d, src) in enumerate(nb201.EDGES) if d == dst) for dst in (1, 2, 3)]
        agree += ours == [tuple(node) for node in ref]
    assert agree == 15625


def test_print_round_trips_and_index_agrees_with_bundled_table():
    assert [str(a) for a in ALL] == STRINGS
    assert [a.index for a in ALL] == list(range(15625))
    assert all(nb201.from_index(i) == ALL[i] for i in (0, 1, 6111, 9930, 15624))
    assert len({a.code for a in ALL}) == 15625


def test_ops_follow_string_edge_order():
    arch = nb201.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|avg_pool_3x3~1|none~2|")
    assert arch.ops == ("nor_conv_3x3", "none", "skip_connect", "nor_conv_1x1", "avg_pool_3x3", "none")
    assert nb201.EDGES == ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


def test_codes_and_indices_are_inverse():
    idx = np.arange(15625)
    assert np.array_equal(nb201.codes_to_indices(nb201.indices_to_codes(idx)), idx)
    ops = nb201.op_indices(ALL[:50])
    assert np.array_equal(nb201.codes_to_op_indices(nb201.op_indices_to_codes(ops)), ops)


@pytest.mark.parametrize("ops, match", [
    ([[0, 1, 2, 3, 4, 5]], r"\[0, 5\)"),
    ([[0, -1, 0, 0, 0, 0]], r"\[0, 5\)"),
    ([[0, 1, 2, 3, 4]], "6 per arch"),
])
def test_op_indices_to_codes_refuses_out_of_range_or_misshapen_ops(ops, match):
    with pytest.raises(ValueError, match=match):
        nb201.op_indices_to_codes(np.array(ops))
    with pytest.raises(TypeError, match="integers"):
        nb201.op_indices_to_codes(np.zeros((1, 6)))


def test_index_and_code_helpers_refuse_what_would_wrap():
    for fn in (nb201.indices_to_codes, nb201.codes_to_indices, nb201.codes_to_op_indices):
        with pytest.raises(ValueError, match=r"0\.\.15624"):
            fn(np.array([3, -1]))
        with pytest.raises(ValueError, match=r"0\.\.15624"):
            fn([15625])
        with pytest.raises(TypeError, match="integers"):
            fn(np.array([1.7]))
    with pytest.raises(TypeError, match="code must be an int"):
        nb201.from_code(1.7)
    assert nb201.codes_to_indices(nb201.indices_to_codes([0, 15624])).tolist() == [0, 15624]


def test_encoding_is_one_hot_per_edge():
    enc = nb201.encode(ALL[:100])
    assert enc.shape == (100, 6, 5)
    assert (enc.sum(-1) == 1).all()
    assert enc.argmax(-1).tolist() == [list(a.op_indices) for a in ALL[:100]]


def test_mutation_changes_exactly_one_edge_to_a_different_op():
    rng = np.random.default_rng(0)
    for arch in ALL[:2000:7]:
        child = nb201.mutate(arch, rng)
        assert sum(a != b for a, b in zip(arch.ops, child.ops)) == 1


def test_sampling_is_uniform_over_ops():
    rng = np.random.default_rng(0)
    ops = nb201.op_indices([nb201.sample(rng) for _ in range(5000)])
    freq = np.bincount(ops.ravel(), minlength=5) / ops.size
    assert np.all(np.abs(freq - 0.2) < 0.02)


def reference_class(arch: nb201.NB201Arch) -> tuple:
    """Independent NB201 class rule: keep edges that are not `none` and lie on an input->output
    path; the only freedom left is swapping the two sum nodes, so the class is the lesser of the
    two (src, dst, op) edge sets."""
    live = [(src, dst, op) for (dst, src), op in zip(nb201.EDGES, arch.ops) if op != "none"]
    reach_in, reach_out = {0}, {3}
    for src, dst, _ in sorted(live, key=lambda e: e[0]):
        if src in reach_in:
            reach_in.add(dst)
    for src, dst, _ in sorted(live, key=lambda e: -e[1]):
        if dst in reach_out:
            reach_out.add(src)
    alive = [e for e in live if e[0] in reach_in and e[1] in reach_out]
    swap = {0: 0, 1: 2, 2: 1, 3: 3}
    return min(tuple(sorted(alive)), tuple(sorted((swap[s], swap[d], op) for s, d, op in alive)))


def test_isomorphism_classes_equal_an_independent_rule():
    hashes = nb201.canonical_hash(ALL)
    ref = [reference_class(a) for a in ALL]
    assert len(set(hashes)) == len(set(ref)) == len(set(zip(hashes, ref)))


def test_isomorphism_classes_of_the_space():
    hashes = nb201.canonical_hash(ALL)
    # The 341 cells with no input->output path form one class (all-zero hash).
    assert sum(h == "0" * 32 for h in hashes) == 341
    # Swapping the roles of nodes 1 and 2 is not possible in NB201's fixed order, but dead edges are:
    # any op on a dead edge gives the same class.
    dead = nb201.parse("|none~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|none~1|nor_conv_1x1~2|")
    dead2 = nb201.parse("|none~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|none~1|nor_conv_1x1~2|")
    assert nb201.canonical_hash([dead])[0] == nb201.canonical_hash([dead2])[0]
    n_classes = len(set(hashes))
    # Fewer classes than cells, more than the benchmark's functional canonicalisation (6,466).
    assert 6466 < n_classes < 15625


# ---- errors: each names the offending value ------------------------------------------------------

@pytest.mark.parametrize(
    "text, fragment",
    [
        ("|nor_conv_3x3~0|+|none~0|skip_connect~1|", "3 separated"),
        ("|conv~0|+|none~0|skip_connect~1|+|none~0|none~1|none~2|", "unknown NB201 op 'conv'"),
        ("|none~1|+|none~0|skip_connect~1|+|none~0|none~1|none~2|", "expected ~0"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 has 1 inputs"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "wrapped"),
        ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "'op~input'"),
    ],
)
def test_invalid_strings_raise_value_error_naming_the_problem(text, fragment):
    with pytest.raises(ValueError, match=fragment.replace("|", r"\|").replace("(", r"\(")):
        nb201.parse(text)


def test_wrong_types_raise_type_error():
    for bad in (None, 3.5, b"|none~0|", ["none"] * 6):
        with pytest.raises(TypeError):
            nb201.parse(bad)
    with pytest.raises(ValueError, match="15625"):
        nb201.from_index(15625)


# ---- property tests: garbage and near misses never crash, never pass silently ---------------------

_pieces = st.sampled_from(list(nb201.OPS) + ["|", "+", "~", "0", "1", "2", "3", "conv", " ", "~0|", "|+|"])


@settings(max_examples=1000, deadline=None)
@given(st.lists(_pieces, max_size=30).map("".join))
def test_random_token_soup_is_rejected_or_round_trips(text):
    try:
        arch = nb201.parse(text)
    except ValueError:
        return
    assert str(arch) == text  # only an exact canonical string is accepted


@settings(max_examples=1000, deadline=None)
@given(st.integers(0, 15624), st.integers(0, 200), st.characters(codec="utf-8"))
def test_one_character_edits_of_valid_strings_never_pass_silently(index, position, char):
    text = STRINGS[index]
    position %= len(text)
    edited = text[:position] + char + text[position + 1:]
    try:
        arch = nb201.parse(edited)
    except ValueError:
        return
    # An edit can only be accepted when it spells another valid canonical string.
    assert str(arch) == edited


@pytest.mark.parametrize("space", ["nb201", "nb101", "darts"])
def test_sample_and_mutate_name_the_generator_they_need(space):
    import importlib

    module = importlib.import_module(f"nasfast.spaces.{space}")
    arch = module.sample(np.random.default_rng(0))
    for bad in (5, None):
        with pytest.raises(TypeError, match=rf"{space}\.sample takes a numpy Generator"):
            module.sample(bad)
        with pytest.raises(TypeError, match=rf"{space}\.mutate takes a numpy Generator"):
            module.mutate(arch, bad)
    with pytest.raises(TypeError, match="call it n times"):
        module.sample(5)


def test_a_lone_arch_where_a_batch_is_expected_is_named():
    with pytest.raises(TypeError, match="wrap it in a list"):
        nb201.canonical_hash(STRINGS[0])
    # mutate takes what as_arch takes: an arch string or index as well as an NB201Arch
    rng = np.random.default_rng(0)
    assert nb201.mutate(STRINGS[7], rng) != ALL[7] and nb201.mutate(7, rng) != ALL[7]


@pytest.mark.parametrize("token", ["none~00", "none~01", "none~\u0660", "none~ 0"])
def test_parse_refuses_edge_inputs_that_would_not_print_back(token):
    text = f"|{token}|+|none~0|none~1|+|none~0|none~1|none~2|"
    with pytest.raises(ValueError, match="is not 'op~input'"):
        nb201.parse(text)


def test_naslib_op_indices_convert_to_the_bundled_archs():
    """The zero-cost file's ``op_indices_naslib`` (NASLib's op and edge order) convert to the archs
    its ``index`` names, for all three datasets."""
    from nasfast.tabular.bundled import NB201_ZC, npz_array

    for tag in ("c10", "c100", "in16"):
        ours = nb201.from_naslib_op_indices(npz_array(NB201_ZC, f"{tag}_op_indices_naslib"))
        want = nb201.codes_to_op_indices(nb201.indices_to_codes(npz_array(NB201_ZC, f"{tag}_index")))
        assert np.array_equal(ours, want)
    with pytest.raises(ValueError, match="NASLib op indices"):
        nb201.from_naslib_op_indices(np.array([[0, 1, 2, 3, 4, 5]]))

"""Search strategies, the tabular evaluator, the runner, and the NB201 RS/REA baselines."""

from __future__ import annotations

import collections
import fcntl
import json
import math
import re

import numpy as np
import pytest

from nasfast import tabular
from nasfast.evaluators import DATASET_COLUMNS, TabularEvaluator, build_evaluator
from nasfast.search import (
    HISTORY_FIELDS,
    RandomSearch,
    RegularizedEvolution,
    Request,
    Result,
    ResumeError,
    RunDirectoryInUse,
    SpaceExhausted,
    Trace,
    build_strategy,
    read_history,
    run_search,
    search,
)
from nasfast.spaces import nb201


@pytest.fixture(scope="module")
def bench():
    return tabular.load("nb201")


def toy_score(arch: nb201.NB201Arch) -> float:
    """A deterministic fake accuracy: more 3x3 convs is better, ties broken by the arch code."""
    return arch.op_indices.count(3) * 10.0 + arch.code / nb201.NUM_ARCHS


def toy_evaluator(request: Request) -> Result:
    v = toy_score(request.arch)
    return Result(valid_acc=v, test_acc=v - 1.0, cost=1.0)


def hamming(a: nb201.NB201Arch, b: nb201.NB201Arch) -> int:
    return sum(x != y for x, y in zip(a.ops, b.ops))


# ---- strategies -----------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda s: RandomSearch(nb201, s), lambda s: RegularizedEvolution(nb201, s)])
def test_same_seed_same_history(make, bench):
    ev = TabularEvaluator(bench, "cifar100")
    a = search(make(7), ev, 150).observations
    b = search(make(7), ev, 150).observations
    c = search(make(8), ev, 150).observations
    assert [o.arch for o in a] == [o.arch for o in b]
    assert a == b  # no NaN in this table, so dataclass equality is exact
    assert [o.arch for o in a] != [o.arch for o in c]


def test_random_search_is_a_permutation_of_the_space():
    rs = RandomSearch(nb201, seed=3)
    archs = [r.arch for r in rs.ask(nb201.NUM_ARCHS)]
    assert len(set(archs)) == nb201.NUM_ARCHS
    with pytest.raises(SpaceExhausted):
        rs.ask()


def test_request_ids_count_from_zero():
    rea = RegularizedEvolution(nb201, seed=0)
    assert [r.id for r in rea.ask(3)] == [0, 1, 2]
    assert rea.ask()[0].id == 3


def test_rea_never_repeats():
    rea = RegularizedEvolution(nb201, seed=1, population=10, tournament=3)
    trace = search(rea, toy_evaluator, 3000)
    archs = [o.arch for o in trace.observations]
    assert len(set(archs)) == len(archs) == 3000


def test_rea_population_is_first_p_random_then_ages():
    P = 5
    rea = RegularizedEvolution(nb201, seed=2, population=P, tournament=2)
    asked = []
    for i in range(P + 3):
        [req] = rea.ask()
        asked.append(req.arch)
        rea.tell(req, toy_evaluator(req))
        # aging: the population is the last min(i+1, P) archs, oldest first
        assert [a for a, _ in rea.population] == asked[-min(i + 1, P):]
    # every child after the first P is one edge away from some member alive when it was asked
    for i in range(P, P + 3):
        alive = asked[i - P:i]
        assert any(hamming(asked[i], m) == 1 for m in alive)


def test_rea_large_tournament_picks_the_best_member():
    # with S = 200 draws from P = 10, missing the best member has probability 0.9**200 ~ 7e-10
    rea = RegularizedEvolution(nb201, seed=4, population=10, tournament=200)
    for _ in range(60):
        [req] = rea.ask()
        if len(rea.history) >= 10:
            best = max(rea.population, key=lambda m: m[1])[0]
            assert hamming(req.arch, best) == 1  # every child comes from the best member
        rea.tell(req, toy_evaluator(req))


def test_rea_tournament_draws_with_replacement():
    # P = 2, S = 2: with replacement the worse member wins whenever it is drawn twice (1/4 of the
    # time); without replacement it could never win.
    rea = RegularizedEvolution(nb201, seed=5, population=2, tournament=2)
    good, bad = nb201.from_index(0), nb201.from_index(1)
    rea.population.extend([(good, 90.0), (bad, 80.0)])
    wins = collections.Counter(str(rea._tournament()) for _ in range(4000))
    assert abs(wins[str(bad)] / 4000 - 0.25) < 0.03


def test_rea_tournament_ties_go_to_the_first_drawn():
    rea = RegularizedEvolution(nb201, seed=6, population=3, tournament=3)
    archs = [nb201.from_index(i) for i in range(3)]
    rea.population.extend([(a, 50.0) for a in archs])
    for _ in range(50):
        # the same draws the tournament is about to make, from a copy of the strategy's generator
        twin = type(rea.rng.bit_generator)()
        twin.state = rea.rng.bit_generator.state
        first = int(np.random.Generator(twin).integers(3, size=3)[0])
        assert rea._tournament() == archs[first]


def test_rea_nan_never_selected():
    # a failed (NaN) member never beats a real one; with S = 60 both members are drawn (p = 1 - 2**-59)
    rea = RegularizedEvolution(nb201, seed=0, population=2, tournament=60)
    rea.tell(rea.ask()[0], Result(valid_acc=math.nan))
    req = rea.ask()[0]
    rea.tell(req, Result(valid_acc=1.0))
    assert all(rea._tournament() == req.arch for _ in range(20))


def test_rea_batched_ask_is_distinct():
    rea = RegularizedEvolution(nb201, seed=9, population=10, tournament=3)
    first = rea.ask(25)  # no result back yet: all random
    for r in first:
        rea.tell(r, toy_evaluator(r))
    more = rea.ask(25)
    archs = [r.arch for r in first + more]
    assert len(set(archs)) == 50


@pytest.mark.parametrize("cls", [RandomSearch, RegularizedEvolution])
def test_candidates_restrict_proposals(cls):
    rng = np.random.default_rng(0)
    allowed = [nb201.from_index(int(i)) for i in rng.choice(nb201.NUM_ARCHS, 40, replace=False)]
    strat = cls(nb201, 0, candidates=set(allowed))
    trace = search(strat, toy_evaluator, 40)
    assert {o.arch for o in trace.observations} == {str(a) for a in allowed}
    with pytest.raises(SpaceExhausted):
        strat.ask()
    # candidates given as strings, indices or in another order build the same strategy
    again = cls(nb201, 0, candidates=[str(a) for a in reversed(allowed)])
    assert [o.arch for o in search(again, toy_evaluator, 40).observations] == [o.arch for o in trace.observations]


def test_budget_larger_than_space_is_an_error():
    with pytest.raises(ValueError, match="budget 15626 exceeds the 15625"):
        search(RandomSearch(nb201, 0), toy_evaluator, nb201.NUM_ARCHS + 1)
    with pytest.raises(ValueError, match="budget 11 exceeds the 10 candidate archs"):
        search(RandomSearch(nb201, 0, candidates=range(10)), toy_evaluator, 11)


def test_bad_rea_parameters():
    with pytest.raises(ValueError, match="population must be a positive integer, got 0"):
        RegularizedEvolution(nb201, 0, population=0)
    with pytest.raises(ValueError, match="tournament"):
        RegularizedEvolution(nb201, 0, tournament=2.5)


def test_build_strategy_round_trip():
    rea = RegularizedEvolution(nb201, 11, population=7, tournament=4)
    again = build_strategy(rea.config())
    assert again.config() == rea.config()
    assert [r.arch for r in again.ask(5)] == [r.arch for r in rea.ask(5)]
    with pytest.raises(ValueError, match="unknown search algorithm 'nope'"):
        build_strategy({**rea.config(), "algo": "nope"})


# ---- evaluator and reporting ----------------------------------------------------------------------

def test_tabular_evaluator_columns(bench):
    for ds, (valid, test, cost) in DATASET_COLUMNS.items():
        ev = TabularEvaluator(bench, ds)
        arch = nb201.from_index(9930)
        r = ev(Request(arch=arch, id=0))
        assert r.valid_acc == bench.value(9930, valid)
        assert r.test_acc == bench.value(9930, test)
        assert r.cost == bench.value(9930, cost)
        assert ev.total_cost == r.cost
        assert ev.config()["columns"] == {"valid": valid, "test": test, "cost": cost}
        assert build_evaluator(json.loads(json.dumps(ev.config()))).config() == ev.config()
    # notes §1: C100 optimum is x-test 73.5133 at arch 9930
    assert TabularEvaluator(bench, "cifar100")(Request(9930, 0)).test_acc == pytest.approx(73.5133, abs=1e-4)
    with pytest.raises(ValueError, match="unknown dataset 'mnist'.*cifar10"):
        TabularEvaluator(bench, "mnist")
    with pytest.raises(ValueError, match="full-budget"):
        TabularEvaluator(bench, "cifar10")(Request(0, 0, epochs=12))


def test_trace_incumbent_and_rules():
    t = Trace()
    t.add("a", Result(80.0, 70.0, 1.0))
    t.add("b", Result(85.0, 60.0, 2.0))
    t.add("c", Result(85.0, 99.0, math.nan))  # tie on validation: the first (b) stays incumbent
    o = t.observations[-1]
    assert (o.incumbent_arch, o.incumbent_valid_acc, o.incumbent_test_acc) == ("b", 85.0, 60.0)
    assert o.cumulative_cost == 3.0 and o.best_test_seen == 99.0
    assert t.report()["test_acc"] == 60.0 and t.report()["arch"] == "b"
    assert t.report("best-test-seen") == {"rule": "best-test-seen", "arch": "c", "test_acc": 99.0,
                                          "test_error": 1.0}
    with pytest.raises(ValueError, match="unknown report rule 'oracle'"):
        t.report("oracle")


# ---- acceptance: NB201 baselines ------------------------------------------------------------------

# Targets: shared/notes/nb201-baselines.md §2, "Test error (%) after 200 distinct evaluations,
# mean ± std over 100 seeds", rows "A valid -> test (incumbent)" (RS, REA P10 S3) and
# "C valid -> best test seen" (REA), computed there by an independent simulator.
TARGET_A = {("random", "cifar10"): 9.12, ("random", "cifar100"): 28.08, ("random", "ImageNet16-120"): 54.37,
            ("rea", "cifar10"): 8.85, ("rea", "cifar100"): 27.03, ("rea", "ImageNet16-120"): 53.67}
TARGET_C_REA = {"cifar10": 8.66, "cifar100": 26.78, "ImageNet16-120": 53.19}
SEEDS, BUDGET, TOL = 100, 200, 0.1


@pytest.fixture(scope="module")
def baselines(bench):
    """(algo, dataset) -> (incumbent test errors, best-test-seen errors) over 100 seeds."""
    out = {}
    for algo, dataset in TARGET_A:
        ev = TabularEvaluator(bench, dataset)
        inc, best = [], []
        for seed in range(SEEDS):
            strat = RandomSearch(nb201, seed) if algo == "random" else \
                RegularizedEvolution(nb201, seed, population=10, tournament=3)
            trace = search(strat, ev, BUDGET)
            assert len({o.arch for o in trace.observations}) == BUDGET
            inc.append(trace.report("incumbent")["test_error"])
            best.append(trace.report("best-test-seen")["test_error"])
        out[algo, dataset] = (np.array(inc), np.array(best))
    lines = [f"{'algo':<7}{'dataset':<16}{'A ours':>14}{'A notes':>9}{'C ours':>14}{'C notes':>9}"]
    for (algo, dataset), (inc, best) in out.items():
        c_ref = f"{TARGET_C_REA[dataset]:.2f}" if algo == "rea" else "-"
        lines.append(f"{algo:<7}{dataset:<16}{inc.mean():>8.2f} ±{inc.std():.2f}{TARGET_A[algo, dataset]:>9.2f}"
                     f"{best.mean():>8.2f} ±{best.std():.2f}{c_ref:>9}")
    print("\nNB201, 200 distinct evaluations, 100 seeds, test error % (mean ± std, ddof 0)\n" + "\n".join(lines))
    return out


@pytest.mark.parametrize("key", list(TARGET_A), ids=lambda k: f"{k[0]}-{k[1]}")
def test_baseline_incumbent_rule(baselines, key):
    mean = baselines[key][0].mean()
    assert abs(mean - TARGET_A[key]) <= TOL, f"{key}: {mean:.3f} vs notes {TARGET_A[key]}"


@pytest.mark.parametrize("dataset", list(TARGET_C_REA))
def test_baseline_rea_best_test_seen_rule(baselines, dataset):
    mean = baselines["rea", dataset][1].mean()
    assert abs(mean - TARGET_C_REA[dataset]) <= TOL, f"{dataset}: {mean:.3f} vs notes {TARGET_C_REA[dataset]}"


# ---- run directory --------------------------------------------------------------------------------

def _run(bench, out, budget=60, seed=3, **kw):
    return run_search(RegularizedEvolution(nb201, seed), TabularEvaluator(bench, "cifar10"), budget, out,
                      progress=False, **kw)


def test_run_directory_contents(bench, tmp_path):
    res = _run(bench, tmp_path / "run", report_rule="best-test-seen")
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert files == {"config.json", "history.csv", "result.json", "trajectory.png", ".lock"}
    rows = read_history(tmp_path / "run" / "history.csv")
    assert len(rows) == 60 and [r.step for r in rows] == list(range(1, 61))
    assert rows[-1].incumbent_arch == res["best_arch"]
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    assert saved["report_rule"] == "best-test-seen"
    assert saved["reported"]["test_acc"] == max(r.test_acc for r in rows)
    assert saved["columns"] == {"valid": "c10v_valid_acc", "test": "c10v_test_acc", "cost": "c10v_train_time_total"}
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert build_strategy(cfg["strategy"]).config() == RegularizedEvolution(nb201, 3).config()
    assert cfg["history_columns"] == list(HISTORY_FIELDS)


def test_refuses_to_overwrite(bench, tmp_path):
    _run(bench, tmp_path / "run", budget=5)
    with pytest.raises(FileExistsError, match="not empty; pass resume=True"):
        _run(bench, tmp_path / "run", budget=5)


def test_a_run_that_failed_before_its_first_observation_can_be_started_again(bench, tmp_path):
    def broken(request):
        raise RuntimeError("evaluator down")

    run = tmp_path / "run"
    with pytest.raises(RuntimeError, match="evaluator down"):
        run_search(RegularizedEvolution(nb201, 3), broken, 5, run, progress=False)
    assert {p.name for p in run.iterdir()} == {"config.json", "history.csv", ".lock"}
    _run(bench, run, budget=5)  # no --resume needed: nothing was observed
    _run(bench, tmp_path / "fresh", budget=5)
    assert (run / "history.csv").read_text() == (tmp_path / "fresh" / "history.csv").read_text()
    # anything that is not provably such leftovers is refused, and nothing in the directory is
    # touched: another tool's config.json (alone, or with a header-only history, or with more), a
    # search config with a history row, and a multi-fidelity run's leftovers
    header = ",".join(HISTORY_FIELDS) + "\n"
    search_config = (run / "config.json").read_text()
    mf_config = json.dumps({**json.loads(search_config), "history_columns": ["step", "arch", "epochs"]})
    row = (run / "history.csv").read_text().splitlines(keepends=True)[1]
    for i, files in enumerate(({"config.json": '{"my": "important settings"}'},
                               {"config.json": '{"my": "important settings"}', "history.csv": header},
                               {"config.json": "{}", "notes.txt": "mine"},
                               {"config.json": search_config, "history.csv": header + row},
                               {"config.json": mf_config},
                               {"history.csv": header})):
        other = tmp_path / f"other{i}"
        other.mkdir()
        for name, text in files.items():
            (other / name).write_text(text)
        with pytest.raises(FileExistsError, match="not empty"):
            _run(bench, other, budget=5)
        assert {p.name: p.read_text() for p in other.iterdir()} == files


def test_a_run_directory_in_use_is_refused_and_left_alone(bench, tmp_path):
    run, fresh = tmp_path / "run", tmp_path / "fresh"
    _run(bench, run, budget=10)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    fresh.mkdir()
    (fresh / ".lock").touch()
    with open(run / ".lock", "rb") as held, open(fresh / ".lock", "rb") as held_fresh:
        # as a search running in each directory holds them (from the test process: a second open()
        # is a separate lock holder to flock)
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(held_fresh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RunDirectoryInUse, match=re.escape(f"run directory {run} is in use by another search")):
            _run(bench, run, budget=20, resume=True)
        with pytest.raises(RunDirectoryInUse, match=re.escape(str(fresh))):
            _run(bench, fresh, budget=5)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    assert [p.name for p in fresh.iterdir()] == [".lock"]
    # the lock is released with its holder, and each run releases its own when it ends
    assert _run(bench, run, budget=20, resume=True)["resumed_at_step"] == 10
    assert _run(bench, run, budget=25, resume=True)["resumed_at_step"] == 20
    _run(bench, fresh, budget=5)


def test_resume_after_crash_equals_uninterrupted(bench, tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    _run(bench, full)
    _run(bench, cut)
    lines = (cut / "history.csv").read_text().splitlines(keepends=True)
    # 25 complete rows, then half of the 26th as a crash mid-write would leave it
    (cut / "history.csv").write_text("".join(lines[:26]) + lines[26][:40])
    (cut / "result.json").unlink()
    res = _run(bench, cut, resume=True)
    assert (cut / "history.csv").read_text() == (full / "history.csv").read_text()
    assert res["resumed_at_step"] == 25
    assert res["best_arch"] == json.loads((full / "result.json").read_text())["best_arch"]


def test_resume_can_extend_the_budget(bench, tmp_path):
    _run(bench, tmp_path / "a", budget=30)
    _run(bench, tmp_path / "a", budget=60, resume=True)
    _run(bench, tmp_path / "b", budget=60)
    assert (tmp_path / "a" / "history.csv").read_text() == (tmp_path / "b" / "history.csv").read_text()


def test_resume_refuses_another_config(bench, tmp_path):
    run = tmp_path / "run"
    _run(bench, run, budget=20)
    with pytest.raises(ResumeError, match="strategy config differs from the given one in seed: 3 -> 4; drop") as err:
        _run(bench, run, budget=20, seed=4, resume=True)
    assert "'algo'" not in str(err.value)  # only the differing keys, not both whole configs
    with pytest.raises(ValueError, match="already holds 20 evaluations, more than the budget 10"):
        _run(bench, run, budget=10, resume=True)


def test_replay_divergence_is_reported(bench, tmp_path):
    run = tmp_path / "run"
    _run(bench, run, budget=20)
    lines = (run / "history.csv").read_text().splitlines()
    row = lines[5].split(",")
    original = row[1]
    row[1] = str(nb201.from_index(0)) if original != str(nb201.from_index(0)) else str(nb201.from_index(1))
    lines[5] = ",".join(row)
    (run / "history.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(ResumeError, match="replay diverged at step 5"):
        _run(bench, run, budget=20, resume=True)


def test_tabular_evaluator_on_a_user_table(bench, tmp_path):
    path = tmp_path / "t.csv"
    with open(path, "w") as f:
        f.write("arch,ImageNet16-120/acc/valid/200ep\n")
        f.writelines(f"{nb201.from_index(i)},{bench.value(i, 'in16_valid_acc')!r}\n" for i in range(30))
    user = tabular.from_csv(path, "nb201")
    ev = TabularEvaluator(user, "ImageNet16-120", table_path=path)
    assert ev.config()["columns"] == {"valid": "ImageNet16-120/acc/valid/200ep", "test": None, "cost": None}
    r = ev(Request(nb201.from_index(7), 0))
    assert r.valid_acc == bench.value(7, "in16_valid_acc") and math.isnan(r.test_acc) and r.cost == 0.0
    with pytest.raises(KeyError, match="not in the"):
        ev(Request(nb201.from_index(100), 1))
    with pytest.raises(ValueError, match="no valid column for cifar10"):
        TabularEvaluator(user, "cifar10")
    trace = search(RegularizedEvolution(nb201, 0, candidates=user.archs(), population=5), ev, 30)
    assert trace.report()["arch"] == str(nb201.from_index(int(np.argmax(
        [bench.value(i, "in16_valid_acc") for i in range(30)]))))
    assert math.isnan(trace.report("best-test-seen")["test_acc"])


def test_resuming_a_run_on_an_edited_table_is_refused(bench, tmp_path):
    def write(rows):
        path.write_text("arch,ImageNet16-120/acc/valid/200ep\n" + "".join(f"{nb201.from_index(i)},{v!r}\n" for i, v in rows))

    def run(out, budget, resume=False):
        user = tabular.from_csv(path, "nb201")
        return run_search(RandomSearch(nb201, 0, candidates=user.archs()),
                          TabularEvaluator(user, "ImageNet16-120", table_path=path), budget, out, resume=resume,
                          progress=False)

    path = tmp_path / "t.csv"
    rows = [(i, bench.value(i, "in16_valid_acc")) for i in range(30)]
    write(rows)
    run(tmp_path / "run", 5)
    write(rows[::-1])  # the same table, rows in another order: the same run
    assert run(tmp_path / "run", 10, resume=True)["resumed_at_step"] == 5
    evaluated = {r.arch for r in read_history(tmp_path / "run" / "history.csv")}
    i = next(i for i, _ in rows if str(nb201.from_index(i)) not in evaluated)
    write([(j, 99.9 if j == i else v) for j, v in rows])  # a row the run has not reached yet
    with pytest.raises(ResumeError, match="the table .*t.csv changed since the run started"):
        run(tmp_path / "run", 15, resume=True)
    # the bundled tables are not hashed: their configs are what they were
    assert "table_sha256" not in TabularEvaluator(bench, "cifar10").config()


# ---- the NB-101 subset and the NB-301 genotypes: searches over a table ----------------------------

# space, column searched on (the evaluator's default for the bundled table)
_TABLE_SPACES = {"nb101": "cifar10/acc/valid/108ep", "nb301": "cifar10/surrogate_acc"}


@pytest.fixture(scope="module")
def table_search():
    """(space, benchmark, candidates, evaluator) of each bundled partial table, built once."""
    from nasfast.search import get_space, table_candidates

    out = {}
    for name in _TABLE_SPACES:
        space, bench_ = get_space(name), tabular.load(name)
        out[name] = (space, bench_, table_candidates(space, bench_), TabularEvaluator(bench_, "cifar10"))
    return out


@pytest.mark.parametrize("name", list(_TABLE_SPACES))
@pytest.mark.parametrize("cls", [RandomSearch, RegularizedEvolution])
def test_table_search_proposes_only_table_archs(table_search, name, cls):
    space, bench_, cands, ev = table_search[name]
    budget = 120 if name == "nb101" else 300  # REA on nb101 spends ~20 ms a step on mutations
    a = search(cls(space, 4, cands), ev, budget).observations
    archs = [o.arch for o in a]
    assert len(set(archs)) == budget  # never repeats (for NB-101: never the same table row twice)
    assert all(bench_.contains(space.parse(s)) for s in archs)  # only table rows, text form round-trips
    assert [o.valid_acc for o in a] == [float(bench_.value(space.parse(s), _TABLE_SPACES[name])) for s in archs]
    assert all(math.isnan(o.test_acc) for o in a)  # no test column: nothing invented
    b = search(cls(space, 4, cands), ev, budget).observations
    c = search(cls(space, 5, cands), ev, budget).observations
    assert [o.arch for o in b] == archs and [o.valid_acc for o in b] == [o.valid_acc for o in a]
    assert [o.arch for o in c] != archs


def test_table_search_exhausts_nb301(table_search):
    space, bench_, cands, ev = table_search["nb301"]
    rea = RegularizedEvolution(space, 0, cands, population=20)
    trace = search(rea, ev, len(bench_))
    assert {o.arch for o in trace.observations} == {str(g) for g in bench_.archs()}
    with pytest.raises(SpaceExhausted):
        rea.ask()
    with pytest.raises(ValueError, match="budget 726 exceeds the 725 candidate archs"):
        search(RandomSearch(space, 0, cands), ev, 726)


def test_nb101_arch_is_its_fingerprint(table_search):
    from nasfast.search import NB101Arch
    from nasfast.spaces import nb101

    space, bench_, cands, _ = table_search["nb101"]
    spec = bench_.archs()[17]
    arch = space.as_arch(spec)
    assert str(arch) == spec.fingerprint() == str(cands[17]) and arch == cands[17]
    # another vertex order of the same cell is another Spec but the same arch (the same table row):
    # swap two consecutive interior vertices that have no edge between them and different ops
    for row in range(len(bench_)):
        s = bench_.archs()[row]
        swaps = [i for i in range(1, s.num_vertices - 2) if not s.adjacency[i, i + 1] and s.ops[i] != s.ops[i + 1]]
        if swaps:
            i = swaps[0]
            perm = list(range(s.num_vertices))
            perm[i], perm[i + 1] = i + 1, i
            adj = s.adjacency[np.ix_(perm, perm)]
            break
    other = nb101.Spec(adj, [s.ops[i] for i in perm])
    assert other != s and space.as_arch(other) == cands[row] and bench_.contains(space.as_arch(other))
    assert space.parse(str(arch)).spec == spec  # the graph comes back from the bundled table
    js = json.dumps({"matrix": spec.adjacency.tolist(), "ops": list(spec.ops)})
    assert space.parse(js) == arch
    assert NB101Arch("0" * 32).spec is None
    with pytest.raises(ValueError, match="known only by its fingerprint"):
        space.mutate(NB101Arch("0" * 32), np.random.default_rng(0))
    with pytest.raises(ValueError, match="32-hex fingerprint"):
        space.parse("not an arch")
    with pytest.raises(NotImplementedError, match="search a table's rows"):
        RandomSearch(space, 0)


def test_rea_on_an_nb101_table_of_fingerprints(table_search, tmp_path):
    from nasfast.search import table_candidates

    space, bundled, _, _ = table_search["nb101"]
    valid = bundled.column("cifar10/acc/valid/108ep")
    path = tmp_path / "hashes.csv"

    def table(extra=""):
        path.write_text("hash,valid\n" + "".join(f"{k},{float(valid[i])!r}\n" for i, k in enumerate(bundled.keys()[:40])) + extra)
        user = tabular.from_csv(path, "nb101")
        return table_candidates(space, user), TabularEvaluator(user, "cifar10", valid_column="valid", table_path=path)

    cands, ev = table()
    # the graphs of these cells come from the bundled table, so REA mutates past its first P members
    assert len(search(RegularizedEvolution(space, 0, cands, population=5), ev, 20)) == 20
    cands, ev = table("0" * 32 + ",50.0\n")  # a cell the bundled table does not hold
    with pytest.raises(ValueError, match="1 of the 41 candidates are known only by their fingerprint .*0{32}"):
        RegularizedEvolution(space, 0, cands, population=5)  # before any evaluation
    assert len(search(RandomSearch(space, 0, cands), ev, 41)) == 41  # random search needs no graph


def test_table_evaluators_report_no_test_column():
    from nasfast.evaluators import NO_TEST_COLUMN

    ev101 = TabularEvaluator(tabular.load("nb101"), "cifar10")
    assert ev101.config()["columns"] == {"valid": "cifar10/acc/valid/108ep", "test": None,
                                         "cost": "cifar10/train_time/108ep"}
    assert ev101.config()["notes"] == [f"{NO_TEST_COLUMN}: only validation accuracy is reported"]
    ev301 = TabularEvaluator(tabular.load("nb301"), "cifar10")
    assert ev301.config()["columns"] == {"valid": "cifar10/surrogate_acc", "test": None, "cost": None}
    assert any("surrogate prediction" in n for n in ev301.config()["notes"])
    assert "notes" not in TabularEvaluator(tabular.load("nb201"), "cifar10").config()
    with pytest.raises(ValueError, match="bundled nb101 table has no cifar100 data"):
        TabularEvaluator(tabular.load("nb101"), "cifar100")


def test_nb101_run_directory_and_resume(table_search, tmp_path):
    from nasfast.search import get_space

    space, bench_, cands, ev = table_search["nb101"]

    def run(out, budget, resume=False):
        return run_search(RegularizedEvolution(space, 2, cands, population=8), ev, budget, out, resume=resume,
                          progress=False)

    full, cut = tmp_path / "full", tmp_path / "cut"
    res = run(full, 40)
    assert res["best_test_acc"] is None and res["test"] == "no test column in this table"
    assert res["reported"]["test_acc"] is None and res["reported"]["arch"] == res["best_arch"]
    saved = json.loads((full / "result.json").read_text())
    assert saved["best_test_acc"] is None and "no test column in this table" in saved["notes"][0]
    # the fingerprint comes with the cell it stands for, which hashes back to it
    from nasfast.spaces import nb101

    cell = saved["best_cell"]
    assert cell["ops"][0] == "input" and cell["ops"][-1] == "output"
    assert nb101.Spec(cell["matrix"], cell["ops"]).fingerprint() == saved["best_arch"]
    cfg = json.loads((full / "config.json").read_text())
    assert cfg["strategy"]["space"] == "nb101" and cfg["strategy"]["candidates"]["count"] == 30001
    assert build_strategy(cfg["strategy"], cands).config() == cfg["strategy"]
    assert get_space(cfg["strategy"]["space"]) is space
    run(cut, 40)
    lines = (cut / "history.csv").read_text().splitlines(keepends=True)
    (cut / "history.csv").write_text("".join(lines[:16]) + lines[16][:20])  # 15 rows and a torn one
    (cut / "result.json").unlink()
    res = run(cut, 40, resume=True)
    assert res["resumed_at_step"] == 15
    assert (cut / "history.csv").read_bytes() == (full / "history.csv").read_bytes()
    with pytest.raises(ValueError, match="needs test accuracies"):
        run_search(RandomSearch(space, 0, cands), ev, 5, tmp_path / "x", report_rule="best-test-seen")


def test_a_request_is_told_once_and_a_space_may_be_named():
    s = RegularizedEvolution("nb201", seed=0)  # a name works as the module does
    assert s.space is nb201
    req = s.ask()[0]
    s.tell(req, Result(valid_acc=50.0))
    with pytest.raises(ValueError, match="a second time"):
        s.tell(req, Result(valid_acc=99.0))
    assert len(s.history) == 1
    # a bare number is refused before anything is recorded, so the corrected tell goes through
    req = s.ask()[0]
    with pytest.raises(TypeError, match="expected a nasfast Result.*got float"):
        s.tell(req, 91.3)
    s.tell(req, Result(valid_acc=91.3))
    assert len(s.history) == 2
    with pytest.raises(TypeError, match="an evaluator must return one"):
        search(RandomSearch(nb201, 0), lambda request: {"valid_acc": 1.0}, 3)


def test_a_run_without_a_finite_validation_accuracy_says_so_in_valid_json(tmp_path):
    out = tmp_path / "nan"
    with pytest.warns(RuntimeWarning, match="no evaluation returned a finite validation accuracy"):
        result = run_search(RandomSearch(nb201, seed=0), lambda r: Result(valid_acc=math.nan), 4, out,
                            progress=False)
    assert result["best_arch"] is None
    saved = json.loads((out / "result.json").read_text(), parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert saved["best_valid_acc"] is None and "finite validation accuracy" in saved["warning"]


def test_resuming_a_directory_whose_config_is_not_a_search_config_names_the_file(tmp_path):
    for text, message in (('{"hello": 1}', "not a nasfast search config"), ("garbage", "not readable JSON")):
        out = tmp_path / text[:3]
        out.mkdir()
        (out / "config.json").write_text(text)
        with pytest.raises(ResumeError, match=message) as err:
            run_search(RandomSearch(nb201, seed=0), lambda r: Result(valid_acc=1.0), 2, out, resume=True,
                       progress=False)
        assert "config.json" in str(err.value)


def test_every_strategy_takes_a_space_name():
    from nasfast.search import BayesianOptimization, ProxyBO
    from nasfast.search.multifidelity import Hyperband, SuccessiveHalving
    from nasfast.search.nosh import RankNOSH

    for make in (lambda sp: RandomSearch(sp, 0), lambda sp: BayesianOptimization(sp, 0), lambda sp: ProxyBO(sp, 0),
                 lambda sp: SuccessiveHalving(sp, 0, n=4), lambda sp: Hyperband(sp, 0), lambda sp: RankNOSH(sp, 0)):
        by_name, by_module = make("nb201"), make(nb201)
        assert by_name.space is nb201
        assert by_name.ask()[0] == by_module.ask()[0]  # the same search either way


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_a_bad_seed_is_named(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        RegularizedEvolution(nb201, seed)


def test_tell_takes_only_an_issued_untold_request():
    rs = RandomSearch(nb201, 0)
    a, b = rs.ask(2)
    rs.tell(a, Result(valid_acc=1.0))
    with pytest.raises(ValueError, match="request 1 .* not one of the requests ask\\(\\) returned"):
        rs.tell(Request(arch=a.arch, id=b.id), Result(valid_acc=2.0))  # b's id with a's arch: swapped
    with pytest.raises(ValueError, match="request 7 .* not one of the requests ask\\(\\) returned"):
        rs.tell(Request(arch=b.arch, id=7), Result(valid_acc=2.0))  # never issued
    with pytest.raises(ValueError, match="request 0 .* a second time"):
        rs.tell(a, Result(valid_acc=2.0))
    rs.tell(b, Result(valid_acc=3.0))  # the genuine report still goes through
    assert [(r, res.valid_acc) for r, res in rs.history] == [(a, 1.0), (b, 3.0)]


@pytest.mark.parametrize("bad", [dict(valid_acc=None), dict(valid_acc="90"), dict(valid_acc=True),
                                 dict(valid_acc=1.0, test_acc=None), dict(valid_acc=1.0, cost="3 s")])
def test_a_result_that_is_not_numbers_is_refused_before_anything_is_recorded(bad):
    rea = RegularizedEvolution(nb201, seed=0)
    [req] = rea.ask()
    field = next(k for k, v in bad.items() if not isinstance(v, float))
    with pytest.raises(TypeError, match=f"Result.{field} must be a real number"):
        rea.tell(req, Result(**bad))
    assert not rea.history and not rea.population
    rea.tell(req, Result(valid_acc=90.0, test_acc=np.float32(89.0), cost=1))  # numpy and int numbers are numbers
    rea.tell(rea.ask()[0], Result(valid_acc=math.nan))  # NaN: a failed evaluation, allowed
    assert len(rea.history) == len(rea.population) == 2


def test_ask_past_the_end_proposes_nothing():
    rs = RandomSearch(nb201, 0, candidates=[0, 1, 2])
    with pytest.raises(SpaceExhausted, match="asked for 5 architectures, but only 3"):
        rs.ask(5)
    assert not rs.seen
    batch = rs.ask(3)  # the three are still there to propose, numbered from 0
    assert [r.id for r in batch] == [0, 1, 2] and {r.arch.index for r in batch} == {0, 1, 2}
    with pytest.raises(SpaceExhausted, match="only 0"):
        rs.ask(1)

    class Failing(RandomSearch):  # a proposal that fails part-way through a batch
        def _propose(self):
            if len(self.seen) == 2:
                raise RuntimeError("proposal failed")
            return super()._propose()

    f = Failing(nb201, 0)
    with pytest.raises(RuntimeError, match="proposal failed"):
        f.ask(4)
    assert not f.seen  # a batch is all or nothing: no arch is marked proposed without a request
    assert f.ask(2)[0].id == 0


@pytest.mark.parametrize("value", [math.nan, math.inf, None, 2.5, "3", True, 0])
def test_counts_that_are_not_positive_integers_are_named(bench, value):
    from nasfast.search import BayesianOptimization
    from nasfast.search.multifidelity import Hyperband, SuccessiveHalving
    from nasfast.search.nosh import RankNOSH

    ev = TabularEvaluator(bench, "cifar10")
    for label, make in (("budget", lambda: search(RandomSearch(nb201, 0), ev, value)),
                        ("n of ask\\(n\\)", lambda: RandomSearch(nb201, 0).ask(value)),
                        ("REA population", lambda: RegularizedEvolution(nb201, 0, population=value)),
                        ("bo num_candidates", lambda: BayesianOptimization(nb201, 0, num_candidates=value)),
                        ("successive halving n", lambda: SuccessiveHalving(nb201, 0, n=value)),
                        ("Hyperband max_epochs", lambda: Hyperband(nb201, 0, max_epochs=value)),
                        ("rank-nosh pool_size", lambda: RankNOSH(nb201, 0, pool_size=value))):
        if value is None and label in ("Hyperband max_epochs", "rank-nosh pool_size"):
            continue  # None means "none" / "the default" there
        with pytest.raises(ValueError, match=f"{label} must be (a positive integer|an integer >= 2), got {value!r}"):
            make()


def test_an_infinite_validation_accuracy_is_a_failed_evaluation():
    t = Trace()
    t.add("a", Result(valid_acc=math.inf, test_acc=math.inf))
    assert t.incumbent is None and t.report("best-test-seen")["arch"] is None
    t.add("b", Result(valid_acc=80.0, test_acc=79.0))
    t.add("c", Result(valid_acc=-math.inf, test_acc=99.0))
    assert t.incumbent == ("b", 80.0, 79.0) and t.observations[-1].incumbent_arch == "b"
    rea = RegularizedEvolution(nb201, seed=0, population=2)
    for acc in (math.inf, 50.0):
        rea.tell(rea.ask()[0], Result(valid_acc=acc))
    assert [acc for _, acc in rea.population] == [-math.inf, 50.0]  # inf never wins a tournament

"""The island rule (issue spec): the reference island is balanced by the reference bus, any
other island with generation by its largest-Pmax generator, an island without generation
loses its load."""

from __future__ import annotations

import numpy as np
import pytest
from pypower.api import ppoption, runpf
from pypower.idx_brch import F_BUS, T_BUS
from pypower.idx_bus import BUS_I, BUS_TYPE, PD, PQ, PV, REF, VA, VM
from pypower.idx_gen import GEN_BUS, PG

from federates.grid.case import Case, case_from_ppc, load_case
from federates.grid.islands import SlackRule, find_islands
from federates.grid.powerflow import Mode, solve

PPOPT = ppoption(VERBOSE=0, OUT_ALL=0, PF_TOL=1e-12)


def _open(case: Case, *branches: int) -> np.ndarray:
    on = np.ones(case.n_branch, dtype=bool)
    on[list(branches)] = False
    return on


def _island_of(sol, case: Case, bus: int):  # type: ignore[no-untyped-def]
    row = case.bus_row(bus)
    return next(i for i in sol.islands if row in i.buses)


def test_intact_case_is_one_reference_island() -> None:
    case = load_case("case39")
    (island,) = find_islands(case, np.ones(39, dtype=bool), np.ones(46, dtype=bool))
    assert island.rule is SlackRule.REFERENCE and island.slack_bus == case.bus_row(31)
    assert len(island.buses) == 39 and len(island.branches) == 46 and len(island.gens) == 10


@pytest.mark.parametrize("mode", [Mode.DC, Mode.AC])
def test_generator_island_is_balanced_by_its_largest_pmax_generator(mode: Mode) -> None:
    """case39 without branch 16-19 (row 26): {19, 20, 33, 34} is cut off with gens 33
    (Pmax 652) and 34 (Pmax 508).  Gen 33 balances it, gen 34 keeps Pg = 508 MW; the rest is
    still balanced by the reference bus 31."""
    case = load_case("case39")
    sol = solve(case, mode, branch_on=_open(case, 26))
    assert sol.n_islands == 2 and sol.energized.all() and sol.unserved_mw == 0.0
    cut = _island_of(sol, case, 20)
    assert sorted(case.bus_numbers[r] for r in cut.buses) == [19, 20, 33, 34]
    assert cut.rule is SlackRule.LARGEST_PMAX and cut.slack_bus == case.bus_row(33)
    assert _island_of(sol, case, 1).slack_bus == case.ref_row
    assert sol.p_gen[case.bus_row(34)] == pytest.approx(508.0, abs=1e-9)
    if mode is Mode.DC:  # lossless: each island's generation equals its own demand
        rows = list(cut.buses)
        assert sol.p_gen[rows].sum() == pytest.approx(sol.pd[rows].sum(), abs=1e-9)
        assert sol.p_gen[case.bus_row(33)] == pytest.approx(680.0 - 508.0, abs=1e-9)


def test_generator_island_ac_matches_pypower_on_the_island_alone() -> None:
    """The cut island of the previous test, extracted by hand here with bus 33 as the
    reference, solved by PYPOWER runpf: same voltages; angles differ by the reference
    angle, which PYPOWER takes from bus 33's case value and we take likewise."""
    case = load_case("case39")
    sol = solve(case, Mode.AC, branch_on=_open(case, 26))
    numbers = [19, 20, 33, 34]
    rows = [case.bus_row(n) for n in numbers]
    ppc = case.to_ppc()
    bus = ppc["bus"][rows].copy()
    bus[:, BUS_TYPE] = [PQ, PQ, REF, PV]
    bus[:, BUS_I] = np.arange(4)
    branch = np.array([b for b in ppc["branch"] if b[F_BUS] in numbers and b[T_BUS] in numbers])
    branch[:, F_BUS] = [numbers.index(int(x)) for x in branch[:, F_BUS]]
    branch[:, T_BUS] = [numbers.index(int(x)) for x in branch[:, T_BUS]]
    gen = np.array([g for g in ppc["gen"] if g[GEN_BUS] in numbers])
    gen[:, GEN_BUS] = [numbers.index(int(x)) for x in gen[:, GEN_BUS]]
    result, success = runpf({"baseMVA": 100.0, "bus": bus, "gen": gen, "branch": branch}, PPOPT)
    assert success
    np.testing.assert_allclose(sol.vm[rows], result["bus"][:, VM], atol=1e-6)
    np.testing.assert_allclose(sol.va[rows], result["bus"][:, VA], atol=1e-6)
    assert sol.p_gen[case.bus_row(33)] == pytest.approx(result["gen"][0, PG], abs=1e-6)


def test_island_cut_from_the_reference_bus_takes_the_largest_pmax_generator() -> None:
    """Opening 6-31 (row 13) isolates reference bus 31: it stays the slack of its own
    island (its gen then serves only bus 31's 9.2 MW); the other 38 buses are balanced by
    gen 39 (Pmax 1100, the largest), which picks up the 31's lost export (DC, lossless)."""
    case = load_case("case39")
    sol = solve(case, Mode.DC, branch_on=_open(case, 13))
    ref_island = _island_of(sol, case, 31)
    main = _island_of(sol, case, 39)
    assert ref_island.buses == (case.ref_row,) and ref_island.rule is SlackRule.REFERENCE
    assert main.rule is SlackRule.LARGEST_PMAX and main.slack_bus == case.bus_row(39)
    assert sol.p_gen[case.ref_row] == pytest.approx(9.2, abs=1e-9)
    others = case.gen[:, PG].sum() - case.gen[1, PG] - case.gen[9, PG]
    main_load = case.bus[:, PD].sum() - 9.2
    assert sol.p_gen[case.bus_row(39)] == pytest.approx(main_load - others, abs=1e-9)


@pytest.mark.parametrize("mode", [Mode.DC, Mode.AC])
def test_island_without_generation_loses_its_load(mode: Mode) -> None:
    """Opening 4-14, 13-14 and 15-16 (rows 8, 22, 24) strands {14, 15}: no generator, so
    both buses are de-energized and bus 15's 320 MW is unserved; nothing flows on 14-15."""
    case = load_case("case39")
    sol = solve(case, mode, branch_on=_open(case, 8, 22, 24))
    dead = _island_of(sol, case, 15)
    assert dead.rule is SlackRule.NO_GENERATION and dead.slack_bus is None
    assert sorted(case.bus_numbers[r] for r in dead.buses) == [14, 15]
    assert not sol.energized[list(dead.buses)].any() and sol.energized.sum() == 37
    assert sol.unserved_mw == pytest.approx(320.0, abs=1e-9)
    assert sol.p_from[23] == 0.0 and sol.vm[case.bus_row(15)] == 0.0


def _toy() -> Case:
    """1(ref) -- 2 -- 3 -- 4, and 2 -- 5; gens at 1, 3 (Pmax 80), 4 (Pmax 80), 4 (off,
    Pmax 500) and a synchronous condenser at 5 (Pmax 0)."""
    bus = [[n, 3 if n == 1 else 1, 10.0, 2.0, 0, 0, 1, 1.0, 0.0, 100, 1, 1.1, 0.9] for n in (1, 2, 3, 4, 5)]
    gen = [[b, p, 0, 50, -50, 1.0, 100, status, pmax, 0] for b, p, status, pmax in
           ((1, 20, 1, 100), (3, 10, 1, 80), (4, 10, 1, 80), (4, 0, 0, 500), (5, 0, 1, 0))]
    branch = [[f, t, 0.01, 0.1, 0.0, 0, 0, 0, 0, 0, 1] for f, t in ((1, 2), (2, 3), (3, 4), (2, 5))]
    return case_from_ppc({"baseMVA": 100.0, "bus": bus, "gen": gen, "branch": branch}, "toy")


def test_pmax_tie_goes_to_the_first_listed_generator_and_off_or_zero_pmax_gens_do_not_count() -> None:
    """{2, 3, 4}: gens at 3 and 4 tie at Pmax 80 -> the first listed (bus 3) balances; the
    out-of-service 500 MW unit at 4 is ignored.  {5} has only a condenser: no generation."""
    case = _toy()
    islands = find_islands(case, np.ones(5, dtype=bool), np.array([False, True, True, False]))
    by_first = {case.bus_numbers[i.buses[0]]: i for i in islands}
    assert by_first[1].rule is SlackRule.REFERENCE
    assert by_first[2].rule is SlackRule.LARGEST_PMAX and by_first[2].slack_bus == case.bus_row(3)
    assert by_first[2].gens == (1, 2)
    assert by_first[5].rule is SlackRule.NO_GENERATION
    sol = solve(case, Mode.DC, branch_on=np.array([False, True, True, False]))
    assert sol.unserved_mw == pytest.approx(10.0) and sol.p_gen[case.bus_row(3)] == pytest.approx(20.0)


def test_tripped_bus_takes_its_branches_out() -> None:
    """A de-energized bus (e.g. a flooded substation) removes every branch at it."""
    case = _toy()
    bus_on = np.array([True, False, True, True, True])
    islands = find_islands(case, bus_on, np.ones(4, dtype=bool))
    assert [tuple(case.bus_numbers[r] for r in i.buses) for i in islands] == [(1,), (3, 4), (5,)]
    assert all(1 not in i.branches and 3 not in i.branches for i in islands)
    assert islands[1].branches == (2,)

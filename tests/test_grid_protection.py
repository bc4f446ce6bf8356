"""Protection: N-1 screening and the overload cascade on case30 and case39 against
independent computations written here (DC: PTDF/LODF; AC: PYPOWER's own ``runpf`` on each
island), plus flood trips and substation parameters.

The references decide overloads with their own rule, written here: a branch is overloaded
when its flow exceeds its rating by more than the documented tolerance of 1 ppm
(docs/federates/grid.md), the flow being apparent power at the worse end in AC,
max(|S_from|, |S_to|) as MATPOWER's ``printpf`` and pandapower's ``loading_percent`` rate it,
and active power in DC.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from pypower.api import case30, case39, ppoption, runpf
from pypower.idx_brch import PF, PT, QF, QT
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from federates.grid.case import case_from_ppc, load_case
from federates.grid.powerflow import Mode, solve
from federates.grid.protection import (
    Substation,
    branch_loading,
    branch_ratings,
    flooded,
    overloaded,
    run_cascade,
    screen_n1,
)

TOLERANCE = 1e-6  # the documented margin above the rating (docs/federates/grid.md)
PPOPT = ppoption(VERBOSE=0, OUT_ALL=0, PF_TOL=1e-12)
CASES: dict[str, Callable[[], dict[str, Any]]] = {"case30": case30, "case39": case39}


def over(flow: np.ndarray, rate: np.ndarray) -> tuple[int, ...]:
    """The references' overload rule: rateA = 0 is unlimited, else flow > rateA (1 + 1 ppm)."""
    limited = rate > 0
    return tuple(int(k) for k in np.flatnonzero(limited & (flow > rate * (1.0 + TOLERANCE))))


class IndependentDC:
    """DC network of a PYPOWER case built directly from its arrays with NumPy/SciPy
    (b = 1/(x*tap), B-theta, PTDF and LODF as in Wood & Wollenberg, "Power Generation,
    Operation and Control", 3rd ed., ch. 7 (linear sensitivity factors)).  Shares no code
    with federates.grid except the case data itself."""

    def __init__(self, ppc: dict[str, Any]) -> None:
        self.bus, self.gen, self.branch = ppc["bus"], ppc["gen"], ppc["branch"]
        assert not self.bus[:, 4].any()  # no shunt conductance: injections are Pg - Pd only
        index = {int(n): i for i, n in enumerate(self.bus[:, 0])}
        self.nb, self.nl = len(self.bus), len(self.branch)
        self.f = np.array([index[int(x)] for x in self.branch[:, 0]])
        self.t = np.array([index[int(x)] for x in self.branch[:, 1]])
        self.ref = int(np.flatnonzero(self.bus[:, 1] == 3)[0])
        tap = np.where(self.branch[:, 8] == 0, 1.0, self.branch[:, 8])
        self.b = 1.0 / (self.branch[:, 3] * tap)
        self.gbus = np.array([index[int(x)] for x in self.gen[:, 0]])
        self.p = np.zeros(self.nb)
        np.add.at(self.p, self.gbus, self.gen[:, 1])
        self.p -= self.bus[:, 2]  # MW
        self.rate = self.branch[:, 5]

    def incidence(self) -> np.ndarray:
        a = np.zeros((self.nl, self.nb))
        a[np.arange(self.nl), self.f] = 1.0
        a[np.arange(self.nl), self.t] = -1.0
        return a

    def ptdf(self) -> np.ndarray:
        a = self.incidence()
        bbus = a.T @ np.diag(self.b) @ a
        keep = np.arange(self.nb) != self.ref
        out = np.zeros((self.nl, self.nb))
        out[:, keep] = np.diag(self.b) @ a[:, keep] @ np.linalg.inv(bbus[np.ix_(keep, keep)])
        return out

    def components(self, on: np.ndarray) -> np.ndarray:
        graph = coo_matrix((np.ones(on.sum()), (self.f[on], self.t[on])), shape=(self.nb, self.nb))
        return connected_components(graph, directed=False)[1]

    def slack_of(self, members: np.ndarray) -> int | None:
        """The spec's island rule, re-implemented: reference bus, else largest-Pmax gen."""
        if members[self.ref]:
            return self.ref
        gens = [g for g in range(len(self.gen)) if members[self.gbus[g]] and self.gen[g, 7] > 0
                and self.gen[g, 8] > 0]
        return int(self.gbus[max(gens, key=lambda g: (self.gen[g, 8], -g))]) if gens else None

    def flows(self, on: np.ndarray) -> tuple[np.ndarray, float]:
        """Branch flows (MW) with branches ``on``; islands solved separately. Also unserved MW."""
        labels, flows, unserved = self.components(on), np.zeros(self.nl), 0.0
        a = self.incidence()
        for c in np.unique(labels):
            members = labels == c
            slack = self.slack_of(members)
            if slack is None:
                unserved += self.bus[members, 2].sum()
                continue
            lines = on & members[self.f]
            bbus = a[lines].T @ np.diag(self.b[lines]) @ a[lines]
            rest = members & (np.arange(self.nb) != slack)
            theta = np.zeros(self.nb)
            theta[rest] = np.linalg.solve(bbus[np.ix_(rest, rest)], self.p[rest] / 100.0)
            flows[lines] = self.b[lines] * (theta[self.f[lines]] - theta[self.t[lines]]) * 100.0
        return flows, unserved

    def islands_on_outage(self, k: int) -> bool:
        ptdf = self.ptdf()
        return abs(1.0 - (ptdf[k, self.f[k]] - ptdf[k, self.t[k]])) <= 1e-9

    def n1_flows(self, k: int) -> np.ndarray:
        """Post-outage flows of branch k: LODF, or for an islanding outage the injections
        rebalanced per island and pushed through the intact network's PTDF."""
        ptdf = self.ptdf()
        base = ptdf @ self.p
        phi = ptdf[:, self.f[k]] - ptdf[:, self.t[k]]
        if abs(1.0 - phi[k]) > 1e-9:
            post = base + phi * base[k] / (1.0 - phi[k])
        else:
            on = np.ones(self.nl, dtype=bool)
            on[k] = False
            labels = self.components(on)
            p = self.p.copy()
            for c in np.unique(labels):
                members = labels == c
                slack = self.slack_of(members)
                if slack is None:
                    p[members] = 0.0
                elif slack != self.ref:
                    p[slack] -= p[members].sum()
            post = ptdf @ p
            assert abs(post[k]) < 1e-6
        post[k] = 0.0
        return post

    def cascade(self, first: int) -> list[tuple[int, ...]]:
        on = np.ones(self.nl, dtype=bool)
        on[first] = False
        rounds = []
        while True:
            flows, _ = self.flows(on)
            trips = over(np.abs(flows), self.rate)
            if not trips:
                return rounds
            on[list(trips)] = False
            rounds.append(trips)


def island_slack(ppc: dict[str, Any], members: np.ndarray, gbus: np.ndarray) -> int | None:
    """The island rule of docs/federates/grid.md, re-implemented: the reference bus, else the
    generator with the largest Pmax (first listed on a tie), else none (the island is dead)."""
    ref = np.flatnonzero(members & (ppc["bus"][:, 1] == 3))
    if ref.size:
        return int(ref[0])
    gen = ppc["gen"]
    gens = [g for g in range(len(gen)) if members[gbus[g]] and gen[g, 7] > 0 and gen[g, 8] > 0]
    return int(gbus[max(gens, key=lambda g: (gen[g, 8], -g))]) if gens else None


def runpf_apparent_power(ppc: dict[str, Any], on: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AC flows with branches ``on``: PYPOWER's ``runpf`` on each island as a case of its own
    (its slack made the REF bus), as MATPOWER users study a split network.  Returns
    max(|S_from|, |S_to|) and P_from per branch (MVA, MW), zero on dead or open branches."""
    bus, gen, branch = ppc["bus"], ppc["gen"], ppc["branch"]
    index = {int(n): i for i, n in enumerate(bus[:, 0])}
    f = np.array([index[int(x)] for x in branch[:, 0]])
    t = np.array([index[int(x)] for x in branch[:, 1]])
    gbus = np.array([index[int(x)] for x in gen[:, 0]])
    graph = coo_matrix((np.ones(on.sum()), (f[on], t[on])), shape=(len(bus), len(bus)))
    labels = connected_components(graph, directed=False)[1]
    s_max, p_from = np.zeros(len(branch)), np.zeros(len(branch))
    for label in np.unique(labels):
        members = labels == label
        slack = island_slack(ppc, members, gbus)
        lines = np.flatnonzero(on & members[f])
        if slack is None or not lines.size:
            continue
        island = {"version": "2", "baseMVA": ppc["baseMVA"], "bus": bus[members].copy(),
                  "gen": gen[members[gbus]].copy(), "branch": branch[lines].copy()}
        island["bus"][island["bus"][:, 1] == 3, 1] = 2
        island["bus"][int(np.flatnonzero(np.flatnonzero(members) == slack)[0]), 1] = 3
        result, success = runpf(island, PPOPT)
        assert success
        solved = result["branch"]
        s_max[lines] = np.maximum(np.hypot(solved[:, PF], solved[:, QF]), np.hypot(solved[:, PT], solved[:, QT]))
        p_from[lines] = solved[:, PF]
    return s_max, p_from


@pytest.fixture(scope="module")
def reference() -> IndependentDC:
    return IndependentDC(case39())


@pytest.mark.parametrize(("name", "islanding", "overloading"), [("case30", 3, 0), ("case39", 11, 12)])
def test_n1_screening_dc_matches_ptdf_lodf(name: str, islanding: int, overloading: int) -> None:
    """Every single-branch outage (DC, rateA as given): the branches each one overloads, and
    every post-outage flow to 1e-6 MW, agree with the independent LODF/PTDF computation
    (which handles the outages that island part of the network itself).  Measured: on
    case39 12 outages overload a branch, e.g. 4-14 overloads 6-11; on case30 none does
    (its two knife-edge outages are the test below)."""
    ppc = CASES[name]()
    reference, case = IndependentDC(ppc), load_case(name)
    screened = screen_n1(case, Mode.DC, ratings=branch_ratings(case))
    assert [c.outage for c in screened] == list(range(reference.nl))
    for contingency in screened:
        expected = reference.n1_flows(contingency.outage)
        on = np.ones(reference.nl, dtype=bool)
        on[contingency.outage] = False
        np.testing.assert_allclose(solve(case, Mode.DC, branch_on=on).p_from, expected, atol=1e-6)
        assert contingency.overloaded == over(np.abs(expected), reference.rate), contingency
    assert sum(reference.islands_on_outage(k) for k in range(reference.nl)) == islanding
    found = {c.outage: c.overloaded for c in screened if c.overloaded}
    assert len(found) == overloading
    if name == "case39":
        assert found[8] == (12,)


@pytest.mark.parametrize("outage", [29, 31])
def test_flow_exactly_at_the_rating_does_not_trip_in_dc(outage: int) -> None:
    """case30, bus 23 hangs on two lines, 15-23 (row 29) and 23-24 (row 31), both rated 16 MVA;
    its generator makes 19.2 MW and its load takes 3.2 MW.  Out of one line, bus 23 is radial
    on the other, which then carries exactly 19.2 - 3.2 = 16 MW by Kirchhoff's current law:
    at its rating, not above it.  The solver's 16.000000000000004 MW must not trip it."""
    ppc = case30()
    assert ppc["gen"][ppc["gen"][:, 0] == 23, 1].tolist() == [19.2] and ppc["bus"][22, 2] == 3.2
    assert [tuple(r[:2]) for r in ppc["branch"] if 23 in r[:2]] == [(15, 23), (23, 24)]
    case = load_case("case30")
    other = 31 if outage == 29 else 29
    on = np.ones(case.n_branch, dtype=bool)
    on[outage] = False
    assert abs(solve(case, Mode.DC, branch_on=on).p_from[other]) == pytest.approx(16.0, abs=1e-9)
    contingency = {c.outage: c for c in screen_n1(case, Mode.DC, ratings=branch_ratings(case))}[outage]
    assert other not in contingency.overloaded


@pytest.mark.parametrize(("name", "differ"), [("case30", 41), ("case39", 1)])
def test_n1_screening_ac_rates_apparent_power_at_the_worse_end(name: str, differ: int) -> None:
    """Every single-branch outage (AC, rateA as given) overloads exactly the branches whose
    apparent power at the worse end, from PYPOWER's ``runpf`` on each island, exceeds rateA.
    The apparent-power sets differ from those an |P_from| rule would give on ``differ``
    outages, so the test discriminates: on case30, 6-8 (row 9) carries 24.8 MW but 34.8 MVA
    against 32 in the intact network; on case39 with 2-3 (row 41) out, 2-25 (row 3) carries
    488.9 MW but 516.7 MVA against 500."""
    ppc = CASES[name]()
    case, rate = load_case(name), ppc["branch"][:, 5]
    screened = screen_n1(case, Mode.AC, ratings=branch_ratings(case))
    assert [c.outage for c in screened] == list(range(len(rate)))
    count = 0
    for contingency in screened:
        on = np.ones(len(rate), dtype=bool)
        on[contingency.outage] = False
        s_max, p_from = runpf_apparent_power(ppc, on)
        assert contingency.overloaded == over(s_max, rate), contingency
        count += over(s_max, rate) != over(np.abs(p_from), rate)
    assert count == differ


def test_branch_loading_in_ac_is_apparent_power_over_the_rating() -> None:
    """case39 with 2-3 out (AC): 2-25 is loaded 516.7/500 in MVA, not 488.9/500 in MW."""
    ppc, case = case39(), load_case("case39")
    on = np.ones(case.n_branch, dtype=bool)
    on[41] = False
    s_max, p_from = runpf_apparent_power(ppc, on)
    assert s_max[3] == pytest.approx(516.68, abs=0.01) and abs(p_from[3]) == pytest.approx(488.88, abs=0.01)
    loading = branch_loading(solve(case, Mode.AC, branch_on=on), branch_ratings(case))
    np.testing.assert_allclose(loading, s_max / np.where(ppc["branch"][:, 5] > 0, ppc["branch"][:, 5], np.inf),
                               atol=1e-9)
    assert 3 in overloaded(solve(case, Mode.AC, branch_on=on), branch_ratings(case))


@pytest.mark.parametrize(
    ("first", "rounds"),
    [
        (8, [(12,), (5, 6, 18, 22, 23, 25, 29)]),  # 4-14 out: 6-11 overloads, then 7 more
        (45, [(7,), (8, 18, 22), (0, 1, 2, 10, 11, 12, 15, 16, 17, 39),
              (6, 25, 27, 28, 29, 30, 34, 35, 36, 37, 41), (26,)]),  # 29-38 out: 5 rounds
    ],
)
def test_cascade_case39_matches_independent_computation(
    reference: IndependentDC, first: int, rounds: list[tuple[int, ...]]
) -> None:
    """Overload cascade on case39 (DC, rateA as given, no tightening needed) from one first
    trip: every round's set of tripped branches, the final tripped set, the islands'
    unserved load and the final flows equal the independent re-computation (which trips
    all |P_from| > rateA at once, re-solves, and applies the island rule itself)."""
    case = load_case("case39")
    assert reference.cascade(first) == rounds
    on = np.ones(46, dtype=bool)
    on[first] = False
    result = run_cascade(case, Mode.DC, bus_on=np.ones(39, dtype=bool), branch_on=on,
                         pd=case.bus[:, 2].copy(), qd=case.bus[:, 3].copy(), ratings=branch_ratings(case))
    assert [list(r) for r in result.rounds] == [list(r) for r in rounds]
    assert result.tripped == tuple(sorted(k for r in rounds for k in r))
    final_on = on.copy()
    final_on[list(result.tripped)] = False
    flows, unserved = reference.flows(final_on)
    np.testing.assert_allclose(result.solution.p_from, flows, atol=1e-6)
    assert result.solution.unserved_mw == pytest.approx(unserved, abs=1e-6)
    assert not overloaded(result.solution, branch_ratings(case))


def test_cascade_without_overload_has_no_round() -> None:
    case = load_case("case39")
    result = run_cascade(case, Mode.AC, bus_on=np.ones(39, dtype=bool), branch_on=np.ones(46, dtype=bool),
                         pd=case.bus[:, 2].copy(), qd=case.bus[:, 3].copy(), ratings=branch_ratings(case))
    assert result.rounds == () and result.branch_on.all()


def test_rating_scale_tightens_every_rating() -> None:
    """Intact case39, DC: 16-19 carries 460 of 600 MW (0.767), 10-32 and 22-35 650 of 900
    (the outputs of gens 32 and 35), 6-11 338.2 of 480 (0.705), 19-33 632 of 900 (0.702);
    nothing else exceeds 0.692.  Scaling rateA by 0.75 overloads only 16-19, by 0.7 all five."""
    case = load_case("case39")
    sol = solve(case, Mode.DC)
    assert overloaded(sol, branch_ratings(case)) == ()
    assert overloaded(sol, branch_ratings(case, 0.75)) == (26,)
    assert overloaded(sol, branch_ratings(case, 0.7)) == (12, 19, 26, 32, 36)


def test_zero_rate_a_means_unlimited() -> None:
    ppc = case39()
    ppc["branch"][5, 5] = 0.0
    ratings = branch_ratings(case_from_ppc(ppc, "x"))
    assert ratings[5] == np.inf and ratings[4] == 900.0


def test_flood_trips_strictly_above_threshold() -> None:
    subs = (Substation("a", (16,), 0.5), Substation("b", (4,), 1.0))
    assert flooded(subs, {"a": 0.5, "b": 0.9}) == frozenset()
    assert flooded(subs, {"a": 0.51, "b": 0.9}) == {"a"}
    assert flooded(subs, {"a": 2.0, "b": 1.2}) == {"a", "b"}
    assert flooded(subs, {}) == frozenset()


def test_substation_parameters_are_checked_with_their_path() -> None:
    assert Substation.from_params("s", {"buses": [16, 17]}) == Substation("s", (16, 17), 0.5)
    with pytest.raises(ValueError, match=r"'substations.s.buses': expected a non-empty list .* got 16"):
        Substation.from_params("s", {"buses": 16})
    with pytest.raises(ValueError, match=r"'substations.s.threshold_m': expected a depth >= 0 in m, got -1"):
        Substation.from_params("s", {"buses": [1], "threshold_m": -1})
    with pytest.raises(ValueError, match=r"'substations.s.depth': unknown key"):
        Substation.from_params("s", {"buses": [1], "depth": 1})

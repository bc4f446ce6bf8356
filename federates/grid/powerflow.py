"""AC (Newton-Raphson) and DC (B-theta) power flow of a case, island by island.

The network is split into islands (:mod:`.islands`); each island with a slack bus is
renumbered ``0..n-1`` and solved on its own with PYPOWER's numerics:

* AC: ``makeYbus`` (pi branch model, off-nominal tap and phase shift at the from end),
  ``makeSbus`` and ``newtonpf``; generator buses hold their ``Vg`` set point, the slack
  bus its angle.  Generator Q limits are ignored unless ``enforce_q_limits`` is set.
* DC: ``makeBdc`` (series susceptance ``b = 1/(x*tap)``, phase-shift injections) and a
  sparse solve of ``B' theta = P`` with the slack angle fixed.

An island whose Newton iteration does not converge is treated as a voltage collapse:
it is de-energized like an island without generation.
"""

from __future__ import annotations

import enum
import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from pypower.idx_brch import BR_STATUS, F_BUS, T_BUS
from pypower.idx_bus import BUS_I, BUS_TYPE, GS, NONE, PD, PQ, PV, QD, REF, VA, VM
from pypower.idx_gen import GEN_BUS, GEN_STATUS, QMAX, QMIN, VG
from pypower.makeBdc import makeBdc
from pypower.makeSbus import makeSbus
from pypower.makeYbus import makeYbus
from pypower.newtonpf import newtonpf
from pypower.ppoption import ppoption
from scipy.sparse import csr_matrix
from scipy.sparse.linalg import MatrixRankWarning, spsolve

from .case import Case
from .islands import Island, find_islands

__all__ = ["Mode", "Options", "Solution", "solve"]

log = logging.getLogger(__name__)

Vector = NDArray[np.float64]


class Mode(str, enum.Enum):
    """Power flow formulation."""

    AC = "ac"
    DC = "dc"


@dataclass(frozen=True)
class Options:
    """Numerical options of the AC solver."""

    tolerance: float = 1e-10  # largest P/Q mismatch (p.u.) at convergence
    max_iterations: int = 30
    enforce_q_limits: bool = False  # convert PV buses at a Q limit to PQ (never the slack)


@dataclass(frozen=True, eq=False)
class Solution:
    """A solved network state.  Per-bus arrays are in case row order, per-branch likewise.

    Quantities of de-energized buses and of branches that carry no flow are zero.
    """

    mode: Mode
    islands: tuple[Island, ...]
    diverged: tuple[int, ...]  # indices into ``islands`` blacked out by non-convergence
    energized: NDArray[np.bool_]
    vm: Vector  # p.u.
    va: Vector  # degrees
    p_from: Vector  # MW into the branch at its from end
    q_from: Vector  # MVAr
    p_to: Vector
    q_to: Vector
    p_gen: Vector  # generation per bus, MW
    q_gen: Vector  # MVAr
    pd: Vector  # demand per bus, MW (served or not)
    served: Vector = field(init=False)  # demand served per bus, MW

    def __post_init__(self) -> None:
        object.__setattr__(self, "served", np.where(self.energized, self.pd, 0.0))

    @property
    def served_mw(self) -> float:
        return float(self.served.sum())

    @property
    def unserved_mw(self) -> float:
        return float(self.pd.sum() - self.served.sum())

    @property
    def n_islands(self) -> int:
        return len(self.islands)


@dataclass(frozen=True, eq=False)
class _Local:
    """One island renumbered 0..n-1 for PYPOWER (rows: the island's case rows)."""

    rows: NDArray[np.int_]
    branches: NDArray[np.int_]
    bus: Vector
    gen: Vector
    branch: Vector
    ref: NDArray[np.int_]
    pv: NDArray[np.int_]
    pq: NDArray[np.int_]


@dataclass(frozen=True, eq=False)
class _Flow:
    """Solution of one island, local numbering."""

    vm: Vector
    va: Vector
    s_from: NDArray[np.complex128]  # MVA
    s_to: NDArray[np.complex128]
    s_gen: NDArray[np.complex128]  # MVA per bus


def solve(
    case: Case,
    mode: Mode,
    *,
    bus_on: NDArray[np.bool_] | None = None,
    branch_on: NDArray[np.bool_] | None = None,
    pd: Vector | None = None,
    qd: Vector | None = None,
    options: Options | None = None,
) -> Solution:
    """Solve ``case`` with the given topology and demand (defaults: the case's own).

    ``bus_on``/``branch_on`` are boolean masks over bus/branch rows; ``pd``/``qd``
    the demand per bus row in MW/MVAr.
    """
    bus_on = case.bus[:, BUS_TYPE] != NONE if bus_on is None else np.asarray(bus_on, dtype=bool)
    branch_on = case.branch[:, BR_STATUS] > 0 if branch_on is None else np.asarray(branch_on, dtype=bool)
    pd = case.bus[:, PD].copy() if pd is None else np.asarray(pd, dtype=float)
    qd = case.bus[:, QD].copy() if qd is None else np.asarray(qd, dtype=float)
    options = Options() if options is None else options
    islands = find_islands(case, bus_on, branch_on)
    nb, nl = case.n_bus, case.n_branch
    out = {k: np.zeros(nb) for k in ("vm", "va")}
    s = {k: np.zeros(n, dtype=complex) for k, n in (("from", nl), ("to", nl), ("gen", nb))}
    energized = np.zeros(nb, dtype=bool)
    diverged = []
    for index, island in enumerate(islands):
        if not island.has_slack:
            continue
        local = _localize(case, island, pd, qd)
        if mode is Mode.AC:
            flow = _solve_ac(local, case.base_mva, options)
        else:
            flow = _solve_dc(local, case.base_mva)
        if flow is None:
            log.warning("AC power flow of island %d (buses %s) diverged: de-energized", index,
                        _numbers(case, island.buses))
            diverged.append(index)
            continue
        energized[local.rows] = True
        out["vm"][local.rows], out["va"][local.rows] = flow.vm, flow.va
        s["from"][local.branches], s["to"][local.branches] = flow.s_from, flow.s_to
        s["gen"][local.rows] = flow.s_gen
    return Solution(
        mode, islands, tuple(diverged), energized, out["vm"], out["va"],
        s["from"].real, s["from"].imag, s["to"].real, s["to"].imag, s["gen"].real, s["gen"].imag,
        pd.copy(),
    )


def _numbers(case: Case, rows: tuple[int, ...]) -> list[int]:
    return [case.bus_numbers[r] for r in rows]


def _localize(case: Case, island: Island, pd: Vector, qd: Vector) -> _Local:
    rows = np.array(island.buses, dtype=int)
    position = np.full(case.n_bus, -1, dtype=int)
    position[rows] = np.arange(rows.size)
    f, t = case.branch_rows()
    branches = np.array(island.branches, dtype=int)
    gens = np.array(island.gens, dtype=int)
    bus = case.bus[rows].copy()
    bus[:, BUS_I] = np.arange(rows.size)
    bus[:, PD], bus[:, QD] = pd[rows], qd[rows]
    gen = case.gen[gens].copy()
    gen[:, GEN_BUS] = position[case.gen_rows()[gens]]
    gen[:, GEN_STATUS] = 1.0
    branch = case.branch[branches].copy()
    branch[:, F_BUS], branch[:, T_BUS] = position[f[branches]], position[t[branches]]
    branch[:, BR_STATUS] = 1.0
    types = np.full(rows.size, PQ)
    types[gen[:, GEN_BUS].astype(int)] = PV
    assert island.slack_bus is not None
    types[position[island.slack_bus]] = REF
    bus[:, BUS_TYPE] = types
    return _Local(
        rows, branches, bus, gen, branch,
        np.flatnonzero(types == REF), np.flatnonzero(types == PV), np.flatnonzero(types == PQ),
    )


def _solve_dc(local: _Local, base_mva: float) -> _Flow:
    bbus, bf, p_businj, p_finj = makeBdc(base_mva, local.bus, local.branch)
    p_bus = makeSbus(base_mva, local.bus, local.gen).real - p_businj - local.bus[:, GS] / base_mva
    va = np.deg2rad(local.bus[:, VA])
    va[local.pv] = va[local.pq] = 0.0
    rest = np.concatenate([local.pv, local.pq])
    if rest.size:
        bbus = bbus.tocsc()
        rhs = p_bus[rest] - bbus[rest][:, local.ref] @ va[local.ref]
        va[rest] = np.atleast_1d(spsolve(bbus[rest][:, rest], rhs))
    p_from = (bf @ va + p_finj) * base_mva
    p_inj = (bbus @ va + p_businj) * base_mva + local.bus[:, GS]
    return _Flow(
        vm=np.ones(va.size), va=np.rad2deg(va), s_from=p_from.astype(complex),
        s_to=-p_from.astype(complex), s_gen=(p_inj + local.bus[:, PD]).astype(complex),
    )


def _solve_ac(local: _Local, base_mva: float, options: Options) -> _Flow | None:
    ybus, yf, yt = makeYbus(base_mva, local.bus, local.branch)
    sbus = makeSbus(base_mva, local.bus, local.gen)
    v0 = (local.bus[:, VM] * np.exp(1j * np.deg2rad(local.bus[:, VA]))).astype(np.complex128)
    gbus = local.gen[:, GEN_BUS].astype(int)
    v0[gbus] = local.gen[:, VG] / np.abs(v0[gbus]) * v0[gbus]
    pv, pq = local.pv, local.pq
    while True:
        v = _newton(ybus, sbus, v0, local.ref, pv, pq, options)
        if v is None:
            return None
        fixed = _q_limit_violations(local, ybus, v, pv, base_mva) if options.enforce_q_limits else {}
        if not fixed:
            break
        for b, q_gen in fixed.items():
            sbus[b] = sbus[b].real + 1j * (q_gen - local.bus[b, QD]) / base_mva
        pv = np.array([b for b in pv if b not in fixed], dtype=int)
        pq = np.sort(np.concatenate([pq, np.fromiter(fixed, dtype=int)]))
        v0 = v
    f, t = local.branch[:, F_BUS].astype(int), local.branch[:, T_BUS].astype(int)
    s_inj = v * np.conj(ybus @ v) * base_mva
    return _Flow(
        vm=np.abs(v), va=np.rad2deg(np.angle(v)),
        s_from=v[f] * np.conj(yf @ v) * base_mva, s_to=v[t] * np.conj(yt @ v) * base_mva,
        s_gen=s_inj + local.bus[:, PD] + 1j * local.bus[:, QD],
    )


def _newton(
    ybus: csr_matrix, sbus: NDArray[np.complex128], v0: NDArray[np.complex128],
    ref: NDArray[np.int_], pv: NDArray[np.int_], pq: NDArray[np.int_], options: Options,
) -> NDArray[np.complex128] | None:
    if pv.size + pq.size == 0:
        return v0
    opt = ppoption(PF_TOL=options.tolerance, PF_MAX_IT=options.max_iterations, VERBOSE=0)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # a diverging iteration hits singular Jacobians; divergence is reported below
        warnings.simplefilter("ignore", MatrixRankWarning)
        v, converged, _ = newtonpf(ybus, sbus, v0, ref, pv, pq, opt)
    if not converged or not np.all(np.isfinite(v)):
        return None
    return np.asarray(v)


def _q_limit_violations(
    local: _Local, ybus: csr_matrix, v: NDArray[np.complex128], pv: NDArray[np.int_], base_mva: float
) -> dict[int, float]:
    """PV buses whose generators' total Q is outside their total limits -> Q at the limit."""
    q_gen = (v * np.conj(ybus @ v)).imag * base_mva + local.bus[:, QD]
    gbus = local.gen[:, GEN_BUS].astype(int)
    q_max = np.bincount(gbus, weights=local.gen[:, QMAX], minlength=v.size)
    q_min = np.bincount(gbus, weights=local.gen[:, QMIN], minlength=v.size)
    fixed = {}
    for b in pv:
        if q_gen[b] > q_max[b] + 1e-6:
            fixed[int(b)] = float(q_max[b])
        elif q_gen[b] < q_min[b] - 1e-6:
            fixed[int(b)] = float(q_min[b])
    return fixed


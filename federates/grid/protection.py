"""Protection: flood trips of substations, the line-overload cascade, N-1 screening.

Loading of a branch (:func:`branch_loading`): in AC the apparent power at the worse end,
``max(|S_from|, |S_to|) / rateA`` (MVA against MVA, as MATPOWER, pandapower and utility
ratings do); in DC, where there is no reactive power, ``|P_from| / rateA``.  A branch is
overloaded when its loading exceeds ``1 + LOADING_TOLERANCE``: a flow at its rating, up
to the round-off of the power flow, does not trip.  A branch with ``rateA = 0`` is
unlimited (MATPOWER's convention).

Overload cascade: after an event, solve the power flow, trip *all* overloaded branches
at once, re-solve, and repeat until no branch is overloaded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pypower.idx_brch import BR_STATUS, RATE_A

from federation import ParameterCheck, ParameterError, ParameterProblem

from .case import Case
from .powerflow import Mode, Options, Solution, solve

LOADING_TOLERANCE = 1e-6
"""Relative margin above the rating before a branch trips: 1 ppm, far above the power
flow's round-off (DC: ~1e-15; AC: mismatch 1e-10 p.u.) and far below any meaningful
loading (16 W on a 16 MVA line)."""

__all__ = [
    "LOADING_TOLERANCE",
    "Cascade",
    "Contingency",
    "Substation",
    "branch_loading",
    "branch_ratings",
    "flooded",
    "overloaded",
    "run_cascade",
    "screen_n1",
]


@dataclass(frozen=True)
class Substation:
    """A flood-exposed asset: the buses it holds trip when its depth exceeds the threshold."""

    name: str
    buses: tuple[int, ...]  # case bus numbers
    threshold_m: float = 0.5
    restore_after_s: float | None = None  # back in service this long after the water recedes; None = stays out

    @classmethod
    def from_params(cls, name: str, spec: Mapping[str, Any], where: str = "substations") -> Substation:
        """Parse ``{buses: [..], threshold_m: 0.5}``; a ``ParameterError`` names every bad ``where.name.key``."""
        if not isinstance(spec, Mapping):
            raise ParameterError([ParameterProblem((where, name), f"expected a mapping with 'buses', got {spec!r}")])
        check = ParameterCheck()
        for key in sorted(set(spec) - {"buses", "threshold_m", "restore_after_s"}):
            check.fail((where, name, key), "unknown key (known: buses, threshold_m, restore_after_s)")
        buses = spec.get("buses")
        if not isinstance(buses, (list, tuple)) or not buses or not all(_is_int(b) for b in buses):
            check.fail((where, name, "buses"), f"expected a non-empty list of bus numbers, got {buses!r}")
        threshold = spec.get("threshold_m", 0.5)
        if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not threshold >= 0:
            check.fail((where, name, "threshold_m"), f"expected a depth >= 0 in m, got {threshold!r}")
        restore = spec.get("restore_after_s")
        if restore is not None and (isinstance(restore, bool) or not isinstance(restore, (int, float)) or not restore >= 0):
            check.fail((where, name, "restore_after_s"), f"expected a time >= 0 in s, got {restore!r}")
        check.done()
        return cls(name, tuple(int(b) for b in buses or ()), float(threshold), None if restore is None else float(restore))


@dataclass(frozen=True, eq=False)
class Cascade:
    """Outcome of the overload cascade: the branches tripped in each round, the final state."""

    rounds: tuple[tuple[int, ...], ...]
    solution: Solution
    branch_on: NDArray[np.bool_]  # in-service branches after the cascade

    @property
    def tripped(self) -> tuple[int, ...]:
        """Every branch tripped by the cascade, sorted."""
        return tuple(sorted(k for r in self.rounds for k in r))


@dataclass(frozen=True)
class Contingency:
    """One N-1 outage and the branches it overloads (branch rows)."""

    outage: int
    overloaded: tuple[int, ...]


def flooded(substations: tuple[Substation, ...], depths: Mapping[str, float]) -> frozenset[str]:
    """Names of the substations whose flood depth exceeds their threshold."""
    return frozenset(s.name for s in substations if depths.get(s.name, 0.0) > s.threshold_m)


def branch_ratings(case: Case, scale: float = 1.0) -> NDArray[np.float64]:
    """``rateA`` times ``scale`` per branch, in MVA; ``inf`` where ``rateA`` is 0 (unlimited)."""
    rate = case.branch[:, RATE_A] * scale
    return np.where(case.branch[:, RATE_A] > 0, rate, math.inf)


def branch_loading(solution: Solution, ratings: NDArray[np.float64]) -> NDArray[np.float64]:
    """Loading per branch row: ``max(|S_from|, |S_to|) / rating`` in AC, ``|P_from| / rating`` in DC."""
    if solution.mode is Mode.AC:
        flow = np.maximum(np.hypot(solution.p_from, solution.q_from), np.hypot(solution.p_to, solution.q_to))
    else:
        flow = np.abs(solution.p_from)
    loading: NDArray[np.float64] = flow / ratings
    return loading


def overloaded(
    solution: Solution, ratings: NDArray[np.float64], tolerance: float = LOADING_TOLERANCE
) -> tuple[int, ...]:
    """Branch rows whose loading exceeds ``1 + tolerance``."""
    return tuple(int(k) for k in np.flatnonzero(branch_loading(solution, ratings) > 1.0 + tolerance))


def run_cascade(
    case: Case,
    mode: Mode,
    *,
    bus_on: NDArray[np.bool_],
    branch_on: NDArray[np.bool_],
    pd: NDArray[np.float64],
    qd: NDArray[np.float64],
    ratings: NDArray[np.float64],
    options: Options | None = None,
) -> Cascade:
    """Solve, trip every overloaded branch at once, re-solve; repeat until none is overloaded."""
    branch_on = np.array(branch_on, dtype=bool)
    rounds: list[tuple[int, ...]] = []
    while True:
        solution = solve(case, mode, bus_on=bus_on, branch_on=branch_on, pd=pd, qd=qd, options=options)
        trips = overloaded(solution, ratings)
        if not trips:
            return Cascade(tuple(rounds), solution, branch_on)
        branch_on[list(trips)] = False
        rounds.append(trips)


def screen_n1(
    case: Case, mode: Mode, *, ratings: NDArray[np.float64], options: Options | None = None
) -> tuple[Contingency, ...]:
    """Every single in-service branch outage of the base case and the branches it overloads."""
    base = case.branch[:, BR_STATUS] > 0
    result = []
    for k in np.flatnonzero(base):
        branch_on = base.copy()
        branch_on[k] = False
        solution = solve(case, mode, branch_on=branch_on, options=options)
        result.append(Contingency(int(k), overloaded(solution, ratings)))
    return tuple(result)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

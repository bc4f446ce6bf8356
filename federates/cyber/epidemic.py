"""Exact continuous-time SI/SIS spread on a graph (Gillespie's direct method).

Each node is *susceptible* or *infected* (compromised).  Two more flags change its rates:
a *patched* node can no longer be infected, and an *inactive* node (dark or isolated)
takes no part in the process at all: it neither infects, is infected nor is cleaned.
With ``x_j = 1`` when node ``j`` is infected and active, the transition rates are::

    susceptible i -> infected   sum_j beta_ij x_j        (i active, not patched)
    infected i    -> susceptible delta_i                (SIS only; i active)

``beta_ij`` is the per-edge compromise rate and ``delta_i`` the per-node cleaning rate,
both in 1/s.  :meth:`Epidemic.advance` draws the exact trajectory (Gillespie 1977): the
waiting time to the next transition is exponential with the total rate, and the
transition is picked in proportion to its rate.  The pending transition time is kept
across calls, so stopping at a grant and resuming later is exact; a change made from
outside (:meth:`infect`, :meth:`clean`, :meth:`patch`, :meth:`set_active`) re-draws it
from the current time, which the memoryless exponential clocks make exact too.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["Epidemic", "SpreadModel", "Transition"]


class SpreadModel(str, enum.Enum):
    """Which transitions exist: SI (no cleaning) or SIS (cleaning at rate delta)."""

    SI = "si"
    SIS = "sis"


@dataclass(frozen=True)
class Transition:
    """One random transition: ``node`` became infected (or was cleaned) at ``time``."""

    time: float
    node: int
    infected: bool


class Epidemic:
    """The state and exact simulation of SI/SIS spread on one weighted graph.

    ``beta`` is a symmetric sparse matrix of per-edge compromise rates (1/s; the
    diagonal is ignored) and ``delta`` the per-node cleaning rates (1/s, a scalar or one
    per node; ignored for :attr:`SpreadModel.SI`).
    """

    def __init__(
        self,
        beta: sp.sparray | sp.spmatrix,
        delta: float | Sequence[float] | np.ndarray,
        model: SpreadModel,
        rng: np.random.Generator,
        *,
        start: float = 0.0,
    ) -> None:
        matrix = _rate_matrix(beta)
        n = matrix.shape[0]
        self.model = SpreadModel(model)
        self._indptr, self._indices, self._data = matrix.indptr, matrix.indices, matrix.data
        self._delta = _node_rates(delta, n) if self.model is SpreadModel.SIS else np.zeros(n)
        self._rng = rng
        self._infected = np.zeros(n, dtype=bool)
        self._patched = np.zeros(n, dtype=bool)
        self._active = np.ones(n, dtype=bool)
        self._pressure = np.zeros(n)
        self._sources = np.zeros(n, dtype=np.int64)
        self._rate = np.zeros(n)
        self._now = float(start)
        self._next = math.inf
        self._stale = True

    @classmethod
    def from_edges(
        cls,
        n: int,
        edges: Iterable[tuple[int, int, float]],
        delta: float | Sequence[float] | np.ndarray,
        model: SpreadModel,
        rng: np.random.Generator,
        *,
        start: float = 0.0,
    ) -> Epidemic:
        """Build from ``(i, j, beta_ij)`` triples of an undirected graph on nodes ``0..n-1``."""
        rows, cols, vals = [], [], []
        for i, j, b in edges:
            rows += [i, j]
            cols += [j, i]
            vals += [b, b]
        beta = sp.csr_array((vals, (rows, cols)), shape=(n, n))
        return cls(beta, delta, model, rng, start=start)

    # ------------------------------------------------------------------ reading
    @property
    def size(self) -> int:
        """Number of nodes."""
        return len(self._infected)

    @property
    def now(self) -> float:
        """Time (s) up to which the process has been simulated."""
        return self._now

    @property
    def next_time(self) -> float:
        """Time (s) of the pending transition; ``inf`` when no transition can happen."""
        if self._stale:
            total = float(self._rate.sum())
            self._next = self._now + self._rng.exponential(1.0 / total) if total > 0 else math.inf
            self._stale = False
        return self._next

    @property
    def count(self) -> int:
        """Number of infected nodes."""
        return int(self._infected.sum())

    def is_infected(self, node: int) -> bool:
        return bool(self._infected[node])

    def is_patched(self, node: int) -> bool:
        return bool(self._patched[node])

    def infected_mask(self) -> np.ndarray:
        """A copy of the infection flags, one per node."""
        return self._infected.copy()

    def infected_nodes(self) -> list[int]:
        """Indices of the infected nodes, ascending."""
        return [int(i) for i in np.flatnonzero(self._infected)]

    # ------------------------------------------------------------------ simulating
    def advance(self, until: float) -> list[Transition]:
        """Simulate every transition up to and including ``until`` (s); return them in order."""
        if until < self._now:
            raise ValueError(f"cannot advance the epidemic back from t={self._now:g} s to t={until:g} s")
        done: list[Transition] = []
        while self.next_time <= until:
            self._now = self._next
            node = self._pick()
            now_infected = not self._infected[node]
            self._set_flags(node, infected=now_infected)
            done.append(Transition(self._now, node, now_infected))
        self._now = float(until)
        return done

    # ------------------------------------------------------------------ changes from outside
    def infect(self, node: int) -> None:
        """Compromise ``node`` now, unless it is patched."""
        if not self._patched[node]:
            self._set_flags(node, infected=True)

    def clean(self, node: int) -> None:
        """Clean ``node`` now; it stays susceptible."""
        self._set_flags(node, infected=False)

    def patch(self, node: int) -> None:
        """Clean ``node`` now and make it immune for the rest of the run."""
        self._patched[node] = True
        self._set_flags(node, infected=False)

    def set_active(self, node: int, active: bool) -> None:
        """Switch ``node`` on (powered and connected) or off (dark or isolated)."""
        self._set_flags(node, active=active)

    # ------------------------------------------------------------------ internals
    def _set_flags(self, node: int, *, infected: bool | None = None, active: bool | None = None) -> None:
        was_source = self._infected[node] and self._active[node]
        if infected is not None:
            self._infected[node] = infected
        if active is not None:
            self._active[node] = active
        is_source = self._infected[node] and self._active[node]
        if is_source != was_source:
            self._spread_pressure(node, 1 if is_source else -1)
        self._refresh(np.array([node]))
        self._stale = True

    def _spread_pressure(self, source: int, sign: int) -> None:
        lo, hi = self._indptr[source], self._indptr[source + 1]
        targets = self._indices[lo:hi]
        self._pressure[targets] += sign * self._data[lo:hi]
        self._sources[targets] += sign
        self._pressure[targets[self._sources[targets] == 0]] = 0.0  # no round-off residue
        self._refresh(targets)

    def _refresh(self, nodes: np.ndarray) -> None:
        active, infected = self._active[nodes], self._infected[nodes]
        exposed = active & ~infected & ~self._patched[nodes]
        self._rate[nodes] = np.where(active & infected, self._delta[nodes], 0.0) + np.where(
            exposed, self._pressure[nodes], 0.0
        )

    def _pick(self) -> int:
        cumulative = np.cumsum(self._rate)
        node = int(np.searchsorted(cumulative, self._rng.random() * cumulative[-1], side="right"))
        if node >= len(cumulative):  # u rounded up to the total
            node = int(np.flatnonzero(self._rate)[-1])
        return node

    def __repr__(self) -> str:
        return f"<Epidemic {self.model.value} n={self.size} infected={self.count} t={self._now:g}>"


def _rate_matrix(beta: sp.sparray | sp.spmatrix) -> sp.csr_array:
    coo = sp.coo_array(beta, dtype=float)
    if coo.shape[0] != coo.shape[1]:
        raise ValueError(f"beta must be a square matrix, got shape {coo.shape}")
    off = coo.row != coo.col
    matrix = sp.csr_array((coo.data[off], (coo.row[off], coo.col[off])), shape=coo.shape)
    matrix.eliminate_zeros()
    matrix.sort_indices()
    if matrix.nnz and (not np.all(np.isfinite(matrix.data)) or matrix.data.min() < 0):
        raise ValueError(f"beta must hold finite rates >= 0 (1/s), got min {matrix.data.min()!r}")
    if abs(matrix - matrix.T).sum() > 1e-12 * max(1.0, abs(matrix).sum()):
        raise ValueError("beta must be symmetric: the graph is undirected")
    return matrix


def _node_rates(delta: float | Sequence[float] | np.ndarray, n: int) -> np.ndarray:
    rates = np.broadcast_to(np.asarray(delta, dtype=float), (n,)).copy()
    if not np.all(np.isfinite(rates)) or (n and rates.min() < 0):
        raise ValueError(f"delta must hold finite rates >= 0 (1/s), got {delta!r}")
    return rates

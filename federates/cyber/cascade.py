"""Cascading failure of two interdependent networks (Buldyrev et al., Nature 464, 2010).

Networks A and B share the node labels ``0..N-1``; node ``i`` of A and node ``i`` of B
depend on each other (think: substation ``i`` needs telecom site ``i`` to be controlled,
and the site needs the substation's power).  A node keeps working only while it is in
the giant component of its own network *and* its partner works.  Starting from the
survivors of an initial attack, :func:`mutual_giant_component` alternates

    A-survivors := giant component of A restricted to the survivors
    survivors   := giant component of B restricted to the A-survivors

until nothing changes.  For two Erdos-Renyi networks of mean degree k after a random
attack keeping a fraction p of A, the surviving fraction is the largest root of
``mu = p (1 - exp(-k mu))^2``, which vanishes abruptly below ``p_c = 2.4554 / k``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

__all__ = ["giant_component", "mutual_giant_component", "random_attack"]


def giant_component(adjacency: sp.sparray | sp.spmatrix, alive: np.ndarray) -> np.ndarray:
    """Mask of the largest connected component of the subgraph induced by ``alive``.

    Ties go to the component holding the lowest-numbered node; no alive node -> all False.
    """
    alive = np.asarray(alive, dtype=bool)
    if not alive.any():
        return alive.copy()
    keep = sp.diags_array(alive.astype(float))
    induced = sp.csr_array(keep @ sp.csr_array(adjacency) @ keep)
    _, labels = connected_components(induced, directed=False)
    sizes = np.bincount(labels[alive])
    return alive & (labels == int(np.argmax(sizes)))


def mutual_giant_component(
    a: sp.sparray | sp.spmatrix, b: sp.sparray | sp.spmatrix, survivors: np.ndarray
) -> np.ndarray:
    """Mask of the nodes that still work once the A<->B cascade started by ``survivors`` stops."""
    if a.shape != b.shape or a.shape[0] != len(survivors):
        raise ValueError(
            f"networks of shapes {a.shape} and {b.shape} do not match {len(survivors)} survivors"
        )
    alive = np.asarray(survivors, dtype=bool)
    while True:
        after = giant_component(b, giant_component(a, alive))
        if np.array_equal(after, alive):
            return after
        alive = after


def random_attack(
    a: sp.sparray | sp.spmatrix, b: sp.sparray | sp.spmatrix, p: float, rng: np.random.Generator
) -> float:
    """Keep a random fraction ``p`` of A's nodes; return the fraction left in the mutual giant component."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a fraction in [0, 1], got {p!r}")
    n = int(a.shape[0])
    survivors = np.zeros(n, dtype=bool)
    survivors[rng.permutation(n)[: round(p * n)]] = True
    return int(mutual_giant_component(a, b, survivors).sum()) / n

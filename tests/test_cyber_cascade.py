"""The interdependent-network cascade (federates.cyber.cascade) against Buldyrev et al. 2010."""

from __future__ import annotations

import math
import re

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from federates.cyber.cascade import giant_component, mutual_giant_component, random_attack

K = 4.0
P_C = 2.4554 / K  # Buldyrev et al., Nature 464, 1025 (2010): p_c = 2.4554 / <k> for coupled ER networks


def erdos_renyi(n: int, k: float, seed: int) -> sp.csr_array:
    g = nx.fast_gnp_random_graph(n, k / (n - 1), seed=seed)
    edges = np.array(g.edges, dtype=np.int64).reshape(-1, 2)
    ones = np.ones(2 * len(edges))
    rows, cols = np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]]
    return sp.csr_array((ones, (rows, cols)), shape=(n, n))


def mutual_fraction_theory(p: float, k: float) -> float:
    """Largest root of mu = p (1 - exp(-k mu))^2 (Buldyrev et al. 2010, eq. for ER networks),
    reached by iterating from mu = p, which mirrors the cascade stages."""
    mu = p
    for _ in range(100_000):
        nxt = p * (1.0 - math.exp(-k * mu)) ** 2
        if abs(nxt - mu) < 1e-13:
            break
        mu = nxt
    return mu


@pytest.fixture(scope="module")
def coupled() -> tuple[sp.csr_array, sp.csr_array]:
    n = 50_000
    return erdos_renyi(n, K, seed=1), erdos_renyi(n, K, seed=2)


def test_theory_collapses_at_the_published_threshold() -> None:
    """The reference itself: the ER fixed point jumps from ~0.31 to 0 across p_c = 2.4554/k
    (Buldyrev et al. 2010: a first-order transition), so the threshold constant is right."""
    assert mutual_fraction_theory(P_C + 1e-3, K) > 0.25
    assert mutual_fraction_theory(P_C - 1e-3, K) < 1e-6


def test_coupled_er_networks_survive_above_p_c(coupled: tuple[sp.csr_array, sp.csr_array]) -> None:
    """Two coupled ER networks (N = 50000, k = 4) keep a large mutual giant component at
    p = p_c + 0.05 (Buldyrev et al., Nature 464, 1025, 2010): the simulated fraction equals
    the theory mu = p (1 - exp(-k mu))^2 = 0.490 within 0.02, and likewise at p = 0.8."""
    rng = np.random.default_rng(10)
    for p in (P_C + 0.05, 0.8):
        assert random_attack(*coupled, p, rng) == pytest.approx(mutual_fraction_theory(p, K), abs=0.02)


def test_coupled_er_networks_collapse_below_p_c(coupled: tuple[sp.csr_array, sp.csr_array]) -> None:
    """Just below the threshold, at p = p_c - 0.05, the cascade leaves almost nothing
    (Buldyrev et al. 2010): fraction < 0.01, where a single ER network with the same
    survivors (mean degree p k = 2.26) would keep a giant component of 0.85 of them."""
    rng = np.random.default_rng(11)
    assert random_attack(*coupled, P_C - 0.05, rng) < 0.01


def test_giant_component_of_a_masked_graph() -> None:
    """Only alive nodes count: cutting the middle of a path leaves its longer side."""
    path = sp.csr_array(nx.to_scipy_sparse_array(nx.path_graph(7)))
    alive = np.array([1, 1, 0, 1, 1, 1, 1], dtype=bool)
    assert giant_component(path, alive).tolist() == [False, False, False, True, True, True, True]
    assert not giant_component(path, np.zeros(7, dtype=bool)).any()


def test_dependency_propagates_between_the_networks() -> None:
    """A is a path 0-1-2-3, B links {0,1} and {2,3} only: B's split cuts A's giant in half."""
    a = sp.csr_array(nx.to_scipy_sparse_array(nx.path_graph(4)))
    b = sp.csr_array(nx.to_scipy_sparse_array(nx.Graph([(0, 1), (2, 3)])))
    assert mutual_giant_component(a, b, np.ones(4, dtype=bool)).tolist() == [True, True, False, False]


def test_a_fraction_outside_zero_one_is_refused(coupled: tuple[sp.csr_array, sp.csr_array]) -> None:
    with pytest.raises(ValueError, match=re.escape("p must be a fraction in [0, 1], got 1.5")):
        random_attack(*coupled, 1.5, np.random.default_rng(0))

"""Exact SI/SIS spread (federates.cyber.epidemic) against independent references."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.linalg import expm

from federates.cyber.epidemic import Epidemic, SpreadModel

# A star: centre 0, leaves 1..4, each link with its own rate; each node its own cleaning rate.
STAR_EDGES = [(0, 1, 1.0), (0, 2, 0.5), (0, 3, 0.8), (0, 4, 1.2)]
STAR_DELTA = [0.7, 0.4, 0.6, 0.5, 0.9]
TIMES = [0.5, 1.0, 2.0, 4.0]


def markov_generator(n: int, edges: list[tuple[int, int, float]], delta: list[float]) -> np.ndarray:
    """Generator of the 2^n-state SIS chain; bit i of a state is node i's infection."""
    beta = np.zeros((n, n))
    for i, j, b in edges:
        beta[i, j] = beta[j, i] = b
    q = np.zeros((2**n, 2**n))
    for s in range(2**n):
        infected = np.array([(s >> i) & 1 for i in range(n)], dtype=float)
        for i in range(n):
            if infected[i]:
                q[s, s ^ (1 << i)] += delta[i]
            else:
                q[s, s | (1 << i)] += beta[i] @ infected
        q[s, s] = -q[s].sum()
    return q


Edges = list[tuple[int, int, float]]


def exact_states(n: int, edges: Edges, delta: list[float], first: int) -> np.ndarray:
    """P(state s at t) for each t in TIMES, from p(t) = p(0) expm(Q t); node ``first`` starts infected."""
    q = markov_generator(n, edges, delta)
    p0 = np.zeros(2**n)
    p0[1 << first] = 1.0
    return np.array([p0 @ expm(q * t) for t in TIMES])


def simulated_states(
    n: int, edges: Edges, delta: list[float], model: SpreadModel, first: int, runs: int
) -> np.ndarray:
    """Frequency of each state s at each t in TIMES over ``runs`` runs of the simulation core."""
    rng = np.random.default_rng(2024)
    ends = np.array([(i, j) for i, j, _ in edges])
    rates = [b for *_, b in edges] * 2
    beta = sp.csr_array((rates, (np.r_[ends[:, 0], ends[:, 1]], np.r_[ends[:, 1], ends[:, 0]])), shape=(n, n))
    freq = np.zeros((len(TIMES), 2**n))
    for _ in range(runs):
        epi = Epidemic(beta, delta, model, rng)
        epi.infect(first)
        for k, t in enumerate(TIMES):
            epi.advance(t)
            freq[k, sum(1 << i for i in epi.infected_nodes())] += 1
    return freq / runs


def compare(exact: np.ndarray, sim: np.ndarray, n: int, runs: int) -> None:
    """Node marginals, the law of the count I(t) and E[I(t)] agree within 4.5 standard errors."""
    bits = np.array([[(s >> i) & 1 for i in range(n)] for s in range(2**n)], dtype=float)
    size = bits.sum(axis=1).astype(int)
    for f in (lambda p: p @ bits, lambda p: np.stack([p[:, size == c].sum(axis=1) for c in range(n + 1)], 1)):
        want, got = f(exact), f(sim)
        se = np.sqrt(want * (1 - want) / runs) + 1.0 / runs
        assert np.all(np.abs(got - want) <= 4.5 * se), (got - want) / se
    mean = exact @ size
    se_mean = np.sqrt((exact @ size**2 - mean**2) / runs)
    assert np.all(np.abs(sim @ size - mean) <= 4.5 * se_mean), (sim @ size - mean) / se_mean


def test_sis_on_a_star_matches_the_exact_markov_chain() -> None:
    """Per-node infection probabilities, the law of I(t) and E[I(t)] of the simulated SIS process
    equal those of the exact 2^n-state continuous-time Markov chain (Van Mieghem, Omic & Kooij,
    "Virus spread in networks", IEEE/ACM Trans. Netw. 17(1), 2009, section II: the SIS process
    is this chain), solved with the matrix exponential; heterogeneous beta_ij and delta_i;
    6000 runs; tolerance 4.5 standard errors (exact variances from the chain)."""
    runs = 6000
    exact = exact_states(5, STAR_EDGES, STAR_DELTA, first=1)
    compare(exact, simulated_states(5, STAR_EDGES, STAR_DELTA, SpreadModel.SIS, first=1, runs=runs), 5, runs)


def test_si_on_a_path_matches_the_exact_markov_chain() -> None:
    """SI on a 4-node path, infection starting at an end: the same comparison with the exact
    chain at delta = 0 (Van Mieghem et al. 2009); the SI core must ignore the cleaning rates."""
    runs = 4000
    edges = [(0, 1, 0.9), (1, 2, 0.4), (2, 3, 1.5)]
    exact = exact_states(4, edges, [0.0] * 4, first=0)
    compare(exact, simulated_states(4, edges, [5.0] * 4, SpreadModel.SI, first=0, runs=runs), 4, runs)
    assert exact[-1] @ [bin(s).count("1") for s in range(16)] > 3.0  # the check reaches a late state


def prevalence(graph: nx.Graph, tau: float, rng: np.random.Generator) -> float:
    """Mean infected fraction over t in [20, 40] / delta, starting with every node infected."""
    n = graph.number_of_nodes()
    epi = Epidemic.from_edges(n, [(a, b, tau) for a, b in graph.edges], 1.0, SpreadModel.SIS, rng)
    for i in range(n):
        epi.infect(i)
    samples = []
    for t in np.linspace(20.0, 40.0, 11):
        epi.advance(float(t))
        samples.append(epi.count / n)
    return float(np.mean(samples))


def test_sis_threshold_is_near_the_inverse_spectral_radius() -> None:
    """On a random 8-regular graph (N=400, lambda_max = 8) the SIS prevalence switches on near
    tau_c = 1/lambda_max (Van Mieghem et al. 2009; Chakrabarti et al., ACM TISSEC 10(4),
    2008): extinct at 0.8 tau_c, negligible at tau_c, endemic at 1.5 and 2 tau_c -- so the
    transition lies in the band [1, 1.5] tau_c, consistent with the pair approximation's
    1/(k-1) = 1.14 tau_c.  Above the threshold the prevalence stays below the N-intertwined
    mean-field value 1 - 1/(tau lambda_max), which upper-bounds the exact SIS prevalence
    (Van Mieghem, "The N-intertwined SIS epidemic network model", Computing 93, 2011)."""
    graph = nx.random_regular_graph(8, 400, seed=7)
    lam = float(np.linalg.eigvalsh(nx.to_numpy_array(graph)).max())
    assert lam == pytest.approx(8.0)
    rng = np.random.default_rng(3)
    y = {r: np.mean([prevalence(graph, r / lam, rng) for _ in range(2)]) for r in (0.8, 1.0, 1.5, 2.0)}
    assert y[0.8] == 0.0
    assert y[1.0] < 0.02
    assert 0.15 < y[1.5] <= 1 - 1 / 1.5
    assert 0.40 < y[2.0] <= 1 - 1 / 2.0


# ---------------------------------------------------------------------- rules of the core
def two_nodes(model: SpreadModel = SpreadModel.SIS, seed: int = 0) -> Epidemic:
    return Epidemic.from_edges(2, [(0, 1, 1.0)], 0.5, model, np.random.default_rng(seed))


def test_a_patched_node_is_never_infected() -> None:
    """Patching cleans the node and blocks every later infection, from the graph or outside."""
    epi = two_nodes(SpreadModel.SI)
    epi.infect(0)
    epi.patch(1)
    epi.infect(1)
    assert epi.advance(100.0) == [] and epi.infected_nodes() == [0]
    assert math.isinf(epi.next_time)


def test_an_inactive_node_takes_no_part() -> None:
    """A dark or isolated node neither infects nor is cleaned: nothing happens while it is off."""
    epi = two_nodes()
    epi.infect(0)
    epi.set_active(0, False)
    assert math.isinf(epi.next_time)
    assert epi.advance(1e6) == [] and epi.infected_nodes() == [0]
    epi.set_active(0, True)
    assert epi.next_time < math.inf


def test_transitions_are_in_time_order_within_the_window() -> None:
    """advance(t) returns every transition in (now, t], in order, and leaves now = t."""
    clique = [(i, j, 1.0) for i in range(8) for j in range(i + 1, 8)]
    epi = Epidemic.from_edges(8, clique, 0.5, SpreadModel.SIS, np.random.default_rng(5))
    epi.infect(0)
    done = epi.advance(50.0)
    times = [tr.time for tr in done]
    assert times == sorted(times) and all(0.0 < x <= 50.0 for x in times) and len(done) > 5
    assert epi.now == 50.0 and epi.next_time > 50.0


def test_same_seed_same_trajectory() -> None:
    """The trajectory depends on the seed only."""
    runs = []
    for _ in range(2):
        epi = two_nodes(seed=11)
        epi.infect(0)
        runs.append(epi.advance(30.0))
    assert runs[0] == runs[1]


def test_advancing_backwards_is_refused() -> None:
    epi = two_nodes()
    epi.advance(5.0)
    with pytest.raises(ValueError, match="back from t=5 s to t=4 s"):
        epi.advance(4.0)


def test_an_asymmetric_rate_matrix_is_refused() -> None:
    beta = sp.csr_array(np.array([[0.0, 1.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="symmetric"):
        Epidemic(beta, 0.1, SpreadModel.SIS, np.random.default_rng(0))


def test_a_negative_cleaning_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="delta must hold finite rates >= 0"):
        Epidemic.from_edges(2, [(0, 1, 1.0)], [-1.0, 0.1], SpreadModel.SIS, np.random.default_rng(0))

"""Benchmark of the cyber federate: wall time per step, per transition and per cascade.

Run: ``python bench/cyber.py [--substations 50] [--steps 2000]``.  Prints

* the federate's wall time per ``step`` when stepped at the times it asks for
  (event-driven, one transition per step), on a generated topology;
* the simulation core's wall time per transition (SIS on a random 8-regular graph);
* the Buldyrev cascade's wall time for two coupled ER networks.
"""

from __future__ import annotations

import argparse
import time

import networkx as nx
import numpy as np
import scipy.sparse as sp

from federates.cyber import CyberFederate, Epidemic, SpreadModel, random_attack
from federation.api.federate import Context


def bench_federate(substations: int, steps: int) -> None:
    names = [f"s{i}" for i in range(substations)]
    params = {
        "substations": names,
        "hospitals": ["h0", "h1"],
        "control_centre_site": "cc",
        "beta": 1 / 300,
        "delta": 1 / 3600,
        "entry_points": ["it_h0", "it_h1", "telecom_core"],
    }
    ctx = Context(name="cyber", seed=1, start=0.0, stop=1e9, resolution=1e-3, period=None)
    fed = CyberFederate(params, ctx)
    fed.setup()
    t: float | None = 0.0
    start = time.perf_counter()
    done = 0
    for done in range(1, steps + 1):
        if done == steps // 2:
            fed.inputs["power.cc"] = False  # the control centre goes dark half-way
        assert t is not None
        t = fed.step(t)
        fed._outbox.clear()
        if t is None:
            break
    wall = time.perf_counter() - start
    print(
        f"federate: {len(fed.net.nodes)} ICT nodes, {done} steps to t={fed.time:.0f} s: "
        f"{1e6 * wall / done:.0f} us/step; compromised {fed.outputs['compromised_count']}, "
        f"breaker commands {fed.outputs['breaker_commands']}"
    )


def bench_core(n: int = 400, k: int = 8, until: float = 40.0) -> None:
    graph = nx.random_regular_graph(k, n, seed=7)
    epi = Epidemic.from_edges(
        n, [(a, b, 2.0 / k) for a, b in graph.edges], 1.0, SpreadModel.SIS, np.random.default_rng(1)
    )
    for i in range(n):
        epi.infect(i)
    start = time.perf_counter()
    count = len(epi.advance(until))
    wall = time.perf_counter() - start
    per = 1e6 * wall / count
    print(f"core: SIS on a random {k}-regular graph, N={n}: {count} transitions, {per:.1f} us each")


def bench_cascade(n: int = 50_000, k: float = 4.0) -> None:
    def er(seed: int) -> sp.csr_array:
        edges = np.array(nx.fast_gnp_random_graph(n, k / (n - 1), seed=seed).edges).reshape(-1, 2)
        rows, cols = np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]]
        return sp.csr_array((np.ones(len(rows)), (rows, cols)), shape=(n, n))

    a, b = er(1), er(2)
    rng = np.random.default_rng(0)
    for p in (2.4554 / k - 0.05, 2.4554 / k + 0.05):
        start = time.perf_counter()
        mu = random_attack(a, b, p, rng)
        print(
            f"cascade: N={n}, k={k:g}, p={p:.4f}: mutual giant component {mu:.4f} "
            f"in {1e3 * (time.perf_counter() - start):.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--substations", type=int, default=50, help="substations of the generated topology")
    parser.add_argument("--steps", type=int, default=2000, help="federate steps to time")
    args = parser.parse_args()
    bench_federate(args.substations, args.steps)
    bench_core()
    bench_cascade()


if __name__ == "__main__":
    main()

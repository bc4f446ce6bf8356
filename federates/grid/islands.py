"""Electrical islands of a case under a given topology, and who balances each one.

The island rule (issue spec, exactly):

* the island holding the case's reference bus is balanced by that bus;
* every other island that has generation is balanced by its generator with the
  largest ``Pmax`` (ties go to the generator listed first in the case);
* an island without generation is de-energized and loses its load.

"Generation" means an in-service generator (``status > 0``) with ``Pmax > 0`` on one
of the island's buses; a synchronous condenser (``Pmax = 0``) cannot balance an island.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import networkx as nx
import numpy as np
from pypower.idx_gen import GEN_STATUS, PMAX

from .case import Case

__all__ = ["Island", "SlackRule", "find_islands", "topology_graph"]


class SlackRule(enum.Enum):
    """Why an island is balanced (or not) by its slack bus."""

    REFERENCE = "reference"  # holds the case's reference bus
    LARGEST_PMAX = "largest_pmax"  # balanced by its generator with the largest Pmax
    NO_GENERATION = "no_generation"  # no generation: de-energized, load lost


@dataclass(frozen=True)
class Island:
    """A connected set of in-service buses; all indices are case rows."""

    buses: tuple[int, ...]
    branches: tuple[int, ...]
    gens: tuple[int, ...]  # in-service generators on the island's buses
    rule: SlackRule
    slack_bus: int | None  # None when rule is NO_GENERATION

    @property
    def has_slack(self) -> bool:
        return self.slack_bus is not None


def topology_graph(case: Case, bus_on: np.ndarray, branch_on: np.ndarray) -> nx.MultiGraph:
    """Graph of in-service buses (nodes: rows) and branches (edges keyed by branch row).

    A branch counts only if it is in service and both its end buses are.
    """
    f, t = case.branch_rows()
    graph = nx.MultiGraph()
    graph.add_nodes_from(int(b) for b in np.flatnonzero(bus_on))
    for k in np.flatnonzero(branch_on & bus_on[f] & bus_on[t]):
        graph.add_edge(int(f[k]), int(t[k]), key=int(k))
    return graph


def find_islands(case: Case, bus_on: np.ndarray, branch_on: np.ndarray) -> tuple[Island, ...]:
    """The islands of ``case`` with buses ``bus_on`` and branches ``branch_on`` in service.

    Islands are ordered by their lowest bus row, so the result is deterministic.
    """
    graph = topology_graph(case, bus_on, branch_on)
    gen_bus = case.gen_rows()
    gen_on = case.gen[:, GEN_STATUS] > 0
    islands = []
    for nodes in sorted((sorted(c) for c in nx.connected_components(graph)), key=lambda c: c[0]):
        members = np.zeros(case.n_bus, dtype=bool)
        members[nodes] = True
        branches = tuple(sorted(k for _, _, k in graph.subgraph(nodes).edges(keys=True)))
        gens = tuple(int(g) for g in np.flatnonzero(gen_on & members[gen_bus]))
        rule, slack = _slack(case, members, gens, gen_bus)
        islands.append(Island(tuple(nodes), branches, gens, rule, slack))
    return tuple(islands)


def _slack(
    case: Case, members: np.ndarray, gens: tuple[int, ...], gen_bus: np.ndarray
) -> tuple[SlackRule, int | None]:
    ref = case.ref_row
    if members[ref]:
        return SlackRule.REFERENCE, ref
    capable = [g for g in gens if case.gen[g, PMAX] > 0]
    if not capable:
        return SlackRule.NO_GENERATION, None
    pmax = np.array([case.gen[g, PMAX] for g in capable])
    return SlackRule.LARGEST_PMAX, int(gen_bus[capable[int(np.argmax(pmax))]])

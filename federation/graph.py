"""The dependency graph of a scenario (networkx): cycle check, display, drawing.

Nodes are federates; an edge ``a -> b`` means b depends on a, labelled with the
connection kind (direct, delayed, iterate, message).  Edges of zero lag -- direct
connections, linear interpolation and messages without lookahead -- must not form a
cycle, except inside an ``iterate`` group, which is contracted to one node for the check.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import networkx as nx

from .scenario import ConnectionKind, Interpolation, Scenario

__all__ = ["dependency_graph", "zero_lag_cycles", "to_dot", "draw"]

_STYLE = {"direct": "solid", "delayed": "dashed", "iterate": "bold", "message": "dotted"}


def dependency_graph(scenario: Scenario) -> nx.MultiDiGraph:
    graph = nx.MultiDiGraph(name=scenario.name)
    for name, spec in scenario.federates.items():
        graph.add_node(name, type=spec.type or "external")
    for c in scenario.connections:
        zero = c.kind is ConnectionKind.DIRECT or c.interpolate is Interpolation.LINEAR
        graph.add_edge(c.source, c.target, kind=c.kind.value, label=f"{c.output}->{c.input}", zero_lag=zero,
                       group=c.group)  # fmt: skip
    for r in scenario.routes:
        graph.add_edge(r.source, r.target, kind="message", label=f"{r.endpoint}->{r.target_endpoint}",
                       zero_lag=r.lookahead == 0, group=None)  # fmt: skip
    return graph


def zero_lag_cycles(scenario: Scenario, limit: int = 5) -> list[list[str]]:
    """Cycles of zero-lag dependencies (each as a node list, first node repeated last)."""
    members: dict[str, str] = {}
    for c in scenario.connections:
        if c.group:
            members.setdefault(c.source, f"[{c.group}]")
            members.setdefault(c.target, f"[{c.group}]")
    contracted = nx.DiGraph()
    labels: dict[tuple[str, str], str] = {}
    for a, b, data in dependency_graph(scenario).edges(data=True):
        if not data["zero_lag"] or data["kind"] == "iterate":
            continue
        u, v = members.get(a, a), members.get(b, b)
        if u == v and u.startswith("["):
            continue
        contracted.add_edge(u, v)
        labels[(u, v)] = data["label"]
    cycles = []
    for cycle in itertools.islice(nx.simple_cycles(contracted), limit):
        start = cycle.index(min(cycle))
        cycle = cycle[start:] + cycle[:start]
        cycles.append([*cycle, cycle[0]])
    return sorted(cycles)


def to_dot(scenario: Scenario) -> str:
    lines = [f'digraph "{scenario.name}" {{', "  rankdir=LR;", "  node [shape=box];"]
    for name, data in dependency_graph(scenario).nodes(data=True):
        lines.append(f'  "{name}" [label="{name}\\n({data["type"]})"];')
    for a, b, data in dependency_graph(scenario).edges(data=True):
        lines.append(f'  "{a}" -> "{b}" [label="{data["label"]}\\n{data["kind"]}", style={_STYLE[data["kind"]]}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw(scenario: Scenario, path: str | Path) -> None:
    """Write the graph as ``.dot`` text or as an image (png, svg, pdf) drawn with matplotlib."""
    path = Path(path)
    if path.suffix == ".dot":
        path.write_text(to_dot(scenario), encoding="utf-8")
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graph = dependency_graph(scenario)
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(graph)), 5))
    pos = nx.kamada_kawai_layout(nx.DiGraph(graph)) if len(graph) > 2 else nx.spring_layout(graph, seed=1)
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_color="#cfe2f3", node_size=1800, node_shape="s")
    nx.draw_networkx_labels(graph, pos, ax=ax, font_size=9)
    for kind, style in _STYLE.items():
        edges = [(a, b) for a, b, d in graph.edges(data=True) if d["kind"] == kind]
        nx.draw_networkx_edges(graph, pos, edgelist=edges, ax=ax, style="dashed" if style == "dashed" else
                               "dotted" if style == "dotted" else "solid", width=2.5 if style == "bold" else 1.2,
                               arrows=True, arrowsize=15, node_size=1800, connectionstyle="arc3,rad=0.1")  # fmt: skip
    labels = {(a, b): f"{d['label']} ({d['kind']})" for a, b, d in graph.edges(data=True)}
    nx.draw_networkx_edge_labels(graph, pos, edge_labels=labels, ax=ax, font_size=7)
    ax.set_title(f"{scenario.name}: solid direct, dashed delayed, bold iterate, dotted message")
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

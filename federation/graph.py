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


def _layers(graph: nx.MultiDiGraph) -> dict[str, tuple[float, float]]:
    """Left to right in the order of zero-lag dependencies (producers first)."""
    zero = nx.DiGraph()
    zero.add_nodes_from(graph)
    zero.add_edges_from((a, b) for a, b, d in graph.edges(data=True) if d["zero_lag"] and a != b)
    dag = nx.condensation(zero)
    column = {}
    for depth, generation in enumerate(nx.topological_generations(dag)):
        for comp in generation:
            for node in dag.nodes[comp]["members"]:
                column[node] = depth
    pos = {}
    for depth in sorted(set(column.values())):
        nodes = sorted(n for n, c in column.items() if c == depth)
        for row, node in enumerate(nodes):
            pos[node] = (float(depth), (len(nodes) - 1) / 2.0 - row)
    return pos


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
    pos = _layers(graph)
    columns = max((x for x, _ in pos.values()), default=0) + 1
    rows = max((sum(1 for p in pos.values() if p[0] == c) for c in range(int(columns))), default=1)
    fig, ax = plt.subplots(figsize=(max(7, 4.2 * columns), max(4, 2.0 * rows + 1)))
    pairs: dict[tuple[str, str], list[dict]] = {}
    for a, b, data in graph.edges(data=True):
        pairs.setdefault((a, b), []).append(data)
    rank = ["iterate", "direct", "message", "delayed"]
    for (a, b), edges in pairs.items():
        kind = min((e["kind"] for e in edges), key=rank.index)
        style = {"delayed": "dashed", "message": "dotted"}.get(kind, "solid")
        bend = 0.15 if (b, a) in pairs else 0.05
        nx.draw_networkx_edges(graph, pos, edgelist=[(a, b)], ax=ax, style=style, arrows=True, arrowsize=14,
                               width=2.4 if kind == "iterate" else 1.2, node_size=2600,
                               connectionstyle=f"arc3,rad={bend}", edge_color="#555555")  # fmt: skip
        labels = [e["label"] for e in edges]  # the line style tells the kind
        text = "\n".join(labels[:2]) + (f"\n+{len(labels) - 2} more" if len(labels) > 2 else "")
        (xa, ya), (xb, yb) = pos[a], pos[b]
        ax.annotate(text, (xa + 0.55 * (xb - xa), ya + 0.55 * (yb - ya) + (0.12 if (b, a) in pairs and a < b else 0)),
                    fontsize=6.5, ha="center", va="center", color="#333333",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})  # fmt: skip
    for node, (x, y) in pos.items():
        ax.annotate(f"{node}\n({graph.nodes[node]['type']})", (x, y), ha="center", va="center", fontsize=8.5,
                    bbox={"boxstyle": "round,pad=0.4", "fc": "#cfe2f3", "ec": "#3d6fa3"})  # fmt: skip
    ax.set_xlim(-0.6, columns - 0.4)
    ax.set_ylim(-rows / 2 - 0.2, rows / 2 + 0.2)
    ax.set_title(f"{scenario.name}: producers left; solid direct, dashed delayed, bold iterate, dotted message")
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

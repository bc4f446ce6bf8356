"""The dependency graph of a scenario (networkx): cycle check, display, drawing.

Nodes are federates; an edge ``a -> b`` means b depends on a, labelled with the
connection kind (direct, delayed, iterate, message).  Edges of zero lag -- direct
connections, linear interpolation and messages without lookahead -- must not form a
cycle, except inside an ``iterate`` group, which is contracted to one node for the check.

The picture (:func:`draw`) is laid out by :mod:`federation.scenario.layout`: consumers right of
their producers and message receivers right of their senders, except for the one edge of
each cycle that must turn back (a delayed connection or a message with lookahead before a
zero-lag one); every node sized to its name, every label on its own edge.
"""

from __future__ import annotations

import enum
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import networkx as nx

from .layout import EdgeRequest, Layout, layered_layout
from .model import ConnectionKind, Interpolation, Scenario

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["Drawing", "EdgeKind", "dependency_graph", "draw", "figure", "layout_graph", "to_dot", "zero_lag_cycles"]


class EdgeKind(str, enum.Enum):
    DIRECT = "direct"
    DELAYED = "delayed"
    ITERATE = "iterate"
    MESSAGE = "message"

_STYLE = {EdgeKind.DIRECT: "solid", EdgeKind.DELAYED: "dashed", EdgeKind.ITERATE: "bold", EdgeKind.MESSAGE: "dotted"}


def dependency_graph(scenario: Scenario) -> nx.MultiDiGraph:
    graph = nx.MultiDiGraph(name=scenario.name)
    for name, spec in scenario.federates.items():
        graph.add_node(name, type=spec.type or "external")
    for c in scenario.connections:
        zero = c.kind is ConnectionKind.DIRECT or c.interpolate is Interpolation.LINEAR
        graph.add_edge(c.source, c.target, kind=c.kind.value, label=f"{c.output}->{c.input}", zero_lag=zero,
                       group=c.group)  # fmt: skip
    for r in scenario.routes:
        graph.add_edge(r.source, r.target, kind=EdgeKind.MESSAGE.value, label=f"{r.endpoint}->{r.target_endpoint}",
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
        lines.append(f'  "{a}" -> "{b}" [label="{data["label"]}\\n{data["kind"]}", style={_STYLE[EdgeKind(data["kind"])]}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- the picture
NODE_FONT = 9.0  # points
LABEL_FONT = 7.0
NODE_PAD = (0.12, 0.08)  # inches around a node's name
LABEL_PAD = 0.25  # of the label font size, around a label (matplotlib's bbox pad)
DPI = 120
EDGE_COLOUR = "#404040"
ARROW_HEAD = "-|>,head_length=0.6,head_width=0.3"  # times ARROW_SCALE points: 8.4 pt long, 8.4 pt wide
ARROW_SCALE = 14.0
_LINE: dict[EdgeKind, tuple[Literal["solid", "dashed", "dotted"], float]] = {EdgeKind.DIRECT: ("solid", 1.2), EdgeKind.DELAYED: ("dashed", 1.2), EdgeKind.ITERATE: ("solid", 2.8),
         EdgeKind.MESSAGE: ("dotted", 1.5)}  # fmt: skip
_PRIORITY = {EdgeKind.ITERATE: 0, EdgeKind.DIRECT: 0, EdgeKind.MESSAGE: 1, EdgeKind.DELAYED: 2}


@dataclass(frozen=True)
class Drawing:
    """The laid-out graph: ``layout.routes[i]`` is drawn as ``kinds[i]`` with ``labels[i]``."""

    name: str
    layout: Layout
    node_text: dict[str, str]
    kinds: tuple[EdgeKind, ...]
    labels: tuple[str, ...]


def _edge_groups(graph: nx.MultiDiGraph) -> list[tuple[str, str, EdgeKind, list[str], int]]:
    """One drawn edge per (producer, consumer, kind): its connections' labels and its layout priority
    (zero-lag edges point forward first, then messages, then delayed connections)."""
    groups: dict[tuple[str, str, EdgeKind], tuple[list[str], int]] = {}
    for a, b, data in graph.edges(data=True):
        kind = EdgeKind(data["kind"])
        labels, priority = groups.get((a, b, kind), ([], 0))
        labels.append(data["label"])
        groups[(a, b, kind)] = (labels, max(priority, 0 if data["zero_lag"] else _PRIORITY[kind]))
    return [(a, b, kind, labels, priority) for (a, b, kind), (labels, priority) in groups.items()]


def _measure(texts: list[str], fontsize: float) -> list[tuple[float, float]]:
    """Width and height in inches of each (multi-line) text as matplotlib renders it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(dpi=DPI)
    renderer: Any = FigureCanvasAgg(fig).get_renderer()  # type: ignore[no-untyped-call]
    sizes = []
    for text in texts:
        extent = fig.text(0, 0, text, fontsize=fontsize).get_window_extent(renderer)
        sizes.append((extent.width / DPI, extent.height / DPI))
    return sizes


def layout_graph(scenario: Scenario) -> Drawing:
    """The dependency graph of ``scenario`` laid out left to right (inches)."""
    graph = dependency_graph(scenario)
    node_text = {name: f"{name}\n({data['type']})" for name, data in graph.nodes(data=True)}
    groups = _edge_groups(graph)
    labels = ["\n".join(g[3]) for g in groups]
    pad = 2 * LABEL_PAD * LABEL_FONT / 72
    node_sizes = _measure(list(node_text.values()), NODE_FONT)
    label_sizes = _measure(labels, LABEL_FONT)
    layout = layered_layout(
        {name: (w + 2 * NODE_PAD[0], h + 2 * NODE_PAD[1]) for name, (w, h) in zip(node_text, node_sizes)},
        [EdgeRequest(a, b, (w + pad, h + pad), priority) for (a, b, _, _, priority), (w, h) in zip(groups, label_sizes)],
    )
    return Drawing(scenario.name, layout, node_text, tuple(g[2] for g in groups), tuple(labels))


def figure(drawing: Drawing) -> Figure:
    """The picture of a laid-out graph; one data unit is one inch."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    layout = drawing.layout
    header, footer = 0.45, 0.55
    width, height = max(layout.width, 7.5), layout.height + header + footer
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes(((width - layout.width) / 2 / width, footer / height, layout.width / width, layout.height / height))
    ax.set_xlim(0, layout.width)
    ax.set_ylim(0, layout.height)
    ax.axis("off")
    _draw_edges(ax, drawing)
    _draw_nodes(ax, drawing)
    fig.suptitle(f"{drawing.name}: dependency graph (producers left of their consumers)", y=1 - 0.12 / height,
                 va="top", fontsize=11)  # fmt: skip
    _legend(fig)
    return fig


def _draw_edges(ax: Axes, drawing: Drawing) -> None:
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path as MplPath

    for k, (route, kind, text) in enumerate(zip(drawing.layout.routes, drawing.kinds, drawing.labels)):
        style, width = _LINE[kind]
        ax.add_patch(FancyArrowPatch(path=MplPath(route.points), arrowstyle="-", linewidth=width, linestyle=style,
                                     color=EDGE_COLOUR, zorder=1, gid=f"edge:{k}"))  # fmt: skip
        (xa, ya), (xb, yb) = route.points[-2:]  # the head alone, solid whatever the line's style
        stub = 0.01 / (math.hypot(xb - xa, yb - ya) or 1.0)
        head = MplPath([(xb - stub * (xb - xa), yb - stub * (yb - ya)), (xb, yb)])
        ax.add_patch(FancyArrowPatch(path=head, arrowstyle=ARROW_HEAD, mutation_scale=ARROW_SCALE, linewidth=1.0,
                                     color=EDGE_COLOUR, zorder=1, gid=f"head:{k}"))  # fmt: skip
        ax.text(route.label.x, route.label.y, text, fontsize=LABEL_FONT, ha="center", va="center", color="#202020",
                zorder=3, gid=f"label:{k}",
                bbox={"boxstyle": f"square,pad={LABEL_PAD}", "fc": "white", "ec": "none"})  # fmt: skip


def _draw_nodes(ax: Axes, drawing: Drawing) -> None:
    from matplotlib.patches import FancyBboxPatch

    for name, box in drawing.layout.nodes.items():
        ax.add_patch(FancyBboxPatch((box.left, box.bottom), box.w, box.h, boxstyle="round,pad=0,rounding_size=0.06",
                                    fc="#cfe2f3", ec="#3d6fa3", linewidth=1.2, zorder=2,
                                    gid=f"node:{name}"))  # fmt: skip
        ax.text(box.x, box.y, drawing.node_text[name], fontsize=NODE_FONT, ha="center", va="center", zorder=4,
                gid=f"name:{name}")  # fmt: skip


def _legend(fig: Figure) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=EDGE_COLOUR, linestyle=_LINE[k][0], linewidth=_LINE[k][1], label=text)
               for k, text in ((EdgeKind.DIRECT, "direct"), (EdgeKind.DELAYED, "delayed"),
                               (EdgeKind.ITERATE, "iterate"), (EdgeKind.MESSAGE, "message"))]  # fmt: skip
    fig.legend(handles=handles, loc="lower center", ncols=4, fontsize=8, frameon=False,
               title="an arrow pointing left closes a cycle (a delay or a message lookahead breaks it)",
               title_fontsize=8)  # fmt: skip


def draw(scenario: Scenario, path: str | Path) -> None:
    """Write the graph as ``.dot`` text or as an image (png, svg, pdf) drawn with matplotlib."""
    path = Path(path)
    if path.suffix == ".dot":
        path.write_text(to_dot(scenario), encoding="utf-8")
        return
    figure(layout_graph(scenario)).savefig(path, dpi=DPI)

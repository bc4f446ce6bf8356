"""A layered left-to-right drawing of a directed graph, in inches, without a drawing library.

Used by :mod:`federation.scenario.graph` for ``federation graph -o x.png``.  The steps are the
classic ones (Sugiyama et al. 1981), kept small:

1. **cycles** -- edges are taken in priority order (then given order) and kept pointing
   forward unless they would close a cycle; those that would are *feedback* edges, drawn
   right to left;
2. **layers** -- the longest path from the sources, sources moved next to their first
   consumer; an edge across several layers passes through a *dummy* slot in each;
3. **order** -- barycentre sweeps within each layer, keeping the order with fewest crossings;
4. **coordinates** -- every node is sized to its label and its ports; the items of each
   layer are stacked without overlap and pulled towards their neighbours;
5. **routing** -- between two layers lies a *channel*: a label zone where each edge
   segment runs horizontally on its own *track* (its label sits on that track, on the
   line), with S-curves on either side.  Lines cross only in the S-curves, labels never
   overlap one another or a node, and every arrow ends just outside its target's box.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import networkx as nx

__all__ = ["Box", "EdgeRequest", "Layout", "Route", "layered_layout"]

Point = tuple[float, float]
Size = tuple[float, float]

PORT_GAP = 0.17  # inches between two arrows entering one side of a node
ITEM_GAP = 0.35  # between two boxes of one layer
DUMMY_HEIGHT = 0.12  # the slot of an edge passing through a layer
TRACK_HEIGHT = 0.1  # a track without a label
TRACK_GAP = 0.07
TRANSITION = 0.6  # width of the S-curve zones either side of a label zone
LABEL_PAD = 0.12
ARROW_GAP = 0.03  # between an arrow's tip and its target's box
LOOP_RISE = 0.18  # a self-loop's height above its node, below its label
MARGIN = 0.25
SAMPLES = 14  # points per S-curve


@dataclass(frozen=True)
class Box:
    """An axis-aligned box by its centre and size (inches)."""

    x: float
    y: float
    w: float
    h: float

    @property
    def left(self) -> float:
        return self.x - self.w / 2

    @property
    def right(self) -> float:
        return self.x + self.w / 2

    @property
    def bottom(self) -> float:
        return self.y - self.h / 2

    @property
    def top(self) -> float:
        return self.y + self.h / 2

    def contains(self, point: Point) -> bool:
        return self.left <= point[0] <= self.right and self.bottom <= point[1] <= self.top

    def overlaps(self, other: Box) -> bool:
        return (self.left < other.right and other.left < self.right
                and self.bottom < other.top and other.bottom < self.top)  # fmt: skip

    def shifted(self, dx: float, dy: float) -> Box:
        return Box(self.x + dx, self.y + dy, self.w, self.h)


@dataclass(frozen=True)
class EdgeRequest:
    """An edge to draw: ``label`` is the size of its label; lower ``priority`` points forward first."""

    source: str
    target: str
    label: Size
    priority: int = 0


@dataclass(frozen=True)
class Route:
    """How one edge is drawn: a polyline from its source's box to just outside its target's."""

    source: str
    target: str
    points: tuple[Point, ...]
    label: Box
    feedback: bool  # drawn right to left, because it closes a cycle


@dataclass(frozen=True)
class Layout:
    nodes: Mapping[str, Box]
    routes: tuple[Route, ...]  # in the order of the requests
    layers: Mapping[str, int]
    width: float
    height: float


def layered_layout(nodes: Mapping[str, Size], edges: Sequence[EdgeRequest]) -> Layout:
    """Place ``nodes`` (name -> label size) and route ``edges``; everything in inches, y up."""
    plan = _Plan(dict(nodes), list(edges))
    plan.break_cycles()
    plan.assign_layers()
    plan.make_chains()
    plan.order_layers()
    plan.size_nodes()
    plan.place_columns()
    plan.place_items()
    plan.place_tracks()
    return plan.result()


# ---------------------------------------------------------------------------- the working state
@dataclass
class _Item:
    key: str
    layer: int
    w: float
    h: float
    node: bool
    y: float = 0.0
    loop_room: float = 0.0  # above a node with self-loops
    span: float = 0.0  # width its column needs (a self-loop's label may be wider than the node)


@dataclass
class _Segment:
    edge: int
    left: str  # item keys, in layers k and k + 1
    right: str
    labelled: bool
    track: float = 0.0


@dataclass
class _Plan:
    sizes: dict[str, Size]
    edges: list[EdgeRequest]
    feedback: set[int] = field(default_factory=set)
    layer: dict[str, int] = field(default_factory=dict)
    items: dict[str, _Item] = field(default_factory=dict)
    chains: dict[int, list[_Segment]] = field(default_factory=dict)
    order: list[list[str]] = field(default_factory=list)
    col_x: list[float] = field(default_factory=list)
    col_w: list[float] = field(default_factory=list)
    zone_w: list[float] = field(default_factory=list)

    # -- 1. cycles
    def break_cycles(self) -> None:
        dag = nx.DiGraph()
        dag.add_nodes_from(self.sizes)
        for k in sorted(range(len(self.edges)), key=lambda k: (self.edges[k].priority, k)):
            e = self.edges[k]
            if e.source == e.target:
                continue
            if nx.has_path(dag, e.target, e.source):
                self.feedback.add(k)
            else:
                dag.add_edge(e.source, e.target)

    def _ends(self, k: int) -> tuple[str, str]:
        """An edge's ends in layer order (left, right)."""
        e = self.edges[k]
        return (e.target, e.source) if k in self.feedback else (e.source, e.target)

    # -- 2. layers
    def assign_layers(self) -> None:
        dag = nx.DiGraph()
        dag.add_nodes_from(self.sizes)
        dag.add_edges_from(self._ends(k) for k, e in enumerate(self.edges) if e.source != e.target)
        for name in nx.topological_sort(dag):
            self.layer[name] = max((self.layer[p] + 1 for p in dag.predecessors(name)), default=0)
        for name in reversed(list(nx.topological_sort(dag))):  # sources next to their first consumer
            if dag.in_degree(name) == 0 and dag.out_degree(name) > 0:
                self.layer[name] = min(self.layer[s] for s in dag.successors(name)) - 1

    def make_chains(self) -> None:
        for name, (w, h) in self.sizes.items():
            self.items[name] = _Item(name, self.layer[name], w, h, node=True)
        for k, e in enumerate(self.edges):
            if e.source == e.target:
                continue
            left, right = self._ends(k)
            keys = [left]
            for layer in range(self.layer[left] + 1, self.layer[right]):
                key = f"\0{k}:{layer}"
                self.items[key] = _Item(key, layer, 0.0, DUMMY_HEIGHT, node=False)
                keys.append(key)
            keys.append(right)
            middle = (len(keys) - 2) // 2
            self.chains[k] = [_Segment(k, a, b, i == middle) for i, (a, b) in enumerate(pairwise(keys))]

    def segments(self) -> list[_Segment]:
        return [s for chain in self.chains.values() for s in chain]

    # -- 3. order
    def order_layers(self) -> None:
        depth = max((i.layer for i in self.items.values()), default=0) + 1
        self.order = [[k for k, i in self.items.items() if i.layer == d] for d in range(depth)]
        links = self.segments()
        best, fewest = [list(o) for o in self.order], _crossings(self.order, links)
        for sweep in range(12):
            forward = sweep % 2 == 0
            for d in range(1, depth) if forward else range(depth - 2, -1, -1):
                self.order[d] = _by_barycentre(self.order[d], self.order[d - 1 if forward else d + 1], links, forward)
            count = _crossings(self.order, links)
            if count < fewest:
                best, fewest = [list(o) for o in self.order], count
        self.order = _transpose(best, links, fewest)

    # -- 4. coordinates
    def size_nodes(self) -> None:
        ports_left: dict[str, int] = {}
        ports_right: dict[str, int] = {}
        for s in self.segments():
            ports_right[s.left] = ports_right.get(s.left, 0) + 1
            ports_left[s.right] = ports_left.get(s.right, 0) + 1
        for name, item in self.items.items():
            if item.node:
                ports = max(ports_left.get(name, 0), ports_right.get(name, 0))
                item.h = max(item.h, (ports + 1) * PORT_GAP)
        for e in self.edges:
            if e.source == e.target:
                loop = self.items[e.source]
                loop.loop_room += LOOP_RISE + e.label[1] + TRACK_GAP
                loop.span = max(loop.span, e.label[0] + 2 * LABEL_PAD)

    def place_columns(self) -> None:
        self.col_w = [max((max(self.items[k].w, self.items[k].span) for k in column), default=0.0)
                      for column in self.order]  # fmt: skip
        self.zone_w = []
        for d in range(len(self.order) - 1):
            labels = [self.edges[s.edge].label[0] for s in self.segments()
                      if s.labelled and self.items[s.left].layer == d]  # fmt: skip
            self.zone_w.append(max(labels, default=0.0) + 2 * LABEL_PAD)
        x = self.col_w[0] / 2 if self.col_w else 0.0
        self.col_x = [x]
        for d in range(1, len(self.order)):
            x += self.col_w[d - 1] / 2 + 2 * TRANSITION + self.zone_w[d - 1] + self.col_w[d] / 2
            self.col_x.append(x)

    def place_items(self) -> None:
        neighbours: dict[str, list[str]] = {k: [] for k in self.items}
        for s in self.segments():
            neighbours[s.left].append(s.right)
            neighbours[s.right].append(s.left)
        for column in self.order:
            self._stack(column, [0.0] * len(column))
        for _ in range(6):
            for column in [*self.order, *reversed(self.order)]:
                wanted = [sum(self.items[n].y for n in neighbours[k]) / len(neighbours[k]) if neighbours[k]
                          else self.items[k].y for k in column]  # fmt: skip
                self._stack(column, wanted)

    def _stack(self, column: list[str], wanted: list[float]) -> None:
        """Top to bottom in ``column`` order, each item (with its loop room) near its wanted centre."""
        items = [self.items[k] for k in column]
        tall = [i.h + i.loop_room for i in items]
        centres = _pack([-(w + i.loop_room / 2) for w, i in zip(wanted, items)], tall, ITEM_GAP)
        for item, centre in zip(items, centres):
            item.y = -centre - item.loop_room / 2

    # -- 5. routing
    def place_tracks(self) -> None:
        for d in range(len(self.order) - 1):
            gap = [s for s in self.segments() if self.items[s.left].layer == d]
            gap.sort(key=lambda s: (-(self.items[s.left].y + self.items[s.right].y), -self.items[s.left].y))
            heights = [self.edges[s.edge].label[1] if s.labelled else TRACK_HEIGHT for s in gap]
            wanted = [-(self.items[s.left].y + self.items[s.right].y) / 2 for s in gap]
            for s, centre in zip(gap, _pack(wanted, heights, TRACK_GAP)):
                s.track = -centre

    def result(self) -> Layout:
        boxes = {k: Box(self.col_x[i.layer], i.y, i.w, i.h) for k, i in self.items.items() if i.node}
        ports = self._ports(boxes)
        routes = [self._route(k, boxes, ports) for k in range(len(self.edges))]
        return _framed(boxes, routes, dict(self.layer))

    def _ports(self, boxes: Mapping[str, Box]) -> dict[tuple[int, str, str], float]:
        """The y where each segment meets a node, (edge, side, node) -> y: spread over the side, in track order."""
        sides: dict[tuple[str, str], list[_Segment]] = {}
        for s in self.segments():
            sides.setdefault((s.left, "right"), []).append(s)
            sides.setdefault((s.right, "left"), []).append(s)
        ports = {}
        for (key, side), segments in sides.items():
            if key in boxes:
                segments.sort(key=lambda s: -s.track)
                for n, s in enumerate(segments):
                    ports[(s.edge, side, key)] = boxes[key].top - (n + 1) * boxes[key].h / (len(segments) + 1)
        return ports

    def _route(self, k: int, boxes: Mapping[str, Box], ports: Mapping[tuple[int, str, str], float]) -> Route:
        e = self.edges[k]
        if e.source == e.target:
            return _loop(e, boxes[e.source], self._loops_below(k))
        points: list[Point] = []
        label = Box(0, 0, 0, 0)
        for s in self.chains[k]:
            d = self.items[s.left].layer
            zone_left = self.col_x[d] + self.col_w[d] / 2 + TRANSITION
            zone_right = zone_left + self.zone_w[d]
            y0 = ports.get((k, "right", s.left), self.items[s.left].y)
            y1 = ports.get((k, "left", s.right), self.items[s.right].y)
            x0 = boxes[s.left].right if s.left in boxes else self.col_x[d] - self.col_w[d] / 2
            x1 = boxes[s.right].left if s.right in boxes else self.col_x[d + 1] - self.col_w[d + 1] / 2
            column_end = self.col_x[d] + self.col_w[d] / 2
            column_start = self.col_x[d + 1] - self.col_w[d + 1] / 2
            points += [(x0, y0), *_s_curve((column_end, y0), (zone_left, s.track)),
                       *_s_curve((zone_right, s.track), (column_start, y1)), (x1, y1)]  # fmt: skip
            if s.labelled:
                label = Box((zone_left + zone_right) / 2, s.track, e.label[0], e.label[1])
        if k in self.feedback:
            points.reverse()
        return Route(e.source, e.target, _arrow_gap(_dedupe(points)), label, k in self.feedback)

    def _loops_below(self, k: int) -> float:
        """Loop room taken by the earlier self-loops of the same node."""
        e = self.edges[k]
        earlier = [x for x in self.edges[:k] if x.source == x.target == e.source]
        return sum(LOOP_RISE + x.label[1] + TRACK_GAP for x in earlier)


# ---------------------------------------------------------------------------- helpers
def _crossings(order: list[list[str]], links: list[_Segment]) -> int:
    position = {k: i for column in order for i, k in enumerate(column)}
    count = 0
    by_layer: dict[int, list[tuple[int, int]]] = {}
    for d, column in enumerate(order):
        for s in links:
            if s.left in column:
                by_layer.setdefault(d, []).append((position[s.left], position[s.right]))
    for pairs in by_layer.values():
        count += sum(1 for i, a in enumerate(pairs) for b in pairs[i + 1:] if (a[0] - b[0]) * (a[1] - b[1]) < 0)
    return count


def _transpose(order: list[list[str]], links: list[_Segment], count: int) -> list[list[str]]:
    """Swap neighbours within a layer while that removes crossings (a few passes at most)."""
    for _ in range(8):
        before = count
        for column in order:
            for i in range(len(column) - 1):
                column[i], column[i + 1] = column[i + 1], column[i]
                swapped = _crossings(order, links)
                if swapped < count:
                    count = swapped
                else:
                    column[i], column[i + 1] = column[i + 1], column[i]
        if count == before:
            break
    return order


def _by_barycentre(column: list[str], fixed: list[str], links: list[_Segment], forward: bool) -> list[str]:
    position = {k: i for i, k in enumerate(fixed)}
    here = {k: i for i, k in enumerate(column)}

    def centre(key: str) -> float:
        others = [position[s.left if forward else s.right] for s in links
                  if (s.right if forward else s.left) == key and (s.left if forward else s.right) in position]
        return sum(others) / len(others) if others else float(here[key])

    return sorted(column, key=lambda k: (centre(k), here[k]))


def _pack(wanted: list[float], sizes: list[float], gap: float) -> list[float]:
    """Centres, in the given (increasing) order, nearest to ``wanted`` in least squares, with no two
    boxes closer than ``gap`` (pool-adjacent-violators on the offsets)."""
    offsets = [0.0]
    for a, b in pairwise(sizes):
        offsets.append(offsets[-1] + a / 2 + gap + b / 2)
    blocks: list[list[float]] = []  # [sum, count]
    for w, o in zip(wanted, offsets):
        blocks.append([w - o, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    values = [block[0] / block[1] for block in blocks for _ in range(int(block[1]))]
    return [v + o for v, o in zip(values, offsets)]


def _s_curve(a: Point, b: Point) -> list[Point]:
    """A cubic from ``a`` to ``b``, leaving and arriving horizontally."""
    (x0, y0), (x1, y1) = a, b
    half = (x1 - x0) / 2
    out = []
    for i in range(SAMPLES + 1):
        t = i / SAMPLES
        u = 1 - t
        x = u**3 * x0 + 3 * u * u * t * (x0 + half) + 3 * u * t * t * (x1 - half) + t**3 * x1
        y = u**3 * y0 + 3 * u * u * t * y0 + 3 * u * t * t * y1 + t**3 * y1
        out.append((x, y))
    return out


def _dedupe(points: list[Point]) -> list[Point]:
    out = [points[0]]
    for p in points[1:]:
        if math.dist(p, out[-1]) > 1e-9:
            out.append(p)
    return out


def _arrow_gap(points: list[Point]) -> tuple[Point, ...]:
    """End the line ARROW_GAP short of its last point (on the target's box), along its final direction."""
    end = points[-1]
    k = len(points) - 2
    while k > 0 and math.dist(points[k], end) <= 2 * ARROW_GAP:
        k -= 1
    (xa, ya), length = points[k], math.dist(points[k], end) or 1.0
    tip = (end[0] - ARROW_GAP * (end[0] - xa) / length, end[1] - ARROW_GAP * (end[1] - ya) / length)
    return (*points[: k + 1], tip)


def _loop(e: EdgeRequest, box: Box, below: float) -> Route:
    """A self-loop over the node: up from its top right, through the label, down into its top left."""
    rise = box.top + below + LOOP_RISE + e.label[1] / 2
    (sx, sy), (ax, ay), (ex, ey) = (box.right - 0.08, box.top), (box.x, rise), (box.left + 0.08, box.top)
    quarter = [i * math.pi / 2 / SAMPLES for i in range(SAMPLES + 1)]
    up = [(sx + (ax - sx) * (1 - math.cos(a)), sy + (ay - sy) * math.sin(a)) for a in quarter]
    down = [(ax + (ex - ax) * math.sin(a), ay + (ey - ay) * (1 - math.cos(a))) for a in quarter]
    label = Box(box.x, rise, e.label[0], e.label[1])
    return Route(e.source, e.target, _arrow_gap(_dedupe([*up, *down])), label, False)


def _framed(boxes: dict[str, Box], routes: list[Route], layers: dict[str, int]) -> Layout:
    """Shift everything so the drawing starts at (MARGIN, MARGIN)."""
    xs = [v for b in boxes.values() for v in (b.left, b.right)]
    ys = [v for b in boxes.values() for v in (b.bottom, b.top)]
    for r in routes:
        xs += [p[0] for p in r.points] + [r.label.left, r.label.right]
        ys += [p[1] for p in r.points] + [r.label.bottom, r.label.top]
    dx, dy = MARGIN - min(xs, default=0.0), MARGIN - min(ys, default=0.0)
    moved = [Route(r.source, r.target, tuple((x + dx, y + dy) for x, y in r.points), r.label.shifted(dx, dy),
                   r.feedback) for r in routes]  # fmt: skip
    return Layout({k: b.shifted(dx, dy) for k, b in boxes.items()}, tuple(moved), layers,
                  max(xs, default=0.0) + dx + MARGIN, max(ys, default=0.0) + dy + MARGIN)  # fmt: skip

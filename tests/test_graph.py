"""The dependency-graph picture: every edge's direction visible, every label readable and on its edge,
consumers and message receivers right of their producers unless a cycle makes an edge turn back."""

from __future__ import annotations

import math
from itertools import combinations, pairwise

import networkx as nx
import pytest

from federation.scenario.graph import ARROW_HEAD, ARROW_SCALE, Drawing, EdgeKind, figure, layout_graph
from federation.scenario.layout import ARROW_GAP, Box, EdgeRequest, layered_layout
from federation.scenario.loader import load
from tests.conftest import ROOT, write_scenario

pytestmark = pytest.mark.timeout(120)

HEAD_LENGTH = float(ARROW_HEAD.split("head_length=")[1].split(",")[0]) * ARROW_SCALE / 72  # inches

LOOPS_AND_GROUPS = """
time: {stop: 10 s, resolution: 1 ms}
federates:
  m1: {type: mass, period: 10 ms}
  m2: {type: coupled-mass, period: 10 ms}
  alone: {type: rain}
  lg: {type: logger}
  ctl: {type: valve}
connections:
  - {from: m1.position, to: m2.other_position, iterate: spring}
  - {from: m1.velocity, to: m2.other_velocity, iterate: spring}
  - {from: m2.force, to: m1.force, iterate: spring}
  - {from: lg.last_level, to: ctl.level}
messages:
  - {route: lg.alarms -> lg.alarms, lookahead: 1 s}
  - {route: ctl.alarms -> lg.alarms, lookahead: 1 s}
  - {route: ctl.alarms -> ctl.alarms, lookahead: 1 s}
iterate:
  spring: {tolerance: 1.0e-10, max_iterations: 30}
"""


@pytest.fixture(scope="module", params=["rain-tank", "riverton", "loops-and-groups"])
def drawing(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Drawing:
    if request.param == "loops-and-groups":
        path = write_scenario(tmp_path_factory.mktemp("graph"), LOOPS_AND_GROUPS)
    else:
        path = ROOT / "scenarios" / f"{request.param}.yaml"
    return layout_graph(load(path))


def _distance_to_polyline(point: tuple[float, float], line: tuple[tuple[float, float], ...]) -> float:
    best = math.inf
    for (xa, ya), (xb, yb) in pairwise(line):
        dx, dy = xb - xa, yb - ya
        t = max(0.0, min(1.0, ((point[0] - xa) * dx + (point[1] - ya) * dy) / (dx * dx + dy * dy or 1.0)))
        best = min(best, math.dist(point, (xa + t * dx, ya + t * dy)))
    return best


def test_labels_overlap_neither_each_other_nor_nodes(drawing):
    boxes = [r.label for r in drawing.layout.routes] + list(drawing.layout.nodes.values())
    clashes = [(a, b) for a, b in combinations(boxes, 2) if a.overlaps(b)]
    assert not clashes


def test_every_label_sits_on_its_own_edge(drawing):
    for route in drawing.layout.routes:
        assert _distance_to_polyline((route.label.x, route.label.y), route.points) < 1e-9


def test_every_arrowhead_lies_outside_every_node_and_touches_its_target(drawing):
    nodes = drawing.layout.nodes
    for route in drawing.layout.routes:
        (xa, ya), tip = route.points[-2], route.points[-1]
        length = math.dist((xa, ya), tip)
        back = ((xa - tip[0]) / length, (ya - tip[1]) / length)
        head = [(tip[0] + t * HEAD_LENGTH * back[0], tip[1] + t * HEAD_LENGTH * back[1]) for t in (0, 0.5, 1)]
        assert not any(box.contains(p) for box in nodes.values() for p in head), route
        target = nodes[route.target]
        grown = Box(target.x, target.y, target.w + 2.5 * ARROW_GAP, target.h + 2.5 * ARROW_GAP)
        assert grown.contains(tip), f"{route.source}->{route.target} ends away from its target"


def test_consumers_and_receivers_are_right_of_their_producers_unless_a_cycle_turns_them(drawing):
    """An edge points right to left only when it closes a cycle that nothing of lower priority
    (zero-lag before message before delayed) could have closed instead."""
    nodes = drawing.layout.nodes
    forward = nx.DiGraph()
    for route in drawing.layout.routes:
        if not route.feedback and route.source != route.target:
            assert nodes[route.target].x > nodes[route.source].x, f"{route.source}->{route.target}"
            forward.add_edge(route.source, route.target)
    for route in drawing.layout.routes:
        if route.feedback:
            assert nodes[route.target].x < nodes[route.source].x
            assert nx.has_path(forward, route.target, route.source), f"{route.source}->{route.target} closes no cycle"


def test_feedback_edges_are_the_lagged_ones():
    rain_tank = layout_graph(load(ROOT / "scenarios" / "rain-tank.yaml"))
    assert [(r.source, r.target) for r in rain_tank.layout.routes if r.feedback] == [("control", "tank")]
    riverton = layout_graph(load(ROOT / "scenarios" / "riverton.yaml"))
    turned = {(r.source, r.target, k) for r, k in zip(riverton.layout.routes, riverton.kinds) if r.feedback}
    assert turned == {
        ("damops", "flood", EdgeKind.MESSAGE),  # closes flood -> damops (direct): it must turn back
        ("hospital_b", "hospital_a", EdgeKind.MESSAGE),  # one of the two transfer routes must
        ("grid", "cyber", EdgeKind.DELAYED), ("hospital_b", "cyber", EdgeKind.DELAYED),
        ("factory", "grid", EdgeKind.DELAYED), ("hospital_a", "grid", EdgeKind.DELAYED),
    }  # fmt: skip
    receivers = {(r.source, r.target) for r, k in zip(riverton.layout.routes, riverton.kinds)
                 if k is EdgeKind.MESSAGE and not r.feedback}  # fmt: skip
    assert receivers == {("cyber", "grid"), ("hospital_a", "hospital_b")}


def test_the_rendered_picture_keeps_the_layout(drawing):
    """Measured on the figure as matplotlib draws it: label boxes apart from each other and from the
    node boxes, every node's name inside its box, every arrow tip outside its target's box."""
    fig = figure(drawing)
    fig.canvas.draw()  # places the labels' boxes
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    ax = fig.axes[0]
    patches = {p.get_gid(): p for p in ax.patches}
    texts = {t.get_gid(): t for t in ax.texts}
    node_boxes = {name: patches[f"node:{name}"].get_window_extent(renderer) for name in drawing.layout.nodes}
    labels = [texts[f"label:{k}"].get_bbox_patch().get_window_extent(renderer)
              for k in range(len(drawing.layout.routes))]  # fmt: skip
    for a, b in combinations(labels + list(node_boxes.values()), 2):
        assert not a.overlaps(b)
    for name, box in node_boxes.items():
        name_box = texts[f"name:{name}"].get_window_extent(renderer)
        assert box.x0 <= name_box.x0 and name_box.x1 <= box.x1 and box.y0 <= name_box.y0 and name_box.y1 <= box.y1
    for route in drawing.layout.routes:
        tip = ax.transData.transform(route.points[-1])
        assert not node_boxes[route.target].contains(*tip)


def test_layout_on_its_own_puts_a_chain_left_to_right():
    layout = layered_layout({"a": (1, 0.4), "b": (1, 0.4), "c": (1, 0.4)},
                            [EdgeRequest("b", "c", (0.5, 0.2)), EdgeRequest("a", "b", (0.5, 0.2)),
                             EdgeRequest("c", "a", (0.5, 0.2), priority=2)])  # fmt: skip
    assert layout.nodes["a"].x < layout.nodes["b"].x < layout.nodes["c"].x
    assert [r.feedback for r in layout.routes] == [False, False, True]


def test_graph_png_is_written(tmp_path):
    from federation.scenario.graph import draw

    draw(load(ROOT / "scenarios" / "riverton.yaml"), tmp_path / "riverton.png")
    assert (tmp_path / "riverton.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

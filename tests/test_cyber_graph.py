"""The ICT/SCADA graph (federates.cyber.graph): reading, generating, visibility."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from federates.cyber.graph import IctEdge, IctGraph, IctNode, NodeKind, generate_topology, load_graph
from federation.errors import ParameterError

SPEC = {
    "nodes": [
        {"name": "scada", "kind": "control_centre"},
        {"name": "router", "kind": "telecom", "site": "north"},
        {"name": "rtu_n", "kind": "rtu", "substation": "north", "site": "north", "delta": 0.001},
        {"name": "rtu_s", "kind": "rtu", "substation": "south"},
        {"name": "it_h", "kind": "hospital_it", "site": "hospital"},
    ],
    "edges": [
        ["scada", "router"],
        ["router", "rtu_n", 0.5],
        {"source": "router", "target": "rtu_s"},
        {"source": "scada", "target": "it_h", "beta": 0.25},
    ],
}


def test_a_spec_is_read_with_its_rates_and_sites() -> None:
    g = load_graph(SPEC)
    assert [n.kind for n in g.nodes][:3] == [NodeKind.CONTROL_CENTRE, NodeKind.TELECOM, NodeKind.RTU]
    assert g.nodes[2] == IctNode("rtu_n", NodeKind.RTU, "north", "north", 0.001)
    assert g.edges[1] == IctEdge("router", "rtu_n", 0.5) and g.edges[3].beta == 0.25
    assert g.edges[0].beta is None
    assert g.power_sites == ("hospital", "north") and g.substations == ("north", "south")


def test_yaml_and_json_files_give_the_same_graph(tmp_path: Path) -> None:
    import yaml

    (tmp_path / "g.yaml").write_text(yaml.safe_dump(SPEC))
    (tmp_path / "g.json").write_text(json.dumps(SPEC))
    assert load_graph(str(tmp_path / "g.yaml")) == load_graph(tmp_path / "g.json") == load_graph(SPEC)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot read ICT graph file '.*nowhere\.yaml'"):
        load_graph(str(tmp_path / "nowhere.yaml"))


def test_every_problem_is_reported_at_once() -> None:
    """Unknown kind, bad rate, unknown edge end: all three in one ParameterError, each under 'graph'."""
    spec = {
        "nodes": [
            {"name": "cc", "kind": "control_centre"},
            {"name": "x", "kind": "plc"},
            {"name": "y", "kind": "telecom", "delta": -1},
        ],
        "edges": [["cc", "y", "fast"]],
    }
    with pytest.raises(ParameterError) as info:
        load_graph(spec)
    text = str(info.value)
    assert "'graph.nodes[1].kind': unknown kind 'plc'" in text
    assert "'graph.nodes[2].delta': expected a rate >= 0 (1/s), got -1" in text
    assert "'graph.edges[0].beta': expected a rate >= 0 (1/s), got 'fast'" in text


def test_edges_to_unknown_nodes_and_duplicates_are_refused() -> None:
    spec = {
        "nodes": [{"name": "cc", "kind": "control_centre"}, {"name": "cc", "kind": "telecom"}],
        "edges": [["cc", "ghost"]],
    }
    with pytest.raises(ParameterError, match="duplicate node names: cc") as info:
        load_graph(spec)
    assert "'graph.edges[0]': unknown node 'ghost'" in str(info.value)


def test_a_graph_needs_a_control_centre() -> None:
    with pytest.raises(ValueError, match="no node of kind 'control_centre'"):
        IctGraph((IctNode("r", NodeKind.RTU, "s"),), ())


def test_generated_topology_links_rtus_through_a_ring_of_telecom_sites() -> None:
    """Documented layout: rtu_s - tel_s - telecom_core - scada_cc, tel_* ring, it_h - core."""
    g = generate_topology(["a", "b", "c"], ["h"], control_centre_site="cc")
    net = g.network
    assert net.has_edge("rtu_a", "tel_a") and net.has_edge("tel_a", "telecom_core")
    assert net.has_edge("tel_a", "tel_b") and net.has_edge("tel_c", "tel_a")
    assert net.has_edge("it_h", "telecom_core") and net.has_edge("scada_cc", "telecom_core")
    assert g.power_sites == ("a", "b", "c", "cc", "h") and g.substations == ("a", "b", "c")


def test_generated_topology_refuses_duplicate_names() -> None:
    with pytest.raises(ValueError, match="parameter 'substations': duplicate names"):
        generate_topology(["a", "a"])


def test_a_substation_is_visible_iff_an_up_path_joins_its_rtu_to_a_control_centre() -> None:
    """DESIGN rule: visibility needs a path of powered, non-isolated nodes to the control centre."""
    g = generate_topology(["a", "b", "c"])
    everyone = [n.name for n in g.nodes]
    assert g.visible_substations(everyone) == {"a", "b", "c"}
    # the core is down: the ring alone does not reach the control centre
    assert g.visible_substations([n for n in everyone if n != "telecom_core"]) == set()
    # one access site down: only its own substation goes blind
    assert g.visible_substations([n for n in everyone if n != "tel_a"]) == {"b", "c"}
    # the control centre down: everything is blind
    assert g.visible_substations([n for n in everyone if n != "scada_cc"]) == set()

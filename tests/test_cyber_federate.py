"""The cyber federate run alone, driven by calling step() directly."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from federates.cyber import CyberFederate
from federation.api.federate import Context, Message

SMALL = {
    "nodes": [
        {"name": "scada", "kind": "control_centre", "site": "cc"},
        {"name": "core", "kind": "telecom"},
        {"name": "rtu_a", "kind": "rtu", "substation": "a", "site": "a"},
        {"name": "rtu_b", "kind": "rtu", "substation": "b", "site": "b"},
    ],
    "edges": [["scada", "core"], ["core", "rtu_a"], ["core", "rtu_b"]],
}
# No spread (beta = 0): rtu_a alone is compromised, at t = 10 s.
STILL = {"graph": SMALL, "model": "si", "beta": 0.0, "entry_points": ["rtu_a"], "attack_start": 10.0}


def make(params: dict[str, Any], seed: int = 1) -> CyberFederate:
    fed = CyberFederate(
        params, Context(name="cyber", seed=seed, start=0.0, stop=1e6, resolution=1e-3, period=None)
    )
    fed.setup()
    return fed


def step(fed: CyberFederate, t: float, *payloads: dict[str, Any]) -> tuple[float | None, list[Any]]:
    """Step with ``payloads`` delivered on the defender endpoint; return (next time, messages sent)."""
    fed.inbox = [Message(t, "soc.actions", "defender", p) for p in payloads]
    nxt = fed.step(t)
    fed.inbox = []
    sent = [(m.endpoint, m.payload) for m in fed._outbox]
    fed._outbox.clear()
    return nxt, sent


def test_one_boolean_power_input_per_site() -> None:
    decl = CyberFederate.declare({"substations": ["a", "b"], "hospitals": ["h"], "control_centre_site": "cc"})
    assert [(s.name, s.type.value, s.default) for s in decl.inputs] == [
        ("power.a", "bool", True),
        ("power.b", "bool", True),
        ("power.cc", "bool", True),
        ("power.h", "bool", True),
    ]
    assert {e.name for e in decl.endpoints} == {"defender", "breakers"} and decl.period is None


def test_it_wakes_at_the_attack_start_and_compromises_the_entry_points() -> None:
    fed = make(STILL)
    assert step(fed, 0.0) == (10.0, [])
    assert fed.outputs["compromised"] == []
    nxt, _ = step(fed, 10.0)
    assert nxt is None  # nothing can happen any more by itself
    assert fed.outputs["compromised"] == ["rtu_a"] and fed.outputs["compromised_count"] == 1


def test_a_visible_compromised_rtu_waits_and_strikes_once_its_substation_is_blind() -> None:
    """Blind-spot rule: isolating the telecom core blinds a and b; compromised rtu_a strikes, once."""
    fed = make(STILL)
    step(fed, 0.0)
    assert step(fed, 10.0)[1] == []
    assert fed.outputs["visible"] == ["a", "b"] and fed.outputs["blind_count"] == 0
    _, sent = step(fed, 20.0, {"action": "isolate", "node": "core"})
    assert sent == [("breakers", {"action": "open", "substation": "a"})]
    assert fed.outputs["blind"] == ["a", "b"] and fed.outputs["visible_count"] == 0
    assert fed.outputs["actions"] == 1 and fed.outputs["breaker_commands"] == 1
    assert step(fed, 30.0)[1] == []


def test_a_dark_control_centre_blinds_every_substation() -> None:
    """Power interdependency: power.cc off -> the control centre is dark -> a and b are blind."""
    fed = make(STILL)
    step(fed, 10.0)
    fed.inputs["power.cc"] = False
    _, sent = step(fed, 15.0)
    assert sent == [("breakers", {"action": "open", "substation": "a"})]
    assert fed.outputs["blind"] == ["a", "b"]


def test_a_dark_rtu_is_blind_but_cannot_strike() -> None:
    fed = make(STILL)
    step(fed, 10.0)
    fed.inputs["power.a"] = False
    assert step(fed, 15.0)[1] == []
    assert fed.outputs["blind"] == ["a"] and fed.outputs["visible"] == ["b"]


def test_with_rule_always_a_compromised_rtu_strikes_at_once() -> None:
    fed = make({**STILL, "breaker_rule": "always"})
    assert step(fed, 10.0)[1] == [("breakers", {"action": "open", "substation": "a"})]


def test_patching_cleans_and_rearms() -> None:
    """A patched RTU is clean; a cleaned-then-recompromised RTU may strike again."""
    fed = make(
        {
            **STILL,
            "breaker_rule": "always",
            "defender_schedule": [{"time": 20.0, "action": "clean", "node": "rtu_a"}],
        }
    )
    assert len(step(fed, 10.0)[1]) == 1
    step(fed, 25.0)
    assert fed.outputs["compromised"] == [] and fed.outputs["actions"] == 1
    fed.epidemic.infect(fed.net.index["rtu_a"])
    assert len(step(fed, 30.0)[1]) == 1
    step(fed, 40.0, {"action": "patch", "nodes": ["rtu_a"]})
    assert fed.outputs["compromised"] == [] and fed.outputs["actions"] == 2


def test_scheduled_actions_apply_at_their_own_time_between_grants() -> None:
    """Isolating the entry point at 5 s, before the attack starts at 10 s, stops any spread,
    though the federate is only granted 0 s and 1000 s."""
    params = {
        "graph": SMALL,
        "model": "si",
        "beta": 1.0,
        "entry_points": ["rtu_a"],
        "attack_start": 10.0,
        "defender_schedule": [{"time": 5.0, "action": "isolate", "nodes": ["rtu_a"]}],
    }
    fed = make(params)
    assert step(fed, 0.0)[0] == 5.0
    step(fed, 1000.0)
    assert fed.outputs["compromised"] == ["rtu_a"] and fed.outputs["actions"] == 1


def test_event_driven_each_grant_at_the_returned_time_sees_one_transition() -> None:
    """SI spread: stepping at the returned times, the count grows by exactly one per step."""
    fed = make(
        {
            "substations": ["a", "b", "c", "d"],
            "hospitals": ["h"],
            "model": "si",
            "beta": 0.01,
            "entry_points": ["it_h"],
            "attack_start": 0.0,
        }
    )
    t: float | None = 0.0
    counts = []
    while t is not None:
        t, _ = step(fed, t)
        counts.append(fed.outputs["compromised_count"])
    assert counts == list(range(1, len(fed.net.nodes) + 1))


def trace(seed: int) -> list[Any]:
    fed = make(
        {
            "substations": ["a", "b", "c"],
            "hospitals": ["h"],
            "control_centre_site": "cc",
            "beta": 1 / 60,
            "delta": 1 / 600,
            "entry_points": ["it_h"],
        },
        seed=seed,
    )
    t: float | None = 0.0
    out = []
    for k in range(60):
        if k == 30:
            fed.inputs["power.cc"] = False
        assert t is not None
        t, sent = step(fed, t)
        out.append((t, dict(fed.outputs), sent))
    return out


def test_same_seed_same_run_other_seed_other_run() -> None:
    assert trace(5) == trace(5)
    assert trace(5) != trace(6)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "no ICT graph; set parameter 'graph'"),
        ({"graph": SMALL, "substations": ["a"]}, "either parameter 'graph' or 'substations'"),
        ({"graph": SMALL, "entry_points": ["nobody"]}, "parameter 'entry_points': unknown node 'nobody'"),
        ({"graph": SMALL, "beta": -1.0}, "parameter 'beta': expected a finite rate >= 0"),
        ({"graph": SMALL, "model": "sir"}, "parameter 'model': expected one of 'si', 'sis', got 'sir'"),
        ({"graph": SMALL, "attack_start": "noon"}, "parameter 'attack_start': expected a time in seconds"),
        (
            {"graph": SMALL, "defender_schedule": [{"time": 1, "action": "nuke", "node": "core"}]},
            r"parameter 'defender_schedule\[0\].action': unknown action 'nuke'",
        ),
        (
            {"graph": SMALL, "defender_schedule": [{"action": "patch", "node": "core"}]},
            r"parameter 'defender_schedule\[0\]': expected a mapping with time",
        ),
    ],
)
def test_bad_parameters_are_named(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(params)


def test_a_bad_defender_message_names_its_sender() -> None:
    fed = make(STILL)
    with pytest.raises(
        ValueError, match=re.escape("defender message from soc.actions.nodes: unknown node 'ghost'")
    ):
        step(fed, 1.0, {"action": "patch", "nodes": ["ghost"]})


def test_a_relative_graph_file_is_read_from_the_scenario_directory(tmp_path: Path) -> None:
    """The runtime passes the scenario's directory as _base_dir (resolves_paths)."""
    (tmp_path / "ict.json").write_text(json.dumps(SMALL))
    assert CyberFederate.resolves_paths
    decl = CyberFederate.declare({"graph": "ict.json", "_base_dir": str(tmp_path)})
    assert [s.name for s in decl.inputs] == ["power.a", "power.b", "power.cc"]

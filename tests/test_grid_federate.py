"""The grid federate driven directly (no coordinator): floods, breakers, loads, outputs."""

from __future__ import annotations

from typing import Any

import pytest

from federates.grid import GridFederate
from federation.api.federate import Context, Message

SUBSTATIONS = {"sub4": {"buses": [4], "threshold_m": 0.5}, "sub16": {"buses": [16], "threshold_m": 0.3}}


def make(**params: Any) -> GridFederate:
    params.setdefault("substations", SUBSTATIONS)
    context = Context(name="grid", seed=7, start=0.0, stop=3600.0, resolution=1e-3, period=60.0)
    fed = GridFederate(params, context)
    fed.setup()
    return fed


def breaker(fed: GridFederate, t: float, **payload: Any) -> None:
    fed.inbox = [Message(t, "operator.commands", "breakers", payload)]
    fed.step(t)
    fed.inbox = []


def test_interface_follows_the_parameters() -> None:
    decl = GridFederate.declare({"substations": SUBSTATIONS, "load_inputs": [3, 39]})
    inputs = {s.name: s.unit for s in decl.inputs}
    assert inputs == {"depth.sub16": "m", "depth.sub4": "m", "load.3": "MW", "load.39": "MW"}
    outputs = {s.name for s in decl.outputs}
    assert {"energized.sub4", "served.sub16", "unserved_mwh", "branch_loading", "tripped_branches"} <= outputs
    assert [e.name for e in decl.endpoints] == ["breakers"] and decl.period == 60.0


def test_intact_case_serves_all_load() -> None:
    fed = make()
    fed.step(0.0)
    out = fed.outputs
    assert out["served_mw"] == pytest.approx(6254.23) and out["unserved_mw"] == 0.0
    assert out["energized.sub4"] is True and out["served.sub4"] == 500.0 and out["served.sub16"] == 329.0
    assert out["islands"] == 1 and out["tripped_branches"] == [] and out["open_branches"] == []
    assert len(out["branch_flow"]) == 46 and max(out["branch_loading"]) == pytest.approx(460 / 600)


def test_flood_above_threshold_trips_the_substation_and_latches() -> None:
    """sub16 (bus 16, 329 MW) trips only when its depth exceeds 0.3 m; it stays tripped
    after the water recedes; bus 16's removal splits case39 into 3 islands, all with
    generation, so only bus 16's own load is lost."""
    fed = make()
    fed.step(0.0)
    fed.inputs["depth.sub16"] = 0.3
    fed.step(60.0)
    assert fed.outputs["energized.sub16"] is True
    fed.inputs["depth.sub16"] = 0.31
    fed.step(120.0)
    out = fed.outputs
    assert out["energized.sub16"] is False and out["served.sub16"] == 0.0
    assert out["unserved_mw"] == pytest.approx(329.0) and out["islands"] == 3
    assert out["energized_buses"][15] == 0.0 and sum(out["energized_buses"]) == 38
    fed.inputs["depth.sub16"] = 0.0
    fed.step(180.0)
    assert fed.outputs["energized.sub16"] is False


def test_unserved_energy_integrates_the_held_state() -> None:
    """329 MW lost from t = 120 s: 329 * 60 / 3600 = 5.4833 MWh at 180 s, twice that at 240 s."""
    fed = make()
    fed.step(0.0)
    fed.inputs["depth.sub16"] = 1.0
    fed.step(120.0)
    assert fed.outputs["unserved_mwh"] == 0.0
    fed.step(180.0)
    assert fed.outputs["unserved_mwh"] == pytest.approx(329.0 * 60 / 3600, rel=1e-12)
    fed.step(240.0)
    assert fed.outputs["unserved_mwh"] == pytest.approx(329.0 * 120 / 3600, rel=1e-12)


def test_flood_starts_an_overload_cascade() -> None:
    """Flooding bus 4 (DC): 6-11 overloads, then 1-2, 10-13, 13-14, 14-15 and 16-17 trip."""
    fed = make()
    fed.inputs["depth.sub4"] = 0.6
    fed.step(0.0)
    out = fed.outputs
    assert out["cascade_rounds"] == 2 and out["tripped_branches"] == [0, 12, 18, 22, 23, 25]
    assert set(out["tripped_branches"]) <= set(out["open_branches"])
    assert max(out["branch_loading"]) <= 1.0


def test_breaker_message_opens_and_closes_a_branch() -> None:
    """Opening 16-19 (row 26) islands {19, 20, 33, 34}: no flow on it, 2 islands; closing it
    restores the base flows exactly."""
    fed = make()
    fed.step(0.0)
    base = list(fed.outputs["branch_flow"])
    breaker(fed, 60.0, action="open", branch=26)
    out = fed.outputs
    assert out["open_branches"] == [26] and out["branch_flow"][26] == 0.0 and out["islands"] == 2
    assert out["tripped_branches"] == [] and out["unserved_mw"] == 0.0
    breaker(fed, 120.0, action="close", branch=26)
    assert fed.outputs["open_branches"] == [] and fed.outputs["branch_flow"] == base


def test_ac_protection_rates_apparent_power() -> None:
    """AC: with 2-3 (row 41) opened, 2-25 (row 3) carries 488.9 MW but 516.7 MVA against its
    500 MVA rateA (PYPOWER runpf, tests/test_grid_protection.py): its published loading is
    1.0334 and protection trips it, which an |P_from| rule would not."""
    watch = make(mode="ac", overload_protection=False)
    breaker(watch, 0.0, action="open", branch=41)
    assert watch.outputs["branch_loading"][3] == pytest.approx(516.676 / 500, abs=1e-4)
    assert abs(watch.outputs["branch_flow"][3]) == pytest.approx(488.885, abs=1e-3)
    protected = make(mode="ac")
    breaker(protected, 0.0, action="open", branch=41)
    assert 3 in protected.outputs["tripped_branches"]


def test_bus_breaker_de_energizes_the_bus() -> None:
    fed = make()
    breaker(fed, 0.0, action="open", bus=15)
    assert fed.outputs["unserved_mw"] == pytest.approx(320.0)
    breaker(fed, 60.0, action="close", bus=15)
    assert fed.outputs["unserved_mw"] == 0.0


def test_closing_a_tripped_branch_resets_its_trip() -> None:
    """After the bus-4 flood cascade, re-closing 1-2 (row 0) puts it back in service (6.5 MW
    flow, no overload); re-closing 6-11 (row 12) overloads it again and the new cascade
    round trips it together with 10-11 (row 17)."""
    fed = make()
    fed.inputs["depth.sub4"] = 0.6
    fed.step(0.0)
    breaker(fed, 60.0, action="close", branch=0)
    out = fed.outputs
    assert out["tripped_branches"] == [12, 18, 22, 23, 25] and out["cascade_rounds"] == 0
    assert out["branch_flow"][0] == pytest.approx(-6.5)
    breaker(fed, 120.0, action="close", branch=12)
    assert fed.outputs["tripped_branches"] == [12, 17, 18, 22, 23, 25] and fed.outputs["cascade_rounds"] == 1


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"action": "toggle", "branch": 1}, "'action' must be 'open' or 'close'"),
        ({"action": "open"}, "exactly one of 'branch' or 'bus'"),
        ({"action": "open", "branch": 46}, r"branch 46 not in 0..45"),
        ({"action": "open", "bus": 40}, "bus 40 is not in the case"),
        ({"action": "open", "branch": "3"}, "branch must be an integer"),
    ],
)
def test_bad_breaker_command_is_named(payload: dict[str, Any], message: str) -> None:
    fed = make()
    with pytest.raises(ValueError, match=message):
        breaker(fed, 0.0, **payload)


def test_load_input_adds_demand_at_its_bus() -> None:
    """A factory's 50 MW at bus 4 (sub4): served load there and in total rise by 50 MW."""
    fed = make(load_inputs=[4])
    fed.step(0.0)
    total = fed.outputs["served_mw"]
    fed.inputs["load.4"] = 50.0
    fed.step(60.0)
    assert fed.outputs["served.sub4"] == pytest.approx(550.0)
    assert fed.outputs["served_mw"] == pytest.approx(total + 50.0)


def test_nothing_changed_means_no_new_solution() -> None:
    fed = make()
    fed.step(0.0)
    first = fed.solution
    fed.step(60.0)
    assert fed.solution is first
    fed.inputs["depth.sub4"] = 0.1  # below threshold: still nothing to solve
    fed.step(120.0)
    assert fed.solution is first


def _scripted_run(mode: str) -> list[dict[str, Any]]:
    fed = make(mode=mode, load_inputs=[16])
    trace = []
    for k in range(6):
        t = 60.0 * k
        fed.inputs["load.16"] = 20.0 * k
        fed.inputs["depth.sub4"] = 0.2 * k
        if k == 2:
            fed.inbox = [Message(t, "op.x", "breakers", {"action": "open", "branch": 26})]
        fed.step(t)
        fed.inbox = []
        trace.append(dict(fed.outputs))
    return trace


@pytest.mark.parametrize("mode", ["ac", "dc"])
def test_runs_are_deterministic(mode: str) -> None:
    """The same inputs and messages give identical outputs, value for value."""
    first, second = _scripted_run(mode), _scripted_run(mode)
    assert first == second
    assert first[-1]["energized.sub4"] is False and first[0]["energized.sub4"] is True


def test_ac_mode_reports_voltages() -> None:
    fed = make(mode="ac")
    fed.step(0.0)
    v = fed.outputs["bus_voltage"]
    assert v[30] == pytest.approx(0.982) and 0.9 < min(v) and max(v) < 1.1  # bus 31 holds Vg


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"mode": "hvdc"}, "parameter 'mode': expected 'ac' or 'dc', got 'hvdc'"),
        ({"substations": {"s": {"buses": [99]}}}, r"substations.s.buses': bus 99 is not in case39"),
        ({"load_inputs": [99]}, "parameter 'load_inputs': bus 99 is not in case39"),
        ({"load_inputs": [3, 3]}, "expected a list of distinct bus numbers"),
        ({"load_power_factor": 0.0}, "expected 0 < pf <= 1"),
        ({"case": "case7"}, "case 'case7' is not a shipped case"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(**params)


def test_flooded_substation_returns_after_its_restore_time() -> None:
    """restore_after_s: back in service that long after the water recedes, not before."""
    from federates.grid import GridFederate
    from federation.api.federate import Context

    fed = GridFederate({"case": "case14", "substations": {"s": {"buses": [9], "threshold_m": 0.5,
                                                                "restore_after_s": 600}}},
                       Context("grid", 1, 0.0, 1e5, 1.0, 60.0))  # fmt: skip
    fed.setup()
    seen = []
    for t, depth in [(0, 0.0), (60, 1.0), (120, 0.2), (600, 0.1), (720, 0.0), (780, 0.0)]:
        fed.inputs["depth.s"] = depth
        fed.step(float(t))
        seen.append(fed.outputs["energized.s"])
    assert seen == [True, False, False, False, True, True]

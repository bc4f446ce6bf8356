"""Several steps per grant (STEPS frames, docs/protocol.md §5.3): the same run, bit for bit, in fewer round trips.

A federation where batching can happen -- producers without inputs ahead of their consumers,
FMUs in a chain with a delayed feedback, a consumer on a slower period, FMI clock ticks as
messages -- runs with ``steps_per_grant`` at its default and at 1 (off); the two stores hold
the same rows in every table but the run's own facts.  And the frames are checked.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from federation import protocol
from federation.engine.coordinator import Coordinator, RunOptions
from federation.errors import ProtocolError
from federation.protocol import Kind
from federation.scenario.loader import load
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(180)


def scenario(fmus: dict[str, Path], steps: int, periods: bool) -> str:
    text = f"""
        time: {{stop: 3000, resolution: 1 s}}
        federates:
          inflow: {{type: formula, period: 10, params: {{outputs: {{q: {{expr: "0.2 + 0.0004 * t", unit: m3/s}}}}}}}}
          tank:
            type: fmu
            period: 10
            params: {{fmu: {fmus['SampledTank']}, interface: co-simulation, step: 10,
                      outputs: {{lvl: level, outflow: outflow, alarms: alarm_count}}, parameters: {{area: 12.0}}}}
          other:
            type: fmu
            period: 5
            params: {{fmu: {fmus['SampledTank']}, interface: co-simulation, step: 5}}
          gate:
            type: fmu
            period: 30
            params: {{fmu: {fmus['SpillwayGate']}, parameters: {{kp: 0.5, ki: 0.001, target_level: 0.8}}}}
          slow: {{type: formula, period: 120, params: {{inputs: {{u: {{unit: m}}}}, outputs: {{y: {{expr: "2 * u"}}}}}}}}
        connections:
          - inflow.q -> tank.inflow
          - {{connect: tank.lvl -> gate.reservoir_level, delay: true}}
          - gate.gate_opening -> slow.u
        messages:
          - tank.alarm -> other.setpoint_change
        record: {{signals: all, messages: true}}
        coordinator: {{steps_per_grant: {steps}}}
        """
    return text if periods else re.sub(r"\n +period: (10|5)\n", "\n", text)


def tables(path: Path) -> dict[str, list[Any]]:
    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        out = {name: db.execute(f"SELECT * FROM {name} ORDER BY rowid").fetchall() for name in names
               if name not in {"run", "federates"}}  # fmt: skip
        out["federates"] = db.execute("SELECT name, type, period, grants, status FROM federates ORDER BY id").fetchall()
    return out


@pytest.mark.parametrize("periods, expected", [
    (True, lambda batched: "inflow" in batched),  # nothing to wait for; the others as their producers allow
    (False, lambda batched: not batched & {"inflow", "tank", "other"}),  # the tanks step at their clocks' ticks
])  # fmt: skip  # (event-driven: never batched, nor is inflow, whose consumer one is)
def test_the_store_is_the_same_with_and_without_several_steps_per_grant(shipped_fmus: list[Path], tmp_path: Path,
                                                                        periods: bool, expected: Any) -> None:  # fmt: skip
    fmus = {p.stem: p for p in shipped_fmus}
    stores, batched = {}, {}
    for steps in (64, 1):
        path = write_scenario(tmp_path, scenario(fmus, steps, periods), f"steps{steps}.yaml")
        coordinator = Coordinator(load(path), RunOptions(out=tmp_path / f"steps{steps}.sqlite"))
        summary = coordinator.run()
        assert summary.status == "completed", summary.reason
        stores[steps] = tables(tmp_path / f"steps{steps}.sqlite")
        batched[steps] = {m.name for m in coordinator.members if m.batches}
        timed = {m.name: m.steps_timed for m in coordinator.members}  # a STEPS frame times each of its steps
        assert timed == {slot.name: slot.grants for slot in coordinator.scheduler.slots}, timed
    assert batched[1] == set()
    assert expected(batched[64]), batched[64]
    first, second = stores[64], stores[1]
    assert first.keys() == second.keys()
    assert len(first["messages"]) > 0 and len({r[2] for r in first["samples"]}) > 10
    for name in first:
        assert first[name] == second[name], name


def test_steps_frames_are_checked() -> None:
    ok = [Kind.STEPS, [[10, {0: 1.5}, []], [20, {}, [[20, "a.x", "in", 1]]]]]
    assert protocol.decode(protocol.encode(ok)) == ok
    done = [Kind.STEPS_DONE, [[10, {0: 2.0}, [], None], [20, {}, [["out", 1, None, None]], None]]]
    assert protocol.decode(protocol.encode(done)) == done
    for bad in ([Kind.STEPS, []], [Kind.STEPS, [[10, {}, []], [1.5, {}, []]]], [Kind.STEPS_DONE, [[10, {}, []]]],
                [Kind.STEPS_DONE, [[10, {"x": 1}, [], None]]]):  # fmt: skip
        with pytest.raises(ProtocolError):
            protocol.decode(protocol.encode(bad))

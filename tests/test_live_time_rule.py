"""The time rule for live sources in the scheduler (pure logic, no processes).

A live source ``src`` feeds ``twin`` (time-stepped, 10 ticks) directly, and ``twin`` feeds an
event-driven ``alarm``.  The paced scheduler grants nothing past its clock ``limit``.
"""

from __future__ import annotations

import pytest

from federation.engine.history import History
from federation.engine.pacer import PacedScheduler
from federation.engine.plan import _link_affects
from federation.engine.scheduler import Binding, FederateSlot, Grant, Scheduler
from federation.timebase import NEVER, TimeBase

pytestmark = pytest.mark.timeout(10)


def federation(stop: int = 100) -> PacedScheduler:
    src = FederateSlot("src", 0, None, 0)
    twin = FederateSlot("twin", 1, 10, 0)
    alarm = FederateSlot("alarm", 2, None, 0)
    slots = [src, twin, alarm]
    for slot, outputs in ((src, 1), (twin, 1), (alarm, 1)):
        slot.outputs, slot.output_names = [0.0] * outputs, [f"y{i}" for i in range(outputs)]
        slot.history, slot.record = [History() for _ in range(outputs)], [True] * outputs
    for consumer, producer in ((twin, src), (alarm, twin)):
        consumer.bindings.append(Binding(0, producer.history[0], 0, False, 0.0, producer.index, 0))  # type: ignore[arg-type]
        consumer.upstream.append((producer.index, 0, False))
    _link_affects(slots, [])
    sched = PacedScheduler(slots, [], TimeBase(1.0), 0, stop)
    sched.set_live([0])
    return sched


def step(sched: Scheduler, grants: list[Grant], name: str, outputs: dict[int, float] | None = None,
         next_tick: int | None = None) -> list[Grant]:  # fmt: skip
    """Answer the grant of ``name`` (it must be among ``grants``); return all grants still out plus the new ones."""
    grant = next(g for g in grants if sched.slots[g.federate].name == name)
    rest = [g for g in grants if g is not grant]
    return rest + sched.done(grant.federate, grant.tick, 0, outputs or {}, [], next_tick)


def begin(sched: PacedScheduler, limit: int) -> list[Grant]:
    sched.limit = limit
    grants = sched.begin()
    for name in ("src", "twin", "alarm"):
        grants = step(sched, grants, name)
    return grants


def ticks(grants: list[Grant], sched: Scheduler) -> dict[str, int]:
    return {sched.slots[g.federate].name: g.tick for g in grants}


def test_an_idle_live_source_holds_the_run_open_until_the_clock_passes_the_stop_time():
    sched = federation(stop=30)
    grants = begin(sched, limit=5)
    assert grants == [] and not sched.finished  # twin's next tick, 10, waits for the clock
    assert sched.gvt() == 6  # the source may yet publish at the first tick the clock has not reached
    sched.limit = 30
    grants = sched.release()
    assert ticks(grants, sched) == {"twin": 10}


def test_a_sample_in_time_is_applied_at_its_stamp():
    sched = federation()
    begin(sched, limit=5)
    assert sched.wake(0, 8) == []  # stamped ahead of the clock: held until it gets there
    sched.limit = 9
    grants = sched.release()
    assert ticks(grants, sched) == {"src": 8}  # before twin's tick 10, which now waits for it
    grants = step(sched, grants, "src", {0: 4.2})
    sched.limit = 10
    grants += sched.release()
    assert ticks(grants, sched) == {"twin": 10}
    assert grants[-1].inputs == {0: 4.2}


def test_a_late_sample_is_applied_at_the_first_open_tick_and_never_in_the_past():
    sched = federation()
    grants = begin(sched, limit=25)
    grants = step(sched, grants, "twin")  # twin computed t=10 ...
    assert ticks(grants, sched) == {"twin": 20}  # ... and is stepping t=20
    grants = sched.wake(0, 12)  # stamped 12: twin has been granted 20 already
    assert ticks(grants, sched) == {"src": 21}
    assert sched.open_tick(sched.slots[0]) == 21


def test_a_late_sample_waits_for_downstream_event_driven_federates_too():
    sched = federation()
    grants = begin(sched, limit=15)
    grants = step(sched, grants, "twin", {0: 1.0})  # wakes alarm at 10
    assert ticks(grants, sched) == {"alarm": 10}
    assert sched.open_tick(sched.slots[0]) == 11  # alarm, reached through twin, is at 10


def test_a_wake_while_the_source_steps_or_for_a_later_tick_changes_nothing():
    sched = federation()
    begin(sched, limit=5)
    assert sched.wake(0, 30) == [] and sched.slots[0].next == 30
    assert sched.wake(0, 40) == [] and sched.slots[0].next == 30  # not earlier than the one asked for
    sched.limit = 30
    grants = sched.release()
    assert sched.slots[0].busy
    assert sched.wake(0, 25) == []  # its DONE will say what it still waits for
    grants = step(sched, grants, "src", {}, next_tick=31)  # the runtime asks for the next tick: a sample came late
    assert "src" not in ticks(grants, sched) and sched.slots[0].next == 31  # when the clock gets there


def test_a_non_live_federate_is_not_woken():
    sched = federation()
    begin(sched, limit=5)
    assert sched.wake(2, 3) == [] and sched.slots[2].next == NEVER

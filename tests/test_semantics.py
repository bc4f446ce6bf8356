"""Time semantics of connections: direct, delayed, cycles (hand-computed expectations)."""

from __future__ import annotations

import pytest

from federation.errors import ScenarioError
from federation.scenario.loader import load
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(60)

CHAIN = """
time: {stop: 5, resolution: 1 ms}
federates:
  clock: {type: "{HELPERS}:Clock", period: 1}
  probe: {type: "{HELPERS}:Probe", period: 1}
connections:
  - %s
"""


def test_direct_connection_sees_the_value_of_the_same_instant(run_scenario):
    """clock.y(t) = t, so a direct consumer observes u == t at every t."""
    _, store = run_scenario(CHAIN % "clock.y -> probe.u")
    assert list(store.series("probe.obs").values) == [[t, t] for t in (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)]


def test_delayed_connection_sees_the_value_from_before(run_scenario):
    """A delayed consumer at t sees the value published at t-1; at t=0 the input's default (-1)."""
    _, store = run_scenario(CHAIN % "{from: clock.y, to: probe.u, delay: true}")
    assert list(store.series("probe.obs").values) == [[0.0, -1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 2.0], [4.0, 3.0],
                                                      [5.0, 4.0]]  # fmt: skip


def test_direct_chain_of_three_is_ordered_inside_one_instant(run_scenario):
    """a -> b -> c direct: c at t sees b(t) = 0.5*a(t) + 1 = 0.5*t + 1."""
    _, store = run_scenario(
        """
        time: {stop: 4, resolution: 1 ms}
        federates:
          a: {type: "{HELPERS}:Clock"}
          b: {type: "{HELPERS}:Affine"}
          c: {type: "{HELPERS}:Probe"}
        connections:
          - a.y -> b.u
          - b.y -> c.u
        """
    )
    assert list(store.series("c.obs").values) == [[t, 0.5 * t + 1] for t in (0.0, 1.0, 2.0, 3.0, 4.0)]


def test_ring_of_delayed_connections_matches_the_recurrence(run_scenario):
    """Three Affine federates in a ring (delayed): y_i(k) = 0.5*y_{i-1}(k-1) + 1, y(-1) = 0."""
    summary, store = run_scenario(
        """
        time: {stop: 20, resolution: 1 s}
        federates:
          f0: {type: "{HELPERS}:Affine"}
          f1: {type: "{HELPERS}:Affine"}
          f2: {type: "{HELPERS}:Affine"}
        connections:
          - {from: f0.y, to: f1.u, delay: true}
          - {from: f1.y, to: f2.u, delay: true}
          - {from: f2.y, to: f0.u, delay: true}
        """
    )
    y = [0.0, 0.0, 0.0]
    for _ in range(21):  # steps at 0, 1, ..., 20 (the stop)
        y = [0.5 * y[(i - 1) % 3] + 1 for i in range(3)]
    assert [store.series(f"f{i}.y").values[-1] for i in range(3)] == y
    assert summary.grants == {"f0": 21, "f1": 21, "f2": 21}


def test_cycle_of_direct_connections_is_rejected_naming_the_cycle(tmp_path):
    path = write_scenario(
        tmp_path,
        """
        time: {stop: 4}
        federates:
          a: {type: "{HELPERS}:Affine"}
          b: {type: "{HELPERS}:Affine"}
          c: {type: "{HELPERS}:Affine"}
        connections:
          - a.y -> b.u
          - b.y -> c.u
          - c.y -> a.u
        """,
    )
    with pytest.raises(ScenarioError, match=r"cycle of direct connections: a -> b -> c -> a"):
        load(path)


def test_cycle_broken_by_a_delay_is_accepted(tmp_path):
    path = write_scenario(
        tmp_path,
        """
        time: {stop: 4}
        federates:
          a: {type: "{HELPERS}:Affine"}
          b: {type: "{HELPERS}:Affine"}
        connections:
          - a.y -> b.u
          - {from: b.y, to: a.u, delay: true}
        """,
    )
    assert len(load(path).connections) == 2


def test_the_run_covers_stop_every_schedule_that_reaches_it_steps_there(run_scenario):
    """[start, stop] with stop included: the values at stop are computed and recorded.

    stop = 6 s: `even` (2 s) steps at 0, 2, 4, 6 and `four` (4 s) at 0, 4 only (8 is past
    stop); the listener is woken at 6 by a message stamped 6 and by `even`'s change at 6;
    a scenario event at 6 sets the probe's input for its step at 6 (3 s: 0, 3, 6).
    """
    summary, store = run_scenario("""
        time: {stop: 6, resolution: 1 s}
        federates:
          even: {type: "{HELPERS}:Clock", period: 2}
          four: {type: "{HELPERS}:Clock", period: 4}
          pinger: {type: "{HELPERS}:Pinger", params: {schedule: [[5, 6, "last"]]}}
          listener: {type: "{HELPERS}:Listener"}
          probe: {type: "{HELPERS}:Probe", period: 3}
        connections:
          - even.y -> listener.u
        messages:
          - pinger.out -> listener.inbox
        events:
          - {at: 6, set: probe.u, value: 42.0}
        """)
    assert (summary.grants["even"], summary.grants["four"], summary.grants["pinger"]) == (4, 2, 7)
    assert store.series("even.y").times[-1] == 6.0 and store.series("four.y").times[-1] == 4.0
    assert store.series("listener.log").values[-1] == [6.0, [6.0], ["last"], 6.0]
    assert store.series("probe.obs").values[-1] == [6.0, 42.0]
    assert [(t, p) for t, _, _, p in store.messages()] == [(6.0, "last")]

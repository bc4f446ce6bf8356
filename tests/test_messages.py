"""Timestamped messages: delivered in timestamp order, waking event-driven receivers, never late."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(60)

SCENARIO = """
time: {stop: 10, resolution: 1 ms}
federates:
  pinger:
    type: "{HELPERS}:Pinger"
    period: 1
    params:
      schedule: [[1.0, 3.5, "late"], [1.0, 2.25, "early"], [2.0, 2.25, "same-time"], [4.0, 4.0, "now"]]
  listener: {type: "{HELPERS}:Listener"}
messages:
  - pinger.out -> listener.inbox
"""


def test_event_driven_federate_wakes_at_each_message_timestamp(run_scenario):
    summary, store = run_scenario(SCENARIO)
    logs = store.series("listener.log").values
    # woken at start (t=0) and then exactly at 2.25, 3.5 and 4.0
    assert [entry[0] for entry in logs] == [0.0, 2.25, 3.5, 4.0]
    assert logs[1][1:3] == [[2.25, 2.25], ["early", "same-time"]]  # same stamp: sender order kept
    assert logs[2][1:3] == [[3.5], ["late"]]
    assert logs[3][1:3] == [[4.0], ["now"]]
    assert summary.grants["listener"] == 4


def test_messages_are_never_delivered_in_a_receivers_past(run_scenario):
    """Every delivery time is >= the message's timestamp and the receiver's previous time."""
    _, store = run_scenario(SCENARIO)
    previous = -1.0
    for t, stamps, _, _ in store.series("listener.log").values:
        assert all(previous < s <= t for s in stamps)
        previous = t


def test_messages_are_recorded(run_scenario):
    _, store = run_scenario(SCENARIO)
    assert [(t, s, d, p) for t, s, d, p in store.messages()] == [
        (2.25, "pinger.out", "listener.inbox", "early"),
        (2.25, "pinger.out", "listener.inbox", "same-time"),
        (3.5, "pinger.out", "listener.inbox", "late"),
        (4.0, "pinger.out", "listener.inbox", "now"),
    ]


def test_event_driven_federate_wakes_on_input_change(run_scenario):
    """A listener fed by a 3 s clock wakes at 0, 3, 6, 9 (each input change) and nowhere else."""
    summary, store = run_scenario(
        """
        time: {stop: 10, resolution: 1 ms}
        federates:
          clock: {type: "{HELPERS}:Clock", period: 3}
          listener: {type: "{HELPERS}:Listener"}
        connections:
          - clock.y -> listener.u
        """
    )
    assert [(e[0], e[3]) for e in store.series("listener.log").values] == [(0.0, 0.0), (3.0, 3.0), (6.0, 6.0), (9.0, 9.0)]
    assert summary.grants["listener"] == 4


def test_scheduled_events_set_inputs_and_send_messages(run_scenario):
    _, store = run_scenario(
        """
        time: {stop: 10, resolution: 1 ms}
        federates:
          listener: {type: "{HELPERS}:Listener"}
        events:
          - {at: 2.5, set: listener.u, value: 7.0}
          - {at: 5, send: listener.inbox, payload: {alarm: true}}
        """
    )
    log = store.series("listener.log").values
    assert [(e[0], e[3]) for e in log] == [(0.0, 0.0), (2.5, 7.0), (5.0, 7.0)]
    assert log[2][2] == [{"alarm": True}]

"""The domain federates inside real federations: flood -> grid -> cyber, each its own process."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(120)

CASCADE = """
time: {stop: 12 h, resolution: 1 s}
seed: 3
federates:
  flood:
    type: flood
    params:
      rainfall: [[0, 0.0], [3600, 40.0], [18000, 0.0]]
      assets: {substation_a: {chainage_m: 500, ground_m: 49.8}, substation_b: 3600}
  grid:
    type: grid
    params:
      case: case14
      substations: {substation_a: {buses: [4, 5], threshold_m: 0.3}, substation_b: {buses: [9], threshold_m: 0.3}}
%(cyber)s
connections:
  - flood.depth.substation_a -> grid.depth.substation_a
  - flood.depth.substation_b -> grid.depth.substation_b
%(links)s
"""

CYBER = """
  cyber:
    type: cyber
    params:
      substations: [substation_a, substation_b]
      entry_points: [scada_cc]
      attack_start: 7200
      beta: 0.01
      breaker_rule: always
"""


def first_time(series, predicate) -> float:
    return next(t for t, v in zip(series.times, series.values) if predicate(v))


def test_rising_water_trips_the_substations_it_reaches(run_scenario):
    _, store = run_scenario(CASCADE % {"cyber": "", "links": ""})
    depth_a = store.series("flood.depth.substation_a")
    wet = first_time(depth_a, lambda d: d > 0.3)
    trip = first_time(store.series("grid.energized.substation_a"), lambda e: e is False)
    assert wet <= trip <= wet + 60  # the grid (60 s) sees the flood (300 s) sample at its next step
    assert store.series("grid.unserved_mw").values[-1] > 0
    assert store.series("grid.energized.substation_b").values[-1] is False


def test_attacker_opens_breakers_through_messages(run_scenario):
    links = ("  - {from: grid.energized.substation_a, to: cyber.power.substation_a, delay: true}\n"
             "messages:\n  - cyber.breakers -> grid.breakers")  # fmt: skip
    summary, store = run_scenario(CASCADE % {"cyber": CYBER, "links": links})
    messages = store.messages()
    assert messages and all(m[1:3] == ("cyber.breakers", "grid.breakers") for m in messages)
    first, _, _, payload = messages[0]
    assert first >= 7200 and payload["action"] == "open"
    sub = payload["substation"]
    dark = first_time(store.series(f"grid.energized.{sub}"), lambda e: e is False)
    assert first <= dark <= first + 60  # opened at the grid's first step at or after the message
    assert summary.grants["cyber"] < summary.grants["grid"]  # event-driven: woken only when needed

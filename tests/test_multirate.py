"""Multi-rate federations: sample-and-hold, linear interpolation, and no needless meetings."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(60)


def test_sample_and_hold_across_rates(run_scenario):
    """A 1 s consumer of a 4 s producer (y = t) sees 0,0,0,0,4,4,4,4 and, at the stop, 8."""
    _, store = run_scenario(
        """
        time: {stop: 8, resolution: 1 ms}
        federates:
          slow: {type: "{HELPERS}:Clock", period: 4}
          fast: {type: "{HELPERS}:Probe", period: 1}
        connections:
          - slow.y -> fast.u
        """
    )
    assert [v[1] for v in store.series("fast.obs").values] == [0, 0, 0, 0, 4, 4, 4, 4, 8]


def test_linear_interpolation_waits_for_the_next_sample(run_scenario):
    """With interpolate: linear the 1 s consumer sees the straight line between 4 s samples: u = t."""
    _, store = run_scenario(
        """
        time: {stop: 7, resolution: 1 ms}
        federates:
          slow: {type: "{HELPERS}:Clock", period: 4}
          fast: {type: "{HELPERS}:Probe", period: 1}
        connections:
          - {from: slow.y, to: fast.u, interpolate: linear}
        """
    )
    seen = store.series("fast.obs").values
    assert [v[1] for v in seen[:5]] == pytest.approx([0, 1, 2, 3, 4])
    # after the producer's last sample (t=4; the next, 8, is after the stop) the value holds
    assert [v[1] for v in seen[5:]] == pytest.approx([4, 4, 4])


def test_unrelated_slow_federate_is_not_met_every_fast_step(run_scenario):
    """A 1 s federate next to an unrelated 600 s one: grant counts are 3601 and 7 (stop included), nothing more."""
    summary, store = run_scenario(
        """
        time: {stop: 1 h, resolution: 1 s}
        federates:
          fast: {type: "{HELPERS}:Clock", period: 1}
          slow: {type: "{HELPERS}:Clock", period: 600}
        """
    )
    assert summary.grants == {"fast": 3601, "slow": 7}
    assert store.series("fast.y").values[-1] == 3600.0

"""Input jumps into a Model Exchange FMU are events; interpolated inputs are continuous.

FrictionBlock (fmus/friction_block) is a block held by static friction until the force on it
exceeds 1 N, then sliding against 0.8 N of kinetic friction.  Its mode is a discrete state, so
a force that jumps past the static friction at a communication point moves the block only if
the FMU goes through event mode for the jump (FMI 3.0 section 3.1) -- written in
continuous-time mode, the block stays stuck for ever.  A force that rises continuously
(``interpolate: linear``) ramps inside the step, and the block starts at the state event where
the force crosses 1 N.  Both are checked against the exact solution, worked out here by hand.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.test_fmu_federation import held

pytestmark = pytest.mark.timeout(120)

MASS, STATIC, KINETIC = 1.0, 1.0, 0.8


@pytest.fixture
def fmus(shipped_fmus: list[Path]) -> dict[str, Path]:
    """The project's FMUs, as the session built them into fmus/dist (read only)."""
    return {p.stem: p for p in shipped_fmus}


def scenario(fmu: Path, force: str, how: str) -> str:
    return f"""
time: {{stop: 10, resolution: 1 ms}}
federates:
  push: {{type: formula, period: 1, params: {{outputs: {{force: {{expr: "{force}", unit: N}}}}}}}}
  block: {{type: fmu, period: 1, params: {{fmu: {fmu}, outputs: [position, velocity, sliding, events], tolerance: 1.0e-10}}}}
connections:
  - {{from: push.force, to: block.force, interpolate: {how}}}
"""


def held_force_block(forces: list[float], h: float = 1.0) -> list[float]:
    """Exact positions at the communication points for a force held over each step."""
    x, v, sliding, out = 0.0, 0.0, False, [0.0]
    for f in forces:
        if not sliding and f > STATIC:
            sliding = True
        if sliding:
            a = (f - KINETIC) / MASS
            stop = -v / a if a < 0 else math.inf
            if stop < h:  # comes to rest inside the step, and sticks (f <= STATIC here)
                x, v, sliding = x + v * stop + a * stop**2 / 2, 0.0, False
            else:
                x, v = x + v * h + a * h**2 / 2, v + a * h
        out.append(x)
    return out


def test_a_held_input_that_jumps_goes_through_event_mode(run_scenario, fmus):
    _, store = run_scenario(scenario(fmus["FrictionBlock"], "1.5 if t >= 1 and t < 3 else 0.5", "hold"))
    forces = [1.5 if 1 <= k < 3 else 0.5 for k in range(10)]
    expected = held_force_block(forces)
    assert expected[-1] == pytest.approx(1.4 + 1.4**2 / 0.6)  # slides 1 s to 3 s, stops at 7.67 s
    assert held(store.series("block.position"), range(11)) == pytest.approx(expected, abs=1e-7)
    assert held(store.series("block.sliding"), range(11)) == [k in range(1, 8) for k in range(11)]


def test_an_interpolated_input_ramps_without_events(run_scenario, fmus):
    """force = 0.3 t N, continuous: the block starts at t0 = 10/3 s, where the force passes 1 N."""
    _, store = run_scenario(scenario(fmus["FrictionBlock"], "0.3 * t", "linear"))
    t0 = STATIC / 0.3

    def position(t: float) -> float:  # integral of v(s) = 0.15 (s^2 - t0^2) - 0.8 (s - t0)
        return 0.0 if t <= t0 else 0.15 * ((t**3 - t0**3) / 3 - t0**2 * (t - t0)) - 0.4 * (t - t0) ** 2

    assert held(store.series("block.position"), range(11)) == pytest.approx([position(k) for k in range(11)], abs=1e-7)
    events = store.series("block.events").values[-1]
    assert events <= 3  # initialization and the start of the slide: none for the inputs


def test_the_same_ramp_held_jumps_at_each_step(run_scenario, fmus):
    """force = 0.3 k N held over [k, k+1): the block starts at 4 s, the first jump past 1 N."""
    _, store = run_scenario(scenario(fmus["FrictionBlock"], "0.3 * t", "hold"))
    expected = held_force_block([0.3 * k for k in range(10)])
    assert held(store.series("block.position"), range(11)) == pytest.approx(expected, abs=1e-7)
    assert store.series("block.events").values[-1] >= 10  # one event per changed input


def test_a_co_simulation_fmu_that_interpolates_inputs_gets_their_slopes(run_scenario, fmus):
    """FlowTotaliser (FMI 2 CS, canInterpolateInputs) integrates flow = 2 + 0.1 t m3/s: with the slope of an
    interpolated connection it is exact, 2 t + 0.05 t^2; a held flow gives the rectangle rule."""
    volumes = {}
    for how in ("linear", "hold"):
        _, store = run_scenario(f"""
time: {{stop: 100, resolution: 1 ms}}
federates:
  meter: {{type: formula, period: 10, params: {{outputs: {{flow: {{expr: "2 + 0.1 * t", unit: m3/s}}}}}}}}
  total: {{type: fmu, period: 10, params: {{fmu: {fmus["FlowTotaliser"]}}}}}
connections:
  - {{from: meter.flow, to: total.flow, interpolate: {how}}}
""", name=f"{how}.yaml")
        volumes[how] = held(store.series("total.volume"), range(0, 101, 10))
    assert volumes["linear"] == pytest.approx([2 * t + 0.05 * t**2 for t in range(0, 101, 10)], rel=1e-12)
    assert volumes["hold"] == pytest.approx([sum((2 + k) * 10 for k in range(t // 10)) for t in range(0, 101, 10)])

"""Co-simulation accuracy: two coupled masses split into two federates vs. the monolithic model.

Reference: the monolithic 4-state linear ODE integrated by scipy.integrate.solve_ivp
(rtol 1e-11).  Each federate integrates its own part exactly over a step, so the error is
the coupling error of a zero-order-hold co-simulation, which is O(H) (first order) in the
communication step H -- see e.g. Kübler & Schiehlen, "Two methods of simulator coupling",
Math. Comp. Model. Dyn. Sys. 6 (2000), and Arnold, Clauss & Schierz, "Error analysis and
error estimates for co-simulation in FMI" (2013).  Gauss-Seidel coupling (one direction
direct) uses the newer value and is more accurate than Jacobi (both directions delayed).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

pytestmark = pytest.mark.timeout(180)

M1, K1, D1, M2, K2, D2, KC, DC = 1.0, 2.0, 0.2, 1.0, 2.0, 0.2, 1.0, 0.1
X10, T_END = 0.1, 3.0

SCENARIO = """
time: {stop: %(stop)s, resolution: 1 us}
federates:
  m1: {type: mass, period: %(h)s, params: {mass: 1.0, stiffness: 2.0, damping: 0.2, x0: 0.1}}
  m2: {type: coupled-mass, period: %(h)s, params: {mass: 1.0, stiffness: 2.0, damping: 0.2,
       coupling_stiffness: 1.0, coupling_damping: 0.1}}
connections:
  - {from: m1.position, to: m2.other_position, delay: %(jacobi)s}
  - {from: m1.velocity, to: m2.other_velocity, delay: %(jacobi)s}
  - {from: m2.force, to: m1.force, delay: true}
record:
  signals: [m1.position]
"""


def monolithic(times: np.ndarray) -> np.ndarray:
    def rhs(_t: float, s: np.ndarray) -> list[float]:
        x1, v1, x2, v2 = s
        f = KC * (x2 - x1) + DC * (v2 - v1)
        return [v1, (-K1 * x1 - D1 * v1 + f) / M1, v2, (-K2 * x2 - D2 * v2 - f) / M2]

    sol = solve_ivp(rhs, (0.0, T_END), [X10, 0.0, 0.0, 0.0], t_eval=times, rtol=1e-11, atol=1e-13, method="DOP853")
    return sol.y[0]


def cosim_error(run_scenario, h: float, jacobi: bool) -> float:
    text = SCENARIO % {"stop": T_END + h / 2, "h": h, "jacobi": "true" if jacobi else "false"}
    _, store = run_scenario(text, name=f"h{h:g}{'j' if jacobi else 'gs'}.yaml")
    series = store.series("m1.position")
    times = np.array(series.times)
    return float(np.max(np.abs(np.array(series.values) - monolithic(times))))


def test_error_falls_with_first_order_and_gauss_seidel_beats_jacobi(run_scenario):
    steps = [0.1, 0.01, 0.001]
    gs = [cosim_error(run_scenario, h, jacobi=False) for h in steps]
    jac = [cosim_error(run_scenario, h, jacobi=True) for h in steps[:2]]
    ratios = [gs[i] / gs[i + 1] for i in range(2)]
    print(f"Gauss-Seidel max error {gs}, ratios {ratios}; Jacobi {jac}")
    for ratio in ratios:  # first order: about 10x less error per decade of step
        assert 6.0 < ratio < 16.0, ratios
    assert math.log10(gs[0] / gs[2]) / 2 == pytest.approx(1.0, abs=0.2)
    for g, j in zip(gs, jac):
        assert g < j

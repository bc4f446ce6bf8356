"""Co-simulation accuracy: two coupled masses split into two federates vs. the exact solution.

The model is the two-mass oscillator of the co-simulation literature with force/displacement
coupling (Schweizer, Li & Lu, "Explicit and implicit cosimulation methods: stability and
convergence analysis for different solver coupling approaches", J. Comput. Nonlinear Dynam.
10 (2015) 051007; Busch, "Continuous approximation techniques for co-simulation methods:
analysis of numerical stability and local error", ZAMM 96 (2016) 1061).  Its exact solution is
the matrix exponential of the monolithic 4-state linear system, computed here with scipy.

Each federate integrates its own part exactly over a macro step, so every error is the
coupling error.  With the inputs held over a step (constant extrapolation) the global error
is O(H); extrapolating them linearly from the last two communication points makes it O(H^2)
(Kübler & Schiehlen, "Two methods of simulator coupling", Math. Comp. Model. Dyn. Sys. 6
(2000) 93; Arnold, Clauss & Schierz, "Error analysis and error estimates for co-simulation in
FMI for model exchange and co-simulation V2.0", Arch. Mech. Eng. 60 (2013) 75).

Absolute errors are checked against an independent implementation of each coupling scheme
(written here from the textbook definition, not from the federates): the federation through
the coordinator must reproduce it to round-off, and its error against the exact solution is
stated, not only its ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy.linalg import expm

pytestmark = pytest.mark.timeout(120)

M1, K1, D1, M2, K2, D2, KC, DC = 1.0, 2.0, 0.2, 1.0, 2.0, 0.2, 1.0, 0.1
X10, T_END = 0.1, 3.0

PAIR = """
  %(p)s1: {type: mass, period: %(h)s, params: {mass: 1.0, stiffness: 2.0, damping: 0.2, x0: 0.1}}
  %(p)s2: {type: coupled-mass, period: %(h)s, params: {mass: 1.0, stiffness: 2.0, damping: 0.2,
       coupling_stiffness: 1.0, coupling_damping: 0.1}}"""
LINKS = """
  - {from: %(p)s1.position, to: %(p)s2.other_position, %(x)s}
  - {from: %(p)s1.velocity, to: %(p)s2.other_velocity, %(x)s}
  - {from: %(p)s2.force, to: %(p)s1.force, %(f)s}"""


@dataclass(frozen=True)
class Link:
    """How one direction of the coupling reaches its consumer."""

    delayed: bool = False  # sees the producer's samples before t (else at t)
    linear: bool = False  # extrapolates the line through the last two samples (else holds the last one)

    def yaml(self, group: str | None) -> str:
        how = f"iterate: {group}" if group else f"delay: {str(self.delayed).lower()}"
        return f"{how}, extrapolate: {'linear' if self.linear else 'constant'}"


# ----------------------------------------------------------------------------- the references
def exact(times: np.ndarray) -> np.ndarray:
    """x1(t) of the monolithic system, by the matrix exponential."""
    a = np.array([
        [0.0, 1.0, 0.0, 0.0],
        [-(K1 + KC) / M1, -(D1 + DC) / M1, KC / M1, DC / M1],
        [0.0, 0.0, 0.0, 1.0],
        [KC / M2, DC / M2, -(K2 + KC) / M2, -(D2 + DC) / M2],
    ])  # fmt: skip
    x0 = np.array([X10, 0.0, 0.0, 0.0])
    return np.array([(expm(a * t) @ x0)[0] for t in times])


def _ramp(a: np.ndarray, b: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x(h) = P x(0) + G0 u + G1 u' for x' = A x + B (u + u' s): the input and its slope as extra states."""
    n, m = b.shape
    big = np.zeros((n + 2 * m, n + 2 * m))
    big[:n, :n], big[:n, n : n + m], big[n : n + m, n + m :] = a, b, np.eye(m)
    e = expm(big * h)
    return e[:n, :n], e[:n, n : n + m], e[:n, n + m :]


def _seen(samples: list[np.ndarray], k: int, link: Link, h: float, default: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What a consumer at communication point k sees of a producer's samples: value at t_k and slope."""
    usable = samples[: k if link.delayed else k + 1]
    if not usable:
        return default, np.zeros_like(default)
    if not link.linear or len(usable) < 2:
        return usable[-1], np.zeros_like(default)
    slope = (usable[-1] - usable[-2]) / h
    return usable[-1] + slope * (k - (len(usable) - 1)) * h, slope


def scheme(h: float, x_link: Link, f_link: Link) -> tuple[np.ndarray, np.ndarray]:
    """The co-simulation written out: at each communication point t_k, mass 1 gives (x1, v1) from its
    state, mass 2 computes the force from its state and what it sees of (x1, v1), then each subsystem
    integrates [t_k, t_k+1] exactly with what it sees held (or ramped).  Returns times and x1."""
    p1, g10, g11 = _ramp(np.array([[0.0, 1.0], [-K1 / M1, -D1 / M1]]), np.array([[0.0], [1.0 / M1]]), h)
    p2, g20, g21 = _ramp(np.array([[0.0, 1.0], [-(K2 + KC) / M2, -(D2 + DC) / M2]]),
                         np.array([[0.0, 0.0], [KC / M2, DC / M2]]), h)  # fmt: skip
    x1, x2 = np.array([X10, 0.0]), np.zeros(2)
    y1: list[np.ndarray] = []
    forces: list[np.ndarray] = []
    n = int(T_END / h + 1e-9)  # communication points up to and including T_END
    out = np.empty(n + 1)
    for k in range(n + 1):
        out[k] = x1[0]
        y1.append(x1.copy())
        u2, s2 = _seen(y1, k, x_link, h, np.zeros(2))
        forces.append(np.array([KC * (x2[0] - u2[0]) + DC * (x2[1] - u2[1])]))
        u1, s1 = _seen(forces, k, f_link, h, np.zeros(1))
        x1, x2 = p1 @ x1 + g10 @ u1 + g11 @ s1, p2 @ x2 + g20 @ u2 + g21 @ s2
    return np.arange(n + 1) * h, out


# ----------------------------------------------------------------------------- the federation
Case = tuple[float, Link, Link]  # H, how mass 2 sees mass 1, how mass 1 sees the force


def federation_errors(run_scenario, cases: list[Case], iterate: bool) -> list[float]:
    """Max |x1 - exact| of each case, all run side by side in one federation (one pair of federates per
    case); asserts that each is the scheme written out above, to round-off."""
    federates, connections, groups = [], [], []
    for i, (h, x_link, f_link) in enumerate(cases):
        group = f"spring{i}" if iterate else None
        federates.append(PAIR % {"p": f"c{i}m", "h": h})
        connections.append(LINKS % {"p": f"c{i}m", "x": x_link.yaml(group), "f": f_link.yaml(group)})
        if group:
            groups.append(f"  {group}: {{tolerance: 1.0e-13, max_iterations: 10}}")
    text = (f"time: {{stop: {T_END}, resolution: 1 us}}\nfederates:{''.join(federates)}\n"
            f"connections:{''.join(connections)}\n" + ("iterate:\n" + "\n".join(groups) + "\n" if groups else "")
            + "record:\n  signals: ['c*m1.position']\n")  # fmt: skip
    _, store = run_scenario(text, name="cases.yaml")
    errors = []
    for i, (h, x_link, f_link) in enumerate(cases):
        series = store.series(f"c{i}m1.position")
        times, values = np.array(series.times), np.array(series.values)
        ref_times, ref = scheme(h, x_link, f_link)
        assert np.allclose(times, ref_times, rtol=0, atol=1e-9)
        assert np.max(np.abs(values - ref)) < 1e-12, f"case {i}: the federation is not the textbook scheme"
        errors.append(float(np.max(np.abs(values - exact(times)))))
    return errors


def test_textbook_jacobi_is_first_order_held_and_second_order_extrapolated(run_scenario):
    """Both subsystems step [t, t+H) with the other's outputs at t (mass 2's force fed through from
    x1(t)); the iterate group makes those consistent at each instant, so the federation is the
    textbook Jacobi scheme.  Halving H halves the error with the inputs held, and quarters it when
    both connections extrapolate linearly."""
    cases = [(h, Link(False, linear), Link(False, linear)) for linear in (False, True) for h in (0.08, 0.04)]
    errors = dict(zip(((c[1].linear, c[0]) for c in cases), federation_errors(run_scenario, cases, iterate=True)))
    print({k: f"{v:.4e}" for k, v in errors.items()})
    assert errors[False, 0.04] == pytest.approx(1.984e-3, rel=1e-3)  # docs/scenarios.md, docs/federates/oscillator.md
    assert errors[True, 0.04] == pytest.approx(1.068e-4, rel=1e-3)
    assert errors[False, 0.08] / errors[False, 0.04] == pytest.approx(2.0, rel=0.05)  # order 1
    assert errors[True, 0.08] / errors[True, 0.04] == pytest.approx(4.0, rel=0.02)  # order 2


def test_a_delayed_force_is_the_same_scheme_one_step_late(run_scenario):
    """Mass 1 first, the force back through a delayed connection: mass 1 steps [t, t+H) with the force
    of t-H (and, before the first force, the input's default 0 N where the exact start is -0.1 N).
    Linear extrapolation brings the force to t and cuts the error, but that first step keeps it O(H)."""
    held, extrapolated = federation_errors(run_scenario, [(0.04, Link(False, False), Link(True, False)),
                                                          (0.04, Link(False, True), Link(True, True))], iterate=False)
    print(f"held {held:.4e}, extrapolated {extrapolated:.4e}")
    assert held == pytest.approx(4.226e-3, rel=1e-3)  # docs/federates/oscillator.md
    assert extrapolated == pytest.approx(1.815e-3, rel=1e-3)


def test_extrapolation_is_checked_with_the_scenario(tmp_path):
    """A connection interpolates or extrapolates, not both; extrapolation needs a float signal."""
    from federation.errors import ScenarioError
    from federation.scenario.loader import load
    from tests.conftest import write_scenario

    path = write_scenario(tmp_path, """
time: {stop: 1}
federates:
  m1: {type: mass, period: 0.1}
  m2: {type: coupled-mass, period: 0.1}
  c: {type: formula, params: {outputs: {n: {expr: "1", type: int}}}}
  s: {type: formula, params: {inputs: {n: {type: int}}, outputs: {y: {expr: n, type: int}}}}
connections:
  - {from: m1.position, to: m2.other_position, interpolate: linear, extrapolate: linear}
  - {from: c.n, to: s.n, extrapolate: linear}
  - {from: m1.velocity, to: m2.other_velocity, extrapolate: quadratic}
""")
    with pytest.raises(ScenarioError) as err:
        load(path)
    text = str(err.value)
    assert f"{path}:9:5: connections[0]: a connection interpolates or extrapolates, not both" in text
    assert f"{path}:10:5: connections[1]: linear extrapolation needs a float signal, not int" in text
    assert f"{path}:11:48: connections[2].extrapolate: expected constant or linear, got 'quadratic'" in text

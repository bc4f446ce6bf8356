"""Iterate groups: a fixed point solved at each instant, and a clear error when it diverges."""

from __future__ import annotations

import pytest

from federation.errors import ConvergenceError, ScenarioError
from federation.scenario.loader import load
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(60)

LOOP = """
time: {stop: 3, resolution: 1 s}
federates:
  a: {type: "{HELPERS}:Loop", params: {gain: %s, bias: 1.0}}
  b: {type: "{HELPERS}:Loop", params: {gain: 0.5, bias: 0.0}}
connections:
  - {from: a.x_out, to: b.x_in, iterate: loop}
  - {from: b.x_out, to: a.x_in, iterate: loop}
iterate:
  loop: {tolerance: 1.0e-10, max_iterations: %d}
"""


def test_group_converges_to_the_known_fixed_point(run_scenario):
    """a = 0.5*b + 1, b = 0.5*a  =>  a = 4/3, b = 2/3 (solved by hand)."""
    summary, store = run_scenario(LOOP % ("0.5", 100))
    assert store.series("a.x_out").values[-1] == pytest.approx(4 / 3, abs=1e-9)
    assert store.series("b.x_out").values[-1] == pytest.approx(2 / 3, abs=1e-9)
    # the federate's own state was restored before every re-step: one counted call per instant
    assert store.series("a.calls").values[-1] == 4  # t = 0, 1, 2, 3 (stop)
    assert summary.grants["a"] > 3  # but it was granted several iterations


def test_divergent_group_fails_naming_group_and_residual(run_scenario):
    """a = 3*b + 1, b = 0.5*a has the fixed point a = -2, but Jacobi iteration diverges (gain 1.5)."""
    with pytest.raises(ConvergenceError, match=r"iterate group 'loop' did not converge at t=0 s after 20 iterations: residual [0-9.e+]+ on [ab]\.x_out"):
        run_scenario(LOOP % ("3.0", 20))


def test_iterate_connection_needs_a_declared_group(tmp_path):
    path = write_scenario(tmp_path, (LOOP % ("0.5", 10)).replace("iterate: loop}", "iterate: lop}", 1))
    with pytest.raises(ScenarioError, match="no iterate group 'lop'"):
        load(path)


def test_members_record_their_first_values_at_the_start_even_when_they_equal_the_defaults(run_scenario):
    """a = 0.5*b, b = 0.5*a: the fixed point 0 is every output's default; it is still recorded at t=0."""
    _, store = run_scenario(LOOP.replace("bias: 1.0", "bias: 0.0") % ("0.5", 100))
    for name in ("a.x_out", "b.x_out", "a.calls", "b.calls"):
        assert store.series(name).times[0] == 0.0, name
    assert store.series("a.x_out").values[0] == 0.0 and store.series("a.calls").values[0] == 1

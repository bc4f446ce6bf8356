"""What a connection does to a value on its way, checked on the scheduler alone (no processes).

A linearly extrapolated connection delivers the line through the producer's two latest
samples it may see, at the consumer's time, with its slope under input key ``n + i``
(docs/protocol.md); a connection between units delivers ``value * scale + offset``.
"""

from __future__ import annotations

import pytest

from federation.engine.plan import Plan
from federation.scenario.loader import load
from tests.conftest import write_scenario


def _plan(tmp_path, connection: str) -> Plan:
    return Plan.build(load(write_scenario(tmp_path, f"""
time: {{stop: 5}}
federates:
  src: {{type: formula, period: 1, params: {{outputs: {{y: {{expr: t, unit: kW}}}}}}}}
  dst: {{type: formula, period: 1, params: {{inputs: {{u: {{unit: W, default: -1.0}}}}, outputs: {{v: {{expr: u, unit: W}}}}}}}}
connections:
  - {connection}
""")))


def _inputs_seen(plan: Plan, produced: list[float]) -> list[dict[int, float]]:
    """Step both federates (src publishes ``produced[k]`` at t = k s); dst's GRANT inputs at t = 0, 1, ..."""
    sched = plan.scheduler()
    src, dst = plan.index("src"), plan.index("dst")
    seen: list[dict[int, float]] = []
    pending = sched.begin()
    while len(seen) < len(produced):
        grant = pending.pop(0)
        k = round(plan.base.seconds(grant.tick))
        if grant.federate == src:
            pending += sched.done(src, grant.tick, 0, {0: produced[min(k, len(produced) - 1)]}, [], None)
        else:
            seen.append(dict(grant.inputs))
            pending += sched.done(dst, grant.tick, 0, {0: 0.0}, [], None)
    return seen


def test_linear_extrapolation_on_a_delayed_connection_reaches_t_with_its_slope(tmp_path):
    seen = _inputs_seen(_plan(tmp_path, "{from: src.y, to: dst.u, delay: true, extrapolate: linear}"), [1.0, 3.0, 4.0, 4.0])
    assert seen[0] == {0: -1.0, 1: 0.0}  # nothing before t = 0: the input's default (in W, not converted)
    assert seen[1] == {0: 1000.0}  # one sample: held, slope 0 (unchanged, so not sent again)
    assert seen[2] == {0: pytest.approx(5000.0), 1: pytest.approx(2000.0)}  # 3 + 2 kW/s * 1 s, in W
    assert seen[3] == {1: pytest.approx(1000.0)}  # 4 + 1 * 1 = 5 kW again: only the slope changed


def test_a_held_connection_between_units_converts_and_carries_no_slope(tmp_path):
    seen = _inputs_seen(_plan(tmp_path, "src.y -> dst.u"), [1.0, 3.0, 4.0])
    assert seen == [{0: 1000.0}, {0: 3000.0}, {0: 4000.0}]

"""Tests of the factory-line federate (``federates.factory``).

The validation tests compare long simulated runs (fixed seeds) with exact results that
the tests derive themselves; the tolerances are about four standard errors of the
estimate, measured over independent seeds (see docs/federates/factory.md).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from federates.factory import FactoryFederate
from federates.factory.machine import Activity
from federation.api.federate import Context

RELIABLE = math.inf


def make(params: dict[str, Any], seed: int = 1) -> FactoryFederate:
    """A factory federate driven by hand (no runtime), started at t = 0."""
    context = Context(name="plant", seed=seed, start=0.0, stop=1e12, resolution=1e-3, period=60.0)
    federate = FactoryFederate(params, context)
    federate.setup()
    federate.step(0.0)
    return federate


def two_machine_line(
    times: tuple[float, float], buffer: int, mtbf: list[float], mttr: list[float]
) -> dict[str, Any]:
    return {
        "processing_times": list(times),
        "processing": "exponential",
        "buffer_capacity": buffer,
        "mtbf": mtbf,
        "mttr": mttr,
    }


# ---------------------------------------------------------------------- exact references
def birth_death_distribution(t1: float, t2: float, buffer: int) -> np.ndarray:
    """Stationary distribution of n (see :func:`birth_death_throughput`): pi_n ~ (mu1/mu2)^n."""
    rho = t2 / t1
    weights = np.array([rho**n for n in range(buffer + 3)])
    return weights / weights.sum()


def birth_death_throughput(t1: float, t2: float, buffer: int) -> float:
    """Throughput (parts/s) of two reliable exponential machines, blocking after service.

    Let n = parts in the buffer + the part on M2 + a finished part blocked on M1, so
    n = 0..B+2.  M1 (never starved) finishes at rate mu1 while n <= B+1 (at n = B+2 it is
    blocked); M2 (never blocked) finishes at rate mu2 while n >= 1.  This birth-death
    chain is the M/M/1/K queue with K = B+2: pi_n ~ (mu1/mu2)^n, and the throughput is
    mu2 (1 - pi_0).  (Gershwin, *Manufacturing Systems Engineering*, 1994, ch. 3; Buzacott
    & Shanthikumar, *Stochastic Models of Manufacturing Systems*, 1993, sec. 4.2.)
    """
    return float(1.0 - birth_death_distribution(t1, t2, buffer)[0]) / t2


def markov_distribution(
    times: tuple[float, float], buffer: int, mtbf: tuple[float, float], mttr: tuple[float, float]
) -> dict[tuple[int, int, int], float]:
    """Exact throughput (parts/s) of two unreliable exponential machines with a buffer B.

    State (n, a1, a2): n as in :func:`birth_death_throughput`, a_i = 1 when machine i is
    up.  Failures are operation dependent, so machine i fails at rate p_i = 1/mtbf_i only
    while it processes (M1: n <= B+1, M2: n >= 1); repairs at rate r_i = 1/mttr_i.  The
    generator Q is built state by state, pi Q = 0 with sum(pi) = 1 is solved by least
    squares; returns pi per state.  (Gershwin 1994, ch. 3, exponential two-machine line.)
    """
    mu = (1.0 / times[0], 1.0 / times[1])
    fail = (1.0 / mtbf[0], 1.0 / mtbf[1])
    repair = (1.0 / mttr[0], 1.0 / mttr[1])
    top = buffer + 2
    states = [(n, a1, a2) for n in range(top + 1) for a1 in (0, 1) for a2 in (0, 1)]
    index = {s: i for i, s in enumerate(states)}
    q = np.zeros((len(states), len(states)))
    for (n, a1, a2), i in index.items():
        if a1 and n < top:
            q[i, index[(n + 1, a1, a2)]] += mu[0]
            q[i, index[(n, 0, a2)]] += fail[0]
        if a2 and n > 0:
            q[i, index[(n - 1, a1, a2)]] += mu[1]
            q[i, index[(n, a1, 0)]] += fail[1]
        if not a1:
            q[i, index[(n, 1, a2)]] += repair[0]
        if not a2:
            q[i, index[(n, a1, 1)]] += repair[1]
    np.fill_diagonal(q, -q.sum(axis=1))
    system = np.vstack([q.T, np.ones(len(states))])
    rhs = np.zeros(len(states) + 1)
    rhs[-1] = 1.0
    pi = np.linalg.lstsq(system, rhs, rcond=None)[0]
    return {s: float(pi[i]) for s, i in index.items()}


def markov_throughput(
    times: tuple[float, float], buffer: int, mtbf: tuple[float, float], mttr: tuple[float, float]
) -> float:
    """Exact throughput (parts/s) of the chain of :func:`markov_distribution`: mu2 * P(a2 = 1, n >= 1)."""
    pi = markov_distribution(times, buffer, mtbf, mttr)
    return sum(p for (n, _, a2), p in pi.items() if a2 and n > 0) / times[1]


def markov_wip(
    times: tuple[float, float], buffer: int, mtbf: tuple[float, float], mttr: tuple[float, float]
) -> tuple[float, float]:
    """Exact mean WIP of the saturated two-machine line: (E[n], E[line WIP]).

    M1 is never starved, so it always holds a part: an unfinished one (not yet in n) unless
    it is blocked (n = B+2, its finished part counted in n).  Line WIP = n + 1(n <= B+1).
    """
    pi = markov_distribution(times, buffer, mtbf, mttr)
    mean_n = sum(n * p for (n, _, _), p in pi.items())
    return mean_n, mean_n + sum(p for (n, _, _), p in pi.items() if n <= buffer + 1)


# ---------------------------------------------------------------------- validation
def test_reliable_exponential_two_machine_line_matches_birth_death_chain() -> None:
    """Two reliable exponential machines, B = 2: throughput within 1.5 % of the M/M/1/(B+2) result."""
    times, buffer, horizon = (50.0, 60.0), 2, 6.0e6
    exact = birth_death_throughput(*times, buffer)
    # the check discriminates: one buffer slot more or less moves the exact value by > 3 %
    assert abs(birth_death_throughput(*times, buffer + 1) / exact - 1) > 0.03
    assert abs(birth_death_throughput(*times, buffer - 1) / exact - 1) > 0.03
    f = make(two_machine_line(times, buffer, [RELIABLE] * 2, [0.0] * 2), seed=11)
    f.step(horizon)
    assert f.line.parts_produced / horizon == pytest.approx(exact, rel=0.015)


def test_unreliable_two_machine_line_matches_exact_markov_chain() -> None:
    """Operation-dependent failures, exponential repairs: throughput within 2 % of the CTMC."""
    times, buffer, mtbf, mttr, horizon = (50.0, 60.0), 2, (1000.0, 1500.0), (300.0, 200.0), 1.2e7
    exact = markov_throughput(times, buffer, mtbf, mttr)
    assert exact < birth_death_throughput(*times, buffer)  # failures cost output
    assert abs(markov_throughput(times, buffer + 1, mtbf, mttr) / exact - 1) > 0.035
    f = make(two_machine_line(times, buffer, list(mtbf), list(mttr)), seed=12)
    f.step(horizon)
    assert f.line.parts_produced / horizon == pytest.approx(exact, rel=0.02)


def test_two_machines_without_buffer_match_the_exact_chain() -> None:
    """B = 0, blocking after service, reliable exponential machines: throughput and mean WIP
    against M/M/1/K with K = B + 2 = 2 (Buzacott & Shanthikumar 1993, sec. 4.2: the
    zero-buffer two-station line); the second stage's mean WIP is E[n], the line's
    E[n] + P(n <= 1)."""
    times, horizon = (50.0, 60.0), 6.0e6
    pi = birth_death_distribution(*times, 0)
    mean_n = float(pi @ np.arange(3))
    assert abs(birth_death_throughput(*times, 1) / birth_death_throughput(*times, 0) - 1) > 0.05
    f = make(two_machine_line(times, 0, [RELIABLE] * 2, [0.0] * 2), seed=21)
    f.step(horizon)
    line = f.line
    assert line.parts_produced / horizon == pytest.approx(birth_death_throughput(*times, 0), rel=0.015)
    assert line.stages[1].reading(horizon) / horizon == pytest.approx(mean_n, rel=0.012)
    assert line.wip.reading(horizon) / horizon == pytest.approx(mean_n + pi[:2].sum(), rel=0.004)


def test_unreliable_two_machines_without_buffer_match_the_exact_chain() -> None:
    """B = 0 with operation-dependent failures: throughput, the second stage's mean WIP and the
    line's mean WIP within about 4 standard errors of the exact CTMC (Gershwin 1994, ch. 3)."""
    times, mtbf, mttr, horizon = (50.0, 60.0), (1000.0, 1500.0), (300.0, 200.0), 1.2e7
    exact = markov_throughput(times, 0, mtbf, mttr)
    mean_n, mean_wip = markov_wip(times, 0, mtbf, mttr)
    assert abs(markov_throughput(times, 1, mtbf, mttr) / exact - 1) > 0.035
    f = make(two_machine_line(times, 0, list(mtbf), list(mttr)), seed=22)
    f.step(horizon)
    line = f.line
    assert line.parts_produced / horizon == pytest.approx(exact, rel=0.025)
    assert line.stages[1].reading(horizon) / horizon == pytest.approx(mean_n, rel=0.015)
    assert line.wip.reading(horizon) / horizon == pytest.approx(mean_wip, rel=0.006)


def test_open_exponential_tandem_matches_jackson_network_and_littles_law() -> None:
    """Poisson arrivals into two M/M/1 stations with unlimited buffers.

    Jackson (1957, *Operations Research* 5:518): the stations are independent M/M/1
    queues, L_i = rho_i / (1 - rho_i) and W = sum 1 / (mu_i - lambda).  Little (1961):
    the time-average WIP equals the throughput times the mean time in the line.
    """
    rate, times, horizon = 1.0 / 60.0, (30.0, 36.0), 8.0e6
    params = {
        "processing_times": list(times),
        "processing": "exponential",
        "buffer_capacity": math.inf,
        "mtbf": RELIABLE,
        "arrival_rate": rate * 3600.0,
    }
    f = make(params, seed=13)
    f.step(horizon)
    line = f.line
    wip = line.wip.reading(horizon) / horizon
    time_in_line = line.time_in_line / line.parts_produced
    throughput = line.parts_produced / horizon
    assert wip == pytest.approx(sum(rate * t / (1 - rate * t) for t in times), rel=0.04)
    assert time_in_line == pytest.approx(sum(1 / (1 / t - rate) for t in times), rel=0.04)
    assert throughput == pytest.approx(rate, rel=0.01)
    assert wip == pytest.approx(throughput * time_in_line, rel=1e-3)  # Little, sample path


def test_deterministic_reliable_line_fills_then_runs_at_the_bottleneck_rate() -> None:
    """First part out after the sum of processing times, then one every max(T_i)."""
    f = make({"processing_times": [20.0, 45.0, 30.0], "mtbf": RELIABLE})
    f.step(94.999)
    assert f.outputs["parts_produced"] == 0
    f.step(95.0)
    assert f.outputs["parts_produced"] == 1
    f.step(95.0 + 45.0 * 100)
    assert f.outputs["parts_produced"] == 101
    assert f.outputs["throughput"] == pytest.approx(3600.0 / 45.0)


def test_blocking_after_service_keeps_the_finished_part_on_the_machine() -> None:
    """A fast machine in front of a slow one fills the buffer, then waits holding its part."""
    f = make({"processing_times": [10.0, 100.0], "buffer_capacity": 2, "mtbf": RELIABLE})
    f.step(1000.0)
    assert f.outputs["buffer_levels"] == [2.0]
    assert f.line.machines[0].activity is Activity.BLOCKED
    assert f.outputs["wip"] == 4  # one on M2, two in the buffer, one blocked on M1


def test_without_buffer_the_finished_part_waits_on_the_machine() -> None:
    """B = 0: M1 (10 s) finishes its part and keeps it until M2 (100 s) takes it; stage WIP
    counts the blocked part at stage 2, and the stages add up to the line's WIP."""
    f = make({"processing_times": [10.0, 100.0], "buffer_capacity": 0, "mtbf": RELIABLE})
    f.step(50.0)  # M2 took part 1 at 10 s; part 2 finished on M1 at 20 s and waits
    assert f.line.machines[0].activity is Activity.BLOCKED
    assert f.outputs["buffer_levels"] == [0.0] and f.outputs["wip"] == 2
    assert f.outputs["stage_wip"] == [0.0, 2.0]
    f.step(110.0)  # part 1 left at 110 s; M2 took part 2, M1 started part 3
    assert f.outputs["parts_produced"] == 1 and f.outputs["stage_wip"] == [1.0, 1.0]
    f.step(120.0)
    assert f.line.machines[0].activity is Activity.BLOCKED and f.outputs["stage_wip"] == [0.0, 2.0]
    f.step(10.0 + 100.0 * 50)
    assert f.outputs["parts_produced"] == 50


def test_stage_wip_adds_up_to_the_line_wip() -> None:
    """Four machines, B = 1, failures: at every step the stages add up to the WIP."""
    f = make({"processing_times": [30.0, 45.0, 40.0, 50.0], "processing": "exponential",
              "buffer_capacity": 1, "mtbf": 2000.0, "mttr": 300.0})
    for k in range(1, 300):
        f.step(60.0 * k)
        stages = f.outputs["stage_wip"]
        assert len(stages) == 4 and sum(stages) == f.outputs["wip"]
        assert all(s >= b for s, b in zip(stages[1:], f.outputs["buffer_levels"]))


def test_failures_count_processing_time_only() -> None:
    """A machine blocked most of the time fails about busy_time/mtbf times, not clock/mtbf."""
    mtbf, horizon = 2000.0, 2.0e6
    f = make(
        {"processing_times": [10.0, 100.0], "buffer_capacity": 2, "mtbf": [mtbf, RELIABLE], "mttr": 50.0}
    )
    f.step(horizon)
    first = f.line.machines[0]
    busy = first.busy.reading(horizon)
    expected = busy / mtbf  # Poisson count in operating time
    assert busy < 0.15 * horizon
    assert abs(first.failures - expected) < 4 * math.sqrt(expected)
    assert first.failures < 0.2 * horizon / mtbf


def test_power_loss_stops_the_line_and_the_part_resumes_after_the_restart_delay() -> None:
    f = make({"processing_times": [100.0], "mtbf": RELIABLE, "restart_delay": 30.0})
    f.inputs["power"] = False
    f.step(50.0)  # 50 s of work done, 50 s left
    assert f.outputs["machines_down"] == 1
    f.step(150.0)
    f.inputs["power"] = True
    f.step(200.0)  # restart at 230, part done at 280
    f.step(279.0)
    assert f.outputs["parts_produced"] == 0
    f.step(280.0)
    assert f.outputs["parts_produced"] == 1


def test_restart_delay_counts_from_the_last_restoration() -> None:
    f = make({"processing_times": [100.0], "mtbf": RELIABLE, "restart_delay": 30.0})
    for t, on in ((10.0, False), (20.0, True), (40.0, False), (60.0, True)):
        f.inputs["power"] = on
        f.step(t)
    assert not f.line.running
    f.step(89.0)
    assert not f.line.running
    f.step(90.0)
    assert f.line.running
    f.step(90.0 + 90.0)  # 10 s before the outage, 90 s after the restart
    assert f.outputs["parts_produced"] == 1


def test_flooded_machine_is_out_until_repaired_after_the_water_recedes() -> None:
    params = {
        "processing_times": [100.0, 10.0],
        "mtbf": RELIABLE,
        "flood_thresholds": [0.5, 2.0],
        "flood_repair_time": 1000.0,
    }
    f = make(params)
    f.inputs["flood_depth"] = 1.0
    f.step(50.0)  # M1 out with 50 s of work left; M2 (threshold 2 m) is fine
    assert f.outputs["machines_down"] == 1
    assert f.line.machines[1].down is False
    f.inputs["flood_depth"] = 0.2
    f.step(500.0)  # water recedes: repair ends at 1500; part off M1 at 1550, off M2 at 1560
    f.step(1559.0)
    assert f.outputs["parts_produced"] == 0
    f.step(1560.0)
    assert f.outputs["parts_produced"] == 1
    assert f.outputs["machines_down"] == 0


def test_demand_follows_busy_machines_and_is_zero_without_power() -> None:
    """Demand is the base load plus machines' draw while processing, averaged over the step."""
    params = {
        "processing_times": [60.0, 60.0],
        "mtbf": RELIABLE,
        "machine_power": [100.0, 200.0],
        "base_load": 50.0,
        "restart_delay": 30.0,
    }
    f = make(params)
    f.step(60.0)  # M1 busy, M2 starved all minute
    assert f.outputs["demand"] == pytest.approx(0.150)
    f.step(120.0)  # both busy
    assert f.outputs["demand"] == pytest.approx(0.350)
    f.inputs["power"] = False
    f.step(180.0)  # de-energized at 180
    assert f.outputs["demand"] == pytest.approx(0.350)
    f.inputs["power"] = True
    f.step(240.0)  # energized again at 240: nothing drawn over the step
    assert f.outputs["demand"] == 0.0
    f.step(300.0)  # base load from 240; machines restart at 270, busy half the step
    assert f.outputs["demand"] == pytest.approx(0.050 + 0.300 * 0.5)


def test_production_lost_is_the_shortfall_against_the_plan() -> None:
    f = make({"processing_times": [60.0], "mtbf": RELIABLE, "planned_rate": 60.0})
    f.inputs["power"] = False
    f.step(3600.0)  # the 60th part completes at the instant the power goes
    assert f.outputs["parts_produced"] == 60
    assert f.outputs["production_lost"] == 0.0
    f.step(7200.0)
    assert f.outputs["production_lost"] == pytest.approx(60.0)


def test_default_plan_is_the_bottleneck_isolated_rate() -> None:
    f = make({"processing_times": [60.0, 90.0], "mtbf": [900.0, 900.0], "mttr": [100.0, 100.0]})
    assert f.line.config.planned_rate == pytest.approx(0.9 / 90.0)


def test_same_seed_gives_the_same_run_and_another_seed_does_not() -> None:
    params = {"processing": "exponential", "mtbf": 3000.0, "mttr": 300.0}

    def trace(seed: int) -> list[Any]:
        f = make(params, seed=seed)
        out = []
        for k in range(1, 200):
            f.inputs["power"] = not 60 <= k < 80
            f.step(60.0 * k)
            out.append(dict(f.outputs))
        return out

    assert trace(5) == trace(5)
    assert trace(5) != trace(6)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"processing_times": []}, "processing_times"),
        ({"processing_times": [60.0, -1.0]}, "processing_times"),
        ({"buffer_capacity": -1}, "buffer_capacity"),
        ({"buffer_capacity": 2.5}, "buffer_capacity"),
        ({"mtbf": [100.0]}, "mtbf"),
        ({"processing": "weibull"}, "processing"),
        ({"restart_delay": -5.0}, "restart_delay"),
        ({"throughput_window": 0.0}, "throughput_window"),
    ],
)
def test_bad_parameter_is_named_in_the_error(params: dict[str, Any], name: str) -> None:
    context = Context(name="plant", seed=1, start=0.0, stop=10.0, resolution=1e-3, period=60.0)
    with pytest.raises(ValueError, match=f"'{name}'"):
        FactoryFederate(params, context)


def test_power_event_stops_the_line_in_a_federation(run_scenario: Any) -> None:
    """End to end through the coordinator: a scenario event cuts the plant's power for 1 h."""
    _, store = run_scenario(
        """
        name: plant
        time: {start: 0, stop: 3 h, resolution: 1 s}
        seed: 1
        federates:
          plant:
            type: factory
            params: {processing_times: [60.0], mtbf: .inf, restart_delay: 0.0}
        events:
          - {at: 1 h, set: plant.power, value: false}
          - {at: 2 h, set: plant.power, value: true}
        """
    )
    produced = store.series("plant.parts_produced")  # recorded when it changes
    changes = dict(zip(produced.times, produced.values))
    assert changes[3600.0] == 60
    assert [t for t in produced.times if 3600.0 < t < 7260.0] == []  # nothing while unpowered
    assert changes[7260.0] == 61
    assert produced.values[-1] == 60 + (produced.times[-1] - 7200.0) // 60
    demand = store.series("plant.demand")
    assert list(zip(demand.times, demand.values)) == [(0.0, 0.45), (3660.0, 0.0), (7260.0, 0.45)]


def test_line_without_buffer_runs_in_a_federation(run_scenario: Any) -> None:
    """End to end: a scenario with ``buffer_capacity: 0`` validates, runs, and records stage WIP."""
    _, store = run_scenario(
        """
        name: plant
        time: {start: 0, stop: 1200, resolution: 1 s}
        seed: 1
        federates:
          plant:
            type: factory
            period: 60
            params: {processing_times: [10.0, 100.0], buffer_capacity: 0, mtbf: .inf}
        """
    )
    stages = store.series("plant.stage_wip")
    assert list(stages.values[-1]) == [0.0, 2.0]  # recorded when it changes: M1 blocked from 60 s on
    assert store.series("plant.parts_produced").values[-1] == 11  # first at 110 s, then every 100 s

"""Tests of the hospital federate (``federates.hospital``).

The validation tests compare long simulated runs (fixed seeds) with exact queueing
results; the tolerances are about four standard errors of the estimate, measured over
independent seeds (see docs/federates/hospital.md).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from federates.hospital import HospitalFederate, PoolKind, Stay, StayDistribution
from federation.api.federate import Context, Message

HOUR = 3600.0


def make(params: dict[str, Any], seed: int = 1, name: str = "st_mary") -> HospitalFederate:
    """A hospital driven by hand (no runtime), started at t = 0.

    Unless the test says otherwise the ICU gets no admissions and both pools start empty.
    """
    quiet = {"icu_rate": 0.0, "icu_initial": 0, "ward_initial": 0}
    context = Context(name=name, seed=seed, start=0.0, stop=1e12, resolution=1e-3, period=300.0)
    federate = HospitalFederate({**quiet, **params}, context)
    federate.setup()
    federate.step(0.0)
    return federate


def single_pool(
    beds: int, rate: float, policy: str, stay: str = "exponential", cv: float = 1.0
) -> dict[str, Any]:
    """The ward alone, mean stay 1 h, so that ``rate`` (patients/h) is the offered load in erlangs."""
    return {
        "ward_beds": beds,
        "ward_rate": rate,
        "ward_stay": 1.0,
        "ward_stay_distribution": stay,
        "ward_stay_cv": cv,
        "ward_policy": policy,
    }


def outbox(f: HospitalFederate) -> list[tuple[str, Any, float | None]]:
    """Messages (endpoint, payload, timestamp) the federate has sent and the runtime has not collected yet."""
    return [(m.endpoint, m.payload, m.time) for m in f._outbox]


def erlang_b(servers: int, load: float) -> float:
    """Erlang's loss formula by the stable recursion B(k) = a B(k-1) / (k + a B(k-1))."""
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(servers: int, load: float) -> float:
    """Probability of waiting in M/M/c: C = c B / (c - a (1 - B)) (Kleinrock 1975, vol. 1, sec. 3.5)."""
    b = erlang_b(servers, load)
    return servers * b / (servers - load * (1.0 - b))


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("stay", "cv"),
    [("exponential", 1.0), ("lognormal", 1.5), ("fixed", 1.0)],
)
def test_loss_pool_blocking_is_erlang_b_whatever_the_stay_law(stay: str, cv: float) -> None:
    """M/G/c/c with divert policy: blocking = Erlang B(c, a) within 3 %.

    Erlang B is insensitive to the stay distribution beyond its mean (Sevastyanov 1957;
    Kleinrock 1975, vol. 1, sec. 3.10), so exponential, lognormal (cv 1.5) and fixed stays
    must all give B(5, 5) = 0.2849.  Neighbouring capacities differ by > 25 %.  The
    time-average occupancy is a (1 - B) (Little's law on the admitted stream).
    """
    beds, load, horizon = 5, 5.0, 24000 * HOUR
    exact = erlang_b(beds, load)
    assert min(abs(erlang_b(beds + 1, load) / exact - 1), abs(erlang_b(beds - 1, load) / exact - 1)) > 0.25
    f = make(single_pool(beds, load, "divert", stay, cv), seed=21)
    f.step(horizon)
    ward = f.pools[PoolKind.WARD]
    assert ward.stats.turned_away / ward.stats.arrivals == pytest.approx(exact, rel=0.03)
    assert ward.occupied.reading(horizon) / horizon == pytest.approx(load * (1 - exact), rel=0.02)
    assert ward.queue == 0


def test_queueing_pool_matches_erlang_c_waiting_probability_and_mean_wait() -> None:
    """M/M/3 at a = 2 erlangs: P(wait) = C(3, 2) = 4/9 within 2.5 %, mean wait C/(c mu - lambda) within 6 %."""
    beds, load, horizon = 3, 2.0, 75000 * HOUR
    waiting = erlang_c(beds, load)
    assert waiting == pytest.approx(4.0 / 9.0)
    f = make(single_pool(beds, load, "queue"), seed=22)
    f.step(horizon)
    stats = f.pools[PoolKind.WARD].stats
    assert stats.turned_away == 0
    assert stats.waited / stats.admitted == pytest.approx(waiting, rel=0.025)
    mean_wait_h = stats.wait_total / stats.admitted / HOUR
    assert mean_wait_h == pytest.approx(waiting / (beds * 1.0 - load), rel=0.06)


def test_step_surge_occupancy_follows_the_mt_m_infinity_formula() -> None:
    """After a step of the arrival rate from l0 to l1 at tau = 0, an infinite-server pool
    with exponential stays (rate mu) that was in steady state holds on average

        m(tau) = l1/mu + (l0 - l1)/mu * exp(-mu tau)

    patients, and the count is Poisson (Eick, Massey & Whitt 1993, "The physics of the
    Mt/G/inf queue", Operations Research 41:731).  The surge input is switched on for 15 h
    and off for 40 h (8 mean stays, leaving a bias below 0.2 %), 250 times; the mean over
    cycles at each tau must lie within 4 standard errors sqrt(m/250) of m(tau), and the
    variance over cycles within 0.6..1.4 of the mean (about 4 standard errors of that ratio).
    """
    base, peak, stay_h, cycles = 2.0, 10.0, 5.0, 250
    mu = 1.0 / stay_h
    taus = (0.0, 1.0, 2.5, 5.0, 10.0, 15.0)
    params = {**single_pool(10_000, base, "divert"), "ward_stay": stay_h, "surge_icu_fraction": 0.0}
    params["ward_initial"] = None  # start at the baseline's mean occupancy
    f = make(params, seed=23)
    counts = np.zeros((cycles, len(taus)))
    for c in range(cycles):
        start = c * 55.0 * HOUR
        f.inputs["surge"] = peak - base
        for j, tau in enumerate(taus):
            f.step(start + tau * HOUR)
            counts[c, j] = f.outputs["ward_occupancy"]
        f.inputs["surge"] = 0.0
        f.step(start + 15.0 * HOUR + 1e-3)
    for j, tau in enumerate(taus):
        expected = peak / mu + (base - peak) / mu * math.exp(-mu * tau)
        assert abs(counts[:, j].mean() - expected) < 4.0 * math.sqrt(expected / cycles), tau
        assert 0.6 < counts[:, j].var(ddof=1) / expected < 1.4, tau  # Poisson: variance = mean


def test_residual_stay_has_the_equilibrium_excess_mean() -> None:
    """Remaining stay at a random instant: E = E[S^2] / (2 E[S]) = m (1 + cv^2) / 2 (renewal theory)."""
    rng = np.random.default_rng(5)
    for law, cv in (
        (StayDistribution.EXPONENTIAL, 1.0),
        (StayDistribution.LOGNORMAL, 0.8),
        (StayDistribution.FIXED, 0.0),
    ):
        stay = Stay(law, 10.0, cv if cv > 0 else 1.0)
        samples = np.array([stay.sample_residual(rng) for _ in range(40_000)])
        expected = 10.0 * (1 + cv * cv) / 2.0
        assert samples.mean() == pytest.approx(expected, rel=0.03), law


# ---------------------------------------------------------------------- policies
def test_divert_turns_away_and_queue_waits_when_full() -> None:
    for policy, queued, away in (("divert", 0, 3), ("queue", 3, 0)):
        f = make(
            {"ward_beds": 2, "ward_rate": 0.0, "ward_initial": 2, "ward_policy": policy, "ward_stay": 1000.0}
        )
        f.inbox = [
            Message(0.0, "other.transfers", "transfers", {"pool": "ward", "patients": 3, "from": "other"})
        ]
        f.step(10.0)
        assert (f.outputs["ward_queue"], f.outputs["turned_away"]) == (queued, away), policy
        assert f.outputs["ward_occupancy"] == 2


def test_default_initial_occupancy_is_the_offered_load() -> None:
    context = Context(name="h", seed=1, start=0.0, stop=10.0, resolution=1e-3, period=300.0)
    f = HospitalFederate({"ward_rate": 1.5, "ward_stay": 100.0, "icu_rate": 0.5, "icu_stay": 80.0}, context)
    f.setup()
    f.step(0.0)
    assert (f.outputs["ward_occupancy"], f.outputs["icu_occupancy"]) == (150, 20)  # ICU capped at its 20 beds


# ---------------------------------------------------------------------- power and transfers
def test_generator_takes_over_when_the_grid_fails_and_burns_an_hour_per_hour() -> None:
    f = make({"generator_autonomy": 10.0})
    f.inputs["power"] = False
    f.step(HOUR)
    f.step(3 * HOUR)
    assert f.outputs["generator_running"] is True
    assert f.outputs["fuel_left"] == pytest.approx(8.0)
    assert f.outputs["icu_capacity"] == 20
    f.inputs["power"] = True
    f.step(5 * HOUR)  # the grid is back at 5 h
    assert f.outputs["generator_running"] is False
    assert f.outputs["fuel_left"] == pytest.approx(6.0)
    f.step(9 * HOUR)
    assert f.outputs["fuel_left"] == pytest.approx(6.0)


def test_icu_patients_are_transferred_when_the_generator_runs_dry() -> None:
    """One message for all patients moved, stamped the step's time plus the transfer delay."""
    params = {"generator_autonomy": 1.5, "icu_initial": 12, "icu_stay": 1e4, "icu_beds_blackout": 4}
    f = make({**params, "transfer_delay": 600.0})
    f.inputs["power"] = False
    f.step(HOUR)
    assert outbox(f) == []
    f.step(3 * HOUR)  # ran dry at 2.5 h, inside the step
    assert f.outputs["generator_running"] is False
    assert f.outputs["icu_capacity"] == 4
    assert f.outputs["icu_occupancy"] == 4
    assert f.outputs["transferred"] == 8
    assert outbox(f) == [("transfers", {"pool": "icu", "patients": 8, "from": "st_mary"}, 3 * HOUR + 600.0)]


def test_fuel_delivery_restarts_the_generator_and_restores_the_icu() -> None:
    f = make({"generator_autonomy": 1.0, "icu_initial": 5, "icu_stay": 1e4})
    f.inputs["power"] = False
    f.step(HOUR)  # the grid fails at 1 h
    f.step(3 * HOUR)  # the generator ran dry at 2 h
    assert f.outputs["icu_capacity"] == 0 and f.outputs["transferred"] == 5
    f.inbox = [Message(4 * HOUR, "depot.fuel", "fuel", {"hours": 24.0})]
    f.step(4 * HOUR)
    f.inbox = []
    assert f.outputs["generator_running"] is True
    assert f.outputs["icu_capacity"] == 20
    assert f.outputs["fuel_left"] == pytest.approx(1.0)  # the tank holds 1 h


def test_scheduled_delivery_tops_up_the_running_generator_to_the_tank() -> None:
    f = make({"generator_autonomy": 4.0, "refuel_schedule": [[3 * HOUR, 2.0], [4 * HOUR, 10.0]]})
    f.inputs["power"] = False
    f.step(HOUR)
    f.step(3 * HOUR)
    assert f.outputs["fuel_left"] == pytest.approx(4.0)  # 2 h left + 2 h delivered
    f.step(5 * HOUR)
    assert f.outputs["fuel_left"] == pytest.approx(3.0)  # full (4 h) at 4 h, then 1 h burnt
    f.step(8 * HOUR)
    assert f.outputs["generator_running"] is False


def test_received_transfers_are_admitted_and_own_ones_ignored() -> None:
    f = make({"icu_stay": 1e4})
    f.inbox = [
        Message(60.0, "north.transfers", "transfers", {"pool": "icu", "patients": 3, "from": "north"}),
        Message(60.0, "st_mary.transfers", "transfers", {"pool": "icu", "patients": 7, "from": "st_mary"}),
    ]
    f.step(60.0)
    assert f.outputs["icu_occupancy"] == 3
    assert f.outputs["transfers_received"] == 3


@pytest.mark.parametrize(
    ("endpoint", "payload", "match"),
    [
        ("transfers", {"pool": "morgue", "patients": 1, "from": "x"}, "'pool'"),
        ("transfers", {"pool": "icu", "patients": -2, "from": "x"}, "'patients'"),
        ("transfers", {"pool": "icu", "patients": 2}, "'from'"),
        ("transfers", [1, 2], "transfer message from 'x.out'"),
        ("fuel", {"litres": 300}, "fuel message from 'x.out'"),
    ],
)
def test_malformed_message_raises_naming_the_sender(endpoint: str, payload: Any, match: str) -> None:
    f = make({})
    f.inbox = [Message(60.0, "x.out", endpoint, payload)]
    with pytest.raises(ValueError, match=match):
        f.step(60.0)


def test_demand_is_building_plus_occupied_beds_and_zero_off_grid() -> None:
    params = {"ward_initial": 100, "icu_initial": 10, "ward_stay": 1e4, "icu_stay": 1e4, "ward_rate": 0.0}
    f = make({**params, "base_load": 1000.0, "ward_bed_power": 2.0, "icu_bed_power": 10.0})
    assert f.outputs["demand"] == pytest.approx(1.0 + 0.2 + 0.1)
    f.inputs["power"] = False
    f.step(60.0)
    assert f.outputs["demand"] == 0.0


def test_same_seed_gives_the_same_run_and_another_seed_does_not() -> None:
    def trace(seed: int) -> list[dict[str, Any]]:
        f = HospitalFederate(
            {"generator_autonomy": 6.0},
            Context(name="h", seed=seed, start=0.0, stop=1e6, resolution=1e-3, period=300.0),
        )
        f.setup()
        out = []
        for k in range(200):
            f.inputs["surge"] = 20.0 if 30 <= k < 60 else 0.0
            f.inputs["power"] = not 40 <= k < 120
            f.step(900.0 * k)
            out.append(dict(f.outputs))
        return out

    assert trace(3) == trace(3)
    assert trace(3) != trace(4)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"ward_beds": 0}, "ward_beds"),
        ({"icu_rate": -1.0}, "icu_rate"),
        ({"ward_stay": 0.0}, "ward_stay"),
        ({"icu_policy": "triage"}, "icu_policy"),
        ({"ward_stay_distribution": "weibull"}, "ward_stay_distribution"),
        ({"icu_initial": 21}, "icu_initial"),
        ({"icu_beds_blackout": 30}, "icu_beds_blackout"),
        ({"surge_icu_fraction": 1.5}, "surge_icu_fraction"),
        ({"refuel_schedule": [[10.0]]}, r"refuel_schedule\[0\]"),
    ],
)
def test_bad_parameter_is_named_in_the_error(params: dict[str, Any], name: str) -> None:
    context = Context(name="h", seed=1, start=0.0, stop=10.0, resolution=1e-3, period=300.0)
    with pytest.raises(ValueError, match=f"'{name}'"):
        HospitalFederate(params, context)


def test_transfers_reach_the_other_hospital_through_the_federation(run_scenario: Any) -> None:
    """End to end through the coordinator: north runs dry and sends its ICU patients south."""
    _, store = run_scenario(
        """
        name: transfers
        time: {start: 0, stop: 4 h, resolution: 1 s}
        seed: 1
        federates:
          north:
            type: hospital
            params: {generator_autonomy: 1.0, icu_rate: 0.0, icu_initial: 6, icu_stay: 1000.0}
          south:
            type: hospital
            params: {icu_rate: 0.0, icu_initial: 0, icu_stay: 1000.0}
        messages:
          - {from: north.transfers, to: south.transfers, lookahead: 30 min}
          - {from: south.transfers, to: north.transfers, lookahead: 30 min}
        events:
          - {at: 1 h, set: north.power, value: false}
        """
    )
    payload = {"pool": "icu", "patients": 6, "from": "north"}
    assert store.messages() == [(2 * HOUR + 1800.0, "north.transfers", "south.transfers", payload)]
    assert store.series("south.icu_occupancy").values[-1] == 6
    assert store.series("north.icu_occupancy").values[-1] == 0

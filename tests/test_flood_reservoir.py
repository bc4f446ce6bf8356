"""Validation of level-pool (storage-indication) reservoir routing and the dam's rating."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from federates.flood.reservoir import (
    BROAD_CRESTED,
    LevelPool,
    SluiceGate,
    Spillway,
    StageStorage,
    TabulatedRating,
)
from tests.references import PONCE_LINEAR_RESERVOIR_INFLOW, PONCE_LINEAR_RESERVOIR_OUTFLOW

G = 9.81

# A detention pond with vertical walls and a tabulated outflow rating (head -> m3/s).
POND_AREA = 4000.0  # m2
POND_HEADS = tuple(0.25 * k for k in range(25))  # 0 .. 6 m
POND_RATING = TabulatedRating(POND_HEADS, tuple(round(2.0 * h**1.5, 3) for h in POND_HEADS))
POND_TABLE = StageStorage(POND_HEADS, tuple(POND_AREA * h for h in POND_HEADS))


def triangular_inflow(t: float) -> float:
    """0 -> 6 m3/s at 60 min -> 0 at 180 min, then 0."""
    if t <= 3600.0:
        return 6.0 * t / 3600.0
    return max(6.0 * (10800.0 - t) / 7200.0, 0.0)


def route_pond(dt: float, stop: float = 5 * 3600.0) -> tuple[np.ndarray, np.ndarray, LevelPool, float]:
    """Route the triangular inflow; returns times, outflows, the pool and sum dt (I - O)."""
    pool = LevelPool(POND_TABLE, POND_RATING, 0.0)
    times, outflows, net = [0.0], [0.0], 0.0
    for k in range(round(stop / dt)):
        t0, t1 = k * dt, (k + 1) * dt
        mean_in = 0.5 * (triangular_inflow(t0) + triangular_inflow(t1))
        mean_out = pool.route(mean_in, dt, 0.0)
        net += dt * (mean_in - mean_out)
        times.append(t1)
        outflows.append(pool.outflow(0.0))
    return np.array(times), np.array(outflows), pool, net


def ode_reference(times: np.ndarray) -> np.ndarray:
    """Independent fine integration of dS/dt = I(t) - O(S) with scipy's solve_ivp."""

    def rhs(t: float, s: np.ndarray) -> list[float]:
        head = s[0] / POND_AREA
        return [triangular_inflow(t) - float(POND_RATING.discharge(np.asarray(head), 0.0))]

    sol = solve_ivp(rhs, (0.0, times[-1]), [0.0], t_eval=times, rtol=1e-10, atol=1e-8, max_step=5.0)
    return np.interp(sol.y[0] / POND_AREA, POND_HEADS, POND_RATING.discharge_m3s)


def textbook_storage_indication(dt: float, stop: float = 5 * 3600.0) -> np.ndarray:
    """The hand method (Chow, Maidment & Mays 1988, sec. 8.2): tabulate 2S/dt + O against O
    at the rows of the rating table, then step 2S2/dt + O2 = I1 + I2 + 2S1/dt - O1 and read
    O2 off the table by linear interpolation."""
    outflow = np.array(POND_RATING.discharge_m3s)
    indication = 2.0 * np.array(POND_TABLE.storage_m3) / dt + outflow
    o1, s1, out = 0.0, 0.0, [0.0]
    for k in range(round(stop / dt)):
        i1, i2 = triangular_inflow(k * dt), triangular_inflow((k + 1) * dt)
        si = i1 + i2 + 2.0 * s1 / dt - o1
        o2 = float(np.interp(si, indication, outflow))
        s1, o1 = (si - o2) * dt / 2.0, o2
        out.append(o2)
    return np.array(out)


def test_linear_reservoir_reproduces_the_published_storage_indication_table() -> None:
    """Ponce, 'onlinerouting02' (San Diego State University, 2007), storage-indication
    routing of a linear reservoir S = K O with K = 2 h and dt = 1 h; published outflows
    (rounded to 3 decimals) for the inflows 100, 150, ..., 100."""
    inflow = PONCE_LINEAR_RESERVOIR_INFLOW
    published = PONCE_LINEAR_RESERVOIR_OUTFLOW
    # level e (m) holds S = 3600 e (m3) and releases O = S / 7200 = e / 2 (m3/s)
    table = StageStorage((0.0, 10_000.0), (0.0, 3.6e7))
    pool = LevelPool(table, TabulatedRating((0.0, 10_000.0), (0.0, 5000.0)), 200.0)
    assert pool.outflow(0.0) == pytest.approx(100.0)
    for i1, i2, expected in zip(inflow, inflow[1:], published):
        pool.route(0.5 * (i1 + i2), 3600.0, 0.0)
        assert pool.outflow(0.0) == pytest.approx(expected, abs=6e-4)


def test_pond_routing_matches_a_fine_ode_integration() -> None:
    """Level-pool routing of a triangular inflow (storage-indication, dt = 10 min) against
    solve_ivp of dS/dt = I - O(S).  Measured: peak outflow 4.977 vs 4.949 m3/s (0.57 %),
    which is also the largest deviation; halving dt divides it by 4.4 (second order)."""
    times, outflow, _, _ = route_pond(600.0)
    exact = ode_reference(times)
    error_600 = np.abs(outflow - exact).max()
    assert abs(outflow.max() - exact.max()) < 0.01 * exact.max()
    assert error_600 < 0.01 * exact.max()
    times_300, outflow_300, _, _ = route_pond(300.0)
    error_300 = np.abs(outflow_300 - ode_reference(times_300)).max()
    assert error_300 < 0.3 * error_600, (error_600, error_300)


def test_pond_routing_matches_the_textbook_table_method() -> None:
    """With storage and outflow both linear in the head between table rows, the textbook
    table interpolation solves the storage-indication equation exactly, so it must agree
    with LevelPool to round-off."""
    _, outflow, _, _ = route_pond(600.0)
    assert np.allclose(outflow, textbook_storage_indication(600.0), rtol=1e-9, atol=1e-9)


def test_level_pool_conserves_water_to_round_off() -> None:
    """S_end - S_0 = sum dt (I_mean - O_mean)."""
    _, _, pool, net = route_pond(600.0)
    assert pool.storage == pytest.approx(net, rel=1e-12, abs=1e-6)


def test_a_long_step_on_a_small_pond_is_split_not_made_negative() -> None:
    """When O1 exceeds what 2 S1/dt can supply, the step is halved until it is consistent."""
    pool = LevelPool(POND_TABLE, POND_RATING, 1.0)
    pool.route(0.0, 6 * 3600.0, 0.0)
    assert 0.0 <= pool.storage < POND_AREA * 1.0


def test_spillway_follows_the_weir_equation() -> None:
    """Q = C L H^1.5 (Chow 1959, Open-Channel Hydraulics, ch. 14)."""
    spillway = Spillway(crest_m=101.0, width_m=50.0, coefficient=2.0)
    assert float(spillway.discharge(np.asarray(103.0))) == pytest.approx(2.0 * 50.0 * 2.0**1.5)
    assert float(spillway.discharge(np.asarray(100.0))) == 0.0


def test_sluice_gate_regimes() -> None:
    """Free weir flow at critical depth while the gate is clear of the water, orifice flow
    Cd B w sqrt(2 g (H - w/2)) once submerged (Henderson 1966, Open Channel Flow, sec. 6.4)."""
    gate = SluiceGate(sill_m=80.0, width_m=5.0, height_m=4.0, coefficient=0.6)
    deep = float(gate.discharge(np.asarray(97.0), 0.5))
    assert deep == pytest.approx(0.6 * 5.0 * 2.0 * math.sqrt(2 * G * (17.0 - 1.0)))
    shallow = float(gate.discharge(np.asarray(80.5), 1.0))
    assert shallow == pytest.approx(BROAD_CRESTED * 5.0 * 0.5**1.5)
    assert float(gate.discharge(np.asarray(97.0), 0.0)) == 0.0
    openings = np.linspace(0.0, 1.0, 11)
    flows = [float(gate.discharge(np.asarray(95.0), a)) for a in openings]
    assert all(b > a for a, b in itertools.pairwise(flows))


def test_gate_opening_increases_the_release_of_a_routed_pool() -> None:
    """Same inflow, same start: the pool with the open gate releases more and stays lower."""
    from federates.flood.reservoir import DamOutlet

    table = StageStorage((80.0, 100.0, 110.0), (0.0, 30e6, 80e6))
    outlet = DamOutlet(Spillway(101.0, 50.0, 2.0), SluiceGate(82.0, 5.0, 4.0, 0.6))
    closed = LevelPool(table, outlet, 99.0)
    opened = LevelPool(table, outlet, 99.0)
    for _ in range(12):
        closed.route(300.0, 300.0, 0.0)
        opened.route(300.0, 300.0, 1.0)
    assert opened.outflow(1.0) > closed.outflow(0.0) + 100.0
    assert opened.level < closed.level


def test_overtopping_beyond_the_table_is_a_clear_error() -> None:
    pool = LevelPool(POND_TABLE, POND_RATING, 5.0)
    with pytest.raises(ValueError, match="reservoir overtopped: the pool would rise above 9 m"):
        pool.route(1e4, 3600.0, 0.0)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[80.0, 0.0]], "at least two"),
        ([[80.0, 0.0], [79.0, 10.0]], "elevations must increase"),
        ([[80.0, 5.0], [81.0, 1.0]], "storages must be"),
        ("table", "must be \\[\\[elevation_m, storage_m3\\]"),
    ],
)
def test_bad_stage_storage_tables_are_rejected(rows: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StageStorage.from_rows(rows)

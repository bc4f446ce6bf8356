"""Validation of the rainfall-runoff model (linear reservoir / Nash cascade)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special

from federates.flood.hydrology import Catchment, Hyetograph, NashCascade, rain_to_discharge


def test_one_mm_per_hour_on_three_point_six_km2_is_one_cubic_metre_per_second() -> None:
    """Unit check: 1e-3 m / 3600 s * 3.6e6 m2 = 1 m3/s."""
    assert rain_to_discharge(1.0, 3.6) == pytest.approx(1.0, rel=1e-15)


def test_linear_reservoir_matches_its_analytic_solution() -> None:
    """Linear reservoir dS/dt = I - S/k (Chow, Maidment & Mays 1988, sec. 7.7): from empty
    under constant I, Q(t) = I (1 - exp(-t/k)); after the rain stops at T,
    Q(t) = Q(T) exp(-(t - T)/k).  Checked at every step to 1e-12 relative."""
    catchment = Catchment(area_km2=36.0, runoff_coefficient=0.5, k_s=3600.0, reservoirs=1)
    cascade = NashCascade(catchment)
    inflow = catchment.effective_inflow(10.0)  # 50 m3/s
    assert inflow == pytest.approx(50.0)
    dt, stop = 600.0, 4 * 3600.0
    for k in range(1, 13 * 6 + 1):
        t = k * dt
        cascade.advance(10.0 if t <= stop else 0.0, dt)
        if t <= stop:
            exact = inflow * (1.0 - math.exp(-t / catchment.k_s))
        else:
            exact = inflow * (1.0 - math.exp(-stop / catchment.k_s)) * math.exp(-(t - stop) / catchment.k_s)
        assert cascade.outflow == pytest.approx(exact, rel=1e-12)


def test_nash_cascade_step_response_is_the_incomplete_gamma_function() -> None:
    """Nash (1957): the IUH of n linear reservoirs is a gamma density, so the response to a
    constant input from empty is the S-curve Q(t) = I P(n, t/k) (regularised incomplete
    gamma function, here scipy.special.gammainc)."""
    n, k_s = 3, 1800.0
    catchment = Catchment(area_km2=100.0, runoff_coefficient=0.4, k_s=k_s, reservoirs=n)
    cascade = NashCascade(catchment)
    inflow = catchment.effective_inflow(5.0)
    t = 0.0
    for dt in (60.0, 300.0, 900.0, 1234.5, 3600.0, 7200.0):  # any step length: exact integration
        cascade.advance(5.0, dt)
        t += dt
        assert cascade.outflow == pytest.approx(inflow * scipy.special.gammainc(n, t / k_s), rel=1e-10)


def test_cascade_conserves_water() -> None:
    """Rain volume in = runoff volume out + water still stored, to round-off."""
    catchment = Catchment(area_km2=250.0, runoff_coefficient=0.6, k_s=5400.0, reservoirs=2)
    cascade = NashCascade(catchment)
    rain = [0.0, 12.0, 30.0, 30.0, 5.0, 0.0, 0.0, 0.0]
    out = sum(cascade.advance(r, 1800.0) for r in rain)
    volume_in = sum(catchment.effective_inflow(r) * 1800.0 for r in rain)
    assert out + cascade.volume == pytest.approx(volume_in, rel=1e-12)


def test_hyetograph_means_are_exact_for_the_step_function() -> None:
    """A piecewise-constant series: 0 before its first time, the last rate afterwards."""
    series = Hyetograph.from_pairs([[600.0, 12.0], [1200.0, 6.0], [1800.0, 0.0]])
    assert series.rate(0.0) == 0.0
    assert series.rate(900.0) == 12.0
    assert series.rate(10_000.0) == 0.0
    # 300 s of nothing, 600 s at 12 mm/h, 300 s at 6 mm/h over 1200 s -> 7.5 mm/h
    assert series.mean_rate(300.0, 1500.0) == pytest.approx((600 * 12 + 300 * 6) / 1200.0)
    assert series.depth(1e6) == pytest.approx(12.0 / 6 + 6.0 / 6)


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([[0.0, 1.0], [0.0, 2.0]], "increase strictly"),
        ([[0.0, -1.0]], "finite and >= 0"),
        ([[0.0]], "list of \\[t_s, mm_per_h\\] pairs"),
        ([], "non-empty"),
    ],
)
def test_bad_rainfall_series_are_rejected(pairs: list[list[float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Hyetograph.from_pairs(pairs)


def test_catchment_names_the_bad_parameter() -> None:
    with pytest.raises(ValueError, match="runoff_coefficient must be in \\[0, 1\\], got 1.5"):
        Catchment(area_km2=1.0, runoff_coefficient=1.5, k_s=1.0)


def test_negative_rain_is_an_error() -> None:
    cascade = NashCascade(Catchment(area_km2=1.0, runoff_coefficient=1.0, k_s=60.0))
    with pytest.raises(ValueError, match="got -1.0"):
        cascade.advance(-1.0, 60.0)
    assert np.all(cascade.storage == 0.0)

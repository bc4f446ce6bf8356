"""Validation of Muskingum channel routing and the gauges' Manning rating."""

from __future__ import annotations

import math

import pytest

from federates.flood.channel import Channel, GaugeRating, MuskingumRouter, Reach, muskingum_coefficients
from tests.references import PONCE_LINEAR_RESERVOIR_INFLOW as PONCE_INFLOW
from tests.references import PONCE_LINEAR_RESERVOIR_OUTFLOW

HOUR = 3600.0


def test_coefficients_of_the_textbook_example() -> None:
    """Chow, Maidment & Mays (1988), Applied Hydrology, Example 8.4.1: K = 2.3 h, X = 0.15,
    dt = 1 h give C1 = 0.0631, C2 = 0.3442, C3 = 0.5927 (their numbering), summing to 1."""
    c0, c1, c2 = muskingum_coefficients(2.3 * HOUR, 0.15, 1.0 * HOUR)
    assert (round(c0, 4), round(c1, 4), round(c2, 4)) == (0.0631, 0.3442, 0.5927)
    assert c0 + c1 + c2 == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize(("k_h", "x", "dt_h"), [(1.0, 0.0, 0.25), (12.0, 0.3, 1.0), (0.5, 0.5, 2.0)])
def test_coefficients_always_sum_to_one(k_h: float, x: float, dt_h: float) -> None:
    """C0 + C1 + C2 = 1 for any K, X, dt (continuity of a steady flow)."""
    assert sum(muskingum_coefficients(k_h * HOUR, x, dt_h * HOUR)) == pytest.approx(1.0, abs=1e-14)


def test_muskingum_with_x_zero_reproduces_the_published_linear_reservoir_table() -> None:
    """With X = 0 Muskingum is the linear reservoir: Ponce 'onlinerouting01' (K = 2 h,
    dt = 1 h) publishes the outflows 110, 146, 217.6, ... (rounded to 3 decimals)."""
    published = PONCE_LINEAR_RESERVOIR_OUTFLOW
    router = MuskingumRouter(Reach("out", 2 * HOUR, 0.0), 100.0)
    for inflow, expected in zip(PONCE_INFLOW[1:], published):
        assert router.route(inflow, HOUR) == pytest.approx(expected, abs=6e-4)


def test_reach_conserves_water_with_subreaches() -> None:
    """Volume in = volume out + change of Muskingum storage S = K [X I + (1-X) O] summed
    over the subreaches, to round-off (trapezoidal volumes, as the scheme assumes)."""
    router = MuskingumRouter(Reach("g", k_s=1800.0, x=0.25, subreaches=3), 20.0)
    storage0 = router.storage
    volume_in = volume_out = 0.0
    inflow_prev, outflow_prev = 20.0, 20.0
    for inflow in [20, 60, 300, 700, 500, 250, 120, 60, 30, 20, 20, 20]:
        outflow = router.route(float(inflow), 500.0)  # 2 (K/3) X = 300 s <= 500 s <= 900 s
        volume_in += 250.0 * (inflow_prev + inflow)
        volume_out += 250.0 * (outflow_prev + outflow)
        inflow_prev, outflow_prev = inflow, outflow
    assert volume_in - volume_out == pytest.approx(router.storage - storage0, rel=1e-12)
    assert router.storage > storage0  # water is still in the reach


def test_long_steps_are_split_in_time() -> None:
    """A step longer than 2 (K/n) (1-X) (where C2 < 0) is taken as substeps with the inflow
    interpolated linearly: identical to calling the short steps by hand."""
    reach = Reach("g", k_s=1800.0, x=0.25, subreaches=3)
    long, short = MuskingumRouter(reach, 20.0), MuskingumRouter(reach, 20.0)
    assert long.substeps_for(1500.0) == 2
    previous = 20.0
    for inflow in [60.0, 300.0, 700.0, 500.0, 250.0]:
        long.route(inflow, 1500.0)
        short.step(0.5 * (previous + inflow), 750.0)
        short.step(inflow, 750.0)
        previous = inflow
        assert long.outflow == pytest.approx(short.outflow, rel=1e-14)
    assert all(c >= 0.0 for c in muskingum_coefficients(600.0, 0.25, 750.0))


def test_channel_mass_balance_across_reaches() -> None:
    """Two reaches in series: what enters the first = what leaves the last + storage change,
    to round-off, so no water is lost at the junction between reaches."""
    channel = Channel((Reach("a", 2700.0, 0.2, 2), Reach("b", 3600.0, 0.25, 3)), 10.0)
    storage0 = channel.storage
    volume_in = volume_out = 0.0
    release_prev, last_prev = 10.0, 10.0
    for release in [10, 80, 400, 900, 650, 300, 120, 40, 10, 10, 10, 10, 10, 10]:
        discharges = channel.route(float(release), 300.0)  # no time substeps needed
        volume_in += 150.0 * (release_prev + release)
        volume_out += 150.0 * (last_prev + discharges[-1])
        release_prev, last_prev = release, discharges[-1]
    assert volume_in - volume_out == pytest.approx(channel.storage - storage0, rel=1e-12)


def test_routing_attenuates_and_delays_the_peak() -> None:
    """A Muskingum reach lowers and delays a flood peak (storage effect)."""
    router = MuskingumRouter(Reach("g", 2 * HOUR, 0.2, 1), 100.0)
    outflows = [router.route(float(q), HOUR) for q in PONCE_INFLOW[1:]]
    peak_in = PONCE_INFLOW.index(max(PONCE_INFLOW))
    assert max(outflows) < max(PONCE_INFLOW)
    assert outflows.index(max(outflows)) + 1 > peak_in


def test_automatic_subreaches_keep_c0_non_negative() -> None:
    """HEC-HMS practice: split a reach so that 2 (K/n) X <= dt."""
    n = Reach.subreaches_for(3600.0, 0.2, 300.0)
    assert n == 5
    assert muskingum_coefficients(3600.0 / n, 0.2, 300.0)[0] >= 0.0
    assert muskingum_coefficients(3600.0 / (n - 1), 0.2, 300.0)[0] < 0.0


def test_gauge_stage_follows_manning() -> None:
    """Manning, wide rectangular channel: Q = (1/n) B h^(5/3) sqrt(S0)."""
    rating = GaugeRating(width_m=60.0, slope=0.001, manning_n=0.035, datum_m=50.0)
    depth = rating.stage(450.0) - 50.0
    assert 60.0 * depth ** (5.0 / 3.0) * math.sqrt(0.001) / 0.035 == pytest.approx(450.0, rel=1e-12)
    assert rating.stage(0.0) == 50.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gauge": "g", "k_s": 0.0, "x": 0.2}, "k_s must be > 0"),
        ({"gauge": "g", "k_s": 60.0, "x": 0.7}, "x must be in \\[0, 0.5\\]"),
        ({"gauge": "city gauge", "k_s": 60.0, "x": 0.2}, "must be an identifier"),
    ],
)
def test_bad_reaches_name_the_problem(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Reach(**kwargs)  # type: ignore[arg-type]

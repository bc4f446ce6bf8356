"""Validation of the 1-D shallow-water solver against analytic dam-break solutions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize

from federates.flood.shallow_water import Boundary, ShallowWater1D, SolverSettings, hll_flux

G = 9.81
# Set-up of the frictionless dam breaks in SWASHES (Delestre et al. 2013, sec. 4.1):
# a 10 m channel, dam at x0 = 5 m, upstream depth 5 mm, solution at T = 6 s.
LENGTH, X0, H_LEFT, T_END = 10.0, 5.0, 0.005, 6.0


def centres(cells: int) -> np.ndarray:
    return (np.arange(cells) + 0.5) * LENGTH / cells


def settings(order: int, **kwargs: float) -> SolverSettings:
    return SolverSettings(order=order, cfl=0.9 if order == 1 else 0.45, **kwargs)  # type: ignore[arg-type]


def dam_break(cells: int, h_right: float, order: int) -> ShallowWater1D:
    """Run the dam break on a flat bed between two walls (no wave reaches them by T)."""
    x = centres(cells)
    depth = np.where(x < X0, H_LEFT, h_right)
    model = ShallowWater1D(np.zeros(cells), LENGTH / cells, depth=depth, settings=settings(order))
    model.advance(T_END)
    return model


def ritter(x: np.ndarray, t: float, h0: float) -> np.ndarray:
    """Ritter (1892) dry-bed dam break: rarefaction fan h = (2 c0 - xi)^2 / (9 g)."""
    c0 = math.sqrt(G * h0)
    xi = (x - X0) / t
    fan = (2.0 * c0 - xi) ** 2 / (9.0 * G)
    return np.where(xi <= -c0, h0, np.where(xi <= 2.0 * c0, fan, 0.0))


def stoker_star(h_left: float, h_right: float) -> tuple[float, float]:
    """Star depth and velocity of the wet dam break: left rarefaction meets right shock.

    Rarefaction: u* = 2 (c_L - c*); shock (Rankine-Hugoniot): u* = (h* - h_R) sqrt(g (h* + h_R) / (2 h* h_R)).
    """

    def mismatch(h: float) -> float:
        rarefaction = 2.0 * (math.sqrt(G * h_left) - math.sqrt(G * h))
        shock = (h - h_right) * math.sqrt(G * (h + h_right) / (2.0 * h * h_right))
        return rarefaction - shock

    h_star = scipy.optimize.brentq(mismatch, h_right, h_left, xtol=1e-15)
    return h_star, 2.0 * (math.sqrt(G * h_left) - math.sqrt(G * h_star))


def stoker(x: np.ndarray, t: float, h_left: float, h_right: float) -> np.ndarray:
    """Stoker (1957) wet dam break built from the star state above."""
    h_star, u_star = stoker_star(h_left, h_right)
    c_left, c_star = math.sqrt(G * h_left), math.sqrt(G * h_star)
    shock = h_star * u_star / (h_star - h_right)
    xi = (x - X0) / t
    fan = (2.0 * c_left - xi) ** 2 / (9.0 * G)
    return np.where(
        xi <= -c_left,
        h_left,
        np.where(xi <= u_star - c_star, fan, np.where(xi <= shock, h_star, h_right)),
    )


def l1_error(model: ShallowWater1D, exact: np.ndarray) -> float:
    return float(np.abs(model.h - exact).sum() * model.dx)


@pytest.mark.parametrize(("order", "min_rate", "max_error"), [(1, 0.6, 0.008), (2, 0.9, 0.0035)])
def test_ritter_l1_error_falls_as_the_grid_is_refined(order: int, min_rate: float, max_error: float) -> None:
    """Ritter (1892) dry-bed dam break, as in SWASHES (Delestre et al. 2013, sec. 4.1.2).

    Measured L1 errors (m2) for 100, 200, 400 cells: order 1: 4.57e-4, 2.87e-4, 1.80e-4
    (rate 0.67, 0.72 % of the volume at 400 cells); order 2: 2.54e-4, 1.31e-4, 6.69e-5
    (rate 0.96, 0.27 %).
    """
    errors = []
    for cells in (100, 200, 400):
        model = dam_break(cells, 0.0, order)
        errors.append(l1_error(model, ritter(centres(cells), T_END, H_LEFT)))
    assert errors[1] < 0.8 * errors[0] and errors[2] < 0.8 * errors[1], errors
    rate = math.log2(errors[0] / errors[2]) / 2
    assert rate > min_rate, (errors, rate)
    assert errors[2] < max_error * H_LEFT * X0, errors


@pytest.mark.parametrize(("order", "tolerance"), [(1, 0.04), (2, 0.01)])
def test_ritter_depth_at_the_dam_tends_to_four_ninths(order: int, tolerance: float) -> None:
    """Ritter (1892): the depth at the dam site stays at 4/9 h0 for all t > 0.

    Measured deviation for 100, 200, 400 cells: order 1: 8.6, 5.1, 3.0 %; order 2: 2.1,
    1.0, 0.50 %.
    """
    deviations = []
    for cells in (100, 200, 400):
        model = dam_break(cells, 0.0, order)
        at_dam = float(np.interp(X0, centres(cells), model.h))
        deviations.append(abs(at_dam - 4.0 / 9.0 * H_LEFT))
    assert deviations[2] < deviations[1] < deviations[0], deviations
    assert deviations[2] < tolerance * (4.0 / 9.0 * H_LEFT), deviations


@pytest.mark.parametrize(("order", "tolerance"), [(1, 0.08), (2, 0.06)])
def test_ritter_front_travels_at_twice_the_wave_celerity(order: int, tolerance: float) -> None:
    """Ritter (1892): the dry front is at x0 + 2 sqrt(g h0) t.

    The numerical front is smeared (the exact depth vanishes quadratically at the tip),
    so the front is located where the depth reaches 1 % of h0, and compared with where
    the exact solution does: x0 + (2 c0 - 3 sqrt(0.01 g h0)) t.  The error must fall with
    refinement; measured for 100, 200, 400 cells: order 1: 0.31, 0.28, 0.20 m (7.4 % of the
    2.66 m the front travels); order 2: 0.41, 0.28, 0.15 m (5.5 %).
    """
    c0 = math.sqrt(G * H_LEFT)
    threshold = 0.01 * H_LEFT
    exact_front = X0 + (2.0 * c0 - 3.0 * math.sqrt(G * threshold)) * T_END
    errors = []
    for cells in (100, 200, 400):
        model = dam_break(cells, 0.0, order)
        x = centres(cells)
        errors.append(abs(float(x[model.h > threshold].max()) - exact_front))
    assert errors[2] < errors[1] < errors[0], errors
    assert errors[2] < tolerance * 2.0 * c0 * T_END, errors


@pytest.mark.parametrize("order", [1, 2])
def test_ritter_conserves_mass_to_round_off(order: int) -> None:
    """Between two walls the scheme's fluxes telescope: volume is kept to round-off."""
    model = dam_break(400, 0.0, order)
    initial = H_LEFT * X0
    assert abs(model.volume - initial) < 1e-13 * initial
    assert model.boundary_inflow == 0.0
    assert model.h.min() >= 0.0


@pytest.mark.parametrize("order", [1, 2])
def test_stoker_star_depth_and_shock_position(order: int) -> None:
    """Stoker (1957) wet-bed dam break (SWASHES, Delestre et al. 2013, sec. 4.1.1).

    The star depth h* and the shock speed s = h* u* / (h* - h_R) are solved here from the
    rarefaction and Rankine-Hugoniot relations; the plateau of the numerical solution
    must match h* within 1 % and the shock must sit within 3 cells of s T.
    """
    h_right = 0.001
    h_star, u_star = stoker_star(H_LEFT, h_right)
    shock = X0 + h_star * u_star / (h_star - h_right) * T_END
    cells = 400
    model = dam_break(cells, h_right, order)
    x = centres(cells)
    c_star = math.sqrt(G * h_star)
    plateau = (x > X0 + (u_star - c_star) * T_END + 0.2) & (x < shock - 0.2)
    assert plateau.sum() > 10
    assert np.allclose(model.h[plateau], h_star, rtol=0.01), (
        model.h[plateau].min(),
        model.h[plateau].max(),
        h_star,
    )
    mid_depth = 0.5 * (h_star + h_right)
    numerical_shock = float(x[model.h > mid_depth].max())
    assert abs(numerical_shock - shock) < 3 * LENGTH / cells, (numerical_shock, shock)


@pytest.mark.parametrize("order", [1, 2])
def test_stoker_l1_error_falls_as_the_grid_is_refined(order: int) -> None:
    """Stoker (1957) full profile: L1 error decreases with 100, 200, 400 cells.

    Measured (m2): order 1: 4.09e-4, 2.26e-4, 1.30e-4; order 2: 2.59e-4, 1.32e-4, 6.78e-5.
    """
    errors = []
    for cells in (100, 200, 400):
        model = dam_break(cells, 0.001, order)
        errors.append(l1_error(model, stoker(centres(cells), T_END, H_LEFT, 0.001)))
    assert errors[2] < 0.8 * errors[1] < 0.64 * errors[0], errors


@pytest.mark.parametrize("order", [1, 2])
def test_lake_at_rest_over_an_emerging_bump_stays_at_rest(order: int) -> None:
    """Hydrostatic reconstruction is well balanced (Audusse et al. 2004, theorem 2.1):
    a flat surface over a bump that pierces it, with dry cells, must not move."""
    cells = 200
    x = centres(cells)
    bed = np.maximum(0.0, 0.25 - 0.05 * (x - 5.0) ** 2) * 4.0  # bump up to 1 m
    depth = np.maximum(0.5 - bed, 0.0)
    model = ShallowWater1D(bed, LENGTH / cells, depth=depth, settings=settings(order, manning_n=0.03))
    model.advance(30.0)
    assert np.abs(model.hu).max() < 1e-12
    assert np.abs(model.h - depth).max() < 1e-12


@pytest.mark.parametrize("order", [1, 2])
def test_inflow_volume_is_exact_for_a_linear_hydrograph(order: int) -> None:
    """The inflow end imposes the mass flux: a linear q(t) brings in exactly (q0 + q1)/2 T,
    and volume change equals the net boundary flux to round-off (wet/dry front on a slope)."""
    cells = 120
    x = centres(cells)
    model = ShallowWater1D(
        1.0 - 0.01 * x,
        LENGTH / cells,
        left=Boundary.INFLOW,
        right=Boundary.WALL,
        settings=settings(order, manning_n=0.04),
    )
    model.advance(20.0, 0.0, 0.02)
    assert model.boundary_inflow == pytest.approx(0.5 * 0.02 * 20.0, rel=1e-12)
    assert model.volume == pytest.approx(model.boundary_inflow, rel=1e-12)
    assert model.h.min() >= 0.0


def test_transmissive_end_drains_a_sloping_floodplain() -> None:
    """Water on a downhill bed leaves through a transmissive end; the volume lost equals
    the recorded outflow to round-off."""
    cells = 100
    x = centres(cells)
    model = ShallowWater1D(
        0.5 - 0.01 * x,
        LENGTH / cells,
        depth=np.full(cells, 0.05),
        right=Boundary.TRANSMISSIVE,
        settings=SolverSettings(manning_n=0.03),
    )
    initial = model.volume
    model.advance(120.0)
    assert model.volume < 0.2 * initial
    assert initial + model.boundary_inflow == pytest.approx(model.volume, abs=1e-14)


def test_hll_flux_of_identical_states_is_the_physical_flux() -> None:
    """Consistency of the HLL flux (Harten, Lax & van Leer 1983): F(U, U) = F(U)."""
    h = np.array([0.0, 0.3, 2.0, 1.0])
    u = np.array([0.0, -1.5, 0.4, 5.0])
    f_h, f_hu, _ = hll_flux(h, u, h, u, G)
    assert np.allclose(f_h, h * u)
    assert np.allclose(f_hu, h * u * u + 0.5 * G * h * h)


def test_settings_reject_an_unstable_courant_number() -> None:
    with pytest.raises(ValueError, match="cfl must be in"):
        SolverSettings(cfl=1.5)
    with pytest.raises(ValueError, match="cfl must be <= 0.5 for order 2"):
        SolverSettings(order=2, cfl=0.9)

"""The 2-D solvers against independent references (each cited where used).

The references are written here: Ritter's analytic dam break, a 1-D finite-volume solution
of the radially symmetric shallow-water equations (Rusanov fluxes, not the solver's HLL),
the final levels of the Environment Agency's 2-D benchmark tests 1 and 2 (Néelz &
Pender, "Benchmarking the latest generation of 2D hydraulic modelling packages", EA report
SC120002, 2013), computed from the terrain alone by filling it like a bathtub, and the
analytic slow flood wave over a rough plane (Hunter et al. 2005, test 1 of Bates et al. 2010).
Both schemes (full shallow water, local inertia) meet the references where they are valid;
the compiled (numba) and NumPy paths are checked against each other.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from federates.flood import kernels_2d
from federates.flood.local_inertia import InertialSettings, LocalInertia2D
from federates.flood.shallow_water_2d import Edge, Kernel, Settings2D, ShallowWater2D

G = 9.81
SCHEMES = ("swe", "inertial")


def model_of(scheme: str, bed: np.ndarray, dx: float, kernel: Kernel = Kernel.AUTO, **kwargs: object) -> ShallowWater2D:
    """A solver of ``scheme`` ('swe' or 'inertial') on ``bed``."""
    if scheme == "inertial":
        return LocalInertia2D(bed, dx, settings=InertialSettings(kernel=kernel), **kwargs)  # type: ignore[arg-type]
    return ShallowWater2D(bed, dx, settings=Settings2D(kernel=kernel), **kwargs)  # type: ignore[arg-type]


def ritter(x: np.ndarray, t: float, h0: float, x0: float) -> np.ndarray:
    """Ritter (1892): dam break over a dry frictionless bed, depth h0 upstream of x0."""
    c0 = math.sqrt(G * h0)
    xi = (x - x0) / t
    return np.where(xi <= -c0, h0, np.where(xi >= 2 * c0, 0.0, (2 * c0 - xi) ** 2 / (9 * G)))


@pytest.mark.parametrize("cells", [200, 400])
def test_ritter_dam_break_along_either_axis(cells: int) -> None:
    """SWASHES set-up (Delestre et al. 2013, sec. 4.1.1): 10 m, dam at 5 m, h0 = 5 mm, t = 6 s,
    walls.  Along x and along y (the grid transposed) the depth is identical to round-off and
    its L1 error against Ritter falls with refinement as first order does (measured 3.09e-4 m²
    at 200 cells, 2.03e-4 m² at 400; the 1-D solver's order 1: 2.87e-4 and 1.80e-4)."""
    dx = 10.0 / cells
    x = (np.arange(cells) + 0.5) * dx
    depth = np.where(x < 5.0, 0.005, 0.0)
    along_x = ShallowWater2D(np.zeros((3, cells)), dx, depth=np.tile(depth, (3, 1)))
    along_y = ShallowWater2D(np.zeros((cells, 3)), dx, depth=np.tile(depth[:, None], (1, 3)))
    along_x.advance(6.0)
    along_y.advance(6.0)
    np.testing.assert_allclose(along_y.depth.T, along_x.depth, atol=1e-15)
    assert np.ptp(along_x.depth, axis=0).max() < 1e-15  # uniform across the channel
    error = float(np.abs(along_x.depth[1] - ritter(x, 6.0, 0.005, 5.0)).sum() * dx)
    assert error < {200: 3.4e-4, 400: 2.2e-4}[cells]
    assert along_x.volume == pytest.approx(0.005 * 5.0 * 3 * dx, rel=1e-13)


def radial_reference(r_max: float, cells: int, h_in: float, h_out: float, r0: float, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Radially symmetric shallow water, h_t + (hu)_r = -hu/r, (hu)_t + (hu² + gh²/2)_r = -hu²/r,
    by first-order finite volumes with Rusanov fluxes (Toro 2001, ch. 10, the geometric
    source terms at cell centres) on a fine 1-D grid; wall at r = 0."""
    dr = r_max / cells
    r = (np.arange(cells) + 0.5) * dr
    h, q = np.where(r < r0, h_in, h_out), np.zeros(cells)
    time = 0.0
    while time < t:
        hg = np.concatenate(([h[0]], h, [h[-1]]))
        qg = np.concatenate(([-q[0]], q, [q[-1]]))
        u = qg / hg
        flux_h, flux_q = qg, qg * u + 0.5 * G * hg * hg
        speed = np.abs(u) + np.sqrt(G * hg)
        a = np.maximum(speed[:-1], speed[1:])
        fh = 0.5 * (flux_h[:-1] + flux_h[1:]) - 0.5 * a * (hg[1:] - hg[:-1])
        fq = 0.5 * (flux_q[:-1] + flux_q[1:]) - 0.5 * a * (qg[1:] - qg[:-1])
        dt = min(0.4 * dr / speed.max(), t - time)
        h, q = (h - dt / dr * (fh[1:] - fh[:-1]) - dt * q / r,
                q - dt / dr * (fq[1:] - fq[:-1]) - dt * q * q / (h * r))
        time += dt
    return r, h


@pytest.mark.parametrize("dx", [0.5, 0.25])
def test_radial_dam_break_matches_the_1d_radial_solution(dx: float) -> None:
    """A cylinder of 2 m water (radius 10 m) in 0.5 m water, frictionless, after 1.5 s: the
    2-D depth is symmetric in x and y, and its mean deviation from the 1-D radial solution
    (4000 cells; 1 mm from its 8000-cell solution) falls at first order with the grid:
    measured 3.34 cm at dx = 0.5 m, 1.86 cm at 0.25 m (and 0.97 cm at 0.125 m)."""
    n = int(40 / dx)
    centres = (np.arange(n) + 0.5) * dx - 20.0
    xx, yy = np.meshgrid(centres, centres)
    radius = np.hypot(xx, yy)
    model = ShallowWater2D(np.zeros((n, n)), dx, depth=np.where(radius < 10.0, 2.0, 0.5))
    model.advance(1.5)
    np.testing.assert_allclose(model.depth, model.depth.T, atol=1e-12)
    r, h = radial_reference(30.0, 4000, 2.0, 0.5, 10.0, 1.5)
    error = float(np.abs(model.depth - np.interp(radius, r, h)).mean())
    assert error < {0.5: 0.036, 0.25: 0.020}[dx]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_lake_at_rest_stays_at_rest(scheme: str) -> None:
    """C-property (Audusse et al. 2004): still water at 1 m over a bump that emerges, rough bed,
    cells without data inside: no velocity appears and the surface does not move (the
    local-inertia scheme: no surface slope, no discharge)."""
    n = 40
    xx, yy = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5)
    bed = np.maximum(0.0, 1.5 - 0.02 * ((xx - 20) ** 2 + (yy - 20) ** 2)) + 0.01 * np.sin(xx)
    bed[5:8, 30:33] = np.nan
    depth = np.where(np.isfinite(bed), np.maximum(0.0, 1.0 - np.nan_to_num(bed)), 0.0)
    model = model_of(scheme, bed, 1.0, depth=depth, manning_n=0.03)
    surface = model.surface.copy()
    model.advance(30.0)
    assert np.abs(model.hu).max() < 1e-12 and np.abs(model.hv).max() < 1e-12
    if isinstance(model, LocalInertia2D):
        assert np.abs(model.qx).max() < 1e-12 and np.abs(model.qy).max() < 1e-12
    wet = depth > 0
    assert np.abs(model.surface[wet] - surface[wet]).max() < 1e-12
    assert model.depth[~np.isfinite(bed)].max() == 0.0


def rough_terrain() -> np.ndarray:
    """Rough random terrain rising to the east, a few cells without data."""
    rng = np.random.default_rng(3)
    bed = rng.uniform(0.0, 0.4, (30, 45)) + 0.002 * np.arange(45)[None, :] * 10.0
    bed[0, :5] = np.nan
    return bed


def wet_and_drain(model: ShallowWater2D, seconds: float = 900.0) -> None:
    """Rain and two inflows for ``seconds``, then as long again without them."""
    cells = (model.flat_cells(np.arange(10, 14), np.full(4, 44)), model.flat_cells(np.array([3]), np.array([20])))
    model.advance(seconds, rain=20.0 / 3.6e6, inflows=((cells[0], 15.0), (cells[1], 2.0)))
    model.advance(seconds)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_mass_balance_closes_to_round_off(scheme: str) -> None:
    """Rough random terrain, rain, two inflows and an open edge: the volume on the grid
    equals rain + inflow - outflow to round-off after 30 min of wetting and draining."""
    model = model_of(scheme, rough_terrain(), 10.0, manning_n=0.04, open_edges=frozenset({Edge.WEST}))
    wet_and_drain(model)
    ledger = model.ledger
    assert ledger.outflow > 500.0 and ledger.inflow == pytest.approx(17.0 * 900.0, rel=1e-12)
    assert abs(model.volume - ledger.net) < 1e-12 * (ledger.inflow + ledger.rain)


def bathtub_level(bed: np.ndarray, cells: np.ndarray, volume: float, area: float) -> float:
    """The level L at which sum over ``cells`` of (L - z)+ times the cell area holds ``volume``."""
    z = np.sort(bed[cells])
    low, high = z[0], z[-1] + volume / (area * z.size) + 1.0
    for _ in range(100):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if np.clip(mid - z, 0.0, None).sum() * area < volume else (low, mid)
    return 0.5 * (low + high)


def ea_test1_bed() -> np.ndarray:
    """EA test 1 ('flooding a disconnected water body'), built from the published description:
    a 700 m x 100 m strip whose ground falls away behind a ridge, so that a low area is
    only reached once the water overtops the ridge (20 m cells here): a basin at 9.5 m
    upstream, a ridge cresting at 10.25 m at x = 350 m, a pond floor at 9.0 m downstream."""
    x = (np.arange(35) + 0.5) * 20.0
    profile = np.where(x < 300, 9.5, np.where(x < 350, 9.5 + 0.75 * (x - 300) / 50,
                                              np.where(x < 400, 10.25 - 1.25 * (x - 350) / 50, 9.0)))
    return np.tile(profile, (5, 1))


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize(("volume", "overtops"), [(12_000.0, False), (80_000.0, True)])
def test_ea_test1_disconnected_water_body_final_levels(volume: float, overtops: bool, scheme: str) -> None:
    """Water enters at the upstream end of the EA test 1 strip (closed edges, n = 0.03).
    Below the ridge's capacity the pond stays dry and the basin settles at its bathtub
    level; above it the water overtops the ridge and both settle at one level, the bathtub
    level of the whole strip.  Final levels within 5 mm after 3 h."""
    bed = ea_test1_bed()
    model = model_of(scheme, bed, 20.0, manning_n=0.03)
    inflow = model.flat_cells(np.arange(5), np.zeros(5, dtype=int))
    model.advance(3600.0, inflows=((inflow, volume / 3600.0),))
    model.advance(3 * 3600.0)
    area, upstream = 400.0, np.zeros(bed.shape, dtype=bool)
    upstream[:, :17] = True
    if overtops:
        level = bathtub_level(bed, np.ones(bed.shape, dtype=bool), volume, area)
        assert level > 10.25
        assert np.abs(model.surface - level).max() < 5e-3
    else:
        level = bathtub_level(bed, upstream & (bed < 10.25), volume, area)
        assert level < 10.25
        assert model.depth[:, 20:].max() == 0.0  # the pond is never reached
        wet = model.depth > 2e-3
        assert np.abs(model.surface[wet] - level).max() < 5e-3
    assert model.volume == pytest.approx(volume, rel=1e-12)


def ea_test2_bed(dx: float) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """EA test 2 ('filling of floodplain depressions'), from the published description: a
    2 km square with a 4 x 4 matrix of ~0.5 m deep depressions made by multiplying sinusoids
    west-east and north-south, on slopes of 1:3000 west-east and 1:1500 north-south (about
    2 m drop along the diagonal).  Returns the bed and the cells of the 16 minima."""
    n = int(2000 / dx)
    centre = (np.arange(n) + 0.5) * dx
    south, east = np.meshgrid(centre, centre, indexing="ij")
    bed = 2.0 - south / 1500.0 - east / 3000.0 - 0.5 * np.sin(np.pi * east / 500.0) ** 2 * np.sin(np.pi * south / 500.0) ** 2
    lowest = (bed == ndimage.minimum_filter(bed, 3, mode="nearest")) & (south < 2000 - dx) & (east < 2000 - dx)
    minima = [(int(r), int(c)) for r, c in np.argwhere(lowest)]  # row-major: north-west first
    assert len(minima) == 16
    return bed, minima


def lake(bed: np.ndarray, level: float, at: tuple[int, int]) -> np.ndarray:
    """Cells of the connected region below ``level`` that holds ``at``."""
    labels = ndimage.label(bed < level)[0]
    return np.asarray(labels == labels[at])


def spill(bed: np.ndarray, minima: list[tuple[int, int]], k: int) -> tuple[float, int]:
    """Spill level of depression k, by bisection on the level at which its lake first holds
    another minimum, and the depression it spills into: steepest descent from the lowest
    cell on its rim."""
    low, high = float(bed[minima[k]]), float(bed.max())
    for _ in range(60):
        mid = 0.5 * (low + high)
        region = lake(bed, mid + 1e-12, minima[k])
        low, high = (low, mid) if any(region[m] for j, m in enumerate(minima) if j != k) else (mid, high)
    inside = lake(bed, low, minima[k])
    rim = ndimage.binary_dilation(inside) & ~inside
    cell = tuple(int(i) for i in np.unravel_index(np.argmin(np.where(rim, bed, np.inf)), bed.shape))
    while True:
        r, c = cell
        steps = [(r + dr, c + dc) for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1))
                 if 0 <= r + dr < bed.shape[0] and 0 <= c + dc < bed.shape[1] and not inside[r + dr, c + dc]]
        lowest = min(steps, key=lambda p: bed[p])
        if bed[lowest] >= bed[cell]:
            return low, minima.index(cell)
        cell = lowest


@pytest.mark.parametrize("scheme", SCHEMES)
def test_ea_test2_filling_floodplain_depressions_final_levels(scheme: str) -> None:
    """EA test 2's inflow (a triangle peaking at 20 m3/s, 85 min base, on a 100 m line from
    the north-west corner going south, 51 000 m3) fills the north-west depression to its
    spill level and overflows into the depression below its lowest rim cell, which fills to
    its own spill level and overflows in turn.  Reference from the terrain alone: spill
    levels by bisection on the connected region below a level, the receiving depression by
    steepest descent from the rim.  After 24 h (50 m cells, n = 0.03) those two lakes stand
    at their spill levels within 1 cm, and no lake anywhere stands above its outlet.
    (Further down, the overflow splits between saddles that differ by centimetres, as the
    dynamics decide; the terrain alone does not fix those levels, so they are not checked.)"""
    dx = 50.0
    bed, minima = ea_test2_bed(dx)
    spills = [spill(bed, minima, k) for k in range(16)]
    first, second = spills[0], spills[spills[0][1]]
    capacity = float(np.clip(first[0] - bed[lake(bed, first[0], minima[0])], 0, None).sum() * dx * dx)
    assert 2 * capacity < 0.5 * 20.0 * 85 * 60.0  # the first two depressions overflow
    model = model_of(scheme, bed, dx, manning_n=0.03)
    line = model.flat_cells(np.arange(2), np.zeros(2, dtype=int))
    rising, falling = 20.0 * 60.0, 65.0 * 60.0
    for start, rate in ((0.0, 5.0), (rising / 2, 15.0), (rising, 15.0), (rising + falling / 2, 5.0)):
        span = rising / 2 if start < rising else falling / 2
        model.advance(span, inflows=((line, rate),))
    model.advance(24 * 3600.0 - 85 * 60.0)
    assert model.volume == pytest.approx(0.5 * 20.0 * 85 * 60.0, rel=1e-12)
    assert abs(model.surface[minima[0]] - first[0]) < 0.01
    assert abs(model.surface[minima[first[1]]] - second[0]) < 0.01
    for (level, _), m in zip(spills, minima):  # no lake stands above its outlet
        assert model.depth[m] == 0.0 or model.surface[m] < level + 0.01


def hunter_wave(x: np.ndarray, t: float, u: float, n: float) -> np.ndarray:
    """Hunter et al. (2005): a flood wave advancing at constant speed u over a horizontal plane
    with Manning n, h = (7/3 n^2 u^2 (u t - x))^(3/7) behind its front x = u t, dry beyond;
    it solves the shallow-water equations exactly (advection and acceleration cancel)."""
    return np.where(x < u * t, (7.0 / 3.0 * n * n * u * u * np.clip(u * t - x, 0.0, None)) ** (3.0 / 7.0), 0.0)


@pytest.mark.parametrize(("scheme", "mean_bound", "front_bound"), [("swe", 0.005, 120.0), ("inertial", 0.02, 170.0)])
def test_slow_flood_wave_over_a_rough_plane(scheme: str, mean_bound: float, front_bound: float) -> None:
    """Test 1 of Bates et al. (2010): u = 1 m/s, n = 0.01, the discharge q(0, t) = u h(0, t)
    fed into the first cells, 25 m cells, after 1 h.  Depth behind x = 3 km against the
    analytic profile, measured mean |dh| 0.35 cm (swe) and 1.7 cm (inertial: it leaves out
    advection, worth Fr^2 ~ 0.1 here); front (h = 1 cm) 3688 m and 3463 m against 3600 m."""
    u, n, dx, hour = 1.0, 0.01, 25.0, 3600.0
    x = (np.arange(200) + 0.5) * dx
    model = model_of(scheme, np.zeros((2, 200)), dx, manning_n=n)
    inflow = model.flat_cells(np.arange(2), np.zeros(2, dtype=int))
    volume = lambda t: u * (7.0 / 3.0 * n * n * u**3) ** (3.0 / 7.0) * 0.7 * t ** (10.0 / 7.0)  # noqa: E731
    for t in np.arange(0.0, hour, 10.0):
        model.advance(10.0, inflows=((inflow, (volume(t + 10.0) - volume(t)) / 10.0 * 2 * dx),))
    exact, depth = hunter_wave(x, hour, u, n), model.depth[0]
    assert np.array_equal(model.depth[0], model.depth[1])
    assert np.abs(depth - exact)[x < 3000.0].mean() < mean_bound
    assert abs(x[np.argmax(depth < 0.01)] - u * hour) < front_bound
    assert model.volume == pytest.approx(volume(hour) * 2 * dx, rel=1e-12)


@pytest.mark.parametrize(("theta", "cfl", "stable"), [(0.9, 0.65, True), (1.0, 0.7, True), (0.8, 0.7, False)])
def test_inertial_stability_limit_is_cfl_squared_below_theta_over_two(theta: float, cfl: float, stable: bool) -> None:
    """Without friction the local-inertia scheme is stable in 2-D only for cfl^2 <= theta/2
    (the checkerboard mode; local_inertia's docstring).  The lake at rest, frictionless, for
    5 min: round-off stays round-off inside the limit and grows to a visible checkerboard at
    Bates et al.'s alpha = 0.7 with theta = 0.8 (which the settings therefore refuse)."""
    n = 40
    xx, yy = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5)
    bed = np.maximum(0.0, 1.5 - 0.02 * ((xx - 20) ** 2 + (yy - 20) ** 2)) + 0.01 * np.sin(xx)
    model = LocalInertia2D(bed, 1.0, depth=np.maximum(0.0, 1.0 - bed))
    limit = math.sqrt(theta / 2.0)
    object.__setattr__(model.settings, "theta", theta)  # past the settings' check, to show why it is there
    object.__setattr__(model.settings, "cfl", cfl)
    assert (cfl <= limit) is stable
    model.advance(300.0)
    assert bool(np.abs(model.qx).max() < 1e-12) == stable


def test_power_7_3_is_within_1e_10_of_the_library_cube_root() -> None:
    """h^(7/3) of the friction of both schemes (bit guess, two Householder steps) over depths
    from 0.1 mm to 10 km."""
    x = np.geomspace(1e-4, 1e4, 100_001)
    assert np.abs(kernels_2d.power_7_3_of_array(x) / (x * x * np.cbrt(x)) - 1.0).max() < 1e-10


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="cfl must be in"):
        Settings2D(cfl=0.9)
    with pytest.raises(ValueError, match=r"cfl must be in \(0, 0.707\] for the local-inertia scheme with theta = 1 "):
        InertialSettings(cfl=0.8, theta=1.0)
    with pytest.raises(ValueError, match="theta must be in"):
        InertialSettings(theta=0.2)
    with pytest.raises(ValueError, match="at least 2 x 2"):
        ShallowWater2D(np.zeros((1, 5)), 1.0)


# ---------------------------------------------------------------------- compiled and NumPy paths
numba = pytest.importorskip("numba", reason="the compiled path needs numba: pip install 'federation[fast]'")


def drained(scheme: str, kernel: Kernel) -> ShallowWater2D:
    model = model_of(scheme, rough_terrain(), 10.0, kernel, manning_n=0.04, open_edges=frozenset({Edge.WEST}),
                     depth=np.where(np.arange(45)[None, :] > 40, 0.5, 0.0) * np.ones((30, 1)))  # fmt: skip
    wet_and_drain(model, 600.0)
    return model


@pytest.mark.parametrize("scheme", SCHEMES)
def test_compiled_and_numpy_paths_are_bit_identical(scheme: str) -> None:
    """Wetting, draining, rain, inflows, an open edge, cells without data: the numba kernels
    do the NumPy path's operations one for one (h^(7/3) with multiplications, not a library
    cube root), and what they skip (dry faces, dry still columns) changes nothing."""
    fast, numpy = drained(scheme, Kernel.NUMBA), drained(scheme, Kernel.NUMPY)
    state = ("h", "qx", "qy") if scheme == "inertial" else ("h", "hu", "hv")
    for name in (*state, "max_depth"):
        assert np.array_equal(getattr(fast, name), getattr(numpy, name)), name
    assert (fast.time, fast.ledger) == (numpy.time, numpy.ledger)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_compiled_results_do_not_depend_on_the_threads(scheme: str) -> None:
    """A box above kernels_2d.PARALLEL_MIN_CELLS runs in parallel over blocks of rows; with
    one thread it runs serially.  No reduction depends on the threads: the bits agree."""
    n = int(np.ceil(np.sqrt(kernels_2d.PARALLEL_MIN_CELLS))) + 10
    yy, xx = np.mgrid[0:n, 0:n]
    bed = 0.002 * xx + 0.2 * np.sin(yy / 7.0) * np.cos(xx / 5.0)
    runs, blocks = [], []
    threads = numba.get_num_threads()
    try:
        for count in sorted({1, threads}):
            numba.set_num_threads(count)
            model = model_of(scheme, bed, 10.0, Kernel.NUMBA, manning_n=0.03, depth=np.where(xx < 10, 1.0, 0.2))
            model.advance(120.0)
            b = model.box
            blocks.append(kernels_2d.blocks(np.array((b[0] + 1, b[1] + 1, b[2] + 1, b[3] + 1))))
            runs.append(np.concatenate([model.h.ravel(), model.max_depth.ravel()]))
    finally:
        numba.set_num_threads(threads)
    assert blocks == sorted({0, threads if threads > 1 else 0})  # serial with one thread, parallel with all
    assert all(np.array_equal(runs[0], run) for run in runs)

"""Two-dimensional shallow-water equations on a regular grid: inundation of real terrain.

Conserved variables per cell are the depth ``h`` (m) and the unit discharges ``hu``,
``hv`` (m2/s) over a bed ``z(x, y)``::

    h_t + (hu)_x + (hv)_y = r + s
    (hu)_t + (hu^2 + g h^2/2)_x + (huv)_y = -g h z_x - g n^2 |U| hu / h^(4/3)
    (hv)_t + (huv)_x + (hv^2 + g h^2/2)_y = -g h z_y - g n^2 |U| hv / h^(4/3)

with rain ``r`` and inflow sources ``s``.  The scheme is the 2-D extension of
:mod:`.shallow_water` (the two share :func:`~.shallow_water.hll_flux`): first-order
finite volumes, unsplit, with HLL fluxes and Toro's wave speeds at every face in x and
y, the hydrostatic reconstruction of Audusse et al. (2004) (a lake at rest stays at rest,
depths stay non-negative, wet/dry fronts need no special case), the tangential momentum
upwinded with the mass flux, and a semi-implicit Manning friction per cell.

* Time step: ``dt = cfl * dx / max |wave speed|`` with ``cfl <= 0.5`` (positivity of the
  unsplit 2-D update), also bounded by the water the sources add over the step, sub-stepped
  inside :meth:`ShallowWater2D.advance`.
* Two paths compute the same steps to the bit: NumPy, and compiled kernels (numba, in
  parallel over rows; :mod:`.kernels_2d`) when numba is installed (``Settings2D.kernel``).
* Cells without data are walls: their bed is raised far above the terrain, so the
  reconstruction gives them no water and a reflecting pressure.  So are the grid's
  edges, except those declared open: there the state is continued (zero gradient) with
  the bed continued downhill, and water leaves at about normal depth.
* Only the wet part of the grid is computed: a box around the wet cells, the inflow
  cells (and, while it rains, the whole grid), grown by a margin whenever water reaches
  its border and shrunk back from time to time.  Cells outside it are dry and stay so.
* Mass is conserved to round-off: the face fluxes cancel in pairs, so the volume changes
  only by rain, inflows and the flux through open edges, all of which are counted.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from . import kernels_2d
from .shallow_water import hll_flux

__all__ = ["Edge", "Kernel", "Settings2D", "ShallowWater2D"]

Grid = NDArray[np.float64]
WALL_HEIGHT_M = 1.0e4  # bed of a no-data cell or a closed edge, above the highest terrain


class Kernel(enum.Enum):
    """How the solver's steps are computed: the same scheme either way."""

    AUTO = "auto"  # compiled when numba is installed, else NumPy
    NUMPY = "numpy"
    NUMBA = "numba"  # compiled (kernels_2d), in parallel over rows


class Edge(enum.Enum):
    """An edge of the grid; north is row 0."""

    NORTH = "north"
    SOUTH = "south"
    WEST = "west"
    EAST = "east"


@dataclass(frozen=True)
class Settings2D:
    """Numerical settings of the 2-D solver."""

    gravity: float = 9.81  # m/s2
    cfl: float = 0.45  # Courant number, <= 0.5
    dry_depth: float = 1e-6  # m; below this a cell carries no velocity
    margin: int = 4  # cells added around the wet box when it grows
    max_substeps: int = 1_000_000  # per call of advance(); guards against a stalled step
    kernel: Kernel = Kernel.AUTO

    def __post_init__(self) -> None:
        if not 0.0 < self.cfl <= 0.5:
            raise ValueError(f"cfl must be in (0, 0.5] for the 2-D scheme, got {self.cfl!r}")
        self._check_common()

    def _check_common(self) -> None:
        if not self.dry_depth > 0:
            raise ValueError(f"dry_depth must be > 0, got {self.dry_depth!r}")
        if self.margin < 1:
            raise ValueError(f"margin must be >= 1 cell, got {self.margin!r}")
        if self.kernel is Kernel.NUMBA and not kernels_2d.AVAILABLE:
            raise ValueError("kernel 'numba' needs numba: pip install 'federation[fast]'")

    @property
    def compiled(self) -> bool:
        """Whether the steps run in the compiled kernels."""
        return self.kernel is Kernel.NUMBA or (self.kernel is Kernel.AUTO and kernels_2d.AVAILABLE)


@dataclass
class Ledger2D:
    """Volumes (m3) that crossed the model's boundaries since the start."""

    rain: float = 0.0
    inflow: float = 0.0
    outflow: float = 0.0  # through open edges (negative if water came in)

    @property
    def net(self) -> float:
        return self.rain + self.inflow - self.outflow


@dataclass
class _Box:
    """Rows ``r0:r1`` and columns ``c0:c1`` of the padded arrays that are computed."""

    r0: int
    r1: int
    c0: int
    c1: int


@dataclass
class _Sources:
    """Rain (m/s) and inflows during a step: cell indices (flat, padded) and m3/s each."""

    rain: float = 0.0
    cells: list[NDArray[np.int_]] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)


class ShallowWater2D:
    """State and stepping of the 2-D model; row 0 is the north edge, column 0 the west edge."""

    def __init__(
        self,
        bed: Grid,
        dx: float,
        *,
        manning_n: float | Grid = 0.0,
        depth: Grid | None = None,
        open_edges: frozenset[Edge] = frozenset(),
        settings: Settings2D = Settings2D(),
    ) -> None:
        bed = np.asarray(bed, dtype=float)
        if bed.ndim != 2 or min(bed.shape) < 2:
            raise ValueError(f"bed must be a 2-D grid of at least 2 x 2 cells, got shape {bed.shape}")
        if not dx > 0:
            raise ValueError(f"dx must be > 0 m, got {dx!r}")
        self.dx, self.settings, self.open_edges = float(dx), settings, frozenset(open_edges)
        self._area = self.dx * self.dx
        self.active = np.isfinite(bed)
        ny, nx = bed.shape
        self.shape = (ny, nx)
        self.z = _pad(np.where(self.active, bed, WALL_HEIGHT_M), WALL_HEIGHT_M)
        self._open_ghost_beds()
        self.h = _pad(np.zeros(bed.shape) if depth is None else np.asarray(depth, dtype=float), 0.0)
        if self.h[1:-1, 1:-1].shape != bed.shape or np.any(self.h < 0) or not np.all(np.isfinite(self.h)):
            raise ValueError("depth must be a finite grid >= 0 of the bed's shape")
        self.h[1:-1, 1:-1][~self.active] = 0.0
        self.hu = np.zeros_like(self.h)
        self.hv = np.zeros_like(self.h)
        n = np.broadcast_to(np.asarray(manning_n, dtype=float), bed.shape)
        if np.any(n < 0):
            raise ValueError("manning_n must be >= 0 everywhere")
        self._gn2 = _pad(settings.gravity * n * n, 0.0)
        self._zfx = np.maximum(self.z[:, :-1], self.z[:, 1:])  # bed at x faces
        self._zfy = np.maximum(self.z[:-1, :], self.z[1:, :])  # bed at y faces
        self.max_depth = self.depth.copy()
        self.time = 0.0
        self.ledger = Ledger2D()
        self._box = _Box(1, 1, 1, 1)
        self._steps_since_shrink = 0
        self._sources = _Sources()
        self._source_dt = math.inf
        self._allocate(ny, nx)

    def _allocate(self, ny: int, nx: int) -> None:
        """Work arrays of the compiled path: face fluxes and per-row wave speeds."""
        if self.settings.compiled:
            self._fx = np.zeros((4, ny + 2, nx + 1))
            self._fy = np.zeros((4, ny + 1, nx + 2))
            self._row_speed = np.zeros(ny + 2)

    # ------------------------------------------------------------------ views
    @property
    def depth(self) -> Grid:
        """Water depth per cell (m), a view without the ghost ring."""
        return self.h[1:-1, 1:-1]

    @property
    def bed(self) -> Grid:
        """Bed elevation per cell (m); no-data cells at the wall height."""
        return self.z[1:-1, 1:-1]

    @property
    def surface(self) -> Grid:
        """Water-surface elevation per cell (m)."""
        surface: Grid = self.depth + self.bed
        return surface

    @property
    def volume(self) -> float:
        """Water held on the grid (m3)."""
        return float(self.depth.sum() * self.dx * self.dx)

    @property
    def box(self) -> tuple[int, int, int, int]:
        """Rows and columns (first, end) of the cells computed now, without padding."""
        b = self._box
        return b.r0 - 1, b.r1 - 1, b.c0 - 1, b.c1 - 1

    def flat_cells(self, rows: NDArray[np.int_], cols: NDArray[np.int_]) -> NDArray[np.int_]:
        """Flat indices into the padded arrays of cells (row, col) of the grid."""
        return np.ravel_multi_index((np.asarray(rows) + 1, np.asarray(cols) + 1), self.h.shape)

    # ------------------------------------------------------------------ stepping
    def advance(self, duration: float, *, rain: float = 0.0,
                inflows: tuple[tuple[NDArray[np.int_], float], ...] = ()) -> int:  # fmt: skip
        """Advance ``duration`` s with rain (m/s) on every cell and inflows: (flat cells, m3/s).

        Returns the number of substeps taken.
        """
        if duration < 0:
            raise ValueError(f"duration must be >= 0 s, got {duration!r}")
        if rain < 0 or any(q < 0 for _, q in inflows):
            raise ValueError(f"rain and inflows must be >= 0, got {rain!r}, {[q for _, q in inflows]!r}")
        self._sources = _Sources(rain, [c for c, q in inflows if q > 0], [q for _, q in inflows if q > 0])
        self._prepare_sources()
        self._reset_box()
        elapsed, substeps = 0.0, 0
        while elapsed < duration:
            if substeps >= self.settings.max_substeps:
                raise RuntimeError(
                    f"2-D shallow-water solver took {substeps} substeps without covering {duration:g} s "
                    f"(reached {elapsed:g} s): the flow is too fast for the grid")  # fmt: skip
            elapsed += self.step(duration - elapsed)
            substeps += 1
        return substeps

    def _prepare_sources(self) -> None:
        """Called when advance() sets new sources: the time step they allow (see _time_step)."""
        src = self._sources
        rate = src.rain + sum(q / (self._area * c.size) for c, q in zip(src.cells, src.rates))
        reach = self.settings.cfl * self.dx
        self._source_dt = math.inf if rate <= 0.0 else (reach / math.sqrt(self.settings.gravity * rate)) ** (2.0 / 3.0)

    def step(self, dt_max: float) -> float:
        """One explicit step of at most ``dt_max`` s with the current sources; returns the step."""
        b = self._box
        self._fill_open_ghosts(b)
        dt = self._step_compiled(b, dt_max) if self.settings.compiled else self._step_numpy(b, dt_max)
        self.time += dt
        self._update_box()
        return dt

    def _time_step(self, speed: float, dt_max: float) -> float:
        """The Courant limit of the wave speed now, and of the water the sources add over the
        step: a source of ``rate`` m/s fills a dry cell to ``rate * dt`` (wave speed
        ``sqrt(g rate dt)``), so ``dt <= (cfl dx / sqrt(g rate))^(2/3)``.  Without that bound the
        first step on a dry grid would take the whole interval and pour it into the inflow cells."""
        dt = min(dt_max, self._source_dt)
        return dt if speed <= 0.0 else min(dt, self.settings.cfl * self.dx / speed)

    def _step_numpy(self, b: _Box, dt_max: float) -> float:
        s = self.settings
        view = (slice(b.r0 - 1, b.r1 + 1), slice(b.c0 - 1, b.c1 + 1))
        h, hu, hv = self.h[view], self.hu[view], self.hv[view]
        u, v = _velocity(h, hu, s.dry_depth), _velocity(h, hv, s.dry_depth)
        inner = (slice(b.r0, b.r1), slice(b.c0 - 1, b.c1))
        fx = _face_fluxes(h[1:-1, :], u[1:-1, :], v[1:-1, :], self.z[view][1:-1, :], self._zfx[inner], 1, s.gravity)
        inner = (slice(b.r0 - 1, b.r1), slice(b.c0, b.c1))
        fy = _face_fluxes(h[:, 1:-1], v[:, 1:-1], u[:, 1:-1], self.z[view][:, 1:-1], self._zfy[inner], 0, s.gravity)
        dt = self._time_step(max(fx.speed, fy.speed), dt_max)
        ratio = dt / self.dx
        cells = (slice(1, -1), slice(1, -1))
        h[cells] -= ratio * (fx.mass[:, 1:] - fx.mass[:, :-1] + fy.mass[1:, :] - fy.mass[:-1, :])
        hu[cells] -= ratio * (fx.left[:, 1:] - fx.right[:, :-1] + fy.tangential[1:, :] - fy.tangential[:-1, :])
        hv[cells] -= ratio * (fx.tangential[:, 1:] - fx.tangential[:, :-1] + fy.left[1:, :] - fy.right[:-1, :])
        self._count_open_edges(b, fx.mass, fy.mass, dt)
        self._add_rain(b, dt)
        self._add_inflows(dt)
        self._friction_and_dry(b, dt)
        np.maximum(self.max_depth[b.r0 - 1:b.r1 - 1, b.c0 - 1:b.c1 - 1], self.h[b.r0:b.r1, b.c0:b.c1],
                   out=self.max_depth[b.r0 - 1:b.r1 - 1, b.c0 - 1:b.c1 - 1])  # fmt: skip
        return dt

    def _step_compiled(self, b: _Box, dt_max: float) -> float:
        s, box = self.settings, np.array((b.r0, b.r1, b.c0, b.c1))
        speed = kernels_2d.face_fluxes(self.h, self.hu, self.hv, self.z, self._zfx, self._zfy, box,
                                       s.gravity, s.dry_depth, self._fx, self._fy, self._row_speed)  # fmt: skip
        dt = self._time_step(speed, dt_max)
        rain = self._sources.rain * dt
        kernels_2d.update(self.h, self.hu, self.hv, self._fx, self._fy, box, dt / self.dx, rain, self.active)
        mass_x = self._fx[kernels_2d.MASS, b.r0:b.r1, b.c0 - 1:b.c1]
        self._count_open_edges(b, mass_x, self._fy[kernels_2d.MASS, b.r0 - 1:b.r1, b.c0:b.c1], dt)
        if rain > 0.0:
            self.ledger.rain += rain * self._area * self._active_cells(b)
        self._add_inflows(dt)
        kernels_2d.friction(self.h, self.hu, self.hv, self._gn2, box, dt, s.dry_depth, self.max_depth)
        return dt

    # ------------------------------------------------------------------ sources, friction
    def _add_rain(self, b: _Box, dt: float) -> None:
        rain = self._sources.rain
        if rain > 0.0:
            cells = self.h[b.r0:b.r1, b.c0:b.c1]
            cells[self.active[b.r0 - 1:b.r1 - 1, b.c0 - 1:b.c1 - 1]] += rain * dt
            self.ledger.rain += rain * dt * self._area * self._active_cells(b)

    def _active_cells(self, b: _Box) -> int:
        return int(np.count_nonzero(self.active[b.r0 - 1:b.r1 - 1, b.c0 - 1:b.c1 - 1]))

    def _add_inflows(self, dt: float) -> None:
        src, area = self._sources, self._area
        flat = self.h.reshape(-1)
        for cells_, rate in zip(src.cells, src.rates):
            np.add.at(flat, cells_, rate * dt / (area * cells_.size))
            self.ledger.inflow += rate * dt

    def _friction_and_dry(self, b: _Box, dt: float) -> None:
        cells = (slice(b.r0, b.r1), slice(b.c0, b.c1))
        h, hu, hv = self.h[cells], self.hu[cells], self.hv[cells]
        np.maximum(h, 0.0, out=h)  # removes round-off negatives only
        wet = h > self.settings.dry_depth
        gn2 = self._gn2[cells][wet]
        if gn2.any():
            hw, qu, qv = h[wet], hu[wet], hv[wet]
            factor = 1.0 + dt * gn2 * np.hypot(qu, qv) / kernels_2d.power_7_3_of_array(hw)
            hu[wet] = qu / factor
            hv[wet] = qv / factor
        hu[~wet] = 0.0
        hv[~wet] = 0.0

    # ------------------------------------------------------------------ open edges
    def _open_ghost_beds(self) -> None:
        """Continue a falling bed beyond each open edge (a rising one stays flat)."""
        z = self.z
        for edge in self.open_edges:
            edge_row, inner_row, ghost = _edge_lines(edge)
            first, second = z[edge_row][1:-1], z[inner_row][1:-1]
            z[ghost][1:-1] = np.where(first < WALL_HEIGHT_M, np.minimum(first, 2.0 * first - second), WALL_HEIGHT_M)

    def _fill_open_ghosts(self, b: _Box) -> None:
        for edge in self.open_edges:
            edge_line, _, ghost = _edge_lines(edge)
            for a in (self.h, self.hu, self.hv):
                a[ghost][1:-1] = a[edge_line][1:-1]

    def _count_open_edges(self, b: _Box, fx: Grid, fy: Grid, dt: float) -> None:
        """Volume out through open edges from the mass fluxes at the box's x and y faces."""
        area_rate = dt * self.dx
        ny, nx = self.shape
        out = 0.0
        if Edge.WEST in self.open_edges and b.c0 == 1:
            out -= float(fx[:, 0].sum())
        if Edge.EAST in self.open_edges and b.c1 == nx + 1:
            out += float(fx[:, -1].sum())
        if Edge.NORTH in self.open_edges and b.r0 == 1:
            out -= float(fy[0, :].sum())
        if Edge.SOUTH in self.open_edges and b.r1 == ny + 1:
            out += float(fy[-1, :].sum())
        self.ledger.outflow += out * area_rate

    # ------------------------------------------------------------------ the wet box
    def _reset_box(self) -> None:
        """The box around the wet cells, the inflow cells and, while it rains, everything."""
        ny, nx = self.shape
        if self._sources.rain > 0.0:
            self._box = _Box(1, ny + 1, 1, nx + 1)
            return
        wet = self.h[1:-1, 1:-1] > 0.0
        for cells_ in self._sources.cells:
            rows, cols = np.unravel_index(cells_, self.h.shape)
            wet[rows - 1, cols - 1] = True
        rows, cols = np.flatnonzero(wet.any(axis=1)), np.flatnonzero(wet.any(axis=0))
        if rows.size == 0:
            self._box = _Box(1, 1, 1, 1)
            return
        m = self.settings.margin
        self._box = _Box(max(1, rows[0] + 1 - m), min(ny + 1, rows[-1] + 2 + m),
                         max(1, cols[0] + 1 - m), min(nx + 1, cols[-1] + 2 + m))  # fmt: skip
        self._steps_since_shrink = 0

    def _update_box(self) -> None:
        """Grow the box where water reached its border; shrink it now and then."""
        b, m = self._box, self.settings.margin
        ny, nx = self.shape
        h = self.h
        if b.r0 > 1 and h[b.r0, b.c0:b.c1].any():
            b.r0 = max(1, b.r0 - m)
        if b.r1 < ny + 1 and h[b.r1 - 1, b.c0:b.c1].any():
            b.r1 = min(ny + 1, b.r1 + m)
        if b.c0 > 1 and h[b.r0:b.r1, b.c0].any():
            b.c0 = max(1, b.c0 - m)
        if b.c1 < nx + 1 and h[b.r0:b.r1, b.c1 - 1].any():
            b.c1 = min(nx + 1, b.c1 + m)
        self._steps_since_shrink += 1
        if self._steps_since_shrink >= 200:
            self._reset_box()


@dataclass(frozen=True)
class _Faces:
    """Fluxes at the faces of one direction: mass, normal momentum seen from each side, tangential."""

    mass: Grid
    left: Grid
    right: Grid
    tangential: Grid
    speed: float


def _face_fluxes(h: Grid, un: Grid, ut: Grid, z: Grid, zf: Grid, axis: int, g: float) -> _Faces:
    """Fluxes across the faces between neighbours along ``axis`` (1: x, 0: y) of a slab.

    ``un`` is the velocity normal to the faces, ``ut`` the tangential one; ``zf`` the bed
    at the faces (the larger of the two cells').  Only faces with water on a side are
    computed: between two dry cells every flux is exactly zero.
    """
    lo = (slice(None), slice(None, -1)) if axis == 1 else (slice(None, -1), slice(None))
    hi = (slice(None), slice(1, None)) if axis == 1 else (slice(1, None), slice(None))
    wet = (h[lo] > 0.0) | (h[hi] > 0.0)
    hl, hr, zfw = h[lo][wet], h[hi][wet], zf[wet]
    hls = np.maximum(hl + z[lo][wet] - zfw, 0.0)
    hrs = np.maximum(hr + z[hi][wet] - zfw, 0.0)
    f_h, f_hu, speed = hll_flux(hls, un[lo][wet], hrs, un[hi][wet], g)
    half_g = 0.5 * g
    faces = [np.zeros(wet.shape) for _ in range(4)]
    faces[0][wet] = f_h
    faces[1][wet] = f_hu + half_g * (hl * hl - hls * hls)
    faces[2][wet] = f_hu + half_g * (hr * hr - hrs * hrs)
    faces[3][wet] = f_h * np.where(f_h > 0.0, ut[lo][wet], ut[hi][wet])
    return _Faces(*faces, float(speed.max()) if speed.size else 0.0)


def _velocity(h: Grid, q: Grid, dry: float) -> Grid:
    wet = h > dry
    velocity: Grid = np.where(wet, q / np.where(wet, h, 1.0), 0.0)
    return velocity


def _pad(a: Grid, value: float) -> Grid:
    padded: Grid = np.pad(np.asarray(a, dtype=float), 1, constant_values=value)
    return padded


def _edge_lines(edge: Edge) -> tuple[tuple[int | slice, ...], tuple[int | slice, ...], tuple[int | slice, ...]]:
    """Index tuples (padded arrays) of the edge line of cells, the line inside it, and the ghosts."""
    every = slice(None)
    return {
        Edge.NORTH: ((1, every), (2, every), (0, every)),
        Edge.SOUTH: ((-2, every), (-3, every), (-1, every)),
        Edge.WEST: ((every, 1), (every, 2), (every, 0)),
        Edge.EAST: ((every, -2), (every, -3), (every, -1)),
    }[edge]

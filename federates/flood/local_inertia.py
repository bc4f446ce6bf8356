"""The local-inertia scheme of 2-D inundation: LISFLOOD-FP's, for slow floods over large grids.

The shallow-water equations without the advection of momentum (Bates et al. 2010), on a
staggered grid: depths ``h`` at cell centres, unit discharges ``q`` (m2/s) at the faces,
explicit in time with the flux weighting of de Almeida et al. (2012)::

    q' = (theta q + (1 - theta)/2 (q_before + q_after) - g h_f dt (eta_r - eta_l)/dx)
         / (1 + g dt n^2 |q| / h_f^(7/3))        (computed as push h_f^(7/3) / (h_f^(7/3) + g dt n^2 |q|))
    h' = h - dt/dx (sum of q' out - sum of q' in) + dt (rain + inflow)

``eta`` is the water surface, ``h_f = max(eta_l, eta_r) - max(z_l, z_r)`` the depth through
the face (no flow below ``dry_depth``), ``q_before`` and ``q_after`` the discharges of the
faces on either side in the same direction (theta = 1 is Bates et al.'s scheme; below it the
weighting damps the checkerboard oscillations of shallow, smooth flows), ``n`` the mean of
the two cells' Manning n.  Friction is semi-implicit and acts on each direction's discharge
(decoupled, as in LISFLOOD-FP).  The time step is ``dt = cfl dx / sqrt(g h_max)`` with
``cfl <= sqrt(theta / 2)``
(Bates et al.'s alpha; default 0.65 with theta = 0.9).

Stability: without friction the scheme is linearly stable in 2-D only for
``cfl^2 <= theta / 2``.  The checkerboard mode (wave number pi/dx along both axes) has the
amplification polynomial ``l^2 - (1 + c - 8 C^2) l + c``, ``c = 2 theta - 1``, ``C`` the
Courant number: stable iff ``8 C^2 <= 2 (1 + c) = 4 theta``.  Bates et al.'s alpha = 0.7
with theta < 1 breaks it (a lake at rest then grows a checkerboard from round-off), so the
settings refuse it.

Mass: the discharges out of a cell are scaled down, when needed, so that a step never takes
more water than the cell holds (each face is scaled by its upwind cell's factor, so fluxes
still cancel in pairs): depths stay non-negative and the volume changes only by the sources
and the open edges, to round-off.  A lake at rest has no surface slope, hence no discharge.

Valid where momentum advection is small: subcritical, gradually varied flow (floodplains,
urban surface flooding, ponding; Froude number below about 0.5).  Not for dam-break fronts,
hydraulic jumps or supercritical flow down steep streets: use :class:`ShallowWater2D` there.
Grid, walls, open edges, inflows, rain, the wet box and the ledger are the SWE solver's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from . import kernels_2d
from .shallow_water_2d import Edge, Grid, Settings2D, ShallowWater2D, _Box

__all__ = ["InertialSettings", "LocalInertia2D"]


@dataclass(frozen=True)
class InertialSettings(Settings2D):
    """Settings of the local-inertia scheme; ``cfl`` is Bates et al.'s alpha."""

    cfl: float = 0.65  # dt = cfl * dx / sqrt(g * h_max), <= sqrt(theta / 2)
    dry_depth: float = 1e-3  # m; no flow through a face shallower than this
    theta: float = 0.9  # flux weighting of de Almeida et al. (2012); 1 = Bates et al. (2010)

    def __post_init__(self) -> None:
        if not 0.5 <= self.theta <= 1.0:
            raise ValueError(f"theta must be in [0.5, 1], got {self.theta!r}")
        limit = math.sqrt(self.theta / 2.0)
        if not 0.0 < self.cfl <= limit:
            raise ValueError(f"cfl must be in (0, {limit:.3f}] for the local-inertia scheme with theta = "
                             f"{self.theta:g} (its 2-D stability limit, sqrt(theta / 2)), got {self.cfl!r}")  # fmt: skip
        self._check_common()


class _Constants(NamedTuple):
    theta: float
    weight: float  # (1 - theta) / 2
    g_dt_dx: float
    dt: float
    threshold: float


class LocalInertia2D(ShallowWater2D):
    """The 2-D model with the local-inertia scheme; ``qx``, ``qy``: face discharges (m2/s),
    ``qx[i, j]`` between padded cells (i, j) and (i, j + 1), ``qy[i, j]`` between (i, j) and (i + 1, j)."""

    settings: InertialSettings

    def __init__(
        self,
        bed: Grid,
        dx: float,
        *,
        manning_n: float | Grid = 0.0,
        depth: Grid | None = None,
        open_edges: frozenset[Edge] = frozenset(),
        settings: InertialSettings = InertialSettings(),
    ) -> None:
        super().__init__(bed, dx, manning_n=manning_n, depth=depth, open_edges=open_edges, settings=settings)
        self._gn2 = np.pad(self._gn2[1:-1, 1:-1], 1, mode="edge")  # ghosts of open edges: the edge's roughness

    def _allocate(self, ny: int, nx: int) -> None:
        self.qx, self.qy = np.zeros((ny + 2, nx + 1)), np.zeros((ny + 1, nx + 2))
        self._qx_new, self._qy_new = np.zeros_like(self.qx), np.zeros_like(self.qy)
        self._limit = np.ones((ny + 2, nx + 2))
        self._source = np.zeros((ny + 2, nx + 2))  # m/s per cell: rain and inflows
        self._row_depth = np.zeros(ny + 2)
        self._span = np.zeros((2, ny + 2), dtype=np.int64)  # compiled path: columns computed per row
        self._extent = np.zeros((2, ny + 2), dtype=np.int64)  # columns with water or a source per row
        self._extent_before = np.zeros((2, ny + 2), dtype=np.int64)  # the same one step earlier

    # ------------------------------------------------------------------ sources, box
    def _prepare_sources(self) -> None:
        super()._prepare_sources()
        src, source = self._sources, self._source
        source[:] = 0.0
        if src.rain > 0.0:
            source[1:-1, 1:-1][self.active] = src.rain
        flat = source.reshape(-1)
        for cells, rate in zip(src.cells, src.rates):
            np.add.at(flat, cells, rate / (self._area * cells.size))

    def _count_sources(self, b: _Box, dt: float) -> None:
        src = self._sources
        if src.rain > 0.0:
            self.ledger.rain += src.rain * dt * self._area * self._active_cells(b)
        for rate in src.rates:
            self.ledger.inflow += rate * dt

    def _reset_box(self) -> None:
        """As the SWE solver's; discharges outside the new box are zeroed (their cells are dry)
        and the deepest water per row is taken afresh."""
        super()._reset_box()
        b = self._box
        for q, rows, cols in ((self.qx, slice(b.r0, b.r1), slice(b.c0 - 1, b.c1)),
                              (self.qy, slice(b.r0 - 1, b.r1), slice(b.c0, b.c1))):  # fmt: skip
            kept = q[rows, cols].copy()
            q[:] = 0.0
            q[rows, cols] = kept
        self._row_depth[:] = 0.0
        self._extent[0], self._extent[1] = kernels_2d.EMPTY, -kernels_2d.EMPTY
        if b.r1 > b.r0 and b.c1 > b.c0:
            cells = (slice(b.r0, b.r1), slice(b.c0, b.c1))
            self._row_depth[b.r0:b.r1] = self.h[cells].max(axis=1)
            wet = (self.h[cells] > 0.0) | (self._source[cells] > 0.0)
            some = wet.any(axis=1)
            first, end = np.argmax(wet, axis=1) + b.c0, b.c1 - np.argmax(wet[:, ::-1], axis=1)
            self._extent[0, b.r0:b.r1] = np.where(some, first, kernels_2d.EMPTY)
            self._extent[1, b.r0:b.r1] = np.where(some, end, -kernels_2d.EMPTY)
        self._extent_before[:] = self._extent

    # ------------------------------------------------------------------ stepping
    def _time_step(self, depth: float, dt_max: float) -> float:
        """As the SWE solver's (the sources' bound included), with the wave speed sqrt(g h_max)."""
        return super()._time_step(math.sqrt(self.settings.gravity * depth), dt_max)

    def _constants(self, dt: float) -> _Constants:
        s = self.settings
        return _Constants(s.theta, 0.5 * (1.0 - s.theta), s.gravity * dt / self.dx, dt, s.dry_depth)

    def _step_compiled(self, b: _Box, dt_max: float) -> float:
        box = np.array((b.r0, b.r1, b.c0, b.c1))
        dt = self._time_step(float(self._row_depth[b.r0:b.r1].max(initial=0.0)), dt_max)
        ratio, c = dt / self.dx, np.array(self._constants(dt))
        kernels_2d.inertial_spans(self._extent, self._extent_before, box, self._span)
        kernels_2d.inertial_momentum(self.h, self.z, self.qx, self.qy, self._gn2, box, self._span, c, ratio,
                                     self._qx_new, self._qy_new, self._limit)  # fmt: skip
        kernels_2d.inertial_continuity(self.h, self._qx_new, self._qy_new, self._limit, self._source, box,
                                       self._span, dt, ratio, self.qx, self.qy, self.max_depth, self._row_depth,
                                       self._extent)  # fmt: skip
        self._finish(b, dt)
        return dt

    def _step_numpy(self, b: _Box, dt_max: float) -> float:
        cells = (slice(b.r0, b.r1), slice(b.c0, b.c1))
        dt = self._time_step(float(self.h[cells].max(initial=0.0)), dt_max)
        ratio, c = dt / self.dx, self._constants(dt)
        new_x, new_y = self._new_discharges(b, c)
        out = np.maximum(new_x[:, 1:], 0.0) + np.maximum(-new_x[:, :-1], 0.0) + np.maximum(new_y[1:], 0.0) \
            + np.maximum(-new_y[:-1], 0.0)  # fmt: skip
        drained, h = ratio * out, self.h[cells]
        limit, lim = self._limit, drained > h
        limit[cells] = np.where(lim, h / np.where(lim, drained, 1.0), 1.0)
        qx = _limited(new_x, limit[b.r0:b.r1, b.c0 - 1:b.c1], limit[b.r0:b.r1, b.c0:b.c1 + 1])
        qy = _limited(new_y, limit[b.r0 - 1:b.r1, b.c0:b.c1], limit[b.r0:b.r1 + 1, b.c0:b.c1])
        self.qx[b.r0:b.r1, b.c0 - 1:b.c1], self.qy[b.r0 - 1:b.r1, b.c0:b.c1] = qx, qy
        depth = np.maximum(h - ratio * (qx[:, 1:] - qx[:, :-1] + qy[1:] - qy[:-1]) + self._source[cells] * dt, 0.0)
        self.h[cells] = depth
        maximum = self.max_depth[b.r0 - 1:b.r1 - 1, b.c0 - 1:b.c1 - 1]
        np.maximum(maximum, depth, out=maximum)
        self._finish(b, dt)
        return dt

    def _new_discharges(self, b: _Box, c: _Constants) -> tuple[Grid, Grid]:
        """The NumPy path of kernels_2d.inertial_momentum: new discharges at the box's faces."""
        h, z, gn2 = self.h, self.z, self._gn2
        ny, nx = self.shape
        rows, faces = slice(b.r0, b.r1), np.arange(b.c0 - 1, b.c1)
        left, right = slice(b.c0 - 1, b.c1), slice(b.c0, b.c1 + 1)
        q = self.qx[rows]
        new_x = _inertial_faces(q[:, faces], q[:, np.maximum(faces - 1, 0)], q[:, np.minimum(faces + 1, nx)],
                                h[rows, left], h[rows, right], z[rows, left], z[rows, right],
                                gn2[rows, left], gn2[rows, right], c)  # fmt: skip
        cols, faces = slice(b.c0, b.c1), np.arange(b.r0 - 1, b.r1)
        upper, lower = slice(b.r0 - 1, b.r1), slice(b.r0, b.r1 + 1)
        q = self.qy[:, cols]
        new_y = _inertial_faces(q[faces], q[np.maximum(faces - 1, 0)], q[np.minimum(faces + 1, ny)],
                                h[upper, cols], h[lower, cols], z[upper, cols], z[lower, cols],
                                gn2[upper, cols], gn2[lower, cols], c)  # fmt: skip
        return new_x, new_y

    def _finish(self, b: _Box, dt: float) -> None:
        self._count_open_edges(b, self.qx[b.r0:b.r1, b.c0 - 1:b.c1], self.qy[b.r0 - 1:b.r1, b.c0:b.c1], dt)
        self._count_sources(b, dt)


def _inertial_faces(q: Grid, before: Grid, after: Grid, h_l: Grid, h_r: Grid, z_l: Grid, z_r: Grid,  # noqa: PLR0913
                    gn2_l: Grid, gn2_r: Grid, c: _Constants) -> Grid:  # fmt: skip
    """kernels_2d._inertial_face on arrays, operation for operation."""
    eta_l, eta_r = h_l + z_l, h_r + z_r
    hf = np.maximum(eta_l, eta_r) - np.maximum(z_l, z_r)
    flowing = hf > c.threshold
    push = c.theta * q + c.weight * (before + after) - c.g_dt_dx * hf * (eta_r - eta_l)
    power = kernels_2d.power_7_3_of_array(np.where(flowing, hf, 1.0))
    new: Grid = np.where(flowing, push * power / (power + c.dt * (0.5 * (gn2_l + gn2_r)) * np.abs(q)), 0.0)
    return new


def _limited(q: Grid, limit_before: Grid, limit_after: Grid) -> NDArray[np.float64]:
    limited: NDArray[np.float64] = np.where(q >= 0.0, q * limit_before, q * limit_after)
    return limited

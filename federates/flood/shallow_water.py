"""One-dimensional shallow-water equations: a finite-volume solver for flood waves.

Conserved variables per unit width are the depth ``h`` (m) and unit discharge ``hu``
(m2/s) over a bed ``z(x)``::

    h_t + (hu)_x = 0
    (hu)_t + (hu^2 + g h^2 / 2)_x = -g h z_x - g n^2 |u| u / h^(1/3)

Scheme (explicit finite volumes; order 1 by default, order 2 on request):

* HLL fluxes (Harten, Lax & van Leer 1983) with Toro's wave-speed estimates, including
  the dry-bed speeds ``u + 2 sqrt(g h)`` (Toro 2001, ch. 10);
* hydrostatic reconstruction of the interface states (Audusse et al. 2004), which keeps
  a lake at rest exactly at rest, keeps depths non-negative under the CFL condition
  and handles wet/dry fronts without special cases;
* order 2: MUSCL reconstruction of h, u and the surface h + z with minmod slopes, the
  centred bed-slope source of Audusse et al. (2004, sec. 3) and Heun's (SSP-RK2) time
  step, positive for ``cfl <= 0.5``;
* a semi-implicit Manning friction update (stable for vanishing depths);
* an adaptive step ``dt = cfl * dx / max |wave speed|``;
* ends that are walls (mirror state, zero mass flux), transmissive (zero-gradient
  state, the bed continued downhill so water leaves at normal depth) or a prescribed
  inflow (mass flux imposed exactly, momentum flux at the larger of the first cell's
  depth and the critical depth).

Mass is conserved exactly up to round-off: the cell updates telescope, so the volume
changes only by the boundary fluxes, which are accumulated in ``boundary_inflow``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

__all__ = ["Boundary", "ShallowWater1D", "SolverSettings", "critical_depth", "hll_flux"]


class Boundary(enum.Enum):
    """Boundary condition at one end of the domain."""

    WALL = "wall"  # closed: no flux of water, waves reflect
    TRANSMISSIVE = "transmissive"  # zero gradient: waves leave freely
    INFLOW = "inflow"  # prescribed unit discharge q(t) (left end only)


@dataclass(frozen=True)
class SolverSettings:
    gravity: float = 9.81  # m/s2
    cfl: float = 0.9  # Courant number (< 1)
    manning_n: float = 0.0  # s/m^(1/3); 0 = frictionless
    dry_depth: float = 1e-6  # m; below this a cell carries no velocity
    max_substeps: int = 200_000  # per call of advance(); guards against a stalled step
    order: int = 1  # 1: first order (Euler); 2: MUSCL-minmod + Heun (needs cfl <= 0.5)

    def __post_init__(self) -> None:
        if not 0.0 < self.cfl <= 1.0:
            raise ValueError(f"cfl must be in (0, 1], got {self.cfl!r}")
        if self.order not in (1, 2):
            raise ValueError(f"order must be 1 or 2, got {self.order!r}")
        if self.order == 2 and self.cfl > 0.5:
            raise ValueError(f"cfl must be <= 0.5 for order 2 (positivity), got {self.cfl!r}")
        if self.manning_n < 0:
            raise ValueError(f"manning_n must be >= 0, got {self.manning_n!r}")
        if not self.dry_depth > 0:
            raise ValueError(f"dry_depth must be > 0, got {self.dry_depth!r}")


def critical_depth(q: float, gravity: float = 9.81) -> float:
    """Depth (m) at which unit discharge ``q`` (m2/s) flows critically."""
    return float((q * q / gravity) ** (1.0 / 3.0))


def hll_flux(
    hl: np.ndarray, ul: np.ndarray, hr: np.ndarray, ur: np.ndarray, g: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HLL flux ``(F_h, F_hu)`` between left and right states, and the largest |wave speed|."""
    cl = np.sqrt(g * hl)
    cr = np.sqrt(g * hr)
    sl, sr = _wave_speeds(hl, ul, cl, hr, ur, cr, g)
    ql, qr = hl * ul, hr * ur
    fl_hu = ql * ul + 0.5 * g * hl * hl
    fr_hu = qr * ur + 0.5 * g * hr * hr
    span = sr - sl
    denom = np.where(span > 0.0, span, 1.0)
    prod = sl * sr
    mid_h = (sr * ql - sl * qr + prod * (hr - hl)) / denom
    mid_hu = (sr * fl_hu - sl * fr_hu + prod * (qr - ql)) / denom
    left = sl >= 0.0
    right = sr <= 0.0
    f_h = np.where(left, ql, np.where(right, qr, mid_h))
    f_hu = np.where(left, fl_hu, np.where(right, fr_hu, mid_hu))
    return f_h, f_hu, np.maximum(np.abs(sl), np.abs(sr))


def _wave_speeds(
    hl: np.ndarray, ul: np.ndarray, cl: np.ndarray, hr: np.ndarray, ur: np.ndarray, cr: np.ndarray, g: float
) -> tuple[np.ndarray, np.ndarray]:
    """Toro's estimates: two-rarefaction star depth for wet pairs, exact dry-front speeds."""
    hstar = np.maximum(0.5 * (cl + cr) + 0.25 * (ul - ur), 0.0) ** 2 / g
    dry_l = hl <= 0.0
    dry_r = hr <= 0.0
    fl = np.where(hstar > hl, np.sqrt(0.5 * (hstar + hl) * hstar) / np.where(dry_l, 1.0, hl), 1.0)
    fr = np.where(hstar > hr, np.sqrt(0.5 * (hstar + hr) * hstar) / np.where(dry_r, 1.0, hr), 1.0)
    sl = np.where(dry_l, ur - 2.0 * cr, np.where(dry_r, ul - cl, ul - cl * fl))
    sr = np.where(dry_r, ul + 2.0 * cl, np.where(dry_l, ur + cr, ur + cr * fr))
    return sl, sr


def _ghost_bed(bed: np.ndarray, boundary: Boundary) -> float:
    """Bed of the ghost cell beyond ``bed[0]``.

    A transmissive end continues a falling bed linearly, so that water drains off the
    end at normal depth (a flat ghost bed would let a lake stand at rest against the
    end); a rising bed is not continued, so no water is drawn in.  Other ends are flat.
    """
    if boundary is Boundary.TRANSMISSIVE:
        return float(min(bed[0], 2.0 * bed[0] - bed[1]))
    return float(bed[0])


class ShallowWater1D:
    """State and stepping of a 1-D shallow-water model on a uniform grid.

    ``bed`` gives the bed elevation at the cell centres (m), ``dx`` the cell size (m).
    The left end may be an :attr:`Boundary.INFLOW` whose unit discharge is given to
    :meth:`advance`; a transmissive end lets water leave (and is counted).
    """

    def __init__(
        self,
        bed: np.ndarray,
        dx: float,
        *,
        depth: np.ndarray | None = None,
        unit_discharge: np.ndarray | None = None,
        left: Boundary = Boundary.WALL,
        right: Boundary = Boundary.WALL,
        settings: SolverSettings = SolverSettings(),
    ) -> None:
        if right is Boundary.INFLOW:
            raise ValueError("an inflow boundary is supported at the left end only")
        if not dx > 0:
            raise ValueError(f"dx must be > 0 m, got {dx!r}")
        self.z = np.asarray(bed, dtype=float).copy()
        n = self.z.size
        if n < 2:
            raise ValueError(f"the grid needs at least 2 cells, got {n}")
        self.dx = float(dx)
        self.h = np.zeros(n) if depth is None else np.asarray(depth, dtype=float).copy()
        self.hu = np.zeros(n) if unit_discharge is None else np.asarray(unit_discharge, dtype=float).copy()
        if self.h.shape != (n,) or self.hu.shape != (n,):
            raise ValueError("depth and unit_discharge must have one value per cell")
        if np.any(self.h < 0):
            raise ValueError("depth must be >= 0 everywhere")
        self.left, self.right, self.settings = left, right, settings
        self.time = 0.0
        self.boundary_inflow = 0.0  # net volume per unit width that entered through the ends (m2)
        self._zext = np.concatenate(([_ghost_bed(self.z, left)], self.z, [_ghost_bed(self.z[::-1], right)]))
        self._zface = np.maximum(self._zext[:-1], self._zext[1:])

    @property
    def volume(self) -> float:
        """Water held per unit width (m2)."""
        return float(self.h.sum() * self.dx)

    @property
    def velocity(self) -> np.ndarray:
        return self._velocity(self.h, self.hu)

    def _velocity(self, h: np.ndarray, hu: np.ndarray) -> np.ndarray:
        wet = h > self.settings.dry_depth
        return np.where(wet, hu / np.where(wet, h, 1.0), 0.0)

    @property
    def surface(self) -> np.ndarray:
        """Water-surface elevation at the cell centres (m)."""
        surface: np.ndarray = self.h + self.z
        return surface

    def advance(self, duration: float, inflow_start: float = 0.0, inflow_end: float | None = None) -> int:
        """Advance ``duration`` s; the left inflow (m2/s) varies linearly over it.

        Returns the number of CFL substeps taken.
        """
        if duration < 0:
            raise ValueError(f"duration must be >= 0 s, got {duration!r}")
        inflow_end = inflow_start if inflow_end is None else inflow_end
        if self.left is Boundary.INFLOW and min(inflow_start, inflow_end) < 0:
            raise ValueError(f"inflow must be >= 0 m2/s, got {inflow_start!r} .. {inflow_end!r}")
        slope = (inflow_end - inflow_start) / duration if duration > 0 else 0.0
        elapsed, substeps = 0.0, 0
        while elapsed < duration:
            if substeps >= self.settings.max_substeps:
                raise RuntimeError(
                    f"shallow-water solver took {substeps} substeps without covering {duration:g} s "
                    f"(reached {elapsed:g} s): the flow is too fast for the grid"
                )
            elapsed += self.step(duration - elapsed, inflow_start + slope * elapsed, slope)
            substeps += 1
        return substeps

    def step(self, dt_max: float, inflow: float = 0.0, inflow_slope: float = 0.0) -> float:
        """Take one explicit step of at most ``dt_max`` s; return the step taken.

        The left inflow is ``inflow + inflow_slope * tau`` (m2/s) during the step.  Order 1
        imposes its value at mid-step, order 2 (Heun) its values at both ends; either way
        the volume entering is exact for a linear hydrograph.
        """
        s = self.settings
        first = self._fluxes(self.h, self.hu, inflow)
        dt = dt_max if first.speed <= 0.0 else min(dt_max, s.cfl * self.dx / first.speed)
        if s.order == 1:
            self._impose_boundaries(first, inflow + 0.5 * dt * inflow_slope, self.h)
            h, hu = self._update(self.h, self.hu, first, dt)
            entered = dt * first.net_boundary
        else:
            self._impose_boundaries(first, inflow, self.h)
            h1, hu1 = self._update(self.h, self.hu, first, dt)
            self._dry(h1, hu1)
            inflow_end = inflow + dt * inflow_slope
            second = self._fluxes(h1, hu1, inflow_end)
            self._impose_boundaries(second, inflow_end, h1)
            h2, hu2 = self._update(h1, hu1, second, dt)
            h, hu = 0.5 * (self.h + h2), 0.5 * (self.hu + hu2)
            entered = 0.5 * dt * (first.net_boundary + second.net_boundary)
        self.h, self.hu = h, hu
        self._apply_friction_and_dry(dt)
        self.boundary_inflow += entered
        self.time += dt
        return dt

    def _fluxes(self, h: np.ndarray, hu: np.ndarray, inflow: float) -> _Fluxes:
        """Numerical fluxes at every face (ghost faces included) for the state (h, hu)."""
        g = self.settings.gravity
        hext, uext = self._extend(h, self._velocity(h, hu), inflow)
        if self.settings.order == 1:
            left = (hext[:-1], uext[:-1], self._zext[:-1])
            right = (hext[1:], uext[1:], self._zext[1:])
            source = None
        else:
            left, right, source = self._reconstruct(hext, uext)
        zf = np.maximum(left[2], right[2])
        hl = np.maximum(left[0] + left[2] - zf, 0.0)
        hr = np.maximum(right[0] + right[2] - zf, 0.0)
        f_h, f_hu, speed = hll_flux(hl, left[1], hr, right[1], g)
        # momentum flux as seen from the cell on each side of a face (hydrostatic correction)
        f_left = f_hu + 0.5 * g * (left[0] ** 2 - hl**2)
        f_right = f_hu + 0.5 * g * (right[0] ** 2 - hr**2)
        return _Fluxes(f_h, f_left, f_right, source, float(speed.max()))

    def _reconstruct(self, hext: np.ndarray, uext: np.ndarray) -> tuple[_Side, _Side, np.ndarray]:
        """MUSCL reconstruction of h, u and eta = h + z with minmod slopes (Audusse et al.
        2004, sec. 3); returns the face states and the centred bed-slope source."""
        eta = hext + self._zext
        h_minus, h_plus = _minmod_faces(hext)
        u_minus, u_plus = _minmod_faces(uext)
        eta_minus, eta_plus = _minmod_faces(eta)
        z_minus, z_plus = eta_minus - h_minus, eta_plus - h_plus
        source = 0.5 * self.settings.gravity * (h_minus + h_plus) * (z_minus - z_plus)
        left = (h_plus[:-1], u_plus[:-1], z_plus[:-1])
        right = (h_minus[1:], u_minus[1:], z_minus[1:])
        return left, right, source[1:-1]

    def _update(self, h: np.ndarray, hu: np.ndarray, f: _Fluxes, dt: float) -> tuple[np.ndarray, np.ndarray]:
        ratio = dt / self.dx
        momentum = f.f_left[1:] - f.f_right[:-1]
        if f.source is not None:
            momentum = momentum - f.source
        return h - ratio * (f.f_h[1:] - f.f_h[:-1]), hu - ratio * momentum

    def _extend(self, h: np.ndarray, u: np.ndarray, inflow: float) -> tuple[np.ndarray, np.ndarray]:
        """Depth and velocity with one ghost cell at each end."""
        h0, u0 = h[0], u[0]
        if self.left is Boundary.INFLOW:
            hb = max(h0, critical_depth(inflow, self.settings.gravity))
            ghost_left = (hb, inflow / hb if hb > self.settings.dry_depth else 0.0)
        else:
            ghost_left = (h0, -u0 if self.left is Boundary.WALL else u0)
        hn, un = h[-1], u[-1]
        ghost_right = (hn, -un if self.right is Boundary.WALL else un)
        hext = np.concatenate(([ghost_left[0]], h, [ghost_right[0]]))
        uext = np.concatenate(([ghost_left[1]], u, [ghost_right[1]]))
        return hext, uext

    def _impose_boundaries(self, f: _Fluxes, inflow: float, h: np.ndarray) -> None:
        if self.left is Boundary.WALL:
            f.f_h[0] = 0.0
        elif self.left is Boundary.INFLOW:
            g = self.settings.gravity
            hb = max(float(h[0]), critical_depth(inflow, g))
            f.f_h[0] = inflow
            f.f_right[0] = (inflow * inflow / hb if hb > self.settings.dry_depth else 0.0) + 0.5 * g * hb * hb
        if self.right is Boundary.WALL:
            f.f_h[-1] = 0.0

    def _dry(self, h: np.ndarray, hu: np.ndarray) -> None:
        np.maximum(h, 0.0, out=h)  # removes round-off negatives only
        hu[h <= self.settings.dry_depth] = 0.0

    def _apply_friction_and_dry(self, dt: float) -> None:
        s = self.settings
        if s.manning_n > 0.0:
            wet = self.h > s.dry_depth
            hw = np.where(wet, self.h, 1.0)
            self.hu /= 1.0 + dt * s.gravity * s.manning_n**2 * np.abs(self.hu) / hw ** (7.0 / 3.0)
        self._dry(self.h, self.hu)


_Side = tuple[np.ndarray, np.ndarray, np.ndarray]  # depth, velocity, bed at one side of each face


@dataclass
class _Fluxes:
    f_h: np.ndarray  # mass flux at each face
    f_left: np.ndarray  # momentum flux seen by the cell left of each face
    f_right: np.ndarray  # momentum flux seen by the cell right of each face
    source: np.ndarray | None  # centred bed-slope source per cell (order 2)
    speed: float  # largest |wave speed|

    @property
    def net_boundary(self) -> float:
        """Flux into the domain through both ends (m2/s)."""
        return float(self.f_h[0]) - float(self.f_h[-1])


def _minmod_faces(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values at the left and right faces of each cell with minmod-limited slopes.

    The end (ghost) cells are kept constant.
    """
    diff = np.diff(values)
    a, b = diff[:-1], diff[1:]
    half = np.zeros_like(values)
    half[1:-1] = 0.5 * np.where(a * b > 0.0, np.sign(a) * np.minimum(np.abs(a), np.abs(b)), 0.0)
    return values - half, values + half

"""Compiled kernels of the 2-D shallow-water solver (numba): the same scheme as the NumPy path.

Each kernel works on the padded arrays of :class:`~.shallow_water_2d.ShallowWater2D` inside
its wet box (rows ``r0:r1``, columns ``c0:c1``, padded indices), in parallel over rows.  The
arithmetic is the NumPy path's, operation for operation (:func:`~.shallow_water.hll_flux`,
the hydrostatic reconstruction, the update, the friction), so the two agree to the last bit
except where a library rounds differently (NumPy's vectorised cube root differs from the C
library's by an ulp on some CPUs).  No reduction depends on the threads: each row writes
its own results, and the largest wave speed is taken over the rows afterwards (a maximum
is exact in any order).  Faces between two dry cells have zero fluxes and are not computed.

Face arrays: ``fx[i, j]`` is the face between cells (i, j) and (i, j + 1), ``fy[i, j]`` the
face between (i, j) and (i + 1, j); each holds the mass flux, the normal momentum flux seen
from the lower and from the higher cell, and the tangential momentum flux.

Installed with ``pip install 'federation[fast]'``; without numba, :data:`AVAILABLE` is false
and the solver uses its NumPy path.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

try:
    from numba import njit, prange

    AVAILABLE = True
except ImportError:  # pragma: no cover - exercised on installs without the 'fast' extra
    AVAILABLE = False

    def njit(*_args: Any, **_kwargs: Any) -> Any:
        return lambda function: function

    prange = range

__all__ = ["AVAILABLE", "face_fluxes", "friction", "update"]

MASS, LEFT, RIGHT, TANGENTIAL = 0, 1, 2, 3


@njit(cache=True, inline="always")
def _hll(hl: float, ul: float, hr: float, ur: float, g: float) -> tuple[float, float, float]:
    """HLL flux (mass, momentum) and largest |wave speed|: shallow_water.hll_flux for one face."""
    cl = math.sqrt(g * hl)
    cr = math.sqrt(g * hr)
    t = max(0.5 * (cl + cr) + 0.25 * (ul - ur), 0.0)
    hstar = t * t / g
    dry_l, dry_r = hl <= 0.0, hr <= 0.0
    fl = math.sqrt(0.5 * (hstar + hl) * hstar) / (1.0 if dry_l else hl) if hstar > hl else 1.0
    fr = math.sqrt(0.5 * (hstar + hr) * hstar) / (1.0 if dry_r else hr) if hstar > hr else 1.0
    sl = ur - 2.0 * cr if dry_l else (ul - cl if dry_r else ul - cl * fl)
    sr = ul + 2.0 * cl if dry_r else (ur + cr if dry_l else ur + cr * fr)
    ql, qr = hl * ul, hr * ur
    fl_hu = ql * ul + 0.5 * g * hl * hl
    fr_hu = qr * ur + 0.5 * g * hr * hr
    speed = max(abs(sl), abs(sr))
    if sl >= 0.0:
        return ql, fl_hu, speed
    if sr <= 0.0:
        return qr, fr_hu, speed
    span = sr - sl
    denom = span if span > 0.0 else 1.0
    prod = sl * sr
    mid_h = (sr * ql - sl * qr + prod * (hr - hl)) / denom
    mid_hu = (sr * fl_hu - sl * fr_hu + prod * (qr - ql)) / denom
    return mid_h, mid_hu, speed


@njit(cache=True, inline="always")
def _face(out: Any, i: int, j: int, hl: float, hr: float, ql: float, qr: float,  # noqa: PLR0913
          tl: float, tr: float, zl: float, zr: float, zf: float, g: float, dry: float) -> float:  # fmt: skip
    """Fluxes of one face into ``out[:, i, j]`` from the two cells' depth, normal and tangential
    discharge and bed; returns the face's largest |wave speed|."""
    if hl <= 0.0 and hr <= 0.0:
        for k in range(4):
            out[k, i, j] = 0.0
        return 0.0
    unl = ql / hl if hl > dry else 0.0
    unr = qr / hr if hr > dry else 0.0
    hls = max(hl + zl - zf, 0.0)
    hrs = max(hr + zr - zf, 0.0)
    f_h, f_hu, speed = _hll(hls, unl, hrs, unr, g)
    half_g = 0.5 * g
    out[MASS, i, j] = f_h
    out[LEFT, i, j] = f_hu + half_g * (hl * hl - hls * hls)
    out[RIGHT, i, j] = f_hu + half_g * (hr * hr - hrs * hrs)
    upwind = (tl / hl if hl > dry else 0.0) if f_h > 0.0 else (tr / hr if hr > dry else 0.0)
    out[TANGENTIAL, i, j] = f_h * upwind
    return speed


@njit(cache=True, parallel=True)
def face_fluxes(h: Any, hu: Any, hv: Any, z: Any, zfx: Any, zfy: Any, box: Any,  # noqa: PLR0913
                g: float, dry: float, fx: Any, fy: Any, row_speed: Any) -> float:  # fmt: skip
    """Fluxes at the x faces of rows r0:r1 (columns c0-1..c1-1) and the y faces of rows
    r0-1..r1-1 (columns c0:c1) into ``fx`` and ``fy``; returns the largest |wave speed|."""
    r0, r1, c0, c1 = box[0], box[1], box[2], box[3]
    for i in prange(r0 - 1, r1):
        top = 0.0
        if i >= r0:
            for j in range(c0 - 1, c1):
                s = _face(fx, i, j, h[i, j], h[i, j + 1], hu[i, j], hu[i, j + 1], hv[i, j], hv[i, j + 1],
                          z[i, j], z[i, j + 1], zfx[i, j], g, dry)  # fmt: skip
                top = max(top, s)
        for j in range(c0, c1):
            s = _face(fy, i, j, h[i, j], h[i + 1, j], hv[i, j], hv[i + 1, j], hu[i, j], hu[i + 1, j],
                      z[i, j], z[i + 1, j], zfy[i, j], g, dry)  # fmt: skip
            top = max(top, s)
        row_speed[i] = top
    return float(np.max(row_speed[r0 - 1:r1]))


@njit(cache=True, parallel=True)
def update(h: Any, hu: Any, hv: Any, fx: Any, fy: Any, box: Any, ratio: float,  # noqa: PLR0913
           rain: float, active: Any) -> None:  # fmt: skip
    """The finite-volume update of the cells in the box with ``ratio = dt / dx``, then the rain
    depth ``rain`` (m) on the cells with data."""
    r0, r1, c0, c1 = box[0], box[1], box[2], box[3]
    for i in prange(r0, r1):
        for j in range(c0, c1):
            h[i, j] -= ratio * (fx[MASS, i, j] - fx[MASS, i, j - 1] + fy[MASS, i, j] - fy[MASS, i - 1, j])
            hu[i, j] -= ratio * (fx[LEFT, i, j] - fx[RIGHT, i, j - 1] + fy[TANGENTIAL, i, j] - fy[TANGENTIAL, i - 1, j])
            hv[i, j] -= ratio * (fx[TANGENTIAL, i, j] - fx[TANGENTIAL, i, j - 1] + fy[LEFT, i, j] - fy[RIGHT, i - 1, j])
            if rain > 0.0 and active[i - 1, j - 1]:
                h[i, j] += rain


@njit(cache=True, parallel=True)
def friction(h: Any, hu: Any, hv: Any, gn2: Any, box: Any, dt: float, dry: float, max_depth: Any) -> None:
    """Semi-implicit Manning friction on the wet cells of the box, no velocity in the dry
    ones, round-off negatives removed, and the maximum depth kept."""
    r0, r1, c0, c1 = box[0], box[1], box[2], box[3]
    for i in prange(r0, r1):
        for j in range(c0, c1):
            d = max(h[i, j], 0.0)
            h[i, j] = d
            if d > dry:
                if gn2[i, j] > 0.0:
                    factor = 1.0 + dt * gn2[i, j] * math.hypot(hu[i, j], hv[i, j]) / (d * d * np.cbrt(d))
                    hu[i, j] /= factor
                    hv[i, j] /= factor
            else:
                hu[i, j] = 0.0
                hv[i, j] = 0.0
            if d > max_depth[i - 1, j - 1]:
                max_depth[i - 1, j - 1] = d

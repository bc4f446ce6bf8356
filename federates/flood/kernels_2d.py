"""Compiled kernels of the 2-D solvers (numba): the same schemes as their NumPy paths.

Each kernel works on the padded arrays of :class:`~.shallow_water_2d.ShallowWater2D` (or
:class:`~.local_inertia.LocalInertia2D`) inside the wet box (rows ``r0:r1``, columns
``c0:c1``, padded indices), in parallel over blocks of rows, each block computed by a serial
function (numba optimises those better than the body of a parallel loop: half the time);
boxes under :data:`PARALLEL_MIN_CELLS` run in the calling thread.  The arithmetic is the
NumPy path's, operation for operation (:func:`~.shallow_water.hll_flux`, the hydrostatic
reconstruction, the update, the friction; the local-inertia discharges, limits and
continuity), and h^(7/3) of the friction is computed with multiplications only
(:func:`power_7_3`; :func:`power_7_3_of_array` for the NumPy paths) rather than with a
library's cube root, whose last bit differs between NumPy's vectorised one, the C library's
and CPUs: so the two paths give the same bits.  No reduction depends on the threads: each
row writes its own results, and the largest wave speed or depth is taken over the rows
afterwards (a maximum is exact in any order).  Faces between two dry cells have zero fluxes
and are not computed; the local-inertia kernels also skip the dry, still columns of a row.

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
from numpy.typing import NDArray

try:
    from numba import njit, prange
    from numba.core import types
    from numba.extending import intrinsic

    AVAILABLE = True
except ImportError:  # pragma: no cover - exercised on installs without the 'fast' extra
    AVAILABLE = False

    def njit(*_args: Any, **_kwargs: Any) -> Any:
        return lambda function: function

    prange = range

#: Bit pattern of a first guess of x^(-1/3): MAGIC - bits(x) // 3 (the exponent divided by -3), within 3.5 %.
INVERSE_CUBE_ROOT_MAGIC = 0x553EF0FF289DD796
THIRD, TWO_NINTHS = 1.0 / 3.0, 2.0 / 9.0

if AVAILABLE:

    @intrinsic
    def _bits(typingctx: Any, x: Any) -> Any:
        """The IEEE bits of a float64 as an int64 (a bit cast)."""

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            return builder.bitcast(args[0], context.get_value_type(types.int64))

        return types.int64(types.float64), codegen

    @intrinsic
    def _from_bits(typingctx: Any, i: Any) -> Any:
        """The float64 of an int64's bits (a bit cast)."""

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            return builder.bitcast(args[0], context.get_value_type(types.float64))

        return types.float64(types.int64), codegen

    @njit(cache=True, inline="always")
    def power_7_3(x: float) -> float:
        """x^(7/3) for x > 0 as x^3 r^2, r = x^(-1/3) by two third-order (Householder) steps
        from the bit guess: no library call, relative error below 1e-10; the NumPy path
        (local_inertia.power_7_3) does the same operations, so both give the same bits."""
        r = _from_bits(INVERSE_CUBE_ROOT_MAGIC - _bits(x) // 3)
        e = 1.0 - x * r * r * r
        r = r * (1.0 + e * (THIRD + e * TWO_NINTHS))
        e = 1.0 - x * r * r * r
        r = r * (1.0 + e * (THIRD + e * TWO_NINTHS))
        return x * x * x * r * r


def power_7_3_of_array(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """power_7_3 on arrays (x > 0) for the NumPy paths, operation for operation: the same bits."""
    r = (np.int64(INVERSE_CUBE_ROOT_MAGIC) - x.view(np.int64) // 3).view(np.float64)
    for _ in range(2):
        e = 1.0 - x * r * r * r
        r = r * (1.0 + e * (THIRD + e * TWO_NINTHS))
    power: NDArray[np.float64] = x * x * x * r * r
    return power


#: Below this many cells in the box a kernel runs in the calling thread: launching threads costs
#: more than they save, and far more when other processes keep the cores busy.
PARALLEL_MIN_CELLS = 20_000


def blocks(box: Any) -> int:
    """Blocks of rows for a parallel kernel (one per numba thread), or 0 to run serially."""
    if not AVAILABLE or (box[1] - box[0]) * (box[3] - box[2]) < PARALLEL_MIN_CELLS:
        return 0
    import numba

    threads = int(numba.get_num_threads())
    return threads if threads > 1 else 0


__all__ = [
    "AVAILABLE", "blocks", "face_fluxes", "friction", "inertial_continuity", "inertial_momentum", "inertial_spans",
    "power_7_3", "power_7_3_of_array", "update",
]

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


@njit(cache=True)
def _flux_rows(first: int, end: int, h: Any, hu: Any, hv: Any, z: Any, zfx: Any, zfy: Any,  # noqa: PLR0913
               box: Any, g: float, dry: float, fx: Any, fy: Any, row_speed: Any) -> None:  # fmt: skip
    r0, c0, c1 = box[0], box[2], box[3]
    for i in range(first, end):
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


@njit(cache=True, parallel=True)
def _face_fluxes_parallel(h: Any, hu: Any, hv: Any, z: Any, zfx: Any, zfy: Any, box: Any,  # noqa: PLR0913
                g: float, dry: float, fx: Any, fy: Any, row_speed: Any, chunks: int) -> float:  # fmt: skip
    """Fluxes at the x faces of rows r0:r1 (columns c0-1..c1-1) and the y faces of rows
    r0-1..r1-1 (columns c0:c1) into ``fx`` and ``fy``; returns the largest |wave speed|."""
    first, end = box[0] - 1, box[1]
    for k in prange(chunks):
        _flux_rows(first + (end - first) * k // chunks, first + (end - first) * (k + 1) // chunks,
                   h, hu, hv, z, zfx, zfy, box, g, dry, fx, fy, row_speed)  # fmt: skip
    return float(np.max(row_speed[first:end]))


@njit(cache=True)
def _update_rows(first: int, end: int, h: Any, hu: Any, hv: Any, fx: Any, fy: Any, box: Any,  # noqa: PLR0913
                 ratio: float, rain: float, active: Any) -> None:  # fmt: skip
    c0, c1 = box[2], box[3]
    for i in range(first, end):
        for j in range(c0, c1):
            h[i, j] -= ratio * (fx[MASS, i, j] - fx[MASS, i, j - 1] + fy[MASS, i, j] - fy[MASS, i - 1, j])
            hu[i, j] -= ratio * (fx[LEFT, i, j] - fx[RIGHT, i, j - 1] + fy[TANGENTIAL, i, j] - fy[TANGENTIAL, i - 1, j])
            hv[i, j] -= ratio * (fx[TANGENTIAL, i, j] - fx[TANGENTIAL, i, j - 1] + fy[LEFT, i, j] - fy[RIGHT, i - 1, j])
            if rain > 0.0 and active[i - 1, j - 1]:
                h[i, j] += rain


@njit(cache=True, parallel=True)
def _update_parallel(h: Any, hu: Any, hv: Any, fx: Any, fy: Any, box: Any, ratio: float,  # noqa: PLR0913
           rain: float, active: Any, chunks: int) -> None:  # fmt: skip
    """The finite-volume update of the cells in the box with ``ratio = dt / dx``, then the rain
    depth ``rain`` (m) on the cells with data."""
    first, end = box[0], box[1]
    for k in prange(chunks):
        _update_rows(first + (end - first) * k // chunks, first + (end - first) * (k + 1) // chunks,
                     h, hu, hv, fx, fy, box, ratio, rain, active)  # fmt: skip


@njit(cache=True)
def _friction_rows(first: int, end: int, h: Any, hu: Any, hv: Any, gn2: Any, box: Any,  # noqa: PLR0913
                   dt: float, dry: float, max_depth: Any) -> None:  # fmt: skip
    c0, c1 = box[2], box[3]
    for i in range(first, end):
        for j in range(c0, c1):
            d = max(h[i, j], 0.0)
            h[i, j] = d
            if d > dry:
                if gn2[i, j] > 0.0:
                    factor = 1.0 + dt * gn2[i, j] * math.hypot(hu[i, j], hv[i, j]) / power_7_3(d)
                    hu[i, j] /= factor
                    hv[i, j] /= factor
            else:
                hu[i, j] = 0.0
                hv[i, j] = 0.0
            if d > max_depth[i - 1, j - 1]:
                max_depth[i - 1, j - 1] = d


@njit(cache=True, parallel=True)
def _friction_parallel(h: Any, hu: Any, hv: Any, gn2: Any, box: Any, dt: float, dry: float,  # noqa: PLR0913
             max_depth: Any, chunks: int) -> None:  # fmt: skip
    """Semi-implicit Manning friction on the wet cells of the box, no velocity in the dry
    ones, round-off negatives removed, and the maximum depth kept."""
    first, end = box[0], box[1]
    for k in prange(chunks):
        _friction_rows(first + (end - first) * k // chunks, first + (end - first) * (k + 1) // chunks,
                       h, hu, hv, gn2, box, dt, dry, max_depth)  # fmt: skip


# ---------------------------------------------------------------------- local inertia
@njit(cache=True, inline="always")
def _inertial_face(q: float, q_before: float, q_after: float, h_l: float, h_r: float,  # noqa: PLR0913
                   z_l: float, z_r: float, gn2_l: float, gn2_r: float, c: Any) -> float:  # fmt: skip
    """New unit discharge of one face (de Almeida et al. 2012) from the two cells' depth, bed
    and g n^2; ``c`` = (theta, (1 - theta)/2, g dt / dx, dt, threshold depth)."""
    eta_l, eta_r = h_l + z_l, h_r + z_r
    hf = max(eta_l, eta_r) - max(z_l, z_r)
    if hf <= c[4]:
        return 0.0
    push = c[0] * q + c[1] * (q_before + q_after) - c[2] * hf * (eta_r - eta_l)
    power = power_7_3(hf)  # push / (1 + dt g n^2 |q| / hf^(7/3)) with one division
    return push * power / (power + c[3] * (0.5 * (gn2_l + gn2_r)) * abs(q))


@njit(cache=True, inline="always")
def _y_face(i: int, j: int, h: Any, z: Any, qy: Any, gn2: Any, c: Any) -> float:
    """New discharge of the y face between cells (i, j) and (i + 1, j)."""
    q = qy[i, j]
    before = qy[i - 1, j] if i > 0 else q
    after = qy[i + 1, j] if i < qy.shape[0] - 1 else q
    return _inertial_face(q, before, after, h[i, j], h[i + 1, j], z[i, j], z[i + 1, j], gn2[i, j], gn2[i + 1, j], c)


@njit(cache=True, inline="always")
def _limit(h: float, east: float, west: float, south: float, north: float, ratio: float) -> float:
    """Factor (<= 1) on a cell's outgoing discharges that keeps its depth from going negative:
    depth / outflow depth when the outflow over the step exceeds the depth."""
    out = max(east, 0.0) + max(-west, 0.0) + max(south, 0.0) + max(-north, 0.0)
    drained = ratio * out
    return h / drained if drained > h else 1.0


@njit(cache=True)
def _momentum_rows(first: int, end: int, h: Any, z: Any, qx: Any, qy: Any, gn2: Any,  # noqa: PLR0913
                   box: Any, span: Any, c: Any, ratio: float, qx_new: Any, qy_new: Any, limit: Any) -> None:  # fmt: skip
    r0, c1 = box[0], box[3]
    last_col = qx.shape[1] - 1
    above = np.empty(c1)  # the y faces above the first row: another block writes them
    for i in range(first, end):
        lo, hi = span[0, i], span[1, i]
        for j in range(min(lo, span[0, i + 1]), max(hi, span[1, i + 1])):
            qy_new[i, j] = _y_face(i, j, h, z, qy, gn2, c)
        if i < r0:
            continue
        for j in range(lo - 1, hi):
            q = qx[i, j]
            before = qx[i, j - 1] if j > 0 else q
            after = qx[i, j + 1] if j < last_col else q
            qx_new[i, j] = _inertial_face(q, before, after, h[i, j], h[i, j + 1], z[i, j], z[i, j + 1],
                                          gn2[i, j], gn2[i, j + 1], c)  # fmt: skip
        if i == first:
            for j in range(lo, hi):
                above[j] = _y_face(i - 1, j, h, z, qy, gn2, c)
        for j in range(lo, hi):
            north = above[j] if i == first else qy_new[i - 1, j]
            limit[i, j] = _limit(h[i, j], qx_new[i, j], qx_new[i, j - 1], qy_new[i, j], north, ratio)


@njit(cache=True, parallel=True)
def _inertial_momentum_parallel(h: Any, z: Any, qx: Any, qy: Any, gn2: Any, box: Any, span: Any, c: Any,  # noqa: PLR0913
                      ratio: float, qx_new: Any, qy_new: Any, limit: Any, chunks: int) -> None:  # fmt: skip
    """New discharges at the x faces of rows r0:r1 and the y faces of rows r0-1..r1-1 (as
    face_fluxes, within each row's span) from the old ones (a face's missing neighbour beyond
    the grid is itself), and the outflow limit of each cell; ``gn2`` is g n^2 per padded cell."""
    first, end = box[0] - 1, box[1]
    for k in prange(chunks):
        _momentum_rows(first + (end - first) * k // chunks, first + (end - first) * (k + 1) // chunks,
                       h, z, qx, qy, gn2, box, span, c, ratio, qx_new, qy_new, limit)  # fmt: skip


EMPTY = 1 << 40  # an empty span or extent is (EMPTY, -EMPTY)


@njit(cache=True)
def inertial_spans(extent: Any, previous: Any, box: Any, span: Any) -> None:
    """The columns ``span[0, i]:span[1, i]`` of each row to compute in the next step: within
    one cell (row or column) of a cell that held water or a source after this step or the
    one before (``extent``, ``previous``: first and end column of those cells per row).  A
    face that carries water touches such a cell, and one that carried water in the last
    step is recomputed (to zero) in this one, so everything left out stays dry and still:
    computing it would change nothing.  ``previous`` then takes ``extent``."""
    r0, r1, c0, c1 = box[0], box[1], box[2], box[3]
    span[0, :] = EMPTY
    span[1, :] = -EMPTY
    for i in range(r0, r1):
        lo, hi = EMPTY, -EMPTY
        for k in range(max(i - 1, r0), min(i + 2, r1)):
            lo = min(lo, extent[0, k], previous[0, k])
            hi = max(hi, extent[1, k], previous[1, k])
        span[0, i], span[1, i] = max(c0, lo - 1), min(c1, hi + 1)
    previous[:, r0:r1] = extent[:, r0:r1]


@njit(cache=True, inline="always")
def _limited(q: float, limit_before: float, limit_after: float) -> float:
    return q * limit_before if q >= 0.0 else q * limit_after


@njit(cache=True)
def _continuity_rows(first: int, end: int, h: Any, qx_new: Any, qy_new: Any, limit: Any,  # noqa: PLR0913
                     source: Any, box: Any, span: Any, dt: float, ratio: float, qx: Any, qy: Any,
                     max_depth: Any, row_depth: Any, extent: Any) -> None:  # fmt: skip
    r0 = box[0]
    for i in range(first, end):
        lo, hi = span[0, i], span[1, i]
        for j in range(lo - 1, hi):
            qx[i, j] = _limited(qx_new[i, j], limit[i, j], limit[i, j + 1])
        for j in range(min(lo, span[0, i + 1]), max(hi, span[1, i + 1])):
            qy[i, j] = _limited(qy_new[i, j], limit[i, j], limit[i + 1, j])
        if i == r0:
            for j in range(lo, hi):
                qy[i - 1, j] = _limited(qy_new[i - 1, j], limit[i - 1, j], limit[i, j])
        deepest, wet_lo, wet_hi = 0.0, EMPTY, -EMPTY
        for j in range(lo, hi):
            above = qy[i - 1, j] if i > first else _limited(qy_new[i - 1, j], limit[i - 1, j], limit[i, j])
            d = h[i, j] - ratio * (qx[i, j] - qx[i, j - 1] + qy[i, j] - above) + source[i, j] * dt
            d = max(d, 0.0)
            h[i, j] = d
            if d > max_depth[i - 1, j - 1]:
                max_depth[i - 1, j - 1] = d
            deepest = max(deepest, d)
            if d > 0.0 or source[i, j] > 0.0:
                wet_lo = min(wet_lo, j)
                wet_hi = j + 1
        row_depth[i] = deepest
        extent[0, i], extent[1, i] = wet_lo, wet_hi


@njit(cache=True, parallel=True)
def _inertial_continuity_parallel(h: Any, qx_new: Any, qy_new: Any, limit: Any, source: Any, box: Any,  # noqa: PLR0913
                        span: Any, dt: float, ratio: float, qx: Any, qy: Any, max_depth: Any, row_depth: Any,
                        extent: Any, chunks: int) -> None:  # fmt: skip
    """The limited discharges into ``qx``, ``qy`` (each face written by one row), the depths
    updated by them and the sources (m/s), round-off negatives removed, the maximum depth
    kept, the deepest water of each row (for the next time step) and the first and end
    column of the cells with water or a source (for the next spans)."""
    first, end = box[0], box[1]
    for k in prange(chunks):
        _continuity_rows(first + (end - first) * k // chunks, first + (end - first) * (k + 1) // chunks,
                         h, qx_new, qy_new, limit, source, box, span, dt, ratio, qx, qy, max_depth,
                         row_depth, extent)  # fmt: skip


# ---------------------------------------------------------------------- entry points
def face_fluxes(h: Any, hu: Any, hv: Any, z: Any, zfx: Any, zfy: Any, box: Any,  # noqa: PLR0913
                g: float, dry: float, fx: Any, fy: Any, row_speed: Any) -> float:  # fmt: skip
    """SWE fluxes at the box's faces (see _flux_rows); returns the largest |wave speed|."""
    n = blocks(box)
    if n:
        return float(_face_fluxes_parallel(h, hu, hv, z, zfx, zfy, box, g, dry, fx, fy, row_speed, n))
    _flux_rows(box[0] - 1, box[1], h, hu, hv, z, zfx, zfy, box, g, dry, fx, fy, row_speed)
    return float(np.max(row_speed[box[0] - 1:box[1]]))


def update(h: Any, hu: Any, hv: Any, fx: Any, fy: Any, box: Any, ratio: float, rain: float, active: Any) -> None:
    """SWE finite-volume update and rain of the box's cells (see _update_rows)."""
    n = blocks(box)
    if n:
        _update_parallel(h, hu, hv, fx, fy, box, ratio, rain, active, n)
    else:
        _update_rows(box[0], box[1], h, hu, hv, fx, fy, box, ratio, rain, active)


def friction(h: Any, hu: Any, hv: Any, gn2: Any, box: Any, dt: float, dry: float, max_depth: Any) -> None:
    """SWE friction, dry cells and maximum depth of the box's cells (see _friction_rows)."""
    n = blocks(box)
    if n:
        _friction_parallel(h, hu, hv, gn2, box, dt, dry, max_depth, n)
    else:
        _friction_rows(box[0], box[1], h, hu, hv, gn2, box, dt, dry, max_depth)


def inertial_momentum(h: Any, z: Any, qx: Any, qy: Any, gn2: Any, box: Any, span: Any, c: Any,  # noqa: PLR0913
                      ratio: float, qx_new: Any, qy_new: Any, limit: Any) -> None:  # fmt: skip
    """Local inertia: new discharges and outflow limits (see _momentum_rows)."""
    n = blocks(box)
    if n:
        _inertial_momentum_parallel(h, z, qx, qy, gn2, box, span, c, ratio, qx_new, qy_new, limit, n)
    else:
        _momentum_rows(box[0] - 1, box[1], h, z, qx, qy, gn2, box, span, c, ratio, qx_new, qy_new, limit)


def inertial_continuity(h: Any, qx_new: Any, qy_new: Any, limit: Any, source: Any, box: Any,  # noqa: PLR0913
                        span: Any, dt: float, ratio: float, qx: Any, qy: Any, max_depth: Any, row_depth: Any,
                        extent: Any) -> None:  # fmt: skip
    """Local inertia: limited discharges and new depths (see _continuity_rows)."""
    n = blocks(box)
    if n:
        _inertial_continuity_parallel(h, qx_new, qy_new, limit, source, box, span, dt, ratio, qx, qy, max_depth,
                                      row_depth, extent, n)  # fmt: skip
    else:
        _continuity_rows(box[0], box[1], h, qx_new, qy_new, limit, source, box, span, dt, ratio, qx, qy,
                         max_depth, row_depth, extent)  # fmt: skip

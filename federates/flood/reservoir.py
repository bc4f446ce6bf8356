"""Reservoir: level-pool routing by the storage-indication (modified Puls) method.

Continuity over a step ``dt`` with the trapezoidal rule::

    (S2 - S1) / dt = (I1 + I2) / 2 - (O1 + O2) / 2
    =>  2 S2 / dt + O2 = (I1 + I2) + 2 S1 / dt - O1          (storage indication)

The right side is known; the left side is a monotone function of the pool level.  It is
tabulated over a level grid for the current gate opening and ``dt`` (the textbook
storage-indication table), which brackets the solution; the equation is then solved
exactly in that bracket with the true rating.  ``S2`` is taken from the same equation,
so the water balance ``S2 - S1 = dt (I_mean - (O1 + O2) / 2)`` holds to round-off.

The outflow ``O(level, gate)`` is a :class:`Rating`: an ungated overflow spillway plus a
bottom sluice gate whose opening (0..1 of its height) is the operator's decision, or a
tabulated stage-discharge curve.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.optimize

__all__ = [
    "DamOutlet",
    "LevelPool",
    "Rating",
    "SluiceGate",
    "Spillway",
    "StageStorage",
    "TabulatedRating",
]

G = 9.81
#: Critical-flow coefficient of a broad-crested sill, (2/3)^1.5 sqrt(g) (m^0.5/s).
BROAD_CRESTED = (2.0 / 3.0) ** 1.5 * math.sqrt(G)


def _strictly_increasing(values: tuple[float, ...]) -> bool:
    return all(b > a for a, b in itertools.pairwise(values))


@dataclass(frozen=True)
class StageStorage:
    """Stage-storage table: storage (m3) at pool elevations (m a.s.l.), both increasing.

    Above the table the last segment is extrapolated linearly (vertical banks).
    """

    elevation_m: tuple[float, ...]
    storage_m3: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.elevation_m) != len(self.storage_m3) or len(self.elevation_m) < 2:
            raise ValueError("needs at least two [elevation_m, storage_m3] rows")
        if not _strictly_increasing(self.elevation_m):
            raise ValueError(f"elevations must increase strictly: {list(self.elevation_m)}")
        if not _strictly_increasing(self.storage_m3) or self.storage_m3[0] < 0:
            raise ValueError(f"storages must be >= 0 and increase: {list(self.storage_m3)}")

    @classmethod
    def from_rows(cls, rows: object) -> StageStorage:
        """Build from ``[[elevation_m, storage_m3], ...]``."""
        try:
            pairs = [(float(z), float(s)) for z, s in rows]  # type: ignore[attr-defined]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"must be [[elevation_m, storage_m3], ...], got {rows!r}") from exc
        return cls(tuple(z for z, _ in pairs), tuple(s for _, s in pairs))

    @property
    def bottom(self) -> float:
        return self.elevation_m[0]

    def storage(self, level: float | np.ndarray) -> np.ndarray:
        """Storage (m3) at ``level`` (m); 0 at or below the bottom of the table."""
        return _interp_extrapolate(level, self.elevation_m, self.storage_m3)

    def level(self, storage: float | np.ndarray) -> np.ndarray:
        """Pool elevation (m) holding ``storage`` (m3)."""
        return _interp_extrapolate(storage, self.storage_m3, self.elevation_m)


def _interp_extrapolate(x: float | np.ndarray, xp: tuple[float, ...], fp: tuple[float, ...]) -> np.ndarray:
    """Linear interpolation, clamped below the table and extrapolated above it."""
    x = np.asarray(x, dtype=float)
    y = np.interp(x, xp, fp)
    slope = (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    return np.where(x > xp[-1], fp[-1] + slope * (x - xp[-1]), y)


class Rating(Protocol):
    """Outflow (m3/s) as a function of pool level (m) and gate opening (0..1)."""

    def discharge(self, level: np.ndarray, gate: float) -> np.ndarray: ...


@dataclass(frozen=True)
class Spillway:
    """Ungated overflow spillway: ``Q = C L (z - crest)^1.5`` (weir equation)."""

    crest_m: float
    width_m: float
    coefficient: float = 1.7  # m^0.5/s (broad-crested ~1.7, ogee ~2.1)

    def __post_init__(self) -> None:
        if self.width_m < 0 or self.coefficient < 0:
            raise ValueError(
                f"spillway width and coefficient must be >= 0, got {self.width_m!r}, {self.coefficient!r}"
            )

    def discharge(self, level: np.ndarray) -> np.ndarray:
        head = np.maximum(np.asarray(level, dtype=float) - self.crest_m, 0.0)
        return self.coefficient * self.width_m * head**1.5


@dataclass(frozen=True)
class SluiceGate:
    """Bottom outlet with a vertical lift gate of ``height_m``, opened to a fraction ``a``.

    With head ``H = z - sill`` and opening ``w = a * height``: while ``H <= w`` the water
    does not touch the gate and flows over the sill at critical depth, ``C_w B H^1.5``;
    above, the flow is the smaller of that and orifice flow under the gate,
    ``Cd B w sqrt(2 g (H - w/2))``.  The minimum is continuous at ``H = w`` (the orifice
    term is then the larger) and switches to the pressurised regime as the pool rises.
    """

    sill_m: float
    width_m: float
    height_m: float
    coefficient: float = 0.6  # orifice discharge coefficient Cd (-)

    def __post_init__(self) -> None:
        for name in ("width_m", "height_m", "coefficient"):
            if getattr(self, name) < 0:
                raise ValueError(f"gate {name} must be >= 0, got {getattr(self, name)!r}")

    def discharge(self, level: np.ndarray, gate: float) -> np.ndarray:
        head = np.maximum(np.asarray(level, dtype=float) - self.sill_m, 0.0)
        opening = gate * self.height_m
        weir = BROAD_CRESTED * self.width_m * head**1.5
        orifice = (
            self.coefficient * self.width_m * opening * np.sqrt(2.0 * G * np.maximum(head - opening / 2, 0.0))
        )
        flow: np.ndarray = np.where(head <= opening, weir, np.minimum(weir, orifice))
        return flow


@dataclass(frozen=True)
class DamOutlet:
    """All the dam's outlets: spillway plus sluice gate (m3/s)."""

    spillway: Spillway
    gate: SluiceGate

    def discharge(self, level: np.ndarray, gate: float) -> np.ndarray:
        total: np.ndarray = self.spillway.discharge(level) + self.gate.discharge(level, gate)
        return total


@dataclass(frozen=True)
class TabulatedRating:
    """A stage-discharge table (m, m3/s), interpolated linearly; ungated."""

    elevation_m: tuple[float, ...]
    discharge_m3s: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.elevation_m) != len(self.discharge_m3s) or not _strictly_increasing(self.elevation_m):
            raise ValueError("rating table needs matching, strictly increasing elevations")

    def discharge(self, level: np.ndarray, gate: float) -> np.ndarray:
        return _interp_extrapolate(level, self.elevation_m, self.discharge_m3s)


class LevelPool:
    """A level-pool reservoir: state is the storage (m3); see the module docstring.

    ``top_m`` bounds the level grid of the storage-indication table (default: the top
    of the stage-storage table plus half its height); a flood that would lift the pool
    above it raises ``ValueError``.
    """

    def __init__(
        self,
        table: StageStorage,
        rating: Rating,
        level_m: float,
        *,
        top_m: float | None = None,
        resolution: int = 256,
    ) -> None:
        self.table = table
        self.rating = rating
        self.storage = float(table.storage(level_m))
        span = table.elevation_m[-1] - table.bottom
        self.top_m = table.elevation_m[-1] + span / 2 if top_m is None else top_m
        if not table.bottom <= level_m <= self.top_m:
            raise ValueError(f"level {level_m!r} m is outside [{table.bottom}, {self.top_m}] m (the stage-storage "
                             "table, and half its height above it)")
        self._levels = np.linspace(table.bottom, self.top_m, resolution)
        self._storages = table.storage(self._levels)
        self._si_key: tuple[float, float] | None = None
        self._si_curve = np.empty(0)

    @property
    def level(self) -> float:
        """Pool elevation (m)."""
        return float(self.table.level(self.storage))

    def outflow(self, gate: float) -> float:
        """Outflow (m3/s) at the current level with the gate at ``gate``."""
        return float(self.rating.discharge(np.asarray(self.level), gate))

    def route(self, mean_inflow: float, dt: float, gate_start: float, gate_end: float | None = None) -> float:
        """Advance ``dt`` s with mean inflow ``(I1 + I2) / 2`` (m3/s); return the mean outflow.

        The outflow at the start uses ``gate_start`` and at the end ``gate_end`` (default:
        the same), i.e. the gate moves linearly across the step.  A step so long that the
        storage-indication value turns negative is split in halves.
        """
        if dt <= 0:
            raise ValueError(f"time step must be > 0 s, got {dt!r}")
        gate_end = gate_start if gate_end is None else gate_end
        out1 = self.outflow(gate_start)
        indication = 2.0 * mean_inflow + 2.0 * self.storage / dt - out1
        if indication < 0.0:
            middle = 0.5 * (gate_start + gate_end)
            first = self.route(mean_inflow, dt / 2, gate_start, middle)
            return 0.5 * (first + self.route(mean_inflow, dt / 2, middle, gate_end))
        out2 = self._solve_indication(indication, dt, gate_end)
        self.storage = max((indication - out2) * dt / 2.0, 0.0)
        return 0.5 * (out1 + out2)

    def _solve_indication(self, indication: float, dt: float, gate: float) -> float:
        """Outflow ``O2`` with ``2 S(z)/dt + O(z, gate) = indication``, solved for the level z.

        The tabulated curve brackets the root; Brent's method then solves the equation
        with the exact rating, so the result does not depend on the table's resolution.
        """
        if self._si_key != (dt, gate):
            self._si_curve = 2.0 * self._storages / dt + self.rating.discharge(self._levels, gate)
            self._si_key = (dt, gate)
        curve = self._si_curve
        if indication > curve[-1]:
            raise ValueError(
                f"reservoir overtopped: the pool would rise above {self.top_m:g} m, the top of the "
                "level grid (extend reservoir_table)"
            )
        if indication <= curve[0]:
            return float(self.rating.discharge(np.asarray(self._levels[0]), gate))
        k = int(np.searchsorted(curve, indication))  # curve[k-1] < indication <= curve[k]
        lo = float(self._levels[max(k - 2, 0)])  # one cell of margin on each side, so that
        hi = float(self._levels[min(k + 1, curve.size - 1)])  # round-off cannot lose the sign change

        def residual(level: float) -> float:
            z = np.asarray(level)
            return float(2.0 * self.table.storage(z) / dt + self.rating.discharge(z, gate)) - indication

        level = scipy.optimize.brentq(residual, lo, hi, xtol=1e-10, rtol=1e-14)
        return float(self.rating.discharge(np.asarray(level), gate))

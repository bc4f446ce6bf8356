"""River channel below the dam: Muskingum reaches in series, each ending at a gauge.

Muskingum storage ``S = K [X I + (1 - X) O]`` with continuity ``dS/dt = I - O``,
discretised over ``dt`` (McCarthy 1938; Chow, Maidment & Mays 1988, sec. 8.4)::

    O2 = C0 I2 + C1 I1 + C2 O1
    C0 = (dt - 2KX) / D,  C1 = (dt + 2KX) / D,  C2 = (2K(1-X) - dt) / D,  D = 2K(1-X) + dt

with ``C0 + C1 + C2 = 1``.  A reach may be split into ``subreaches`` (each ``K/n``,
as in HEC-HMS) so that ``C0 >= 0`` at the federate's step; a step longer than
``2 K (1-X)`` is split in time (inflow interpolated linearly) so that ``C2 >= 0``.

Each gauge converts discharge to stage with Manning's equation for a wide rectangular
section: ``h = (Q n / (B sqrt(S0)))^(3/5)``, ``stage = datum + h``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

__all__ = ["Channel", "GaugeRating", "MuskingumRouter", "Reach", "muskingum_coefficients"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def muskingum_coefficients(k_s: float, x: float, dt: float) -> tuple[float, float, float]:
    """Muskingum ``(C0, C1, C2)`` for storage constant ``k_s`` (s), weight ``x`` and step ``dt`` (s)."""
    denom = 2.0 * k_s * (1.0 - x) + dt
    return (dt - 2.0 * k_s * x) / denom, (dt + 2.0 * k_s * x) / denom, (2.0 * k_s * (1.0 - x) - dt) / denom


@dataclass(frozen=True)
class GaugeRating:
    """Manning rating of a wide rectangular channel at a gauge."""

    width_m: float = 60.0
    slope: float = 1e-3
    manning_n: float = 0.035  # s/m^(1/3)
    datum_m: float = 0.0  # bed elevation at the gauge (m a.s.l.)

    def __post_init__(self) -> None:
        for name in ("width_m", "slope", "manning_n"):
            if not getattr(self, name) > 0:
                raise ValueError(f"gauge {name} must be > 0, got {getattr(self, name)!r}")

    def depth(self, discharge: float) -> float:
        """Normal flow depth (m) carrying ``discharge`` (m3/s)."""
        conveyance = self.width_m * math.sqrt(self.slope) / self.manning_n
        return float((max(discharge, 0.0) / conveyance) ** 0.6)

    def stage(self, discharge: float) -> float:
        """Water-surface elevation (m a.s.l.) at ``discharge`` (m3/s)."""
        return self.datum_m + self.depth(discharge)

    def discharge(self, stage: float) -> float:
        """The discharge (m3/s) whose normal depth reaches ``stage`` (m a.s.l.): the rating inverted."""
        conveyance = self.width_m * math.sqrt(self.slope) / self.manning_n
        return float(conveyance * max(stage - self.datum_m, 0.0) ** (1.0 / 0.6))


@dataclass(frozen=True)
class Reach:
    """A Muskingum reach ending at gauge ``gauge``."""

    gauge: str
    k_s: float
    x: float
    subreaches: int = 1
    rating: GaugeRating = GaugeRating()

    def __post_init__(self) -> None:
        if not _NAME.match(self.gauge):
            raise ValueError(
                f"gauge name {self.gauge!r} must be an identifier (letters, digits, '_'), "
                "it becomes the outputs 'stage.<name>' and 'discharge.<name>'"
            )
        if not self.k_s > 0:
            raise ValueError(f"reach '{self.gauge}': k_s must be > 0 s, got {self.k_s!r}")
        if not 0.0 <= self.x <= 0.5:
            raise ValueError(f"reach '{self.gauge}': x must be in [0, 0.5], got {self.x!r}")
        if self.subreaches < 1:
            raise ValueError(f"reach '{self.gauge}': subreaches must be >= 1, got {self.subreaches!r}")

    @staticmethod
    def subreaches_for(k_s: float, x: float, dt: float) -> int:
        """Fewest subreaches with ``2 (K/n) X <= dt``, i.e. ``C0 >= 0`` at step ``dt``."""
        return max(1, math.ceil(2.0 * k_s * x / dt - 1e-12))


class MuskingumRouter:
    """Routing state of one reach: the outflow of each subreach (m3/s)."""

    def __init__(self, reach: Reach, discharge_m3s: float = 0.0) -> None:
        self.reach = reach
        self.k_sub = reach.k_s / reach.subreaches
        self.inflow = discharge_m3s
        self.outflows = np.full(reach.subreaches, float(discharge_m3s))
        self._coefficients: dict[float, tuple[float, float, float]] = {}

    @property
    def outflow(self) -> float:
        return float(self.outflows[-1])

    @property
    def storage(self) -> float:
        """Muskingum storage of the reach, sum over subreaches (m3)."""
        x = self.reach.x
        inflows = np.concatenate(([self.inflow], self.outflows[:-1]))
        return float(np.sum(self.k_sub * (x * inflows + (1.0 - x) * self.outflows)))

    def substeps_for(self, dt: float) -> int:
        """Time substeps needed for ``C2 >= 0`` (``dt/m <= 2 (K/n) (1 - X)``)."""
        return max(1, math.ceil(dt / (2.0 * self.k_sub * (1.0 - self.reach.x)) - 1e-12))

    def route(self, inflow_end: float, dt: float) -> float:
        """Advance ``dt`` s with inflow going linearly to ``inflow_end``; return the outflow."""
        if dt <= 0:
            raise ValueError(f"time step must be > 0 s, got {dt!r}")
        substeps = self.substeps_for(dt)
        start = self.inflow
        for j in range(1, substeps + 1):
            self.step(start + (inflow_end - start) * j / substeps, dt / substeps)
        return self.outflow

    def step(self, inflow_end: float, dt: float) -> float:
        """One Muskingum step of ``dt`` s through every subreach; return the outflow."""
        c0, c1, c2 = self._coefficients_for(dt)
        i1, i2 = self.inflow, inflow_end
        self.inflow = inflow_end
        outflows = self.outflows
        for k in range(outflows.size):
            o1 = outflows[k]
            o2 = c0 * i2 + c1 * i1 + c2 * o1
            outflows[k] = o2
            i1, i2 = o1, o2
        return float(o2)

    def _coefficients_for(self, dt: float) -> tuple[float, float, float]:
        found = self._coefficients.get(dt)
        if found is None:
            found = muskingum_coefficients(self.k_sub, self.reach.x, dt)
            self._coefficients[dt] = found
        return found


class Channel:
    """Reaches in series below the dam; ``route`` returns the discharge at each gauge."""

    def __init__(self, reaches: tuple[Reach, ...], discharge_m3s: float = 0.0) -> None:
        if not reaches:
            raise ValueError("reaches: the channel needs at least one reach")
        names = [r.gauge for r in reaches]
        if len(set(names)) != len(names):
            raise ValueError(f"gauge names must be unique, got {names}")
        self.routers = [MuskingumRouter(r, discharge_m3s) for r in reaches]

    @property
    def gauges(self) -> list[str]:
        return [r.reach.gauge for r in self.routers]

    @property
    def discharges(self) -> list[float]:
        return [r.outflow for r in self.routers]

    @property
    def storage(self) -> float:
        return sum(r.storage for r in self.routers)

    def route(self, inflow_end: float, dt: float) -> list[float]:
        """Route the dam release (linear over ``dt`` to ``inflow_end``) down every reach.

        All reaches share the time substeps, so each reach receives exactly the water
        the reach above it released.
        """
        if dt <= 0:
            raise ValueError(f"time step must be > 0 s, got {dt!r}")
        substeps = max(r.substeps_for(dt) for r in self.routers)
        start = self.routers[0].inflow
        for j in range(1, substeps + 1):
            flow = start + (inflow_end - start) * j / substeps
            for router in self.routers:
                flow = router.step(flow, dt / substeps)
        return self.discharges

"""Floodplain along the river through the city, with the assets that can be flooded.

The floodplain is a strip of width ``width_m`` along the valley, described by a 1-D
profile of bed elevations.  The river's main channel carries up to its bankfull
discharge; the excess spills onto the strip at its upstream end and is routed down
the valley by :class:`~federates.flood.shallow_water.ShallowWater1D` (wet/dry fronts,
Manning friction).  The downstream end is transmissive: water leaves the model there.

An asset sits at a chainage; its depth of water is ``max(0, eta - ground)`` where
``eta`` is the water surface of the cell containing it and ``ground`` is the asset's
floor elevation (by default the bed elevation of that cell, i.e. the local depth).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .shallow_water import Boundary, ShallowWater1D, SolverSettings

__all__ = ["Asset", "Floodplain", "FloodplainConfig"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Asset:
    """A named asset on the floodplain; ``ground_m`` None = the bed at its chainage."""

    name: str
    chainage_m: float
    ground_m: float | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(
                f"assets: name {self.name!r} must be an identifier (letters, digits, '_'), "
                "it becomes the output 'depth.<name>'"
            )


@dataclass(frozen=True)
class FloodplainConfig:
    """Geometry and numerics of the floodplain model."""

    chainage_m: tuple[float, ...]
    bed_m: tuple[float, ...]
    width_m: float
    cells: int
    manning_n: float
    assets: tuple[Asset, ...] = ()
    wet_depth_m: float = 0.05
    cfl: float = 0.9
    order: int = 1

    def __post_init__(self) -> None:
        if len(self.chainage_m) != len(self.bed_m) or len(self.chainage_m) < 2:
            raise ValueError("floodplain_profile needs at least two [chainage_m, bed_m] rows")
        if any(b <= a for a, b in zip(self.chainage_m, self.chainage_m[1:])):
            raise ValueError(f"floodplain_profile chainages must increase strictly: {list(self.chainage_m)}")
        if not self.width_m > 0:
            raise ValueError(f"floodplain_width_m must be > 0, got {self.width_m!r}")
        if self.cells < 2:
            raise ValueError(f"floodplain_cells must be >= 2, got {self.cells!r}")
        if self.wet_depth_m < 0:
            raise ValueError(f"wet_depth_m must be >= 0, got {self.wet_depth_m!r}")
        start, end = self.chainage_m[0], self.chainage_m[-1]
        for asset in self.assets:
            if not start <= asset.chainage_m <= end:
                raise ValueError(
                    f"assets: '{asset.name}' at chainage {asset.chainage_m:g} m is outside the "
                    f"floodplain profile [{start:g}, {end:g}] m"
                )
        names = [a.name for a in self.assets]
        if len(set(names)) != len(names):
            raise ValueError(f"assets: names must be unique, got {names}")

    @property
    def length_m(self) -> float:
        return self.chainage_m[-1] - self.chainage_m[0]


class Floodplain:
    """The floodplain's shallow-water state and what it tells about the assets."""

    def __init__(self, config: FloodplainConfig) -> None:
        self.config = config
        dx = config.length_m / config.cells
        self.centres = config.chainage_m[0] + (np.arange(config.cells) + 0.5) * dx
        bed = np.interp(self.centres, config.chainage_m, config.bed_m)
        settings = SolverSettings(cfl=config.cfl, manning_n=config.manning_n, order=config.order)
        self.model = ShallowWater1D(
            bed, dx, left=Boundary.INFLOW, right=Boundary.TRANSMISSIVE, settings=settings
        )
        self._cells = np.array([self._cell_of(a.chainage_m) for a in config.assets], dtype=int)
        self._ground = np.array(
            [bed[c] if a.ground_m is None else a.ground_m for a, c in zip(config.assets, self._cells)]
        )

    def _cell_of(self, chainage: float) -> int:
        dx = self.model.dx
        return min(int((chainage - self.config.chainage_m[0]) // dx), self.config.cells - 1)

    def advance(self, dt: float, inflow_start_m3s: float, inflow_end_m3s: float) -> int:
        """Route ``dt`` s of overbank inflow (m3/s, linear in time); return the substeps."""
        width = self.config.width_m
        return self.model.advance(dt, inflow_start_m3s / width, inflow_end_m3s / width)

    def asset_depths(self) -> dict[str, float]:
        """Depth of water (m) at each asset."""
        surface = self.model.h[self._cells] + self.model.z[self._cells]
        depth = np.maximum(surface - self._ground, 0.0)
        depth[self.model.h[self._cells] <= self.model.settings.dry_depth] = 0.0
        return {a.name: float(d) for a, d in zip(self.config.assets, depth)}

    @property
    def flooded_area(self) -> float:
        """Area (m2) where the depth exceeds ``wet_depth_m``."""
        wet = np.count_nonzero(self.model.h > self.config.wet_depth_m)
        return float(wet * self.model.dx * self.config.width_m)

    @property
    def volume(self) -> float:
        """Water on the floodplain (m3)."""
        return self.model.volume * self.config.width_m

    @property
    def net_inflow_volume(self) -> float:
        """Volume that entered minus volume that left through the ends since the start (m3)."""
        return self.model.boundary_inflow * self.config.width_m

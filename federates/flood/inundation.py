"""The 2-D inundation federate: shallow water on a city's terrain, water depth at its assets.

A DEM (ESRI ASCII grid or GeoTIFF) gives the terrain; inflow hydrographs enter at
boundary cells (``inflow.<name>`` inputs, from the river model or a player, or a
``hydrograph`` series in the parameters), rain falls on every cell (``rain`` input or a
``rainfall`` series), and :class:`~.shallow_water_2d.ShallowWater2D` routes the water.
The outputs are named as the 1-D flood federate's (``depth.<asset>``, ``flooded_area``,
``flood_volume``), so the rest of a cascade connects to them unchanged.

Timing is that of the flood federate: ``step(t)`` advances the model from the previous
grant to ``t`` with the inputs read at the previous grant held over the interval (series
given as parameters use their exact mean over it), then reads the inputs at ``t``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from federation import Context, Declaration, Federate, Input, Output, Parameter, ParameterCheck

from .dem import Dem, read_dem
from .hydrology import Hyetograph
from .local_inertia import InertialSettings, LocalInertia2D
from .map_features import InflowBoundary, MapAsset, parse_assets, parse_inflows
from .shallow_water_2d import Edge, Settings2D, ShallowWater2D

__all__ = ["InundationConfig", "InundationFederate", "Scheme"]

MM_PER_H = 1.0 / 3.6e6  # m/s in 1 mm/h


class Scheme(enum.Enum):
    """The equations the federate solves (docs/federates/flood.md: when to use which)."""

    SWE = "swe"  # full shallow-water equations, HLL finite volumes: fronts, jumps, fast flow
    INERTIAL = "inertial"  # local inertia (LISFLOOD-FP): slow floodplain flow, several times faster

    def settings(self, cfl: float | None) -> Settings2D:
        """The solver's settings; ``cfl`` None: the scheme's default Courant number."""
        cls = InertialSettings if self is Scheme.INERTIAL else Settings2D
        return cls() if cfl is None else cls(cfl=cfl)

    def model(self, bed: NDArray[np.float64], dx: float, manning_n: float | NDArray[np.float64],
              open_edges: frozenset[Edge], cfl: float | None) -> ShallowWater2D:  # fmt: skip
        """A solver of this scheme on the terrain."""
        cls = LocalInertia2D if self is Scheme.INERTIAL else ShallowWater2D
        settings = self.settings(cfl)
        return cls(bed, dx, manning_n=manning_n, open_edges=open_edges, settings=settings)  # type: ignore[arg-type]


@dataclass(frozen=True)
class InundationConfig:
    """The inundation federate's parameters, parsed (the DEM itself is read in setup)."""

    dem: Path
    manning_n: float | Path
    open_edges: frozenset[Edge]
    assets: tuple[MapAsset, ...]
    inflows: tuple[InflowBoundary, ...]
    rainfall: Hyetograph | None
    wet_depth_m: float
    scheme: Scheme
    cfl: float | None
    map_cells: int
    map_interval_s: float

    @classmethod
    def from_params(cls, p: Mapping[str, Any]) -> InundationConfig:
        """The parsed parameters; every bad value is reported at once (a :class:`ParameterError`)."""
        check = ParameterCheck()
        base = Path(str(p.get("_base_dir") or "."))
        if not isinstance(p["dem"], str) or not p["dem"]:
            check.fail("dem", f"expected the path of a .asc or .tif file, got {p['dem']!r}")
        manning = _manning(base, p["manning_n"], check)
        open_edges = _edges(p["open_edges"], check)
        assets = check.build("assets", parse_assets, p["assets"]) or ()
        inflows = check.build("inflows", parse_inflows, p["inflows"]) or ()
        if len({a.name for a in assets}) != len(assets):
            check.fail("assets", "names must be unique")
        rainfall = None if p["rainfall"] is None else check.build("rainfall", Hyetograph.from_pairs, p["rainfall"])
        for key, low in (("wet_depth_m", 0.0), ("map_interval_s", 0.0)):
            if isinstance(p[key], bool) or not isinstance(p[key], (int, float)) or not p[key] >= low:
                check.fail(key, f"expected a number >= {low:g}, got {p[key]!r}")
        if isinstance(p["map_cells"], bool) or not isinstance(p["map_cells"], int) or p["map_cells"] < 2:
            check.fail("map_cells", f"expected a whole number >= 2, got {p['map_cells']!r}")
        scheme, cfl = _scheme(p["scheme"], p["cfl"], check)
        check.done()
        assert scheme is not None
        return cls(
            dem=_path(base, p["dem"]), manning_n=manning, open_edges=open_edges, assets=tuple(assets),
            inflows=tuple(inflows), rainfall=rainfall, wet_depth_m=float(p["wet_depth_m"]), scheme=scheme,
            cfl=cfl, map_cells=int(p["map_cells"]), map_interval_s=float(p["map_interval_s"]),
        )  # fmt: skip


def _manning(base: Path, n: Any, check: ParameterCheck) -> float | Path:
    if isinstance(n, str):
        return _path(base, n)
    if isinstance(n, (int, float)) and not isinstance(n, bool) and n >= 0:
        return float(n)
    check.fail("manning_n", f"expected a roughness >= 0 or a grid file, got {n!r}")
    return 0.0


def _edges(edges: Any, check: ParameterCheck) -> frozenset[Edge]:
    try:
        return frozenset(Edge(e) for e in edges)
    except (TypeError, ValueError):
        known = ", ".join(e.value for e in Edge)
        check.fail("open_edges", f"expected a list of {known}, got {edges!r}")
        return frozenset()


def _scheme(name: Any, cfl: Any, check: ParameterCheck) -> tuple[Scheme | None, float | None]:
    try:
        scheme = Scheme(name)
    except ValueError:
        known = ", ".join(s.value for s in Scheme)
        check.fail("scheme", f"expected one of {known}, got {name!r}")
        return None, None
    if cfl is not None and (isinstance(cfl, bool) or not isinstance(cfl, (int, float))):
        check.fail("cfl", f"expected a Courant number, got {cfl!r}")
        return scheme, None
    courant = None if cfl is None else float(cfl)
    check.build("cfl", scheme.settings, courant)
    return scheme, courant


def _path(base: Path, name: str) -> Path:
    path = Path(name)
    return path if path.is_absolute() else base / path


class InundationFederate(Federate):
    """2-D shallow-water inundation on a DEM; publishes water depths at the assets."""

    default_period: ClassVar[float | None] = 300.0
    #: The runtime passes the scenario's directory as ``_base_dir``: relative file paths start there.
    resolves_paths: ClassVar[bool] = True

    dem: Parameter[str] = Parameter("", type=str, doc="DEM file: ESRI ASCII grid (.asc) or GeoTIFF (.tif)")
    manning_n: Parameter[Any] = Parameter(
        0.05, type=(int, float, str), unit="s/m^(1/3)", doc="Manning roughness: one value or a grid file like the DEM")
    open_edges: Parameter[list[str]] = Parameter(
        [], type=list, doc="edges where water leaves the map: north, south, east, west (others are walls)")
    assets: Parameter[dict[str, Any]] = Parameter(
        {}, type=dict, doc="name -> {x, y} or {polygon: [[x, y], ...]}, optional ground_m (map coordinates, m)")
    inflows: Parameter[dict[str, Any]] = Parameter(
        {}, type=dict, doc="name -> {x, y} or {line: [[x, y], [x, y]]}, optional hydrograph [[s, m3/s], ...]")
    rainfall: Parameter[Any] = Parameter(
        None, type=object, unit="[[s, mm/h], ...]", doc="rain series on the grid; when given, replaces the 'rain' input")
    wet_depth_m: Parameter[float] = Parameter(0.05, unit="m", doc="depth above which a cell counts as flooded")
    scheme: Parameter[str] = Parameter(
        "swe", type=str, choices=tuple(s.value for s in Scheme),
        doc="swe: full shallow-water equations; inertial: local inertia, faster, for slow floodplain flow")
    cfl: Parameter[Any] = Parameter(
        None, type=(int, float, type(None)),
        doc="Courant number: swe <= 0.5 (default 0.45), inertial <= 0.7 (default 0.7)")
    map_cells: Parameter[int] = Parameter(
        150, type=int, doc="cells along the longer side of the published maximum-depth map")
    map_interval_s: Parameter[float] = Parameter(
        21600.0, unit="s", doc="how often the maximum-depth map is republished (and at the last step)")

    flooded_area = Output(unit="m2", default=0.0, doc="area deeper than wet_depth_m")
    flood_volume = Output(unit="m3", default=0.0, doc="water on the map")
    max_depth = Output(unit="m", default=0.0, doc="deepest water on the map now")
    substeps = Output(type=int, default=0, doc="solver steps taken in the last interval")
    max_depth_map = Output(type=object, default={}, doc="maximum depth so far on a coarse grid, with the assets")

    @classmethod
    def declare(cls, params: Mapping[str, Any]) -> Declaration:
        decl = super().declare(params)
        config = InundationConfig.from_params({p.name: p.default for p in decl.parameters} | dict(params))
        if config.rainfall is None:
            decl = decl.with_inputs(Input(name="rain", unit="mm/h", default=0.0, doc="rain on the grid"))
        decl = decl.with_inputs(*(Input(name=f"inflow.{b.name}", unit="m3/s", default=0.0, doc=f"inflow at {b.name}")
                                  for b in config.inflows if b.hydrograph is None))  # fmt: skip
        return decl.with_outputs(*(Output(name=f"depth.{a.name}", unit="m", default=0.0, doc=f"water depth at {a.name}")
                                   for a in config.assets))  # fmt: skip

    def __init__(self, params: Mapping[str, Any], context: Context) -> None:
        super().__init__(params, context)
        self.config = InundationConfig.from_params(self.params)

    # ------------------------------------------------------------------ life cycle
    def setup(self) -> None:
        c = self.config
        self.terrain = read_dem(c.dem)
        manning = c.manning_n if isinstance(c.manning_n, float) else _roughness(c.manning_n, self.terrain)
        self.model = c.scheme.model(self.terrain.elevation, self.terrain.cell_size, manning, c.open_edges, c.cfl)
        self._asset_cells = {a.name: a.cells(self.terrain) for a in c.assets}
        self._inflow_cells = {b.name: self.model.flat_cells(*b.cells(self.terrain)) for b in c.inflows}
        self._rates = {b.name: 0.0 for b in c.inflows}
        self._rain = 0.0
        self._last_t: float | None = None
        self._next_map = -math.inf

    def step(self, t: float) -> float | None:
        steps = 0
        if self._last_t is not None and t > self._last_t:
            steps = self._advance(self._last_t, t)
        self._last_t = t
        self._read_inputs(t)
        self._publish(t, steps)
        return None

    def _advance(self, t0: float, t1: float) -> int:
        c = self.config
        rain = c.rainfall.mean_rate(t0, t1) if c.rainfall is not None else self._rain
        flows = []
        for b in c.inflows:
            rate = b.hydrograph.mean(t0, t1) if b.hydrograph is not None else self._rates[b.name]
            flows.append((self._inflow_cells[b.name], rate))
        return self.model.advance(t1 - t0, rain=rain * MM_PER_H, inflows=tuple(flows))

    def _read_inputs(self, t: float) -> None:
        if self.config.rainfall is None:
            self._rain = _rate(self.inputs["rain"], "rain", "mm/h", t)
        for b in self.config.inflows:
            if b.hydrograph is None:
                self._rates[b.name] = _rate(self.inputs[f"inflow.{b.name}"], f"inflow.{b.name}", "m3/s", t)

    # ------------------------------------------------------------------ outputs
    def asset_depths(self) -> dict[str, float]:
        """Water depth (m) at each asset: the largest over its cells."""
        model, out = self.model, {}
        surface, depth = model.surface, model.depth
        for asset in self.config.assets:
            rows, cols = self._asset_cells[asset.name]
            if asset.ground_m is None:
                value = float(depth[rows, cols].max())
            else:
                wet = depth[rows, cols] > model.settings.dry_depth
                value = float(np.max(np.where(wet, surface[rows, cols] - asset.ground_m, 0.0), initial=0.0))
            out[asset.name] = max(value, 0.0)
        return out

    def _publish(self, t: float, steps: int) -> None:
        depth, area = self.model.depth, self.terrain.cell_size**2
        out = self.outputs
        out["flooded_area"] = float(np.count_nonzero(depth > self.config.wet_depth_m) * area)
        out["flood_volume"] = self.model.volume
        out["max_depth"] = float(depth.max())
        out["substeps"] = steps
        for name, value in self.asset_depths().items():
            out[f"depth.{name}"] = value
        last = self.context.period is not None and t + self.context.period >= self.context.stop
        if t >= self._next_map or last:
            out["max_depth_map"] = self.depth_map(t)
            self._next_map = t + self.config.map_interval_s if self.config.map_interval_s > 0 else math.inf

    def depth_map(self, t: float) -> dict[str, Any]:
        """The maximum depth so far, block-maximum on at most ``map_cells`` cells a side, in mm."""
        grid = self.model.max_depth
        rows, cols = grid.shape
        k = max(1, math.ceil(max(rows, cols) / self.config.map_cells))
        padded = np.full((math.ceil(rows / k) * k, math.ceil(cols / k) * k), 0.0)
        padded[:rows, :cols] = grid
        blocks = padded.reshape(padded.shape[0] // k, k, padded.shape[1] // k, k).max(axis=(1, 3))
        terrain = self.terrain
        return {
            "time": t, "x_min": terrain.x_min, "y_max": terrain.y_max, "cell_m": terrain.cell_size * k,
            "extent": list(terrain.extent), "unit": "mm",
            "depth": np.round(blocks * 1000.0).astype(int).tolist(),
            "assets": {a.name: [list(p) for p in a.points] for a in self.config.assets},
        }  # fmt: skip


def _rate(value: Any, name: str, unit: str, t: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"input '{name}' must be a finite rate >= 0 {unit}, got {value!r} at t={t:g} s")
    return float(value)


def _roughness(path: Path, terrain: Dem) -> NDArray[np.float64]:
    grid = read_dem(path)
    if grid.shape != terrain.shape or not math.isclose(grid.cell_size, terrain.cell_size):
        raise ValueError(f"{path}: the roughness grid must match the DEM ({terrain!r}), got {grid!r}")
    if np.any(grid.elevation[np.isfinite(terrain.elevation)] < 0) or np.isnan(grid.elevation[np.isfinite(terrain.elevation)]).any():
        raise ValueError(f"{path}: roughness must be >= 0 on every cell of the DEM")
    return np.where(np.isfinite(grid.elevation), grid.elevation, 0.0)

"""What sits on the 2-D model's map: assets (points or polygons) and inflow boundaries.

Coordinates are map coordinates of the DEM (m).  Scenario forms::

    assets:
      substation_a: {x: 1250, y: 830, ground_m: 49.6}      # a point; ground_m optional
      factory: {polygon: [[1400, 700], [1600, 700], [1600, 820], [1400, 820]]}
    inflows:
      river: {line: [[0, 600], [0, 900]]}                   # cells along the segment
      creek: {x: 2000, y: 1400, hydrograph: [[0, 5], [3600, 40], [7200, 5]]}  # m3/s, linear

An asset's depth is the largest ``max(0, eta - ground)`` over its cells (the cell holding
a point; the cells whose centres lie in a polygon, or the one holding its centroid when
none does), ``ground`` being ``ground_m`` when given, else each cell's bed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.path import Path as Polygon
from numpy.typing import NDArray

from .dem import Dem

__all__ = ["Hydrograph", "InflowBoundary", "MapAsset", "parse_assets", "parse_inflows"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
Point = tuple[float, float]
Cells = tuple[NDArray[np.int_], NDArray[np.int_]]


@dataclass(frozen=True)
class Hydrograph:
    """A discharge series (m3/s), linear between its points, held beyond its ends."""

    times: tuple[float, ...]
    rates: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.times) != len(self.rates) or not self.times:
            raise ValueError("hydrograph must be a non-empty list of [t_s, m3_per_s] pairs")
        if any(b <= a for a, b in zip(self.times, self.times[1:])):
            raise ValueError(f"hydrograph times must increase strictly, got {list(self.times)}")
        if any(not (q >= 0 and math.isfinite(q)) for q in self.rates):
            raise ValueError(f"hydrograph discharges must be finite and >= 0 m3/s, got {list(self.rates)}")

    def mean(self, t0: float, t1: float) -> float:
        """Mean discharge over [t0, t1] (exact for the piecewise-linear series)."""
        if t1 <= t0:
            return float(np.interp(t0, self.times, self.rates))
        inside = [t for t in self.times if t0 < t < t1]
        times = np.array([t0, *inside, t1])
        rates = np.interp(times, self.times, self.rates)
        return float(np.sum(0.5 * (rates[1:] + rates[:-1]) * np.diff(times)) / (t1 - t0))


@dataclass(frozen=True)
class MapAsset:
    """A named asset: one point, or a polygon of three or more vertices."""

    name: str
    points: tuple[Point, ...]
    ground_m: float | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"assets: name {self.name!r} must be an identifier (letters, digits, '_'), "
                             "it becomes the output 'depth.<name>'")  # fmt: skip
        if len(self.points) not in (1,) and len(self.points) < 3:
            raise ValueError(f"assets.{self.name}: a polygon needs at least 3 vertices, got {len(self.points)}")

    @property
    def is_point(self) -> bool:
        return len(self.points) == 1

    def cells(self, dem: Dem) -> Cells:
        """(rows, cols) of the DEM cells the asset covers."""
        try:
            if self.is_point:
                row, col = dem.cell_of(*self.points[0])
                return np.array([row]), np.array([col])
            return _polygon_cells(self.points, dem)
        except ValueError as exc:
            raise ValueError(f"assets.{self.name}: {exc}") from exc


@dataclass(frozen=True)
class InflowBoundary:
    """Where an inflow enters: a point or a segment; ``hydrograph`` None = an input."""

    name: str
    points: tuple[Point, ...]
    hydrograph: Hydrograph | None = None

    def cells(self, dem: Dem) -> Cells:
        """(rows, cols) of the cells along the segment (or holding the point), each once."""
        try:
            if len(self.points) == 1:
                row, col = dem.cell_of(*self.points[0])
                return np.array([row]), np.array([col])
            (x0, y0), (x1, y1) = self.points
            count = max(2, int(math.hypot(x1 - x0, y1 - y0) / (0.25 * dem.cell_size)) + 2)
            found = sorted({dem.cell_of(x0 + (x1 - x0) * f, y0 + (y1 - y0) * f) for f in np.linspace(0, 1, count)})
        except ValueError as exc:
            raise ValueError(f"inflows.{self.name}: {exc}") from exc
        return np.array([r for r, _ in found]), np.array([c for _, c in found])


def _polygon_cells(points: tuple[Point, ...], dem: Dem) -> Cells:
    xs, ys = dem.centres()
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    cols = np.flatnonzero((xs >= x0) & (xs <= x1))
    rows = np.flatnonzero((ys >= y0) & (ys <= y1))
    if rows.size and cols.size:
        rr, cc = np.meshgrid(rows, cols, indexing="ij")
        inside = Polygon(points).contains_points(np.column_stack([xs[cc.ravel()], ys[rr.ravel()]]))
        if inside.any():
            return rr.ravel()[inside], cc.ravel()[inside]
    row, col = dem.cell_of(float(np.mean([p[0] for p in points])), float(np.mean([p[1] for p in points])))
    return np.array([row]), np.array([col])


# ---------------------------------------------------------------------- parsing
def parse_assets(spec: Any) -> tuple[MapAsset, ...]:
    """``assets`` parameter: ``{name: {x, y} | {polygon: [[x, y], ...]}, [ground_m]}``."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"assets: expected a mapping name -> {{x, y}} or {{polygon}}, got {spec!r}")
    return tuple(_parse_asset(str(name), value) for name, value in spec.items())


def _parse_asset(name: str, value: Any) -> MapAsset:
    where = f"assets.{name}"
    if isinstance(value, (list, tuple)):
        return MapAsset(name, (_point(value, where),))
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected {{x, y}}, {{polygon: [[x, y], ...]}} or [x, y], got {value!r}")
    unknown = sorted(set(value) - {"x", "y", "polygon", "ground_m"})
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (known: x, y, polygon, ground_m)")
    ground = value.get("ground_m")
    if ground is not None and (isinstance(ground, bool) or not isinstance(ground, (int, float))):
        raise ValueError(f"{where}.ground_m: expected an elevation in m, got {ground!r}")
    ground_m = None if ground is None else float(ground)
    if "polygon" in value:
        if "x" in value or "y" in value:
            raise ValueError(f"{where}: give either x and y or a polygon, not both")
        vertices = value["polygon"]
        if not isinstance(vertices, (list, tuple)):
            raise ValueError(f"{where}.polygon: expected [[x, y], ...], got {vertices!r}")
        return MapAsset(name, tuple(_point(v, f"{where}.polygon") for v in vertices), ground_m)
    return MapAsset(name, (_point([value.get("x"), value.get("y")], where),), ground_m)


def parse_inflows(spec: Any) -> tuple[InflowBoundary, ...]:
    """``inflows`` parameter: ``{name: {x, y} | {line: [[x, y], [x, y]]}, [hydrograph]}``."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"inflows: expected a mapping name -> {{x, y}} or {{line}}, got {spec!r}")
    out = []
    for name, value in spec.items():
        where = f"inflows.{name}"
        if not _NAME.match(str(name)):
            raise ValueError(f"{where}: the name must be an identifier, it becomes the input 'inflow.{name}'")
        if not isinstance(value, Mapping):
            raise ValueError(f"{where}: expected {{x, y}} or {{line: [[x, y], [x, y]]}}, got {value!r}")
        unknown = sorted(set(value) - {"x", "y", "line", "hydrograph"})
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown[0]!r} (known: x, y, line, hydrograph)")
        if "line" in value:
            line = value["line"]
            if not isinstance(line, (list, tuple)) or len(line) != 2:
                raise ValueError(f"{where}.line: expected two points [[x, y], [x, y]], got {line!r}")
            points = tuple(_point(p, f"{where}.line") for p in line)
        else:
            points = (_point([value.get("x"), value.get("y")], where),)
        hydrograph = None
        if value.get("hydrograph") is not None:
            try:
                pairs = [(float(t), float(q)) for t, q in value["hydrograph"]]
                hydrograph = Hydrograph(tuple(t for t, _ in pairs), tuple(q for _, q in pairs))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where}.hydrograph: {exc}") from None
        out.append(InflowBoundary(str(name), points, hydrograph))
    return tuple(out)


def _point(value: Any, where: str) -> Point:
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        raise ValueError(f"{where}: expected a point [x, y] in map coordinates (m), got {value!r}")  # fmt: skip
    return float(value[0]), float(value[1])

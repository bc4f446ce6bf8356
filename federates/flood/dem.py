"""Digital elevation models: a regular grid of ground elevations in map coordinates.

Two formats are read:

* **ESRI ASCII grid** (``.asc``): the header ``ncols``, ``nrows``, ``xllcorner`` or
  ``xllcenter``, ``yllcorner`` or ``yllcenter``, ``cellsize`` and an optional
  ``NODATA_value``, then ``nrows`` rows of ``ncols`` values, the first row the northern one;
* **GeoTIFF** (``.tif``, ``.tiff``), north-up with square pixels (ModelPixelScale and
  ModelTiepoint tags; pixel-is-area or pixel-is-point), one band, the GDAL_NODATA tag for
  no data.  It is read with tifffile, the optional extra ``federation[geotiff]``.

Map coordinates are whatever projected system the file uses, in metres; the grid's row 0
is its northern edge.  Cells without data are NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["Dem", "read_ascii_grid", "read_dem", "read_geotiff", "write_ascii_grid"]

_PIXEL_SCALE, _TIEPOINT, _TRANSFORMATION, _NODATA = 33550, 33922, 34264, 42113


@dataclass(frozen=True, eq=False)
class Dem:
    """Ground elevations (m) on square cells; ``elevation[0, 0]`` is the north-west cell."""

    elevation: NDArray[np.float64]
    cell_size: float  # m
    x_min: float  # western edge of the grid, map coordinates (m)
    y_max: float  # northern edge

    def __post_init__(self) -> None:
        if self.elevation.ndim != 2 or min(self.elevation.shape) < 2:
            raise ValueError(f"a DEM needs at least 2 x 2 cells, got shape {self.elevation.shape}")
        if not (self.cell_size > 0 and math.isfinite(self.cell_size)):
            raise ValueError(f"cell size must be > 0 m, got {self.cell_size!r}")
        if not np.isfinite(self.elevation).any():
            raise ValueError("the DEM has no cell with data")

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = self.elevation.shape
        return rows, cols

    @property
    def x_max(self) -> float:
        return self.x_min + self.shape[1] * self.cell_size

    @property
    def y_min(self) -> float:
        return self.y_max - self.shape[0] * self.cell_size

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(x_min, x_max, y_min, y_max) in map coordinates."""
        return self.x_min, self.x_max, self.y_min, self.y_max

    def contains(self, x: float, y: float) -> bool:
        return self.x_min <= x <= self.x_max and self.y_min <= y <= self.y_max

    def cell_of(self, x: float, y: float) -> tuple[int, int]:
        """(row, col) of the cell holding the map point (x, y); ``ValueError`` outside the grid."""
        if not self.contains(x, y):
            raise ValueError(f"point ({x:g}, {y:g}) is outside the DEM {self._extent_text()}")
        rows, cols = self.shape
        row = min(int((self.y_max - y) // self.cell_size), rows - 1)
        col = min(int((x - self.x_min) // self.cell_size), cols - 1)
        return row, col

    def centres(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Map coordinates of the cell centres: x per column, y per row."""
        rows, cols = self.shape
        half = 0.5 * self.cell_size
        x: NDArray[np.float64] = self.x_min + half + self.cell_size * np.arange(cols, dtype=np.float64)
        y: NDArray[np.float64] = self.y_max - half - self.cell_size * np.arange(rows, dtype=np.float64)
        return x, y

    def _extent_text(self) -> str:
        return f"x {self.x_min:g}..{self.x_max:g} m, y {self.y_min:g}..{self.y_max:g} m"

    def __repr__(self) -> str:
        rows, cols = self.shape
        return f"<Dem {rows} x {cols} cells of {self.cell_size:g} m, {self._extent_text()}>"


def read_dem(path: str | Path) -> Dem:
    """Read an ESRI ASCII grid (``.asc``) or a GeoTIFF (``.tif``/``.tiff``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".asc":
        return read_ascii_grid(path)
    if suffix in (".tif", ".tiff"):
        return read_geotiff(path)
    raise ValueError(f"{path}: unknown DEM format {suffix!r} (expected .asc, .tif or .tiff)")


# ---------------------------------------------------------------------- ESRI ASCII grid
_HEADER_KEYS = ("ncols", "nrows", "xllcorner", "xllcenter", "yllcorner", "yllcenter", "cellsize", "nodata_value")


def read_ascii_grid(path: str | Path) -> Dem:
    """Read an ESRI ASCII grid; errors name the file and line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the ASCII grid: {exc}") from exc
    header, first = _ascii_header(path, lines)
    rows, cols = int(header["nrows"]), int(header["ncols"])
    values: list[float] = []
    for number, line in enumerate(lines[first:], start=first + 1):
        words = line.split()
        if not words:
            continue
        try:
            values.extend(float(w) for w in words)
        except ValueError:
            raise ValueError(f"{path}:{number}: expected numbers, got {line.strip()[:60]!r}") from None
    if len(values) != rows * cols:
        raise ValueError(f"{path}: expected nrows x ncols = {rows} x {cols} = {rows * cols} values, got {len(values)}")
    grid = np.array(values, dtype=float).reshape(rows, cols)
    if "nodata_value" in header:
        grid[grid == header["nodata_value"]] = np.nan
    size = header["cellsize"]
    x_min = header["xllcorner"] if "xllcorner" in header else header["xllcenter"] - 0.5 * size
    y_min = header["yllcorner"] if "yllcorner" in header else header["yllcenter"] - 0.5 * size
    try:
        return Dem(grid, size, x_min, y_min + rows * size)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def _ascii_header(path: Path, lines: list[str]) -> tuple[dict[str, float], int]:
    header: dict[str, float] = {}
    index = 0
    for index, line in enumerate(lines):
        words = line.split()
        if not words:
            continue
        key = words[0].lower()
        if key not in _HEADER_KEYS:
            break
        if len(words) != 2:
            raise ValueError(f"{path}:{index + 1}: expected '{words[0]} <number>', got {line.strip()!r}")
        try:
            header[key] = float(words[1])
        except ValueError:
            raise ValueError(f"{path}:{index + 1}: {words[0]} must be a number, got {words[1]!r}") from None
    else:
        index = len(lines)
    missing = [k for k in ("ncols", "nrows", "cellsize") if k not in header]
    if not ("xllcorner" in header or "xllcenter" in header):
        missing.append("xllcorner")
    if not ("yllcorner" in header or "yllcenter" in header):
        missing.append("yllcorner")
    if missing:
        raise ValueError(f"{path}: ASCII grid header lacks {', '.join(missing)}")
    for key in ("ncols", "nrows"):
        if header[key] != int(header[key]) or header[key] < 2:
            raise ValueError(f"{path}: {key} must be a whole number >= 2, got {header[key]:g}")
    return header, index


def write_ascii_grid(dem: Dem, path: str | Path, *, nodata: float = -9999.0, decimals: int = 3) -> Path:
    """Write ``dem`` as an ESRI ASCII grid (NaN as ``nodata``)."""
    path = Path(path)
    rows, cols = dem.shape
    grid = np.where(np.isfinite(dem.elevation), np.round(dem.elevation, decimals), nodata)
    head = [f"ncols {cols}", f"nrows {rows}", f"xllcorner {dem.x_min!r}", f"yllcorner {dem.y_min!r}",
            f"cellsize {dem.cell_size!r}", f"NODATA_value {nodata:g}"]  # fmt: skip
    body = [" ".join(f"{v:.{decimals}f}".rstrip("0").rstrip(".") for v in row) for row in grid]
    path.write_text("\n".join(head + body) + "\n", encoding="ascii")
    return path


# ---------------------------------------------------------------------- GeoTIFF
def read_geotiff(path: str | Path) -> Dem:
    """Read a north-up, single-band GeoTIFF with square pixels (tifffile)."""
    path = Path(path)
    try:
        import tifffile
    except ImportError:
        raise ValueError(f"{path}: reading GeoTIFF needs tifffile: pip install 'federation[geotiff]'") from None
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            tags = {t: page.tags[t].value for t in (_PIXEL_SCALE, _TIEPOINT, _TRANSFORMATION, _NODATA)
                    if t in page.tags}  # fmt: skip
            keys = tif.geotiff_metadata or {}
            grid = np.asarray(page.asarray(), dtype=float)
    except (OSError, ValueError, tifffile.TiffFileError) as exc:
        raise ValueError(f"{path}: cannot read the GeoTIFF: {exc}") from exc
    if grid.ndim != 2:
        raise ValueError(f"{path}: expected one band, got an image of shape {grid.shape}")
    if _TRANSFORMATION in tags or _PIXEL_SCALE not in tags or _TIEPOINT not in tags:
        raise ValueError(f"{path}: only north-up GeoTIFFs with ModelPixelScale and ModelTiepoint tags are read")
    scale, tie = tags[_PIXEL_SCALE], tags[_TIEPOINT]
    if not math.isclose(scale[0], scale[1], rel_tol=1e-9):
        raise ValueError(f"{path}: pixels must be square, got {scale[0]:g} x {scale[1]:g} m")
    size = float(scale[0])
    x_min, y_max = tie[3] - tie[0] * size, tie[4] + tie[1] * size
    if int(keys.get("GTRasterTypeGeoKey", 1)) == 2:  # pixel is point: the tiepoint is a cell centre
        x_min, y_max = x_min - 0.5 * size, y_max + 0.5 * size
    if _NODATA in tags:
        grid[grid == float(str(tags[_NODATA]).strip("\x00 "))] = np.nan
    try:
        return Dem(grid, size, float(x_min), float(y_max))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc

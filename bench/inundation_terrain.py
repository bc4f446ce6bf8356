"""The benchmark's terrain: a river valley with a town on its floodplain (synthetic, seeded).

A 5 km square (at the default 500 cells of 10 m) falling 1:1000 west to east:

* a floodplain 2.4 km wide between valley sides rising 1:30;
* a meandering river channel 40 m wide and 3 m deep (bankfull about 200 m3/s), with
  natural levees 0.5 m high falling away over 60 m from its banks;
* micro-topography: correlated noise (0.35 m over ~80 m, 5 cm over ~15 m), the hollows
  and swells that decide where a real floodplain ponds first;
* a town on the northern floodplain downstream: blocks of buildings (raised 8 m, the usual
  "building block" representation) between 20 m streets;
* a road embankment across the floodplain, 1.5 m high, open at a bridge over the river and
  at an underpass;
* Manning n per cell: 0.035 in the channel, 0.05 on the floodplain, 0.02 on the streets,
  0.06 on the valley sides.

The river enters at the west edge through a 200 m line centred on the channel and leaves
through the open east edge.  Nothing here describes a real place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

Grid = NDArray[np.float64]

SLOPE = 1.0 / 1000.0
FLOODPLAIN_HALF_WIDTH_M, SIDE_SLOPE = 1200.0, 1.0 / 30.0
CHANNEL_HALF_WIDTH_M, CHANNEL_DEPTH_M = 20.0, 3.0
LEVEE_HEIGHT_M, LEVEE_REACH_M = 0.5, 60.0
EMBANKMENT_X_M, EMBANKMENT_HEIGHT_M = 2000.0, 1.5
BUILDING_HEIGHT_M = 8.0


@dataclass(frozen=True)
class Valley:
    """Bed (m), Manning n per cell, the channel's cells, its depth at base flow, the inflow line."""

    bed: Grid
    manning_n: Grid
    channel: NDArray[np.bool_]
    base_depth: Grid
    inflow_rows: NDArray[np.int_]


def centreline(x: Grid, width: float) -> Grid:
    """The channel's y (m) at x: two superposed meanders about the valley axis."""
    return 0.5 * width + 380.0 * np.sin(2 * np.pi * x / 1900.0) + 120.0 * np.sin(2 * np.pi * x / 730.0 + 1.0)


def noise(shape: tuple[int, int], rng: np.random.Generator, std: float, scale_cells: float) -> Grid:
    """Gaussian-correlated noise of standard deviation ``std`` and length scale ``scale_cells``."""
    field: Grid = ndimage.gaussian_filter(rng.standard_normal(shape), scale_cells, mode="wrap")
    return field * (std / field.std())


def river_valley(cells: int = 500, size: float = 10.0, seed: int = 2026) -> Valley:
    """The valley on ``cells`` x ``cells`` cells of ``size`` m; row 0 is north."""
    rng = np.random.default_rng(seed)
    width = cells * size
    x = (np.arange(cells) + 0.5) * size
    y = width - (np.arange(cells) + 0.5) * size
    xx, yy = np.meshgrid(x, y)
    across = np.abs(yy - 0.5 * width)
    bed = 20.0 - SLOPE * xx + np.maximum(across - FLOODPLAIN_HALF_WIDTH_M, 0.0) * SIDE_SLOPE
    bed += noise(bed.shape, rng, 0.35, 80.0 / size) + noise(bed.shape, rng, 0.05, 15.0 / size)
    off_axis = np.abs(yy - centreline(xx, width))
    channel = off_axis < CHANNEL_HALF_WIDTH_M
    bank = np.clip(1.0 - (off_axis - CHANNEL_HALF_WIDTH_M) / LEVEE_REACH_M, 0.0, 1.0) * ~channel
    bed += LEVEE_HEIGHT_M * bank
    carved = np.where(channel, CHANNEL_DEPTH_M * (1.0 - 0.5 * (off_axis / CHANNEL_HALF_WIDTH_M) ** 2), 0.0)
    bed -= carved
    manning = np.where(across > FLOODPLAIN_HALF_WIDTH_M, 0.06, 0.05)
    streets, buildings = town(xx, yy, width, channel | (bank > 0))
    manning[streets] = 0.02
    bed[buildings] += BUILDING_HEIGHT_M
    embankment = (np.abs(xx - EMBANKMENT_X_M) < 15.0) & (off_axis > 80.0) & (np.abs(yy - 0.5 * width - 900.0) > 30.0)
    bed[embankment] += EMBANKMENT_HEIGHT_M
    manning[channel] = 0.035
    base_depth = np.maximum(carved - 0.5 * CHANNEL_DEPTH_M, 0.0)  # 1.5 m at the channel's centre
    middle = int(np.argmin(np.abs(y - centreline(np.array(x[0]), width))))
    half = int(round(100.0 / size))
    return Valley(bed, manning, channel, base_depth, np.arange(middle - half, middle + half))


def town(xx: Grid, yy: Grid, width: float, river: NDArray[np.bool_]) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Streets and buildings of a town of 80 m x 60 m blocks on the northern floodplain."""
    inside = (xx > 2600.0) & (xx < 4200.0) & (yy > 0.5 * width + 150.0) & (yy < 0.5 * width + 1100.0) & ~river
    bx, by = np.mod(xx - 2600.0, 100.0), np.mod(yy, 80.0)
    block = (bx < 80.0) & (by < 60.0)
    footprint = block & (np.mod(bx, 40.0) < 30.0) & (np.mod(by, 30.0) < 20.0)
    return inside & ~block, inside & footprint

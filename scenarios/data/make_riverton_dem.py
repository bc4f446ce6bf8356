"""Write Riverton's synthetic valley DEM (scenarios/data/riverton-dem.asc).

    python scenarios/data/make_riverton_dem.py [--cell 50] [--out PATH]

The valley runs west to east over 4 km; map coordinates are metres from its south-west
corner.  Its floor, 300 m wide around y = 600 m, follows the 1-D floodplain profile of
``scenarios/riverton.yaml`` (50.0 m at x = 0, 48.8 at 1200, a dip to 48.3 at 1500 where the
factory stands, 48.5 at 1800, 46.3 at 4000); across the valley the ground rises 1 m per
75 m beyond the floor, and a terrace north of the floor lifts hospital A (x = 2400 m) to
about 49.6 m.  Nothing here describes a real place.  tests/test_flood_inundation.py checks
that the shipped file is what this script writes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from federates.flood.dem import Dem, write_ascii_grid

PROFILE = [(0.0, 50.0), (1200.0, 48.8), (1500.0, 48.3), (1800.0, 48.5), (4000.0, 46.3)]
LENGTH_M, WIDTH_M, AXIS_M, FLOOR_HALF_WIDTH_M, SIDE_SLOPE = 4000.0, 1200.0, 600.0, 150.0, 1.0 / 75.0


def riverton_dem(cell: float = 50.0) -> Dem:
    """The valley on ``cell``-metre cells."""
    cols, rows = int(LENGTH_M / cell), int(WIDTH_M / cell)
    x = (np.arange(cols) + 0.5) * cell
    y = WIDTH_M - (np.arange(rows) + 0.5) * cell  # row 0 is the northern edge
    floor = np.interp(x, [p[0] for p in PROFILE], [p[1] for p in PROFILE])
    across = np.maximum(np.abs(y - AXIS_M) - FLOOR_HALF_WIDTH_M, 0.0) * SIDE_SLOPE
    terrace = 1.3 * np.exp(-(((x[None, :] - 2400.0) / 250.0) ** 2) - ((y[:, None] - 780.0) / 60.0) ** 2)
    return Dem(np.round(floor[None, :] + across[:, None] + terrace, 3), cell, 0.0, WIDTH_M)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", type=float, default=50.0, help="cell size in m (default 50)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("riverton-dem.asc"), help="output file")
    args = parser.parse_args()
    print(write_ascii_grid(riverton_dem(args.cell), args.out))


if __name__ == "__main__":
    main()

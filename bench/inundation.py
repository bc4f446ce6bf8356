"""Benchmark: the 2-D inundation solver on a 500 x 500 grid of 10 m cells (not a test).

A synthetic 5 km x 5 km valley (floor 600 m wide falling 1:1000 to the east, sides rising
1:20) takes a river flood hydrograph at its western end (0 -> 800 m3/s in 6 h, back to
0 at 18 h) and drains through its eastern edge; Manning n = 0.05.  The solver runs the
simulated hours in steps of the federate period and prints the wall time, the solver
steps and the part of the grid it computed (the wet box).  With ``--rain`` 10 mm/h falls
on the whole grid for the first 6 h (then every cell is computed).

    python bench/inundation.py [--cells 500] [--cell-size 10] [--hours 24] [--rain]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from federates.flood.map_features import Hydrograph
from federates.flood.shallow_water_2d import Edge, ShallowWater2D

HOUR = 3600.0


def valley(cells: int, size: float) -> np.ndarray:
    centre = (np.arange(cells) + 0.5) * size
    across = np.abs(centre - 0.5 * cells * size)
    return 20.0 - centre[None, :] / 1000.0 + np.maximum(across[:, None] - 300.0, 0.0) / 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=500, help="cells per side (default 500)")
    parser.add_argument("--cell-size", type=float, default=10.0, help="cell size in m (default 10)")
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    parser.add_argument("--period", type=float, default=300.0, help="federate period in s (default 300)")
    parser.add_argument("--rain", action="store_true", help="10 mm/h on the whole grid for the first 6 h")
    args = parser.parse_args()
    n, size = args.cells, args.cell_size
    model = ShallowWater2D(valley(n, size), size, manning_n=0.05, open_edges=frozenset({Edge.EAST}))
    middle = n // 2
    inflow = model.flat_cells(np.arange(middle - 20, middle + 20), np.zeros(40, dtype=int))
    hydrograph = Hydrograph((0.0, 6 * HOUR, 18 * HOUR), (0.0, 800.0, 0.0))
    steps, boxed, start = 0, 0.0, time.perf_counter()
    t, report = 0.0, 0.0
    while t < args.hours * HOUR - 1e-9:
        rain = 10.0 / 3.6e6 if args.rain and t < 6 * HOUR else 0.0
        taken = model.advance(args.period, rain=rain, inflows=((inflow, hydrograph.mean(t, t + args.period)),))
        r0, r1, c0, c1 = model.box
        steps += taken
        boxed += taken * (r1 - r0) * (c1 - c0)
        t += args.period
        if t >= report:
            wet = np.count_nonzero(model.depth > 0.05) / model.depth.size
            print(f"t = {t / HOUR:5.1f} h  wall {time.perf_counter() - start:7.1f} s  steps {steps:7d}  "
                  f"wet {100 * wet:5.1f} %  box {100 * (r1 - r0) * (c1 - c0) / n / n:5.1f} %", flush=True)
            report += 2 * HOUR
    wall = time.perf_counter() - start
    print(f"\n{n} x {n} cells of {size:g} m, {args.hours:g} h simulated: {wall:.1f} s wall, {steps} solver steps, "
          f"{1e3 * wall / max(steps, 1):.2f} ms per step, {1e9 * wall / max(boxed, 1):.0f} ns per computed cell-step, "
          f"mean box {100 * boxed / max(steps, 1) / n / n:.1f} % of the grid")
    print(f"max depth {model.max_depth.max():.2f} m; water balance error {model.volume - model.ledger.net:.3e} m3 "
          f"of {model.ledger.inflow:.3e} m3 in")


if __name__ == "__main__":
    main()

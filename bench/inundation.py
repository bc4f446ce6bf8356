"""Benchmark: the 2-D inundation solver on a 500 x 500 grid of 10 m cells (not a test).

A river flood on a town's floodplain (bench/inundation_terrain.py: a meandering channel
with levees, micro-topography, a road embankment, a town of buildings and streets, Manning
n per cell).  The channel starts at base flow (1.5 m deep); the river's hydrograph enters
over a 200 m line at the west edge (60 m3/s, rising to 800 m3/s at 8 h, back to 60 m3/s at
20 h, about four times the channel's bankfull discharge at the peak) and leaves through
the open east edge.  The solver runs the simulated hours in steps of the federate period
(300 s) and prints the wall time, the solver steps, the flooded part of the grid (deeper
than 5 cm) and the part it computed (the wet box), then the cost per computed cell and
step and a digest of the final depths (equal digests: bit-identical runs).

    python bench/inundation.py [--cells 500] [--cell-size 10] [--hours 24] [--rain]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time

# OpenMP threads that wait for each other spin by default, burning the cores other processes
# need and slowing the kernels threefold on a busy machine; passive waits cost little when idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
from inundation_terrain import river_valley  # noqa: E402

from federates.flood.local_inertia import InertialSettings, LocalInertia2D  # noqa: E402
from federates.flood.map_features import Hydrograph  # noqa: E402
from federates.flood.shallow_water_2d import Edge, Kernel, Settings2D, ShallowWater2D  # noqa: E402

HOUR = 3600.0
HYDROGRAPH = Hydrograph((0.0, 8 * HOUR, 20 * HOUR), (60.0, 800.0, 60.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=500, help="cells per side (default 500)")
    parser.add_argument("--cell-size", type=float, default=10.0, help="cell size in m (default 10)")
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    parser.add_argument("--period", type=float, default=300.0, help="federate period in s (default 300)")
    parser.add_argument("--rain", action="store_true", help="10 mm/h on the whole grid for the first 6 h")
    parser.add_argument("--scheme", choices=["inertial", "swe"], default="inertial",
                        help="local inertia (default) or the full shallow-water equations")
    parser.add_argument("--kernel", choices=[k.value for k in Kernel], default="auto",
                        help="numba when installed (auto), or force numpy / numba")
    args = parser.parse_args()
    n, size, kernel = args.cells, args.cell_size, Kernel(args.kernel)
    valley = river_valley(n, size)
    solver = {"inertial": (LocalInertia2D, InertialSettings(kernel=kernel)), "swe": (ShallowWater2D, Settings2D(kernel=kernel))}
    cls, settings = solver[args.scheme]
    model = cls(valley.bed, size, manning_n=valley.manning_n, depth=valley.base_depth,
                open_edges=frozenset({Edge.EAST}), settings=settings)  # fmt: skip
    threads = os.environ.get("NUMBA_NUM_THREADS", str(os.cpu_count())) if settings.compiled else "1"
    print(f"scheme {args.scheme}, kernel {'numba' if settings.compiled else 'numpy'}, {threads} thread(s) "
          f"(OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}); load average at start {os.getloadavg()[0]:.2f}", flush=True)
    initial = model.volume
    inflow = model.flat_cells(valley.inflow_rows, np.zeros(valley.inflow_rows.size, dtype=int))
    steps, boxed, wet_sum, wet_max, start, cpu = 0, 0.0, 0.0, 0.0, time.perf_counter(), time.process_time()
    t, report, periods = 0.0, 0.0, 0
    while t < args.hours * HOUR - 1e-9:
        rain = 10.0 / 3.6e6 if args.rain and t < 6 * HOUR else 0.0
        taken = model.advance(args.period, rain=rain, inflows=((inflow, HYDROGRAPH.mean(t, t + args.period)),))
        r0, r1, c0, c1 = model.box
        steps += taken
        boxed += taken * (r1 - r0) * (c1 - c0)
        t += args.period
        wet = np.count_nonzero(model.depth > 0.05) / model.depth.size
        wet_sum, wet_max, periods = wet_sum + wet, max(wet_max, wet), periods + 1
        if t >= report:
            print(f"t = {t / HOUR:5.1f} h  wall {time.perf_counter() - start:7.1f} s  steps {steps:7d}  "
                  f"wet {100 * wet:5.1f} %  box {100 * (r1 - r0) * (c1 - c0) / n / n:5.1f} %", flush=True)
            report += 2 * HOUR
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"\n{args.scheme}: {n} x {n} cells of {size:g} m, {args.hours:g} h simulated: {wall:.1f} s wall "
          f"({cpu:.1f} s CPU), {steps} solver steps, {1e3 * wall / max(steps, 1):.2f} ms per step, "
          f"{1e9 * wall / max(boxed, 1):.1f} ns per computed cell-step ({1e9 * cpu / max(boxed, 1):.1f} ns CPU), "
          f"mean box {100 * boxed / max(steps, 1) / n / n:.1f} % of the grid; load average at end {os.getloadavg()[0]:.2f}")
    print(f"flooded (> 5 cm): mean {100 * wet_sum / max(periods, 1):.1f} %, max {100 * wet_max:.1f} % of the grid; "
          f"max depth {model.max_depth.max():.2f} m")
    print(f"water balance error {model.volume - initial - model.ledger.net:.3e} m3 of {model.ledger.inflow:.3e} m3 in; "
          f"depth digest {hashlib.sha256(model.depth.tobytes()).hexdigest()[:16]}")


if __name__ == "__main__":
    main()

"""Benchmark of the hospital federate: wall time per step (not a test).

Runs the default hospital (200 ward beds, 20 ICU beds, 300-s steps) for a simulated
month with a three-day casualty surge and a two-day grid outage, and prints the wall
time per step and per admission.  Usage: ``python bench/hospital.py [--days 30] [--period 300]``.
"""

from __future__ import annotations

import argparse
import time

from federates.hospital import HospitalFederate
from federation.api.federate import Context


def run(days: float, period: float, surge: float, seed: int) -> tuple[int, float, int]:
    """Step the federate through ``days``; return (steps, seconds of wall time, arrivals)."""
    stop = days * 86400.0
    context = Context(name="hospital", seed=seed, start=0.0, stop=stop, resolution=1e-3, period=period)
    federate = HospitalFederate({}, context)
    federate.setup()
    steps = int(stop // period) + 1
    began = time.perf_counter()
    for k in range(steps):
        t = k * period
        federate.inputs["surge"] = surge if 0.3 * stop <= t < 0.4 * stop else 0.0
        federate.inputs["power"] = not 0.35 * stop <= t < 0.42 * stop
        federate.step(t)
        federate._outbox.clear()  # the runtime collects sent messages after each step
    arrivals = sum(pool.stats.arrivals for pool in federate.pools.values())
    return steps, time.perf_counter() - began, arrivals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30.0, help="simulated days (default 30)")
    parser.add_argument("--period", type=float, default=300.0, help="step in seconds (default 300)")
    parser.add_argument(
        "--surge", type=float, default=10.0, help="surge during the disaster, patients/h (default 10)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args()
    steps, wall, arrivals = run(args.days, args.period, args.surge, args.seed)
    print(f"hospital: {args.days:g} days in {args.period:g}-s steps, surge {args.surge:g}/h")
    print(f"  {steps} steps, {arrivals} arrivals, wall {wall:.3f} s")
    print(f"  {wall / steps * 1e6:.1f} us per step, {wall / max(arrivals, 1) * 1e6:.1f} us per arrival")


if __name__ == "__main__":
    main()

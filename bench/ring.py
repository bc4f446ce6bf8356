"""Ring benchmark: this project against a bare ZeroMQ barrier, HELICS and mosaik, in one run.

The workload is defined in bench/README.md: N federates in N processes, a ring of delayed
connections, y = 0.5*u + 1, S steps of 1 s.  For every N the systems run in turn (the
order rotates between repeats, so that a slow spell of a shared machine is spread over
them), each result is checked against a plain Python loop, and the medians over the
repeats are printed:

* stepping: wall time from all joined to all finished, in us per federation step;
* total: wall time from the first process start to the last process exit, per step;
* the project's start-up time (loading the scenario to all federates joined).

HELICS and mosaik are skipped with a note when they are not installed
(``pip install -e '.[bench]'``).  A run that raises is reported and left out of the
medians.  Exit status 1 only when some run failed or computed wrong values; timings
never fail.

``--scale`` runs N = 2, 8, 32, 64, 128 (S = 300; the project, the barrier and HELICS when it
is installed) and then the grouped comparison: a ring of 1,024 federates in 8 worker
processes (``process: shared``) with batched steps against the bare barrier with 128
processes, interleaved (``--grouped N W``, ``--grouped-steps``; ``--unbatched`` adds the
same ring without batching, ``FEDERATION_BATCH=0``: a GRANT and a DONE per member, the
previous way).  It ends with the ratios issue 20 asks about: N = 128 stepping over the
barrier's, and the grouped 1,024 over the barrier at 128.  About 3-4 minutes on 2 cores.

Usage: ``python bench/ring.py [--sizes 2 8 32] [--steps 500] [--repeat 3] [--systems ...] [--scale]``
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import barrier
import helics_ring
import mosaik_ring
import project_ring
from ring_common import RingResult, failed, median_result

SYSTEMS: dict[str, tuple[Callable[[int, int], RingResult], Callable[[], str]]] = {
    "project": (project_ring.run, lambda: ""),
    "barrier": (barrier.run, lambda: ""),
    "helics": (helics_ring.run, helics_ring.available),
    "mosaik": (mosaik_ring.run, mosaik_ring.available),
}


def measure(
    systems: list[str], sizes: list[int], steps: int, repeat: int
) -> dict[tuple[str, int], RingResult]:
    """Median result per (system, N)."""
    results: dict[tuple[str, int], RingResult] = {}
    for n in sizes:
        runs: dict[str, list[RingResult]] = {s: [] for s in systems}
        for r in range(repeat):
            order = systems[r % len(systems) :] + systems[: r % len(systems)]
            for name in order:
                start = time.monotonic()
                try:
                    result = SYSTEMS[name][0](n, steps)
                except Exception as exc:  # noqa: BLE001 -- one failed run must not lose the others' figures
                    result = failed(name, n, steps, exc)
                runs[name].append(result)
                print(f"  N={n:<3d} run {r + 1}/{repeat} {name:8s} {result.per_step_us():9.1f} us/step "
                      f"({time.monotonic() - start:5.1f} s) {result.problem or 'values OK'}",
                      file=sys.stderr, flush=True)  # fmt: skip
        for name in systems:
            results[(name, n)] = median_result(runs[name])
    return results


GROUPED = ("grouped", "unbatched", "barrier")


def measure_grouped(n: int, workers: int, n_barrier: int, steps: int, repeat: int,
                    kinds: tuple[str, ...] = GROUPED) -> dict[str, RingResult]:  # fmt: skip
    """The grouped ring (batched, and unbatched when in ``kinds``) against the barrier with ``n_barrier``
    processes, interleaved; medians."""
    runs: dict[str, list[RingResult]] = {s: [] for s in kinds}
    for r in range(repeat):
        for name in kinds[r % len(kinds) :] + kinds[: r % len(kinds)]:
            start = time.monotonic()
            try:
                if name == "barrier":
                    result = barrier.run(n_barrier, steps)
                else:
                    result = _grouped_run(n, workers, steps, batched=name == "grouped")
            except Exception as exc:  # noqa: BLE001 -- one failed run must not lose the others' figures
                result = failed(name, n, steps, exc)
            runs[name].append(result)
            print(f"  grouped run {r + 1}/{repeat} {name:9s} {result.per_step_us() / 1000:8.2f} ms/step "
                  f"({time.monotonic() - start:5.1f} s, load {os.getloadavg()[0]:.1f}) {result.problem or 'values OK'}",
                  file=sys.stderr, flush=True)  # fmt: skip
    return {name: median_result(runs[name]) for name in kinds}


def _grouped_run(n: int, workers: int, steps: int, *, batched: bool) -> RingResult:
    saved, before = project_ring.WORKERS, os.environ.get("FEDERATION_BATCH")
    project_ring.WORKERS = workers
    os.environ["FEDERATION_BATCH"] = "1" if batched else "0"  # read by the workers (federation.engine.worker)
    try:
        return project_ring.run(n, steps)
    finally:
        project_ring.WORKERS = saved
        if before is None:
            del os.environ["FEDERATION_BATCH"]
        else:
            os.environ["FEDERATION_BATCH"] = before


def grouped_table(results: dict[str, RingResult], n: int, workers: int, n_barrier: int) -> str:
    base = results["barrier"].per_step_us()
    lines = [f"{'system':>26} {'ms/step':>9} {'us/fed-step':>11} {'/barrier':>9}   CPU ms/step: coordinator, federates"]
    for name, label, feds in (("grouped", f"N={n} in {workers} workers", n),
                              ("unbatched", f"N={n} in {workers}, unbatched", n),
                              ("barrier", f"barrier N={n_barrier}", n_barrier)):  # fmt: skip
        if name not in results:
            continue
        us = results[name].per_step_us()
        extra = results[name].extra
        cpu = f"{cell(extra.get('cpu_coordinator_ms', math.nan), 9, 2)} {cell(extra.get('cpu_federates_ms', math.nan), 9, 2)}"
        lines.append(f"{label:>26} {cell(us / 1000, 9, 2)} {cell(us / feds, 11, 2)} {cell(us / base, 9, 2)}   {cpu}")
    return "\n".join(lines)


def goals(results: dict[tuple[str, int], RingResult], grouped: dict[str, RingResult], sizes: list[int],
          n: int, workers: int) -> str:  # fmt: skip
    """Issue 20's two stepping ratios, from this run: N = 128 over the barrier, grouped over the barrier at 128."""
    lines = ["Issue 20 (stepping, this run):"]
    if 128 in sizes and ("barrier", 128) in results:
        r = ratio(results, "barrier", 128, "stepping")
        lines.append(f"  N=128 project / barrier:            {cell(r, 5, 2)}  (goal <= 1.15)")
    r = grouped["grouped"].per_step_us() / grouped["barrier"].per_step_us()
    lines.append(f"  N={n} in {workers} workers / barrier N=128: {cell(r, 5, 2)}  (goal < 1: faster than the barrier)")
    return "\n".join(lines)


def cell(value: float, width: int = 9, digits: int = 1) -> str:
    return f"{value:{width}.{digits}f}" if math.isfinite(value) else f"{'-':>{width}}"


def ratio(results: dict[tuple[str, int], RingResult], other: str, n: int, which: str) -> float:
    mine, theirs = results.get(("project", n)), results.get((other, n))
    if mine is None or theirs is None:
        return math.nan
    return mine.per_step_us(which) / theirs.per_step_us(which)


def table(
    results: dict[tuple[str, int], RingResult], systems: list[str], sizes: list[int], which: str
) -> str:
    others = [s for s in systems if s != "project"]
    head = f"{'N':>4} " + " ".join(f"{s:>9}" for s in systems)
    if "project" in systems:
        head += " " + " ".join(f"{'/' + s:>9}" for s in others)
    lines = [head]
    for n in sizes:
        row = f"{n:>4} " + " ".join(cell(results[(s, n)].per_step_us(which)) for s in systems)
        if "project" in systems:
            row += " " + " ".join(cell(ratio(results, s, n, which), 9, 2) for s in others)
        lines.append(row)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=None, help="ring sizes N (default: 2 8 32; --scale: 2 8 32 64 128)"
    )
    parser.add_argument("--scale", action="store_true",
                        help="N = 2 .. 128, then a grouped ring against the barrier with 128 processes")  # fmt: skip
    parser.add_argument("--grouped", type=int, nargs=2, default=[1024, 8], metavar=("N", "WORKERS"),
                        help="--scale: the grouped ring's size and workers (default: 1024 8)")  # fmt: skip
    parser.add_argument("--grouped-steps", type=int, default=200, help="--scale: steps of the grouped runs (default: 200)")
    parser.add_argument("--unbatched", action="store_true",
                        help="--scale: also the grouped ring without batched steps (FEDERATION_BATCH=0; slow)")  # fmt: skip
    parser.add_argument("--steps", type=int, default=None, help="steps S per run (default: 500; --scale: 300)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per system and N; medians are shown (default: 3)"
    )
    parser.add_argument("--systems", nargs="+", choices=list(SYSTEMS), default=None,
                        help="systems to run (default: all that are installed; --scale: all but mosaik)")  # fmt: skip
    parser.add_argument("--helics-core", choices=helics_ring.CORES, default=helics_ring.CORE,
                        help=f"HELICS core type (default: {helics_ring.CORE})")  # fmt: skip
    parser.add_argument("--workers", type=int, default=None,
                        help="run the project's federates 'process: shared' in this many worker processes")  # fmt: skip
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = [2, 8, 32, 64, 128] if args.scale else [2, 8, 32]
    if args.steps is None:
        args.steps = 300 if args.scale else 500
    if args.systems is None:  # mosaik takes minutes at N = 128
        args.systems = [s for s in SYSTEMS if s != "mosaik"] if args.scale else list(SYSTEMS)
    project_ring.WORKERS = args.workers
    helics_ring.set_core(args.helics_core)
    if args.steps < 1 or args.repeat < 1 or min(args.sizes) < 2:
        parser.error("--steps and --repeat must be positive and every size at least 2")
    systems = []
    for name in args.systems:
        why = SYSTEMS[name][1]()
        if why:
            print(f"skipping {name}: {why}", file=sys.stderr)
        else:
            systems.append(name)
    results = measure(systems, args.sizes, args.steps, args.repeat)
    print(f"\nLoad average (1 min) at the end: {os.getloadavg()[0]:.1f}")
    print(f"\nRing of delayed connections, S = {args.steps} steps, median of {args.repeat} run(s); "
          "us per federation step (all N federates advance one step)\n")  # fmt: skip
    print(
        "Stepping phase (all joined -> all finished); '/x' = project / x\n"
        + table(results, systems, args.sizes, "stepping")
    )
    print("\nTotal wall time (first process start -> last process exit), per step\n"
          + table(results, systems, args.sizes, "total"))  # fmt: skip
    if "project" in systems:
        print("\nProject start-up (load the scenario -> all federates joined), seconds")
        startups = [(n, results[("project", n)].startup) for n in args.sizes]
        print("  " + "  ".join(f"N={n}: {s:.2f}" if s is not None else f"N={n}: -" for n, s in startups))
        per = f"per federate (the {args.workers} workers' total / N)" if args.workers else "per federate process (median)"
        print(f"\nProject memory {per}, MiB: RSS / PSS")
        print("  " + "  ".join(f"N={n}: {m.get('rss_mib', math.nan):.1f} / {m.get('pss_mib', math.nan):.1f}"
                               for n, m in ((n, results[("project", n)].extra) for n in args.sizes)))  # fmt: skip
    problems = [(key, r.problem) for key, r in results.items() if r.problem]
    if args.scale:
        n, workers = args.grouped
        kinds = GROUPED if args.unbatched else ("grouped", "barrier")
        grouped = measure_grouped(n, workers, 128, args.grouped_steps, args.repeat, kinds)
        print(f"\nGrouped ring, S = {args.grouped_steps}, median of {args.repeat}: stepping phase; "
              f"load average now {os.getloadavg()[0]:.1f}\n" + grouped_table(grouped, n, workers, 128))  # fmt: skip
        problems += [((name, r.n), r.problem) for name, r in grouped.items() if r.problem]
        print("\n" + goals(results, grouped, args.sizes, n, workers))
    for (name, n), problem in problems:
        print(f"{'FAILED' if problem.startswith('run failed') else 'WRONG VALUES'}: {name} N={n}: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

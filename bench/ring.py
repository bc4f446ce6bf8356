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

Usage: ``python bench/ring.py [--sizes 2 8 32] [--steps 500] [--repeat 3] [--systems ...]``
"""

from __future__ import annotations

import argparse
import math
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
        "--sizes", type=int, nargs="+", default=[2, 8, 32], help="ring sizes N (default: 2 8 32)"
    )
    parser.add_argument("--steps", type=int, default=500, help="steps S per run (default: 500)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per system and N; medians are shown (default: 3)"
    )
    parser.add_argument("--systems", nargs="+", choices=list(SYSTEMS), default=list(SYSTEMS),
                        help="systems to run (default: all that are installed)")  # fmt: skip
    parser.add_argument("--helics-core", choices=helics_ring.CORES, default=helics_ring.CORE,
                        help=f"HELICS core type (default: {helics_ring.CORE})")  # fmt: skip
    parser.add_argument("--workers", type=int, default=None,
                        help="run the project's federates 'process: shared' in this many worker processes")  # fmt: skip
    args = parser.parse_args(argv)
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
    for (name, n), problem in problems:
        print(f"{'FAILED' if problem.startswith('run failed') else 'WRONG VALUES'}: {name} N={n}: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

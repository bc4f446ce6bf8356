"""The ring workload on mosaik 3: N simulators in N processes, time-shifted connections.

Every simulator is this file started through mosaik's ``cmd`` starter
(``%(python)s mosaik_ring.py %(addr)s -l error``) and holds one ``Ring`` entity, a time-based
model with step size 1.  Entity i's ``y`` feeds entity i+1's ``u`` through a
``time_shifted=True`` connection with ``initial_data={"y": 0.0}``: at t the input is the
predecessor's y from t-1, and 0 at t = 0.  mosaik runs in this process (asyncio, JSON
over TCP loopback to each simulator).

Stepping is timed inside the simulators (first step call to last step return, over all
of them), since ``World.run`` also includes set-up and shut-down calls.

Usage: ``python bench/mosaik_ring.py [--sizes 2 8] [--steps 1000]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ring_common import PREFIX, A, B, RingResult, check, now, print_runs

META = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {"Ring": {"public": True, "params": [], "attrs": ["u", "y"]}},
}


def available() -> str:
    """Empty when mosaik can be used, else why not."""
    try:
        import mosaik  # noqa: F401
        import mosaik_api_v3  # noqa: F401
    except ImportError as exc:
        return f"mosaik not importable ({type(exc).__name__}: {exc}); pip install 'federation[bench]'"
    return ""


def simulator() -> int:
    """Serve one Ring entity to the mosaik process named on the command line."""
    import mosaik_api_v3

    class RingSim(mosaik_api_v3.Simulator):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(META)
            self.u, self.y = 0.0, 0.0
            self.prefix: list[float] = []
            self.first = self.last = 0.0
            self.report = ""

        def init(self, sid: str, time_resolution: float = 1.0, report: str = "") -> dict[str, Any]:
            self.report = report
            return self.meta

        def create(self, num: int, model: str, **params: Any) -> list[dict[str, Any]]:
            return [{"eid": "r", "type": model}]

        def step(self, time: int, inputs: dict[str, Any], max_advance: int) -> int:
            if time == 0:
                self.first = now()
            values = inputs.get("r", {}).get("u")
            if values:
                (self.u,) = values.values()
            self.y = A * self.u + B
            if time < PREFIX:
                self.prefix.append(self.y)
            self.last = now()
            return time + 1

        def get_data(self, outputs: dict[str, Any]) -> dict[str, Any]:
            return {"r": {"y": self.y}}

        def finalize(self) -> None:
            Path(self.report).write_text(json.dumps({"first": self.first, "last": self.last,
                                                     "prefix": self.prefix, "final": self.y}))  # fmt: skip

    mosaik_api_v3.start_simulation(RingSim())
    return 0


def run(n: int, steps: int) -> RingResult:
    import mosaik

    t0 = now()
    with tempfile.TemporaryDirectory(prefix="bench-mosaik-") as tmp:
        sim_config = {"Ring": {"cmd": f"%(python)s {Path(__file__).resolve()} %(addr)s -l error"}}
        world = mosaik.World(sim_config, configure_logging=False, skip_greetings=True)  # type: ignore[arg-type]
        entities = []
        for i in range(n):
            factory = world.start("Ring", report=str(Path(tmp) / f"r{i}.json"))
            entities.append(factory.Ring())
        for i in range(n):
            world.connect(
                entities[i - 1], entities[i], ("y", "u"), time_shifted=True, initial_data={"y": 0.0}
            )
        t_started = now()
        world.run(until=steps, print_progress=False)  # also finalizes and stops the simulators
        t_end = now()
        reports = [json.loads((Path(tmp) / f"r{i}.json").read_text()) for i in range(n)]
    first = min(r["first"] for r in reports)
    last = max(r["last"] for r in reports)
    problem = check(n, steps, [r["prefix"] for r in reports], [r["final"] for r in reports])
    return RingResult("mosaik", n, steps, last - first, t_end - t0, t_started - t0, problem)


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and ":" in sys.argv[1]:  # started by mosaik: HOST:PORT
        return simulator()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[2, 8, 32], help="ring sizes N (default: 2 8 32)"
    )
    parser.add_argument("--steps", type=int, default=1000, help="steps S per run (default: 1000)")
    args = parser.parse_args(argv)
    why = available()
    if why:
        print(why, file=sys.stderr)
        return 1
    print_runs(run, args.sizes, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())

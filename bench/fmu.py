"""Cost of an FMU federate against plain fmpy stepping the same FMU, in one run.

Builds the project's FMUs (fmus/build.py) into a temporary folder, then:

1. **In-process**, for each FMU: FmuFederate (set the inputs, ``step(t)``, read the
   outputs: what the runtime does) against plain fmpy (for Co-Simulation the bare
   ``set* / doStep / get*`` loop on fmpy's ``FMU2Slave`` / ``FMU3Slave``; for Model
   Exchange ``fmpy.simulate_fmu`` over the same grid, its own CVode loop), µs per step,
   best of 3, instantiation included; and the same FMU as a federate in its own process,
   stepped by a coordinator over ZeroMQ (stepping phase only).
2. **One-FMU federation** (``--federation-steps``, default 10,001 steps): a scenario with
   the FMU alone, run by a coordinator as ``federation run`` does; its start-up (from the
   start of the run to the federate joined: process start, imports, model description,
   extraction, instantiation, handshake) and µs per step, next to plain fmpy's loop over
   the same steps, interleaved, best and median of ``--repeat`` runs; and the floor of any
   design with one round trip per step: ``bench/barrier.py`` with one worker (a bare pyzmq
   + msgpack request and reply, no FMU, no recording, no time management).  The federation
   grants the FMU several steps per STEPS frame (docs/protocol.md §5); the last column is the
   same federation with them switched off (``steps_per_grant: 1``), one round trip per step.

3. **A federate process's start-up CPU time** (``--repeat`` processes, median): what
   ``python -m federation.engine.runtime`` does before it joins, for a Co-Simulation FMU --
   imports, the short type name resolved, the model description read, the FMU extracted
   and instantiated -- in a child process, as CPU seconds (user + system, from
   ``getrusage``), which the machine's load does not inflate as it does wall time.

Python's bytecode cache matters for start-up: run it without ``PYTHONDONTWRITEBYTECODE``
(the figures in docs/performance.md were taken with ``.pyc`` files written).

Not a test.  Usage: python bench/fmu.py [STEPS] [--federation-steps N] [--repeat R]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fmpy
import numpy as np
from fmpy.simulation import instantiate_fmu

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # fmus/ is not an installed package

from federation.api.federate import Context
from federation.fmu import FmuFederate
from fmus.build import build_all

STEP = 10.0


def per_step(run: Callable[[int], None], steps: int, repeats: int = 3) -> float:
    """Best-of-``repeats`` wall time per step, in microseconds."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        run(steps)
        best = min(best, time.perf_counter() - start)
    return best / steps * 1e6


def federate_run(path: Path, inputs: Callable[[float], dict[str, Any]], params: dict[str, Any]) -> Callable[[int], None]:
    def run(steps: int) -> None:
        context = Context(name="bench", seed=1, start=0.0, stop=steps * STEP, resolution=1e-3, period=STEP)
        fed = FmuFederate({"fmu": str(path), **params}, context)
        fed.setup()
        for k in range(steps):
            t = k * STEP
            fed.inputs.update(inputs(t))
            fed.step(t)
        fed.finalize()

    return run


def fmpy_cs_run(path: Path, inputs: Callable[[float], dict[str, Any]]) -> Callable[[int], None]:
    md = fmpy.read_model_description(str(path))
    variables = {v.name: v for v in md.modelVariables}
    outputs = [v for v in md.modelVariables if v.causality == "output" and v.type not in {"String"}]
    fmi3 = md.fmiVersion.startswith("3")

    def run(steps: int) -> None:
        folder = fmpy.extract(str(path))
        fmu = instantiate_fmu(folder, md, "CoSimulation")
        if not fmi3:
            fmu.setupExperiment(startTime=0.0)
        fmu.enterInitializationMode()
        fmu.exitInitializationMode()
        for k in range(steps):
            t = k * STEP
            for name, value in inputs(t).items():
                v = variables[name]
                getattr(fmu, "set" + v.type)([v.valueReference], [value])
            for v in outputs:
                getattr(fmu, "get" + v.type)([v.valueReference])
            fmu.doStep(t, STEP)
        fmu.terminate()
        fmu.freeInstance()

    return run


def fmpy_me_run(path: Path, inflow: float) -> Callable[[int], None]:
    def run(steps: int) -> None:
        signal = np.array([(0.0, inflow), (steps * STEP, inflow)], dtype=[("time", float), ("inflow", float)])
        fmpy.simulate_fmu(str(path), stop_time=(steps - 1) * STEP, output_interval=STEP, input=signal,
                          record_events=False)  # fmt: skip

    return run


def federation_run(path: Path, params: dict[str, Any], steps: int, record: str = "none",
                   steps_per_grant: int | None = None) -> tuple[float, float]:  # fmt: skip
    """The FMU alone in a federation, in its own process: (start-up seconds, µs per step); ``steps_per_grant``
    1 switches STEPS frames off (None: the default)."""
    from federation.engine.coordinator import Coordinator, RunOptions
    from federation.scenario.loader import load

    with tempfile.TemporaryDirectory() as folder:
        scenario = Path(folder) / "fmu.yaml"
        extra = "".join(f", {k}: {v}" for k, v in params.items())
        scenario.write_text(f"time: {{stop: {(steps - 1) * STEP}, resolution: 1 ms}}\n"  # steps at 0 .. stop
                            f"federates:\n  model: {{type: fmu, period: {STEP}, params: {{fmu: {path}{extra}}}}}\n"
                            f"record: {{signals: {record}, messages: false}}\n"
                            + (f"coordinator: {{steps_per_grant: {steps_per_grant}}}\n" if steps_per_grant else ""))  # fmt: skip
        summary = Coordinator(load(scenario), RunOptions(out=Path(folder) / "run.sqlite")).run()
    return summary.startup_seconds, summary.stepping_seconds / steps * 1e6


def federation_per_step(path: Path, params: dict[str, Any], steps: int) -> float:
    """The FMU as a federate in its own process, stepped by a coordinator over ZeroMQ (µs per step)."""
    return federation_run(path, params, steps)[1]


_STARTUP = """
import sys
import federation.engine.runtime
from federation import Context
from federation.scenario.registry import resolve
cls = resolve(sys.argv[2])
fed = cls({"fmu": sys.argv[1]}, Context("model", 1, 0.0, 10.0, 1e-3, 10.0))
fed.setup()
fed.step(0.0)
fed.finalize()
"""


def startup_cpu(path: Path, type_name: str) -> float:
    """CPU seconds of a child process that does a federate's start-up for the FMU at ``path``."""
    import resource
    import subprocess

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", _STARTUP, str(path), type_name], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def federate_startup(fmus: dict[str, Path], repeat: int) -> None:
    """Median CPU time of a federate process's start-up (model description cached by a first run)."""
    print("\nfederate process start-up, CPU seconds (user + system), median of", repeat)
    for label, name in (("SpillwayGate  FMI2 CS", "SpillwayGate"), ("DieselGen.    FMI3 CS", "DieselGenerator")):
        startup_cpu(fmus[name], "fmu")  # the first read fills the FMU cache where there is one
        for type_name in ("fmu", "federation.fmu:FmuFederate"):
            times = sorted(startup_cpu(fmus[name], type_name) for _ in range(repeat))
            print(f"{label:22} type {type_name:28} {times[len(times) // 2]:.3f} s")


def bare_round_trip(steps: int) -> float:
    """µs per step of bench/barrier.py with one worker: one bare request and reply over TCP loopback."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from barrier import run

    return run(1, steps).per_step_us()


def one_fmu_federation(fmus: dict[str, Path], steps: int, repeat: int, steps_off: bool = True) -> None:
    """Start-up and per-step cost of a one-FMU federation next to plain fmpy, interleaved; and (``steps_off``)
    with STEPS frames switched off (``coordinator: {steps_per_grant: 1}``): one GRANT and one DONE per step."""
    gate_inputs = lambda t: {"reservoir_level": 100.0}  # what the federate holds without a connection
    diesel_inputs = lambda t: {"grid_available": False, "load": 0.0}
    cases = [("SpillwayGate  FMI2 CS", "SpillwayGate", gate_inputs), ("DieselGen.    FMI3 CS", "DieselGenerator", diesel_inputs)]
    print(f"\none-FMU federation, {steps} steps of {STEP:g} s (the FMU's outputs recorded), {repeat} runs interleaved")
    print(f"{'FMU':22} {'start-up s':>18} {'fmpy us/step':>18} {'federation us/step':>20} {'ratio':>11} "
          f"{'bare round trip us':>20} {'STEPS off us/step':>20}")  # fmt: skip
    best = lambda xs: min(xs)
    med = lambda xs: sorted(xs)[len(xs) // 2]
    for label, name, inputs in cases:
        plain = fmpy_cs_run(fmus[name], inputs)
        starts, wires, fmpys, floors, offs = [], [], [], [], []
        for _ in range(repeat):
            start, wire = federation_run(fmus[name], {}, steps, record="all")
            starts.append(start)
            wires.append(wire)
            fmpys.append(per_step(plain, steps, repeats=1))
            floors.append(bare_round_trip(steps))
            offs.append(federation_run(fmus[name], {}, steps, record="all", steps_per_grant=1)[1] if steps_off else 0.0)
        print(f"{label:22} {best(starts):8.3f} (med {med(starts):5.3f}) {best(fmpys):8.1f} (med {med(fmpys):5.1f})"
              f" {best(wires):10.1f} (med {med(wires):5.1f}) {best(wires) / best(fmpys):5.2f} best"
              f" {best(floors):9.1f} (med {med(floors):5.1f}) {best(offs):10.1f} (med {med(offs):5.1f})")  # fmt: skip


def in_process(fmus: dict[str, Path], cases: list[Any], steps: int) -> None:
    """The in-process table: FmuFederate and plain fmpy, and the federate over the wire."""
    print(f"{steps} steps of {STEP:g} s, best of 3 (instantiation included)")
    print(f"{'FMU':22} {'fmpy us/step':>13} {'FmuFederate':>12} {'ratio':>6} {'in a federation':>16} {'ratio':>6}")
    for label, name, ours, plain in cases:
        a, b = per_step(ours, steps), per_step(plain, steps)
        wire = min(federation_per_step(fmus[name], {}, steps) for _ in range(3))
        print(f"{label:22} {b:13.1f} {a:12.1f} {a / b:6.2f} {wire:16.1f} {wire / b:6.2f}")
    print("FmuFederate: the class stepped in-process; in a federation: its own process, stepped by the coordinator "
          "(several steps per STEPS frame; stepping phase only)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("steps", nargs="?", type=int, default=2000, help="steps per in-process run (default 2000)")
    parser.add_argument("--federation-steps", type=int, default=10_001,
                        help="steps of the one-FMU federation (default 10001)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of the one-FMU federation (default 5)")
    parser.add_argument("--only-federation", action="store_true", help="skip the in-process table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        fmus = {p.stem: p for p in build_all(folder)}
        gate_inputs = lambda t: {"reservoir_level": 100.0 + 3.0 * math.sin(t / 500.0)}
        diesel_inputs = lambda t: {"grid_available": (t // 3000) % 2 == 1, "load": 300.0}
        cases = [
            ("SpillwayGate  FMI2 CS", "SpillwayGate", federate_run(fmus["SpillwayGate"], gate_inputs, {}),
             fmpy_cs_run(fmus["SpillwayGate"], gate_inputs)),
            ("DieselGen.    FMI3 CS", "DieselGenerator", federate_run(fmus["DieselGenerator"], diesel_inputs, {}),
             fmpy_cs_run(fmus["DieselGenerator"], diesel_inputs)),
            ("PumpStation   FMI2 ME", "PumpStation", federate_run(fmus["PumpStation"], lambda t: {"inflow": 0.05},
                                                                 {"step": STEP}),
             fmpy_me_run(fmus["PumpStation"], 0.05)),
            ("NashCascade   FMI3 ME", "NashCascade", federate_run(fmus["NashCascade"], lambda t: {"inflow": 2.0},
                                                                 {"step": STEP}),
             fmpy_me_run(fmus["NashCascade"], 2.0)),
        ]  # fmt: skip
        if not args.only_federation:
            in_process(fmus, cases, args.steps)
        one_fmu_federation(fmus, args.federation_steps, args.repeat)
        federate_startup(fmus, args.repeat)


if __name__ == "__main__":
    main()

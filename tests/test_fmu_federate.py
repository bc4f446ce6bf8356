"""FmuFederate against fmpy's own simulation loop and against analytic solutions.

Every project FMU is compiled from fmus/ at the start of the session (fmus.build).
Co-Simulation runs must match fmpy.simulate_fmu bit for bit; Model Exchange runs must
match it within the solver tolerance and match closed-form solutions.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

import fmpy
import numpy as np
import pytest
from scipy.special import gammainc

from federation.api.federate import Context
from federation.api.interface import SignalType
from federation.fmu import FmuFederate
from federation.fmu.loader import TEMP_PREFIX


@pytest.fixture(scope="module")
def fmus(shipped_fmus: list[Path]) -> dict[str, Path]:
    """The project's FMUs, as the session built them into fmus/dist (read only: edited copies go to tmp_path)."""
    return {p.stem: p for p in shipped_fmus}


def make(path: Path, period: float | None = None, **params: Any) -> FmuFederate:
    context = Context(name="unit", seed=1, start=0.0, stop=1e6, resolution=1e-3, period=period)
    return FmuFederate({"fmu": str(path), **params}, context)


def drive(fed: FmuFederate, times: np.ndarray, inputs: dict[str, np.ndarray]) -> dict[str, list[Any]]:
    """Step ``fed`` through ``times`` with inputs[name][k] at times[k]; collect the outputs."""
    fed.setup()
    out: dict[str, list[Any]] = {name: [] for name in fed.outputs}
    try:
        for k, t in enumerate(times):
            for name, series in inputs.items():
                fed.inputs[name] = series[k].item()
            fed.step(float(t))
            for name, series in out.items():
                series.append(fed.outputs[name])
    finally:
        fed.finalize()
    return out


def last_rows_at(result: np.ndarray, times: np.ndarray) -> np.ndarray:
    """fmpy's rows at the grid times (the last one where events add rows at the same time)."""
    index = [int(np.flatnonzero(np.isclose(result["time"], t, rtol=0, atol=1e-9))[-1]) for t in times]
    return result[index]


def held_signal(times: np.ndarray, columns: dict[str, np.ndarray], dtype: dict[str, Any]) -> np.ndarray:
    """A zero-order-hold input for fmpy: a jump at every grid time (duplicate time points)."""
    rows = [(times[0], *(c[0] for c in columns.values()))]
    for k in range(1, len(times)):
        rows.append((times[k], *(c[k - 1] for c in columns.values())))
        rows.append((times[k], *(c[k] for c in columns.values())))
    return np.array(rows, dtype=[("time", float)] + [(n, dtype.get(n, float)) for n in columns])


# ---------------------------------------------------------------------------- declare
def test_declare_reads_units_and_types_of_each_standard(fmus: dict[str, Path]) -> None:
    """FMI 2 Real/Integer/Boolean/String and FMI 3 Float64/Int32/Boolean/arrays map to signal types."""
    gate = FmuFederate.declare({"fmu": str(fmus["SpillwayGate"])})
    types = {s.name: (s.type, s.unit) for s in gate.outputs}
    assert types == {"gate_opening": (SignalType.FLOAT, "m"), "demand": (SignalType.FLOAT, "m"),
                     "mode": (SignalType.INT, None), "limited": (SignalType.BOOL, None),
                     "status": (SignalType.STR, None)}  # fmt: skip
    assert gate.period == 10.0
    nash = FmuFederate.declare({"fmu": str(fmus["NashCascade"])})
    assert nash.input("lateral").type is SignalType.ARRAY and nash.input("lateral").default == [0.0] * 3
    assert nash.output("storage").type is SignalType.ARRAY and nash.output("storage").unit == "m3"
    assert nash.period == 60.0
    diesel = FmuFederate.declare({"fmu": str(fmus["DieselGenerator"]), "step": 2.5})
    assert diesel.input("grid_available").type is SignalType.BOOL and diesel.input("grid_available").default is True
    assert diesel.output("phase").type is SignalType.INT and diesel.period == 2.5


def test_mapping_picks_and_renames_variables(fmus: dict[str, Path]) -> None:
    decl = FmuFederate.declare({"fmu": str(fmus["SpillwayGate"]), "inputs": {"level": "reservoir_level"},
                                "outputs": {"opening": "gate_opening", "integral": "integral"}})  # fmt: skip
    assert [s.name for s in decl.inputs] == ["level"]
    assert [(s.name, s.unit) for s in decl.outputs] == [("opening", "m"), ("integral", "m.s")]


def test_relative_path_is_resolved_against_the_base_dir(fmus: dict[str, Path]) -> None:
    path = fmus["SpillwayGate"]
    decl = FmuFederate.declare({"fmu": path.name, "_base_dir": str(path.parent)})
    assert decl.output("gate_opening") is not None


# ---------------------------------------------------------------------------- co-simulation
def test_spillway_cs_matches_fmpy_bit_for_bit(fmus: dict[str, Path]) -> None:
    """FMI 2 CS: same input samples and step as fmpy.simulate_fmu -> identical outputs."""
    times = np.arange(0, 3601, 10.0)
    level = 100.0 + 3.5 * np.sin(times / 400.0)
    stage = 2.0 + 3.5 * times / times[-1]
    params = {"kp": 0.8, "ki": 0.002, "gate_name": "main"}
    ours = drive(make(fmus["SpillwayGate"], parameters=params), times,
                 {"reservoir_level": level, "downstream_stage": stage})  # fmt: skip
    signal = np.array(list(zip(times, level, stage)),
                      dtype=[("time", float), ("reservoir_level", float), ("downstream_stage", float)])  # fmt: skip
    ref = fmpy.simulate_fmu(str(fmus["SpillwayGate"]), stop_time=3600, output_interval=10.0, input=signal,
                            start_values=params, output=["gate_opening", "demand", "mode", "limited"])  # fmt: skip
    ref = last_rows_at(ref, times)
    assert set(ours["mode"]) == {0, 1}  # the downstream limit is exercised
    for name in ("gate_opening", "demand", "mode", "limited"):
        assert ours[name] == ref[name].tolist(), name


def test_diesel_cs_with_event_mode_and_early_return_matches_fmpy(fmus: dict[str, Path]) -> None:
    """FMI 3 CS, event mode and early return: identical to fmpy with the same flags and
    the same (held) input signal."""
    times = np.arange(0, 7201, 20.0)
    grid = ~((times >= 600) & (times < 4000))
    load = 250.0 + 100.0 * np.cos(times / 300.0)
    refuel = np.where(times > 5000, 400.0, 0.0)
    params = {"initial_fuel": 60.0, "start_delay": 15.0}
    ours = drive(make(fmus["DieselGenerator"], parameters=params), times,
                 {"grid_available": grid, "load": load, "refuel": refuel})  # fmt: skip
    # held inputs: fmpy would interpolate a plain sample table at the early-return times
    signal = held_signal(times, {"grid_available": grid, "load": load, "refuel": refuel},
                         {"grid_available": np.bool_})  # fmt: skip
    ref = fmpy.simulate_fmu(str(fmus["DieselGenerator"]), stop_time=7200, output_interval=20.0, input=signal,
                            start_values=params, use_event_mode=True, early_return_allowed=True,
                            output=["running", "fuel_left", "power", "phase"])  # fmt: skip
    ref = last_rows_at(ref, times)
    assert 2 in ours["phase"] and ours["fuel_left"][-1] > 0  # ran, ran dry, was refuelled
    assert min(ours["fuel_left"]) == 0.0
    for name in ("running", "fuel_left", "power", "phase"):
        assert ours[name] == ref[name].tolist(), name


def test_diesel_fuel_follows_the_linear_fuel_curve(fmus: dict[str, Path]) -> None:
    """Grid lost at t=0, 300 kW load: start after 10 s, then fuel falls at
    (0.08145 * 500 + 0.246 * 300) L/h -- HOMER's generator fuel curve (HOMER Pro manual,
    "Generator Fuel Curve": F = F0 * Ygen + F1 * Pgen) -- until the 100 L tank is dry at
    t = 10 + 100 / rate."""
    rate = (0.08145 * 500 + 0.246 * 300) / 3600.0
    t_dry = 10.0 + 100.0 / rate
    times = np.arange(0, 4001, 50.0)
    out = drive(make(fmus["DieselGenerator"], parameters={"initial_fuel": 100.0}), times,
                {"grid_available": np.zeros(times.size, bool), "load": np.full(times.size, 300.0)})  # fmt: skip
    expected = np.clip(100.0 - rate * (times - 10.0), 0.0, 100.0)
    assert np.allclose(out["fuel_left"], expected, rtol=0, atol=1e-9)
    running = np.array(out["running"])
    assert running[(times > 10) & (times < t_dry)].all() and not running[times > t_dry].any()
    assert out["power"][1] == 300.0 and out["power"][-1] == 0.0


def test_spillway_gate_ramps_at_gate_speed_then_holds(fmus: dict[str, Path]) -> None:
    """P control (ki=0), level error 3 m, kp=0.5: demand 1.5 m, reached at 0.01 m/s after 150 s."""
    times = np.arange(0, 301, 10.0)
    out = drive(make(fmus["SpillwayGate"], parameters={"ki": 0.0}), times,
                {"reservoir_level": np.full(times.size, 103.0)})  # fmt: skip
    assert np.allclose(out["gate_opening"], np.minimum(0.01 * times, 1.5), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("level", "stage", "opening", "status"), [
    (103.5, 5.0, 4.0, "limited"),     # demand 7 m cut to 8 * (6 - 5) / (6 - 4)
    (104.0, 5.5, 8.0, "emergency"),   # crest reached: full opening whatever the stage
])  # fmt: skip
def test_spillway_overrides(fmus: dict[str, Path], level: float, stage: float, opening: float, status: str) -> None:
    times = np.arange(0, 2001, 100.0)
    out = drive(make(fmus["SpillwayGate"], parameters={"kp": 2.0, "ki": 0.0}), times,
                {"reservoir_level": np.full(times.size, level), "downstream_stage": np.full(times.size, stage)})
    assert out["gate_opening"][-1] == pytest.approx(opening, abs=1e-12) and out["status"][-1] == status


# ---------------------------------------------------------------------------- model exchange
PUMP_ANALYTIC_SWITCHES = (400.0, 700.0, 1300.0, 1600.0, 2200.0, 2500.0)


def pump_level(t: np.ndarray) -> np.ndarray:
    """Wet well with area 20 m2, inflow 0.05 m3/s, pump 0.15 m3/s, on at 2 m, off at 0.5 m,
    starting at 1 m: fill 400 s to 2 m, then drain 300 s, fill 600 s, ... (piecewise linear)."""
    out = np.empty_like(t)
    for i, ti in enumerate(t):
        if ti <= 400:
            out[i] = 1.0 + 0.0025 * ti
            continue
        phase = (ti - 400) % 900
        out[i] = 2.0 - 0.005 * phase if phase <= 300 else 0.5 + 0.0025 * (phase - 300)
    return out


@pytest.mark.parametrize("solver", ["cvode", "scipy", "scipy:RK45"])
def test_pump_station_me_matches_the_analytic_level(fmus: dict[str, Path], solver: str) -> None:
    """State events (pump on at 2 m, off at 0.5 m) located inside 10 s steps."""
    times = np.arange(0, 2701, 10.0)
    out = drive(make(fmus["PumpStation"], solver=solver, tolerance=1e-8), times,
                {"inflow": np.full(times.size, 0.05)})  # fmt: skip
    assert np.max(np.abs(np.array(out["level"]) - pump_level(times))) < 1e-6
    assert out["starts"][-1] == 3
    on = np.array(out["pump_on"])
    assert on[(times > 400) & (times < 700)].all() and not on[(times > 700) & (times < 1300)].any()


def exact_pump(times: np.ndarray, inflow: np.ndarray, level: float) -> tuple[list[float], list[int]]:
    """Exact levels for an inflow held over each step: the level is linear between switches,
    so each switch time is solved for in closed form (area 20, pump 0.15, on 2, off 0.5)."""
    levels, starts, on, count = [level], [0], False, 0
    for k in range(1, len(times)):
        t, end, q = times[k - 1], times[k], inflow[k - 1]
        while True:
            rate = (q - (0.15 if on else 0.0)) / 20.0
            threshold = 0.5 if on else 2.0
            hit = (threshold - level) / rate if rate != 0 else math.inf
            if 0 <= hit < end - t:
                level, t, on = threshold, t + hit, not on
                count += on
            else:
                level += rate * (end - t)
                break
        levels.append(level)
        starts.append(count)
    return levels, starts


def test_pump_station_me_with_varying_inflow(fmus: dict[str, Path]) -> None:
    """Varying inflow held over 10 s steps: exact piecewise-linear solution, and fmpy's CVode
    loop given the same staircase (fmpy re-applies the left-hand input value at each restart,
    so it is the less accurate of the two: ~2e-6 m here)."""
    times = np.arange(0, 3001, 10.0)
    inflow = 0.06 + 0.04 * np.sin(times / 250.0)
    out = drive(make(fmus["PumpStation"], tolerance=1e-8, start={"level": 0.8}), times, {"inflow": inflow})
    levels, starts = exact_pump(times, inflow, 0.8)
    assert np.max(np.abs(np.array(out["level"]) - levels)) < 1e-9
    assert out["starts"] == starts and starts[-1] >= 3
    ref = fmpy.simulate_fmu(str(fmus["PumpStation"]), stop_time=3000, output_interval=10.0, relative_tolerance=1e-8,
                            input=held_signal(times, {"inflow": inflow}, {}), start_values={"level": 0.8},
                            output=["level", "starts", "pump_on"])  # fmt: skip
    ref = last_rows_at(ref, times)
    assert np.max(np.abs(np.array(out["level"]) - ref["level"])) < 1e-5
    assert out["starts"] == ref["starts"].tolist()


@pytest.mark.parametrize("solver", ["cvode", "scipy:BDF"])
def test_nash_cascade_step_response_is_the_gamma_distribution(fmus: dict[str, Path], solver: str) -> None:
    """Three equal linear reservoirs, k = 1e-3 1/s, inflow 2 m3/s from empty: the outflow is
    2 * P(3, k t), P the regularized lower incomplete gamma function (Nash 1957, "The form of
    the instantaneous unit hydrograph", IASH Publ. 45).  P(3, x) = 0.5 at x = 2.67406, so the
    flood alarm (1 m3/s) rises between t = 2640 s and 2700 s."""
    times = np.arange(0, 10001, 60.0)
    out = drive(make(fmus["NashCascade"], solver=solver, tolerance=1e-9), times,
                {"inflow": np.full(times.size, 2.0)})  # fmt: skip
    expected = 2.0 * gammainc(3, 1e-3 * times)
    assert np.max(np.abs(np.array(out["outflow"]) - expected)) < 2e-6
    alarm = np.array(out["alarm"])
    assert not alarm[times <= 2640].any() and alarm[times >= 2700].all()
    storage = np.array(out["storage"])
    assert storage.shape == (times.size, 3) and np.all(storage >= 0)


def test_nash_cascade_array_input_and_parameter(fmus: dict[str, Path]) -> None:
    """Steady state with lateral inflows q_i and rates k_i: S_i = (sum of inflows up to i) / k_i."""
    times = np.arange(0, 200001, 5000.0)
    lateral = np.tile([0.5, 0.0, 1.0], (times.size, 1))
    fed = make(fmus["NashCascade"], parameters={"k": [0.002, 0.001, 0.004]}, tolerance=1e-9)
    fed.setup()
    try:
        for t in times:
            fed.inputs["inflow"] = 1.0
            fed.inputs["lateral"] = [0.5, 0.0, 1.0]
            fed.step(float(t))
    finally:
        fed.finalize()
    assert lateral.shape[1] == 3
    assert np.allclose(fed.outputs["storage"], [1.5 / 0.002, 1.5 / 0.001, 2.5 / 0.004], rtol=1e-6)
    assert fed.outputs["outflow"] == pytest.approx(2.5, rel=1e-6)


# ---------------------------------------------------------------------------- state
@pytest.mark.parametrize(("model", "inputs"), [
    ("SpillwayGate", {"reservoir_level": (102.0, 104.5)}),
    ("DieselGenerator", {"grid_available": (False, True), "load": (300.0, 120.0)}),
    ("PumpStation", {"inflow": (0.05, 0.2)}),
    ("NashCascade", {"inflow": (2.0, 5.0)}),
])  # fmt: skip
def test_state_round_trip_re_steps_identically(fmus: dict[str, Path], model: str,
                                               inputs: dict[str, tuple[Any, Any]]) -> None:  # fmt: skip
    """An iterate group: save, step with one guess, restore, step with another, restore and
    step with the first again -> the same outputs as the first time (two steps are taken
    after each restore so that CS FMUs without direct feedthrough show the inputs)."""
    fed = make(fmus[model])

    def run(which: int) -> list[dict[str, Any]]:
        seen = []
        for t in (420.0, 540.0):
            for name, guesses in inputs.items():
                fed.inputs[name] = guesses[which]
            fed.step(t)
            seen.append(dict(fed.outputs))
        return seen

    fed.setup()
    try:
        for t in (0.0, 100.0, 200.0, 300.0):
            for name, (first, _) in inputs.items():
                fed.inputs[name] = first
            fed.step(t)
        saved = fed.get_state()
        first = run(0)
        fed.set_state(saved)
        assert run(1) != first  # the second guess made a difference
        fed.set_state(saved)
        assert run(0) == first
    finally:
        fed.finalize()


def test_state_before_initialization_re_instantiates(fmus: dict[str, Path]) -> None:
    fed = make(fmus["SpillwayGate"], parameters={"ki": 0.0})
    fed.setup()
    try:
        saved = fed.get_state()
        fed.inputs["reservoir_level"] = 103.0
        fed.step(0.0)
        fed.step(10.0)
        fed.set_state(saved)
        fed.step(0.0)
        fed.step(10.0)
        assert fed.outputs["gate_opening"] == pytest.approx(0.1, abs=1e-15)
    finally:
        fed.finalize()


# ---------------------------------------------------------------------------- resources
def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _leftover_dirs() -> set[str]:
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith(TEMP_PREFIX)}


def test_repeated_instantiation_does_not_leak(fmus: dict[str, Path]) -> None:
    """200 instantiate/step/free cycles: bounded memory, no open files or folders left behind."""
    before_dirs = _leftover_dirs()

    def cycle(model: str) -> None:
        fed = make(fmus[model])
        fed.setup()
        fed.step(0.0)
        fed.step(10.0)
        fed.finalize()

    for _ in range(20):  # warm-up: imports, caches, allocator pools
        cycle("SpillwayGate")
        cycle("DieselGenerator")
    rss, fds = _rss_kib(), len(os.listdir("/proc/self/fd"))
    for _ in range(100):
        cycle("SpillwayGate")
        cycle("DieselGenerator")
    assert _rss_kib() - rss < 16 * 1024, "more than 16 MiB growth over 200 cycles"
    assert len(os.listdir("/proc/self/fd")) <= fds
    assert _leftover_dirs() <= before_dirs


def test_finalize_removes_the_extracted_folder(fmus: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """With the FMU cache off, each federate extracts into a private folder that finalize removes."""
    monkeypatch.setenv("FEDERATION_CACHE_DIR", "off")
    fed = make(fmus["PumpStation"])
    fed.setup()
    assert fed.instance is not None
    folder = fed.instance.extracted.directory
    assert folder.is_dir()
    fed.finalize()
    fed.finalize()  # idempotent
    assert not folder.exists() and folder.name.startswith(TEMP_PREFIX)
    assert math.isfinite(fed.outputs["level"])


# ---------------------------------------------------------------------------- time events in CS event mode
METRONOME_DESCRIPTION = """<?xml version="1.0" encoding="UTF-8"?>
<fmiModelDescription fmiVersion="3.0" modelName="Metronome" instantiationToken="{0c1a2b3c-0000-4000-8000-00000000be47}"
  generationTool="tests/test_fmu_federate.py" variableNamingConvention="flat">
  <CoSimulation modelIdentifier="Metronome" hasEventMode="true" canHandleVariableCommunicationStepSize="true"/>
  <DefaultExperiment startTime="0" stopTime="10" stepSize="10"/>
  <ModelVariables>
    <Float64 name="time" valueReference="0" causality="independent" variability="continuous"/>
    <Float64 name="beat" valueReference="1" causality="parameter" variability="fixed" start="2.5"/>
    <Int32 name="count" valueReference="2" causality="output" variability="discrete"/>
    <Float64 name="last" valueReference="3" causality="output" variability="discrete"/>
  </ModelVariables>
  <ModelStructure>
    <Output valueReference="2"/>
    <Output valueReference="3"/>
    <InitialUnknown valueReference="2"/>
    <InitialUnknown valueReference="3"/>
  </ModelStructure>
</fmiModelDescription>
"""

METRONOME_SOURCE = """
#include <stddef.h>
#include "model.h"

/* A time event every `beat` seconds, announced through nextEventTime: the importer must step to it
 * and enter event mode there (FMI 3.0, fmi3EnterEventMode in Co-Simulation). */
typedef struct { double beat, last, next; int count; } Data;

const char MODEL_TOKEN[] = "{0c1a2b3c-0000-4000-8000-00000000be47}";
const size_t MODEL_DATA_SIZE = sizeof(Data);
const size_t MODEL_STATE_COUNT = 0;
const size_t MODEL_INDICATOR_COUNT = 0;
const VarInfo MODEL_VARIABLES[] = {
    {1, VT_FLOAT64, VC_PARAMETER, offsetof(Data, beat), 1},
    {2, VT_INT32, VC_OUTPUT, offsetof(Data, count), 1},
    {3, VT_FLOAT64, VC_OUTPUT, offsetof(Data, last), 1},
};
const size_t MODEL_VARIABLE_COUNT = sizeof MODEL_VARIABLES / sizeof MODEL_VARIABLES[0];

void model_start(void *data) { Data *d = data; d->beat = 2.5; }
bool model_initialize(void *data, ModelContext *ctx) { Data *d = data; d->next = ctx->time + d->beat; return true; }
bool model_step(void *data, ModelContext *ctx, double h, StepResult *r) { (void)data; (void)ctx; (void)h; (void)r; return true; }
bool model_event(void *data, ModelContext *ctx, EventResult *r) {
    Data *d = data;
    if (ctx->time >= d->next - 1e-9) { d->count++; d->last = ctx->time; d->next += d->beat; }
    r->terminate = false; r->states_changed = false;
    r->next_event_defined = true; r->next_event_time = d->next;
    return true;
}
"""


def test_cs_event_mode_steps_to_the_time_events_the_fmu_announces(tmp_path: Path) -> None:
    """nextEventTime of fmi3UpdateDiscreteStates ends a step there and is handled in event mode."""
    from fmus.build import FmiStandard, ModelSource, compile_model, find_compiler, pack_fmu

    (tmp_path / "modelDescription.xml").write_text(METRONOME_DESCRIPTION, encoding="utf-8")
    (tmp_path / "model.c").write_text(METRONOME_SOURCE, encoding="utf-8")
    model = ModelSource(tmp_path, "Metronome", FmiStandard.FMI3)
    compile_model(model, tmp_path / "Metronome.so", find_compiler())
    pack_fmu(model, tmp_path / "Metronome.so", tmp_path / "Metronome.fmu")
    fed = make(tmp_path / "Metronome.fmu", period=10.0)
    out = drive(fed, np.array([0.0, 10.0, 20.0]), {})
    assert out["count"] == [0, 4, 8]  # beats at 2.5, 5, 7.5, 10 (at the communication point: shown at 10)
    assert out["last"] == [0.0, 10.0, 20.0]

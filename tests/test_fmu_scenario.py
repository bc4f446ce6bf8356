"""FMUs as a scenario names them, through the command line: paths, steps, what is refused."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from federation.results.store import RunStore
from fmus.build import FmiStandard, ModelSource, compile_model, find_compiler, pack_fmu
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def fmus(shipped_fmus: list[Path]) -> dict[str, Path]:
    return {p.stem: p for p in shipped_fmus}


def federation(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "federation.app.cli", *args], capture_output=True, text=True,
                          timeout=90, cwd=cwd)  # fmt: skip


def gate_scenario(folder: Path, fmu_type: str) -> Path:
    """A scenario in ``folder`` naming ``SpillwayGate.fmu`` (beside it) by a relative path."""
    return write_scenario(folder, f"""
        time: {{stop: 60, resolution: 1 s}}
        federates:
          gate:
            type: {fmu_type}
            params: {{fmu: SpillwayGate.fmu, inputs: [], outputs: [gate_opening]}}
        """)


@pytest.mark.parametrize("fmu_type", ["fmu", '"federation.fmu:FmuFederate"', '"gates.py:Gate"'])
def test_a_relative_fmu_path_starts_at_the_scenario_folder_whatever_the_type_spelling(tmp_path, fmus, fmu_type):
    """Short name, module:Class and a user's subclass: one rule, checked from another working directory."""
    folder = tmp_path / "scenario"
    folder.mkdir()
    shutil.copy(fmus["SpillwayGate"], folder / "SpillwayGate.fmu")
    (folder / "gates.py").write_text("from federation.fmu import FmuFederate\n\n\nclass Gate(FmuFederate):\n"
                                     "    pass\n")  # fmt: skip
    scenario = gate_scenario(folder, fmu_type)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = federation("validate", str(scenario), cwd=elsewhere)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_run_finds_the_fmu_beside_the_scenario_when_the_type_is_a_class_path(tmp_path, fmus):
    """The federate process (started in the scenario's folder or not) resolves the path the same way."""
    folder = tmp_path / "scenario"
    folder.mkdir()
    shutil.copy(fmus["SpillwayGate"], folder / "SpillwayGate.fmu")
    scenario = gate_scenario(folder, '"federation.fmu:FmuFederate"')
    out = tmp_path / "run.sqlite"
    result = federation("run", str(scenario), "--out", str(out), "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    with RunStore(out) as store:
        assert store.series("gate.gate_opening").times[0] == 0.0


def without_default_step(fmu: Path, target: Path) -> Path:
    """A copy of ``fmu`` whose DefaultExperiment gives no stepSize."""
    with zipfile.ZipFile(fmu) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "modelDescription.xml":
                assert b' stepSize="10"' in data
                data = data.replace(b' stepSize="10"', b"")
            dst.writestr(item, data)
    return target


@pytest.mark.parametrize("model", ["SpillwayGate", "PumpStation"])  # Co-Simulation, Model Exchange
def test_an_fmu_without_a_step_is_a_scenario_error_that_says_to_set_step(tmp_path, fmus, model):
    without_default_step(fmus[model], tmp_path / "NoStep.fmu")
    scenario = write_scenario(tmp_path, """
        time: {stop: 60, resolution: 1 s}
        federates:
          model:
            type: fmu
            params: {fmu: NoStep.fmu, inputs: []}
        """)
    result = federation("validate", str(scenario), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"scenario.yaml:6:5: federates.model.params: FMU '{model}' (NoStep.fmu) has no default step size" \
           in result.stderr  # fmt: skip
    assert "set 'step:'" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("timing", ["params: {fmu: NoStep.fmu, inputs: [], step: 10}",
                                    "period: 10, params: {fmu: NoStep.fmu, inputs: []}"])  # fmt: skip
def test_a_step_or_a_period_gives_an_fmu_without_a_default_step_its_communication_step(tmp_path, fmus, timing):
    without_default_step(fmus["SpillwayGate"], tmp_path / "NoStep.fmu")
    scenario = write_scenario(tmp_path, f"""
        time: {{stop: 60, resolution: 1 s}}
        federates:
          model: {{type: fmu, {timing}}}
        """)
    result = federation("validate", str(scenario), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


TICKER_DESCRIPTION = """<?xml version="1.0" encoding="UTF-8"?>
<fmiModelDescription fmiVersion="3.0" modelName="Ticker" instantiationToken="{0c1a2b3c-0000-4000-8000-00000000c10c}"
  description="Counts the ticks of an input clock" generationTool="federation tests" variableNamingConvention="flat">
  <CoSimulation modelIdentifier="Ticker" canHandleVariableCommunicationStepSize="true" hasEventMode="true"
    canGetAndSetFMUState="true" canSerializeFMUState="true"/>
  <DefaultExperiment startTime="0" stopTime="10" stepSize="1"/>
  <ModelVariables>
    <Float64 name="time" valueReference="0" causality="independent" variability="continuous"/>
    <Clock name="tick" valueReference="1" causality="input" intervalVariability="triggered"/>
    <Float64 name="gain" valueReference="2" causality="input" variability="continuous" start="1"/>
    <Int32 name="count" valueReference="3" causality="output" variability="discrete" clocks="1"/>
  </ModelVariables>
  <ModelStructure>
    <Output valueReference="3" dependencies=""/>
    <InitialUnknown valueReference="3"/>
  </ModelStructure>
</fmiModelDescription>
"""

TICKER_SOURCE = """
#include <stddef.h>
#include "model.h"

typedef struct { double gain; int count; } Data;

const char MODEL_TOKEN[] = "{0c1a2b3c-0000-4000-8000-00000000c10c}";
const size_t MODEL_DATA_SIZE = sizeof(Data);
const size_t MODEL_STATE_COUNT = 0;
const size_t MODEL_INDICATOR_COUNT = 0;
const VarInfo MODEL_VARIABLES[] = {
    {2, VT_FLOAT64, VC_INPUT, offsetof(Data, gain), 1},
    {3, VT_INT32, VC_OUTPUT, offsetof(Data, count), 1},
};
const size_t MODEL_VARIABLE_COUNT = sizeof MODEL_VARIABLES / sizeof MODEL_VARIABLES[0];

void model_start(void *data) { Data *d = data; d->gain = 1.0; d->count = 0; }
bool model_initialize(void *data, ModelContext *ctx) { (void)data; (void)ctx; return true; }
/* count changes only when the clock ticks, which this layer cannot do: a run would never see it move */
bool model_step(void *data, ModelContext *ctx, double h, StepResult *r) {
    (void)data; (void)ctx; (void)h; (void)r;
    return true;
}
"""


@pytest.fixture(scope="module")
def clocked_fmu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An FMI 3 Co-Simulation FMU with an input Clock, compiled here with the project's FMI layer."""
    folder = tmp_path_factory.mktemp("ticker")
    (folder / "modelDescription.xml").write_text(TICKER_DESCRIPTION, encoding="utf-8")
    (folder / "model.c").write_text(TICKER_SOURCE, encoding="utf-8")
    model = ModelSource(folder, "Ticker", FmiStandard.FMI3)
    library = folder / "Ticker.so"
    compile_model(model, library, find_compiler())
    pack_fmu(model, library, folder / "Ticker.fmu")
    return folder / "Ticker.fmu"


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_clock_pasted_into_inputs_is_refused_naming_the_line(tmp_path, clocked_fmu, command):
    """A clock is a message endpoint of the federate, not a signal: listing it as an input is a scenario error."""
    scenario = write_scenario(tmp_path, f"""
        time: {{stop: 10, resolution: 1 s}}
        federates:
          ticker:
            type: fmu
            params: {{fmu: {clocked_fmu}, inputs: [tick, gain]}}
        """)
    result = federation(command, str(scenario), "--out", str(tmp_path / "run.sqlite"), cwd=tmp_path) \
        if command == "run" else federation(command, str(scenario), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "scenario.yaml:6:5: federates.ticker.params: " in result.stderr
    assert "variable 'tick' is a Clock: a clock is not a signal but a message endpoint" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run.sqlite").exists()


def test_a_clocked_fmu_validates_as_an_event_driven_federate_with_clock_endpoints(tmp_path, clocked_fmu):
    scenario = write_scenario(tmp_path, f"""
        time: {{stop: 10, resolution: 1 s}}
        federates:
          ticker:
            type: fmu
            params: {{fmu: {clocked_fmu}, inputs: [gain]}}
          pinger: {{type: "{{HELPERS}}:Pinger", period: 1}}
        messages:
          - pinger.out -> ticker.tick
        """)
    result = federation("validate", str(scenario), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 message routes" in result.stdout

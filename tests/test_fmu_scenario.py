"""FMUs as a scenario names them, through the command line: paths, steps, what is refused."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from federation.store import RunStore
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def fmus(shipped_fmus: list[Path]) -> dict[str, Path]:
    return {p.stem: p for p in shipped_fmus}


def federation(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "federation.cli", *args], capture_output=True, text=True,
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
    assert f"scenario.yaml:6: federates.model.params: FMU '{model}' (NoStep.fmu) has no default step size" \
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

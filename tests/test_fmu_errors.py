"""Every way an FMU can be wrong gives an FMUError whose message says what and where."""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from federation.api.federate import Context
from federation.errors import FederationError
from federation.fmu import FmiCallError, FmiStatus, FMUError, FmuFederate


@pytest.fixture(scope="module")
def fmus(shipped_fmus: list[Path]) -> dict[str, Path]:
    """The project's FMUs, as the session built them into fmus/dist (read only: edited copies go to tmp_path)."""
    return {p.stem: p for p in shipped_fmus}


def rewrite(source: Path, target: Path, edit: Callable[[str, bytes], tuple[str, bytes] | None]) -> Path:
    """Copy an FMU, passing each entry through ``edit`` (return None to drop it)."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for name in src.namelist():
            entry = edit(name, src.read(name))
            if entry is not None:
                dst.writestr(*entry)
    return target


def edit_description(old: str, new: str) -> Callable[[str, bytes], tuple[str, bytes]]:
    def edit(name: str, data: bytes) -> tuple[str, bytes]:
        if name == "modelDescription.xml":
            text = data.decode()
            assert old in text
            return name, text.replace(old, new).encode()
        return name, data

    return edit


def context() -> Context:
    return Context(name="unit", seed=1, start=0.0, stop=100.0, resolution=1e-3, period=None)


def test_fmu_error_is_a_federation_error() -> None:
    assert issubclass(FMUError, FederationError) and issubclass(FmiCallError, FMUError)


# ---------------------------------------------------------------------------- the file
def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FMUError, match=r"FMU file .*nowhere\.fmu does not exist"):
        FmuFederate.declare({"fmu": str(tmp_path / "nowhere.fmu")})


def test_relative_path_is_reported_resolved(tmp_path: Path) -> None:
    with pytest.raises(FMUError, match=rf"{tmp_path}/sub/gate\.fmu does not exist"):
        FmuFederate.declare({"fmu": "sub/gate.fmu", "_base_dir": str(tmp_path)})


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "fake.fmu"
    path.write_text("not an archive")
    with pytest.raises(FMUError, match="fake.fmu is not an FMU: it is not a ZIP archive"):
        FmuFederate.declare({"fmu": str(path)})


def test_zip_without_model_description(fmus: dict[str, Path], tmp_path: Path) -> None:
    path = rewrite(fmus["SpillwayGate"], tmp_path / "bare.fmu",
                   lambda n, d: None if n == "modelDescription.xml" else (n, d))  # fmt: skip
    with pytest.raises(FMUError, match=r"has no modelDescription\.xml \(entries: binaries/linux64/SpillwayGate\.so"):
        FmuFederate.declare({"fmu": str(path)})


def test_no_binary_for_this_platform_lists_the_platforms(fmus: dict[str, Path], tmp_path: Path) -> None:
    def to_windows(name: str, data: bytes) -> tuple[str, bytes]:
        if name.startswith("binaries/"):
            return "binaries/win64/SpillwayGate.dll", data
        return name, data

    path = rewrite(fmus["SpillwayGate"], tmp_path / "windows.fmu", to_windows)
    with pytest.raises(FMUError, match=r"no binary for this platform \(linux64\); platforms in the FMU: "
                                       r"c-code, win64\. It ships C sources"):  # fmt: skip
        FmuFederate.declare({"fmu": str(path)})


def test_schema_violation_names_the_line_and_offers_validate_false(fmus: dict[str, Path], tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """An illegal causality fails fmpy's XSD check; validate: false loads it with a warning."""
    path = rewrite(fmus["SpillwayGate"], tmp_path / "bad.fmu",
                   edit_description('name="integral" valueReference="20" causality="local"',
                                    'name="integral" valueReference="20" causality="internal"'))  # fmt: skip
    with pytest.raises(FMUError, match=r"(?s)bad\.fmu: modelDescription\.xml failed validation:.*line \d+.*"
                                       r"causality.*Set 'validate: false'"):  # fmt: skip
        FmuFederate.declare({"fmu": str(path)})
    with caplog.at_level(logging.WARNING, logger="federation.fmu.loader"):
        decl = FmuFederate.declare({"fmu": str(path), "validate": False})
    assert decl.output("gate_opening") is not None
    assert "fails validation" in caplog.text or "does not validate" in caplog.text


def test_unreadable_xml(fmus: dict[str, Path], tmp_path: Path) -> None:
    path = rewrite(fmus["SpillwayGate"], tmp_path / "broken.fmu", edit_description("</ModelVariables>", ""))
    with pytest.raises(FMUError, match="broken.fmu: modelDescription.xml failed validation|cannot read"):
        FmuFederate.declare({"fmu": str(path)})


# ---------------------------------------------------------------------------- the scenario
def test_unknown_input_suggests_close_names(fmus: dict[str, Path]) -> None:
    with pytest.raises(FMUError, match=r"inputs: 'reservoir_levl' is not a variable of the FMU "
                                       r"\(did you mean 'reservoir_level'\?\)"):  # fmt: skip
        FmuFederate.declare({"fmu": str(fmus["SpillwayGate"]), "inputs": ["reservoir_levl"]})


def test_unknown_output_in_a_mapping_suggests_close_names(fmus: dict[str, Path]) -> None:
    with pytest.raises(FMUError, match=r"outputs: 'gate_openng' .*did you mean 'gate_opening'"):
        FmuFederate.declare({"fmu": str(fmus["SpillwayGate"]), "outputs": {"opening": "gate_openng"}})


def test_output_cannot_be_an_input(fmus: dict[str, Path]) -> None:
    with pytest.raises(FMUError, match="inputs: 'gate_opening' has causality 'output' and cannot be set"):
        FmuFederate.declare({"fmu": str(fmus["SpillwayGate"]), "inputs": ["gate_opening"]})


def test_unknown_parameter_suggests_close_names(fmus: dict[str, Path]) -> None:
    with pytest.raises(FMUError, match=r"parameters\.gate_sped: no such variable in the FMU "
                                       r"\(did you mean 'gate_speed' or 'gate_name'\?\)"):  # fmt: skip
        FmuFederate.declare({"fmu": str(fmus["SpillwayGate"]), "parameters": {"gate_sped": 0.1}})


@pytest.mark.parametrize(("model", "name", "value", "message"), [
    ("SpillwayGate", "kp", "high", "parameters.kp: wrong type: Real expects a number, got str 'high'"),
    ("SpillwayGate", "gate_name", 7, "parameters.gate_name: wrong type: String expects a string, got int 7"),
    ("NashCascade", "k", [0.1, 0.2], "parameters.k: wrong type: expected 3 values, got 2"),
    ("NashCascade", "alarm_flow", True, "parameters.alarm_flow: wrong type: Float64 expects a number, got bool"),
])  # fmt: skip
def test_parameter_of_the_wrong_type(fmus: dict[str, Path], model: str, name: str, value: object,
                                     message: str) -> None:  # fmt: skip
    with pytest.raises(FMUError, match=message.replace("[", r"\[").replace(".", r"\.")):
        FmuFederate.declare({"fmu": str(fmus[model]), "parameters": {name: value}})


def test_a_non_parameter_in_parameters_points_to_start(fmus: dict[str, Path]) -> None:
    with pytest.raises(FMUError, match=r"parameters\.level: .*cannot be set \(use 'start' for non-parameters\)"):
        FmuFederate.declare({"fmu": str(fmus["PumpStation"]), "parameters": {"level": 1.0}})


def test_interface_the_fmu_does_not_offer(fmus: dict[str, Path]) -> None:
    with pytest.raises(FMUError, match="does not implement ModelExchange; it offers: CoSimulation"):
        FmuFederate.declare({"fmu": str(fmus["SpillwayGate"]), "interface": "model-exchange"})


@pytest.mark.parametrize(("params", "message"), [
    ({"solver": "rk4"}, "solver 'rk4' is not one of: cvode, scipy"),
    ({"solver": "scipy:Euler"}, "method must be one of"),
    ({"step": -1}, "params.step: expected a positive number of seconds, got -1"),
    ({"tolerance": 2.0}, r"params.tolerance: expected a relative tolerance in \(0, 1\)"),
    ({"inputs": "inflow"}, "'inputs' must be a list of variable names or a mapping"),
])  # fmt: skip
def test_bad_params(fmus: dict[str, Path], params: dict[str, object], message: str) -> None:
    with pytest.raises(FMUError, match=message):
        FmuFederate.declare({"fmu": str(fmus["PumpStation"]), **params})


# ---------------------------------------------------------------------------- FMI calls
def test_fmi_error_during_step_names_fmu_function_time_status(fmus: dict[str, Path]) -> None:
    fed = FmuFederate({"fmu": str(fmus["DieselGenerator"])}, context())
    fed.setup()
    try:
        fed.step(0.0)
        fed.inputs["load"] = -5.0
        fed.step(10.0)
        with pytest.raises(FmiCallError, match=r"FMU 'DieselGenerator': fmi3DoStep returned error at t=10 s; "
                                               r"the FMU logged: .*load must be >= 0 kW, got -5") as info:  # fmt: skip
            fed.step(20.0)
    finally:
        fed.finalize()
    assert info.value.function == "fmi3DoStep" and info.value.status == FmiStatus.ERROR and info.value.time == 10.0


def test_fmi_error_during_initialization(fmus: dict[str, Path]) -> None:
    fed = FmuFederate({"fmu": str(fmus["SpillwayGate"]), "parameters": {"gate_speed": -1.0}}, context())
    fed.setup()
    try:
        with pytest.raises(FmiCallError, match=r"FMU 'SpillwayGate': fmi2ExitInitializationMode returned error "
                                               r"at t=0 s; .*gate_speed must be > 0, got -1"):  # fmt: skip
            fed.step(0.0)
    finally:
        fed.finalize()


@pytest.mark.parametrize(("status", "label"), [(FmiStatus.DISCARD, "discard"), (FmiStatus.FATAL, "fatal"),
                                               (7, "illegal status 7")])  # fmt: skip
def test_fmi_call_error_labels_every_status(status: int, label: str) -> None:
    error = FmiCallError("Plant", "fmi2DoStep", 12.5, status)
    assert str(error) == f"FMU 'Plant': fmi2DoStep returned {label} at t=12.5 s"


def test_state_of_an_fmu_that_cannot_save_it(fmus: dict[str, Path], tmp_path: Path) -> None:
    path = rewrite(fmus["SpillwayGate"], tmp_path / "stateless.fmu",
                   edit_description('canGetAndSetFMUstate="true"', 'canGetAndSetFMUstate="false"'))  # fmt: skip
    fed = FmuFederate({"fmu": str(path)}, context())
    fed.setup()
    try:
        fed.step(0.0)
        with pytest.raises(FMUError, match=r"FMU 'SpillwayGate' \(stateless\.fmu\) cannot save and restore its "
                                           r"state .*cannot be re-stepped in an iterate group"):  # fmt: skip
            fed.get_state()
    finally:
        fed.finalize()


def test_stepping_back_in_time(fmus: dict[str, Path]) -> None:
    fed = FmuFederate({"fmu": str(fmus["SpillwayGate"])}, context())
    fed.setup()
    try:
        fed.step(0.0)
        fed.step(20.0)
        with pytest.raises(FMUError, match="asked to step back from t=20 to 10 s"):
            fed.step(10.0)
    finally:
        fed.finalize()


def test_binary_variables_are_left_out_of_the_default_inputs(fmus: dict[str, Path], tmp_path: Path) -> None:
    """A Binary variable cannot be a signal: the default binding skips it, naming it is an error."""
    path = rewrite(fmus["DieselGenerator"], tmp_path / "blob.fmu",
                   edit_description("  </ModelVariables>", '    <Binary name="blob" valueReference="99" '
                                                            'causality="input" variability="discrete"><Start value="00"/></Binary>\n'
                                                            "  </ModelVariables>"))  # fmt: skip
    decl = FmuFederate.declare({"fmu": str(path)})
    assert decl.input("blob") is None and decl.input("load") is not None
    with pytest.raises(FMUError, match="variable 'blob' is of type Binary, which cannot be a federation signal"):
        FmuFederate.declare({"fmu": str(path), "inputs": ["load", "blob"]})

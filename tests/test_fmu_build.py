"""fmus/build.py compiles the project's FMUs; inspect_fmu reports on them."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import fmpy
import pytest
from fmpy.validation import validate_fmu

from federation.fmu import inspect_fmu
from fmus.build import FmiStandard, build_all, find_models

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = {  # model -> (FMI version, CS, ME, binary folder)
    "SpillwayGate": ("2.0", True, False, "linux64"),
    "DieselGenerator": ("3.0", True, False, "x86_64-linux"),
    "PumpStation": ("2.0", False, True, "linux64"),
    "NashCascade": ("3.0", False, True, "x86_64-linux"),
    "SampledTank": ("3.0", True, True, "x86_64-linux"),
    "FrictionBlock": ("3.0", False, True, "x86_64-linux"),
    "FlowTotaliser": ("2.0", True, False, "linux64"),
}


@pytest.fixture(scope="session")
def fmus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {p.stem: p for p in build_all(tmp_path_factory.mktemp("fmus"))}


def test_every_model_folder_is_built(fmus: dict[str, Path]) -> None:
    assert sorted(fmus) == sorted(EXPECTED) == sorted(m.identifier for m in find_models())


@pytest.mark.parametrize("model", sorted(EXPECTED))
def test_archive_layout_and_description(fmus: dict[str, Path], model: str) -> None:
    version, cs, me, platform = EXPECTED[model]
    with zipfile.ZipFile(fmus[model]) as archive:
        names = set(archive.namelist())
    assert f"binaries/{platform}/{model}.so" in names
    assert {"modelDescription.xml", "sources/model.c", "sources/fmi_common.c", "sources/model.h"} <= names
    assert ("sources/fmi2_api.c" in names) == (version == "2.0")
    md = fmpy.read_model_description(str(fmus[model]))
    assert (md.fmiVersion, md.coSimulation is not None, md.modelExchange is not None) == (version, cs, me)
    assert validate_fmu(str(fmus[model])) == []
    assert fmpy.platform in fmpy.supported_platforms(str(fmus[model]))


def test_fmi2_cs_model_offers_fmu_state(fmus: dict[str, Path]) -> None:
    cs = fmpy.read_model_description(str(fmus["SpillwayGate"])).coSimulation
    assert cs.canGetAndSetFMUstate and cs.canSerializeFMUstate


def test_platform_folder_per_standard() -> None:
    assert FmiStandard.FMI2.platform == "linux64" and FmiStandard.FMI3.platform == "x86_64-linux"


def test_script_build_is_reproducible(fmus: dict[str, Path], tmp_path: Path) -> None:
    """`python fmus/build.py OUTDIR` builds every model, byte-identical to build_all's archives
    (same sources and compiler; sorted entries, fixed dates)."""
    result = subprocess.run([sys.executable, str(ROOT / "fmus" / "build.py"), str(tmp_path)],
                            capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    again = {Path(line).stem: Path(line) for line in result.stdout.split()}
    digest = {m: hashlib.sha256(p.read_bytes()).hexdigest() for m, p in fmus.items()}
    assert digest == {m: hashlib.sha256(p.read_bytes()).hexdigest() for m, p in again.items()}


def test_inspect_reports_versions_variables_and_a_snippet(fmus: dict[str, Path]) -> None:
    text = inspect_fmu(fmus["NashCascade"])
    assert "FMI version    3.0" in text and "interfaces     ModelExchange (ME)" in text
    assert "platforms      c-code, linux64" in text
    assert "start=0, stop=10000, step=60, tolerance=1e-6" in text
    assert "ME: canGetAndSetFMUstate, canSerializeFMUstate" in text
    row = next(line.split() for line in text.splitlines() if line.strip().startswith("lateral "))
    assert row == ["lateral", "input", "continuous", "Float64[3]", "m3/s", "0", "0", "0"]
    assert "      inputs: [inflow, lateral]" in text and "        k: [0.001, 0.001, 0.001]" in text
    assert "      solver: cvode" in text


def test_inspect_snippet_is_a_valid_federate_config(fmus: dict[str, Path]) -> None:
    """The pasted snippet declares without error (YAML parsed, then FmuFederate.declare)."""
    yaml = pytest.importorskip("yaml", reason="PyYAML parses the snippet")
    from federation.fmu import FmuFederate

    for model in EXPECTED:
        text = inspect_fmu(fmus[model])
        snippet = text.split("paste under 'federates:')\n", 1)[1]
        config = next(iter(yaml.safe_load(snippet).values()))
        decl = FmuFederate.declare(config["params"])
        assert decl.outputs and config["type"] == "fmu"

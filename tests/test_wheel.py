"""The project as a user installs it: a wheel in a fresh environment, outside the repository.

The wheel is built from a copy of the sources and installed, without the index, into a new
venv whose third-party dependencies come from this environment (a folder of links to its
site-packages, minus the project itself), so the test needs no network.  In that venv:
``federation examples`` copies the scenarios and builds the FMUs, rain-tank and Riverton
(which needs a project FMU) run, ``python -m fmus.build`` builds from another folder, and
the tutorial's plugin (docs/writing-a-federate.md) installs against the wheel.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from federation.results.store import RunStore
from tests.docexamples import ROOT, Action, DocSession, read_blocks

pytestmark = [pytest.mark.timeout(300)]

TAKEN_ON_THE_INDEX = {"federation"}  # an unrelated project (checked on the public index, 0.28.0)
SKIP_SOURCES = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "runs", "*.sqlite*",
                                      ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache")  # fmt: skip


def _distribution_name() -> str:
    found = re.search(r'^name\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.MULTILINE)
    assert found, "pyproject.toml has no name"
    return found.group(1)


def _pip(*args: str, python: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run([sys.executable, "-m", "pip", "--python", str(python), *args, "--no-index"],
                          capture_output=True, text=True, env=env, timeout=240, check=False)  # fmt: skip


def _dependency_folder(folder: Path) -> Path:
    """Links to this environment's site-packages, without the project and without .pth hooks."""
    own = {"federation", "federates", "fmus"}
    site = Path(sysconfig.get_paths()["purelib"])
    folder.mkdir()
    for entry in site.iterdir():
        name = entry.name
        project_meta = name.endswith(".dist-info") and name.split("-")[0].replace("_", "-") == _distribution_name()
        if name in own or name.startswith("__editable__") or name.endswith(".pth") or project_meta:
            continue
        (folder / name).symlink_to(entry)
    return folder


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A fresh venv with the project's wheel (and nothing of the repository on its path)."""
    base = tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, base / "src", ignore=SKIP_SOURCES, symlinks=True)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            str(base / "src"), "-w", str(base / "wheels")],
                           capture_output=True, text=True, timeout=240, check=False)  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next((base / "wheels").glob("*.whl"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(base / "venv")], check=True, timeout=60)
    python = base / "venv" / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    Path(purelib, "dependencies.pth").write_text(f"{_dependency_folder(base / 'deps')}\n", encoding="utf-8")
    result = _pip("install", "--no-deps", str(wheel), python=python)
    assert result.returncode == 0, result.stdout + result.stderr
    work = base / "work"
    work.mkdir()
    return {"base": base, "python": python, "bin": python.parent, "work": work, "wheel": wheel}


def _run(installed: dict[str, Any], *command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{installed['bin']}{os.pathsep}{env['PATH']}"
    return subprocess.run(list(command), cwd=cwd or installed["work"], env=env, capture_output=True, text=True,
                          timeout=180, check=False)  # fmt: skip


def test_distribution_name_is_not_taken_on_the_index():
    """`pip install federation` gets an unrelated project: our distribution has another name."""
    name = _distribution_name()
    assert name not in TAKEN_ON_THE_INDEX
    assert name != "federation"


def test_the_wheel_ships_scenarios_and_fmu_sources(installed):
    import zipfile

    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    for scenario in (ROOT / "scenarios").rglob("*.yaml"):
        assert f"federation/example_scenarios/{scenario.relative_to(ROOT / 'scenarios')}" in names
    for source in ("fmus/build.py", "fmus/common/fmi2_api.c", "fmus/spillway_gate/model.c",
                   "fmus/spillway_gate/modelDescription.xml"):  # fmt: skip
        assert source in names
    assert not any(name.endswith(".fmu") for name in names)


def test_examples_run_from_the_installed_package(installed):
    """`federation examples .` then rain-tank and Riverton (a project FMU) run outside the repository."""
    work = installed["work"]
    where = _run(installed, "python", "-c", "import federation, fmus; print(federation.__file__, fmus.__file__)")
    assert str(ROOT) not in where.stdout and str(installed["base"] / "venv") in where.stdout, where.stdout
    made = _run(installed, "federation", "examples", ".")
    assert made.returncode == 0, made.stderr
    assert (work / "fmus" / "dist" / "SpillwayGate.fmu").is_file()
    for scenario, until in (("rain-tank", "1 h"), ("riverton", "30 min")):
        ran = _run(installed, "federation", "run", f"scenarios/{scenario}.yaml", "--until", until, "--autonomy",
                   "full", "--out", f"{scenario}.sqlite", "--quiet")  # fmt: skip
        assert ran.returncode == 0, ran.stdout + ran.stderr
        with RunStore(work / f"{scenario}.sqlite") as store:
            assert store.metadata()["status"] == "completed"
    again = _run(installed, "federation", "examples", ".", "--no-fmus")
    assert again.returncode == 0, again.stderr  # identical files are left alone


def test_examples_never_overwrite_a_changed_file(installed, tmp_path):
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "rain-tank.yaml").write_text("mine\n", encoding="utf-8")
    result = _run(installed, "federation", "examples", str(tmp_path), "--no-fmus")
    assert result.returncode == 2
    assert "rain-tank.yaml exists and differs from the shipped example" in result.stderr
    assert (scenarios / "rain-tank.yaml").read_text(encoding="utf-8") == "mine\n"


def test_fmu_build_works_from_any_folder(installed, tmp_path):
    """`python -m fmus.build` in a folder that is not the repository builds into ./fmus/dist."""
    result = _run(installed, "python", "-m", "fmus.build", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "fmus" / "dist").iterdir()) == [
        "DieselGenerator.fmu", "FlowTotaliser.fmu", "FrictionBlock.fmu", "NashCascade.fmu", "PumpStation.fmu", "SampledTank.fmu", "SpillwayGate.fmu"]  # fmt: skip


def test_tutorial_plugin_installs_against_the_wheel(installed, tmp_path):
    """The plugin of docs/writing-a-federate.md, as the doc writes it, installs without the index
    (its dependency resolves to the installed wheel) and its short names run the house."""
    files = DocSession(tmp_path)
    for block in read_blocks(ROOT / "docs" / "writing-a-federate.md"):
        if block.marker and block.marker.action in (Action.FILE, Action.APPEND):
            files.apply(block)
    package = tmp_path / "heating-federates"
    (package / "src" / "heating").mkdir(parents=True)
    shutil.copy(tmp_path / "heating.py", package / "src" / "heating" / "__init__.py")
    result = _pip("install", "--no-build-isolation", str(package), python=installed["python"])
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("house", "house-plugin"):
        ran = _run(installed, "federation", "run", f"{name}.yaml", "--until", "6 h", "--out", f"{name}.sqlite",
                   "--quiet", cwd=tmp_path)  # fmt: skip
        assert ran.returncode == 0, ran.stdout + ran.stderr
    with RunStore(tmp_path / "house.sqlite") as by_path, RunStore(tmp_path / "house-plugin.sqlite") as by_name:
        assert by_path.series("room.temperature") == by_name.series("room.temperature")

"""The FMU cache: model descriptions and extracted binaries kept by content hash across runs."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from federation import Context
from federation.fmu import FmuFederate, read_fmu
from federation.fmu.cache import ENV_CACHE, FmuCache, cache, clear
from federation.fmu.loader import TEMP_PREFIX, ExtractedFmu

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def fmus(shipped_fmus: list[Path]) -> dict[str, Path]:
    """The project's FMUs, as the session built them into fmus/dist (read only)."""
    return {p.stem: p for p in shipped_fmus}


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty cache for one test (and the processes it starts)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(ENV_CACHE, str(folder))
    return folder / "fmu"


def context() -> Context:
    return Context(name="unit", seed=1, start=0.0, stop=100.0, resolution=1e-3, period=10.0)


def test_a_federate_process_steps_a_cs_fmu_without_fmpy_numpy_or_lxml(fmus: dict[str, Path], own_cache: Path) -> None:
    """Once the description is cached (here by this process), a new process needs neither fmpy nor NumPy.

    Nor asyncio, which pyzmq's monitor and ZAP modules import: the runtime imports them only
    when it needs them; nor importlib.metadata: the WELCOME frame names the class of
    ``type: fmu`` (its ``target``), so no entry points are scanned.  Each of these costs
    tens of milliseconds at every federate's start.
    """
    FmuFederate.declare({"fmu": str(fmus["DieselGenerator"])})
    script = f"""
import sys
import federation.engine.runtime
from federation import Context
from federation.scenario.registry import resolve
FmuFederate = resolve("federation.fmu:FmuFederate")  # what the WELCOME's target names
fed = FmuFederate({{"fmu": {str(fmus["DieselGenerator"])!r}}}, Context("g", 1, 0.0, 100.0, 1e-3, 10.0))
fed.setup()
for t in (0.0, 10.0, 20.0):
    fed.step(t)
fed.finalize()
print(sorted(m for m in ("fmpy", "numpy", "lxml", "attr", "scipy", "asyncio", "importlib.metadata")
             if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split()[0] == "[]", done.stdout + done.stderr


def test_extraction_is_shared_by_content_and_kept_after_the_run(fmus: dict[str, Path], own_cache: Path,
                                                                tmp_path: Path) -> None:  # fmt: skip
    copy = tmp_path / "renamed.fmu"
    shutil.copyfile(fmus["SpillwayGate"], copy)
    first, second = FmuFederate({"fmu": str(fmus["SpillwayGate"])}, context()), FmuFederate({"fmu": str(copy)}, context())
    for fed in (first, second):
        fed.setup()
        fed.step(0.0)
    assert first.instance is not None and second.instance is not None
    folder = first.instance.extracted.directory
    assert folder == second.instance.extracted.directory  # same content, same entry
    assert folder.parent.parent == own_cache and len(folder.parent.name) == 64
    assert (folder / "binaries" / "linux64" / "SpillwayGate.so").is_file()
    for fed in (first, second):
        fed.finalize()
    assert folder.is_dir() and (folder.parent / "model.json").is_file()


def test_a_changed_file_is_a_new_entry(fmus: dict[str, Path], own_cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "gate.fmu"
    shutil.copyfile(fmus["SpillwayGate"], path)
    before = read_fmu(path).key
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("resources/note.txt", "changed")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    after = read_fmu(path).key
    assert before is not None and after is not None and before != after
    assert sorted(p.name for p in own_cache.iterdir() if len(p.name) == 64) == sorted([before, after])


def _extract_in_another_process(args: tuple[str, str, str, object]) -> str:
    root, key, fmu, barrier = args
    barrier.wait()  # type: ignore[attr-defined]
    return str(FmuCache(Path(root)).extracted(key, Path(fmu)))


def test_concurrent_first_use_extracts_once_and_leaves_no_scratch(fmus: dict[str, Path], own_cache: Path) -> None:
    """Six processes released together on an empty cache: one folder, every process gets it, nothing else."""
    store = cache()
    assert store is not None
    key = store.key(fmus["NashCascade"])
    context = multiprocessing.get_context("fork")
    with context.Manager() as manager:
        barrier = manager.Barrier(6)
        with context.Pool(6) as pool:
            folders = pool.map(_extract_in_another_process,
                               [(str(store.root), key, str(fmus["NashCascade"]), barrier)] * 6)  # fmt: skip
    assert len(set(folders)) == 1
    entry = Path(folders[0]).parent
    assert sorted(p.name for p in entry.iterdir()) == ["files", "used"]
    assert (Path(folders[0]) / "binaries" / "x86_64-linux" / "NashCascade.so").is_file()


def test_prune_removes_entries_unused_for_30_days(fmus: dict[str, Path], own_cache: Path) -> None:
    store = cache()
    assert store is not None
    old, fresh = (store.key(fmus[name]) for name in ("SpillwayGate", "PumpStation"))
    for key, name in ((old, "SpillwayGate"), (fresh, "PumpStation")):
        store.extracted(key, fmus[name])
    month = time.time() - 31 * 86400
    os.utime(store.entry(old) / "used", (month, month))
    assert store.prune() == [old]
    assert not store.entry(old).exists() and store.entry(fresh).is_dir()
    assert not [p for p in store.root.iterdir() if p.name.startswith(".trash")]


def test_an_unusable_cache_folder_falls_back_to_private_folders(fmus: dict[str, Path], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(ENV_CACHE, str(blocker / "cache"))
    fed = FmuFederate({"fmu": str(fmus["SpillwayGate"])}, context())
    fed.setup()
    try:
        assert fed.instance is not None and fed.instance.extracted.directory.name.startswith(TEMP_PREFIX)
        fed.step(0.0)
    finally:
        fed.finalize()
    assert "cannot be used" in caplog.text and "extracting into temporary folders" in caplog.text


def test_cache_off_extracts_privately(fmus: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_CACHE, "off")
    with ExtractedFmu(read_fmu(fmus["SpillwayGate"])) as extracted:
        folder = extracted.directory
        assert folder.name.startswith(TEMP_PREFIX) and not extracted.cached
    assert not folder.exists()


def test_cli_shows_and_clears_the_cache(fmus: dict[str, Path], own_cache: Path, tmp_path: Path) -> None:
    FmuFederate.declare({"fmu": str(fmus["SpillwayGate"])})

    def federation(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "federation.app.cli", *args], capture_output=True, text=True,
                              timeout=60, cwd=tmp_path)  # fmt: skip

    shown = federation("cache")
    assert shown.returncode == 0, shown.stderr
    assert f"FMU cache {own_cache}: 1 FMU(s)" in shown.stdout
    cleared = federation("cache", "--clear")
    assert cleared.returncode == 0 and f"removed 1 FMU(s) from {own_cache}" in cleared.stdout
    assert clear() == (own_cache, 0)


def test_welcome_names_the_class_of_a_short_type(fmus: dict[str, Path], tmp_path: Path) -> None:
    from federation.engine.plan import Plan
    from federation.scenario.loader import load
    from tests.conftest import write_scenario

    path = write_scenario(tmp_path, f"""
        time: {{stop: 10, resolution: 1 s}}
        federates:
          gate: {{type: fmu, params: {{fmu: {fmus['SpillwayGate']}}}}}
          pinger: {{type: "{{HELPERS}}:Pinger"}}
          listener: {{type: "{{HELPERS}}:Listener"}}
        messages: [pinger.out -> listener.inbox]
        """)
    plan = Plan.build(load(path))
    gate, pinger = plan.welcome(0), plan.welcome(1)
    assert (gate["type"], gate["target"]) == ("fmu", "federation.fmu:FmuFederate")
    assert pinger["target"] == pinger["type"] and pinger["routes"] == ["out"] and gate["routes"] == []

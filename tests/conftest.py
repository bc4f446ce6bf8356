"""Shared fixtures: run a scenario text in a temp dir; check that no process is left behind."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from federation.engine.coordinator import Coordinator, RunOptions, RunSummary
from federation.errors import Problem
from federation.results.store import RunStore
from federation.scenario.loader import load
from tests.brokers import mosquitto  # noqa: F401  (the real-broker fixture of the MQTT tests)

HELPERS = str(Path(__file__).with_name("helpers.py"))
ROOT = Path(__file__).resolve().parents[1]


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry))
    return out


@pytest.fixture(autouse=True)
def no_process_left_behind() -> Any:
    """The test's own children only: those of this process, the pytest-xdist worker running the test (``-n 2``),
    never another worker's (each worker is a process of its own, a child of the controller, not of a worker)."""
    before = set(_children(os.getpid()))
    yield
    deadline = time.monotonic() + 3.0  # a child told to stop (a browser's driver, a run) may still be exiting
    while (left := set(_children(os.getpid())) - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes left behind: {[(pid, _command(pid)) for pid in sorted(left)]}"


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def write_scenario(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).replace("{HELPERS}", HELPERS), encoding="utf-8")
    return path


def located(problem: Problem, path: Path | str) -> str:
    """``LINE: key.path: message`` of a problem found in the file ``path``, whose full form
    (``FILE:LINE:COL: key.path: message``, checked here) also names the column of the key."""
    assert problem.line >= 1 and problem.column >= 1, problem
    rest = f"{problem.path}: {problem.message}" if problem.path else problem.message
    assert str(problem) == f"{path}:{problem.line}:{problem.column}: {rest}", problem
    return f"{problem.line}: {rest}"


@pytest.fixture
def run_scenario(tmp_path: Path) -> Callable[..., tuple[RunSummary, RunStore]]:
    stores: list[RunStore] = []

    def run(text: str, name: str = "scenario.yaml", **options: Any) -> tuple[RunSummary, RunStore]:
        path = write_scenario(tmp_path, text, name)
        scenario = load(path)
        out = tmp_path / (Path(name).stem + ".sqlite")
        with Coordinator(scenario, RunOptions(out=out, **options)) as coordinator:
            summary = coordinator.run()
        store = RunStore(out)
        stores.append(store)
        return summary, store

    yield run
    for store in stores:
        store.close()


@pytest.fixture(scope="session", autouse=True)
def fmu_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The FMU cache of this session, in a temporary folder (not the user's ~/.cache); federates inherit it."""
    folder = tmp_path_factory.mktemp("fmu-cache")
    os.environ["FEDERATION_CACHE_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session", autouse=True)
def shipped_fmus(fmu_cache: Path) -> list[Path]:
    """The project's FMUs built from source into fmus/dist, where the shipped scenarios expect them.

    Built once per session for every test: any test may load a shipped scenario.  Under pytest-xdist
    (``-n 2``) the workers of one run share the build: the first builds under a file lock, the others
    find its mark and read the same files (a rebuild would rewrite a zip another worker is reading)."""
    import fcntl

    from fmus.build import build_all, find_models

    dist = ROOT / "fmus" / "dist"
    dist.mkdir(parents=True, exist_ok=True)
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")  # the same in every worker of one run; unset without xdist
    mark = dist / ".built-by-test-run"
    with open(dist / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if run is not None and mark.is_file() and mark.read_text() == run:
            return [dist / f"{model.identifier}.fmu" for model in find_models()]
        built = build_all(dist)
        mark.write_text(run or "")
        return built

"""Reading run stores: plots of arrays and text, output into a closed pipe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from federation.errors import FederationError
from federation.store import RunStore
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(120)

SHORT = """
name: words
time: {stop: 4, resolution: 1 s}
federates:
  clock: {type: "{HELPERS}:Clock"}
  probe: {type: "{HELPERS}:Probe"}
  words: {type: "{HELPERS}:Words"}
connections:
  - clock.y -> probe.u
"""


def federation(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "federation.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=90, **kwargs)  # type: ignore[call-overload]  # fmt: skip


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("finished")
    out = folder / "runs" / "words.sqlite"
    result = federation("run", write_scenario(folder, SHORT), "--out", out, "-q")
    assert result.returncode == 0, result.stderr
    return out


# ---------------------------------------------------------------------------- plots
def test_an_array_signal_is_plotted_per_element(finished):
    with RunStore(finished) as store:
        figure = store.figure(["probe.obs", "words.grid"])
    probe, grid = figure.axes
    assert [line.get_label() for line in probe.get_lines()] == ["probe.obs[0]", "probe.obs[1]"]
    t, u = probe.get_lines()
    assert list(t.get_ydata()) == [0.0, 1.0, 2.0, 3.0, 3.0]  # [t, u] at each step, held to the stop time
    assert list(u.get_ydata()) == [0.0, 1.0, 2.0, 3.0, 3.0]
    assert [line.get_label() for line in grid.get_lines()] == ["words.grid[0,0]", "words.grid[0,1]",
                                                              "words.grid[1,0]", "words.grid[1,1]"]  # fmt: skip
    assert list(grid.get_lines()[3].get_ydata()) == [0.0, 4.0, 8.0, 12.0, 12.0]


def test_a_text_signal_is_refused_with_its_name(finished, tmp_path):
    png = tmp_path / "w.png"
    result = federation("plot", finished, "words.word", "-o", png)
    assert result.returncode == 1
    assert result.stderr.startswith("federation: error: cannot plot words.word: it holds text ('t=0')")
    assert not png.exists()
    with RunStore(finished) as store, pytest.raises(FederationError, match="cannot plot words.word"):
        store.figure(["clock.y", "words.word"])


def test_plot_into_a_closed_pipe_ends_quietly(finished):
    """`federation plot RUN | head` used to end in a BrokenPipeError traceback and exit 3."""
    proc = subprocess.Popen([sys.executable, "-m", "federation.cli", "plot", str(finished)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    proc.stdout.close()  # the reader is gone before the first line is written
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(60) == 141
    assert stderr == ""

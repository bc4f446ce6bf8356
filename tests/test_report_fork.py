"""`federation report` of a fork (docs/what-if.md, "A fork's report"): the signals that diverge from the parent's
after the fork point are drawn over the parent's; those that do not are listed."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from conftest import write_scenario
from test_fork_replay import AFFINE as SCENARIO
from test_fork_replay import cli

from federation.results.comparison import compare_signals
from federation.results.store import RunStore


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("forks")
    stores = {name: folder / f"{name}.sqlite" for name in ("parent", "changed", "same")}
    cli("run", write_scenario(folder, SCENARIO), "--out", stores["parent"], "-q")
    cli("fork", stores["parent"], "--at", "12", "--set", "aff.b=5", "--out", stores["changed"], "-q")
    cli("fork", stores["parent"], "--at", "12", "--out", stores["same"], "-q")
    return stores


def test_the_diverging_signal_is_found_from_its_first_difference(runs: dict[str, Path]) -> None:
    with RunStore(runs["changed"]) as fork, RunStore(runs["parent"]) as parent:
        cmp = compare_signals(fork, parent, 12, 12.0)
    assert [(d.name, d.first) for d in cmp.diverging] == [("aff.y", 12.0)]
    assert cmp.same == ("clock.y",) and cmp.only_here == () and cmp.only_parent == ()
    assert base64.b64decode(cmp.diverging[0].png).startswith(b"\x89PNG")


@pytest.mark.timeout(120)
def test_the_report_of_a_fork_overlays_its_diverging_signals_on_the_parents(runs: dict[str, Path],
                                                                          tmp_path: Path) -> None:  # fmt: skip
    out = tmp_path / "changed.html"
    cli("report", runs["changed"], "-o", out)
    html = out.read_text()
    part = html[html.find("This run and its parent"):html.find("</section>", html.find("This run and its parent"))]
    assert "(replay from t=0 s)" in part
    assert "1 of 2 signals recorded by both runs differ from the parent's after the fork point" in part
    assert re.search(r"<figcaption>aff\.y: differs from t=12 s</figcaption><img alt='aff\.y: this run and its parent' "
                     r"src='data:image/png;base64,[A-Za-z0-9+/=]+'>", part)  # fmt: skip
    assert "Identical to the parent's after the fork point: clock.y" in part


@pytest.mark.timeout(120)
def test_the_report_of_a_fork_with_no_change_says_no_signal_differs(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "same.html"
    cli("report", runs["same"], "-o", out)
    html = out.read_text()
    assert "No signal differs from the parent's after the fork point." in html
    assert "Identical to the parent's after the fork point: aff.y, clock.y" in html
    assert "this run and its parent' src=" not in html

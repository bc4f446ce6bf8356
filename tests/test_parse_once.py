"""A scenario is parsed once and validated once per `federation run` (issue 13 item 1).

Counted on riverton, run through the CLI's own entry point in this process (the
coordinator is in-process; the federates are processes as always): the YAML parser, the
validation pass and the federate-type resolutions are wrapped and counted.
"""

from __future__ import annotations

import collections
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from federation.app import cli
from federation.errors import ScenarioError
from federation.scenario import loader, source, validation
from federation.scenario.decisions import DecisionSpec, Verdict
from federation.scenario.kpis import KpiSpec, Reducer
from federation.scenario.loader import load
from federation.scenario.model import Scenario
from federation.scenario.report import ReportSpec
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(120)


def _count(monkeypatch: pytest.MonkeyPatch) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()

    def counted(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[label] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)

    counted(source._Loader, "get_single_node", "yaml")
    counted(validation, "_validate", "validation")
    counted(validation, "resolve_one", "resolution")
    for section in ("parse_decisions", "parse_kpis", "parse_report", "parse_pairs"):
        counted(loader, section, section)
    return counts


def test_a_run_parses_its_scenario_once_and_validates_it_once(monkeypatch, tmp_path: Path) -> None:
    federates = len(load(ROOT / "scenarios" / "riverton.yaml", check=False).federates)
    counts = _count(monkeypatch)
    code = cli.main(["run", str(ROOT / "scenarios" / "riverton.yaml"), "--until", "2 h", "--seed", "3",
                     "--out", str(tmp_path / "r.sqlite")])  # fmt: skip
    assert code == 0
    sections = {"parse_decisions": 1, "parse_kpis": 1, "parse_report": 1, "parse_pairs": 1}  # at load, never again
    assert dict(counts) == {"yaml": 1, "validation": 1, "resolution": federates, **sections}


def test_a_changed_scenario_is_validated_again_and_its_own_memo_is_not_carried_over(monkeypatch) -> None:
    scenario = load(ROOT / "scenarios" / "rain-tank.yaml")
    counts = _count(monkeypatch)
    assert validation.validate(scenario, scenario.source()) == []
    assert not counts  # the loader's pass is kept with the scenario
    changed = replace(scenario, time=replace(scenario.time, stop=scenario.time.stop / 2))
    assert validation.validate(changed, changed.source()) == []
    assert counts["validation"] == 1 and counts["yaml"] == 1  # a new object: its text parsed, its checks run


def test_every_section_is_a_typed_spec_on_the_model() -> None:
    """Nobody downstream sees YAML: decisions, kpis, report and synchronise are frozen specs of the scenario."""
    scenario = load(ROOT / "scenarios" / "riverton.yaml")
    assert "options" not in Scenario.__dataclass_fields__
    assert isinstance(scenario.decisions, DecisionSpec) and scenario.decisions.classes == ("damops.orders",)
    assert [r.verdict for r in scenario.decisions.rules] == [Verdict.EDIT, Verdict.APPROVE, Verdict.ASK]
    assert scenario.kpis and all(isinstance(k, KpiSpec) for k in scenario.kpis)
    assert {k.name: k.reduce for k in scenario.kpis}["peak_flooded_area"] is Reducer.MAX
    assert isinstance(scenario.report, ReportSpec) and scenario.report.panels
    with pytest.raises(AttributeError):
        scenario.report.panels[0].title = "changed"  # type: ignore[misc]


def test_every_problem_is_reported_at_once_with_line_and_column(tmp_path: Path) -> None:
    """``FILE:LINE:COL: key.path: message`` for every section, the did-you-mean hints kept."""
    path = tmp_path / "s.yaml"
    path.write_text("""time: {stop: 10}
federates:
  a: {type: rain, period: 1}
decisions:
  require_approval: [a.nowhere]
  defualt: approve
kpis:
  total: {signal: a.intensity, reduce: median}
report:
  panels:
    - {title: Rain, signals: [a.intensty]}
synchronise:
  - {pair: a.intensity -> a.intensity, method: nudg}
""")
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert [str(p) for p in info.value.problems] == [
        f"{path}:5:22: decisions.require_approval[0]: no endpoint 'a.nowhere' in the scenario",
        f"{path}:6:3: decisions.defualt: unknown key; did you mean 'default'? "
        "(expected one of: default, policy, require_approval, timeout)",
        f"{path}:8:32: kpis.total.reduce: expected one of last, first, max, min, mean, integral, count_true, "
        "time_true, recovery, got 'median'; did you mean 'mean', 'min'?",
        f"{path}:11:31: report.panels[0].signals[0]: federate 'a' has no output 'intensty'; did you mean 'intensity'?",
        f"{path}:13:40: synchronise[0].method: unknown method 'nudg'; did you mean 'nudge'?",
    ]


def test_a_yaml_error_has_its_column(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("time: {stop: 10}\nfederates:\n  a: {type: rain, period: [1}\n")
    with pytest.raises(ScenarioError) as info:
        load(path)
    (problem,) = info.value.problems
    assert (problem.line, problem.column) == (3, 29) and str(problem).startswith(f"{path}:3:29: invalid YAML"), problem

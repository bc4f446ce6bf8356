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
from federation.scenario import source, validation
from federation.scenario.loader import load
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
    return counts


def test_a_run_parses_its_scenario_once_and_validates_it_once(monkeypatch, tmp_path: Path) -> None:
    federates = len(load(ROOT / "scenarios" / "riverton.yaml", check=False).federates)
    counts = _count(monkeypatch)
    code = cli.main(["run", str(ROOT / "scenarios" / "riverton.yaml"), "--until", "2 h", "--seed", "3",
                     "--out", str(tmp_path / "r.sqlite")])  # fmt: skip
    assert code == 0
    assert dict(counts) == {"yaml": 1, "validation": 1, "resolution": federates}


def test_a_changed_scenario_is_validated_again_and_its_own_memo_is_not_carried_over(monkeypatch) -> None:
    scenario = load(ROOT / "scenarios" / "rain-tank.yaml")
    counts = _count(monkeypatch)
    assert validation.validate(scenario, scenario.source()) == []
    assert dict(counts) == {}  # the loader's pass is kept with the scenario
    changed = replace(scenario, time=replace(scenario.time, stop=scenario.time.stop / 2))
    assert validation.validate(changed, changed.source()) == []
    assert counts["validation"] == 1 and counts["yaml"] == 1  # a new object: its text parsed, its checks run

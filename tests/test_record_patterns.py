"""``record:`` is checked like every other section, and each of its patterns must name a signal.

Patterns: ``*`` is any run of characters, ``?`` one character, everything else (brackets
included) stands for itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from federation.errors import ScenarioError
from federation.scenario.loader import load
from tests.conftest import located, write_scenario

pytestmark = pytest.mark.timeout(60)

MODELS = """
from federation import Federate, Output


class Model(Federate):
    default_period = 1.0
    y1 = Output()
    y_first = Output(name="y[1]")
    z1 = Output()
    arr = Output(type=list, default=[])

    def step(self, t):
        self.y1, self.y_first, self.z1, self.arr = t, 10 * t, 100 * t, [t, t]
"""


def scenario(tmp_path: Path, record: str) -> Path:
    (tmp_path / "models.py").write_text(MODELS)
    return write_scenario(tmp_path, f"time: {{stop: 3, resolution: 1 s}}\nfederates:\n  m: {{type: models.py:Model}}\n"
                                    f"{record}")  # fmt: skip


def problems(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load(path)
    return [located(p, path) for p in info.value.problems]


def test_unknown_keys_and_wrong_types_are_errors(tmp_path):
    found = problems(scenario(tmp_path, "record:\n  signal: [m.y1]\n  messages: sometimes\n"))
    assert found == [
        "5: record.signal: unknown key; did you mean 'signals'? (expected one of: messages, signals)",
        "6: record.messages: expected true or false, got 'sometimes'",
    ]
    found = problems(scenario(tmp_path, "record:\n  signals: [5, null, '']\n"))
    assert found == [
        "5: record.signals[0]: expected a pattern such as 'tank.*' or 'tank.level', got int 5",
        "5: record.signals[1]: expected a pattern such as 'tank.*' or 'tank.level', got nothing None",
        "5: record.signals[2]: expected a pattern such as 'tank.*' or 'tank.level', got a string ''",
    ]
    found = problems(scenario(tmp_path, "record: {signals: 3}\n"))
    assert found == ["4: record.signals: expected all, none, false or a list of patterns, got int 3"]


def test_a_pattern_that_matches_nothing_is_an_error_with_a_suggestion(tmp_path):
    found = problems(scenario(tmp_path, "record:\n  signals:\n    - m.y*\n    - m.z2\n    - m.arr[0]\n    - n.*\n"))
    assert found == [
        "7: record.signals[1]: 'm.z2' matches no signal; did you mean 'm.z1', 'm.y1'?",
        "8: record.signals[2]: 'm.arr[0]' matches no signal; an array signal is recorded whole: record 'm.arr'",
        "9: record.signals[3]: 'n.*' matches no signal (known: m.arr, m.y1, m.y[1], m.z1)",
    ]


def test_brackets_stand_for_themselves_and_wildcards_match_any_characters(tmp_path, run_scenario):
    text = scenario(tmp_path, 'record: {signals: ["m.y[1]", "?.z*"]}\n').read_text()
    _, store = run_scenario(text, name="brackets.yaml")
    assert sorted(name for _, name, _, _ in store.signals()) == ["m.y[1]", "m.z1"]
    assert store.series("m.y[1]").values == (0.0, 10.0, 20.0, 30.0)

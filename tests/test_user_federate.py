"""A user's own federate class, outside the repository, runs in a scenario by module:Class."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(60)

USER_MODULE = '''
from federation import Federate, Input, Output, Parameter


class Doubler(Federate):
    """Outputs twice its input plus an offset."""

    default_period = 2.0
    offset = Parameter(0.0, unit="m")
    x = Input(unit="m")
    y = Output(unit="m")

    def step(self, t):
        self.y = 2 * self.x + self.offset
'''


def test_user_class_by_module_and_class_name(tmp_path):
    (tmp_path / "my_models.py").write_text(USER_MODULE)
    scenario = tmp_path / "user.yaml"
    scenario.write_text(textwrap.dedent("""
        time: {stop: 10, resolution: 1 s}
        federates:
          source: {type: tank, params: {level0: 3.0}}
          doubler: {type: "my_models:Doubler", params: {offset: 0.5}}
          also: {type: "my_models.py:Doubler"}
        connections:
          - source.level -> doubler.x
          - source.level -> also.x
    """))
    out = tmp_path / "user.sqlite"
    result = subprocess.run([sys.executable, "-m", "federation.app.cli", "run", str(scenario), "--out", str(out)],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path.parent)  # fmt: skip
    assert result.returncode == 0, result.stderr
    from federation.results.store import RunStore

    with RunStore(out) as store:
        assert store.series("doubler.y").values[0] == 6.5
        assert store.series("also.y").values[0] == 6.0
        assert store.series("doubler.y").times == (0.0,)  # the tank level never changes: one sample
        assert [f[3] for f in store.federates()] == [1, 6, 6]  # tank (60 s period) once; doublers every 2 s, 0 .. 10


def test_parameters_read_as_plain_attributes_whatever_their_declared_name():
    """Parameter values are copied into the instance (fast reads); names, defaults and shadowing hold."""
    from federation import Federate, Output, Parameter
    from federation.api.federate import Context

    class Base(Federate):
        gain = Parameter(2.0)
        limit = Parameter(10.0, name="max")  # attribute and parameter names differ
        y = Output()

        def step(self, t):
            self.y = min(self.gain * t, self.limit)

    class Child(Base):
        gain = 3.0  # a plain class attribute shadows the inherited parameter

    context = Context(name="f", seed=1, start=0.0, stop=10.0, resolution=1.0, period=1.0)
    base = Base({"max": 5.0}, context)
    assert (base.gain, base.limit) == (2.0, 5.0)
    base.step(4.0)
    assert base.y == 5.0
    child = Child({}, context)
    assert (child.gain, child.limit) == (3.0, 10.0)
    assert "gain" not in vars(child)

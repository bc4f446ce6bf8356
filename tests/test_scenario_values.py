"""Values a scenario hands to federates are checked when it is validated, not when they hit the wire.

Parameters travel in WELCOME, event values in GRANT frames, and all of it is msgpack: integers
must fit 64 bits, text must be valid Unicode, and a declared float parameter must be finite
unless it says otherwise.  Each bad value is reported at its own line, with the value.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from federation.errors import ScenarioError
from federation.scenario.loader import load
from tests.conftest import ROOT, located, write_scenario

pytestmark = pytest.mark.timeout(60)

MODELS = """
from federation import Federate, Input, Output, Parameter


class Model(Federate):
    default_period = 1.0
    gain = Parameter(1.0)
    count = Parameter(3, type=int)
    limit = Parameter(1.0, finite=False)
    anything = Parameter(None)
    u = Input(default=0.0)
    n = Input(type=int, default=0)
    y = Output()
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    """The problems of a scenario that uses the ``Model`` class above, as ``LINE: path: message``."""
    (tmp_path / "models.py").write_text(MODELS)
    path = write_scenario(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load(path)
    return [located(p, path) for p in info.value.problems]


def test_an_integer_too_large_for_the_wire_is_reported_at_its_line_with_its_value(tmp_path):
    found = problems(tmp_path, """\
        time: {stop: 5}
        federates:
          m:
            type: models.py:Model
            params:
              gain: 1000000000000000000000000000000
              count: -9223372036854775809
              anything: {deep: [1, 18446744073709551616]}
        """)
    assert found == [
        "6: federates.m.params.gain: 1000000000000000000000000000000 is outside the range of 64-bit integers, "
        "the widest the wire carries (-2**63 to 2**64-1)",
        "7: federates.m.params.count: -9223372036854775809 is outside the range of 64-bit integers, "
        "the widest the wire carries (-2**63 to 2**64-1)",
        "8: federates.m.params.anything.deep[1]: 18446744073709551616 is outside the range of 64-bit integers, "
        "the widest the wire carries (-2**63 to 2**64-1)",
    ]


def test_the_limits_of_the_wire_are_accepted(tmp_path):
    (tmp_path / "models.py").write_text(MODELS)
    path = write_scenario(tmp_path, """\
        time: {stop: 5}
        federates:
          m: {type: models.py:Model, params: {count: -9223372036854775808, anything: [18446744073709551615]}}
        """)
    assert load(path).federates["m"].params["anything"] == [2**64 - 1]


def test_a_float_parameter_must_be_finite_unless_declared_otherwise(tmp_path):
    found = problems(tmp_path, """\
        time: {stop: 5}
        federates:
          m: {type: models.py:Model, params: {gain: .inf, limit: .inf}}
          k: {type: models.py:Model, params: {gain: .nan, limit: .nan}}
        """)
    assert found == [
        "3: federates.m.params.gain: wrong type: expected a finite number, got inf",
        "4: federates.k.params.gain: wrong type: expected a finite number, got nan",
    ]


def test_an_iterate_tolerance_must_be_finite(tmp_path):
    found = problems(tmp_path, """        time: {stop: 5}
        federates:
          x: {type: "{HELPERS}:Loop"}
          y: {type: "{HELPERS}:Loop"}
        connections:
          - {from: x.x_out, to: y.x_in, iterate: pair}
          - {from: y.x_out, to: x.x_in, iterate: pair}
        iterate:
          pair: {tolerance: .inf}
        """)
    assert found == ["9: iterate.pair.tolerance: expected a finite number, got inf"]


def test_values_of_federates_without_a_class_and_of_events_are_checked_too(tmp_path):
    found = problems(tmp_path, """\
        time: {stop: 5}
        federates:
          m: {type: models.py:Model}
          ext:
            external: true
            interface: {endpoints: [inbox]}
            params: {when: 2001-12-14, big: 100000000000000000000}
        events:
          - {at: 1, set: m.n, value: 100000000000000000000}
          - {at: 2, send: ext.inbox, payload: {level: [1, -100000000000000000000]}}
        """)
    assert "7: federates.ext.params.when: a date value (datetime.date(2001, 12, 14)) cannot be sent; " \
           "quote it to send it as text" in found
    assert any(p.startswith("7: federates.ext.params.big: 100000000000000000000 is outside") for p in found)
    assert any(p.startswith("9: events[0].value: 100000000000000000000 is outside") for p in found)
    assert any(p.startswith("10: events[1].payload.level[1]: -100000000000000000000 is outside") for p in found)


def _retyped(source: Path, target: Path, old: str, new: str) -> Path:
    """A copy of an FMU whose modelDescription.xml has ``old`` replaced by ``new``."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "modelDescription.xml":
                assert old.encode() in data
                data = data.replace(old.encode(), new.encode())
            dst.writestr(name, data)
    return target


@pytest.mark.parametrize("fmu, old, new, value, message", [
    ("PumpStation", '<Real unit="m2" start="20"/>', '<Integer start="20"/>', "2147483648",
     "Integer expects an integer from -2147483648 to 2147483647, got 2147483648"),
    ("DieselGenerator", '<Float64 name="rated_power"', '<Float32 name="rated_power"', "1.0e+39",
     "Float32 expects a number of magnitude at most 3.4028234663852886e+38, got 1e+39"),
])  # fmt: skip
def test_fmu_values_must_fit_the_variable_type(tmp_path, fmu, old, new, value, message):
    _retyped(ROOT / "fmus" / "dist" / f"{fmu}.fmu", tmp_path / "model.fmu", old, new)
    name = "area" if fmu == "PumpStation" else "rated_power"
    found = problems(tmp_path, f"""\
        time: {{stop: 5}}
        federates:
          f: {{type: fmu, params: {{fmu: model.fmu, parameters: {{{name}: {value}}}}}}}
        """)
    assert len(found) == 1 and found[0].startswith("3: federates.f.params: ") and message in found[0], found


def test_text_that_is_not_valid_unicode_is_refused_wherever_it_is(tmp_path):
    found = problems(tmp_path, r"""
        name: "\ud800"
        time: {stop: 5}
        federates:
          m: {type: models.py:Model, params: {anything: ["ok", "\udfff"]}}
          ext:
            external: true
            interface: {outputs: {y: {unit: "m\ud801"}}, endpoints: [inbox]}
            params: {"\udc80key": 1}
        events:
          - {at: 1, send: ext.inbox, payload: "\ud83d\ude00"}
        """)
    assert found == [
        r"2: name: '\ud800' is not valid Unicode text: lone surrogate U+D800",
        r"5: federates.m.params.anything[1]: '\udfff' is not valid Unicode text: lone surrogate U+DFFF",
        r"8: federates.ext.interface.outputs.y.unit: 'm\ud801' is not valid Unicode text: lone surrogate U+D801",
        r"9: federates.ext.params.\udc80key: '\udc80key' is not valid Unicode text: lone surrogate U+DC80",
        r"11: events[0].payload: \ud83d\ude00 is a UTF-16 surrogate pair, not valid Unicode text: "
        r"write \U0001f600 or the character itself",
    ]


def test_a_policy_edit_that_could_not_be_sent_is_refused(tmp_path):
    found = problems(tmp_path, """\
        time: {stop: 5}
        federates:
          m: {type: models.py:Model}
          ext: {external: true, interface: {endpoints: [orders]}}
        messages:
          - {route: ext.orders -> ext.orders, lookahead: 1}
        decisions:
          require_approval: [ext.orders]
          policy:
            - {verdict: edit, set: {opening: 100000000000000000000}}
        """)
    assert len(found) == 1 and found[0].startswith("10: decisions.policy[0].set.opening: 100000000000000000000 is "), found

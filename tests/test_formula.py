"""The `formula` federate: the safe evaluator, declaration checks, and real runs."""

from __future__ import annotations

import re

import pytest

from federates.formula import Formula, FormulaError, compile_expression
from federation.errors import FederateError, ParameterError, ScenarioError
from federation.scenario.loader import load
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(60)

NAMES = frozenset({"a", "b", "flag", "t"})
ENV = {"a": 3.0, "b": -2.0, "flag": True, "t": 60.0}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a / 1000", 0.003),
        ("(a + b) * 2 - b ** 2", -2.0),
        ("a // 2 + a % 2", 2.0),
        ("-a + +b", -5.0),
        ("0 < a <= 3 < t", True),
        ("a == 3 and not b > 0", True),
        ("a > 5 or flag", True),
        ("a if flag else b", 3.0),
        ("min(a, b, 0)", -2.0),
        ("max(a, b)", 3.0),
        ("abs(b) + sqrt(16) + floor(2.7) + ceil(2.1)", 11.0),
        ("exp(0) + log(1) + log(8, 2)", 4.0),
        ("clip(a, 0, 1) + clip(b, -1, 1)", 0.0),
        ("t / 3600 * 1.5e3", 25.0),
        ("True + 1", 2),
        ("true and not false", True),
    ],
)
def test_evaluator_accepts(text, expected):
    assert compile_expression(text, NAMES).evaluate(ENV) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a.__class__", "attribute access"),
        ("__import__('os')", "unknown function '__import__'"),
        ("open('x')", "unknown function 'open'"),
        ("a[0]", "indexing"),
        ("(lambda: 1)()", "unknown function 'lambda: 1'"),
        ("lambda: 1", "a lambda"),
        ("'text'", "only numbers and true/false"),
        ("[x for x in a]", "a comprehension"),
        ("(c := 2)", "an assignment"),
        ("c + 1", "unknown name 'c'"),
        ("sqrt", "unknown name 'sqrt' (it is a function: call it)"),
        ("sqrt(a, b)", "sqrt() takes 1 argument, got 2"),
        ("clip(a, 0)", "clip() takes 3 arguments, got 2"),
        ("max(a)", "max() takes at least 2 arguments, got 1"),
        ("max(*a)", "plain positional arguments"),
        ("log(a, base=2)", "plain positional arguments"),
        ("a +", "invalid syntax"),
        ("", "expected an expression"),
        ("a is b", "is not allowed"),
        ("a in b", "is not allowed"),
        ("a & 1", "is not allowed"),
        ("1j", "only numbers"),
    ],
)
def test_evaluator_rejects(text, message):
    with pytest.raises(FormulaError, match=re.escape(message)):
        compile_expression(text, NAMES)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a / (b + 2)", "division by zero in 3.0 / 0.0"),
        ("sqrt(b)", r"sqrt\(-2.0\): math domain error"),
        ("10 ** 10 ** 10", "math range error"),  # float power: fails at once, never hangs
        ("log(b)", "math domain error"),
    ],
)
def test_evaluation_errors_are_formula_errors(text, message):
    expression = compile_expression(text, NAMES)
    with pytest.raises(FormulaError, match=message):
        expression.evaluate(ENV)


def test_declare_builds_the_interface():
    decl = Formula.declare({"inputs": {"p_kw": {"unit": "kW"}, "n": {"type": "int", "default": 2}, "wet": {"type": "bool"}},
                            "outputs": {"p_mw": {"expr": "p_kw / 1000", "unit": "MW"}, "dry": {"expr": "not wet", "type": "bool"},
                                        "twice": "2 * n"}})  # fmt: skip
    assert [(i.name, i.type.value, i.unit, i.default) for i in decl.inputs] == [
        ("p_kw", "float", "kW", 0.0), ("n", "int", None, 2), ("wet", "bool", None, False)]  # fmt: skip
    assert [(o.name, o.type.value, o.unit) for o in decl.outputs] == [("p_mw", "float", "MW"), ("dry", "bool", None),
                                                                      ("twice", "float", None)]  # fmt: skip


def test_declare_reports_every_problem_naming_output_and_expression():
    with pytest.raises(ParameterError) as info:
        Formula.declare({"inputs": {"x": {"type": "complex"}, "y": {"default": "high"}, "t": None},
                         "outputs": {"good": "x + 1", "bad": {"expr": "x + z"}, "worse": {"expr": "x.real"},
                                     "odd": {"expr": "1", "type": "str", "colour": "red"}}})  # fmt: skip
    text = str(info.value)
    for expected in ("'inputs.x.type': must be float, int or bool, got 'complex'",
                     "'inputs.y.default': 'high' is not a float",
                     "'inputs.t': the name t is the time",
                     "'outputs.bad.expr': 'x + z': unknown name 'z'",
                     "'outputs.worse.expr': 'x.real': 'x.real' is not allowed (attribute access)",
                     "'outputs.odd.colour': unknown key",
                     "'outputs.odd.type': must be float, int or bool, got 'str'"):  # fmt: skip
        assert expected in text, f"{expected!r} not in {text!r}"


def test_validate_reports_a_bad_expression_with_its_line(tmp_path):
    path = write_scenario(tmp_path, """
    time: {stop: 10, resolution: 1 s}
    federates:
      glue:
        type: formula
        params:
          inputs: {area: {unit: m2}}
          outputs: {casualties: {expr: "area * density"}}
    """)
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert (f"{path}:8:30: federates.glue.params.outputs.casualties.expr: 'area * density': unknown name 'density'"
            in str(info.value))  # fmt: skip


def test_missing_outputs_is_a_missing_parameter(tmp_path):
    path = write_scenario(tmp_path, "time: {stop: 5}\nfederates:\n  f: {type: formula, params: {inputs: {}}}\n")
    with pytest.raises(ScenarioError, match="missing parameter 'outputs'"):
        load(path)


def test_a_run_converts_units_and_glues(run_scenario):
    """kW -> MW (event-driven: recomputes when the input changes), a bool and a rounded int output."""
    summary, store = run_scenario("""
    time: {stop: 6, resolution: 1 s}
    federates:
      load:
        type: formula
        period: 2 s
        params:
          outputs: {p_kw: {expr: "1500 * t", unit: kW}, area: {expr: "t * 1.0e5", unit: m2}}
      convert:
        type: formula
        params:
          inputs:
            p_kw: {unit: kW}
            area: {unit: m2}
          outputs:
            p_mw: {expr: "p_kw / 1000", unit: MW}
            overload: {expr: "p_kw > 4000", type: bool}
            casualties: {expr: "area / 1.0e6 * 2.5", type: int}
    connections:
      - load.p_kw -> convert.p_kw
      - load.area -> convert.area
    """)
    assert summary.status == "completed" and summary.grants == {"load": 4, "convert": 4}  # 0, 2, 4, 6 (stop)
    mw = store.series("convert.p_mw")
    assert (mw.unit, mw.times, mw.values) == ("MW", (0.0, 2.0, 4.0, 6.0), (0.0, 3.0, 6.0, 9.0))
    assert store.series("convert.overload").values == (False, True)
    assert store.series("convert.casualties").values == (0, 1, 2)  # 0.5 -> 0 (round half to even), 1 -> 1, 1.5 -> 2


def test_a_failing_expression_names_federate_output_and_time(run_scenario):
    with pytest.raises(FederateError) as info:
        run_scenario("""
        time: {stop: 5, resolution: 1 s}
        federates:
          f:
            type: formula
            period: 1 s
            params: {outputs: {ratio: {expr: "1 / (t - 3)"}}}
        """)
    text = str(info.value)
    assert "federate 'f' at t=3 s" in text
    assert "output 'ratio' = '1 / (t - 3)' at t=3 s: division by zero in 1 / 0.0" in text

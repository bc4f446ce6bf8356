"""A generic federate whose outputs are formulas of its inputs and the time.

::

    convert:
      type: formula
      params:
        inputs:
          load_kw: {unit: kW, default: 0.0}
          flooded: {type: bool, default: false}
        outputs:
          load_mw: {expr: "load_kw / 1000", unit: MW}
          shed_mw: {expr: "load_kw / 1000 if flooded else 0.0", unit: MW}

Expressions are parsed with :mod:`ast` and evaluated by a small interpreter that knows
numbers, ``true``/``false``, the names of the inputs and ``t``, arithmetic, comparisons, ``and``/``or``/``not``,
``a if c else b`` and the functions in :data:`FUNCTIONS` -- nothing else, so a scenario
cannot run arbitrary code.  Without a ``period`` the federate is event-driven: it
recomputes whenever an input changes.  See docs/federates/formula.md.
"""

from __future__ import annotations

import ast
import math
import operator
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from federation import Declaration, Federate, Input, Output, Parameter, ParameterCheck

__all__ = ["Formula", "Expression", "FormulaError", "FUNCTIONS", "compile_expression"]


class FormulaError(ValueError):
    """An expression that cannot be parsed or evaluated; the message names the output and the expression."""


def _clip(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


FUNCTIONS: Mapping[str, tuple[Callable[..., Any], int, int]] = {  # name -> (function, min args, max args)
    "min": (min, 2, 64),
    "max": (max, 2, 64),
    "abs": (abs, 1, 1),
    "sqrt": (math.sqrt, 1, 1),
    "exp": (math.exp, 1, 1),
    "log": (math.log, 1, 2),
    "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1),
    "clip": (_clip, 3, 3),
}

_BINARY: Mapping[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: lambda a, b: math.pow(a, b),  # float power: no unbounded integer arithmetic
}
_UNARY: Mapping[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg, ast.Not: operator.not_}
_COMPARE: Mapping[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}

Env = Mapping[str, Any]
_Node = Callable[[Env], Any]


@dataclass(frozen=True)
class Expression:
    """A checked expression; call :meth:`evaluate` with the names' values."""

    text: str
    names: frozenset[str]
    _run: _Node

    def evaluate(self, env: Env) -> Any:
        return self._run(env)


def compile_expression(text: str, names: frozenset[str] | set[str]) -> Expression:
    """Check ``text`` and turn it into an :class:`Expression`; raise :class:`FormulaError`."""
    if not isinstance(text, str) or not text.strip():
        raise FormulaError(f"expected an expression text, got {text!r}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"invalid syntax at column {exc.offset or '?'}: {exc.msg}") from None
    used: set[str] = set()
    run = _compile(tree.body, frozenset(names), used)
    return Expression(text, frozenset(used), run)


def _compile(node: ast.AST, names: frozenset[str], used: set[str]) -> _Node:
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or (isinstance(value, (int, float)) and not isinstance(value, complex)):
            return lambda env: value
        raise FormulaError(f"only numbers and true/false are allowed, not {value!r}")
    if isinstance(node, ast.Name):
        if node.id in ("true", "false") and node.id not in names:  # YAML spelling of True and False
            flag = node.id == "true"
            return lambda env: flag
        if node.id not in names:
            known = ", ".join(sorted(names))
            hint = " (it is a function: call it)" if node.id in FUNCTIONS else ""
            raise FormulaError(f"unknown name '{node.id}'{hint} (known: {known})")
        used.add(node.id)
        key = node.id
        return lambda env: env[key]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _binary(node, names, used)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        op, operand = _UNARY[type(node.op)], _compile(node.operand, names, used)
        return lambda env: op(operand(env))
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v, names, used) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda env: all(p(env) for p in parts)
        return lambda env: any(p(env) for p in parts)
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        first = _compile(node.left, names, used)
        rest = [(_COMPARE[type(op)], _compile(c, names, used)) for op, c in zip(node.ops, node.comparators)]
        return lambda env: _chain(first(env), rest, env)
    if isinstance(node, ast.IfExp):
        test, yes, no = (_compile(n, names, used) for n in (node.test, node.body, node.orelse))
        return lambda env: yes(env) if test(env) else no(env)
    if isinstance(node, ast.Call):
        return _call(node, names, used)
    raise FormulaError(f"'{ast.unparse(node)}' is not allowed ({_describe(node)}); use numbers, input names, t, "
                       f"arithmetic, comparisons, and/or/not, 'a if c else b' and {', '.join(FUNCTIONS)}")  # fmt: skip


def _binary(node: ast.BinOp, names: frozenset[str], used: set[str]) -> _Node:
    op, symbol = _BINARY[type(node.op)], _SYMBOLS[type(node.op)]
    left, right = _compile(node.left, names, used), _compile(node.right, names, used)

    def run(env: Env) -> Any:
        a, b = left(env), right(env)
        try:
            return op(a, b)
        except ZeroDivisionError:
            raise FormulaError(f"division by zero in {a!r} {symbol} {b!r}") from None
        except (OverflowError, ValueError) as exc:
            raise FormulaError(f"{a!r} {symbol} {b!r}: {exc}") from None

    return run


def _chain(value: Any, rest: list[tuple[Callable[[Any, Any], bool], _Node]], env: Env) -> bool:
    for op, right in rest:
        other = right(env)
        if not op(value, other):
            return False
        value = other
    return True


def _call(node: ast.Call, names: frozenset[str], used: set[str]) -> _Node:
    if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
        name = ast.unparse(node.func)
        raise FormulaError(f"unknown function '{name}' (allowed: {', '.join(FUNCTIONS)})")
    if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
        raise FormulaError(f"{node.func.id}() takes plain positional arguments only")
    name = node.func.id
    func, low, high = FUNCTIONS[name]
    if not low <= len(node.args) <= high:
        wanted = f"{low}" if low == high else f"{low} to {high}" if high < 64 else f"at least {low}"
        raise FormulaError(f"{name}() takes {wanted} argument{'s' if high > 1 else ''}, got {len(node.args)}")
    args = [_compile(a, names, used) for a in node.args]

    def run(env: Env) -> Any:
        values = [a(env) for a in args]
        try:
            return func(*values)
        except (ValueError, OverflowError, TypeError) as exc:
            shown = ", ".join(repr(v) for v in values)
            raise FormulaError(f"{name}({shown}): {exc}") from None

    return run


def _describe(node: ast.AST) -> str:
    kinds = {ast.Attribute: "attribute access", ast.Subscript: "indexing", ast.Lambda: "a lambda",
             ast.ListComp: "a comprehension", ast.GeneratorExp: "a comprehension", ast.List: "a list",
             ast.Tuple: "a tuple", ast.Dict: "a mapping", ast.NamedExpr: "an assignment", ast.JoinedStr: "a string"}  # fmt: skip
    return kinds.get(type(node), type(node).__name__)


# ----------------------------------------------------------------------------- configuration
_TYPES: Mapping[str, type] = {"float": float, "int": int, "bool": bool}


@dataclass(frozen=True)
class _InputSpec:
    name: str
    type: str = "float"
    unit: str | None = None
    default: Any = 0.0


@dataclass(frozen=True)
class _OutputSpec:
    name: str
    expression: Expression
    type: str = "float"
    unit: str | None = None


def _parse(params: Mapping[str, Any]) -> tuple[tuple[_InputSpec, ...], tuple[_OutputSpec, ...]]:
    """Both parameter mappings, checked; a :class:`ParameterError` names every problem, each at its key."""
    check = ParameterCheck()
    inputs = [_parse_input(str(n), s, check) for n, s in _mapping(params.get("inputs"), "inputs", check).items()]
    names = {i.name for i in inputs} | {"t"}
    if "t" in {i.name for i in inputs}:
        check.fail(("inputs", "t"), "the name t is the time, pick another name")
    outputs = []
    raw = _mapping(params.get("outputs"), "outputs", check)
    if not raw and check.ok("outputs"):
        check.fail("outputs", "declare at least one output {name: {expr: ...}}")
    for name, spec in raw.items():
        out = _parse_output(str(name), spec, frozenset(names), check)
        if out is not None:
            outputs.append(out)
    check.done()
    return tuple(inputs), tuple(outputs)


def _mapping(value: Any, what: str, check: ParameterCheck) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        check.fail(what, f"expected a mapping of name -> settings, got {value!r}")
        return {}
    return value


def _parse_input(name: str, spec: Any, check: ParameterCheck) -> _InputSpec:
    where = ("inputs", name)
    spec = {} if spec is None else spec
    if not isinstance(spec, dict):
        check.fail(where, f"expected {{unit, type, default}}, got {spec!r}")
        return _InputSpec(name)
    for key in spec:
        if key not in ("unit", "type", "default"):
            check.fail((*where, key), "unknown key (expected unit, type, default)")
    kind = spec.get("type", "float")
    if kind not in _TYPES:
        check.fail((*where, "type"), f"must be float, int or bool, got {kind!r}")
        kind = "float"
    default = spec.get("default", _TYPES[kind]())
    if not _fits(default, kind):
        check.fail((*where, "default"), f"{default!r} is not a {kind}")
        default = _TYPES[kind]()
    return _InputSpec(name, kind, _unit(spec.get("unit")), _cast(default, kind))


def _parse_output(name: str, spec: Any, names: frozenset[str], check: ParameterCheck) -> _OutputSpec | None:
    where: tuple[str, ...] = ("outputs", name)
    if isinstance(spec, str):
        spec, text_at = {"expr": spec}, where  # the expression written alone
    else:
        text_at = (*where, "expr")
    if not isinstance(spec, dict) or "expr" not in spec:
        check.fail(where, f"expected {{expr: '...', unit, type}}, got {spec!r}")
        return None
    for key in spec:
        if key not in ("expr", "unit", "type"):
            check.fail((*where, key), "unknown key (expected expr, unit, type)")
    kind = spec.get("type", "float")
    if kind not in _TYPES:
        check.fail((*where, "type"), f"must be float, int or bool, got {kind!r}")
        kind = "float"
    try:
        expression = compile_expression(spec["expr"], names)
    except FormulaError as exc:
        check.fail(text_at, f"{spec['expr']!r}: {exc}")
        return None
    return _OutputSpec(name, expression, kind, _unit(spec.get("unit")))


def _unit(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _fits(value: Any, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cast(value: Any, kind: str) -> Any:
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return round(value)
    return float(value)


# ----------------------------------------------------------------------------- the federate
class Formula(Federate):
    """Outputs computed from the inputs and ``t`` by checked expressions."""

    input_spec: Parameter[dict[str, Any]] = Parameter({}, type=dict, name="inputs", doc="input name -> {unit, type: float|int|bool, default}")
    output_spec: Parameter[dict[str, Any]] = Parameter(doc="output name -> {expr, unit, type: float|int|bool} (or just the expression text)",
                            type=dict, name="outputs")  # fmt: skip

    @classmethod
    def declare(cls, params: Mapping[str, Any]) -> Declaration:
        base = super().declare(params)
        if not isinstance(params.get("outputs"), dict):  # missing or of the wrong type: reported by the validator
            return base
        inputs, outputs = _parse(params)
        return replace(
            base,
            inputs=tuple(Input(name=i.name, unit=i.unit, type=i.type, default=i.default) for i in inputs),
            outputs=tuple(Output(name=o.name, unit=o.unit, type=o.type, default=_cast(0, o.type)) for o in outputs),
        )

    def setup(self) -> None:
        self.formulas = _parse(self.params)[1]

    def save_state(self) -> Any:
        """The base class's state without the compiled formulas (closures): setup() compiles them again."""
        state = super().save_state()
        del state["formulas"]
        return state

    def step(self, t: float) -> None:
        env = {**self.inputs, "t": t}
        for out in self.formulas:
            try:
                value = out.expression.evaluate(env)
                self.outputs[out.name] = _cast(value, out.type)
            except FormulaError as exc:
                raise FormulaError(f"output '{out.name}' = {out.expression.text!r} at t={t:g} s: {exc}") from None
            except (TypeError, ValueError, OverflowError) as exc:
                raise FormulaError(f"output '{out.name}' = {out.expression.text!r} at t={t:g} s: "
                                   f"{type(exc).__name__}: {exc}") from None  # fmt: skip

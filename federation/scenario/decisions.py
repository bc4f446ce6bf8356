"""The ``decisions:`` section: which messages need approval, and the policy that decides them.

Parsed once, when the scenario is loaded, into a :class:`DecisionSpec` on the scenario
(``scenario.decisions``); the decision gate (:mod:`federation.decisions.gate`) applies it.
Whether each ``require_approval`` class names a declared endpoint is checked with the
federates' interfaces, in :mod:`federation.scenario.validation`.  See docs/decisions.md.

A rule's ``forecast:`` (:class:`ForecastSpec`) is read here too, with the rule it belongs to.
"""

from __future__ import annotations

import enum
import fnmatch
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from ..errors import KeyPath
from ..protocol import unsendable
from .durations import parse_duration
from .reader import Reader

__all__ = ["Verdict", "Answer", "ForecastExecutor", "ForecastSpec", "Rule", "DecisionSpec", "Proposed", "parse_decisions"]


class Verdict(str, enum.Enum):
    APPROVE = "approve"
    EDIT = "edit"
    REJECT = "reject"
    ASK = "ask"  # rules only: leave it to a human (or the default when there is none)

    @property
    def past(self) -> str:
        """``approved``, ``edited``, ``rejected``: as the store and the terminal say it."""
        return {"approve": "approved", "edit": "edited", "reject": "rejected", "ask": "asked"}[self.value]


@dataclass(frozen=True)
class Answer:
    """A given answer to one decision: ``approve``, ``reject`` or ``edit:{field: value}`` (``federation fork --answer``)."""

    verdict: Verdict  # APPROVE, EDIT or REJECT
    changes: Mapping[str, Any] | None = None  # for EDIT: merged into the payload (docs/decisions.md)

    @classmethod
    def parse(cls, text: str) -> Answer:
        """``approve``, ``reject``, ``edit:{opening: 0.3}`` (YAML or JSON after ``edit:``); ValueError says why not."""
        import yaml

        word, colon, rest = text.strip().partition(":")
        try:
            verdict = Verdict(word.strip())
        except ValueError:
            verdict = Verdict.ASK
        if verdict in (Verdict.APPROVE, Verdict.REJECT) and not colon:
            return cls(verdict)
        if verdict is Verdict.EDIT and colon:
            try:
                changes = yaml.safe_load(rest)
            except yaml.YAMLError as exc:
                raise ValueError(f"edit:{rest}: not YAML ({str(exc).splitlines()[0]})") from None
            if not isinstance(changes, dict) or not changes:
                raise ValueError(f"edit: needs the fields to change, e.g. edit:{{opening: 0.3}}; got {rest.strip()!r}")
            return cls(verdict, changes)
        raise ValueError(f"expected approve, reject or edit:{{field: value}}, got {text!r}")

    def describe(self) -> str:
        if self.verdict is Verdict.EDIT:
            return "edit:" + json.dumps(self.changes, sort_keys=True)
        return str(self.verdict.value)


class ForecastExecutor(str, enum.Enum):
    """Where the forks of a forecast run (``executor:`` of a rule's ``forecast``)."""

    LOCAL = "local"  # processes on this machine, forked from the run's preloaded fork server
    DASK = "dask"  # tasks on a Dask cluster, as ``federation sweep`` (``scheduler:``, or a local cluster)


@dataclass(frozen=True)
class ForecastSpec:
    """``forecast: {horizon: 24 h, alternatives: [approve, reject, {edit: {...}}]}`` of a rule (docs/decisions.md)."""

    horizon: float  # simulated seconds ahead of the proposal
    alternatives: tuple[Answer, ...]  # approve first: the reference the others are compared with
    executor: ForecastExecutor = ForecastExecutor.LOCAL
    scheduler: str | None = None  # DASK: the cluster's scheduler (tcp://HOST:PORT); None: a local cluster


class Proposed(Protocol):
    """What a rule looks at in a proposal (:class:`federation.decisions.gate.Proposal`)."""

    @property
    def message_class(self) -> str: ...

    @property
    def payload(self) -> Any: ...


@dataclass(frozen=True)
class Rule:
    """``match`` conditions on a proposal, and what to do when they all hold."""

    verdict: Verdict
    message_class: str = "*"  # fnmatch on "federate.endpoint"
    key: str | None = None  # dotted path of a payload field
    above: float | None = None
    below: float | None = None
    equals: Any = None
    set: Mapping[str, Any] = field(default_factory=dict)  # for EDIT: merged into the payload (docs/decisions.md)
    note: str = ""
    line: int = 0
    forecast: ForecastSpec | None = None  # ASK only: forecast each alternative while a human decides

    def matches(self, proposal: Proposed) -> bool:
        if not fnmatch.fnmatchcase(proposal.message_class, self.message_class):
            return False
        if self.key is None:
            return True
        value = _lookup(proposal.payload, self.key)
        if value is _MISSING:
            return False
        if self.equals is not None and value != self.equals:
            return False
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if self.above is not None and not (numeric and value > self.above):
            return False
        if self.below is not None and not (numeric and value < self.below):
            return False
        return True


@dataclass(frozen=True)
class DecisionSpec:
    classes: tuple[str, ...] = ()  # message classes that need approval ("federate.endpoint")
    rules: tuple[Rule, ...] = ()
    default: Verdict = Verdict.REJECT  # when no rule decides and no human answers in time
    timeout: float | None = None  # wall seconds to wait for a human

    def gated(self, message_class: str) -> bool:
        return message_class in self.classes


_MISSING = object()


def _lookup(payload: Any, path: str) -> Any:
    value = payload
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


# ----------------------------------------------------------------------------- parsing
SECTION = "decisions"
_KEYS = ("require_approval", "policy", "default", "timeout")
_RULE_KEYS = ("match", "verdict", "set", "note", "forecast")
_CONDITIONS = ("class", "field", "above", "below", "equals")


def parse_decisions(data: Any, read: Reader) -> DecisionSpec:
    """The ``decisions:`` section (structure and values; the endpoints are checked by validation)."""
    base: KeyPath = (SECTION,)
    if data is None:
        return DecisionSpec()
    spec = read.mapping(data, base)
    read.unknown_keys(spec, base, _KEYS)
    classes = spec.get("require_approval", [])
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        read.fail((*base, "require_approval"), "expected a list of 'federate.endpoint' classes")
        classes = []
    default = read.choice(Verdict, spec.get("default"), (*base, "default"), Verdict.REJECT,
                          (Verdict.APPROVE, Verdict.REJECT))  # fmt: skip
    timeout = read.duration(spec.get("timeout"), (*base, "timeout"), unit="s")
    rules = []
    for i, item in enumerate(read.sequence(spec.get("policy"), (*base, "policy"), "a list of rules")):
        rule = _rule(item, (*base, "policy", i), read)
        if rule is not None:
            rules.append(rule)
    return DecisionSpec(tuple(classes), tuple(rules), default, timeout)


def _rule(item: Any, path: KeyPath, read: Reader) -> Rule | None:
    if not isinstance(item, dict):
        read.fail(path, "a rule is a mapping with 'match' and 'verdict'")
        return None
    before = len(read.problems)
    read.unknown_keys(item, path, _RULE_KEYS)
    verdict = read.choice(Verdict, item.get("verdict"), (*path, "verdict"), None)
    if verdict is None:
        if item.get("verdict") is None:
            read.fail((*path, "verdict"), "missing: approve, edit, reject or ask")
        return None
    match = read.mapping(item.get("match"), (*path, "match"))
    read.unknown_keys(match, (*path, "match"), _CONDITIONS)
    above = read.number(match.get("above"), (*path, "match", "above"), None)
    below = read.number(match.get("below"), (*path, "match", "below"), None)
    changes = item.get("set", {}) or {}
    if verdict is Verdict.EDIT and not (isinstance(changes, dict) and changes):
        read.fail((*path, "set"), "an edit rule needs 'set: {field: value}'")
        return None
    unsent = unsendable(changes)  # the edited payload goes to the receiver
    if unsent is not None:
        read.fail((*path, "set", *unsent[0]), unsent[1])
        return None
    forecast = None
    if item.get("forecast") is not None:
        if verdict is not Verdict.ASK:
            read.fail((*path, "forecast"), f"a forecast is made while a human decides: it needs "
                                           f"'verdict: ask', not {verdict.value}")  # fmt: skip
            return None
        forecast = parse_forecast(item["forecast"], (*path, "forecast"), read)
    if len(read.problems) > before:
        return None
    return Rule(verdict, str(match.get("class", "*")), match.get("field"), above, below, match.get("equals"),
                dict(changes) if isinstance(changes, dict) else {}, str(item.get("note", "")), read.line(path),
                forecast)  # fmt: skip


def parse_forecast(data: Any, path: KeyPath, read: Reader) -> ForecastSpec | None:
    """``{horizon: 24 h, alternatives: [approve, reject, {edit: {opening: 0.3}}]}``; None (with problems) when wrong."""
    if not isinstance(data, dict):
        read.fail(path, "expected {horizon: 24 h, alternatives: [approve, reject, {edit: {...}}]}")
        return None
    before = len(read.problems)
    for key in data:
        if key not in ("horizon", "alternatives", "executor", "scheduler"):
            read.fail((*path, key), "unknown key (expected horizon, alternatives, executor, scheduler)")
    executor = ForecastExecutor.LOCAL
    try:
        executor = ForecastExecutor(data.get("executor", "local"))
    except ValueError:
        read.fail((*path, "executor"), f"expected local or dask, got {data.get('executor')!r}")
    scheduler = data.get("scheduler")
    if scheduler is not None and (executor is not ForecastExecutor.DASK or not isinstance(scheduler, str)):
        read.fail((*path, "scheduler"), "a Dask scheduler address (tcp://HOST:PORT), with executor: dask")
    horizon = 0.0
    try:
        horizon = parse_duration(data.get("horizon"))
        if not horizon > 0:
            raise ValueError(f"must be after the proposal, got {data.get('horizon')!r}")
    except (ValueError, TypeError) as exc:
        read.fail((*path, "horizon"), f"a duration such as '24 h' is needed: {exc}")
    items = data.get("alternatives", ["approve", "reject"])
    if not isinstance(items, list) or not items:
        read.fail((*path, "alternatives"), "expected a list of approve, reject, {edit: {field: value}}")
        items = []
    alternatives: list[Answer] = []
    for i, alt in enumerate(items):
        where = (*path, "alternatives", i)
        if alt in ("approve", "reject"):
            answer = Answer(Verdict(alt))
        elif isinstance(alt, dict) and list(alt) == ["edit"] and isinstance(alt["edit"], dict) and alt["edit"]:
            unsent = unsendable(alt["edit"])
            if unsent is not None:
                read.fail((*where, "edit", *unsent[0]), unsent[1])
                continue
            answer = Answer(Verdict.EDIT, dict(alt["edit"]))
        else:
            read.fail(where, f"expected approve, reject or {{edit: {{field: value}}}}, got {alt!r}")
            continue
        if answer in alternatives:
            read.fail(where, f"{answer.describe()} is listed twice")
            continue
        alternatives.append(answer)
    if len(read.problems) > before:
        return None
    approve = Answer(Verdict.APPROVE)  # the reference: always forecast, first
    return ForecastSpec(horizon, (approve, *(a for a in alternatives if a != approve)), executor, scheduler)

"""The ``synchronise:`` section's pairs: a measured signal, a correctable state, a method.

Parsed once, when the scenario is loaded, into ``scenario.synchronise`` (a tuple of
:class:`SyncPair` whose ``unit`` is still empty); :mod:`federation.scenario.synchronisation`
checks both ends against the federates' interfaces and fills in the state's unit, and the
federate runtime applies the corrections.  See docs/synchronise.md.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from ..errors import KeyPath
from .reader import Reader
from .source import suggest

__all__ = ["SECTION", "SyncMethod", "SyncPair", "parse_pairs"]

SECTION = "synchronise"


class SyncMethod(str, enum.Enum):
    INSERT = "insert"  # the state takes the measured value
    NUDGE = "nudge"  # x += (1 - exp(-dt/tau)) (m - x) over the step
    KALMAN = "kalman"  # scalar Kalman update with model and measurement variances
    OBSERVE = "observe"  # residuals and alarms only, no correction


_COMMON = ("pair", "from", "to", "method", "acceptable", "clear_within", "alarm_after", "clear_after", "stale_after",
           "max_jump", "blind_after", "alarm")  # fmt: skip
_ALARM_RULES = ("clear_within", "alarm_after", "clear_after")  # refine `acceptable`: need it
_SETTINGS = {
    SyncMethod.INSERT: (),
    SyncMethod.NUDGE: ("tau",),
    SyncMethod.KALMAN: ("model_variance", "measurement_variance", "initial_variance"),
    SyncMethod.OBSERVE: (),
}
_REQUIRED = {SyncMethod.NUDGE: ("tau",), SyncMethod.KALMAN: ("model_variance", "measurement_variance")}


@dataclass(frozen=True)
class SyncPair:
    """One measured signal paired with one correctable state (times in seconds, values in the state's unit)."""

    id: int
    source: str  # federate of the measurement
    output: str
    target: str  # federate of the state
    state: str
    method: SyncMethod = SyncMethod.INSERT
    tau: float | None = None  # nudge: seconds
    model_variance: float | None = None  # kalman: the model's error variance gained per second (unit^2/s)
    measurement_variance: float | None = None  # kalman: unit^2
    initial_variance: float | None = None  # kalman: unit^2 at the start (default: measurement_variance)
    acceptable: float | None = None  # |residual| beyond it raises an alarm
    clear_within: float | None = None  # |residual| within it clears the alarm (default: acceptable; a deadband below)
    alarm_after: float | None = None  # seconds the residual stays beyond before the alarm (on-delay)
    clear_after: float | None = None  # seconds the residual stays within clear_within before `cleared` (off-delay)
    stale_after: float | None = None  # seconds
    max_jump: float | None = None  # unit
    blind_after: float | None = None  # seconds
    alarm: str | None = None  # "federate.endpoint"
    unit: str = ""
    line: int = 0

    @property
    def measured(self) -> str:
        return f"{self.source}.{self.output}"

    @property
    def model(self) -> str:
        return f"{self.target}.{self.state}"

    def __str__(self) -> str:
        return f"{self.measured} -> {self.model}"

    def to_wire(self) -> dict[str, Any]:
        """The pair as the WELCOME frame carries it to the model federate."""
        out = asdict(self)
        out["method"] = self.method.value
        return out

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> SyncPair:
        return cls(**{**data, "method": SyncMethod(data["method"])})


# ----------------------------------------------------------------------------- parsing
def parse_pairs(data: Any, read: Reader) -> tuple[SyncPair, ...]:
    """The pairs of a ``synchronise:`` section (structure and values; the ends are checked by validation)."""
    if data is None:
        return ()
    if not isinstance(data, list):
        read.fail((SECTION,), "expected a list of pairs such as "
                              "{pair: 'gauges.level -> flood.reservoir_level', method: nudge, tau: 1 h}")  # fmt: skip
        return ()
    pairs = [pair for i, item in enumerate(data) if (pair := _pair(i, item, read)) is not None]
    seen: dict[str, int] = {}
    for pair in pairs:
        if pair.model in seen:
            read.fail((SECTION, pair.id), f"state {pair.model} is already synchronised "
                                          f"({SECTION}[{seen[pair.model]}]); a state takes one measurement")  # fmt: skip
        seen.setdefault(pair.model, pair.id)
    return tuple(pairs)


def _pair(i: int, item: Any, read: Reader) -> SyncPair | None:
    path: KeyPath = (SECTION, i)
    if isinstance(item, str):
        item = {"pair": item}
    if not isinstance(item, dict):
        read.fail(path, "expected a mapping {pair: 'sensor.output -> federate.state', method: ...}")
        return None
    text = item.get("pair")
    if text is None and "from" in item and "to" in item:
        text = f"{item['from']} -> {item['to']}"
    ends = _arrow(text)
    if ends is None:
        read.fail(path if text is None else (*path, "pair"),
                  f"expected pair: 'sensor.output -> federate.state', got {text!r:.60}")
        return None
    try:
        method = SyncMethod(item.get("method", SyncMethod.INSERT.value))
    except (ValueError, TypeError):  # TypeError: an unhashable value (a list, a mapping)
        known = [m.value for m in SyncMethod]
        read.fail((*path, "method"), f"unknown method {item.get('method')!r:.40}" + suggest(str(item.get("method")), known))
        return None
    allowed = (*_COMMON, *_SETTINGS[method])
    everything = sorted({*_COMMON, *(k for keys in _SETTINGS.values() for k in keys)})
    for key in item:
        if key not in allowed:
            why = (f"'{key}' is a setting of another method, not of '{method.value}'" if key in everything
                   else f"unknown key{suggest(str(key), everything)}")  # fmt: skip
            read.fail((*path, key), why)
    for key in _REQUIRED.get(method, ()):
        if key not in item:
            read.fail(path, f"method '{method.value}' needs '{key}'")
    values: dict[str, float | None] = {}
    for key in ("tau", "stale_after", "blind_after"):
        values[key] = read.duration(item.get(key), (*path, key), unit="s", positive=True)
    for key in ("alarm_after", "clear_after"):
        values[key] = _delay(read, item.get(key), (*path, key))
    for key in ("model_variance", "measurement_variance", "initial_variance", "acceptable", "max_jump", "clear_within"):
        values[key] = read.number(item.get(key), (*path, key), None, positive=True,
                                  zero=key in ("model_variance", "clear_within"))  # fmt: skip
    _check_alarm_rules(item, values, path, read)
    alarm = item.get("alarm")
    if alarm is not None and (not isinstance(alarm, str) or alarm.count(".") < 1 or alarm.startswith(".")):
        read.fail((*path, "alarm"), f"expected 'federate.endpoint', got {alarm!r:.40}")
        alarm = None
    return SyncPair(i, *ends, method=method, alarm=alarm, line=read.line(path), **values)  # type: ignore[arg-type]


def _delay(read: Reader, value: Any, path: KeyPath) -> float | None:
    """An alarm delay: a duration of at least 0 (``None`` when absent or wrong)."""
    seconds = read.duration(value, path, unit="s")
    if seconds is not None and seconds < 0:
        read.fail(path, f"must be at least 0, got {value!r}")
        return None
    return seconds


def _check_alarm_rules(item: Mapping[str, Any], values: Mapping[str, float | None], path: KeyPath, read: Reader) -> None:
    """The deadband and the delays refine ``acceptable``: they need it, and the deadband lies within it."""
    limit = values["acceptable"]
    if "acceptable" not in item:
        for key in _ALARM_RULES:
            if key in item:
                read.fail((*path, key), f"'{key}' needs 'acceptable' (the difference that raises the alarm)")
    band = values["clear_within"]
    if limit is not None and band is not None and band > limit:
        read.fail((*path, "clear_within"), f"must not exceed acceptable ({limit:g}), got {band:g}: "
                                           "the residual clears the alarm when back within it")  # fmt: skip


def _arrow(text: Any) -> tuple[str, str, str, str] | None:
    if not isinstance(text, str) or text.count("->") != 1:
        return None
    left, right = (side.strip() for side in text.split("->"))
    a, dot1, b = left.partition(".")
    c, dot2, d = right.partition(".")
    if not (dot1 and dot2 and a and b and c and d) or any(" " in x for x in (a, b, c, d)):
        return None
    return a, b, c, d

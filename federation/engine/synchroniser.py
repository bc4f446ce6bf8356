"""Synchronisation in the federate's runtime: measurements correct the model's states.

The runtime of a federate with ``synchronise:`` pairs (docs/synchronise.md) receives each
pair's measurement as an ordinary input (the hidden input of
:func:`~federation.scenario.synchronisation.measured_input`).  After the federate's
``step(t)`` -- so the model's value at ``t`` is compared with the measurement at ``t``,
and the corrected state is what the step publishes and the next step starts from -- the
:class:`Synchroniser` judges each measurement, records the residual, corrects the state
through :meth:`federation.Federate.correct`, and sends alarms.  Everything is a function of
the grants' values and times, so a run is as deterministic as one without it.

A measurement is *new* when its value reached the federate in this step's grant (a
sensor's output changed).  A new measurement is

* rejected (``implausible``) when it jumps more than ``max_jump`` from the last accepted one;
* else accepted: its residual (model - measurement, before the correction) goes into the
  running statistics, and the method corrects the state:

  - ``insert``: ``x = m``;
  - ``nudge``: ``x += (1 - exp(-dt/tau)) (m - x)``, ``dt`` the step just made;
  - ``kalman``: ``P += Q (t - t_prev)``, ``K = P / (P + R)``, ``x += K (m - x)``, ``P = (1 - K) P``;
  - ``observe``: no correction.

``nudge`` keeps relaxing towards the last accepted measurement at the following steps while it is
no older than ``stale_after``.  A measurement older than ``stale_after`` is flagged ``stale``
once and no longer used; no new measurement for ``blind_after`` raises a ``blind`` alarm.

The residual alarm (ISA-18.2's alarm with a deadband, an on-delay and an off-delay) is judged at
each accepted measurement: ``residual`` once ``|r| > acceptable`` at every accepted measurement for
``alarm_after`` seconds (from the first of them, its ``since``), ``cleared`` once
``|r| <= clear_within`` at every accepted measurement for ``clear_after`` seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, Mapping, Sequence

from ..api.federate import Federate
from ..scenario.synchronisation import (
    ALARM_ENDPOINT,
    RECORD_OUTPUT,
    AlarmKind,
    SyncMethod,
    SyncPair,
    SyncStatus,
    augment,
    measured_input,
)

__all__ = ["Synchroniser", "RECORD_FIELDS"]


_ALARM_RULES = ("clear_within", "alarm_after", "clear_after")  # in the messages when set

RECORD_FIELDS = ("time", "pair", "status", "measurement", "before", "after", "residual", "gain", "alarm",
                 "count", "bias", "rmse", "largest")  # fmt: skip
"""The fields of one correction record, in the order the hidden output carries them."""


@dataclass
class _Track:
    """The running state of one pair."""

    pair: SyncPair
    input: str
    seen_at: float  # time of the last new measurement (the start before the first)
    accepted: float | None = None
    accepted_at: float = 0.0
    variance: float = 0.0  # kalman: P after the last update
    updated_at: float = 0.0  # kalman: time of the last update
    count: int = 0
    total: float = 0.0
    squares: float = 0.0
    largest: float = 0.0
    alarmed: bool = False
    since: float | None = None  # the first accepted measurement of the run towards a change of the alarm state
    blind: bool = False
    stale: bool = False


_RUNNING = tuple(f.name for f in fields(_Track) if f.name not in ("pair", "input"))
"""The fields of a track that change as the run goes (a checkpoint keeps them)."""


def _key(pair: SyncPair) -> str:
    return f"{pair.source}.{pair.output} -> {pair.target}.{pair.state}"


class Synchroniser:
    """Corrects one federate's states after each of its steps; see the module docstring."""

    def __init__(self, pairs: Sequence[SyncPair], start: float) -> None:
        self.tracks = [_Track(p, measured_input(p.state), start, accepted_at=start, updated_at=start,
                              variance=_initial_variance(p)) for p in pairs]  # fmt: skip
        self.previous = start  # time of the previous step: nudging relaxes over the step just made

    def save(self) -> dict[str, Any]:
        """The running state (filter variances, residual statistics, alarm states), for a checkpoint."""
        return {"previous": self.previous,
                "tracks": {_key(t.pair): {f: getattr(t, f) for f in _RUNNING} for t in self.tracks}}  # fmt: skip

    def restore(self, saved: Mapping[str, Any]) -> None:
        """Take up the state from :meth:`save`; a pair the checkpoint did not have starts afresh (a fork may
        change the pairs' settings, which stay the fork's)."""
        self.previous = saved["previous"]
        for track in self.tracks:
            for name, value in saved["tracks"].get(_key(track.pair), {}).items():
                setattr(track, name, value)

    @classmethod
    def attach(cls, fed: Federate, wire: Sequence[Mapping[str, Any]] | None) -> Synchroniser | None:
        """The synchroniser of ``fed`` for the WELCOME's pairs (``None`` without), its interface augmented."""
        if not wire:
            return None
        pairs = tuple(SyncPair.from_wire(p) for p in wire)
        fed.declaration = augment(fed.declaration, pairs)
        for p in pairs:
            fed.inputs[measured_input(p.state)] = None
        fed.outputs[RECORD_OUTPUT] = None
        return cls(pairs, fed.context.start)

    def apply(self, fed: Federate, t: float, changed: Iterable[int], names: Sequence[str]) -> None:
        """Judge the measurements of the step to ``t`` just made, correct, record and alarm."""
        rows: list[list[Any]] = []
        fresh = {names[i] for i in changed}
        dt = t - self.previous
        self.previous = t
        for track in self.tracks:
            value = fed.inputs.get(track.input) if track.input in fresh else None
            if value is not None and _is_number(value):
                self._new(fed, track, t, float(value), dt, rows)
            else:
                self._without(fed, track, t, dt, rows)
        fed.outputs[RECORD_OUTPUT] = rows or None

    # ------------------------------------------------------------------ one pair
    def _new(self, fed: Federate, track: _Track, t: float, m: float, dt: float, rows: list[list[Any]]) -> None:
        pair = track.pair
        track.seen_at = t
        if track.blind:
            track.blind = False
            _alarm(fed, track, t, AlarmKind.SIGHTED, measurement=m)
        before = _model_value(fed, pair)
        residual = before - m
        # the first measurement is judged against the model: a bridge's zero before its first reading is no level
        reference = track.accepted if track.accepted is not None else before
        if pair.max_jump is not None and abs(m - reference) > pair.max_jump:
            rows.append(_row(t, track, SyncStatus.IMPLAUSIBLE, m, before, before, residual, 0.0, None))
            return
        track.accepted, track.accepted_at, track.stale = m, t, False
        track.count += 1
        track.total += residual
        track.squares += residual * residual
        track.largest = max(track.largest, abs(residual))
        alarm = _residual_alarm(fed, track, t, residual, before, m)
        gain = _gain(track, t, dt)
        after = _correct(fed, pair.state, before, m, gain)
        status = SyncStatus.OBSERVED if pair.method is SyncMethod.OBSERVE else SyncStatus.CORRECTED
        rows.append(_row(t, track, status, m, before, after, residual, gain, alarm))

    def _without(self, fed: Federate, track: _Track, t: float, dt: float, rows: list[list[Any]]) -> None:
        pair = track.pair
        if pair.blind_after is not None and not track.blind and t - track.seen_at > pair.blind_after:
            track.blind = True
            _alarm(fed, track, t, AlarmKind.BLIND, silent=t - track.seen_at)
            rows.append(_row(t, track, SyncStatus.BLIND, None, None, None, None, None, AlarmKind.BLIND))
        if track.accepted is None or track.stale:
            return
        if pair.stale_after is not None and t - track.accepted_at > pair.stale_after:
            track.stale = True
            rows.append(_row(t, track, SyncStatus.STALE, track.accepted, None, None, None, None, None))
        elif pair.method is SyncMethod.NUDGE and pair.stale_after is not None:
            m = track.accepted
            before = _model_value(fed, pair)
            gain = _gain(track, t, dt)
            after = _correct(fed, pair.state, before, m, gain)
            rows.append(_row(t, track, SyncStatus.HELD, m, before, after, before - m, gain, None))


def _initial_variance(pair: SyncPair) -> float:
    if pair.initial_variance is not None:
        return pair.initial_variance
    return pair.measurement_variance or 0.0


def _gain(track: _Track, t: float, dt: float) -> float:
    """The fraction of the way from the model's value to the measurement that the method goes."""
    pair = track.pair
    if pair.method is SyncMethod.INSERT:
        return 1.0
    if pair.method is SyncMethod.NUDGE:
        assert pair.tau is not None
        return -math.expm1(-max(dt, 0.0) / pair.tau)
    if pair.method is SyncMethod.KALMAN:
        assert pair.model_variance is not None and pair.measurement_variance is not None
        prior = track.variance + pair.model_variance * (t - track.updated_at)
        gain = prior / (prior + pair.measurement_variance)
        track.variance, track.updated_at = (1.0 - gain) * prior, t
        return gain
    return 0.0


def _correct(fed: Federate, state: str, before: float, m: float, gain: float) -> float:
    """Apply ``x += gain (m - x)`` through the federate's :meth:`~federation.Federate.correct`; the value after."""
    if gain == 0.0:
        return before
    fed.correct(state, m if gain == 1.0 else before + gain * (m - before))
    return float(fed.outputs[state])


def _residual_alarm(fed: Federate, track: _Track, t: float, residual: float, model: float, m: float) -> AlarmKind | None:
    """Raise or clear the residual alarm after the pair's deadband and delays (the module docstring)."""
    pair = track.pair
    if pair.acceptable is None:
        return None
    if track.alarmed:
        band = pair.acceptable if pair.clear_within is None else pair.clear_within
        turning, delay = abs(residual) <= band, pair.clear_after
    else:
        turning, delay = abs(residual) > pair.acceptable, pair.alarm_after
    if not turning:
        track.since = None
        return None
    since = t if track.since is None else track.since
    if t - since < (delay or 0.0):
        track.since = since
        return None
    track.alarmed, track.since = not track.alarmed, None
    kind = AlarmKind.RESIDUAL if track.alarmed else AlarmKind.CLEARED
    details = {"residual": residual, "model": model, "measurement": m}
    if delay is not None:  # a delayed change says since when the residual was beyond (within)
        details["since"] = since
    _alarm(fed, track, t, kind, **details)
    return kind


def _alarm(fed: Federate, track: _Track, t: float, kind: AlarmKind, **details: float) -> None:
    pair = track.pair
    if pair.alarm is None:
        return
    payload: dict[str, Any] = {"alarm": kind.value, "pair": str(pair), "state": pair.model, "time": t,
                               **details}  # fmt: skip
    if kind in (AlarmKind.RESIDUAL, AlarmKind.CLEARED):
        payload["acceptable"] = pair.acceptable
        payload.update({k: v for k in _ALARM_RULES if (v := getattr(pair, k)) is not None})
    if kind is AlarmKind.BLIND:
        payload["blind_after"] = pair.blind_after
    fed.send(ALARM_ENDPOINT, payload, to=pair.alarm)


def _row(t: float, track: _Track, status: SyncStatus, m: float | None, before: float | None, after: float | None,
         residual: float | None, gain: float | None, alarm: AlarmKind | None) -> list[Any]:  # fmt: skip
    n = track.count
    bias = track.total / n if n else None
    rmse = math.sqrt(track.squares / n) if n else None
    return [t, track.pair.id, status.value, m, before, after, residual, gain, alarm.value if alarm else None,
            n, bias, rmse, track.largest if n else None]  # fmt: skip


def _model_value(fed: Federate, pair: SyncPair) -> float:
    value = fed.outputs[pair.state]
    if not _is_number(value):
        raise ValueError(f"synchronise: the state {pair.model} is {value!r:.40}, not a finite number, so "
                         f"{pair.measured} cannot be compared with it")  # fmt: skip
    return float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

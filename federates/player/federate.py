"""The player federate: a CSV file or a recorded run played as outputs.

Without a ``period`` it is event-driven: it is stepped at the run's start and at every
time a row (or a recorded sample) has, and publishes each column's value then.  With a
``period`` it is time-stepped and publishes each column's value at every step, held or
interpolated linearly between the rows around it.  See docs/live.md, "The player".
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from federation import REQUIRED, Declaration, Federate, Output, Parameter, ParameterCheck

from .recording import Recording, is_run_store
from .spec import ColumnSpec, Interpolation, PlayerSpec, ValueType, parse_spec, read_spec
from .table import CsvTable, read_header
from .track import Sample, Track

__all__ = ["Player"]

_STORE_TYPES = {"float", "int", "bool", "str", "array", "any"}


class Player(Federate):
    """Plays the columns of a CSV file, or signals of an earlier run's store, as outputs."""

    default_period: ClassVar[float | None] = None
    #: The runtime passes the scenario's folder as ``_base_dir``: a relative ``file`` starts there.
    resolves_paths: ClassVar[bool] = True

    file: Parameter[str] = Parameter(REQUIRED, type=str, doc="CSV file, or the run store (.sqlite) of an earlier run")
    time_column: Parameter[Any] = Parameter(None, type=object, name="time",
                            doc="CSV time column: NAME, or {column: NAME, format: seconds|iso} (default: the first "
                                "column, in seconds)")  # fmt: skip
    columns: Parameter[dict[str, Any]] = Parameter(REQUIRED, type=dict,
                        doc="column (or recorded signal FED.NAME) -> {output, unit, source_unit, interpolate: "
                            "hold|linear, type}")  # fmt: skip
    interpolate: Parameter[str] = Parameter("hold", choices=("hold", "linear"), doc="default interpolation of the columns")
    delimiter: Parameter[str] = Parameter(",", doc="CSV field separator")

    @classmethod
    def declare(cls, params: Mapping[str, Any]) -> Declaration:
        base = super().declare(params)
        if not isinstance(params.get("file"), str) or not isinstance(params.get("columns"), dict):
            return base  # missing or of the wrong type: the validator says so
        check = ParameterCheck()
        spec = read_spec(params, check)
        outputs = _outputs(spec, check)  # the file's problems too: every problem at once
        check.done()
        return replace(base, outputs=outputs, extra={**base.extra, "restartable": False})

    def setup(self) -> None:
        spec = parse_spec(self.params)
        assert spec.file is not None
        self._closers: list[Any] = []
        if is_run_store(spec.file):
            recording = Recording(spec.file)
            self._closers.append(recording)
            streams = {c.column: _converted(recording.samples(c.column), c) for c in spec.columns}
        else:
            table = CsvTable(spec, start=self.context.start, epoch=self.context.epoch)
            self._closers.append(table)
            streams = {c.column: table.stream(c.column) for c in spec.columns}
        self._tracks = [Track(c.output, streams[c.column], c.interpolate) for c in spec.columns]
        self._stepped = self.context.period is not None

    def step(self, t: float) -> float | None:
        outputs = self.outputs
        upcoming = None
        for track in self._tracks:
            track.advance(t)
            value = track.value(t)
            if value is not None:
                outputs[track.name] = value
            later = track.next_time()
            if later is not None and (upcoming is None or later < upcoming):
                upcoming = later
        return None if self._stepped else upcoming

    def finalize(self) -> None:
        for closer in getattr(self, "_closers", ()):
            closer.close()


def _converted(samples: Iterator[Sample], column: ColumnSpec) -> Iterator[Sample]:
    convert = column.convert
    if convert is None:
        return samples
    return ((t, convert(v)) for t, v in samples)


# ----------------------------------------------------------------------------- the interface
def _outputs(spec: PlayerSpec, check: ParameterCheck) -> tuple[Output[Any], ...]:
    """The outputs the columns feed; the file is opened to check that every column is in it."""
    if spec.file is None:
        return ()
    if not spec.file.is_file():
        check.fail("file", f"no such file: {spec.file}")
        return ()
    if is_run_store(spec.file):
        return _recorded_outputs(spec, spec.file, check)
    return _csv_outputs(spec, spec.file, check)


def _csv_outputs(spec: PlayerSpec, file: Path, check: ParameterCheck) -> tuple[Output[Any], ...]:
    try:
        header = read_header(file, spec.delimiter)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        check.fail("file", str(exc))
        return ()
    if spec.time_column is not None and spec.time_column not in header:
        check.fail(spec.time_key, f"no column '{spec.time_column}' in {file.name}{_hint(spec.time_column, header)}")
    for column in spec.columns:
        if column.column not in header:
            check.fail(("columns", column.column), f"no column '{column.column}' in {file.name}"
                                                   f"{_hint(column.column, header)}")  # fmt: skip
    return tuple(_output(c, (c.type or ValueType.FLOAT).value, c.unit) for c in spec.columns)


def _recorded_outputs(spec: PlayerSpec, file: Path, check: ParameterCheck) -> tuple[Output[Any], ...]:
    if spec.time_column is not None:
        check.fail("time", "a run store has its own time: remove 'time'")
    try:
        recording = Recording(file)
    except ValueError as exc:
        check.fail("file", str(exc))
        return ()
    outputs = []
    try:
        for column in spec.columns:
            signal = recording.signals.get(column.column)
            if signal is None:
                check.fail(("columns", column.column), f"no recorded signal '{column.column}' in {file.name}"
                                                       f"{_hint(column.column, list(recording.signals))}")  # fmt: skip
                continue
            kind = column.type.value if column.type is not None else signal.type
            if column.interpolate is Interpolation.LINEAR and kind not in ("float", "int"):
                check.fail(("columns", column.column, "interpolate"), f"linear interpolation needs a number "
                                                                      f"signal, not {kind}")  # fmt: skip
            outputs.append(_output(column, kind if kind in _STORE_TYPES else "any", column.unit or signal.unit or None))
    finally:
        recording.close()
    return tuple(outputs)


def _output(column: ColumnSpec, kind: str, unit: str | None) -> Output[Any]:
    default: Any = {"float": 0.0, "int": 0, "bool": False, "str": ""}.get(kind)
    return Output(name=column.output, unit=unit, type=kind, default=default,
                  doc=f"column '{column.column}' ({column.interpolate.value})")  # fmt: skip


def _hint(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f" (columns: {', '.join(known[:12])})" if known else ""

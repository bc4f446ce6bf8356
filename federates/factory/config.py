"""Configuration of a factory line, parsed once from the federate's parameters.

Parameters arrive as a mapping from the scenario; :func:`line_config` checks every
value, names every bad one, and returns frozen dataclasses that the simulation model
uses from then on.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from federation import ParameterCheck

__all__ = ["LineConfig", "MachineConfig", "ProcessingTime", "line_config"]


class ProcessingTime(str, enum.Enum):
    """Distribution of a machine's processing time around its mean."""

    DETERMINISTIC = "deterministic"
    EXPONENTIAL = "exponential"


@dataclass(frozen=True)
class MachineConfig:
    """One machine of the line; times in seconds, power in kW, depth in m."""

    processing_time: float  # mean processing time of one part
    mtbf: float  # mean operating (processing) time between failures; inf = reliable
    mttr: float  # mean time to repair after a failure
    power_kw: float  # electric draw while processing
    flood_threshold: float  # water depth at the machine's site that puts it out


@dataclass(frozen=True)
class LineConfig:
    """A serial line: machines, the buffers between them, and its dependencies."""

    machines: tuple[MachineConfig, ...]
    buffer_capacity: float  # parts per inter-machine buffer; 0 = none (direct hand-off); inf = unlimited
    processing: ProcessingTime
    arrival_rate: float  # parts/s into an unlimited input queue; 0 = first machine never starved
    restart_delay: float  # s from power restoration to restart
    flood_repair_time: float  # s from the water receding to the machine being back
    base_load_kw: float  # electric draw of the plant whenever it is energized
    planned_rate: float  # parts/s the plan expects
    throughput_window: float  # s, trailing window of the throughput output

    def nominal_rate(self) -> float:
        """Parts/s of the bottleneck in isolation, counting its failures (isolated efficiency)."""
        rates = [_availability(m) / m.processing_time for m in self.machines]
        if self.arrival_rate > 0:
            rates.append(self.arrival_rate)
        return min(rates)


def _availability(machine: MachineConfig) -> float:
    if math.isinf(machine.mtbf):
        return 1.0
    return machine.mtbf / (machine.mtbf + machine.mttr)


def line_config(params: Mapping[str, Any]) -> LineConfig:
    """Check the factory parameters and build the line's configuration.

    Raises :class:`~federation.errors.ParameterError` naming every bad parameter.
    """
    check = ParameterCheck()
    times = _per_machine(params, "processing_times", None, check, defines_count=True)
    count = len(times) if check.ok("processing_times") else None  # the number of machines
    _check_positive(times, "processing_times", check, allow_zero=False)
    if check.ok("processing_times") and not all(math.isfinite(t) for t in times):
        check.fail("processing_times", f"must be finite, got {times!r}")
    mtbf = _positive_list(params, "mtbf", count, check)
    mttr = _positive_list(params, "mttr", count, check, allow_zero=True)
    power = _positive_list(params, "machine_power", count, check, allow_zero=True)
    flood = _per_machine(params, "flood_thresholds", count, check)
    machines = tuple(MachineConfig(*values) for values in zip(times, mtbf, mttr, power, flood))
    capacity = _number(params, "buffer_capacity", check, minimum=0.0)
    if check.ok("buffer_capacity") and not math.isinf(capacity) and capacity != int(capacity):
        check.fail("buffer_capacity", f"must be a whole number or inf, got {capacity!r}")
    try:
        processing = ProcessingTime(params["processing"])
    except ValueError:
        choices = ", ".join(repr(p.value) for p in ProcessingTime)
        check.fail("processing", f"must be one of {choices}, got {params['processing']!r}")
        processing = ProcessingTime.DETERMINISTIC
    config = LineConfig(
        machines=machines,
        buffer_capacity=capacity,
        processing=processing,
        arrival_rate=_number(params, "arrival_rate", check, minimum=0.0) / 3600.0,
        restart_delay=_number(params, "restart_delay", check, minimum=0.0),
        flood_repair_time=_number(params, "flood_repair_time", check, minimum=0.0),
        base_load_kw=_number(params, "base_load", check, minimum=0.0),
        planned_rate=_number(params, "planned_rate", check, minimum=0.0) / 3600.0,
        throughput_window=_number(params, "throughput_window", check, minimum=0.0),
    )
    if check.ok("throughput_window") and config.throughput_window == 0.0:
        check.fail("throughput_window", "must be > 0, got 0")
    check.done()
    if config.planned_rate == 0.0:
        config = replace(config, planned_rate=config.nominal_rate())
    return config


# Each check below records a bad value and returns a stand-in that keeps the rest of the
# configuration buildable, so that every parameter is checked; check.done() then refuses it.


def _number(params: Mapping[str, Any], name: str, check: ParameterCheck, *, minimum: float) -> float:
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        check.fail(name, f"must be a number, got {value!r}")
    elif value < minimum:
        check.fail(name, f"must be >= {minimum:g}, got {value!r}")
    else:
        return float(value)
    return max(minimum, 1.0)


def _per_machine(params: Mapping[str, Any], name: str, count: int | None, check: ParameterCheck,
                 *, defines_count: bool = False) -> list[float]:  # fmt: skip
    """A list with one number per machine, or a scalar applied to every machine.

    ``count`` is the number of machines (``None``: not known); the list that ``defines_count``
    must be a list.
    """
    value = params[name]
    stand_in = [1.0] * (count or 1)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if defines_count:
            check.fail(name, f"must be a list, got {value!r}")
            return stand_in
        return [float(value)] * (count or 1)
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        check.fail(name, f"must be a non-empty list of numbers, got {value!r}")
        return stand_in
    if count is not None and len(value) != count:
        check.fail(name, f"has {len(value)} values for {count} machines: {list(value)!r}")
        return stand_in
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (int, float)) or math.isnan(item):
            check.fail(name, f"must hold numbers, got {item!r}")
            return stand_in
    return [float(v) for v in value]


def _positive_list(
    params: Mapping[str, Any], name: str, count: int | None, check: ParameterCheck, *, allow_zero: bool = False
) -> list[float]:
    values = _per_machine(params, name, count, check)
    _check_positive(values, name, check, allow_zero=allow_zero)
    return values


def _check_positive(values: list[float], name: str, check: ParameterCheck, *, allow_zero: bool) -> None:
    if check.ok(name) and any(v < 0 or (v == 0 and not allow_zero) for v in values):
        bound = ">= 0" if allow_zero else "> 0"
        check.fail(name, f"must be {bound} for every machine, got {values!r}")

"""Configuration of a factory line, parsed once from the federate's parameters.

Parameters arrive as a mapping from the scenario; :func:`line_config` checks every
value, names the parameter of any bad one, and returns frozen dataclasses that the
simulation model uses from then on.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

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

    Raises :class:`ValueError` naming the parameter when a value is out of range.
    """
    times = _positive_list(params, "processing_times", None)
    if not all(math.isfinite(t) for t in times):
        raise ValueError(f"factory parameter 'processing_times' must be finite, got {times!r}")
    count = len(times)
    mtbf = _positive_list(params, "mtbf", count)
    mttr = _positive_list(params, "mttr", count, allow_zero=True)
    power = _positive_list(params, "machine_power", count, allow_zero=True)
    flood = _per_machine(params, "flood_thresholds", count)
    machines = tuple(MachineConfig(times[i], mtbf[i], mttr[i], power[i], flood[i]) for i in range(count))
    capacity = _number(params, "buffer_capacity", minimum=0.0)
    if not math.isinf(capacity) and capacity != int(capacity):
        raise ValueError(
            f"factory parameter 'buffer_capacity' must be a whole number or inf, got {capacity!r}"
        )
    try:
        processing = ProcessingTime(params["processing"])
    except ValueError:
        choices = ", ".join(repr(p.value) for p in ProcessingTime)
        raise ValueError(
            f"factory parameter 'processing' must be one of {choices}, got {params['processing']!r}"
        ) from None
    config = LineConfig(
        machines=machines,
        buffer_capacity=capacity,
        processing=processing,
        arrival_rate=_number(params, "arrival_rate", minimum=0.0) / 3600.0,
        restart_delay=_number(params, "restart_delay", minimum=0.0),
        flood_repair_time=_number(params, "flood_repair_time", minimum=0.0),
        base_load_kw=_number(params, "base_load", minimum=0.0),
        planned_rate=_number(params, "planned_rate", minimum=0.0) / 3600.0,
        throughput_window=_number(params, "throughput_window", minimum=0.0),
    )
    if config.throughput_window == 0.0:
        raise ValueError("factory parameter 'throughput_window' must be > 0, got 0")
    if config.planned_rate == 0.0:
        config = replace(config, planned_rate=config.nominal_rate())
    return config


def _number(params: Mapping[str, Any], name: str, *, minimum: float) -> float:
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"factory parameter {name!r} must be a number, got {value!r}")
    if value < minimum:
        raise ValueError(f"factory parameter {name!r} must be >= {minimum:g}, got {value!r}")
    return float(value)


def _per_machine(params: Mapping[str, Any], name: str, count: int | None) -> list[float]:
    """A list with one number per machine, or a scalar applied to every machine."""
    value = params[name]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if count is None:
            raise ValueError(f"factory parameter {name!r} must be a list, got {value!r}")
        return [float(value)] * count
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise ValueError(f"factory parameter {name!r} must be a non-empty list of numbers, got {value!r}")
    if count is not None and len(value) != count:
        raise ValueError(
            f"factory parameter {name!r} has {len(value)} values for {count} machines: {list(value)!r}"
        )
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (int, float)) or math.isnan(item):
            raise ValueError(f"factory parameter {name!r} must hold numbers, got {item!r}")
    return [float(v) for v in value]


def _positive_list(
    params: Mapping[str, Any], name: str, count: int | None, *, allow_zero: bool = False
) -> list[float]:
    values = _per_machine(params, name, count)
    for v in values:
        if v < 0 or (v == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            raise ValueError(f"factory parameter {name!r} must be {bound} for every machine, got {values!r}")
    return values

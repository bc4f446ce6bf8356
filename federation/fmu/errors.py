"""Errors of the FMU adapter: a bad FMU file, a bad mapping, or a failing FMI call."""

from __future__ import annotations

import enum

from ..errors import FederationError

__all__ = ["FMUError", "FmiCallError", "FmiStatus"]


class FMUError(FederationError):
    """An FMU cannot be loaded, mapped, or run; the message names the FMU and the cause."""


class FmiStatus(enum.IntEnum):
    """Return codes shared by FMI 2 and FMI 3 (``fmi2Status`` / ``fmi3Status``)."""

    OK = 0
    WARNING = 1
    DISCARD = 2
    ERROR = 3
    FATAL = 4
    PENDING = 5

    @classmethod
    def label(cls, code: int) -> str:
        try:
            return cls(code).name.lower()
        except ValueError:
            return f"illegal status {code}"


class FmiCallError(FMUError):
    """An FMI function returned discard, error or fatal.

    ``fmu`` is the FMU's model name, ``function`` the FMI function, ``time`` the FMU's time
    and ``status`` the returned :class:`FmiStatus` code.
    """

    def __init__(self, fmu: str, function: str, time: float, status: int, log: str = "") -> None:
        self.fmu, self.function, self.time, self.status = fmu, function, time, status
        message = f"FMU '{fmu}': {function} returned {FmiStatus.label(status)} at t={time:g} s"
        if log:
            message += f"; the FMU logged: {log}"
        super().__init__(message)

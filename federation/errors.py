"""Exception hierarchy, arranged by who is to blame.

``FederationError`` is the single base. Below it:

* :class:`ScenarioError` -- the user's scenario file (carries every problem found);
* :class:`ParameterError` -- values in a federate's ``params:`` that the federate refuses
  (validation turns each into a :class:`Problem` at the line of its parameter);
* :class:`FederateError` -- a federate misbehaved, crashed or hung (names it and the time);
* :class:`ProtocolError` -- a frame on the wire broke the protocol;
* :class:`ConvergenceError` -- an ``iterate`` group found no fixed point;
* :class:`OutputError` -- a file or folder to be written cannot be, or may not be replaced;
* :class:`RunInterrupted` -- the operator stopped the run (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

from dataclasses import dataclass

KeyPath = tuple[str | int, ...]
"""Where a value sits in a document: mapping keys and list indices, outermost first."""


def format_path(path: KeyPath) -> str:
    """``('federates', 'tank', 'params')`` -> ``federates.tank.params``; ints as ``[i]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:  # a key that is not valid Unicode is shown with its escapes
            out += ("." if out else "") + str(part).encode("utf-8", "backslashreplace").decode("utf-8")
    return out


class FederationError(Exception):
    """Base of every error this package raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One mistake in a scenario file, located as ``FILE:LINE:COL: key.path: message``.

    ``line`` and ``column`` count from 1; 0 when unknown (a problem blamed on a command-line
    argument has neither; one found in a file that keeps no columns has a line only).
    """

    file: str
    line: int
    path: str
    message: str
    column: int = 0

    @property
    def where(self) -> str:
        """``FILE:LINE:COL``, ``FILE:LINE`` or ``FILE``: as much of the place as is known."""
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.column}" if self.column else f"{self.file}:{self.line}"

    @property
    def order(self) -> tuple[int, int, str, str, str]:
        """How problems are listed: by line and column, then file, key path and message."""
        return self.line, self.column, self.file, self.path, self.message

    def __str__(self) -> str:
        where = self.where
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ScenarioError(FederationError):
    """The scenario file is wrong; ``problems`` lists every mistake found."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class ParameterProblem:
    """One refused parameter value; ``key`` is its path under ``params:``, e.g. ``("reaches", 0, "k_s")``."""

    key: tuple[str | int, ...]
    message: str

    def __str__(self) -> str:
        if not self.key:  # about the parameters together, not one of them
            return self.message
        name = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in self.key).lstrip(".")
        return f"parameter '{name}': {self.message}"


class ParameterError(FederationError, ValueError):
    """A federate refuses some of its parameter values; ``problems`` names every one.

    Raised from ``declare()`` it lets ``federation validate`` place each problem at the line
    of its parameter; raised when the federate starts, the run fails with all of them.
    Build it with :class:`federation.api.interface.ParameterCheck`.
    """

    def __init__(self, problems: list[ParameterProblem] | tuple[ParameterProblem, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class FederateError(FederationError):
    """A federate failed: crashed, hung, raised, or broke the rules.

    The message names the federate, its last granted time and what it was doing.
    """

    def __init__(self, federate: str, message: str, *, time: float | None = None, doing: str = "") -> None:
        self.federate = federate
        self.time = time
        self.doing = doing
        parts = [f"federate '{federate}'"]
        if time is not None:
            parts.append(f"at t={time:g} s")
        if doing:
            parts.append(f"while {doing}")
        super().__init__(f"{' '.join(parts)}: {message}")


class ProtocolError(FederationError):
    """A frame broke the wire protocol; ``code`` is a :class:`federation.protocol.ErrorCode`."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        super().__init__(message)


class ConvergenceError(FederationError):
    """An ``iterate`` group did not reach its tolerance within ``max_iterations``."""

    def __init__(self, group: str, time: float, residual: float, signal: str, iterations: int) -> None:
        self.group, self.time, self.residual, self.signal = group, time, residual, signal
        super().__init__(
            f"iterate group '{group}' did not converge at t={time:g} s after {iterations} iterations: "
            f"residual {residual:.3g} on {signal}"
        )


class OutputError(FederationError):
    """A file or folder a command writes cannot be written, or holds something it may not replace.

    The message names the path and the OS error (or the rule).  ``during_run`` tells a failure
    while federates ran (the run failed) from one before anything started.
    """

    def __init__(self, path: object, message: str, *, during_run: bool = False) -> None:
        self.path = str(path)
        self.during_run = during_run
        super().__init__(f"{self.path}: {message}")


class RunInterrupted(FederationError):
    """The run was stopped from outside (SIGINT/SIGTERM)."""

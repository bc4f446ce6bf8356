"""Vendor FMUs (FMI 2.0 and 3.0, Co-Simulation and Model Exchange) as federates.

Built on fmpy: it reads model descriptions, loads binaries and makes the FMI calls;
this package maps variables to federation signals, steps the FMU on the federation's
clock, saves and restores its state for iterate groups, and turns failures into
:class:`FMUError` messages that name the FMU, the function, the time and the status.
"""

from __future__ import annotations

from .errors import FmiCallError, FmiStatus, FMUError
from .federate import FmuFederate, FmuSpec
from .inspect import inspect_fmu
from .loader import FmiVersion, FmuArchive, InterfaceKind, read_fmu
from .modelexchange import SolverKind, SolverSpec

__all__ = [
    "FMUError",
    "FmiCallError",
    "FmiStatus",
    "FmiVersion",
    "FmuArchive",
    "FmuFederate",
    "FmuSpec",
    "InterfaceKind",
    "SolverKind",
    "SolverSpec",
    "inspect_fmu",
    "read_fmu",
]

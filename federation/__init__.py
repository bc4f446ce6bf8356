"""federation -- a co-simulation federation framework over ZeroMQ.

Public API, what a federate needs (the domain federates in ``federates/`` use nothing else)::

    from federation import Federate, SimPyFederate, Input, Output, State, Parameter, Endpoint, PayloadField, Message

and, for live operation (docs/live.md), ``LiveFeed``, ``ExternalSample`` and ``DecisionRecord``.

The package is layered (docs/architecture.md): ``api`` (this API), ``scenario``,
``decisions`` and ``results``, ``engine``, ``fmu``, ``app``; FMUs as federates are
``federation.fmu``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .api.federate import Context, Federate, Message
from .api.interface import (
    REQUIRED,
    Declaration,
    Endpoint,
    Input,
    Output,
    Parameter,
    ParameterCheck,
    ParameterKey,
    PayloadField,
    SignalType,
    State,
)
from .api.live import Approval, DecisionRecord, ExternalSample, LiveFeed
from .errors import (
    ConvergenceError,
    FederateError,
    FederationError,
    KeyPath,
    ParameterError,
    ParameterProblem,
    Problem,
    ProtocolError,
    RunInterrupted,
    ScenarioError,
    format_path,
)
from .units import Conversion as UnitConversion
from .units import conversion as unit_conversion

if TYPE_CHECKING:
    from .api.simpy_federate import SimPyFederate

__version__ = "0.1.0"

__all__ = [
    "Approval",
    "Context",
    "ConvergenceError",
    "DecisionRecord",
    "Declaration",
    "Endpoint",
    "ExternalSample",
    "Federate",
    "FederateError",
    "FederationError",
    "Input",
    "KeyPath",
    "LiveFeed",
    "Message",
    "Output",
    "Parameter",
    "ParameterCheck",
    "ParameterError",
    "ParameterKey",
    "ParameterProblem",
    "PayloadField",
    "Problem",
    "ProtocolError",
    "REQUIRED",
    "RunInterrupted",
    "ScenarioError",
    "SignalType",
    "SimPyFederate",
    "State",
    "UnitConversion",
    "__version__",
    "format_path",
    "unit_conversion",
]


def __getattr__(name: str) -> object:
    # SimPy is imported only by federates that use it (start-up time of every other process).
    if name == "SimPyFederate":
        from .api.simpy_federate import SimPyFederate

        return SimPyFederate
    raise AttributeError(name)

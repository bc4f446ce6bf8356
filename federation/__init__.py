"""federation -- a co-simulation federation framework over ZeroMQ.

Public API::

    from federation import Federate, SimPyFederate, Input, Output, Parameter, Endpoint, PayloadField, Message
"""

from __future__ import annotations

from .errors import (
    ConvergenceError,
    FederateError,
    FederationError,
    ParameterError,
    Problem,
    ProtocolError,
    RunInterrupted,
    ScenarioError,
)
from .federate import Context, Federate, Message
from .interface import REQUIRED, Declaration, Endpoint, Input, Output, Parameter, ParameterCheck, PayloadField, SignalType

__version__ = "0.1.0"

__all__ = [
    "Context",
    "ConvergenceError",
    "Declaration",
    "Endpoint",
    "Federate",
    "FederateError",
    "FederationError",
    "Input",
    "Message",
    "Output",
    "Parameter",
    "ParameterCheck",
    "ParameterError",
    "PayloadField",
    "Problem",
    "ProtocolError",
    "REQUIRED",
    "RunInterrupted",
    "ScenarioError",
    "SignalType",
    "SimPyFederate",
    "__version__",
]


def __getattr__(name: str) -> object:
    # SimPy is imported only by federates that use it.
    if name == "SimPyFederate":
        from .simpy_federate import SimPyFederate

        return SimPyFederate
    raise AttributeError(name)

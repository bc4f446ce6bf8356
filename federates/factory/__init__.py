"""Factory line federate: a serial line of machines with finite buffers (SimPy).

See ``docs/federates/factory.md``.  Entry point: ``federates.factory:FactoryFederate``.
"""

from .config import LineConfig, MachineConfig, ProcessingTime, line_config
from .federate import FactoryFederate

__all__ = ["FactoryFederate", "LineConfig", "MachineConfig", "ProcessingTime", "line_config"]

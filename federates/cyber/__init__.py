"""The network-attack federate (``cyber``) and its parts.

* :mod:`.graph` -- the ICT/SCADA graph, its loading, generation and visibility rule;
* :mod:`.epidemic` -- exact continuous-time SI/SIS spread (Gillespie);
* :mod:`.defender` -- defender actions from messages and schedules;
* :mod:`.cascade` -- the interdependent-network cascade of Buldyrev et al. (2010);
* :mod:`.federate` -- :class:`CyberFederate`, which ties them to the federation.
"""

from __future__ import annotations

from .cascade import giant_component, mutual_giant_component, random_attack
from .defender import ActionKind, DefenderAction
from .epidemic import Epidemic, SpreadModel, Transition
from .federate import BreakerRule, CyberFederate
from .graph import IctEdge, IctGraph, IctNode, NodeKind, generate_topology, load_graph

__all__ = [
    "ActionKind",
    "BreakerRule",
    "CyberFederate",
    "DefenderAction",
    "Epidemic",
    "IctEdge",
    "IctGraph",
    "IctNode",
    "NodeKind",
    "SpreadModel",
    "Transition",
    "generate_topology",
    "giant_component",
    "load_graph",
    "mutual_giant_component",
    "random_attack",
]

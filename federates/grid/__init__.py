"""Power-grid federate: AC/DC power flow of MATPOWER cases with islands and protection.

Modules: :mod:`.case` (MATPOWER case files), :mod:`.islands` (networkx islands and the
slack rule), :mod:`.powerflow` (PYPOWER numerics per island), :mod:`.protection` (flood
trips, overload cascade, N-1 screening), :mod:`.breaker` (breaker commands) and
:mod:`.federate` (:class:`GridFederate`).
"""

from __future__ import annotations

from .federate import GridConfig, GridFederate

__all__ = ["GridConfig", "GridFederate"]

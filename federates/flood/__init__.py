"""Flood federate: rainfall-runoff, a gated reservoir, Muskingum river reaches and a
1-D shallow-water floodplain with named assets.  See docs/federates/flood.md."""

from __future__ import annotations

from .federate import FloodFederate

__all__ = ["FloodFederate"]

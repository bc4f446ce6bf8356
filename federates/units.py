"""Unit conversion for values that enter the federation from outside (players, bridges).

The conversion itself is the framework's (``federation.unit_conversion``), which connections
between signals in different units use too.
"""

from __future__ import annotations

from federation import UnitConversion as Conversion
from federation import unit_conversion as conversion

__all__ = ["Conversion", "conversion"]

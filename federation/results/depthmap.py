"""Maximum-depth maps for the run report: the last recorded ``*.max_depth_map`` of a run.

A 2-D inundation federate (``federates.flood.inundation``) publishes its maximum water
depth so far as a coarse grid with its map extent and its assets::

    {"time": s, "extent": [x_min, x_max, y_min, y_max], "unit": "mm",
     "depth": [[...], ...],                       # rows from north to south
     "assets": {name: [[x, y], ...]}}             # one point, or a polygon

:func:`depth_maps` draws each such signal's last value (depth in colour, dry cells
white, assets marked and named) as a PNG, for the report's template to embed.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np

from .store import RunStore

__all__ = ["DepthMap", "depth_maps"]

log = logging.getLogger(__name__)

SIGNAL_SUFFIX = ".max_depth_map"


@dataclass(frozen=True)
class DepthMap:
    name: str  # the signal
    caption: str
    png: str  # base64


def depth_maps(store: RunStore) -> list[DepthMap]:
    """Every maximum-depth map in ``store``, drawn; none when the run has none."""
    out = []
    for _, name, _, _ in store.signals():
        if not name.endswith(SIGNAL_SUFFIX):
            continue
        series = store.series(name)
        value = series.values[-1] if series.values else None
        if not _is_map(value):
            log.warning("%s: last value is not a depth map, not drawn", name)
            continue
        caption = f"{name}: maximum water depth up to t = {float(value['time']):g} s"
        out.append(DepthMap(name, caption, _png(value)))
    return out


def _is_map(value: Any) -> TypeGuard[Mapping[str, Any]]:
    return (isinstance(value, Mapping) and isinstance(value.get("depth"), list) and bool(value["depth"])
            and isinstance(value.get("extent"), list) and len(value["extent"]) == 4)  # fmt: skip


def _png(value: Mapping[str, Any]) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    depth = np.asarray(value["depth"], dtype=float) / (1000.0 if value.get("unit") == "mm" else 1.0)
    x_min, x_max, y_min, y_max = (float(v) for v in value["extent"])
    aspect = (y_max - y_min) / max(x_max - x_min, 1e-9)
    fig = Figure(figsize=(10, max(2.5, min(8.0, 10 * aspect + 1.0))))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    shown = np.ma.masked_less_equal(depth, 0.0)
    image = ax.imshow(shown, extent=(x_min, x_max, y_min, y_max), origin="upper", cmap="Blues",
                      vmin=0.0, interpolation="nearest")  # fmt: skip
    fig.colorbar(image, ax=ax, label="maximum depth [m]", shrink=0.8)
    for name, points in (value.get("assets") or {}).items():
        xy = np.asarray(points, dtype=float).reshape(-1, 2)
        if len(xy) == 1:
            ax.plot(xy[0, 0], xy[0, 1], marker="^", color="#c62828", markersize=7)
        else:
            ax.fill(xy[:, 0], xy[:, 1], facecolor="none", edgecolor="#c62828", linewidth=1.4)
        ax.annotate(name, xy[:, :].mean(axis=0), textcoords="offset points", xytext=(5, 5), fontsize=8,
                    color="#7f0000")  # fmt: skip
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(y_min, y_max)
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    ax.set_aspect("equal")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")

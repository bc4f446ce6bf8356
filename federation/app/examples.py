"""The example scenarios and the project's FMUs, made ready to run anywhere (``federation examples DIR``).

An installed package (a wheel, not a source checkout) carries the example scenarios as
package data (``federation/example_scenarios``, a link to the repository's ``scenarios/``)
and the C sources of the project's FMUs (the ``fmus`` package).  :func:`copy_scenarios`
writes the scenarios to ``DIR/scenarios`` and :func:`build_fmus` compiles the FMUs into
``DIR/fmus/dist``, the layout the scenarios expect (``../fmus/dist/SpillwayGate.fmu``).

Existing files are never overwritten: :func:`conflicts` lists the files in the way, and a
file already identical to the shipped one is left as it is.
"""

from __future__ import annotations

import logging
from importlib.resources import files
from pathlib import Path

try:
    from importlib.resources.abc import Traversable
except ImportError:  # Python 3.10
    from importlib.abc import Traversable

__all__ = ["FMU_DIST", "SCENARIOS", "build_fmus", "conflicts", "copy_scenarios", "shipped_scenarios"]

log = logging.getLogger(__name__)

SCENARIOS = Path("scenarios")
FMU_DIST = Path("fmus") / "dist"


def _root() -> Traversable:
    return files("federation") / "example_scenarios"


def shipped_scenarios() -> dict[Path, Traversable]:
    """Every shipped scenario file by its path relative to ``scenarios/``, sorted."""
    found: dict[Path, Traversable] = {}
    pending: list[tuple[Path, Traversable]] = [(Path(), _root())]
    while pending:
        relative, node = pending.pop()
        for child in node.iterdir():
            if child.is_dir():
                pending.append((relative / child.name, child))
            elif child.name.endswith(".yaml"):
                found[relative / child.name] = child
    return dict(sorted(found.items()))


def conflicts(folder: Path) -> list[Path]:
    """Files under ``folder`` that :func:`copy_scenarios` would have to overwrite (they differ)."""
    out = []
    for relative, source in shipped_scenarios().items():
        target = folder / SCENARIOS / relative
        if target.exists() and (not target.is_file() or target.read_bytes() != source.read_bytes()):
            out.append(target)
    return out


def copy_scenarios(folder: Path) -> list[Path]:
    """Write the shipped scenarios to ``folder/scenarios``; return the files written or already there."""
    in_the_way = conflicts(folder)
    if in_the_way:
        raise FileExistsError(f"{in_the_way[0]} exists and differs from the shipped example")
    written = []
    for relative, source in shipped_scenarios().items():
        target = folder / SCENARIOS / relative
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            log.debug("wrote %s", target)
        written.append(target)
    return written


def build_fmus(folder: Path) -> list[Path]:
    """Compile the project's FMUs into ``folder/fmus/dist`` (needs a C compiler; see ``fmus.build``)."""
    from fmus.build import build_all

    return build_all(folder / FMU_DIST)

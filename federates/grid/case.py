"""MATPOWER-format case files: reading, writing and the shipped IEEE cases.

A case is the MATPOWER "version 2" data: ``baseMVA`` and the ``bus``, ``gen`` and
``branch`` tables, with MATPOWER's column layout (the column constants of
:mod:`pypower.idx_bus`, :mod:`pypower.idx_gen` and :mod:`pypower.idx_brch`).  Bus
numbers in the tables are the case's external numbers; rows are addressed by index.

Shipped cases live in ``federates/data/<name>.m`` and are named by their short name
(``"case39"``); any other argument of :func:`load_case` is a file path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pypower.idx_brch import BR_STATUS, BR_X, F_BUS, T_BUS
from pypower.idx_bus import BUS_I, BUS_TYPE, REF
from pypower.idx_gen import GEN_BUS

__all__ = [
    "DATA_DIR",
    "Case",
    "CaseFormatError",
    "case_from_ppc",
    "is_short_name",
    "load_case",
    "read_case",
    "shipped_cases",
    "write_case",
]

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
"""Folder of the shipped case files."""

_MIN_COLUMNS = {"bus": 13, "gen": 10, "branch": 11}
_HEADERS = {
    "bus": "bus_i type Pd Qd Gs Bs area Vm Va baseKV zone Vmax Vmin",
    "gen": "bus Pg Qg Qmax Qmin Vg mBase status Pmax Pmin Pc1 Pc2 Qc1min Qc1max Qc2min Qc2max "
    "ramp_agc ramp_10 ramp_30 ramp_q apf",
    "branch": "fbus tbus r x b rateA rateB rateC ratio angle status angmin angmax",
}
_SHORT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MATRIX = re.compile(r"mpc\.(bus|gen|branch)\s*=\s*\[(.*?)\]", re.DOTALL)
_BASE_MVA = re.compile(r"mpc\.baseMVA\s*=\s*([-+0-9.eE]+)")


class CaseFormatError(ValueError):
    """A case file is missing, unreadable or inconsistent; the message names the file."""


@dataclass(frozen=True, eq=False)
class Case:
    """One power system case: MATPOWER tables (read-only arrays) and the MVA base."""

    name: str
    base_mva: float
    bus: np.ndarray
    gen: np.ndarray
    branch: np.ndarray
    source: str = "<memory>"

    def __post_init__(self) -> None:
        for table in (self.bus, self.gen, self.branch):
            table.setflags(write=False)

    @property
    def n_bus(self) -> int:
        return int(self.bus.shape[0])

    @property
    def n_branch(self) -> int:
        return int(self.branch.shape[0])

    @property
    def n_gen(self) -> int:
        return int(self.gen.shape[0])

    @property
    def bus_numbers(self) -> tuple[int, ...]:
        """External bus numbers, in row order."""
        return tuple(int(b) for b in self.bus[:, BUS_I])

    def bus_row(self, number: int) -> int:
        """Row of the bus numbered ``number``; ``KeyError`` names the number if absent."""
        rows = np.flatnonzero(self.bus[:, BUS_I] == number)
        if rows.size == 0:
            raise KeyError(f"bus {number} is not in case {self.name!r}")
        return int(rows[0])

    @property
    def ref_row(self) -> int:
        """Row of the reference (slack) bus."""
        return int(np.flatnonzero(self.bus[:, BUS_TYPE] == REF)[0])

    def branch_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """(from-bus rows, to-bus rows) of every branch."""
        index = {n: i for i, n in enumerate(self.bus_numbers)}
        f = np.array([index[int(b)] for b in self.branch[:, F_BUS]], dtype=int)
        t = np.array([index[int(b)] for b in self.branch[:, T_BUS]], dtype=int)
        return f, t

    def gen_rows(self) -> np.ndarray:
        """Bus row of every generator."""
        index = {n: i for i, n in enumerate(self.bus_numbers)}
        return np.array([index[int(b)] for b in self.gen[:, GEN_BUS]], dtype=int)

    def to_ppc(self) -> dict[str, Any]:
        """The case as a PYPOWER case dict (copies of the tables)."""
        return {
            "version": "2",
            "baseMVA": self.base_mva,
            "bus": self.bus.copy(),
            "gen": self.gen.copy(),
            "branch": self.branch.copy(),
        }

    def __repr__(self) -> str:
        return f"<Case {self.name!r} {self.n_bus} buses {self.n_gen} gens {self.n_branch} branches>"


def case_from_ppc(ppc: Mapping[str, Any], name: str, source: str = "<memory>") -> Case:
    """Build a :class:`Case` from a PYPOWER case dict (its tables are copied)."""
    case = Case(
        name=name,
        base_mva=float(ppc["baseMVA"]),
        bus=np.array(ppc["bus"], dtype=float),
        gen=np.array(ppc["gen"], dtype=float),
        branch=np.array(ppc["branch"], dtype=float),
        source=source,
    )
    _check(case)
    return case


def shipped_cases() -> tuple[str, ...]:
    """Short names of the case files shipped in :data:`DATA_DIR`."""
    return tuple(sorted(p.stem for p in DATA_DIR.glob("case*.m")))


def is_short_name(spec: str) -> bool:
    """Whether ``spec`` names a shipped case (``case39``) rather than a file path."""
    return bool(_SHORT_NAME.match(spec))


def load_case(spec: str | Path) -> Case:
    """Load a shipped case by short name (``"case39"``) or a case file by path."""
    text = str(spec)
    if is_short_name(text):
        path = DATA_DIR / f"{text}.m"
        if not path.is_file():
            raise CaseFormatError(
                f"case {text!r} is not a shipped case (shipped: {', '.join(shipped_cases())}) "
                "nor a path to a file"
            )
        return read_case(path)
    return read_case(Path(text))


def read_case(path: str | Path) -> Case:
    """Read a MATPOWER case file (``mpc.baseMVA``, ``mpc.bus``, ``mpc.gen``, ``mpc.branch``)."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CaseFormatError(f"cannot read case file {str(path)!r}: {exc.strerror}") from exc
    text = "\n".join(line.split("%", 1)[0] for line in raw.splitlines())
    base = _BASE_MVA.search(text)
    if base is None:
        raise CaseFormatError(f"{path}: no 'mpc.baseMVA = ...;' assignment")
    tables = {m.group(1): (m.group(2), text.count("\n", 0, m.start()) + 1) for m in _MATRIX.finditer(text)}
    arrays = {}
    for key in ("bus", "gen", "branch"):
        if key not in tables:
            raise CaseFormatError(f"{path}: no 'mpc.{key} = [ ... ];' table")
        arrays[key] = _parse_matrix(tables[key][0], path, key, tables[key][1])
    case = Case(path.stem, float(base.group(1)), arrays["bus"], arrays["gen"], arrays["branch"], str(path))
    _check(case)
    return case


def write_case(case: Case, path: str | Path, *, comment: str = "") -> None:
    """Write ``case`` as a MATPOWER case file that :func:`read_case` and MATPOWER read back."""
    path = Path(path)
    lines = [f"function mpc = {path.stem}"]
    lines += [f"%{path.stem.upper()}  {line}" if i == 0 else f"%   {line}"
              for i, line in enumerate(comment.splitlines())]
    lines += ["", "%% MATPOWER Case Format : Version 2", "mpc.version = '2';", "",
              "%% system MVA base", f"mpc.baseMVA = {_number(case.base_mva)};"]
    for key in ("bus", "gen", "branch"):
        table: np.ndarray = getattr(case, key)
        lines += ["", f"%% {key} data", "%\t" + _HEADERS[key].replace(" ", "\t"), f"mpc.{key} = ["]
        lines += ["\t" + "\t".join(_number(v) for v in row) + ";" for row in table]
        lines.append("];")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _parse_matrix(body: str, path: Path, key: str, line: int) -> np.ndarray:
    rows = [r for r in re.split(r"[;\n]", body) if r.strip()]
    try:
        values = [[float(v) for v in re.split(r"[\s,]+", r.strip())] for r in rows]
    except ValueError as exc:
        raise CaseFormatError(f"{path}:{line}: mpc.{key}: {exc}") from exc
    widths = {len(r) for r in values}
    if len(widths) != 1:
        raise CaseFormatError(f"{path}:{line}: mpc.{key}: rows have different lengths {sorted(widths)}")
    width = widths.pop()
    if width < _MIN_COLUMNS[key]:
        raise CaseFormatError(
            f"{path}:{line}: mpc.{key} has {width} columns, at least {_MIN_COLUMNS[key]} are needed"
        )
    return np.array(values, dtype=float)


def _check(case: Case) -> None:
    where = case.source
    numbers = case.bus[:, BUS_I]
    if len(set(numbers)) != len(numbers):
        raise CaseFormatError(f"{where}: mpc.bus has duplicate bus numbers")
    n_ref = int(np.count_nonzero(case.bus[:, BUS_TYPE] == REF))
    if n_ref != 1:
        raise CaseFormatError(f"{where}: mpc.bus must have exactly one reference bus (type 3), has {n_ref}")
    known = set(numbers)
    for key, cols in (("branch", (F_BUS, T_BUS)), ("gen", (GEN_BUS,))):
        table: np.ndarray = getattr(case, key)
        for col in cols:
            unknown = sorted(set(table[:, col]) - known)
            if unknown:
                raise CaseFormatError(f"{where}: mpc.{key} refers to unknown bus {_number(unknown[0])}")
    on = case.branch[:, BR_STATUS] > 0
    if np.any(case.branch[on, BR_X] == 0):
        raise CaseFormatError(f"{where}: mpc.branch has an in-service branch with zero reactance x")


def _number(value: float) -> str:
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)

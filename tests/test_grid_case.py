"""MATPOWER case files: the shipped IEEE cases, reading, writing and format errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pypower.api import case14, case30, case39

from federates.grid.case import (
    CaseFormatError,
    case_from_ppc,
    load_case,
    read_case,
    shipped_cases,
    write_case,
)

PYPOWER_CASES = {"case14": case14, "case30": case30, "case39": case39}


@pytest.mark.parametrize("name", sorted(PYPOWER_CASES))
def test_shipped_case_equals_the_public_matpower_data(name: str) -> None:
    """The shipped file holds exactly PYPOWER 5.1's bundled case (the public MATPOWER case):
    same baseMVA and bus/gen/branch tables, value for value."""
    case = load_case(name)
    ppc = PYPOWER_CASES[name]()
    assert case.base_mva == ppc["baseMVA"]
    for table in ("bus", "gen", "branch"):
        np.testing.assert_array_equal(getattr(case, table), ppc[table], err_msg=table)


def test_the_three_ieee_cases_are_shipped() -> None:
    """IEEE 14-bus, 30-bus and the 39-bus New England system are shipped as data."""
    assert {"case14", "case30", "case39"} <= set(shipped_cases())
    assert (load_case("case14").n_bus, load_case("case30").n_bus, load_case("case39").n_bus) == (14, 30, 39)


def test_write_then_read_round_trips_exactly(tmp_path: Path) -> None:
    """Writing uses shortest round-trip float text, so reading it back is bit-exact."""
    ppc = case39()
    ppc["branch"][3, 9] = 1.0 / 3.0  # a phase shift with no short decimal form
    original = case_from_ppc(ppc, "mine")
    path = tmp_path / "mine.m"
    write_case(original, path, comment="test case")
    again = load_case(str(path))
    assert again.name == "mine" and again.source == str(path)
    for table in ("bus", "gen", "branch"):
        np.testing.assert_array_equal(getattr(again, table), getattr(original, table))


def test_reader_accepts_matpower_syntax_it_does_not_use(tmp_path: Path) -> None:
    """Comments, commas, trailing semicolons, gencost and cell arrays as MATPOWER writes them."""
    text = """function mpc = tiny
% a two-bus case % with comments
mpc.version = '2';
mpc.baseMVA = 100;   % MVA
mpc.bus = [
  1, 3, 0, 0, 0, 0, 1, 1.0, 0, 230, 1, 1.1, 0.9;   % slack
  2  1  50 10 0  0  1  1.0  0  230  1  1.1  0.9
];
mpc.gen = [ 1 50 0 100 -100 1.0 100 1 200 0 ];
mpc.branch = [
  1 2 0.01 0.1 0.02 250 250 250 0 0 1 -360 360;
];
mpc.gencost = [ 2 0 0 3 0.01 10 0 ];
mpc.bus_name = { 'One'; 'Two' };
"""
    path = tmp_path / "tiny.m"
    path.write_text(text)
    case = read_case(path)
    assert case.bus_numbers == (1, 2) and case.n_gen == 1 and case.n_branch == 1
    assert case.bus[1, 2] == 50.0 and case.branch[0, 5] == 250.0


def test_unknown_short_name_lists_the_shipped_cases() -> None:
    with pytest.raises(CaseFormatError, match=r"case 'case7' is not a shipped case \(shipped: .*case39"):
        load_case("case7")


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CaseFormatError, match="cannot read case file .*nowhere.m"):
        load_case(str(tmp_path / "nowhere.m"))


def test_ragged_table_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.m"
    path.write_text("mpc.baseMVA = 100;\n\nmpc.bus = [\n1 3 0 0 0 0 1 1 0 1 1 1 1;\n2 1 0;\n];\n"
                    "mpc.gen = [1 0 0 0 0 1 100 1 10 0];\nmpc.branch = [1 2 0 0.1 0 0 0 0 0 0 1];\n")
    with pytest.raises(CaseFormatError, match=r"bad.m:3: mpc.bus: rows have different lengths \[3, 13\]"):
        read_case(path)


def test_missing_table_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nogen.m"
    path.write_text("mpc.baseMVA = 100;\nmpc.bus = [1 3 0 0 0 0 1 1 0 1 1 1 1];\n")
    with pytest.raises(CaseFormatError, match=r"no 'mpc.gen = \[ ... \];' table"):
        read_case(path)


def test_two_reference_buses_are_rejected() -> None:
    ppc = case14()
    ppc["bus"][1, 1] = 3
    with pytest.raises(CaseFormatError, match="exactly one reference bus .* has 2"):
        case_from_ppc(ppc, "two-refs")


def test_branch_to_unknown_bus_is_rejected() -> None:
    ppc = case14()
    ppc["branch"][0, 1] = 99
    with pytest.raises(CaseFormatError, match="mpc.branch refers to unknown bus 99"):
        case_from_ppc(ppc, "dangling")


def test_case_tables_are_read_only() -> None:
    case = load_case("case14")
    with pytest.raises(ValueError, match="read-only"):
        case.bus[0, 2] = 1.0

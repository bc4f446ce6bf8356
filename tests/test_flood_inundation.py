"""The 2-D inundation federate: DEM files, assets on the map, outputs, and a run through the
coordinator with the report's flood map.  (The solver's validation: test_flood_shallow_water_2d.py.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from federates.flood.dem import Dem, read_ascii_grid, read_dem, write_ascii_grid
from federates.flood.inundation import InundationFederate
from federates.flood.map_features import Hydrograph, MapAsset, parse_assets, parse_inflows
from federation.api.federate import Context
from federation.results.report import build_report
from tests.conftest import ROOT


def valley(tmp_path: Path) -> Path:
    """A 1.2 km x 0.6 km valley on 20 m cells falling east, sides rising 1:50 from its axis."""
    x = (np.arange(60) + 0.5) * 20.0
    y = 600.0 - (np.arange(30) + 0.5) * 20.0
    bed = 50.0 - 0.002 * x[None, :] + np.maximum(np.abs(y - 300.0)[:, None] - 60.0, 0.0) / 50.0
    return write_ascii_grid(Dem(bed, 20.0, 1000.0, 2600.0), tmp_path / "valley.asc")


def make(params: dict[str, Any], period: float = 300.0, stop: float = 1e6) -> InundationFederate:
    context = Context(name="inundation", seed=1, start=0.0, stop=stop, resolution=1e-3, period=period)
    federate = InundationFederate(params, context)
    federate.setup()
    return federate


# ---------------------------------------------------------------------- DEM files
def test_ascii_grid_round_trip_and_centre_registration(tmp_path: Path) -> None:
    dem = Dem(np.array([[1.0, 2.0, np.nan], [4.0, 5.5, 6.25]]), 10.0, 500.0, 1020.0)
    path = write_ascii_grid(dem, tmp_path / "a.asc")
    back = read_dem(path)
    np.testing.assert_array_equal(back.elevation, dem.elevation)
    assert back.extent == (500.0, 530.0, 1000.0, 1020.0) and back.cell_of(529.0, 1001.0) == (1, 2)
    text = path.read_text().replace("xllcorner 500.0", "xllcenter 505.0").replace("yllcorner 1000.0", "yllcenter 1005.0")
    (tmp_path / "b.asc").write_text(text)
    assert read_ascii_grid(tmp_path / "b.asc").extent == back.extent


def test_ascii_grid_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.asc"
    path.write_text("ncols 2\nnrows 2\nxllcorner 0\nyllcorner 0\ncellsize 1\n1 2\n3 x\n")
    with pytest.raises(ValueError, match=r"bad.asc:7: expected numbers"):
        read_dem(path)
    path.write_text("ncols 2\nnrows 2\nxllcorner 0\n1 2\n3 4\n")
    with pytest.raises(ValueError, match=r"bad.asc: ASCII grid header lacks cellsize, yllcorner"):
        read_dem(path)
    with pytest.raises(ValueError, match=r"unknown DEM format '.xyz'"):
        read_dem(tmp_path / "dem.xyz")


@pytest.mark.parametrize("point", [False, True])
def test_geotiff_reads_as_the_same_grid(tmp_path: Path, point: bool) -> None:
    """A GeoTIFF written here with the tags of the GeoTIFF 1.1 standard (OGC 19-008r4):
    ModelPixelScale, ModelTiepoint, the GeoKey directory (raster type pixel-is-area or
    pixel-is-point) and GDAL_NODATA; it reads as the ASCII grid of the same terrain."""
    dem = Dem(np.array([[1.0, 2.0, -9999.0], [4.0, 5.5, 6.25]]), 10.0, 500.0, 1020.0)
    tie = (505.0, 1015.0) if point else (500.0, 1020.0)
    keys = (1, 1, 0, 2, 1024, 0, 1, 1, 1025, 0, 1, 2 if point else 1)
    tifffile.imwrite(tmp_path / "dem.tif", dem.elevation.astype(np.float32), extratags=[
        (33550, "d", 3, (10.0, 10.0, 0.0), False), (33922, "d", 6, (0, 0, 0, *tie, 0), False),
        (34735, "H", len(keys), keys, False), (42113, "s", 0, "-9999", False)])  # fmt: skip
    back = read_dem(tmp_path / "dem.tif")
    assert back.extent == dem.extent and np.isnan(back.elevation[0, 2])
    np.testing.assert_array_equal(back.elevation[1], [4.0, 5.5, 6.25])


# ---------------------------------------------------------------------- map features
def test_assets_cover_their_cells_and_points_outside_are_named(tmp_path: Path) -> None:
    dem = read_dem(valley(tmp_path))
    square = MapAsset("plant", ((1100.0, 2300.0), (1160.0, 2300.0), (1160.0, 2360.0), (1100.0, 2360.0)))
    rows, cols = square.cells(dem)
    assert len(rows) == 9 and sorted(set(cols.tolist())) == [5, 6, 7]
    tiny = MapAsset("hut", ((1101.0, 2301.0), (1104.0, 2301.0), (1104.0, 2304.0)))
    assert len(tiny.cells(dem)[0]) == 1  # smaller than a cell: the cell holding its centroid
    with pytest.raises(ValueError, match=r"assets.far: point \(9000, 2300\) is outside the DEM"):
        MapAsset("far", ((9000.0, 2300.0),)).cells(dem)
    with pytest.raises(ValueError, match=r"assets.sub: unknown key 'z'"):
        parse_assets({"sub": {"x": 1, "y": 2, "z": 3}})
    with pytest.raises(ValueError, match=r"inflows.river.line: expected two points"):
        parse_inflows({"river": {"line": [[0, 0]]}})


def test_hydrograph_mean_is_exact_for_the_linear_series() -> None:
    hydrograph = Hydrograph((0.0, 3600.0, 7200.0), (0.0, 100.0, 0.0))
    assert hydrograph.mean(0.0, 7200.0) == pytest.approx(50.0)
    assert hydrograph.mean(1800.0, 5400.0) == pytest.approx(75.0)
    assert hydrograph.mean(9000.0, 9600.0) == 0.0


# ---------------------------------------------------------------------- the federate
def test_interface_follows_the_parameters(tmp_path: Path) -> None:
    params = {"dem": str(valley(tmp_path)), "assets": {"sub": {"x": 1100, "y": 2300}},
              "inflows": {"river": {"line": [[1005, 2240], [1005, 2360]]},
                          "creek": {"x": 1500, "y": 2500, "hydrograph": [[0, 1], [60, 2]]}}}  # fmt: skip
    decl = InundationFederate.declare(params)
    assert {i.name for i in decl.inputs} == {"rain", "inflow.river"}
    assert {"depth.sub", "flooded_area", "flood_volume", "max_depth_map"} <= {o.name for o in decl.outputs}
    decl = InundationFederate.declare({**params, "rainfall": [[0, 5.0]]})
    assert {i.name for i in decl.inputs} == {"inflow.river"}
    with pytest.raises(ValueError, match="parameter 'open_edges': expected a list of north, south, west, east"):
        InundationFederate.declare({**params, "open_edges": ["up"]})
    with pytest.raises(ValueError, match="parameter 'scheme': expected one of swe, inertial, got 'lisflood'"):
        InundationFederate.declare({**params, "scheme": "lisflood"})
    with pytest.raises(ValueError, match=r"parameter 'cfl': cfl must be in \(0, 0.671\] for the local-inertia scheme"):
        InundationFederate.declare({**params, "scheme": "inertial", "cfl": 0.7})


@pytest.mark.parametrize("scheme", ["swe", "inertial"])
def test_river_inflow_floods_the_valley_floor_and_assets_report_their_depth(tmp_path: Path, scheme: str) -> None:
    """60 m3/s for 2 h into the valley's upstream end: the floor floods, the point on the floor
    gets water, the one on the valley side (ground 1.6 m higher) stays dry, the flooded area
    and volume are published, the water balance closes, and the map holds the assets; with
    either scheme."""
    params = {"dem": str(valley(tmp_path)), "open_edges": ["east"], "manning_n": 0.04, "scheme": scheme,
              "inflows": {"river": {"line": [[1005, 2240], [1005, 2360]]}},
              "assets": {"floor": {"x": 1400, "y": 2300}, "side": {"x": 1400, "y": 2440},
                         "yard": {"polygon": [[1380, 2280], [1440, 2280], [1440, 2330], [1380, 2330]], "ground_m": 47.0}}}  # fmt: skip
    fed = make(params, stop=7200.0)
    for k in range(25):
        fed.inputs["inflow.river"] = 60.0
        fed.step(300.0 * k)
    out = fed.outputs
    assert out["depth.floor"] > 0.2 and out["depth.side"] == 0.0
    assert out["depth.yard"] == pytest.approx(fed.model.surface[15, 19] - 47.0, abs=0.1)
    assert out["flooded_area"] > 40 * 400.0 and out["flood_volume"] == pytest.approx(fed.model.volume)
    assert abs(fed.model.volume - fed.model.ledger.net) < 1e-9 * fed.model.ledger.inflow
    assert fed.model.ledger.inflow == pytest.approx(60.0 * 7200.0)
    flood_map = out["max_depth_map"]
    assert flood_map["extent"] == [1000.0, 2200.0, 2000.0, 2600.0] and len(flood_map["depth"]) == 30
    assert flood_map["assets"]["floor"] == [[1400.0, 2300.0]] and max(map(max, flood_map["depth"])) > 200


def test_bad_input_names_the_input_and_time(tmp_path: Path) -> None:
    fed = make({"dem": str(valley(tmp_path))})
    fed.inputs["rain"] = -1.0
    with pytest.raises(ValueError, match=r"input 'rain' must be a finite rate >= 0 mm/h, got -1.0 at t=60 s"):
        fed.step(60.0)


def test_shipped_riverton_dem_is_what_its_script_writes(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scenarios" / "data" / "make_riverton_dem.py"), "--out",
                    str(tmp_path / "dem.asc")], check=True, timeout=60, capture_output=True)  # fmt: skip
    assert (tmp_path / "dem.asc").read_text() == (ROOT / "scenarios" / "data" / "riverton-dem.asc").read_text()


def test_riverton_2d_validates_through_the_cli() -> None:
    result = subprocess.run([sys.executable, "-m", "federation.app.cli", "validate", str(ROOT / "scenarios" / "riverton-2d.yaml")],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "riverton-2d.yaml: ok" in result.stdout


def test_every_bad_parameter_is_reported_at_its_own_line(tmp_path: Path) -> None:
    """Issue 12 item 14 for the 2-D federate: all problems at once, each at its parameter's line."""
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(f"""\
time: {{stop: 60}}
federates:
  flood:
    type: inundation
    params:
      dem: {valley(tmp_path)}
      open_edges: [up]
      map_cells: 1
      scheme: lisflood
""")
    result = subprocess.run([sys.executable, "-m", "federation.app.cli", "validate", str(scenario)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{scenario}:7") and "open_edges: expected a list of north" in lines[0]
    assert lines[1].startswith(f"{scenario}:8") and "map_cells: expected a whole number >= 2, got 1" in lines[1]
    assert lines[2].startswith(f"{scenario}:9") and "scheme: wrong type: must be one of 'swe', 'inertial'" in lines[2]
    assert lines[3].endswith("3 problem(s)")


def test_inundation_in_a_federation_feeds_the_grid_and_the_report_draws_the_map(
        run_scenario: Any, tmp_path: Path) -> None:  # fmt: skip
    """End to end: a formula federate plays a hydrograph into the inundation federate, whose
    depth at a substation trips it in the grid; the report shows the flood map."""
    dem = valley(tmp_path)
    _, store = run_scenario(
        f"""
        name: valley
        time: {{start: 0, stop: 2 h, resolution: 1 s}}
        federates:
          river:
            type: formula
            period: 5 min
            params:
              outputs:
                q: {{expr: "80.0", unit: m3/s}}
          inundation:
            type: inundation
            period: 5 min
            params:
              dem: {dem.name}
              open_edges: [east]
              inflows: {{river: {{line: [[1005, 2240], [1005, 2360]]}}}}
              assets: {{sub: {{x: 1300, y: 2300}}}}
          grid:
            type: grid
            params: {{case: case39, substations: {{sub: {{buses: [16], threshold_m: 0.2}}}}}}
        connections:
          - river.q -> inundation.inflow.river
          - inundation.depth.sub -> grid.depth.sub
        """
    )
    depth = store.series("inundation.depth.sub")
    assert max(depth.values) > 0.2
    assert store.series("grid.energized.sub").values[-1] is False
    report = build_report(store)
    assert "<h2>Flood map</h2>" in report and "inundation.max_depth_map" in report

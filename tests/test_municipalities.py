"""Many municipalities (issue 14): the list of the 98 and a folder of sources per kommunekode, sized from the real
populations, each with a seed of its own."""

from __future__ import annotations

import csv
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from samlet_overblik.core.municipalities import UnknownMunicipality, municipalities, municipality
from samlet_overblik.synthetic.denmark import MIN_CITIZENS, citizens_of, generate_municipalities
from samlet_overblik.synthetic import SOURCE_ORDER

SHARED = Path(__file__).resolve().parents[2] / "shared" / "municipalities.csv"
AS_OF = __import__("datetime").date(2026, 11, 1)


def register(folder: Path) -> list[tuple]:
    with sqlite3.connect(folder / "cpr.sqlite") as con:
        return sorted(con.execute("SELECT * FROM personer").fetchall(), key=repr)


def test_the_list_is_the_98_municipalities_with_their_populations():
    places = municipalities()
    assert len(places) == 98
    assert places["101"].name == "København" and places["851"].name == "Aalborg"
    assert 5_900_000 < sum(p.population for p in places.values()) < 6_100_000
    if SHARED.is_file():  # the shipped copy is the shared list, not a drifting one
        with open(SHARED, encoding="utf-8", newline="") as fh:
            shared = {r["kommunekode"]: (r["navn"], r["region"], int(r["indbyggere"])) for r in csv.DictReader(fh)}
        assert shared == {c: (p.name, p.region, p.population) for c, p in places.items()}


def test_a_kommunekode_is_read_however_it_is_written():
    assert municipality("101") == municipality(101) == municipality("0101") == municipalities()["101"]
    with pytest.raises(UnknownMunicipality, match="ukendt kommunekode '999'"):
        municipality("999")
    with pytest.raises(UnknownMunicipality):
        municipality("../101")


def test_sizes_follow_the_populations_with_a_floor():
    laesoe, kbh = municipality("825"), municipality("101")
    assert citizens_of(kbh, 0.002) == round(kbh.population * 0.002)
    assert citizens_of(laesoe, 0.002) == MIN_CITIZENS
    with pytest.raises(ValueError):
        citizens_of(kbh, 0)


def test_each_municipality_gets_its_own_folder_and_the_same_data_alone(tmp_path):
    both = generate_municipalities(["825", "563"], 0.03, 7, tmp_path / "both", as_of=AS_OF)
    assert [(w["kommunekode"], w["borgere"]) for w in both] == [("825", 50), ("563", 100)]
    for code in ("825", "563"):
        folder = tmp_path / "both" / code
        assert {p.name for p in folder.iterdir()} >= {f"{s}.sqlite" for s in SOURCE_ORDER} | {"ground_truth.parquet"}
    with open(tmp_path / "both" / "municipalities.csv", encoding="utf-8") as fh:
        assert [r["kommunekode"] for r in csv.DictReader(fh)] == ["825", "563"]
    # One municipality generated alone is the same as within many: its seed is its own.
    alone = generate_municipalities(["563"], 0.03, 7, tmp_path / "alone", as_of=AS_OF)
    assert alone[0]["seed"] == both[1]["seed"]
    assert register(tmp_path / "alone" / "563") == register(tmp_path / "both" / "563")
    # Two municipalities are two populations.
    cprs = [{r[0] for r in register(tmp_path / "both" / code)} for code in ("825", "563")]
    assert len(cprs[0] & cprs[1]) <= 1


def test_generate_kommune_from_the_command_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "samlet_overblik.cli", "generate", "--kommune", "825", "--scale",
                          "0.02", "--out", str(tmp_path), "--as-of", "2026-11-01"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "1 municipality, 50 citizens" in out.stdout and (tmp_path / "825" / "cpr.sqlite").is_file()

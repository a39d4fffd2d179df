"""The municipalities one installation may serve, each a tenant identified by its kommunekode.

``pipelines/municipalities.csv`` (``kommunekode,navn,region,indbyggere,aar``: Danmarks Statistik's 98 municipalities
with their population) is the one list: the generator sizes a municipality from it, and a tenant must be on it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from samlet_overblik.core.paths import data_dir, parsed_once


class UnknownMunicipality(ValueError):
    """A kommunekode that is not one of the list's (the message names the code, never data)."""


@dataclass(frozen=True)
class Municipality:
    code: str  # the kommunekode as the list writes it: three digits ("101" København, "851" Aalborg)
    name: str
    region: str
    population: int


def municipalities_file() -> Path:
    return data_dir("pipelines") / "municipalities.csv"


def municipalities() -> dict[str, Municipality]:
    """Every municipality of the list by kommunekode, in the list's order (parsed once per content of the file)."""
    path = municipalities_file()

    def parse() -> dict[str, Municipality]:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        found = {}
        for row in rows:
            code = row["kommunekode"].strip()
            if not (code.isdigit() and len(code) == 3) or code in found:
                raise ValueError(f"{path.name}: kommunekode {code!r} is not three digits or is listed twice")
            found[code] = Municipality(code, row["navn"].strip(), row["region"].strip(), int(row["indbyggere"]))
        return found

    return parsed_once(f"municipalities:{path.resolve()}", [path], parse)


def municipality(code: str | int) -> Municipality:
    """The municipality with kommunekode ``code`` (``"101"``, ``101`` or ``"0101"``); ``UnknownMunicipality`` if none."""
    text = str(code).strip()
    key = text.lstrip("0").zfill(3) if text.isdigit() else text
    found = municipalities().get(key)
    if found is None:
        raise UnknownMunicipality(f"ukendt kommunekode {text[:10]!r} (se {municipalities_file().name})")
    return found

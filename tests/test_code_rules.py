"""Rules about the code itself that a reviewer would otherwise have to remember."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "samlet_overblik"
TESTS = Path(__file__).resolve().parent

# A write into a schema-qualified (warehouse) table that neither names its columns nor says BY NAME: the DDL's
# column order would silently decide where each value lands.
POSITIONAL = re.compile(r"INSERT\s+(?:OR\s+(?:REPLACE|IGNORE)\s+)?INTO\s+[a-z_]+\.[a-z_\"{}]+\s+(?:VALUES|SELECT)\b", re.IGNORECASE)


def test_every_write_into_a_warehouse_table_names_its_columns():
    """In the code and in the tests' fixtures alike (a fixture written against the column order breaks when a
    column is added)."""
    found = []
    for path in [*sorted(SRC.rglob("*.py")), *sorted(p for p in TESTS.glob("*.py") if p.name != Path(__file__).name)]:
        text = path.read_text(encoding="utf-8")
        # String literals split over lines ("INSERT INTO t " "SELECT ..."): join adjacent literals first.
        joined = re.sub(r"\"\s*\n\s*f?\"", "", text)
        for m in POSITIONAL.finditer(joined):
            found.append(f"{path.name}: {m.group(0)}")
    assert not found, "positional writes:\n" + "\n".join(found)


def test_the_check_finds_a_positional_write():
    assert POSITIONAL.search('con.execute("INSERT INTO meta.runs VALUES (?, ?)")')
    assert POSITIONAL.search("INSERT INTO consent.history\n        SELECT a, b FROM x")
    assert not POSITIONAL.search("INSERT INTO meta.runs (run_id, job) VALUES (?, ?)")
    assert not POSITIONAL.search("INSERT INTO unified.interventions BY NAME SELECT * FROM x")
    assert POSITIONAL.search("INSERT OR IGNORE INTO identity.person_links VALUES (?, ?)")

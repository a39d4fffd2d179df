"""The consent watcher reads a large registry whole only when it may have changed.

At 1,000,000 citizens a whole read of the registry takes seconds; a watcher doing that every second keeps a core
busy and slows down the consent_refresh it starts. Between whole reads a tick asks for a content fingerprint
(``ingest.content_fingerprint``) and reuses its last judgement while the registry, the published set, the policy
and the clock (no consent's time limit passed) give no reason to judge again. These tests hold the fingerprint to
its promise on every supported database — any edit changes it; test_consent_readtime holds the watcher to judging
again on every change.
"""

from __future__ import annotations

import time
from datetime import datetime

import pytest
import sqlalchemy as sa

from samlet_overblik.sources import ingest
from samlet_overblik.sources.specs import load_source_specs


SPEC = load_source_specs()["samtykke"]


def _registry_in(url: str) -> sa.Engine:
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    tables = {name: t.sqlalchemy_table(metadata) for name, t in SPEC.tables.items()}
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(tables["samtykke"].insert(), [
            {"samtykke_id": f"S{i}", "version": 1, "cpr": f"01010{i}1234"[:10], "givet_af_cpr": None, "formaal": "x",
             "givet_tid": datetime(2026, 1, 1), "gyldig_til": None, "tilbagekaldt_tid": None, "kanal": "digital",
             "registreret_af": "test", "opdateret_tid": datetime(2026, 1, 1)} for i in range(3)])
        conn.execute(tables["samtykke_omfang"].insert(), [
            {"samtykke_id": f"S{i}", "version": 1, "fra_afdeling": "social_voksen", "til_afdeling": "beskaeftigelse",
             "kategori": "indsats"} for i in range(3)])
    return engine


def _settled(url: str) -> str:
    """The fingerprint once the source has been still long enough to be trusted (SQLite's file stamps)."""
    deadline = time.monotonic() + 10
    while (fp := ingest.content_fingerprint(SPEC, url)) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert fp is not None
    return fp


@pytest.mark.integration
def test_every_edit_changes_the_fingerprint_on_every_database(any_dialect_url):
    url = any_dialect_url
    engine = _registry_in(url)
    try:
        first = _settled(url)
        assert ingest.content_fingerprint(SPEC, url) == first  # nothing changed, nothing read
        edits = [
            # A withdrawal that changes no size, no count and no update stamp (a careless registry).
            "UPDATE samtykke SET tilbagekaldt_tid = givet_tid WHERE samtykke_id = 'S1'",
            # A scope narrowed in place.
            "UPDATE samtykke_omfang SET kategori = 'kontakt' WHERE samtykke_id = 'S2'",
            # A hard delete.
            "DELETE FROM samtykke WHERE samtykke_id = 'S0'",
        ]
        seen = {first}
        for edit in edits:
            with engine.begin() as conn:
                conn.execute(sa.text(edit))
            if url.startswith("sqlite"):
                # Right after a write the file stamps are not trusted: the watcher reads whole.
                assert ingest.content_fingerprint(SPEC, url) is None
            now = _settled(url)
            assert now not in seen, edit
            seen.add(now)
    finally:
        engine.dispose()


def test_an_unreachable_or_unknown_registry_has_no_fingerprint(tmp_path):
    assert ingest.content_fingerprint(SPEC, f"sqlite:///{tmp_path / 'missing.sqlite'}") is None
    assert not (tmp_path / "missing.sqlite").exists()
    assert ingest.content_fingerprint(SPEC, "postgresql+psycopg2://nobody@127.0.0.1:1/none") is None
    assert ingest.content_fingerprint(SPEC, "not a url") is None

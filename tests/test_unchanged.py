"""A municipality with nothing new is not built again (changes.py): its published set is "current" only while
every input a build reads is unchanged and the day is the same; any change, of any input, makes it a build.
The other direction is the one that matters: a withdrawal, a new policy or a new day must never be skipped."""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from samlet_overblik.core.settings import load_settings
from samlet_overblik.core.tenants import for_tenant
from samlet_overblik.runner import run_job
from samlet_overblik import changes
from samlet_overblik.synthetic.denmark import generate_municipalities

CODE = "147"  # Frederiksberg: at scale 0.01 about a thousand citizens, with consents
BUILT_AT = datetime(2026, 11, 1, 12, 0, 0)


def _settle(folder: Path) -> None:
    """Age the generated files past the moment in which a SQLite file's stamps are not trusted yet (a file's stamps
    are part of its fingerprint: touch only the files that are meant to change)."""
    past = time.time() - 60
    for f in folder.rglob("*"):
        os.utime(f, (past, past))


def _settings(sources: Path, root: Path, at: datetime):
    return load_settings(None, sources_dir=sources, env={"SAMLET_TENANTS": CODE, "SAMLET_WAREHOUSE_ROOT": str(root),
                                                           "SAMLET_REFERENCE_TIME": at.isoformat()})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("unchanged")
    sources, root = base / "sources", base / "wh"
    generate_municipalities([CODE], 0.01, 3, sources, as_of=BUILT_AT.date())
    _settle(sources)
    settings = _settings(sources, root, BUILT_AT)
    outcome = run_job(settings, "nightly", partition=CODE)
    assert outcome.success, outcome.failure
    return sources, root


def _verdict(sources: Path, root: Path, at: datetime = BUILT_AT) -> changes.Currency:
    return changes.check(for_tenant(_settings(sources, root, at), CODE))


def test_a_set_built_from_the_same_inputs_the_same_day_is_current(built):
    sources, root = built
    verdict = _verdict(*built, at=BUILT_AT + timedelta(seconds=1))
    assert verdict.current, verdict.reason
    with duckdb.connect(str(root / CODE / "samlet_overblik.duckdb"), read_only=True) as con:
        recorded = dict(con.execute("SELECT input, fingerprint FROM meta.build_inputs WHERE run_id = ?",
                                    [verdict.run_id]).fetchall())
    # Every input the check compares was recorded by the run, none of them unknown.
    assert set(recorded) == {*(f"source:{n}" for n in ("cpr", "samtykke", "boern_familie", "beskaeftigelse",
                                                         "social_voksen", "sundhed_aeldre")),
                             "policy", "steward_decisions", "code", "analytics"}
    assert changes.UNKNOWN not in recorded.values()


def test_a_new_day_is_a_build(built):
    verdict = _verdict(*built, at=BUILT_AT + timedelta(days=1))
    assert not verdict.current and "referencedato" in verdict.reason


def test_a_reference_time_gone_back_is_a_build(built):
    assert not _verdict(*built, at=BUILT_AT - timedelta(minutes=1)).current


def test_another_policy_is_a_build(built, tmp_path, monkeypatch):
    from samlet_overblik.consent.policy import default_policy_path

    edited = tmp_path / "policy.yaml"
    edited.write_text(default_policy_path().read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    monkeypatch.setenv(f"SAMLET_{CODE}_POLICY_FILE", str(edited))
    verdict = _verdict(*built)
    assert not verdict.current and verdict.reason == "ændret: policy"


def test_another_analytics_key_is_a_build(built, monkeypatch):
    monkeypatch.setenv(f"SAMLET_{CODE}_ANALYTICS_KEY", "n" * 40)
    verdict = _verdict(*built)
    assert not verdict.current and verdict.reason == "ændret: analytics"


def test_a_withdrawal_in_the_registry_is_a_build(built):
    sources, root = built
    registry = sources / CODE / "samtykke.sqlite"
    content, stamp = registry.read_bytes(), registry.stat()
    try:
        with sqlite3.connect(registry) as db:
            db.execute("UPDATE samtykke SET tilbagekaldt_tid = ? WHERE rowid = (SELECT min(rowid) FROM samtykke "
                       "WHERE tilbagekaldt_tid IS NULL)", [(BUILT_AT - timedelta(hours=1)).isoformat(sep=" ")])
        past = time.time() - 60
        os.utime(registry, (past, past))
        verdict = _verdict(sources, root)
        assert not verdict.current and verdict.reason == "ændret: source:samtykke"
    finally:  # the very file back, for the other tests of the module
        registry.write_bytes(content)
        os.utime(registry, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))


def test_a_source_gone_is_a_build(built, tmp_path):
    sources, root = built
    gone = sources / CODE / "sundhed_aeldre.sqlite"
    kept = tmp_path / "kept.sqlite"
    gone.rename(kept)
    try:
        verdict = _verdict(sources, root)
        assert not verdict.current and verdict.reason == "ændret: source:sundhed_aeldre"
    finally:
        kept.rename(gone)


def test_a_consent_withdrawn_later_the_same_day_is_a_build(tmp_path):
    """Nothing in the sources changes, but a withdrawal stamped two seconds after a build takes effect between it
    and a check a second later: the set built before it still shares on the consent, so it is not current."""
    sources, root = tmp_path / "sources", tmp_path / "wh"
    generate_municipalities([CODE], 0.01, 4, sources, as_of=BUILT_AT.date())
    with sqlite3.connect(sources / CODE / "samtykke.sqlite") as db:
        db.execute("UPDATE samtykke SET tilbagekaldt_tid = ? WHERE rowid = (SELECT min(rowid) FROM samtykke "
                   "WHERE tilbagekaldt_tid IS NULL)", [(BUILT_AT + timedelta(seconds=2)).isoformat(sep=" ")])
    _settle(sources)
    outcome = run_job(_settings(sources, root, BUILT_AT), "nightly", partition=CODE)
    assert outcome.success, outcome.failure
    assert _verdict(sources, root, at=BUILT_AT + timedelta(seconds=1)).current
    verdict = _verdict(sources, root, at=BUILT_AT + timedelta(seconds=3))
    assert not verdict.current and "tilbagekaldt" in verdict.reason

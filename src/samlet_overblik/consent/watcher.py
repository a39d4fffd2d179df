"""Read-time enforcement: a withdrawal hides the rows at once, then ``consent_refresh`` rebuilds the exports.

The exports are rebuilt in tens of seconds; a withdrawn consent must stop showing before that. A *tick* reads
the consent registry whole (it is small), judges every version at *now* with the very rules a run uses
(``state.evaluate_consents`` over the same staging SQL, in a scratch in-memory DuckDB), and compares the result
with the bases the current exports actually carry. Every (viewer, basis, source department, category) that an
export shows but that is no longer in force is written to ``<warehouse dir>/revocations.json`` (atomically,
owner-only; basis ids and department names, never a CPR). Every lookup surface drops rows whose basis is listed
(``Revocations.hides``). When the registry cannot be read or fails its checks, every consent basis is revoked
(fail closed); legal-basis rows (``lov:``) are not affected.

The same tick serves ``samlet-overblik watch`` (foreground loop; starts ``consent_refresh``) and the Dagster
consent sensor (which requests a ``consent_refresh`` run through the run queue).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from samlet_overblik.sources.specs import consent_registry, departments
from samlet_overblik.core import warehouse as wh
from samlet_overblik.core.sql import column_types, table_exists, tables_in
from samlet_overblik.consent.policy import Policy
from samlet_overblik.consent.state import READS, check_registry, consent_staging_asset, evaluate_consents

REVOCATIONS_FILE = "revocations.json"
# The table of an export that lists every consent basis it carries (written by unified.exports, read here).
CONSENT_BASES = "consent_bases"
_WATCH_RUN = "consent-watcher"


@dataclass(frozen=True)
class Revocations:
    """What lookups must hide now, whatever the exports still hold."""

    all_consents: bool = False
    reason: str | None = None
    entries: frozenset[tuple[str, str, str, str]] = frozenset()  # (viewer, basis, source department, category)
    computed_at: str | None = None
    set_id: str | None = None

    def hides(self, viewer: str, basis: str | None, source_department: str, category: str) -> bool:
        if not basis or not basis.startswith("samtykke:"):
            return False
        return self.all_consents or (viewer, basis, source_department, category) in self.entries


@dataclass
class TickResult:
    revocations: Revocations
    refresh_needed: bool
    digest: str
    granted_not_published: int = 0
    seconds: float = 0.0
    registry_rows: int = 0
    notes: list[str] = field(default_factory=list)


def revocations_path(warehouse: Path) -> Path:
    return warehouse.parent / REVOCATIONS_FILE


_CACHE: dict[str, tuple[tuple[int, int], Revocations]] = {}


def load_revocations(warehouse: Path) -> Revocations:
    """The revocations in force for lookups (none when no watcher has run). Cached by the file's identity."""
    path = revocations_path(warehouse)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return Revocations()
    stamp = (st.st_ino, st.st_mtime_ns)
    cached = _CACHE.get(str(path))
    if cached and cached[0] == stamp:
        return cached[1]
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        rev = Revocations(
            all_consents=bool(doc.get("all_consents")),
            reason=doc.get("reason"),
            entries=frozenset(tuple(e) for e in doc.get("entries", [])),
            computed_at=doc.get("computed_at"),
            set_id=doc.get("set_id"),
        )
    except (OSError, ValueError, TypeError):
        # A damaged revocation file must not reopen anything: hide every consent-based row until it is rewritten.
        rev = Revocations(all_consents=True, reason="revocations_unreadable")
    _CACHE[str(path)] = (stamp, rev)
    return rev


def _write(warehouse: Path, rev: Revocations) -> None:
    wh._write_json(revocations_path(warehouse), {
        "computed_at": rev.computed_at, "set_id": rev.set_id, "all_consents": rev.all_consents, "reason": rev.reason,
        "entries": sorted(list(e) for e in rev.entries),
    })
    _CACHE.pop(str(revocations_path(warehouse)), None)


# The bases an export carries never change (published files are replaced, never rewritten, and a run reuses an
# unchanged export as a hard link): read each file once, keyed by its identity, not once per tick or per set.
_SHOWN_CACHE: dict[tuple[int, int, int, int], pa.Table] = {}


def _published_bases(con: duckdb.DuckDBPyConnection, published: wh.PublishedSet) -> None:
    """``_shown``: every consent basis the current exports carry, per viewer department."""
    con.execute("CREATE OR REPLACE TEMP TABLE _shown (viewer VARCHAR, basis VARCHAR, source_department VARCHAR, category VARCHAR)")
    seen = set()
    for dept in departments():
        path = published.export(dept)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue
        key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        seen.add(key)
        if key not in _SHOWN_CACHE:
            _SHOWN_CACHE[key] = _bases_of_export(con, path)
        con.register("_shown_cached", _SHOWN_CACHE[key])
        con.execute("INSERT INTO _shown SELECT ?, * FROM _shown_cached", [dept])
        con.unregister("_shown_cached")
    for key in set(_SHOWN_CACHE) - seen:
        del _SHOWN_CACHE[key]


def _bases_of_export(con: duckdb.DuckDBPyConnection, path: Path) -> pa.Table:
    con.execute("ATTACH ? AS ex (READ_ONLY)", [str(path)])
    try:
        tables = tables_in(con, "ex.main")
        if CONSENT_BASES in tables:  # written with the export: a few rows instead of every row of the export
            return con.sql(f"SELECT basis, source_department, category FROM ex.{CONSENT_BASES}").to_arrow_table()
        parts = ["SELECT basis, source_department, category FROM ex.interventions"]
        if "coordination_plans" in tables:
            parts.append("SELECT basis, source_department, category FROM ex.coordination_plans")
        if "home_visits" in tables and "basis" in column_types(con, "ex.main.home_visits"):
            parts.append("SELECT basis, department, category FROM ex.home_visits")
        return con.sql(
            f"SELECT DISTINCT * FROM ({' UNION ALL '.join(parts)}) WHERE basis LIKE 'samtykke:%'").to_arrow_table()
    finally:
        con.execute("DETACH ex")


def _read_registry(con: duckdb.DuckDBPyConnection, url: str, now: datetime) -> int:
    """The registry, whole, through the same ingest and staging SQL a run uses; returns its consent rows."""
    from samlet_overblik.sources import ingest, staging

    spec = consent_registry()
    ingest.ingest_source(con, spec, url, _WATCH_RUN, now, full_refresh=True)
    staging.refresh_code_map(con, spec)
    for asset in staging.load_sql_assets("staging"):
        if asset.source_system == spec.name and asset.target in READS:
            staging.run_staging_asset(con, asset, _WATCH_RUN, now)
    return con.execute("SELECT count(*) FROM staging.consents").fetchall()[0][0]


@dataclass(frozen=True)
class _Judgement:
    """The last whole judgement of a registry against a set, and what it stays valid for."""

    fingerprint: str
    set_id: str | None
    policy: str
    judged_at: datetime
    next_boundary: datetime | None  # the next moment a consent changes status by itself (given, withdrawn, expiring)
    read_at: float  # time.monotonic() of the whole read
    result: TickResult
    staged: dict[str, pa.Table] = field(repr=False, compare=False, default_factory=dict)


# Per (warehouse, registry URL). Reading a large registry whole takes seconds; a tick that did so every second
# would keep a core busy and slow down the very consent_refresh it starts. A tick reuses the last judgement while
# the registry's content fingerprint (ingest.content_fingerprint, taken before each whole read), the current set
# and the policy are unchanged, no consent's status changes by the clock, and the last whole read is younger than
# ``consent_sensor.full_read_every_seconds``. Without a trustworthy fingerprint every tick reads whole.
_LAST: dict[tuple[str, str], _Judgement] = {}


def _full_read_every() -> float:
    from samlet_overblik.sources.specs import load_job_settings

    return float((load_job_settings().get("consent_sensor") or {}).get("full_read_every_seconds", 60))


def tick(warehouse: Path, registry_url: str, policy: Policy, now: datetime | None = None,
         full_read_every: float | None = None) -> TickResult:
    """Judge the registry as it is now against what the current set publishes; write the revocations."""
    from samlet_overblik.sources import ingest

    started = time.perf_counter()
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    published = wh.published_set(warehouse)
    if not published.warehouse.is_file():
        return TickResult(Revocations(), False, "", notes=["nothing published yet"])
    key = (str(warehouse.absolute()), registry_url)
    fingerprint = ingest.content_fingerprint(consent_registry(), registry_url)
    last = _LAST.get(key)
    # The registry is as it was at the last whole read (and that read is recent enough to rely on).
    unchanged = (last is not None and fingerprint is not None and last.fingerprint == fingerprint
                 and time.monotonic() - last.read_at < (_full_read_every() if full_read_every is None else full_read_every))
    if (unchanged and last is not None and last.set_id == published.set_id and last.policy == repr(policy)
            and last.judged_at <= now and (last.next_boundary is None or now < last.next_boundary)
            and revocations_path(warehouse).is_file()):
        return replace(last.result, seconds=time.perf_counter() - started, notes=["registry unchanged"])
    # Judged again. When only the set, the policy or the clock changed, the rows staged at the last whole read
    # are judged again (a publish is followed by such a tick: it must not take as long as a whole read).
    staged = last.staged if unchanged and last is not None else None
    _LAST.pop(key, None)
    read_at = last.read_at if staged is not None and last is not None else time.monotonic()
    next_boundary = None
    con = duckdb.connect()
    notes: list[str] = []
    try:
        wh.apply_ddl(con)
        con.execute("ATTACH ? AS pub (READ_ONLY)", [str(published.warehouse)])
        # Custody (who may consent for a child) comes from the person register of the current set.
        con.execute("DROP TABLE staging.cpr_relations")
        con.execute("CREATE TEMP VIEW cpr_relations_pub AS SELECT * FROM pub.staging.cpr_relations")
        con.execute("CREATE VIEW staging.cpr_relations AS SELECT * FROM cpr_relations_pub")
        reason = None
        rows = 0
        try:
            if staged is not None:
                rows = _restore_staged(con, staged)
                notes.append("registry unchanged: staged rows judged again")
            else:
                rows = _read_registry(con, registry_url, now)
                staged = _capture_staged(con)
        except Exception as exc:  # unreachable, unreadable: fail closed at read time
            reason = "registry_unreachable"
            staged = None
            notes.append(type(exc).__name__)
        if reason is None:
            evaluate_consents(con, policy, now)
            reason = _verdict(con, policy, now)
            next_boundary = con.execute(
                """
                SELECT min(t) FROM (
                    SELECT given_at AS t FROM staging.consents
                    UNION ALL SELECT withdrawn_at FROM staging.consents
                    UNION ALL SELECT CAST(valid_until AS TIMESTAMP) + INTERVAL 1 DAY FROM staging.consents
                ) WHERE t > ?
                """, [now]).fetchall()[0][0]
        _published_bases(con, published)
        if reason is not None:
            entries: set = set()
            granted_new = 0
            diff_key = f"closed:{reason}"
        else:
            entries = {tuple(r) for r in con.execute(
                """
                SELECT s.viewer, s.basis, s.source_department, s.category FROM _shown s
                WHERE NOT EXISTS (
                    SELECT 1 FROM consent.effective_grants g
                    WHERE s.basis = 'samtykke:' || g.samtykke_id || '@' || CAST(g.version AS VARCHAR)
                      AND g.from_department = s.source_department AND g.to_department = s.viewer
                      AND g.category = s.category)
                """).fetchall()}
            # Grants in force now that the current set did not know: the exports must follow (no hurry: widening).
            granted_new = con.execute(
                """
                SELECT count(*) FROM (
                    SELECT samtykke_id, version, from_department, to_department, category FROM consent.effective_grants
                    EXCEPT
                    SELECT samtykke_id, version, from_department, to_department, category FROM pub.consent.effective_grants)
                """).fetchall()[0][0]
            diff_key = json.dumps([sorted(entries), granted_new])
        rev = Revocations(all_consents=reason is not None, reason=reason, entries=frozenset(entries),
                          computed_at=now.isoformat(timespec="seconds"), set_id=published.set_id)
    finally:
        con.close()
    _write(warehouse, rev)
    refresh = bool(rev.entries) or (not rev.all_consents and granted_new > 0)
    digest = hashlib.sha256(f"{published.set_id}|{diff_key}".encode()).hexdigest()[:16]
    result = TickResult(rev, refresh, digest, granted_new, time.perf_counter() - started, rows, notes)
    if fingerprint is not None and staged is not None:
        _LAST[key] = _Judgement(fingerprint, published.set_id, repr(policy), now, next_boundary, read_at, result, staged)
    return result


# What a whole read of the registry leaves that the judgement reads: the staged consents and scopes, and the
# quarantined consent rows (a consent with an unreadable version is not used at all).
def _capture_staged(con: duckdb.DuckDBPyConnection) -> dict[str, pa.Table]:
    return {"staging.consents": con.sql("SELECT * FROM staging.consents").to_arrow_table(),
            "staging.consent_scopes": con.sql("SELECT * FROM staging.consent_scopes").to_arrow_table(),
            "quarantine.rejected_rows": con.sql("SELECT * FROM quarantine.rejected_rows WHERE asset = ?",
                                                params=[consent_staging_asset()]).to_arrow_table()}


def _restore_staged(con: duckdb.DuckDBPyConnection, staged: dict[str, pa.Table]) -> int:
    for table, rows in staged.items():
        con.register("_staged", rows)
        try:
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _staged")
        finally:
            con.unregister("_staged")
    return staged["staging.consents"].num_rows


def _verdict(con: duckdb.DuckDBPyConnection, policy: Policy, now: datetime) -> str | None:
    """The registry checks of a run (``state.check_registry``: emptied, shrunk, mostly invalid), against the
    verdicts and registry keys of the current set, as if this tick were the next run."""
    for table in ("run_status", "registry_keys"):
        if table_exists(con, f"pub.consent.{table}"):
            con.execute(f"INSERT INTO consent.{table} BY NAME SELECT * FROM pub.consent.{table}")
    registry = consent_registry()
    con.execute("INSERT INTO meta.source_loads (run_id, source, source_table, status) VALUES (?, ?, ?, 'ok')",
                [_WATCH_RUN, registry.name, next(iter(registry.tables))])
    return check_registry(con, policy, _WATCH_RUN, now).reason


def watch(warehouse: Path, registry_url: str, policy: Policy, *, interval: float, start_refresh,
          report=lambda result: None, once: bool = False, retry_after: float = 120.0) -> None:
    """Tick every ``interval`` seconds; when the exports no longer match the registry, ``start_refresh()``.

    ``start_refresh`` starts ``consent_refresh`` without waiting (a process under ``watch``, a run request
    through the run queue under the Dagster daemon) and returns an object with ``poll()`` (None while it runs).
    A refresh is started once per change (the digest of the difference); the same difference is retried after
    ``retry_after`` seconds (the refresh may have been refused because another run held the warehouse)."""
    running = None
    last_digest, last_started = None, 0.0
    while True:
        began = time.monotonic()
        result = tick(warehouse, registry_url, policy)
        report(result)
        if running is not None and running.poll() is not None:
            running = None
        if result.refresh_needed and running is None and (
                result.digest != last_digest or time.monotonic() - last_started > retry_after):
            running = start_refresh()
            last_digest, last_started = result.digest, time.monotonic()
        if once:
            if running is not None:
                running.wait()
            return
        time.sleep(max(0.0, interval - (time.monotonic() - began)))

"""Whether a municipality's published set is still what a build would make now: the one rule behind skipping a
tenant with nothing new (``run --all-tenants`` builds only the municipalities whose inputs changed).

Every run records, in ``meta.build_inputs`` of the set it builds, a fingerprint of each input *before* it uses it:
each source's content (``ingest.content_fingerprint``, taken before the read), the policy file, the stewards'
decisions, the code and the analytics key and mode. Taken first and used after, a change in between makes the recorded
fingerprint the older one, so the next check sees a difference and builds: the error is always a build too many,
never one too few.

The published set is current only if all of these hold (``check``):

- its newest run is ``ok`` (never degraded, failed closed or without a verdict);
- every input's fingerprint now equals the one its newest run recorded, and none is unknown (a source whose
  content cannot be fingerprinted cheaply, or was not read, is always read again);
- the reference date is the same day as the newest nightly's (ages, periods, windows and signals are judged by
  the date), and the reference time has not gone back;
- no consent was given or withdrawn between the newest run's reference time and now (consent is judged to the
  second), no update stamp passed from the future into the past, and no source crossed its freshness limit.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import duckdb

from samlet_overblik.core import warehouse as wh
from samlet_overblik.core.paths import data_dir
from samlet_overblik.core.settings import Settings
from samlet_overblik.sources import ingest
from samlet_overblik.sources.specs import SourceSpec, load_job_settings, load_source_specs

POLICY = "policy"
STEWARD_DECISIONS = "steward_decisions"
CODE = "code"
ANALYTICS = "analytics"
# Recorded by a run that could not fingerprint an input: never equal to a fingerprint taken now.
UNKNOWN = "unknown"

# What the code is: the package's Python and the shipped folders a run reads (SQL, DDL, specs, suites).
_CODE_FOLDERS = ("assets", "warehouse", "pipelines", "expectations")


def source_input(name: str) -> str:
    return f"source:{name}"


def record(con: duckdb.DuckDBPyConnection, run_id: str, name: str, fingerprint: str | None) -> None:
    """Record what the run is about to use (``None``: could not be fingerprinted, so never taken as unchanged)."""
    con.execute("INSERT OR REPLACE INTO meta.build_inputs (run_id, input, fingerprint) VALUES (?, ?, ?)",
                [run_id, name, fingerprint or UNKNOWN])


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()[:32]


def source_fingerprint(spec: SourceSpec, url: str) -> str | None:
    """A source's content fingerprint (hashed: a SQLite file's stamps or a server's checksums, never a value)."""
    raw = ingest.content_fingerprint(spec, url)
    return _digest(raw) if raw is not None else None


def policy_fingerprint(path: Path | None) -> str | None:
    """The bytes of the policy file a run loads (the shipped one when none is set)."""
    from samlet_overblik.consent.policy import default_policy_path

    try:
        return _digest(Path(path or default_policy_path()).read_bytes())
    except OSError:
        return None


def decisions_fingerprint(decisions: list[dict]) -> str:
    """The stewards' decisions identity linking used (by id and time: a new or replaced decision changes it)."""
    return _digest(*(f"{d.get('decision_id')}|{d.get('decided_at')}" for d in decisions))


@lru_cache(maxsize=1)
def code_version() -> str:
    """The code a process builds with: taken once, when the definitions are loaded (before anything they load is
    used), over the package's Python files and the shipped folders."""
    package = Path(__file__).resolve().parent.parent
    files = sorted(package.rglob("*.py"))
    for folder in _CODE_FOLDERS:
        files += sorted(p for p in data_dir(folder).rglob("*") if p.is_file())
    return _digest(*(part for f in files for part in (f.name, f.read_bytes())))


def analytics_input(tenant: str | None, demo: bool) -> str | None:
    """What the analytics are published with: a keyed digest of the key (it tells a changed key, nothing about the
    key) and whether per-person rows are on; "none" when they are not published (no key); ``None`` for the demo's
    throw-away key, which changes every run."""
    from samlet_overblik.unified import analytics

    try:
        key = analytics.analytics_key(tenant=tenant)
        microdata = analytics.microdata_enabled()
    except analytics.AnalyticsKeyMissing:
        return None if demo else "none"
    except analytics.AnalyticsNotPublished:
        return "none"
    digest = hmac.new(key, b"samlet_overblik build input", hashlib.sha256).hexdigest()[:32]
    return f"{digest}:{'microdata' if microdata else 'aggregates'}"


@dataclass(frozen=True)
class Currency:
    """The verdict on a municipality's published set: ``current`` (and the run that built it) or why not."""

    current: bool
    reason: str
    run_id: str | None = None


def _inputs_now(settings: Settings) -> dict[str, str | None]:
    from samlet_overblik.access import audit

    now: dict[str, str | None] = {source_input(spec.name): source_fingerprint(spec, settings.source_url(spec))
                                  for spec in load_source_specs().values()}
    now[POLICY] = policy_fingerprint(settings.policy_file)
    try:
        decisions = audit.steward_decisions(audit.audit_url(settings.warehouse.parent, settings.tenant))
        now[STEWARD_DECISIONS] = decisions_fingerprint(decisions)
    except audit.AuditUnavailable:
        now[STEWARD_DECISIONS] = None
    now[CODE] = code_version()
    now[ANALYTICS] = analytics_input(settings.tenant, settings.analytics_demo)
    return now


def check(settings: Settings) -> Currency:
    """Whether ``settings``' published set (one municipality's) is still what a build at its reference time (now,
    unless set) would make."""
    published = wh.published_set(settings.warehouse).warehouse
    if not published.is_file():
        return Currency(False, "intet offentliggjort sæt")
    if settings.full_refresh or settings.full_relink:
        return Currency(False, "fuld genopbygning bestilt")
    reference = settings.reference()
    try:
        with duckdb.connect(str(published), read_only=True) as con:
            return _judge(con, settings, reference)
    except duckdb.Error:
        return Currency(False, "det offentliggjorte lager kan ikke læses")


def _judge(con: duckdb.DuckDBPyConnection, settings: Settings, reference: datetime) -> Currency:
    newest = con.execute("SELECT run_id, status, reference_time FROM meta.runs ORDER BY finished_at DESC, run_id "
                         "LIMIT 1").fetchall()
    # A build of everything: the nightly job's run, or a backfill's (Dagster's asset job); not a consent refresh.
    nightly = con.execute("SELECT reference_time FROM meta.runs WHERE job <> 'consent_refresh' "
                          "ORDER BY finished_at DESC LIMIT 1").fetchall()
    if not newest or not nightly:
        return Currency(False, "ingen natlig kørsel i det offentliggjorte sæt")
    run_id, status, last_reference = newest[0]
    if status != "ok":
        return Currency(False, f"seneste kørsel endte som {status}")
    if reference.date() != nightly[0][0].date() or reference < last_reference:
        return Currency(False, "en anden referencedato end seneste natlige kørsel")
    recorded = dict(con.execute(
        "SELECT input, arg_max(b.fingerprint, r.finished_at) FROM meta.build_inputs b "
        "JOIN meta.runs r USING (run_id) GROUP BY input").fetchall())
    for name, fingerprint in _inputs_now(settings).items():
        if fingerprint is None or recorded.get(name) in (None, UNKNOWN) or recorded[name] != fingerprint:
            return Currency(False, f"ændret: {name}")
    between = {"from": last_reference, "to": reference}
    if con.execute("SELECT count(*) FROM staging.consents WHERE given_at > $from AND given_at <= $to "
                   "OR withdrawn_at > $from AND withdrawn_at <= $to", between).fetchall()[0][0]:
        return Currency(False, "et samtykke er givet eller tilbagekaldt siden")
    limits = load_job_settings().get("freshness_hours", {})
    for spec in load_source_specs().values():
        before, passed = ingest.stamp_state(con, spec, last_reference, until=reference)
        if passed:
            return Currency(False, f"et opdateringsstempel i {spec.name} er passeret siden")
        limit = limits.get(spec.name)
        if limit is not None and before is not None and \
                ((last_reference - before).total_seconds() <= limit * 3600) != \
                ((reference - before).total_seconds() <= limit * 3600):
            return Currency(False, f"{spec.name} har passeret sin friskhedsgrænse")
    return Currency(True, "uændret", run_id)

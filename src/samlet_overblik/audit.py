"""The access log: who looked at which citizen, when, why, and how much they saw.

It lives outside the files that runs replace: table ``access_log`` in ``<warehouse dir>/audit.sqlite``
(SQLite in WAL mode, many writers) by default, or any SQLAlchemy URL in ``SAMLET_AUDIT_URL``.
The citizen is recorded by person key, never by CPR. Writing is fail-closed: a lookup whose access
cannot be logged must not be shown (callers let ``AuditUnavailable`` stop the lookup).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

METADATA = sa.MetaData()
ACCESS_LOG = sa.Table(
    "access_log",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("logged_at", sa.DateTime, nullable=False),
    sa.Column("user_id", sa.String(100), nullable=False),
    sa.Column("role", sa.String(40), nullable=False),
    sa.Column("department", sa.String(40)),
    sa.Column("person_key", sa.String(40)),
    sa.Column("purpose", sa.String(200), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("result_count", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String(40), nullable=False),
    # A department other than the user's that the request asked for (a tampering attempt); NULL normally.
    sa.Column("requested_department", sa.String(40)),
)
sa.Index("access_log_person", ACCESS_LOG.c.person_key, ACCESS_LOG.c.logged_at)
sa.Index("access_log_user", ACCESS_LOG.c.user_id, ACCESS_LOG.c.logged_at)

# What ``outcome`` means, in Danish, for the compliance pages.
OUTCOME_NAMES = {
    "shown": "vist",
    "not_found": "ikke fundet",
    "no_visible_records": "ingen poster din afdeling må se",
    "denied_department": "afvist: forespørgsel på anden afdeling",
    "denied_role": "afvist: rollen giver ikke adgang",
    "search": "navnesøgning",
}


class AuditUnavailable(RuntimeError):
    """The access log cannot be written: the lookup is refused."""


def audit_url(warehouse_dir: Path) -> str:
    return os.environ.get("SAMLET_AUDIT_URL") or f"sqlite:///{(warehouse_dir / 'audit.sqlite').resolve()}"


_ENGINES: dict[str, sa.Engine] = {}


def _engine(url: str) -> sa.Engine:
    if url not in _ENGINES:
        engine = sa.create_engine(url)
        if engine.dialect.name == "sqlite":
            @sa.event.listens_for(engine, "connect")
            def _wal(dbapi_conn, _record):  # many processes append at once
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA busy_timeout=5000")
                cur.close()
        METADATA.create_all(engine)
        _migrate(engine)
        _ENGINES[url] = engine
    return _ENGINES[url]


def _migrate(engine: sa.Engine) -> None:
    """Add columns that logs written by older versions lack (the log is never rebuilt)."""
    have = {c["name"] for c in sa.inspect(engine).get_columns("access_log")}
    if "requested_department" not in have:
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE access_log ADD COLUMN requested_department VARCHAR(40)"))


def log_access(
    url: str,
    *,
    user_id: str,
    role: str,
    department: str | None,
    person_key: str | None,
    purpose: str,
    channel: str,
    result_count: int,
    outcome: str = "shown",
    requested_department: str | None = None,
) -> None:
    """Append one row; raises ``AuditUnavailable`` when it cannot be written (the caller must then refuse)."""
    try:
        with _engine(url).begin() as conn:
            conn.execute(
                ACCESS_LOG.insert().values(
                    logged_at=datetime.now(timezone.utc).replace(tzinfo=None),
                    user_id=user_id, role=role, department=department, person_key=person_key,
                    purpose=(purpose or "")[:200], channel=channel[:20], result_count=result_count,
                    outcome=outcome, requested_department=requested_department,
                )
            )
    except Exception as exc:
        _ENGINES.pop(url, None)
        raise AuditUnavailable(f"the access log cannot be written ({type(exc).__name__}); lookup refused") from None


def lookups(url: str, *, person_key: str | None = None, user_id: str | None = None,
            limit: int | None = None) -> list[dict]:
    """Lookups per citizen or per user, newest first (parameterised; raises ``AuditUnavailable`` when unreadable)."""
    q = sa.select(ACCESS_LOG).order_by(ACCESS_LOG.c.logged_at.desc(), ACCESS_LOG.c.id.desc())
    if person_key:
        q = q.where(ACCESS_LOG.c.person_key == person_key)
    if user_id:
        q = q.where(ACCESS_LOG.c.user_id == user_id)
    if limit:
        q = q.limit(limit)
    try:
        with _engine(url).connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]
    except Exception as exc:
        _ENGINES.pop(url, None)
        raise AuditUnavailable(f"the access log cannot be read ({type(exc).__name__})") from None

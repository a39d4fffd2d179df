"""The access log: who looked at which citizen, when, why, and how much they saw; and, beside it, the data
stewards' decisions on record pairs (the same database: both are what a person did, kept outside the files runs
replace, written fail-closed).

It lives outside the files that runs replace: table ``access_log`` in ``<warehouse dir>/audit.sqlite``
by default, or any SQLAlchemy URL in ``SAMLET_AUDIT_URL``.
The citizen is recorded by person key, never by CPR. Writing is fail-closed: a lookup whose access
cannot be logged must not be shown (callers let ``AuditUnavailable`` stop the lookup).

The SQLite file is written so that a row counts only once it is in the file that is on disk *now*: each process
keeps one connection together with a descriptor on the file it opened, checks before every use and after every
commit that the file at the path is still that file (device, inode), and otherwise lets it go, opens the file there
now and writes again. A missing log is created owner-only (0600) from its first byte; SQLite gives its ``-wal``/``-shm``
files the same mode. The threads of a process take turns, and the processes share a lock (``audit.sqlite.lock``: exclusive
to write, shared to read), so a log being recreated never meets a write into the old one.

The purpose of a lookup is one of the policy's ``lookup_purposes`` for the user's role, optionally followed by
``NOTE_SEPARATOR`` and a free-text note in which anything CPR-shaped is masked before it is stored.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import sqlite3
import threading
import time
import urllib.parse
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from samlet_overblik.consent.policy import LOOKUP_ROLES, NOTE_SEPARATOR, lookup_purposes
from samlet_overblik.core.cpr import redact_cpr
from samlet_overblik.core.settings import sqlite_file

log = logging.getLogger("samlet_overblik.audit")

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
# A data steward's decision on a pair of person records; the next run copies it into identity.steward_decisions
# (the warehouse) and honours it above any model score.
STEWARD_DECISIONS = sa.Table(
    "steward_decisions",
    METADATA,
    sa.Column("decision_id", sa.String(40), primary_key=True),
    sa.Column("source_a", sa.String(60), nullable=False),
    sa.Column("table_a", sa.String(60), nullable=False),
    sa.Column("record_id_a", sa.String(100), nullable=False),
    sa.Column("source_b", sa.String(60), nullable=False),
    sa.Column("table_b", sa.String(60), nullable=False),
    sa.Column("record_id_b", sa.String(100), nullable=False),
    sa.Column("decision", sa.String(10), nullable=False),
    sa.Column("decided_by", sa.String(100), nullable=False),
    sa.Column("decided_at", sa.DateTime, nullable=False),
    sa.Column("reason", sa.String(300), nullable=False),
)
# A web lookup's short-lived handle (access/handles.py: post/redirect/get without a CPR number in a URL).
LOOKUP_HANDLES = sa.Table(
    "lookup_handles",
    METADATA,
    sa.Column("handle", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(100), nullable=False),
    sa.Column("view", sa.String(20), nullable=False),
    sa.Column("person_key", sa.String(40)),
    # A name search's words or a compliance lookup's user id (never a CPR number: one the rule accepts is looked up as one).
    sa.Column("search_text", sa.String(100)),
    sa.Column("purpose", sa.String(200), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    # When the lookup was first shown (and logged); a reload within the lifetime is not a new lookup.
    sa.Column("shown_at", sa.DateTime),
)
sa.Index("access_log_user", ACCESS_LOG.c.user_id, ACCESS_LOG.c.logged_at)

MAX_PURPOSE = 200
_LOCK_TIMEOUT_S = 10.0
_WRITE_ATTEMPTS = 3


class AuditUnavailable(RuntimeError):
    """The access log cannot be written: the lookup is refused."""


class BadPurpose(ValueError):
    """The purpose is not one of the policy's lookup purposes (the message never repeats what was typed)."""


# With tenants, SAMLET_AUDIT_URL is a template: each municipality's access log is its own database.
TENANT_PLACEHOLDER = "{kommunekode}"
# The installation's own log (failed logins before a user, and so a municipality, is known) in that template.
INSTALLATION = "installation"


def audit_url(warehouse_dir: Path, tenant: str | None = None) -> str:
    """The access log beside the warehouse (``audit.sqlite``), or ``SAMLET_AUDIT_URL``. ``tenant``: the municipality
    whose log it is, with tenants; their URL must hold ``{kommunekode}`` (one database for all would mix the
    municipalities' logs)."""
    url = os.environ.get("SAMLET_AUDIT_URL")
    if not url:
        return f"sqlite:///{(warehouse_dir / 'audit.sqlite').resolve()}"
    if tenant is None:
        return url.replace(TENANT_PLACEHOLDER, INSTALLATION)
    if TENANT_PLACEHOLDER not in url:
        raise AuditUnavailable(f"with tenants SAMLET_AUDIT_URL must hold {TENANT_PLACEHOLDER}: one access log for "
                               "every municipality would mix them")
    return url.replace(TENANT_PLACEHOLDER, tenant)


# ----------------------------------------------------------------------------------------------- purposes

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def purpose_text(purpose: str | None, note: str | None, allowed: tuple[str, ...]) -> str:
    """The purpose as the access log stores it: one of ``allowed``, then the note (one line, CPR numbers masked)."""
    head = (purpose or "").strip()
    if head not in allowed:
        choices = "; ".join(allowed) if allowed else "ingen for denne rolle"
        raise BadPurpose(f"vælg et formål fra listen ({choices})")
    note = " ".join(_CONTROL.sub(" ", note or "").split())
    if not note:
        return head
    room = MAX_PURPOSE - len(head) - len(NOTE_SEPARATOR)
    return f"{head}{NOTE_SEPARATOR}{redact_cpr(note)[:room].rstrip()}"


def checked_purpose(text: str | None, allowed: tuple[str, ...]) -> str:
    """``text`` (a purpose, optionally with its note after ``NOTE_SEPARATOR``) checked and masked like ``purpose_text``."""
    head, sep, note = (text or "").partition(NOTE_SEPARATOR)
    return purpose_text(head, note if sep else None, allowed)


def _stored_purpose(role: str, purpose: str | None, outcome: str) -> str:
    """What the row may hold: a listed purpose for a lookup by a role that has a list; for a denial the purpose
    if it is a listed one, else nothing; for anything else (no list) the text with CPR numbers masked."""
    if role in LOOKUP_ROLES:
        allowed = lookup_purposes(role)
        if outcome.startswith("denied"):
            try:
                return checked_purpose(purpose, allowed)
            except BadPurpose:
                return ""
        return checked_purpose(purpose, allowed)
    return redact_cpr(" ".join(_CONTROL.sub(" ", purpose or "").split()))[:MAX_PURPOSE]


# ----------------------------------------------------------------------------------------------- the SQLite log


class _FileMoved(Exception):
    """The log file at the path is not the one this write holds open."""


class _SqliteLog:
    """One SQLite log file, used by one thread of this process at a time through one kept connection, checked by
    identity (device, inode) around every use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        # Threads of this process take turns here (a fair wait, no polling), so only one of them at a time waits
        # for the file lock that the other processes share.
        self._turn = threading.Lock()
        # The kept connection and a descriptor on the file it opened: opening a connection (and checkpointing when
        # the last one closes) cost more than a write, so it is kept while the file at the path is that file.
        self.engine: sa.Engine | None = None
        self._held: int | None = None
        # Whether the file's tables have been created or checked through this connection.
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        # mode=rw: SQLite never creates the log itself (it would, with the process umask); _open does, 0600.
        uri = f"file:{urllib.parse.quote(str(self.path))}?mode=rw"
        con = sqlite3.connect(uri, uri=True, timeout=5, check_same_thread=False)
        try:
            con.execute("PRAGMA busy_timeout=5000")
            con.execute("PRAGMA journal_mode=WAL")  # many processes append at once
            con.execute("PRAGMA synchronous=FULL")  # a committed row is on disk
        except BaseException:
            con.close()
            raise
        return con

    @contextmanager
    def _locked(self, shared: bool = False):
        """This process's turn, then a lock shared by every process that uses this log (bounded waits): exclusive
        for writing, shared for reading."""
        deadline = time.monotonic() + _LOCK_TIMEOUT_S
        if not self._turn.acquire(timeout=_LOCK_TIMEOUT_S):
            raise OSError("the access log is busy")
        try:
            while True:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    _flock(fd, deadline, shared)
                    locked = _is_at(fd, self.lock_path)
                except BaseException:
                    os.close(fd)
                    raise
                if locked:
                    break
                os.close(fd)  # the lock file was removed or replaced while we waited: lock the one there now
            try:
                yield
            finally:
                os.close(fd)
        finally:
            self._turn.release()

    def _open(self) -> int:
        """A descriptor on the log file now at the path, created owner-only if missing (lock held).

        Holding it keeps the file's inode alive, so "the same identity" cannot be a new file that happens to reuse
        the number of a deleted one."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            for suffix in ("-wal", "-shm", "-journal"):
                # What is left of a deleted log belongs to that file: SQLite must not apply it to the new one.
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            # Owner-only from the first byte (the umask can only take bits away from 0600).
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        return fd

    def _still_there(self) -> bool:
        return self._held is not None and _is_at(self._held, self.path)

    def _attached(self) -> sa.Engine:
        """The kept connection, on the file at the path now (lock held): a deleted or replaced log is let go and
        the file there now opened (created if missing)."""
        if self.engine is not None and self._still_there():
            return self.engine
        moved = self._held is not None
        self._let_go()
        fd = self._open()
        engine = sa.create_engine("sqlite://", creator=self._connect, poolclass=StaticPool)
        try:
            with engine.connect():
                if not _is_at(fd, self.path):
                    raise _FileMoved()  # replaced between opening it and SQLite opening it
        except BaseException:
            engine.dispose()
            os.close(fd)
            raise
        if moved:
            log.warning("access log %s was removed or replaced while in use; writing to the file now on disk",
                        self.path.name)
        self.engine, self._held = engine, fd
        return engine

    def close(self) -> None:
        """Let the kept connection go (in this process's turn, so no thread is using it)."""
        if not self._turn.acquire(timeout=_LOCK_TIMEOUT_S):
            return  # a thread is stuck in it: left to the garbage collector rather than closed under it
        try:
            self._let_go()
        finally:
            self._turn.release()

    def _let_go(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
        if self._held is not None:
            os.close(self._held)
        self.engine, self._held, self._ready = None, None, False

    def _run(self, work):
        """``work(conn)`` in one transaction on the file at the path (lock held), with the tables there: a file
        that lost them in place (dropped by hand) gets them again, once."""
        for attempt in (1, 2):
            try:
                with self._attached().begin() as conn:
                    if not self._ready:
                        METADATA.create_all(conn)  # a new or replaced file gets its tables
                        _migrate(conn)
                        self._ready = True
                    return work(conn)
            except sa.exc.OperationalError:
                if attempt == 2 or not self._ready:
                    raise
                self._ready = False
        raise AssertionError("unreachable")

    def write(self, *statements) -> None:
        """``statements`` (inserts, updates, deletes) in one transaction, committed to the file on disk now."""
        with self._locked():
            for _ in range(_WRITE_ATTEMPTS):
                try:
                    self._run(lambda conn: [conn.execute(statement) for statement in statements])
                    if self._still_there():  # committed: still the file at the path?
                        self._emptied_wal()
                        return
                except _FileMoved:
                    pass
                # deleted or replaced during the write: the rows went with it; write them again into the new file
        raise OSError("the access log file keeps changing")

    def _emptied_wal(self) -> None:
        """Copy the committed rows into the log file and empty its WAL (lock held). A WAL left full beside the
        file would be read as part of whatever file is next put at the path (a replaced log); an empty one holds
        nothing. (Closing a connection to a log that was deleted or replaced leaves the WAL alone: SQLite
        checkpoints and deletes it on close only while the file is still at its path.)"""
        assert self.engine is not None
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def select(self, query) -> list[dict]:
        if not self.path.exists():
            self.write()  # a missing log is created (owner-only, with its tables) under the exclusive lock
        with self._locked(shared=True):
            return self._run(lambda conn: [dict(r._mapping) for r in conn.execute(query)])


def _is_at(fd: int, path: Path) -> bool:
    """Whether the file open as ``fd`` is the one at ``path`` now (device, inode)."""
    held, there = os.fstat(fd), _stat_or_none(path)
    return there is not None and (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino)


def _stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _flock(fd: int, deadline: float, shared: bool = False) -> None:
    while True:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


class _DatabaseLog:
    """The log in a database server (``SAMLET_AUDIT_URL``, PostgreSQL in production): a pooled engine."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url)
        with self.engine.begin() as conn:
            METADATA.create_all(conn)
            _migrate(conn)

    def close(self) -> None:
        self.engine.dispose()

    def write(self, *statements) -> None:
        with self.engine.begin() as conn:
            for statement in statements:
                conn.execute(statement)

    def select(self, query) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]


_LOGS: dict[str, _SqliteLog | _DatabaseLog] = {}


def database(url: str) -> _SqliteLog | _DatabaseLog:
    """The log's database (the access log, the stewards' decisions and the lookup handles live there)."""
    if url not in _LOGS:
        path = sqlite_file(url)
        _LOGS[url] = _SqliteLog(path) if path is not None else _DatabaseLog(url)
    return _LOGS[url]


def forget(url: str) -> None:
    """After a failure: start afresh next time (the kept connection or a database server's pool is closed, not
    leaked)."""
    old = _LOGS.pop(url, None)
    if old is not None:
        old.close()


@contextmanager
def _failing_closed(url: str, failure: str):
    """Any failure of the log's database becomes ``AuditUnavailable`` saying ``failure`` and the exception's class
    (never its message: it could quote a value), and the next use starts afresh."""
    try:
        yield
    except Exception as exc:
        forget(url)
        raise AuditUnavailable(f"{failure} ({type(exc).__name__})") from None


def write(url: str, *statements, failure: str = "the access log cannot be written") -> None:
    """``statements`` in one transaction, committed to disk before this returns (``AuditUnavailable`` if not)."""
    with _failing_closed(url, failure):
        database(url).write(*statements)


def read(url: str, query, failure: str = "the access log cannot be read") -> list[dict]:
    """The rows of ``query`` as dicts (``AuditUnavailable`` when unreadable)."""
    with _failing_closed(url, failure):
        return database(url).select(query)


def _migrate(conn: sa.Connection) -> None:
    """Add columns that logs written by older versions lack (the log is never rebuilt)."""
    have = {c["name"] for c in sa.inspect(conn).get_columns("access_log")}
    if "requested_department" not in have:
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
    also: tuple = (),
) -> None:
    """Append one row, committed to the log file on disk before this returns (with ``also``, statements that
    belong to the same transaction, e.g. marking a lookup handle as shown).

    Raises ``BadPurpose`` when a lookup's purpose is not one of the policy's for the role (nothing is written),
    and ``AuditUnavailable`` when the row cannot be written (the caller must then refuse)."""
    values = dict(
        logged_at=datetime.now(timezone.utc).replace(tzinfo=None),
        user_id=user_id, role=role, department=department, person_key=person_key,
        purpose=_stored_purpose(role, purpose, outcome), channel=channel[:20], result_count=result_count,
        outcome=outcome,
        requested_department=redact_cpr(requested_department)[:40] if requested_department else None,
    )
    write(url, ACCESS_LOG.insert().values(**values), *also,
          failure="the access log cannot be written; lookup refused")


def failures_since(url: str, user_id: str, outcome: str, since: datetime) -> list[datetime]:
    """When ``user_id`` was refused with ``outcome`` since ``since`` (UTC), oldest first: a limit on failed
    command-line logins that holds across processes (``AuditUnavailable`` when unreadable)."""
    t = ACCESS_LOG.c
    q = sa.select(t.logged_at).where(t.user_id == user_id, t.outcome == outcome,
                                     t.logged_at >= since.astimezone(timezone.utc).replace(tzinfo=None)
                                     ).order_by(t.logged_at)
    return [r["logged_at"] for r in read(url, q)]


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
    return read(url, q)


# ----------------------------------------------------------------------------------------------- steward decisions


def record_steward_decision(url: str, values: dict) -> None:
    """Store one decision (``STEWARD_DECISIONS``'s columns); ``AuditUnavailable`` when it cannot be written."""
    write(url, STEWARD_DECISIONS.insert().values(**values), failure="the decision cannot be stored")


def steward_decisions(url: str) -> list[dict]:
    """Every stored decision, oldest first (``AuditUnavailable`` when unreadable)."""
    return read(url, sa.select(STEWARD_DECISIONS).order_by(STEWARD_DECISIONS.c.decided_at,
                                                           STEWARD_DECISIONS.c.decision_id),
                failure="the stewards' decisions cannot be read")

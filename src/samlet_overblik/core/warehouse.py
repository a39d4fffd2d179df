"""The published set's life cycle: build beside the current set, publish a whole set atomically, roll back.

A *set* is everything one run publishes: the restricted warehouse and every export (one per department plus
analytics), in one folder ``<warehouse dir>/sets/<run id>/``. One symlink, ``<warehouse dir>/current``, names the
set that is current; switching it (``os.replace`` of a symlink) is the one atomic step that publishes a run, so a
reader never sees the warehouse of one run beside an export of another. The documented paths stay as they were,
as symlinks through ``current``::

    <warehouse dir>/samlet_overblik.duckdb -> current/samlet_overblik.duckdb
    <warehouse dir>/exports                -> current/exports
    <warehouse dir>/current                -> sets/<run id>

A run builds in ``sets/.building-<run id>/`` (a copy of the current warehouse, so history carries over), which
nobody reads; a crash leaves the current set untouched and the next run removes every leftover (building
folders, sets that never became current). The last ``keep`` published sets stay for ``rollback``. Readers that
opened a file keep their snapshot (files are replaced, never rewritten). A reader that needs the warehouse and an
export *of the same run* resolves the set once (``published_set``) and opens both from its folder.

Personal data is owner-only from the first byte: every folder here is created 0700 and files 0600 (the process
umask is 077 while building); with an export group configured, exports are opened to that group (0640) only
when the set is published.

One run at a time per warehouse: a second one is refused with a clear message (an advisory lock on
``<name>.lock``); ``rollback`` takes the same lock.
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import grp
import hashlib
import json
import os
import re
import shutil
import signal
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import duckdb

from samlet_overblik.core import cpr
from samlet_overblik.core.paths import data_dir, write_atomically
from samlet_overblik.core.sql import current_database, quoted_identifier, table_exists

SETS = "sets"
CURRENT = "current"
EXPORTS = "exports"
HISTORY = "published_sets.json"
MANIFEST = "set.json"
BUILDING_PREFIX = ".building-"
DEFAULT_KEEP_SETS = 3
OWNER_ONLY_UMASK = 0o077


class RunInProgress(RuntimeError):
    """Another run holds this warehouse."""


class NothingToRollBack(RuntimeError):
    """There is no earlier published set to make current."""


# Locks held by runs of this process, by warehouse path: (run id, open lock file).
_LOCKS: dict[str, tuple[str, int]] = {}


def _fault_point(name: str) -> None:
    """Test hook for crash tests: ``SAMLET_FAULT_KILL=<name>`` kills this process with SIGKILL right here.

    Publishing has steps between which no timing-based kill lands reliably; the crash tests name them."""
    if os.environ.get("SAMLET_FAULT_KILL") == name:
        os.kill(os.getpid(), signal.SIGKILL)


# ------------------------------------------------------------------------------------------------ layout


def sets_dir(warehouse: Path) -> Path:
    return warehouse.parent / SETS


def building_dir(warehouse: Path, run_id: str) -> Path:
    return sets_dir(warehouse) / f"{BUILDING_PREFIX}{run_id}"


def building_path(warehouse: Path, run_id: str) -> Path:
    """The warehouse file a run builds (inside its building folder)."""
    return building_dir(warehouse, run_id) / warehouse.name


def building_exports_dir(warehouse: Path, run_id: str) -> Path:
    """Where a run writes its exports (published with the warehouse as one set)."""
    return building_dir(warehouse, run_id) / EXPORTS


@dataclass(frozen=True)
class PublishedSet:
    """The files of one published set, resolved once (so they all belong to the same run)."""

    set_id: str | None
    warehouse: Path
    exports_dir: Path

    def export(self, name: str) -> Path:
        return self.exports_dir / f"{name}.duckdb"


def published_set(warehouse: Path) -> PublishedSet:
    """The current set's files. Before the first publish with sets (an older layout), the plain paths."""
    current = warehouse.parent / CURRENT
    try:
        target = os.readlink(current)
    except OSError:
        return PublishedSet(None, warehouse, warehouse.parent / EXPORTS)
    folder = (warehouse.parent / target).resolve()
    return PublishedSet(folder.name, folder / warehouse.name, folder / EXPORTS)


def manifest(published: PublishedSet) -> dict:
    """The set's ``set.json`` (empty for the layout before sets or an unreadable file)."""
    try:
        return json.loads((published.warehouse.parent / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def history(warehouse: Path) -> dict:
    """The published sets in publish order and the operator events (rollbacks)."""
    path = warehouse.parent / HISTORY
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        doc = {}
    return {"sets": list(doc.get("sets", [])), "events": list(doc.get("events", []))}


def _write_json(path: Path, doc: dict) -> None:
    """The file is whole or absent (``write_atomically``)."""
    write_atomically(path, json.dumps(doc, indent=1, default=str))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mkdir_private(path: Path) -> None:
    """A folder only the owner can enter: whatever is later created inside is unreachable to others."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def _symlink_atomically(link: Path, target: str) -> None:
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


# ------------------------------------------------------------------------------------------------ locking


def acquire(warehouse: Path, run_id: str) -> None:
    """Take the warehouse for this run (idempotent for the same run)."""
    key = str(warehouse.absolute())
    held = _LOCKS.get(key)
    if held and held[0] == run_id:
        return
    if held:
        # Runs in one process execute one after another: a lock left by an earlier run of this
        # process belongs to a run that ended (failed before publishing).
        release(warehouse)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(warehouse.with_name(warehouse.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunInProgress(busy_message(warehouse)) from None
    _LOCKS[key] = (run_id, fd)


def being_built(warehouse: Path) -> bool:
    """Whether a run (of another process) holds the warehouse now: a look at its lock, which is not kept, so a
    second run is refused at once instead of after its first steps."""
    try:
        fd = os.open(warehouse.with_name(warehouse.name + ".lock"), os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing the descriptor lets go of a lock taken here
    return False


def busy_message(warehouse: Path) -> str:
    return f"en anden kørsel bygger allerede lageret {warehouse.name}; vent til den er færdig, og prøv igen"


def release(warehouse: Path) -> None:
    held = _LOCKS.pop(str(warehouse.absolute()), None)
    if held:
        fcntl.flock(held[1], fcntl.LOCK_UN)
        os.close(held[1])


# ------------------------------------------------------------------------------------------------ building


def _copy_owner_only(source: Path, target: Path) -> None:
    """Copy a file into a new file that is 0600 from its first byte (in the kernel where it can: the warehouse
    is copied at the start of every run)."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
        try:
            size = os.fstat(src.fileno()).st_size
            while os.copy_file_range(src.fileno(), dst.fileno(), 1 << 30) > 0:
                pass
            if os.fstat(dst.fileno()).st_size != size:
                raise OSError("short copy")
        except (OSError, AttributeError):  # no copy_file_range here (another kernel, file system or platform)
            src.seek(0)
            dst.seek(0)
            dst.truncate()
            shutil.copyfileobj(src, dst, 16 * 1024 * 1024)


def remove_leftovers(warehouse: Path) -> list[str]:
    """Remove what killed runs left: building folders, sets that never became current, temporary links.

    Call with the lock held. Published sets named in the history are kept (``prune`` trims them)."""
    removed = []
    folder = sets_dir(warehouse)
    if folder.is_dir():
        current = published_set(warehouse).set_id
        known = set(history(warehouse)["sets"])
        for entry in folder.iterdir():
            if entry.name.startswith(BUILDING_PREFIX) or (entry.name not in known and entry.name != current):
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
                removed.append(entry.name)
    for tmp in warehouse.parent.glob(".*.tmp-*"):
        tmp.unlink(missing_ok=True)
        removed.append(tmp.name)
    for stale in warehouse.parent.glob(f"{warehouse.name}.building-*"):  # the layout before sets
        stale.unlink(missing_ok=True)
        removed.append(stale.name)
    return removed


def start_build(warehouse: Path, run_id: str) -> Path:
    """Prepare (once per run) the building copy of the warehouse and return its path."""
    acquire(warehouse, run_id)
    target = building_path(warehouse, run_id)
    if target.exists():
        return target
    # Everything this process creates from now on (DuckDB files, WAL files, exports) is owner-only.
    os.umask(OWNER_ONLY_UMASK)
    remove_leftovers(warehouse)
    _mkdir_private(sets_dir(warehouse))
    _mkdir_private(target.parent)
    _mkdir_private(target.parent / EXPORTS)
    current = published_set(warehouse).warehouse
    # A first build starts from an empty warehouse with the DDL applied, made once per process: the DDL takes
    # about 0.3 s to apply, which a fan-out of many new municipalities would pay for each.
    _copy_owner_only(current if current.is_file() else empty_warehouse(), target)
    with duckdb.connect(str(target)) as con:
        apply_ddl(con)
    return target


def ddl_digest(text: str | None = None) -> str:
    return _digest_of(ddl_text() if text is None else text)


@functools.lru_cache(maxsize=8)
def _digest_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apply_ddl(con: duckdb.DuckDBPyConnection) -> None:
    """Create what is missing (every statement is idempotent), in one transaction: one commit, not hundreds.
    The CPR macros come first, generated from the one CPR rule (``cpr.sql_macros``): the staging DDL uses them.
    A warehouse that has this very DDL applied (``meta.ddl_applied``, written in the same transaction) is left as
    it is: applying it again changes nothing and costs about 0.3 s per warehouse a run. An empty database (a new
    file, or an in-memory one: the consent watcher's every tick) gets a copy of the empty warehouse's catalog,
    about four times faster than running the DDL and the same catalog (tests/test_warehouse_ddl.py)."""
    text = ddl_text()
    digest = ddl_digest(text)
    applied = _applied_digest(con)
    if applied == digest:
        return
    if applied is None and _is_empty(con):
        con.execute("ATTACH ? AS samlet_empty_warehouse (READ_ONLY)", [str(empty_warehouse(text))])
        try:
            con.execute("COPY FROM DATABASE samlet_empty_warehouse TO " + quoted_identifier(current_database(con)))
        finally:
            con.execute("DETACH samlet_empty_warehouse")
        if _applied_digest(con) == digest:
            return
    _run_ddl(con, text, digest)


def _run_ddl(con: duckdb.DuckDBPyConnection, text: str, digest: str) -> None:
    with transaction(con):
        con.execute(text)
        con.execute("DELETE FROM meta.ddl_applied")
        con.execute("INSERT INTO meta.ddl_applied (digest, applied_at) VALUES (?, now())", [digest])


def _is_empty(con: duckdb.DuckDBPyConnection) -> bool:
    return not con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database()").fetchall()[0][0]


def _applied_digest(con: duckdb.DuckDBPyConnection) -> str | None:
    if not table_exists(con, "meta.ddl_applied"):
        return None
    row = con.execute("SELECT max(digest) FROM meta.ddl_applied").fetchall()
    return row[0][0] if row else None


# The empty warehouse of each DDL digest this process has made (empty_warehouse).
_EMPTY_WAREHOUSES: dict[str, Path] = {}


def empty_warehouse(text: str | None = None) -> Path:
    """A warehouse holding the DDL ``text`` (default: today's) and nothing else, in a private folder of this
    process's (removed at exit); a new municipality's first build starts from a copy of it. Made once per process,
    and again if it went missing (a cleaned /tmp)."""
    text = ddl_text() if text is None else text
    digest = ddl_digest(text)
    path = _EMPTY_WAREHOUSES.get(digest)
    if path is None or not path.is_file():
        folder = Path(tempfile.mkdtemp(prefix="samlet-empty-warehouse-"))
        atexit.register(shutil.rmtree, folder, True)
        path = folder / f"{digest[:16]}.duckdb"
        with duckdb.connect(str(path)) as con:
            _run_ddl(con, text, digest)
        _EMPTY_WAREHOUSES[digest] = path
    return path


def restore_indexes(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Create again the indexes the DDL declares on ``table`` (``schema.name``): a step that replaces a table
    (``CREATE OR REPLACE TABLE``) drops its indexes with it, and lookups would scan it instead."""
    for statement in declared_indexes(table):
        con.execute(statement)


def drop_indexes(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Drop the indexes the DDL declares on ``table`` (before a bulk refill; ``restore_indexes`` afterwards)."""
    schema = table.split(".")[0]
    for statement in declared_indexes(table):
        con.execute(f"DROP INDEX IF EXISTS {schema}.{statement.split()[5]}")


def declared_indexes(table: str) -> list[str]:
    """The DDL's ``CREATE INDEX IF NOT EXISTS ... ON <table> (...)`` statements for ``table``."""
    return list(_indexes_in(ddl_text(), table))


@functools.lru_cache(maxsize=256)
def _indexes_in(text: str, table: str) -> tuple[str, ...]:
    pattern = re.compile(rf"CREATE INDEX IF NOT EXISTS \w+ ON {re.escape(table)} \([^)]*\)", re.IGNORECASE)
    return tuple(pattern.findall(text))


def ddl_text() -> str:
    """The warehouse's DDL as applied: the CPR macros, then ``warehouse/*.sql`` in order. Read again only when a
    file changed: a municipality's staging asked for it three times an asset (its digest, its indexes)."""
    files = sorted(data_dir("warehouse").glob("*.sql"))
    return _ddl_of(tuple((path, path.stat().st_mtime_ns, path.stat().st_size) for path in files))


@functools.lru_cache(maxsize=8)
def _ddl_of(files: tuple[tuple[Path, int, int], ...]) -> str:
    return "\n".join([cpr.sql_macros(), *(path.read_text(encoding="utf-8") for path, _, _ in files)])


@contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All statements in the block commit together or not at all (rolled back on any error)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


# ------------------------------------------------------------------------------------------------ publishing


def _carry_forward(previous: PublishedSet, exports: Path) -> list[str]:
    """Exports this run did not build (consent failed closed, no analytics key) stay as they were: the new set
    holds the previous set's files (hard links: the same bytes; files are never rewritten in place)."""
    carried: list[str] = []
    if previous.set_id is None or not previous.exports_dir.is_dir():
        return carried
    for old in sorted(previous.exports_dir.glob("*.duckdb")):
        new = exports / old.name
        if new.exists():
            continue
        link_or_copy(old, new)
        carried.append(old.name)
    return carried


def _same_files(previous: PublishedSet, exports: Path) -> list[str]:
    if previous.set_id is None or not exports.is_dir():
        return []
    out = []
    for new in sorted(exports.glob("*.duckdb")):
        old = previous.exports_dir / new.name
        if old.is_file() and os.path.samefile(old, new):
            out.append(new.name)
    return out


def link_or_copy(old: Path, new: Path) -> None:
    """``new`` holds the same bytes as a published file: a hard link (files of a set are never rewritten in
    place), or an owner-only copy where the file system refuses links."""
    try:
        os.link(old, new)
    except OSError:
        _copy_owner_only(old, new)


def _open_to_group(folder: Path, group: str) -> None:
    """An export group may read the exports (0640) and enter their folders (0750); the warehouse stays 0600."""
    gid = grp.getgrnam(group).gr_gid
    for path in (folder, folder / EXPORTS):
        os.chown(path, -1, gid)
        os.chmod(path, 0o750)
    for f in (folder / EXPORTS).glob("*.duckdb"):
        os.chown(f, -1, gid)
        os.chmod(f, 0o640)


def _migrate_plain_layout(warehouse: Path) -> None:
    """An installation from before sets has a plain warehouse file and exports folder: they become the first
    entry of the history (so ``rollback`` can return to them) before the paths turn into links."""
    plain_exports = warehouse.parent / EXPORTS
    if not ((warehouse.is_file() and not warehouse.is_symlink()) or (plain_exports.is_dir() and not plain_exports.is_symlink())):
        return
    legacy = sets_dir(warehouse) / f"legacy-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}"
    _mkdir_private(legacy)
    if warehouse.is_file() and not warehouse.is_symlink():
        os.link(warehouse, legacy / warehouse.name)
    if plain_exports.is_dir() and not plain_exports.is_symlink():
        os.rename(plain_exports, legacy / EXPORTS)
    else:
        _mkdir_private(legacy / EXPORTS)
    doc = history(warehouse)
    doc["sets"].append(legacy.name)
    _write_json(warehouse.parent / HISTORY, doc)
    _symlink_atomically(warehouse.parent / CURRENT, f"{SETS}/{legacy.name}")


def _ensure_public_links(warehouse: Path) -> None:
    """The documented paths, as links through ``current`` (created once; they never change after)."""
    for link, target in ((warehouse, f"{CURRENT}/{warehouse.name}"), (warehouse.parent / EXPORTS, f"{CURRENT}/{EXPORTS}")):
        if not (link.is_symlink() and os.readlink(link) == target):
            _symlink_atomically(link, target)


def publish(warehouse: Path, run_id: str, *, status: str = "ok", keep: int = DEFAULT_KEEP_SETS,
            export_group: str | None = None) -> Path:
    """Make the run's warehouse and exports current together (one symlink switch) and end the run."""
    folder = building_dir(warehouse, run_id)
    with duckdb.connect(str(folder / warehouse.name)) as con:
        con.execute("CHECKPOINT")
    leftovers = [p.name for p in folder.rglob("*.wal")]
    if leftovers:  # a WAL would hold data the published file lacks
        raise RuntimeError(f"run {run_id}: unflushed write-ahead log(s) in the building set: {', '.join(leftovers)}")
    _fault_point("publish:before_carry_forward")
    _migrate_plain_layout(warehouse)
    previous = published_set(warehouse)
    reused = _same_files(previous, folder / EXPORTS)
    carried = _carry_forward(previous, folder / EXPORTS)
    _write_json(folder / MANIFEST, {
        "set_id": run_id, "status": status, "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "warehouse": warehouse.name, "exports": sorted(p.name for p in (folder / EXPORTS).glob("*.duckdb")),
        "carried_forward_from": previous.set_id if carried else None, "carried_forward": carried,
        # Exports the run found unchanged (same fingerprint) and took over from the previous set.
        "reused": reused,
    })
    if export_group:
        _open_to_group(folder, export_group)
    _fault_point("publish:before_rename")
    final = sets_dir(warehouse) / run_id
    os.rename(folder, final)
    _fsync_dir(sets_dir(warehouse))
    _fault_point("publish:before_history")
    doc = history(warehouse)
    doc["sets"] = [s for s in doc["sets"] if s != run_id] + [run_id]
    _write_json(warehouse.parent / HISTORY, doc)
    _fault_point("publish:before_switch")
    _symlink_atomically(warehouse.parent / CURRENT, f"{SETS}/{run_id}")  # THE publishing step
    _fsync_dir(warehouse.parent)
    _fault_point("publish:after_switch")
    _ensure_public_links(warehouse)
    prune(warehouse, keep)
    release(warehouse)
    return final


def prune(warehouse: Path, keep: int = DEFAULT_KEEP_SETS) -> list[str]:
    """Keep the current set and the ``keep - 1`` sets published before it; remove the rest."""
    doc = history(warehouse)
    current = published_set(warehouse).set_id
    order = doc["sets"]
    if current not in order:
        return []
    upto = order.index(current)
    kept = order[max(0, upto - max(keep, 1) + 1): upto + 1]
    removed = [s for s in order if s not in kept]
    for name in removed:
        shutil.rmtree(sets_dir(warehouse) / name, ignore_errors=True)
    if removed:
        doc["sets"] = kept
        _write_json(warehouse.parent / HISTORY, doc)
    return removed


def abandon(warehouse: Path, run_id: str) -> None:
    """Drop a run's building folder without publishing (the current set stays as it was)."""
    shutil.rmtree(building_dir(warehouse, run_id), ignore_errors=True)
    release(warehouse)


def rollback(warehouse: Path, actor: str) -> tuple[str, str]:
    """Make the set published before the current one current again; recorded in the history's events."""
    acquire(warehouse, "rollback")
    try:
        doc = history(warehouse)
        current = published_set(warehouse).set_id
        order = doc["sets"]
        if current is None or current not in order or order.index(current) == 0:
            raise NothingToRollBack("there is no earlier published set to roll back to")
        target = order[order.index(current) - 1]
        if not (sets_dir(warehouse) / target / warehouse.name).is_file():
            raise NothingToRollBack(f"the earlier set {target} is incomplete; nothing was changed")
        _symlink_atomically(warehouse.parent / CURRENT, f"{SETS}/{target}")
        _fsync_dir(warehouse.parent)
        doc["events"].append({"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "action": "rollback",
                              "from": current, "to": target, "by": actor})
        _write_json(warehouse.parent / HISTORY, doc)
        return current, target
    finally:
        release(warehouse)

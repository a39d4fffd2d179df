"""The warehouse file's life cycle: build beside the published file, swap it in atomically.

A run copies the published warehouse to ``<name>.building-<run id>`` (so history tables and the raw
copies for incremental loads carry over), rebuilds the layers inside the copy, then ``os.replace``s it
over the published file. Readers that opened the old file keep their snapshot; a crash leaves the
published file untouched and the next run removes the stale building file. One run at a time per
warehouse: a second one is refused with a clear message (an advisory lock on ``<name>.lock``).
"""

from __future__ import annotations

import fcntl
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

from .paths import data_dir


class RunInProgress(RuntimeError):
    """Another run holds this warehouse."""


# Locks held by runs of this process, by warehouse path: (run id, open lock file).
_LOCKS: dict[str, tuple[str, int]] = {}


def building_path(warehouse: Path, run_id: str) -> Path:
    return warehouse.with_name(f"{warehouse.name}.building-{run_id}")


def acquire(warehouse: Path, run_id: str) -> None:
    """Take the warehouse for this run (idempotent for the same run)."""
    key = str(warehouse.resolve())
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
        raise RunInProgress(
            f"another run is building the warehouse {warehouse.name}; wait for it to finish and try again"
        ) from None
    _LOCKS[key] = (run_id, fd)


def release(warehouse: Path) -> None:
    held = _LOCKS.pop(str(warehouse.resolve()), None)
    if held:
        fcntl.flock(held[1], fcntl.LOCK_UN)
        os.close(held[1])


def start_build(warehouse: Path, run_id: str) -> Path:
    """Prepare (once per run) the building copy of the warehouse and return its path."""
    acquire(warehouse, run_id)
    target = building_path(warehouse, run_id)
    if target.exists():
        return target
    for stale in warehouse.parent.glob(f"{warehouse.name}.building-*"):
        stale.unlink(missing_ok=True)  # left by a crashed run: nothing reads building files
    if warehouse.exists():
        shutil.copyfile(warehouse, target)
    with duckdb.connect(str(target)) as con:
        apply_ddl(con)
    os.chmod(target, 0o600)
    return target


def apply_ddl(con: duckdb.DuckDBPyConnection) -> None:
    for path in sorted(data_dir("warehouse").glob("*.sql")):
        con.execute(path.read_text(encoding="utf-8"))


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


def publish(warehouse: Path, run_id: str) -> None:
    """Swap the building copy in as the published warehouse (owner-only file mode) and end the run."""
    source = building_path(warehouse, run_id)
    with duckdb.connect(str(source)) as con:
        con.execute("CHECKPOINT")
    os.chmod(source, 0o600)
    os.replace(source, warehouse)
    release(warehouse)


def abandon(warehouse: Path, run_id: str) -> None:
    """Drop a run's building copy without publishing (the published file stays as it was)."""
    building_path(warehouse, run_id).unlink(missing_ok=True)
    release(warehouse)

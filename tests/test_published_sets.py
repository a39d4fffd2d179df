"""One published set: the warehouse and every export of a run become current together or not at all.

Findings of issue 10 reproduced here (each failed on the commit before the set layout):
- a kill during publishing left a mixed set (one export from the killed run beside the previous warehouse);
- building files of exports (with CPR) were 0644 and never cleaned up;
- a warehouse path containing ``'`` broke the export step.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from samlet_overblik.sources.specs import departments
from samlet_overblik.unified import exports as publish
from samlet_overblik.core import warehouse as wh
from samlet_overblik.synthetic import generate

from pipeline_helpers import run

DEPARTMENTS = departments()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    generate(300, 11, out, noise="default", as_of=date(2026, 11, 1))
    return out


def _set_run_ids(warehouse: Path) -> tuple[str | None, set[str]]:
    """The run id of the current warehouse and the ids of the runs that built its exports, all read through one
    resolved set; every export holds exactly what that warehouse says it should (its fingerprint)."""
    pub = wh.published_set(warehouse)
    with duckdb.connect(str(pub.warehouse), read_only=True) as con:
        latest = con.execute("SELECT run_id FROM meta.runs ORDER BY finished_at DESC LIMIT 1").fetchall()
        expected = publish.export_fingerprints(con)
    exports = set()
    for dept in DEPARTMENTS:
        with duckdb.connect(str(pub.export(dept)), read_only=True) as con:
            run_id, fingerprint = con.execute("SELECT run_id, fingerprint FROM export_info").fetchall()[0]
        assert fingerprint == expected[dept], dept
        exports.add(run_id)
    return (latest[0][0] if latest else None), exports


def _assert_one_consistent_set(warehouse: Path) -> str:
    """Every export and the warehouse belong to one set: built by its run, or unchanged and reused from an earlier
    set (the manifest says so, and the fingerprint matches the set's warehouse)."""
    pub = wh.published_set(warehouse)
    assert pub.set_id is not None
    latest, _ = _set_run_ids(warehouse)
    assert latest == pub.set_id, (latest, pub.set_id)
    manifest = json.loads((pub.warehouse.parent / wh.MANIFEST).read_text())
    for dept in DEPARTMENTS:
        with duckdb.connect(str(pub.export(dept)), read_only=True) as con:
            built_by = con.execute("SELECT run_id FROM export_info").fetchall()[0][0]
        assert built_by == pub.set_id or f"{dept}.duckdb" in manifest["reused"], (dept, built_by, pub.set_id)
    # The documented paths lead to the same set.
    assert warehouse.resolve() == pub.warehouse.resolve()
    for dept in DEPARTMENTS:
        assert (warehouse.parent / "exports" / f"{dept}.duckdb").resolve() == pub.export(dept).resolve()
    return pub.set_id


def _assert_private(path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        mode = stat.S_IMODE(os.lstat(p).st_mode)
        if p.is_symlink():
            continue
        assert mode & 0o077 == 0, f"{p} is {oct(mode)}"


def test_a_run_publishes_a_set_behind_the_documented_paths(tiny, tmp_path):
    warehouse = tmp_path / "it's here" / "samlet_overblik.duckdb"  # a quote in the path must not break anything
    first = run(tiny, warehouse)
    assert _assert_one_consistent_set(warehouse) == first.run_id
    assert warehouse.is_symlink() and (warehouse.parent / "exports").is_symlink()
    manifest = json.loads((wh.published_set(warehouse).warehouse.parent / wh.MANIFEST).read_text())
    assert manifest["set_id"] == first.run_id and manifest["status"] == "ok"
    assert set(manifest["exports"]) >= {f"{d}.duckdb" for d in DEPARTMENTS}
    _assert_private(warehouse.parent / wh.SETS)
    second = run(tiny, warehouse, "consent_refresh")
    assert _assert_one_consistent_set(warehouse) == second.run_id
    assert wh.history(warehouse)["sets"] == [first.run_id, second.run_id]


def test_sets_beyond_keep_are_pruned_and_rollback_returns_to_the_previous(tiny, tmp_path):
    warehouse = tmp_path / "samlet_overblik.duckdb"
    ids = [run(tiny, warehouse, "consent_refresh" if i else "nightly").run_id for i in range(4)]
    assert wh.history(warehouse)["sets"] == ids[-3:]  # keep 3 by default
    assert sorted(p.name for p in (tmp_path / wh.SETS).iterdir()) == sorted(ids[-3:])
    old, new = wh.rollback(warehouse, actor="tester")
    assert (old, new) == (ids[-1], ids[-2])
    assert _assert_one_consistent_set(warehouse) == ids[-2]
    event = wh.history(warehouse)["events"][-1]
    assert event["action"] == "rollback" and event["from"] == ids[-1] and event["to"] == ids[-2] and event["by"] == "tester"
    # The CLI does the same, with a one-line answer; at the oldest set it refuses with one line.
    cli = subprocess.run([sys.executable, "-m", "samlet_overblik.cli", "rollback", "--warehouse", str(warehouse)],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert wh.published_set(warehouse).set_id == ids[-3]
    cli = subprocess.run([sys.executable, "-m", "samlet_overblik.cli", "rollback", "--warehouse", str(warehouse)],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 2 and "no earlier published set" in cli.stderr and "Traceback" not in cli.stderr
    # The next run builds on the rolled-back set and publishes after it.
    nxt = run(tiny, warehouse, "consent_refresh")
    assert _assert_one_consistent_set(warehouse) == nxt.run_id


def test_a_plain_layout_from_before_sets_is_migrated_and_can_be_rolled_back_to(tiny, tmp_path):
    warehouse = tmp_path / "samlet_overblik.duckdb"
    first = run(tiny, warehouse)
    # Rebuild the old layout by hand: a plain warehouse file and a plain exports folder.
    pub = wh.published_set(warehouse)
    for link in (warehouse, tmp_path / "exports", tmp_path / wh.CURRENT):
        link.unlink()
    os.rename(pub.warehouse, warehouse)
    os.rename(pub.exports_dir, tmp_path / "exports")
    for p in (tmp_path / wh.SETS, tmp_path / wh.HISTORY):
        subprocess.run(["rm", "-rf", str(p)], check=True)
    second = run(tiny, warehouse, "consent_refresh")
    assert _assert_one_consistent_set(warehouse) == second.run_id
    wh.rollback(warehouse, actor="tester")
    latest, exports = _set_run_ids(warehouse)
    assert latest == first.run_id and exports == {first.run_id}


def _cli_run(sources: Path, warehouse: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-u", "-m", "samlet_overblik.cli", "run", "--sources", str(sources), "--warehouse", str(warehouse)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
        start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))


def _kill_after_steps(sources: Path, warehouse: Path, steps: int) -> bool:
    """Start a run and SIGKILL it after ``steps`` finished steps; False if it finished first."""
    proc = _cli_run(sources, warehouse)
    seen = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        if "✓" in line or "✗" in line:
            seen += 1
            if seen >= steps:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
    proc.wait()
    return False


PUBLISH_POINTS = ["publish:before_carry_forward", "publish:before_rename", "publish:before_history",
                  "publish:before_switch", "publish:after_switch"]


def _first_run(tiny: Path, warehouse: Path) -> tuple[str, int]:
    """The first run: the set every kill must leave whole, and how many steps to spread the kills over."""
    first = _cli_run(tiny, warehouse)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    published = wh.published_set(warehouse).set_id
    assert published is not None
    return published, sum(1 for line in out.splitlines() if "✓" in line)


# Ten kill points in two tests (mid-run and while publishing), so that two test workers share them.
def test_kill_9_at_five_points_mid_run_leaves_the_previous_set(tiny, tmp_path):
    warehouse = tmp_path / "samlet_overblik.duckdb"
    published, total = _first_run(tiny, warehouse)
    for fraction in (0.1, 0.3, 0.55, 0.8, 0.97):  # ingest, staging, identity/consent, unified, exports
        killed = _kill_after_steps(tiny, warehouse, max(1, int(total * fraction)))
        assert killed
        # Nothing new became current: the previous set, whole.
        assert _assert_one_consistent_set(warehouse) == published
    _assert_private(tmp_path / wh.SETS)


def test_kill_9_at_five_points_while_publishing_leaves_exactly_one_consistent_set(tiny, tmp_path):
    warehouse = tmp_path / "samlet_overblik.duckdb"
    published, _ = _first_run(tiny, warehouse)
    for point in PUBLISH_POINTS:
        proc = _cli_run(tiny, warehouse, {"SAMLET_FAULT_KILL": point})
        proc.communicate(timeout=600)
        assert proc.returncode == -signal.SIGKILL, point
        now = _assert_one_consistent_set(warehouse)
        if point == "publish:after_switch":
            assert now != published  # the switch is the publishing step: done is done
            published = now
        else:
            assert now == published, point
        # The next run succeeds and removes every leftover of the killed one.
        ok = run(tiny, warehouse, "consent_refresh")
        published = _assert_one_consistent_set(warehouse)
        assert published == ok.run_id
        leftovers = [p.name for p in (tmp_path / wh.SETS).iterdir()
                     if p.name.startswith(wh.BUILDING_PREFIX) or p.name not in wh.history(warehouse)["sets"]]
        assert leftovers == [], (point, leftovers)
        assert not list(tmp_path.glob(".*.tmp-*"))
    _assert_private(tmp_path / wh.SETS)


def test_building_files_are_owner_only_from_the_first_byte(tiny, tmp_path):
    """Watch the building folder while a run writes it: no file or folder in it is ever readable by others."""
    warehouse = tmp_path / "samlet_overblik.duckdb"
    run(tiny, warehouse)
    proc = _cli_run(tiny, warehouse)
    seen_files = 0
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        # os.walk passes over a folder that vanishes while it is read (a publish renames the building folder,
        # DuckDB removes its spill folder); rglob would raise.
        for p in (Path(d) / name for d, dirs, files in os.walk(tmp_path / wh.SETS) for name in dirs + files):
            try:
                mode = stat.S_IMODE(os.lstat(p).st_mode)
            except FileNotFoundError:
                continue
            seen_files += 1
            assert mode & 0o077 == 0, f"{p.relative_to(tmp_path)} was {oct(mode)}"
        time.sleep(0.01)
    proc.communicate(timeout=60)
    assert proc.returncode == 0 and seen_files > 0


def test_an_export_group_may_read_the_exports_but_not_the_warehouse(tiny, tmp_path):
    import grp

    from pipeline_helpers import settings_for
    from samlet_overblik.runner import run_job

    group = grp.getgrgid(os.getgid()).gr_name
    warehouse = tmp_path / "samlet_overblik.duckdb"
    settings = settings_for(tiny, warehouse)
    settings.export_group = group
    assert run_job(settings, "nightly").success
    pub = wh.published_set(warehouse)
    assert stat.S_IMODE(os.stat(pub.warehouse).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(pub.warehouse.parent).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(pub.exports_dir).st_mode) == 0o750
    for dept in DEPARTMENTS:
        st = os.stat(pub.export(dept))
        assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_gid == grp.getgrnam(group).gr_gid


def test_exports_built_together_equal_exports_built_one_by_one(tiny, tmp_path):
    """build_exports computes the viewer-independent scope once for all departments (unified.SharedScope);
    each export must hold exactly what building it alone, with its own relations, gives."""
    warehouse = tmp_path / "samlet_overblik.duckdb"
    run(tiny, warehouse)
    pub = wh.published_set(warehouse)
    alone = tmp_path / "alone"
    copy = tmp_path / "copy.duckdb"  # a published set is never written: build beside a copy of its warehouse
    copy.write_bytes(pub.warehouse.read_bytes())
    with duckdb.connect(str(copy)) as con:
        for dept in DEPARTMENTS:
            publish.build_export(con, alone, dept, "alone")
    for dept in DEPARTMENTS:
        with duckdb.connect(str(pub.export(dept)), read_only=True) as con:
            con.execute("ATTACH ? AS alone (READ_ONLY)", [str(alone / f"{dept}.duckdb")])
            tables = [r[0] for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "AND table_name <> 'export_info'").fetchall()]
            assert "family_members" in tables and "consent_bases" in tables
            for table in tables:
                diff = con.execute(f"SELECT count(*) FROM ((SELECT * FROM {table} EXCEPT ALL SELECT * FROM alone.{table}) "
                                   f"UNION ALL (SELECT * FROM alone.{table} EXCEPT ALL SELECT * FROM {table}))").fetchall()
                assert diff == [(0,)], (dept, table)
            assert con.execute("SELECT count(*) FROM family_members").fetchall()[0][0] > 0 or dept != "boern_familie"

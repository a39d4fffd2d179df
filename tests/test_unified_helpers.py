"""Helpers shared by the unified-layer tests (no tests here): hand-made warehouses and a wired job."""

from __future__ import annotations

from datetime import date

import duckdb

from consent_fixtures import REF, RUN, add_person, new_warehouse  # noqa: F401  (re-exported)

REF_DATE = REF.date()  # 2026-06-15


def add_iv(con: duckdb.DuckDBPyConnection, record_id: str, person_key: str, department: str, *, kind: str = "indsats",
           category: str = "indsatser", title: str | None = None, paragraph: str | None = None,
           start: str = "2026-01-01", end: str | None = None, cost: float | None = None, caseworker: str | None = None,
           source_table: str = "indsats") -> None:
    """One staged record of ``department`` for the person (linked through a person record of that department)."""
    con.execute(
        "INSERT INTO staging.interventions (source, source_table, record_id, person_table, person_record_id, department, "
        "category, kind, title, legal_paragraph, start_date, end_date, monthly_cost, caseworker) "
        "VALUES (?, ?, ?, 'person', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [department, source_table, record_id, person_key, department, category, kind, title or f"titel {record_id}",
         paragraph, start, end, cost, caseworker],
    )
    link(con, department, person_key)


def link(con, department: str, person_key: str) -> None:
    con.execute(
        "INSERT OR IGNORE INTO identity.person_links (source, \"table\", record_id, person_key, method, score, run_id) "
        "VALUES (?, 'person', ?, ?, 'cpr_exact', 1.0, ?)",
        [department, person_key, person_key, RUN],
    )


def add_visit(con, record_id: str, person_key: str, department: str, start: str, address: str,
              service_record_id: str | None = None) -> None:
    con.execute(
        "INSERT INTO staging.home_visits (source, source_table, record_id, person_table, person_record_id, service_record_id, "
        "department, visit_start, visit_end, employee, address) VALUES (?, 'visits', ?, 'person', ?, ?, ?, ?, NULL, 'x', ?)",
        [department, record_id, person_key, service_record_id, department, start, address],
    )
    link(con, department, person_key)


def add_plan(con, record_id: str, person_key: str, department: str, coordinator: str, created: str = "2026-02-01") -> None:
    con.execute(
        "INSERT INTO staging.coordination_plans (source, source_table, record_id, person_table, person_record_id, department, "
        "coordinator, created_date) VALUES (?, 'plan', ?, 'person', ?, ?, ?, ?)",
        [department, record_id, person_key, department, coordinator, created],
    )
    link(con, department, person_key)


def add_relation(con, child: str, adult: str, relation: str = "foraeldremyndighed", valid_from: str = "2015-01-01") -> None:
    n = con.execute("SELECT count(*) FROM staging.cpr_relations").fetchall()[0][0]
    con.execute("INSERT INTO staging.cpr_relations (relation_id, child_cpr, related_cpr, relation, valid_from, valid_to) VALUES (?, ?, ?, ?, ?, NULL)", [f"r{n + 1}", child, adult, relation, valid_from])


def build(con, reference: date = REF_DATE, thresholds=None):
    from samlet_overblik.unified import view as unified

    return unified.build_unified(con, reference, thresholds)


def signals(con, rule: str | None = None, table: str = "unified.coordination_signals") -> list[tuple]:
    where = "WHERE signal_id = ?" if rule else ""
    return con.execute(
        f"SELECT signal_id, person_key, signal_date, records FROM {table} {where} ORDER BY ALL", [rule] if rule else []
    ).fetchall()


def record_ids(signal_row) -> set[str]:
    return {r["record_id"] for r in signal_row[3]}


def wired_defs(settings):
    """The code location's definitions, with this run's settings."""
    from samlet_overblik.defs.build import build_defs
    from samlet_overblik.runner import resources_for

    return build_defs(resource_overrides=resources_for(settings))

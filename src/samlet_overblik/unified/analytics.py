"""Management information: ``exports/analytics.duckdb``, aggregates that cannot single anyone out.

- Aggregates by department, flag, age band and district (town of the address in the person register), coordination
  signals by rule and age band, and cost per pathway (the combination of departments a citizen is active in). No
  CPR, names, addresses or caseworkers.
- **Small cells.** Every published count of citizens is 0 or at least ``MIN_CELL`` (primary suppression), and no
  suppressed count can be worked out from what is published (secondary suppression): each table carries its
  totals (rows labelled ``i alt``), and where a total minus the published parts of it, or a count minus a
  published sub-count (citizens minus complex cases), would leave 1..MIN_CELL-1 citizens or pin down one
  suppressed cell, further cells are suppressed until it does not. Costs, intervention and finding counts follow
  the citizen count of their cell (a cost total over few people is one person's cost). Suppressed rows are left
  out, suppressed sub-counts are NULL. Pathways with fewer than ``MIN_CELL`` citizens are pooled as ``andet``
  (with the next smallest pathway while ``andet`` itself would be too small). ``analytics_info`` counts the
  suppressed cells (primary and secondary), nothing else about them.
- **Per-person rows** (``citizen_pathways``: a keyed hash per citizen, pathway, flags, rounded cost) are
  pseudonymised personal data, not management information: published only when ``SAMLET_ANALYTICS_MICRODATA=1``
  (read by ``microdata_enabled``, nowhere else). Person keys are replaced by ``HMAC-SHA256(key, person_key)`` with
  a secret from ``SAMLET_ANALYTICS_KEY`` (at least 16 characters). Without a key nothing is published, except in
  the demo, which opts in with ``demo=True`` and gets a random key for that run only (its hashes do not link
  across runs).
- Everything is computed in DuckDB (the HMAC too: SHA-256 over the padded key blocks) except the choice of cells
  to suppress (``suppress``, over the aggregate counts only), built in a new owner-only file and renamed over the
  old one.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections import defaultdict
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Iterator

import duckdb

KEY_ENV = "SAMLET_ANALYTICS_KEY"
MICRODATA_ENV = "SAMLET_ANALYTICS_MICRODATA"
MIN_KEY_CHARS = 16
MIN_CELL = 5
ANALYTICS_FILE = "analytics.duckdb"
TOTAL = "i alt"
POOLED = "andet"


class AnalyticsNotPublished(RuntimeError):
    """A setting stops analytics from being published (one-line message, no secret or value in it)."""


class AnalyticsKeyMissing(AnalyticsNotPublished):
    """No usable pseudonymisation secret: analytics is not published (one-line message, no secret in it)."""


class AnalyticsSettingInvalid(AnalyticsNotPublished):
    """``SAMLET_ANALYTICS_MICRODATA`` holds something other than an explicit on or off."""


_ON, _OFF = ("1", "true", "yes"), ("", "0", "false", "no")


def microdata_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether per-person rows (``citizen_pathways``) are published: only on an explicit
    ``SAMLET_ANALYTICS_MICRODATA=1``. The one place this setting is read. Anything but a clear on or off is
    refused rather than guessed (a typo must not publish personal data, nor silently drop what was asked for)."""
    env = os.environ if env is None else env
    value = env.get(MICRODATA_ENV, "").strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise AnalyticsSettingInvalid(f"{MICRODATA_ENV} must be 1 (publish per-person rows) or 0 (the default, aggregates only)")


def key_variable(tenant: str | None = None) -> str:
    """The environment variable holding the key: the installation's, or a tenant's own."""
    from samlet_overblik.core.tenants import tenant_variable

    return tenant_variable(tenant, "analytics_key") if tenant else KEY_ENV


def analytics_key(env: Mapping[str, str] | None = None, demo: bool = False, tenant: str | None = None) -> bytes:
    """The HMAC secret from ``SAMLET_ANALYTICS_KEY``; a random per-run key only when ``demo`` is set. With tenants,
    each municipality's own ``SAMLET_<KOMMUNEKODE>_ANALYTICS_KEY``: one key for all would let the pseudonyms of
    different data controllers be joined, so the installation's is never used for a tenant."""
    env = os.environ if env is None else env
    variable = key_variable(tenant)
    value = env.get(variable, "")
    if value:
        if len(value) < MIN_KEY_CHARS:
            raise AnalyticsKeyMissing(f"{variable} is too short: use a random secret of at least {MIN_KEY_CHARS} characters")
        return value.encode("utf-8")
    if demo:
        return secrets.token_bytes(32)
    raise AnalyticsKeyMissing(
        f"{variable} is not set: refusing to publish {ANALYTICS_FILE} without a pseudonymisation secret "
        f"(set it to a random secret of at least {MIN_KEY_CHARS} characters; only the demo runs without one)"
    )


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """The inner and outer padded key blocks of HMAC-SHA256 (RFC 2104), so SQL can compute the HMAC."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    block = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


# HMAC-SHA256(key, person_key) in SQL, hex: H(opad || H(ipad || m)).
HMAC_SQL = "sha256($opad || unhex(sha256($ipad || encode({col}))))"

AGE_BAND_SQL = """
CASE
    WHEN birth_date IS NULL THEN 'ukendt'
    WHEN age < 18 THEN '0-17'
    WHEN age < 30 THEN '18-29'
    WHEN age < 50 THEN '30-49'
    WHEN age < 67 THEN '50-66'
    WHEN age < 80 THEN '67-79'
    ELSE '80+'
END
"""


# ------------------------------------------------------------------------------------------------ suppression


@dataclass
class CountTable:
    """Counts of citizens (of one export, all its tables) and the additive relations between them.

    A cell is a count of citizens; ``published`` is False for a count no column shows but anyone can work out
    from ones that are (citizens minus complex cases: the citizens who are *not* complex cases). A relation says
    that a total is the sum of its parts. Hiding a cell hides the cells in ``drops_with`` too (the other counts of
    a row that is left out)."""

    values: list[int] = field(default_factory=list)
    published: list[bool] = field(default_factory=list)
    relations: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)
    drops_with: dict[int, list[int]] = field(default_factory=dict)
    known_by_rule: set[int] = field(default_factory=set)   # unpublished, yet known to every reader (a rule fixes them)

    def add(self, value: int, published: bool = True) -> int:
        self.values.append(int(value))
        self.published.append(published)
        return len(self.values) - 1

    def relate(self, total: int, parts: list[int]) -> None:
        self.relations.append((total, tuple(parts)))


@dataclass
class Suppression:
    primary: set[int] = field(default_factory=set)     # published cells of 1..min_cell-1 citizens
    secondary: set[int] = field(default_factory=set)   # further cells withheld so that no suppressed cell can be worked out

    @property
    def hidden(self) -> set[int]:
        return self.primary | self.secondary


def _known(table: CountTable, hidden: set[int]) -> dict[int, int | None]:
    """Every cell a reader can work out exactly, with the relation that gives it away (None: published)."""
    known: dict[int, int | None] = {i: None for i, shown in enumerate(table.published) if shown and i not in hidden}
    known.update(dict.fromkeys(table.known_by_rule))
    changed = True
    while changed:
        changed = False
        for ri, (total, parts) in enumerate(table.relations):
            unknown = [m for m in (total, *parts) if m not in known]
            if len(unknown) == 1:
                known[unknown[0]] = ri
                changed = True
    return known


def _disclosures(table: CountTable, hidden: set[int], min_cell: int) -> list[int]:
    """The relations that give something away: a withheld cell (or a small unpublished count) worked out
    exactly, or a known total minus its known parts leaving 1..min_cell-1 citizens."""
    known = _known(table, hidden)
    found: list[int] = []
    for cell, ri in known.items():
        if ri is not None and (table.published[cell] or 0 < table.values[cell] < min_cell):
            found.append(ri)
    for ri, (total, parts) in enumerate(table.relations):
        if total in known:
            rest = sum(table.values[p] for p in parts if p not in known)
            if 0 < rest < min_cell:
                found.append(ri)
    return list(dict.fromkeys(found))


def suppress(table: CountTable, min_cell: int = MIN_CELL) -> Suppression:
    """Primary suppression of every published count in 1..min_cell-1, then secondary suppression until no
    relation gives a suppressed count away (see ``_disclosures``).

    A disclosure is closed by withholding one more published, non-zero cell: first from the relation itself,
    then from relations that share a cell with it, then anywhere; the smallest that closes it, else the smallest
    (and the loop goes on). Each step withholds a cell, so it ends (at worst with everything withheld)."""
    k = min_cell
    n = len(table.values)
    result = Suppression()

    def hide(cell: int, into: set[int]) -> None:
        stack = [cell]
        while stack:
            c = stack.pop()
            if c not in into:
                into.add(c)
                stack.extend(table.drops_with.get(c, ()))

    hidden: set[int] = set()
    for i in range(n):
        if table.published[i] and 0 < table.values[i] < k:
            result.primary.add(i)
            hide(i, hidden)
    relations_of: dict[int, list[int]] = defaultdict(list)
    for ri, (total, parts) in enumerate(table.relations):
        for m in (total, *parts):
            relations_of[m].append(ri)

    while found := _disclosures(table, hidden, k):
        ri = found[0]
        own = [table.relations[ri][0], *table.relations[ri][1]]
        near = [m for c in own for rj in relations_of[c] for m in (table.relations[rj][0], *table.relations[rj][1])]
        tiers = [own, near, range(n)]
        candidates: list[int] = []
        for tier in tiers:
            for c in sorted(dict.fromkeys(tier), key=lambda c: table.values[c]):
                if table.published[c] and c not in hidden and table.values[c] > 0 and c not in candidates:
                    candidates.append(c)
        if not candidates:  # only zeros left to withhold
            candidates = [c for c in range(n) if table.published[c] and c not in hidden]
        if not candidates:
            raise AssertionError("suppression found a disclosure with every cell already withheld")
        chosen = candidates[0]
        for c in candidates:
            trial = set(hidden)
            hide(c, trial)
            if ri not in _disclosures(table, trial, k):
                chosen = c
                break
        hide(chosen, hidden)
    result.secondary = hidden - result.primary
    return result


# ------------------------------------------------------------------------------------------------ building


@dataclass
class AnalyticsResult:
    path: Path
    tables: dict[str, int] = field(default_factory=dict)
    suppressed_primary: int = 0
    suppressed_secondary: int = 0
    microdata: bool = False

    @property
    def suppressed_cells(self) -> int:
        return self.suppressed_primary + self.suppressed_secondary


@contextmanager
def _owner_only_files() -> Iterator[None]:
    """Files created inside (the DuckDB file and its WAL) are 0600 from their first byte. The umask is per
    process: while it is narrowed, other threads' new files are owner-only too (the safe direction)."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def _sql_string(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


# Tables with one level of totals: every row of a group (department, flag, rule) is a part of the group's
# ``i alt`` row. The SQL yields the columns to publish plus _is_total.
GROUPED = {
    "by_department": ("department", "age_band, district", """
        SELECT i.department,
               CASE WHEN grouping(p.age_band) = 1 THEN 'i alt' ELSE p.age_band END AS age_band,
               CASE WHEN grouping(p.district) = 1 THEN 'i alt' ELSE p.district END AS district,
               count(DISTINCT i.person_key) AS citizens,
               count(*) AS active_interventions,
               CAST(round(sum(coalesce(i.monthly_cost, 0)) * 12) AS BIGINT) AS annual_cost_dkk_run_rate,
               grouping(p.age_band) = 1 AS _is_total
        FROM unified.interventions i JOIN _an_people p USING (person_key)
        WHERE i.status = 'aktiv'
        GROUP BY GROUPING SETS ((i.department, p.age_band, p.district), (i.department))
    """),
    "by_flag": ("flag", "age_band, district", """
        SELECT f.flag,
               CASE WHEN grouping(p.age_band) = 1 THEN 'i alt' ELSE p.age_band END AS age_band,
               CASE WHEN grouping(p.district) = 1 THEN 'i alt' ELSE p.district END AS district,
               count(*) AS citizens,
               CAST(round(sum(p.annual_cost_dkk)) AS BIGINT) AS annual_cost_dkk,
               grouping(p.age_band) = 1 AS _is_total
        FROM _an_people p,
             (SELECT unnest(['flag_departments', 'flag_services', 'flag_cost', 'complex_case']) AS flag) f
        WHERE CASE f.flag WHEN 'flag_departments' THEN p.flag_departments WHEN 'flag_services' THEN p.flag_services
                          WHEN 'flag_cost' THEN p.flag_cost ELSE p.complex_case END
        GROUP BY GROUPING SETS ((f.flag, p.age_band, p.district), (f.flag))
    """),
    "signals_by_rule": ("signal_id", "age_band", """
        SELECT s.signal_id,
               CASE WHEN grouping(p.age_band) = 1 THEN 'i alt' ELSE p.age_band END AS age_band,
               count(DISTINCT s.person_key) AS citizens, count(*) AS findings,
               grouping(p.age_band) = 1 AS _is_total
        FROM unified.coordination_signals s JOIN _an_people p USING (person_key)
        GROUP BY GROUPING SETS ((s.signal_id, p.age_band), (s.signal_id))
    """),
}

PATHWAY_SQL = """
    SELECT CASE WHEN grouping(w.pathway) = 1 THEN 'i alt' ELSE w.pathway END AS pathway,
           count(*) AS citizens,
           CAST(round(sum(p.annual_cost_dkk)) AS BIGINT) AS annual_cost_dkk_total,
           CAST(round(avg(p.annual_cost_dkk)) AS BIGINT) AS annual_cost_dkk_mean,
           CAST(round(median(p.annual_cost_dkk)) AS BIGINT) AS annual_cost_dkk_median,
           count(*) FILTER (p.complex_case) AS complex_cases,
           grouping(w.pathway) = 1 AS _is_total
    FROM _an_people p JOIN _an_pathways w USING (raw_pathway)
    GROUP BY GROUPING SETS ((w.pathway), ())
"""


def _pool_pathways(sizes: list[tuple[str, int]], min_cell: int) -> dict[str, str]:
    """raw pathway -> published pathway: rare ones pooled as ``andet``, and while ``andet`` would itself be a
    small cell, the smallest other pathway joins it."""
    pooled = {raw for raw, n in sizes if n < min_cell}
    in_pool = sum(n for raw, n in sizes if raw in pooled)
    rest = sorted((n, raw) for raw, n in sizes if raw not in pooled)
    while 0 < in_pool < min_cell and rest:
        n, raw = rest.pop(0)
        pooled.add(raw)
        in_pool += n
    return {raw: (POOLED if raw in pooled else raw) for raw, _ in sizes}


class _Export:
    """The cells of every aggregate table of one export, as one ``CountTable``: suppression has to see the
    relations *between* tables too, since a reader holds all of them. Within a table: a group's ``i alt`` row is
    the sum of the group's rows; a pathway's citizens are its complex cases plus the rest. Between tables: a
    department's citizens are the citizens of the pathways that contain it plus those of its pooled (``andet``)
    citizens; the flag_departments total likewise over the pathways of at least ``min_departments`` departments;
    the complex cases in total are the same count in by_flag and in cost_per_pathway. The part nobody publishes
    (which of the pooled citizens are in a department) is an unpublished cell, so it is protected like any other."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.cells = CountTable()
        self.rows: dict[str, dict[int, list[int]]] = {}        # table -> _rid -> its cells (citizens first)
        self.totals: dict[str, dict[object, int]] = {}         # table -> group -> cell of its i alt row

    def grouped(self, name: str, group: str, sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE _an_{name} AS SELECT row_number() OVER () AS _rid, * FROM ({sql})")
        rows = self.con.execute(f"SELECT _rid, {group}, _is_total, citizens FROM _an_{name}").fetchall()
        self.rows[name], self.totals[name] = {}, {}
        parts: dict[object, list[int]] = defaultdict(list)
        for rid, key, is_total, citizens in rows:
            cell = self.cells.add(citizens)
            self.rows[name][rid] = [cell]
            if is_total:
                self.totals[name][key] = cell
            else:
                parts[key].append(cell)
        for key, total in self.totals[name].items():
            self.cells.relate(total, parts[key])

    def pathways(self, sql: str, min_departments: int) -> dict[str, tuple[int, int]]:
        """cost_per_pathway; returns pathway -> (citizens cell, complex cases cell), ``i alt`` included. In a
        pathway of at least ``min_departments`` departments every citizen is a complex case (flag_departments),
        so there the citizens who are not are known to be 0."""
        self.con.execute("CREATE OR REPLACE TEMP TABLE _an_cost_per_pathway AS "
                         f"SELECT row_number() OVER () AS _rid, * FROM ({sql})")
        rows = self.con.execute("SELECT _rid, pathway, _is_total, citizens, complex_cases FROM _an_cost_per_pathway").fetchall()
        self.rows["cost_per_pathway"] = {}
        cells: dict[str, tuple[int, int]] = {}
        total, per_row = None, []
        for rid, pathway, is_total, citizens, complex_cases in rows:
            everyone = self.cells.add(citizens)
            complex_ = self.cells.add(complex_cases)
            others = self.cells.add(citizens - complex_cases, published=False)
            flagged = pathway not in (TOTAL, POOLED, "ingen aktive") and len(pathway.split("+")) >= min_departments
            if flagged and citizens == complex_cases:
                self.cells.known_by_rule.add(others)
            self.cells.relate(everyone, [complex_, others])
            self.cells.drops_with[everyone] = [complex_]
            self.rows["cost_per_pathway"][rid] = [everyone, complex_]
            cells[pathway] = (everyone, complex_)
            if is_total:
                total = (everyone, complex_, others)
            else:
                per_row.append((everyone, complex_, others))
        if total is not None:
            for column in range(3):
                self.cells.relate(total[column], [r[column] for r in per_row])
        return cells

    def derived_from_pathways(self, total: int, pathways: list[int], pooled: int | None) -> None:
        """``total`` counts the citizens of ``pathways`` plus some of the pooled ones: how many of the pooled
        citizens are in it, and how many are not, are counts a reader can work out; not published, and protected
        like cells."""
        inside = self.cells.values[total] - sum(self.cells.values[c] for c in pathways)
        inside_cell = self.cells.add(inside, published=False)
        self.cells.relate(total, [*pathways, inside_cell])
        if pooled is not None:
            self.cells.relate(pooled, [inside_cell, self.cells.add(self.cells.values[pooled] - inside, published=False)])

    def link(self, pathway_cells: dict[str, tuple[int, int]], min_departments: int) -> None:
        named = {p: c for p, c in pathway_cells.items() if p not in (TOTAL, POOLED)}
        pooled = pathway_cells[POOLED][0] if POOLED in pathway_cells else None
        departments_of = {p: ([] if p == "ingen aktive" else p.split("+")) for p in named}
        for department, total in self.totals["by_department"].items():
            self.derived_from_pathways(total, [c[0] for p, c in named.items() if department in departments_of[p]], pooled)
        flag_total = self.totals["by_flag"].get("flag_departments")
        if flag_total is not None:
            self.derived_from_pathways(
                flag_total, [c[0] for p, c in named.items() if len(departments_of[p]) >= min_departments], pooled)
        complex_total, everyone_total = self.totals["by_flag"].get("complex_case"), pathway_cells.get(TOTAL)
        if everyone_total is not None:
            if complex_total is not None:
                self.cells.relate(everyone_total[1], [complex_total])
            elif self.cells.values[everyone_total[1]]:
                raise AssertionError("complex cases in cost_per_pathway but not in by_flag")

    def write(self, hidden: set[int], orders: dict[str, str]) -> dict[str, int]:
        """Every table without its withheld rows (and sub-counts), into ``an``; rows per table."""
        counts = {}
        for name, order in orders.items():
            rows = self.rows[name]
            dropped = [rid for rid, cells in rows.items() if cells[0] in hidden]
            nulled = [rid for rid, cells in rows.items() if len(cells) > 1 and cells[1] in hidden]
            keep = "complex_cases" if name == "cost_per_pathway" else None
            select = (f"* EXCLUDE (_rid, _is_total, {keep}), CASE WHEN _rid IN (SELECT unnest($nulled::BIGINT[])) "
                      f"THEN NULL ELSE {keep} END AS {keep}") if keep else "* EXCLUDE (_rid, _is_total)"
            self.con.execute(
                f"CREATE TABLE an.{name} AS SELECT {select} FROM _an_{name} "
                f"WHERE _rid NOT IN (SELECT unnest($dropped::BIGINT[])) ORDER BY {order}",
                {"dropped": dropped, "nulled": nulled} if keep else {"dropped": dropped},
            )
            counts[name] = self.con.execute(f"SELECT count(*) FROM an.{name}").fetchall()[0][0]
        return counts

    def drop(self) -> None:
        for name in self.rows:
            self.con.execute(f"DROP TABLE IF EXISTS _an_{name}")


def build_analytics(
    con: duckdb.DuckDBPyConnection,
    exports_dir: Path,
    run_id: str,
    key: bytes,
    reference: date | None = None,
    min_cell: int = MIN_CELL,
    microdata: bool | None = None,
) -> AnalyticsResult:
    """Write ``exports/analytics.duckdb`` from the unified layer of the (building) warehouse.

    ``microdata`` None: as ``SAMLET_ANALYTICS_MICRODATA`` says (``microdata_enabled``)."""
    if not key:
        raise AnalyticsKeyMissing("an empty pseudonymisation secret is not allowed")
    if microdata is None:
        microdata = microdata_enabled()
    from samlet_overblik.unified.view import settings_of_build

    built_reference, thresholds = settings_of_build(con)
    ref = reference or built_reference
    exports_dir.mkdir(parents=True, exist_ok=True)
    final = exports_dir / ANALYTICS_FILE
    tmp = final.with_name(f"{final.name}.building-{run_id}")
    for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
        leftover.unlink(missing_ok=True)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _an_people AS
        SELECT o.person_key, o.departments, o.n_departments, o.active_services, o.annual_cost_dkk,
               o.flag_departments, o.flag_services, o.flag_cost, o.complex_case,
               coalesce(nullif(array_to_string(o.departments, '+'), ''), 'ingen aktive') AS raw_pathway,
               {AGE_BAND_SQL} AS age_band,
               coalesce(o.town, 'ukendt') AS district
        FROM (SELECT *, date_diff('year', birth_date, CAST($ref AS DATE))
                        - CASE WHEN strftime(CAST($ref AS DATE), '%m%d') < strftime(birth_date, '%m%d') THEN 1 ELSE 0 END AS age
              FROM unified.citizen_overview
              LEFT JOIN (SELECT person_key, cpr FROM identity.person_keys) USING (person_key)
              LEFT JOIN (SELECT cpr, birth_date, town FROM staging.cpr_persons) USING (cpr)) o
        """,
        {"ref": ref},
    )
    export = _Export(con)
    try:
        sizes = con.execute("SELECT raw_pathway, count(*) FROM _an_people GROUP BY 1 ORDER BY 1").fetchall()
        pooling = _pool_pathways(sizes, min_cell)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _an_pathways AS "
            "SELECT unnest($raw::VARCHAR[]) AS raw_pathway, unnest($pooled::VARCHAR[]) AS pathway",
            {"raw": list(pooling), "pooled": list(pooling.values())},
        )
        for name, (group, _, sql) in GROUPED.items():
            export.grouped(name, group, sql)
        export.link(export.pathways(PATHWAY_SQL, thresholds.min_departments), thresholds.min_departments)
        suppression = suppress(export.cells, min_cell)
        primary, secondary = len(suppression.primary), len(suppression.secondary)
        orders = {name: f"{group}, _is_total DESC, {order}" for name, (group, order, _) in GROUPED.items()}
        orders["cost_per_pathway"] = "_is_total DESC, pathway"
        with _owner_only_files():
            con.execute(f"ATTACH {_sql_string(tmp)} AS an")
            try:
                counts = export.write(suppression.hidden, orders)
                if microdata:
                    ipad, opad = hmac_pads(key)
                    con.execute(
                        f"""
                        CREATE TABLE an.citizen_pathways AS
                        SELECT {HMAC_SQL.format(col='p.person_key')} AS person_hash, w.pathway, p.n_departments,
                               p.active_services, CAST(round(p.annual_cost_dkk, -3) AS BIGINT) AS annual_cost_dkk_rounded,
                               p.flag_departments, p.flag_services, p.flag_cost, p.complex_case
                        FROM _an_people p JOIN _an_pathways w USING (raw_pathway)
                        ORDER BY person_hash
                        """,
                        {"ipad": ipad, "opad": opad},
                    )
                    counts["citizen_pathways"] = con.execute("SELECT count(*) FROM an.citizen_pathways").fetchall()[0][0]
                con.execute(
                    """
                    CREATE TABLE an.analytics_info AS
                    SELECT $run_id AS run_id, now()::TIMESTAMP AS published_at, CAST($ref AS DATE) AS reference_date,
                           CAST($k AS INTEGER) AS min_cell,
                           CAST($primary + $secondary AS BIGINT) AS suppressed_cells,
                           CAST($primary AS BIGINT) AS suppressed_primary,
                           CAST($secondary AS BIGINT) AS suppressed_secondary,
                           $microdata AS microdata,
                           CASE WHEN $microdata THEN 'HMAC-SHA256(secret, person_key), hex; the secret is not stored here'
                           END AS person_hash_method
                    """,
                    {"run_id": run_id, "ref": ref, "k": min_cell, "primary": primary, "secondary": secondary,
                     "microdata": microdata},
                )
                for table in ["analytics_info", *counts]:
                    con.execute(f"COMMENT ON TABLE an.{table} IS {_sql_string(_COMMENTS[table])}")
                con.execute("CHECKPOINT an")
            finally:
                con.execute("DETACH an")
    finally:
        export.drop()
        for t in ("_an_people", "_an_pathways"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
    os.replace(tmp, final)
    return AnalyticsResult(final, counts, primary, secondary, microdata)


_COMMENTS = {
    "citizen_pathways": "Per-person rows, published only with SAMLET_ANALYTICS_MICRODATA=1 (pseudonymised personal data): "
                        "keyed hash instead of identity, pathway (departments; rare ones pooled as andet), flags, "
                        "12-month cost rounded to 1,000 DKK.",
    "by_department": "Active records per department, age band and district, with the department total (i alt). "
                     "Counts under min_cell citizens, and cells that would give them away, are left out.",
    "by_flag": "Citizens per Høje-Taastrup flag, age band and district, with the flag total (i alt). "
               "Counts under min_cell citizens, and cells that would give them away, are left out.",
    "cost_per_pathway": "12-month cost per pathway (combination of departments; rare ones pooled as andet) and in "
                        "total (i alt). complex_cases is NULL where it, or citizens minus it, would reveal a count "
                        "under min_cell.",
    "signals_by_rule": "Coordination signals per rule and age band, with the rule total (i alt). "
                       "Counts under min_cell citizens, and cells that would give them away, are left out.",
    "analytics_info": "When and how this file was built: min_cell, suppressed cells (primary, secondary), whether "
                      "per-person rows are included, hash method.",
}

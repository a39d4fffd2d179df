"""Source-system specs: the YAML files in ``pipelines/`` loaded into typed objects.

A spec names a source's tables, their columns and SQL types, primary keys and update stamps, and how the
source is read (``read: incremental``, the default, or ``read: snapshot``: whole every run).
The generator creates tables from it; ingestion reads by it. ``job.yaml``'s ``ingest`` and
``consent_registry`` sections (how sources are read) are loaded here too, type-checked.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
import yaml

from samlet_overblik.core.paths import data_dir, parsed_once
from samlet_overblik.core.settings import source_url_setting
from samlet_overblik.core.vocabulary import categories, department_order, spec_files, spec_names

_TYPE_RE = re.compile(r"^(?P<name>[A-Z]+)(?:\((?P<args>[0-9, ]+)\))?$")


class SpecError(ValueError):
    """A source spec is malformed."""


# Roles a source can play besides holding records: the consent registry decides what may cross a department
# boundary; the person register is the master that identities link to. Exactly one source plays each.
ROLES = ("consent_registry", "person_register")


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: dict[str, str]
    primary_key: tuple[str, ...]
    update_stamp: str | None = None
    person_table: bool = False
    description: str = ""

    def sqlalchemy_table(self, metadata: sa.MetaData) -> sa.Table:
        cols = [
            sa.Column(col, sql_type(typ), primary_key=col in self.primary_key, autoincrement=False)
            for col, typ in self.columns.items()
        ]
        return sa.Table(self.name, metadata, *cols)


@dataclass(frozen=True)
class SourceSpec:
    name: str
    department: str | None
    description: str
    default_file: str
    tables: dict[str, TableSpec] = field(default_factory=dict)
    # Read whole every run (compared by key with the previous copy) instead of incrementally by update stamp.
    snapshot: bool = False
    # "table.column" -> code -> {title, category, legal}: the mapping to the canonical model.
    codes: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    # What the pipeline uses the source for besides its records (``ROLES``); None for a departmental system.
    role: str | None = None

    @property
    def person_table(self) -> str | None:
        """The table whose rows are persons (``person_table: true``), the first one if several."""
        return next((t.name for t in self.tables.values() if t.person_table), None)

    def code_rows(self) -> list[tuple[str, str, str, str | None, str, str | None]]:
        """(source, field, code, title, category, legal paragraph) rows for ``staging.code_map``."""
        return [
            (self.name, fld, code, m.get("title"), m["category"], m.get("legal"))
            for fld, mapping in self.codes.items()
            for code, m in mapping.items()
        ]

    @property
    def url_setting(self) -> str:
        return source_url_setting(self.name)

    def metadata(self) -> sa.MetaData:
        md = sa.MetaData()
        for table in self.tables.values():
            table.sqlalchemy_table(md)
        return md


def varchar_length(declared: str) -> int | None:
    """The n of ``VARCHAR(n)``; None for any other type."""
    m = _TYPE_RE.match(declared.strip().upper())
    if m and m["name"] == "VARCHAR" and m["args"]:
        return int(m["args"].split(",")[0])
    return None


def sql_type(declared: str) -> sa.types.TypeEngine:
    """Map a spec type (``VARCHAR(10)``, ``NUMERIC(12,2)``, ``DATE`` ...) to SQLAlchemy."""
    m = _TYPE_RE.match(declared.strip().upper())
    if not m:
        raise SpecError(f"unknown column type {declared!r}")
    name = m["name"]
    args = [int(a) for a in (m["args"] or "").replace(" ", "").split(",") if a]
    # VARCHAR takes a length, NUMERIC a precision and scale; more numbers are no type either accepts.
    if (name == "VARCHAR" and len(args) > 1) or (name == "NUMERIC" and len(args) > 2):
        raise SpecError(f"unknown column type {declared!r}")
    if name == "VARCHAR":
        return sa.String(args[0] if args else 255)
    if name == "TEXT":
        return sa.Text()
    if name == "INTEGER":
        return sa.Integer()
    if name == "BIGINT":
        return sa.BigInteger()
    if name == "NUMERIC":
        if not args:
            return sa.Numeric(18, 2, asdecimal=True)
        return sa.Numeric(args[0], args[1] if len(args) > 1 else None, asdecimal=True)
    if name == "DATE":
        return sa.Date()
    if name == "TIMESTAMP":
        # MySQL/MariaDB DATETIME drops fractions of a second unless asked for microseconds.
        return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
    if name == "BOOLEAN":
        return sa.Boolean()
    raise SpecError(f"unknown column type {declared!r}")


def load_source_spec(path: Path) -> SourceSpec:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(f"{path.name}: not valid YAML ({exc.problem if hasattr(exc, 'problem') else exc})") from None
    if not isinstance(doc, dict) or "name" not in doc or "tables" not in doc:
        raise SpecError(f"{path.name}: a source spec needs 'name' and 'tables'")
    tables = {}
    for tname, t in doc["tables"].items():
        cols = {str(k): str(v) for k, v in (t.get("columns") or {}).items()}
        pk = tuple(t.get("primary_key") or ())
        missing = [c for c in pk if c not in cols]
        if not cols or not pk or missing:
            raise SpecError(f"{path.name}: table {tname} needs columns and a primary key of its columns")
        stamp = t.get("update_stamp")
        if stamp is not None and stamp not in cols:
            raise SpecError(f"{path.name}: table {tname}: update_stamp {stamp!r} is not a column")
        for typ in cols.values():
            sql_type(typ)
        tables[tname] = TableSpec(
            name=tname,
            columns=cols,
            primary_key=pk,
            update_stamp=stamp,
            person_table=bool(t.get("person_table", False)),
            description=str(t.get("description", "")),
        )
    role = doc.get("role")
    if role is not None and role not in ROLES:
        raise SpecError(f"{path.name}: role must be one of {', '.join(ROLES)}")
    read = doc.get("read", "incremental")
    if read not in ("incremental", "snapshot"):
        raise SpecError(f"{path.name}: read must be incremental or snapshot")
    codes = doc.get("codes") or {}
    known = categories()
    for fld, mapping in codes.items():
        for code, m in (mapping or {}).items():
            if not isinstance(m, dict) or m.get("category") not in known:
                raise SpecError(f"{path.name}: codes.{fld}.{code}: category must be one of {', '.join(known)}")
    return SourceSpec(
        codes={str(f): {str(c): dict(m) for c, m in (mp or {}).items()} for f, mp in codes.items()},
        name=doc["name"],
        department=doc.get("department"),
        description=str(doc.get("description", "")),
        default_file=doc.get("default_file", f"{doc['name']}.sqlite"),
        tables=tables,
        snapshot=read == "snapshot",
        role=role,
    )


def load_source_specs(folder: Path | None = None) -> dict[str, SourceSpec]:
    """All source specs in ``pipelines/`` (every YAML except the job settings), keyed by name (parsed once per
    content of the folder)."""
    folder = folder or data_dir("pipelines")
    paths = spec_files(folder)

    def parse() -> dict[str, SourceSpec]:
        specs = {}
        for path in paths:
            spec = load_source_spec(path)
            specs[spec.name] = spec
        return specs

    return dict(parsed_once(f"specs:{folder.resolve()}", paths, parse))  # the specs themselves are frozen


@dataclass(frozen=True)
class IngestSettings:
    """How sources are read (``job.yaml``: ``ingest`` and ``consent_registry``)."""

    # Incremental reads start this long before the newest update stamp already seen (and never after the start of
    # the read that saw it): rows committed late, or stamped by a clock behind ours, are read again, not missed.
    overlap: timedelta = timedelta(minutes=60)
    # Incrementally read tables up to this many rows compare their key set with the source every run;
    # larger ones when the last comparison is older than key_check_every (so at least every nightly).
    key_check_max_rows: int = 1_000_000
    key_check_every: timedelta = timedelta(hours=20)
    # The consent registry lost more than this share of its consent versions since the last run that trusted it:
    # fail closed (registry_shrunk).
    registry_max_lost_share: float = 0.2


def _number(doc: dict, key: str, where: str, *, integer: bool = False, low: float = 0.0, high: float | None = None):
    value = doc[key]
    # A boolean is not a number (YAML's `true` would otherwise read as 1).
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise SpecError(f"job.yaml: {where}.{key} must be {'an integer' if integer else 'a number'}")
    if value < low or (high is not None and value > high):
        raise SpecError(f"job.yaml: {where}.{key} must be between {low:g} and {high:g}" if high is not None
                        else f"job.yaml: {where}.{key} must be at least {low:g}")
    return value


# The sections of job.yaml and the keys each may hold: a key nobody reads is an error, not a silent no-op. The
# ingest and consent_registry sections are read by load_ingest_settings, thresholds by unified.view.load_thresholds,
# freshness_hours (a limit per source, by name) by the freshness checks.
_JOB_SECTIONS: dict[str, frozenset[str] | None] = {
    "nightly": frozenset({"cron", "timezone"}),
    "consent_sensor": frozenset({"interval_seconds", "full_read_every_seconds"}),
    "retries": frozenset({"max_retries", "delay_seconds"}),
    "identity": frozenset({"full_relink_every_days"}),
    "ingest": None, "consent_registry": None, "thresholds": None, "freshness_hours": None,
}


def _check_job_sections(doc: dict) -> None:
    unknown = set(doc) - set(_JOB_SECTIONS)
    if unknown:
        raise SpecError(f"job.yaml: unknown section(s) {', '.join(sorted(unknown))} "
                        f"(known: {', '.join(sorted(_JOB_SECTIONS))})")
    for section, keys in _JOB_SECTIONS.items():
        value = doc.get(section)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise SpecError(f"job.yaml: {section} must be a mapping")
        if keys is not None and set(value) - keys:
            raise SpecError(f"job.yaml: unknown key(s) {', '.join(sorted(set(value) - keys))} in {section}")
    for key in ("interval_seconds", "full_read_every_seconds"):
        if key in (doc.get("consent_sensor") or {}):
            _number(doc["consent_sensor"], key, "consent_sensor", low=0.001)
    if "full_relink_every_days" in (doc.get("identity") or {}):
        _number(doc["identity"], "full_relink_every_days", "identity")
    retries = doc.get("retries") or {}
    if "max_retries" in retries:
        _number(retries, "max_retries", "retries", integer=True)
    if "delay_seconds" in retries:
        _number(retries, "delay_seconds", "retries")
    freshness = doc.get("freshness_hours") or {}
    unknown_sources = set(freshness) - set(spec_names())
    if unknown_sources:
        raise SpecError(f"job.yaml: freshness_hours names unknown source(s) {', '.join(sorted(unknown_sources))}")
    for name in freshness:
        _number(freshness, name, "freshness_hours", low=0.001)


def load_job_settings(folder: Path | None = None) -> dict:
    path = (folder or data_dir("pipelines")) / "job.yaml"

    def parse() -> dict:
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            raise SpecError(f"{path.name}: not valid YAML") from None
        if not isinstance(doc, dict):
            raise SpecError(f"{path.name}: must be a mapping of sections")
        _check_job_sections(doc)
        return doc

    return copy.deepcopy(parsed_once(f"job:{path.resolve()}", [path], parse))  # callers may edit their copy


def load_ingest_settings(folder: Path | None = None) -> IngestSettings:
    """The ``ingest`` and ``consent_registry`` sections of ``job.yaml``; a missing key keeps its default."""
    doc = load_job_settings(folder)
    ingest, registry = doc.get("ingest") or {}, doc.get("consent_registry") or {}
    if not isinstance(ingest, dict) or not isinstance(registry, dict):
        raise SpecError("job.yaml: ingest and consent_registry must be mappings")
    unknown = (set(ingest) - {"overlap_minutes", "key_check_max_rows", "key_check_hours"}) | (
        set(registry) - {"max_lost_share"})
    if unknown:
        raise SpecError(f"job.yaml: unknown key(s) {', '.join(sorted(unknown))} in ingest / consent_registry")
    d = IngestSettings()
    return IngestSettings(
        overlap=timedelta(minutes=_number(ingest, "overlap_minutes", "ingest")) if "overlap_minutes" in ingest else d.overlap,
        key_check_max_rows=_number(ingest, "key_check_max_rows", "ingest", integer=True)
        if "key_check_max_rows" in ingest else d.key_check_max_rows,
        key_check_every=timedelta(hours=_number(ingest, "key_check_hours", "ingest"))
        if "key_check_hours" in ingest else d.key_check_every,
        registry_max_lost_share=float(_number(registry, "max_lost_share", "consent_registry", high=1.0))
        if "max_lost_share" in registry else d.registry_max_lost_share,
    )


# ------------------------------------------------------------------------------------------------ names from the specs
#
# The sources, the departments and the sources that play a role are read from the specs, never written in code:
# adding a source stays one YAML file (with its staging SQL and suite).


def source_names() -> tuple[str, ...]:
    """Every configured source system, in spec order."""
    return tuple(load_source_specs())


def departments() -> tuple[str, ...]:
    """Every department that owns a source (a spec's ``department:``), in the order of the shipped policy's
    ``departments:`` (how caseworkers are used to seeing them), any department the policy does not list after them."""
    owned = list(dict.fromkeys(s.department for s in load_source_specs().values() if s.department))
    listed = [d for d in department_order() if d in owned]
    return tuple(listed + [d for d in owned if d not in listed])


def _playing(role: str) -> SourceSpec:
    found = [s for s in load_source_specs().values() if s.role == role]
    if len(found) != 1:
        raise SpecError(f"exactly one source spec must have 'role: {role}' (found {len(found)})")
    return found[0]


def consent_registry() -> SourceSpec:
    """The source that is the consent registry (``role: consent_registry``)."""
    return _playing("consent_registry")


def person_register() -> SourceSpec:
    """The source that is the person register (``role: person_register``)."""
    return _playing("person_register")

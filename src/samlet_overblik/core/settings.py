"""Run settings: where the sources and the warehouse are, from a config file or ``SAMLET_*`` variables.

Precedence: explicit arguments > environment (``SAMLET_*``) > config file > defaults.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
import yaml

from samlet_overblik.core.vocabulary import spec_names

DEFAULT_SOURCES_DIR = Path("data/sources")
DEFAULT_WAREHOUSE = Path("warehouse/samlet_overblik.duckdb")


class SettingsError(ValueError):
    """A configuration value is missing or malformed (message is one line, no secrets)."""


class SourceFile(Protocol):
    """What the settings need of a source spec: its name and the SQLite file it defaults to."""

    @property
    def name(self) -> str: ...

    @property
    def default_file(self) -> str: ...


def source_url_setting(name: str) -> str:
    """The environment variable that sets a source's URL (a secret: kept out of the definitions)."""
    return f"SAMLET_SOURCE_{name.upper()}_URL"


@dataclass
class Settings:
    sources_dir: Path = DEFAULT_SOURCES_DIR
    warehouse: Path = DEFAULT_WAREHOUSE
    source_urls: dict[str, str] = field(default_factory=dict)
    reference_time: datetime | None = None
    policy_file: Path | None = None
    full_refresh: bool = False
    # Link every person record again with a newly estimated model (else: only what changed, job.yaml's schedule).
    full_relink: bool = False
    analytics_demo: bool = False
    # Published sets kept for rollback, and a group that may read the exports (none: owner only).
    keep_sets: int = 3
    export_group: str = ""
    # The most memory a run's DuckDB may hold before it spills to disk (in the run's private build folder); empty:
    # DuckDB's own default (80 % of the machine's memory). 2 GB keeps a 1,000,000-citizen nightly near 2 GiB resident
    # at about the same speed (bench/nightly.py).
    memory_limit: str = "2GB"
    # The threads a run's DuckDB works with; None: DuckDB's own default (every core). Runs side by side should share
    # the cores rather than each take them all: two runs of 268,686 citizens at once on 2 cores took 58-60 s with one
    # thread each against 70-73 s with two (bench figures in the closing note of issue 14). The fan-out sets it from
    # its workers when it is not set (fanout.py).
    threads: int | None = None
    # Many municipalities (core.tenants): the kommunekoder this installation serves, and the folder that holds a
    # folder per tenant (<root>/<kommunekode>/samlet_overblik.duckdb). No tenants: one municipality, as always.
    tenants: tuple[str, ...] = ()
    warehouse_root: Path | None = None
    # How many municipalities one run of a backfill may build, one after another (Dagster's backfill policy): a run's
    # fixed cost (a process, the code location, its steps) is paid once for them. A group fails as one; the fan-out
    # then runs its municipalities one by one, so a failing one fails alone.
    tenants_per_run: int = 1
    # Whether the consent sensor starts running with the daemon (its default status; an operator's start or stop in
    # the UI is kept by the instance). Off only in the fan-out's own short-lived instance, which only builds.
    consent_sensor: bool = True
    # Set in one tenant's settings (core.tenants.for_tenant): whose they are.
    tenant: str | None = None

    @property
    def warehouse_dir(self) -> Path:
        return self.warehouse.parent

    @property
    def exports_dir(self) -> Path:
        return self.warehouse_dir / "exports"

    def source_url(self, spec: SourceFile) -> str:
        """The SQLAlchemy URL of a source: configured, else the generated SQLite file."""
        if spec.name in self.source_urls:
            return self.source_urls[spec.name]
        return f"sqlite:///{(self.sources_dir / spec.default_file).resolve()}"

    def reference(self) -> datetime:
        """The run's reference time (naive UTC, as stored in the warehouse)."""
        t = self.reference_time or datetime.now(timezone.utc)
        if t.tzinfo is not None:
            t = t.astimezone(timezone.utc).replace(tzinfo=None)
        return t


def redact_url(url: str) -> str:
    """A URL fit for messages: the password hidden."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def sqlite_file(url: str | sa.URL) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL; None for other databases, in-memory SQLite and ``file:`` URIs."""
    parsed = sa.engine.make_url(url)
    db = parsed.database
    if parsed.get_backend_name() != "sqlite" or not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


def load_settings(
    config_file: Path | None = None,
    *,
    sources_dir: Path | None = None,
    warehouse: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    env = dict(os.environ if env is None else env)
    doc: dict = {}
    config_file = config_file or (Path(env["SAMLET_CONFIG"]) if env.get("SAMLET_CONFIG") else None)
    if config_file is not None:
        if not config_file.is_file():
            raise SettingsError(f"config file not found: {config_file}")
        try:
            doc = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            raise SettingsError(f"config file is not valid YAML: {config_file}") from None
        if not isinstance(doc, dict):
            raise SettingsError(f"config file must be a mapping: {config_file}")
        unknown = set(doc) - {*_SCALARS, "sources", "tenants"}
        if unknown:
            raise SettingsError(f"unknown key(s) in {config_file.name}: {', '.join(sorted(unknown))}")

    s = Settings()
    for key, (_, parse) in _SCALARS.items():
        if doc.get(key) not in (None, ""):  # YAML's false is a value (an on/off setting's off)
            setattr(s, key, parse(str(doc[key])))
    known = spec_names()
    for name, url in (doc.get("sources") or {}).items():
        if name not in known:
            raise SettingsError(f"unknown source in config: {name} (known: {', '.join(sorted(known))})")
        s.source_urls[name] = str(url)

    if doc.get("tenants"):
        s.tenants = _parse_tenants(doc["tenants"])

    for key, (variable, parse) in _SCALARS.items():
        if env.get(variable):
            setattr(s, key, parse(env[variable]))
    if env.get("SAMLET_TENANTS"):
        s.tenants = _parse_tenants(env["SAMLET_TENANTS"])
    for name in known:
        if env.get(source_url_setting(name)):
            s.source_urls[name] = env[source_url_setting(name)]

    if sources_dir is not None:
        s.sources_dir = sources_dir
    if warehouse is not None:
        s.warehouse = warehouse
    return s


def _parse_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise SettingsError(f"reference time is not an ISO timestamp: {text!r}") from None


def _at_least_one(setting: str, what: str = "") -> Callable[[str], int]:
    """A parser of a whole-number setting of at least 1 (``what``: why 1 is the least, for the message)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise SettingsError(f"{setting} must be a whole number: {text!r}") from None
        if value < 1:
            raise SettingsError(f"{setting} must be at least 1{what}")
        return value

    return parse


_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


def _parse_memory(text: str) -> str:
    if text.strip() and not _MEMORY.match(text.strip()):
        raise SettingsError(f"memory_limit must be a size such as 2GB or 1500MiB: {text!r}")
    return text.strip()


def _parse_tenants(value) -> tuple[str, ...]:
    """Kommunekoder as a list or a comma-separated text ("101,147"), each on the municipalities' list, or "all"."""
    from samlet_overblik.core.municipalities import UnknownMunicipality, municipalities, municipality

    if isinstance(value, str) and value.strip().lower() == "all":
        return tuple(municipalities())
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else None
    if items is None:
        raise SettingsError("tenants must be a list of kommunekoder, a comma-separated text or 'all'")
    try:
        codes = [municipality(str(item)).code for item in items if str(item).strip()]
    except UnknownMunicipality as exc:
        raise SettingsError(f"tenants: {exc}") from None
    return tuple(dict.fromkeys(codes))


def _parse_switch(setting: str) -> Callable[[str], bool]:
    """A parser of an on/off setting: on, true, yes, 1 or off, false, no, 0."""
    def parse(text: str) -> bool:
        value = str(text).strip().lower()
        if value in ("on", "true", "yes", "1"):
            return True
        if value in ("off", "false", "no", "0"):
            return False
        raise SettingsError(f"{setting} must be on or off: {text!r}")

    return parse


# Single-valued settings: config-file key -> (environment variable, parser). Sources are handled apart.
_SCALARS: dict[str, tuple[str, Callable[[str], object]]] = {
    "sources_dir": ("SAMLET_SOURCES_DIR", Path),
    "warehouse": ("SAMLET_WAREHOUSE", Path),
    "policy_file": ("SAMLET_POLICY_FILE", Path),
    "reference_time": ("SAMLET_REFERENCE_TIME", _parse_time),
    "keep_sets": ("SAMLET_KEEP_SETS", _at_least_one("keep_sets", " (the current set)")),
    "export_group": ("SAMLET_EXPORT_GROUP", str),
    "memory_limit": ("SAMLET_MEMORY_LIMIT", _parse_memory),
    "threads": ("SAMLET_THREADS", _at_least_one("threads")),
    "warehouse_root": ("SAMLET_WAREHOUSE_ROOT", Path),
    "tenants_per_run": ("SAMLET_TENANTS_PER_RUN", _at_least_one("tenants_per_run")),
    "consent_sensor": ("SAMLET_CONSENT_SENSOR", _parse_switch("consent_sensor")),
}

"""Dagster resources: the warehouse, each source system and the run settings, all from the environment."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from samlet_overblik.core import warehouse as wh
from samlet_overblik.quality import checks as quality
from samlet_overblik.core.settings import DEFAULT_WAREHOUSE, Settings
from samlet_overblik.sources.specs import SourceSpec


# The tags Dagster gives a run of one partition (with tenants: the run's kommunekode), and a run of a range of them
# (a backfill's run of several municipalities: the first and the last, in the partitions' order).
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

NO_PARTITION = "a run for many municipalities needs its partition: one kommunekode of the tenants, or a range of them"

# The municipality a step is working on now, in a run of several (``serving``).
_SERVING: ContextVar[str | None] = ContextVar("samlet_overblik_tenant", default=None)


def run_tenants(tags: Mapping[str, str], ordered: Sequence[str]) -> tuple[str, ...]:
    """The municipalities a run is for, from its tags: its partition, or the range of partitions it covers
    (``ordered``: every tenant in the partitions' order). Empty when the tags name none."""
    if tags.get(PARTITION_TAG):
        return (tags[PARTITION_TAG],)
    order = list(ordered)
    first, last = tags.get(RANGE_START_TAG, ""), tags.get(RANGE_END_TAG, "")
    if first in order and last in order:
        return tuple(order[order.index(first):order.index(last) + 1])
    return ()


@contextmanager
def serving(tenant: str | None) -> Iterator[None]:
    """Point every per-tenant resource at ``tenant`` for the work inside (one municipality of a run's group)."""
    token = _SERVING.set(tenant)
    try:
        yield
    finally:
        _SERVING.reset(token)


class _PerTenant(dg.ConfigurableResource):
    """A resource whose value depends on the tenant a run is for (the run's partition, a kommunekode): ``by_tenant``
    holds every tenant's (from ``core.tenants.for_tenant``, the one rule); empty for one municipality. A run of a
    backfill may cover several municipalities: each step works on one at a time (``serving``)."""

    by_tenant: dict[str, str] = {}
    _tenants: tuple[str, ...] = PrivateAttr(default=())

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.dagster_run
        self._tenants = run_tenants(run.tags, list(self.by_tenant)) if run is not None else ()

    @property
    def tenants(self) -> tuple[str | None, ...]:
        """The run's municipalities, in order; ``(None,)`` for one municipality."""
        if not self.by_tenant:
            return (None,)
        if not self._tenants:  # never nothing done and called a success
            raise dg.Failure(NO_PARTITION)
        return self._tenants

    @property
    def who(self) -> str:
        """A log line's start naming the municipality being worked on (a kommunekode, never data): "kommune 825: "."""
        return f"kommune {self.tenant}: " if self.tenant else ""

    @property
    def tenant(self) -> str | None:
        """The municipality being worked on (None for one municipality)."""
        if not self.by_tenant:
            return None
        return _SERVING.get() or (self._tenants[0] if len(self._tenants) == 1 else None)

    def for_tenant(self, default: str, tenant: str | None = None) -> str:
        """The value for ``tenant`` (default: the one being worked on); ``default`` for one municipality."""
        if not self.by_tenant:
            return default
        tenant = tenant or self.tenant
        if tenant not in self.by_tenant:
            # Never a default for a run of many municipalities: it would read or write another's files.
            raise dg.Failure(NO_PARTITION)
        return self.by_tenant[tenant]


class WarehouseResource(_PerTenant):
    """The DuckDB warehouse: each run builds its own set (warehouse + exports) and publishes it as one."""

    path: str = str(DEFAULT_WAREHOUSE)
    # Published sets kept for rollback (the current one included).
    keep_sets: int = wh.DEFAULT_KEEP_SETS
    # A group that may read the department exports (0640); empty: owner only.
    export_group: str = ""
    # DuckDB's memory limit for a run (settings.memory_limit); empty: DuckDB's default.
    memory_limit: str = ""
    # DuckDB's threads for a run (settings.threads); 0: DuckDB's default.
    threads: int = 0
    _held: dict[str, duckdb.DuckDBPyConnection] = PrivateAttr(default_factory=dict)

    @property
    def published(self) -> Path:
        return self.published_of(None)

    def published_of(self, tenant: str | None) -> Path:
        return Path(self.for_tenant(self.path, tenant))

    def building(self, run_id: str) -> Path:
        return wh.start_build(self.published, run_id)

    def building_exports(self, run_id: str) -> Path:
        """Where this run writes its exports (published together with its warehouse)."""
        self.building(run_id)
        return wh.building_exports_dir(self.published, run_id)

    def connect(self, run_id: str) -> duckdb.DuckDBPyConnection:
        """A connection to the run's building copy (the municipality being served's). The first one stays open for
        the run: a DuckDB file opened again reads its catalog again (about 40 ms, sixty-odd times per municipality
        a run), while a connection to a file this process holds open costs nothing."""
        path = str(self.building(run_id))
        config: dict[str, str | bool | int | float | list[str]] = (
            {"memory_limit": self.memory_limit} if self.memory_limit else {})
        if self.threads:
            config["threads"] = self.threads
        if path not in self._held:
            self._held[path] = duckdb.connect(path, config=config)
        return duckdb.connect(path, config=config)

    def let_go(self, run_id: str) -> None:
        """Close the building copy held open for the run (the municipality being served's): before it is published
        (its last changes checkpointed into the file) or dropped."""
        held = self._held.pop(str(wh.building_path(self.published, run_id)), None)
        if held is not None:
            held.close()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        for held in self._held.values():
            held.close()
        self._held.clear()


class LineageResource(_PerTenant):
    """OpenLineage (quality/openlineage.py): START for each municipality of the run as the run starts; the
    publishing step reports COMPLETE and the failure hook FAIL. Sends nothing unless OpenLineage is configured."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        super().setup_for_execution(context)
        run = context.dagster_run
        if run is None or (self.by_tenant and not self._tenants):
            return  # no partition: the run fails before it starts anything
        from samlet_overblik.quality import openlineage

        for tenant in self.tenants:
            openlineage.started(run.run_id, openlineage.job_name(run.job_name, run.tags), tenant)


class ValidationResource(dg.ConfigurableResource):
    """Great Expectations for the suites' asset checks. Importing it and building its context take seconds, so a run
    that will validate starts that in the background as it starts (reading the sources leaves a core free)."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        quality.preload_in_background()

    def run_suite(self, con: duckdb.DuckDBPyConnection, suite: quality.Suite, run_id: str) -> quality.SuiteOutcome:
        return quality.validate_suite(con, suite, run_id)


_FROM_ENV = "env:"


class SourceSystem(_PerTenant):
    """One source system reached through SQLAlchemy."""

    name: str
    url: str

    def connection_url(self, tenant: str | None = None) -> str:
        """The URL to read (the run's tenant's, with tenants). A tenant's URL given in an environment variable is
        held as ``env:<VARIABLE>`` and read only here, so no password sits in the definitions (as ``EnvVar``)."""
        url = self.for_tenant(self.url, tenant)
        if url.startswith(_FROM_ENV):
            from samlet_overblik.core.tenants import PLACEHOLDER

            variable = url[len(_FROM_ENV):]
            if not os.environ.get(variable):
                raise dg.Failure(f"source {self.name}: {variable} is not set")
            return os.environ[variable].replace(PLACEHOLDER, str(tenant or self.tenant))
        return url


class RunSettings(_PerTenant):
    """Per-run knobs: the reference time for consent decisions (ISO, empty = now) and full refresh."""

    reference_time: str = ""
    full_refresh: bool = False
    full_relink: bool = False
    policy_file: str = ""  # with tenants, by_tenant holds each tenant's (SAMLET_<KOMMUNEKODE>_POLICY_FILE)
    # The demo publishes analytics with a throw-away key; elsewhere SAMLET_ANALYTICS_KEY is required.
    analytics_demo: bool = False

    def policy(self, tenant: str | None = None) -> str:
        return self.for_tenant(self.policy_file, tenant)

    def reference(self) -> datetime:
        if self.reference_time:
            t = datetime.fromisoformat(self.reference_time)
            return t.astimezone(timezone.utc).replace(tzinfo=None) if t.tzinfo else t
        return datetime.now(timezone.utc).replace(tzinfo=None)


def _tenant_url(spec: SourceSpec, settings: Settings, tenant: Settings) -> str:
    """A tenant's source URL as the resource holds it: a reference to the environment variable it came from
    (the tenant's own, or the installation's template), else the URL (a SQLite file, or the config file's)."""
    from samlet_overblik.core.tenants import tenant_variable

    own = tenant_variable(str(tenant.tenant), f"source_{spec.name}_url")
    if _set_by(own, tenant.source_urls.get(spec.name)):
        return _FROM_ENV + own
    if _set_by(spec.url_setting, settings.source_urls.get(spec.name)):
        return _FROM_ENV + spec.url_setting
    return tenant.source_url(spec)


def _set_by(variable: str, url: str | None) -> bool:
    """Whether a configured source URL is the one in the environment variable (a secret to keep out of the
    definitions) rather than the config file's."""
    return url is not None and os.environ.get(variable) == url


def source_resource(spec: SourceSpec, settings: Settings, by_tenant: dict[str, str] | None = None) -> SourceSystem:
    """A source's resource: its URL from the settings; a URL that came from ``SAMLET_SOURCE_<NAME>_URL`` stays an
    ``EnvVar`` (read by Dagster at run time, so the secret stays out of the definitions); else the generated
    SQLite file in the sources folder."""
    url = settings.source_url(spec)
    if _set_by(spec.url_setting, settings.source_urls.get(spec.name)):
        return SourceSystem(name=spec.name, url=dg.EnvVar(spec.url_setting), by_tenant=by_tenant or {})
    return SourceSystem(name=spec.name, url=url, by_tenant=by_tenant or {})


def resources_for(settings: Settings) -> dict:
    """THE one way from settings to Dagster resources: the CLI, the code location under ``dagster dev`` and the
    daemon, and the tests all use it. With tenants, each resource holds every tenant's value and a run uses its
    partition's."""
    from samlet_overblik.core.tenants import for_tenant
    from samlet_overblik.sources.specs import load_source_specs

    tenants = {code: for_tenant(settings, code) for code in settings.tenants}
    specs = load_source_specs().values()
    res: dict = {
        "warehouse": WarehouseResource(path=str(settings.warehouse), keep_sets=settings.keep_sets,
                                       export_group=settings.export_group, memory_limit=settings.memory_limit,
                                       threads=settings.threads or 0,
                                       by_tenant={c: str(t.warehouse) for c, t in tenants.items()}),
        "validation": ValidationResource(),
        "lineage": LineageResource(by_tenant={c: c for c in tenants}),
        "run_settings": RunSettings(
            reference_time=settings.reference_time.isoformat() if settings.reference_time else "",
            full_refresh=settings.full_refresh,
            full_relink=settings.full_relink,
            policy_file=str(settings.policy_file or ""),
            analytics_demo=settings.analytics_demo,
            by_tenant={c: str(t.policy_file or "") for c, t in tenants.items()},
        ),
    }
    for spec in specs:
        res[f"source_{spec.name}"] = source_resource(spec, settings,
                                                     {c: _tenant_url(spec, settings, t) for c, t in tenants.items()})
    return res


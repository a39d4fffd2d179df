"""Dagster resources: the warehouse, each source system and the run settings, all from the environment."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import duckdb

from .. import warehouse as wh
from ..settings import DEFAULT_SOURCES_DIR, DEFAULT_WAREHOUSE
from ..specs import SourceSpec


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse: each run builds its own set (warehouse + exports) and publishes it as one."""

    path: str = str(DEFAULT_WAREHOUSE)
    # Published sets kept for rollback (the current one included).
    keep_sets: int = wh.DEFAULT_KEEP_SETS
    # A group that may read the department exports (0640); empty: owner only.
    export_group: str = ""

    @property
    def published(self) -> Path:
        return Path(self.path)

    def building(self, run_id: str) -> Path:
        return wh.start_build(self.published, run_id)

    def building_exports(self, run_id: str) -> Path:
        """Where this run writes its exports (published together with its warehouse)."""
        self.building(run_id)
        return wh.building_exports_dir(self.published, run_id)

    def connect(self, run_id: str) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.building(run_id)))

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        from .. import quality

        quality.preload_in_background()


class SourceSystem(dg.ConfigurableResource):
    """One source system reached through SQLAlchemy."""

    name: str
    url: str


class RunSettings(dg.ConfigurableResource):
    """Per-run knobs: the reference time for consent decisions (ISO, empty = now) and full refresh."""

    reference_time: str = ""
    full_refresh: bool = False
    policy_file: str = ""
    # The demo publishes analytics with a throw-away key; elsewhere SAMLET_ANALYTICS_KEY is required.
    analytics_demo: bool = False

    def reference(self) -> datetime:
        if self.reference_time:
            t = datetime.fromisoformat(self.reference_time)
            return t.astimezone(timezone.utc).replace(tzinfo=None) if t.tzinfo else t
        return datetime.now(timezone.utc).replace(tzinfo=None)


def source_resource(spec: SourceSpec, sources_dir: Path | None = None, url: str | None = None) -> SourceSystem:
    """A source's resource: an explicit URL, else ``SAMLET_SOURCE_<NAME>_URL`` (read by Dagster at run
    time, so the secret stays out of the definitions), else the generated SQLite file."""
    if url is not None:
        return SourceSystem(name=spec.name, url=url)
    if os.environ.get(spec.url_setting):
        return SourceSystem(name=spec.name, url=dg.EnvVar(spec.url_setting))
    folder = sources_dir or Path(os.environ.get("SAMLET_SOURCES_DIR", DEFAULT_SOURCES_DIR))
    return SourceSystem(name=spec.name, url=f"sqlite:///{(folder / spec.default_file).resolve()}")


def default_resources(sources_dir: Path | None = None, warehouse: Path | None = None) -> dict:
    from ..specs import load_source_specs

    wh_path = warehouse or Path(os.environ.get("SAMLET_WAREHOUSE", DEFAULT_WAREHOUSE))
    res: dict = {
        "warehouse": WarehouseResource(path=str(wh_path), keep_sets=int(os.environ.get("SAMLET_KEEP_SETS") or wh.DEFAULT_KEEP_SETS),
                                       export_group=os.environ.get("SAMLET_EXPORT_GROUP", "")),
        "run_settings": RunSettings(
            reference_time=os.environ.get("SAMLET_REFERENCE_TIME", ""),
            policy_file=os.environ.get("SAMLET_POLICY_FILE", ""),
        ),
    }
    for spec in load_source_specs().values():
        res[f"source_{spec.name}"] = source_resource(spec, sources_dir)
    return res

"""Assemble the Definitions from the specs in ``pipelines/`` and the SQL in ``assets/``.

``build_defs(resource_overrides=...)`` is the seam for tests: real resources, other paths.
"""

from __future__ import annotations

import dagster as dg

from . import assets as a
from .jobs import nightly_job, nightly_schedule
from .resources import default_resources


def build_defs(resource_overrides: dict | None = None) -> dg.Definitions:
    raws, stagings = a.source_assets()
    # Identity reads the person records and the register: it waits for every staging asset.
    identity = a.identity_asset([s.key for s in stagings])
    final = [s.key for s in stagings] + [identity.key]
    published = a.published_warehouse_asset(final)
    all_assets = [*raws, *stagings, identity, published]
    nightly = nightly_job()
    resources = default_resources()
    resources.update(resource_overrides or {})
    return dg.Definitions(
        assets=all_assets,
        jobs=[nightly],
        schedules=[nightly_schedule(nightly)],
        resources=resources,
    )

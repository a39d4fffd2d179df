"""The Dagster code location ``samlet_overblik.definitions`` (``dagster dev -w workspace.yaml``)."""

from .orchestration.build import build_defs

defs = build_defs()

"""The Dagster code location ``samlet_overblik.definitions`` (``dagster dev -w workspace.yaml``)."""

from samlet_overblik.defs.build import build_defs

defs = build_defs()

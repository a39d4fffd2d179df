"""The SQL of the warehouse assets: one file per asset or rule in ``assets/<layer>/``."""

from __future__ import annotations

from samlet_overblik.core.paths import data_dir


def asset_sql(layer: str, name: str) -> str:
    """The statement in ``assets/<layer>/<name>.sql`` (its header comments included, a trailing ``;`` left out)."""
    return (data_dir("assets") / layer / f"{name}.sql").read_text(encoding="utf-8").rstrip().rstrip(";")

"""Where the shipped data folders (pipelines/, assets/, expectations/, warehouse/) live.

In a source checkout they sit at the repository root; in a wheel they are package data under
``samlet_overblik/_data``. A setting ``SAMLET_<FOLDER>_DIR`` points at an edited copy.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # samlet_overblik/
_REPO_ROOT = _PACKAGE_DIR.parent.parent


def data_dir(folder: str) -> Path:
    """Return the folder ``pipelines``, ``assets``, ``expectations`` or ``warehouse``."""
    override = os.environ.get(f"SAMLET_{folder.upper()}_DIR")
    if override:
        return Path(override)
    packaged = _PACKAGE_DIR / "_data" / folder
    if packaged.is_dir():
        return packaged
    return _REPO_ROOT / folder

"""Where the shipped data folders (pipelines/, assets/, expectations/, warehouse/) live.

In a source checkout they sit at the repository root; in a wheel they are package data under
``samlet_overblik/_data``. A setting ``SAMLET_<FOLDER>_DIR`` points at an edited copy.
"""

from __future__ import annotations

import os
import tempfile
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


# Parsed files by what they are called and their stamps (name, size, modification time): a run asks for the specs
# and the job settings many times, and the consent watcher every tick; an edited file is parsed again.
_PARSED: dict[str, tuple[tuple, object]] = {}


def parsed_once(what: str, paths: list[Path], parse):
    # One stat per file (a web lookup asks for the departments several times): its identity and stamps tell an
    # edited or replaced file from the one parsed.
    key = tuple((str(p), *_stamp(os.stat(p))) for p in paths)
    cached = _PARSED.get(what)
    if cached is None or cached[0] != key:
        cached = (key, parse())
        _PARSED[what] = cached
    return cached[1]


def _stamp(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


def write_atomically(path: Path, content: str | bytes) -> None:
    """Replace ``path`` with ``content`` (text is written as UTF-8): written beside (owner-only from its first
    byte), synced, then renamed over it, so a reader sees the old file or the new one, never a part; a crash leaves
    the old file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content.encode("utf-8") if isinstance(content, str) else content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

"""The data's vocabulary as the shipped files declare it: the categories a record can have and the order in which
departments are shown (the policy), and which files in ``pipelines/`` are source specs and the sources they name.
The specs' content (tables, departments, roles) is read by ``sources.specs``.

Re-read only when a file changes.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from samlet_overblik.core.paths import data_dir, parsed_once

_POLICY_FILE = "policy.yaml"
# The files in pipelines/ that are not source specs (a leading underscore marks a draft or an example, too).
_NOT_SPECS = ("job", "policy")


class VocabularyError(ValueError):
    """The shipped policy does not declare the vocabulary (one line, naming the file and key)."""


def _shipped_policy_lists() -> dict[str, tuple[str, ...]]:
    path = data_dir("pipelines") / _POLICY_FILE

    def parse() -> dict[str, tuple[str, ...]]:
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            raise VocabularyError(f"{path.name}: cannot be read as YAML (the categories are defined there)") from None
        out = {}
        for key in ("departments", "categories"):
            value = doc.get(key) if isinstance(doc, dict) else None
            if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
                raise VocabularyError(f"{path.name}: {key} must be a non-empty list of names")
            out[key] = tuple(value)
        return out

    return parsed_once(f"vocabulary:{path.resolve()}", [path], parse)


def categories() -> tuple[str, ...]:
    """The data categories a record can have (the shipped policy's ``categories:``)."""
    return _shipped_policy_lists()["categories"]


def department_order() -> tuple[str, ...]:
    """The order in which departments are shown (the shipped policy's ``departments:``)."""
    return _shipped_policy_lists()["departments"]


def spec_files(folder: Path | None = None) -> list[Path]:
    """The source specs in ``pipelines/``: every YAML except the job settings and the policy, in name order."""
    folder = folder or data_dir("pipelines")
    return [p for p in sorted(folder.glob("*.yaml")) if not (p.stem in _NOT_SPECS or p.stem.startswith("_"))]


def spec_names() -> tuple[str, ...]:
    """The names the spec files declare (their ``name:``), in spec order: the sources settings may give a URL.
    Only the name is read here; ``sources.specs`` reads and checks the whole spec."""
    paths = spec_files()

    def parse() -> tuple[str, ...]:
        names = []
        for path in paths:
            try:
                doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError, UnicodeDecodeError):
                raise VocabularyError(f"{path.name}: cannot be read as YAML") from None
            if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not doc["name"]:
                raise VocabularyError(f"{path.name}: a source spec needs a name")
            names.append(doc["name"])
        return tuple(names)

    return parsed_once(f"source-names:{data_dir('pipelines').resolve()}", paths, parse)

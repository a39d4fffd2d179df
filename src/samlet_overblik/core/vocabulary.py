"""What the shipped policy declares about the data's vocabulary: the categories a record can have and the order
in which departments are shown. The sources, the departments themselves and the sources that play a role (the
consent registry, the person register) come from the specs (``sources.specs``).

Re-read only when the policy file changes.
"""

from __future__ import annotations

import yaml

from samlet_overblik.core.paths import data_dir, parsed_once

_POLICY_FILE = "policy.yaml"


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

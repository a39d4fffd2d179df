"""The names the data speaks in — sources, departments, categories — read from the files that define them.

Nothing here is written in code, so adding a source stays one YAML file (with its staging SQL and suite):

- a *source* is a spec in ``pipelines/`` (``name:``);
- a *department* is the ``department:`` of a source spec; they are listed in the order of the shipped policy's
  ``departments:`` (how caseworkers are used to seeing them), any department the policy does not list after them;
- a *category* is one of the shipped policy's ``categories:``.

Each answer is re-read only when one of those files changes (the specs' stamp-keyed cache).
"""

from __future__ import annotations

import yaml

from samlet_overblik.core.paths import data_dir
from samlet_overblik.sources.specs import SourceSpec, SpecError, load_source_specs, parsed_once

_POLICY_FILE = "policy.yaml"


def sources() -> tuple[str, ...]:
    """Every configured source system, in spec order."""
    return tuple(load_source_specs())


def _shipped_policy_lists() -> dict[str, tuple[str, ...]]:
    path = data_dir("pipelines") / _POLICY_FILE

    def parse() -> dict[str, tuple[str, ...]]:
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            raise SpecError(f"{path.name}: cannot be read as YAML (the categories are defined there)") from None
        out = {}
        for key in ("departments", "categories"):
            value = doc.get(key) if isinstance(doc, dict) else None
            if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
                raise SpecError(f"{path.name}: {key} must be a non-empty list of names")
            out[key] = tuple(value)
        return out

    return parsed_once(f"vocabulary:{path.resolve()}", [path], parse)


def departments() -> tuple[str, ...]:
    """Every department that owns a source, in the shipped policy's order."""
    owned = list(dict.fromkeys(s.department for s in load_source_specs().values() if s.department))
    listed = [d for d in _shipped_policy_lists()["departments"] if d in owned]
    return tuple(listed + [d for d in owned if d not in listed])


def categories() -> tuple[str, ...]:
    """The data categories a record can have (the shipped policy's ``categories:``)."""
    return _shipped_policy_lists()["categories"]


def _playing(role: str) -> SourceSpec:
    found = [s for s in load_source_specs().values() if s.role == role]
    if len(found) != 1:
        raise SpecError(f"exactly one source spec must have 'role: {role}' (found {len(found)})")
    return found[0]


def consent_registry() -> SourceSpec:
    """The source that is the consent registry (``role: consent_registry``)."""
    return _playing("consent_registry")


def person_register() -> SourceSpec:
    """The source that is the person register (``role: person_register``)."""
    return _playing("person_register")

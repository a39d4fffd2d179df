"""The sharing policy: a versioned YAML file, validated on load with errors that name the line.

Loaded once per run and written into ``consent.policy_rules`` so enforcement is one set-based SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .. import CATEGORIES, DEPARTMENTS
from ..paths import data_dir

CONDITIONS = {
    # id -> SQL predicate over the record's person (alias p: person_key, cpr) evaluated in consent.py
    "child_with_open_case": "child_with_open_case",
    "has_coordination_plan": "has_coordination_plan",
}
_TOP_KEYS = {
    "policy_version", "default", "departments", "categories", "sensitive_categories", "own_department",
    "consent", "registry_max_invalid_share", "legal_rules",
}
_RULE_KEYS = {"id", "enabled", "reference", "from", "to", "categories", "condition"}


class PolicyError(ValueError):
    """The policy file is invalid (one line, naming the file and line)."""


@dataclass(frozen=True)
class LegalRule:
    id: str
    enabled: bool
    reference: str
    from_departments: tuple[str, ...]
    to_departments: tuple[str, ...]
    categories: tuple[str, ...]
    condition: str | None


@dataclass(frozen=True)
class Policy:
    version: str
    path: str
    sensitive_categories: tuple[str, ...]
    own_rule_id: str
    own_reference: str
    purposes: tuple[str, ...]
    require_custody_for_proxy: bool
    registry_max_invalid_share: float
    legal_rules: tuple[LegalRule, ...] = field(default_factory=tuple)

    @property
    def enabled_rules(self) -> tuple[LegalRule, ...]:
        return tuple(r for r in self.legal_rules if r.enabled)


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping and sequence item (for error messages)."""


def _construct_mapping(loader, node, deep=False):
    mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=True)
    mapping["__lines__"] = {k.value: k.start_mark.line + 1 for k, _ in node.value}
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


def _construct_sequence(loader, node, deep=False):
    items = yaml.SafeLoader.construct_sequence(loader, node, deep=True)
    return _LinedList(items, [n.start_mark.line + 1 for n in node.value])


class _LinedList(list):
    def __init__(self, items, lines):
        super().__init__(items)
        self.lines = lines


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def default_policy_path() -> Path:
    return data_dir("pipelines") / "policy.yaml"


def load_policy(path: Path | None = None) -> Policy:
    path = Path(path) if path else default_policy_path()
    name = path.name
    if not path.is_file():
        raise PolicyError(f"policy file not found: {path}")
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506 (SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise PolicyError(f"{name} line {line}: not valid YAML ({exc.problem})") from None
    if not isinstance(doc, dict):
        raise PolicyError(f"{name}: the policy must be a mapping")

    def err(where: dict, key: str, msg: str) -> PolicyError:
        line = where.get("__lines__", {}).get(key, where.get("__line__", "?"))
        return PolicyError(f"{name} line {line}: {msg}")

    for key in doc:
        if not key.startswith("__") and key not in _TOP_KEYS:
            raise err(doc, key, f"unknown key {key!r}")
    if doc.get("default") != "deny":
        raise err(doc, "default", "default must be 'deny' (the policy is default deny)")
    _check_values(name, doc.get("departments") or [], DEPARTMENTS, "department")
    _check_values(name, doc.get("categories") or [], CATEGORIES, "category")
    sensitive = doc.get("sensitive_categories") or []
    _check_values(name, sensitive, CATEGORIES, "category")

    own = doc.get("own_department") or {}
    consent = doc.get("consent") or {}
    for key in consent:
        if not key.startswith("__") and key not in ("purposes", "require_custody_for_proxy"):
            raise err(consent, key, f"unknown key {key!r} under consent")
    share = doc.get("registry_max_invalid_share", 0.01)
    if not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise err(doc, "registry_max_invalid_share", "registry_max_invalid_share must be a number from 0 to 1")

    rules = []
    seen: set[str] = set()
    for rule in doc.get("legal_rules") or []:
        if not isinstance(rule, dict):
            raise PolicyError(f"{name}: each legal rule must be a mapping")
        for key in rule:
            if not key.startswith("__") and key not in _RULE_KEYS:
                raise err(rule, key, f"unknown key {key!r} in legal rule")
        for key in ("id", "reference", "from", "to", "categories"):
            if not rule.get(key):
                raise PolicyError(f"{name} line {rule['__line__']}: legal rule needs {key!r}")
        if rule["id"] in seen:
            raise err(rule, "id", f"duplicate legal rule id {rule['id']!r}")
        seen.add(rule["id"])
        _check_values(name, rule["from"], DEPARTMENTS, "department")
        _check_values(name, rule["to"], DEPARTMENTS, "department")
        _check_values(name, rule["categories"], CATEGORIES, "category")
        sensitive_in_rule = sorted(set(rule["categories"]) & set(sensitive))
        if sensitive_in_rule:
            # Health and abuse data cross only on a consent that names them, never on a general rule.
            raise err(rule, "categories", f"legal rule {rule['id']!r} may not cover sensitive categories: {', '.join(sensitive_in_rule)}")
        cond = rule.get("condition")
        if cond is not None and cond not in CONDITIONS:
            raise err(rule, "condition", f"unknown condition {cond!r} (known: {', '.join(CONDITIONS)})")
        if not isinstance(rule.get("enabled", False), bool):
            raise err(rule, "enabled", "enabled must be true or false")
        rules.append(
            LegalRule(
                id=str(rule["id"]),
                enabled=bool(rule.get("enabled", False)),
                reference=str(rule["reference"]),
                from_departments=tuple(rule["from"]),
                to_departments=tuple(rule["to"]),
                categories=tuple(rule["categories"]),
                condition=cond,
            )
        )
    return Policy(
        version=str(doc.get("policy_version") or "unversioned"),
        path=str(path),
        sensitive_categories=tuple(sensitive),
        own_rule_id=str(own.get("rule_id", "egen_afdeling")),
        own_reference=str(own.get("reference", "")),
        purposes=tuple(consent.get("purposes") or ()),
        require_custody_for_proxy=bool(consent.get("require_custody_for_proxy", True)),
        registry_max_invalid_share=float(share),
        legal_rules=tuple(rules),
    )


def _check_values(name: str, values, known, what: str) -> None:
    if not isinstance(values, list):
        raise PolicyError(f"{name}: expected a list of {what}s")
    lines = getattr(values, "lines", ["?"] * len(values))
    for v, line in zip(values, lines):
        if v not in known:
            raise PolicyError(f"{name} line {line}: unknown {what} {v!r} (known: {', '.join(known)})")

"""The sharing policy: a versioned YAML file, validated on load with errors that name the line.

Loaded once per run and written into ``consent.policy_rules`` so enforcement is one set-based SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from samlet_overblik.core import vocabulary
from samlet_overblik.sources.specs import departments
from samlet_overblik.core.paths import data_dir

CONDITIONS = {
    # id -> a fact about the record's person, computed by the gate (assets/consent/gate_person_facts.sql)
    "child_with_open_case": "child_with_open_case",
    "has_coordination_plan": "has_coordination_plan",
}
_TOP_KEYS = {
    "policy_version", "default", "departments", "categories", "sensitive_categories", "own_department",
    "consent", "registry_max_invalid_share", "legal_rules", "lookup_purposes",
}
_RULE_KEYS = {"id", "enabled", "reference", "from", "to", "categories", "condition"}
# Health and substance-abuse data are sensitive whatever a policy file says (GDPR art. 9): a policy may add
# categories, never take these away.
ALWAYS_SENSITIVE = ("helbred", "misbrug")
# Roles that look citizens up, each with its own list of lookup purposes.
LOOKUP_ROLES = ("sagsbehandler", "compliance", "datasteward")
# Between a lookup purpose and the user's optional note in the access log (never inside a purpose).
NOTE_SEPARATOR = " — "
MAX_PURPOSE = 120


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
    # role -> why a user of that role may look a citizen up (the web form's list; the access log's purposes)
    lookup_purposes: dict[str, tuple[str, ...]] = field(default_factory=dict)

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
    """The policy in ``path`` (default: the shipped one), every field type-checked: an error names the line."""
    path = Path(path) if path else default_policy_path()
    name = path.name
    if not path.is_file():
        raise PolicyError(f"policy file not found: {path}")
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506 (SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise PolicyError(f"{name} line {line}: not valid YAML ({exc.problem})") from None
    except UnicodeDecodeError:
        raise PolicyError(f"{name}: not UTF-8 text") from None
    if not isinstance(doc, dict):
        raise PolicyError(f"{name}: the policy must be a mapping")
    c = _Checker(name)

    c.keys(doc, _TOP_KEYS, "")
    version = c.string(doc, "policy_version")
    if doc.get("default") != "deny":
        raise c.err(doc, "default", "default must be 'deny' (the policy is default deny)")
    known_departments, categories = departments(), vocabulary.categories()
    c.values(doc, "departments", known_departments, "department")
    c.values(doc, "categories", categories, "category")
    sensitive = c.values(doc, "sensitive_categories", categories, "category")
    missing = [x for x in ALWAYS_SENSITIVE if x not in sensitive]
    if missing:
        raise c.err(doc, "sensitive_categories", f"sensitive_categories must include {', '.join(ALWAYS_SENSITIVE)} "
                                                 f"(missing: {', '.join(missing)})")

    own = c.mapping(doc, "own_department")
    c.keys(own, {"rule_id", "reference"}, " under own_department")
    own_rule_id, own_reference = c.string(own, "rule_id"), c.string(own, "reference")

    consent = c.mapping(doc, "consent")
    c.keys(consent, {"purposes", "require_custody_for_proxy"}, " under consent")
    purposes = c.strings(consent, "purposes", "consent purpose")
    custody = c.boolean(consent, "require_custody_for_proxy")

    share = doc.get("registry_max_invalid_share", 0.01)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise c.err(doc, "registry_max_invalid_share", "registry_max_invalid_share must be a number from 0 to 1")

    rules = []
    seen: set[str] = set()
    rule_list = doc.get("legal_rules", [])
    if rule_list is None:
        rule_list = []
    if not isinstance(rule_list, list):
        raise c.err(doc, "legal_rules", "legal_rules must be a list of rules")
    for rule, line in zip(rule_list, getattr(rule_list, "lines", ["?"] * len(rule_list))):
        if not isinstance(rule, dict):
            raise PolicyError(f"{name} line {line}: each legal rule must be a mapping")
        c.keys(rule, _RULE_KEYS, " in legal rule")
        rule_id = c.string(rule, "id")
        if rule_id in seen:
            raise c.err(rule, "id", f"duplicate legal rule id {rule_id!r}")
        seen.add(rule_id)
        reference = c.string(rule, "reference")
        from_departments = c.values(rule, "from", known_departments, "department", required=True)
        to_departments = c.values(rule, "to", known_departments, "department", required=True)
        rule_categories = c.values(rule, "categories", categories, "category", required=True)
        sensitive_in_rule = sorted(set(rule_categories) & set(sensitive))
        if sensitive_in_rule:
            # Health and abuse data cross only on a consent that names them, never on a general rule.
            raise c.err(rule, "categories", f"legal rule {rule_id!r} may not cover sensitive categories: {', '.join(sensitive_in_rule)}")
        cond = rule.get("condition")
        if cond is not None:
            if not isinstance(cond, str):
                raise c.err(rule, "condition", "condition must be a string")
            if cond not in CONDITIONS:
                raise c.err(rule, "condition", f"unknown condition {cond!r} (known: {', '.join(CONDITIONS)})")
        enabled = rule.get("enabled", False)
        if not isinstance(enabled, bool):
            raise c.err(rule, "enabled", "enabled must be true or false")
        rules.append(LegalRule(id=rule_id, enabled=enabled, reference=reference, from_departments=from_departments,
                               to_departments=to_departments, categories=rule_categories, condition=cond))

    lookup = c.mapping(doc, "lookup_purposes")
    for role in lookup:
        if not isinstance(role, str) or (not role.startswith("__") and role not in LOOKUP_ROLES):
            raise c.err(lookup, role, f"unknown role {role!r} under lookup_purposes (known: {', '.join(LOOKUP_ROLES)})")
    lookup_purposes = {role: c.strings(lookup, role, "lookup purpose", purpose=True) for role in LOOKUP_ROLES}

    return Policy(
        version=version,
        path=str(path),
        sensitive_categories=sensitive,
        own_rule_id=own_rule_id,
        own_reference=own_reference,
        purposes=purposes,
        require_custody_for_proxy=custody,
        registry_max_invalid_share=float(share),
        legal_rules=tuple(rules),
        lookup_purposes=lookup_purposes,
    )


_POLICY_PATHS: dict[tuple[str, str], Path] = {}
_LOADED: dict[tuple[str, int, int], Policy] = {}


def policy_in_use() -> Policy:
    """The policy file the settings name (``SAMLET_POLICY_FILE``, a config file's ``policy_file``, else the shipped
    one), read again whenever the file changes: lookups see an edited list of purposes without a restart."""
    import os

    env_key = (os.environ.get("SAMLET_POLICY_FILE", ""), os.environ.get("SAMLET_CONFIG", ""))
    if env_key not in _POLICY_PATHS:
        from samlet_overblik.core.settings import load_settings

        _POLICY_PATHS[env_key] = Path(load_settings(None).policy_file or default_policy_path())
    path = _POLICY_PATHS[env_key]
    try:
        st = path.stat()
    except OSError:
        raise PolicyError(f"policy file not found: {path}") from None
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = load_policy(path)
    return _LOADED[key]


def lookup_purposes(role: str) -> tuple[str, ...]:
    """Why a user of ``role`` may look a citizen up (empty for a role that makes no lookups)."""
    return policy_in_use().lookup_purposes.get(role, ())


class _Checker:
    """Typed reads of policy fields; every error is one line naming the file and the line of the field."""

    def __init__(self, name: str) -> None:
        self.name = name

    def err(self, where: dict, key: str, msg: str) -> PolicyError:
        line = where.get("__lines__", {}).get(key, where.get("__line__", "?"))
        return PolicyError(f"{self.name} line {line}: {msg}")

    def keys(self, where: dict, known: set[str], context: str) -> None:
        for key in where:
            if not isinstance(key, str):
                raise PolicyError(f"{self.name} line {where.get('__line__', '?')}: keys must be names, not {key!r}")
            if not key.startswith("__") and key not in known:
                raise self.err(where, key, f"unknown key {key!r}{context}")

    def _required(self, where: dict, key: str, what: str):
        if key not in where or where[key] is None:
            raise self.err(where, key, f"{key!r} is required ({what})")
        return where[key]

    def string(self, where: dict, key: str) -> str:
        value = self._required(where, key, "a string")
        if not isinstance(value, str) or not value.strip():
            raise self.err(where, key, f"{key} must be a non-empty string (quote it)")
        return value

    def boolean(self, where: dict, key: str) -> bool:
        value = self._required(where, key, "true or false")
        if not isinstance(value, bool):
            raise self.err(where, key, f"{key} must be true or false")
        return value

    def mapping(self, where: dict, key: str) -> dict:
        value = self._required(where, key, "a mapping")
        if not isinstance(value, dict):
            raise self.err(where, key, f"{key} must be a mapping")
        return value

    def values(self, where: dict, key: str, known, what: str, required: bool = True) -> tuple[str, ...]:
        """A list of known names (departments, categories)."""
        value = self._required(where, key, f"a list of {what}s") if required else where.get(key, [])
        if not isinstance(value, list):
            raise self.err(where, key, f"{key} must be a list of {what}s, like [a, b]")
        _check_values(self.name, value, known, what)
        return tuple(value)

    def strings(self, where: dict, key: str, what: str, purpose: bool = False) -> tuple[str, ...]:
        """A non-empty list of distinct non-empty strings (with ``purpose``: fit to be stored in the access log)."""
        value = self._required(where, key, f"a list of {what}s")
        if not isinstance(value, list):
            raise self.err(where, key, f"{key} must be a list of {what}s, like [a, b]")
        if not value:
            raise self.err(where, key, f"{key} must list at least one {what}")
        lines = getattr(value, "lines", ["?"] * len(value))
        seen: set[str] = set()
        for item, line in zip(value, lines):
            if not isinstance(item, str) or not item.strip():
                raise PolicyError(f"{self.name} line {line}: each {what} must be a non-empty string (quote it)")
            if item in seen:
                raise PolicyError(f"{self.name} line {line}: {what} {item!r} is listed twice")
            seen.add(item)
            if purpose:
                from samlet_overblik.core.cpr import redact_cpr

                if redact_cpr(item) != item:
                    raise PolicyError(f"{self.name} line {line}: a {what} must not contain a CPR-shaped number")
                if NOTE_SEPARATOR.strip() in item or "\n" in item or len(item) > MAX_PURPOSE:
                    raise PolicyError(f"{self.name} line {line}: a {what} is one line of at most {MAX_PURPOSE} "
                                      f"characters without {NOTE_SEPARATOR.strip()!r}")
        return tuple(value)


def _check_values(name: str, values, known, what: str) -> None:
    if not isinstance(values, list):
        raise PolicyError(f"{name}: expected a list of {what}s")
    lines = getattr(values, "lines", ["?"] * len(values))
    for v, line in zip(values, lines):
        if v not in known:
            raise PolicyError(f"{name} line {line}: unknown {what} {v!r} (known: {', '.join(known)})")

"""An oracle for the sharing rule, in plain Python and written from DESIGN.md, not from the SQL.

The stateful consent test (tests/test_consent_stateful.py) holds the consent registry as Python objects
(``Version``), writes it into the registry's SQLite file and asks this module what every department may see:

- ``in_force_versions``: the consent version in force per consent id at time ``t`` (DESIGN.md "Consent registry
  schema": ``givet_tid <= t``, ``tilbagekaldt_tid`` null or after t, ``gyldig_til`` null or not before t's date, the
  newest version given by t replaces older ones; purpose among the policy's consent purposes; a proxy consent only
  if the giver held custody on the day it was given; a consent with a version that could not be read is not used).
- ``run_verdict``: whether the registry can be trusted (unreachable, emptied, shrunk since the last trusted run,
  mostly unreadable -> nothing crosses a department boundary); a watcher tick judges it the same way.
- ``expected_export``: the rows of one department's export (own department always, others through a consent).

Thresholds and purposes are read from the YAML files themselves (not through the product's parsers).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPARTMENTS = ("boern_familie", "beskaeftigelse", "social_voksen", "sundhed_aeldre")
CATEGORIES = ("indsatser", "ydelser", "helbred", "misbrug", "kontakt")
OWN_BASIS = "lov:egen_afdeling"
CUSTODY = "foraeldremyndighed"


@dataclass(frozen=True)
class Rules:
    purposes: frozenset[str]
    require_custody_for_proxy: bool
    max_invalid_share: float
    max_lost_share: float


def load_rules() -> Rules:
    policy = yaml.safe_load((ROOT / "pipelines" / "policy.yaml").read_text(encoding="utf-8"))
    job = yaml.safe_load((ROOT / "pipelines" / "job.yaml").read_text(encoding="utf-8"))
    assert not any(r.get("enabled") for r in policy.get("legal_rules", [])), (
        "the oracle models consents only: a legal-basis rule is enabled in policy.yaml")
    return Rules(
        purposes=frozenset(policy["consent"]["purposes"]),
        require_custody_for_proxy=bool(policy["consent"].get("require_custody_for_proxy", True)),
        max_invalid_share=float(policy.get("registry_max_invalid_share", 0.01)),
        max_lost_share=float((job.get("consent_registry") or {}).get("max_lost_share", 0.2)),
    )


def stamp_is_garbage(stamp: str | None) -> bool:
    """An update stamp that is not a timestamp (the row is quarantined)."""
    if stamp is None:
        return False
    try:
        datetime.fromisoformat(stamp)
    except ValueError:
        return True
    return False


@dataclass(frozen=True)
class Version:
    """One row of ``samtykke`` with its ``samtykke_omfang`` rows."""

    sid: str
    version: int
    cpr: str
    giver: str | None
    purpose: str
    given: datetime
    valid_until: date | None
    withdrawn: datetime | None
    stamp: str
    scopes: frozenset[tuple[str, str, str]] = field(default_factory=frozenset)

    @property
    def key(self) -> tuple[str, int]:
        return (self.sid, self.version)

    @property
    def basis(self) -> str:
        return f"samtykke:{self.sid}@{self.version}"

    @property
    def quarantined(self) -> bool:
        return stamp_is_garbage(self.stamp)

    def with_(self, **changes) -> "Version":
        return replace(self, **changes)


def _ts(v: datetime | None) -> str | None:
    return v.strftime("%Y-%m-%d %H:%M:%S") if v is not None else None


def registry_rows(versions) -> tuple[list[tuple], list[tuple]]:
    """The rows of ``samtykke`` and ``samtykke_omfang`` as the SQLite registry stores them."""
    main, scopes = [], []
    for v in sorted(versions, key=lambda v: v.key):
        main.append((v.sid, v.version, v.cpr, v.giver, v.purpose, _ts(v.given),
                     v.valid_until.isoformat() if v.valid_until else None, _ts(v.withdrawn), "digital",
                     "Stateful Test", v.stamp))
        scopes.extend((v.sid, v.version, f, t, c) for f, t, c in sorted(v.scopes))
    return main, scopes


@dataclass(frozen=True)
class Custody:
    child: str
    holder: str
    valid_from: date | None
    valid_to: date | None

    def on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (self.valid_to is None or day <= self.valid_to)


def held_custody(custody: list[Custody], child: str, giver: str, day: date) -> bool:
    return any(c.child == child and c.holder == giver and c.on(day) for c in custody)


def in_force_versions(versions, t: datetime, rules: Rules, custody: list[Custody]) -> dict[str, Version]:
    """The version in force at ``t`` per consent id (absent: none)."""
    by_id: dict[str, list[Version]] = {}
    for v in versions:
        by_id.setdefault(v.sid, []).append(v)
    out = {}
    for sid, vs in by_id.items():
        if any(v.quarantined for v in vs):
            continue  # a version that could not be read: the consent is not used at all (no older version revives)
        given = [v for v in vs if v.given <= t]
        if not given:
            continue
        v = max(given, key=lambda v: v.version)  # the newest version given by t replaces the older ones
        if v.withdrawn is not None and v.withdrawn <= t:
            continue
        if v.valid_until is not None and v.valid_until < t.date():
            continue
        if v.purpose not in rules.purposes:
            continue
        if (rules.require_custody_for_proxy and v.giver is not None and v.giver != v.cpr
                and not held_custody(custody, v.cpr, v.giver, v.given.date())):
            continue
        out[sid] = v
    return out


def consent_bases(in_force: dict[str, Version]) -> dict[tuple[str, str, str, str], set[str]]:
    """(cpr, from department, to department, category) -> the bases that open that flow."""
    out: dict[tuple[str, str, str, str], set[str]] = {}
    for v in in_force.values():
        for f, to, c in v.scopes:
            if f != to:
                out.setdefault((v.cpr, f, to, c), set()).add(v.basis)
    return out


@dataclass(frozen=True)
class Record:
    source: str
    source_table: str
    record_id: str
    department: str
    category: str
    person_key: str | None
    cpr: str | None
    title: str | None
    start: date | None
    end: date | None

    def export_row(self, basis: str) -> tuple:
        return (self.source, self.source_table, self.record_id, self.department, self.category, basis,
                self.person_key, self.cpr)

    def lookup_row(self, basis: str) -> tuple:
        return (self.department, self.category, self.title, self.start.isoformat() if self.start else None,
                self.end.isoformat() if self.end else None, basis)


def expected_export(records: list[Record], viewer: str, bases: dict | None) -> set[tuple]:
    """Every row department ``viewer`` may see; ``bases`` None = the registry is not trusted (nothing crosses).

    Where several consents open the same flow, the export names one of them: the smallest basis text (so the
    comparison is exact; any of them would be a valid basis)."""
    out = set()
    for r in records:
        if r.department == viewer:
            out.add(r.export_row(OWN_BASIS))
        elif bases is not None and r.cpr is not None:
            found = bases.get((r.cpr, r.department, viewer, r.category))
            if found:
                out.add(r.export_row(min(found)))
    return out


@dataclass
class Registry:
    """What the registry file holds right now, as the readers will see it."""

    versions: list[Version]
    reachable: bool = True

    @property
    def valid(self) -> list[Version]:
        return [v for v in self.versions if not v.quarantined]

    @property
    def quarantined(self) -> list[Version]:
        return [v for v in self.versions if v.quarantined]

    @property
    def keys(self) -> frozenset[tuple[str, int]]:
        return frozenset(v.key for v in self.versions)

    def invalid_share_exceeded(self, rules: Rules) -> bool:
        total = len(self.versions)
        return total > 0 and len(self.quarantined) / total > rules.max_invalid_share


def run_verdict(reg: Registry, rules: Rules, baseline: frozenset, last_trusted_rows: int) -> str | None:
    """Why a run must fail closed (None: the registry is trusted). ``baseline``: the keys the last trusted run saw."""
    if not reg.reachable:
        return "registry_unreachable"
    if not reg.valid and last_trusted_rows > 0:
        return "registry_empty"
    if baseline and len(baseline - reg.keys) / len(baseline) > rules.max_lost_share:
        return "registry_shrunk"
    if reg.invalid_share_exceeded(rules):
        return "registry_invalid"
    return None

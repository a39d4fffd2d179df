"""The consent registry (the samtykke source) as FHIR R5 ``Consent`` resources, both ways: one mapping, here.

Out: ``bundle_from_warehouse`` writes every consent version the last run staged (``staging.consents`` and its
scopes) as a ``collection`` Bundle, each resource validated by ``fhir.resources``. In: a samtykke source URL
``fhir:///path/bundle.json`` (a file) or ``fhir+https://server/base`` (a FHIR server: ``GET [base]/Consent``, pages
followed) is turned into the registry's two tables in a private SQLite file, which the ingest reads like any other
source: the same validation and quarantine, the same fail-closed rules. So a municipality can feed the pipeline from
its FHIR consent service, and the round trip registry → Bundle → registry is lossless for every staged version.

How a registry row maps (the registry's own columns in brackets):

- ``identifier`` the consent id [samtykke_id]; the version [version] in the extension ``consent-version``
  (``meta.versionId`` belongs to the server that stores the resource);
- ``subject`` the citizen by CPR identifier (``urn:oid:1.2.208.176.1.2``) [cpr]; ``grantor`` who gave it
  [givet_af_cpr]; ``grantee`` each receiving department;
- ``date`` the day it was given and ``period.start`` the moment [givet_tid]; ``period.end`` its last day
  [gyldig_til]; ``status`` ``inactive`` once withdrawn, the moment in the extension ``withdrawn`` [tilbagekaldt_tid];
- ``decision`` ``permit``; a ``provision`` per scope row: ``actor`` the sending department (role ``CST``, custodian)
  and the receiving one (``IRCP``), ``code`` the data category [kategori], ``purpose`` the purpose [formaal];
- extensions ``channel`` [kanal], ``registered-by`` [registreret_af], ``updated`` [opdateret_tid].
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import duckdb

CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"
BASE = "urn:samlet-overblik:fhir"
CONSENT_ID_SYSTEM = f"{BASE}:samtykke"
DEPARTMENT_SYSTEM = f"{BASE}:afdeling"
CATEGORY_SYSTEM = f"{BASE}:kategori"
PURPOSE_SYSTEM = f"{BASE}:formaal"
EXT = {name: f"{BASE}:extension:{name}" for name in ("consent-version", "withdrawn", "channel", "registered-by",
                                                    "updated")}
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
LOINC_CONSENT = {"system": "http://loinc.org", "code": "59284-0", "display": "Consent Document"}

FILE_SCHEME = "fhir://"
SERVER_SCHEMES = ("fhir+https://", "fhir+http://")


class FhirSourceError(ValueError):
    """A Bundle that cannot be read as the consent registry (the message names the resource, never a value)."""


# ------------------------------------------------------------------------------------------------ out


def _ts(value: datetime | None) -> str | None:
    """A warehouse time (naive UTC, as the pipeline compares every stamp) as a FHIR dateTime, which needs its zone."""
    return value.isoformat() + "Z" if value is not None else None


def validated(model, doc: dict, what: str) -> dict:
    """``doc`` validated as ``model`` (a ``fhir.resources`` class) and dumped as JSON; a failure names the fields that
    failed and never their values (pydantic's own message quotes them)."""
    from pydantic import ValidationError

    try:
        return model.model_validate(doc).model_dump(mode="json", exclude_none=True)
    except ValidationError as exc:
        fields = ", ".join(sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()}))[:200]
        raise FhirSourceError(f"{what} is not a valid FHIR R5 {model.__name__} (fields: {fields})") from None


def consent_resource(row: dict, scopes: list[tuple[str, str, str]]) -> dict:
    """One consent version as a validated R5 Consent (as JSON)."""
    from fhir.resources.consent import Consent

    def department(code: str) -> dict:
        return {"identifier": {"system": DEPARTMENT_SYSTEM, "value": code}}

    def role(code: str) -> dict:
        return {"coding": [{"system": PARTICIPATION, "code": code}]}

    purpose = [{"system": PURPOSE_SYSTEM, "code": row["purpose"]}] if row["purpose"] else []
    provisions = [{"actor": [{"role": role("CST"), "reference": department(src)},
                             {"role": role("IRCP"), "reference": department(dst)}],
                   "code": [{"coding": [{"system": CATEGORY_SYSTEM, "code": category}]}],
                   **({"purpose": purpose} if purpose else {})}
                  for src, dst, category in scopes]
    if not provisions and purpose:
        provisions = [{"purpose": purpose}]
    extensions = [{"url": EXT["consent-version"], "valueInteger": row["version"]}]
    for name, key, kind in (("withdrawn", "withdrawn_at", "valueDateTime"), ("channel", "channel", "valueString"),
                            ("registered-by", "registered_by", "valueString"), ("updated", "updated_at",
                                                                               "valueDateTime")):
        value = row[key]
        if value is not None:
            extensions.append({"url": EXT[name], kind: _ts(value) if isinstance(value, datetime) else value})
    period = {"start": _ts(row["given_at"])}
    if row["valid_until"] is not None:
        period["end"] = row["valid_until"].isoformat()
    doc = {
        "resourceType": "Consent",
        "id": _resource_id(row["samtykke_id"], row["version"]),
        "extension": extensions,
        "identifier": [{"system": CONSENT_ID_SYSTEM, "value": row["samtykke_id"]}],
        "status": "inactive" if row["withdrawn_at"] is not None else "active",
        "category": [{"coding": [LOINC_CONSENT]}],
        "subject": {"identifier": {"system": CPR_SYSTEM, "value": row["cpr"]}},
        "date": row["given_at"].date().isoformat(),
        "period": period,
        "grantee": [department(d) for d in sorted({dst for _src, dst, _c in scopes})],
        "decision": "permit",
        "provision": provisions,
    }
    if row["given_by_cpr"]:
        doc["grantor"] = [{"identifier": {"system": CPR_SYSTEM, "value": row["given_by_cpr"]}}]
    return validated(Consent, doc, f"Consent {doc['id']}")


def _resource_id(consent_id: str, version: int) -> str:
    safe = "".join(c if c.isalnum() or c in "-." else "-" for c in consent_id)
    return f"{safe}.v{version}"[:64]


def bundle_from_warehouse(con: duckdb.DuckDBPyConnection) -> dict:
    """Every staged consent version as a validated R5 ``collection`` Bundle."""
    from fhir.resources.bundle import Bundle

    scopes: dict[tuple[str, int], list[tuple[str, str, str]]] = defaultdict(list)
    for cid, version, src, dst, category in con.execute(
            "SELECT samtykke_id, version, from_department, to_department, category FROM staging.consent_scopes "
            "ORDER BY ALL").fetchall():
        scopes[(cid, version)].append((src, dst, category))
    cursor = con.execute("SELECT * FROM staging.consents ORDER BY samtykke_id, version")
    names = [d[0] for d in cursor.description]
    entries = []
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        resource = consent_resource(row, scopes[(row["samtykke_id"], row["version"])])
        entries.append({"fullUrl": f"urn:uuid:{_uuid(resource['id'])}", "resource": resource})
    bundle = {"resourceType": "Bundle", "type": "collection", "timestamp": datetime.now().astimezone().isoformat(),
              "entry": entries}
    validated(Bundle, bundle, "the Bundle")
    return bundle


def _uuid(text: str) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{CONSENT_ID_SYSTEM}/{text}"))


# ------------------------------------------------------------------------------------------------ in


def is_fhir_url(url: str) -> bool:
    return url.startswith(FILE_SCHEME) or url.startswith(SERVER_SCHEMES)


def bundle_file(url: str) -> Path | None:
    """The Bundle file a ``fhir://`` URL names (None for a server)."""
    return Path(urllib.parse.unquote(url[len(FILE_SCHEME):])) if url.startswith(FILE_SCHEME) else None


def _read_resources(url: str) -> list[dict]:
    path = bundle_file(url)
    if path is not None:
        if not path.is_file():
            raise FhirSourceError(f"FHIR bundle not found: {path.name}")
        try:
            return _entries(json.loads(path.read_text(encoding="utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise FhirSourceError(f"{path.name} is not a FHIR JSON bundle") from None
    base = url.split("+", 1)[1].rstrip("/")
    origin = urllib.parse.urlsplit(base)
    if origin.scheme == "http" and origin.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise FhirSourceError("a FHIR server is read over https (plain http only on this machine): CPR numbers")
    resources: list[dict] = []
    next_url: str | None = f"{base}/Consent?_count=500"
    while next_url:
        here = urllib.parse.urlsplit(next_url)
        if (here.scheme, here.netloc) != (origin.scheme, origin.netloc):
            raise FhirSourceError("a page of the FHIR search points at another server")
        request = urllib.request.Request(next_url, headers={"Accept": "application/fhir+json"})
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (the configured FHIR server)
            page = json.loads(response.read().decode("utf-8"))
        resources += _entries(page)
        next_url = next((link["url"] for link in page.get("link", []) if link.get("relation") == "next"), None)
    return resources


def _entries(bundle: dict) -> list[dict]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise FhirSourceError("not a FHIR Bundle")
    return [e["resource"] for e in bundle.get("entry", []) if isinstance(e, dict) and isinstance(e.get("resource"), dict)
            and e["resource"].get("resourceType") == "Consent"]


def registry_rows(resource: dict) -> tuple[dict, list[dict]]:
    """A Consent (validated as R5 first) as the registry's row and its scope rows."""
    from fhir.resources.consent import Consent

    validated(Consent, resource, f"Consent {str(resource.get('id'))[:64]}")
    ext = {e.get("url"): e for e in resource.get("extension", [])}

    def extension(name: str, kind: str):
        return ext.get(EXT[name], {}).get(kind)

    def cpr(reference: dict | None) -> str | None:
        identifier = (reference or {}).get("identifier") or {}
        return identifier.get("value") if identifier.get("system") == CPR_SYSTEM else None

    def department(actor: dict) -> str | None:
        return ((actor.get("reference") or {}).get("identifier") or {}).get("value")

    consent_id = next((i.get("value") for i in resource.get("identifier", []) if i.get("system") == CONSENT_ID_SYSTEM),
                      None)
    version = extension("consent-version", "valueInteger")
    provisions = resource.get("provision", [])
    purpose = next((p["code"] for prov in provisions for p in prov.get("purpose", []) if p.get("system") ==
                    PURPOSE_SYSTEM), None)
    row = {"samtykke_id": consent_id, "version": version, "cpr": cpr(resource.get("subject")),
           "givet_af_cpr": cpr((resource.get("grantor") or [None])[0]), "formaal": purpose,
           "givet_tid": _sqlite_time((resource.get("period") or {}).get("start")),
           "gyldig_til": (resource.get("period") or {}).get("end"),
           "tilbagekaldt_tid": _sqlite_time(extension("withdrawn", "valueDateTime")),
           "kanal": extension("channel", "valueString"), "registreret_af": extension("registered-by", "valueString"),
           "opdateret_tid": _sqlite_time(extension("updated", "valueDateTime"))}
    scopes = []
    for prov in provisions:
        roles = {((a.get("role") or {}).get("coding") or [{}])[0].get("code"): department(a)
                 for a in prov.get("actor", [])}
        for code in prov.get("code", []):
            for coding in code.get("coding", []):
                if coding.get("system") == CATEGORY_SYSTEM:
                    scopes.append({"samtykke_id": consent_id, "version": version, "fra_afdeling": roles.get("CST"),
                                   "til_afdeling": roles.get("IRCP"), "kategori": coding.get("code")})
    return row, scopes


def _sqlite_time(value: str | None) -> str | None:
    """A FHIR dateTime as the registry writes its stamps (``YYYY-MM-DD HH:MM:SS``, no zone)."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        from datetime import timezone

        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed.isoformat(sep=" ")


@contextmanager
def as_registry(url: str, columns: dict[str, list[str]]) -> Iterator[str]:
    """The Bundle at ``url`` as the registry's tables (``columns``: each table's, from the source spec) in a
    private SQLite file, for as long as the ingest reads it; yields its SQLAlchemy URL."""
    rows: dict[str, list[dict]] = {"samtykke": [], "samtykke_omfang": []}
    for resource in _read_resources(url):
        row, scopes = registry_rows(resource)
        rows["samtykke"].append(row)
        rows["samtykke_omfang"] += scopes
    with tempfile.TemporaryDirectory(prefix="samlet-fhir-") as folder:  # 0700: owner only from the start
        path = Path(folder) / "samtykke.sqlite"
        old = os.umask(0o077)
        try:
            with sqlite3.connect(path) as db:
                for table, names in columns.items():
                    quoted = ", ".join('"' + n + '"' for n in names)
                    db.execute(f'CREATE TABLE "{table}" ({quoted})')
                    db.executemany(f'INSERT INTO "{table}" VALUES ({", ".join("?" for _ in names)})',
                                   [[_plain(r.get(n)) for n in names] for r in rows.get(table, [])])
            db.close()
        finally:
            os.umask(old)
        yield f"sqlite:///{path}"


def _plain(value):
    return value.isoformat() if isinstance(value, date) else value

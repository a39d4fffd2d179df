"""A citizen's access log as FHIR R5 ``AuditEvent`` resources (``samlet-overblik fhir auditevents``), each validated
by ``fhir.resources``: who looked (the user, their role and department), at whom (the citizen by CPR identifier),
why (the purpose, as ``authorization``), through which channel, how many records were shown and how it ended."""

from __future__ import annotations

from datetime import datetime, timezone

from samlet_overblik.access.views import AccessLogEntry
from samlet_overblik.sources.fhir import BASE, CPR_SYSTEM, DEPARTMENT_SYSTEM, validated

USER_SYSTEM = f"{BASE}:bruger"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
OUTCOME = "http://terminology.hl7.org/CodeSystem/audit-event-outcome"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
# The access log's outcome of a lookup that showed the citizen; anything else (not found, refused) is a minor failure.
SHOWN = "shown"


def audit_event(entry: AccessLogEntry, cpr: str) -> dict:
    """One access-log row as a validated R5 AuditEvent (as JSON)."""
    from fhir.resources.auditevent import AuditEvent

    recorded = entry.logged_at if entry.logged_at.tzinfo else entry.logged_at.replace(tzinfo=timezone.utc)
    citizen = {"identifier": {"system": CPR_SYSTEM, "value": cpr}}
    agent: dict = {"who": {"identifier": {"system": USER_SYSTEM, "value": entry.user_id}},
                   "role": [{"text": entry.role}], "requestor": True}
    if entry.department:
        agent["location"] = {"identifier": {"system": DEPARTMENT_SYSTEM, "value": entry.department}}
    doc = {
        "resourceType": "AuditEvent",
        "id": f"adgang-{entry.id}",
        "category": [{"coding": [{"system": DICOM, "code": "110110", "display": "Patient Record"}]}],
        "code": {"coding": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}]},
        "action": "R",
        "recorded": recorded.isoformat(),
        "outcome": {"code": {"system": OUTCOME, "code": "0" if entry.outcome == SHOWN else "4"},
                    "detail": [{"text": entry.outcome}]},
        "authorization": [{"text": entry.purpose}],
        "patient": citizen,
        "agent": [agent],
        "source": {"observer": {"display": "samlet_overblik"}, "type": [{"text": entry.channel}]},
        "entity": [{"what": citizen, "role": {"coding": [{"system": OBJECT_ROLE, "code": "1", "display": "Patient"}]},
                    "detail": [{"type": {"text": "poster"}, "valueInteger": entry.result_count},
                               *([{"type": {"text": "anmodet afdeling"}, "valueString": entry.requested_department}]
                                 if entry.requested_department else [])]}],
    }
    return validated(AuditEvent, doc, f"AuditEvent {doc['id']}")


def bundle(entries: list[AccessLogEntry], cpr: str) -> dict:
    """The entries as a validated R5 ``collection`` Bundle, newest first."""
    from fhir.resources.bundle import Bundle

    doc = {"resourceType": "Bundle", "type": "collection",
           "timestamp": datetime.now(timezone.utc).isoformat(),
           "entry": [{"resource": audit_event(e, cpr)} for e in entries]}
    validated(Bundle, doc, "the Bundle")
    return doc

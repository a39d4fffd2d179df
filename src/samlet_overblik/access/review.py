"""The data steward's review desk: the uncertain record pairs of the last run, ordered by how much a decision moves,
each with its field-by-field evidence; a decision (match / no match, with a reason) is stored with who and when and
honoured above any score from the next run on (``audit.record_steward_decision``; the identity run copies it into
``identity.steward_decisions``).

A steward sees identifying fields (names, birth date, sex, address, postcode, the CPR number masked) and never case
content. Every look at the queue, every pair opened and every decision is written to the access log first (no log,
no answer).
"""

from __future__ import annotations

import json
import math
import secrets
from datetime import datetime, timezone

import duckdb

from samlet_overblik.access import audit
from samlet_overblik.access.borger import BadLookup, NoWarehouse, Stores, log_lookup, require_role
from samlet_overblik.access.users import User
from samlet_overblik.access.views import EvidenceLine, IdentitySide, ReviewItem, ReviewPair
from samlet_overblik.consent.lineage import mask
from samlet_overblik.core.cpr import redact_cpr
from samlet_overblik.core.labels import AGREEMENT_NAMES, DEPARTMENT_NAMES, IDENTITY_FIELD_NAMES, LINK_METHOD_NAMES
from samlet_overblik.identity.engine import FIELD_LABEL, LEVEL_NAMES

STEWARD_ROLE = "datasteward"
DECISIONS = {"match": "decided_match", "no_match": "decided_no_match", "skip": "skipped"}
MAX_REASON = 300
QUEUE_SHOWN = 200

# One row per open pair, with an opaque id (no value from a row in a form or a URL) and what a decision moves: the
# records of both persons, and their departments.
_QUEUE = """
WITH q AS (
    SELECT *, left(md5(concat_ws('|', source, "table", record_id, candidate_source, candidate_table,
                                 candidate_record_id)), 16) AS pair_id
    FROM identity.review_queue
),
sizes AS (
    SELECT l.person_key, count(*) AS n, list(DISTINCT p.department) FILTER (WHERE p.department IS NOT NULL) AS departments
    FROM identity.person_links l
    JOIN staging.person_records p ON p.source = l.source AND p.source_table = l."table" AND p.record_id = l.record_id
    WHERE l.person_key IN (SELECT person_key FROM q UNION SELECT candidate_person_key FROM q)
    GROUP BY l.person_key
)
SELECT q.pair_id, q.score, coalesce(a.n, 0) + coalesce(b.n, 0) AS moved,
       list_distinct(list_concat(coalesce(a.departments, []), coalesce(b.departments, []))) AS departments,
       q.candidate_source, q.first_seen_run, q.source, q."table", q.record_id, q.candidate_table,
       q.candidate_record_id, q.person_key, q.candidate_person_key, q.weight, q.evidence
FROM q LEFT JOIN sizes a ON a.person_key = q.person_key LEFT JOIN sizes b ON b.person_key = q.candidate_person_key
ORDER BY moved DESC, q.score DESC, q.pair_id
"""


def _authorise(stores: Stores, user: User, channel: str) -> None:
    require_role(stores, user, STEWARD_ROLE, channel, "identitetsafklaring er forbeholdt dataforvaltere")


def _decided_pairs(stores: Stores) -> set[frozenset]:
    """Pairs decided at the desk since the last run (the queue is the last run's; they wait for the next)."""
    return {frozenset({(d["source_a"], d["table_a"], d["record_id_a"]), (d["source_b"], d["table_b"], d["record_id_b"])})
            for d in audit.steward_decisions(stores.audit_url)}


def _open_rows(stores: Stores) -> list[tuple]:
    published = stores.published()
    if not published.warehouse.is_file():
        raise NoWarehouse()
    with duckdb.connect(str(published.warehouse), read_only=True) as con:
        rows = con.execute(_QUEUE).fetchall()
    decided = _decided_pairs(stores)
    return [r for r in rows if frozenset({(r[6], r[7], r[8]), (r[4], r[9], r[10])}) not in decided]


def _departments(codes) -> list[str]:
    return [DEPARTMENT_NAMES.get(c, c) for c in sorted(codes or [])]


def queue(stores: Stores, user: User, *, purpose: str, channel: str, skipped: frozenset[str] = frozenset()
          ) -> list[ReviewItem]:
    """The open pairs, those that move most records first (skipped ones last)."""
    _authorise(stores, user, channel)
    rows = _open_rows(stores)
    items = [ReviewItem(r[0], round(float(r[1]), 4), int(r[2]), _departments(r[3]),
                        "CPR-registret" if r[4] == "cpr" else "anden registrering", r[5]) for r in rows]
    items.sort(key=lambda i: i.pair_id in skipped)
    log_lookup(stores, user, None, purpose, channel, len(items), "queue")
    return items[:QUEUE_SHOWN]


def _model_weights(con: duckdb.DuckDBPyConnection) -> dict | None:
    rows = con.execute("SELECT model FROM identity.link_model").fetchall() or con.execute(
        "SELECT model FROM identity.link_runs WHERE model IS NOT NULL ORDER BY finished_at DESC LIMIT 1").fetchall()
    return json.loads(rows[0][0]) if rows else None


def _evidence(model: dict | None, evidence_json: str, total: float) -> list[EvidenceLine]:
    """Each field's agreement and its weight under the model; the rest of the total (how rare the names are, the
    family context) on a line of its own, so the lines add up to the pair's weight."""
    levels = json.loads(evidence_json) if evidence_json else {}
    lines, counted = [], 0.0
    for field, label in FIELD_LABEL.items():
        word = levels.get(label, "missing")
        weight = 0.0
        if model and word != "missing" and word in LEVEL_NAMES[field]:
            level = LEVEL_NAMES[field].index(word)
            weight = math.log2(model["m"][field][level] / model["u"][field][level])
        counted += weight
        lines.append(EvidenceLine(IDENTITY_FIELD_NAMES[label], AGREEMENT_NAMES.get(word, word), round(weight, 2)))
    lines.append(EvidenceLine("navnenes hyppighed og familiekontekst", "", round(total - counted, 2)))
    return lines


def _side(con: duckdb.DuckDBPyConnection, source: str, table: str, record_id: str) -> IdentitySide:
    rows = con.execute(
        """SELECT p.department, p.national_id, p.given_name, p.family_name, p.birth_date, p.sex, p.address, p.postcode,
                  l.method, (SELECT count(*) FROM identity.person_links x WHERE x.person_key = l.person_key)
           FROM staging.person_records p
           LEFT JOIN identity.person_links l ON l.source = p.source AND l."table" = p.source_table
                AND l.record_id = p.record_id
           WHERE p.source = ? AND p.source_table = ? AND p.record_id = ?""", [source, table, record_id]).fetchall()
    if not rows:
        return IdentitySide(source, None, None, None, None, None, None, None, "findes ikke længere", 0)
    dept, nid, given, family, born, sex, address, postcode, method, n = rows[0]
    name = "CPR-registret" if source == "cpr" else DEPARTMENT_NAMES.get(dept, source)
    return IdentitySide(name, given, family, born.isoformat() if born else None, sex, address, postcode, mask(nid),
                        LINK_METHOD_NAMES.get(method, method or ""), int(n or 0))


def _history(con: duckdb.DuckDBPyConnection, keys: list[str]) -> list[str]:
    rows = con.execute(
        """SELECT event_at, event, records, run_id FROM identity.key_events
           WHERE from_key IN (SELECT unnest($keys)) OR to_key IN (SELECT unnest($keys)) ORDER BY event_at DESC LIMIT 20""",
        {"keys": keys}).fetchall()
    words = {"merge": "lagt sammen", "split": "delt"}
    return [f"{at:%d-%m-%Y}: {words.get(event, event)} ({n} poster, kørsel {run})" for at, event, n, run in rows]


def _find(stores: Stores, pair_id: str) -> tuple:
    if not pair_id or len(pair_id) != 16 or not all(c in "0123456789abcdef" for c in pair_id):
        raise BadLookup("ukendt par")
    for row in _open_rows(stores):
        if row[0] == pair_id:
            return row
    raise BadLookup("parret er ikke længere åbent (afgjort, eller forsvundet ved seneste kørsel)")


def pair(stores: Stores, user: User, pair_id: str, *, purpose: str, channel: str) -> ReviewPair:
    """One open pair, side by side, with the evidence (logged under the record's person)."""
    _authorise(stores, user, channel)
    row = _find(stores, pair_id)
    (_, score, moved, departments, cand_source, _, source, table, record_id, cand_table, cand_record_id,
     person_key, cand_key, weight, evidence) = row
    with duckdb.connect(str(stores.published().warehouse), read_only=True) as con:
        result = ReviewPair(
            pair_id=pair_id, score=round(float(score), 4), weight=round(float(weight), 2),
            evidence=_evidence(_model_weights(con), evidence, float(weight)),
            record=_side(con, source, table, record_id),
            candidate=_side(con, cand_source, cand_table, cand_record_id),
            records_moved=int(moved), departments=_departments(departments),
            history=_history(con, [k for k in (person_key, cand_key) if k]))
    log_lookup(stores, user, person_key, purpose, channel, 2, "shown")
    return result


def decide(stores: Stores, user: User, pair_id: str, decision: str, reason: str, *, purpose: str,
           channel: str) -> None:
    """Store a match / no match with its reason (``skip`` is only logged); the next run honours it."""
    _authorise(stores, user, channel)
    if decision not in DECISIONS:
        raise BadLookup("ukendt afgørelse")
    reason = redact_cpr(" ".join((reason or "").split()))[:MAX_REASON]
    if decision != "skip" and len(reason) < 3:
        raise BadLookup("skriv en begrundelse for afgørelsen")
    row = _find(stores, pair_id)
    person_key = row[11]
    # Logged before it is stored: a decision nobody can trace to its steward is not taken.
    log_lookup(stores, user, person_key, purpose, channel, 1, DECISIONS[decision])
    if decision == "skip":
        return
    audit.record_steward_decision(stores.audit_url, {
        "decision_id": "d" + secrets.token_hex(12), "source_a": row[6], "table_a": row[7], "record_id_a": row[8],
        "source_b": row[4], "table_b": row[9], "record_id_b": row[10], "decision": decision, "decided_by": user.id,
        "decided_at": datetime.now(timezone.utc).replace(tzinfo=None), "reason": reason,
    })

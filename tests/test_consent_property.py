"""Property: for random citizens, consents (versions, withdrawals, expiries, custody) and records, no
admitted cross-department row lacks a basis valid at the reference time, and every row that has one is admitted."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samlet_overblik.core.vocabulary import categories
from samlet_overblik.sources.specs import departments
from samlet_overblik.consent.policy import load_policy

from consent_fixtures import REF, add_consent, add_custody, add_person, add_record, new_warehouse, run_consent

CATEGORIES, DEPARTMENTS = categories(), departments()

PEOPLE = {"child": ("0101201234", "2020-01-01"), "parent": ("0202851234", "1985-02-02"), "adult": ("0303801235", "1980-03-03")}
POLICY = load_policy()

scope_st = st.tuples(st.sampled_from(DEPARTMENTS), st.sampled_from(DEPARTMENTS), st.sampled_from(CATEGORIES))
consent_st = st.fixed_dictionaries({
    "sid": st.sampled_from(["A", "B", "C"]),
    "version": st.integers(1, 3),
    "who": st.sampled_from(list(PEOPLE)),
    "by_parent": st.booleans(),
    "given_days": st.integers(-400, 3),
    "valid_days": st.none() | st.integers(-5, 5),
    "withdrawn_hours": st.none() | st.integers(-48, 48),
    "purpose": st.sampled_from(["helhedsorienteret_indsats", "helhedsorienteret_indsats", "andet"]),
    "scopes": st.lists(scope_st, max_size=6, unique=True),
})
record_st = st.tuples(st.sampled_from(list(PEOPLE)), st.sampled_from(DEPARTMENTS), st.sampled_from(CATEGORIES))


def _oracle_in_force(consents, custody_to_days):
    """Which (sid, version) are in force at REF, written independently of the SQL."""
    in_force = {}
    for sid in {c["sid"] for c in consents}:
        versions = [c for c in consents if c["sid"] == sid and REF + timedelta(days=c["given_days"]) <= REF]
        if not versions:
            continue
        c = max(versions, key=lambda v: v["version"])
        given_at = REF + timedelta(days=c["given_days"])
        if c["withdrawn_hours"] is not None and REF + timedelta(hours=c["withdrawn_hours"]) <= REF:
            continue
        if c["valid_days"] is not None and (REF + timedelta(days=c["valid_days"])).date() < REF.date():
            continue
        if c["purpose"] not in POLICY.purposes:
            continue
        if c["by_parent"] and c["who"] != "parent":
            # Custody only parent -> child, from 2020-01-01 until custody_to (None = still).
            if c["who"] != "child" or given_at.date().isoformat() < "2020-01-01":
                continue
            if custody_to_days is not None and given_at.date() > (REF + timedelta(days=custody_to_days)).date():
                continue
        in_force[sid] = c
    return in_force


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    consents=st.lists(consent_st, max_size=5, unique_by=lambda c: (c["sid"], c["version"])),
    records=st.lists(record_st, min_size=1, max_size=6),
    custody_to_days=st.none() | st.integers(-300, 0),
)
def test_exactly_the_rows_with_a_valid_basis_are_admitted(consents, records, custody_to_days):
    con = new_warehouse()
    keys = {name: add_person(con, cpr, birth) for name, (cpr, birth) in PEOPLE.items()}
    custody_to = None if custody_to_days is None else (REF + timedelta(days=custody_to_days)).date().isoformat()
    add_custody(con, PEOPLE["child"][0], PEOPLE["parent"][0], "2020-01-01", custody_to)
    for i, (who, dept, cat) in enumerate(records):
        add_record(con, f"r{i}", keys[who], dept, cat)
    for c in consents:
        add_consent(
            con, c["sid"], c["version"], PEOPLE[c["who"]][0], c["scopes"],
            given_by=PEOPLE["parent"][0] if c["by_parent"] else None,
            given=(REF + timedelta(days=c["given_days"])).isoformat(sep=" "),
            valid_until=None if c["valid_days"] is None else (REF + timedelta(days=c["valid_days"])).date().isoformat(),
            withdrawn=None if c["withdrawn_hours"] is None else (REF + timedelta(hours=c["withdrawn_hours"])).isoformat(sep=" "),
            purpose=c["purpose"],
        )
    run_consent(con)
    in_force = _oracle_in_force(consents, custody_to_days)

    expected = set()
    for i, (who, dept, cat) in enumerate(records):
        for viewer in DEPARTMENTS:
            if viewer == dept:
                expected.add((f"r{i}", viewer))
            elif any(c["who"] == who and (dept, viewer, cat) in c["scopes"] for c in in_force.values()):
                expected.add((f"r{i}", viewer))
    grants = con.execute("SELECT record_id, viewer_department, basis, source_department FROM unified.access_grants").fetchall()
    assert {(r, v) for r, v, _, _ in grants} == expected

    # Every admitted row's basis names a consent version in force that covers exactly this flow.
    category = {f"r{i}": (who, cat) for i, (who, _, cat) in enumerate(records)}
    for record_id, viewer, basis, owner in grants:
        if viewer == owner:
            assert basis == "lov:egen_afdeling"
            continue
        sid, version = basis.removeprefix("samtykke:").split("@")
        c = in_force[sid]
        who, cat = category[record_id]
        assert c["version"] == int(version) and c["who"] == who and (owner, viewer, cat) in c["scopes"]
    con.close()

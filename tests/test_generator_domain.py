"""The generator obeys the domain (issue 13: data a caseworker would believe): a child is placed in one place at a
time, home care goes to plausible ages, and benefits for one's living that exclude each other do not overlap.
Checked over a whole generated municipality without noise (noise is the data errors added on purpose), at two
seeds, by SQL on the source files themselves."""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest

from samlet_overblik.synthetic import generate
from samlet_overblik.synthetic.departments import HOME_CARE_FROM_AGE

AS_OF = date(2026, 11, 1)


@pytest.fixture(scope="module", params=[3, 11])
def clean(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"domain{request.param}")
    generate(4000, request.param, out, noise="none", as_of=AS_OF)
    return out


def _rows(path, sql):
    with sqlite3.connect(path) as con:
        return con.execute(sql).fetchall()


def test_a_child_is_placed_in_one_place_at_a_time(clean):
    placements = _rows(clean / "boern_familie.sqlite",
                       "SELECT count(*) FROM foranstaltning WHERE beskrivelse LIKE 'Anbringelse%'")[0][0]
    assert placements > 10  # the rule is tested on real placements, not on none
    overlapping = _rows(clean / "boern_familie.sqlite", """
        SELECT a.sags_id, a.foranstaltning_id, b.foranstaltning_id FROM foranstaltning a JOIN foranstaltning b
          ON a.sags_id = b.sags_id AND a.foranstaltning_id < b.foranstaltning_id
        WHERE a.beskrivelse LIKE 'Anbringelse%' AND b.beskrivelse LIKE 'Anbringelse%'
          AND a.startdato <= coalesce(b.slutdato, '9999-12-31') AND b.startdato <= coalesce(a.slutdato, '9999-12-31')""")
    assert overlapping == []
    too_old = _rows(clean / "boern_familie.sqlite", """
        SELECT count(*) FROM foranstaltning f JOIN sag s USING (sags_id)
        WHERE f.startdato < s.barn_foedselsdato OR f.startdato >= date(s.barn_foedselsdato, '+18 years')""")[0][0]
    assert too_old == 0  # every measure for a child starts while they are a child


def test_home_care_goes_to_plausible_ages(clean):
    rows = _rows(clean / "sundhed_aeldre.sqlite", """
        SELECT p.birth_date FROM services s JOIN patients p USING (patient_id) WHERE s.paragraph = 'SEL § 83'""")
    assert len(rows) > 50
    ages = [(AS_OF - date.fromisoformat(b[:10])).days // 365 for (b,) in rows if b]
    assert min(ages) >= HOME_CARE_FROM_AGE
    assert sum(a >= 67 for a in ages) / len(ages) > 0.6  # mostly older citizens


def test_benefits_that_exclude_each_other_do_not_overlap(clean):
    twice = _rows(clean / "beskaeftigelse.sqlite",
                  "SELECT count(*) FROM (SELECT borger_id FROM ydelse GROUP BY borger_id HAVING count(*) > 1)")[0][0]
    assert twice > 10  # citizens who went from one benefit to another exist
    overlapping = _rows(clean / "beskaeftigelse.sqlite", """
        SELECT a.borger_id FROM ydelse a JOIN ydelse b ON a.borger_id = b.borger_id AND a.ydelse_id < b.ydelse_id
        WHERE a.fra_dato <= coalesce(b.til_dato, '9999-12-31') AND b.fra_dato <= coalesce(a.til_dato, '9999-12-31')""")
    assert overlapping == []


def test_a_plans_next_follow_up_comes_after_it_was_made(clean):
    """Every plan's follow-up lies after its creation; most lie ahead of the day of the data, some are overdue
    (a follow-up missed), some plans have none set."""
    for source, table, created, follow_up in (("beskaeftigelse", "helhedsplan", "oprettet_dato", "opfoelgning_dato"),
                                              ("social_voksen", "koordinering", "plan_oprettet", "naeste_opfoelgning")):
        rows = _rows(clean / f"{source}.sqlite", f"SELECT {created}, {follow_up} FROM {table}")
        assert len(rows) > 20, source
        set_ = [(date.fromisoformat(c[:10]), date.fromisoformat(f[:10])) for c, f in rows if f is not None]
        assert all(f > c for c, f in set_), source
        ahead = sum(f >= AS_OF for _, f in set_)
        assert 0 < len(set_) - ahead < ahead and len(set_) < len(rows), source

"""Who is known to which department, and the departmental source tables of one chunk.

Person tables carry a hidden column ``_idx`` (the person's local index in the chunk) that the
noise and the ground truth use; the writer drops every column starting with ``_``.
Dates are ``datetime64`` until the writer (sundhed_aeldre keeps ISO text, as its source does).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from samlet_overblik.synthetic import vocab
from samlet_overblik.synthetic._util import NAT_D, Counters, add_years, iso_date, iso_timestamp, money, obj, stamp_after, uniform_days, weighted_choice
from samlet_overblik.synthetic.vocab import BE, BF, SA, SV

P_CASE = 0.04                                   # children (0-17) with a case in children's services
CASE_PARENT_EXTRA = ([0, 1, 2, 3], [0.18, 0.34, 0.28, 0.20])   # more departments of a case child's parent
ADULT_P, ADULT_K = 0.115, ([1, 2, 3], [0.66, 0.25, 0.09])      # adults 18-66
ELDER_P, ELDER_K = 0.28, ([1, 2], [0.82, 0.18])                # 67+
W_CASE_PARENT = (0.60, 0.30, 0.10)              # weights of (beskaeftigelse, social_voksen, sundhed_aeldre)
W_ADULT = (0.75, 0.17, 0.08)
W_ELDER = (0.0, 0.12, 0.88)


@dataclass
class Context:
    rng: np.random.Generator
    as_of: np.datetime64          # datetime64[D]
    now: np.datetime64            # datetime64[s]: the latest timestamp anything may carry
    counters: Counters
    staff: dict[str, np.ndarray]  # per department
    # Its own stream for the planned next meetings, so adding them left every other generated value as it was.
    plans: np.random.Generator | None = None


@dataclass
class Membership:
    member: np.ndarray       # n x 4 bool (BF, BE, SV, SA)
    case_child: np.ndarray   # bool

    @property
    def count(self) -> np.ndarray:
        return self.member.sum(axis=1)


def assign_departments(people: pd.DataFrame, rng: np.random.Generator) -> Membership:
    n = len(people)
    age = people["age"].to_numpy()
    aktiv = (people["status"] == "aktiv").to_numpy()
    in_cpr = people["in_cpr"].to_numpy()
    member = np.zeros((n, 4), dtype=bool)

    case_child = (age < 18) & aktiv & in_cpr & (rng.random(n) < P_CASE)
    member[case_child, BF] = True
    parents = np.concatenate([people["mother"].to_numpy()[case_child], people["father"].to_numpy()[case_child]])
    parents = parents[parents >= 0]
    case_parent = np.zeros(n, dtype=bool)
    case_parent[parents] = True
    case_parent &= aktiv & in_cpr
    member[case_parent, BF] = True

    adult = (age >= 18) & aktiv & in_cpr & ~case_child
    k = np.zeros(n, dtype=np.int64)
    w = np.zeros((n, 3))
    g1 = adult & case_parent
    k[g1] = rng.choice(CASE_PARENT_EXTRA[0], size=g1.sum(), p=CASE_PARENT_EXTRA[1])
    w[g1] = W_CASE_PARENT
    u = rng.random(n)
    g2 = adult & ~case_parent & (age < 67) & (u < ADULT_P)
    k[g2] = rng.choice(ADULT_K[0], size=g2.sum(), p=ADULT_K[1])
    w[g2] = W_ADULT
    g3 = adult & ~case_parent & (age >= 67) & (u < ELDER_P)
    k[g3] = rng.choice(ELDER_K[0], size=g3.sum(), p=ELDER_K[1])
    w[g3] = W_ELDER
    w[age > 67, 0] = 0.0  # the job centre serves 18-67
    # weighted sampling without replacement (Efraimidis-Spirakis keys)
    with np.errstate(divide="ignore"):
        keys = np.where(w > 0, np.log(rng.random((n, 3))) / np.where(w > 0, w, 1.0), -np.inf)
    rank = np.argsort(-keys, axis=1, kind="stable")
    rows = np.arange(n)
    for j in range(3):
        chosen = rank[:, j]
        take = (j < k) & np.isfinite(keys[rows, chosen])
        member[rows[take], 1 + chosen[take]] = True

    # people without a CPR number (foreigners) appear in elderly care or adult social services only
    foreign = ~in_cpr
    to_sa = foreign & (rng.random(n) < 0.6)
    member[to_sa, SA] = True
    member[foreign & ~to_sa, SV] = True
    return Membership(member=member, case_child=case_child)


def _explode(_rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """Parent row index for every child row (np.repeat of the parent rows by their counts)."""
    return np.repeat(np.arange(len(counts)), counts)


def _dashed(values: np.ndarray) -> np.ndarray:
    out = obj(values).copy()
    ok = np.array([v is not None for v in out], dtype=bool)
    out[ok] = np.array([f"{v[:6]}-{v[6:]}" for v in out[ok]], dtype=object)
    return out


def _staff(ctx: Context, dept: str, n: int) -> np.ndarray:
    pool = ctx.staff[dept]
    return pool[ctx.rng.integers(0, len(pool), n)]


def _plan_next(rng, owner: np.ndarray, open_: np.ndarray, when: np.ndarray, as_of, p: float, within_days: int
               ) -> np.ndarray:
    """The first meeting of each open owner (case or citizen) moves to a planned date within ``within_days``
    after ``as_of``, with probability ``p``: where the source has a next meeting, the overview shows it."""
    first = np.zeros(len(owner), dtype=bool)
    first[np.unique(owner, return_index=True)[1]] = True
    planned = first & open_ & (rng.random(len(owner)) < p)
    ahead = as_of + rng.integers(1, within_days + 1, len(owner)).astype("timedelta64[D]")
    return np.where(planned, ahead, when)


def _follow_up(rng, created: np.ndarray, as_of) -> np.ndarray:
    """A plan's next follow-up: every 3 or 6 months from its creation, the first on or after ``as_of``; one in six
    plans has missed its latest (the date is in the past), one in ten has none set. Drawn from the plans' own
    stream after everything else drawn from it, so adding it moved no other generated value."""
    every = np.where(rng.random(len(created)) < 0.5, 91, 182)
    since = np.maximum((as_of - created).astype(np.int64), 0)
    periods = -(-since // every)
    overdue = (rng.random(len(created)) < 1 / 6) & (periods > 1)
    when = created + ((periods - overdue) * every).astype("timedelta64[D]")
    return np.where(rng.random(len(created)) < 0.1, NAT_D, when)


# Where a department's caseworkers sit; the staff directory of each source system names the team.
TEAMS = {
    "boern_familie": ("Team 0-6 år", "Team 7-13 år", "Ungeteamet", "Familieplejeteamet"),
    "beskaeftigelse": ("Team Ydelse", "Team Uddannelse", "Team Ressource", "Sygedagpengeteamet"),
    "social_voksen": ("Team Bostøtte", "Team Misbrug", "Team Botilbud"),
    "sundhed_aeldre": ("Hjemmeplejen Nord", "Hjemmeplejen Syd", "Visitationen", "Sygeplejen"),
}
# The staff table of each source system and its columns: (id, name, team, phone, e-mail, update stamp). The names
# differ by system (several systems may live in one database server).
STAFF_TABLES = {
    "boern_familie": ("sagsbehandler", ("sagsbehandler_id", "navn", "team", "telefon", "email", "aendret")),
    "beskaeftigelse": ("medarbejder", ("medarbejder_id", "navn", "team", "telefon", "email", "aendret")),
    "social_voksen": ("personale", ("personale_id", "navn", "team", "telefon", "email", "aendret")),
    "sundhed_aeldre": ("staff", ("staff_id", "name", "team", "phone", "email", "updated_at")),
}


def staff_directory(department: str, names: np.ndarray, rng: np.random.Generator, now) -> pd.DataFrame:
    """The department's caseworkers with team, direct telephone number and e-mail (one row per name)."""
    unique = list(dict.fromkeys(names.tolist()))
    n = len(unique)
    teams = TEAMS[department]
    phone = [f"{rng.integers(40, 90):02d} {rng.integers(0, 100):02d} {rng.integers(0, 100):02d} "
             f"{rng.integers(0, 100):02d}" for _ in range(n)]
    email = []
    for i, name in enumerate(unique):
        first, _, last = name.partition(" ")
        local = "".join(ch for ch in (first[:2] + last[:2]).lower() if ch.isalpha()) or "medarbejder"
        email.append(f"{local}{i + 1}@kommune.dk")
    stamp = np.full(n, now)
    cols = STAFF_TABLES[department][1]
    updated = iso_timestamp(stamp, sep="T") if department == "sundhed_aeldre" else stamp
    return pd.DataFrame({cols[0]: np.arange(1, n + 1), cols[1]: unique, cols[2]: [teams[i % len(teams)] for i in range(n)],
                         cols[3]: phone, cols[4]: email, cols[5]: updated})


def _end_dates(rng, start, ongoing_p, lo_days, hi_days, as_of):
    """End = start + duration; ongoing (NaT) with probability ongoing_p or when in the future."""
    dur = rng.integers(lo_days, hi_days + 1, len(start)).astype("timedelta64[D]")
    end = start + dur
    ongoing = (rng.random(len(start)) < ongoing_p) | (end > as_of)
    return np.where(ongoing, NAT_D, end)


# ---------------------------------------------------------------------------------- children


def _one_after_another(group: np.ndarray, chosen: np.ndarray, start: np.ndarray, end: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Within each group, the ``chosen`` rows run one after another, never side by side: sorted by start, each
    ends the day before the next begins (a child moved from one placement to the next; a citizen going from one
    benefit to another), and a row that would start with or before the previous one starts the day after it."""
    start, end = start.copy(), end.copy()
    rows = np.flatnonzero(chosen)
    order = rows[np.lexsort((start[rows], group[rows]))]
    one_day = np.timedelta64(1, "D")
    for prev, cur in zip(order[:-1], order[1:], strict=True):
        if group[prev] != group[cur]:
            continue
        if start[cur] <= start[prev]:
            start[cur] = start[prev] + one_day
        if np.isnat(end[prev]) or end[prev] >= start[cur]:
            end[prev] = start[cur] - one_day
        if not np.isnat(end[cur]) and end[cur] < start[cur]:
            end[cur] = start[cur]
    return start, end


def _one_placement_at_a_time(case: np.ndarray, kind: np.ndarray, start: np.ndarray, end: np.ndarray
                             ) -> tuple[np.ndarray, np.ndarray]:
    """A child is placed in one place at a time (BL § 46 / § 47): placements of a case follow each other."""
    return _one_after_another(case, np.char.startswith(kind.astype(str), "anbringelse"), start, end)


def build_boern_familie(pop, ms: Membership, ctx: Context) -> tuple[dict[str, pd.DataFrame], dict]:
    rng, as_of, now = ctx.rng, ctx.as_of, ctx.now
    people = pop.people
    kids = np.flatnonzero(ms.case_child)
    n = len(kids)
    birth = people["foedselsdato"].to_numpy().astype("datetime64[D]")[kids]
    sags_id = np.array([f"BF-{i:06d}" for i in ctx.counters.take("bf.sag", n)], dtype=object)
    oprettet = uniform_days(rng, np.maximum(birth + 14, as_of - 8 * 365), as_of - 14)
    closed = rng.random(n) < 0.30
    caseworker = _staff(ctx, "boern_familie", n)

    # measures
    m = 1 + rng.binomial(2, 0.45, n)
    case = _explode(rng, m)
    kinds = weighted_choice(rng, len(case), [x[5] for x in vocab.BF_MEASURES])
    start = uniform_days(rng, oprettet[case], as_of - 1)
    lo = np.array([90 if x[0] == "undersoegelse" else (180 if x[0].startswith("anbringelse") else 60)
                   for x in vocab.BF_MEASURES])[kinds]
    hi = np.array([120 if x[0] == "undersoegelse" else (1500 if x[0].startswith("anbringelse") else 720)
                   for x in vocab.BF_MEASURES])[kinds]
    dur = (lo + rng.random(len(case)) * (hi - lo)).astype(np.int64).astype("timedelta64[D]")
    end = start + dur
    end = np.where(end > as_of, NAT_D, end)
    end = np.where(closed[case] & np.isnat(end), uniform_days(rng, start + 1, as_of), end)
    start, end = _one_placement_at_a_time(case, obj([x[0] for x in vocab.BF_MEASURES])[kinds], start, end)
    paragraph = np.where(start >= vocab.BARNETS_LOV_FROM,
                         obj([x[3] for x in vocab.BF_MEASURES])[kinds], obj([x[2] for x in vocab.BF_MEASURES])[kinds])
    cost_lo = np.array([x[4][0] for x in vocab.BF_MEASURES])[kinds]
    cost_hi = np.array([x[4][1] for x in vocab.BF_MEASURES])[kinds]
    last_change = np.where(np.isnat(end), start, end)
    foranstaltning = pd.DataFrame({
        "foranstaltning_id": ctx.counters.take("bf.foranstaltning", len(case)),
        "sags_id": sags_id[case],
        "paragraf": paragraph,
        "beskrivelse": obj([x[1] for x in vocab.BF_MEASURES])[kinds],
        "startdato": start,
        "slutdato": end,
        "maanedlig_udgift": money(rng, cost_lo, cost_hi),
        "sagsbehandler": caseworker[case],
        "aendret_tid": stamp_after(rng, last_change, now),
    })

    # a placement without consent sometimes ends one parent's custody (court decision)
    placed = np.flatnonzero((obj([x[0] for x in vocab.BF_MEASURES])[kinds] == "anbringelse_uden_samtykke")
                            & (rng.random(len(case)) < 0.4))
    if len(placed):
        child = kids[case[placed]]
        parent = np.where(people["father"].to_numpy()[child] >= 0, people["father"].to_numpy()[child],
                          people["mother"].to_numpy()[child])
        when = np.minimum(start[placed] + rng.integers(30, 365, len(placed)).astype("timedelta64[D]"), as_of - 1)
        _end_custody(pop.relations, child[parent >= 0], parent[parent >= 0], when[parent >= 0])

    case_status = np.where(closed, "lukket", "aaben").astype(object)
    case_last = np.maximum(oprettet, pd.Series(last_change).groupby(case).max().reindex(range(n)).to_numpy()
                           .astype("datetime64[D]"))
    sag = pd.DataFrame({
        "sags_id": sags_id,
        "barn_cpr": _dashed(people["cpr"].to_numpy()[kids]),
        "barn_fornavn": people["fornavn"].to_numpy()[kids],
        "barn_efternavn": people["efternavn"].to_numpy()[kids],
        "barn_foedselsdato": birth,
        "adresse": people["adresse"].to_numpy()[kids],
        "postnr": people["postnr"].to_numpy()[kids],
        "sagsbehandler": caseworker,
        "oprettet_dato": oprettet,
        "status": case_status,
        "aendret_tid": stamp_after(rng, case_last, now),
        "_idx": kids,
    })

    # case parties: both parents (when alive, resident and registered)
    aktiv = (people["status"] == "aktiv").to_numpy() & people["in_cpr"].to_numpy()
    frames = []
    custody_now = _custody_holders(pop.relations, as_of)
    for col in ("mother", "father"):
        par = people[col].to_numpy()[kids]
        ok = (par >= 0) & np.where(par >= 0, aktiv[np.maximum(par, 0)], False)
        c_idx = np.flatnonzero(ok)
        p_idx = par[ok]
        male = people["male"].to_numpy()[p_idx]
        role = np.where(male, "far", "mor").astype(object)
        # sole custody holder (the other parent's custody ended) is sometimes registered as such
        sole = np.array([(int(k), int(p)) in custody_now and len(custody_now.get_holders(int(k))) == 1
                         for k, p in zip(kids[c_idx], p_idx)], dtype=bool) if len(p_idx) else np.zeros(0, bool)
        role[sole & (rng.random(len(p_idx)) < 0.5)] = "foraeldremyndighedsindehaver"
        frames.append(pd.DataFrame({"case": c_idx, "_idx": p_idx, "rolle": role}))
    parts = pd.concat(frames, ignore_index=True).sort_values(["case", "_idx"], kind="stable")
    pc = parts["case"].to_numpy()
    pi = parts["_idx"].to_numpy()
    sag_part = pd.DataFrame({
        "part_id": ctx.counters.take("bf.sag_part", len(parts)),
        "sags_id": sags_id[pc],
        "part_cpr": _dashed(people["cpr"].to_numpy()[pi]),
        "fornavn": people["fornavn"].to_numpy()[pi],
        "efternavn": people["efternavn"].to_numpy()[pi],
        "rolle": parts["rolle"].to_numpy(),
        "aendret_tid": stamp_after(rng, oprettet[pc], now),
        "_idx": pi,
    })

    # notifications
    nu = rng.choice([0, 1, 2, 3], size=n, p=[0.2, 0.4, 0.28, 0.12])
    uc = _explode(rng, nu)
    received = uniform_days(rng, np.maximum(birth[uc], oprettet[uc] - 365), np.minimum(oprettet[uc] + 60, as_of))
    underretning = pd.DataFrame({
        "underretning_id": ctx.counters.take("bf.underretning", len(uc)),
        "sags_id": sags_id[uc],
        "modtaget_dato": received,
        "kilde": vocab.BF_NOTIFICATION_SOURCES[rng.integers(0, len(vocab.BF_NOTIFICATION_SOURCES), len(uc))],
        "paragraf": np.where(received >= vocab.BARNETS_LOV_FROM, "BL § 133", "SEL § 153").astype(object),
        "vurdering": vocab.BF_NOTIFICATION_ASSESSMENTS[rng.integers(0, len(vocab.BF_NOTIFICATION_ASSESSMENTS), len(uc))],
        "aendret_tid": stamp_after(rng, received, now),
    })

    # meetings
    nm = 1 + rng.binomial(3, 0.4, n)
    mc = _explode(rng, nm)
    mdate = uniform_days(rng, oprettet[mc], as_of)
    # Most open cases have their next meeting planned (a network meeting, a follow-up with the family).
    mdate = _plan_next(ctx.plans or rng, mc, ~closed[mc], mdate, as_of, 0.6, 45)
    moede = pd.DataFrame({
        "moede_id": ctx.counters.take("bf.moede", len(mc)),
        "sags_id": sags_id[mc],
        "moede_dato": mdate,
        "moedetype": vocab.BF_MEETING_TYPES[rng.integers(0, len(vocab.BF_MEETING_TYPES), len(mc))],
        "sagsbehandler": np.where(rng.random(len(mc)) < 0.85, caseworker[mc], _staff(ctx, "boern_familie", len(mc))),
        "aendret_tid": stamp_after(rng, np.minimum(mdate, as_of), now),
    })
    tables = {"sag": sag, "sag_part": sag_part, "foranstaltning": foranstaltning,
              "underretning": underretning, "moede": moede}
    return tables, {"case_child": kids, "case_opened": oprettet}


class _CustodyIndex(set[tuple[int, int]]):
    """(child, parent) pairs with custody in force, plus holders per child."""

    def __init__(self, pairs: Iterable[tuple[int, int]]) -> None:
        pairs = list(pairs)
        super().__init__(pairs)
        self._by_child: dict[int, list[int]] = {}
        for c, p in sorted(pairs):
            self._by_child.setdefault(c, []).append(p)

    def get_holders(self, child: int) -> list[int]:
        return self._by_child.get(child, [])


def _custody_holders(relations: pd.DataFrame, as_of: np.datetime64) -> _CustodyIndex:
    r = relations[(relations["relation"] == "foraeldremyndighed")
                  & (relations["til"].isna() | (relations["til"] > pd.Timestamp(as_of)))]
    return _CustodyIndex(zip(r["child"].tolist(), r["parent"].tolist()))


def _end_custody(relations: pd.DataFrame, child: np.ndarray, parent: np.ndarray, when: np.ndarray) -> None:
    """Set til_dato on open custody relations (in place)."""
    key = pd.MultiIndex.from_arrays([relations["child"], relations["parent"], relations["relation"]])
    target = pd.MultiIndex.from_arrays([child, parent, np.full(len(child), "foraeldremyndighed")])
    pos = key.get_indexer(target)
    ok = pos >= 0
    pos, when = pos[ok], when[ok]
    til_col = relations.columns.get_loc("til")
    still_open = relations["til"].isna().to_numpy()[pos]
    relations.iloc[pos[still_open], til_col] = pd.to_datetime(when[still_open].astype("datetime64[s]"))


# ---------------------------------------------------------------------------------- job centre


def build_beskaeftigelse(pop, ms: Membership, ctx: Context) -> tuple[dict[str, pd.DataFrame], dict]:
    rng, as_of, now = ctx.rng, ctx.as_of, ctx.now
    people = pop.people
    idx = np.flatnonzero(ms.member[:, BE])
    n = len(idx)
    borger_id = ctx.counters.take("be.borger", n)
    age = people["age"].to_numpy()[idx]
    birth = people["foedselsdato"].to_numpy().astype("datetime64[D]")[idx]
    caseworker = _staff(ctx, "beskaeftigelse", n)
    adult_from = add_years(birth, 18)
    window_start = np.maximum(adult_from, as_of - 4 * 365)

    # benefits
    nb = 1 + (rng.random(n) < 0.3).astype(np.int64)
    bc = _explode(rng, nb)
    kinds = weighted_choice(rng, len(bc), [x[2] for x in vocab.BE_BENEFITS])
    names = obj([x[0] for x in vocab.BE_BENEFITS])
    kind_name = names[kinds]
    young = age[bc] < 30
    kind_name = np.where(young & (kind_name == "kontanthjaelp") & (rng.random(len(bc)) < 0.7), "uddannelseshjaelp", kind_name)
    kind_name = np.where(~young & (kind_name == "uddannelseshjaelp"), "kontanthjaelp", kind_name)
    rng_of = {x[0]: x[1] for x in vocab.BE_BENEFITS}
    lo = np.array([rng_of[k][0] for k in kind_name], dtype=float)
    hi = np.array([rng_of[k][1] for k in kind_name], dtype=float)
    fra = uniform_days(rng, window_start[bc], as_of - 7)
    til = _end_dates(rng, fra, 0.55, 30, 720, as_of)
    # Benefits for one's living (forsørgelsesydelser) exclude each other: a citizen gets one at a time.
    fra, til = _one_after_another(bc, np.ones(len(bc), dtype=bool), fra, til)
    ydelse = pd.DataFrame({
        "ydelse_id": ctx.counters.take("be.ydelse", len(bc)),
        "borger_id": borger_id[bc],
        "ydelsestype": kind_name.astype(object),
        "beloeb_pr_maaned": money(rng, lo, hi),
        "fra_dato": fra,
        "til_dato": til,
        "sagsbehandler": caseworker[bc],
        "sidst_aendret": stamp_after(rng, np.where(np.isnat(til), fra, til), now),
    })

    # offers
    no = rng.binomial(2, 0.45, n)
    oc = _explode(rng, no)
    ok = weighted_choice(rng, len(oc), [x[2] for x in vocab.BE_OFFERS])
    ofra = uniform_days(rng, window_start[oc], as_of - 7)
    otil = _end_dates(rng, ofra, 0.4, 28, 540, as_of)
    tilbud = pd.DataFrame({
        "tilbud_id": ctx.counters.take("be.tilbud", len(oc)),
        "borger_id": borger_id[oc],
        "tilbudstype": obj([x[0] for x in vocab.BE_OFFERS])[ok],
        "fra_dato": ofra,
        "til_dato": otil,
        "maanedlig_pris": money(rng, np.array([x[1][0] for x in vocab.BE_OFFERS])[ok],
                                np.array([x[1][1] for x in vocab.BE_OFFERS])[ok]),
        "sagsbehandler": caseworker[oc],
        "sidst_aendret": stamp_after(rng, np.where(np.isnat(otil), ofra, otil), now),
    })

    # meetings
    ns = 1 + np.minimum(rng.poisson(2.5, n), 10)
    sc = _explode(rng, ns)
    sdate = uniform_days(rng, np.maximum(window_start[sc], as_of - 2 * 365), as_of)
    sdate = _plan_next(ctx.plans or rng, sc, np.ones(len(sc), dtype=bool), sdate, as_of, 0.5, 30)  # the next one
    samtale = pd.DataFrame({
        "samtale_id": ctx.counters.take("be.samtale", len(sc)),
        "borger_id": borger_id[sc],
        "samtale_dato": sdate,
        "samtaletype": vocab.BE_MEETING_TYPES[rng.integers(0, len(vocab.BE_MEETING_TYPES), len(sc))],
        "sagsbehandler": np.where(rng.random(len(sc)) < 0.8, caseworker[sc], _staff(ctx, "beskaeftigelse", len(sc))),
        "sidst_aendret": stamp_after(rng, np.minimum(sdate, as_of), now),
    })

    # sanctions on cash benefits
    cash = np.isin(kind_name, ["kontanthjaelp", "uddannelseshjaelp", "selvforsoergelses_og_hjemrejseydelse"])
    sanctioned = np.flatnonzero(cash & (rng.random(len(bc)) < 0.12))
    nsan = 1 + rng.binomial(1, 0.3, len(sanctioned))
    sb = sanctioned[_explode(rng, nsan)]
    sdt = uniform_days(rng, fra[sb], np.where(np.isnat(til[sb]), as_of, til[sb]))
    sanktion = pd.DataFrame({
        "sanktion_id": ctx.counters.take("be.sanktion", len(sb)),
        "borger_id": borger_id[bc[sb]],
        "sanktion_dato": sdt,
        "aarsag": vocab.BE_SANCTION_REASONS[rng.integers(0, len(vocab.BE_SANCTION_REASONS), len(sb))],
        "beloeb": money(rng, np.full(len(sb), 400.0), np.full(len(sb), 3500.0)),
        "sagsbehandler": caseworker[bc[sb]],
        "sidst_aendret": stamp_after(rng, sdt, now),
    })

    # one plan (helhedsplan) for some complex citizens
    complex_ = np.flatnonzero((ms.count[idx] >= 2) & (rng.random(n) < 0.35))
    odate = uniform_days(rng, np.maximum(window_start[complex_], as_of - 3 * 365), as_of)
    helhedsplan = pd.DataFrame({
        "plan_id": ctx.counters.take("be.helhedsplan", len(complex_)),
        "borger_id": borger_id[complex_],
        "tovholder": _staff(ctx, "beskaeftigelse", len(complex_)),
        "oprettet_dato": odate,
        "maal": _goals(rng, len(complex_)),
        "opfoelgning_dato": _follow_up(ctx.plans or rng, odate, as_of),
        "sidst_aendret": stamp_after(rng, odate, now),
    })

    phone = (rng.integers(2, 10, n) * 10_000_000 + rng.integers(0, 10_000_000, n)).astype(str).astype(object)
    phone[rng.random(n) < 0.1] = None
    borger = pd.DataFrame({
        "borger_id": borger_id,
        "cprnr": people["cpr"].to_numpy()[idx],
        "fornavn": people["fornavn"].to_numpy()[idx],
        "efternavn": people["efternavn"].to_numpy()[idx],
        "adresse": people["adresse"].to_numpy()[idx],
        "postnr": people["postnr"].to_numpy()[idx],
        "telefon": phone,
        "sidst_aendret": stamp_after(rng, as_of - rng.integers(0, 700, n).astype("timedelta64[D]"), now),
        "_idx": idx,
    })
    return {"borger": borger, "ydelse": ydelse, "tilbud": tilbud, "samtale": samtale,
            "sanktion": sanktion, "helhedsplan": helhedsplan}, {}


def _goals(rng: np.random.Generator, n: int) -> np.ndarray:
    k = rng.integers(2, 4, n)
    picks = np.argsort(rng.random((n, len(vocab.GOALS))), axis=1)
    return np.array(["; ".join(vocab.GOALS[picks[i, :k[i]]]) for i in range(n)], dtype=object)


# ---------------------------------------------------------------------------------- adult social


def build_social_voksen(pop, ms: Membership, ctx: Context) -> tuple[dict[str, pd.DataFrame], dict]:
    rng, as_of, now = ctx.rng, ctx.as_of, ctx.now
    people = pop.people
    idx = np.flatnonzero(ms.member[:, SV])
    n = len(idx)
    klient_id = ctx.counters.take("sv.klient", n)
    age = people["age"].to_numpy()[idx]
    in_cpr = people["in_cpr"].to_numpy()[idx]
    anonymous = in_cpr & (rng.random(n) < 0.06)  # anonymous § 101 a treatment: no CPR, a name only

    paragraphs = obj([x[0] for x in vocab.SV_GRANTS])
    anon_pos = int(np.flatnonzero(paragraphs == "§ 101 a")[0])
    weights = np.array([x[3] for x in vocab.SV_GRANTS])
    weights[anon_pos] = 0.0
    ng = np.where(anonymous, 1, 1 + rng.binomial(2, 0.35, n))
    gc = _explode(rng, ng)
    kinds = weighted_choice(rng, len(gc), weights)
    kinds = np.where(anonymous[gc], anon_pos, kinds)
    pos103, pos104 = (int(np.flatnonzero(paragraphs == p)[0]) for p in ("§ 103", "§ 104"))
    kinds = np.where((kinds == pos103) & (age[gc] >= 67), pos104, kinds)
    birth = people["foedselsdato"].to_numpy().astype("datetime64[D]")[idx]
    fra = uniform_days(rng, np.maximum(add_years(birth, 18), as_of - 6 * 365)[gc], as_of - 7)
    til = _end_dates(rng, fra, 0.5, 60, 1200, as_of)
    bevilling = pd.DataFrame({
        "bevilling_id": ctx.counters.take("sv.bevilling", len(gc)),
        "klient_id": klient_id[gc],
        "paragraf": paragraphs[kinds],
        "ydelse": obj([x[1] for x in vocab.SV_GRANTS])[kinds],
        "bevilget_fra": fra,
        "bevilget_til": til,
        "pris_pr_maaned": money(rng, np.array([x[2][0] for x in vocab.SV_GRANTS])[kinds],
                                np.array([x[2][1] for x in vocab.SV_GRANTS])[kinds]),
        "kontaktperson": _staff(ctx, "social_voksen", len(gc)),
        "aendret": stamp_after(rng, np.where(np.isnat(til), fra, til), now),
    })

    coord = np.flatnonzero((ms.count[idx] >= 2) & ~anonymous & (rng.random(n) < 0.25))
    pdate = uniform_days(rng, np.full(len(coord), as_of - 3 * 365), as_of)
    koordinering = pd.DataFrame({
        "koordinering_id": ctx.counters.take("sv.koordinering", len(coord)),
        "klient_id": klient_id[coord],
        "tovholder": _staff(ctx, "social_voksen", len(coord)),
        "plan_oprettet": pdate,
        "maal": _goals(rng, len(coord)),
        "naeste_opfoelgning": _follow_up(ctx.plans or rng, pdate, as_of),
        "aendret": stamp_after(rng, pdate, now),
    })

    cpr_dashed = _dashed(people["cpr"].to_numpy()[idx])
    cpr_dashed[anonymous] = None
    fdato = birth.copy()
    fdato[anonymous & (rng.random(n) < 0.5)] = NAT_D
    adresse = people["adresse"].to_numpy()[idx].copy()
    postnr = people["postnr"].to_numpy()[idx].copy()
    adresse[anonymous] = None
    postnr[anonymous] = None
    klient = pd.DataFrame({
        "klient_id": klient_id,
        "cpr": cpr_dashed,
        "navn": obj(people["fornavn"].to_numpy()[idx]) + " " + obj(people["efternavn"].to_numpy()[idx]),
        "foedselsdato": fdato,
        "adresse": adresse,
        "postnr": postnr,
        "aendret": stamp_after(rng, as_of - rng.integers(0, 900, n).astype("timedelta64[D]"), now),
        "_idx": idx,
        "_anonymous": anonymous,
    })
    return {"klient": klient, "bevilling": bevilling, "koordinering": koordinering}, {}


# ---------------------------------------------------------------------------------- elderly care


VISIT_DAYS = 14  # visits are kept for the last 14 days of active home care
HOME_CARE_FROM_AGE = 50


def build_sundhed_aeldre(pop, ms: Membership, ctx: Context) -> tuple[dict[str, pd.DataFrame], dict]:
    rng, as_of, now = ctx.rng, ctx.as_of, ctx.now
    people = pop.people
    idx = np.flatnonzero(ms.member[:, SA])
    n = len(idx)
    patient_id = ctx.counters.take("sa.patients", n)
    age = people["age"].to_numpy()[idx]
    birth = people["foedselsdato"].to_numpy().astype("datetime64[D]")[idx]
    old = age >= 67

    ns = np.where(old, 1 + rng.binomial(3, 0.35, n), 1 + rng.binomial(1, 0.3, n))
    sc = _explode(rng, ns)
    w_old = np.array([x[6] for x in vocab.SA_SERVICES])
    w_young = np.array([x[7] for x in vocab.SA_SERVICES])
    k_old = weighted_choice(rng, len(sc), w_old)
    k_young = weighted_choice(rng, len(sc), w_young)
    kinds = np.where(old[sc], k_old, k_young)
    # Home care (SEL § 83) goes to people from about 50 (younger people with a disability get it too, but rarely
    # enough that a demo shows none): younger citizens get health services instead.
    home_care = np.array([x[2] == "SEL § 83" for x in vocab.SA_SERVICES])
    health = np.flatnonzero(~home_care)
    w_health = w_young[health] / w_young[health].sum()
    too_young = home_care[kinds] & (age[sc] < HOME_CARE_FROM_AGE)
    kinds = np.where(too_young, health[rng.choice(len(health), len(sc), p=w_health)], kinds)
    start = uniform_days(rng, np.maximum(add_years(birth, 18), as_of - 5 * 365)[sc], as_of - 1)
    short = np.isin(obj([x[0] for x in vocab.SA_SERVICES])[kinds], ["B3.1", "T1.1"])
    end_long = _end_dates(rng, start, 0.6, 30, 900, as_of)
    end_short = start + rng.integers(28, 85, len(sc)).astype("timedelta64[D]")
    end_short = np.where(end_short > as_of, NAT_D, end_short)
    end = np.where(short, end_short, end_long)
    hlo = np.array([x[3][0] for x in vocab.SA_SERVICES])[kinds]
    hhi = np.array([x[3][1] for x in vocab.SA_SERVICES])[kinds]
    hours = np.round((hlo + rng.random(len(sc)) * (hhi - hlo)) * 4) / 4
    rate = np.array([x[4] for x in vocab.SA_SERVICES])[kinds]
    service_id = ctx.counters.take("sa.services", len(sc))
    last = np.where(np.isnat(end), start, end)
    services = pd.DataFrame({
        "service_id": service_id,
        "patient_id": patient_id[sc],
        "fsiii_code": obj([x[0] for x in vocab.SA_SERVICES])[kinds],
        "service_name": obj([x[1] for x in vocab.SA_SERVICES])[kinds],
        "paragraph": obj([x[2] for x in vocab.SA_SERVICES])[kinds],
        "start_date": iso_date(start),
        "end_date": iso_date(end),
        "hours_per_week": hours,
        "monthly_cost": np.round(hours * 4.33 * rate, 2),
        "responsible": _staff(ctx, "sundhed_aeldre", len(sc)),
        "updated_at": iso_timestamp(stamp_after(rng, last, now), sep="T"),
    })

    # home visits: the last VISIT_DAYS days of active services that are delivered in the home
    home = np.array([x[5] for x in vocab.SA_SERVICES])[kinds]
    active = np.flatnonzero(home & np.isnat(end))
    per_week = np.clip(np.round(hours[active] * 2), 1, 21).astype(np.int64)
    nv = per_week * VISIT_DAYS // 7
    vrow = active[_explode(rng, nv)]
    j = np.arange(len(vrow)) - np.repeat(np.cumsum(nv) - nv, nv)
    nv_r = np.repeat(nv, nv)
    per_day = np.maximum(1, -(-nv_r // VISIT_DAYS))
    day = as_of - VISIT_DAYS + (j * VISIT_DAYS // nv_r)
    slot = j % per_day
    start_min = (7 * 60 + slot * (14 * 60 // per_day) + rng.integers(0, 90, len(vrow))).astype(np.int64)
    minutes = np.maximum(5, np.round(hours[vrow] * 60 / np.repeat(per_week, nv)) + rng.integers(-5, 6, len(vrow)))
    vstart = day.astype("datetime64[s]") + (start_min * 60).astype("timedelta64[s]")
    vend = vstart + (minutes * 60).astype(np.int64).astype("timedelta64[s]")
    keep = (vend <= now) & (day >= start[vrow])
    vrow, vstart, vend = vrow[keep], vstart[keep], vend[keep]
    visits = pd.DataFrame({
        "visit_id": ctx.counters.take("sa.visits", len(vrow)),
        "patient_id": patient_id[sc[vrow]],
        "service_id": service_id[vrow],
        "visit_start": iso_timestamp(vstart, sep="T"),
        "visit_end": iso_timestamp(vend, sep="T"),
        "employee": _staff(ctx, "sundhed_aeldre_visit", len(vrow)),
        "address": people["adresse"].to_numpy()[idx][sc[vrow]],
        "updated_at": iso_timestamp(np.minimum(vend + rng.integers(60, 3600, len(vrow)).astype("timedelta64[s]"), now),
                                    sep="T"),
    })

    patients = pd.DataFrame({
        "patient_id": patient_id,
        "ssn": people["cpr"].to_numpy()[idx],
        "first_name": people["fornavn"].to_numpy()[idx],
        "last_name": people["efternavn"].to_numpy()[idx],
        "birth_date": iso_date(birth),
        "street": people["adresse"].to_numpy()[idx],
        "zip": people["postnr"].to_numpy()[idx],
        "updated_at": iso_timestamp(stamp_after(rng, as_of - rng.integers(0, 700, n).astype("timedelta64[D]"), now),
                                    sep="T"),
        "_idx": idx,
    })
    return {"patients": patients, "services": services, "visits": visits}, {}


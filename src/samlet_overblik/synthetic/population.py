"""The population of one chunk: households, people, CPR numbers, relations and histories.

Everything is vectorised with numpy. A chunk is self-contained (households, their absent parents
and the elderly parents of adults are all in the same chunk), so chunks can be written one by one.
Indices into ``people`` are *local* to the chunk; ``pid`` is the global person number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from samlet_overblik.core import cpr as cprlib
from samlet_overblik.synthetic import vocab
from samlet_overblik.synthetic._util import NAT_D, add_years, age_in_years, last_names, obj, person_names, uniform_days

# Household types.
SINGLE, COUPLE, FAMILY, SINGLE_PARENT, ELDERLY_SINGLE, ELDERLY_COUPLE, FOREIGN = range(7)
HH_P = np.array([0.25, 0.17, 0.22, 0.08, 0.17, 0.11])
FAMILY_KIDS = (np.array([1, 2, 3, 4]), np.array([0.33, 0.43, 0.18, 0.06]))
SINGLE_PARENT_KIDS = (np.array([1, 2, 3]), np.array([0.50, 0.37, 0.13]))
YEAR = 365.2425


@dataclass
class Streets:
    """The municipality's streets (name and postcode index), drawn once per run."""

    names: np.ndarray
    postcode_idx: np.ndarray

    @classmethod
    def make(cls, rng: np.random.Generator, n: int) -> Streets:
        words = vocab.STREET_WORDS[rng.permutation(len(vocab.STREET_WORDS))]
        suffixes = vocab.STREET_SUFFIXES[rng.integers(0, len(vocab.STREET_SUFFIXES), len(words))]
        names = obj(words) + obj(suffixes)
        names = np.array(list(dict.fromkeys(names.tolist())), dtype=object)[:n]
        pc = rng.choice(len(vocab.POSTCODES), size=len(names), p=vocab.POSTCODE_WEIGHTS)
        return cls(names=names, postcode_idx=pc)

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """n addresses: (address text, postcode, town)."""
        s = rng.integers(0, len(self.names), n)
        number = rng.integers(1, 160, n)
        letter = np.where(rng.random(n) < 0.08, obj(np.array(list("ABC"))[rng.integers(0, 3, n)]), "")
        floor = np.where(rng.random(n) < 0.40, ", " + obj(vocab.FLOORS[rng.integers(0, len(vocab.FLOORS), n)]), "")
        text = obj(self.names[s]) + " " + obj(number.astype(str)) + obj(letter) + obj(floor)
        pc = self.postcode_idx[s]
        return text, vocab.POSTCODES[pc], vocab.TOWNS[pc]


@dataclass
class Population:
    people: pd.DataFrame        # one row per person (local index 0..n-1)
    relations: pd.DataFrame     # child, parent (local idx), relation, fra, til
    name_history: pd.DataFrame  # idx, fornavn, efternavn, fra, til
    address_history: pd.DataFrame  # idx, adresse, postnr, fra, til


def build_population(n: int, n_foreign: int, rng: np.random.Generator, as_of: np.datetime64,
                     pid_offset: int, streets: Streets, allocator: cprlib.CprAllocator) -> Population:
    """``n`` people in the person register plus ``n_foreign`` people without a CPR number."""
    as_of = np.datetime64(as_of, "D")  # type: ignore[call-overload]  # numpy stubs lack datetime64(datetime64, unit)

    # ---- households -----------------------------------------------------------------------
    h_guess = int(n / 2.0) + 20
    types = rng.choice(6, size=h_guess, p=HH_P)
    kids = np.zeros(h_guess, dtype=np.int64)
    fam = types == FAMILY
    kids[fam] = rng.choice(FAMILY_KIDS[0], size=fam.sum(), p=FAMILY_KIDS[1])
    sp = types == SINGLE_PARENT
    kids[sp] = rng.choice(SINGLE_PARENT_KIDS[0], size=sp.sum(), p=SINGLE_PARENT_KIDS[1])
    adults = np.where(np.isin(types, (SINGLE, ELDERLY_SINGLE)), 1, 2)
    sizes = adults + kids
    keep = np.cumsum(sizes) <= n
    types, kids, adults, sizes = types[keep], kids[keep], adults[keep], sizes[keep]
    rest = n - int(sizes.sum())
    # fill up with single adults, then append the foreigners (one-person households)
    types = np.concatenate([types, np.full(rest, SINGLE), np.full(n_foreign, FOREIGN)])
    kids = np.concatenate([kids, np.zeros(rest + n_foreign, dtype=np.int64)])
    adults = np.concatenate([adults, np.ones(rest + n_foreign, dtype=np.int64)])
    sizes = adults + kids
    H = len(types)

    # household-level draws
    u = rng.random(H)
    a1_age = np.select(
        [types == SINGLE, types == COUPLE, types == FAMILY, types == SINGLE_PARENT,
         types == ELDERLY_SINGLE, types == ELDERLY_COUPLE],
        [18 + u * 49, 20 + u * 47, 25 + u * 31, 22 + u * 34,
         67 + np.minimum(rng.exponential(9, H), 36), 67 + np.minimum(rng.exponential(7, H), 30)],
        default=20 + u * 65,
    )
    a1_male = np.select(
        [types == SINGLE, types == SINGLE_PARENT, types == ELDERLY_SINGLE, types == FOREIGN],
        [rng.random(H) < 0.52, rng.random(H) < 0.15, rng.random(H) < 0.35, rng.random(H) < 0.5],
        default=False,
    )
    a2_age = np.clip(a1_age + rng.normal(2.0, 3.5, H), 18, 104)
    a2_age = np.where(np.isin(types, (FAMILY, SINGLE_PARENT)), np.clip(a2_age, 22, 70), a2_age)
    a2_age = np.where(types == ELDERLY_COUPLE, np.maximum(a2_age, 67), a2_age)
    a2_age = np.where(types == COUPLE, np.clip(a2_age, 18, 66.9), a2_age)
    last1 = last_names(rng, H)
    last2 = last_names(rng, H)
    couple_like = np.isin(types, (COUPLE, FAMILY, ELDERLY_COUPLE))
    married = couple_like & (rng.random(H) < np.where(types == ELDERLY_COUPLE, 0.8, 0.6))
    took_name = married & (rng.random(H) < 0.55)
    years_married = rng.random(H) * np.clip(np.minimum(a1_age, a2_age) - 20, 0.5, 50)
    marriage_date = as_of - np.round(years_married * YEAR).astype("timedelta64[D]")
    hh_addr, hh_pc, hh_town = streets.draw(rng, H)
    mover = rng.random(H) < 0.30
    prev_addr, prev_pc, _ = streets.draw(rng, H)
    move_date = as_of - rng.integers(30, 3650, H).astype("timedelta64[D]")
    absent_custody_ended = (types == SINGLE_PARENT) & (rng.random(H) < 0.30)

    # ---- members ----------------------------------------------------------------------------
    total = int(sizes.sum())
    hh = np.repeat(np.arange(H), sizes)
    starts = np.cumsum(sizes) - sizes
    pos = np.arange(total) - np.repeat(starts, sizes)
    htype = types[hh]
    is_child = pos >= adults[hh]
    first_adult = pos == 0
    second_adult = (pos == 1) & ~is_child

    # sex: first adult per household draw; the second adult is the other sex (couples / parents)
    male = np.where(first_adult, a1_male[hh], np.where(second_adult, ~a1_male[hh], rng.random(total) < 0.512))
    # parents of the children: first adult and second adult (for single parents the absent parent)
    p1 = starts[hh]
    p2 = starts[hh] + 1
    mother = np.where(is_child, np.where(a1_male[hh], p2, p1), -1)
    father = np.where(is_child, np.where(a1_male[hh], p1, p2), -1)
    mother_age = np.where(a1_male[hh], a2_age[hh], a1_age[hh])
    child_age = rng.random(total) * np.clip(np.minimum(mother_age - 20, 26), 0.1, None)
    age = np.where(first_adult, a1_age[hh], np.where(second_adult, a2_age[hh], child_age))
    birth = as_of - np.round(age * YEAR).astype("timedelta64[D]") - rng.integers(0, 30, total).astype("timedelta64[D]")

    # names: the woman of a married couple took the man's name in `took_name` households
    woman_last = np.where(a1_male[hh], last2[hh], last1[hh])
    man_last = np.where(a1_male[hh], last1[hh], last2[hh])
    own_last = np.where(first_adult, last1[hh], last2[hh])
    takes = took_name[hh] & ~is_child & ~male
    efternavn = np.where(takes, man_last, own_last)
    child_last = np.where(took_name[hh] | (rng.random(total) < 0.5), man_last, woman_last)
    efternavn = np.where(is_child, child_last, efternavn)
    maiden = np.where(takes & (woman_last != man_last), woman_last, None)  # type: ignore[call-overload]  # numpy stubs reject a None operand (valid: object array)
    fornavn = person_names(rng, male)

    # addresses: the absent parent of a single-parent household lives elsewhere
    adresse, postnr, bynavn = hh_addr[hh].copy(), hh_pc[hh].copy(), hh_town[hh].copy()
    absent = (htype == SINGLE_PARENT) & second_adult
    if absent.any():
        a, p_, t = streets.draw(rng, int(absent.sum()))
        adresse[absent], postnr[absent], bynavn[absent] = a, p_, t
    moved = mover[hh] & ~absent & (birth < move_date[hh])

    # status
    age_now = age_in_years(birth, as_of)
    foreign = htype == FOREIGN
    dead = ~foreign & (rng.random(total) < np.where(age_now >= 67, 0.04, 0.002))
    emigrated = ~foreign & ~dead & (age_now >= 20) & (age_now <= 60) & (rng.random(total) < 0.015)
    death_day = np.maximum(as_of - rng.integers(1, 1000, total).astype("timedelta64[D]"), birth + 1)
    status = np.where(dead, "doed", np.where(emigrated, "udrejst", "aktiv")).astype(object)
    doedsdato = np.where(dead, death_day, NAT_D)
    for arr in (adresse, postnr, bynavn):
        arr[emigrated] = None

    # CPR numbers (replacement numbers for foreigners) - unique across chunks via the allocator
    cpr_values = np.empty(total, dtype=object)
    cpr_values[~foreign] = cprlib.make_cpr_array(birth[~foreign], male[~foreign], rng, allocator)
    if foreign.any():
        cpr_values[foreign] = cprlib.make_cpr_array(birth[foreign], male[foreign], rng, allocator, replacement=True)

    pid = pid_offset + np.arange(total, dtype=np.int64)
    people = pd.DataFrame({
        "pid": pid,
        "person_id": [f"P{p + 1:07d}" for p in pid.tolist()],
        "cpr": cpr_values,
        "fornavn": fornavn,
        "efternavn": efternavn.astype(object),
        "maiden": maiden,
        "foedselsdato": birth,
        "male": male,
        "age": age_now,
        "adresse": adresse,
        "postnr": postnr,
        "bynavn": bynavn,
        "prev_adresse": np.where(moved, prev_addr[hh], None),  # type: ignore[call-overload]  # numpy stubs reject a None operand (valid: object array)
        "prev_postnr": np.where(moved, prev_pc[hh], None),  # type: ignore[call-overload]  # numpy stubs reject a None operand (valid: object array)
        "move_date": np.where(moved, move_date[hh], NAT_D),
        "status": status,
        "doedsdato": doedsdato,
        "household": hh,
        "htype": htype,
        "is_child": is_child,
        "mother": mother,
        "father": father,
        "in_cpr": ~foreign,
    })

    relations = _relations(rng, people, absent_custody_ended[hh], as_of)
    name_history = pd.DataFrame({
        "idx": np.flatnonzero(people["maiden"].notna().to_numpy()),
    })
    nh = name_history["idx"].to_numpy()
    name_history["fornavn"] = fornavn[nh]
    name_history["efternavn"] = maiden[nh]
    name_history["fra"] = birth[nh]
    name_history["til"] = marriage_date[hh[nh]]
    mv = np.flatnonzero(moved)
    address_history = pd.DataFrame({
        "idx": mv,
        "adresse": prev_addr[hh[mv]],
        "postnr": prev_pc[hh[mv]],
        "fra": np.maximum(birth[mv], move_date[hh[mv]] - rng.integers(200, 4000, len(mv)).astype("timedelta64[D]")),
        "til": move_date[hh[mv]],
    })
    return Population(people, relations, name_history, address_history)


def _relations(rng: np.random.Generator, people: pd.DataFrame, absent_ended: np.ndarray,
               as_of: np.datetime64) -> pd.DataFrame:
    """Parent (foraelder) and custody (foraeldremyndighed) relations."""
    child = np.flatnonzero(people["is_child"].to_numpy())
    birth = people["foedselsdato"].to_numpy().astype("datetime64[D]")
    age = people["age"].to_numpy()
    mother = people["mother"].to_numpy()[child]
    father = people["father"].to_numpy()[child]
    adult_at = add_years(birth[child], 18)
    custody_end = np.where(age[child] >= 18, adult_at, NAT_D)
    # the absent parent of a single-parent household lost custody (divorce / court decision)
    htype = people["htype"].to_numpy()[child]
    # the absent parent is the household's second member, i.e. the larger of the two indices
    absent_parent = np.where(htype == SINGLE_PARENT, np.maximum(mother, father), -1)
    ended = absent_ended[child] & (htype == SINGLE_PARENT)
    divorce = uniform_days(rng, birth[child] + 180, np.minimum(as_of - 30, adult_at))

    frames = []
    for parent in (mother, father):
        rows = parent >= 0
        frames.append(pd.DataFrame({"child": child[rows], "parent": parent[rows], "relation": "foraelder",
                                    "fra": birth[child][rows], "til": np.full(rows.sum(), NAT_D)}))
        til = custody_end.copy()
        lost = ended & (parent == absent_parent)
        til[lost] = np.minimum(divorce[lost], np.where(np.isnat(til[lost]), divorce[lost], til[lost]))
        frames.append(pd.DataFrame({"child": child[rows], "parent": parent[rows], "relation": "foraeldremyndighed",
                                    "fra": birth[child][rows], "til": til[rows]}))

    # adults (35-66) linked to an elderly parent in the same chunk
    in_cpr = people["in_cpr"].to_numpy()
    elderly = np.flatnonzero((age >= 67) & in_cpr)
    adult = np.flatnonzero((age >= 35) & (age <= 66) & in_cpr & ~people["is_child"].to_numpy()
                           & (rng.random(len(people)) < 0.5))
    if len(elderly) and len(adult):
        order = np.argsort(birth[elderly], kind="stable")
        e_sorted = elderly[order]
        e_birth = birth[e_sorted]
        lo = np.searchsorted(e_birth, add_years(birth[adult], -42), side="left")
        hi = np.searchsorted(e_birth, add_years(birth[adult], -20), side="right")
        ok = hi > lo
        pick = lo[ok] + np.floor(rng.random(ok.sum()) * (hi[ok] - lo[ok])).astype(np.int64)
        a = adult[ok]
        frames.append(pd.DataFrame({"child": a, "parent": e_sorted[pick], "relation": "foraelder",
                                    "fra": birth[a], "til": np.full(len(a), NAT_D)}))
        frames.append(pd.DataFrame({"child": a, "parent": e_sorted[pick], "relation": "foraeldremyndighed",
                                    "fra": birth[a], "til": add_years(birth[a], 18)}))
    rel = pd.concat(frames, ignore_index=True)
    rel["fra"] = rel["fra"].astype("datetime64[s]")
    rel["til"] = rel["til"].astype("datetime64[s]")
    return rel.sort_values(["child", "relation", "parent"], kind="stable").reset_index(drop=True)


def register_tables(pop: Population, counters, rng: np.random.Generator, now: np.datetime64) -> dict[str, pd.DataFrame]:
    """The CPR extract (``cpr`` source) of this chunk: people with a CPR number only."""
    from samlet_overblik.synthetic._util import stamp_after

    p = pop.people
    in_cpr = p["in_cpr"].to_numpy()
    idx = np.flatnonzero(in_cpr)
    cpr = p["cpr"].to_numpy()
    as_of_day = now.astype("datetime64[D]")
    birth = p["foedselsdato"].to_numpy().astype("datetime64[D]")
    personer = pd.DataFrame({
        "cpr": cpr[idx],
        "fornavn": p["fornavn"].to_numpy()[idx],
        "efternavn": p["efternavn"].to_numpy()[idx],
        "foedselsdato": birth[idx],
        "koen": np.where(p["male"].to_numpy()[idx], "M", "K").astype(object),
        "adresse": p["adresse"].to_numpy()[idx],
        "postnr": p["postnr"].to_numpy()[idx],
        "bynavn": p["bynavn"].to_numpy()[idx],
        "status": p["status"].to_numpy()[idx],
        "doedsdato": p["doedsdato"].to_numpy().astype("datetime64[D]")[idx],
        "opdateret": stamp_after(rng, as_of_day - rng.integers(0, 730, len(idx)).astype("timedelta64[D]"), now),
        "_idx": idx,
    })
    rel = pop.relations
    fra = rel["fra"].to_numpy().astype("datetime64[D]")
    til = rel["til"].to_numpy().astype("datetime64[D]")
    relationer = pd.DataFrame({
        "relation_id": counters.take("cpr.relationer", len(rel)),
        "cpr": cpr[rel["child"].to_numpy()],
        "relateret_cpr": cpr[rel["parent"].to_numpy()],
        "relation": rel["relation"].to_numpy().astype(object),
        "fra_dato": fra,
        "til_dato": til,
        "opdateret": stamp_after(rng, np.where(np.isnat(til), fra, til), now),
    })
    nh = pop.name_history
    navnehistorik = pd.DataFrame({
        "navn_id": counters.take("cpr.navnehistorik", len(nh)),
        "cpr": cpr[nh["idx"].to_numpy()],
        "fornavn": nh["fornavn"].to_numpy(),
        "efternavn": nh["efternavn"].to_numpy(),
        "fra_dato": nh["fra"].to_numpy().astype("datetime64[D]"),
        "til_dato": nh["til"].to_numpy().astype("datetime64[D]"),
        "opdateret": stamp_after(rng, nh["til"].to_numpy().astype("datetime64[D]"), now),
    })
    ah = pop.address_history
    adressehistorik = pd.DataFrame({
        "adresse_id": counters.take("cpr.adressehistorik", len(ah)),
        "cpr": cpr[ah["idx"].to_numpy()],
        "adresse": ah["adresse"].to_numpy(),
        "postnr": ah["postnr"].to_numpy(),
        "fra_dato": ah["fra"].to_numpy().astype("datetime64[D]"),
        "til_dato": ah["til"].to_numpy().astype("datetime64[D]"),
        "opdateret": stamp_after(rng, ah["til"].to_numpy().astype("datetime64[D]"), now),
    })
    return {"personer": personer, "relationer": relationer, "navnehistorik": navnehistorik,
            "adressehistorik": adressehistorik}

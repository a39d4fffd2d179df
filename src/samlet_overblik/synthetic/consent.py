"""The consent registry (contract schema in DESIGN.md): consents, versions and scopes.

Who consents: a good share of citizens known to two or more departments (formaal
``helhedsorienteret_indsats``), with scopes between their own departments; children with a case
whose parents are known elsewhere, consented by a custody holder (BF -> the parents' departments).
Some consents get a version 2 (narrower or wider), some are withdrawn, some expire, and a few
children's consents are given by a parent whose custody had ended before ``givet_tid`` (invalid:
the pipeline must reject them). The consent CPR numbers are always clean (no noise).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from samlet_overblik.synthetic import vocab
from samlet_overblik.synthetic._util import NAT_D, NAT_S
from samlet_overblik.synthetic.departments import Context, Membership, _custody_holders
from samlet_overblik.synthetic.vocab import BF

CATEGORIES = np.array(["indsatser", "ydelser", "helbred", "misbrug", "kontakt"], dtype=object)
# probability of each category (columns as CATEGORIES) for data flowing *from* a department
CATEGORY_P = np.array([
    [0.90, 0.00, 0.05, 0.00, 0.70],   # boern_familie
    [0.85, 0.75, 0.02, 0.00, 0.60],   # beskaeftigelse
    [0.85, 0.05, 0.10, 0.20, 0.60],   # social_voksen
    [0.85, 0.00, 0.20, 0.00, 0.50],   # sundhed_aeldre
])
CHANNELS = np.array(["digital", "papir", "moede", "telefon"], dtype=object)
CHANNEL_P = [0.50, 0.25, 0.20, 0.05]
ADULT_SHARE = 0.55
CHILD_SHARE = 0.50
V2_SHARE = 0.15
WITHDRAWN_SHARE = 0.08
INVALID_GIVER_SHARE = 0.5   # of child consents where a parent's custody has ended
YEAR_S = np.timedelta64(365 * 86400, "s")


def build_samtykke(pop, ms: Membership, ctx: Context, bf_info: dict) -> tuple[dict[str, pd.DataFrame], dict]:
    rng, as_of, now = ctx.rng, ctx.as_of, ctx.now
    people = pop.people
    n = len(people)
    age = people["age"].to_numpy()
    in_cpr = people["in_cpr"].to_numpy()
    cpr = people["cpr"].to_numpy()
    member = ms.member

    # --- adults known to two or more departments -------------------------------------------
    adults = np.flatnonzero((ms.count >= 2) & in_cpr & (age >= 18) & (rng.random(n) < ADULT_SHARE))
    a_depts = member[adults]
    a_given = now - (rng.random(len(adults)) * 3 * 365 * 86400).astype(np.int64).astype("timedelta64[s]")

    # --- children with a case whose parents are known in other departments -----------------
    kids = bf_info["case_child"]
    opened = bf_info["case_opened"]
    mother = people["mother"].to_numpy()[kids]
    father = people["father"].to_numpy()[kids]
    par_depts = np.zeros((len(kids), 4), dtype=bool)
    for par in (mother, father):
        has = par >= 0
        par_depts[has] |= member[par[has]]
    par_depts[:, BF] = False
    pick = np.flatnonzero(par_depts.any(axis=1) & (rng.random(len(kids)) < CHILD_SHARE))
    holders = _custody_holders(pop.relations, as_of)
    rel = pop.relations
    ended = rel[(rel["relation"] == "foraeldremyndighed") & rel["til"].notna()
                & (rel["til"] < pd.Timestamp(as_of - 2))]
    ended_by_child = dict(zip(ended["child"].tolist(), zip(ended["parent"].tolist(), ended["til"].tolist())))
    birth = people["foedselsdato"].to_numpy().astype("datetime64[D]")
    c_picked: list[int] = []
    c_giver: list[int] = []
    c_given: list[np.datetime64] = []
    c_invalid: list[bool] = []
    u = rng.random((len(pick), 3))
    for j, i in enumerate(pick.tolist()):           # a few thousand at most per chunk
        child = int(kids[i])
        lost = ended_by_child.get(child)
        if lost is not None and lost[1] > pd.Timestamp(birth[child] + 365) and u[j, 0] < INVALID_GIVER_SHARE:
            custody_end = np.datetime64(lost[1], "s")
            since_end = (now - custody_end).astype(np.int64)
            c_picked.append(i)
            c_giver.append(lost[0])
            c_given.append(custody_end + np.timedelta64(int(86400 + u[j, 1] * max(since_end - 86400, 0)), "s"))
            c_invalid.append(True)
            continue
        hs = holders.get_holders(child)
        if not hs:
            continue
        start = max(np.datetime64(opened[i], "s"), now - 3 * YEAR_S)
        c_picked.append(i)
        c_giver.append(hs[int(u[j, 2] * len(hs))])
        c_given.append(start + np.timedelta64(int(u[j, 1] * max((now - start).astype(np.int64), 0)), "s"))
        c_invalid.append(False)
    c_rows = np.array(c_picked, dtype=np.int64)
    c_depts = np.zeros((len(c_rows), 4), dtype=bool)
    c_depts[:, BF] = True
    c_depts |= par_depts[c_rows] if len(c_rows) else c_depts

    concerned = np.concatenate([adults, kids[c_rows]]).astype(np.int64)
    giver = np.concatenate([adults, np.array(c_giver, dtype=np.int64)]).astype(np.int64)
    given = np.concatenate([a_given, np.array(c_given, dtype="datetime64[s]")])
    is_child = np.concatenate([np.zeros(len(adults), bool), np.ones(len(c_rows), bool)])
    depts = np.concatenate([a_depts, c_depts]) if len(concerned) else np.zeros((0, 4), bool)
    m = len(concerned)
    ids = np.array([f"SAM-{i:07d}" for i in ctx.counters.take("samtykke", m)], dtype=object)

    # --- scope of version 1 ----------------------------------------------------------------
    pairs = []
    for fra in range(4):
        for til in range(4):
            if fra == til:
                continue
            rows = np.flatnonzero(depts[:, fra] & depts[:, til] & (~is_child | (fra == BF)))
            pairs.append(pd.DataFrame({"c": rows, "fra": fra, "til": til}))
    pairs = pd.concat(pairs, ignore_index=True).sort_values(["c", "fra", "til"], kind="stable").reset_index(drop=True)
    draw = rng.random((len(pairs), len(CATEGORIES))) < CATEGORY_P[pairs["fra"].to_numpy()]
    pr, cat = np.nonzero(draw)
    scope1 = pd.DataFrame({"c": pairs["c"].to_numpy()[pr], "fra": pairs["fra"].to_numpy()[pr],
                           "til": pairs["til"].to_numpy()[pr], "cat": cat})
    missing = np.setdiff1d(np.arange(m), scope1["c"].unique())
    if len(missing):
        first = pairs.drop_duplicates("c").set_index("c").loc[missing]
        scope1 = pd.concat([scope1, pd.DataFrame({"c": missing, "fra": first["fra"].to_numpy(),
                                                   "til": first["til"].to_numpy(), "cat": 0})], ignore_index=True)
    scope1 = scope1.sort_values(["c", "fra", "til", "cat"], kind="stable").reset_index(drop=True)

    # --- expiry, withdrawal, version 2 --------------------------------------------------------
    given_day = given.astype("datetime64[D]")
    valid_to = np.where(rng.random(m) < 0.45, NAT_D,
                        given_day + rng.integers(180, 3 * 365, m).astype("timedelta64[D]"))
    withdrawn = rng.random(m) < WITHDRAWN_SHARE
    span = np.maximum((now - given).astype(np.int64), 1)
    withdrawn_at = np.where(withdrawn, given + (rng.random(m) * span).astype(np.int64).astype("timedelta64[s]"), NAT_S)
    v2 = ~withdrawn & ~np.array([False] * len(adults) + c_invalid, dtype=bool) & (rng.random(m) < V2_SHARE) \
        & (span > 86400 * 2)
    given2 = given + (np.timedelta64(86400, "s") + (rng.random(m) * (span - 86400)).astype(np.int64)
                      .astype("timedelta64[s]"))
    valid_to2 = np.where(rng.random(m) < 0.5, NAT_D,
                         given2.astype("datetime64[D]") + rng.integers(180, 3 * 365, m).astype("timedelta64[D]"))
    withdrawn2 = v2 & (rng.random(m) < 0.05)
    span2 = np.maximum((now - given2).astype(np.int64), 1)
    withdrawn_at2 = np.where(withdrawn2, given2 + (rng.random(m) * span2).astype(np.int64).astype("timedelta64[s]"),
                             NAT_S)

    # v2 scope: narrow (drop rows, keep at least one) or widen (add categories, often health/abuse)
    v2_rows = scope1[v2[scope1["c"].to_numpy()]]
    widen = rng.random(m) < 0.5
    w_rows = v2_rows[widen[v2_rows["c"].to_numpy()]]
    n_rows = v2_rows[~widen[v2_rows["c"].to_numpy()]]
    drop = rng.random(len(n_rows)) < 0.4
    kept = n_rows[~drop]
    lost_all = np.setdiff1d(n_rows["c"].unique(), kept["c"].unique())
    kept = pd.concat([kept, n_rows[n_rows["c"].isin(lost_all)].drop_duplicates("c")], ignore_index=True)
    w_pairs = pairs[v2[pairs["c"].to_numpy()] & widen[pairs["c"].to_numpy()]]
    extra_p = np.clip(CATEGORY_P[w_pairs["fra"].to_numpy()] + 0.25, 0, 1) * (CATEGORY_P[w_pairs["fra"].to_numpy()] > 0)
    pr2, cat2 = np.nonzero(rng.random((len(w_pairs), len(CATEGORIES))) < extra_p)
    added = pd.DataFrame({"c": w_pairs["c"].to_numpy()[pr2], "fra": w_pairs["fra"].to_numpy()[pr2],
                          "til": w_pairs["til"].to_numpy()[pr2], "cat": cat2})
    scope2 = (pd.concat([w_rows, added, kept], ignore_index=True)
              .drop_duplicates(["c", "fra", "til", "cat"])
              .sort_values(["c", "fra", "til", "cat"], kind="stable"))

    # --- tables -------------------------------------------------------------------------------
    staff = ctx.staff["samtykke"]
    kanal = CHANNELS[rng.choice(len(CHANNELS), size=m, p=CHANNEL_P)]
    reg = staff[rng.integers(0, len(staff), m)]

    def consent_rows(sel, version, g, vt, wd):
        return pd.DataFrame({
            "samtykke_id": ids[sel],
            "version": version,
            "cpr": cpr[concerned[sel]],
            "givet_af_cpr": cpr[giver[sel]],
            "formaal": "helhedsorienteret_indsats",
            "givet_tid": g[sel],
            "gyldig_til": vt[sel],
            "tilbagekaldt_tid": wd[sel],
            "kanal": kanal[sel],
            "registreret_af": reg[sel],
            "opdateret_tid": np.where(np.isnat(wd[sel]), g[sel], wd[sel]),
            "_idx": concerned[sel],
        })

    all_rows = np.arange(m)
    v2_idx = np.flatnonzero(v2)
    samtykke = pd.concat([consent_rows(all_rows, 1, given, valid_to, withdrawn_at),
                          consent_rows(v2_idx, 2, given2, valid_to2, withdrawn_at2)], ignore_index=True)
    samtykke = samtykke.sort_values(["samtykke_id", "version"], kind="stable").reset_index(drop=True)

    def scope_rows(sc, version):
        c = sc["c"].to_numpy()
        return pd.DataFrame({
            "samtykke_id": ids[c],
            "version": version,
            "fra_afdeling": np.array(vocab.DEPARTMENTS, dtype=object)[sc["fra"].to_numpy()],
            "til_afdeling": np.array(vocab.DEPARTMENTS, dtype=object)[sc["til"].to_numpy()],
            "kategori": CATEGORIES[sc["cat"].to_numpy().astype(np.int64)],
        })

    omfang = pd.concat([scope_rows(scope1, 1), scope_rows(scope2, 2)], ignore_index=True)
    omfang = omfang.sort_values(["samtykke_id", "version", "fra_afdeling", "til_afdeling", "kategori"],
                                kind="stable").reset_index(drop=True)
    invalid = np.concatenate([np.zeros(len(adults), bool), np.array(c_invalid, dtype=bool)])
    return {"samtykke": samtykke, "samtykke_omfang": omfang}, {"invalid_giver_ids": ids[invalid]}

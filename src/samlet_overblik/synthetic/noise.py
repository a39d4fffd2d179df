"""Noise on the departmental sources, every instance recorded in the noise log.

Levels: ``none`` (no noise; only the source quirks that are part of a system's nature),
``default`` and ``high`` (about 3x default). The consent registry and the CPR register are never
noised. Kinds written to ``noise_log.parquet`` (column ``kind``):

person tables (sag, sag_part, borger, klient, patients)
  duplicate_record, maiden_name, old_address, spelling_variant, mojibake, missing_cpr, cpr_typo,
  cpr_transposition, replacement_number (people without a CPR, sundhed_aeldre/social_voksen),
  lost_leading_zero (beskaeftigelse.borger.cprnr; a source quirk, also with ``none``)
intervention tables
  invalid_code, end_before_start, invalid_date_text (sundhed_aeldre text dates)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from samlet_overblik.synthetic import vocab

LEVELS = {"none": 0.0, "default": 1.0, "high": 3.0}

# Rates at level "default". Shares "of eligible" apply to the records that can carry that noise.
BASE_RATES = {
    "missing_cpr": 0.03,
    "cpr_typo": 0.01,
    "cpr_transposition": 0.005,
    "spelling_variant": 0.05,
    "maiden_name": 0.30,        # of records of people who changed name at marriage
    "old_address": 0.15,        # of records of people who moved (about 5% of all records)
    "duplicate_record": 0.01,
    "invalid_code": 0.005,
    "end_before_start": 0.005,
    "mojibake": 0.005,
    "invalid_date_text": 0.003,
    "foreigners": 0.001,        # people without a CPR (replacement number), per citizen
}
LOST_LEADING_ZERO = 0.20        # beskaeftigelse: of the numbers starting with 0 (any level)

_SPELLING = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "Æ": "Ae", "Ø": "Oe", "Å": "Aa", "é": "e"})


def rates(level: str) -> dict[str, float]:
    if level not in LEVELS:
        raise ValueError(f"unknown noise level {level!r} (none, default, high)")
    f = LEVELS[level]
    return {k: min(v * f, 0.9) for k, v in BASE_RATES.items()}


@dataclass(frozen=True)
class PersonTable:
    id_col: str
    cpr_col: str
    dashed: bool
    first_col: str | None
    last_col: str | None
    full_col: str | None
    address_col: str | None
    postcode_col: str | None

    @property
    def name_cols(self) -> list[str]:
        return [c for c in (self.first_col, self.last_col, self.full_col) if c]


PERSON_TABLES = {
    ("boern_familie", "sag"): PersonTable("sags_id", "barn_cpr", True, "barn_fornavn", "barn_efternavn", None,
                                          "adresse", "postnr"),
    ("boern_familie", "sag_part"): PersonTable("part_id", "part_cpr", True, "fornavn", "efternavn", None, None, None),
    ("beskaeftigelse", "borger"): PersonTable("borger_id", "cprnr", False, "fornavn", "efternavn", None,
                                              "adresse", "postnr"),
    ("social_voksen", "klient"): PersonTable("klient_id", "cpr", True, None, None, "navn", "adresse", "postnr"),
    ("sundhed_aeldre", "patients"): PersonTable("patient_id", "ssn", False, "first_name", "last_name", None,
                                                "street", "zip"),
}
# tables whose rows belong to a person record: a duplicate record takes over about half of them
DUPLICATE_SPLIT = {
    ("boern_familie", "sag"): [("foranstaltning", "sags_id"), ("underretning", "sags_id"), ("moede", "sags_id")],
    ("beskaeftigelse", "borger"): [("ydelse", "borger_id"), ("tilbud", "borger_id"), ("samtale", "borger_id"),
                                   ("sanktion", "borger_id"), ("helhedsplan", "borger_id")],
    ("social_voksen", "klient"): [("bevilling", "klient_id"), ("koordinering", "klient_id")],
    ("sundhed_aeldre", "patients"): [("services", "patient_id")],
}
INVALID_CODES = {
    ("boern_familie", "foranstaltning"): ("foranstaltning_id", "paragraf", vocab.INVALID_PARAGRAPHS),
    ("beskaeftigelse", "ydelse"): ("ydelse_id", "ydelsestype", vocab.INVALID_BENEFITS),
    ("social_voksen", "bevilling"): ("bevilling_id", "paragraf", vocab.INVALID_PARAGRAPHS),
    ("sundhed_aeldre", "services"): ("service_id", "fsiii_code", vocab.INVALID_FSIII),
}
END_BEFORE_START = {
    ("boern_familie", "foranstaltning"): ("foranstaltning_id", "startdato", "slutdato"),
    ("beskaeftigelse", "ydelse"): ("ydelse_id", "fra_dato", "til_dato"),
    ("beskaeftigelse", "tilbud"): ("tilbud_id", "fra_dato", "til_dato"),
    ("social_voksen", "bevilling"): ("bevilling_id", "bevilget_fra", "bevilget_til"),
    ("sundhed_aeldre", "services"): ("service_id", "start_date", "end_date"),
}
INVALID_DATE_TEXT = {
    ("sundhed_aeldre", "patients"): ("patient_id", ["birth_date"]),
    ("sundhed_aeldre", "services"): ("service_id", ["start_date", "end_date"]),
}


_COUNTER_PREFIX = {"beskaeftigelse": "be", "social_voksen": "sv", "sundhed_aeldre": "sa"}


class NoiseLog:
    def __init__(self) -> None:
        self.frames: list[pd.DataFrame] = []

    def add(self, source: str, table: str, record_ids, kind: str) -> None:
        ids = [str(x) for x in np.asarray(record_ids, dtype=object).tolist()]
        if ids:
            self.frames.append(pd.DataFrame({"source": source, "table": table, "record_id": ids, "kind": kind}))

    def frame(self) -> pd.DataFrame:
        if not self.frames:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in ("source", "table", "record_id", "kind")})
        return pd.concat(self.frames, ignore_index=True)


def _pick(rng: np.random.Generator, eligible: np.ndarray, count: float) -> np.ndarray:
    """Positions among ``eligible`` (bool mask) chosen at random, about ``count`` of them."""
    pos = np.flatnonzero(eligible)
    k = int(rng.binomial(len(pos), min(1.0, count / len(pos)))) if len(pos) and count > 0 else 0
    return np.sort(rng.choice(pos, size=k, replace=False)) if k else np.array([], dtype=np.int64)


def _has_danish(values: np.ndarray) -> np.ndarray:
    return np.array([isinstance(v, str) and any(c in v for c in "æøåÆØÅé") for v in values], dtype=bool)


def apply_noise(source: str, tables: dict[str, pd.DataFrame], people: pd.DataFrame, r: dict[str, float],
                rng: np.random.Generator, counters, log: NoiseLog) -> dict[str, pd.DataFrame]:
    """Noise the tables of one departmental source in place of the clean ones; returns the new dict."""
    tables = dict(tables)
    for (src, tname), spec in PERSON_TABLES.items():
        if src != source or tname not in tables:
            continue
        if r["duplicate_record"] > 0 and (src, tname) in DUPLICATE_SPLIT:
            tables = _duplicates(source, tname, spec, tables, r["duplicate_record"], rng, counters, log)
        df = tables[tname].copy()
        _person_noise(source, tname, spec, df, people, r, rng, log)
        tables[tname] = df
    for (src, tname), (id_col, col, pool) in INVALID_CODES.items():
        if src == source and r["invalid_code"] > 0:
            df = tables[tname].copy()
            sel = _pick(rng, np.ones(len(df), bool), r["invalid_code"] * len(df))
            df.iloc[sel, df.columns.get_loc(col)] = pool[rng.integers(0, len(pool), len(sel))]
            log.add(source, tname, df[id_col].to_numpy()[sel], "invalid_code")
            tables[tname] = df
    for (src, tname), (id_col, start, end) in END_BEFORE_START.items():
        if src == source and r["end_before_start"] > 0:
            df = tables[tname].copy()
            text = df[start].dtype == object
            s = np.asarray(df[start].to_numpy(), dtype="datetime64[D]")
            sel = _pick(rng, ~np.isnat(s), r["end_before_start"] * len(df))
            new_end = s[sel] - rng.integers(1, 90, len(sel)).astype("timedelta64[D]")
            col = df.columns.get_loc(end)
            if text:
                df.iloc[sel, col] = np.datetime_as_string(new_end, unit="D").astype(object)
            else:
                values = df[end].to_numpy().astype("datetime64[D]")
                values[sel] = new_end
                df[end] = values
            log.add(source, tname, df[id_col].to_numpy()[sel], "end_before_start")
            tables[tname] = df
    for (src, tname), (id_col, cols) in INVALID_DATE_TEXT.items():
        if src == source and r["invalid_date_text"] > 0:
            df = tables[tname].copy()
            for col in cols:
                sel = _pick(rng, df[col].notna().to_numpy(), r["invalid_date_text"] * len(df))
                df.iloc[sel, df.columns.get_loc(col)] = vocab.INVALID_DATE_TEXTS[
                    rng.integers(0, len(vocab.INVALID_DATE_TEXTS), len(sel))]
                log.add(source, tname, df[id_col].to_numpy()[sel], "invalid_date_text")
            tables[tname] = df
    return tables


def _duplicates(source, tname, spec, tables, rate, rng, counters, log):
    df = tables[tname]
    sel = _pick(rng, np.ones(len(df), bool), rate * len(df))
    if not len(sel):
        return tables
    tables = dict(tables)
    dup = df.iloc[sel].copy()
    old_ids = dup[spec.id_col].to_numpy()
    if source == "boern_familie":
        new_ids = np.array([f"BF-{i:06d}" for i in counters.take("bf.sag", len(sel))], dtype=object)
    else:
        new_ids = counters.take(f"{_COUNTER_PREFIX[source]}.{tname}", len(sel))
    dup[spec.id_col] = new_ids
    tables[tname] = pd.concat([df, dup], ignore_index=True)
    log.add(source, tname, new_ids, "duplicate_record")
    mapping = pd.Series(new_ids, index=old_ids)
    for child, fk in DUPLICATE_SPLIT.get((source, tname), []):
        cdf = tables[child].copy()
        hit = cdf[fk].isin(old_ids).to_numpy() & (rng.random(len(cdf)) < 0.5)
        cdf.loc[hit, fk] = mapping.loc[cdf.loc[hit, fk].to_numpy()].to_numpy()
        tables[child] = cdf
        if child == "services" and "visits" in tables:
            moved = cdf.loc[hit, ["service_id", "patient_id"]]
            v = tables["visits"].copy()
            pos = v["service_id"].map(pd.Series(moved["patient_id"].to_numpy(), index=moved["service_id"].to_numpy()))
            v.loc[pos.notna(), "patient_id"] = pos[pos.notna()].astype(np.int64)
            tables["visits"] = v
    if source == "boern_familie":
        # the duplicate case has its parties too (copies of the original case's parties)
        parts = tables["sag_part"]
        copies = parts[parts["sags_id"].isin(old_ids)].copy()
        copies["sags_id"] = mapping.loc[copies["sags_id"].to_numpy()].to_numpy()
        copies["part_id"] = counters.take("bf.sag_part", len(copies))
        tables["sag_part"] = pd.concat([parts, copies], ignore_index=True)
        log.add(source, "sag_part", copies["part_id"].to_numpy(), "duplicate_record")
    return tables


def _person_noise(source, tname, spec: PersonTable, df, people, r, rng, log):
    n = len(df)
    idx = df["_idx"].to_numpy()
    ids = df[spec.id_col].to_numpy()
    anonymous = df["_anonymous"].to_numpy() if "_anonymous" in df else np.zeros(n, bool)

    # name before marriage
    maiden = people["maiden"].to_numpy()[idx]
    sel = _pick(rng, (maiden != None) & ~anonymous, r["maiden_name"] * np.count_nonzero(maiden != None))  # noqa: E711
    if len(sel):
        if spec.full_col:
            df.iloc[sel, df.columns.get_loc(spec.full_col)] = (
                people["fornavn"].to_numpy()[idx[sel]].astype(object) + " " + maiden[sel].astype(object))
        else:
            df.iloc[sel, df.columns.get_loc(spec.last_col)] = maiden[sel]
        log.add(source, tname, ids[sel], "maiden_name")

    # old address after a move
    if spec.address_col:
        prev = people["prev_adresse"].to_numpy()[idx]
        has_prev = (prev != None) & df[spec.address_col].notna().to_numpy()  # noqa: E711
        sel = _pick(rng, has_prev, r["old_address"] * np.count_nonzero(has_prev))
        if len(sel):
            df.iloc[sel, df.columns.get_loc(spec.address_col)] = prev[sel]
            df.iloc[sel, df.columns.get_loc(spec.postcode_col)] = people["prev_postnr"].to_numpy()[idx[sel]]
            log.add(source, tname, ids[sel], "old_address")

    # æ/ae ø/oe å/aa spellings (names and address)
    text_cols = spec.name_cols + ([spec.address_col] if spec.address_col else [])
    danish = np.zeros(n, bool)
    for c in text_cols:
        danish |= _has_danish(df[c].to_numpy())
    sel = _pick(rng, danish, r["spelling_variant"] * n)
    if len(sel):
        for c in text_cols:
            col = df.columns.get_loc(c)
            vals = df.iloc[sel, col].to_numpy()
            df.iloc[sel, col] = np.array([v.translate(_SPELLING) if isinstance(v, str) else v for v in vals], dtype=object)
        log.add(source, tname, ids[sel], "spelling_variant")

    # bad encodings (UTF-8 read as Latin-1) in names
    nonascii = np.zeros(n, bool)
    for c in spec.name_cols:
        nonascii |= np.array([isinstance(v, str) and not v.isascii() for v in df[c].to_numpy()], dtype=bool)
    sel = _pick(rng, nonascii, r["mojibake"] * n)
    if len(sel):
        for c in spec.name_cols:
            col = df.columns.get_loc(c)
            vals = df.iloc[sel, col].to_numpy()
            df.iloc[sel, col] = np.array([v.encode("utf-8").decode("latin-1") if isinstance(v, str) else v
                                          for v in vals], dtype=object)
        log.add(source, tname, ids[sel], "mojibake")

    # CPR: missing, one wrong digit, two adjacent digits swapped
    col = df.columns.get_loc(spec.cpr_col)
    values = df[spec.cpr_col].to_numpy().copy()
    present = np.array([v is not None and v == v for v in values], dtype=bool)
    u = rng.random(n)
    r1, r2, r3 = r["missing_cpr"], r["cpr_typo"], r["cpr_transposition"]
    missing = present & (u < r1)
    typo = present & (u >= r1) & (u < r1 + r2)
    swap = present & (u >= r1 + r2) & (u < r1 + r2 + r3)
    values[missing] = None
    if typo.any():
        pos = rng.integers(0, 10, n)
        delta = rng.integers(1, 10, n)
        for i in np.flatnonzero(typo):
            d = list(values[i].replace("-", ""))
            d[pos[i]] = str((int(d[pos[i]]) + delta[i]) % 10)
            values[i] = _fmt("".join(d), spec.dashed)
    swapped = np.zeros(n, bool)
    if swap.any():
        start = rng.integers(0, 9, n)
        for i in np.flatnonzero(swap):
            d = list(values[i].replace("-", ""))
            for k in range(9):
                j = (start[i] + k) % 9
                if d[j] != d[j + 1]:
                    d[j], d[j + 1] = d[j + 1], d[j]
                    values[i] = _fmt("".join(d), spec.dashed)
                    swapped[i] = True
                    break
    df.iloc[:, col] = values
    log.add(source, tname, ids[missing], "missing_cpr")
    log.add(source, tname, ids[typo], "cpr_typo")
    log.add(source, tname, ids[swapped], "cpr_transposition")

    foreign = ~people["in_cpr"].to_numpy()[idx]
    log.add(source, tname, ids[foreign & np.array([v is not None for v in values], dtype=bool)],
            "replacement_number")


def _fmt(digits: str, dashed: bool) -> str:
    return f"{digits[:6]}-{digits[6:]}" if dashed else digits


def source_quirks(source: str, tables: dict[str, pd.DataFrame], rng: np.random.Generator,
                  log: NoiseLog) -> dict[str, pd.DataFrame]:
    """Quirks that belong to a source system and appear at every noise level."""
    if source != "beskaeftigelse":
        return tables
    tables = dict(tables)
    df = tables["borger"].copy()
    values = df["cprnr"].to_numpy().copy()
    zero = np.array([isinstance(v, str) and len(v) == 10 and v.startswith("0") for v in values], dtype=bool)
    hit = zero & (rng.random(len(df)) < LOST_LEADING_ZERO)
    values[hit] = np.array([v[1:] for v in values[hit]], dtype=object)
    df["cprnr"] = values
    log.add(source, "borger", df["borger_id"].to_numpy()[hit], "lost_leading_zero")
    tables["borger"] = df
    return tables

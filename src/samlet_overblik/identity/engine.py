"""The identity engine: deterministic, Fellegi–Sunter and clustering passes, all set-based in DuckDB.

Inputs are temporary tables in one DuckDB connection (see :func:`prepare`):

* ``id_in_records``  rid BIGINT (0..n-1), national_id, nid_status, given_name, family_name, birth_date,
  sex, address, postcode
* ``id_in_register`` cpr, given_name, family_name, birth_date, sex, address, postcode (may be empty)
* ``id_in_names``    cpr, given_name, family_name       (earlier names from the register)
* ``id_in_addresses`` cpr, address, postcode            (earlier addresses from the register)
* ``id_in_decisions`` rid_a, rid_b, decision ('match' | 'no_match')  (steward decisions)

Output: ``id_out`` (rid, cpr NULL-able, comp BIGINT, method, score) where ``comp`` is the person
(connected component) the record belongs to, and ``id_review`` (uncertain pairs with evidence).

Passes
1. ``cpr_exact``: a valid CPR found in the register, agreeing on birth date and sex, with the given
   or the family name agreeing with the current or an earlier register name.
2. ``cpr_corrected``: a CPR that is not in the register (or conflicts with it) but is one digit or
   one adjacent transposition away from exactly one register person whose given *and* family name
   agree and whose birth date agrees (or differs by one character, as a typo in the date part does).
3. ``probabilistic`` against the register: Fellegi–Sunter over given name, family name (term
   frequencies), birth date, sex, address (current and earlier) and CPR digits, with blocking; the best
   candidate is taken when its posterior, normalised over all its candidates and the chance that the
   person is not in the register, is >= ``accept_p``.
4. ``probabilistic`` among the records left (people without a CPR in the register, e.g. replacement
   numbers): the same model, edges above ``accept_p``, connected components.
Steward decisions override all of these: a ``no_match`` pair is never linked (its candidates are
removed before choosing), a ``match`` pair is joined.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import duckdb
import numpy as np

from samlet_overblik.core.sql import table_exists
from samlet_overblik.identity.normalise import install_macros

FIELDS = ("gn", "fn", "dob", "sex", "addr", "nid")
LEVELS = {"gn": 4, "fn": 4, "dob": 3, "sex": 2, "addr": 4, "nid": 3}
LEVEL_NAMES = {
    "gn": ["different", "similar", "shared name or swapped", "exact"],
    "fn": ["different", "similar", "shared name or swapped", "exact"],
    "dob": ["different", "one character off", "exact"],
    "sex": ["different", "same"],
    "addr": ["different", "same postcode, or same street without house number", "same house number, street nearly the same", "exact"],
    "nid": ["different", "one or two digits off", "exact"],
}
FIELD_LABEL = {"gn": "given_name", "fn": "family_name", "dob": "birth_date", "sex": "sex",
               "addr": "address", "nid": "national_id"}

# Prior m-probabilities (used where the data cannot tell: CPR-derived fields, or no labelled pairs).
DEFAULT_M = {
    "gn": [0.03, 0.05, 0.07, 0.85],
    "fn": [0.05, 0.05, 0.05, 0.85],
    "dob": [0.02, 0.05, 0.93],
    "sex": [0.02, 0.98],
    "addr": [0.25, 0.10, 0.05, 0.60],
    "nid": [0.03, 0.09, 0.88],
}


@dataclass
class Params:
    accept_p: float = 0.999        # posterior needed to link
    review_p: float = 0.05         # posterior from which an unlinked best candidate goes to review
    outside_register: float | None = None  # chance a record's person is not in the register (None: estimate)
    # Random (record, register person) pairs for u-probabilities. 100,000 links as 300,000 did: pairwise F1 (all
    # and without CPR) and review queues equal on 3,300, 50,000 and 213,000 citizens with three seeds each (one
    # seed once 0.00003 lower on 50,000, one review pair more), for 0.3-0.5 s less a municipality.
    u_sample: int = 100_000
    # Random record pairs when there is no register (u from the records alone): with 100,000 FEBRL1's F1 drops
    # from above 0.995 to 0.994.
    u_sample_records: int = 300_000
    m_sample: int = 200_000        # labelled pairs for m-probabilities
    seed: float = 0.42
    m_floor: float = 0.002         # lowest m for a level estimated from labelled pairs
    m_fixed: dict = field(default_factory=lambda: {k: DEFAULT_M[k] for k in ("dob", "sex", "nid")})
    # Danish name and address normalisation (æ = ae, Ã¸ repaired, ...: see identity.normalise); the warehouse
    # always links with it, the library only when asked.
    danish: bool = False
    # A model estimated earlier (an incremental run links with the model of the last full run, so that a record's
    # result depends on its own data, not on which other records happened to change). The caller provides its term
    # frequencies as the tables id_tf_gn and id_tf_fn (val, u).
    frozen: Model | None = None

    def settings(self) -> dict:
        """What decides a link, as plain data (a stored model is reused only under the same settings)."""
        return {k: v for k, v in asdict(self).items() if k != "frozen"}


@dataclass
class Model:
    m: dict[str, list[float]]
    u: dict[str, list[float]]
    n_entities: int
    m_source: str = "prior"
    # Estimated with m and u: the chance a record's person is not in the register ("outside"), the family-context
    # weights ("context_weight_in", "context_weight_out").
    extra: dict = field(default_factory=dict)

    def weight(self, f: str, level: int) -> float:
        return math.log2(self.m[f][level] / self.u[f][level])

    def to_json(self) -> dict:
        return {"m": self.m, "u": self.u, "n_entities": self.n_entities, "m_source": self.m_source,
                "extra": self.extra}

    @classmethod
    def from_json(cls, doc: dict) -> Model:
        return cls(m=doc["m"], u=doc["u"], n_entities=int(doc["n_entities"]), m_source=doc["m_source"],
                   extra=dict(doc.get("extra") or {}))


# --------------------------------------------------------------------------------------- preparation


def _given_name_cols(g: str) -> str:
    return f"""dk_norm({g}) AS gn, split_part(dk_norm({g}), ' ', 1) AS gn1, string_split(dk_norm({g}), ' ') AS gn_toks,
        dk_loose({g}) AS gnl, dk_loose_n(split_part(dk_norm({g}), ' ', 1)) AS gnl1"""


def _family_name_cols(f: str) -> str:
    return f"""dk_norm({f}) AS fn, string_split(dk_norm({f}), ' ') AS fn_toks, dk_loose({f}) AS fnl,
        dk_loose_n(regexp_extract(dk_norm({f}), '(\\S+)$', 1)) AS fnl_last"""


def _address_cols(a: str) -> str:
    return f"addr_norm({a}) AS addr, addr_street(addr_norm({a})) AS street, addr_number(addr_norm({a})) AS hnum"


def _normalised_sql(relation: str, before: str, after: str = "", names: bool = True, addresses: bool = True) -> str:
    """Each row of ``relation`` (given_name, family_name, address, postcode) as ``before``, the normalised name
    columns, ``after``, the normalised address columns. Each distinct name and address is normalised once and joined
    back: a municipality has some twenty thousand given names and a hundred family names for a hundred thousand
    records, and the normalisation is the dear part."""
    parts = ([("g", "given_name", _given_name_cols), ("f", "family_name", _family_name_cols)] if names else []) + \
        ([("a", "address", _address_cols)] if addresses else [])
    ctes = ", ".join(f"n{k} AS (SELECT v, {cols('v')} FROM (SELECT DISTINCT {col} AS v FROM x))" for k, col, cols in parts)
    joins = " ".join(f"LEFT JOIN n{k} ON n{k}.v = x.{col}" for k, col, _ in parts)
    name_cols = ", ng.* EXCLUDE (v), nf.* EXCLUDE (v)" if names else ""
    address_cols = ", na.* EXCLUDE (v), nullif(trim(CAST(x.postcode AS VARCHAR)), '') AS pc" if addresses else ""
    return f"""WITH x AS ({relation}), {ctes}
               SELECT {before}{name_cols}{after}{address_cols} FROM x {joins}"""


# The register's name and address variants, normalised, per CPR (``where`` narrows the CPR numbers). A caller that
# keeps them from run to run gives them to :func:`prepare` as id_in_name_features / id_in_address_features. Only
# persons in the register have them: the history of a person who left it is no candidate (and kept features must
# not outlive the person).
def register_name_features_sql(where: str = "TRUE") -> str:
    return "SELECT DISTINCT * FROM (" + _normalised_sql(
        f"""SELECT * FROM (
                SELECT cpr, given_name, family_name FROM id_in_register
                UNION ALL SELECT cpr, coalesce(n.given_name, p.given_name), n.family_name
                FROM id_in_names n JOIN id_in_register p USING (cpr)
                UNION ALL SELECT cpr, n.given_name, coalesce(n.family_name, p.family_name)
                FROM id_in_names n JOIN id_in_register p USING (cpr)
            ) x WHERE {where}""", "x.cpr", addresses=False) + ")"


def register_address_features_sql(where: str = "TRUE") -> str:
    return "SELECT DISTINCT * FROM (" + _normalised_sql(
        f"""SELECT * FROM (
                SELECT cpr, address, postcode FROM id_in_register
                UNION ALL SELECT cpr, address, postcode FROM id_in_addresses SEMI JOIN id_in_register USING (cpr)
            ) x WHERE {where}""", "x.cpr", names=False) + ") WHERE addr IS NOT NULL OR pc IS NOT NULL"


def prepare(con: duckdb.DuckDBPyConnection, danish: bool) -> None:
    """Normalise the inputs into the engine's working tables."""
    install_macros(con, danish)
    con.execute(f"CREATE OR REPLACE TEMP TABLE id_rec AS {record_features_sql('id_in_records')}")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE id_ent AS
           SELECT CAST(row_number() OVER (ORDER BY cpr) - 1 AS BIGINT) AS eid, cpr, cpr AS nid,
                  birth_date AS dob, sex FROM (SELECT DISTINCT ON (cpr) * FROM id_in_register)"""
    )
    given = table_exists(con, "id_in_name_features") and table_exists(con, "id_in_address_features")
    names = "SELECT * FROM id_in_name_features" if given else register_name_features_sql()
    addresses = "SELECT * FROM id_in_address_features" if given else register_address_features_sql()
    con.execute(f"CREATE OR REPLACE TEMP TABLE id_nv AS SELECT e.eid, f.* EXCLUDE (cpr) FROM ({names}) f JOIN id_ent e USING (cpr)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE id_av AS SELECT e.eid, f.* EXCLUDE (cpr) FROM ({addresses}) f JOIN id_ent e USING (cpr)")


# --------------------------------------------------------------------------------------- deterministic

_GIVEN_AGREE = "(r.gn1 = v.gn1 OR list_has_any(r.gn_toks, v.gn_toks) OR jaro_winkler_similarity(r.gnl1, v.gnl1) >= 0.88)"
_FAMILY_AGREE = "(list_has_any(r.fn_toks, v.fn_toks) OR jaro_winkler_similarity(r.fnl, v.fnl) >= 0.88 OR jaro_winkler_similarity(r.fnl_last, v.fnl_last) >= 0.9)"


def cpr_variants_sql(records: str) -> str:
    """(rid, v): every number one digit substitution or one adjacent transposition away from each record's ``nid``
    (``records``: a query with rid and nid): the CPR numbers a typo could have come from."""
    return f"""WITH rc AS ({records})
           SELECT rid, substr(nid, 1, p - 1) || CAST(d AS VARCHAR) || substr(nid, p + 1) AS v
           FROM rc, range(1, 11) t(p), range(0, 10) s(d) WHERE substr(nid, p, 1) <> CAST(d AS VARCHAR)
           UNION ALL
           SELECT rid, substr(nid, 1, p - 1) || substr(nid, p + 1, 1) || substr(nid, p, 1) || substr(nid, p + 2)
           FROM rc, range(1, 10) t(p) WHERE substr(nid, p, 1) <> substr(nid, p + 1, 1)"""


def record_features_sql(records: str) -> str:
    """The engine's normalised record fields (id_rec's columns) of ``records`` (a relation like id_in_records)."""
    return _normalised_sql(f"SELECT * FROM {records}", "x.rid, x.national_id AS nid, x.nid_status",
                           ", x.birth_date AS dob, x.sex")


def deterministic(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE id_det AS
            SELECT r.rid, any_value(e.eid) AS eid, 'cpr_exact' AS method, 1.0 AS score
            FROM id_rec r JOIN id_ent e ON e.cpr = r.nid
            LEFT JOIN id_nv v ON v.eid = e.eid
            WHERE r.nid_status = 'valid' AND (r.dob IS NULL OR r.dob = e.dob)
              AND (r.sex IS NULL OR e.sex IS NULL OR r.sex = e.sex)
            GROUP BY r.rid
            HAVING bool_and(r.gn IS NULL AND r.fn IS NULL)
                OR bool_or(coalesce({_GIVEN_AGREE}, FALSE) OR coalesce({_FAMILY_AGREE}, FALSE))"""
    )
    # Corrections: every CPR one substitution or one adjacent transposition away, looked up in the register.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE id_variants AS {cpr_variants_sql(
            "SELECT rid, nid FROM id_rec r WHERE nid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM id_det d WHERE d.rid = r.rid)")}"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE id_corr AS
            WITH c AS (
                SELECT r.rid, e.eid FROM id_variants x JOIN id_ent e ON e.cpr = x.v
                JOIN id_rec r ON r.rid = x.rid JOIN id_nv v ON v.eid = e.eid
                WHERE r.gn IS NOT NULL AND r.fn IS NOT NULL AND {_GIVEN_AGREE} AND {_FAMILY_AGREE}
                  AND (r.dob IS NULL OR r.dob = e.dob
                       OR damerau_levenshtein(strftime(r.dob, '%d%m%Y'), strftime(e.dob, '%d%m%Y')) <= 1
                       OR damerau_levenshtein(strftime(r.dob, '%d%m%y'), strftime(e.dob, '%d%m%y')) <= 1)
                GROUP BY r.rid, e.eid)
            SELECT rid, min(eid) AS eid, 'cpr_corrected' AS method, 1.0 AS score
            FROM c GROUP BY rid HAVING count(*) = 1"""
    )
    con.execute("DROP TABLE id_variants")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE id_linked AS
           SELECT * FROM id_det UNION ALL SELECT * FROM id_corr"""
    )


# --------------------------------------------------------------------------------------- comparison


# Given and family name written the wrong way round (each near the other's other name); the first letters are
# checked first because the similarity is dear and most pairs fail it.
_SWAPPED = """((left(r.gnl, 1) = left(v.fnl, 1) OR left(r.fnl, 1) = left(v.gnl, 1))
              AND jaro_winkler_similarity(r.gnl, v.fnl) >= 0.9 AND jaro_winkler_similarity(r.fnl, v.gnl) >= 0.9)"""


def _dob_typo_possible(a: str, b: str) -> str:
    """Cheap and necessary for ``damerau_levenshtein`` <= 1 of the two dates written ``%Y%m%d`` (eight characters
    for years 1000-9999): one substitution or adjacent transposition leaves the first three year digits or the
    month and day as they were (one insertion or deletion alone would change the length). Random pairs, most of
    what is compared, fail it, and skip the distance, which costs more than all the other levels together."""
    return f"""(NOT (year({a}) BETWEEN 1000 AND 9999 AND year({b}) BETWEEN 1000 AND 9999)
               OR year({a}) // 10 = year({b}) // 10 OR (month({a}) = month({b}) AND day({a}) = day({b})))"""


def _nid_typos_possible(a: str, b: str) -> str:
    """Cheap and necessary for ``damerau_levenshtein`` <= 2 of two ten-character numbers: two edits (each a
    substitution, insertion, deletion or adjacent transposition) touch at most four of ``a``'s five two-character
    blocks, so one block is found whole in ``b``, shifted by at most one place (the same length: an insertion only
    with a deletion). Other lengths are not guarded by blocks."""
    blocks = " OR ".join(
        f"contains(substr({b}, {max(p - 1, 1)}, {p + 2 - max(p - 1, 1) + 1}), substr({a}, {p}, 2))" for p in (1, 3, 5, 7, 9))
    # Levenshtein counts a transposition as two edits, never more, and is far cheaper than Damerau-Levenshtein.
    return f"((length({a}) <> 10 OR length({b}) <> 10 OR {blocks}) AND levenshtein({a}, {b}) <= 4)"


def _levels_sql(pair_entity_nid_null: str = "FALSE") -> dict[str, str]:
    return {
        "gn": f"""CASE WHEN r.gn IS NULL OR v.gn IS NULL THEN -1 WHEN r.gn = v.gn THEN 3
                 WHEN r.gn1 = v.gn1 OR list_has_any(r.gn_toks, v.gn_toks) OR {_SWAPPED} THEN 2
                 WHEN jaro_winkler_similarity(r.gnl, v.gnl) >= 0.9 OR jaro_winkler_similarity(r.gnl1, v.gnl1) >= 0.92
                 THEN 1 ELSE 0 END""",
        "fn": f"""CASE WHEN r.fn IS NULL OR v.fn IS NULL THEN -1 WHEN r.fn = v.fn THEN 3
                 WHEN list_has_any(r.fn_toks, v.fn_toks) OR {_SWAPPED} THEN 2
                 WHEN jaro_winkler_similarity(r.fnl, v.fnl) >= 0.9 OR jaro_winkler_similarity(r.fnl_last, v.fnl_last) >= 0.92
                 THEN 1 ELSE 0 END""",
        "addr": """CASE WHEN (r.addr IS NULL AND r.pc IS NULL) OR (a.addr IS NULL AND a.pc IS NULL) THEN -1
                   WHEN r.addr = a.addr THEN 3
                   WHEN r.hnum = a.hnum AND (r.street = a.street OR jaro_winkler_similarity(r.addr, a.addr) >= 0.9) THEN 2
                   WHEN r.pc = a.pc OR ((r.hnum IS NULL OR a.hnum IS NULL)
                        AND jaro_winkler_similarity(coalesce(r.street, r.addr), coalesce(a.street, a.addr)) >= 0.9)
                   THEN 1 ELSE 0 END""",
        "dob": f"""CASE WHEN r.dob IS NULL OR e.dob IS NULL THEN -1 WHEN r.dob = e.dob THEN 2
                  WHEN ({_dob_typo_possible('r.dob', 'e.dob')}
                        AND damerau_levenshtein(strftime(r.dob, '%Y%m%d'), strftime(e.dob, '%Y%m%d')) <= 1)
                       OR (day(r.dob) = month(e.dob) AND month(r.dob) = day(e.dob) AND year(r.dob) = year(e.dob))
                  THEN 1 ELSE 0 END""",
        "sex": "CASE WHEN r.sex IS NULL OR e.sex IS NULL THEN -1 WHEN r.sex = e.sex THEN 1 ELSE 0 END",
        "nid": f"""CASE WHEN r.nid IS NULL OR e.nid IS NULL OR {pair_entity_nid_null} THEN -1 WHEN r.nid = e.nid THEN 2
                  WHEN {_nid_typos_possible('r.nid', 'e.nid')} AND damerau_levenshtein(r.nid, e.nid) <= 2 THEN 1 ELSE 0 END""",
    }


def _w_case(model: Model, f: str, col: str, tf_col: str | None = None) -> str:
    parts = []
    for lvl in range(LEVELS[f]):
        w = model.weight(f, lvl)
        if tf_col is not None and lvl == LEVELS[f] - 1:
            m = model.m[f][lvl]
            floor = 1.0 / max(model.n_entities, 1)
            parts.append(f"WHEN {lvl} THEN log2({m!r} / greatest(coalesce({tf_col}, {model.u[f][lvl]!r}), {floor!r}))")
        else:
            parts.append(f"WHEN {lvl} THEN {w!r}")
    return f"(CASE {col} {' '.join(parts)} ELSE 0.0 END)"


def compute_levels(con, pairs: str, side: str, out: str) -> None:
    """Comparison levels for every (rid, eid) in ``pairs``; the entity side ``side`` is 'reg' (register
    entities with name and address variants) or 'rec' (other records)."""
    ent, nv, av = ("id_ent", "id_nv", "id_av") if side == "reg" else ("id_rent", "id_rnv", "id_rav")
    lv = _levels_sql("r.nid_status = 'replacement'" if side == "reg" else "FALSE")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {out} AS
        WITH nm AS (
            SELECT p.rid, p.eid, max({lv['gn']} * 10 + {lv['fn']} + 11) AS code
            FROM {pairs} p JOIN id_rec r ON r.rid = p.rid LEFT JOIN {nv} v ON v.eid = p.eid GROUP BY ALL),
        ad AS (
            SELECT p.rid, p.eid, max({lv['addr']}) AS addr
            FROM {pairs} p JOIN id_rec r ON r.rid = p.rid LEFT JOIN {av} a ON a.eid = p.eid GROUP BY ALL),
        en AS (
            SELECT p.rid, p.eid, {lv['dob']} AS dob, {lv['sex']} AS sex, {lv['nid']} AS nid, r.gn AS r_gn, r.fn AS r_fn
            FROM {pairs} p JOIN id_rec r ON r.rid = p.rid JOIN {ent} e ON e.eid = p.eid)
        SELECT en.rid, en.eid, (nm.code // 10) - 1 AS gn, (nm.code % 10) - 1 AS fn, ad.addr, en.dob, en.sex, en.nid,
               r_gn, r_fn
        FROM en JOIN nm USING (rid, eid) JOIN ad USING (rid, eid)"""
    )
    # NB: the name code keeps the best (given, family) combination of one name variant, ranked by
    # given level first; the weights below prefer the variant with the better total in practice.


def score_pairs(con, levels: str, model: Model, out: str) -> None:
    w = " + ".join(
        _w_case(model, f, f"l.{f}", "tg.u" if f == "gn" else "tf.u" if f == "fn" else None) for f in FIELDS
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {out} AS
            SELECT l.rid, l.eid, l.gn, l.fn, l.addr, l.dob, l.sex, l.nid, {w} AS w
            FROM {levels} l LEFT JOIN id_tf_gn tg ON tg.val = l.r_gn LEFT JOIN id_tf_fn tf ON tf.val = l.r_fn"""
    )


def _level_counts(con, levels: str) -> dict[str, np.ndarray]:
    out = {}
    for f in FIELDS:
        rows = con.execute(f"SELECT {f}, count(*) FROM {levels} WHERE {f} >= 0 GROUP BY 1").fetchall()
        c = np.zeros(LEVELS[f])
        for lvl, n in rows:
            c[int(lvl)] = n
        out[f] = c
    return out


def _probs(counts: np.ndarray, prior: list[float], strength: float = 20.0) -> list[float]:
    p = np.asarray(prior, dtype=float)
    est = (counts + strength * p) / (counts.sum() + strength)
    return [float(max(x, 1e-6)) for x in est]


def make_tf(con, side: str) -> None:
    nv, n = ("id_nv", "id_ent") if side == "reg" else ("id_rnv", "id_rent")
    total = con.execute(f"SELECT greatest(count(*), 1) FROM {n}").fetchall()[0][0]
    for col, name in (("gn", "id_tf_gn"), ("fn", "id_tf_fn")):
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {name} AS SELECT {col} AS val, count(DISTINCT eid) / {total}::DOUBLE AS u
                FROM {nv} WHERE {col} IS NOT NULL GROUP BY 1"""
        )


def estimate_u(con, side: str, params: Params) -> dict[str, list[float]]:
    # Among records (no register), a record paired with itself is no random pair: it would agree on everything.
    register = side == "reg"
    ent = "id_ent" if register else "id_rent"
    n_rec = con.execute("SELECT count(*) FROM id_rec").fetchall()[0][0]
    n_ent = con.execute(f"SELECT count(*) FROM {ent}").fetchall()[0][0]
    sample = params.u_sample if register else params.u_sample_records
    con.execute(f"SELECT setseed({params.seed})").fetchall()
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE id_upairs AS
            SELECT DISTINCT r.rid, e.eid FROM (
                SELECT CAST(floor(random() * {n_rec}) AS BIGINT) AS i, CAST(floor(random() * {n_ent}) AS BIGINT) AS j
                FROM range({sample})) x
            JOIN (SELECT rid, row_number() OVER (ORDER BY rid) - 1 AS i FROM id_rec) r ON r.i = x.i
            JOIN (SELECT eid, row_number() OVER (ORDER BY eid) - 1 AS j FROM {ent}) e ON e.j = x.j
            {"" if register else "WHERE r.rid <> e.eid"}"""
    )
    compute_levels(con, "id_upairs", side, "id_ulev")
    counts = _level_counts(con, "id_ulev")
    con.execute("DROP TABLE id_upairs; DROP TABLE id_ulev")
    # A weak prior keeps the rare levels finite; exact agreement of a random pair is rare, not impossible.
    u_prior = {f: [0.9] + [0.1 / (LEVELS[f] - 1)] * (LEVELS[f] - 1) for f in FIELDS}
    return {f: _probs(counts[f], u_prior[f], strength=5.0) for f in FIELDS}


def _without_matches(u: dict[str, list[float]], m: dict[str, list[float]], match_share: float,
                     sample: int) -> dict[str, list[float]]:
    """u of random pairs of which ``match_share`` are matches (distributed as ``m``), made the non-matches' own:
    (u - share * m) / (1 - share), each level at least half a pair of the sample."""
    share = min(max(match_share, 0.0), 0.5)
    out = {}
    for f in FIELDS:
        est = np.maximum((np.asarray(u[f]) - share * np.asarray(m[f])) / (1 - share), 0.5 / sample)
        out[f] = [float(x) for x in est / est.sum()]
    return out


def estimate_m_labelled(con, params: Params) -> dict[str, list[float]] | None:
    """m-probabilities from the deterministic links (record, register person): they show how names and
    addresses really vary for one person across the sources (typos, marriage names, moves)."""
    n = con.execute("SELECT count(*) FROM id_det d JOIN id_rec r USING (rid) WHERE r.gn IS NOT NULL").fetchall()[0][0]
    if n < 200:
        return None
    con.execute(f"SELECT setseed({params.seed})").fetchall()
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE id_mpairs AS SELECT d.rid, d.eid FROM id_det d JOIN id_rec r USING (rid)
            WHERE r.gn IS NOT NULL AND NOT coalesce(r.is_register, FALSE)
            ORDER BY random() LIMIT {params.m_sample}"""
    )
    if con.execute("SELECT count(*) FROM id_mpairs").fetchall()[0][0] < 200:
        return None
    compute_levels(con, "id_mpairs", "reg", "id_mlev")
    counts = _level_counts(con, "id_mlev")
    con.execute("DROP TABLE id_mpairs; DROP TABLE id_mlev")
    m = {}
    for f in FIELDS:
        if f in params.m_fixed:
            m[f] = list(params.m_fixed[f])
            continue
        # The labelled pairs needed one name to agree and miss the worst noise of records without a
        # CPR: keep every disagreement level at least at m_floor so one typo is not damning.
        est = np.maximum(np.array(_probs(counts[f], DEFAULT_M[f])), params.m_floor)
        m[f] = [float(x) for x in est / est.sum()]
    return m


def estimate_m_em(con, levels: str, pairs: str, u: dict[str, list[float]], iters: int = 30) -> dict:
    """m-probabilities by expectation maximisation over the blocked pairs (u fixed), for data without labels.

    One fit per blocking rule, over the pairs that rule found, leaving out the fields the rule makes agree (on those
    pairs they agree by construction, not by being the same person); a field's m is the mean of the fits that
    learnt it. One fit over all pairs would take the non-matches a rule drags in (namesakes, people born on one
    day) for matches and learn that matches disagree much more than they do."""
    fits: dict[str, list[np.ndarray]] = {f: [] for f in FIELDS}
    for k, rule in enumerate(BLOCKING_RULES):
        rows = con.execute(
            f"""SELECT {', '.join(FIELDS)}, count(*) FROM {levels} JOIN {pairs} USING (rid, eid)
                WHERE rules & {1 << k} <> 0 GROUP BY ALL"""
        ).fetchall()
        if sum(r[-1] for r in rows) < 20:
            continue
        pat = np.array([r[:-1] for r in rows], dtype=int)
        for j, f in enumerate(FIELDS):
            if f in rule.fields:
                pat[:, j] = -1
        for f, est in _em(pat, np.array([r[-1] for r in rows], dtype=float), u, iters).items():
            if f not in rule.fields and (pat[:, FIELDS.index(f)] >= 0).any():
                fits[f].append(est)
    return {f: [float(x) for x in (np.mean(fits[f], axis=0) if fits[f] else DEFAULT_M[f])] for f in FIELDS}


def _em(pat: np.ndarray, cnt: np.ndarray, u: dict[str, list[float]], iters: int) -> dict[str, np.ndarray]:
    m = {f: np.array(DEFAULT_M[f], dtype=float) for f in FIELDS}
    uu = {f: np.array(u[f], dtype=float) for f in FIELDS}
    lam = 0.5
    for _ in range(iters):
        lm = np.full(len(cnt), math.log(lam))
        lu = np.full(len(cnt), math.log(1 - lam))
        for k, f in enumerate(FIELDS):
            lv = pat[:, k]
            ok = lv >= 0
            lm[ok] += np.log(m[f][lv[ok]])
            lu[ok] += np.log(uu[f][lv[ok]])
        g = 1.0 / (1.0 + np.exp(np.clip(lu - lm, -700, 700)))
        wm = g * cnt
        lam = float(np.clip(wm.sum() / cnt.sum(), 1e-6, 1 - 1e-6))
        for k, f in enumerate(FIELDS):
            lv = pat[:, k]
            c = np.zeros(LEVELS[f])
            np.add.at(c, lv[lv >= 0], wm[lv >= 0])
            m[f] = np.array(_probs(c, DEFAULT_M[f], strength=2.0))
    return m


# --------------------------------------------------------------------------------------- blocking

@dataclass(frozen=True)
class BlockingRule:
    """Candidate pairs: a record ``r`` and an entity row ``x`` of ``table`` (``ent``: the entity, ``nv``: one of its
    name variants, ``av``: one of its addresses) that satisfy ``on``. ``fields`` are the comparison fields the rule
    makes agree, so its pairs tell nothing about how often those fields agree for a match (the EM fit leaves them
    out for those pairs). ``among_records`` rules run only among the records the register did not take (a small
    set), not against every register person."""

    table: str
    on: str
    fields: tuple[str, ...]
    among_records: bool = False


BLOCKING_RULES = (
    BlockingRule("ent", "r.dob = x.dob", ("dob",)),
    # The family name and a first given name near it: the first two letters alone drag in every namesake's
    # sibling (a common family name and "An..." is thousands of people), and a pair whose given names are
    # that far apart scores as no match unless its birth date or address agrees, which the other rules catch.
    BlockingRule("nv", "r.fnl = x.fnl AND left(r.gnl1, 2) = left(x.gnl1, 2) AND jaro_winkler_similarity(r.gnl1, x.gnl1) >= 0.88",
                 ("gn", "fn")),
    BlockingRule("nv", "r.gnl1 = x.gnl1 AND r.fnl_last = x.fnl_last", ("gn", "fn")),
    BlockingRule("av", "r.street = x.street AND r.hnum = x.hnum AND r.pc = x.pc", ("addr",)),
    BlockingRule("ent", "r.nid = x.nid", ("nid",)),
    # Among the records left, wider nets for what the rules above miss: given and family name swapped, the house
    # without the postcode, either half of the identifier.
    BlockingRule("nv", "r.fnl_last = x.gnl1 AND left(r.gnl1, 2) = left(x.fnl_last, 2)", ("gn", "fn"), True),
    BlockingRule("av", "r.street = x.street AND r.hnum = x.hnum", ("addr",), True),
    BlockingRule("ent", "left(r.nid, 4) = left(x.nid, 4)", ("nid",), True),
    BlockingRule("ent", "right(r.nid, 4) = right(x.nid, 4)", ("nid",), True),
)


def block(con, src: str, side: str, out: str, self_join: bool) -> None:
    """``out`` (rid, eid, rules): the candidate pairs of the records in ``src`` with the entities of ``side``
    ('reg': register persons; 'rec': the records left, each pair once), ``rules`` the bit mask of the
    :data:`BLOCKING_RULES` that found the pair."""
    tables = {"ent": "id_ent", "nv": "id_nv", "av": "id_av"} if side == "reg" else \
        {"ent": "id_rent", "nv": "id_rnv", "av": "id_rav"}
    only_later = "AND r.rid < x.eid" if self_join else ""
    selects = [
        f"""SELECT r.rid, x.eid, {1 << k} AS rule FROM {src} s JOIN id_rec r USING (rid)
            JOIN {tables[rule.table]} x ON {rule.on} {only_later}"""
        for k, rule in enumerate(BLOCKING_RULES) if self_join or not rule.among_records
    ]
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {out} AS SELECT rid, eid, bit_or(rule) AS rules
            FROM ({' UNION ALL '.join(selects)}) GROUP BY rid, eid"""
    )


# --------------------------------------------------------------------------------------- passes


def _posterior_sql(w: str, n: int) -> str:
    return f"1.0 / (1.0 + pow(2.0, -(({w}) - {math.log2(max(n, 2))!r})))"


def _context_weights(con, n_ent: int) -> tuple[float, float] | None:
    """Weights for "the candidate is among the people the record's context points at" (``id_in_context``:
    rid, cpr — e.g. the registered parents of the child whose case a parent record sits on).
    m from the deterministic links, u from the mean size of a context set."""
    if not table_exists(con, "id_in_context"):
        return None
    row = con.execute(
        """SELECT count(DISTINCT d.rid), count(DISTINCT d.rid) FILTER (WHERE c2.rid IS NOT NULL)
           FROM id_det d JOIN (SELECT DISTINCT rid FROM id_in_context) c USING (rid) JOIN id_ent e ON e.eid = d.eid
           LEFT JOIN id_in_context c2 ON c2.rid = d.rid AND c2.cpr = e.cpr"""
    ).fetchall()[0]
    size = con.execute("SELECT avg(n) FROM (SELECT rid, count(*) AS n FROM id_in_context GROUP BY rid)").fetchall()[0][0]
    if not size:
        return None
    labelled, inside = row
    m_in = (inside + 9.0) / (labelled + 10.0)  # a weak prior of 0.9
    u_in = min(size / max(n_ent, 1), 0.5)
    return math.log2(m_in / u_in), math.log2((1 - m_in) / (1 - u_in))


def probabilistic_register(con, params: Params) -> Model | None:
    n_ent = con.execute("SELECT count(*) FROM id_ent").fetchall()[0][0]
    con.execute(
        """CREATE OR REPLACE TEMP TABLE id_res AS SELECT rid FROM id_rec r
           WHERE NOT EXISTS (SELECT 1 FROM id_linked l WHERE l.rid = r.rid)"""
    )
    con.execute("CREATE OR REPLACE TEMP TABLE id_review_reg (rid BIGINT, eid BIGINT, w DOUBLE, score DOUBLE, lev STRUCT(gn INT, fn INT, dob INT, sex INT, addr INT, nid INT))")
    if n_ent == 0:
        return None
    if params.frozen is not None:
        model = params.frozen
    else:
        make_tf(con, "reg")
        u = estimate_u(con, "reg", params)
        m = estimate_m_labelled(con, params)
        model = Model(m=m or {f: list(DEFAULT_M[f]) for f in FIELDS}, u=u, n_entities=n_ent,
                      m_source="labelled" if m else "prior")
    block(con, "id_res", "reg", "id_pairs", self_join=False)
    # Steward "no match": never a candidate (also not via a record already tied to that person).
    con.execute(
        """DELETE FROM id_pairs p USING (
               SELECT d.rid_a AS rid, l.eid FROM id_in_decisions d JOIN id_linked l ON l.rid = d.rid_b WHERE d.decision = 'no_match'
               UNION SELECT d.rid_b, l.eid FROM id_in_decisions d JOIN id_linked l ON l.rid = d.rid_a WHERE d.decision = 'no_match'
           ) x WHERE p.rid = x.rid AND p.eid = x.eid"""
    )
    if params.frozen is None:
        ctx = _context_weights(con, n_ent)
    elif "context_weight_in" in model.extra and table_exists(con, "id_in_context"):
        ctx = (model.extra["context_weight_in"], model.extra["context_weight_out"])
    else:
        ctx = None
    if ctx is not None:
        con.execute(
            """INSERT INTO id_pairs SELECT DISTINCT c.rid, e.eid, 0 FROM id_in_context c JOIN id_ent e USING (cpr)
               JOIN id_res USING (rid) WHERE NOT EXISTS (SELECT 1 FROM id_pairs p WHERE p.rid = c.rid AND p.eid = e.eid)"""
        )
    compute_levels(con, "id_pairs", "reg", "id_lev")
    score_pairs(con, "id_lev", model, "id_scored")
    if ctx is not None:
        # Family context (e.g. a parent on a child's case): is the candidate related to the case child?
        w_in, w_out = ctx
        con.execute(
            f"""UPDATE id_scored s SET w = w + CASE WHEN EXISTS (SELECT 1 FROM id_in_context c JOIN id_ent e USING (cpr)
                    WHERE c.rid = s.rid AND e.eid = s.eid) THEN {w_in!r} ELSE {w_out!r} END
                WHERE s.rid IN (SELECT rid FROM id_in_context)"""
        )
        model.extra.update(context_weight_in=w_in, context_weight_out=w_out)
    # Posterior of the best candidate, normalised over all its candidates plus the chance that the
    # record's person is not in the register at all (estimated from the share of replacement numbers).
    outside = params.outside_register
    if params.frozen is not None:
        outside = model.extra["outside"]
    elif outside is None:
        share = con.execute(
            "SELECT count(*) FILTER (WHERE nid_status = 'replacement') / greatest(count(*) FILTER (WHERE nid IS NOT NULL), 1) FROM id_rec"
        ).fetchall()[0][0]
        outside = min(max(float(share), 0.001), 0.5)
    model.extra["outside"] = outside
    odds_out = n_ent * outside / (1 - outside)
    # Equal weights (namesakes, say) go to the lowest entity: the same candidate in every run.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE id_best AS
            SELECT rid, arg_max(eid, (w, -eid)) AS eid, max(w) AS w,
                   pow(2.0, max(w)) / (sum(pow(2.0, w)) + {odds_out!r}) AS score,
                   arg_max(struct_pack(gn, fn, dob, sex, addr, nid), (w, -eid)) AS lev
            FROM id_scored GROUP BY rid"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE id_prob AS
            SELECT rid, eid, 'probabilistic' AS method, score FROM id_best WHERE score >= {params.accept_p}"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE id_review_reg AS
            SELECT rid, eid, w, score, lev FROM id_best b
            WHERE score >= {params.review_p} AND NOT EXISTS (SELECT 1 FROM id_prob p WHERE p.rid = b.rid)"""
    )
    con.execute("INSERT INTO id_linked SELECT * FROM id_prob")
    return model


def probabilistic_records(con, params: Params, model: Model | None) -> Model:
    """Match the records no register person took among themselves (edges), with the same comparisons."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE id_rest AS SELECT rid FROM id_rec r
           WHERE NOT EXISTS (SELECT 1 FROM id_linked l WHERE l.rid = r.rid)"""
    )
    n = con.execute("SELECT count(*) FROM id_rest").fetchall()[0][0]
    con.execute("""CREATE OR REPLACE TEMP TABLE id_rent AS SELECT r.rid AS eid, r.nid, r.dob, r.sex
                   FROM id_rest JOIN id_rec r USING (rid)""")
    con.execute("""CREATE OR REPLACE TEMP TABLE id_rnv AS SELECT r.rid AS eid, gn, gn1, gn_toks, gnl, gnl1, fn,
                   fn_toks, fnl, fnl_last FROM id_rest JOIN id_rec r USING (rid)""")
    con.execute("""CREATE OR REPLACE TEMP TABLE id_rav AS SELECT r.rid AS eid, addr, street, hnum, pc
                   FROM id_rest JOIN id_rec r USING (rid) WHERE addr IS NOT NULL OR pc IS NOT NULL""")
    con.execute("CREATE OR REPLACE TEMP TABLE id_edges (rid BIGINT, eid BIGINT, score DOUBLE, method VARCHAR)")
    con.execute("CREATE OR REPLACE TEMP TABLE id_review_rec (rid BIGINT, eid BIGINT, w DOUBLE, score DOUBLE, lev STRUCT(gn INT, fn INT, dob INT, sex INT, addr INT, nid INT))")
    if n < 2:
        return model or Model({f: list(DEFAULT_M[f]) for f in FIELDS}, {}, 0)
    block(con, "id_rest", "rec", "id_rpairs", self_join=True)
    con.execute(
        """DELETE FROM id_rpairs p USING id_in_decisions d WHERE d.decision = 'no_match'
           AND ((p.rid = d.rid_a AND p.eid = d.rid_b) OR (p.rid = d.rid_b AND p.eid = d.rid_a))"""
    )
    compute_levels(con, "id_rpairs", "rec", "id_rlev")
    if model is None and params.frozen is not None:
        model = params.frozen
    elif model is None:
        # No register: term frequencies and u from the records themselves, m by EM over the blocked pairs.
        make_tf(con, "rec")
        u_random = estimate_u(con, "rec", params)
        u = u_random
        for _ in range(2):
            m = estimate_m_em(con, "id_rlev", "id_rpairs", u)
            # Random pairs of records are not all non-matches: among duplicates, about one in n is a match, which
            # alone would make an exact birth date look a hundred times commoner between strangers than it is. The
            # expected matches among the blocked pairs say how many; take their share out of the random pairs.
            score_pairs(con, "id_rlev", Model(m=m, u=u, n_entities=n), "id_rscored")
            matches = con.execute(f"SELECT coalesce(sum({_posterior_sql('w', n)}), 0) FROM id_rscored").fetchall()[0][0]
            u = _without_matches(u_random, m, float(matches) / max(n * (n - 1) / 2, 1), params.u_sample_records)
        model = Model(m=m, u=u, n_entities=n, m_source="em")
    rmodel = Model(m=model.m, u=model.u, n_entities=n, m_source=model.m_source)
    score_pairs(con, "id_rlev", rmodel, "id_rscored")
    post = _posterior_sql("w", n)
    con.execute(
        f"""INSERT INTO id_edges SELECT rid, eid, {post}, 'probabilistic' FROM id_rscored WHERE {post} >= {params.accept_p}"""
    )
    con.execute(
        f"""INSERT INTO id_review_rec SELECT rid, eid, w, {post}, struct_pack(gn, fn, dob, sex, addr, nid)
            FROM id_rscored WHERE {post} >= {params.review_p} AND {post} < {params.accept_p}"""
    )
    return model


def components(con, edges: str, nodes: str, out: str) -> None:
    """Connected components by iterated min-label propagation (set-based; a few rounds in practice). ``nodes``: each
    node and its own label (node, comp); ``out``: each node and the least label in its component."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT node, comp FROM {nodes}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE id_e2 AS SELECT a, b FROM {edges} UNION ALL SELECT b, a FROM {edges}")
    for _ in range(200):
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE id_cc_new AS
                SELECT c.node, least(c.comp, coalesce(min(n.comp), c.comp)) AS comp
                FROM {out} c LEFT JOIN id_e2 e ON e.a = c.node LEFT JOIN {out} n ON n.node = e.b
                GROUP BY c.node, c.comp"""
        )
        # Pointer jumping: take the label of the label, which halves long chains.
        con.execute(
            """CREATE OR REPLACE TEMP TABLE id_cc_new2 AS
                SELECT c.node, least(c.comp, coalesce(l.comp, c.comp)) AS comp FROM id_cc_new c
                LEFT JOIN id_cc_new l ON l.node = c.comp"""
        )
        changed = con.execute(
            f"SELECT count(*) FROM id_cc_new2 x JOIN {out} o USING (node) WHERE x.comp <> o.comp"
        ).fetchall()[0][0]
        con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT * FROM id_cc_new2")
        if changed == 0:
            break
    con.execute("DROP TABLE id_cc_new; DROP TABLE id_cc_new2; DROP TABLE id_e2")


def finalise(con) -> None:
    """Join everything into components (records + register persons as nodes, a component labelled by its least node)
    and label each record."""
    off = con.execute("SELECT coalesce(max(rid), 0) + 1 FROM id_rec").fetchall()[0][0]
    # Nearly every edge ties a record to the one register person it was linked to: those stars are whole before any
    # propagation, so each becomes one node (the person's), labelled by its least member (a record's rid: every
    # register node is above every rid), and only the few other edges (records matched among themselves, steward
    # matches, a record tied to a second person) are propagated over, instead of every record and register person
    # for several rounds.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE id_star AS
            SELECT r.rid, coalesce(min(l.eid) + {off}, r.rid) AS star, count(l.eid) AS persons
            FROM id_rec r LEFT JOIN id_linked l USING (rid) GROUP BY r.rid"""
    )
    con.execute("CREATE OR REPLACE TEMP TABLE id_star_label AS SELECT star, min(rid) AS comp FROM id_star GROUP BY star")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE id_star_edges AS
            SELECT * FROM (
                SELECT sa.star AS a, sb.star AS b FROM (
                    SELECT rid AS a, eid AS b FROM id_edges
                    UNION ALL SELECT rid_a, rid_b FROM id_in_decisions WHERE decision = 'match') e
                JOIN id_star sa ON sa.rid = e.a JOIN id_star sb ON sb.rid = e.b
                -- A record tied to a second person (rare) ties its star to that person too.
                UNION ALL SELECT s.star, l.eid + {off} FROM (SELECT rid, star FROM id_star WHERE persons > 1) s
                JOIN id_linked l USING (rid)
            ) WHERE a <> b"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE id_star_nodes AS
           SELECT n.node, coalesce(sl.comp, n.node) AS comp
           FROM (SELECT a AS node FROM id_star_edges UNION SELECT b FROM id_star_edges) n
           LEFT JOIN id_star_label sl ON sl.star = n.node"""
    )
    components(con, "id_star_edges", "id_star_nodes", "id_star_cc")
    # Every record, and every register person some record is tied to (the others are alone in a component no
    # record is in).
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE id_cc AS
            SELECT s.rid AS node, coalesce(cc.comp, sl.comp) AS comp
            FROM id_star s JOIN id_star_label sl USING (star) LEFT JOIN id_star_cc cc ON cc.node = s.star
            UNION ALL
            SELECT n.star, coalesce(cc.comp, n.comp) FROM (
                SELECT star, comp FROM id_star_label WHERE star >= {off}
                UNION SELECT node, comp FROM id_star_nodes WHERE node >= {off}) n
            LEFT JOIN id_star_cc cc ON cc.node = n.star"""
    )
    con.execute("DROP TABLE id_star; DROP TABLE id_star_label; DROP TABLE id_star_edges; DROP TABLE id_star_nodes; "
                "DROP TABLE id_star_cc")
    # A component holding more than one register person exists only by a steward "match": the
    # lowest CPR stands for it.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE id_out AS
            WITH comp_reg AS (
                SELECT c.comp, min(e.cpr) AS cpr FROM id_cc c JOIN id_ent e ON e.eid + {off} = c.node GROUP BY 1),
            steward AS (
                SELECT rid_a AS rid FROM id_in_decisions WHERE decision = 'match'
                UNION SELECT rid_b FROM id_in_decisions WHERE decision = 'match'),
            edge_score AS (
                SELECT rid, max(score) AS score FROM (SELECT rid, score FROM id_edges UNION ALL SELECT eid, score FROM id_edges)
                GROUP BY rid)
            SELECT r.rid, cr.cpr, c.comp,
                CASE WHEN l.method IS NOT NULL AND l.method <> 'probabilistic' THEN l.method
                     WHEN s.rid IS NOT NULL THEN 'steward'
                     WHEN l.method IS NOT NULL OR es.rid IS NOT NULL THEN 'probabilistic'
                     ELSE 'unlinked' END AS method,
                CASE WHEN l.method IS NOT NULL AND l.method <> 'probabilistic' THEN 1.0
                     WHEN s.rid IS NOT NULL THEN 1.0
                     ELSE coalesce(l.score, es.score, 0.0) END AS score
            FROM id_rec r JOIN id_cc c ON c.node = r.rid
            LEFT JOIN comp_reg cr ON cr.comp = c.comp
            LEFT JOIN id_linked l ON l.rid = r.rid
            LEFT JOIN steward s ON s.rid = r.rid
            LEFT JOIN edge_score es ON es.rid = r.rid"""
    )
    # Steward "no match" pairs that still ended in one person (through other records): the record
    # without a deterministic link leaves and stands alone.
    con.execute(
        """CREATE OR REPLACE TEMP TABLE id_violations AS
           SELECT CASE WHEN a.method IN ('cpr_exact', 'cpr_corrected') AND b.method NOT IN ('cpr_exact', 'cpr_corrected')
                       THEN b.rid ELSE a.rid END AS rid
           FROM id_in_decisions d JOIN id_out a ON a.rid = d.rid_a JOIN id_out b ON b.rid = d.rid_b
           WHERE d.decision = 'no_match' AND a.comp = b.comp"""
    )
    con.execute(
        """UPDATE id_out SET cpr = NULL, comp = -1 - rid, method = 'steward', score = 1.0
           WHERE rid IN (SELECT rid FROM id_violations)"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE id_review AS
            SELECT r.rid, 'register' AS candidate_kind, e.cpr AS candidate_cpr, NULL::BIGINT AS candidate_rid,
                   r.w AS weight, r.score, r.lev FROM id_review_reg r JOIN id_ent e USING (eid)
            UNION ALL
            SELECT rid, 'record', NULL, eid, w, score, lev FROM id_review_rec x
            WHERE (SELECT a.comp FROM id_out a WHERE a.rid = x.rid) <> (SELECT b.comp FROM id_out b WHERE b.rid = x.eid)"""
    )
    # Pairs a steward has already decided are not asked again (nor records a steward placed).
    con.execute(
        """DELETE FROM id_review v USING (
               SELECT d.rid_a AS a, d.rid_b AS b FROM id_in_decisions d UNION SELECT rid_b, rid_a FROM id_in_decisions
           ) d WHERE v.rid = d.a AND (v.candidate_rid = d.b
               OR v.candidate_cpr = (SELECT o.cpr FROM id_out o WHERE o.rid = d.b))"""
    )
    con.execute("DELETE FROM id_review WHERE rid IN (SELECT rid FROM id_out WHERE method = 'steward')")


def evidence_sql(lev: str = "lev") -> str:
    """SQL turning a level struct into a JSON object with the words of each field's level."""
    parts = []
    for f in FIELDS:
        names = "[" + ", ".join(f"'{x}'" for x in LEVEL_NAMES[f]) + "]"
        parts.append(f"'{FIELD_LABEL[f]}', CASE WHEN {lev}.{f} < 0 THEN 'missing' ELSE {names}[{lev}.{f} + 1] END")
    return f"json_object({', '.join(parts)})"


def run(con: duckdb.DuckDBPyConnection, params: Params | None = None) -> dict:
    """All passes over the ``id_in_*`` tables; returns a small summary (model and counts)."""
    params = params or Params()
    prepare(con, params.danish)
    if "is_register" not in [r[0] for r in con.execute("DESCRIBE id_in_records").fetchall()]:
        con.execute("ALTER TABLE id_rec ADD COLUMN is_register BOOLEAN DEFAULT FALSE")
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE id_rec AS SELECT r.*, i.is_register FROM id_rec r JOIN id_in_records i USING (rid)")
    deterministic(con)
    model = probabilistic_register(con, params)
    model = probabilistic_records(con, params, model)
    finalise(con)
    return {"model": model}

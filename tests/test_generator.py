import datetime as dt
import sqlite3

import pandas as pd
import pytest

from samlet_overblik.core import cpr
from samlet_overblik.synthetic import generate
from samlet_overblik.sources.specs import load_source_specs

AS_OF = dt.date(2026, 11, 1)
DEPARTMENTS = ["boern_familie", "beskaeftigelse", "social_voksen", "sundhed_aeldre"]
QUIRKS = {"lost_leading_zero"}


def _tables(out_dir):
    """Every table of every source as a DataFrame (ordered by primary key)."""
    frames = {}
    for name, spec in load_source_specs().items():
        con = sqlite3.connect(out_dir / spec.default_file)
        try:
            for tname, t in spec.tables.items():
                order = ", ".join(t.primary_key)
                frames[f"{name}.{tname}"] = pd.read_sql(f"SELECT * FROM {tname} ORDER BY {order}", con)
        finally:
            con.close()
    return frames


@pytest.fixture(scope="module")
def run_a(tmp_path_factory):
    out = tmp_path_factory.mktemp("a")
    summary = generate(2000, 11, out, as_of=AS_OF, chunk_size=1000)
    return out, summary


@pytest.fixture(scope="module")
def big_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("big")
    summary = generate(20000, 5, out, as_of=AS_OF)
    return out, summary


def test_summary_and_files(run_a):
    out, summary = run_a
    assert summary["citizens"] == 2000
    for spec in load_source_specs().values():
        assert (out / spec.default_file).exists()
    assert (out / "ground_truth.parquet").exists() and (out / "noise_log.parquet").exists()
    assert summary["rows"]["cpr.personer"] == 2000
    assert summary["elapsed_seconds"] >= 0


def test_tables_match_specs(run_a):
    out, _ = run_a
    for name, spec in load_source_specs().items():
        con = sqlite3.connect(out / spec.default_file)
        try:
            have = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            assert have == set(spec.tables)
            for tname, t in spec.tables.items():
                cols = [r[1] for r in con.execute(f"PRAGMA table_info({tname})")]
                assert cols == list(t.columns)
        finally:
            con.close()


def test_deterministic(run_a, tmp_path):
    out, _ = run_a
    again = tmp_path / "again"
    generate(2000, 11, again, as_of=AS_OF, chunk_size=1000)
    a, b = _tables(out), _tables(again)
    for key in a:
        pd.testing.assert_frame_equal(a[key], b[key], obj=key)
    for f in ("ground_truth.parquet", "noise_log.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / f), pd.read_parquet(again / f))


def test_other_seed_differs(run_a, tmp_path):
    out, _ = run_a
    other = tmp_path / "other"
    generate(2000, 12, other, as_of=AS_OF, chunk_size=1000)
    a, b = _tables(out), _tables(other)
    assert set(a["cpr.personer"]["cpr"]) != set(b["cpr.personer"]["cpr"])


def test_cpr_register_valid_and_unique(big_run):
    out, _ = big_run
    con = sqlite3.connect(out / "cpr.sqlite")
    people = pd.read_sql("SELECT * FROM personer", con)
    rel = pd.read_sql("SELECT * FROM relationer", con)
    con.close()
    assert people["cpr"].is_unique
    assert people["cpr"].map(lambda v: len(v) == 10 and cpr.is_valid(v)).all()
    assert (people["cpr"].map(cpr.birth_date).astype(str) == people["foedselsdato"]).all()
    assert (people["cpr"].map(cpr.sex) == people["koen"]).all()
    assert set(people["status"]) == {"aktiv", "doed", "udrejst"}
    assert people.loc[people["status"] == "doed", "doedsdato"].notna().all()
    assert set(rel["relation"]) == {"foraelder", "foraeldremyndighed"}
    assert set(rel["cpr"]) <= set(people["cpr"]) and set(rel["relateret_cpr"]) <= set(people["cpr"])
    custody = rel[rel["relation"] == "foraeldremyndighed"]
    assert custody["til_dato"].notna().any()


def test_ground_truth_contract(big_run):
    out, summary = big_run
    gt = pd.read_parquet(out / "ground_truth.parquet")
    assert list(gt.columns) == ["source", "table", "record_id", "person_id"]
    assert all(pd.api.types.is_string_dtype(gt[c]) or gt[c].dtype == object for c in gt.columns)
    assert gt.notna().all().all()
    person_tables = {(s, t) for s, spec in load_source_specs().items() for t, ts in spec.tables.items()
                     if ts.person_table}
    assert set(map(tuple, gt[["source", "table"]].drop_duplicates().to_numpy())) == person_tables
    for source, table in person_tables:
        n = summary["rows"][f"{source}.{table}"]
        part = gt[(gt.source == source) & (gt.table == table)]
        assert len(part) == n, (source, table)
        assert part["record_id"].is_unique
    con = sqlite3.connect(out / "samtykke.sqlite")
    s = pd.read_sql("SELECT samtykke_id, version, cpr FROM samtykke", con)
    con.close()
    rid = s["samtykke_id"] + "@" + s["version"].astype(str)
    assert set(rid) == set(gt.loc[gt.source == "samtykke", "record_id"])
    # the person register record of a consent's subject is the same person
    cpr_gt = gt[gt.source == "cpr"].set_index("record_id")["person_id"]
    sgt = gt[gt.source == "samtykke"].set_index("record_id")["person_id"]
    assert (cpr_gt.loc[s["cpr"]].to_numpy() == sgt.loc[rid].to_numpy()).all()


def test_population_mix(big_run):
    out, _ = big_run
    gt = pd.read_parquet(out / "ground_truth.parquet")
    k = gt[gt.source.isin(DEPARTMENTS)].groupby("person_id")["source"].nunique()
    share = k.value_counts(normalize=True)
    assert 0.60 <= share.get(1, 0) <= 0.80
    assert 0.13 <= share.get(2, 0) <= 0.27
    assert 0.04 <= share.get(3, 0) <= 0.12
    assert 0.005 <= share.get(4, 0) <= 0.04


def test_noise_none_only_quirks(tmp_path):
    out = tmp_path / "clean"
    generate(1500, 3, out, noise="none", as_of=AS_OF)
    log = pd.read_parquet(out / "noise_log.parquet")
    assert list(log.columns) == ["source", "table", "record_id", "kind"]
    assert set(log["kind"]) <= QUIRKS
    t = _tables(out)
    borger = t["beskaeftigelse.borger"]
    lost = log[log.kind == "lost_leading_zero"]["record_id"].astype(int)
    assert (borger.set_index("borger_id").loc[lost, "cprnr"].str.len() == 9).all()
    valid = set(t["cpr.personer"]["cpr"])
    nine = borger["cprnr"].str.len() == 9
    assert borger.loc[~nine, "cprnr"].isin(valid).all()
    assert borger.loc[nine, "cprnr"].map(cpr.normalise).isin(valid).all()
    # dashed CPR numbers, anonymous § 101 a clients without CPR are a domain fact
    assert t["boern_familie.sag"]["barn_cpr"].str.replace("-", "").isin(valid).all()
    klient = t["social_voksen.klient"]
    assert klient["cpr"].dropna().str.replace("-", "").isin(valid).all()
    assert t["sundhed_aeldre.patients"]["ssn"].isin(valid).all()


def test_noise_default_kinds(big_run):
    out, _ = big_run
    log = pd.read_parquet(out / "noise_log.parquet")
    kinds = set(log["kind"])
    for kind in ("missing_cpr", "cpr_typo", "cpr_transposition", "spelling_variant", "maiden_name",
                 "old_address", "duplicate_record", "invalid_code", "end_before_start", "mojibake",
                 "invalid_date_text", "replacement_number", "lost_leading_zero"):
        assert kind in kinds, kind
    assert not (log["source"].isin(["cpr", "samtykke"])).any()
    gt = pd.read_parquet(out / "ground_truth.parquet")
    keys = set(map(tuple, gt[["source", "table", "record_id"]].to_numpy()))
    person_log = log[log["table"].isin(["sag", "sag_part", "borger", "klient", "patients"])]
    assert set(map(tuple, person_log[["source", "table", "record_id"]].to_numpy())) <= keys


def test_consent_schema_and_content(big_run):
    out, _ = big_run
    con = sqlite3.connect(out / "samtykke.sqlite")
    cols = [r[1] for r in con.execute("PRAGMA table_info(samtykke)")]
    assert cols == ["samtykke_id", "version", "cpr", "givet_af_cpr", "formaal", "givet_tid", "gyldig_til",
                    "tilbagekaldt_tid", "kanal", "registreret_af", "opdateret_tid"]
    cols = [r[1] for r in con.execute("PRAGMA table_info(samtykke_omfang)")]
    assert cols == ["samtykke_id", "version", "fra_afdeling", "til_afdeling", "kategori"]
    s = pd.read_sql("SELECT * FROM samtykke", con)
    o = pd.read_sql("SELECT * FROM samtykke_omfang", con)
    con.close()
    assert set(s["formaal"]) == {"helhedsorienteret_indsats"}
    assert set(s["version"]) == {1, 2}
    assert s["tilbagekaldt_tid"].notna().any()
    assert (s["gyldig_til"].dropna() < AS_OF.isoformat()).any()
    assert (s["cpr"] != s["givet_af_cpr"]).any()                      # custody holders
    assert set(s["kanal"]) <= {"digital", "papir", "moede", "telefon"}
    assert (s["opdateret_tid"] >= s["givet_tid"]).all()
    assert set(o["fra_afdeling"]) | set(o["til_afdeling"]) <= set(DEPARTMENTS)
    assert set(o["kategori"]) <= {"indsatser", "ydelser", "helbred", "misbrug", "kontakt"}
    assert (o["fra_afdeling"] != o["til_afdeling"]).all()
    versions = set(map(tuple, s[["samtykke_id", "version"]].to_numpy()))
    assert set(map(tuple, o[["samtykke_id", "version"]].drop_duplicates().to_numpy())) == versions
    assert s["cpr"].map(cpr.is_valid).all() and s["givet_af_cpr"].map(cpr.is_valid).all()
    # a few consents were given by a parent whose custody had ended before givet_tid
    rel = pd.read_sql("SELECT * FROM relationer WHERE relation = 'foraeldremyndighed'",
                      sqlite3.connect(out / "cpr.sqlite"))
    m = s[s.cpr != s.givet_af_cpr].merge(rel, left_on=["cpr", "givet_af_cpr"], right_on=["cpr", "relateret_cpr"])
    ended = m["til_dato"].notna() & (m["til_dato"] < m["givet_tid"].str[:10])
    assert 0 < ended.sum() < len(m)


def test_vocabularies(big_run):
    out, _ = big_run
    t = _tables(out)
    paragraphs = set(t["boern_familie.foranstaltning"]["paragraf"])
    assert {"BL § 32", "SEL § 52 stk. 3"} <= paragraphs
    f = t["boern_familie.foranstaltning"]
    new = f["paragraf"].str.startswith("BL")
    assert (f.loc[new, "startdato"] >= "2024-01-01").all()
    assert set(t["boern_familie.underretning"]["paragraf"]) == {"BL § 133", "SEL § 153"}
    assert "kontanthjaelp" in set(t["beskaeftigelse.ydelse"]["ydelsestype"])
    kh = t["beskaeftigelse.ydelse"].query("ydelsestype == 'kontanthjaelp'")["beloeb_pr_maaned"]
    assert kh.between(12000, 16000).all()
    assert {"§ 85", "§ 101", "§ 107", "§ 108", "SUL § 141"} <= set(t["social_voksen.bevilling"]["paragraf"])
    klient = t["social_voksen.klient"]
    assert klient["cpr"].isna().any()                                  # anonymous treatment
    assert {"SEL § 83", "SUL § 138"} <= set(t["sundhed_aeldre.services"]["paragraph"])
    v = t["sundhed_aeldre.visits"]
    assert v["visit_start"].str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$").all()
    assert (v["visit_end"] > v["visit_start"]).all()

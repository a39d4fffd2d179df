"""The citizen's right of access (`samlet-overblik indsigt`, the compliance pages): every consent version, what
flowed where on which basis and until when, and every lookup of the citizen with who, department, purpose and
when; PDF or CSV, owner-only, logged, and refused to anyone but compliance."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys

import pytest
from test_web_support import PASSWORD, dashed, logged_in, lookup, world

from samlet_overblik.access import audit

PURPOSE = "compliance: indsigtsanmodning fra borgeren"


@pytest.fixture
def w(tmp_path_factory, small_municipality):
    return world(tmp_path_factory, small_municipality)


def cli(*args, env, password=PASSWORD):
    return subprocess.run([sys.executable, "-m", "samlet_overblik.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env, input=password + "\n")


@pytest.fixture
def env(w, tmp_path, audit_url):
    e = {k: v for k, v in os.environ.items() if not k.startswith("SAMLET_")}
    e.update(SAMLET_USERS_FILE=str(w.users_file), SAMLET_AUDIT_URL=audit_url)
    return e


def _sections(text: str) -> dict[str, list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    out: dict[str, list[list[str]]] = {}
    for row in rows[1:]:
        if row and row[0] != "Afsnit":
            out.setdefault(row[0], []).append(row[1:])
    return out


def test_indsigt_as_csv_holds_consents_flows_and_every_lookup(app, w, env, audit_url, tmp_path):
    c, token = logged_in(app, "anne")  # a caseworker looks the citizen up first: the report must name her
    assert lookup(c, "/soeg", {"csrf": token, "soegning": dashed(w.cpr), "formaal": "Opfølgning på indsats"}
                  ).status_code == 200
    out = tmp_path / "rapport.csv"
    r = cli("indsigt", w.cpr, "--user", "carl", "--purpose", PURPOSE, "--format", "csv", "--out", str(out),
            "--warehouse", str(w.warehouse), env=env)
    assert r.returncode == 0, r.stderr
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    text = out.read_bytes().decode("utf-8")
    assert text.startswith("\ufeff") and w.cpr not in text and dashed(w.cpr) not in text
    sections = _sections(text)
    consents, flows, seen = (sections.get("Dine samtykker", []), sections.get("Hvad er delt mellem kommunens "
                                                                                "afdelinger", []),
                             sections["Hvem har slået dine oplysninger op"])
    assert consents and all(re.fullmatch(r"\d\d-\d\d-\d{4} kl\. \d\d:\d\d", row[3]) for row in consents if row[3])
    assert flows and all(row[4] and "samtykke:" not in row[4] for row in flows)  # bases in words
    anne = [row for row in seen if "Anne Jensen (anne)" in row[1]]
    assert anne and anne[0][3] == "Jobcenter / Beskæftigelse" and anne[0][4] == "Opfølgning på indsats"
    assert "beskaeftigelse>" not in text  # scopes in words, never the raw code
    logged = [x for x in audit.lookups(audit_url, user_id="carl")]
    assert [(x["channel"], x["outcome"], x["purpose"]) for x in logged] == [("cli:indsigt", "shown", PURPOSE)]


def test_indsigt_as_pdf_from_the_cli_and_the_compliance_page(app, w, env, audit_url, tmp_path):
    out = tmp_path / "rapport.pdf"
    r = cli("indsigt", dashed(w.cpr), "--user", "carl", "--purpose", PURPOSE, "--out", str(out),
            "--warehouse", str(w.warehouse), env=env)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes().startswith(b"%PDF-") and oct(out.stat().st_mode & 0o777) == "0o600"
    c, token = logged_in(app, "carl")
    page = c.post("/compliance/indsigt", data={"csrf": token, "cpr": w.cpr, "formaal": PURPOSE, "format": "pdf"})
    assert page.status_code == 200 and page.content.startswith(b"%PDF-")
    disposition = page.headers["content-disposition"]
    assert disposition.startswith("attachment;") and w.cpr not in disposition and w.cpr[:6] not in disposition
    assert page.headers["cache-control"] == "no-store"
    as_csv = c.post("/compliance/indsigt", data={"csrf": token, "cpr": w.cpr, "formaal": PURPOSE, "format": "csv"})
    assert as_csv.status_code == 200 and "Hvem har slået dine oplysninger op" in as_csv.content.decode("utf-8")
    channels = [x["channel"] for x in audit.lookups(audit_url, user_id="carl")]
    assert sorted(channels) == ["cli:indsigt", "web:indsigt", "web:indsigt"]


def test_indsigt_is_for_compliance_only_and_refuses_bad_input_in_danish(app, w, env, audit_url):
    anne = cli("indsigt", w.cpr, "--user", "anne", "--purpose", PURPOSE, "--warehouse", str(w.warehouse), env=env)
    assert anne.returncode == 2 and "compliance" in anne.stderr and anne.stderr.startswith("samlet-overblik: fejl:")
    bad = cli("indsigt", "12345", "--user", "carl", "--purpose", PURPOSE, "--warehouse", str(w.warehouse), env=env)
    assert bad.returncode == 2 and "ugyldigt CPR-nummer" in bad.stderr and "12345" not in bad.stderr
    c, token = logged_in(app, "anne")
    refused = c.post("/compliance/indsigt", data={"csrf": token, "cpr": w.cpr, "formaal": PURPOSE, "format": "pdf"})
    assert refused.status_code == 403 and not refused.content.startswith(b"%PDF")
    assert {x["outcome"] for x in audit.lookups(audit_url, user_id="anne")} == {"denied_role"}

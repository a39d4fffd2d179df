"""FHIR R5 (issue 15): the consent registry out as a Bundle of Consent resources, validated; read back in as the
samtykke source (a file, fhir:///…) with the same consents in force; a citizen's access log as AuditEvents."""

from __future__ import annotations

import json
import os
import stat

import pytest
from fhir.resources.bundle import Bundle
from test_borger_cli import cli, env, lookup, w  # noqa: F401 (fixtures)

from pipeline_helpers import query, run

IN_FORCE = "SELECT samtykke_id, version, cpr FROM consent.evaluated WHERE status = 'in_force' ORDER BY ALL"
SCOPES = ("SELECT samtykke_id, version, from_department, to_department, category FROM staging.consent_scopes "
          "WHERE samtykke_id IN (SELECT samtykke_id FROM consent.evaluated WHERE status = 'in_force') ORDER BY ALL")
CONSENTS = ("SELECT samtykke_id, version, cpr, given_by_cpr, purpose, given_at, valid_until, withdrawn_at, channel, "
            "registered_by, updated_at FROM staging.consents WHERE samtykke_id NOT IN (SELECT DISTINCT "
            "json_extract_string(raw_row, '$.samtykke_id') FROM quarantine.rejected_rows WHERE source = 'samtykke') "
            "ORDER BY ALL")


@pytest.fixture(scope="module")
def exported(small_municipality, tmp_path_factory):
    """A warehouse built from the SQL registry and its consents written out with `fhir consents`."""
    base = tmp_path_factory.mktemp("fhir")
    warehouse = base / "a" / "w.duckdb"
    run(small_municipality, warehouse)
    bundle_path = base / "samtykker.json"
    out = cli("fhir", "consents", "--warehouse", str(warehouse), "--out", str(bundle_path))
    assert out.returncode == 0, out.stderr
    return warehouse, bundle_path


def test_the_registry_goes_out_as_r5_consents_and_comes_back_the_same(small_municipality, exported, tmp_path):
    warehouse, bundle_path = exported
    assert stat.S_IMODE(os.stat(bundle_path).st_mode) == 0o600  # CPR numbers: owner only
    doc = json.loads(bundle_path.read_text(encoding="utf-8"))
    bundle = Bundle.model_validate(doc)  # R5, every resource validated
    consents = [e.resource for e in bundle.entry]
    assert consents and all(c.get_resource_type() == "Consent" for c in consents)
    first = doc["entry"][0]["resource"]
    assert first["subject"]["identifier"]["system"] == "urn:oid:1.2.208.176.1.2"
    assert first["decision"] == "permit" and first["status"] in ("active", "inactive") and first["period"]["start"]
    # A consent with a version that could not be read is left out whole (never an older version back to life).
    assert len(consents) == query(warehouse, f"SELECT count(*) FROM ({CONSENTS})")[0][0]

    # Back in: the same sources, the registry read from the Bundle instead.
    again = tmp_path / "b" / "w.duckdb"
    run(small_municipality, again, samtykke=f"fhir://{bundle_path}")
    assert query(again, CONSENTS) == query(warehouse, CONSENTS)
    assert query(again, IN_FORCE) == query(warehouse, IN_FORCE) and query(again, IN_FORCE)
    assert query(again, SCOPES) == query(warehouse, SCOPES)
    grants = "SELECT count(*) FILTER (WHERE basis LIKE 'samtykke%') FROM consent.record_decisions WHERE decision = 'admitted'"
    assert query(again, grants) == query(warehouse, grants)


def test_an_unreadable_bundle_fails_closed(small_municipality, tmp_path):
    bad = tmp_path / "bundle.json"
    bad.write_text('{"resourceType": "Patient"}', encoding="utf-8")
    warehouse = tmp_path / "w.duckdb"
    run(small_municipality, warehouse, samtykke=f"fhir://{bad}")
    assert query(warehouse, "SELECT fail_closed, reason FROM consent.run_status") == [(True, "registry_unreachable")]


def test_a_citizens_access_log_as_r5_auditevents(w, env, tmp_path):  # noqa: F811
    shown = lookup("borger", w.cpr, "--user", "anne", "--warehouse", str(w.warehouse), env=env)
    assert shown.returncode == 0, shown.stderr
    path = tmp_path / "audit.json"
    out = lookup("fhir", "auditevents", w.cpr, "--user", "carl", "--warehouse", str(w.warehouse), "--out", str(path),
                 env=env, purpose="compliance: adgangslog")
    assert out.returncode == 0, out.stderr
    doc = json.loads(path.read_text(encoding="utf-8"))
    events = [e.resource for e in Bundle.model_validate(doc).entry]
    assert events and all(e.get_resource_type() == "AuditEvent" for e in events)
    anne = [e for e in doc["entry"] if e["resource"]["agent"][0]["who"]["identifier"]["value"] == "anne"]
    assert anne and anne[0]["resource"]["outcome"]["code"]["code"] == "0"
    assert anne[0]["resource"]["patient"]["identifier"] == {"system": "urn:oid:1.2.208.176.1.2",
                                                            "value": w.cpr.replace("-", "")}
    # Only compliance staff may read it.
    refused = lookup("fhir", "auditevents", w.cpr, "--user", "anne", "--warehouse", str(w.warehouse), env=env,
                     purpose="compliance: adgangslog")
    assert refused.returncode == 2 and "compliance" in refused.stderr


def test_the_registry_is_read_from_a_fhir_server_page_by_page(small_municipality, exported, tmp_path):
    """A FHIR server's Consent search (here a small local HTTP server holding the exported Bundle in two pages,
    linked by 'next'), read as the samtykke source: the same consents in force as the file gave."""
    import http.server
    import threading

    warehouse, bundle_path = exported
    entries = json.loads(bundle_path.read_text(encoding="utf-8"))["entry"]
    half = len(entries) // 2
    asked: list[str] = []

    class Server(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            asked.append(self.path)
            second = "page=2" in self.path
            page = {"resourceType": "Bundle", "type": "searchset",
                    "entry": entries[half:] if second else entries[:half],
                    "link": [] if second else [{"relation": "next",
                                                "url": f"http://127.0.0.1:{port}/R5/Consent?page=2"}]}
            body = json.dumps(page).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Server)
    port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        again = tmp_path / "b" / "w.duckdb"
        run(small_municipality, again, samtykke=f"fhir+http://127.0.0.1:{port}/R5")
    finally:
        httpd.shutdown()
    assert asked[0].startswith("/R5/Consent?") and any("page=2" in a for a in asked)
    assert query(again, IN_FORCE) == query(warehouse, IN_FORCE) and query(again, CONSENTS) == query(warehouse, CONSENTS)

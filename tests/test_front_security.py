"""The front door under attack (issue 10, findings 6, 7 and 9): a durable access log, revocable sessions, a users
file others cannot edit, denials in the log, error pages with the security headers, purposes from the policy, and
CPR numbers in any spelling kept out of everything the app logs."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from test_web_support import PASSWORD, SECRET, client, csrf_of, dashed, logged_in, lookup, world

from samlet_overblik.access import audit
from samlet_overblik.access.users import add_user
from samlet_overblik.web import WebSettings, create_app

PURPOSE = "Opfølgning på indsats"
# One CPR-shaped number written every way people write it (20-02-62, serial 3461).
SPELLINGS = ["20.02.62-3461", "200262  3461", "2002623461", "200262-3461", "20 02 62 3461", "20-02-62-3461",
             "200262/3461", "200262‑3461"]


@pytest.fixture
def w(tmp_path_factory, small_municipality):
    return world(tmp_path_factory, small_municipality)


@pytest.fixture
def audit_path(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "log" / "audit.sqlite"
    path.parent.mkdir()
    monkeypatch.setenv("SAMLET_AUDIT_URL", f"sqlite:///{path}")
    return path


@pytest.fixture
def users(tmp_path) -> Path:
    """A users file of this test's own (the tests below change passwords and remove users)."""
    path = tmp_path / "users.yaml"
    add_user(path, "anne", "Anne Jensen", "sagsbehandler", "beskaeftigelse", PASSWORD)
    add_user(path, "carl", "Carl Compliance", "compliance", None, PASSWORD)
    return path


@pytest.fixture
def app(w, users, audit_path):
    return create_app(WebSettings(w.warehouse, users, SECRET))


def rows_on_disk(path: Path) -> list[tuple]:
    """The access log as a fresh reader of the file at ``path`` sees it (never the writer's open handle)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute("SELECT user_id, person_key, purpose, channel, outcome FROM access_log ORDER BY id").fetchall()
    finally:
        con.close()


def log_row(url: str, person_key: str) -> None:
    audit.log_access(url, user_id="anne", role="sagsbehandler", department="beskaeftigelse", person_key=person_key,
                     purpose=PURPOSE, channel="test", result_count=1)


def cli(*args, env=None, stdin=None):
    return subprocess.run([sys.executable, "-m", "samlet_overblik.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env, input=stdin)


def clean_env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMLET_")}
    env.update(COLUMNS="200", **extra)
    return env


# --------------------------------------------------------------------------------- finding 6: the access log


def test_a_deleted_log_file_is_recreated_and_written(tmp_path):
    path = tmp_path / "audit.sqlite"
    url = f"sqlite:///{path}"
    log_row(url, "p1")
    path.unlink()  # `rm audit.sqlite` while the app runs
    log_row(url, "p2")
    assert [r[1] for r in rows_on_disk(path)] == ["p2"]


def test_a_replaced_log_file_is_written(tmp_path):
    path = tmp_path / "audit.sqlite"
    url = f"sqlite:///{path}"
    log_row(url, "p1")
    other = tmp_path / "empty.sqlite"
    sqlite3.connect(other).close()
    os.replace(other, path)  # another (empty) database moved over the log
    log_row(url, "p2")
    assert [r[1] for r in rows_on_disk(path)] == ["p2"]


def test_writers_that_keep_their_connections_follow_a_deleted_or_replaced_log(tmp_path):
    # Each process keeps one connection to the log; two loggers of one file stand for two server workers (their
    # file locks are separate descriptors, as across processes). The rows of one worker must never reach a file
    # another worker let go of, nor an old WAL be read as part of a file put in the log's place.
    path = tmp_path / "audit.sqlite"
    row = {"logged_at": datetime(2026, 11, 1), "user_id": "anne", "role": "sagsbehandler",
           "department": "beskaeftigelse", "purpose": PURPOSE, "channel": "test", "result_count": 1, "outcome": "shown"}
    first, second = audit._SqliteLog(path), audit._SqliteLog(path)  # noqa: SLF001 - two workers' loggers

    def write(log, key):
        log.write(audit.ACCESS_LOG.insert().values(person_key=key, **row))

    write(first, "p1")
    write(second, "p2")
    assert os.path.getsize(f"{path}-wal") == 0  # every write leaves the WAL empty
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as con:  # not empty: SQLite deletes the WAL of an empty file by itself
        con.execute("CREATE TABLE notes (x)")
    os.replace(other, path)
    write(second, "p3")
    write(first, "p4")
    assert [r[1] for r in rows_on_disk(path)] == ["p3", "p4"]
    path.unlink()
    write(first, "p5")
    write(second, "p6")
    assert [r[1] for r in rows_on_disk(path)] == ["p5", "p6"]
    assert [r["person_key"] for r in first.select(audit.ACCESS_LOG.select())] == ["p5", "p6"]
    first.close()
    second.close()
    assert [r[1] for r in rows_on_disk(path)] == ["p5", "p6"]  # closing the kept connections loses nothing


def test_a_log_that_lost_its_tables_in_place_gets_them_again(tmp_path):
    # The writer creates the tables once per file (device, inode); a file at the same identity without them (a
    # deleted log whose inode number was reused, or tables dropped by hand) is written and read all the same.
    path = tmp_path / "audit.sqlite"
    url = f"sqlite:///{path}"
    log_row(url, "p1")
    with sqlite3.connect(path) as con:
        for table in ("access_log", "lookup_handles", "steward_decisions"):
            con.execute(f"DROP TABLE {table}")
    assert audit.lookups(url, person_key="p1") == []
    log_row(url, "p2")
    assert [r[1] for r in rows_on_disk(path)] == ["p2"]
    assert [r["person_key"] for r in audit.lookups(url)] == ["p2"]


def test_web_lookups_are_logged_to_the_file_on_disk_after_it_is_deleted(app, w, audit_path):
    c, token = logged_in(app, "anne")
    first = lookup(c, "/soeg", {"csrf": token, "soegning": w.cpr, "formaal": PURPOSE})
    assert first.status_code == 200 and len(rows_on_disk(audit_path)) == 1
    audit_path.unlink()
    again = lookup(c, "/soeg", {"csrf": token, "soegning": w.cpr, "formaal": PURPOSE})
    assert again.status_code == 200
    assert [(r[0], r[1], r[4]) for r in rows_on_disk(audit_path)] == [("anne", w.person_key, "shown")]


def test_a_log_replaced_by_garbage_refuses_lookups(app, w, audit_path):
    c, token = logged_in(app, "anne")
    assert lookup(c, "/soeg", {"csrf": token, "soegning": w.cpr, "formaal": PURPOSE}).status_code == 200
    garbage = audit_path.with_name("garbage")
    garbage.write_bytes(b"this is not a database" * 100)
    os.replace(garbage, audit_path)
    r = lookup(c, "/soeg", {"csrf": token, "soegning": w.cpr, "formaal": PURPOSE})
    assert r.status_code == 503 and "<svg" not in r.text and "ikke delt" not in r.text


def test_log_files_are_owner_only_from_the_first_byte(tmp_path):
    """Created under a permissive umask (022): the log and SQLite's -wal/-shm files are still 0600."""
    path = tmp_path / "audit.sqlite"
    code = f"""
import os, sqlite3, json
os.umask(0o022)
from samlet_overblik.access import audit
audit.log_access("sqlite:///{path}", user_id="anne", role="sagsbehandler", department="beskaeftigelse",
                 person_key="p1", purpose={PURPOSE!r}, channel="test", result_count=1)
modes = {{"db": os.stat({str(path)!r}).st_mode & 0o777}}
con = sqlite3.connect({str(path)!r})  # a reader opens the WAL files
con.execute("SELECT count(*) FROM access_log").fetchall()
for suffix in ("-wal", "-shm"):
    modes[suffix] = os.stat({str(path)!r} + suffix).st_mode & 0o777
print(json.dumps(modes))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=clean_env())
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"db": 0o600, "-wal": 0o600, "-shm": 0o600}


@pytest.mark.integration
def test_postgresql_log_is_unchanged(pg_url):
    log_row(pg_url, "p1")
    log_row(pg_url, "p2")
    assert [r["person_key"] for r in audit.lookups(pg_url)] == ["p2", "p1"]


def test_role_and_csrf_denials_are_logged(app, w, audit_path):
    c, token = logged_in(app, "anne")
    assert c.get("/compliance").status_code == 403
    assert c.post("/compliance/samtykke", data={"csrf": token, "cpr": w.cpr}).status_code == 403
    assert lookup(c, "/soeg", {"csrf": "forfalsket", "soegning": w.cpr, "formaal": PURPOSE}).status_code == 403
    assert c.post("/api/borger", json={"cpr": w.cpr, "formaal": PURPOSE}).status_code == 403
    assert lookup(c, "/soeg", {"csrf": token, "soegning": w.cpr, "formaal": PURPOSE,
                                 "afdeling": "social_voksen"}).status_code == 403
    rows = rows_on_disk(audit_path)
    assert [(r[0], r[3], r[4]) for r in rows] == [
        ("anne", "web:compliance", "denied_role"), ("anne", "web:samtykkespor", "denied_role"),
        ("anne", "web:soeg", "denied_csrf"), ("anne", "api:borger", "denied_csrf"),
        ("anne", "web:borger", "denied_department")]
    assert all(w.cpr not in repr(r) for r in rows)


# --------------------------------------------------------------------------------- finding 7: sessions


def _stolen(c) -> str:
    return c.cookies.get("samlet_session")


def _replay(app, cookie: str):
    thief = client(app)
    thief.cookies.set("samlet_session", cookie)
    return thief.get("/soeg")


def test_an_old_session_cookie_is_dead_after_logout(app):
    c, token = logged_in(app, "anne")
    cookie = _stolen(c)
    assert _replay(app, cookie).status_code == 200  # the copy works while the session lives
    assert c.post("/logout", data={"csrf": token}).status_code == 303
    assert _replay(app, cookie).status_code == 303


def test_logout_ends_every_session_of_the_user(app):
    office, token = logged_in(app, "anne")
    laptop, _ = logged_in(app, "anne")
    carl, _ = logged_in(app, "carl")
    office.post("/logout", data={"csrf": token})
    assert laptop.get("/soeg").status_code == 303
    assert carl.get("/compliance").status_code == 200  # other users keep theirs
    again, _ = logged_in(app, "anne")  # and anne can log in again
    assert again.get("/soeg").status_code == 200


def test_a_password_change_ends_every_session(app, users):
    c, _ = logged_in(app, "anne")
    cookie = _stolen(c)
    out = cli("user", "passwd", "anne", env=clean_env(SAMLET_USERS_FILE=str(users)), stdin="et-nyt-kodeord\n")
    assert out.returncode == 0, out.stderr
    assert c.get("/soeg").status_code == 303 and _replay(app, cookie).status_code == 303
    assert logged_in(app, "anne", "et-nyt-kodeord")[0].get("/soeg").status_code == 200


def test_a_removed_user_is_out_at_once_and_cannot_come_back_with_an_old_cookie(app, users):
    c, _ = logged_in(app, "anne")
    cookie = _stolen(c)
    env = clean_env(SAMLET_USERS_FILE=str(users))
    out = cli("user", "remove", "anne", env=env)
    assert out.returncode == 0, out.stderr
    assert c.get("/soeg").status_code == 303
    # The same id added again is a new user: the old cookie does not carry over.
    add_user(users, "anne", "Anne Jensen", "sagsbehandler", "beskaeftigelse", PASSWORD)
    assert _replay(app, cookie).status_code == 303
    unknown = cli("user", "remove", "zed", env=env)
    assert unknown.returncode == 2 and "unknown user" in unknown.stderr and len(unknown.stderr.splitlines()) == 1


def test_user_list_and_passwd(users):
    env = clean_env(SAMLET_USERS_FILE=str(users))
    listed = cli("user", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "anne" in listed.stdout and "beskaeftigelse" in listed.stdout and "carl" in listed.stdout
    assert "argon2" not in listed.stdout
    short = cli("user", "passwd", "anne", env=env, stdin="kort\n")
    assert short.returncode == 2 and "at least" in short.stderr
    nobody = cli("user", "passwd", "zed", env=env, stdin="et-nyt-kodeord\n")
    assert nobody.returncode == 2 and "unknown user" in nobody.stderr
    assert oct(users.stat().st_mode & 0o777) == "0o600"


# --------------------------------------------------------------------------------- finding 9: the users file


def test_a_group_or_world_writable_users_file_is_refused(w, users, tmp_path):
    from samlet_overblik.access.users import UsersError, load_users
    from samlet_overblik.web.app import WebConfigError

    for mode in (0o666, 0o620, 0o602):
        users.chmod(mode)
        with pytest.raises(UsersError, match="writable") as info:
            load_users(users)
        assert "\n" not in str(info.value)
        with pytest.raises(WebConfigError, match="writable"):
            WebSettings.from_env(warehouse=w.warehouse, env={"SAMLET_USERS_FILE": str(users), "SAMLET_DEV_MODE": "1"})
    out = cli("borger", w.cpr, "--user", "anne", "--warehouse", str(w.warehouse), "--purpose", PURPOSE,
              env=clean_env(SAMLET_USERS_FILE=str(users), SAMLET_AUDIT_URL=f"sqlite:///{tmp_path / 'a.sqlite'}"),
              stdin=PASSWORD + "\n")
    assert out.returncode == 2 and "brugeropsætningen" in out.stderr and "writable" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr and out.stdout.strip() == ""
    users.chmod(0o640)  # group-readable is the owner's choice; only writable is refused
    assert set(load_users(users)) == {"anne", "carl"}


def test_a_users_file_made_writable_while_serving_fails_closed(app, users, caplog):
    c, _ = logged_in(app, "anne")
    users.chmod(0o666)
    caplog.set_level(logging.INFO)
    r = c.get("/soeg")
    assert r.status_code == 503 and "default-src 'none'" in r.headers["content-security-policy"]
    assert "Traceback" not in caplog.text and not any(rec.exc_info for rec in caplog.records)


# --------------------------------------------------------------------------------- finding 9: error pages, logs


def test_500_pages_carry_the_security_headers_and_log_one_line(app, caplog):
    @app.get("/boom")
    async def boom():
        raise RuntimeError("kaput for 200262-3461")

    caplog.set_level(logging.INFO)
    c = client(app, raise_server_exceptions=False)
    r = c.get("/boom")
    assert r.status_code == 500 and "Der opstod en fejl" in r.text
    for header in ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy"):
        assert header in r.headers, header
    assert r.headers["cache-control"] == "no-store"
    assert "Traceback" not in caplog.text and not any(rec.exc_info for rec in caplog.records)
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0].getMessage() and "3461" not in caplog.text


def test_expected_errors_log_one_line(app, w, tmp_path, caplog, monkeypatch):
    c, token = logged_in(app, "anne")
    (tmp_path / "blocked").mkdir()
    monkeypatch.setenv("SAMLET_AUDIT_URL", f"sqlite:///{tmp_path / 'blocked'}")
    caplog.set_level(logging.INFO)
    r = lookup(c, "/soeg", {"csrf": token, "soegning": w.cpr, "formaal": PURPOSE})
    assert r.status_code == 503 and "content-security-policy" in r.headers
    assert "Traceback" not in caplog.text and not any(rec.exc_info for rec in caplog.records)


def test_redact_cpr_every_spelling():
    from samlet_overblik.core.cpr import redact_cpr

    for spelling in SPELLINGS + ["0101801234", "101801234", "200262%2D3461", "200262%20%203461"]:
        text = f"GET /borger/{spelling}/x 404"
        out = redact_cpr(text)
        assert "3461" not in out and "1234" not in out and out.startswith("GET /borger/") and out.endswith("/x 404"), out
    for keep in ("2026-11-01 12:00:03", "run 3 took 1234 ms", "POST /soeg 200 12 ms", "kl. 10.30", "version 2026.11-1"):
        assert redact_cpr(keep) == keep


def test_cpr_in_any_spelling_in_a_path_is_not_logged(app, caplog):
    caplog.set_level(logging.INFO, logger="samlet_overblik")  # the app's loggers (not the test client's own)
    c, _ = logged_in(app, "anne")
    for spelling in SPELLINGS:
        assert c.get(f"/borger/{spelling}").status_code == 404
    assert "3461" not in caplog.text and "GET /borger/[fjernet] 404" in caplog.text


def test_served_app_redacts_everything_it_logs(w, tmp_path):
    """The real server (uvicorn) with the app's logging: paths with CPR numbers never reach its output."""
    import urllib.error
    import urllib.parse
    import urllib.request

    from test_web_support import served, web_env

    env = web_env(w, f"sqlite:///{tmp_path / 'audit.sqlite'}")
    log_path = tmp_path / "server.log"
    with served(env, log_path) as base:
        for spelling in SPELLINGS:
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(base + "/borger/" + urllib.parse.quote(spelling), timeout=5)
    text = log_path.read_text()
    assert "GET /borger/[fjernet] 404" in text and "3461" not in text


# --------------------------------------------------------------------------------- finding 9: purposes


def test_a_purpose_is_one_of_the_policys_and_a_cpr_typed_into_it_is_never_stored(app, w, audit_path):
    c, token = logged_in(app, "anne")
    page = c.get("/soeg").text
    from samlet_overblik.consent.policy import load_policy

    listed = load_policy().lookup_purposes["sagsbehandler"]
    assert PURPOSE in listed and all(f"<option>{p}</option>" in page or f"<option selected>{p}</option>" in page
                                     for p in listed)
    for free in (w.cpr, dashed(w.cpr), "fordi jeg kan", ""):
        r = lookup(c, "/soeg", {"csrf": token, "soegning": w.cpr, "formaal": free})
        assert r.status_code == 400 and "<svg" not in r.text and w.cpr not in r.text
        api = c.post("/api/borger", json={"cpr": w.cpr, "formaal": free}, headers={"X-CSRF-Token": token})
        assert api.status_code == 400 and "indsatser" not in api.text
    assert not audit_path.exists() or rows_on_disk(audit_path) == []


def test_the_optional_note_is_stored_with_cpr_numbers_masked(app, w, audit_path):
    c, token = logged_in(app, "anne")
    note = f"ringet op; søster {SPELLINGS[0]} og bror {w.cpr} nævnt"
    r = lookup(c, "/soeg", {"csrf": token, "soegning": w.cpr, "formaal": PURPOSE, "note": note})
    assert r.status_code == 200
    api = c.post("/api/borger", json={"cpr": w.cpr, "formaal": PURPOSE, "note": note}, headers={"X-CSRF-Token": token})
    assert api.status_code == 200
    purposes = [r[2] for r in rows_on_disk(audit_path)]
    assert purposes == [f"{PURPOSE} — ringet op; søster [fjernet] og bror [fjernet] nævnt"] * 2
    # the family page (a follow-up form) carries the purpose and the masked note along
    assert "3461" not in r.text and w.cpr not in r.text


def test_a_purpose_list_of_the_municipalitys_own(w, users, audit_path, tmp_path, monkeypatch):
    from samlet_overblik.consent.policy import default_policy_path

    text = default_policy_path().read_text(encoding="utf-8")
    own = tmp_path / "policy.yaml"
    own.write_text(text.replace("    - Akut henvendelse\n", "    - Akut henvendelse\n    - Tilsyn med anbragt barn\n"),
                   encoding="utf-8")
    monkeypatch.setenv("SAMLET_POLICY_FILE", str(own))
    app = create_app(WebSettings(w.warehouse, users, SECRET))
    c, token = logged_in(app, "anne")
    assert "Tilsyn med anbragt barn" in c.get("/soeg").text
    r = lookup(c, "/soeg", {"csrf": token, "soegning": w.cpr, "formaal": "Tilsyn med anbragt barn"})
    assert r.status_code == 200 and rows_on_disk(audit_path)[-1][2] == "Tilsyn med anbragt barn"


def test_compliance_forms_offer_the_compliance_purposes(app, w, audit_path):
    c, token = logged_in(app, "carl")
    page = c.get("/compliance").text
    assert "compliance: samtykkesporing" in page and csrf_of(page) == token
    bad = c.post("/compliance/samtykke", data={"csrf": token, "cpr": w.cpr, "formaal": w.cpr})
    assert bad.status_code == 400 and w.cpr not in bad.text
    bad_log = c.post("/compliance/adgangslog", data={"csrf": token, "bruger": "anne", "formaal": "nysgerrighed"})
    assert bad_log.status_code == 400 and "Vælg formålet" in bad_log.text
    ok = lookup(c, "/compliance/samtykke", {"csrf": token, "cpr": w.cpr, "formaal": "compliance: klage fra borgeren",
                                              "note": f"klage vedr. {dashed(w.cpr)}"})
    assert ok.status_code == 200
    assert [r[2] for r in rows_on_disk(audit_path)] == ["compliance: klage fra borgeren — klage vedr. [fjernet]"]


def test_cli_purposes_come_from_the_policy(w, tmp_path):
    url = f"sqlite:///{tmp_path / 'audit.sqlite'}"
    env = clean_env(SAMLET_USERS_FILE=str(w.users_file), SAMLET_AUDIT_URL=url)
    for args in (("borger", w.cpr, "--user", "anne"), ("lineage", w.cpr, "--user", "carl")):
        for free in (w.cpr, "fri tekst"):
            out = cli(*args, "--warehouse", str(w.warehouse), "--purpose", free, env=env, stdin=PASSWORD + "\n")
            assert out.returncode == 2 and "formål" in out.stderr and w.cpr not in out.stderr + out.stdout, out.stderr
            assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "audit.sqlite").exists() or audit.lookups(url) == []
    ok = cli("borger", w.cpr, "--user", "anne", "--warehouse", str(w.warehouse), "--json",
             "--purpose", f"{PURPOSE} — opkald fra {w.cpr}", env=env, stdin=PASSWORD + "\n")
    assert ok.returncode == 0, ok.stderr
    assert [r["purpose"] for r in audit.lookups(url)] == [f"{PURPOSE} — opkald fra [fjernet]"]


def test_a_policy_broken_while_serving_refuses_lookups_in_one_line(w, users, audit_path, tmp_path, monkeypatch,
                                                                   caplog):
    from samlet_overblik.consent.policy import default_policy_path
    from samlet_overblik.web.app import WebConfigError

    text = default_policy_path().read_text(encoding="utf-8")
    own = tmp_path / "policy.yaml"
    own.write_text(text, encoding="utf-8")
    monkeypatch.setenv("SAMLET_POLICY_FILE", str(own))
    app = create_app(WebSettings(w.warehouse, users, SECRET))
    c, token = logged_in(app, "anne")
    own.write_text(text.replace("sensitive_categories: [helbred, misbrug]", "sensitive_categories: []"), encoding="utf-8")
    caplog.set_level(logging.INFO)
    r = lookup(c, "/soeg", {"csrf": token, "soegning": w.cpr, "formaal": PURPOSE})
    assert r.status_code == 503 and "<svg" not in r.text and "content-security-policy" in r.headers
    assert "Traceback" not in caplog.text and not any(rec.exc_info for rec in caplog.records)
    assert not audit_path.exists() or rows_on_disk(audit_path) == []
    with pytest.raises(WebConfigError, match="helbred, misbrug"):
        create_app(WebSettings(w.warehouse, users, SECRET))


def test_the_log_filter_masks_messages_arguments_and_tracebacks():
    import io

    from samlet_overblik.web.logsafe import RedactCpr

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactCpr())
    logger = logging.getLogger("test_front_security.filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError(f"bad value {SPELLINGS[1]}")
        except ValueError:
            logger.error("lookup of %s failed (%s)", SPELLINGS[0], SPELLINGS[2], exc_info=True)
        logger.warning("plain 200262-3461 in the message")
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert "3461" not in text and "Traceback" in text and text.count("[fjernet]") == 4


def test_a_cpr_typed_with_other_separators_is_looked_up_as_a_cpr(app, w, audit_path):
    c, token = logged_in(app, "anne")
    dotted = f"{w.cpr[:2]}.{w.cpr[2:4]}.{w.cpr[4:6]}-{w.cpr[6:]}"
    r = lookup(c, "/soeg", {"csrf": token, "soegning": dotted, "formaal": PURPOSE})
    assert r.status_code == 200 and "<svg" in r.text and w.cpr[6:] not in r.text
    assert [(row[1], row[3]) for row in rows_on_disk(audit_path)] == [(w.person_key, "web:borger")]

"""The command line: one-line errors with a non-zero exit on bad input; real runs on small data."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def cli(*args: str, timeout: int = 300, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "samlet_overblik.cli", *args], capture_output=True, text=True,
                          timeout=timeout, input=stdin)


@pytest.mark.parametrize(
    "args, words",
    [
        (["generate", "--citizens", "0", "--seed", "1", "--out", "x"], "must be at least 1"),
        (["generate", "--citizens", "ten", "--seed", "1", "--out", "x"], "not a whole number"),
        (["generate", "--citizens", "5", "--seed", "1", "--out", "x", "--noise", "loud"], "invalid choice"),
        (["generate", "--citizens", "5", "--seed", "1", "--out", "x", "--target", "skole=sqlite://"], "unknown source"),
        (["generate", "--kommune", "999", "--out", "x"], "ukendt kommunekode '999'"),
        (["generate", "--denmark", "--scale", "0", "--out", "x"], "must be above 0"),
        (["generate", "--denmark", "--kommune", "101", "--out", "x"], "not allowed with argument"),
        (["generate", "--citizens", "5", "--out", "x"], "--seed is required with --citizens"),
        (["generate", "--citizens", "5", "--seed", "1", "--scale", "0.5", "--out", "x"], "--scale goes with"),
        (["run", "--job", "weekly"], "invalid choice"),
        (["demo", "--citizens", "-3"], "must be at least 1"),
        (["lineage", "0101801234"], "--user"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(args, words):
    result = cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], result.stderr


def test_run_without_sources_is_a_one_line_error(tmp_path):
    result = cli("run", "--sources", str(tmp_path / "missing"), "--warehouse", str(tmp_path / "w.duckdb"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "sources folder not found" in result.stderr


def test_run_with_bad_config_is_a_one_line_error(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sources:\n  skole: sqlite:///x\n")
    result = cli("run", "--config", str(cfg))
    assert result.returncode == 2 and "unknown source in config: skole" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_with_invalid_policy_names_the_line(small_municipality, tmp_path):
    bad = tmp_path / "policy.yaml"
    from samlet_overblik.consent.policy import default_policy_path

    bad.write_text(default_policy_path().read_text(encoding="utf-8").replace("[indsatser, kontakt]", "[indsatser, kontakter]"))
    result = subprocess.run(
        [sys.executable, "-m", "samlet_overblik.cli", "run", "--sources", str(small_municipality), "--warehouse",
         str(tmp_path / "w.duckdb")],
        capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "SAMLET_POLICY_FILE": str(bad)},
    )
    assert result.returncode == 2
    assert "policy.yaml line" in result.stderr and "kontakter" in result.stderr
    assert not (tmp_path / "w.duckdb").exists()


def test_generate_then_run_then_lineage(tmp_path):
    out = tmp_path / "src"
    gen = cli("generate", "--citizens", "300", "--seed", "3", "--out", str(out), "--as-of", "2026-11-01")
    assert gen.returncode == 0, gen.stderr
    assert (out / "ground_truth.parquet").is_file() and (out / "beskaeftigelse.sqlite").is_file()
    warehouse = tmp_path / "w" / "w.duckdb"
    result = cli("run", "--sources", str(out), "--warehouse", str(warehouse))
    assert result.returncode == 0, result.stderr
    assert "Quarantined rows by reason" in result.stdout and "run ok" in result.stdout
    # Piped: plain progress lines, no spinner and no colour codes.
    assert "chunk 1/1: 300 people written" in gen.stdout and "people/s" in gen.stdout and "\x1b[" not in gen.stdout
    assert any(line.strip().startswith("✓ raw__cpr") for line in result.stdout.splitlines())
    assert "\x1b[" not in result.stdout

    from pipeline_helpers import query

    from samlet_overblik.access.users import add_user, users_file

    add_user(users_file(warehouse), "compliance1", "Karen Kontrol", "compliance", None, "et-langt-kodeord-1")
    add_user(users_file(warehouse), "sb1", "Søren Sag", "sagsbehandler", "beskaeftigelse", "et-langt-kodeord-2")
    cpr = query(warehouse, "SELECT cpr FROM identity.person_keys WHERE cpr IS NOT NULL LIMIT 1")[0][0]
    purpose = ("--purpose", "compliance: samtykkesporing")
    denied = cli("lineage", cpr, "--user", "sb1", "--warehouse", str(warehouse), *purpose, stdin="et-langt-kodeord-2\n")
    assert denied.returncode == 2 and "compliance" in denied.stderr
    unknown = cli("lineage", cpr, "--user", "nobody", "--warehouse", str(warehouse), *purpose, stdin="x\n")
    assert unknown.returncode == 2 and "ukendt bruger eller forkert adgangskode" in unknown.stderr
    lineage = cli("lineage", cpr, "--user", "compliance1", "--warehouse", str(warehouse), "--json", *purpose,
                  stdin="et-langt-kodeord-1\n")
    assert lineage.returncode == 0, lineage.stderr
    report = json.loads(lineage.stdout)
    assert report["cpr_masked"].endswith("-xxxx") and cpr not in lineage.stdout
    text = cli("lineage", cpr, "--user", "compliance1", "--warehouse", str(warehouse), *purpose,
               stdin="et-langt-kodeord-1\n")
    assert "Samtykkesporing: " in text.stdout and cpr not in text.stdout

    bad = cli("lineage", "12345", "--user", "compliance1", "--warehouse", str(warehouse), *purpose,
              stdin="et-langt-kodeord-1\n")
    assert bad.returncode == 2 and "ugyldigt CPR-nummer" in bad.stderr and "12345" not in bad.stderr

    from samlet_overblik.access import audit

    logged = audit.lookups(audit.audit_url(warehouse.parent), user_id="compliance1")
    assert len(logged) == 2 and all(r["person_key"] and r["channel"] == "cli:lineage" and r["role"] == "compliance" for r in logged)


def test_eval_identity_reports_per_group(tmp_path):
    out = tmp_path / "src"
    assert cli("generate", "--citizens", "400", "--seed", "8", "--out", str(out), "--as-of", "2026-11-01").returncode == 0
    result = cli("eval-identity", "--sources", str(out), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert "valid CPR" in result.stdout or report  # groups reported
    missing = cli("eval-identity", "--sources", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "ground_truth.parquet" in missing.stderr


def test_schema_lists_every_table_with_comments(tmp_path):
    result = cli("schema")
    assert result.returncode == 0
    for table in ("staging.person_records", "consent.flow_intervals", "unified.access_grants", "quality.validation_results"):
        assert f"`{table}`" in result.stdout
    assert "_(no comment)_" not in result.stdout


def test_shipped_data_dictionary_is_up_to_date():
    from samlet_overblik.quality.dictionary import schema_markdown
    from samlet_overblik.core.paths import data_dir

    assert (data_dir("warehouse") / "README.md").read_text(encoding="utf-8") == schema_markdown(), \
        "warehouse/README.md is stale: run 'samlet-overblik schema --write'"


def test_a_run_reports_each_step_with_its_rows_and_time(small_municipality, tmp_path):
    from pipeline_helpers import settings_for

    from samlet_overblik.runner import run_job

    done = []
    outcome = run_job(settings_for(small_municipality, tmp_path / "w.duckdb"), "nightly", on_step=done.append)
    assert outcome.success, outcome.failure
    steps = {d.step: d for d in done}
    assert all(d.succeeded and d.seconds >= 0 for d in done)
    # Read from the source, staged, exported: counts from the steps' metadata, and a speed where there were rows.
    for step in ("raw__cpr", "staging__cpr__personer", "published__exports"):
        assert steps[step].rows > 0 and steps[step].rows_per_second, step

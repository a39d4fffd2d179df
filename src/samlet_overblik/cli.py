"""The ``samlet-overblik`` command line.

Every command exits 0 on success and non-zero with a one-line error (no traceback) on bad input.
Configuration also comes from ``SAMLET_*`` environment variables (see ``settings``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from samlet_overblik import __version__
from samlet_overblik.sources.specs import consent_registry, departments, source_names
from samlet_overblik.access.users import ROLES
from samlet_overblik.core.cpr import redact_cpr

console = Console(stderr=False)
err_console = Console(stderr=True)


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""

    prefix = "error"


class Fejl(CliError):
    """A user-facing error of the caseworkers' and compliance staff's commands (``borger``, ``lineage``): Danish."""

    prefix = "fejl"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 10:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 10: {value:g}")
    return value


def _kommunekode(text: str) -> str:
    from samlet_overblik.core.municipalities import UnknownMunicipality, municipality

    try:
        return municipality(text).code
    except UnknownMunicipality as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _target(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError("expected SOURCE=SQLALCHEMY_URL")
    name, url = text.split("=", 1)
    if name not in source_names():
        raise argparse.ArgumentTypeError(f"unknown source {name!r} (known: {', '.join(source_names())})")
    return name, url


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        self.exit(2, f"samlet-overblik: error: {message}\n")


# argparse's own messages, as the Danish commands say them.
_ARGPARSE_DANISH = (("the following arguments are required", "disse skal angives"),
                    ("unrecognized arguments", "ukendte argumenter"), ("invalid choice", "ugyldigt valg"),
                    ("expected one argument", "mangler en værdi"), ("choose from", "vælg mellem"))


class _DanishParser(_Parser):
    """The parser of a command caseworkers and compliance staff use: its one-line errors are Danish."""

    def error(self, message: str) -> NoReturn:
        for english, danish in _ARGPARSE_DANISH:
            message = message.replace(english, danish)
        self.exit(2, f"samlet-overblik: fejl: {message}\n")


def _lookup_parser(sub, name: str, summary: str, who: str, role: str) -> argparse.ArgumentParser:
    """A command that looks one citizen up as an authenticated user (the lookup is recorded in the access log)."""
    from samlet_overblik.consent.policy import PolicyError, lookup_purposes

    try:
        purposes = "; ".join(f"'{x}'" for x in lookup_purposes(role))
    except PolicyError:
        purposes = "se delingspolitikken"
    p = sub.add_parser(name, help=summary, description=summary)
    p.__class__ = _DanishParser  # the same parser, with its one-line errors in Danish
    p.add_argument("cpr", metavar="CPR", help="Borgerens CPR-nummer (DDMMÅÅ-SSSS eller 10 cifre).")
    p.add_argument("--user", required=True, help=f"Hvem spørger: {who}. Logges i adgangsloggen.")
    p.add_argument("--purpose", required=True,
                   help=f"Formålet med opslaget, et af politikkens formål: {purposes}. Logges i adgangsloggen.")
    p.add_argument("--warehouse", type=Path, help="Det publicerede lager (standard: SAMLET_WAREHOUSE eller "
                                                  "warehouse/samlet_overblik.duckdb).")
    p.add_argument("--json", action="store_true", help="Skriv JSON til scripts i stedet for tabeller.")
    p.epilog = ("Adgangskoden læses fra terminalen eller fra standard input. Et personligt token fra "
                "'samlet-overblik user token' kan gives i SAMLET_TOKEN i stedet.")
    return p


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="samlet-overblik", description="One cross-sector overview of a citizen's interventions, within consent.")
    p.add_argument("--version", action="version", version=f"samlet-overblik {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    g = sub.add_parser("generate", help="Generate a synthetic municipality (six source systems + ground truth), "
                                        "one of the 98 by its kommunekode, or all of Denmark (a folder each).")
    size = g.add_mutually_exclusive_group(required=True)
    size.add_argument("--citizens", type=_positive_int, help="Number of residents to generate.")
    size.add_argument("--kommune", metavar="KODE", type=_kommunekode,
                      help="One municipality by kommunekode (e.g. 101), sized from its population times --scale; "
                           "written to OUT/<kommunekode>/.")
    size.add_argument("--denmark", action="store_true",
                      help="All 98 municipalities, each sized from its population times --scale; written to "
                           "OUT/<kommunekode>/, with OUT/municipalities.csv listing them.")
    g.add_argument("--scale", type=_scale, default=1.0,
                   help="With --kommune or --denmark: citizens per inhabitant (default 1.0, the real population; "
                        "0.01 is one in a hundred; at least 50 a municipality).")
    g.add_argument("--seed", type=int, default=None,
                   help="Random seed; the same seed gives the same data (required with --citizens; default 1 for "
                        "--kommune and --denmark, where each municipality derives its own from it).")
    g.add_argument("--out", type=Path, required=True, help="Folder for <source>.sqlite files and ground_truth.parquet.")
    g.add_argument("--noise", choices=["none", "default", "high"], default="default", help="Amount of realistic data errors (default: default).")
    g.add_argument("--target", type=_target, action="append", default=[], metavar="SOURCE=URL",
                   help="Write SOURCE to this SQLAlchemy URL instead of a SQLite file (repeatable).")
    g.add_argument("--as-of", type=_date, default=None, help="Date the municipality is generated as of (default: today).")

    r = sub.add_parser("run", help="Run a job in-process: ingest, stage, link, apply consent, publish.")
    r.add_argument("--sources", type=Path, help="Folder with the generated SQLite sources (default: SAMLET_SOURCES_DIR or data/sources).")
    r.add_argument("--config", type=Path, help="YAML config file (sources_dir, warehouse, sources: {name: url}, reference_time, policy_file).")
    r.add_argument("--warehouse", type=Path, help="Path of the published warehouse file (default: SAMLET_WAREHOUSE or warehouse/samlet_overblik.duckdb).")
    r.add_argument("--job", choices=["nightly", "consent_refresh"], default="nightly", help="Which job (default: nightly).")
    r.add_argument("--full-refresh", action="store_true", help="Re-read every source table completely instead of by update stamp.")
    r.add_argument("--full-relink", action="store_true",
                   help="Link every person record again with a newly estimated model (default: only what changed).")
    r.add_argument("--all-tenants", action="store_true",
                   help="Run the job for every municipality (the configured tenants, else a folder per kommunekode in "
                        "--sources) through the Dagster instance's run queue and daemon (DAGSTER_HOME, else a "
                        "temporary instance), a run per municipality in a process of its own.")
    r.add_argument("--warehouse-root", type=Path,
                   help="With --all-tenants: the folder for ROOT/<kommunekode>/samlet_overblik.duckdb and its exports "
                        "(default: SAMLET_WAREHOUSE_ROOT, else the folder of --warehouse).")
    r.add_argument("--workers", type=_positive_int, default=2,
                   help="With --all-tenants and no DAGSTER_HOME: how many runs at once (default 2).")
    r.add_argument("--tenants-per-run", type=_positive_int,
                   help="With --all-tenants: how many municipalities one run may build, one after another (default: "
                        "SAMLET_TENANTS_PER_RUN, else 1); a group that fails is run again one by one.")
    r.add_argument("--rebuild-unchanged", action="store_true",
                   help="With --all-tenants: build every municipality, also those whose published set is still what a "
                        "build would make (the same day, nothing new in any source, the policy, the stewards' "
                        "decisions, the code or the analytics key), which are otherwise left as they are.")

    d = sub.add_parser("demo", help="Generate a small municipality, run the nightly job and print a summary.")
    d.add_argument("--citizens", type=_positive_int, default=5000, help="Residents to generate (default: 5000).")
    d.add_argument("--seed", type=int, default=42, help="Random seed (default: 42).")
    d.add_argument("--warehouse", type=Path, default=Path("warehouse/samlet_overblik.duckdb"), help="Where to write the warehouse.")
    d.add_argument("--sources", type=Path, default=None, help="Folder for the generated sources (default: a temporary folder).")
    ev = sub.add_parser("eval-identity", help="Precision / recall / F1 of identity linking against the generator's ground truth.")
    ev.add_argument("--sources", type=Path, required=True, help="Folder written by 'generate' (with ground_truth.parquet).")
    ev.add_argument("--json", action="store_true", help="Print JSON instead of the report.")

    sc = sub.add_parser("schema", help="Print the data dictionary: every table and column from the DDL comments, with example queries.")
    sc.add_argument("--write", type=Path, nargs="?", const=Path("warehouse/README.md"), default=None,
                    help="Write it to this file instead (default when given without a path: warehouse/README.md).")

    _lookup_parser(sub, "lineage", "Samtykkesporing for én borger: samtykker over tid, hvad der er delt med hvem, "
                                   "og hvorfor (opslaget logges).",
                   "et bruger-id med rollen compliance", "compliance")
    ind = _lookup_parser(sub, "indsigt", "Borgerens indsigtsrapport: samtykker, hvad der er delt med hvem og hvornår, "
                                         "og hvem der har slået borgeren op (opslaget logges).",
                         "et bruger-id med rollen compliance", "compliance")
    ind.add_argument("--format", choices=["pdf", "csv"], default="pdf", help="pdf (standard) eller csv.")
    ind.add_argument("--out", type=Path, help="Filen rapporten skrives til (kun ejeren kan læse den); standard: "
                                              "indsigt-<personnøgle>-<dato>.<format> i den aktuelle mappe.")
    _lookup_parser(sub, "borger", "Borgerens overblik, som brugerens afdeling må se det (opslaget logges).",
                   "et bruger-id med rollen sagsbehandler (afdelingen kommer fra brugeropsætningen)", "sagsbehandler")


    fh = sub.add_parser("fhir", help="FHIR R5 out (and in): the consent registry as Consent resources, a citizen's "
                                      "access log as AuditEvent resources.")
    fh_sub = fh.add_subparsers(dest="fhir_command", required=True, parser_class=_Parser)
    fc = fh_sub.add_parser("consents", help="The consent registry as the last run staged it, as a FHIR R5 Bundle of "
                                            "Consent resources (validated). Read back as the samtykke source with "
                                            "SAMLET_SOURCE_SAMTYKKE_URL=fhir:///path/bundle.json (or "
                                            "fhir+https://server/base).")
    fc.add_argument("--out", type=Path, help="The file to write (owner-only); default: standard output.")
    fc.add_argument("--warehouse", type=Path, help="Published warehouse (default: SAMLET_WAREHOUSE or warehouse/samlet_overblik.duckdb).")
    fa = _lookup_parser(fh_sub, "auditevents", "Borgerens adgangslog som FHIR R5 AuditEvent-ressourcer (opslaget "
                                               "logges).", "et bruger-id med rollen compliance", "compliance")
    fa.add_argument("--out", type=Path, help="Filen der skrives (kun ejeren kan læse den); standard: standard output.")

    st = sub.add_parser("status", help="Status i drift: seneste kørsler, forældede kilder, lukning for samtykke, "
                                       "karantæne mod forrige kørsel og samtykkeforsinkelse (ingen personoplysninger).")
    st.add_argument("--warehouse", type=Path, help="Published warehouse (default: SAMLET_WAREHOUSE or warehouse/samlet_overblik.duckdb).")
    st.add_argument("--kommune", help="With tenants: the municipality (kommunekode) whose warehouse to report on.")
    st.add_argument("--json", action="store_true", help="The same as JSON (Danish keys, ISO times).")

    rb = sub.add_parser("rollback", help="Make the previously published set (warehouse and exports) current again; recorded.")
    rb.add_argument("--warehouse", type=Path, help="Published warehouse (default: SAMLET_WAREHOUSE or warehouse/samlet_overblik.duckdb).")

    wa = sub.add_parser("watch", help="Consent watcher in the foreground: hide withdrawn consents from lookups at once, "
                                      "then rebuild the exports with consent_refresh.")
    wa.add_argument("--warehouse", type=Path, help="Published warehouse (default: SAMLET_WAREHOUSE or warehouse/samlet_overblik.duckdb).")
    wa.add_argument("--sources", type=Path, help="Folder with the generated SQLite sources (for the consent registry).")
    wa.add_argument("--config", type=Path, help="YAML config file (as for 'run').")
    wa.add_argument("--interval", type=float, default=2.0, help="Seconds between reads of the consent registry (default: 2).")
    wa.add_argument("--once", action="store_true", help="One tick (and the refresh it starts, waited for), then exit.")

    se = sub.add_parser("serve", help="Web app for caseworkers and compliance (needs SAMLET_SESSION_SECRET, or SAMLET_DEV_MODE=1 locally).")
    se.add_argument("--host", default="127.0.0.1", help="Address to listen on (default: 127.0.0.1).")
    se.add_argument("--port", type=_port, default=8000, help="Port (default: 8000).")
    se.add_argument("--warehouse", type=Path, help="Published warehouse (default: SAMLET_WAREHOUSE or warehouse/samlet_overblik.duckdb).")
    se.add_argument("--workers", type=_positive_int, default=1,
                    help="Server processes sharing the port (default: 1); sessions, lookup handles, the login limit "
                         "and the access log are shared by them.")

    us = sub.add_parser("user", help="Manage the users file (SAMLET_USERS_FILE, default <warehouse dir>/users.yaml).")
    us_sub = us.add_subparsers(dest="user_command", required=True, parser_class=_Parser)
    ua = us_sub.add_parser("add", help="Add (or replace) a user; the password is read from standard input when it is not a terminal.")
    ua.add_argument("id", metavar="ID", help="User id (lower-case letters, digits, '.', '_', '-').")
    ua.add_argument("--name", required=True, help="Full name.")
    ua.add_argument("--role", required=True, choices=list(ROLES), help="Role.")
    ua.add_argument("--department", choices=list(departments()), help="Department (required for sagsbehandler).")
    ua.add_argument("--kommune", metavar="KODE", help="With tenants (required then): the kommunekode of the one "
                                                      "municipality whose data the user may read.")
    ua.add_argument("--warehouse", type=Path, help="Warehouse whose folder holds users.yaml (when SAMLET_USERS_FILE is not set).")
    ul = us_sub.add_parser("list", help="List the users (id, name, role, department; never a password hash).")
    ur = us_sub.add_parser("remove", help="Remove a user; their sessions end at once.")
    ur.add_argument("id", metavar="ID", help="User id.")
    upw = us_sub.add_parser("passwd", help="Set a new password (read from standard input when it is not a terminal); "
                                           "every session of the user ends.")
    upw.add_argument("id", metavar="ID", help="User id.")
    ut = us_sub.add_parser("token", help="Issue a personal token for 'borger'/'lineage' in scripts (SAMLET_TOKEN); "
                                         "shown once, replaces the user's earlier token.")
    ut.add_argument("id", metavar="ID", help="User id.")
    ut.add_argument("--days", type=_positive_int, default=30, help="Days the token is valid (default: 30, at most 365).")
    ut.add_argument("--revoke", action="store_true", help="Revoke the user's token instead of issuing one.")
    for parser in (ul, ur, upw, ut):
        parser.add_argument("--warehouse", type=Path, help="Warehouse whose folder holds users.yaml (when SAMLET_USERS_FILE is not set).")
    return p


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535: {value}")
    return value


def _date(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def cmd_generate(args) -> int:
    from samlet_overblik.synthetic import generate

    if args.citizens is None:
        return _generate_municipalities(args)
    if args.seed is None:
        raise CliError("--seed is required with --citizens (the same seed gives the same data)")
    if args.scale != 1.0:
        raise CliError("--scale goes with --kommune or --denmark, not --citizens")
    targets = dict(args.target)
    started = time.perf_counter()
    with console.status("Genererer kommune …") as status:
        summary = generate(
            args.citizens, args.seed, args.out, noise=args.noise, targets=targets, as_of=args.as_of,
            progress=_progress(status, started),
        )
    table = Table(title=f"Generated {args.citizens:,} citizens (seed {args.seed}, noise {args.noise})")
    table.add_column("source.table")
    table.add_column("rows", justify="right")
    for key, n in _flatten_rows(summary).items():
        table.add_row(key, f"{n:,}")
    console.print(table)
    console.print(f"written to {args.out} in {time.perf_counter() - started:.1f} s")
    return 0


def _generate_municipalities(args) -> int:
    from samlet_overblik.synthetic.denmark import generate_municipalities

    if args.target:
        raise CliError("--target writes one municipality's sources; use it with --citizens")
    seed = 1 if args.seed is None else args.seed
    started = time.perf_counter()
    with console.status("Genererer kommuner …") as status:
        written = generate_municipalities(None if args.denmark else [args.kommune], args.scale, seed, args.out,
                                          noise=args.noise, as_of=args.as_of, progress=_progress(status, started))
    citizens = sum(w["borgere"] for w in written)
    where = f"{args.out}/<kommunekode>" if len(written) > 1 else f"{args.out}/{written[0]['kommunekode']}"
    console.print(f"generated {len(written)} municipalit{'ies' if len(written) > 1 else 'y'}, {citizens:,} citizens "
                  f"(scale {args.scale:g}, seed {seed}) into {where} in {time.perf_counter() - started:.1f} s")
    return 0


# A step that handled at least this many rows shows its rows per second.
BIG_STEP_ROWS = 10_000


def _progress(status, started: float):
    """Progress messages: the spinner's line on a terminal, a plain line each (with the time) when piped."""
    if console.is_terminal:
        return status.update
    return lambda message: console.print(f"{time.perf_counter() - started:7.1f} s  {message}", highlight=False,
                                         markup=False)


def _flatten_rows(summary: dict) -> dict[str, int]:
    rows = summary.get("rows", summary)
    flat: dict[str, int] = {}
    for key, value in rows.items():
        if isinstance(value, dict):
            for t, n in value.items():
                flat[f"{key}.{t}"] = int(n)
        elif isinstance(value, int):
            flat[str(key)] = value
    return flat


def _run(settings, job: str) -> int:
    from samlet_overblik.core import warehouse as wh
    from samlet_overblik.runner import StepDone, run_job, warehouse_summary

    if wh.being_built(settings.warehouse):
        raise wh.RunInProgress(wh.busy_message(settings.warehouse))
    started = time.perf_counter()
    with console.status(f"Running {job} …") as status:
        def on_step(done: StepDone) -> None:
            # A line a step (plain when piped: rich drops the colour and the spinner); rows/s on the big ones.
            mark = "[green]✓[/green]" if done.succeeded else "[red]✗[/red]"
            speed = f", {done.rows:,} rows, {done.rows_per_second:,.0f} rows/s" \
                if done.rows >= BIG_STEP_ROWS and done.rows_per_second else ""
            console.print(f"  {mark} {done.step}  {done.seconds:.1f} s{speed}  (at {time.perf_counter() - started:.1f} s)",
                          highlight=False)
            status.update(f"Running {job} … last: {done.step}")

        outcome = run_job(settings, job, on_step=on_step)
    if not outcome.success:
        raise CliError(f"run failed: {outcome.failure}")
    summary = warehouse_summary(settings.warehouse)
    _print_summary(summary, time.perf_counter() - started, settings.warehouse)
    return 0


def _print_summary(summary: dict, seconds: float, warehouse: Path) -> None:
    loads = Table(title="Rows per source table")
    for col in ("source", "table", "rows", "status"):
        loads.add_column(col, justify="right" if col == "rows" else "left")
    for source, table, rows, status in summary["loads"]:
        loads.add_row(source, table, f"{rows or 0:,}", status)
    console.print(loads)
    q = Table(title="Quarantined rows by reason")
    for col in ("source", "reason", "rows"):
        q.add_column(col, justify="right" if col == "rows" else "left")
    for source, reason, n in summary["quarantine"]:
        q.add_row(source, reason, f"{n:,}")
    console.print(q)
    status = summary["status"]
    extra = f" — {status[1]}" if status and status[1] else ""
    console.print(f"run {status[0] if status else '?'}{extra}; warehouse {warehouse}; elapsed {seconds:.1f} s")


def cmd_run(args) -> int:
    from samlet_overblik.core.settings import load_settings

    settings = load_settings(args.config, sources_dir=args.sources, warehouse=args.warehouse)
    settings.full_refresh = args.full_refresh
    settings.full_relink = args.full_relink
    if args.warehouse_root is not None:
        settings.warehouse_root = args.warehouse_root
    if args.tenants_per_run is not None:
        settings.tenants_per_run = args.tenants_per_run
    if not settings.source_urls and not settings.sources_dir.is_dir():
        raise CliError(f"sources folder not found: {settings.sources_dir} (run 'samlet-overblik generate' or set --sources)")
    if args.all_tenants:
        return _run_all_tenants(settings, args.job, args.workers, args.rebuild_unchanged)
    if settings.tenants:
        raise CliError("tenants are configured (SAMLET_TENANTS): run them with --all-tenants")
    return _run(settings, args.job)


def _run_all_tenants(settings, job: str, workers: int, rebuild_unchanged: bool) -> int:
    from samlet_overblik.fanout import UNCHANGED, run_all_tenants, run_seconds, tenants_to_run

    if settings.full_refresh or settings.full_relink:
        raise CliError("--full-refresh and --full-relink are not passed to the tenants' runs yet; run without them")
    started = time.perf_counter()
    total = len(tenants_to_run(settings))
    with console.status(f"{total} kommuner i kø …") as status:
        def changed(run, runs) -> None:
            done = sum(r.done for r in runs)
            busy = [r.code for r in runs if r.status == "STARTED"]
            if run.status == UNCHANGED:
                console.print(f"{run.code}: uændret, intet nyt siden kørsel {run.published_by}")
            elif run.done:
                took = f" in {run.seconds:.0f} s" if run.seconds is not None else ""
                console.print(f"{run.code}: {run.status.lower()}{took}")
            status.update(f"{done}/{total} done; running: {', '.join(busy) or '-'}")

        runs = run_all_tenants(settings, workers=workers, job=job, on_change=changed,
                               rebuild_unchanged=rebuild_unchanged)
    failed = [r.code for r in runs if not r.published]
    unchanged = sum(r.status == UNCHANGED for r in runs)
    took = run_seconds(runs)
    console.print(f"{len(runs) - len(failed) - unchanged} of {len(runs)} municipalities published, {unchanged} "
                  f"unchanged, in {time.perf_counter() - started:.1f} s ({len(took)} runs, together "
                  f"{sum(took.values()):.1f} s)")
    if failed:
        console.print(f"failed: {', '.join(failed)} (see the runs in the Dagster instance)")
        return 1
    return 0


def cmd_demo(args) -> int:
    from samlet_overblik.synthetic import generate
    from samlet_overblik.core.settings import load_settings

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="samlet-demo-") as tmp:
        sources = args.sources or Path(tmp) / "sources"
        with console.status(f"Generating {args.citizens:,} citizens …") as status:
            generate(args.citizens, args.seed, sources, noise="default", progress=lambda m: status.update(m))
        console.print(f"generated {args.citizens:,} citizens into {sources} in {time.perf_counter() - started:.1f} s")
        settings = load_settings(None, sources_dir=sources, warehouse=args.warehouse, env={})
        settings.analytics_demo = True
        return _run(settings, "nightly")


def _published_warehouse(path: Path | None, danish: bool = False) -> Path:
    from samlet_overblik.core.settings import load_settings

    warehouse = load_settings(None, warehouse=path).warehouse
    if not warehouse.is_file():
        if danish:
            raise Fejl(f"der er ikke publiceret noget lager i {warehouse} (kør 'samlet-overblik run' eller 'demo' først)")
        raise CliError(f"no published warehouse at {warehouse} (run 'samlet-overblik run' or 'demo' first)")
    return warehouse


def _authenticated_user(warehouse: Path, user_id: str, channel: str, login_log_dir: Path | None = None):
    """The user running ``borger``/``lineage``, proven by their password (from the terminal, or the first line of
    standard input) or their personal token (``SAMLET_TOKEN``); a one-line Danish refusal otherwise. Failed attempts
    are logged beside the warehouse (``login_log_dir``: with tenants, the installation's log at the root)."""
    import getpass
    import os

    from samlet_overblik.access import audit
    from samlet_overblik.access.auth import CommandLineAuthenticator, RateLimited
    from samlet_overblik.access.users import UsersError, users_file

    authn = CommandLineAuthenticator(users_file(warehouse), audit.audit_url(login_log_dir or warehouse.parent))
    token = os.environ.get("SAMLET_TOKEN") or None
    try:
        if token is None:
            password = (getpass.getpass(f"Adgangskode for {user_id}: ") if sys.stdin.isatty()
                        else sys.stdin.readline().rstrip("\r\n"))
            user = authn.authenticate(user_id, channel, password=password)
        else:
            user = authn.authenticate(user_id, channel, token=token)
    except UsersError as exc:  # the reason stays as it is: it is for IT support
        raise Fejl(f"brugeropsætningen kan ikke bruges; kontakt IT-support ({exc})") from None
    except RateLimited as exc:
        raise Fejl(f"for mange mislykkede forsøg; prøv igen om {exc.retry_after} sekunder") from None
    if user is None:
        what = "token" if token is not None else "adgangskode"
        raise Fejl(f"ukendt bruger eller forkert {what}; opslaget er afvist, og forsøget er logget")
    return user


def _citizen_lookup(args, channel: str, lookup):
    """A Danish command's lookup of one citizen: the published warehouse, the authenticated user, then
    ``lookup(stores, user, cpr, purpose=, channel=)``; its refusals and a citizen not found as one Danish line."""
    from samlet_overblik.access import borger

    from samlet_overblik.core.settings import load_settings

    settings = load_settings(None, warehouse=args.warehouse)
    if settings.tenants:  # many municipalities: the user's own, whose access log it is
        from samlet_overblik.core.tenants import for_tenant, installation_dir

        user = _authenticated_user(settings.warehouse, args.user, channel, login_log_dir=installation_dir(settings))
        if user.kommune not in settings.tenants:
            raise Fejl("din bruger er ikke knyttet til en kommune, som denne installation betjener")
        stores = borger.Stores(for_tenant(settings, user.kommune).warehouse, user.kommune)
    else:
        warehouse = _published_warehouse(args.warehouse, danish=True)
        user = _authenticated_user(warehouse, args.user, channel)
        stores = borger.Stores(warehouse)
    try:
        found = lookup(stores, user, args.cpr, purpose=args.purpose, channel=channel)
    except (borger.BadLookup, borger.AccessDenied, borger.NoWarehouse) as exc:
        raise Fejl(str(exc)) from None
    if found is None:
        raise Fejl("borgeren findes ikke i det publicerede lager")
    return found


def cmd_lineage(args) -> int:
    import json

    from samlet_overblik.access import compliance
    from samlet_overblik.core.labels import DEPARTMENT_NAMES, basis_text, danish_date, danish_time, scope_lines
    from samlet_overblik.core.viewmodel import to_json

    report = _citizen_lookup(args, "cli:lineage", compliance.consent_trail)
    if args.json:
        console.print_json(json.dumps(to_json(report), ensure_ascii=False))
        return 0
    name = lambda d: DEPARTMENT_NAMES.get(d, d)  # noqa: E731
    console.print(f"[bold]Samtykkesporing: {escape(report.name or 'borger')}[/bold] ({report.cpr_masked})",
                  highlight=False)
    t = Table(title="Samtykker over tid")
    for col in ("samtykke", "givet af", "kanal", "givet", "gyldig til", "tilbagekaldt", "omfang", "status", "først set"):
        t.add_column(col)
    for v in report.consent_versions:
        t.add_row(f"{v.consent_id} v{v.version}", v.given_by, v.channel or "", danish_time(v.given_at, utc=False),
                  danish_date(v.valid_until), danish_time(v.withdrawn_at, utc=False), "\n".join(scope_lines(v.scope)),
                  v.status or "", danish_time(v.first_seen))
    console.print(t if report.consent_versions else "Ingen samtykker registreret.")
    f = Table(title="Hvad er delt med andre afdelinger, og hvornår")
    for col in ("til afdeling", "post", "kategori", "grundlag", "delt fra", "stoppet", "årsag"):
        f.add_column(col)
    for x in report.flows:
        f.add_row(name(x.to_department), f"{x.title or x.record} ({name(x.from_department)})", x.category or "",
                  basis_text(x.basis), danish_time(x.from_time), danish_time(x.to_time, "deles stadig"),
                  x.stop_reason or "")
    console.print(f if report.flows else "Intet er delt på tværs af afdelinger.")
    d = Table(title="Seneste kørsel: hvem må se hvad")
    for col in ("afdeling", "post", "kategori", "afgørelse", "grundlag / årsag"):
        d.add_column(col)
    for dec in report.latest_decisions:
        if dec.department == dec.owner:
            continue  # a department's own records are always visible to it
        d.add_row(name(dec.department), f"{dec.title or ''} ({name(dec.owner)})", dec.category, dec.decision,
                  basis_text(dec.basis) if dec.basis else dec.reason or "")
    console.print(d)
    if report.steward_decisions:
        sd = Table(title="Identitetsafgørelser om borgerens poster")
        for col in ("tidspunkt", "afgjort af", "afgørelse", "poster", "begrundelse"):
            sd.add_column(col)
        for steward in report.steward_decisions:
            sd.add_row(danish_time(steward.decided_at), steward.decided_by, steward.decision, steward.records,
                       steward.reason or "")
        console.print(sd)
    for note in report.notes:
        console.print(note, highlight=False)
    return 0


def cmd_indsigt(args) -> int:
    from samlet_overblik.access import insight
    from samlet_overblik.core.paths import write_atomically

    report = _citizen_lookup(args, "cli:indsigt", insight.citizen_insight)
    out = args.out or Path(insight.file_name(report, args.format))
    write_atomically(out, insight.render(report, args.format))  # owner-only from its first byte
    console.print(f"indsigtsrapport skrevet til {out}", highlight=False)
    return 0


def cmd_eval_identity(args) -> int:
    import json

    from samlet_overblik.identity.evaluate import evaluate_sources, format_report

    if not (args.sources / "ground_truth.parquet").is_file():
        raise CliError(f"no ground_truth.parquet in {args.sources} (write one with 'samlet-overblik generate')")
    with console.status("Linking and evaluating …"):
        result = evaluate_sources(args.sources)
    if args.json:
        console.print_json(json.dumps(result, default=str))
    else:
        console.print(format_report(result), highlight=False)
    return 0


def cmd_schema(args) -> int:
    from samlet_overblik.quality.dictionary import schema_markdown, write_readme

    if args.write:
        console.print(f"written {write_readme(args.write)}")
    else:
        sys.stdout.write(schema_markdown())
    return 0


def cmd_borger(args) -> int:
    import json

    from samlet_overblik.access import borger
    from samlet_overblik.access.views import NotVisible
    from samlet_overblik.core.viewmodel import to_json

    view = _citizen_lookup(args, "cli:borger", lambda stores, user, cpr, **kw: borger.citizen_view(
        stores, user, cpr=cpr, **kw))
    if isinstance(view, NotVisible):
        raise Fejl(f"{view.department_name} har ingen registreringer om borgeren, som du må se")
    if args.json:
        console.print_json(json.dumps(to_json(view), ensure_ascii=False))
        return 0
    _print_citizen(view)
    return 0


def _print_citizen(view) -> None:
    """The overview as blocks of wrapped lines: readable at 80 columns, nothing cut off."""
    from rich.padding import Padding
    from rich.text import Text

    from samlet_overblik.access.meeting import follow_up_text
    from samlet_overblik.core.labels import danish_date, danish_time

    def line(text: str, indent: int = 0) -> None:
        console.print(Padding(Text(text), (0, 0, 0, indent)))

    p, o = view.person, view.overview
    if p is not None:
        console.print(f"[bold]{escape(p.name)}[/bold] ({p.cpr_masked}), født {danish_date(p.birth_date)}",
                      highlight=False)
    line(f"Set fra {view.department_name} · data pr. {danish_time(view.data.published, 'ukendt')}")
    line(view.part.not_shared_text + (". Borgeren kan give samtykke til deling." if view.part.not_shared else ""))
    if view.consent_changed_text:
        line(view.consent_changed_text)
    if o is not None:
        flags = ", ".join(o.flags) or "ingen"
        cost = f"{o.annual_cost:,.0f}".replace(",", ".")
        where = "afdeling" if o.n_departments == 1 else "afdelinger"
        coordinator = (f"{o.coordinator} ({o.coordinator_department})" if o.coordinator
                       else view.plans_not_shared_text or "ingen registreret i de afdelinger, du kan se")
        console.print()
        line(f"Aktive poster: {o.active_records} i {o.n_departments} {where}")
        line(f"Udgift seneste 12 måneder: {cost} kr.")
        line(f"Tovholder: {coordinator}")
        line(f"Flag: {flags}")
    for meeting in view.next_meetings:
        line(f"Næste møde: {danish_date(meeting.date)} {meeting.title} – {meeting.department_name}"
             f"{', ' + meeting.caseworker if meeting.caseworker else ''}")
    for plan in view.plans:
        console.print()
        console.print(f"[bold]Én plan[/bold] ({escape(plan.department_name)})", highlight=False)
        line(f"Tovholder: {plan.coordinator or 'ikke angivet'} · oprettet {danish_date(plan.created, 'ukendt')}"
             f" · næste opfølgning {follow_up_text(plan)}", 2)
        for goal in plan.goals:
            line(f"Mål: {goal}", 2)
    for g in view.part.by_department:
        console.print()
        n = len(g.records)
        console.print(f"[bold]{escape(g.name)}[/bold]{' (din afdeling)' if g.own else ''} – {n} "
                      f"{'post' if n == 1 else 'poster'}", highlight=False)
        for i in g.records:
            cost = f" · {i.monthly_cost:,.0f} kr./md.".replace(",", ".") if i.monthly_cost is not None else ""
            line(f"• {i.title} ({i.category_name})")
            line(f"{danish_date(i.start, '?')} – {danish_date(i.end, 'løbende')} · {i.status or 'ukendt status'}"
                 f"{' · ' + i.paragraph if i.paragraph else ''}", 2)
            contact = " · ".join(x for x in (i.caseworker_team, i.caseworker_phone, i.caseworker_email) if x)
            line(f"Sagsbehandler: {i.caseworker or 'ikke angivet'}{' (' + contact + ')' if contact else ''}{cost} · "
                 f"grundlag: {i.basis_text}", 2)
    if view.signals:
        console.print()
        console.print("[bold]Koordineringssignaler[/bold]")
        for sg in view.signals:
            line(f"• {danish_date(sg.signal_date)} {sg.title}")
            if sg.detail:
                line(sg.detail, 2)
    if view.family:
        console.print()
        console.print("[bold]Familie[/bold]")
        for m in view.family:
            line(f"• {m.name}, {m.relation}, født {danish_date(m.birth_date)} – {m.visible_records} "
                 f"{'post' if m.visible_records == 1 else 'poster'} du må se")


def cmd_serve(args) -> int:
    from samlet_overblik.web.app import WebConfigError, WebSettings, serve

    warehouse = _published_warehouse(args.warehouse)
    try:
        settings = WebSettings.from_env(warehouse=warehouse)
    except WebConfigError as exc:
        raise CliError(str(exc)) from None
    if settings.dev_mode:
        err_console.print("samlet-overblik: SAMLET_DEV_MODE: ephemeral session secret, cookies without Secure — not for production")
    console.print(f"serving http://{args.host}:{args.port}/ (users: {settings.users_file})", highlight=False)
    serve(settings, host=args.host, port=args.port, workers=args.workers)
    return 0


def _new_password() -> str:
    """From the terminal (asked twice, not echoed) or the first line of standard input."""
    import getpass

    if sys.stdin.isatty():
        password = getpass.getpass("Adgangskode: ")
        if getpass.getpass("Gentag adgangskode: ") != password:
            raise CliError("the passwords differ")
        return password
    return sys.stdin.readline().rstrip("\r\n")


def cmd_user(args) -> int:
    from samlet_overblik.core.settings import load_settings
    from samlet_overblik.access.users import (
        UsersError, add_user, issue_token, list_users, remove_user, revoke_token, set_password, users_file,
    )

    settings = load_settings(None, warehouse=args.warehouse)
    path = users_file(settings.warehouse)
    describe = lambda u: (f"{u.id} ({u.role}{', ' + u.department if u.department else ''}"  # noqa: E731
                          f"{', kommune ' + u.kommune if u.kommune else ''})")
    try:
        if args.user_command == "list":
            users = list_users(path)
            table = Table(title=f"Users in {path}")
            for col in ("id", "name", "role", "department", "kommune"):
                table.add_column(col)
            for u in sorted(users, key=lambda u: u.id):
                table.add_row(u.id, u.name, u.role, u.department or "", u.kommune or "")
            console.print(table if users else f"no users in {path}", highlight=False)
        elif args.user_command == "remove":
            console.print(f"user {describe(remove_user(path, args.id))} removed from {path}; their sessions have ended",
                          highlight=False)
        elif args.user_command == "token":
            if args.revoke:
                revoke_token(path, args.id)
                console.print(f"the token of {args.id} is revoked", highlight=False)
            else:
                token, expires = issue_token(path, args.id, args.days)
                err_console.print(f"token for {args.id}, valid until {expires:%Y-%m-%d %H:%M} UTC; it is shown only "
                                  "this once (set SAMLET_TOKEN to it for 'borger'/'lineage'):", highlight=False)
                sys.stdout.write(token + "\n")
        elif args.user_command == "passwd":
            if args.id not in {u.id for u in list_users(path)}:
                raise UsersError(f"unknown user {args.id!r}")
            user = set_password(path, args.id, _new_password())
            console.print(f"new password for {describe(user)}; every session of the user has ended", highlight=False)
        else:
            if settings.tenants and args.kommune not in settings.tenants:
                raise UsersError(f"with tenants a user needs --kommune, one of this installation's "
                                 f"{len(settings.tenants)} municipalities")
            user = add_user(path, args.id, args.name, args.role, args.department, _new_password(), args.kommune)
            console.print(f"user {describe(user)} saved in {path}", highlight=False)
    except UsersError as exc:
        raise CliError(str(exc)) from None
    return 0


def cmd_fhir(args) -> int:
    import json

    from samlet_overblik.core.paths import write_atomically

    if args.fhir_command == "consents":
        import duckdb

        from samlet_overblik.sources import fhir

        warehouse = _published_warehouse(args.warehouse)
        with duckdb.connect(str(warehouse), read_only=True) as con:
            doc = fhir.bundle_from_warehouse(con)
        what = f"{len(doc['entry'])} Consent resources"
    else:
        from samlet_overblik.access import compliance, fhir_audit
        from samlet_overblik.core import cpr

        report = _citizen_lookup(args, "cli:fhir", compliance.access_log_about_citizen)
        doc = fhir_audit.bundle(report.entries, cpr.normalise(args.cpr) or "")
        what = f"{len(doc['entry'])} AuditEvent-ressourcer"
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    if args.out:
        write_atomically(args.out, text + "\n")  # owner-only from its first byte: it holds CPR numbers
        err_console.print(f"{what} → {args.out}", highlight=False)
    else:
        print(text)
    return 0


def cmd_status(args) -> int:
    import json

    from samlet_overblik.access.operations import LATENCY_DAYS, operations_status
    from samlet_overblik.core.labels import RUN_STATUS_NAMES, danish_time
    from samlet_overblik.core.viewmodel import to_json

    if args.kommune:
        from samlet_overblik.core.settings import load_settings
        from samlet_overblik.core.tenants import for_tenant

        warehouse = for_tenant(load_settings(None), args.kommune).warehouse
        if not warehouse.is_file():
            raise Fejl(f"kommune {args.kommune} har intet publiceret lager endnu")
    else:
        warehouse = _published_warehouse(args.warehouse, danish=True)
    report = operations_status(warehouse)
    if args.json:
        print(json.dumps(to_json(report), ensure_ascii=False, indent=2))
        return 0
    say = lambda text: console.print(text, highlight=False, markup=False)  # noqa: E731
    if not report.runs:
        say("Ingen kørsler er registreret i lageret.")
        return 0
    say("Seneste kørsler:")
    for r in report.runs:
        took = f"{(r.finished_at - r.started_at).total_seconds():.0f} s" if r.started_at and r.finished_at else "?"
        say(f"  {danish_time(r.finished_at, '?')}  {r.job:<16} {RUN_STATUS_NAMES.get(r.status, r.status):<46} "
            f"{took:>7}  kørsel {r.run_id}")
    say(f"Seneste kørsel: {RUN_STATUS_NAMES.get(report.newest_status or '', report.newest_status or '?')}")
    for stale in report.stale_sources:
        say(f"  forældet kilde: {stale.source}, data fra {danish_time(stale.since, 'ingen god indlæsning')}")
    if report.fail_closed_reason:
        say(f"  lukket for samtykke: {report.fail_closed_reason}")
    if report.quarantine:
        say("Karantæne (rækker i seneste kørsel, forrige kørsel i parentes):")
        for q in report.quarantine:
            before = "" if q.previous is None else f" ({q.previous:,})".replace(",", ".")
            say(f"  {q.source}: {q.rows:,}".replace(",", ".") + before)
    latency = report.consent_latency
    if latency.changes:
        say(f"Samtykkeændringer de seneste {LATENCY_DAYS} dage: {latency.changes}, fra ændring til publiceret median "
            f"{latency.median_minutes:g} min, længst {latency.max_minutes:g} min")
    else:
        say(f"Samtykkeændringer de seneste {LATENCY_DAYS} dage: ingen")
    return 0


def cmd_rollback(args) -> int:
    import getpass

    from samlet_overblik.core import warehouse as wh

    warehouse = _published_warehouse(args.warehouse)
    try:
        old, new = wh.rollback(warehouse, actor=getpass.getuser())
    except wh.NothingToRollBack as exc:
        raise CliError(str(exc)) from None
    console.print(f"rolled back: set {new} is current again (was {old}); recorded in {warehouse.parent / wh.HISTORY}",
                  highlight=False)
    return 0


def cmd_watch(args) -> int:
    import subprocess

    from samlet_overblik.consent.policy import load_policy
    from samlet_overblik.consent.watcher import watch
    from samlet_overblik.core.settings import load_settings

    settings = load_settings(args.config, sources_dir=args.sources, warehouse=args.warehouse)
    if args.interval <= 0:
        raise CliError("--interval must be positive")
    warehouse = _published_warehouse(settings.warehouse)
    url = settings.source_url(consent_registry())
    policy = load_policy(settings.policy_file)
    refresh_cmd = [sys.executable, "-m", "samlet_overblik.cli", "run", "--job", "consent_refresh",
                   "--warehouse", str(warehouse)]
    if args.config:
        refresh_cmd += ["--config", str(args.config)]
    if args.sources:
        refresh_cmd += ["--sources", str(args.sources)]

    def start_refresh():
        console.print("  starting consent_refresh", highlight=False)
        return subprocess.Popen(refresh_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def report(result) -> None:
        rev = result.revocations
        state = f"all consent bases hidden ({rev.reason})" if rev.all_consents else f"{len(rev.entries)} revoked basis/bases hidden"
        console.print(f"{rev.computed_at}  {state}; {result.granted_not_published} new grant(s) not yet published; "
                      f"tick {result.seconds:.2f} s", highlight=False)

    console.print(f"watching the consent registry every {args.interval:g} s (Ctrl-C stops)", highlight=False)
    watch(warehouse, url, policy, interval=args.interval, start_refresh=start_refresh, report=report, once=args.once)
    return 0


# The commands caseworkers and compliance staff use: their messages are Danish.
DANISH_COMMANDS = ("borger", "lineage", "indsigt", "status")
COMMANDS = {"borger": cmd_borger, "indsigt": cmd_indsigt, "serve": cmd_serve, "user": cmd_user, "eval-identity": cmd_eval_identity, "schema": cmd_schema, "generate": cmd_generate, "run": cmd_run, "demo": cmd_demo, "lineage": cmd_lineage,
            "rollback": cmd_rollback, "watch": cmd_watch, "status": cmd_status, "fhir": cmd_fhir}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CliError as exc:
        err_console.print(f"samlet-overblik: {exc.prefix}: {redact_cpr(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err_console.print("samlet-overblik: interrupted")
        return 130
    except Exception as exc:  # the last line of defence: one line, no traceback, no row data
        from samlet_overblik.sources.ingest import SourceUnavailable
        from samlet_overblik.core.settings import SettingsError
        from samlet_overblik.core.warehouse import RunInProgress

        from samlet_overblik.access.audit import AuditUnavailable
        from samlet_overblik.consent.policy import PolicyError

        if args.command in DANISH_COMMANDS and isinstance(exc, AuditUnavailable):
            err_console.print("samlet-overblik: fejl: adgangsloggen kan ikke skrives eller læses; opslaget er afvist",
                              highlight=False, soft_wrap=True)
            return 2
        if args.command in DANISH_COMMANDS and isinstance(exc, PolicyError):
            err_console.print(f"samlet-overblik: fejl: delingspolitikken kan ikke bruges ({redact_cpr(str(exc))})",
                              highlight=False, soft_wrap=True)
            return 2
        if isinstance(exc, RunInProgress):  # said in Danish, as the operators' refusals are
            err_console.print(f"samlet-overblik: fejl: {exc}", highlight=False, soft_wrap=True)
            return 2
        if isinstance(exc, (SourceUnavailable, SettingsError, PolicyError, AuditUnavailable, ValueError, OSError)):
            err_console.print(f"samlet-overblik: error: {redact_cpr(str(exc))}", highlight=False, soft_wrap=True)
            return 2
        err_console.print(f"samlet-overblik: internal error: {type(exc).__name__} (run with SAMLET_DEBUG=1 for details)")
        import os

        if os.environ.get("SAMLET_DEBUG"):
            raise
        return 1


if __name__ == "__main__":
    sys.exit(main())

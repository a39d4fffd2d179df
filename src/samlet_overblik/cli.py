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

from rich.console import Console
from rich.table import Table

from . import SOURCES, __version__

console = Console(stderr=False)
err_console = Console(stderr=True)


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def _target(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError("expected SOURCE=SQLALCHEMY_URL")
    name, url = text.split("=", 1)
    if name not in SOURCES:
        raise argparse.ArgumentTypeError(f"unknown source {name!r} (known: {', '.join(SOURCES)})")
    return name, url


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"samlet-overblik: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="samlet-overblik", description="One cross-sector overview of a citizen's interventions, within consent.")
    p.add_argument("--version", action="version", version=f"samlet-overblik {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    g = sub.add_parser("generate", help="Generate a synthetic municipality (six source systems + ground truth).")
    g.add_argument("--citizens", type=_positive_int, required=True, help="Number of residents to generate.")
    g.add_argument("--seed", type=int, required=True, help="Random seed; the same seed gives the same data.")
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

    d = sub.add_parser("demo", help="Generate a small municipality, run the nightly job and print a summary.")
    d.add_argument("--citizens", type=_positive_int, default=5000, help="Residents to generate (default: 5000).")
    d.add_argument("--seed", type=int, default=42, help="Random seed (default: 42).")
    d.add_argument("--warehouse", type=Path, default=Path("warehouse/samlet_overblik.duckdb"), help="Where to write the warehouse.")
    d.add_argument("--sources", type=Path, default=None, help="Folder for the generated sources (default: a temporary folder).")
    return p


def _date(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def cmd_generate(args) -> int:
    from .generator import generate

    targets = dict(args.target)
    started = time.perf_counter()
    with console.status("Genererer kommune …") as status:
        summary = generate(
            args.citizens, args.seed, args.out, noise=args.noise, targets=targets, as_of=args.as_of,
            progress=lambda msg: status.update(msg),
        )
    table = Table(title=f"Generated {args.citizens:,} citizens (seed {args.seed}, noise {args.noise})")
    table.add_column("source.table")
    table.add_column("rows", justify="right")
    for key, n in _flatten_rows(summary).items():
        table.add_row(key, f"{n:,}")
    console.print(table)
    console.print(f"written to {args.out} in {time.perf_counter() - started:.1f} s")
    return 0


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
    from .runner import run_job, warehouse_summary

    started = time.perf_counter()
    with console.status(f"Running {job} …") as status:
        def on_step(step: str, kind: str) -> None:
            mark = "[green]✓[/green]" if kind == "STEP_SUCCESS" else "[red]✗[/red]"
            console.print(f"  {mark} {step}  ({time.perf_counter() - started:.1f} s)")
            status.update(f"Running {job} … last: {step}")

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
    from .settings import load_settings

    settings = load_settings(args.config, sources_dir=args.sources, warehouse=args.warehouse)
    settings.full_refresh = args.full_refresh
    if not settings.source_urls and not settings.sources_dir.is_dir():
        raise CliError(f"sources folder not found: {settings.sources_dir} (run 'samlet-overblik generate' or set --sources)")
    return _run(settings, args.job)


def cmd_demo(args) -> int:
    from .generator import generate
    from .settings import load_settings

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="samlet-demo-") as tmp:
        sources = args.sources or Path(tmp) / "sources"
        with console.status(f"Generating {args.citizens:,} citizens …") as status:
            generate(args.citizens, args.seed, sources, noise="default", progress=lambda m: status.update(m))
        console.print(f"generated {args.citizens:,} citizens into {sources} in {time.perf_counter() - started:.1f} s")
        settings = load_settings(None, sources_dir=sources, warehouse=args.warehouse, env={})
        return _run(settings, "nightly")


COMMANDS = {"generate": cmd_generate, "run": cmd_run, "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CliError as exc:
        err_console.print(f"samlet-overblik: error: {exc}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err_console.print("samlet-overblik: interrupted")
        return 130
    except Exception as exc:  # the last line of defence: one line, no traceback, no row data
        from .ingest import SourceUnavailable
        from .settings import SettingsError
        from .warehouse import RunInProgress

        if isinstance(exc, (SourceUnavailable, SettingsError, RunInProgress, ValueError, OSError)):
            err_console.print(f"samlet-overblik: error: {exc}", highlight=False, soft_wrap=True)
            return 2
        err_console.print(f"samlet-overblik: internal error: {type(exc).__name__} (run with SAMLET_DEBUG=1 for details)")
        import os

        if os.environ.get("SAMLET_DEBUG"):
            raise
        return 1


if __name__ == "__main__":
    sys.exit(main())

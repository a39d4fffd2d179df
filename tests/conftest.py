"""Shared fixtures: real PostgreSQL and MariaDB databases (fresh per test), small generated municipalities.

Under CI=true the database tests must run: an unreachable server fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get("SAMLET_TEST_PG_URL", "postgresql+psycopg2://root@127.0.0.1:5432/test")
MARIADB_ADMIN_URL = os.environ.get("SAMLET_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _unavailable(what: str, exc: Exception) -> None:
    reason = f"{what} is not reachable ({type(exc).__name__}); integration tests need it"
    if IN_CI:
        pytest.fail(f"{reason} — under CI=true these tests must run, not skip")
    pytest.skip(reason)


@contextmanager
def _fresh_database(admin_url: str, kind: str, drop: str) -> Iterator[str]:
    """A new, empty database on the server (its URL), dropped afterwards with ``drop`` (the server's own words)."""
    name = f"samlet_t_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        _unavailable(kind, exc)
    try:
        yield sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(drop.format(name=name)))
        engine.dispose()


@pytest.fixture
def pg_url():
    """A fresh, empty PostgreSQL database; dropped afterwards."""
    with _fresh_database(PG_ADMIN_URL, "PostgreSQL", "DROP DATABASE IF EXISTS {name} WITH (FORCE)") as url:
        yield url


@pytest.fixture
def mariadb_url():
    """A fresh, empty MariaDB database; dropped afterwards."""
    with _fresh_database(MARIADB_ADMIN_URL, "MariaDB", "DROP DATABASE IF EXISTS {name}") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def any_dialect_url(request, tmp_path):
    """The same test against a SQLite file, PostgreSQL and MariaDB."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'source.sqlite'}"
    return request.getfixturevalue("pg_url" if request.param == "postgresql" else "mariadb_url")


@pytest.fixture(scope="session")
def small_municipality(tmp_path_factory) -> Path:
    """A small generated municipality (SQLite sources), shared by the tests that only read it."""
    from datetime import date

    from samlet_overblik.synthetic import generate

    out = tmp_path_factory.mktemp("municipality")
    generate(1500, 7, out, noise="default", as_of=date(2026, 11, 1))
    return out


@pytest.fixture
def audit_url(tmp_path, monkeypatch):
    """A fresh access log for the test (``SAMLET_AUDIT_URL``)."""
    url = f"sqlite:///{tmp_path / 'audit.sqlite'}"
    monkeypatch.setenv("SAMLET_AUDIT_URL", url)
    return url


@pytest.fixture
def app(w, audit_url):
    """The web app over the test module's world ``w`` (its warehouse and users file)."""
    from test_web_support import SECRET

    from samlet_overblik.web import WebSettings, create_app

    return create_app(WebSettings(w.warehouse, w.users_file, SECRET))


# The longest tests go first: the all-municipalities fan-out takes minutes on its own, and started first it runs
# while work stealing fills the other worker with everything else (started last, it would be the whole tail).
LONGEST_FIRST = ("test_national.py", "test_tenants.py")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: 0 if item.path.name in LONGEST_FIRST else 1)

"""The users file and the authenticator (argon2 hashes, roles, rate limiting)."""

from __future__ import annotations

import pytest

from samlet_overblik.access.auth import LoginRateLimiter, PasswordAuthenticator, RateLimited
from samlet_overblik.access.users import UsersError, add_user, load_users, users_file


def test_roles_and_departments(tmp_path):
    p = tmp_path / "u.yaml"
    add_user(p, "anne", "Anne", "sagsbehandler", "beskaeftigelse", "langt-kodeord")
    add_user(p, "carl", "Carl", "compliance", None, "langt-kodeord")
    add_user(p, "anne", "Anne J", "sagsbehandler", "boern_familie", "andet-kodeord")  # replaces
    users = load_users(p)
    assert set(users) == {"anne", "carl"} and users["anne"][0].department == "boern_familie"
    for bad in [("x y", "N", "compliance", None), ("eva", "N", "chef", None), ("eva", "N", "compliance", "sundhed_aeldre"),
                ("eva", "N", "sagsbehandler", "skole")]:
        with pytest.raises(UsersError):
            add_user(p, *bad, "langt-kodeord")


def test_invalid_file_fails_closed(tmp_path):
    p = tmp_path / "u.yaml"
    p.write_text("users:\n  - {id: anne, name: A, role: sagsbehandler, department: beskaeftigelse, password_hash: plain}\n")
    with pytest.raises(UsersError, match="argon2"):
        load_users(p)


def test_default_path_is_beside_the_warehouse(tmp_path):
    assert users_file(tmp_path / "w" / "x.duckdb", env={}) == tmp_path / "w" / "users.yaml"
    assert users_file(tmp_path / "x.duckdb", env={"SAMLET_USERS_FILE": "/etc/u.yaml"}).as_posix() == "/etc/u.yaml"


def test_authenticator_and_rate_limit(tmp_path):
    p = tmp_path / "u.yaml"
    add_user(p, "anne", "Anne", "sagsbehandler", "beskaeftigelse", "langt-kodeord")
    a = PasswordAuthenticator(p, LoginRateLimiter(limit=3, window=60))
    assert a.authenticate("anne", "langt-kodeord", "1.2.3.4").id == "anne"
    assert a.authenticate("nobody", "langt-kodeord", "1.2.3.4") is None
    for _ in range(2):
        assert a.authenticate("anne", "forkert", "5.6.7.8") is None
    with pytest.raises(RateLimited):
        a.authenticate("anne", "forkert", "5.6.7.8") or a.authenticate("anne", "langt-kodeord", "5.6.7.8")
    session: dict = {}
    user = load_users(p)["anne"][0]
    a.start_session(session, user)
    assert a.current_user(session) == user and "csrf" in session
    p.write_text("users: []\n")  # removed from the file: out at once
    assert a.current_user(session) is None and session == {}

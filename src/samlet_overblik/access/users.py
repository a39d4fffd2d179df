"""The users file: who may log in, with which role and department.

A YAML file (path from ``SAMLET_USERS_FILE``, default ``<warehouse dir>/users.yaml``)::

    users:
      - id: anne
        name: Anne Jensen
        role: sagsbehandler          # sagsbehandler | compliance | dataingenioer | datasteward
        department: beskaeftigelse   # required for sagsbehandler, absent otherwise
        kommune: "461"               # with tenants (many municipalities): the one municipality the user serves
        password_hash: $argon2id$...
        security_stamp: 3f9c…        # changes on logout and password change: every older session ends
        token_hash: 9b2e…            # optional: SHA-256 of the personal token for the command line (user token)
        token_expires: 2027-01-29T10:00:00+00:00

Passwords are stored only as argon2id hashes (argon2-cffi). A personal token (``user token``: 256 random bits, for
``borger``/``lineage`` in scripts) is stored only as its SHA-256 digest with an expiry; a new token, a new password
or re-adding the user replaces it. An installation serving many municipalities keeps one users file (at the
warehouse root) and each user's record names the one municipality (``kommune``) whose data the user may read: the
tenant belongs to the user, never to the request. The file is written atomically, owner-only (0600)
from its first byte, under a lock (``users.yaml.lock``) so the CLI and the web app never lose each other's
changes. A users file that its group or others may write is refused: whoever can edit it can make themselves
any user. Authentication itself lives in ``auth`` (one replaceable module, so single sign-on can take over
later); this module only knows the users, their grants and their security stamps.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from samlet_overblik.sources.specs import departments
from samlet_overblik.core.cpr import redact_cpr
from samlet_overblik.core.labels import ROLE_NAMES
from samlet_overblik.core.paths import write_atomically

ROLES = ("sagsbehandler", "compliance", "dataingenioer", "datasteward")

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 8

_hasher = PasswordHasher()
# Verified against when the user does not exist, so a wrong user id costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("ingen-bruger-med-dette-id")


class UsersError(ValueError):
    """The users file or a user definition is invalid (one line, never a password)."""


@dataclass(frozen=True)
class User:
    id: str
    name: str
    role: str
    department: str | None = None
    # With tenants: the kommunekode of the one municipality the user serves (None in a single-municipality install).
    kommune: str | None = None
    # A random value per user that a session must carry; a new one ends every session made before it.
    security_stamp: str = field(default="", compare=False, repr=False)

    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(self.role, self.role)


def users_file(warehouse: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """``SAMLET_USERS_FILE``, else ``users.yaml`` beside the warehouse; with tenants, at the warehouse root (one file
    for the installation, each user naming their municipality)."""
    from samlet_overblik.core.settings import load_settings
    from samlet_overblik.core.tenants import installation_dir

    env = os.environ if env is None else env
    if env.get("SAMLET_USERS_FILE"):
        return Path(env["SAMLET_USERS_FILE"])
    settings = load_settings(None, warehouse=warehouse, env=dict(env))
    return installation_dir(settings) / "users.yaml"


def validate(user_id: str, name: str, role: str, department: str | None, kommune: str | None = None) -> None:
    if not _ID_RE.match(user_id or ""):
        raise UsersError("user id must be 2-64 characters: lower-case letters, digits, '.', '_' or '-'")
    if redact_cpr(user_id) != user_id:  # user ids are logged; a CPR number must never be one
        raise UsersError("user id must not contain a CPR-shaped number")
    if not (name or "").strip():
        raise UsersError("name must not be empty")
    if role not in ROLES:
        raise UsersError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
    if role == "sagsbehandler":
        if department not in departments():
            raise UsersError(f"a sagsbehandler needs --department (one of: {', '.join(departments())})")
    elif department is not None:
        raise UsersError(f"role {role} has no department")
    if kommune is not None:
        from samlet_overblik.core.municipalities import UnknownMunicipality, municipality

        try:
            municipality(kommune)
        except UnknownMunicipality as exc:
            raise UsersError(str(exc)) from None


# The parsed file by its identity (device, inode, change time, size): every request asks who its user is, and a
# YAML parse per request is the slowest part of that. The mode is checked on every read all the same.
_PARSED: dict[tuple, object] = {}


def _read(path: Path) -> list[dict]:
    """The file's rows, the caller's to edit."""
    return copy.deepcopy(_read_keyed(path)[0])


def _read_keyed(path: Path) -> tuple[list[dict], tuple | None]:
    """The file's rows (shared: not to be edited) and its identity (None when there is no file)."""
    try:
        fh = open(path, encoding="utf-8")
    except FileNotFoundError:
        return [], None
    except OSError as exc:
        raise UsersError(f"users file cannot be read: {path} ({exc.strerror})") from None
    with fh:
        st = os.fstat(fh.fileno())  # the file read below, not whatever is at the path a moment later
        if not stat.S_ISREG(st.st_mode):
            raise UsersError(f"users file is not a regular file: {path}")
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise UsersError(f"users file {path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}): "
                             f"refusing it; make it owner-only (chmod 600)")
        key = (str(path), st.st_dev, st.st_ino, st.st_ctime_ns, st.st_mtime_ns, st.st_size)
        if key in _PARSED:
            doc = _PARSED[key]
        else:
            try:
                doc = yaml.safe_load(fh.read()) or {}
            except (yaml.YAMLError, UnicodeDecodeError):
                raise UsersError(f"users file is not valid YAML: {path}") from None
            _PARSED.clear()
            _PARSED[key] = doc
    rows = doc.get("users") if isinstance(doc, dict) else None
    if rows is None:
        return [], key
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UsersError(f"users file must hold a list 'users' of mappings: {path}")
    return rows, key


def _write(path: Path, rows: list[dict]) -> None:
    """Replace the file atomically; the new file is 0600 from its first byte."""
    write_atomically(path, yaml.safe_dump({"users": rows}, allow_unicode=True, sort_keys=False))


@contextmanager
def _editing(path: Path):
    """Read-modify-write under an exclusive lock (the CLI and every web process may change the file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _new_stamp() -> str:
    return secrets.token_hex(16)


_LOADED: dict[tuple, dict[str, tuple[User, str]]] = {}


def load_users(path: Path) -> dict[str, tuple[User, str]]:
    """user id -> (User, password hash). Invalid entries make the whole file invalid (fail closed). The file is
    read (and its mode checked) every time; a version already validated is not validated again."""
    rows, key = _read_keyed(path)
    if key is not None and key in _LOADED:
        return dict(_LOADED[key])
    out: dict[str, tuple[User, str]] = {}
    for row in rows:
        uid, name, role, dept = (str(row.get("id") or ""), str(row.get("name") or ""), str(row.get("role") or ""),
                                 row.get("department"))
        kommune = None if row.get("kommune") is None else str(row["kommune"])
        try:
            validate(uid, name, role, dept, kommune)
        except UsersError as exc:
            raise UsersError(f"invalid user {uid!r} in {path.name}: {exc}") from None
        pw = str(row.get("password_hash") or "")
        if not pw.startswith("$argon2"):
            raise UsersError(f"user {uid!r} in {path.name} has no argon2 password hash")
        stamp = row.get("security_stamp", "")
        if not isinstance(stamp, str):
            raise UsersError(f"user {uid!r} in {path.name} has an invalid security_stamp")
        out[uid] = (User(uid, name, role, dept, kommune, stamp), pw)
    if key is not None:
        _LOADED.clear()
        _LOADED[key] = dict(out)
    return out


def get_user(path: Path, user_id: str) -> User | None:
    entry = load_users(path).get(user_id)
    return entry[0] if entry else None


def list_users(path: Path) -> list[User]:
    return [user for user, _ in load_users(path).values()]


def add_user(path: Path, user_id: str, name: str, role: str, department: str | None, password: str,
             kommune: str | None = None) -> User:
    """Add a user (or replace one with the same id: that ends the old user's sessions)."""
    validate(user_id, name, role, department, kommune)
    _check_password(password)
    with _editing(path):
        rows = [r for r in _read(path) if r.get("id") != user_id]
        row = {"id": user_id, "name": name.strip(), "role": role}
        if department:
            row["department"] = department
        if kommune:
            row["kommune"] = kommune
        row["password_hash"] = _hasher.hash(password)
        row["security_stamp"] = _new_stamp()  # a new user, never the sessions of an earlier one with this id
        rows.append(row)
        _write(path, rows)
    return User(user_id, row["name"], role, department, kommune, row["security_stamp"])


def remove_user(path: Path, user_id: str) -> User:
    """Remove a user: their sessions end at once (every request re-reads the file)."""
    with _editing(path):
        users = load_users(path)
        if user_id not in users:
            raise UsersError(f"unknown user {user_id!r}")
        _write(path, [r for r in _read(path) if r.get("id") != user_id])
    return users[user_id][0]


def set_password(path: Path, user_id: str, password: str) -> User:
    """A new password and a new security stamp: every session of the user ends, and so does their token."""
    _check_password(password)
    return _change(path, user_id, password_hash=_hasher.hash(password), token_hash=None, token_expires=None)


TOKEN_PREFIX = "so_"
MAX_TOKEN_DAYS = 365


def _token_digest(token: str) -> str:
    # A token has 256 random bits: a fast hash is enough (nothing to guess), and it is compared in constant time.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(path: Path, user_id: str, days: int = 30) -> tuple[str, datetime]:
    """A new personal token for the command line (replacing any earlier one), and when it expires. Only its
    digest is stored: the token is shown once."""
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise UsersError(f"a token is valid for 1 to {MAX_TOKEN_DAYS} days")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = (datetime.now(timezone.utc) + timedelta(days=days)).replace(microsecond=0)
    _set_token(path, user_id, token_hash=_token_digest(token), token_expires=expires.isoformat())
    return token, expires


def revoke_token(path: Path, user_id: str) -> None:
    _set_token(path, user_id, token_hash=None, token_expires=None)


def _set_token(path: Path, user_id: str, **fields) -> None:
    """Change the token fields only (the security stamp stays: the user's browser sessions go on)."""
    with _editing(path):
        rows = _read(path)
        load_users(path)
        match = [r for r in rows if r.get("id") == user_id]
        if not match:
            raise UsersError(f"unknown user {user_id!r}")
        for key, value in fields.items():
            if value is None:
                match[0].pop(key, None)
            else:
                match[0][key] = value
        _write(path, rows)


def verify_token(path: Path, user_id: str, token: str) -> User | None:
    """The user when ``token`` is their current, unexpired token; else None (the same answer for every failure)."""
    entry = load_users(path).get(user_id)
    rows = [r for r in _read(path) if r.get("id") == user_id]
    stored = str(rows[0].get("token_hash") or "") if rows else ""
    digest = _token_digest(token or "")
    if entry is None or not stored or not secrets.compare_digest(stored, digest):
        return None
    try:
        expires = datetime.fromisoformat(str(rows[0].get("token_expires") or ""))
    except ValueError:
        return None
    if expires.tzinfo is None or expires <= datetime.now(timezone.utc):
        return None
    return entry[0]


def end_sessions(path: Path, user_id: str) -> User:
    """A new security stamp: every session of the user ends (logout ends them all, not only this browser's)."""
    return _change(path, user_id)


def _change(path: Path, user_id: str, **fields) -> User:
    with _editing(path):
        rows = _read(path)
        load_users(path)  # the file as a whole must be valid before it is rewritten
        match = [r for r in rows if r.get("id") == user_id]
        if not match:
            raise UsersError(f"unknown user {user_id!r}")
        match[0].update({k: v for k, v in fields.items() if v is not None}, security_stamp=_new_stamp())
        for key in [k for k, v in fields.items() if v is None]:
            match[0].pop(key, None)
        _write(path, rows)
    return load_users(path)[user_id][0]


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UsersError(f"password must be at least {MIN_PASSWORD} characters")


def verify_password(path: Path, user_id: str, password: str) -> User | None:
    """The user when the password matches, else None (constant work whether or not the user exists)."""
    entry = load_users(path).get(user_id)
    try:
        if entry is None:
            _hasher.verify(_DUMMY_HASH, password + "x")
            return None
        _hasher.verify(entry[1], password)
        return entry[0]
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None

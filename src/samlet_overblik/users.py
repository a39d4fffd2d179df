"""The users file: who may log in, with which role and department.

A YAML file (path from ``SAMLET_USERS_FILE``, default ``<warehouse dir>/users.yaml``)::

    users:
      - id: anne
        name: Anne Jensen
        role: sagsbehandler          # sagsbehandler | compliance | dataingenioer
        department: beskaeftigelse   # required for sagsbehandler, absent otherwise
        password_hash: $argon2id$...

Passwords are stored only as argon2id hashes (argon2-cffi). The file is written atomically with mode 0600.
Authentication itself lives in ``auth`` (one replaceable module, so single sign-on can take over later);
this module only knows the users and their grants.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from . import DEPARTMENTS

ROLES = ("sagsbehandler", "compliance", "dataingenioer")
ROLE_NAMES = {"sagsbehandler": "Sagsbehandler", "compliance": "Compliance", "dataingenioer": "Dataingeniør"}
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

    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(self.role, self.role)


def users_file(warehouse: Path | None = None, env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("SAMLET_USERS_FILE"):
        return Path(env["SAMLET_USERS_FILE"])
    if warehouse is None:
        from .settings import load_settings

        warehouse = load_settings(None, env=dict(env)).warehouse
    return Path(warehouse).parent / "users.yaml"


def validate(user_id: str, name: str, role: str, department: str | None) -> None:
    if not _ID_RE.match(user_id or ""):
        raise UsersError("user id must be 2-64 characters: lower-case letters, digits, '.', '_' or '-'")
    if not (name or "").strip():
        raise UsersError("name must not be empty")
    if role not in ROLES:
        raise UsersError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
    if role == "sagsbehandler":
        if department not in DEPARTMENTS:
            raise UsersError(f"a sagsbehandler needs --department (one of: {', '.join(DEPARTMENTS)})")
    elif department is not None:
        raise UsersError(f"role {role} has no department")


def _read(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        raise UsersError(f"users file is not valid YAML: {path}") from None
    rows = doc.get("users") if isinstance(doc, dict) else None
    if rows is None:
        return []
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UsersError(f"users file must hold a list 'users' of mappings: {path}")
    return rows


def load_users(path: Path) -> dict[str, tuple[User, str]]:
    """user id -> (User, password hash). Invalid entries make the whole file invalid (fail closed)."""
    out: dict[str, tuple[User, str]] = {}
    for row in _read(path):
        uid, name, role, dept = (str(row.get("id") or ""), str(row.get("name") or ""), str(row.get("role") or ""),
                                 row.get("department"))
        try:
            validate(uid, name, role, dept)
        except UsersError as exc:
            raise UsersError(f"invalid user {uid!r} in {path.name}: {exc}") from None
        pw = str(row.get("password_hash") or "")
        if not pw.startswith("$argon2"):
            raise UsersError(f"user {uid!r} in {path.name} has no argon2 password hash")
        out[uid] = (User(uid, name, role, dept), pw)
    return out


def get_user(path: Path, user_id: str) -> User | None:
    entry = load_users(path).get(user_id)
    return entry[0] if entry else None


def add_user(path: Path, user_id: str, name: str, role: str, department: str | None, password: str) -> User:
    """Add a user (or replace one with the same id). The file is written atomically, mode 0600."""
    validate(user_id, name, role, department)
    if len(password) < MIN_PASSWORD:
        raise UsersError(f"password must be at least {MIN_PASSWORD} characters")
    rows = [r for r in _read(path) if r.get("id") != user_id]
    row = {"id": user_id, "name": name.strip(), "role": role}
    if department:
        row["department"] = department
    row["password_hash"] = _hasher.hash(password)
    rows.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".users-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yaml.safe_dump({"users": rows}, fh, allow_unicode=True, sort_keys=False)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return User(user_id, row["name"], role, department)


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

"""Authentication, in one replaceable module.

The web app asks this module three things only: *log this person in* (``authenticate`` + ``start_session``),
*who is this request* (``current_user``) and *log out* (``end_session``). Today the answer comes from the
users file (``users.py``, argon2 hashes); to sit behind the municipality's single sign-on (OIDC), replace
``PasswordAuthenticator`` by an authenticator with the same methods that maps the ID token's claims to a
``users.User`` — nothing else changes. Roles and departments always come from the server side (the users
file / the identity provider), never from the browser; the session cookie carries only the user id, the CSRF
token, the login time and the user's security stamp at login.

Sessions are revocable: every request compares the cookie's stamp with the user's current one in the users file.
Logout, a password change (``user passwd``) and re-adding a user give the user a new stamp, so every session made
before it ends at once — in every browser, including copies of the cookie; a removed user has no stamp at all.

Login attempts are rate limited per client address (in-process sliding window) and per user id: failures are
written to the access log and counted from it, so the limit holds across several ``serve`` workers.

The command line (``borger``, ``lineage``) authenticates too (``CommandLineAuthenticator``): the user's password or
the personal token ``user token`` issued them. A failed attempt is written to the access log (``denied_login``),
and that log is also the limit: five failures for a user id within five minutes refuse the next attempt, whichever
process makes it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import defaultdict, deque
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import MutableMapping

from samlet_overblik.access import audit
from samlet_overblik.access import users as usersmod
from samlet_overblik.access.users import User

SESSION_USER = "uid"
SESSION_CSRF = "csrf"
SESSION_STARTED = "t0"
SESSION_STAMP = "st"
SESSION_TENANT = "kommune"
SESSION_MAX_SECONDS = 8 * 3600


class RateLimited(Exception):
    """Too many failed logins; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after


class LoginRateLimiter:
    """At most ``limit`` failed attempts per key within ``window`` seconds (keys: user id and client address)."""

    def __init__(self, limit: int = 5, window: float = 300.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float]:
        q = self._failures[key]
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def check(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                q = self._prune(key, now)
                if len(q) >= self.limit:
                    raise RateLimited(max(1, int(q[0] + self.window - now)))

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._prune(key, now).append(now)

    def succeeded(self, user_key: str) -> None:
        with self._lock:
            self._failures.pop(user_key, None)


class PasswordAuthenticator:
    """Users and argon2 password hashes from the users file."""

    def __init__(self, users_path: Path, limiter: LoginRateLimiter | None = None, audit_url: str | None = None) -> None:
        self.users_path = Path(users_path)
        self.limiter = limiter or LoginRateLimiter()
        # Per user id across every serve worker (the access log); per client address in this process.
        self.failed = FailedLogins(audit_url) if audit_url else None

    def authenticate(self, user_id: str, password: str, client: str) -> User | None:
        """The user, or None for a wrong id/password. Raises ``RateLimited`` before checking when blocked."""
        user_id = (user_id or "").strip().lower()[:64]
        keys = (f"user:{user_id}", f"client:{client}")
        self.limiter.check(*keys)
        if self.failed is not None and user_id:
            self.failed.check(user_id)
        user = usersmod.verify_password(self.users_path, user_id, password or "") if user_id else None
        if user is None:
            self.limiter.failed(*keys)
            if self.failed is not None and user_id:
                self.failed.record(user_id, "web:login")
            return None
        self.limiter.succeeded(keys[0])
        return user

    def lookup(self, user_id: str) -> User | None:
        return usersmod.get_user(self.users_path, user_id)

    # ---- the session (a signed cookie holding the user id, the CSRF token, the login time and the security stamp)

    def start_session(self, session: MutableMapping, user: User) -> None:
        session.clear()  # a fresh session on login (no fixation)
        session[SESSION_USER] = user.id
        session[SESSION_CSRF] = secrets.token_urlsafe(32)
        session[SESSION_STARTED] = int(time.time())
        session[SESSION_STAMP] = user.security_stamp
        session[SESSION_TENANT] = user.kommune

    def current_user(self, session: MutableMapping) -> User | None:
        """The logged-in user, re-read from the users file on every request: a removed user, a changed password
        or a logout elsewhere (a new security stamp) ends this session at once."""
        uid = session.get(SESSION_USER)
        if not uid:
            return None
        if int(time.time()) - int(session.get(SESSION_STARTED, 0)) > SESSION_MAX_SECONDS:
            session.clear()
            return None
        user = self.lookup(uid)
        stamp = session.get(SESSION_STAMP)
        if user is None or not isinstance(stamp, str) or not secrets.compare_digest(stamp, user.security_stamp) \
                or session.get(SESSION_TENANT) != user.kommune:  # moved to another municipality: a new login
            session.clear()
            return None
        return user

    def end_session(self, session: MutableMapping) -> None:
        """Log out: this session and every other session of the same user (a new security stamp)."""
        user = self.current_user(session)  # only a live session may end the others (not a revoked copy)
        session.clear()
        if user is not None:
            usersmod.end_sessions(self.users_path, user.id)


def csrf_token(session: MutableMapping) -> str:
    """The session's CSRF token (created for anonymous sessions too, so the login form is protected)."""
    token = session.get(SESSION_CSRF)
    if not token:
        token = session[SESSION_CSRF] = secrets.token_urlsafe(32)
    return token


def csrf_ok(session: MutableMapping, sent: str | None) -> bool:
    token = session.get(SESSION_CSRF)
    return bool(token and sent) and secrets.compare_digest(str(token), str(sent))


class FailedLogins:
    """Failed logins, written to the access log (``denied_login``) and counted from it: a limit that holds for
    every process that serves or runs the command line, since they share the log."""

    OUTCOME = "denied_login"

    def __init__(self, audit_url: str, limit: int = 5, window: float = 300.0) -> None:
        self.audit_url, self.limit, self.window = audit_url, limit, window

    def check(self, user_id: str) -> None:
        """``RateLimited`` when ``user_id`` failed ``limit`` times within ``window`` seconds."""
        now = datetime.now(timezone.utc)
        failures = audit.failures_since(self.audit_url, user_id, self.OUTCOME, now - timedelta(seconds=self.window))
        if len(failures) >= self.limit:
            oldest = failures[-self.limit].replace(tzinfo=timezone.utc)
            raise RateLimited(max(1, int((oldest + timedelta(seconds=self.window) - now).total_seconds())))

    def record(self, user_id: str, channel: str) -> None:
        audit.log_access(self.audit_url, user_id=user_id or "-", role="ukendt", department=None, person_key=None,
                         purpose="", channel=channel, result_count=0, outcome=self.OUTCOME)


class CommandLineAuthenticator:
    """Who runs ``borger``/``lineage``/``indsigt``: the user whose password or personal token is given, or nobody."""

    def __init__(self, users_path: Path, audit_url: str, limit: int = 5, window: float = 300.0) -> None:
        self.users_path = Path(users_path)
        self.failed = FailedLogins(audit_url, limit, window)

    def authenticate(self, user_id: str, channel: str, *, password: str | None = None,
                     token: str | None = None) -> User | None:
        """The user, or None (the failure is logged). Raises ``RateLimited`` before checking when blocked."""
        user_id = (user_id or "").strip().lower()[:64]
        self.failed.check(user_id)
        if token is not None:
            user = usersmod.verify_token(self.users_path, user_id, token)
        else:
            user = usersmod.verify_password(self.users_path, user_id, password or "")
        if user is None:
            self.failed.record(user_id, channel)
        return user

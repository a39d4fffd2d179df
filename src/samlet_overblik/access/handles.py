"""Short-lived lookup handles: what lets the web app answer a lookup with post/redirect/get.

A lookup form is posted once; the server writes a handle (a random, unguessable token) that names the user, the
citizen's person key (or a name search's text), the purpose and what to show, and redirects to ``/opslag/<handle>``.
Reloading that page, or going back to it, shows the same lookup again without posting the form again and without
logging the lookup a second time; the data are read afresh every time (a withdrawn consent hides rows at once).

Handles live beside the access log (the same database: ``audit.sqlite`` or ``SAMLET_AUDIT_URL``), so several
``serve`` workers share them. A handle belongs to one user, expires after ``LIFETIME`` and never carries a CPR
number: a CPR lookup is resolved to its person key before the handle is written. Expired handles are deleted
whenever a new one is written.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from samlet_overblik.access import audit

LIFETIME = timedelta(minutes=30)
VIEWS = ("borger", "familie", "navnesoegning", "samtykkespor", "adgangslog", "adgangslog_bruger")

LOOKUP_HANDLES = audit.LOOKUP_HANDLES


@dataclass(frozen=True)
class Handle:
    handle: str
    user_id: str
    view: str
    person_key: str | None
    search_text: str | None
    purpose: str
    channel: str
    shown: bool


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def create(url: str, *, user_id: str, view: str, purpose: str, channel: str, person_key: str | None = None,
           search_text: str | None = None) -> str:
    """A new handle for ``user_id`` (``audit.AuditUnavailable`` when it cannot be stored: the lookup is refused).
    Expired handles are deleted in the same transaction."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}")
    token, now = secrets.token_urlsafe(24), _now()
    audit.write(url, sa.delete(LOOKUP_HANDLES).where(LOOKUP_HANDLES.c.expires_at < now),
                LOOKUP_HANDLES.insert().values(
                    handle=token, user_id=user_id, view=view, person_key=person_key,
                    search_text=(search_text or None) and search_text[:100], purpose=purpose, channel=channel[:20],
                    created_at=now, expires_at=now + LIFETIME),
                failure="the lookup cannot be stored")
    return token


def open_handle(url: str, token: str, user_id: str) -> Handle | None:
    """The handle if it exists, has not expired and belongs to ``user_id``; else None (the same answer for all)."""
    if not token or len(token) > 64:
        return None
    t = LOOKUP_HANDLES.c
    rows = audit.read(url, sa.select(LOOKUP_HANDLES).where(t.handle == token, t.user_id == user_id,
                                                           t.expires_at >= _now()),
                      failure="the lookup cannot be read")
    if not rows:
        return None
    r = rows[0]
    return Handle(r["handle"], r["user_id"], r["view"], r["person_key"], r["search_text"], r["purpose"], r["channel"],
                  r["shown_at"] is not None)


def shown(token: str):
    """The statement that marks the handle's lookup as shown: written in the transaction of the lookup's log row,
    so a lookup is never logged without its handle saying so (a reload would log it again), nor the reverse."""
    return (sa.update(LOOKUP_HANDLES).where(LOOKUP_HANDLES.c.handle == token, LOOKUP_HANDLES.c.shown_at.is_(None))
            .values(shown_at=_now()))


def mark_shown(url: str, token: str) -> None:
    """Mark the handle's lookup as shown, on its own (``shown`` rides with the log row where one is written)."""
    audit.write(url, shown(token), failure="the lookup cannot be stored")

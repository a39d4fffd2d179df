"""The print for a coordination meeting: one citizen's overview as the caseworker's department may see it — the
one plan, the records by department with caseworker and basis, the coordination signals — and nothing else.
It says whose view it is, when it was printed and how much is not shared; printing is logged (``printed``)."""

from __future__ import annotations

from datetime import datetime, timezone

from samlet_overblik.access.borger import Stores, log_lookup
from samlet_overblik.access.documents import Document, Section
from samlet_overblik.access.users import User
from samlet_overblik.access.views import CitizenView, Plan
from samlet_overblik.core.labels import danish_date, danish_time


def follow_up_text(plan: Plan) -> str:
    """The plan's next follow-up as a caseworker reads it: a date, marked when it has passed, or "ikke fastsat"."""
    if not plan.follow_up:
        return "ikke fastsat"
    return danish_date(plan.follow_up) + (" (overskredet)" if plan.follow_up_overdue else "")


def meeting_document(view: CitizenView, user: User) -> Document:
    now = datetime.now(timezone.utc)
    name = view.person.name if view.person else "borgeren"
    masked = view.person.cpr_masked if view.person else ""
    plans = Section(
        "Én plan", ("Afdeling", "Tovholder", "Oprettet", "Næste opfølgning", "Mål", "Grundlag"),
        [(p.department_name, p.coordinator or "ikke angivet", danish_date(p.created), follow_up_text(p),
          "; ".join(p.goals), p.basis_text) for p in view.plans],
        view.plans_not_shared_text or "Ingen plan registreret i de afdelinger, du kan se.", (30, 36, 20, 30, 104, 40))
    records = Section(
        "Indsatser og ydelser", ("Afdeling", "Indsats / ydelse", "Periode", "Status", "Paragraf", "Sagsbehandler",
                                 "Grundlag"),
        [(r.department_name, r.title, f"{danish_date(r.start, '?')} - {danish_date(r.end, 'løbende')}",
          r.status or "", r.paragraph,
          ", ".join(x for x in (r.caseworker, r.caseworker_team, r.caseworker_phone, r.caseworker_email) if x),
          r.basis_text) for r in view.part.records],
        "Ingen poster.", (30, 46, 32, 16, 26, 56, 36))
    meetings = Section(
        "Næste møder", ("Dato", "Møde", "Afdeling", "Sagsbehandler"),
        [(danish_date(m.date), m.title, m.department_name, m.caseworker) for m in view.next_meetings],
        "Ingen planlagte møder i de afdelinger, du kan se.", (25, 80, 60, 60))
    signals = Section(
        "Koordineringssignaler", ("Dato", "Signal", "Afdelinger", "Detalje"),
        [(danish_date(s.signal_date), s.title, ", ".join(s.departments), s.detail or "") for s in view.signals],
        "Ingen signaler.", (20, 60, 50, 140))
    hidden = view.part.not_shared_text + (". " if view.part.not_shared else " ")
    return Document(
        f"Til koordineringsmøde: {name} ({masked})",
        f"Set fra {view.department_name}. Udskrevet {danish_time(now)} af {user.name}. Udskriften indeholder kun det, "
        f"{view.department_name} må se. {hidden}Data pr. {danish_time(view.data.published, 'ukendt')}.",
        now, (meetings, plans, records, signals))


def log_printed(stores: Stores, user: User, view: CitizenView, purpose: str, channel: str) -> None:
    """Printing is a disclosure of its own: logged before the print is returned (no log, no print)."""
    log_lookup(stores, user, view.person.person_key if view.person else None, purpose, channel,
               len(view.part.records), "printed")

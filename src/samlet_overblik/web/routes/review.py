"""The data steward's surface: the queue of uncertain record pairs, one pair with its evidence, and the decision.
What is shown and stored, and that it is logged first, is decided in ``access.review``; this module only renders it.
Keyboard first: the reason field has focus, and the buttons have access keys (Alt+M same person, Alt+N different
people, Alt+S skip)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from samlet_overblik.access import borger, review
from samlet_overblik.web.context import sentence, web

router = APIRouter()
CHANNEL = "web:identitet"
_SKIPPED = "skipped_pairs"  # pair ids skipped in this session: they go to the end of the queue


def _skipped(request: Request) -> frozenset[str]:
    return frozenset(request.session.get(_SKIPPED, []))


async def _form(request: Request):
    ctx = web(request)
    user, form, purpose = await ctx.lookup_form(
        request, review.STEWARD_ROLE, lambda _user, _form: _queue_page(request, 400, fejl="Vælg formålet fra listen."))
    return ctx, user, form, purpose


def _queue_page(request: Request, status: int = 200, **extra) -> HTMLResponse:
    ctx = web(request)
    return ctx.page(request, "identitet.html", status, **extra)


@router.get("/identitet", response_class=HTMLResponse)
async def start(request: Request):
    web(request).require(request, review.STEWARD_ROLE)
    return _queue_page(request)


@router.post("/identitet", response_class=HTMLResponse)
async def show_queue(request: Request):
    ctx, user, _, purpose = await _form(request)
    items = review.queue(ctx.stores(user), user, purpose=purpose.logged, channel=CHANNEL, skipped=_skipped(request))
    return _queue_page(request, items=items, vist=True, formaal=purpose.chosen, note=purpose.note)


@router.post("/identitet/par", response_class=HTMLResponse)
async def show_pair(request: Request):
    ctx, user, form, purpose = await _form(request)
    try:
        item = review.pair(ctx.stores(user), user, form.get("par", ""), purpose=purpose.logged, channel=CHANNEL)
    except borger.BadLookup as exc:
        return _queue_page(request, 404, fejl=sentence(str(exc)) + ".", formaal=purpose.chosen, note=purpose.note)
    return ctx.page(request, "identitet_par.html", p=item, formaal=purpose.chosen, note=purpose.note)


@router.post("/identitet/afgoer", response_class=HTMLResponse)
async def decide(request: Request):
    ctx, user, form, purpose = await _form(request)
    pair_id, decision = form.get("par", ""), form.get("afgoerelse", "")
    try:
        review.decide(ctx.stores(user), user, pair_id, decision, form.get("begrundelse", ""), purpose=purpose.logged,
                      channel=CHANNEL)
    except borger.BadLookup as exc:
        try:
            item = review.pair(ctx.stores(user), user, pair_id, purpose=purpose.logged, channel=CHANNEL)
        except borger.BadLookup:
            return _queue_page(request, 404, fejl=sentence(str(exc)) + ".", formaal=purpose.chosen, note=purpose.note)
        return ctx.page(request, "identitet_par.html", 400, p=item, fejl=sentence(str(exc)) + ".",
                        formaal=purpose.chosen, note=purpose.note)
    if decision == "skip":
        request.session[_SKIPPED] = sorted(_skipped(request) | {pair_id})[-500:]
    items = review.queue(ctx.stores(user), user, purpose=purpose.logged, channel=CHANNEL, skipped=_skipped(request))
    done = {"match": "Gemt: samme person.", "no_match": "Gemt: forskellige personer.", "skip": "Sprunget over."}
    return _queue_page(request, items=items, vist=True, formaal=purpose.chosen, note=purpose.note,
                       besked=done[decision] + " Afgørelsen gælder fra næste kørsel.")


@router.get("/identitet/par")
async def no_pair_by_url(request: Request):
    """A pair is opened with a form (its id never travels in a URL); a typed address goes back to the queue."""
    web(request).require(request, review.STEWARD_ROLE)
    return RedirectResponse("/identitet", status_code=303)

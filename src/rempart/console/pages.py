"""The pages, in French: login, group board, incident with its plan, journal. Each handler is thin: who
is calling (``sessions``), may they (``identities.authorize``), then the stage's service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from rempart.board.states import group_board
from rempart.console import sessions
from rempart.console.context import ConsoleContext, context_of
from rempart.console.messages import french
from rempart.console.params import Number
from rempart.console.rendering import page
from rempart.console.sessions import Caller, Who
from rempart.console.views import incident_view
from rempart.detect.incidents import get_incident
from rempart.domain.actors import Actor
from rempart.errors import StateError
from rempart.identities import service as identities
from rempart.identities.authorize import check_group_wide, check_incident, check_writes
from rempart.respond import service as respond
from rempart.store import journal
from rempart.store.models.respond import PlanRunRow

router = APIRouter(include_in_schema=False)



def _set_cookie(response: Response, token: str) -> None:
    response.set_cookie(sessions.COOKIE, token, secure=True, httponly=True, samesite="strict", path="/")


@router.get("/connexion", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return page(request, "login.html.j2")


@router.post("/connexion", response_class=HTMLResponse)
def login(
    request: Request,
    account: Annotated[str, Form()],
    password: Annotated[str, Form()],
    code: Annotated[str, Form()] = "",
) -> Response:
    ctx = context_of(request)
    if not sessions.same_origin(request):
        return page(request, "login.html.j2", 403,
                    message="Connexion refusée : formulaire venu d'un autre site.")
    try:
        source = sessions.client_source(request)
        done = identities.login(ctx.store, account.strip(), password, code.strip(), source)
    except StateError as exc:
        return page(request, "login.html.j2", 401, message=french(exc.message), account=account)
    old = request.cookies.get(sessions.COOKIE)
    if old:  # a session planted before login is never kept: the login always opens a new one
        identities.logout(ctx.store, old)
    response = RedirectResponse("/", status_code=303)
    _set_cookie(response, done.token)
    return response


@router.post("/deconnexion")
def logout(request: Request, me: Who) -> Response:
    identities.logout(context_of(request).store, me.token)
    response = RedirectResponse("/connexion", status_code=303)
    response.delete_cookie(sessions.COOKIE, secure=True, httponly=True, samesite="strict", path="/")
    return response


@router.get("/", response_class=HTMLResponse)
def board(request: Request, me: Who) -> Response:
    ctx = context_of(request)
    b = group_board(ctx.store, ctx.group, me.actor)
    return page(request, "board.html.j2", me=me, board=b, refresh=request.app.state.refresh)


@router.get("/fragments/tableau", response_class=HTMLResponse)
def board_fragment(request: Request, me: Who) -> Response:
    ctx = context_of(request)
    b = group_board(ctx.store, ctx.group, me.actor)
    return page(request, "_board.html.j2", me=me, board=b, refresh=request.app.state.refresh)


def _incident_page(request: Request, me: Caller, ref: str, status: int = 200, message: str = "",
                   kind: str = "error") -> Response:
    ctx = context_of(request)
    v = incident_view(ctx, me.actor, ref)
    names = {e.id: e.name for e in ctx.group.establishments}
    est_name = names.get(v.establishment or "", "hors inventaire")
    return page(request, "incident.html.j2", status, me=me, v=v, est_name=est_name, message=message,
                message_kind=kind)


@router.get("/incidents/{ref}", response_class=HTMLResponse)
def incident(request: Request, ref: str, me: Who, fait: str = "", sig: str = "") -> Response:
    return _incident_page(request, me, ref, message=sessions.notice(me, fait, sig), kind="ok")


def _run_of(ctx: ConsoleContext, me: Caller, ref: str, run_id: int) -> None:
    """Refuse a run that is not the incident's, or an incident outside the caller's scope."""
    with ctx.store.session() as s:
        inc = get_incident(s, ref)
        check_incident(me.actor, inc.ref, inc.establishment)
        run = s.get(PlanRunRow, run_id)
        if run is None or run.incident_id != inc.id:
            raise StateError(f"plan run {run_id} is not a run of {inc.ref}")
    check_writes(me.actor)


def _decided(me: Caller, ref: str, run_id: int, seq: int, done: str) -> Response:
    query = sessions.notice_query(me, done)
    return RedirectResponse(f"/incidents/{ref}?{query}#etape-{run_id}-{seq}", status_code=303)


def _decide(request: Request, me: Caller, ref: str, run_id: int, seq: int, done: str,
            call: Callable[[ConsoleContext, Actor], object], code: str = "") -> Response:
    """Check the caller may act on this run, make the decision, then show the incident again: the new
    state with the console's notice, or the refusal in French (nothing changed)."""
    ctx = context_of(request)
    _run_of(ctx, me, ref, run_id)
    try:
        actor = identities.reauth(ctx.store, me.token, code.strip()) if code.strip() else me.actor
        call(ctx, actor)
    except StateError as exc:
        return _incident_page(request, me, ref, 403, french(exc.message))
    return _decided(me, ref, run_id, seq, done)


@router.post("/incidents/{ref}/plans/{run_id}/etapes/{seq}/approuver")
def approve(request: Request, ref: str, run_id: Number, seq: Number, me: Who,
            code: Annotated[str, Form()] = "") -> Response:
    """``code``: the fresh second factor an approval needs, given with the approval itself."""
    return _decide(request, me, ref, run_id, seq, f"Étape {seq} approuvée.",
                   lambda ctx, actor: respond.approve(ctx.store, run_id, seq, actor,
                                                      ctx.run_adapters(run_id)),
                   code)


@router.post("/incidents/{ref}/plans/{run_id}/etapes/{seq}/refuser")
def reject(request: Request, ref: str, run_id: Number, seq: Number, me: Who,
           reason: Annotated[str, Form()] = "") -> Response:
    return _decide(request, me, ref, run_id, seq, f"Étape {seq} refusée.",
                   lambda ctx, actor: respond.reject(ctx.store, run_id, seq, actor, reason,
                                                     ctx.run_adapters(run_id)))


@router.post("/incidents/{ref}/plans/{run_id}/etapes/{seq}/acquitter")
def ack(request: Request, ref: str, run_id: Number, seq: Number, me: Who,
        comment: Annotated[str, Form()] = "") -> Response:
    return _decide(request, me, ref, run_id, seq, f"Étape {seq} confirmée.",
                   lambda ctx, actor: respond.ack(ctx.store, run_id, seq, actor, comment,
                                                  ctx.run_adapters(run_id)))


@router.get("/journal", response_class=HTMLResponse)
def journal_page(request: Request, me: Who, limit: int = 200) -> Response:
    check_group_wide(me.actor, "the journal")
    with context_of(request).store.session() as s:
        report = journal.check(s)
        rows = journal.entries(s)[-max(1, min(limit, 5000)):][::-1]
    return page(request, "journal.html.j2", me=me, report=report, rows=rows)

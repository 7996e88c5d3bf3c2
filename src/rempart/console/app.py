"""The console's ASGI application: pages, /api, static files, and how refusals are answered."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from rempart.console import api, continuity_pages, pages
from rempart.console.context import ConsoleContext
from rempart.console.messages import french
from rempart.console.rendering import page, templates
from rempart.console.sessions import CsrfRefused, NotLoggedIn
from rempart.errors import InputError, StateError

STATIC = Path(pages.__file__).parent / "static"

# patient data and approval forms: no framing, no third-party script or style, nothing cached
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on the login form
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api")


def _refused(request: Request, status: int, english: str, french_text: str) -> Response:
    if _is_api(request):
        headers = {"www-authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": english}, status_code=status, headers=headers)
    return page(request, "error.html.j2", status, heading="Refusé", message=french_text)


def create_app(ctx: ConsoleContext, *, refresh_seconds: int = 5) -> FastAPI:
    app = FastAPI(
        title="rempart console API",
        description="The crisis console's actions for automation: the same accounts, scopes and services "
        "as the pages. Authenticate with `Authorization: Bearer <personal API token>`.",
        version="1",
        openapi_url="/api/openapi.json",
        docs_url=None,  # Swagger UI would load scripts from a CDN: a cut-off clinic has none
        redoc_url=None,
    )
    app.state.console = ctx
    app.state.templates = templates(ctx.group.timezone)
    app.state.refresh = refresh_seconds
    app.include_router(pages.router)
    app.include_router(continuity_pages.router)
    app.include_router(api.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            if k == "cache-control" and request.url.path.startswith("/static"):
                continue
            response.headers.setdefault(k, v)
        return response

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, exc: NotLoggedIn) -> Response:
        if _is_api(request):
            return _refused(request, 401, exc.reason, "")
        if request.headers.get("hx-request"):  # an HTMX refresh: send the whole page to the login form
            return Response(status_code=200, headers={"hx-redirect": "/connexion"})
        return RedirectResponse("/connexion", status_code=303)

    @app.exception_handler(CsrfRefused)
    async def csrf(request: Request, exc: CsrfRefused) -> Response:
        return _refused(request, 403, "missing or wrong CSRF token: reload the page",
                        "Requête refusée : jeton anti-falsification absent ou invalide. Rechargez la page.")

    @app.exception_handler(StateError)
    async def refused(request: Request, exc: StateError) -> Response:
        return _refused(request, 403, str(exc), french(exc.message))

    @app.exception_handler(InputError)
    async def not_found(request: Request, exc: InputError) -> Response:
        return _refused(request, 404, str(exc), "Introuvable : " + exc.message)

    @app.exception_handler(LookupError)
    async def no_such(request: Request, exc: LookupError) -> Response:
        return _refused(request, 404, str(exc), f"Introuvable : {exc}")

    return app

"""Who is calling: the session cookie of a logged-in person, or a personal API token.

The session secret lives only in a ``__Host-`` cookie (Secure, HttpOnly, SameSite=Strict, path /: no
sub-domain or script can read or plant it); the server keeps the session (identities), so logging out or
disabling an account ends it everywhere. Forms and HTMX requests made with the cookie carry a CSRF token
derived from the session secret; calls with an ``Authorization: Bearer`` token carry no ambient authority
and need none.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Request

from rempart.domain.actors import Actor
from rempart.errors import StateError
from rempart.identities import service as identities

COOKIE = "__Host-rempart-session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class NotLoggedIn(Exception):
    """No valid session or token: pages go to the login form, the API answers 401."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfRefused(Exception):
    """A cookie-authenticated change without the page's CSRF token: answered 403, nothing done."""


@dataclass(frozen=True)
class Caller:
    actor: Actor
    token: str  # the session or API token presented (to re-authenticate or log out)
    by_cookie: bool

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)


def csrf_token(session_token: str) -> str:
    """Bound to the session: a page of another session (or a forged form) cannot give it."""
    return hmac.new(session_token.encode(), b"rempart-console-csrf", hashlib.sha256).hexdigest()


def notice_query(caller: Caller, text: str) -> str:
    """``?fait=…&sig=…``: the message of a redirect after a change, signed for this session so that a link
    crafted elsewhere cannot put words on the console's page."""
    return urlencode({"fait": text, "sig": _notice_sig(caller.token, text)})


def notice(caller: Caller, text: str, sig: str) -> str:
    """The redirect's message if this session signed it, else nothing."""
    return text if text and hmac.compare_digest(sig, _notice_sig(caller.token, text)) else ""


def _notice_sig(token: str, text: str) -> str:
    return hmac.new(token.encode(), b"notice:" + text.encode(), hashlib.sha256).hexdigest()[:32]


def same_origin(request: Request) -> bool:
    """Whether a form came from the console's own pages. The login form has no session to bind a CSRF
    token to: a browser's Origin header (sent with every cross-site POST) must name this console."""
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


def client_source(request: Request) -> str:
    host = request.client.host if request.client else "?"
    return f"console:{host}"


def presented_token(request: Request) -> tuple[str | None, bool]:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None, False
    return request.cookies.get(COOKIE), True


async def check_csrf(request: Request, token: str) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if sent is None or not hmac.compare_digest(sent, csrf_token(token)):
        raise CsrfRefused()


async def caller(request: Request) -> Caller:
    """The authenticated caller of ``request``; changes made with the cookie must carry the CSRF token."""
    token, by_cookie = presented_token(request)
    if token is None:
        raise NotLoggedIn("not logged in")
    try:
        actor = identities.resolve(request.app.state.console.store, token)
    except StateError as exc:
        raise NotLoggedIn(exc.message) from None
    if by_cookie and request.method in UNSAFE:
        await check_csrf(request, token)
    found = Caller(actor, token, by_cookie)
    request.state.caller = found  # a refusal page still shows who is logged in, and the way back
    return found


# what a handler declares to get its authenticated caller
Who = Annotated[Caller, Depends(caller)]

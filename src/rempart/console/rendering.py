"""The console's templates and the French filters they use (times in the group's zone)."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from rempart.console.messages import ROLE_FR, needs_french

TEMPLATES = Path(__file__).parent / "templates"

SEVERITY = {"critical": "critique", "high": "élevée", "medium": "moyenne", "low": "faible",
            "informational": "information"}
STATUS = {
    "planned": "prévue", "awaiting_approval": "en attente d'approbation", "applying": "en cours",
    "awaiting_ack": "à confirmer (manuelle)", "applied": "appliquée", "verified": "appliquée et vérifiée",
    "failed": "en échec", "rejected": "refusée", "rolling_back": "annulation en cours",
    "rolled_back": "annulée",
}


def _slug(text: object) -> str:
    plain = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return "-".join(plain.lower().split())


def _left(value: timedelta | None) -> str:
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    sign, minutes = ("dépassée de ", -minutes) if minutes < 0 else ("", minutes)
    return f"{sign}{minutes // 60} h {minutes % 60:02d}"


def templates(zone: str) -> Jinja2Templates:
    t = Jinja2Templates(directory=str(TEMPLATES))
    tz = ZoneInfo(zone)

    def local(value: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
        return value.astimezone(tz).strftime(fmt) if value else "—"

    t.env.filters.update(
        local=local, slug=_slug, left=_left,
        severity=lambda v: SEVERITY.get(str(v), str(v)),
        status=lambda v: STATUS.get(str(v), str(v)),
        role=lambda v: ROLE_FR.get(str(v), str(v)),
        needs=needs_french,
    )
    return t


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    state = request.app.state
    context.setdefault("me", getattr(request.state, "caller", None))
    context.setdefault("group_name", state.console.group.name)
    response: HTMLResponse = state.templates.TemplateResponse(request, name, context, status_code=status_code)
    return response

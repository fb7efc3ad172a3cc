"""The web portal's route table and its HTML error pages (never a stack trace); the pieces
every page uses are in pages.py."""
from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from services.gateway.entrypoints import keys, member_auth, member_portal, quick_pay
from services.gateway.entrypoints import web as w
from services.gateway.entrypoints.pages import jinja_env, render, throttled_message
from shared.http import ApiError

log = logging.getLogger(__name__)


@web.middleware
async def html_errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Portal pages answer errors as a page in plain words; the API keeps JSON errors."""
    if request.path.startswith(("/api/", "/healthz", "/readyz", "/metrics", "/static/", "/captcha/")):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            return render(request, "error.html", status=404, message_key="error.not_found",
                          title_key="error.not_found_title")
        return render(request, "error.html", status=exc.status, message_key="error.generic")
    except ApiError as exc:
        key = {403: "error.forbidden", 429: "error.throttled", 503: "error.unavailable",
               401: "error.login_again"}.get(exc.status, "error.generic")
        if exc.code == "csrf_failed":
            key = "error.csrf"
        if exc.status == 429:
            key = throttled_message(request, exc)   # already words: when to try again
        return render(request, "error.html", status=exc.status, message_key=key)
    except Exception:  # noqa: BLE001 - logged with its trace, shown without it
        log.exception("portal page failed", extra={"path": request.path})
        return render(request, "error.html", status=500, message_key="error.generic")


async def home(request: web.Request) -> web.Response:
    await w.current_member(request)
    return render(request, "home.html", logged_out=request.query.get("logged_out") == "1")


def install(app: web.Application) -> None:
    app[keys.JINJA] = jinja_env()
    app.router.add_get("/", home)
    quick_pay.install(app)
    member_auth.install(app)
    member_portal.install(app)

"""What every portal page uses: rendering (Jinja2, English/Spanish) with its filters for
dates and money, the language switch, redirects and posted forms with their CSRF check.
The page modules (quick_pay, member_auth, member_portal) import it; none imports another's
routes, and portal.py puts them together."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from services.gateway.entrypoints import keys
from services.gateway.entrypoints import web as w
from services.gateway.translations import LANGUAGES, translate
from shared.calendar import NEW_YORK, business_now
from shared.http import ApiError
from shared.money import InvalidAmount, format_dollars, parse_amount

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LANG_COOKIE = "gw_lang"


MONTHS = {"en": ("January", "February", "March", "April", "May", "June", "July", "August",
                  "September", "October", "November", "December"),
          "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
                 "septiembre", "octubre", "noviembre", "diciembre")}


def long_date(value: object, lang: str = "en") -> str:
    """'2030-12-23' -> 'December 23, 2030' / '23 de diciembre de 2030'; other text unchanged."""
    text = str(value or "")
    try:
        year, month, day = int(text[:4]), int(text[5:7]), int(text[8:10])
        name = MONTHS.get(lang, MONTHS["en"])[month - 1]
    except (ValueError, IndexError):
        return text
    return f"{day} de {name} de {year}" if lang == "es" else f"{name} {day}, {year}"


def long_datetime(value: object, lang: str = "en") -> str:
    """An instant in New York time, once, with "ET": 'December 1, 2026 at 3:05 PM ET' /
    '1 de diciembre de 2026 a las 15:05 ET'; other text unchanged."""
    try:
        moment = datetime.fromisoformat(str(value or ""))
    except ValueError:
        return str(value or "")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    local = moment.astimezone(NEW_YORK)
    day = long_date(local.date().isoformat(), lang)
    if lang == "es":
        return f"{day} a las {local:%H:%M} ET"
    return f"{day} at {local.hour % 12 or 12}:{local:%M} {'AM' if local.hour < 12 else 'PM'} ET"
def dollars(value: object) -> str:
    """'1000.00' -> '$1,000.00'; nothing known -> '—'."""
    try:
        return format_dollars(parse_amount(str(value)))
    except InvalidAmount:
        return "—"


def month_name(value: object, lang: str = "en") -> str:
    """'2027-01' -> 'January 2027' / 'enero de 2027'; other text unchanged."""
    text = str(value or "")
    try:
        year, month = int(text[:4]), int(text[5:7])
        name = MONTHS.get(lang, MONTHS["en"])[month - 1]
    except (ValueError, IndexError):
        return text
    if len(text) != 7 or text[4] != "-" or month < 1:
        return text
    return f"{name} de {year}" if lang == "es" else f"{name} {year}"


def clock_time(moment: datetime, lang: str = "en") -> str:
    """A moment as members read it, in Eastern time: '8:05 PM ET' / '8:05 p. m. ET'."""
    local = moment.astimezone(NEW_YORK)
    hour = local.hour % 12 or 12
    if lang == "es":
        half = "a. m." if local.hour < 12 else "p. m."
    else:
        half = "AM" if local.hour < 12 else "PM"
    return f"{hour}:{local.minute:02d} {half} ET"


def throttled_message(request: web.Request, exc: ApiError) -> str:
    """'Too many tries' with when to try again: in how many minutes, and at what time ET."""
    lang = language(request)
    try:
        wait_s = max(1, int(exc.extra.get("retry_after_s") or 60))
    except (TypeError, ValueError):
        wait_s = 60
    minutes = -(-wait_s // 60)
    at = business_now() + timedelta(seconds=wait_s)
    key = "qp.throttled_one_minute" if minutes == 1 else "qp.throttled_minutes"
    return translate(lang, key, minutes=minutes, time=clock_time(at, lang))


def jinja_env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html"]),
                             undefined=jinja2.ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["fid"] = lambda name: str(name).replace(".", "-").replace("_", "-")
    env.filters["long_date"] = long_date
    env.filters["long_datetime"] = long_datetime
    env.filters["dollars"] = dollars
    env.filters["month_name"] = month_name
    return env


def language(request: web.Request) -> str:
    """?lang= (remembered in a cookie), else the cookie, else the browser's first choice."""
    lang = request.query.get("lang") or w.get_cookie(request, LANG_COOKIE)
    if lang is None:
        first = request.headers.get("Accept-Language", "").split(",")[0].strip().lower()
        lang = "es" if first.startswith("es") else "en"
    return lang if lang in LANGUAGES else "en"


def render(request: web.Request, template: str, status: int = 200, **ctx: Any) -> web.Response:
    lang = language(request)
    settings = request.app[keys.SETTINGS]
    html = request.app[keys.JINJA].get_template(template).render(
        t=partial(translate, lang), lang=lang, other_lang="es" if lang == "en" else "en",
        csrf=w.csrf_token(request), member=request.get(keys.MEMBER), program=settings.program_name,
        help_phone=settings.help_phone, path=request.path, errors=ctx.pop("errors", {}),
        values=ctx.pop("values", {}), **ctx)
    response = web.Response(text=html, content_type="text/html", status=status)
    if request.query.get("lang") in LANGUAGES:
        w.set_cookie(request, response, LANG_COOKIE, request.query["lang"], max_age=365 * 86400)
    return w.finish_cookies(request, response)


def redirect(request: web.Request, location: str) -> web.Response:
    return w.finish_cookies(request, web.Response(status=303, headers={"Location": location}))


async def form(request: web.Request) -> dict[str, str]:
    """The posted form, after its CSRF token is checked."""
    data = await request.post()
    w.check_csrf(request, data.get("csrf_token"))
    return {k: v for k, v in data.items() if isinstance(v, str)}

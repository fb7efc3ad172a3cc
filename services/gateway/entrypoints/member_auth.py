"""The member portal's front door: register, log in and out, forgotten
password and username, and when to try again after too many wrong passwords."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import unquote, urlsplit

from aiohttp import web
from pydantic import ValidationError

from services.gateway import schemas as s
from services.gateway.entrypoints import forms, keys
from services.gateway.entrypoints import web as w
from services.gateway.entrypoints.errors import REFUSALS, as_api_error
from services.gateway.entrypoints.pages import form, language, redirect, render, throttled_message
from shared.calendar import business_now


# -- register, log in, log out, forgotten details ------------------------------------------
async def register_page(request: web.Request) -> web.Response:
    return render(request, "member/register.html", values={"language": "en"})


async def post_register(request: web.Request) -> web.Response:
    f = await form(request)
    body = {**forms.lookup_body(f), "username": f.get("username", ""), "email": f.get("email", ""),
            "password": f.get("password", ""), "phone": f.get("phone") or None,
            "language": f.get("language", "en")}
    errors: dict[str, str] = {}
    try:
        req = s.MemberRequest.model_validate(body)
    except ValidationError as exc:
        errors = forms.lookup_errors(exc, f)
        req = None
    if f.get("password") != f.get("password_confirmation"):
        errors.setdefault("password_confirmation", "err.password_mismatch")
    if errors or req is None:
        return render(request, "member/register.html", status=422, values=forms.kept(f), errors=errors)
    try:
        await request.app[keys.DEPS].use_cases.register(req, w.client_ip(request))
    except REFUSALS as caught:
        exc = as_api_error(caught)
        key = {404: "reg.not_found", 409: "reg.taken" if exc.code == "username_taken" else "reg.already",
               429: "qp.throttled", 503: "error.unavailable"}.get(exc.status)
        errors = {"_form": key} if key else forms.api_errors(exc, language(request))
        if exc.status == 429:
            errors = {"_form": throttled_message(request, exc)}
        if exc.code == "username_taken":
            errors["username"] = "reg.taken"
        if exc.status == 409 and exc.code == "not_yet_payable":
            errors = {"_form": "qp.not_yet_payable"}
        return render(request, "member/register.html", status=exc.status, values=forms.kept(f), errors=errors)
    return redirect(request, "/login?registered=1")


def same_site_path(target: object) -> str | None:
    """`target` if it is a path on this site, else None. Browsers read `/\\host`, `/<TAB>/host`
    (tabs and newlines are dropped) and `//host` as another site, so a target with a
    backslash, a control character or white space, a scheme or a host, in its text or once
    percent-decoded, is refused."""
    if not isinstance(target, str) or not target.startswith("/") or len(target) > 2000:
        return None
    text, seen = target, []
    for _ in range(3):  # the text as sent and as decoded (twice, for a double encoding)
        seen.append(text)
        text = unquote(text)
    for candidate in seen:
        if "\\" in candidate or any(ord(c) < 33 or ord(c) == 127 for c in candidate) \
                or not candidate.startswith("/") or candidate.startswith("//"):
            return None
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return None
    return target


async def login_page(request: web.Request) -> web.Response:
    return render(request, "member/login.html", registered=request.query.get("registered"),
                  reset=request.query.get("reset"),
                  values={"next": same_site_path(request.query.get("next", "")) or ""})


async def post_login(request: web.Request) -> web.Response:
    f = await form(request)
    values = forms.kept(f)
    if not f.get("username") or not f.get("password"):
        errors = {k: "err.required" for k in ("username", "password") if not f.get(k)}
        return render(request, "member/login.html", status=422, values=values, errors=errors)
    try:
        session_id, _ = await request.app[keys.DEPS].use_cases.login(f["username"], f["password"], w.client_ip(request))
    except REFUSALS as caught:
        exc = as_api_error(caught)
        retry_at = None
        if exc.status == 429:
            seconds = exc.extra.get("retry_after_s")
            wait = seconds if isinstance(seconds, int) and 0 < seconds <= 86400 else 60
            retry_at = (business_now() + timedelta(seconds=wait)).strftime("%I:%M %p ET").lstrip("0")
        key = {401: "login.invalid", 429: "login.throttled",
               503: "error.unavailable"}.get(exc.status, "error.generic")
        return render(request, "member/login.html", status=exc.status, values=values,
                      errors={"_form": key}, retry_at=retry_at)
    response = redirect(request, same_site_path(f.get("next", "")) or "/dashboard")
    w.set_cookie(request, response, w.SESSION_COOKIE, session_id)
    return response


async def post_logout(request: web.Request) -> web.Response:
    await form(request)
    sid = w.get_cookie(request, w.SESSION_COOKIE)
    if sid:
        await request.app[keys.DEPS].use_cases.logout(sid)
    response = redirect(request, "/?logged_out=1")
    w.del_cookie(request, response, w.SESSION_COOKIE)
    return response


async def forgot_page(request: web.Request) -> web.Response:
    kind = "username" if request.path.endswith("username") else "password"
    return render(request, "member/forgot.html", kind=kind)


async def post_forgot(request: web.Request) -> web.Response:
    kind = "username" if request.path.endswith("username") else "password"
    f = await form(request)
    use_cases = request.app[keys.DEPS].use_cases
    if kind == "username":
        try:
            email = s.rules.check_email(f.get("email", ""))
        except ValueError as exc:
            return render(request, "member/forgot.html", status=422, kind=kind, values=forms.kept(f),
                          errors={"email": str(exc)})
        await use_cases.username_reminder(email)
    else:
        if not (f.get("username") or f.get("email")):
            return render(request, "member/forgot.html", status=422, kind=kind, values=forms.kept(f),
                          errors={"username": "err.username_or_email"})
        await use_cases.password_reset(f.get("username") or None, f.get("email") or None)
    return render(request, "member/forgot.html", kind=kind, sent=True)


async def reset_page(request: web.Request) -> web.Response:
    """The new-password form, or (before any typing) why the link no longer works."""
    token = request.query.get("token", "")
    state = await request.app[keys.DEPS].use_cases.reset_link_state(token) if token else "unknown"
    return render(request, "member/reset.html", values={"token": token}, link_state=state)


async def post_reset(request: web.Request) -> web.Response:
    f = await form(request)
    values = {"token": f.get("token", "")}
    if len(f.get("new_password", "")) < 12:
        return render(request, "member/reset.html", status=422, values=values,
                      errors={"new_password": "err.password_short"})
    if f.get("new_password") != f.get("password_confirmation"):
        return render(request, "member/reset.html", status=422, values=values,
                      errors={"password_confirmation": "err.password_mismatch"})
    try:
        await request.app[keys.DEPS].use_cases.confirm_reset(f.get("token", ""), f["new_password"],
                                                     w.get_cookie(request, w.SESSION_COOKIE))
    except REFUSALS as caught:
        exc = as_api_error(caught)
        key = "reset.invalid" if exc.status == 400 else None
        errors = {"_form": key} if key else forms.api_errors(exc, language(request))
        return render(request, "member/reset.html", status=exc.status, values=values, errors=errors)
    return redirect(request, "/login?reset=1")


def install(app: web.Application) -> None:
    r = app.router
    r.add_get("/register", register_page)
    r.add_post("/register", post_register)
    r.add_get("/login", login_page)
    r.add_post("/login", post_login)
    r.add_post("/logout", post_logout)
    r.add_get("/forgot-password", forgot_page)
    r.add_post("/forgot-password", post_forgot)
    r.add_get("/forgot-username", forgot_page)
    r.add_post("/forgot-username", post_forgot)
    r.add_get("/reset-password", reset_page)
    r.add_post("/reset-password", post_reset)

"""The logged-in member portal: the dashboard (every plan, both years in open enrollment,
with each account's standing and coverage clock), history and statements, payments,
autopay (its terms before it is set up, a confirmation before it is cancelled), hardship
payment plans, payment methods, contact details and notification preferences."""
from __future__ import annotations

import re
import secrets
from functools import partial
from typing import Any
from urllib.parse import quote

from aiohttp import web
from pydantic import ValidationError

from services.gateway import schemas as s
from services.gateway.domain import tokens
from services.gateway.entrypoints import forms, keys, quick_pay, statements
from services.gateway.entrypoints import web as w
from services.gateway.entrypoints.errors import REFUSALS, as_api_error
from services.gateway.entrypoints.pages import form, language, redirect, render
from services.gateway.translations import translate
from shared.calendar import business_today
from shared.money import format_cents, format_dollars, parse_amount


def member_language(request: web.Request, contact: dict[str, Any]) -> str:
    """The language the member's messages are written in: their profile's, else the portal's."""
    chosen = contact.get("language")
    return chosen if chosen in ("en", "es") else language(request)


async def need_member(request: web.Request) -> dict[str, Any]:
    member = await w.current_member(request)
    if member is None:
        raise web.HTTPSeeOther(f"/login?next={quote(request.path, safe='/')}")
    return member


async def own_account(request: web.Request) -> tuple[dict[str, Any], str]:
    member = await need_member(request)
    ban = request.match_info["ban"]
    w.require_owner(member, ban)
    return member, ban


# -- logged in -------------------------------------------------------------------------------
async def dashboard(request: web.Request) -> web.Response:
    member = await need_member(request)
    me = await request.app[keys.DEPS].use_cases.me(member["member_id"])
    bans = [a["billing_account_number"] for a in me["accounts"]]
    if bans != member["data"].get("accounts"):
        member["data"]["accounts"] = bans
        await request.app[keys.DEPS].store.update_session_data(
            tokens.hash_session_id(w.get_cookie(request, w.SESSION_COOKIE)), member["data"])
    return render(request, "member/dashboard.html", me=me)


async def history(request: web.Request) -> web.Response:
    _, ban = await own_account(request)
    use_cases = request.app[keys.DEPS].use_cases
    payments = await use_cases.payment_history(ban)
    invoices = await use_cases.invoices(ban)
    # A statement covers a calendar month of activity: this month and every billing month.
    months = sorted({(i.get("due_date") or "")[:7] for i in invoices["invoices"] if i.get("due_date")}
                    | {business_today().isoformat()[:7]}, reverse=True)
    return render(request, "member/history.html", ban=ban, payments=payments["payments"],
                  invoices=invoices["invoices"], months=months,
                  notices=payments["notices"] + invoices["notices"])


async def statement(request: web.Request) -> web.Response:
    """The month's statement: a printable page with the exchange's header and a way back, or
    (?format=pdf) the same on US Letter. A month that is not a calendar month is a 404 page."""
    _, ban = await own_account(request)
    month = request.match_info["month"]
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}", month) or not 1 <= int(month[5:]) <= 12 \
            or int(month[:4]) < 2000:
        raise web.HTTPNotFound()
    try:
        data = await request.app[keys.DEPS].use_cases.statement(ban, month)
    except REFUSALS as caught:
        exc = as_api_error(caught)
        if exc.status in (404, 422):
            raise web.HTTPNotFound() from None
        raise
    lang = language(request)
    t = partial(translate, lang)
    view = statements.build(data, lang, t)
    if request.query.get("format") == "pdf":
        settings = request.app[keys.SETTINGS]
        body = statements.render_pdf(view, t, settings.program_name, settings.help_phone)
        return web.Response(body=body, content_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="statement-{ban}-{month}.pdf"'})
    return render(request, "member/statement.html", st=view, ban=ban)


async def pay_page(request: web.Request, status: int = 200, values: dict | None = None,
                   errors: dict | None = None) -> web.Response:
    member, ban = await own_account(request)
    use_cases = request.app[keys.DEPS].use_cases
    account = await use_cases.account_summary(ban)
    profile = await use_cases.member(member["member_id"])
    config = await use_cases.payments_config()
    autopay = request.path.endswith("/autopay")
    defaults = {"amount_choice": "total", "kind": "one_time", "method_type": "checking",
                "idempotency_key": forms.new_key()}
    extra = {}
    if autopay:  # what the set-up will do and the terms it asks for, before it is saved
        extra = {"terms": await use_cases.autopay_terms(ban, language(request)), "today_amount": None,
                 "saved": request.query.get("saved") == "1"}
    return render(request, "member/autopay.html" if autopay else "member/pay.html", status=status,
                  ban=ban, account=account, contact=profile.get("contact", {}),
                  cards_enabled=config.get("cards_enabled", False),
                  validation_kind=config.get("account_validation"),
                  values=values or defaults, errors=errors or {}, **extra)


async def post_pay(request: web.Request) -> web.Response:
    member, ban = await own_account(request)
    f = await form(request)
    use_cases = request.app[keys.DEPS].use_cases
    profile = await use_cases.member(member["member_id"])
    contact = profile.get("contact", {})
    contact = {"email": contact.get("email", ""), "email_confirmation": contact.get("email", ""),
               "phone": contact.get("phone") or None, "language": member_language(request, contact)}
    try:
        req = s.PaymentRequest.model_validate(forms.payment_body(f, ban, contact))
    except ValidationError as exc:
        return await pay_page(request, 422, forms.kept(f), forms.model_errors(exc))
    problem = await quick_pay.amount_problem(request, req, await use_cases.account_summary(ban))
    if problem:
        return await pay_page(request, 422, forms.kept(f), {"other_amount": problem})
    try:
        _, result = await use_cases.submit_payment(req, f.get("idempotency_key") or forms.new_key(),
                                                   "member", member["member_id"])
    except REFUSALS as caught:
        exc = as_api_error(caught)
        if exc.code == "amount_changed":  # nothing was charged: the page shows the new total
            message = translate(language(request), "qp.amount_changed",
                                amount=format_dollars(parse_amount(exc.extra.get("current_amount") or "0.00")))
            return await pay_page(request, 409, {**forms.kept(f), "idempotency_key": forms.new_key()},
                                  {"_form": message})
        return await pay_page(request, exc.status, forms.kept(f), forms.api_errors(exc, language(request)))
    return render(request, "member/paid.html", ban=ban, done={**result, "kind": req.kind,
                                                              "email": contact["email"]})


async def post_autopay(request: web.Request) -> web.Response:
    member, ban = await own_account(request)
    f = await form(request)
    use_cases = request.app[keys.DEPS].use_cases
    profile = await use_cases.member(member["member_id"])
    c = profile.get("contact", {})
    body = {"method": forms.method_body(f), "contact": {
        "email": c.get("email", ""), "email_confirmation": c.get("email", ""), "phone": c.get("phone") or None,
        "language": member_language(request, c)},
        "terms_language": language(request)}  # the terms were shown in the page's language
    try:
        req = s.AutopayRequest.model_validate(body)
    except ValidationError as exc:
        return await pay_page(request, 422, forms.kept(f), forms.model_errors(exc))
    try:
        account = await use_cases.account_summary(ban)
        if account.get("autopay") and account["autopay"].get("status") == "active":
            await use_cases.change_autopay_method(ban, req.method)
        else:
            await use_cases.create_autopay(ban, req, f.get("idempotency_key") or forms.new_key(),
                                           member["member_id"])
    except REFUSALS as caught:
        exc = as_api_error(caught)
        return await pay_page(request, exc.status, forms.kept(f), forms.api_errors(exc, language(request)))
    return redirect(request, f"/accounts/{ban}/autopay?saved=1")


async def cancel_autopay_page(request: web.Request) -> web.Response:
    """Asks to confirm, saying which withdrawal will no longer be made and whether one
    already made is still on its way (cancelling does not stop it)."""
    _, ban = await own_account(request)
    account = await request.app[keys.DEPS].use_cases.account_summary(ban)
    mandate = account.get("autopay")
    if not mandate or mandate.get("status") != "active":
        return redirect(request, f"/accounts/{ban}/autopay")
    return render(request, "member/autopay_cancel.html", ban=ban, mandate=mandate, cancelled=None)


async def post_cancel_autopay(request: web.Request) -> web.Response:
    _, ban = await own_account(request)
    await form(request)
    try:
        cancelled = await request.app[keys.DEPS].use_cases.cancel_autopay(ban)
    except REFUSALS as caught:
        exc = as_api_error(caught)
        if exc.status != 404:
            raise
        return redirect(request, f"/accounts/{ban}/autopay")
    return render(request, "member/autopay_cancel.html", ban=ban, mandate=None, cancelled=cancelled)


async def plan_page(request: web.Request, status: int = 200, values: dict | None = None,
                    errors: dict | None = None) -> web.Response:
    """The hardship payment plan: whether one is possible, the form to ask for one (months to
    spread what is past due over), and its installments and standing once it exists."""
    _, ban = await own_account(request)
    use_cases = request.app[keys.DEPS].use_cases
    account = await use_cases.account_summary(ban)
    try:
        plan = await use_cases.payment_plan(ban)
    except REFUSALS as caught:
        exc = as_api_error(caught)
        if exc.status != 404:
            raise
        plan = None
    return render(request, "member/payment_plan.html", status=status, ban=ban, account=account,
                  plan=plan, created=request.query.get("created") == "1",
                  values=values or {}, errors=errors or {})


async def post_plan(request: web.Request) -> web.Response:
    _, ban = await own_account(request)
    f = await form(request)
    try:
        req = s.PaymentPlanRequest.model_validate({"months": f.get("months", "")})
    except ValidationError:
        return await plan_page(request, 422, forms.kept(f), {"months": "err.months"})
    try:
        await request.app[keys.DEPS].use_cases.create_payment_plan(ban, req.months)
    except REFUSALS as caught:
        exc = as_api_error(caught)
        if exc.status != 409:
            raise
        return await plan_page(request, 409, forms.kept(f),
                               {"_form": "hardship.no_" + str(exc.extra.get("reason", "plan_exists"))})
    return redirect(request, f"/accounts/{ban}/payment-plan?created=1")


async def plan_get(request: web.Request) -> web.Response:
    return await plan_page(request)


async def refund_page(request: web.Request, status: int = 200, values: dict | None = None,
                      errors: dict | None = None, requested: dict | None = None) -> web.Response:
    """The account's credit, the form to ask for it back (its idempotency key made with the
    page, so a form sent twice asks once) and the refunds asked for."""
    _, ban = await own_account(request)
    use_cases = request.app[keys.DEPS].use_cases
    account = await use_cases.account_summary(ban)
    try:
        refunds = (await use_cases.refunds(ban))["refunds"]
    except REFUSALS:
        refunds = []
    key = (values or {}).get("idempotency_key") or secrets.token_hex(16)
    # What may still be asked for: the credit less the refunds already on their way.
    waiting = sum(parse_amount(r["amount"]) for r in refunds if r["status"] in ("approved", "pending_approval"))
    available = max(parse_amount(account.get("credit") or "0.00") - waiting, 0)
    return render(request, "member/refund.html", status=status, ban=ban, account=account,
                  refunds=refunds, requested=requested, idempotency_key=key,
                  available=format_cents(available) if available else None,
                  values=values or {}, errors=errors or {})


async def post_refund(request: web.Request) -> web.Response:
    _, ban = await own_account(request)
    f = await form(request)
    typed = (f.get("refund_amount") or "").strip()
    key = f.get("idempotency_key") or ""
    try:
        req = s.RefundRequest.model_validate({"amount": typed})
    except ValidationError:
        return await refund_page(request, 422, forms.kept(f), {"refund_amount": "err.refund_amount"})
    if not 16 <= len(key) <= 64 or not key.isascii() or not key.isalnum():
        return await refund_page(request, 422, forms.kept(f), {"_form": "err.refund_amount"})
    try:
        _, refund = await request.app[keys.DEPS].use_cases.request_refund(ban, req.amount, key)
    except REFUSALS as caught:
        exc = as_api_error(caught)
        if exc.status == 409 and exc.code in ("refund_over_credit", "no_refund_method", "credit_not_recorded"):
            return await refund_page(request, 409, forms.kept(f), {"refund_amount": "err." + exc.code})
        if exc.status == 422:
            return await refund_page(request, 422, forms.kept(f), {"refund_amount": "err.refund_amount"})
        raise
    return await refund_page(request, requested=refund)


async def refund_get(request: web.Request) -> web.Response:
    return await refund_page(request)


async def methods_page(request: web.Request) -> web.Response:
    member = await need_member(request)
    use_cases = request.app[keys.DEPS].use_cases
    bans = member["data"].get("accounts", [])
    methods = {ban: await use_cases.methods(ban) for ban in bans}
    config = await use_cases.payments_config()
    return render(request, "member/methods.html", methods=methods,
                  cards_enabled=config.get("cards_enabled", False),
                  removed=request.query.get("removed") == "1")


async def _own_method(request: web.Request, member: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    try:
        return await request.app[keys.DEPS].use_cases.find_method(member["data"].get("accounts", []),
                                                          request.match_info["method_id"])
    except REFUSALS as caught:
        exc = as_api_error(caught)
        if exc.code == "no_method":
            raise web.HTTPNotFound() from None
        raise


async def remove_method_page(request: web.Request) -> web.Response:
    """Asks to confirm; for the account autopay draws from, says why it cannot go yet."""
    member = await need_member(request)
    ban, method = await _own_method(request, member)
    return render(request, "member/method_remove.html", ban=ban, method=method, in_use=False)


async def post_remove_method(request: web.Request) -> web.Response:
    member = await need_member(request)
    await form(request)
    use_cases = request.app[keys.DEPS].use_cases
    bans = member["data"].get("accounts", [])
    try:
        await use_cases.remove_method(bans, request.match_info["method_id"])
    except REFUSALS as caught:
        exc = as_api_error(caught)
        if exc.code == "no_method":
            raise web.HTTPNotFound() from None
        if exc.code != "method_in_use":
            raise
        ban, method = await _own_method(request, member)
        return render(request, "member/method_remove.html", status=409, ban=ban, method=method,
                      in_use=True)
    return redirect(request, "/payment-methods?removed=1")


async def verify_method_page(request: web.Request, status: int = 200, values: dict | None = None,
                             errors: dict | None = None) -> web.Response:
    """The micro-entries' confirmation: the two amounts the member sees on their statement."""
    member = await need_member(request)
    try:
        ban, method, v = await request.app[keys.DEPS].use_cases.method_validation(
            member["data"].get("accounts", []), request.match_info["method_id"])
    except REFUSALS as caught:
        if as_api_error(caught).code in ("no_method", "no_validation"):
            raise web.HTTPNotFound() from None
        raise
    return render(request, "member/method_verify.html", status=status, ban=ban, method=method,
                  v=v, values=values or {}, errors=errors or {})


async def post_verify_method(request: web.Request) -> web.Response:
    member = await need_member(request)
    f = await form(request)
    values = {"amount_1": f.get("amount_1", "").strip(), "amount_2": f.get("amount_2", "").strip()}
    errors = {name: "verify.format" for name, value in values.items()
              if not re.fullmatch(r"(?:\$?0?\.)?[0-9]{1,2}", value)}
    if errors:
        return await verify_method_page(request, 422, values, errors)
    try:
        await request.app[keys.DEPS].use_cases.confirm_method_validation(
            member["data"].get("accounts", []), request.match_info["method_id"], list(values.values()))
    except REFUSALS as caught:
        exc = as_api_error(caught)
        if exc.code == "no_method":
            raise web.HTTPNotFound() from None
        if exc.status == 422:  # a wrong answer: one try spent, nothing else
            return await verify_method_page(request, 422, values, {"_form": "verify.wrong"})
        if exc.code != "no_validation":
            raise
    return await verify_method_page(request)


async def profile_page(request: web.Request, status: int = 200, values: dict | None = None,
                       errors: dict | None = None, saved: bool = False) -> web.Response:
    member = await need_member(request)
    profile = await request.app[keys.DEPS].use_cases.member(member["member_id"])
    contact = profile.get("contact", {})
    return render(request, "member/profile.html", status=status, profile=profile, saved=saved,
                  values=values or {**contact}, errors=errors or {})


async def post_profile(request: web.Request) -> web.Response:
    member = await need_member(request)
    f = await form(request)
    body = {"email": f.get("email", ""), "phone": f.get("phone", ""), "language": f.get("language") or None,
            "email_enabled": f.get("email_enabled") == "on", "sms_enabled": f.get("sms_enabled") == "on",
            "current_password": f.get("current_password") or None}
    errors = {}
    if not body["email"]:
        errors["email"] = "err.required"
    try:
        req = s.ContactUpdate.model_validate(body)
    except ValidationError as exc:
        errors.update(forms.model_errors(exc))
    if errors:
        return await profile_page(request, 422, forms.kept(f), errors)
    try:
        await request.app[keys.DEPS].use_cases.update_contact(member["member_id"], req)
    except REFUSALS as caught:
        exc = as_api_error(caught)
        errors = forms.api_errors(exc, language(request))
        if "current_password" in errors:  # identity's words, in the page's language
            errors["current_password"] = ("err.current_password_required" if req.current_password is None
                                          else "err.current_password_wrong")
        elif exc.status == 429:
            errors = {"_form": "qp.throttled"}
        return await profile_page(request, exc.status, forms.kept(f), errors)
    return await profile_page(request, saved=True)


async def pay_get(request: web.Request) -> web.Response:
    return await pay_page(request)


async def profile_get(request: web.Request) -> web.Response:
    return await profile_page(request, saved=False)


def install(app: web.Application) -> None:
    r = app.router
    r.add_get("/dashboard", dashboard)
    r.add_get("/accounts/{ban}/history", history)
    r.add_get("/accounts/{ban}/statements/{month}", statement)
    r.add_get("/accounts/{ban}/pay", pay_get)
    r.add_post("/accounts/{ban}/pay", post_pay)
    r.add_get("/accounts/{ban}/autopay", pay_get)
    r.add_post("/accounts/{ban}/autopay", post_autopay)
    r.add_get("/accounts/{ban}/autopay/cancel", cancel_autopay_page)
    r.add_post("/accounts/{ban}/autopay/cancel", post_cancel_autopay)
    r.add_get("/accounts/{ban}/payment-plan", plan_get)
    r.add_post("/accounts/{ban}/payment-plan", post_plan)
    r.add_get("/accounts/{ban}/refund", refund_get)
    r.add_post("/accounts/{ban}/refund", post_refund)
    r.add_get("/payment-methods", methods_page)
    r.add_get("/payment-methods/{method_id}/remove", remove_method_page)
    r.add_post("/payment-methods/{method_id}/remove", post_remove_method)
    r.add_get("/payment-methods/{method_id}/verify", verify_method_page)
    r.add_post("/payment-methods/{method_id}/verify", post_verify_method)
    r.add_get("/profile", profile_get)
    r.add_post("/profile", post_profile)

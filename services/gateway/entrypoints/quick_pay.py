"""Quick pay without a login: steps 1-2 (plan, ID, name and date of birth),
step 3 (contact), step 4 (billing), a review with the CAPTCHA, a printable confirmation.

The guest's progress (the lookup token, the contact, the confirmation) travels in a
signed, HttpOnly cookie; bank numbers are typed once at Step 4 and then kept server-side,
encrypted (adapters/drafts.py), never in a cookie or in the review page."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from services.gateway import schemas as s
from services.gateway.domain import rules, tokens
from services.gateway.entrypoints import forms, keys
from services.gateway.entrypoints import web as w
from services.gateway.entrypoints.errors import REFUSALS, as_api_error
from services.gateway.entrypoints.pages import form, language, redirect, render, throttled_message
from services.gateway.translations import translate
from shared.calendar import NEW_YORK
from shared.http import ApiError
from shared.money import format_dollars, parse_amount

# A reminder can be asked for while the 4-hour wait lasts (and a little after).
PAYABLE_TOKEN_TTL_S = 5 * 3600


def progress(request: web.Request) -> dict[str, Any] | None:
    raw = w.get_cookie(request, w.QUICK_PAY_COOKIE)
    if not raw:
        return None
    try:
        return request.app[keys.SIGNER].verify(tokens.QUICK_PAY, raw)
    except tokens.InvalidToken:
        return None


def save_progress(request: web.Request, response: web.StreamResponse, state: dict[str, Any]) -> None:
    ttl = request.app[keys.SETTINGS].lookup_token_ttl_s
    state = {k: v for k, v in state.items() if k not in ("exp", "n")}
    w.set_cookie(request, response, w.QUICK_PAY_COOKIE,
                 request.app[keys.SIGNER].sign(tokens.QUICK_PAY, state, ttl), max_age=ttl)


def require_progress(request: web.Request, need: str) -> dict[str, Any]:
    state = progress(request)
    if not state or need not in state:
        raise web.HTTPSeeOther("/quick-pay?expired=1")
    return state


async def step_identify(request: web.Request) -> web.Response:
    return render(request, "quick_pay/identify.html", expired=request.query.get("expired"))


async def post_identify(request: web.Request) -> web.Response:
    f = await form(request)
    values = forms.kept(f)
    try:
        req = s.LookupRequest.model_validate(forms.lookup_body(f))
    except ValidationError as exc:
        return render(request, "quick_pay/identify.html", status=422, values=values,
                      errors=forms.lookup_errors(exc, f))
    try:
        found = await request.app[keys.DEPS].use_cases.lookup(req, w.client_ip(request))
    except REFUSALS as caught:
        exc = as_api_error(caught)
        if exc.code == "not_yet_payable" and exc.extra.get("payable_at"):
            return wait_page(request, str(exc.extra["payable_at"]), exc.status, values)
        problem = throttled_message(request, exc) if exc.status == 429 else lookup_problem(exc)
        return render(request, "quick_pay/identify.html", status=exc.status, values=values,
                      errors={"_form": problem}, payable_at=payable_at(exc))
    response = redirect(request, "/quick-pay/contact")
    # The enrollment's email is not shown to a guest: whoever pays types their own.
    save_progress(request, response, {"token": found["lookup_token"], "ban": found["billing_account_number"],
                                      "plan_type": found["plan_type"]})
    return response


def wait_page(request: web.Request, when: str, status: int = 409, values: dict | None = None,
              errors: dict | None = None) -> web.Response:
    """The 4-hour rule: when the plan can be paid (once, in ET), and an offer to email or
    text the member then. The time travels in a signed token, so a reminder can only be
    asked for at the time identity gave."""
    token = request.app[keys.DEPS].use_cases.signer.sign(tokens.PAYABLE, {"payable_at": when},
                                                 PAYABLE_TOKEN_TTL_S)
    return render(request, "quick_pay/identify.html", status=status, values=values or {},
                  errors=errors or {}, wait={"when": when, "token": token})


async def post_payable_reminder(request: web.Request) -> web.Response:
    f = await form(request)
    try:
        when = request.app[keys.DEPS].use_cases.signer.verify(tokens.PAYABLE, f.get("payable_token", ""))["payable_at"]
    except tokens.InvalidToken:
        raise web.HTTPSeeOther("/quick-pay?expired=1") from None
    channel = f.get("reminder_channel", "")
    errors: dict[str, str] = {}
    recipient = ""
    try:
        if channel == "email":
            recipient = rules.check_email(f.get("reminder_email", ""))
        elif channel == "sms":
            recipient = rules.check_phone(f.get("reminder_phone", ""))
        else:
            errors["reminder_channel"] = "err.choose"
    except ValueError as exc:
        errors["reminder_" + ("email" if channel == "email" else "phone")] = str(exc)
    if not errors:
        try:
            scheduled = await request.app[keys.DEPS].use_cases.payable_reminder(
                channel, recipient, language(request), when)
        except REFUSALS as caught:
            exc = as_api_error(caught)
            if exc.status != 422:
                raise
            errors["reminder_" + ("email" if channel == "email" else "phone")] = \
                "err.email" if channel == "email" else "err.phone"
    if errors:
        return wait_page(request, when, 422, forms.kept(f), errors)
    return render(request, "quick_pay/reminder_set.html", when=when, scheduled=scheduled)


def lookup_problem(exc: ApiError) -> str:
    return {404: "qp.not_found", 409: "qp.not_yet_payable" if exc.code == "not_yet_payable" else "qp.not_ready",
            429: "qp.throttled", 503: "error.unavailable"}.get(exc.status, "error.generic")


def payable_at(exc: ApiError) -> str | None:
    raw = exc.extra.get("payable_at")
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw).astimezone(NEW_YORK).strftime("%m/%d/%Y %I:%M %p")
    except ValueError:
        return str(raw)


async def step_contact(request: web.Request) -> web.Response:
    state = require_progress(request, "token")
    values = state.get("contact") or {}
    return render(request, "quick_pay/contact.html", values={**values, "email_confirmation": ""})


async def post_contact(request: web.Request) -> web.Response:
    state = require_progress(request, "token")
    f = await form(request)
    try:
        contact = s.Contact.model_validate({k: f.get(k, "") for k in ("email", "email_confirmation", "phone")})
    except ValidationError as exc:
        return render(request, "quick_pay/contact.html", status=422, values=forms.kept(f),
                      errors=forms.model_errors(exc))
    state["contact"] = contact.model_dump()
    response = redirect(request, "/quick-pay/billing")
    save_progress(request, response, state)
    return response


async def billing_page(request: web.Request, state: dict[str, Any], status: int = 200,
                       values: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> web.Response:
    use_cases = request.app[keys.DEPS].use_cases
    account = await use_cases.account_summary(state["ban"])
    config = await use_cases.payments_config()
    return render(request, "quick_pay/billing.html", status=status, account=account,
                  cards_enabled=config.get("cards_enabled", False),
                  values=values or {"amount_choice": "total", "kind": "one_time", "method_type": "checking"},
                  errors=errors or {})


async def step_billing(request: web.Request) -> web.Response:
    state = require_progress(request, "contact")
    return await billing_page(request, state)


async def post_billing(request: web.Request) -> web.Response:
    """Validates step 4 (the amount against what is due now too) and shows the review page
    (with the CAPTCHA) or the errors. What was typed is kept server-side, encrypted, for
    the submission: the review page carries no bank or card number."""
    state = require_progress(request, "contact")
    f = await form(request)
    try:
        req = s.PaymentRequest.model_validate(forms.payment_body(f, state["ban"], state["contact"]))
    except ValidationError as exc:
        return await billing_page(request, state, 422, forms.kept(f), forms.model_errors(exc))
    use_cases = request.app[keys.DEPS].use_cases
    account = await use_cases.account_summary(state["ban"])
    problem = await amount_problem(request, req, account)
    if problem:
        return await billing_page(request, state, 422, forms.kept(f), {"other_amount": problem})
    fields = {k: v for k, v in f.items() if k not in ("csrf_token", "captcha_id", "captcha_answer", "action")}
    fields["idempotency_key"] = forms.new_key()
    fields["expected_amount"] = reviewed_amount(req, account)
    return await review_page(request, state, fields, req, account)


async def amount_problem(request: web.Request, req: s.PaymentRequest, account: dict[str, Any]) -> str | None:
    """Step 4's amount refused before the CAPTCHA, in the member's words, or None."""
    config = await request.app[keys.DEPS].use_cases.payments_config()
    found = rules.amount_problem(req.amount, req.kind, account.get("amount_due_now"),
                                 int(config.get("overpay_max_cents") or 0),
                                 int(config.get("payment_max_cents") or 5_000_000))
    if found is None:
        return None
    key, limit = found
    return translate(language(request), key, limit=format_dollars(limit))


def reviewed_amount(req: s.PaymentRequest, account: dict[str, Any]) -> str:
    """The figure the review shows and the submission must charge."""
    if req.amount != "total":
        return req.amount
    return account.get("amount_due_now") or account.get("total_balance") or "0.00"


async def review_page(request: web.Request, state: dict[str, Any], fields: dict[str, str],
                      req: s.PaymentRequest, account: dict[str, Any] | None = None, status: int = 200,
                      errors: dict[str, str] | None = None) -> web.Response:
    account = account or await request.app[keys.DEPS].use_cases.account_summary(state["ban"])
    captchas = request.app[keys.DEPS].captchas
    captcha_id = (await captchas.new())[0] if captchas.enabled else None
    state["draft"] = await request.app[keys.DEPS].drafts.save(fields, state.get("draft"))
    last4 = (getattr(req.method, "account_number", None) or getattr(req.method, "card_number", ""))[-4:]
    terms = (await request.app[keys.DEPS].use_cases.autopay_terms(state["ban"], language(request))
             if req.kind == "recurring" else None)
    response = render(request, "quick_pay/review.html", status=status, req=req,
                      amount=fields["expected_amount"], last4=last4, account=account,
                      contact=state["contact"], captcha_id=captcha_id, errors=errors or {},
                      terms=terms, today_amount=fields["expected_amount"])
    save_progress(request, response, state)
    return response


async def post_submit(request: web.Request) -> web.Response:
    state = require_progress(request, "contact")
    f = await form(request)
    drafts = request.app[keys.DEPS].drafts
    fields = await drafts.load(state.get("draft"))
    if fields is None:  # expired, or already submitted: start Step 4 again
        return await billing_page(request, state, 200, None, {"_form": "qp.review_expired"})
    try:
        req = s.PaymentRequest.model_validate(forms.payment_body(fields, state["ban"], state["contact"]))
    except ValidationError as exc:
        return await billing_page(request, state, 422, forms.kept(fields), forms.model_errors(exc))
    if f.get("action") == "change":
        return await billing_page(request, state, 200, forms.kept(fields))
    if f.get("action") == "refresh_captcha":
        return await review_page(request, state, fields, req)
    use_cases = request.app[keys.DEPS].use_cases
    token = use_cases.verify_lookup_token(state["token"])
    if token["ban"] != state["ban"]:
        raise ApiError(403, "forbidden", "You can only pay the account you looked up.")
    try:
        await request.app[keys.DEPS].captchas.require(
            s.CaptchaAnswer(id=f.get("captcha_id", ""), answer=f.get("captcha_answer", ""))
            if f.get("captcha_id") else None)
        # Confirmations go out in the language the member is reading the portal in.
        req.contact.language = req.contact.language or language(request)
        _, result = await use_cases.submit_payment(req, fields.get("idempotency_key") or forms.new_key(),
                                                   "guest", None)
    except REFUSALS as caught:
        exc = as_api_error(caught)
        if exc.code.startswith("captcha"):
            return await review_page(request, state, fields, req, status=422,
                                     errors={"captcha_answer": exc.fields["captcha"]})
        if exc.code == "amount_changed":  # nothing was charged: review the new total
            current = exc.extra.get("current_amount") or "0.00"
            fields = {**fields, "expected_amount": current, "idempotency_key": forms.new_key()}
            message = translate(language(request), "qp.amount_changed",
                                amount=format_dollars(parse_amount(current)))
            return await review_page(request, state, fields, req, status=409, errors={"_form": message})
        return await billing_page(request, state, exc.status, forms.kept(fields), forms.api_errors(exc, language(request)))
    await drafts.delete(state.pop("draft"))
    state["done"] = {**result, "kind": req.kind, "email": state["contact"]["email"],
                     "method_type": req.method.type,
                     "last4": (getattr(req.method, "account_number", None) or getattr(req.method, "card_number", ""))[-4:]}
    response = redirect(request, "/quick-pay/confirmation")
    save_progress(request, response, state)
    return response


async def confirmation(request: web.Request) -> web.Response:
    state = require_progress(request, "done")
    return render(request, "quick_pay/confirmation.html", done=state["done"], ban=state["ban"],
                  plan_type=state.get("plan_type"))


def install(app: web.Application) -> None:
    app.router.add_get("/quick-pay", step_identify)
    app.router.add_post("/quick-pay", post_identify)
    app.router.add_get("/quick-pay/contact", step_contact)
    app.router.add_post("/quick-pay/contact", post_contact)
    app.router.add_get("/quick-pay/billing", step_billing)
    app.router.add_post("/quick-pay/billing", post_billing)
    app.router.add_post("/quick-pay/submit", post_submit)
    app.router.add_get("/quick-pay/confirmation", confirmation)
    app.router.add_post("/quick-pay/payable-reminder", post_payable_reminder)

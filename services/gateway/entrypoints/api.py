"""The public JSON API under /api/v1 (docs/design.md, "Public JSON API"); thin translators over
the use cases. Every route is registered with its models, which generate the OpenAPI."""
from __future__ import annotations

import base64
import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from services.gateway import schemas as s
from services.gateway.domain import rules
from services.gateway.entrypoints import keys
from services.gateway.entrypoints import web as w
from services.gateway.entrypoints.openapi import Registry
from services.gateway.translations import translate
from shared.http import ApiError, json_response, read_json

api = Registry()


async def parse(request: web.Request, model: type[BaseModel]) -> Any:
    # JSON only: a cross-site HTML form cannot send application/json, so a browser's
    # cookies can never be spent by another site's form on this API.
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    body = await read_json(request)
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        fields = {k: translate("en", v) for k, v in s.field_errors(exc).items()}
        raise ApiError(422, "invalid_input", "Some fields are not valid.", fields) from None


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def path_ban(request: web.Request) -> str:
    """The {ban} of the path: 10 digits with its check digit, or the 404 of an unknown one
    (a malformed id and an unknown id answer alike, whoever asks)."""
    ban = request.match_info["ban"]
    if not rules.is_valid_ban(ban):
        raise ApiError(404, "not_found", "No billing account has that number.")
    return ban


def path_uuid(request: web.Request, name: str, code: str, message: str) -> str:
    """A UUID of the path, or the 404 an unknown one gets (`code`, `message`)."""
    value = request.match_info[name].lower()
    if not _UUID.match(value):
        raise ApiError(404, code, message)
    return value


def path_payment_id(request: web.Request) -> str:
    return path_uuid(request, "payment_id", "not_found", "No payment with this id.")


def uc(request: web.Request):
    return request.app[keys.DEPS].use_cases


async def account_access(request: web.Request, ban: str) -> dict[str, Any]:
    """Who may touch this account: a lookup token bound to it, or a member who owns it."""
    bearer = w.bearer_token(request)
    if bearer is not None:
        token = uc(request).verify_lookup_token(bearer)
        if token["ban"] != ban:
            raise ApiError(403, "forbidden", "You can only see the account you looked up.")
        return {"channel": "guest", "member_id": None, "token": token}
    member = await w.current_member(request)
    if member is None:
        raise ApiError(401, "unauthorized", "Look up your account or log in first.")
    if request.method not in ("GET", "HEAD"):
        w.check_csrf(request, request.headers.get("X-CSRF-Token"))
    w.require_owner(member, ban)
    return {"channel": "member", "member_id": member["member_id"], "token": None}


def idempotency_key(request: web.Request) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > 128:
        raise ApiError(400, "idempotency_key_required",
                       "Send an Idempotency-Key header (a random id, up to 128 characters).")
    return key


@api.route("GET", "/captcha", "A CAPTCHA challenge: its id, a PNG picture and a WAV recording",
           responses={200: s.Captcha})
async def get_captcha(request: web.Request) -> web.Response:
    captchas = request.app[keys.DEPS].captchas
    captcha_id, expires = await captchas.new()
    png, wav = await captchas.image(captcha_id), await captchas.audio(captcha_id)
    return json_response({"captcha_id": captcha_id, "expires_at": expires.isoformat(timespec="seconds"),
                          "image_png_base64": base64.b64encode(png).decode(),
                          "audio_wav_base64": base64.b64encode(wav).decode(),
                          "image_url": f"/captcha/{captcha_id}.png",
                          "audio_url": f"/captcha/{captcha_id}.wav"})


@api.route("POST", "/lookups", "Find a guest's billing account; gives a 15-minute lookup token",
           body=s.LookupRequest, responses={201: s.LookupResponse},
           errors={404: "Not found (the same answer for every mismatch)",
                   409: "not_yet_payable (with payable_at) or account_not_ready"})
async def post_lookup(request: web.Request) -> web.Response:
    req = await parse(request, s.LookupRequest)
    found = await uc(request).lookup(req, w.client_ip(request))
    found.pop("contact", None)
    return json_response(found, status=201)


@api.route("GET", "/billing-accounts/{ban}", "Balances per coverage year, total owed, current "
           "premium, due date, status and autopay; a notice when a service is down",
           responses={200: s.AccountSummary}, errors={401: "Not authenticated", 403: "Another account",
                                                      404: "No such account"}, auth="account")
async def get_account(request: web.Request) -> web.Response:
    ban = path_ban(request)
    await account_access(request, ban)
    return json_response(await uc(request).account_summary(ban))


@api.route("GET", "/billing-accounts/{ban}/payments", "Payment history, newest first",
           responses={200: s.PaymentHistory}, errors={401: "Not authenticated", 403: "Another account"}, auth="account")
async def get_account_payments(request: web.Request) -> web.Response:
    ban = path_ban(request)
    await account_access(request, ban)
    return json_response(await uc(request).payment_history(ban))


@api.route("GET", "/billing-accounts/{ban}/payment-plan", "The account's hardship payment plan: "
           "its installments (each a due amount) and its standing", responses={200: s.PaymentPlan},
           errors={401: "Not authenticated", 403: "Another account", 404: "no_payment_plan"},
           auth="account")
async def get_payment_plan(request: web.Request) -> web.Response:
    ban = request.match_info["ban"]
    await account_access(request, ban)
    return json_response(await uc(request).payment_plan(ban))


@api.route("POST", "/billing-accounts/{ban}/payment-plan", "Ask for a hardship payment plan: what "
           "is past due spread over 2 to 12 monthly installments, due the 23rd; while it is kept, "
           "no grace period starts or ends coverage (see payment_plan_offer in the account)",
           body=s.PaymentPlanRequest, responses={201: s.PaymentPlan},
           errors={401: "Not authenticated", 403: "Another account",
                   409: "payment_plan_refused (with reason: nothing_past_due, plan_exists or "
                        "coverage_ended)"}, auth="account")
async def post_payment_plan(request: web.Request) -> web.Response:
    ban = request.match_info["ban"]
    req = await parse(request, s.PaymentPlanRequest)
    await account_access(request, ban)
    return json_response(await uc(request).create_payment_plan(ban, req.months), status=201)


@api.route("POST", "/billing-accounts/{ban}/refunds", "Ask for the account's credit back "
           "(Idempotency-Key header): to the bank account or card that paid; over the approval "
           "amount an operator approves it first", body=s.RefundRequest,
           responses={201: s.Refund, 200: s.Refund}, headers=("Idempotency-Key",),
           errors={400: "Idempotency-Key missing", 401: "Not authenticated", 403: "Another account",
                   409: "refund_over_credit (with available_cents), no_refund_method, credit_not_recorded "
                        "(billing shows the credit, payments has not recorded it yet: ask again) or "
                        "idempotency_conflict"}, auth="account")
async def post_refund(request: web.Request) -> web.Response:
    ban = path_ban(request)
    key = idempotency_key(request)
    req = await parse(request, s.RefundRequest)
    await account_access(request, ban)
    status, result = await uc(request).request_refund(ban, req.amount, key)
    response = json_response(result, status=status)
    if status == 200:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@api.route("GET", "/billing-accounts/{ban}/refunds", "Refunds of credit, newest first",
           responses={200: s.RefundList}, errors={401: "Not authenticated", 403: "Another account"},
           auth="account")
async def get_refunds(request: web.Request) -> web.Response:
    ban = path_ban(request)
    await account_access(request, ban)
    return json_response(await uc(request).refunds(ban))


@api.route("POST", "/payments", "A one-time or recurring payment (Idempotency-Key header)",
           body=s.PaymentRequest, responses={201: s.PaymentResponse, 200: s.PaymentResponse},
           headers=("Idempotency-Key",),
           errors={400: "Idempotency-Key missing", 401: "Not authenticated", 402: "card_declined",
                   403: "Another account",
                   409: "idempotency_conflict, or amount_changed (amount \"total\" differs from "
                        "expected_amount: nothing charged; current_amount gives the total now)"},
           auth="account")
async def post_payment(request: web.Request) -> web.Response:
    key = idempotency_key(request)
    req = await parse(request, s.PaymentRequest)
    access = await account_access(request, req.billing_account_number)
    if access["channel"] == "guest":
        await request.app[keys.DEPS].captchas.require(req.captcha)
    status, result = await uc(request).submit_payment(req, key, access["channel"], access["member_id"])
    response = json_response(result, status=status)
    if status == 200:  # the answer to an earlier request with this key, repeated
        response.headers["Idempotent-Replayed"] = "true"
    return response


@api.route("GET", "/payments/{payment_id}", "A payment's status", responses={200: s.PaymentView},
           errors={401: "Not authenticated", 403: "Another account", 404: "No such payment"},
           auth="account")
async def get_payment(request: web.Request) -> web.Response:
    payment_id = path_payment_id(request)
    payment = await uc(request).payment(payment_id)
    ban = payment.get("billing_account_number")
    if ban:
        await account_access(request, ban)
        return json_response(payment)
    # Without the account on the record, the payment must be in one of the caller's histories.
    for candidate in await caller_accounts(request):
        history = await uc(request).payment_history(candidate)
        if any(p.get("payment_id") == payment_id for p in history["payments"]):
            return json_response(payment)
    raise ApiError(403, "forbidden", "This payment is not on your account.")


async def caller_accounts(request: web.Request) -> list[str]:
    bearer = w.bearer_token(request)
    if bearer is not None:
        return [uc(request).verify_lookup_token(bearer)["ban"]]
    member = await w.current_member(request)
    if member is None:
        raise ApiError(401, "unauthorized", "Look up your account or log in first.")
    return list(member["data"].get("accounts", []))


@api.route("GET", "/billing-accounts/{ban}/autopay/terms", "What a recurring set-up will do "
           "and the authorization it asks for, to show before it is submitted",
           responses={200: s.AutopayTerms}, errors={401: "Not authenticated", 403: "Another account"},
           auth="account")
async def get_autopay_terms(request: web.Request) -> web.Response:
    ban = request.match_info["ban"]
    await account_access(request, ban)
    return json_response(await uc(request).autopay_terms(ban, request.query.get("language", "en")))


@api.route("POST", "/billing-accounts/{ban}/autopay", "Set up the monthly recurring payment",
           body=s.AutopayRequest, responses={201: s.Mandate}, headers=("Idempotency-Key",),
           errors={401: "Not authenticated", 403: "Another account", 409: "autopay_exists"}, auth="account")
async def post_autopay(request: web.Request) -> web.Response:
    ban = path_ban(request)
    key = idempotency_key(request)
    req = await parse(request, s.AutopayRequest)
    access = await account_access(request, ban)
    return json_response(await uc(request).create_autopay(ban, req, key, access["member_id"]), status=201)


@api.route("PUT", "/billing-accounts/{ban}/autopay/method", "Draw the recurring payment from "
           "another bank account", body=s.AutopayMethodChange, responses={200: s.Mandate},
           errors={401: "Not authenticated", 403: "Another account", 404: "no_autopay"}, auth="account")
async def put_autopay_method(request: web.Request) -> web.Response:
    ban = path_ban(request)
    req = await parse(request, s.AutopayMethodChange)
    await account_access(request, ban)
    return json_response(await uc(request).change_autopay_method(ban, req.method))


@api.route("DELETE", "/billing-accounts/{ban}/autopay", "Cancel the recurring payment",
           responses={200: s.Cancelled}, errors={401: "Not authenticated", 403: "Another account",
                                          404: "no_autopay"}, auth="account")
async def delete_autopay(request: web.Request) -> web.Response:
    ban = path_ban(request)
    await account_access(request, ban)
    return json_response(await uc(request).cancel_autopay(ban))


@api.route("POST", "/members", "Register a portal account (the same 201 when the person already "
           "has one: the account's own address is emailed instead)", body=s.MemberRequest,
           responses={201: s.MemberCreated}, errors={404: "No matching enrollment",
                                          409: "username_taken"})
async def post_member(request: web.Request) -> web.Response:
    req = await parse(request, s.MemberRequest)
    return json_response(await uc(request).register(req, w.client_ip(request)), status=201)


@api.route("POST", "/sessions", "Log in: sets the session cookie; answers the CSRF token",
           body=s.SessionRequest, responses={200: s.SessionOpened},
           errors={401: "invalid_credentials (the same for an unknown username)",
                   429: "throttled (with retry_after_s): too many wrong passwords"})
async def post_session(request: web.Request) -> web.Response:
    req = await parse(request, s.SessionRequest)
    session_id, member = await uc(request).login(req.username, req.password, w.client_ip(request))
    response = json_response({"member_id": member["member_id"], "username": member.get("username"),
                              "csrf_token": w.csrf_token(request)})
    w.set_cookie(request, response, w.SESSION_COOKIE, session_id)
    return w.finish_cookies(request, response)


@api.route("DELETE", "/sessions", "Log out", responses={204: None})
async def delete_session(request: web.Request) -> web.Response:
    sid = w.get_cookie(request, w.SESSION_COOKIE)
    if sid:
        await uc(request).logout(sid)
    response = web.Response(status=204)
    w.del_cookie(request, response, w.SESSION_COOKIE)
    return response


@api.route("POST", "/password-resets", "Send a password reset link or a username reminder "
           "(always 202: never says whether an account exists)", body=s.PasswordResetRequest,
           responses={202: s.Accepted})
async def post_password_reset(request: web.Request) -> web.Response:
    req = await parse(request, s.PasswordResetRequest)
    if req.kind == "username":
        if not req.email:
            raise ApiError(422, "invalid_input", "Some fields are not valid.", {"email": "Enter your email address."})
        await uc(request).username_reminder(req.email)
    else:
        if not (req.username or req.email):
            raise ApiError(422, "invalid_input", "Some fields are not valid.",
                           {"username": "Enter your username or your email address."})
        await uc(request).password_reset(req.username, req.email)
    return json_response({"status": "accepted"}, status=202)


@api.route("GET", "/me", "The logged-in member's plans, balances, history, autopay, methods, contact",
           responses={200: s.Me}, errors={401: "Not logged in"}, auth="member")
async def get_me(request: web.Request) -> web.Response:
    member = await w.current_member(request)
    if member is None:
        raise ApiError(401, "unauthorized", "Log in first.")
    me = await uc(request).me(member["member_id"])
    me["csrf_token"] = w.csrf_token(request)
    return w.finish_cookies(request, json_response(me))


@api.route("PATCH", "/me/contact", "Change contact details and notification preferences "
           "(a new email address needs current_password)",
           body=s.ContactUpdate, responses={200: s.MemberProfile},
           errors={401: "Not logged in", 422: "invalid_input (current_password required or wrong)",
                   429: "throttled: too many wrong passwords"}, auth="member")
async def patch_contact(request: web.Request) -> web.Response:
    member = await w.current_member(request)
    if member is None:
        raise ApiError(401, "unauthorized", "Log in first.")
    w.check_csrf(request, request.headers.get("X-CSRF-Token"))
    req = await parse(request, s.ContactUpdate)
    return json_response(await uc(request).update_contact(member["member_id"], req))


@api.route("DELETE", "/me/methods/{method_id}", "Remove a saved payment method (kept, never "
           "shown in full, for the history of the payments made with it)",
           responses={200: s.MethodRemoved},
           errors={401: "Not logged in", 404: "no_method (not one of yours)",
                   409: "method_in_use (the active recurring payment draws from it: change its "
                        "account or cancel it first)"}, auth="member")
async def delete_method(request: web.Request) -> web.Response:
    member = await w.current_member(request)
    if member is None:
        raise ApiError(401, "unauthorized", "Log in first.")
    method_id = path_uuid(request, "method_id", "no_method", "You have no saved payment method with this id.")
    w.check_csrf(request, request.headers.get("X-CSRF-Token"))
    return json_response(await uc(request).remove_method(member["data"].get("accounts", []), method_id))


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(request.app[keys.OPENAPI])


def path_captcha_id(request: web.Request) -> str:
    captcha_id = request.match_info["captcha_id"]
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", captcha_id):
        raise ApiError(404, "captcha_expired", "This picture has expired. Get a new one.")
    return captcha_id


async def captcha_image(request: web.Request) -> web.Response:
    png = await request.app[keys.DEPS].captchas.image(path_captcha_id(request))
    return web.Response(body=png, content_type="image/png")


async def captcha_audio(request: web.Request) -> web.Response:
    wav = await request.app[keys.DEPS].captchas.audio(path_captcha_id(request))
    return web.Response(body=wav, content_type="audio/wav")


def install(app: web.Application) -> None:
    api.install(app)
    app.router.add_get("/api/openapi.json", openapi_json)
    app.router.add_get("/captcha/{captcha_id}.png", captcha_image)
    app.router.add_get("/captcha/{captcha_id}.wav", captcha_audio)

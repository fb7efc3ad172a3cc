"""identity's HTTP API (docs/internal-api.md): thin translators from requests to use cases
and from the use cases' errors to answers."""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable
from uuid import UUID

from aiohttp import web

from services.identity.entrypoints import schemas
from services.identity.service_layer import accounts, errors, lookups
from services.identity.service_layer.deps import Deps
from shared.calendar import business_today
from shared.http import ApiError, json_response, read_json
from shared.runtime import SERVICE
from shared.service_auth import member_address

NOT_FOUND_MESSAGE = ("We could not find a plan with the information you entered. Check your ID, "
                     "and that your name and date of birth match your application exactly.")

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.Response]]


def translated(fn: Handler) -> Handler:
    """Map the service layer's expected failures to the documented answers."""
    @functools.wraps(fn)
    async def wrapper(request: web.Request) -> web.Response:
        try:
            return await fn(request)
        except errors.Throttled as e:
            minutes = max(1, -(-e.retry_after_s // 60))
            raise ApiError(429, "throttled",
                           f"Too many attempts. Please try again in {minutes} "
                           f"minute{'s' if minutes > 1 else ''}.",
                           retry_after_s=e.retry_after_s) from None
        except errors.NotFound:
            raise ApiError(404, "not_found", NOT_FOUND_MESSAGE) from None
        except errors.NotYetPayable as e:
            raise ApiError(409, "not_yet_payable",
                           "This plan was shopped less than 4 hours ago. Please try again later.",
                           payable_at=e.payable_at.isoformat()) from None
        except errors.AccountNotReady:
            raise ApiError(409, "account_not_ready",
                           "Your billing account is being set up. Please try again later.") from None
        except errors.Conflict as e:
            raise ApiError(409, e.code, e.message) from None
        except errors.WeakPassword as e:
            field = "new_password" if request.path.endswith("/confirm") else "password"
            raise ApiError(422, "invalid_input", "Some fields are not valid.",
                           {field: e.problem}) from None
        except errors.InvalidCredentials:
            raise ApiError(401, "invalid_credentials", "The username or password is not correct.") from None
        except errors.PasswordRequired:
            raise ApiError(422, "invalid_input", "Some fields are not valid.",
                           {"current_password": "is required to change the email address"}) from None
        except errors.WrongPassword:
            raise ApiError(422, "invalid_input", "Some fields are not valid.",
                           {"current_password": "is not correct"}) from None
        except errors.InvalidToken:
            raise ApiError(400, "invalid_or_expired_token",
                           "This reset link is not valid or has expired. Please ask for a new one.") from None
    return wrapper


def _ctx(request: web.Request) -> tuple:
    service = request.app[SERVICE]
    return service.pool, service.state["identity"]


def _today(deps: Deps):
    return business_today(deps.clock())


def _from_member(request: web.Request, ident: lookups.Identification) -> lookups.Identification:
    """The lookup as throttled: only the gateway's word on the member's address counts."""
    return dataclasses.replace(ident, client_ip=member_address(request, ident.client_ip))


@routes.post("/lookups")
@translated
async def post_lookup(request: web.Request) -> web.Response:
    pool, deps = _ctx(request)
    ident = _from_member(request, schemas.lookup(await read_json(request), _today(deps)))
    m = await lookups.identify(deps.lookup_pool or pool, deps, ident)
    return json_response({
        "member_id": m.member_id, "billing_account_number": m.billing_account_number,
        "plan_type": ident.plan_type, "enrollment_ids": list(m.enrollment_ids),
        "first_name": m.first_name,
        "contact": {"email": m.email, "phone": m.phone, "language": m.language}})


@routes.post("/members")
@translated
async def post_member(request: web.Request) -> web.Response:
    pool, deps = _ctx(request)
    ident, extra = schemas.registration(await read_json(request), _today(deps))
    ident = _from_member(request, ident)
    result = await accounts.register(pool, deps, ident, **extra)
    return json_response(result, status=201)


@routes.post("/sessions")
@translated
async def post_session(request: web.Request) -> web.Response:
    pool, deps = _ctx(request)
    username, password, ip = schemas.login(await read_json(request))
    return json_response(await accounts.login(pool, deps, username, password,
                                              member_address(request, ip)))


@routes.post("/password-resets")
@translated
async def post_password_reset(request: web.Request) -> web.Response:
    pool, deps = _ctx(request)
    username, email = schemas.reset_request(await read_json(request))
    await accounts.request_password_reset(pool, deps, username, email)
    return json_response({"status": "accepted"}, status=202)


@routes.post("/password-resets/confirm")
@translated
async def post_password_reset_confirm(request: web.Request) -> web.Response:
    pool, deps = _ctx(request)
    token, password = schemas.reset_confirm(await read_json(request))
    return json_response(await accounts.confirm_password_reset(pool, deps, token, password))


@routes.post("/password-resets/check")
@translated
async def post_password_reset_check(request: web.Request) -> web.Response:
    pool, deps = _ctx(request)
    token = schemas.reset_check(await read_json(request))
    return json_response({"state": await accounts.password_reset_state(pool, deps, token)})


@routes.post("/username-reminders")
@translated
async def post_username_reminder(request: web.Request) -> web.Response:
    pool, deps = _ctx(request)
    await accounts.remind_username(pool, deps, schemas.reminder(await read_json(request)))
    return json_response({"status": "accepted"}, status=202)


def _member_id(request: web.Request) -> UUID:
    try:
        return UUID(request.match_info["member_id"])
    except ValueError:
        raise errors.NotFound() from None


@routes.get("/members/{member_id}")
@translated
async def get_member(request: web.Request) -> web.Response:
    pool, deps = _ctx(request)
    return json_response(await accounts.member(pool, deps, _member_id(request)))


@routes.patch("/members/{member_id}/contact")
@translated
async def patch_contact(request: web.Request) -> web.Response:
    pool, deps = _ctx(request)
    member_id = _member_id(request)
    changes, current_password = schemas.contact_changes(await read_json(request))
    return json_response(await accounts.change_contact(pool, deps, member_id, changes,
                                                       current_password))

"""identity's HTTP API (docs/internal-api.md): thin translators from requests to use cases
and from the use cases' errors to answers."""
from __future__ import annotations

import dataclasses
from uuid import UUID

from aiohttp import web

from services.identity.entrypoints import schemas
from services.identity.service_layer import accounts, errors, lookups
from services.identity.service_layer.deps import Deps
from shared import http
from shared.calendar import business_today
from shared.errors import InvalidInput
from shared.http import json_response, read_json
from shared.runtime import SERVICE
from shared.service_auth import member_address

routes = web.RouteTableDef()

# The status of each of the use cases' expected failures (docs/internal-api.md).
STATUSES = {
    errors.Throttled: 429, errors.NotFound: 404, errors.NotYetPayable: 409,
    errors.AccountNotReady: 409, errors.Conflict: 409, InvalidInput: 422,
    errors.InvalidCredentials: 401, errors.InvalidToken: 400,
}
translated = http.translated(STATUSES)
# What the use cases need (service_layer/deps.py), set when the service is built.
DEPS = web.AppKey("identity_deps", Deps)


def _ctx(request: web.Request) -> tuple:
    return request.app[SERVICE].pool, request.app[DEPS]


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

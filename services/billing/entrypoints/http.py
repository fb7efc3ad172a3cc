"""Billing's HTTP API for the gateway (docs/internal-api.md): thin translators."""
from __future__ import annotations

from datetime import date

from aiohttp import web

from services.billing.adapters import repository as repo
from services.billing.domain.numbers import is_valid_ban
from services.billing.domain.rules import BillingError
from services.billing.service_layer import queries
from services.billing.service_layer.errors import NoPaymentPlan, UnknownAccount
from shared.calendar import Clock, business_today
from shared.http import ApiError, json_response, read_json, translated

# The status of each of the expected failures (docs/internal-api.md).
STATUSES = {UnknownAccount: 404, NoPaymentPlan: 404, BillingError: 409}


def _ban(request: web.Request) -> str:
    """The {ban} of the path: a malformed number is as unknown as one never opened."""
    ban = request.match_info["ban"]
    if not is_valid_ban(ban):
        raise UnknownAccount()
    return ban


def register(app: web.Application, pool_of, clock: Clock) -> None:
    """Billing's routes; every answer is as of the business date at `clock()`."""
    def today() -> date:
        return business_today(clock())

    async def summary(request: web.Request) -> web.Response:
        async with pool_of().acquire() as conn:
            body = await queries.account_summary(conn, _ban(request), today())
        if body is None:
            raise UnknownAccount()
        return json_response(body)

    async def by_household(request: web.Request) -> web.Response:
        household = request.query.get("household_id", "")
        if not household or len(household) > 30:
            raise ApiError(422, "invalid_input", "Give a household_id.", {"household_id": "required"})
        async with pool_of().acquire() as conn:
            bans = await repo.accounts_of_household(conn, household)
            accounts = [await queries.account_summary(conn, b, today()) for b in bans]
        return json_response({"accounts": accounts})

    async def invoices(request: web.Request) -> web.Response:
        async with pool_of().acquire() as conn:
            return json_response({"invoices": await queries.invoices(conn, _ban(request))})

    async def ledger(request: web.Request) -> web.Response:
        async with pool_of().acquire() as conn:
            return json_response({"entries": await queries.ledger(conn, _ban(request))})

    async def statement(request: web.Request) -> web.Response:
        """A month's statement as data; the portal lays it out (page and PDF) in the member's
        language."""
        try:
            month = date.fromisoformat(request.match_info["month"] + "-01")
        except ValueError:
            raise ApiError(422, "invalid_input", "The month looks like 2026-11.",
                           {"month": "YYYY-MM"}) from None
        async with pool_of().acquire() as conn:
            data = await queries.statement(conn, _ban(request), month, today())
        if data is None:
            raise UnknownAccount()
        return json_response(data)

    async def get_plan(request: web.Request) -> web.Response:
        async with pool_of().acquire() as conn:
            plan = await queries.plan_view(conn, await repo.latest_plan(conn, _ban(request)), today())
        if plan is None:
            raise NoPaymentPlan()
        return json_response(plan)

    async def create_plan(request: web.Request) -> web.Response:
        body = await read_json(request)
        months = body.get("months") if isinstance(body, dict) else None
        if not isinstance(months, int) or isinstance(months, bool):
            raise ApiError(422, "invalid_input", "Say how many months.", {"months": "a whole number, 2 to 12"})
        async with pool_of().acquire() as conn, conn.transaction():
            plan = await queries.create_payment_plan(conn, _ban(request), months, today())
        return json_response(plan, status=201)

    answer = translated(STATUSES)
    app.router.add_get("/accounts", answer(by_household))
    app.router.add_get("/accounts/{ban}", answer(summary))
    app.router.add_get("/accounts/{ban}/invoices", answer(invoices))
    app.router.add_get("/accounts/{ban}/ledger", answer(ledger))
    app.router.add_get("/accounts/{ban}/statements/{month}", answer(statement))
    app.router.add_get("/accounts/{ban}/payment-plan", answer(get_plan))
    app.router.add_post("/accounts/{ban}/payment-plan", answer(create_plan))

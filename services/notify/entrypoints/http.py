"""The delivery log over HTTP (docs/internal-api.md, "notify")."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from aiohttp import web

from services.notify.adapters import repository as repo
from services.notify.service_layer.payable import ReminderRefused, schedule_payable_reminder
from shared.http import ApiError, json_response, read_json, translated

# The status of each of the expected failures (docs/internal-api.md).
STATUSES = {ReminderRefused: 422}


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[key] = value
    return out


def _payable_request(body: Any) -> dict[str, Any]:
    """{channel: email|sms, email | phone, language, payable_at (ISO instant with zone)}."""
    body = body if isinstance(body, dict) else {}
    fields: dict[str, str] = {}
    channel = body.get("channel")
    if channel not in ("email", "sms"):
        fields["channel"] = "email or sms"
    recipient = str(body.get("email") if channel == "email" else body.get("phone") or "").strip()
    if channel == "email" and ("@" not in recipient or len(recipient) > 254):
        fields["email"] = "an email address"
    digits = recipient.removeprefix("+")
    if channel == "sms" and not (digits.isascii() and digits.isdigit() and len(digits) in (10, 11)):
        fields["phone"] = "a 10-digit phone number"
    try:
        payable_at = datetime.fromisoformat(str(body.get("payable_at") or ""))
    except ValueError:
        fields["payable_at"] = "an ISO date and time with its zone"
        payable_at = None
    if fields:
        raise ApiError(422, "invalid_input", "Some fields are not valid.", fields)
    return {"channel": channel, "recipient": recipient, "payable_at": payable_at,
            "language": body.get("language") if body.get("language") in ("en", "es") else "en"}


def register(app: web.Application, pool_of, composer=None) -> None:
    async def payable_reminder(request: web.Request) -> web.Response:
        req = _payable_request(await read_json(request))
        scheduled = await schedule_payable_reminder(pool_of(), composer, **req)
        return json_response(scheduled, status=202)

    async def list_view(request: web.Request) -> web.Response:
        q = request.query
        try:
            limit = min(max(int(q.get("limit", "50")), 1), 500)
        except ValueError:
            raise ApiError(422, "invalid_input", "limit must be a number.",
                           {"limit": "must be a number"}) from None
        async with pool_of().acquire() as conn:
            rows = await repo.list_notifications(
                conn, ban=q.get("billing_account_number") or None,
                member_id=q.get("member_id") or None, limit=limit)
        return json_response({"notifications": [_public(r) for r in rows]})

    async def one_view(request: web.Request) -> web.Response:
        try:
            notification_id = uuid.UUID(request.match_info["notification_id"])
        except ValueError:
            raise ApiError(404, "not_found", "No such notification.") from None
        async with pool_of().acquire() as conn:
            row = await repo.get_notification(conn, notification_id)
        if row is None:
            raise ApiError(404, "not_found", "No such notification.")
        return json_response(_public(row))

    if composer is not None:
        app.router.add_post("/payable-reminders", translated(STATUSES)(payable_reminder))
    app.router.add_get("/notifications", list_view)
    app.router.add_get("/notifications/{notification_id}", one_view)

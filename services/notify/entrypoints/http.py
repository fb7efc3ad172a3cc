"""The delivery log over HTTP (docs/internal-api.md, "notify")."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from aiohttp import web

from services.notify.adapters import repository as repo
from shared.http import ApiError, json_response


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[key] = value
    return out


def register(app: web.Application, pool_of) -> None:
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

    app.router.add_get("/notifications", list_view)
    app.router.add_get("/notifications/{notification_id}", one_view)

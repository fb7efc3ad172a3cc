"""The SMS sandbox: a provider-like API that records every text instead of sending it.

`POST /sms/v1/messages {to, body}` -> 201 `{sid, status: "queued", to}`. With an
`Idempotency-Key` header (up to 255 characters), a second request with the same key sends
nothing and answers 200 with the first message's sid, as real providers do; the same key
with another number or text is refused (422). `GET
/sms/v1/messages?to=` lists them newest first; `DELETE /sms/v1/messages` clears. Like a real
provider's test mode, two magic numbers misbehave on purpose: +15005550001 is refused as
invalid (400, permanent) and +15005550002 gets 503 (the provider is down: retry later).
Messages are also appended to `<data_dir>/sms/messages.jsonl`.
"""
from __future__ import annotations

import re
import uuid
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from sandboxes.settings import SandboxSettings
from shared.files import open_private, private_dir
from shared.http import ApiError, json_response, read_json

INVALID_NUMBER = "+15005550001"
UNAVAILABLE_NUMBER = "+15005550002"
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")


class SmsStore:
    def __init__(self, directory: Path | None = None, limit: int = 50_000) -> None:
        self.messages: deque[dict[str, Any]] = deque(maxlen=limit)
        self.by_key: dict[str, dict[str, Any]] = {}
        self.file = None
        if directory is not None:
            private_dir(directory)
            self.file = directory / "messages.jsonl"
            if self.file.exists():
                for line in self.file.read_bytes().splitlines()[-limit:]:
                    if line.strip():
                        self._remember(orjson.loads(line))

    def _remember(self, item: dict[str, Any]) -> None:
        if len(self.messages) == self.messages.maxlen:
            self.by_key.pop(self.messages[-1].get("idempotency_key") or "", None)
        self.messages.appendleft(item)
        if item.get("idempotency_key"):
            self.by_key[item["idempotency_key"]] = item

    def add(self, to: str, body: str, idempotency_key: str | None = None) -> dict[str, Any]:
        item = {"sid": "SM" + uuid.uuid4().hex, "to": to, "body": body, "status": "queued",
                "created_at": datetime.now(timezone.utc).isoformat(),
                "idempotency_key": idempotency_key}
        self._remember(item)
        if self.file is not None:
            with open_private(self.file, "ab") as f:
                f.write(orjson.dumps(item) + b"\n")
        return item

    def to(self, number: str | None) -> list[dict[str, Any]]:
        return [m for m in self.messages if not number or m["to"] == number]

    def clear(self) -> None:
        self.messages.clear()
        self.by_key.clear()
        if self.file is not None:
            self.file.unlink(missing_ok=True)


def build_routes(store: SmsStore) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.post("/sms/v1/messages")
    async def send(request: web.Request) -> web.Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise ApiError(422, "invalid_input", "The body must be a JSON object.")
        to, text = str(body.get("to") or ""), body.get("body")
        fields = {}
        if not _E164.match(to):
            fields["to"] = "must be a phone number in E.164 form, like +16175550101"
        if not isinstance(text, str) or not text.strip() or len(text) > 1600:
            fields["body"] = "must be 1 to 1600 characters"
        key = request.headers.get("Idempotency-Key", "").strip() or None
        if key is not None and len(key) > 255:
            fields["Idempotency-Key"] = "must be at most 255 characters"
        if fields:
            raise ApiError(422, "invalid_input", "Some fields are not valid.", fields)
        first = store.by_key.get(key) if key else None
        if first is not None:
            if (first["to"], first["body"]) != (to, text):
                raise ApiError(422, "idempotency_conflict",
                               "This idempotency key was used for another message.")
            return json_response({"sid": first["sid"], "status": first["status"], "to": to})
        if to == INVALID_NUMBER:
            raise ApiError(400, "invalid_number", "The number cannot receive text messages.")
        if to == UNAVAILABLE_NUMBER:
            raise ApiError(503, "unavailable", "The provider is unavailable. Try again later.")
        item = store.add(to, text, key)
        return json_response({"sid": item["sid"], "status": item["status"], "to": to}, status=201)

    @routes.get("/sms/v1/messages")
    async def list_view(request: web.Request) -> web.Response:
        return json_response({"messages": store.to(request.query.get("to"))})

    @routes.delete("/sms/v1/messages")
    async def clear(_: web.Request) -> web.Response:
        store.clear()
        return json_response({"status": "cleared"})

    return routes


SMS_STORE = web.AppKey("sms_store", SmsStore)


def register(app: web.Application, settings: SandboxSettings) -> None:
    store = SmsStore(settings.data_dir / "sms")
    app[SMS_STORE] = store
    app.router.add_routes(build_routes(store))

"""The mail catcher: a small SMTP server of our own that keeps every message it receives,
and pages to read them in a browser (`/mail/`) or as JSON (`/mail/api/messages`).

Messages are kept in memory (newest first, up to `MAX_MESSAGES`) and written under
`<data_dir>/mail/` as `<id>.eml` (the raw message) and `<id>.json` (the parsed summary),
owner-only (0600 in a 0700 folder), so a restart of the sandbox keeps them. The pages escape everything; a message's own HTML is
only shown inside a sandboxed frame whose content security policy forbids scripts.
`MailCatcher` also runs standalone (tests: port 0, an ephemeral port).
"""
from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import uuid
import weakref
from collections import deque
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from sandboxes.settings import SandboxSettings
from shared.files import private_dir, write_private
from shared.http import json_response

MAX_MESSAGES = 50_000
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'; base-uri 'none'; form-action 'none'"
FRAME_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def parse_message(raw: bytes, mail_from: str, rcpt_tos: list[str]) -> dict[str, Any]:
    """The JSON summary of a message: id, from, to, subject, text, html, received_at."""
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    text_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    return {
        "id": uuid.uuid4().hex,
        "from": mail_from,
        "to": list(rcpt_tos),
        "header_from": str(msg.get("From", "")),
        "subject": str(msg.get("Subject", "")),
        "text": text_part.get_content() if text_part is not None else "",
        "html": html_part.get_content() if html_part is not None else "",
        "message_id": str(msg.get("Message-ID", "")),
        "size": len(raw),
        "received_at": datetime.now(timezone.utc).isoformat(),
    }


class MailStore:
    """The caught messages, newest first; optionally mirrored to files."""

    def __init__(self, directory: Path | None = None, limit: int = MAX_MESSAGES) -> None:
        self.directory = directory
        self.messages: deque[dict[str, Any]] = deque(maxlen=limit)
        self._by_id: dict[str, dict[str, Any]] = {}
        if directory is not None:
            private_dir(directory)
            self._load()

    def _load(self) -> None:
        assert self.directory is not None
        stored = []
        for path in self.directory.glob("*.json"):
            with contextlib.suppress(Exception):
                stored.append(orjson.loads(path.read_bytes()))
        for item in sorted(stored, key=lambda m: m.get("received_at", ""))[-self.messages.maxlen:]:
            self._remember(item)

    def _remember(self, item: dict[str, Any]) -> None:
        if len(self.messages) == self.messages.maxlen:
            self._by_id.pop(self.messages[-1]["id"], None)
        self.messages.appendleft(item)
        self._by_id[item["id"]] = item

    def add(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> dict[str, Any]:
        item = parse_message(raw, mail_from, rcpt_tos)
        self._remember(item)
        if self.directory is not None:
            write_private(self.directory / f"{item['id']}.eml", raw)
            write_private(self.directory / f"{item['id']}.json", orjson.dumps(item))
        return item

    def get(self, message_id: str) -> dict[str, Any] | None:
        return self._by_id.get(message_id)

    def to(self, address: str | None = None) -> list[dict[str, Any]]:
        if not address:
            return list(self.messages)
        wanted = address.strip().lower()
        return [m for m in self.messages if any(t.lower() == wanted for t in m["to"])]

    def clear(self) -> None:
        self.messages.clear()
        self._by_id.clear()
        if self.directory is not None:
            for path in list(self.directory.glob("*.eml")) + list(self.directory.glob("*.json")):
                path.unlink(missing_ok=True)


class _Handler:
    def __init__(self, store: MailStore) -> None:
        self.store = store

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode()
        self.store.add(raw, envelope.mail_from or "", list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class MailCatcher:
    """The SMTP side: start on a host and port (0 = any free port), stop, start again."""

    def __init__(self, store: MailStore, host: str = "127.0.0.1", port: int = 0) -> None:
        self.store = store
        self.host = host
        self.port = port
        self._server: asyncio.base_events.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        handler = _Handler(self.store)

        def session() -> SMTP:
            protocol = SMTP(handler, hostname="mail-catcher", ident="premium-portal mail catcher",
                            data_size_limit=10 * 1024 * 1024, enable_SMTPUTF8=True)
            self._sessions.add(protocol)
            return protocol

        self._server = await loop.create_server(session, host=self.host, port=self.port,
                                                reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for protocol in list(self._sessions):  # drop open sessions too: the server is gone
                transport = getattr(protocol, "transport", None)
                if transport is not None:
                    transport.close()
            self._sessions.clear()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None


@contextlib.asynccontextmanager
async def running_mail_catcher(directory: Path | None = None, host: str = "127.0.0.1",
                               port: int = 0) -> AsyncIterator[MailCatcher]:
    """A catcher for tests: `async with running_mail_catcher() as catcher: catcher.port`."""
    catcher = MailCatcher(MailStore(directory), host, port)
    await catcher.start()
    try:
        yield catcher
    finally:
        await catcher.stop()


# ---------------------------------------------------------------------------- web pages

_STYLE = """body{font-family:Arial,Helvetica,sans-serif;margin:0;color:#1b1b1b}
header{background:#14558f;color:#fff;padding:12px 20px}header a{color:#fff}
main{padding:12px 20px}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:6px 8px;text-align:left;font-size:14px}
pre{white-space:pre-wrap;background:#f4f6f8;padding:12px}
iframe{width:100%;height:600px;border:1px solid #ddd}"""


def _page(title: str, body: str) -> web.Response:
    doc = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}"
           f"</title><style>{_STYLE}</style></head><body><header><a href='/mail/'>Mail catcher"
           f"</a></header><main>{body}</main></body></html>")
    return web.Response(text=doc, content_type="text/html",
                        headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"})


def build_routes(store: MailStore) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/mail")
    @routes.get("/mail/")
    async def index(request: web.Request) -> web.Response:
        address = request.query.get("to", "")
        items = store.to(address)[:500]
        rows = "".join(
            f"<tr><td>{html.escape(m['received_at'][:19].replace('T', ' '))}</td>"
            f"<td>{html.escape(', '.join(m['to']))}</td>"
            f"<td><a href='/mail/messages/{html.escape(m['id'])}'>{html.escape(m['subject'] or '(no subject)')}</a></td></tr>"
            for m in items)
        form = (f"<form method='get' action='/mail/'><label>To <input name='to' value='{html.escape(address)}'>"
                f"</label> <button>Filter</button></form>")
        return _page("Mail catcher", f"<h1>Caught mail ({len(items)})</h1>{form}<table><tr><th>Received (UTC)"
                     f"</th><th>To</th><th>Subject</th></tr>{rows}</table>")

    @routes.get("/mail/messages/{id}")
    async def show(request: web.Request) -> web.Response:
        m = store.get(request.match_info["id"])
        if m is None:
            raise web.HTTPNotFound()
        mid = html.escape(m["id"])
        frame = (f"<h2>HTML</h2><iframe sandbox title='HTML part' src='/mail/messages/{mid}/html'></iframe>"
                 if m["html"] else "")
        body = (f"<h1>{html.escape(m['subject'])}</h1><table>"
                f"<tr><th>From</th><td>{html.escape(m['header_from'] or m['from'])}</td></tr>"
                f"<tr><th>To</th><td>{html.escape(', '.join(m['to']))}</td></tr>"
                f"<tr><th>Received</th><td>{html.escape(m['received_at'])}</td></tr></table>"
                f"<h2>Text</h2><pre>{html.escape(m['text'])}</pre>{frame}")
        return _page(m["subject"], body)

    @routes.get("/mail/messages/{id}/html")
    async def show_html(request: web.Request) -> web.Response:
        m = store.get(request.match_info["id"])
        if m is None:
            raise web.HTTPNotFound()
        return web.Response(text=m["html"], content_type="text/html", headers={
            "Content-Security-Policy": FRAME_CSP + "; sandbox", "X-Content-Type-Options": "nosniff"})

    @routes.get("/mail/api/messages")
    async def api_list(request: web.Request) -> web.Response:
        items = store.to(request.query.get("to"))
        return json_response({"messages": [_api(m) for m in items]})

    @routes.get("/mail/api/messages/{id}")
    async def api_one(request: web.Request) -> web.Response:
        m = store.get(request.match_info["id"])
        if m is None:
            return json_response({"error": {"code": "not_found", "message": "No such message.",
                                             "fields": {}}}, status=404)
        return json_response(_api(m))

    @routes.delete("/mail/api/messages")
    async def api_clear(_: web.Request) -> web.Response:
        store.clear()
        return json_response({"status": "cleared"})

    return routes


def _api(m: dict[str, Any]) -> dict[str, Any]:
    return {k: m[k] for k in ("id", "from", "to", "subject", "text", "html", "received_at")}


MAIL_STORE = web.AppKey("mail_store", MailStore)
MAIL_CATCHER = web.AppKey("mail_catcher", MailCatcher)


def register(app: web.Application, settings: SandboxSettings) -> None:
    """Mount /mail/ and run the SMTP catcher on settings.smtp_host:smtp_port."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    store = MailStore(settings.data_dir / "mail")
    app[MAIL_STORE] = store
    app.router.add_routes(build_routes(store))

    async def smtp_server(app_: web.Application):
        catcher = MailCatcher(store, settings.smtp_host, settings.smtp_port)
        await catcher.start()
        app_[MAIL_CATCHER] = catcher
        yield
        await catcher.stop()

    app.cleanup_ctx.append(smtp_server)

"""Email over SMTP (aiosmtplib) through a small pool of open connections.

Sending many messages over a few long-lived connections, concurrently, is what makes bulk
sending fast: each message costs MAIL/RCPT/DATA round trips on an open session instead of
a TCP and SMTP handshake. A connection that fails is dropped and reopened on next use.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import time
import uuid
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, formatdate

import aiosmtplib

from services.notify.adapters.transport import PermanentDeliveryError, TransientDeliveryError


def build_message(*, sender: str, recipient: str, subject: str, text: str, html: str | None,
                  message_id: str, language: str, headers: dict[str, str] | None = None) -> EmailMessage:
    """A multipart/alternative message: plain text first, HTML second."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id
    msg["Content-Language"] = language
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    return msg


def _header(value: str) -> str:
    value = value.replace("\r", " ").replace("\n", " ")  # no header injection, ever
    return value if value.isascii() else _encoded_words(value)


# 39 bytes are 52 in base64: a word ("=?utf-8?b?" + 52 + "?=") is 64 long, under RFC 2047's 75,
# and a line with the header's name ("Subject: ") stays under RFC 5322's 78.
_WORD_BYTES = 39


def _encoded_words(value: str) -> str:
    """`value` as RFC 2047 encoded words ("=?utf-8?b?...?="), each of whole characters and
    at most 75 long, folded onto continuation lines: what the email package's `Header`
    writes, at a small part of its cost (a Spanish subject is in every other message)."""
    words, start, size = [], 0, 0
    for i, char in enumerate(value):
        width = len(char.encode("utf-8"))
        if size + width > _WORD_BYTES:
            words.append(value[start:i])
            start, size = i, 0
        size += width
    words.append(value[start:])
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w.encode('utf-8')).decode('ascii')}?="
                         for w in words)


class _Dates:
    """The `Date` header of the current second in UTC ("+0000"), made once a second (not
    once a message)."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._text = format_datetime(datetime.fromtimestamp(second, timezone.utc))
        return self._text


_DATES = _Dates()
_BOUNDARY_UNSAFE = re.compile(r"[^0-9A-Za-z]")


def _part(content_type: str, body: str) -> bytes:
    encoded = base64.encodebytes(body.encode("utf-8")).replace(b"\n", b"\r\n")
    return (f"Content-Type: {content_type}; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n").encode() + encoded


def mime_bytes(*, sender: str, recipient: str, subject: str, text: str, html: str | None,
               message_id: str, language: str, headers: dict[str, str] | None = None) -> bytes:
    """The same message as `build_message`, assembled directly as bytes: about fifty times
    cheaper than the email package's object model, which is what bulk sending needs. Parts
    are base64 (safe through any server, no 8BITMIME needed); headers are RFC 2047 encoded
    when not ASCII, and stripped of line breaks."""
    lines = [f"From: {_header(sender)}", f"To: {_header(recipient)}",
             f"Subject: {_header(subject)}", f"Date: {_DATES.now()}",
             f"Message-ID: {_header(message_id)}", f"Content-Language: {_header(language)}",
             "MIME-Version: 1.0"]
    lines += [f"{name}: {_header(value)}" for name, value in (headers or {}).items()]
    if not html:
        return ("\r\n".join(lines) + "\r\n").encode() + _part("text/plain", text)
    # A boundary must not occur in the parts, and base64 never holds "=_"; each message's
    # is its own, made from its Message-ID.
    boundary = "=_" + (_BOUNDARY_UNSAFE.sub("", message_id)[:60] or uuid.uuid4().hex)
    lines.append(f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"')
    sep = f"\r\n--{boundary}\r\n".encode()
    return (("\r\n".join(lines) + "\r\n").encode() + sep + _part("text/plain", text) + sep
            + _part("text/html", html) + f"\r\n--{boundary}--\r\n".encode())


class SmtpPool:
    """Up to `size` concurrent SMTP sessions to one server."""

    def __init__(self, host: str, port: int, *, size: int = 8, timeout_s: float = 10.0,
                 username: str | None = None, password: str | None = None,
                 start_tls: bool = False) -> None:
        assert 1 <= size <= 64
        self.size = size
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.username, self.password, self.start_tls = username, password, start_tls
        self._idle: asyncio.LifoQueue[aiosmtplib.SMTP | None] = asyncio.LifoQueue()
        for _ in range(size):
            self._idle.put_nowait(None)  # a slot without an open connection yet

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=self.timeout_s,
                                 start_tls=self.start_tls, use_tls=False)
        await client.connect()
        if self.username:
            await client.login(self.username, self.password or "")
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        return client

    async def send(self, message: EmailMessage | bytes, sender_address: str, recipient: str) -> None:
        """Send one message; raises a Transient or Permanent delivery error."""
        client = await self._idle.get()
        try:
            if client is None or not client.is_connected:
                client = await self._connect()
            if isinstance(message, bytes):
                await _transaction(client, sender_address, recipient, message)
            else:
                await client.send_message(message, sender=sender_address, recipients=[recipient])
        except aiosmtplib.SMTPRecipientsRefused as exc:
            client = await _drop(client)
            codes = [e.code for e in exc.recipients]
            error = PermanentDeliveryError if codes and all(c >= 500 for c in codes) \
                else TransientDeliveryError
            raise error(f"recipient refused: {codes}") from None
        except aiosmtplib.SMTPResponseException as exc:
            client = await _drop(client)
            error = PermanentDeliveryError if exc.code >= 500 else TransientDeliveryError
            raise error(f"SMTP {exc.code}: {exc.message[:200]}") from None
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            client = await _drop(client)
            raise TransientDeliveryError(f"SMTP unavailable: {type(exc).__name__}: {exc}"[:300]) from None
        finally:
            self._idle.put_nowait(client)

    async def close(self) -> None:
        while not self._idle.empty():
            client = self._idle.get_nowait()
            await _drop(client)


# An address that can go on an SMTP command line as it is: ASCII, no spaces, angle brackets
# or control characters, one "@" before the domain.
_MAILBOX = re.compile(r"[!-;=?A-~]+@[!-;=?A-~]+")


async def _transaction(client: aiosmtplib.SMTP, sender: str, recipient: str, message: bytes) -> None:
    """One message to one recipient on an open session: MAIL, RCPT, DATA, as `sendmail`
    sends them, with each address checked once here (`sendmail` parses each of them
    twice with the email package, a fifth of notify's CPU per message). A refusal raises
    aiosmtplib's own errors; the caller then drops the session, so none is left half-way."""
    for address in (sender, recipient):
        if not _MAILBOX.fullmatch(address):
            raise PermanentDeliveryError("address cannot be sent over SMTP")
    response = await client.execute_command(b"MAIL", b"FROM:<" + sender.encode("ascii") + b">")
    if response.code != 250:
        raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)
    response = await client.execute_command(b"RCPT", b"TO:<" + recipient.encode("ascii") + b">")
    if response.code not in (250, 251):
        raise aiosmtplib.SMTPRecipientsRefused(
            [aiosmtplib.SMTPRecipientRefused(response.code, response.message, recipient)])
    await client.data(message)


async def _drop(client: aiosmtplib.SMTP | None) -> None:
    if client is not None:
        with contextlib.suppress(Exception):
            client.close()
    return None


def message_id_for(notification_id: str, domain: str) -> str:
    """The notification's own `Message-ID`, the same on every attempt: a copy sent again
    after a crash carries the id of the first, so mail systems that drop repeated ids
    (and anyone counting) see one message."""
    return f"<{notification_id}@{domain}>"

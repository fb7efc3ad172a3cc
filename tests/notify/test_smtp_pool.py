"""What the SMTP pool reports for each answer a mail server can give, against a small real
SMTP server on a local port (the refusals a provider sends: 550 permanent, 451 later)."""
from __future__ import annotations

import asyncio

import pytest

from services.notify.adapters.email import SmtpPool, mime_bytes
from services.notify.adapters.transport import PermanentDeliveryError, TransientDeliveryError


class _Server(asyncio.Protocol):
    """Accepts mail, but refuses RCPT for bounce@ (550) and later@ (451); records what it got."""

    received: list[tuple[bytes, bytes, bytes]] = []

    def connection_made(self, transport):
        self.t, self.buf, self.data, self.envelope = transport, b"", False, [b"", b""]
        transport.write(b"220 test ESMTP\r\n")

    def data_received(self, data):
        self.buf += data
        while True:
            if self.data:
                end = self.buf.find(b"\r\n.\r\n")
                if end < 0:
                    return
                body, self.buf, self.data = self.buf[:end], self.buf[end + 5:], False
                _Server.received.append((self.envelope[0], self.envelope[1], body))
                self.t.write(b"250 queued\r\n")
                continue
            end = self.buf.find(b"\r\n")
            if end < 0:
                return
            line, self.buf = self.buf[:end], self.buf[end + 2:]
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.t.write(b"250-test\r\n250 8BITMIME\r\n")
            elif verb == b"MAIL":
                self.envelope[0] = line[10:]
                self.t.write(b"250 OK\r\n")
            elif verb == b"RCPT":
                self.envelope[1] = line[8:]
                if b"bounce@" in line:
                    self.t.write(b"550 no such user\r\n")
                elif b"later@" in line:
                    self.t.write(b"451 try again later\r\n")
                else:
                    self.t.write(b"250 OK\r\n")
            elif verb == b"DATA":
                self.data = True
                self.t.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                self.t.write(b"221 bye\r\n")
                self.t.close()
                return
            else:
                self.t.write(b"250 OK\r\n")


@pytest.fixture
async def server_port():
    _Server.received = []
    server = await asyncio.get_running_loop().create_server(_Server, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


def _message(to: str) -> bytes:
    return mime_bytes(sender="HC <no-reply@hc.example>", recipient=to, subject="Pago recibido",
                      text="Gracias.", html="<p>Gracias.</p>",
                      message_id=f"<{to}@hc.example>", language="es")


async def test_refusals_are_permanent_or_transient_and_the_pool_goes_on_sending(server_port) -> None:
    pool = SmtpPool("127.0.0.1", server_port, size=2)
    try:
        await pool.send(_message("ana@example.org"), "no-reply@hc.example", "ana@example.org")
        with pytest.raises(PermanentDeliveryError, match="550"):
            await pool.send(_message("bounce@example.org"), "no-reply@hc.example", "bounce@example.org")
        with pytest.raises(TransientDeliveryError, match="451"):
            await pool.send(_message("later@example.org"), "no-reply@hc.example", "later@example.org")
        await pool.send(_message("luis@example.org"), "no-reply@hc.example", "luis@example.org")
    finally:
        await pool.close()
    assert [(m, r) for m, r, _ in _Server.received] == [
        (b"<no-reply@hc.example>", b"<ana@example.org>"),
        (b"<no-reply@hc.example>", b"<luis@example.org>")]
    body = _Server.received[0][2]
    assert body.startswith(b"From: HC <no-reply@hc.example>\r\nTo: ana@example.org\r\n")
    assert b"\r\nMessage-ID: <ana@example.org@hc.example>\r\n" in body


@pytest.mark.parametrize("recipient", ["ana muñoz@example.org", "a@x.org>\r\nRCPT TO:<b@y.org",
                                       "no-at-sign", "<a@x.org>"])
async def test_an_address_that_cannot_go_on_an_smtp_line_is_refused_for_good_unsent(
        server_port, recipient: str) -> None:
    pool = SmtpPool("127.0.0.1", server_port, size=1)
    try:
        with pytest.raises(PermanentDeliveryError, match="address"):
            await pool.send(b"Subject: x\r\n\r\nx\r\n", "no-reply@hc.example", recipient)
    finally:
        await pool.close()
    assert _Server.received == []

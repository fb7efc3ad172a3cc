"""What the gateway believes about the connection in front of it: the member's address
behind trusted proxies, and `__Host-` cookies over HTTPS. Real gateway and database, fake
services (tests/gateway/fakes.py)."""
from __future__ import annotations

from tests.gateway import fakes
from tests.gateway.conftest import _client
from tests.gateway.test_api import LOOKUP


def addresses_identity_was_given(upstream: fakes.Upstream) -> list[str]:
    return [body["client_ip"] for svc, what, _, body in upstream.seen
            if svc == "identity" and what == "POST /lookups"]


async def test_without_trusted_proxies_a_forwarded_for_header_is_ignored(gw, upstream):
    r = await gw.post("/api/v1/lookups", json=LOOKUP, headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.status == 201
    assert addresses_identity_was_given(upstream) == ["127.0.0.1"]


async def test_behind_a_trusted_proxy_the_nearest_untrusted_forwarded_address_counts(
        gateway_db, upstream):
    gw = await _client(gateway_db, upstream, trusted_proxies="127.0.0.0/8, 10.0.0.0/8")
    try:
        # The client wrote the first entry itself; the proxies appended the rest.
        for header in ("198.51.100.66, 203.0.113.9, 10.1.2.3", "203.0.113.9"):
            r = await gw.post("/api/v1/lookups", json=LOOKUP, headers={"X-Forwarded-For": header})
            assert r.status == 201
        r = await gw.post("/api/v1/lookups", json=LOOKUP, headers={"X-Forwarded-For": "not-an-address"})
        assert r.status == 201
    finally:
        await gw.close()
    assert addresses_identity_was_given(upstream) == ["203.0.113.9", "203.0.113.9", "127.0.0.1"]


async def test_guessing_from_many_forwarded_addresses_is_still_one_client(gateway_db, upstream):
    gw = await _client(gateway_db, upstream, sensitive_rate_limit_per_minute=3)
    try:
        statuses = []
        for i in range(5):
            r = await gw.post("/api/v1/lookups", json=LOOKUP, headers={"X-Forwarded-For": f"203.0.113.{i}"})
            statuses.append(r.status)
    finally:
        await gw.close()
    assert statuses == [201, 201, 201, 429, 429]


async def test_over_https_the_session_is_a_host_only_secure_cookie(gateway_db, upstream):
    gw = await _client(gateway_db, upstream, cookie_secure=True, captcha_enabled=False)
    try:
        r = await gw.post("/api/v1/members", json={**LOOKUP, "username": "host.cookie", "email": "m@example.org",
                                                   "password": "correct horse battery"})
        assert r.status == 201
        r = await gw.post("/api/v1/sessions", json={"username": "host.cookie", "password": "correct horse battery"})
        assert r.status == 200
        header = next(c for c in r.headers.getall("Set-Cookie") if c.startswith("__Host-gw_session="))
        attributes = [a.strip().lower() for a in header.split(";")]
        assert "secure" in attributes and "path=/" in attributes and "httponly" in attributes
        assert not any(a.startswith("domain=") for a in attributes)
        session = header.split(";", 1)[0].split("=", 1)[1]
        # The bare name is not a session: only the prefixed cookie is read.
        r = await gw.get("/api/v1/me", headers={"Cookie": f"gw_session={session}"})
        assert r.status == 401
        r = await gw.get("/api/v1/me", headers={"Cookie": f"__Host-gw_session={session}"})
        assert r.status == 200
        r = await gw.delete("/api/v1/sessions", headers={"Cookie": f"__Host-gw_session={session}"})
        expired = next(c for c in r.headers.getall("Set-Cookie") if c.startswith("__Host-gw_session="))
        assert "max-age=0" in expired.lower() and "secure" in expired.lower()
    finally:
        await gw.close()

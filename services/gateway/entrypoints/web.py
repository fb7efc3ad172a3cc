"""Cross-cutting HTTP pieces of the gateway: security headers, rate limits, CSRF, sessions."""
from __future__ import annotations

import ipaddress
import secrets
import time
from collections import defaultdict
from typing import Any

from aiohttp import web

from services.gateway.adapters import upstream
from services.gateway.domain import tokens
from services.gateway.entrypoints import keys
from shared.http import ApiError

SESSION_COOKIE = "gw_session"
CSRF_COOKIE = "gw_csrf"
QUICK_PAY_COOKIE = "gw_qp"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
       "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
SENSITIVE = {("POST", "/api/v1/lookups"), ("POST", "/api/v1/sessions"), ("POST", "/api/v1/members"),
             ("POST", "/api/v1/password-resets"), ("POST", "/quick-pay"), ("POST", "/login"),
             ("POST", "/register"), ("POST", "/forgot-password"), ("POST", "/forgot-username")}


def security_headers(settings):
    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        h = response.headers
        h.setdefault("Content-Security-Policy", CSP)
        h["X-Frame-Options"] = "DENY"
        h["X-Content-Type-Options"] = "nosniff"
        h["Referrer-Policy"] = "strict-origin-when-cross-origin"
        h["Strict-Transport-Security"] = f"max-age={settings.hsts_max_age_s}; includeSubDomains"
        h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if not request.path.startswith("/static/"):
            h.setdefault("Cache-Control", "no-store")
    return on_prepare


class RateLimiter:
    """Fixed one-minute windows per client IP: one budget for everything, a small one for
    lookups, logins and registrations (guessing SSNs or passwords must be impractical)."""

    def __init__(self, per_minute: int, sensitive_per_minute: int) -> None:
        self.per_minute = per_minute
        self.sensitive_per_minute = sensitive_per_minute
        self.window = 0
        self.counts: dict[tuple[str, str], int] = defaultdict(int)

    def hit(self, ip: str, sensitive: bool, now: float | None = None) -> int | None:
        """None when allowed, else the seconds to wait."""
        now = now or time.time()
        window = int(now // 60)
        if window != self.window:
            self.window = window
            self.counts.clear()
        self.counts[("all", ip)] += 1
        over = self.counts[("all", ip)] > self.per_minute
        if sensitive:
            self.counts[("sensitive", ip)] += 1
            over = over or self.counts[("sensitive", ip)] > self.sensitive_per_minute
        return int(60 - now % 60) + 1 if over else None


def rate_limit_middleware(limiter: RateLimiter):
    @web.middleware
    async def middleware(request: web.Request, handler):
        # CAPTCHA pictures and recordings cost real CPU to draw: they share the small budget.
        sensitive = (request.method, request.path) in SENSITIVE or request.path.startswith(
            ("/captcha/", "/api/v1/captcha"))
        upstream.client_address.set(client_ip(request))
        wait = limiter.hit(client_ip(request), sensitive)
        if wait is not None:
            raise ApiError(429, "throttled", "Too many tries. Please wait a minute and try again.",
                           retry_after_s=wait)
        return await handler(request)
    return middleware


def client_ip(request: web.Request) -> str:
    """The member's address: the connection's, unless it comes from a trusted proxy; then
    the right-most X-Forwarded-For entry that is not itself a trusted proxy (entries to its
    left were written by the client and prove nothing)."""
    cached = request.get(keys.CLIENT_IP)
    if cached is not None:
        return cached
    address = request.remote or "unknown"
    proxies = request.app[keys.SETTINGS].proxy_networks
    if proxies and _within(address, proxies):
        hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")]
        for hop in reversed([h for h in hops if h]):
            if _parse_ip(hop) is None:
                break  # a malformed entry: trust nothing to its left
            address = hop
            if not _within(hop, proxies):
                break
    request[keys.CLIENT_IP] = address
    return address


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _within(address: str, networks) -> bool:
    ip = _parse_ip(address)
    return ip is not None and any(ip in n for n in networks)


def cookie_name(request: web.Request, name: str) -> str:
    """Over HTTPS every cookie is a `__Host-` cookie: the browser keeps it only if it is
    Secure, for path / and this exact host (no Domain), so a sibling subdomain cannot set or
    shadow it. Plain HTTP in development keeps the bare name (browsers refuse the prefix)."""
    return f"__Host-{name}" if request.app[keys.SETTINGS].cookie_secure else name


def get_cookie(request: web.Request, name: str) -> str | None:
    return request.cookies.get(cookie_name(request, name))


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
               max_age: int | None = None) -> None:
    settings = request.app[keys.SETTINGS]
    response.set_cookie(cookie_name(request, name), value, max_age=max_age, path="/", httponly=True,
                        secure=settings.cookie_secure, samesite="Lax")


def del_cookie(request: web.Request, response: web.StreamResponse, name: str) -> None:
    """Expire the cookie with the same attributes it was set with (a `__Host-` cookie is
    only replaced by a Secure one)."""
    set_cookie(request, response, name, "", max_age=0)


def csrf_token(request: web.Request) -> str:
    """The form token for this browser: a keyed digest of its CSRF cookie (set when missing)."""
    cookie = get_cookie(request, CSRF_COOKIE) or request.get(keys.NEW_CSRF_COOKIE)
    if not cookie:
        cookie = secrets.token_urlsafe(24)
        request[keys.NEW_CSRF_COOKIE] = cookie
    return request.app[keys.SIGNER].digest(tokens.CSRF, cookie)


def check_csrf(request: web.Request, submitted: str | None) -> None:
    cookie = get_cookie(request, CSRF_COOKIE)
    expected = request.app[keys.SIGNER].digest(tokens.CSRF, cookie) if cookie else None
    if not expected or not submitted or not secrets.compare_digest(expected, submitted):
        raise ApiError(403, "csrf_failed",
                       "This form has expired. Please go back, reload the page and try again.")


async def current_member(request: web.Request) -> dict[str, Any] | None:
    """The logged-in member ({member_id, username, data}) or None; cached per request."""
    if keys.MEMBER in request:
        return request[keys.MEMBER]
    member = None
    sid = get_cookie(request, SESSION_COOKIE)
    if sid:
        store = request.app[keys.DEPS].store
        settings = request.app[keys.SETTINGS]
        member = await store.load_session(tokens.hash_session_id(sid), settings.session_ttl_s,
                                          settings.session_max_age_s)
    request[keys.MEMBER] = member
    return member


def bearer_token(request: web.Request) -> str | None:
    """The lookup token a guest's call carries (`Authorization: Bearer ...`), if any."""
    auth = request.headers.get("Authorization", "")
    return auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None


def require_owner(member: dict[str, Any], ban: str) -> None:
    """A member may touch only the accounts of their own session."""
    if ban not in member["data"].get("accounts", []):
        raise ApiError(403, "forbidden", "This account is not one of yours.")


def finish_cookies(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    if request.get(keys.NEW_CSRF_COOKIE):
        set_cookie(request, response, CSRF_COOKIE, request[keys.NEW_CSRF_COOKIE])
    return response

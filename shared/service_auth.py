"""Who may call an internal HTTP API, and how a caller proves who it is.

Every internal API (all but `/healthz` and `/readyz`) answers only a caller that sends
`Authorization: Bearer <token>`: a short-lived JSON Web Token signed with HMAC-SHA256
(`alg HS256`, the standard format, so any JWT library can read it) whose claims name the
calling identity (`iss`), the called service (`aud`), when it was made (`iat`) and when it
stops being good (`exp`, a minute later by default). The header's `kid` names which of the
caller's keys signed it, so two keys can be valid at once while one is rotated out.

Keys come from settings (`SERVICE_KEYS`: caller -> {key id: secret}); each caller has its
own. A caller signs with the first key listed under its name; a service accepts any key
listed. What each caller may then do is `PERMISSIONS`, the one table of callers and routes:
a valid token for a route its caller may not use is a 403, a missing, malformed, expired or
wrongly addressed token a 401. Signatures are compared in constant time.

The standard library's `hmac` does the signing: a token is three base64url parts and one
HMAC, which needs no new dependency (PyJWT would bring only the same few lines).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeGuard

import orjson
from aiohttp import ClientHandlerType, ClientMiddlewareType, ClientRequest, ClientResponse, web
from aiohttp.typedefs import Handler, Middleware

from shared.http import ApiError, error_response

log = logging.getLogger(__name__)

ALL = "*"
Route = tuple[str, str]  # (method, route pattern as aiohttp writes it, e.g. /accounts/{ban})

# The one table of who may call what. Keys are the calling identities (each has its own
# key in SERVICE_KEYS), then the called service, then the routes it may use there (ALL:
# every route). The gateway is the only service that calls another over HTTP; `metrics`
# is the Prometheus scraper; `operator` is the people and tools that run the system (the
# demo launcher, the command-line seeders, benchmarks, the test suite).
PERMISSIONS: dict[str, dict[str, frozenset[Route] | str]] = {
    "gateway": {
        "identity": frozenset({
            ("POST", "/lookups"), ("POST", "/members"), ("POST", "/sessions"),
            ("POST", "/password-resets"), ("POST", "/password-resets/check"),
            ("POST", "/password-resets/confirm"), ("POST", "/username-reminders"), ("GET", "/members/{member_id}"),
            ("PATCH", "/members/{member_id}/contact")}),
        "billing": frozenset({
            ("GET", "/accounts/{ban}"), ("GET", "/accounts/{ban}/invoices"),
            ("GET", "/accounts/{ban}/ledger"), ("GET", "/accounts/{ban}/statements/{month}"),
            ("GET", "/accounts/{ban}/payment-plan"), ("POST", "/accounts/{ban}/payment-plan")}),
        "payments": frozenset({
            ("GET", "/config"), ("POST", "/payments"), ("GET", "/payments/{payment_id}"),
            ("GET", "/accounts/{ban}/payments"), ("GET", "/accounts/{ban}/standing"),
            ("GET", "/accounts/{ban}/autopay"), ("GET", "/accounts/{ban}/autopay/terms"),
            ("POST", "/accounts/{ban}/autopay"), ("DELETE", "/accounts/{ban}/autopay"),
            ("PUT", "/accounts/{ban}/autopay/method"), ("GET", "/accounts/{ban}/methods"),
            ("DELETE", "/accounts/{ban}/methods/{method_id}"),
            ("GET", "/accounts/{ban}/methods/{method_id}/validation"),
            ("POST", "/accounts/{ban}/methods/{method_id}/validation"),
            ("GET", "/accounts/{ban}/owed"), ("POST", "/accounts/{ban}/refunds"),
            ("GET", "/accounts/{ban}/refunds")}),
        "notify": frozenset({("GET", "/notifications"),
                             ("GET", "/notifications/{notification_id}"),
                             ("POST", "/payable-reminders")}),
    },
    "metrics": {service: frozenset({("GET", "/metrics")})
                for service in ("gateway", "identity", "billing", "payments", "notify")},
    "operator": {ALL: ALL},
}
CALLERS = tuple(PERMISSIONS)
# The identity whose word on the member's address (identity's `client_ip`) counts.
MEMBER_FACING = "gateway"

ALGORITHM = "HS256"
TOKEN_TTL_S = 60
# Tokens living longer than this are refused whatever their `exp` says: a leaked one is
# good for minutes at most. Clocks may differ a little between hosts.
TOKEN_LIFETIME_MAX_S = 300
CLOCK_SKEW_S = 5
# A caller mints a new token when its cached one has less than this left.
REFRESH_BEFORE_S = 15
# Tokens a service has verified, kept until they expire: a caller reuses its token for
# most of a minute, so checking it again is one dict lookup (the full check costs tens of
# microseconds, on every request). Emptied when full.
VERIFIED_MAX = 4096


def may(caller: str, service: str, method: str, route: str) -> bool:
    """Whether `caller` may use `method route` on `service` (HEAD counts as GET)."""
    grants = PERMISSIONS.get(caller, {})
    allowed = grants.get(service, grants.get(ALL))
    if allowed is None:
        return False
    if allowed == ALL:
        return True
    return ("GET" if method == "HEAD" else method, route) in allowed


def generate_keys() -> dict[str, dict[str, str]]:
    """A fresh random key for every caller, for a run (scripts/stack.py keeps them)."""
    key_id = "k" + uuid.uuid4().hex[:6]
    return {caller: {key_id: secrets.token_urlsafe(32)} for caller in CALLERS}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, signing_input: bytes) -> bytes:
    return hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()


class InvalidToken(Exception):
    """Why a token was refused (logged; the caller only hears that it was)."""


@dataclass(frozen=True)
class Claims:
    caller: str
    audience: str
    issued_at: int
    expires_at: int
    key_id: str


class TokenSigner:
    """Mints a caller's tokens, one per audience, reused until near their expiry."""

    def __init__(self, caller: str, keys: Mapping[str, str], ttl_s: int = TOKEN_TTL_S,
                 clock: Callable[[], float] = time.time) -> None:
        assert keys, f"no key for caller {caller!r}"
        assert REFRESH_BEFORE_S < ttl_s <= TOKEN_LIFETIME_MAX_S
        self.caller = caller
        self.key_id, self._secret = next(iter(keys.items()))
        self.ttl_s = ttl_s
        self.clock = clock
        self._cached: dict[str, tuple[str, float]] = {}

    @classmethod
    def from_keys(cls, keys: Mapping[str, Mapping[str, str]], caller: str,
                  ttl_s: int = TOKEN_TTL_S) -> TokenSigner:
        if not keys.get(caller):
            raise ValueError(f"SERVICE_KEYS has no key for caller {caller!r}")
        return cls(caller, keys[caller], ttl_s)

    def mint(self, audience: str) -> str:
        now = int(self.clock())
        header = {"alg": ALGORITHM, "typ": "JWT", "kid": self.key_id}
        payload = {"iss": self.caller, "aud": audience, "iat": now, "exp": now + self.ttl_s,
                   "jti": uuid.uuid4().hex}
        signing_input = f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(payload))}".encode()
        return f"{signing_input.decode()}.{_b64(_mac(self._secret, signing_input))}"

    def token(self, audience: str) -> str:
        cached = self._cached.get(audience)
        now = self.clock()
        if cached is None or cached[1] - now < REFRESH_BEFORE_S:
            cached = (self.mint(audience), now + self.ttl_s)
            self._cached[audience] = cached
        return cached[0]

    def headers(self, audience: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(audience)}"}

    def client_middleware(self, audience: str) -> ClientMiddlewareType:
        """An aiohttp client middleware that sends this caller's token to `audience` on
        every request of a session (`ClientSession(middlewares=(...,))`)."""
        async def sign(request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
            request.headers["Authorization"] = f"Bearer {self.token(audience)}"
            return await handler(request)
        return sign


class TokenVerifier:
    """Checks tokens addressed to one service against every caller's listed keys."""

    def __init__(self, audience: str, keys: Mapping[str, Mapping[str, str]],
                 clock: Callable[[], float] = time.time) -> None:
        self.audience = audience
        self.keys = {caller: dict(by_id) for caller, by_id in keys.items()}
        self.clock = clock
        self._verified: dict[str, Claims] = {}

    def verify(self, token: str) -> Claims:
        """The token's claims, or InvalidToken saying why it is refused."""
        claims = self._verified.get(token)
        if claims is not None and claims.expires_at > self.clock() - CLOCK_SKEW_S:
            return claims
        claims = self._check(token)
        if len(self._verified) >= VERIFIED_MAX:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def _check(self, token: str) -> Claims:
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("malformed")
        try:
            header = orjson.loads(_unb64(parts[0]))
            payload = orjson.loads(_unb64(parts[1]))
            signature = _unb64(parts[2])
        except (ValueError, orjson.JSONDecodeError):
            raise InvalidToken("malformed") from None
        if not isinstance(header, dict) or not isinstance(payload, dict):
            raise InvalidToken("malformed")
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("algorithm")
        caller, key_id = payload.get("iss"), header.get("kid")
        secret = self.keys.get(caller, {}).get(key_id) if isinstance(caller, str) and isinstance(key_id, str) else None
        # An unknown caller or key is checked against a throwaway key, so the answer takes
        # as long as for a known one.
        expected = _mac(secret or "unknown-caller", f"{parts[0]}.{parts[1]}".encode())
        if not hmac.compare_digest(expected, signature) or secret is None \
                or not isinstance(caller, str) or not isinstance(key_id, str):
            raise InvalidToken("signature")
        issued, expires = payload.get("iat"), payload.get("exp")
        if not _is_int(issued) or not _is_int(expires):
            raise InvalidToken("malformed")
        now = self.clock()
        if payload.get("aud") != self.audience:
            raise InvalidToken("audience")
        if expires <= now - CLOCK_SKEW_S or issued > now + CLOCK_SKEW_S:
            raise InvalidToken("expired")
        if expires - issued > TOKEN_LIFETIME_MAX_S:
            raise InvalidToken("lifetime")
        return Claims(caller, self.audience, issued, expires, key_id)


def _is_int(value: object) -> TypeGuard[int]:
    """A JSON integer (a bool is not one, though Python counts it as an int)."""
    return isinstance(value, int) and not isinstance(value, bool)


def bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


# The name of the service whose token a request carried, once it is verified.
CALLER = web.RequestKey("caller", str)

PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})


def all_but_health(request: web.Request) -> bool:
    return request.path not in PUBLIC_PATHS


def auth_middleware(service: str, verifier: TokenVerifier,
                    protected: Callable[[web.Request], bool] = all_but_health) -> Middleware:
    """Refuses a request to a `protected` path without a valid token for `service` (401)
    or from a caller `PERMISSIONS` does not let use the route (403). The caller's name is
    left in `request[CALLER]`. A path that matches no route stays a 404 (after the
    token check, so strangers learn nothing of which routes exist)."""
    @web.middleware
    async def check_caller(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not protected(request):
            return await handler(request)
        token = bearer(request)
        if token is None:
            return _unauthenticated()
        try:
            claims = verifier.verify(token)
        except InvalidToken as exc:
            log.warning("service token refused", extra={"reason": str(exc), "path": request.path})
            return _unauthenticated()
        request[CALLER] = claims.caller
        resource = request.match_info.route.resource
        if resource is not None and not may(claims.caller, service, request.method,
                                            resource.canonical):
            log.warning("caller not allowed", extra={"caller": claims.caller,
                                                     "route": resource.canonical})
            raise ApiError(403, "caller_not_allowed", "This caller may not use this API.")
        return await handler(request)
    return check_caller


def _unauthenticated() -> web.Response:
    """One answer for a missing, malformed, expired or misaddressed token."""
    response = error_response(401, "invalid_service_token",
                              "A valid service token for this service is required.")
    response.headers["WWW-Authenticate"] = 'Bearer realm="internal"'
    return response


def caller_of(request: web.Request) -> str | None:
    """The authenticated caller of this request (None where no token was asked for)."""
    return request.get(CALLER)


def member_address(request: web.Request, claimed: str | None) -> str:
    """The member's address as the member-facing gateway reported it; any other caller's
    claim is ignored and its own connection's address stands instead."""
    if caller_of(request) == MEMBER_FACING and claimed:
        return claimed
    return request.remote or "0.0.0.0"

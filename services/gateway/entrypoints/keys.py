"""What the gateway's app holds, each under a typed key: the settings and the objects built
from them at start (app.py), which the routes read through `request.app[...]`; and what a
request carries from one middleware or helper to the next."""
from __future__ import annotations

from typing import Any

import jinja2
from aiohttp import web

from services.gateway.adapters.change_feed import ChangeFeed
from services.gateway.adapters.drafts import PaymentDrafts
from services.gateway.adapters.store import Store
from services.gateway.adapters.upstream import Upstreams
from services.gateway.config import Settings
from services.gateway.domain.tokens import Signer
from services.gateway.service_layer.account_cache import AccountCache
from services.gateway.service_layer.captcha import Captchas
from services.gateway.service_layer.use_cases import UseCases

SETTINGS = web.AppKey("settings", Settings)
SIGNER = web.AppKey("signer", Signer)
UPSTREAMS = web.AppKey("upstreams", Upstreams)
STORE = web.AppKey("store", Store)
CAPTCHAS = web.AppKey("captchas", Captchas)
DRAFTS = web.AppKey("drafts", PaymentDrafts)
ACCOUNT_CACHE = web.AppKey("account_cache", AccountCache)
CHANGE_FEED: web.AppKey[ChangeFeed | None] = web.AppKey("change_feed")  # None: the cache is off
USE_CASES = web.AppKey("use_cases", UseCases)
JINJA = web.AppKey("jinja", jinja2.Environment)
OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("openapi")

# Per request: the client's address once worked out, the logged-in member's session (None:
# nobody), and a CSRF cookie minted during the request that the response must set.
CLIENT_IP = web.RequestKey("client_ip", str)
MEMBER: web.RequestKey[dict[str, Any] | None] = web.RequestKey("member")
NEW_CSRF_COOKIE = web.RequestKey("new_csrf_cookie", str)
